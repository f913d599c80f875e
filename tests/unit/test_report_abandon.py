"""The day report's abandoned calls, abandon rates and occupancy (issue 13): rows, page,
chart and downloads from one hand-made day."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

from openpyxl import load_workbook

from dialer.config import DialerConfig
from dialer.domain import CallStatus, Disposition
from dialer.pacing.modes import DialMode
from dialer.reporting import charts
from dialer.reporting.data import DayReport, Outcome, build_day_report
from dialer.reporting.downloads import report_csv_excel, report_xlsx
from dialer.reporting.occupancy import LoggedIn, occupancy
from dialer.reporting.page import render_day_report
from dialer.reports import TOTAL, build_rows, report_table
from dialer.store.base import CallRecord

DAY = date(2026, 12, 1)
T0 = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)  # 09:00 at the center (Europe/Samara)
SVG = "{http://www.w3.org/2000/svg}"


def call(
    n: int, status: CallStatus, *, agent: str | None = "ivanova", minute: float = 0, talk_s: float = 0
) -> CallRecord:
    at = T0 + timedelta(minutes=minute)
    answered = at + timedelta(seconds=20) if status in (CallStatus.ANSWERED, CallStatus.ABANDONED) else None
    return CallRecord(
        call_id=f"k{n}", client_id=f"c{n}", campaign="cold", agent=agent, phone="+79120000000",
        client_tz="Europe/Samara", attempt=1, started_at=at, local_day=DAY, status=status, provider="simulated",
        provider_call_id=None, answered_at=answered, ended_at=at + timedelta(seconds=20 + talk_s), ring_s=20,
        talk_s=talk_s, guideline=None, disposition=Disposition.NO_NEED if status is CallStatus.ANSWERED else None,
        disposition_at=None, note=None, error=None, allowed_by="test",
    )  # fmt: skip


def power(config: DialerConfig) -> DialerConfig:
    cold = config.campaigns[0].model_copy(update={"dial_mode": DialMode.POWER, "max_abandon_rate": 0.03})
    return config.model_copy(update={"campaigns": [cold, *config.campaigns[1:]]})


def day(config: DialerConfig, window_rate: float) -> DayReport:
    """ivanova: logged in 09:00-10:00, three conversations of 10 minutes (wrap-up 30 s);
    petrov logged in 09:00-09:30 without a call; one client abandoned at 09:50."""
    calls = [
        call(1, CallStatus.ANSWERED, minute=0, talk_s=600),
        call(2, CallStatus.ANSWERED, minute=15, talk_s=600),
        call(3, CallStatus.ANSWERED, minute=30, talk_s=600),
        call(4, CallStatus.ABANDONED, agent=None, minute=50),
        call(5, CallStatus.NO_ANSWER, agent=None, minute=55),
    ]
    logged = [LoggedIn("ivanova", T0, T0 + timedelta(hours=1)), LoggedIn("petrov", T0, T0 + timedelta(minutes=30))]
    cold = config.campaigns[0]
    occ = occupancy(calls, logged, T0, T0 + timedelta(hours=1), {"cold": cold.wrap_up}, {"cold": ["ivanova", "petrov"]})
    return build_day_report(
        config, DAY, calls, [], {}, campaign="cold", occupancy=occ, window_rates={"cold": window_rate},
        generated_at=T0 + timedelta(hours=1),
    )  # fmt: skip


def test_rows_count_abandoned_calls_and_carry_the_rates_and_occupancy(config: DialerConfig) -> None:
    report = day(power(config), 0.021)
    total = next(r for r in report.row_list() if r.agent == TOTAL)
    assert (total.dialed, total.reached, total.abandoned, total.no_answer) == (5, 3, 1, 1)
    assert total.abandon_rate == 0.25  # 1 / (3 + 1)
    assert total.abandon_rate_window == 0.021
    # 3 x 600 s of talk over 1.5 logged-in hours: 30 minutes / 1.5 h.
    assert (total.logged_in_s, total.talk_total_s, total.wrap_s) == (5400, 1800, 90)
    assert total.wait_s == 5400 - 1800 - 90
    assert total.talk_min_per_agent_hour == 20.0
    by_agent = {r.agent: r for r in report.row_list() if r.agent != TOTAL}
    assert by_agent["-"].abandoned == 1 and by_agent["ivanova"].abandoned == 0
    assert by_agent["ivanova"].talk_min_per_agent_hour == 30.0
    # petrov was logged in without a call: a row of his own, all waiting.
    assert (by_agent["petrov"].dialed, by_agent["petrov"].wait_s, by_agent["petrov"].talk_min_per_agent_hour) == (
        0, 1800, 0.0,
    )  # fmt: skip
    header = report_table(report.row_list()).splitlines()[0].split()
    assert "aband" in header and "ab_rate" in header


def test_without_presence_history_occupancy_stays_blank(config: DialerConfig) -> None:
    rows = build_rows(DAY, [call(1, CallStatus.ANSWERED, talk_s=60), call(2, CallStatus.ABANDONED, agent=None)], [], {})
    total = next(r for r in rows if r.agent == TOTAL)
    assert (total.abandoned, total.abandon_rate, total.abandon_rate_window) == (1, 0.5, None)
    assert total.logged_in_s is None and total.talk_min_per_agent_hour is None
    # Presence off (nobody ever logged in): the talk, but no occupancy to show.
    calls = [call(1, CallStatus.ANSWERED, talk_s=60)]
    occ = occupancy(calls, [], T0, T0 + timedelta(hours=1), {}, {"cold": ["ivanova"]})
    rows = build_rows(DAY, calls, [], {}, occupancy=occ)
    assert [(r.agent, r.talk_total_s, r.logged_in_s, r.wait_s, r.talk_min_per_agent_hour) for r in rows] == [
        (TOTAL, 60, None, None, None), ("ivanova", 60, None, None, None),
    ]  # fmt: skip


def test_the_hour_chart_stacks_abandoned_calls(config: DialerConfig) -> None:
    report = day(config, 0.0)
    assert next(h for h in report.hours if h.hour == 9).counts[Outcome.ABANDONED] == 1
    root = ET.fromstring(charts.hourly_chart(report.hours, report.center_tz))
    titles = [e.findtext(f"{SVG}title") for e in root.iter(f"{SVG}rect") if e.get("class") == "bar"]
    assert "09:00-10:00: Abandoned (no agent free) 1" in titles


def test_the_page_flags_the_window_rate_against_the_cap(config: DialerConfig) -> None:
    for rate, level in ((0.01, "ok"), (0.025, "near"), (0.034, "over")):
        html = render_day_report(day(power(config), rate))
        table = html[html.index('id="table-occupancy"') : html.index("<h2>Agents</h2>")]
        assert f'class="abandon-{level}"' in table, level
        assert f"{rate:.1%}" in table and "power" in table and "3.0%" in table  # the rate, the mode, the cap
    assert "25.0%" in table and "20.0" in table and "30.0" in table  # day's rate; talk min per agent-hour
    assert "<b>1</b><span>abandoned (no agent free)</span>" in html


def test_downloads_carry_the_new_columns(config: DialerConfig) -> None:
    report = day(power(config), 0.034)
    wb = load_workbook(io.BytesIO(report_xlsx(report)))
    campaigns = list(wb["Campaigns"].iter_rows(values_only=True))
    row = dict(zip(campaigns[0], campaigns[1], strict=True))
    assert (row["Abandoned"], row["Abandon rate"], row["Abandon rate (window)"], row["Abandon cap"]) == (
        1, 0.25, 0.034, 0.03,
    )  # fmt: skip
    assert (row["Dial mode"], row["Talk min per agent-hour"], row["Logged in"]) == ("power", 20.0, timedelta(hours=1.5))
    agents = list(wb["Agents"].iter_rows(values_only=True))
    per_agent = {r[2]: dict(zip(agents[0], r, strict=True)) for r in agents[1:]}
    assert per_agent["ivanova"]["Talk min per agent-hour"] == 30.0
    assert per_agent["petrov"]["Waiting"] == timedelta(minutes=30)
    text = report_csv_excel(report).decode("utf-8-sig").splitlines()
    header = text[0].split(";")
    total = dict(zip(header, text[1].split(";"), strict=True))
    assert (total["abandoned"], total["abandon_rate"], total["talk_min_per_agent_hour"]) == ("1", "0,25", "20")
