"""A simulated telephony provider: seeded, reproducible, virtual-clock aware.

Each call draws from its own random stream seeded by (seed, client, attempt), so a
simulation gives the same calls whatever order concurrent tasks run in. The
provider also plays the agent: an answered call comes back with a disposition
drawn from per-stage weights, as an agent would record it.

Settings (YAML, under ``providers: NAME: {type: simulated, ...}``):
  seed, answer_rate, busy_rate, machine_rate, failed_rate, invalid_rate
  (the rest rings out: no answer), ring_seconds: [lo, hi],
  talk_seconds: {median, sigma} (log-normal), dispositions: {stage: {disposition: weight}},
  fail_dial_rate (share of dials that raise ProviderError, for fault tests),
  agent: simulated (default: the provider plays the agent, as above) | human.

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
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dialer.clock import Clock
from dialer.domain import CallStatus, Disposition
from providers.base import CallResult, DialRequest, EventSink, Provider, ProviderError, ProviderEvent


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
    ring_seconds: tuple[float, float] = (4.0, 25.0)
    talk_seconds: TalkDistribution = TalkDistribution()
    dispositions: dict[str, dict[Disposition, float]] = Field(default_factory=_default_dispositions)
    real_time_scale: float = Field(1.0, gt=0, description="divide every wait by this (fast fault tests)")
    # --- human agent mode (issue 12, the demo) ---
    agent: Literal["simulated", "human"] = Field(
        "simulated", description="simulated: the provider draws the disposition; human: a person hangs up and disposes"
    )
    human_max_talk_seconds: float = Field(
        3600.0, gt=0, description="human mode: hang up at this talk time when the campaign sets no hard_limit"
    )
    # --- end human agent mode ---

    @model_validator(mode="after")
    def _rates(self) -> SimulatedSettings:
        total = self.answer_rate + self.busy_rate + self.machine_rate + self.failed_rate + self.invalid_rate
        if total > 1.0 + 1e-9:
            raise ValueError(f"answer+busy+machine+failed+invalid rates add up to {total:.2f} > 1")
        lo, hi = self.ring_seconds
        if not 0 <= lo <= hi:
            raise ValueError("ring_seconds must be [lo, hi] with 0 <= lo <= hi")
        return self


class SimulatedProvider(Provider):
    def __init__(self, name: str, settings: Mapping[str, Any], clock: Clock):
        self.name = name
        self.settings = SimulatedSettings.model_validate(dict(settings))
        self.clock = clock
        self._results: dict[str, CallResult] = {}
        self._hang_ups: dict[str, asyncio.Event] = {}  # human mode: call_id -> set by hang_up()

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

    def _draw(self, rng: random.Random) -> CallStatus:
        s = self.settings
        x = rng.random()
        for status, rate in (
            (CallStatus.ANSWERED, s.answer_rate),
            (CallStatus.BUSY, s.busy_rate),
            (CallStatus.MACHINE, s.machine_rate),
            (CallStatus.FAILED, s.failed_rate),
            (CallStatus.INVALID_NUMBER, s.invalid_rate),
        ):
            if x < rate:
                return status
            x -= rate
        return CallStatus.NO_ANSWER

    def _draw_ring(self, rng: random.Random, request: DialRequest) -> tuple[CallStatus, float]:
        """The call's technical outcome and how long it rings before that."""
        status = self._draw(rng)
        timeout = request.ring_timeout.total_seconds()
        ring = min(rng.uniform(*self.settings.ring_seconds), timeout)
        if status in (CallStatus.FAILED, CallStatus.INVALID_NUMBER):
            ring = min(ring, 2.0)
        elif status is CallStatus.NO_ANSWER:
            ring = timeout
        elif status is CallStatus.BUSY:
            ring = min(ring, 6.0)
        return status, ring

    async def _wait(self, seconds: float) -> None:
        await self.clock.sleep(seconds / self.settings.real_time_scale)

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
        if status is CallStatus.ANSWERED:
            answered_at = self.clock.now()
            emit(ProviderEvent("answered", request.call_id, answered_at, pcid))
            talk = rng.lognormvariate(math.log(s.talk_seconds.median), s.talk_seconds.sigma)
            if request.hard_limit is not None:
                talk = min(talk, request.hard_limit.total_seconds())
            talk = max(5.0, talk)
            await self._wait(talk)
            disposition = self._disposition(rng, request.context.get("stage", "prospect"))
            if disposition is not None and disposition.needs_time:
                disposition_at = answered_at + timedelta(days=rng.choice((1, 2, 3, 7)), hours=rng.choice((0, 2, 4)))
        elif status is CallStatus.MACHINE:
            answered_at = self.clock.now()
            await self._wait(3.0)
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
            if status is CallStatus.ANSWERED:
                answered_at = self.clock.now()
                emit(ProviderEvent("answered", request.call_id, answered_at, pcid))
                limit = (
                    request.hard_limit.total_seconds() if request.hard_limit is not None else s.human_max_talk_seconds
                )
                # Real talk time: the person hangs up, or the campaign's hard limit does.
                await self._until_hang_up(event, limit)
                talk = (self.clock.now() - answered_at).total_seconds()
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
