"""A simulated working day over the example clients, through the `dialer` command."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dialer.cli import main
from tests.conftest import EXAMPLE_CLIENTS, EXAMPLE_CONFIG


def run(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    db = tmp_path_factory.mktemp("sim") / "sim.db"
    result = run(
        "simulate", "--config", str(EXAMPLE_CONFIG), "--clients", str(EXAMPLE_CLIENTS),
        "--from", "2026-12-01", "--days", "2", "--seed", "7", "--db", str(db), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return {"db": db, "out": json.loads(result.output)}


def call_log(db: Path, day: str) -> list[dict[str, str]]:
    result = run("calls", "--config", str(EXAMPLE_CONFIG), "--db", str(db), "--date", day, "--format", "csv")
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.output)))


def test_guarantees_hold(simulated: dict[str, Any]) -> None:
    for day in simulated["out"]["days"]:
        audit = day["audit"]
        assert audit["calls"] > 0
        assert audit["outside_window"] == 0
        assert audit["dnc_dialed"] == 0
        assert audit["open_calls"] == 0


def test_report_matches_call_log(simulated: dict[str, Any]) -> None:
    for day in simulated["out"]["days"]:
        calls = call_log(simulated["db"], day["date"])
        totals = {r["campaign"]: r for r in day["report"] if r["agent"] == "*"}
        for campaign, row in totals.items():
            mine = [c for c in calls if c["campaign"] == campaign]
            assert row["dialed"] == len(mine)
            assert row["clients_dialed"] == len({c["client_id"] for c in mine})
            assert row["reached"] == sum(c["status"] == "answered" for c in mine)
            assert row["busy"] == sum(c["status"] == "busy" for c in mine)
            assert row["no_answer"] == sum(c["status"] == "no_answer" for c in mine)
            assert row["meetings_set"] == sum(c["disposition"] == "meeting_set" for c in mine)
            assert row["contracts_signed"] == sum(c["disposition"] == "contract_signed" for c in mine)
            assert row["talk_within"] == sum(c["guideline"] == "within" for c in mine)
        agents = [r for r in day["report"] if r["agent"] != "*"]
        assert sum(r["dialed"] for r in agents) == len(calls)


def test_call_log_fields_are_the_contract(simulated: dict[str, Any]) -> None:
    calls = call_log(simulated["db"], "2026-12-01")
    assert list(calls[0]) == [
        "call_id", "client_id", "campaign", "agent", "phone", "started_at", "client_tz", "status", "ring_s",
        "talk_s", "guideline", "disposition", "attempt", "allowed_by",
    ]  # fmt: skip
    for c in calls:
        assert c["started_at"].endswith("Z")
        datetime.fromisoformat(c["started_at"].replace("Z", "+00:00"))
        assert c["phone"].startswith("+")
        assert c["allowed_by"]


def test_complaints_and_hot_dialed_first(simulated: dict[str, Any]) -> None:
    """Within each campaign, first calls go to complaints / hot before the others whose
    window was open at the same time."""
    calls = call_log(simulated["db"], "2026-12-01")
    result = run("plan", "--config", str(EXAMPLE_CONFIG), "--db", str(simulated["db"]), "--date", "2026-12-01", "--json")
    plans = {p["campaign"]: p for p in json.loads(result.output)}
    first_call: dict[str, str] = {}
    for c in calls:
        first_call.setdefault(c["client_id"], c["started_at"])
    care = plans["care"]["clients"]
    complaints = [e for e in care if e["class"] == "complaint"]
    others = [e for e in care if e["class"] != "complaint"]
    assert complaints, "the example has complaints"
    # The plan lists complaints first...
    assert [e["class"] for e in care][: len(complaints)] == ["complaint"] * len(complaints)
    # ...and each complaint was dialed no later than any check-in of the same zone.
    for comp in complaints:
        same_zone = [o for o in others if o["client_tz"] == comp["client_tz"] and o["client_id"] in first_call]
        if comp["client_id"] in first_call:
            for o in same_zone:
                assert first_call[comp["client_id"]] <= first_call[o["client_id"]]


def test_simulation_is_reproducible(tmp_path: Path) -> None:
    outs = []
    for i in range(2):
        result = run(
            "simulate", "--config", str(EXAMPLE_CONFIG), "--clients", str(EXAMPLE_CLIENTS),
            "--from", "2026-12-01", "--seed", "3", "--db", str(tmp_path / f"r{i}.db"), "--json",
        )  # fmt: skip
        assert result.exit_code == 0
        outs.append(json.loads(result.output)["days"])
    assert outs[0] == outs[1]


def test_why_explains(simulated: dict[str, Any]) -> None:
    calls = call_log(simulated["db"], "2026-12-01")
    cid = calls[0]["client_id"]
    result = run("why", "--config", str(EXAMPLE_CONFIG), "--db", str(simulated["db"]), cid, "--at", "2026-12-01T12:00")
    assert result.exit_code == 0, result.output
    assert f"client {cid}" in result.output and "next dial moment" in result.output and "last calls" in result.output
    missing = run("why", "--config", str(EXAMPLE_CONFIG), "--db", str(simulated["db"]), "nobody")
    assert missing.exit_code == 1
