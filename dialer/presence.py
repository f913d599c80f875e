"""Presence and campaign pauses as the dispatcher sees them (issue 12).

* A campaign paused by a supervisor (in the store) is claimed by no worker: each step
  reads the pauses once, so every worker stops within a tick; calls in flight finish.
* A campaign with ``agents:`` and presence on (``presence: true``, or by default when
  the ``web`` section is enabled) connects calls only to agents Ready in the store,
  taken atomically (two workers never take one agent). After an answered call the
  agent wraps up for the campaign's ``wrap_up``, then is Ready again by itself.
* Campaigns with presence off (no web section: the seed's behaviour, simulations of
  configs without it) keep the dispatcher's own per-worker agent rotation, and
  ``connect_to`` campaigns never use presence.

`explain_hold` says in one line why a campaign places no calls (status, why, metrics).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import structlog

from dialer.config import Agent, Campaign, DialerConfig
from dialer.domain import CallStatus
from dialer.metrics import DialerMetrics
from dialer.store.base import Store
from dialer.store.people import Presence, PresenceState, people_of

log = structlog.get_logger("dialer.presence")


def uses_presence(config: DialerConfig, campaign: Campaign) -> bool:
    if not campaign.agents:
        return False
    return campaign.presence if campaign.presence is not None else config.web.enabled


def explain_hold(campaign: Campaign, paused: bool, presence: list[Presence] | None) -> str | None:
    """Why the campaign places no calls now (paused, or no agent Ready), or None."""
    if paused:
        return "paused by a supervisor"
    if presence is None:
        return None
    states = Counter(p.state for p in presence)
    # Agents talking or wrapping up are working: the campaign waits for them, it is not held.
    if states[PresenceState.READY] or states[PresenceState.ON_CALL] or states[PresenceState.WRAP_UP]:
        return None
    parts = [f"{n} {s.value.replace('_', ' ')}" for s, n in sorted(states.items(), key=lambda i: i[0].value) if n]
    return f"no agent ready ({', '.join(parts)} of {len(campaign.agents)} agents)"


class PresenceGate:
    """One store read of the pauses (and of the agents of presence campaigns) per step."""

    def __init__(self, store: Store, owner: str):
        self.store = store
        self.owner = owner
        self.paused: set[str] = set()
        self.ready: dict[str, int] = {}  # presence campaign -> agents Ready now
        self.agents: dict[str, list[Presence]] = {}  # presence campaign -> its agents' presence (issue 13)
        self.holds: dict[str, str] = {}  # campaign -> why it places no calls (logged on change)

    async def refresh(self, config: DialerConfig, now: datetime, prom: DialerMetrics | None = None) -> None:
        people = people_of(self.store)
        self.paused = await people.paused_campaigns()
        self.ready = {}
        self.agents = {}
        holds: dict[str, str] = {}
        for campaign in config.campaigns:
            presence = None
            if uses_presence(config, campaign):
                presence = await people.presence(now, [a.name for a in campaign.agents])
                self.ready[campaign.name] = sum(1 for p in presence if p.state is PresenceState.READY)
                self.agents[campaign.name] = presence
            reason = explain_hold(campaign, campaign.name in self.paused, presence)
            if reason is not None:
                holds[campaign.name] = reason
        for name, reason in holds.items():
            if self.holds.get(name) != reason:
                log.warning("campaign_held", campaign=name, reason=reason)
        for name in self.holds.keys() - holds.keys():
            log.info("campaign_released", campaign=name)
        self.holds = holds
        if prom is not None:
            for campaign in config.campaigns:
                prom.campaign_held.labels(campaign.name).set(1 if campaign.name in holds else 0)

    def free(self, campaign: Campaign, free: int) -> int:
        """The lines this step may fill: none when held, at most the Ready agents."""
        if campaign.name in self.holds:
            return 0
        ready = self.ready.get(campaign.name)
        return free if ready is None else min(free, ready)

    def held(self, campaign: Campaign) -> bool:
        """Paused, or none of its agents working (all Paused or logged out): no new call."""
        return campaign.name in self.holds

    def applies(self, campaign: Campaign) -> bool:
        return campaign.name in self.ready

    async def take(self, campaign: Campaign, now: datetime, call_id: str) -> Agent | None:
        names = [a.name for a in campaign.agents]
        taken = await people_of(self.store).take_agent(
            names, now, campaign=campaign.name, call_id=call_id, by=self.owner
        )
        return next((a for a in campaign.agents if a.name == taken), None)

    async def end(self, campaign: Campaign, agent: str, call_id: str, now: datetime) -> None:
        """Wrap-up after an answered call (Ready at once after one that was not)."""
        call = await self.store.get_call(call_id)
        answered = call is not None and call.status is CallStatus.ANSWERED
        until = now + campaign.wrap_up if answered and campaign.wrap_up.total_seconds() > 0 else None
        await people_of(self.store).end_call(agent, call_id, now, until, by=self.owner)


async def campaign_hold(store: object, config: DialerConfig, campaign: Campaign, now: datetime) -> str | None:
    """For `dialer status` and `why`: why the campaign places no calls now, or None."""
    people = people_of(store)
    paused = campaign.name in await people.paused_campaigns()
    presence = (
        await people.presence(now, [a.name for a in campaign.agents]) if uses_presence(config, campaign) else None
    )
    return explain_hold(campaign, paused, presence)


async def mark_agents_ready(store: Store, config: DialerConfig, now: datetime, by: str) -> int:
    """Simulation: no humans log in, so every agent of a presence campaign is Ready (the
    simulated provider plays them); wrap-up still applies on the virtual clock."""
    people = people_of(store)
    names = {a.name for c in config.campaigns if uses_presence(config, c) for a in c.agents}
    for name in sorted(names):
        await people.set_presence(name, PresenceState.READY, now, by=by)
    return len(names)


__all__ = ["PresenceGate", "campaign_hold", "explain_hold", "mark_agents_ready", "uses_presence"]
