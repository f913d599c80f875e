"""The daily plan against the store: form it (the morning job) or preview it.

The capacity maths is pure and lives in dialer.planning; this module only reads the due
groups from the store, replays the day on them and has the store write the plan.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol

from dialer.config import Campaign, DialerConfig
from dialer.model import DueGroup, GroupKey, Plan
from dialer.planning import day_bounds, forecast_day, mark_fits
from dialer.scheduling import Scheduler
from dialer.store.roles import Clients, Plans


class PlanPreviewSource(Clients, Plans, Protocol):
    """What a preview reads: the due groups and the due clients in call order."""


async def forecast(
    store: Plans, config: DialerConfig, campaign: Campaign, day: date, now: datetime
) -> tuple[list[DueGroup], dict[GroupKey, int]]:
    """The due groups of the campaign's day and how many of each the day dials, from
    ``now`` (or the day's start) to the day's end."""
    start, end = day_bounds(config, day)
    groups = await store.due_groups(campaign.name, end)
    dialed = forecast_day(groups, Scheduler(config), campaign, max(start, now), end)
    return groups, dialed


async def form_plan(store: Plans, config: DialerConfig, campaign: Campaign, day: date, now: datetime) -> Plan:
    """The morning job: store the day's plan (formed inside the database) and return its head."""
    _, end = day_bounds(config, day)
    _, dialed = await forecast(store, config, campaign, day, now)
    await store.form_plan(campaign.name, day, end, dialed, now)
    plan = await store.get_plan(campaign.name, day, limit=0)
    assert plan is not None
    return plan


async def preview_plan(
    store: PlanPreviewSource, config: DialerConfig, campaign: Campaign, day: date, now: datetime, limit: int | None
) -> Plan:
    """What the plan would be if formed now (nothing is stored)."""
    _, end = day_bounds(config, day)
    groups, dialed = await forecast(store, config, campaign, day, now)
    clients = await store.due_clients(campaign.name, end, limit)
    return Plan(
        campaign=campaign.name,
        day=day,
        capacity=sum(dialed.values()),
        due=sum(g.count for g in groups),
        entries=mark_fits(clients, dialed),
        created_at=now,
    )
