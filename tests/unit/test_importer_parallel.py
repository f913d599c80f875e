"""The large-file path: parsing in a separate process gives the same result as the
in-thread path, and its errors still name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialer.config.loader import load_config
from dialer.importer import ImportFileError, import_clients
from tests.support.importing import BAD_CLIENTS as BAD
from tests.support.importing import FakeSink
from tests.support.paths import EXAMPLE_CLIENTS, EXAMPLE_CONFIG


@pytest.mark.parametrize("source", [EXAMPLE_CLIENTS, BAD], ids=["example", "bad"])
async def test_process_and_thread_paths_agree(tmp_path: Path, source: Path) -> None:
    config = load_config(EXAMPLE_CONFIG)
    results = {}
    for parallel in (False, True):
        path = tmp_path / f"{parallel}-{source.name}"
        path.write_bytes(source.read_bytes())
        sink = FakeSink()
        summary = await import_clients(config, path, sink, parallel=parallel, batch_size=7)
        rejected = summary.rejected_path.read_text(encoding="utf-8-sig") if summary.rejected_path else None
        defaulted = summary.defaulted_path.read_text(encoding="utf-8-sig") if summary.defaulted_path else None
        results[parallel] = (summary.rows, summary.imported, summary.rejected, summary.tz_inferred, rejected,
                             summary.tz_defaulted, defaulted, sorted(sink.clients.items()))  # fmt: skip
    assert results[True] == results[False]
    # Every defaulted zone is listed (one row each), by both paths.
    tz_defaulted, defaulted = results[True][5], results[True][6]
    assert (defaulted or "").count("defaulted to") == tz_defaulted


async def test_process_path_rejects_unreadable_rows_on_their_own(tmp_path: Path) -> None:
    config = load_config(EXAMPLE_CONFIG)
    path = tmp_path / "broken.csv"
    path.write_bytes(b"id,name,phone\n1,A,+79123456789\n" + b"2,\xff\xfe\xfa,+79123456788\n" * 3)
    sink = FakeSink()
    summary = await import_clients(config, path, sink, parallel=True, encoding="utf-8")
    assert (summary.rows, summary.imported, summary.rejected) == (4, 1, 3)
    assert set(sink.clients) == {"1"}
    assert summary.rejected_path is not None and "not UTF-8 text" in summary.rejected_path.read_text("utf-8-sig")
    assert not (tmp_path / "broken.rejected.csv.part").exists()


async def test_process_path_reports_a_broken_header(tmp_path: Path) -> None:
    config = load_config(EXAMPLE_CONFIG)
    path = tmp_path / "broken.csv"
    path.write_bytes(b"id,n\xffame,phone\n1,A,+79123456789\n")
    with pytest.raises(ImportFileError) as exc:
        await import_clients(config, path, FakeSink(), parallel=True, encoding="utf-8")
    assert "broken.csv" in str(exc.value) and "header" in str(exc.value)
