"""A simulated telephony provider: seeded, reproducible, virtual-clock aware.

Each call draws from its own random stream seeded by (seed, client, attempt), so a
simulation gives the same calls whatever order concurrent tasks run in. The
provider also plays the agent: an answered call comes back with a disposition
drawn from per-stage weights, as an agent would record it.

Settings (YAML, under ``providers: NAME: {type: simulated, ...}``):
  seed, answer_rate, busy_rate, machine_rate, failed_rate, invalid_rate
  (the rest rings out: no answer), hourly: flat | typical | {"13": {answer, busy,
  machine}} (factors on those rates per client-local hour: flat by default, `typical`
  under `dialer simulate`: fewer answers at lunch and in the evening, see
  providers/simulated_rates.py), timezone (local hour of a request without the
  client's zone), ring: {answered|machine|busy|failed: {median, sigma, lo, hi}} (a
  no-answer rings until the ring timeout, at least min_ring) or the older
  ring_seconds: [lo, hi] (one uniform range), talk_seconds: {median, sigma} (log-normal),
  talk_by_disposition / talk_by_stage: {name: {median, sigma}},
  dispositions: {stage: {disposition: weight}},
  message_seconds, amd_seconds, machine_agent_seconds (client-first calls),
  fail_dial_rate (share of dials that raise ProviderError, for fault tests),
  agent: simulated (default: the provider plays the agent, as above) | human.

Client-first calls (power, predictive: ``request.agent_at_answer`` set) follow the
contract of providers/base.py: on a live answer the provider asks the engine for an
agent; with one the conversation happens (ANSWERED, ``agent`` set), without one the
information message plays and the call is ABANDONED. A machine with ``detect_machine``
is MACHINE and never reaches an agent; without it (SIP) it counts as a live answer.

With ``agent: human`` (the demo, `dialer demo`) a person at the agent desktop is the
agent: an answered call stays connected, in real time, until `hang_up(call_id)` is
called (the desk's Hang up button) or the talk time reaches the campaign's
``hard_limit`` (else ``human_max_talk_seconds``); the result carries no disposition,
so the call waits for the one the person records. Rings, busy, no-answer and machines
are drawn as before.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Mapping
from datetime import UTC, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from dialer.clock import Clock
from dialer.domain import CallStatus, Disposition
from providers.base import CallResult, DialRequest, EventSink, Provider, ProviderError, ProviderEvent
from providers.simulated_rates import (
    HOURLY_PROFILES,
    HourFactors,
    RingTimes,
    draw_status,
    hour_factors,
    rates_table,
    zone,
)


class TalkDistribution(BaseModel):
    model_config = ConfigDict(extra="forbid")
    median: float = Field(230.0, gt=0)
    sigma: float = Field(0.45, ge=0)


_DEFAULT_WEIGHTS: dict[str, dict[str, float]] = {
    "prospect": {"no_need": 55, "interested": 25, "callback": 8, "refused": 8, "do_not_call": 3, "wrong_number": 1},
    "hot": {"interested": 20, "callback": 25, "meeting_set": 20, "contract_signed": 20, "refused": 15},
    "customer": {"no_need": 70, "interested": 10, "complaint": 8, "complaint_resolved": 6, "contract_terminated": 4,
                 "do_not_call": 2},
}  # fmt: skip


def _default_dispositions() -> dict[str, dict[Disposition, float]]:
    # Built as Disposition members: a default_factory's value is not validated, so plain
    # strings here would reach `needs_time` on an answered call and crash it.
    return {stage: {Disposition(d): w for d, w in weights.items()} for stage, weights in _DEFAULT_WEIGHTS.items()}


class SimulatedSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = "simulated"
    seed: int = 0
    answer_rate: float = Field(0.55, ge=0, le=1)
    busy_rate: float = Field(0.12, ge=0, le=1)
    machine_rate: float = Field(0.08, ge=0, le=1)
    failed_rate: float = Field(0.03, ge=0, le=1)
    invalid_rate: float = Field(0.0, ge=0, le=1)
    fail_dial_rate: float = Field(0.0, ge=0, le=1)
    # issue 13: factors on the rates above per client-local hour: {} (flat, the default
    # outside `dialer simulate`: a demo answers the same at any hour), "typical" (fewer
    # answers at lunch and in the evening; `dialer simulate` uses it unless set) or a map.
    hourly: dict[str, HourFactors] = Field(default_factory=dict)
    timezone: str = Field("UTC", description="local hour of a call whose client's zone the request does not carry")
    # The older form: one uniform range for every outcome's ring. Set, it replaces `ring`.
    ring_seconds: tuple[float, float] | None = None
    ring: RingTimes = RingTimes()
    talk_seconds: TalkDistribution = TalkDistribution()
    # issue 13: talk time by the conversation's outcome (disposition, else the client's stage).
    talk_by_disposition: dict[Disposition, TalkDistribution] = Field(default_factory=dict)
    talk_by_stage: dict[str, TalkDistribution] = Field(default_factory=dict)
    dispositions: dict[str, dict[Disposition, float]] = Field(default_factory=_default_dispositions)
    # issue 13, client-first calls (power, predictive):
    message_seconds: float | None = Field(
        None, gt=0, description="an abandoned call's information message lasts this long (default: from its words)"
    )
    amd_seconds: float = Field(3.0, ge=0, description="a machine: seconds from its answer to the hang-up")
    machine_agent_seconds: float = Field(
        8.0, ge=0, description="client first, no machine detection: an agent listens this long to a voicemail"
    )
    real_time_scale: float = Field(1.0, gt=0, description="divide every wait by this (fast fault tests)")
    # --- human agent mode (issue 12, the demo) ---
    agent: Literal["simulated", "human"] = Field(
        "simulated", description="simulated: the provider draws the disposition; human: a person hangs up and disposes"
    )
    human_max_talk_seconds: float = Field(
        3600.0, gt=0, description="human mode: hang up at this talk time when the campaign sets no hard_limit"
    )
    # --- end human agent mode ---

    @field_validator("hourly", mode="before")
    @classmethod
    def _profile(cls, v: object) -> object:
        if isinstance(v, str):
            if v not in HOURLY_PROFILES:
                raise ValueError(f"{v!r} is not a profile: {' or '.join(HOURLY_PROFILES)}, or {{hour: factors}}")
            return dict(HOURLY_PROFILES[v])
        if isinstance(v, dict):  # YAML reads an unquoted 13: as a number
            return {str(k): f for k, f in v.items()}
        return v

    @field_validator("hourly")
    @classmethod
    def _hourly(cls, v: dict[str, HourFactors], info: ValidationInfo) -> dict[str, HourFactors]:
        factors = hour_factors(v)  # raises on a bad or overlapping key
        names = ("answer_rate", "busy_rate", "machine_rate", "failed_rate", "invalid_rate")
        if all(n in info.data for n in names):  # a bad rate is reported at its own field
            base = tuple(float(info.data[n]) for n in names)
            _, problems = rates_table((base[0], base[1], base[2], base[3], base[4]), factors)
            # Base rates above 1 are said once, by _rates; here only what the factors add.
            if problems and sum(base) <= 1.0 + 1e-9:
                more = f" (and {len(problems) - 1} more hours)" if len(problems) > 1 else ""
                raise ValueError(f"{problems[0]}{more}")
        return v

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        if zone(v) is None:
            raise ValueError(f"unknown time zone {v!r} (an IANA name such as Europe/Moscow)")
        return v

    @model_validator(mode="after")
    def _rates(self) -> SimulatedSettings:
        total = self.answer_rate + self.busy_rate + self.machine_rate + self.failed_rate + self.invalid_rate
        if total > 1.0 + 1e-9:
            raise ValueError(f"answer+busy+machine+failed+invalid rates add up to {total:.2f} > 1")
        if self.ring_seconds is not None:
            lo, hi = self.ring_seconds
            if not 0 <= lo <= hi:
                raise ValueError("ring_seconds must be [lo, hi] with 0 <= lo <= hi")
            if "ring" in self.model_fields_set:
                raise ValueError("set ring (per outcome) or ring_seconds (one range), not both")
        return self


class SimulatedProvider(Provider):
    def __init__(self, name: str, settings: Mapping[str, Any], clock: Clock):
        self.name = name
        self.settings = SimulatedSettings.model_validate(dict(settings))
        self.clock = clock
        self._results: dict[str, CallResult] = {}
        self._hang_ups: dict[str, asyncio.Event] = {}  # human mode: call_id -> set by hang_up()
        s = self.settings
        # The outcome thresholds of each local hour, computed once: a day is 10k+ dials.
        self._by_hour, _ = rates_table(
            (s.answer_rate, s.busy_rate, s.machine_rate, s.failed_rate, s.invalid_rate), hour_factors(s.hourly)
        )
        self._zone = zone(s.timezone) or UTC

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def check(self) -> None:
        return None

    def _rng(self, request: DialRequest) -> random.Random:
        # Stable across runs and independent of task scheduling order.
        client = request.context.get("client_id", request.call_id)
        key = f"{self.settings.seed}:{client}:{request.context.get('attempt', '')}"
        return random.Random(key)

    def local_hour(self, request: DialRequest) -> int:
        """The client's local hour now (the request's client_tz, else the `timezone` setting)."""
        name = request.context.get("client_tz")
        tz = (zone(name) if name else None) or self._zone
        return self.clock.now().astimezone(tz).hour

    def _draw(self, rng: random.Random, request: DialRequest) -> CallStatus:
        return draw_status(rng.random(), self._by_hour[self.local_hour(request)])

    def _draw_ring(self, rng: random.Random, request: DialRequest) -> tuple[CallStatus, float]:
        """The call's technical outcome and how long it rings before that."""
        status = self._draw(rng, request)
        # Nobody answering rings until the dialer gives up, and never less than min_ring.
        timeout = max(request.ring_timeout.total_seconds(), request.min_ring.total_seconds())
        if status is CallStatus.NO_ANSWER:
            if self.settings.ring_seconds is not None:
                rng.uniform(*self.settings.ring_seconds)  # the older form drew it anyway: same stream
            return status, timeout
        if self.settings.ring_seconds is not None:
            ring = min(rng.uniform(*self.settings.ring_seconds), timeout)
            if status in (CallStatus.FAILED, CallStatus.INVALID_NUMBER):
                ring = min(ring, 2.0)
            elif status is CallStatus.BUSY:
                ring = min(ring, 6.0)
            return status, ring
        times = self.settings.ring
        if status is CallStatus.ANSWERED or status is CallStatus.MACHINE:
            ring = (times.answered if status is CallStatus.ANSWERED else times.machine).draw(rng)
            if ring > timeout:  # the dialer gave up before the client (or the mailbox) picked up
                return CallStatus.NO_ANSWER, timeout
            return status, ring
        return status, (times.busy if status is CallStatus.BUSY else times.failed).draw(rng)

    async def _wait(self, seconds: float) -> None:
        await self.clock.sleep(seconds / self.settings.real_time_scale)

    def _talk(self, rng: random.Random, request: DialRequest) -> tuple[float, Disposition | None]:
        """The conversation: its disposition and talk time (by disposition, else stage)."""
        s = self.settings
        stage = request.context.get("stage", "prospect")
        # One normal draw before the disposition, scaled by the distribution it picks: the
        # same random stream (and, without per-outcome talk, the same talk) as before.
        z = rng.normalvariate(0.0, 1.0)
        disposition = self._disposition(rng, stage)
        dist = (s.talk_by_disposition.get(disposition) if disposition is not None else None) or s.talk_by_stage.get(
            stage, s.talk_seconds
        )
        talk = math.exp(math.log(dist.median) + z * dist.sigma)
        if request.hard_limit is not None:
            talk = min(talk, request.hard_limit.total_seconds())
        return max(5.0, talk), disposition

    def _message_seconds(self, request: DialRequest) -> float:
        """How long an abandoned call's information message plays (about 2.5 words a second)."""
        if self.settings.message_seconds is not None:
            return self.settings.message_seconds
        words = len(request.information_message.split())
        return min(20.0, max(3.0, 1.0 + words / 2.5)) if words else 8.0

    async def dial(self, request: DialRequest, on_event: EventSink | None = None) -> CallResult:
        rng = self._rng(request)
        s = self.settings
        if s.fail_dial_rate and rng.random() < s.fail_dial_rate:
            raise ProviderError("simulated provider error")
        emit = on_event or (lambda _e: None)
        if s.agent == "human":
            return await self._dial_human(request, rng, emit)
        dialed_at = self.clock.now()
        pcid = f"SIM{request.call_id}"
        emit(ProviderEvent("created", request.call_id, dialed_at, pcid))
        status, ring = self._draw_ring(rng, request)
        if status is not CallStatus.INVALID_NUMBER:
            emit(ProviderEvent("ringing", request.call_id, self.clock.now(), pcid))
        await self._wait(ring)
        answered_at = None
        talk = 0.0
        disposition = None
        disposition_at = None
        agent = None
        if request.agent_at_answer is not None and (
            status is CallStatus.ANSWERED or (status is CallStatus.MACHINE and not request.detect_machine)
        ):
            # Client first: the client (or, without machine detection, a voicemail taken
            # for one) answered; the engine picks the agent now, or nobody is free.
            answered_at = self.clock.now()
            emit(ProviderEvent("answered", request.call_id, answered_at, pcid))
            leg = await request.agent_at_answer(answered_at)
            if leg is None:
                status = CallStatus.ABANDONED
                await self._wait(self._message_seconds(request))
            elif status is CallStatus.MACHINE:
                agent = leg.agent  # the agent hears the greeting and hangs up
                await self._wait(s.machine_agent_seconds)
            else:
                agent = leg.agent
                talk, disposition = self._talk(rng, request)
                await self._wait(talk)
        elif status is CallStatus.ANSWERED:
            answered_at = self.clock.now()
            emit(ProviderEvent("answered", request.call_id, answered_at, pcid))
            talk, disposition = self._talk(rng, request)
            await self._wait(talk)
        elif status is CallStatus.MACHINE:
            answered_at = self.clock.now()
            await self._wait(s.amd_seconds)
        if disposition is not None and disposition.needs_time and answered_at is not None:
            disposition_at = answered_at + timedelta(days=rng.choice((1, 2, 3, 7)), hours=rng.choice((0, 2, 4)))
        ended_at = self.clock.now()
        emit(ProviderEvent("ended", request.call_id, ended_at, pcid))
        result = CallResult(
            status=status,
            dialed_at=dialed_at,
            ended_at=ended_at,
            provider_call_id=pcid,
            answered_at=answered_at,
            ring_s=round(ring, 3),
            talk_s=round(talk, 3),
            disposition=disposition.value if disposition else None,
            disposition_at=disposition_at,
            agent=agent,
        )
        self._results[pcid] = result
        return result

    def _disposition(self, rng: random.Random, stage: str) -> Disposition | None:
        weights = self.settings.dispositions.get(stage)
        if not weights:
            return None
        items = list(weights.items())
        return rng.choices([d for d, _ in items], weights=[w for _, w in items])[0]

    # --- human agent mode (issue 12, the demo) ---

    def hang_up(self, call_id: str) -> bool:
        """The agent hangs up the call (our `call_id`, as in DialRequest): True when the
        call was in progress here (ringing or connected) and now ends; False when this
        provider has no such call in progress (ended already, or not a human-mode call).
        Synchronous and safe to call from any task of the worker's event loop."""
        event = self._hang_ups.get(call_id)
        if event is None or event.is_set():
            return False
        event.set()
        return True

    def in_progress(self) -> list[str]:
        """Call ids of human-mode calls in progress here (ringing or connected)."""
        return [cid for cid, event in self._hang_ups.items() if not event.is_set()]

    async def _until_hang_up(self, event: asyncio.Event, seconds: float) -> bool:
        """Wait `seconds` (on the provider's clock) or until the hang-up: True if hung up."""
        waiting = asyncio.ensure_future(event.wait())
        sleeping = asyncio.ensure_future(self.clock.sleep(seconds))
        try:
            await asyncio.wait({waiting, sleeping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for f in (waiting, sleeping):
                f.cancel()
            await asyncio.gather(waiting, sleeping, return_exceptions=True)
        return event.is_set()

    async def _dial_human(self, request: DialRequest, rng: random.Random, emit: EventSink) -> CallResult:
        s = self.settings
        event = asyncio.Event()
        self._hang_ups[request.call_id] = event
        try:
            dialed_at = self.clock.now()
            pcid = f"SIM{request.call_id}"
            emit(ProviderEvent("created", request.call_id, dialed_at, pcid))
            status, ring = self._draw_ring(rng, request)
            if status is not CallStatus.INVALID_NUMBER:
                emit(ProviderEvent("ringing", request.call_id, self.clock.now(), pcid))
            # The agent may give up while it rings: the client did not answer in time.
            if await self._until_hang_up(event, ring / s.real_time_scale):
                status = CallStatus.NO_ANSWER
            ring = (self.clock.now() - dialed_at).total_seconds()
            answered_at = None
            talk = 0.0
            agent = None
            if status is CallStatus.ANSWERED:
                answered_at = self.clock.now()
                emit(ProviderEvent("answered", request.call_id, answered_at, pcid))
                if request.agent_at_answer is not None:  # client first: the person at the desk, or nobody
                    leg = await request.agent_at_answer(answered_at)
                    if leg is None:
                        status = CallStatus.ABANDONED
                        await self._wait(self._message_seconds(request))
                    else:
                        agent = leg.agent
            if status is CallStatus.ANSWERED:
                bridged = self.clock.now()
                limit = (
                    request.hard_limit.total_seconds() if request.hard_limit is not None else s.human_max_talk_seconds
                )
                # Real talk time: the person hangs up, or the campaign's hard limit does.
                await self._until_hang_up(event, limit)
                talk = (self.clock.now() - bridged).total_seconds()
            elif status is CallStatus.MACHINE:
                answered_at = self.clock.now()
                await self._until_hang_up(event, 3.0 / s.real_time_scale)
            ended_at = self.clock.now()
            emit(ProviderEvent("ended", request.call_id, ended_at, pcid))
            result = CallResult(
                status=status,
                dialed_at=dialed_at,
                ended_at=ended_at,
                provider_call_id=pcid,
                answered_at=answered_at,
                ring_s=round(ring, 3),
                talk_s=round(talk, 3),
                agent=agent,
            )  # no disposition: the person records it
            self._results[pcid] = result
            return result
        finally:
            event.set()
            self._hang_ups.pop(request.call_id, None)

    # --- end human agent mode ---

    async def fetch(self, provider_call_id: str) -> CallResult | None:
        # Calls of a previous process are unknown to a fresh simulated provider.
        return self._results.get(provider_call_id)
