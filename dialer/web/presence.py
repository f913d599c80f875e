"""Presence changes asked by people (the page's buttons, the API), checked and published.

The dispatcher's own transitions (on a call, wrap-up) are in dialer/presence.py.
"""

from __future__ import annotations

from datetime import timedelta

from dialer.accounts import Principal, may_set_presence
from dialer.store.people import SETTABLE_STATES, PresenceState
from dialer.web.auth import HttpError
from dialer.web.context import WebContext


def agents_of(ctx: WebContext, campaigns: tuple[str, ...] = ()) -> list[str]:
    """Agent names of the campaigns (all campaigns when empty), in config order."""
    names: dict[str, None] = {}
    for c in ctx.config.campaigns:
        if not campaigns or c.name in campaigns:
            names.update((a.name, None) for a in c.agents)
    return list(names)


async def change_presence(
    ctx: WebContext, principal: Principal, agent: str, state: PresenceState, reason: str | None
) -> None:
    if state not in SETTABLE_STATES:
        raise HttpError(400, f"{state.value} is set by the dialer, not by hand (use ready, paused or logged_out)")
    if not may_set_presence(principal, agent):
        raise HttpError(403, "an agent sets only their own state")
    if principal.is_supervisor:
        if agent not in agents_of(ctx, principal.campaigns):
            raise HttpError(404 if agent not in agents_of(ctx) else 403, f"no agent {agent!r} in your campaigns")
        if state is not PresenceState.LOGGED_OUT and principal.name != agent:
            raise HttpError(403, "a supervisor may log an agent out, not set them ready or paused")
    if state is PresenceState.PAUSED:
        if reason not in ctx.settings.pause_reasons:
            raise HttpError(400, f"pause needs a reason: one of {', '.join(ctx.settings.pause_reasons)}")
    else:
        reason = None
    now = ctx.clock.now()
    await ctx.people.set_presence(agent, state, now, by=principal.name, reason=reason)
    if principal.name != agent:
        await ctx.people.audit(principal.name, f"agent_{state.value}", agent, {}, now)
    await ctx.publish("presence", {"agent": agent, "state": state.value, "reason": reason, "by": principal.name})


async def extend_wrap_up(ctx: WebContext, principal: Principal, agent: str, seconds: float) -> None:
    """The agent needs longer: the wrap-up runs until `seconds` from now, never past
    the campaign's wrap_up + web.max_wrap_up counted from the wrap-up's start."""
    if principal.name != agent:
        raise HttpError(403, "an agent extends only their own wrap-up")
    if not 0 < seconds <= ctx.settings.max_wrap_up.total_seconds():
        raise HttpError(400, f"extend by 1 to {int(ctx.settings.max_wrap_up.total_seconds())} seconds")
    now = ctx.clock.now()
    (current,) = await ctx.people.presence(now, [agent])
    if current.state is not PresenceState.WRAP_UP or current.wrap_up_until is None:
        raise HttpError(409, f"{agent} is not in wrap-up ({current.state.value})")
    campaign = next((c for c in ctx.config.campaigns if c.name == current.campaign), None)
    base = campaign.wrap_up if campaign else timedelta(0)
    limit = current.since + base + ctx.settings.max_wrap_up
    until = min(now + timedelta(seconds=seconds), limit)
    if until <= current.wrap_up_until:
        raise HttpError(409, "the wrap-up cannot be extended further")
    if not await ctx.people.extend_wrap_up(agent, until, now, by=principal.name):
        raise HttpError(409, f"{agent} is not in wrap-up any more")
    await ctx.publish("presence", {"agent": agent, "state": "wrap_up", "until": until.isoformat()})


__all__ = ["agents_of", "change_presence", "extend_wrap_up"]
