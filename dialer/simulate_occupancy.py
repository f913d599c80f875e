"""Occupancy and abandon rate of a simulated day, per campaign and agent (issue 13).

The figures are dialer.reporting.occupancy's, from the same logged-in time as the day
report: the presence history. Nobody logs in to a simulation, so its agents (those of
presence campaigns, all of them with ``--agents``) log in when the day's first client
falls due and out when its last call ends (dialer.simulate_setup.SimulatedShift): the
shift a supervisor would staff for this list on this day. Idle stretches inside it
(nothing due until a retry falls due, a window that opens later for some clients) count
as waiting, as they would for a staffed shift.

Agents of campaigns without presence have no history; their shift is taken from the
calls instead: from the first call of the campaigns they work to the end of the last.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime

from dialer.config import DialerConfig
from dialer.model import CallRecord
from dialer.planning import day_bounds
from dialer.presence import uses_presence
from dialer.reporting.occupancy import CampaignOccupancy, LoggedIn, logged_in_from_changes, occupancy
from dialer.store.base import Store
from dialer.store.people import LOGGED_IN_STATES, people_of


def simulated_shifts(config: DialerConfig, calls: Sequence[CallRecord]) -> list[LoggedIn]:
    """Each configured agent's logged-in stretch: first call start to last call end of the
    campaigns the agent works (none for an agent whose campaigns placed no call)."""
    spans: dict[str, tuple[datetime, datetime]] = {}
    for call in calls:
        end = call.ended_at or call.started_at
        lo, hi = spans.get(call.campaign, (call.started_at, end))
        spans[call.campaign] = (min(lo, call.started_at), max(hi, end))
    shifts: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for campaign in config.campaigns:
        if campaign.name in spans:
            for agent in campaign.agents:
                shifts[agent.name].append(spans[campaign.name])
    return [
        LoggedIn(agent, min(s for s, _ in stretches), max(e for _, e in stretches))
        for agent, stretches in sorted(shifts.items())
    ]


async def day_occupancy(store: Store, config: DialerConfig, day: date) -> list[CampaignOccupancy]:
    """The figures of one simulated center-local day."""
    return await run_occupancy(store, config, [day])


async def run_occupancy(store: Store, config: DialerConfig, days: Sequence[date]) -> list[CampaignOccupancy]:
    """The figures over several simulated days: each day's shift counts (not the nights
    between them), so the run's occupancy weighs the days by their hours."""
    since, until = day_bounds(config, min(days))[0], day_bounds(config, max(days))[1]
    people = people_of(store)
    with_presence = {a.name for c in config.campaigns if uses_presence(config, c) for a in c.agents}
    logged_now = {p.agent: p.state in LOGGED_IN_STATES for p in await people.presence(until)}
    shifts = logged_in_from_changes(await people.presence_changes(since), logged_now, since, until)
    shifts = [s for s in shifts if s.agent in with_presence]
    calls: list[CallRecord] = []
    for day in days:
        start, end = day_bounds(config, day)
        todays = await store.calls_between(start, end)
        calls.extend(todays)
        shifts.extend(s for s in simulated_shifts(config, todays) if s.agent not in with_presence)
    return occupancy(
        calls,
        shifts,
        since,
        until,
        wrap_up={c.name: c.wrap_up for c in config.campaigns},
        agents={c.name: [a.name for a in c.agents] for c in config.campaigns},
    )


def summary_line(figures: CampaignOccupancy) -> str:
    """One line of the table output: how busy the campaign's agents were."""
    agents = sum(1 for a in figures.agents if a.logged_in_s > 0)  # a connect_to queue is none
    waited = figures.wait_s / figures.logged_in_s if figures.logged_in_s else 0.0
    return (
        f"{figures.campaign}: {agents} agent{'s' if agents != 1 else ''}, "
        f"{figures.logged_in_s / 3600:.1f} agent-hours logged in, {figures.talk_s / 3600:.1f} h talking "
        f"({figures.talk_min_per_agent_hour:.1f} talk min per agent-hour), {waited:.0%} waiting; "
        f"{figures.abandoned} abandoned of {figures.live_answers} live answers ({figures.abandon_rate:.1%})"
    )


__all__ = ["day_occupancy", "run_occupancy", "simulated_shifts", "summary_line"]
