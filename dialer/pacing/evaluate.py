"""Which dial mode, how many agents? A fast discrete-event simulation of one campaign's day.

Pure and seeded: `evaluate(mode, population, scenario)` plays one working day of one campaign
with `scenario.agents` agents logged in all day, dialing a generated population, and returns
what the agents did. Every mode sees the same clients and the same outcome of each attempt
(drawn once per (client, attempt) from the seed), so modes compare like for like.

The day:
- Clients are due from the start of the day, in id order; an attempt that is not answered
  live (busy, no answer, a machine) makes the client due again `retry_after` later, up to
  `max_attempts`. A conversation ends the client's day; so does an abandoned call (a client
  abandoned by a client-first dialer is not dialed again within 72 hours).
- progressive (agent first): a Ready agent is attached to the call before it rings and stays
  on it through ringing, busy signals and no-answers, and listens to an answering machine
  for `machine_listen` seconds before hanging up. Nothing is ever abandoned.
- power / predictive (client first): calls ring with no agent; a live answer goes to the
  agent who has been Ready longest, or waits up to `abandon_after` for one to finish
  wrap-up; nobody by then: the client hears the information message and the call is
  abandoned. Machines are recognised by AMD `amd_seconds` after the answer and hung up
  without an agent (with `amd=False`, as on SIP, a machine is a live answer an agent takes
  and hangs up after `machine_listen` seconds).
- The pacer (`dialer.pacing.decide.calls_to_place`) is asked after every event, and in
  predictive mode every `pace_every` seconds while an agent wraps up (so an agent about to
  be Ready is dialed for); the campaign's `lines` bound the calls up at once. Predictive
  sees only what a real dialer sees: the measured statistics, ring ages, and expected (not
  actual) free times of agents.
- No new call starts after the end of the day; calls up at the end finish, but only the
  time inside the day counts.

The ideal dialer (`ideal`), the limit the modes are measured against, knows every attempt's
outcome in advance. It spends nothing on attempts that will not be answered live: it places
them the moment they are due (the first at the start of the day, the next `retry_after`
later) and they cost no agent time and no line; its `dials` count the attempts of the
clients it talks to. A client's live attempt is answered exactly
when an agent becomes Ready, as soon as the attempt is due, so an agent waits only when no
client can be reached yet, and nothing is abandoned. The agent talks the same talk time and
wraps up the same wrap-up as in the other modes. When the list outlasts the day, its
occupancy is talk / (talk + wrap-up): no real dialer can do better on the same population.

Outputs per mode (`ModeResult`): logged-in time, talk time, talk minutes per agent-hour,
mean wait between calls, dials, live answers, conversations, abandoned calls, abandon rate,
and each agent's talk time.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum

from dialer.pacing.decide import calls_to_place, lookahead
from dialer.pacing.modes import AbandonWindow, DialMode, PacingSettings
from dialer.pacing.stats import CampaignStats


class Outcome(IntEnum):
    LIVE = 0
    BUSY = 1
    NO_ANSWER = 2
    MACHINE = 3


@dataclass(frozen=True, slots=True)
class Population:
    """The generated client list and how its attempts go."""

    clients: int = 10_000
    max_attempts: int = 3
    retry_after: float = 3_600.0
    answer_rate: float = 0.30
    busy_rate: float = 0.10
    machine_rate: float = 0.10  # the rest rings out: no answer
    # Time from the dial to a live answer (or a machine): log-normal, clipped to the timeout.
    answer_median: float = 8.0
    answer_sigma: float = 0.5
    busy_seconds: tuple[float, float] = (2.0, 6.0)
    ring_timeout: float = 30.0
    talk_median: float = 90.0
    talk_sigma: float = 0.7
    min_talk: float = 10.0
    wrap_median: float = 15.0
    wrap_sigma: float = 0.3


@dataclass(frozen=True, slots=True)
class Scenario:
    """The day being played: agents, lines and the campaign's pacing settings."""

    agents: int = 10
    lines: int | None = None  # None: 4 lines per agent
    day_seconds: float = 8 * 3_600.0
    seed: int = 1
    power_ratio: float = 2.0
    max_abandon_rate: float = 0.03
    abandon_window: AbandonWindow = AbandonWindow.DAY
    abandon_after: float = 2.0
    min_ring: float = 15.0
    amd: bool = True
    amd_seconds: float = 3.0
    machine_listen: float = 5.0
    pace_every: float = 1.0

    @property
    def line_count(self) -> int:
        return self.lines if self.lines is not None else 4 * self.agents

    def settings(self, mode: DialMode) -> PacingSettings:
        return PacingSettings(
            dial_mode=mode,
            power_ratio=self.power_ratio,
            max_abandon_rate=self.max_abandon_rate,
            abandon_window=self.abandon_window,
            abandon_after=self.abandon_after,
            min_ring=self.min_ring,
            allow_abandon=True,
            information_message="evaluation",
        )


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt's fate, drawn in advance: outcome, seconds until it ends ringing, talk, wrap."""

    outcome: Outcome
    ring: float
    talk: float
    wrap: float


def draw_attempts(population: Population, seed: int) -> list[list[Attempt]]:
    """Every client's attempts, the same for every mode with this seed."""
    p = population
    rng = random.Random(seed)
    thresholds = (p.answer_rate, p.answer_rate + p.busy_rate, p.answer_rate + p.busy_rate + p.machine_rate)
    out: list[list[Attempt]] = []
    for _ in range(p.clients):
        attempts = []
        for _ in range(p.max_attempts):
            x = rng.random()
            answer_at = min(rng.lognormvariate(math.log(p.answer_median), p.answer_sigma), p.ring_timeout - 0.5)
            talk = max(rng.lognormvariate(math.log(p.talk_median), p.talk_sigma), p.min_talk)
            wrap = rng.lognormvariate(math.log(p.wrap_median), p.wrap_sigma)
            if x < thresholds[0]:
                attempts.append(Attempt(Outcome.LIVE, answer_at, talk, wrap))
            elif x < thresholds[1]:
                attempts.append(Attempt(Outcome.BUSY, rng.uniform(*p.busy_seconds), 0.0, 0.0))
            elif x < thresholds[2]:
                attempts.append(Attempt(Outcome.MACHINE, answer_at, 0.0, 0.0))
            else:
                attempts.append(Attempt(Outcome.NO_ANSWER, p.ring_timeout, 0.0, 0.0))
        out.append(attempts)
    return out


@dataclass(slots=True)
class CallRecord:
    """One dial, for audits: who, which attempt, when, and what happened."""

    client: int
    attempt: int
    dialed_at: float
    outcome: Outcome
    answered_at: float | None = None
    agent: int | None = None
    connected_at: float | None = None
    abandoned_at: float | None = None
    ended_at: float | None = None  # the line is free again


@dataclass(frozen=True, slots=True)
class ModeResult:
    """One mode's day."""

    mode: str
    agents: int
    logged_in_s: float
    talk_s: float
    wrap_s: float
    dials: int
    live_answers: int
    conversations: int
    abandoned: int
    # Talk seconds inside the day per agent (index = agent), for the per-agent report.
    agent_talk_s: tuple[float, ...] = ()
    # Audit trail (filled when asked): every dial, and every agent's busy spans (agent, from, to).
    calls: tuple[CallRecord, ...] = ()
    agent_spans: tuple[tuple[int, float, float], ...] = ()

    @property
    def talk_minutes_per_agent_hour(self) -> float:
        return 60.0 * self.talk_s / self.logged_in_s if self.logged_in_s else 0.0

    @property
    def occupancy(self) -> float:
        return self.talk_s / self.logged_in_s if self.logged_in_s else 0.0

    @property
    def mean_wait_s(self) -> float:
        """Agent time neither talking nor wrapping up, per conversation."""
        idle = max(self.logged_in_s - self.talk_s - self.wrap_s, 0.0)  # never below 0 by rounding
        return idle / self.conversations if self.conversations else idle

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.live_answers if self.live_answers else 0.0


# Event kinds, in the order ties at one instant are handled (free agents before new answers).
_READY, _TALK_END, _RING_END, _MACHINE_END, _WAIT_END, _DUE, _TICK = range(7)


@dataclass(slots=True)
class _Day:
    mode: DialMode
    population: Population
    scenario: Scenario
    attempts: list[list[Attempt]]
    trace: bool
    settings: PacingSettings = field(init=False)
    stats: CampaignStats = field(init=False)
    now: float = 0.0
    seq: int = 0
    events: list[tuple[float, int, int, int]] = field(default_factory=list)
    due: list[tuple[float, int]] = field(default_factory=list)
    tried: list[int] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    ready: deque[int] = field(default_factory=deque)
    # Agents talking / wrapping up: agent -> since; ringing client-first calls: call -> dial time.
    talking: dict[int, float] = field(default_factory=dict)
    wrapping: dict[int, float] = field(default_factory=dict)
    ringing: dict[int, float] = field(default_factory=dict)
    waiting: deque[int] = field(default_factory=deque)
    agent_of: dict[int, int] = field(default_factory=dict)
    busy_from: dict[int, float] = field(default_factory=dict)
    spans: list[tuple[int, float, float]] = field(default_factory=list)
    lines_used: int = 0
    due_wake: bool = False
    talk_s: float = 0.0
    wrap_s: float = 0.0
    agent_talk: list[float] = field(default_factory=list)
    live: int = 0
    conversations: int = 0
    abandoned: int = 0

    def __post_init__(self) -> None:
        self.settings = self.scenario.settings(self.mode)
        self.stats = CampaignStats.for_window(self.scenario.abandon_window)
        self.due = [(0.0, c) for c in range(self.population.clients)]  # sorted: a valid heap
        self.tried = [0] * self.population.clients
        self.ready = deque(range(self.scenario.agents))
        self.agent_talk = [0.0] * self.scenario.agents

    def push(self, at: float, kind: int, ref: int) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, kind, self.seq, ref))

    def in_day(self, start: float, end: float) -> float:
        return max(min(end, self.scenario.day_seconds) - start, 0.0)

    # -- agents
    def start_busy(self, agent: int) -> None:
        self.busy_from[agent] = self.now

    def connect(self, call: int, agent: int) -> None:
        rec = self.calls[call]
        a = self.attempts[rec.client][rec.attempt]
        rec.agent, rec.connected_at = agent, self.now
        self.agent_of[call] = agent
        self.talking[agent] = self.now
        talk = a.talk if a.outcome is Outcome.LIVE else self.scenario.machine_listen
        spoken = self.in_day(self.now, self.now + talk)
        self.talk_s += spoken
        self.agent_talk[agent] += spoken
        self.conversations += 1
        self.push(self.now + talk, _TALK_END, call)

    def release(self, agent: int) -> None:
        """The agent is Ready: take the oldest waiting answer, or join the Ready agents."""
        if self.trace:
            self.spans.append((agent, self.busy_from.pop(agent), self.now))
        self.wrapping.pop(agent, None)
        if self.waiting:
            call = self.waiting.popleft()
            self.start_busy(agent)
            self.connect(call, agent)
        else:
            self.ready.append(agent)

    # -- calls
    def next_client(self) -> int | None:
        if self.due and self.due[0][0] <= self.now:
            return heapq.heappop(self.due)[1]
        if self.due and not self.due_wake:
            self.due_wake = True
            self.push(self.due[0][0], _DUE, -1)
        return None

    def dial(self, client: int, agent: int | None) -> None:
        k = self.tried[client]
        self.tried[client] = k + 1
        a = self.attempts[client][k]
        call = len(self.calls)
        self.calls.append(CallRecord(client, k, self.now, a.outcome))
        self.lines_used += 1
        if agent is None:
            self.ringing[call] = self.now
        else:
            self.agent_of[call] = agent
            self.start_busy(agent)
        ring = max(a.ring, self.scenario.min_ring) if a.outcome is Outcome.NO_ANSWER else a.ring
        self.push(self.now + ring, _RING_END, call)

    def retry(self, client: int) -> None:
        if self.tried[client] < self.population.max_attempts:
            heapq.heappush(self.due, (self.now + self.population.retry_after, client))

    def ring_end(self, call: int) -> None:
        rec = self.calls[call]
        a = self.attempts[rec.client][rec.attempt]
        ring = self.now - rec.dialed_at
        agent = self.agent_of.get(call)
        self.ringing.pop(call, None)
        live = a.outcome is Outcome.LIVE or (a.outcome is Outcome.MACHINE and not self.scenario.amd and agent is None)
        if live:
            rec.answered_at = self.now
            self.live += 1
            self.stats.record_live_answer(at=self.now, ring_seconds=ring)
            if agent is not None:
                self.connect(call, agent)
            elif self.ready:
                agent = self.ready.popleft()
                self.start_busy(agent)
                self.connect(call, agent)
            else:
                self.waiting.append(call)
                self.push(self.now + self.scenario.abandon_after, _WAIT_END, call)
            return
        self.stats.record_not_live(ring_seconds=ring)
        if a.outcome is Outcome.MACHINE:
            # Agent first: the agent hears the machine; client first: AMD listens, then hangs up.
            hold = self.scenario.machine_listen if agent is not None else self.scenario.amd_seconds
            self.push(self.now + hold, _MACHINE_END, call)
            return
        self.end_line(call)

    def end_line(self, call: int) -> None:
        self.lines_used -= 1
        rec = self.calls[call]
        rec.ended_at = self.now
        self.retry(rec.client)
        agent = self.agent_of.pop(call, None)
        if agent is not None:
            self.release(agent)

    def wait_end(self, call: int) -> None:
        if call in self.agent_of:
            return  # an agent took it in time
        self.waiting.remove(call)
        self.calls[call].abandoned_at = self.calls[call].ended_at = self.now
        self.abandoned += 1
        self.stats.record_abandon(at=self.now)
        self.lines_used -= 1  # the message plays on the way out; the client is not redialed today

    def talk_end(self, call: int) -> None:
        self.lines_used -= 1
        agent = self.agent_of.pop(call)
        rec = self.calls[call]
        rec.ended_at = self.now
        a = self.attempts[rec.client][rec.attempt]
        talk = self.now - (rec.connected_at or self.now)
        wrap = a.wrap if a.outcome is Outcome.LIVE else 0.0
        self.stats.record_conversation(talk_seconds=talk, wrap_seconds=wrap)
        if a.outcome is Outcome.MACHINE:
            self.retry(rec.client)  # an agent hung up on a machine (no AMD): the person is still to reach
        self.wrap_s += self.in_day(self.now, self.now + wrap)
        del self.talking[agent]
        self.wrapping[agent] = self.now
        self.push(self.now + wrap, _READY, agent)

    # -- pacing
    def pace(self) -> None:
        if self.now >= self.scenario.day_seconds:
            return
        lines_free = self.scenario.line_count - self.lines_used
        if lines_free <= 0:
            return
        if not self.due or self.due[0][0] > self.now:
            self.next_client()  # nobody to dial now: wake when the next client is due
            return
        if self.mode is DialMode.PROGRESSIVE:
            n = calls_to_place(self.mode, self.now, len(self.ready), (), (), self.stats, self.settings, lines_free)
            for _ in range(n):
                client = self.next_client()
                if client is None:
                    return
                self.dial(client, self.ready.popleft())
            return
        soon: list[float] = []
        if self.mode is DialMode.PREDICTIVE:
            # Only agents expected Ready within the lookahead matter to the decision.
            h = self.stats.handle
            horizon = lookahead(self.stats, self.settings)
            talkers = h.expected_free_in(talking_for=math.inf) <= horizon
            soon = [self.now + h.expected_free_in(wrapping_for=self.now - t) for t in self.wrapping.values()]
            if talkers:
                soon += [self.now + h.expected_free_in(talking_for=self.now - t) for t in self.talking.values()]
        ages = [self.now - t for t in self.ringing.values()]
        n = calls_to_place(self.mode, self.now, len(self.ready), soon, ages, self.stats, self.settings, lines_free)
        for _ in range(n):
            client = self.next_client()
            if client is None:
                return
            self.dial(client, None)

    def run(self) -> ModeResult:
        day = self.scenario.day_seconds
        if self.mode is DialMode.PREDICTIVE:
            self.push(0.0, _TICK, -1)
        self.pace()
        handlers = {
            _READY: self.release,
            _TALK_END: self.talk_end,
            _RING_END: self.ring_end,
            _MACHINE_END: self.end_line,
            _WAIT_END: self.wait_end,
        }
        events = self.events
        # Bounded: every call adds at most four events, calls stop at the end of the day,
        # and ticks stop there too.
        while events:
            at, kind, _, ref = heapq.heappop(events)
            self.now = at
            if kind == _TICK:
                if at + self.scenario.pace_every < day:
                    self.push(at + self.scenario.pace_every, _TICK, -1)
                if not self.wrapping:
                    continue  # a tick only matters as agents near the end of wrap-up
            elif kind == _DUE:
                self.due_wake = False
            else:
                handlers[kind](ref)
            self.pace()
        if self.trace:
            for agent, since in self.busy_from.items():
                self.spans.append((agent, since, self.now))
        return ModeResult(
            mode=self.mode.value,
            agents=self.scenario.agents,
            logged_in_s=self.scenario.agents * day,
            talk_s=self.talk_s,
            agent_talk_s=tuple(self.agent_talk),
            wrap_s=self.wrap_s,
            dials=len(self.calls),
            live_answers=self.live,
            conversations=self.conversations,
            abandoned=self.abandoned,
            calls=tuple(self.calls) if self.trace else (),
            agent_spans=tuple(self.spans),
        )


def evaluate(
    mode: DialMode,
    population: Population,
    scenario: Scenario,
    *,
    attempts: list[list[Attempt]] | None = None,
    trace: bool = False,
) -> ModeResult:
    """Play one day of `mode` (progressive, power or predictive) on this population."""
    if mode is DialMode.PREVIEW:
        raise ValueError("preview is paced by the agents themselves; evaluate progressive, power or predictive")
    drawn = attempts if attempts is not None else draw_attempts(population, scenario.seed)
    return _Day(mode, population, scenario, drawn, trace).run()


def ideal(population: Population, scenario: Scenario, *, attempts: list[list[Attempt]] | None = None) -> ModeResult:
    """The limit: a dialer that knows every outcome in advance (see the module docstring)."""
    drawn = attempts if attempts is not None else draw_attempts(population, scenario.seed)
    day = scenario.day_seconds
    retry = population.retry_after
    reachable: list[tuple[float, int, int]] = []  # (when the live attempt is due, client, attempt)
    for client, tries in enumerate(drawn):
        for k, a in enumerate(tries):
            if k * retry >= day:
                break
            if a.outcome is Outcome.LIVE:
                reachable.append((k * retry, client, k))
                break
    reachable.sort()
    free = [(0.0, agent) for agent in range(scenario.agents)]  # (Ready at, agent): a valid heap
    talk_s = wrap_s = 0.0
    agent_talk = [0.0] * scenario.agents
    conversations = dials = 0
    for due_at, client, k in reachable:
        ready_at, agent = heapq.heappop(free)
        start = max(ready_at, due_at)
        if start >= day:
            break
        live = next(a for a in drawn[client] if a.outcome is Outcome.LIVE)
        spoken = min(start + live.talk, day) - start
        talk_s += spoken
        agent_talk[agent] += spoken
        wrap_s += max(min(start + live.talk + live.wrap, day) - (start + live.talk), 0.0)
        conversations += 1
        dials += k + 1  # the failed attempts before it, and the live one
        heapq.heappush(free, (start + live.talk + live.wrap, agent))
    return ModeResult(
        mode="ideal",
        agents=scenario.agents,
        logged_in_s=scenario.agents * day,
        talk_s=talk_s,
        agent_talk_s=tuple(agent_talk),
        wrap_s=wrap_s,
        dials=dials,
        live_answers=conversations,
        conversations=conversations,
        abandoned=0,
    )
