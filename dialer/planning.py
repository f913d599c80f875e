"""The daily plan: the clients due today per campaign, in call order, and what fits.

"Today" is the center's local date. Call order is the claim order (complaints,
agreed callbacks, hot, customers, cold prospects; within a class the window that
closes soonest first, so eastern zones are not missed). Capacity is
lines x open minutes / expected handle time; the clients beyond it roll over.
The ordering and capacity math are pure; `build_plan` reads the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from dialer import calendar
from dialer.config import Campaign, DialerConfig
from dialer.store.base import Plan, PlanEntry, QueuedClient, Store


def day_bounds(config: DialerConfig, day: date) -> tuple[datetime, datetime]:
    """[start, end) of the center's local date as aware instants."""
    zone = ZoneInfo(config.center.timezone)
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone)
    return start, end


def center_today(config: DialerConfig, now: datetime) -> date:
    return now.astimezone(ZoneInfo(config.center.timezone)).date()


def open_minutes(config: DialerConfig, campaign: Campaign, zones: Iterable[str], day: date) -> float:
    """Minutes of the center's day in which the campaign can reach at least one of
    the given client zones (campaign window, legal window and center shift; client
    schedules vary per client and are left to the per-client window)."""
    start, end = day_bounds(config, day)
    spans: list[calendar.Interval] = []
    for zone in set(zones):
        rules = calendar.rules_for(config, campaign, zone, None)
        spans.extend(calendar.open_intervals(rules, start, end))
    spans.sort(key=lambda i: i.start)
    total = timedelta(0)
    cur_start: datetime | None = None
    cur_end: datetime | None = None
    for span in spans:
        if cur_end is None or span.start > cur_end:
            if cur_start is not None and cur_end is not None:
                total += cur_end - cur_start
            cur_start, cur_end = span.start, span.end
        else:
            cur_end = max(cur_end, span.end)
    if cur_start is not None and cur_end is not None:
        total += cur_end - cur_start
    return total.total_seconds() / 60


def capacity(lines: int, minutes: float, handle: timedelta) -> int:
    """How many calls the campaign's lines can make in the open minutes."""
    per_call = max(handle.total_seconds() / 60, 1e-9)
    return int(lines * minutes // per_call)


@dataclass(frozen=True)
class PlanSummary:
    campaign: str
    day: date
    due: int
    capacity: int
    fits: int
    rolled_over: int
    open_minutes: float


def plan_entries(clients: list[QueuedClient], cap: int) -> list[PlanEntry]:
    """Clients already in call order -> entries, the first `cap` marked as fitting."""
    return [
        PlanEntry(
            client_id=c.id,
            priority=c.priority,
            next_dial_at=c.next_dial_at,  # type: ignore[arg-type]
            window_closes_at=c.window_closes_at,
            fits=i < cap,
        )
        for i, c in enumerate(clients)
    ]


async def build_plan(store: Store, config: DialerConfig, campaign: Campaign, day: date, now: datetime) -> Plan:
    _, end = day_bounds(config, day)
    clients = await store.due_clients(campaign.name, end)
    zones = {c.timezone for c in clients} or {config.center.timezone}
    minutes = open_minutes(config, campaign, zones, day)
    cap = capacity(campaign.lines if not campaign.agents else min(campaign.lines, len(campaign.agents)), minutes, campaign.handle_time)
    return Plan(campaign=campaign.name, day=day, capacity=cap, entries=plan_entries(clients, cap), created_at=now)


def summarize(plan: Plan, minutes: float | None = None) -> PlanSummary:
    fits = sum(1 for e in plan.entries if e.fits)
    return PlanSummary(
        campaign=plan.campaign,
        day=plan.day,
        due=len(plan.entries),
        capacity=plan.capacity,
        fits=fits,
        rolled_over=len(plan.entries) - fits,
        open_minutes=minutes if minutes is not None else 0.0,
    )
