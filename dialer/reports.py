"""The day report and the call log.

The report is computed from the call log and the events of the center's local day,
so its counts always match `dialer calls` for the same date. Rows are per campaign
and agent, plus one campaign total row (agent ``*``) that also carries the plan
figures (planned, rolled_over), which belong to the campaign, not to an agent.

Issue 13 adds abandoned calls (no agent: they are on the agent ``-`` row and the
total), the abandon rate (the day's, and the campaign's rolling window's as of the
day's end) and occupancy (logged-in, talk, wrap-up and wait time, talk minutes per
agent-hour; see dialer.reporting.occupancy) from the agents' presence history.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dialer.config.models import DialerConfig
from dialer.domain import CallStatus, Disposition, Guideline
from dialer.model import AbandonCounts, CallRecord, EventRecord
from dialer.planning import day_bounds
from dialer.reporting.occupancy import AgentOccupancy, CampaignOccupancy, LoggedIn, logged_in_from_changes, occupancy
from dialer.store.people import LOGGED_IN_STATES, PeopleStore
from dialer.store.roles import DayRecords

CALL_LOG_FIELDS = (
    "call_id", "client_id", "campaign", "agent", "phone", "started_at", "client_tz", "status", "ring_s", "talk_s",
    "guideline", "disposition", "attempt", "allowed_by",
    # appended (existing columns keep their names and order): what operators match
    # against the provider's console and the PBX logs
    "provider_call_id", "error",
)  # fmt: skip

TOTAL = "*"


@dataclass
class ReportRow:
    date: str
    campaign: str
    agent: str
    planned: int | None = None
    dialed: int = 0
    clients_dialed: int = 0
    reached: int = 0
    busy: int = 0
    no_answer: int = 0
    failed: int = 0
    machine: int = 0
    invalid_number: int = 0
    canceled: int = 0
    interrupted: int = 0  # cut by the dialer's own crash: not an attempt of the client
    meetings_set: int = 0
    contracts_signed: int = 0
    became_hot: int = 0
    refused: int = 0
    do_not_call: int = 0
    complaints: int = 0
    rolled_over: int | None = None
    talk_median_s: float | None = None
    talk_within_share: float | None = None
    talk_short: int = 0
    talk_within: int = 0
    talk_long: int = 0
    # issue 13 (appended: the columns above keep their order)
    abandoned: int = 0  # answered live, no agent free: the information message, hung up
    abandon_rate: float | None = None  # campaign rows: abandoned / (reached + abandoned) of the day
    abandon_rate_window: float | None = None  # campaign rows: over abandon_window, to the day's end
    logged_in_s: float | None = None  # occupancy: None without presence history
    talk_total_s: float | None = None
    wrap_s: float | None = None
    wait_s: float | None = None
    talk_min_per_agent_hour: float | None = None


REPORT_FIELDS = tuple(f.name for f in fields(ReportRow))

_STATUS_FIELD = {
    CallStatus.ANSWERED: "reached",
    CallStatus.BUSY: "busy",
    CallStatus.NO_ANSWER: "no_answer",
    CallStatus.FAILED: "failed",
    CallStatus.MACHINE: "machine",
    CallStatus.INVALID_NUMBER: "invalid_number",
    CallStatus.CANCELED: "canceled",
    CallStatus.INTERRUPTED: "interrupted",
    CallStatus.ABANDONED: "abandoned",
}
_DISPOSITION_FIELD = {
    Disposition.MEETING_SET: "meetings_set",
    Disposition.CONTRACT_SIGNED: "contracts_signed",
    Disposition.REFUSED: "refused",
    Disposition.DO_NOT_CALL: "do_not_call",
    Disposition.COMPLAINT: "complaints",
}


def build_rows(
    day: date,
    calls: Iterable[CallRecord],
    events: Iterable[EventRecord],
    plans: dict[str, tuple[int, int]],
    *,
    occupancy: Sequence[CampaignOccupancy] = (),
    window_rates: Mapping[str, float] | None = None,
) -> list[ReportRow]:
    """Pure: the report rows from a day's calls, events and plans.

    `plans` maps campaign -> (planned, rolled over: planned, not dialed that day, and no
    longer dialable that day; see `Plans.plan_counts`). `occupancy` (per campaign, of
    the same day) fills the occupancy columns and adds a row for an agent who was logged
    in without a call; `window_rates` is each campaign's rolling abandon rate."""
    calls = list(calls)
    window_rates = window_rates or {}
    became_hot_calls = {e.call_id for e in events if e.call_id and e.from_stage != "hot" and e.to_stage == "hot"}
    groups: dict[tuple[str, str], list[CallRecord]] = defaultdict(list)
    for c in calls:
        groups[(c.campaign, c.agent or "-")].append(c)
        groups[(c.campaign, TOTAL)].append(c)
    for campaign in plans:
        groups.setdefault((campaign, TOTAL), [])
    occupied: dict[tuple[str, str], AgentOccupancy | CampaignOccupancy] = {}
    for camp in occupancy:
        occupied[(camp.campaign, TOTAL)] = camp
        groups.setdefault((camp.campaign, TOTAL), [])
        for one in camp.agents:
            occupied[(camp.campaign, one.agent)] = one
            if one.logged_in_s > 0:
                groups.setdefault((camp.campaign, one.agent), [])
    rows: list[ReportRow] = []
    for (campaign, agent), group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] != TOTAL, kv[0][1])):
        row = ReportRow(date=day.isoformat(), campaign=campaign, agent=agent)
        row.dialed = len(group)
        row.clients_dialed = len({c.client_id for c in group})
        talks: list[float] = []
        for c in group:
            if c.status in _STATUS_FIELD:
                setattr(row, _STATUS_FIELD[c.status], getattr(row, _STATUS_FIELD[c.status]) + 1)
            if c.disposition in _DISPOSITION_FIELD:
                name = _DISPOSITION_FIELD[c.disposition]
                setattr(row, name, getattr(row, name) + 1)
            if c.call_id in became_hot_calls:
                row.became_hot += 1
            if c.status is CallStatus.ANSWERED:
                talks.append(c.talk_s)
                if c.guideline is Guideline.SHORT:
                    row.talk_short += 1
                elif c.guideline is Guideline.WITHIN:
                    row.talk_within += 1
                elif c.guideline is Guideline.LONG:
                    row.talk_long += 1
        if talks:
            row.talk_median_s = round(statistics.median(talks), 1)
            row.talk_within_share = round(row.talk_within / len(talks), 3)
        if agent == TOTAL and campaign in plans:
            row.planned, row.rolled_over = plans[campaign]
        if agent == TOTAL:
            live = row.reached + row.abandoned
            row.abandon_rate = round(row.abandoned / live, 4) if live else None
            if campaign in window_rates:
                row.abandon_rate_window = round(window_rates[campaign], 4)
        if (campaign, agent) in occupied:
            _occupancy_columns(row, occupied[(campaign, agent)])
        rows.append(row)
    return rows


def _occupancy_columns(row: ReportRow, o: AgentOccupancy | CampaignOccupancy) -> None:
    if o.talk_s > 0 or o.logged_in_s > 0:
        row.talk_total_s = round(o.talk_s, 1)
    if o.logged_in_s <= 0:
        return  # nobody logged in (no presence history, e.g. presence off): no occupancy
    row.logged_in_s = round(o.logged_in_s, 1)
    row.wrap_s = round(o.wrap_s, 1)
    row.wait_s = round(o.wait_s, 1)
    row.talk_min_per_agent_hour = round(o.talk_min_per_agent_hour, 2)


async def day_occupancy(
    store: DayRecords, config: DialerConfig, start: datetime, end: datetime, now: datetime,
    calls: Iterable[CallRecord], campaign: str | None = None,
) -> tuple[list[CampaignOccupancy], dict[str, float]]:  # fmt: skip
    """Occupancy of the day ``[start, end)`` up to `now` (a day still running counts its
    logged-in time to now, not to midnight) and each campaign's abandon rate over its
    abandon_window ending there."""
    until = min(end, max(now, start))
    # Every concrete store has every role (dialer.store.base.Store); a report over a
    # narrower one (a test's fake) simply has no presence history or abandon counts.
    people: PeopleStore | None = getattr(store, "people", None)
    abandon_counts = getattr(store, "abandon_counts", None)
    logged_in: list[LoggedIn] = []
    if people is not None:
        changes = await people.presence_changes(start)
        logged_now = {p.agent: p.state in LOGGED_IN_STATES for p in await people.presence(now)}
        logged_in = logged_in_from_changes(changes, logged_now, start, until)
    chosen = [c for c in config.campaigns if campaign is None or c.name == campaign]
    found = occupancy(
        calls,
        logged_in,
        start,
        until,
        {c.name: c.wrap_up for c in chosen},
        {c.name: [a.name for a in c.agents] for c in chosen},
    )
    rates: dict[str, float] = {}
    if abandon_counts is not None:
        for c in chosen:
            since = until - timedelta(seconds=c.abandon_window.seconds)
            counts: AbandonCounts = await abandon_counts(c.name, since, until)
            rates[c.name] = counts.rate
    return [o for o in found if campaign is None or o.campaign == campaign], rates


async def day_report(
    store: DayRecords,
    config: DialerConfig,
    day: date,
    now: datetime | None = None,
    *,
    calls: list[CallRecord] | None = None,
) -> list[ReportRow]:
    """The report of `day` as of `now` (default: the current time): mid-day, clients
    still waiting for today's window are not rolled over yet. ``calls``: the day's
    calls when the caller has just read them (the simulation's audit reads them too)."""
    now = now or datetime.now(UTC)
    start, end = day_bounds(config, day)
    if calls is None:
        calls = await store.calls_between(start, end)
    events = await store.events_between(start, end)
    plans: dict[str, tuple[int, int]] = {}
    for campaign in config.campaigns:
        counts = await store.plan_counts(campaign.name, day, start, end, now)
        if counts is not None:
            plans[campaign.name] = (counts.planned, counts.rolled_over)
    occupied, rates = await day_occupancy(store, config, start, end, now, calls)
    return build_rows(day, calls, events, plans, occupancy=occupied, window_rates=rates)


def call_log_row(c: CallRecord) -> dict[str, Any]:
    return {
        "call_id": c.call_id,
        "client_id": c.client_id,
        "campaign": c.campaign,
        "agent": c.agent,
        "phone": c.phone,
        "started_at": c.started_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "client_tz": c.client_tz,
        "status": c.status.value,
        "ring_s": round(c.ring_s, 3),
        "talk_s": round(c.talk_s, 3),
        "guideline": c.guideline.value if c.guideline else None,
        "disposition": c.disposition.value if c.disposition else None,
        "attempt": c.attempt,
        "allowed_by": c.allowed_by,
        "provider_call_id": c.provider_call_id,
        "error": c.error,
    }


def to_csv(rows: Iterable[dict[str, Any]], columns: Iterable[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()


def to_jsonl(rows: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def report_dicts(rows: Iterable[ReportRow]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]


def report_table(rows: list[ReportRow]) -> str:
    """A compact fixed-width table for the terminal."""
    cols = (
        ("campaign", "campaign"), ("agent", "agent"), ("planned", "plan"), ("dialed", "dialed"),
        ("clients_dialed", "clients"), ("reached", "reached"), ("busy", "busy"), ("no_answer", "no_ans"),
        ("failed", "failed"), ("machine", "machine"), ("interrupted", "intr"), ("meetings_set", "meet"),
        ("contracts_signed", "contr"),
        ("became_hot", "hot+"), ("refused", "refused"), ("do_not_call", "dnc"), ("rolled_over", "rolled"),
        ("talk_median_s", "talk_med"), ("talk_within_share", "in_3-5"), ("talk_short", "short"),
        ("talk_long", "long"), ("abandoned", "aband"), ("abandon_rate", "ab_rate"),
        ("abandon_rate_window", "ab_window"), ("talk_min_per_agent_hour", "talk_min/h"),
    )  # fmt: skip
    table = [[h for _, h in cols]]
    for r in rows:
        table.append(["" if getattr(r, k) is None else str(getattr(r, k)) for k, _ in cols])
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table)
