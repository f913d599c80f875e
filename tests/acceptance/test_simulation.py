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
from tests.support.paths import EXAMPLE_CLIENTS, EXAMPLE_CONFIG


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
        "provider_call_id", "error",  # appended: existing columns keep their place
    ]  # fmt: skip
    for c in calls:
        assert c["started_at"].endswith("Z")
        datetime.fromisoformat(c["started_at"].replace("Z", "+00:00"))
        assert c["phone"].startswith("+")
        assert c["allowed_by"]
        assert c["provider_call_id"].startswith("SIM")


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


def _config_without_dispositions(tmp_path: Path) -> Path:
    text = EXAMPLE_CONFIG.read_text("utf-8")
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("dispositions:"))
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start + 1
    while end < len(lines) and (len(lines[end]) - len(lines[end].lstrip())) > indent:
        end += 1
    path = tmp_path / "dialer.yaml"
    path.write_text("\n".join(lines[:start] + lines[end:]) + "\n", "utf-8")
    assert "dispositions" not in path.read_text("utf-8")
    return path


def test_default_dispositions_reach_clients(tmp_path: Path) -> None:
    """`dispositions:` omitted: answered calls carry a default disposition (no crash)."""
    config = _config_without_dispositions(tmp_path)
    db = tmp_path / "sim.db"
    result = run(
        "simulate", "--config", str(config), "--clients", str(EXAMPLE_CLIENTS),
        "--from", "2026-12-01", "--seed", "5", "--db", str(db), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [day] = json.loads(result.stdout)["days"]
    assert day["audit"]["provider_crashes"] == 0
    assert sum(r["reached"] for r in day["report"] if r["agent"] == "*") > 0
    calls = [c for c in call_log(db, "2026-12-01") if c["status"] == "answered"]
    assert calls and all(c["disposition"] for c in calls)
    assert not [c for c in call_log(db, "2026-12-01") if "crashed" in c["error"]]


def test_audit_fails_on_a_provider_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider bug on answered calls must fail the simulation, not pass as `failed` calls."""
    from providers.simulated import SimulatedProvider

    def broken(self: SimulatedProvider, rng: Any, stage: str) -> Any:
        raise AttributeError("'str' object has no attribute 'needs_time'")

    monkeypatch.setattr(SimulatedProvider, "_disposition", broken)
    for extra in ([], ["--json"]):
        result = run(
            "simulate", "--config", str(EXAMPLE_CONFIG), "--clients", str(EXAMPLE_CLIENTS),
            "--from", "2026-12-01", "--seed", "5", "--db", str(tmp_path / f"crash{len(extra)}.db"), *extra,
        )  # fmt: skip
        assert result.exit_code == 1
        assert "error: the provider crashed on" in result.stderr
        assert "AttributeError: 'str' object has no attribute 'needs_time'" in result.stderr
        if extra:
            [day] = json.loads(result.stdout)["days"]
            assert day["audit"]["provider_crashes"] > 0
        else:
            assert "provider crashes" in result.stdout and " 0 provider crashes" not in result.stdout
