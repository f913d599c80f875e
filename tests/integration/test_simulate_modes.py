"""`dialer simulate --dial-mode M --agents N` and the occupancy figures of --format json
(issue 13): bad values refused in one line, the figures' arithmetic checked against the
call log of a small progressive run, wrap-up honoured on the virtual clock."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from dialer.cli import main
from dialer.config.loader import load_config
from dialer.domain import CallStatus
from dialer.model import CallRecord
from dialer.planning import day_bounds
from dialer.simulate_setup import PREVIEW_READING_SECONDS
from dialer.store.sqlite import SqliteStore

DAY = "2026-12-01"
CONFIG = """
center:
  name: "Test center"
  timezone: Europe/Moscow
  shift: {{days: [mon-sat], start: "08:00", end: "20:00"}}
  phone_region: RU
schedules:
  office: {{days: [mon-fri], start: "09:00", end: "18:00"}}
default_schedule: office
campaigns:
  - name: sales
    stages: [prospect]
    lines: {lines}
    window: {{days: [mon-fri], start: "10:00", end: "12:00"}}
    provider: sim
    caller_id: "+74950000001"
    connect_to: "queue:sales"
    wrap_up: 45s
    talk: {{target_min: 1m, target_max: 3m}}
    retry:
      busy: {{delay: 10m, max_per_day: 3, max_total: 9}}
      no_answer: {{delay: 20m, max_per_day: 3, max_total: 6}}
providers:
  sim:
    type: simulated
    seed: 5
    answer_rate: 0.4
    busy_rate: 0.1
    machine_rate: 0.1
    failed_rate: 0.02
    talk_seconds: {{median: 120, sigma: 0.3}}
{extra}"""


def files(tmp_path: Path, clients: int = 30, lines: int = 3, extra: str = "") -> tuple[Path, Path]:
    cfg = tmp_path / "dialer.yaml"
    cfg.write_text(CONFIG.format(lines=lines, extra=extra), encoding="utf-8")
    csv = tmp_path / "clients.csv"
    rows = [f"k{i:03d},Client {i},+7912{i:07d},Europe/Moscow,prospect" for i in range(clients)]
    csv.write_text("id,name,phone,timezone,stage\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return cfg, csv


def simulate(cfg: Path, csv: Path, *extra: str) -> Result:
    return CliRunner().invoke(main, ["simulate", "--config", str(cfg), "--clients", str(csv), "--from", DAY, *extra])


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--dial-mode", "turbo"], "error: --dial-mode 'turbo' is not a dial mode (preview, progressive, power, pre"),
        (["--agents", "ten"], "error: --agents 'ten' is not a number of agents (1 to 999)"),
        (["--agents", "0"], "error: --agents must be between 1 and 999, not 0"),
        (["--lines", "many"], "error: --lines 'many' is not a number of lines (1 to 10000)"),
        (["--lines", "-1"], "error: --lines must be between 1 and 10000, not -1"),
        (["--dial-mode", ""], "error: --dial-mode '' is not a dial mode"),
    ],
)  # fmt: skip
def test_bad_options_are_one_line(tmp_path: Path, args: list[str], says: str) -> None:
    cfg, csv = files(tmp_path)
    result = simulate(cfg, csv, *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(says) and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == "" and "Traceback" not in result.output


def test_a_bad_simulated_setting_names_the_field(tmp_path: Path) -> None:
    cfg, csv = files(tmp_path, extra='    hourly: {"12-14": {answer: 0.5}, "13": {answer: 0.9}}\n')
    result = simulate(cfg, csv)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: providers.sim.hourly: '13': hour 13 is already covered by another key"
    ]


def test_rates_the_typical_profile_pushes_above_one_are_named(tmp_path: Path) -> None:
    cfg, csv = files(tmp_path)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("machine_rate: 0.1", "machine_rate: 0.45"), encoding="utf-8")
    result = simulate(cfg, csv)
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: providers.sim.hourly: at 13:00 answer+busy+machine+failed+invalid rates add up to")
    assert "set hourly: flat" in line


def test_power_mode_without_agents_keeps_the_queue_and_says_so(tmp_path: Path) -> None:
    cfg, csv = files(tmp_path, clients=4)
    result = simulate(cfg, csv, "--dial-mode", "power", "--format", "json")
    assert result.exit_code == 0, result.output
    notes = json.loads(result.stdout)["notes"]
    assert notes == [
        "campaign sales: no agents (connect_to queue:sales): stays progressive; --agents N gives it agents"
    ]


def test_power_mode_with_agents_allows_abandons_and_says_so(tmp_path: Path) -> None:
    cfg, csv = files(tmp_path, clients=4)
    result = simulate(cfg, csv, "--dial-mode", "power", "--agents", "2")
    assert result.exit_code == 0, result.output
    for note in (
        "simulate: campaign sales: dial_mode power (was progressive)",
        "simulate: campaign sales: allow_abandon set for the simulation",
        "simulate: campaign sales: a placeholder information_message (the config has none)",
        "simulate: campaign sales: 3 lines for 2 agents at up to 2 calls each",
        "simulate: --agents 2: every campaign is worked by agent-01..2",
    ):
        assert note in result.stdout
    more = simulate(cfg, csv, "--dial-mode", "power", "--agents", "2", "--lines", "4")
    assert more.exit_code == 0, more.output
    assert "simulate: campaign sales: 4 lines (was 3)" in more.stdout and "the lines bound" not in more.stdout


async def calls_of(cfg: Path, db: Path) -> list[CallRecord]:
    config = load_config(cfg)
    store = SqliteStore(db)
    await store.open(create=False)
    try:
        start, end = day_bounds(config, date.fromisoformat(DAY))
        return await store.calls_between(start, end)
    finally:
        await store.close()


@pytest.fixture(scope="module")
def progressive(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("modes")
    cfg, csv = files(tmp, clients=40, lines=3)
    db = tmp / "sim.db"
    result = simulate(
        cfg, csv, "--dial-mode", "progressive", "--agents", "2", "--days", "2", "--db", str(db), "--format", "json"
    )
    assert result.exit_code == 0, result.output
    return {"out": json.loads(result.stdout), "calls": asyncio.run(calls_of(cfg, db))}


def test_json_has_occupancy_per_campaign_and_agent(progressive: dict[str, Any]) -> None:
    day = progressive["out"]["days"][0]  # the call log read is the first day's
    [sales] = day["occupancy"]
    calls: list[CallRecord] = progressive["calls"]
    answered = [c for c in calls if c.status is CallStatus.ANSWERED]
    assert answered and sales["campaign"] == "sales"
    assert {a["agent"] for a in sales["agents"]} == {"agent-01", "agent-02"}
    assert {c.agent for c in calls} == {"agent-01", "agent-02"}  # the simulated agents took every call
    assert sales["dials"] == len(calls) == day["audit"]["calls"]
    assert sales["calls"] == len(answered)
    assert sales["talk_s"] == pytest.approx(sum(c.talk_s for c in answered), abs=0.1)
    # Progressive never abandons.
    assert sales["abandoned"] == 0 and sales["abandon_rate"] == 0
    assert sales["live_answers"] == len(answered)
    # Logged in: from the day's first call to its last end, for each of the two agents.
    first = min(c.started_at for c in calls)
    last = max(c.ended_at for c in calls if c.ended_at is not None)
    shift = (last - first).total_seconds()
    for agent in sales["agents"]:
        assert agent["logged_in_s"] == pytest.approx(shift, abs=0.1)
        mine = [c for c in answered if c.agent == agent["agent"]]
        assert agent["calls"] == len(mine)
        assert agent["talk_s"] == pytest.approx(sum(c.talk_s for c in mine), abs=0.1)
        assert agent["talk_s"] + agent["wrap_s"] + agent["wait_s"] == pytest.approx(shift, abs=0.5)
        assert agent["talk_min_per_agent_hour"] == pytest.approx(
            agent["talk_s"] / 60 / (agent["logged_in_s"] / 3600), abs=0.01
        )
    assert sales["logged_in_s"] == pytest.approx(2 * shift, abs=0.2)
    # The day report's figures come from the same presence history: they agree.
    [total] = [r for r in day["report"] if r["campaign"] == "sales" and r["agent"] == "*"]
    assert total["logged_in_s"] == sales["logged_in_s"]
    assert total["talk_min_per_agent_hour"] == sales["talk_min_per_agent_hour"]
    assert sales["talk_min_per_agent_hour"] == pytest.approx(sales["talk_s"] / 60 / (2 * shift / 3600), abs=0.01)
    assert sales["wait_s"] == pytest.approx(sum(a["wait_s"] for a in sales["agents"]), abs=0.2)


def test_the_run_total_adds_up_the_days(progressive: dict[str, Any]) -> None:
    days = [d["occupancy"][0] for d in progressive["out"]["days"]]
    [total] = progressive["out"]["occupancy"]
    assert len(days) == 2 and all(d["dials"] > 0 for d in days)
    for key in ("dials", "calls", "live_answers", "abandoned"):
        assert total[key] == sum(d[key] for d in days)
    for key in ("logged_in_s", "talk_s", "wait_s"):
        assert total[key] == pytest.approx(sum(d[key] for d in days), abs=0.5)
    assert total["talk_min_per_agent_hour"] == pytest.approx(
        total["talk_s"] / 60 / (total["logged_in_s"] / 3600), abs=0.01
    )


def test_agents_wrap_up_and_come_back_on_the_virtual_clock(progressive: dict[str, Any]) -> None:
    """After an answered call the agent is in wrap-up for the campaign's 45 s and takes
    the next call right when it ends (the simulation steps then)."""
    calls: list[CallRecord] = sorted(progressive["calls"], key=lambda c: c.started_at)
    wrap = timedelta(seconds=45)
    right_after = 0
    for agent in ("agent-01", "agent-02"):
        mine = [c for c in calls if c.agent == agent]
        for before, after in zip(mine, mine[1:], strict=False):
            assert before.ended_at is not None
            if before.status is CallStatus.ANSWERED:
                assert after.started_at >= before.ended_at + wrap
                right_after += after.started_at - (before.ended_at + wrap) < timedelta(seconds=2)
            else:
                assert after.started_at >= before.ended_at
    assert right_after >= 3


def test_preview_agents_read_each_card_then_call(tmp_path: Path) -> None:
    """In preview the simulated agent reads the card for PREVIEW_READING_SECONDS after
    being Ready (and after wrap-up), then presses Call."""
    cfg, csv = files(tmp_path, clients=8, lines=2)
    db = tmp_path / "sim.db"
    result = simulate(cfg, csv, "--dial-mode", "preview", "--agents", "1", "--db", str(db))
    assert result.exit_code == 0, result.output
    assert "simulate: campaign sales: dial_mode preview (was progressive)" in result.stdout
    calls = sorted(asyncio.run(calls_of(cfg, db)), key=lambda c: c.started_at)
    assert len(calls) >= 8 and {c.agent for c in calls} == {"agent-01"}
    reading = timedelta(seconds=PREVIEW_READING_SECONDS)
    exact = 0
    for before, after in zip(calls, calls[1:], strict=False):
        assert before.ended_at is not None
        ready = before.ended_at + (timedelta(seconds=45) if before.status is CallStatus.ANSWERED else timedelta(0))
        assert after.started_at >= ready + reading
        exact += after.started_at - (ready + reading) < timedelta(seconds=2)
    assert exact >= 3
