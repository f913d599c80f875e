"""`dialer calls`: the call log carries what operators match against the provider's
console and the PBX logs (the provider's call id and the provider's error), and the
columns a dashboard already reads keep their names and order."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner

from dialer.cli import main
from dialer.config import load_config
from dialer.dispatcher import Dispatcher
from dialer.domain import CallStatus
from dialer.reports import CALL_LOG_FIELDS
from dialer.store.sqlite import SqliteStore
from providers.base import ProviderError
from tests.support.clocks import FixedClock
from tests.support.dispatch import MORNING, ScriptedProvider, client, load
from tests.support.paths import EXAMPLE_CONFIG

# The call log's columns before provider_call_id/error were added: a contract for dashboards.
STABLE_COLUMNS = [
    "call_id", "client_id", "campaign", "agent", "phone", "started_at", "client_tz", "status", "ring_s", "talk_s",
    "guideline", "disposition", "attempt", "allowed_by",
]  # fmt: skip


async def _day_with_calls(db: Path) -> dict[str, str]:
    """Three clients: answered, busy, and one whose dial the provider refused."""
    config = load_config(EXAMPLE_CONFIG)
    store = SqliteStore(db)
    await store.open()
    await store.migrate()
    clock = FixedClock(MORNING)
    await load(store, config, [client(1), client(2), client(3)], MORNING)
    script = {"+79120000002": CallStatus.BUSY, "+79120000003": ProviderError("trunk said 503 Service Unavailable")}
    provider = ScriptedProvider(clock, script)
    d = Dispatcher(store, {"simulated": provider}, config, clock)
    await d.step()
    await d.wait_idle()
    ids = {}
    for cid in ("c1", "c2", "c3"):
        [call] = await store.client_calls(cid)
        ids[cid] = call.call_id
    await store.close()
    return ids


def test_call_log_has_provider_call_id_and_error(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    ids = asyncio.run(_day_with_calls(db))
    base = ["calls", "--config", str(EXAMPLE_CONFIG), "--db", str(db), "--date", "2026-12-01"]

    result = CliRunner().invoke(main, [*base, "--format", "csv"])
    assert result.exit_code == 0, result.output
    reader = csv.DictReader(io.StringIO(result.output))
    header = list(reader.fieldnames or [])
    assert header[: len(STABLE_COLUMNS)] == STABLE_COLUMNS  # existing names and order unchanged
    assert {"provider_call_id", "error"} <= set(header[len(STABLE_COLUMNS) :])
    assert header == list(CALL_LOG_FIELDS)
    rows = {r["client_id"]: r for r in reader}
    assert rows["c1"]["provider_call_id"] == f"P-{ids['c1']}" and rows["c1"]["error"] == ""
    assert rows["c2"]["status"] == "busy" and rows["c2"]["provider_call_id"] == f"P-{ids['c2']}"
    assert rows["c3"]["status"] == "failed"
    assert "trunk said 503 Service Unavailable" in rows["c3"]["error"]

    result = CliRunner().invoke(main, [*base, "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    lines = {r["client_id"]: r for r in map(json.loads, result.output.splitlines())}
    assert list(lines["c1"]) == list(CALL_LOG_FIELDS)
    assert lines["c1"]["provider_call_id"] == f"P-{ids['c1']}" and lines["c1"]["error"] is None
    assert "trunk said 503" in lines["c3"]["error"]
