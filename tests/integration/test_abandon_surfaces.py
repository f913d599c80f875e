"""Where people see abandoned calls and occupancy (issue 13), from calls written through
the real_store's API: the live board (JSON and cards), the day report (rows on both stores,
the page behind the login), /metrics' gauges, `dialer calls --status` and `dialer status`."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from click.testing import CliRunner

from dialer.cli import main
from dialer.config import DialerConfig
from dialer.domain import CallStatus
from dialer.http import create_app
from dialer.pacing.modes import DialMode
from dialer.planning import center_today
from dialer.reporting.data import load_day_report
from dialer.reports import TOTAL
from dialer.service import Service
from dialer.store.base import Store
from dialer.store.people import PresenceState, people_of
from dialer.store.sqlite import SqliteStore
from dialer.web.context import WebContext
from tests.support.call_records import Done, record_calls
from tests.support.clocks import FixedClock
from tests.support.console_web import SECRET, add_people, login, web_config
from tests.support.paths import EXAMPLE_CONFIG

# Tue 2026-12-01 11:00 at the center (Europe/Samara): mid-shift.
NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
# cold today: 3 conversations of 4 minutes by ivanova, 1 client abandoned -> 25 %.
COLD = [Done(CallStatus.ANSWERED, "ivanova", 240.0)] * 3 + [Done(CallStatus.ABANDONED)]


def power(config: DialerConfig) -> DialerConfig:
    cold = config.campaign("cold").model_copy(update={"dial_mode": DialMode.POWER, "max_abandon_rate": 0.03})
    return config.model_copy(update={"campaigns": [cold if c.name == "cold" else c for c in config.campaigns]})


async def test_the_day_report_has_abandon_rates_and_occupancy(real_store: Store, config: DialerConfig) -> None:
    people = people_of(real_store)
    # ivanova logged in at 10:00 center time, an hour before NOW; petrov never.
    await people.set_presence("ivanova", PresenceState.READY, NOW - timedelta(hours=1), by="ivanova")
    # Three 4-minute conversations ending 40, 20 and 5 minutes before NOW, each then 30 s
    # of wrap-up (the campaign's), and a client abandoned a minute before NOW.
    for minutes, talk in zip((40, 20, 5), COLD[:3], strict=True):
        await record_calls(real_store, "cold", [talk], NOW - timedelta(minutes=minutes), prefix=f"t{minutes}-")
    await record_calls(real_store, "cold", COLD[3:], NOW - timedelta(minutes=1), prefix="a")
    # An abandoned call of yesterday: in the 24 h window, not in today's figures.
    await record_calls(real_store, "cold", [Done(CallStatus.ABANDONED)], NOW - timedelta(hours=20), prefix="y")
    report = await load_day_report(real_store, config, NOW.date(), now=NOW)
    cold = next(r for r in report.campaign_rows if r.campaign == "cold")
    assert (cold.reached, cold.abandoned, cold.abandon_rate) == (3, 1, 0.25)
    assert cold.abandon_rate_window == 0.4  # 2 abandoned of 5 live answers over 24 h
    ivanova = next(a.row for a in report.agents if a.agent == "ivanova")
    # One logged-in hour (to now: the day is still running), 12 minutes of talk.
    assert (ivanova.logged_in_s, ivanova.talk_total_s, ivanova.talk_min_per_agent_hour) == (3600, 720, 12.0)
    assert ivanova.wrap_s == 90
    assert ivanova.wait_s == 3600 - 3 * (240 + 30)
    assert not any(a.agent == "petrov" for a in report.agents)  # neither logged in nor on a call
    assert next(r for r in report.row_list() if r.agent == "-").abandoned == 1
    assert cold.agent == TOTAL


async def test_board_report_page_and_metrics_show_the_rate_against_the_cap(
    real_store: Store, config: DialerConfig
) -> None:
    config = power(config)
    await add_people(real_store)
    await record_calls(real_store, "cold", COLD, NOW)
    ctx = WebContext(real_store, lambda: web_config(config), FixedClock(NOW + timedelta(minutes=1)), SECRET)
    app = create_app({}, web=ctx)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        await login(c, "boss")
        board = {x["name"]: x for x in (await c.get("/console/board.json")).json()["campaigns"]}
        cold, warm = board["cold"], board["warm"]
        assert (cold["dial_mode"], cold["abandon_window"], cold["max_abandon_rate"]) == ("power", "24h", 0.03)
        assert (cold["abandon_rate"], cold["abandoned_window"], cold["live_window"]) == (0.25, 1, 4)
        assert (cold["abandoned_today"], cold["abandon_level"]) == (1, "over")
        assert (warm["abandon_rate"], warm["abandon_level"], warm["dial_mode"]) == (None, "ok", "progressive")
        cards = (await c.get("/console/board/cards")).text
        assert 'data-level="over"' in cards and "25.0%" in cards and "1 abandoned today" in cards
        page = (await c.get("/console/report", params={"campaign": "cold"})).text
        assert 'id="table-occupancy"' in page and 'class="abandon-over"' in page

    service = Service(EXAMPLE_CONFIG)
    service.config, service.store, service.clock = config, real_store, FixedClock(NOW + timedelta(minutes=1))  # type: ignore[assignment]
    await service._refresh_gauges()
    text = service.metrics.render().decode()
    assert 'dialer_abandon_rate{campaign="cold"} 0.25' in text
    assert 'dialer_abandoned{campaign="cold"} 1.0' in text and 'dialer_live_answers{campaign="cold"} 4.0' in text
    assert 'dialer_abandon_rate_max{campaign="cold"} 0.03' in text
    assert 'dialer_abandon_rate{campaign="warm"} 0.0' in text


async def _record(db: Path, at: datetime) -> None:
    real_store = SqliteStore(db)
    await real_store.open()
    await real_store.migrate()
    try:
        await record_calls(real_store, "cold", COLD, at)
    finally:
        await real_store.close()


def test_the_call_log_lists_abandoned_calls(tmp_path: Path, config: DialerConfig) -> None:
    db = tmp_path / "dialer.db"
    # `dialer status` counts to the real now: the calls end a minute before it.
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    asyncio.run(_record(db, at))
    base = ["--config", str(EXAMPLE_CONFIG), "--db", str(db)]
    day = ["--date", center_today(config, at).isoformat()]
    result = CliRunner().invoke(main, ["calls", *base, *day, "--status", "abandoned"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [(r["status"], r["agent"], r["campaign"]) for r in rows] == [("abandoned", "", "cold")]
    every = list(csv.DictReader(io.StringIO(CliRunner().invoke(main, ["calls", *base, *day]).output)))
    assert sorted(r["status"] for r in every) == ["abandoned", "answered", "answered", "answered"]
    status = CliRunner().invoke(main, ["status", *base, "--format", "json"])
    cold = next(r for r in json.loads(status.output) if r["campaign"] == "cold")
    assert cold["abandon"] == {"window": "24h", "rate": 0.25, "abandoned": 1, "live_answers": 4, "max_rate": 0.03}
    table = CliRunner().invoke(main, ["status", *base]).output
    assert "dial mode progressive: abandon rate 25.0% (1 of 4 live answers, last 24h), cap 3.0%  OVER THE CAP" in table
