"""The daily plan: the clients due today per campaign, in call order, and what fits.

"Today" is the center's local date. Call order is the claim order (complaints,
agreed callbacks, hot, customers, cold prospects; within a class the window that
closes soonest first, so eastern zones are not missed). Capacity is
lines x open minutes / expected handle time; the clients beyond it roll over.
The capacity math is pure; the ordering is the store's claim order, and the plan
is formed inside the database so a million-client queue never crosses into Python.
"""

from __future__ import annotations

from collections.abc import Iterable
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


def lines_of(campaign: Campaign) -> int:
    """Concurrent calls the campaign can hold: its lines, and no more than its agents."""
    return min(campaign.lines, len(campaign.agents)) if campaign.agents else campaign.lines


async def plan_capacity(store: Store, config: DialerConfig, campaign: Campaign, day: date) -> int:
    _, end = day_bounds(config, day)
    zones = await store.due_zones(campaign.name, end) or [config.center.timezone]
    return capacity(lines_of(campaign), open_minutes(config, campaign, zones, day), campaign.handle_time)


async def form_plan(store: Store, config: DialerConfig, campaign: Campaign, day: date, now: datetime) -> Plan:
    """The morning job: store the day's plan (formed inside the database) and return its head."""
    _, end = day_bounds(config, day)
    cap = await plan_capacity(store, config, campaign, day)
    await store.form_plan(campaign.name, day, end, cap, now)
    plan = await store.get_plan(campaign.name, day, limit=0)
    assert plan is not None
    return plan


async def preview_plan(
    store: Store, config: DialerConfig, campaign: Campaign, day: date, now: datetime, limit: int | None
) -> Plan:
    """What the plan would be if formed now (nothing is stored)."""
    _, end = day_bounds(config, day)
    cap = await plan_capacity(store, config, campaign, day)
    due = await store.count_due(campaign.name, end)
    clients = await store.due_clients(campaign.name, end, limit)
    return Plan(campaign=campaign.name, day=day, capacity=cap, due=due, entries=plan_entries(clients, cap), created_at=now)
