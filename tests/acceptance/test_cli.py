"""The operator's and agent's commands on a real SQLite file: import, dispose, report,
status, plan; bad input gets a clear error and loses nothing."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from dialer.cli import main
from dialer.config import load_config
from dialer.dispatcher import Dispatcher
from dialer.store.sqlite import SqliteStore
from tests.support.clocks import FixedClock
from tests.support.dispatch import MORNING, ScriptedProvider, client, load
from tests.support.paths import EXAMPLE_CLIENTS, EXAMPLE_CONFIG

BAD = Path(__file__).resolve().parent.parent / "data" / "clients_bad.csv"


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_import_counts_and_rejects(tmp_path: Path) -> None:
    db = str(tmp_path / "q.db")
    bad = tmp_path / "clients_bad.csv"
    bad.write_bytes(BAD.read_bytes())
    code, out = cli("import", str(EXAMPLE_CONFIG), str(bad), "--db", db, "--no-progress")
    assert code == 0, out
    assert "rejected" in out
    rejected = list(csv.DictReader(io.StringIO((tmp_path / "clients_bad.rejected.csv").read_text("utf-8-sig"))))
    assert rejected and all(r["reason"] and r["line"] for r in rejected)
    # Re-import: updates, never duplicates.
    code, out = cli("import", str(EXAMPLE_CONFIG), str(EXAMPLE_CLIENTS), "--db", db, "--no-progress")
    code2, out2 = cli("import", str(EXAMPLE_CONFIG), str(EXAMPLE_CLIENTS), "--db", db, "--no-progress")
    assert "120 new" in out and "120 updated" in out2


def test_import_of_a_file_without_required_columns(tmp_path: Path) -> None:
    bad = tmp_path / "nophone.csv"
    bad.write_text("id,name\n1,Ivan\n")
    code, out = cli("import", str(EXAMPLE_CONFIG), str(bad), "--db", str(tmp_path / "q.db"), "--no-progress")
    assert code == 1
    assert "nophone.csv" in out and "phone" in out


async def answered_call_without_disposition(db: Path) -> str:
    config = load_config(EXAMPLE_CONFIG)
    store = SqliteStore(db)
    await store.open()
    await store.migrate()
    clock = FixedClock(MORNING)
    await load(store, config, [client(1)], MORNING)
    d = Dispatcher(store, {"simulated": ScriptedProvider(clock)}, config, clock)
    await d.step()
    await d.wait_idle()
    [call] = await store.client_calls("c1")
    await store.close()
    return call.call_id


def a_future_tuesday() -> date:
    """A working Tuesday well ahead of the real clock `dialer dispose` runs on (the first
    in September of next year: no Russian holiday near it)."""
    day = date(datetime.now(UTC).year + 1, 9, 1)
    while day.weekday() != 1:
        day += timedelta(days=1)
    return day


def test_agent_disposes_an_answered_call(tmp_path: Path) -> None:
    # Sync test: the command runs its own event loop, as it does for an agent.
    db = tmp_path / "q.db"
    call_id = asyncio.run(answered_call_without_disposition(db))

    code, out = cli("dispose", "--config", str(EXAMPLE_CONFIG), "--db", str(db), call_id, "callback")
    assert code != 0 and "--at" in out  # a callback needs its agreed time
    code, out = cli("dispose", "--config", str(EXAMPLE_CONFIG), "--db", str(db), call_id, "shrug")
    assert code != 0
    day = a_future_tuesday()
    code, out = cli(
        "dispose", "--config", str(EXAMPLE_CONFIG), "--db", str(db), call_id, "callback",
        "--at", f"{day}T11:00", "--note", "after the board meeting",
    )  # fmt: skip
    assert code == 0, out
    assert "callback recorded" in out and f"{day}T08:00:00Z" in out  # 11:00 Moscow, not before
    code, out = cli("calls", "--config", str(EXAMPLE_CONFIG), "--db", str(db), "--date", "2026-12-01", "--format", "jsonl")
    [row] = [json.loads(line) for line in out.splitlines()]
    assert row["disposition"] == "callback" and row["status"] == "answered"
    code, out = cli("dispose", "--config", str(EXAMPLE_CONFIG), "--db", str(db), "no-such-call", "no_need")
    assert code != 0 and "no call" in out


def test_report_status_and_plan_on_a_simulated_day(tmp_path: Path) -> None:
    db = str(tmp_path / "sim.db")
    code, out = cli(
        "simulate", "--config", str(EXAMPLE_CONFIG), "--clients", str(EXAMPLE_CLIENTS), "--from", "2026-12-01",
        "--seed", "1", "--db", db,
    )  # fmt: skip
    assert code == 0, out
    assert "0 outside any window, 0 do-not-call dialed, 0 without a final result" in out
    code, out = cli("report", "--config", str(EXAMPLE_CONFIG), "--db", db, "--date", "2026-12-01", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {"planned", "dialed", "clients_dialed", "reached", "busy", "no_answer", "failed", "machine",
            "meetings_set", "contracts_signed", "became_hot", "refused", "do_not_call", "rolled_over",
            "talk_median_s", "talk_within_share", "talk_short", "talk_long"} <= set(rows[0])  # fmt: skip
    totals = [r for r in rows if r["agent"] == "*"]
    assert {r["campaign"] for r in totals} == {"cold", "warm", "care"}
    code, out = cli("report", "--config", str(EXAMPLE_CONFIG), "--db", db, "--date", "2026-12-01", "--json")
    assert json.loads(out)[0]["date"] == "2026-12-01"
    code, out = cli("status", "--config", str(EXAMPLE_CONFIG), "--db", db, "--json")
    status = json.loads(out)
    assert {s["campaign"] for s in status} == {"cold", "warm", "care"}
    assert all(s["lines_in_use"] == 0 for s in status)
    code, out = cli("plan", "--config", str(EXAMPLE_CONFIG), "--db", db, "--date", "2026-12-01")
    assert code == 0 and "(stored)" in out and "capacity" in out
    code, out = cli("report", "--config", str(EXAMPLE_CONFIG), "--db", db, "--date", "1.12.2026")
    assert code != 0 and "--date" in out


def test_one_disposition_per_call_corrections_and_agreed_times(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    call_id = asyncio.run(answered_call_without_disposition(db))
    base = ("dispose", "--config", str(EXAMPLE_CONFIG), "--db", str(db), call_id)

    def row() -> dict[str, object]:
        code, out = cli("calls", "--config", str(EXAMPLE_CONFIG), "--db", str(db), "--date", "2026-12-01",
                        "--format", "jsonl")  # fmt: skip
        [line] = out.splitlines()
        return json.loads(line)  # type: ignore[no-any-return]

    code, out = cli(*base, "callback", "--at", "tomorrow-ish")
    assert code != 0 and "--at" in out and len(out.strip().splitlines()) == 1
    code, out = cli(*base, "meeting_set")
    assert code != 0 and "--at" in out and len(out.strip().splitlines()) == 1
    # A callback in the past: one line, non-zero, nothing recorded.
    code, out = cli(*base, "callback", "--at", "2026-12-01T11:00")
    assert code != 0 and "in the past" in out and "--at now" in out
    assert len(out.strip().splitlines()) == 1 and "Traceback" not in out
    assert row()["disposition"] is None
    # --at now: the client's next opening, and the command says which.
    code, out = cli(*base, "callback", "--at", "now", "--by", "ivanova")
    assert code == 0, out
    assert "callback recorded" in out and "took the client's next opening" in out
    # A second disposition is refused and changes nothing.
    code, out = cli(*base, "contract_signed")
    assert code != 0 and "already has a disposition (callback)" in out and "--replace" in out
    assert len(out.strip().splitlines()) == 1
    assert row()["disposition"] == "callback"
    # A deliberate correction.
    code, out = cli(*base, "interested", "--replace", "--by", "supervisor")
    assert code == 0, out
    assert "interested recorded (replaces callback)" in out
    assert row()["disposition"] == "interested"

    async def audit() -> tuple[str, dict[str, object]]:
        store = SqliteStore(db)
        await store.open()
        try:
            [last, *_] = await store.events_for("c1")
            client = await store.get_client("c1")
            assert client is not None
            return client.state.stage.value, last.data
        finally:
            await store.close()

    stage, data = asyncio.run(audit())
    assert stage == "hot" and data["by"] == "supervisor"
    assert data["replaces"]["disposition"] == "callback"  # type: ignore[index]


def test_dates_beyond_the_calendar_are_one_line_everywhere(tmp_path: Path) -> None:
    """9999-12-31 (many CRMs' "never") or 0001-01-01 once overflowed the calendar with a
    traceback in why, plan, report, calls, simulate and dispose."""
    db = tmp_path / "q.db"
    call_id = asyncio.run(answered_call_without_disposition(db))
    where = ("--config", str(EXAMPLE_CONFIG), "--db", str(db))
    for far in ("9999-12-31", "0001-01-01"):
        for command in (["plan", "--date", far], ["report", "--date", far], ["calls", "--date", far],
                        ["why", "c1", "--at", f"{far}T12:00"]):  # fmt: skip
            code, out = cli(*command, *where)
            assert code == 2 and "out of range" in out and "Traceback" not in out, (command, out)
        code, out = cli("simulate", "--config", str(EXAMPLE_CONFIG), "--clients", str(EXAMPLE_CLIENTS), "--from", far)
        assert code == 2 and "--from" in out and "out of range" in out, out
        for at in (f"{far}T00:00", f"{far}T23:59+14:00", f"{far}T00:00-12:00"):
            code, out = cli("dispose", *where, call_id, "callback", "--at", at)
            assert code == 1 and "out of range" in out and len(out.strip().splitlines()) == 1, out
    # The edges of the range still work.
    code, out = cli("why", "c1", "--at", "8999-12-31T23:59", *where)
    assert code == 0, out
    code, out = cli("plan", "--date", "1000-01-01", *where)
    assert code == 0, out
    code, out = cli("dispose", *where, call_id, "callback", "--at", "8999-12-31T23:59+14:00")
    assert code == 0 and "callback recorded" in out, out
