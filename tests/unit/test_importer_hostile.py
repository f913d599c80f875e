"""Hostile client files: whatever the bytes, the import never crashes, never writes part of
a file because of a bad row, and accounts for every row (new + updated + rejected)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import gc
import io
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dialer.importer as importer
import dialer.importer.source as importer_source
from dialer.cli import main
from dialer.config import load_config
from dialer.domain import ClientRecord
from dialer.importer import ImportAborted, ImportFileError, import_clients, rejected_path_for
from tests.support.importing import FakeSink
from tests.support.paths import EXAMPLE_CONFIG

CONFIG = load_config(EXAMPLE_CONFIG)


def phone(i: int) -> str:
    return f"+7 912 {i // 10000 % 1000:03d} {i // 100 % 100:02d} {i % 100:02d}"


def good_rows(n: int, prefix: str = "g") -> str:
    return "".join(f"{prefix}{i},Клиент {i},{phone(i)}\n" for i in range(n))


def read_rejected(path: Path, delimiter: str = ",") -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f, delimiter=delimiter))


def check_accounted(summary: importer.ImportSummary, delimiter: str = ",") -> list[list[str]]:
    """rows == new + updated + rejected, and the rejected file has one row with a line
    and a reason per rejected row."""
    assert summary.rows == summary.imported + summary.updated + summary.rejected
    if not summary.rejected:
        assert summary.rejected_path is None
        return []
    assert summary.rejected_path is not None
    table = read_rejected(summary.rejected_path, delimiter)
    header, rows = table[0], table[1:]
    assert header[-2:] == ["line", "reason"]
    assert len(rows) == summary.rejected
    for r in rows:
        assert len(r) == len(header) and r[-2].isdigit() and r[-1].strip(), r
    return table


@contextlib.contextmanager
def small_limits(line: int, field: int) -> Iterator[None]:
    """Lower the importer's line limit and the csv module's field limit, so generated
    files reach them quickly."""
    old_line, old_field = importer_source.LINE_LIMIT, csv.field_size_limit()
    importer_source.LINE_LIMIT = line
    csv.field_size_limit(field)
    try:
        yield
    finally:
        importer_source.LINE_LIMIT = old_line
        csv.field_size_limit(old_field)


# ---------------------------------------------------------------- huge fields and lines


@pytest.mark.parametrize("parallel", [False, True], ids=["thread", "process"])
async def test_a_huge_cell_or_line_rejects_only_its_row(tmp_path: Path, parallel: bool) -> None:
    path = tmp_path / "huge.csv"
    path.write_text(
        "id,name,phone,notes\n"
        + good_rows(3)
        + f"big1,A,{phone(10)},{'x' * 200_000}\n"  # a cell over 128 KiB
        + f'big2,B,{phone(11)},"{"q" * 150_000}\nstill the same cell"\n'  # ... quoted, over two lines
        + f"big3,C,{phone(12)},{'y,' * 5_000_000}\n"  # one 10 MB line
        + good_rows(3, "h"),
        encoding="utf-8",
    )
    sink = FakeSink()
    s = await import_clients(CONFIG, path, sink, parallel=parallel, batch_size=2)
    table = check_accounted(s)
    assert set(sink.clients) == {"g0", "g1", "g2", "h0", "h1", "h2"}
    # The over-long quoted cell is dropped where it passes the limit; reading resumes on the
    # next line, whose rest of the cell is a row of its own (rejected, with its line).
    assert s.rejected == 4
    by_line = {r[-2]: r for r in table[1:]}
    assert by_line["5"][0] == "big1" and "longer than 131,072 characters" in by_line["5"][-1]
    assert by_line["6"][0] == "big2" and "longer than 131,072 characters" in by_line["6"][-1]
    assert by_line["7"][0] == 'still the same cell"' and "phone: empty" in by_line["7"][-1]
    assert by_line["8"][0] == "big3" and "10,000,024 characters long" in by_line["8"][-1]
    # The rejected file does not repeat the huge cells.
    assert s.rejected_path is not None and s.rejected_path.stat().st_size < 10_000


async def test_line_limit_bounds_memory_of_a_line_without_end(tmp_path: Path) -> None:
    """50 MB without a newline: read in LINE_LIMIT pieces, never held whole."""
    import tracemalloc

    path = tmp_path / "endless.csv"
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"id,name,phone\n1,A,{phone(1)}\n2,B,")
        for _ in range(50):
            f.write("z" * 1_000_000)
    tracemalloc.start()
    try:
        s = await import_clients(CONFIG, path, FakeSink(), parallel=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (s.imported, s.rejected) == (1, 1)
    assert peak < 30_000_000, peak


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"id,name,phone," + b"n" * 2_000_000 + b"\n1,A,+79123456789\n", "header line cannot be read"),
        (b'id,name,phone,"' + b"n" * 200_000 + b'"\n1,A,+79123456789\n', "header cannot be read"),
        (b"id,na\x00me,phone\n1,A,+79123456789\n", "NUL"),
        (b'id,"name\n' + b"x" * 200_000 + b"\n", "header cannot be read"),
    ],
    ids=["long-line", "long-cell", "nul", "open-quote"],
)
def test_an_unreadable_header_is_one_error_line(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "clients.csv"
    path.write_bytes(content)
    db = tmp_path / "q.db"
    result = CliRunner().invoke(main, ["import", str(EXAMPLE_CONFIG), str(path), "--db", str(db), "--no-progress"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
    assert len(lines[0]) < 400
    assert not rejected_path_for(path).exists()


# ---------------------------------------------------------------- nothing half-written


@pytest.mark.parametrize("parallel", [False, True], ids=["thread", "process"])
async def test_an_unclosed_quote_names_the_lines_it_swallowed(tmp_path: Path, parallel: bool) -> None:
    """A quote never closed makes the rest of the file one cell: the reason must say which
    lines went into that row, not only "phone: empty" (the rows seem to have vanished)."""
    path = tmp_path / "quote.csv"
    path.write_text(
        "id,name,phone,city\n" + good_rows(3) + 'q1,"Unclosed,+79123456789,x\n' + good_rows(4, "t"), encoding="utf-8"
    )
    s = await import_clients(CONFIG, path, FakeSink(), parallel=parallel, batch_size=2)
    table = check_accounted(s)
    [rejected] = table[1:]
    assert rejected[-2] == "5" and rejected[-1].startswith("lines 5-9 were read as one row (a quote not closed?): ")
    # A legitimate multi-line quoted cell (an address) is imported as before.
    ok = tmp_path / "address.csv"
    ok.write_text('id,name,phone,address\na1,X,+79123456789,"Omsk,\nLenina 1"\n' + good_rows(2), encoding="utf-8")
    sink = FakeSink()
    s2 = await import_clients(CONFIG, ok, sink, parallel=parallel)
    assert (s2.imported, s2.rejected) == (3, 0) and sink.clients["a1"].attributes == {"address": "Omsk,\nLenina 1"}


@pytest.mark.parametrize("parallel", [False, True], ids=["thread", "process"])
@pytest.mark.parametrize("bad", ["cp1251", "bytes", "nul"])
async def test_an_unreadable_row_is_rejected_and_the_rest_imported(tmp_path: Path, parallel: bool, bad: str) -> None:
    line = {
        "cp1251": "zz,Привет Мир,+79123456789,Тула\n".encode("cp1251"),
        "bytes": b"zz,\xff\xfe\x00garbage,+79123456789,x\n",
        "nul": b"zz,Nul\x00Name,+79123456789,x\n",
    }[bad]
    path = tmp_path / "mixed.csv"
    path.write_bytes(("id,name,phone,city\n" + good_rows(30)).encode() + line + good_rows(5, "t").encode())
    sink = FakeSink()
    s = await import_clients(CONFIG, path, sink, parallel=parallel, batch_size=7)
    table = check_accounted(s)
    assert (s.rows, s.imported, s.rejected) == (36, 35, 1)
    assert "zz" not in sink.clients and "t4" in sink.clients
    [rejected] = table[1:]
    assert rejected[0] == "zz" and rejected[-2] == "32"
    if bad == "cp1251":
        # Shown as the supervisor wrote it, so the file can be fixed and imported again.
        assert rejected[1:4] == ["Привет Мир", "'+79123456789", "Тула"] and "not UTF-8" in rejected[-1]
        again = FakeSink()
        s2 = await import_clients(CONFIG, s.rejected_path, again)  # type: ignore[arg-type]
        assert s2.imported == 1 and again.clients["zz"].name == "Привет Мир"
        assert again.clients["zz"].attributes == {"city": "Тула"}
    else:
        assert "\x00" not in "".join(rejected)


@pytest.mark.parametrize("rows", [10_001, 12_000])
def test_cli_import_of_a_large_file_with_one_foreign_row(tmp_path: Path, rows: int) -> None:
    """The reported case: 10,001 (12,000) UTF-8 rows, then one cp1251 row, into SQLite."""
    import sqlite3

    path = tmp_path / "big.csv"
    path.write_bytes(("id,name,phone\n" + good_rows(rows)).encode() + "zz,Привет,+79123456789\n".encode("cp1251"))
    db = tmp_path / "q.db"
    result = subprocess.run(
        [sys.executable, "-m", "dialer.cli", "import", str(EXAMPLE_CONFIG), str(path), "--db", str(db)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Task exception" not in result.stderr
    assert f"{rows + 1:,} rows: {rows:,} new, 0 updated, 1 rejected" in result.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from clients").fetchone()[0] == rows


async def test_a_failing_store_stops_the_import_cleanly(tmp_path: Path) -> None:
    """A batch in flight when the import fails is waited for (never cancelled under the
    store, never an unretrieved task error); the error says how far it got."""
    path = tmp_path / "c.csv"
    path.write_text("id,name,phone\n" + good_rows(50), encoding="utf-8")

    class Failing(FakeSink):
        calls = 0

        async def upsert_clients(self, records: Sequence[ClientRecord]) -> tuple[int, int]:
            self.calls += 1
            await asyncio.sleep(0.05)
            if self.calls == 3:
                raise OSError("disk I/O error")
            return await super().upsert_clients(records)

    unretrieved: list[object] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: unretrieved.append(context))
    sink = Failing()
    with pytest.raises(ImportAborted) as exc:
        await import_clients(CONFIG, path, sink, batch_size=10)
    assert "stopped after 20 clients were written" in str(exc.value) and "disk I/O error" in str(exc.value)
    assert len(sink.clients) == 20
    gc.collect()
    await asyncio.sleep(0)
    assert unretrieved == []
    assert not (tmp_path / "c.rejected.csv.part").exists()


async def test_a_rejected_file_that_cannot_be_written_imports_nothing(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("id,name,phone\n" + good_rows(5) + "bad,X,123\n", encoding="utf-8")
    (tmp_path / "c.rejected.csv.part").mkdir()  # where the rejected rows would be written
    sink = FakeSink()
    with pytest.raises(ImportFileError, match="cannot write the rejected rows"):
        await import_clients(CONFIG, path, sink)
    assert sink.clients == {}


# ---------------------------------------------------------------- formulas in the rejected file


FORMULAS = ['=HYPERLINK("http://evil","click")', "+7 912 555 01 01", "-2+3", "@SUM(A1)", "\t=1", "'quoted", "''two"]


async def test_formula_cells_are_neutralised_and_restored(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "name", "phone", "note", "=cmd"])
        for i, cell in enumerate(FORMULAS):
            w.writerow([f"f{i}", cell, "12", cell, "x"])  # phone 12: rejected
    s = await import_clients(CONFIG, path, FakeSink())
    table = check_accounted(s)
    assert table[0][:5] == ["id", "name", "phone", "note", "'=cmd"]
    for row, cell in zip(table[1:], FORMULAS, strict=True):
        assert row[1] == "'" + cell and row[3] == "'" + cell
        assert not row[-1].startswith(("=", "+", "-", "@"))
    # The supervisor fixes the phones and imports the rejected file: the quotes are gone,
    # every other character is back.
    fixed = tmp_path / "fixed.csv"
    with open(fixed, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(table[0])
        for i, row in enumerate(table[1:]):
            w.writerow([row[0], row[1], f"'+7 912 555 02 {i:02d}", *row[3:]])
    sink = FakeSink()
    s2 = await import_clients(CONFIG, fixed, sink)
    assert (s2.imported, s2.rejected) == (len(FORMULAS), 0)
    for i, cell in enumerate(FORMULAS):
        client = sink.clients[f"f{i}"]
        assert client.name == cell.strip() and client.attributes["note"] == cell.strip()
        assert client.attributes["=cmd"] == "x" and client.phone == f"+7912555020{i}"


async def test_a_plain_client_file_keeps_its_leading_quotes(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text(f"id,name,phone,note\nq1,'t Hooft,{phone(1)},'=x\n", encoding="utf-8")
    sink = FakeSink()
    await import_clients(CONFIG, path, sink)
    assert sink.clients["q1"].name == "'t Hooft" and sink.clients["q1"].attributes == {"note": "'=x"}


cell_text = st.text(alphabet=st.sampled_from("=+-@'\t\r\n \",;xyЖ1"), max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells=st.lists(cell_text, min_size=1, max_size=5))
async def test_rejected_file_round_trips_any_cell(tmp_path: Path, cells: list[str]) -> None:
    """Import(cell) and import(rejected file of cell, phone fixed) give the same client."""
    header = ["id", "name", "phone", *(f"a{i}" for i in range(len(cells)))]
    direct, bad = io.StringIO(), io.StringIO()
    csv.writer(direct).writerows([header, ["r1", "N", phone(1), *cells]])
    csv.writer(bad).writerows([header, ["r1", "N", "12", *cells]])
    (tmp_path / "direct.csv").write_text(direct.getvalue(), encoding="utf-8")
    (tmp_path / "bad.csv").write_text(bad.getvalue(), encoding="utf-8")
    expected = FakeSink()
    await import_clients(CONFIG, tmp_path / "direct.csv", expected)
    s = await import_clients(CONFIG, tmp_path / "bad.csv", FakeSink())
    table = check_accounted(s)
    for written in table[1][3:-2]:
        assert not written.startswith(("=", "+", "-", "@", "\t", "\r"))
    table[1][2] = "'" + phone(1)
    fixed = io.StringIO()
    csv.writer(fixed).writerows(table)
    (tmp_path / "fixed.csv").write_text(fixed.getvalue(), encoding="utf-8")
    again = FakeSink()
    await import_clients(CONFIG, tmp_path / "fixed.csv", again)
    assert again.clients == expected.clients


# ---------------------------------------------------------------- columns without a name


async def test_values_under_an_unnamed_column_are_kept_by_position(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text(f"id,name,phone,, ,city,\nu1,A,{phone(1)},first,second,Tula,\n", encoding="utf-8")
    sink = FakeSink()
    s = await import_clients(CONFIG, path, sink)
    assert s.imported == 1
    assert sink.clients["u1"].attributes == {"column_4": "first", "column_5": "second", "city": "Tula"}
    clash = tmp_path / "clash.csv"
    clash.write_text("id,name,phone,,column_4\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="column 4 has no name in the header line and column 5 is named"):
        await import_clients(CONFIG, clash, sink)


# ---------------------------------------------------------------- fuzzing


def _fuzz_config() -> settings:
    return settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


async def _import_anything(path: Path, line: int, field: int) -> None:
    sink = FakeSink()
    try:
        with small_limits(line, field):
            s = await import_clients(CONFIG, path, sink, batch_size=3)
    except ImportFileError as exc:
        message = str(exc)
        assert "\n" not in message and len(message) < 2000, message
        assert sink.clients == {}
        return
    check_accounted(s, _delimiter_of(s))
    assert len(sink.clients) == s.imported + s.updated


def _delimiter_of(s: importer.ImportSummary) -> str:
    if s.rejected_path is None:
        return ","
    first = s.rejected_path.read_text(encoding="utf-8-sig").split("\n", 1)[0]
    return importer_source.detect_delimiter(first)


@_fuzz_config()
@given(data=st.binary(max_size=600))
async def test_random_bytes_never_crash(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(data)
    await _import_anything(path, line=120, field=50)
    (tmp_path / "r.rejected.csv").unlink(missing_ok=True)


@_fuzz_config()
@given(
    header=st.permutations(
        ["id", "name", "phone", "city", "", " ", "=x", "timezone", "stage", "line", "reason"]
    ).flatmap(lambda names: st.integers(2, len(names)).map(lambda n: names[:n])),
    rows=st.lists(st.lists(st.one_of(
        st.sampled_from(["+7 912 555 01 01", "89125550101", "12", "", "=1+1", "@x", "a\nb", 'q"q', "x" * 90,
                         "Asia/Omsk", "hot", "Тула"]),
        st.text(max_size=12),
    ), max_size=8), max_size=8),
    delimiter=st.sampled_from([",", ";", "\t"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1251", "utf-16"]),
    tail=st.binary(max_size=20),
)  # fmt: skip
async def test_random_csv_shapes_never_crash(
    tmp_path: Path, header: list[str], rows: list[list[str]], delimiter: str, encoding: str, tail: bytes
) -> None:
    text = io.StringIO()
    writer = csv.writer(text, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    path = tmp_path / "s.csv"
    path.write_bytes(text.getvalue().encode(encoding, errors="replace") + tail)
    await _import_anything(path, line=150, field=60)
    (tmp_path / "s.rejected.csv").unlink(missing_ok=True)


hostile_line = st.one_of(
    st.binary(max_size=80).map(lambda b: b.replace(b'"', b"").replace(b"\n", b"").replace(b"\r", b"")),
    st.text(max_size=40).map(
        lambda t: ("h," + t.replace('"', "").replace("\n", "").replace("\r", "")).encode("cp1251", errors="replace")
    ),
    st.integers(61, 400).map(lambda n: b"long,L," + b"+79125550101," + b"x" * n),
    st.integers(151, 600).map(lambda n: b"y," * (n // 2)),
    st.just("cp,Привет Мир,+79125550101".encode("cp1251")),
    st.just(b"nul,N\x00N,+79125550101"),
)


@_fuzz_config()
@given(
    plan=st.lists(st.one_of(st.just(None), hostile_line), min_size=1, max_size=30),
    parallel=st.sampled_from([False] * 9 + [True]),
)
async def test_good_rows_survive_any_hostile_rows(tmp_path: Path, plan: list[bytes | None], parallel: bool) -> None:
    """A valid header, good rows and hostile rows in any order: every good row is imported,
    nothing is refused as a whole, and the hostile rows are rejected or blank."""
    lines, good = [], set()
    for i, item in enumerate(plan):
        if item is None:
            good.add(f"good-{i}")
            lines.append(f"good-{i},Клиент {i},{phone(i)},Тула".encode())
        else:
            lines.append(item)
    path = tmp_path / "h.csv"
    path.write_bytes(b"id,name,phone,city\n" + b"\n".join(lines) + b"\n")
    sink = FakeSink()
    with small_limits(line=150, field=60):
        s = await import_clients(CONFIG, path, sink, batch_size=3, parallel=parallel, encoding="utf-8")
    check_accounted(s)
    assert good <= set(sink.clients), good - set(sink.clients)
    # (the parsing process does not see small_limits: there a long row is just a row)
    assert set(sink.clients) - good <= ({"long"} if parallel else set())
    (tmp_path / "h.rejected.csv").unlink(missing_ok=True)
