"""How busy agents were and how often clients were abandoned (issue 13), from call records.

Pure: no I/O, nothing of the store. The day report, `dialer simulate --json` and the
dial-mode benchmark all compute the figures here, so they agree.

Definitions, for an interval ``[since, until)`` (a day, a simulated run):

- **logged-in time** of an agent: the length of their logged-in intervals (Ready,
  Paused, Wrap-up, On call; see :class:`LoggedIn`) cut to the interval. An agent in
  several campaigns has their whole logged-in time in each campaign's row: presence does
  not say which campaign an agent waits for.
- A **conversation** (`calls`) is a call of the campaign with that agent and status
  ``answered`` whose answer (``answered_at``) falls in the interval. Its **talk** runs
  from the answer for ``talk_s`` seconds; its **wrap-up** follows the talk for the
  campaign's ``wrap_up`` (the configured one: an extension asked on the desk is not in
  the call record). Talk time is the recorded ``talk_s`` summed over conversations.
- **wrap time** is the time in wrap-up and not in a talk, within the agent's logged-in
  time and the interval.
- **wait time** is the agent's logged-in time (in the interval) in neither a talk nor a
  wrap-up of any campaign: ringing, busy signals and machines an agent-first call puts
  the agent through count as waiting (that is what client-first dialing saves), and so
  does Paused time (presence history is not per state).
- **talk minutes per agent-hour** (occupancy): talk minutes / logged-in hours (0 without
  logged-in time). 60 means talking all the time.
- **live answers**: the campaign's calls answered (``answered``) or abandoned
  (``abandoned``: answered live, no agent free) with the answer in the interval; the
  **abandon rate** is abandoned / live answers (0 without a live answer), counted like
  the store's ``abandon_counts`` (by answer time). An abandoned call has no agent.
- **dials**: every call of the campaign started in the interval.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from dialer.domain import CallStatus
from dialer.model import CallRecord

Span = tuple[datetime, datetime]

# The abandon rate is flagged "near" the campaign's cap from this share of it on (amber
# on the board and the report), "over" above the cap (red): near leaves a supervisor time
# to act (fewer lines, progressive) before the regulator's limit is reached.
NEAR_CAP = 0.8


def abandon_level(rate: float | None, cap: float) -> str:
    """The rate against the cap: ok, near (from NEAR_CAP of the cap on) or over (above it)."""
    if rate is None:
        return "ok"
    if rate > cap:
        return "over"
    return "near" if rate >= NEAR_CAP * cap and rate > 0 else "ok"


@dataclass(frozen=True)
class LoggedIn:
    """One stretch of an agent's logged-in time: from `start` to `end`."""

    agent: str
    start: datetime
    end: datetime


class PresenceChange(Protocol):
    """A change of an agent's presence (dialer.store.people.PresenceChange)."""

    @property
    def agent(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def was_logged_in(self) -> bool: ...
    @property
    def logged_in(self) -> bool: ...


def logged_in_from_changes(
    changes: Iterable[PresenceChange], logged_in_now: Mapping[str, bool], since: datetime, until: datetime
) -> list[LoggedIn]:
    """Each agent's logged-in stretches within ``[since, until)``, from every presence
    change at or after `since` (oldest first) and whether each agent is logged in now.
    An agent's state at `since` is the state before their first change from then on, or
    (no change since) their state now."""
    by_agent: dict[str, list[PresenceChange]] = defaultdict(list)
    for change in sorted(changes, key=lambda c: c.at):
        by_agent[change.agent].append(change)
    out: list[LoggedIn] = []
    for agent in sorted(by_agent.keys() | logged_in_now.keys()):
        mine = by_agent.get(agent, [])
        on = mine[0].was_logged_in if mine else logged_in_now.get(agent, False)
        start = since
        for change in mine:
            if change.at >= until:
                break
            at = max(change.at, since)
            if on and not change.logged_in:
                out.append(LoggedIn(agent, start, at))
            elif not on and change.logged_in:
                start = at
            on = change.logged_in
        if on:
            out.append(LoggedIn(agent, start, until))
    return [s for s in out if s.end > s.start]


@dataclass(frozen=True)
class AgentOccupancy:
    campaign: str
    agent: str
    logged_in_s: float
    talk_s: float
    wrap_s: float
    wait_s: float
    calls: int  # conversations (answered calls with this agent)

    @property
    def talk_min_per_agent_hour(self) -> float:
        return _per_hour(self.talk_s, self.logged_in_s)

    def as_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "logged_in_s": round(self.logged_in_s, 1),
            "talk_s": round(self.talk_s, 1),
            "wrap_s": round(self.wrap_s, 1),
            "wait_s": round(self.wait_s, 1),
            "calls": self.calls,
            "talk_min_per_agent_hour": round(self.talk_min_per_agent_hour, 2),
        }


@dataclass(frozen=True)
class CampaignOccupancy:
    campaign: str
    agents: tuple[AgentOccupancy, ...]
    live_answers: int
    abandoned: int
    dials: int = 0

    @property
    def logged_in_s(self) -> float:
        return sum(a.logged_in_s for a in self.agents)

    @property
    def talk_s(self) -> float:
        return sum(a.talk_s for a in self.agents)

    @property
    def wrap_s(self) -> float:
        return sum(a.wrap_s for a in self.agents)

    @property
    def wait_s(self) -> float:
        return sum(a.wait_s for a in self.agents)

    @property
    def calls(self) -> int:
        return sum(a.calls for a in self.agents)

    @property
    def talk_min_per_agent_hour(self) -> float:
        return _per_hour(self.talk_s, self.logged_in_s)

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.live_answers if self.live_answers else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "dials": self.dials,
            "calls": self.calls,
            "live_answers": self.live_answers,
            "abandoned": self.abandoned,
            "abandon_rate": round(self.abandon_rate, 4),
            "logged_in_s": round(self.logged_in_s, 1),
            "talk_s": round(self.talk_s, 1),
            "wrap_s": round(self.wrap_s, 1),
            "wait_s": round(self.wait_s, 1),
            "talk_min_per_agent_hour": round(self.talk_min_per_agent_hour, 2),
            "agents": [a.as_dict() for a in self.agents],
        }


def _per_hour(talk_s: float, logged_in_s: float) -> float:
    return talk_s / 60 / (logged_in_s / 3600) if logged_in_s > 0 else 0.0


def _answered_at(call: CallRecord) -> datetime | None:
    if call.answered_at is not None:
        return call.answered_at
    # A call answered before answered_at was kept (old rows): the answer ends the ringing.
    if call.status in (CallStatus.ANSWERED, CallStatus.ABANDONED):
        return call.started_at + timedelta(seconds=call.ring_s)
    return None


def _union(spans: Iterable[Span]) -> list[Span]:
    """Sorted, non-overlapping spans covering the same instants (empty ones dropped)."""
    out: list[Span] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def _intersect(a: Sequence[Span], b: Sequence[Span]) -> list[Span]:
    """Intersection of two unions (each sorted and non-overlapping)."""
    out: list[Span] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if end > start:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _seconds(spans: Iterable[Span]) -> float:
    return sum((end - start).total_seconds() for start, end in spans)


def occupancy(
    calls: Iterable[CallRecord],
    logged_in: Iterable[LoggedIn],
    since: datetime,
    until: datetime,
    wrap_up: Mapping[str, timedelta],
    agents: Mapping[str, Sequence[str]] | None = None,
) -> list[CampaignOccupancy]:
    """Per campaign (by name) and per agent of it (by name), the figures of the module
    docstring over ``[since, until)``. `wrap_up` is each campaign's configured wrap-up
    (missing: none). `agents` (campaign -> agent names, e.g. from the config) lists agents
    who had no conversation, so their waiting shows; agents seen on calls are added."""
    window = [(since, until)] if until > since else []
    member: dict[str, dict[str, None]] = defaultdict(dict)
    for campaign, names in (agents or {}).items():
        member[campaign].update((n, None) for n in names)
    live: dict[str, int] = defaultdict(int)
    abandoned: dict[str, int] = defaultdict(int)
    dials: dict[str, int] = defaultdict(int)
    talk_s: dict[tuple[str, str], float] = defaultdict(float)
    conversations: dict[tuple[str, str], int] = defaultdict(int)
    talks: dict[str, list[Span]] = defaultdict(list)  # agent -> talk spans (any campaign)
    wraps: dict[tuple[str, str], list[Span]] = defaultdict(list)  # (campaign, agent) -> wrap-ups
    for call in calls:
        if since <= call.started_at < until:
            dials[call.campaign] += 1
        member[call.campaign]  # every campaign with a call has a row, even without agents
        answer = _answered_at(call)
        if answer is None or not since <= answer < until:
            continue
        if call.status is CallStatus.ABANDONED:
            live[call.campaign] += 1
            abandoned[call.campaign] += 1
            continue
        if call.status is not CallStatus.ANSWERED:
            continue
        live[call.campaign] += 1
        if call.agent is None:
            continue
        key = (call.campaign, call.agent)
        member[call.campaign][call.agent] = None
        conversations[key] += 1
        talk_s[key] += call.talk_s
        talk_end = answer + timedelta(seconds=call.talk_s)
        talks[call.agent].append((answer, talk_end))
        wraps[key].append((talk_end, talk_end + wrap_up.get(call.campaign, timedelta(0))))

    presence: dict[str, list[Span]] = defaultdict(list)
    for stretch in logged_in:
        presence[stretch.agent].append((stretch.start, stretch.end))
    on_duty = {agent: _intersect(_union(spans), window) for agent, spans in presence.items()}
    # Every wrap-up of the agent, whatever the campaign: the agent is not waiting then.
    all_wraps: dict[str, list[Span]] = defaultdict(list)
    for (_, agent), spans in wraps.items():
        all_wraps[agent].extend(spans)

    result: list[CampaignOccupancy] = []
    for campaign in sorted(member):
        rows: list[AgentOccupancy] = []
        for agent in member[campaign]:
            duty = on_duty.get(agent, [])
            talking = _union(talks[agent])
            busy = _intersect(_union(talking + all_wraps[agent]), duty)
            in_wrap = _seconds(_intersect(_union(talking + wraps[(campaign, agent)]), duty)) - _seconds(
                _intersect(talking, duty)
            )
            rows.append(
                AgentOccupancy(
                    campaign=campaign,
                    agent=agent,
                    logged_in_s=_seconds(duty),
                    talk_s=talk_s[(campaign, agent)],
                    wrap_s=max(0.0, in_wrap),
                    wait_s=max(0.0, _seconds(duty) - _seconds(busy)),
                    calls=conversations[(campaign, agent)],
                )
            )
        result.append(
            CampaignOccupancy(
                campaign=campaign,
                agents=tuple(sorted(rows, key=lambda r: r.agent)),
                live_answers=live[campaign],
                abandoned=abandoned[campaign],
                dials=dials[campaign],
            )
        )
    return result


__all__ = [
    "NEAR_CAP",
    "abandon_level",
    "AgentOccupancy",
    "CampaignOccupancy",
    "LoggedIn",
    "PresenceChange",
    "logged_in_from_changes",
    "occupancy",
]
