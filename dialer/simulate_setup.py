"""`dialer simulate --dial-mode M --agents N --lines L`: the config a simulation runs instead of the
file's, so a supervisor can run the same list through each mode (issue 13).

* ``--dial-mode`` sets every campaign's ``dial_mode``. In preview the simulated agent
  reads each card (`PreviewReader`) and presses Call. Power and predictive abandon a
  call now and then, which a campaign must allow explicitly: for the simulation this
  sets ``allow_abandon`` and, where the config has none, a placeholder information
  message. A campaign without agents (a ``connect_to`` queue) cannot pace on agents and
  keeps its mode unless ``--agents`` gives it some.
* ``--agents N`` replaces each campaign's agents with N simulated ones, agent-01 ..
  agent-N (targets ``sim:agent-NN``), with presence on: they are Ready through the
  day's shift (`SimulatedShift`) and wrap up after each answered call for the
  campaign's ``wrap_up``, on the virtual clock. The
  same N people work every campaign, as one team would.
* ``--lines N`` sets every campaign's lines (power and predictive need more lines than
  agents).

Every change is said in a note line. A combination the config rules refuse (say power
on a campaign whose min_ring is below 15 s) is a `SimulationSetupError`: one line.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from pydantic import ValidationError

from dialer.clock import VirtualClock
from dialer.config import Agent, Campaign, DialerConfig
from dialer.dispatcher import Dispatcher
from dialer.pacing.modes import DialMode
from dialer.presence import PresenceGate, campaign_hold, uses_presence
from dialer.preview import HeldPreview, PreviewRefused
from dialer.store.base import Store
from dialer.store.people import PresenceState, people_of

log = structlog.get_logger("dialer.simulate")

MAX_AGENTS = 999  # agent-NNN: the names stay sortable
MAX_LINES = 10_000
# How long a simulated agent reads a preview card before pressing Call.
PREVIEW_READING_SECONDS = 12.0
READER_TURNS = 20  # loop turns a new reader gets to park on the clock (one is enough)
# Said to an abandoned call when the config has no message (the simulation plays none
# for real; its length sets how long the simulated call lasts).
PLACEHOLDER_MESSAGE = "This was a call from {center}. We will call you again. To stop our calls, call us back."


class SimulationSetupError(ValueError):
    """The overrides cannot apply to this config: one clear line."""


@dataclass(frozen=True)
class Overrides:
    dial_mode: DialMode | None = None
    agents: int | None = None
    lines: int | None = None

    @property
    def empty(self) -> bool:
        return self.dial_mode is None and self.agents is None and self.lines is None


def simulated_agents(count: int) -> list[Agent]:
    width = max(2, len(str(count)))
    return [Agent(name=f"agent-{i:0{width}d}", target=f"sim:agent-{i:0{width}d}") for i in range(1, count + 1)]


def apply_overrides(config: DialerConfig, overrides: Overrides) -> tuple[DialerConfig, list[str]]:
    """The config the simulation runs, and one note per change it made."""
    if overrides.empty:
        return config, []
    if overrides.agents is not None and not 1 <= overrides.agents <= MAX_AGENTS:
        raise SimulationSetupError(f"--agents must be between 1 and {MAX_AGENTS}, not {overrides.agents}")
    if overrides.lines is not None and not 1 <= overrides.lines <= MAX_LINES:
        raise SimulationSetupError(f"--lines must be between 1 and {MAX_LINES}, not {overrides.lines}")
    notes: list[str] = []
    campaigns = [_campaign(config, c, overrides, notes) for c in config.campaigns]
    if overrides.agents is not None:
        notes.append(
            f"--agents {overrides.agents}: every campaign is worked by agent-01..{overrides.agents} "
            "(Ready from the day's first due client to its last call, one team shared by the campaigns, "
            "wrap-up after each answered call)"
        )
    return config.model_copy(update={"campaigns": campaigns}), notes


def _campaign(config: DialerConfig, campaign: Campaign, o: Overrides, notes: list[str]) -> Campaign:
    update: dict[str, Any] = {}
    if o.lines is not None and o.lines != campaign.lines:
        update["lines"] = o.lines
        notes.append(f"campaign {campaign.name}: {o.lines} lines (was {campaign.lines})")
    if o.agents is not None:
        update["agents"] = simulated_agents(o.agents)
        update["presence"] = True
    has_agents = bool(update.get("agents", campaign.agents))
    mode = o.dial_mode
    if mode is not None and mode is not campaign.dial_mode:
        if (mode.client_first or mode is DialMode.PREVIEW) and not has_agents:
            notes.append(
                f"campaign {campaign.name}: no agents (connect_to {campaign.connect_to}): stays "
                f"{campaign.dial_mode.value}; --agents N gives it agents"
            )
            mode = None
        else:
            update["dial_mode"] = mode
            if mode is DialMode.PREVIEW and campaign.presence is None:
                update["presence"] = True  # a preview is offered to a Ready agent
            notes.append(f"campaign {campaign.name}: dial_mode {mode.value} (was {campaign.dial_mode.value})")
    if mode is not None and mode.client_first:
        if not campaign.allow_abandon:
            update["allow_abandon"] = True
            notes.append(f"campaign {campaign.name}: allow_abandon set for the simulation")
        if not campaign.information_message.strip() and campaign.information_audio is None:
            update["information_message"] = PLACEHOLDER_MESSAGE.format(center=config.center.name)
            notes.append(f"campaign {campaign.name}: a placeholder information_message (the config has none)")
        ratio = campaign.power_ratio
        agents = len(update.get("agents", campaign.agents))
        lines = update.get("lines", campaign.lines)
        if lines < agents * ratio:
            notes.append(
                f"campaign {campaign.name}: {lines} lines for {agents} agents at up to {ratio:g} calls "
                "each: the lines bound the calls in flight (--lines N)"
            )
    if not update:
        return campaign
    try:
        return Campaign.model_validate({**campaign.model_dump(), **update})
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise SimulationSetupError(
            f"campaign {campaign.name}{': ' + where if where else ''}: {msg} (with the simulate options given)"
        ) from None


def simulation_settings(settings: dict[str, Any], config: DialerConfig) -> dict[str, Any]:
    """A simulated provider's settings as `dialer simulate` runs them: answer rates follow
    the client's local hour ("typical": fewer at lunch and in the evening) unless set,
    and a call that does not carry its client's zone is taken in the center's."""
    return {"hourly": "typical", "timezone": config.center.timezone, **settings}


class PreviewReader:
    """The simulated agents of a preview campaign: each reads the client's card for
    `PREVIEW_READING_SECONDS` of virtual time, then presses Call (never Skip: a skip
    depends on what a person knows, which a simulation cannot draw)."""

    def __init__(self, dispatcher: Dispatcher, clock: VirtualClock):
        self.dispatcher, self.clock = dispatcher, clock
        self._seen: set[str] = set()

    async def after_step(self) -> None:
        """Start reading the previews the step just offered; return once every reader is
        parked on the clock, so the driver sees when each presses Call."""
        started = False
        for held in list(self.dispatcher.previews.values()):
            if held.call_id not in self._seen:
                self._seen.add(held.call_id)
                # A side task of the dispatcher: the simulation waits for it like for a call.
                self.dispatcher._spawn(self._read(held))
                started = True
        for _ in range(READER_TURNS if started else 0):
            await asyncio.sleep(0)  # a new task runs its first step (up to its clock.sleep) on the next turn
            if all(t.done() or t in self.clock.sleeping_tasks() for t in self.dispatcher.tasks()):
                break

    async def _read(self, held: HeldPreview) -> None:
        await self.clock.sleep(PREVIEW_READING_SECONDS)
        self._seen.discard(held.call_id)
        try:
            await self.dispatcher.preview_call(held.client_id, held.agent.name)
        except PreviewRefused as exc:  # the window closed meanwhile: the client went back
            log.info("simulated_preview_refused", client_id=held.client_id, reason=str(exc))


class SimulatedShift:
    """Nobody logs in to a simulation: its agents (those of presence campaigns) log in,
    Ready, when the day's first client falls due and log out when the day's last call
    has ended. So the presence history, and with it the logged-in time of the day
    report and of `simulate --format json`, is the shift this list needed that day, not
    24 hours of Ready."""

    def __init__(self, store: Store, config: DialerConfig, gate: PresenceGate):
        self.store, self.config, self.gate = store, config, gate
        self.campaigns = [c for c in config.campaigns if uses_presence(config, c) and c.agents]
        self.names = sorted({a.name for c in self.campaigns for a in c.agents})
        self.on = False
        self._quiet = False

    async def begin(self, now: datetime, due: datetime | None) -> None:
        """Log the agents in (Ready) once a client is due."""
        if not self._quiet:
            await self._off_duty_is_no_news(now)
        if self.on or not self.names or due is None or due > now:
            return
        people = people_of(self.store)
        for name in self.names:
            await people.set_presence(name, PresenceState.READY, now, by="simulation")
        self.on = True

    async def end(self, start: datetime, end: datetime) -> None:
        """Log the agents out at the end of the last call of the day ``[start, end)``."""
        if not self.on:
            return
        calls = await self.store.calls_between(start, end)
        last = max((c.ended_at for c in calls if c.ended_at is not None), default=start)
        people = people_of(self.store)
        for name in self.names:
            await people.set_presence(name, PresenceState.LOGGED_OUT, last, by="simulation")
        self.on = False
        self._quiet = False

    async def _off_duty_is_no_news(self, now: datetime) -> None:
        """The dispatcher warns when a campaign is held for want of a Ready agent; the
        simulation's own log-out between shifts is no such news: tell the gate it is
        known, so it does not print a warning a supervisor would chase each day."""
        for campaign in self.campaigns:
            reason = await campaign_hold(self.store, self.config, campaign, now)
            if reason is not None:
                self.gate.holds[campaign.name] = reason
        self._quiet = True


async def next_wrap_up_end(store: Store, config: DialerConfig, now: datetime) -> datetime | None:
    """When the next agent of a presence campaign comes back from wrap-up (after `now`),
    or None: the simulation steps then, as the production tick would, so an agent does
    not wait in the simulation for a step nothing else triggers."""
    names = sorted({a.name for c in config.campaigns if uses_presence(config, c) for a in c.agents})
    if not names:
        return None
    ends = [
        p.wrap_up_until
        for p in await people_of(store).presence(now, names)
        if p.state is PresenceState.WRAP_UP and p.wrap_up_until is not None and p.wrap_up_until > now
    ]
    return min(ends, default=None)


__all__ = [
    "PREVIEW_READING_SECONDS",
    "Overrides",
    "PreviewReader",
    "SimulatedShift",
    "SimulationSetupError",
    "apply_overrides",
    "next_wrap_up_end",
    "simulated_agents",
    "simulation_settings",
]
