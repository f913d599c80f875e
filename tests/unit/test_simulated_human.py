"""The simulated provider's `agent: human` mode: the person ends the call and disposes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from dialer.clock import SystemClock
from dialer.domain import CallStatus
from providers.base import DialRequest, ProviderEvent
from providers.simulated import SimulatedProvider


def provider(**settings: object) -> SimulatedProvider:
    base: dict[str, object] = {"agent": "human", "answer_rate": 1.0, "busy_rate": 0, "machine_rate": 0,
                               "failed_rate": 0, "ring_seconds": [0.05, 0.05]}  # fmt: skip
    return SimulatedProvider("demo", {**base, **settings}, SystemClock())


def request(call_id: str = "c1", hard_limit: float | None = None) -> DialRequest:
    return DialRequest(
        call_id=call_id, number="+79125550000", caller_id="+73412000001", connect_to="sip:101@demo.local",
        ring_timeout=timedelta(seconds=15), hard_limit=timedelta(seconds=hard_limit) if hard_limit else None,
        context={"client_id": "D001", "attempt": "1", "stage": "prospect"},
    )  # fmt: skip


async def answered(p: SimulatedProvider, events: list[ProviderEvent]) -> None:
    for _ in range(200):
        if any(e.kind == "answered" for e in events):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the call was never answered")


async def test_answered_call_stays_up_until_the_agent_hangs_up() -> None:
    p = provider()
    events: list[ProviderEvent] = []
    call = asyncio.create_task(p.dial(request(), events.append))
    await answered(p, events)
    await asyncio.sleep(0.5)
    assert not call.done(), "an answered call must wait for the person, not a drawn talk time"
    assert p.in_progress() == ["c1"]
    assert p.hang_up("c1") is True
    result = await asyncio.wait_for(call, 2)
    assert result.status is CallStatus.ANSWERED
    assert result.disposition is None and result.disposition_at is None  # the person records it
    assert 0.4 <= result.talk_s <= 1.5  # real talk time, not the log-normal draw (~230 s)
    assert [e.kind for e in events] == ["created", "ringing", "answered", "ended"]
    assert p.hang_up("c1") is False and p.in_progress() == []


async def test_hard_limit_ends_a_call_nobody_hangs_up() -> None:
    p = provider()
    result = await asyncio.wait_for(p.dial(request(hard_limit=0.3)), 3)
    assert result.status is CallStatus.ANSWERED
    assert result.disposition is None
    assert 0.25 <= result.talk_s <= 1.0


async def test_without_hard_limit_the_provider_bound_applies() -> None:
    p = provider(human_max_talk_seconds=0.2)
    result = await asyncio.wait_for(p.dial(request()), 3)
    assert result.status is CallStatus.ANSWERED and 0.15 <= result.talk_s <= 1.0


async def test_hang_up_while_ringing_is_no_answer() -> None:
    p = provider(ring_seconds=[5, 5])
    events: list[ProviderEvent] = []
    call = asyncio.create_task(p.dial(request(), events.append))
    for _ in range(100):
        if events:
            break
        await asyncio.sleep(0.01)
    assert p.hang_up("c1") is True
    result = await asyncio.wait_for(call, 2)
    assert result.status is CallStatus.NO_ANSWER and result.answered_at is None and result.talk_s == 0


async def test_unanswered_outcomes_are_drawn_as_before_and_never_disposed() -> None:
    p = provider(answer_rate=0, busy_rate=1.0, ring_seconds=[0.05, 0.05])
    result = await asyncio.wait_for(p.dial(request()), 3)
    assert result.status is CallStatus.BUSY and result.disposition is None


async def test_unknown_call_is_not_hung_up() -> None:
    assert provider().hang_up("nope") is False


async def test_simulated_agent_mode_still_draws_a_disposition() -> None:
    p = SimulatedProvider("sim", {"answer_rate": 1.0, "busy_rate": 0, "machine_rate": 0, "failed_rate": 0,
                                  "ring_seconds": [1, 1], "talk_seconds": {"median": 10, "sigma": 0},
                                  "real_time_scale": 1000}, SystemClock())  # fmt: skip
    result = await asyncio.wait_for(p.dial(request()), 3)
    assert result.status is CallStatus.ANSWERED and result.disposition is not None
    assert p.hang_up("c1") is False


def test_agent_setting_is_validated() -> None:
    with pytest.raises(ValueError, match="agent"):
        SimulatedProvider("demo", {"agent": "robot"}, SystemClock())
