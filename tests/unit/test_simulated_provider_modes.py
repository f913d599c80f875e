"""The simulated provider for issue 13: client-first legs (the AgentAtAnswer contract of
providers/base.py), ring times per outcome and min_ring, answer rates per client-local
hour, talk time by disposition, deterministic draws. Driven on the virtual clock."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Coroutine
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from pydantic import ValidationError

from dialer.clock import VirtualClock
from dialer.domain import CallStatus
from providers.base import AgentLeg, CallResult, DialRequest, settings_issues
from providers.simulated import SimulatedProvider, SimulatedSettings
from tests.support.clocks import FixedClock

T = TypeVar("T")
T0 = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
ONLY = {"answer_rate": 0.0, "busy_rate": 0.0, "machine_rate": 0.0, "failed_rate": 0.0, "hourly": "flat"}
MESSAGE = "This was Acme calling about your order. To stop our calls, press nine."  # 13 words


async def drive(clock: VirtualClock, coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to its end, jumping the virtual clock to each wake-up it parks for."""
    task = asyncio.ensure_future(coro)
    for _ in range(2_000):
        for _ in range(20):  # no I/O here: a few turns of the loop park every task
            await asyncio.sleep(0)
        if task.done():
            return task.result()
        wake = clock.next_wake()
        assert wake is not None, "the call waits for something other than the clock"
        clock.advance_to(wake)
    task.cancel()
    raise AssertionError("the call never ended")


def request(n: int = 1, **kw: Any) -> DialRequest:
    base: dict[str, Any] = dict(
        call_id=f"call{n}", number="+441000000001", caller_id="+442000000000", connect_to="",
        ring_timeout=timedelta(seconds=30), context={"client_id": f"c{n}", "attempt": "1", "stage": "prospect"},
    )  # fmt: skip
    return DialRequest(**{**base, **kw})


def seconds(later: datetime | None, earlier: datetime | None) -> float:
    assert later is not None and earlier is not None
    return (later - earlier).total_seconds()


class Desk:
    """The engine's side of a client-first call: an agent after `wait` seconds, or none."""

    def __init__(self, clock: VirtualClock, agent: str | None, wait: float = 0.5):
        self.clock, self.agent, self.wait = clock, agent, wait
        self.asked: list[datetime] = []

    async def __call__(self, answered_at: datetime) -> AgentLeg | None:
        self.asked.append(answered_at)
        await self.clock.sleep(self.wait)
        return AgentLeg(self.agent, f"sim:{self.agent}") if self.agent else None


def dial(
    settings: dict[str, Any], req: DialRequest, desk_agent: str | None = "ann", wait: float = 0.5
) -> tuple[CallResult, Desk]:
    """One call on a fresh virtual clock; a client-first request gets `Desk` as its callback."""

    async def go() -> tuple[CallResult, Desk]:
        clock = VirtualClock(T0)
        desk = Desk(clock, desk_agent, wait)
        provider = SimulatedProvider("sim", settings, clock)
        if req.connect_mode == "client_first":
            return await drive(clock, provider.dial(replace(req, agent_at_answer=desk))), desk
        return await drive(clock, provider.dial(req)), desk

    return asyncio.run(go())


def client_first(n: int = 1, **kw: Any) -> DialRequest:
    return request(n, connect_mode="client_first", min_ring=timedelta(seconds=15), **kw)


def test_a_live_answer_asks_for_an_agent_and_talks_with_the_one_given() -> None:
    result, desk = dial({**ONLY, "answer_rate": 1.0}, client_first())
    assert result.status is CallStatus.ANSWERED and result.agent == "ann"
    assert desk.asked == [result.answered_at]
    assert seconds(result.answered_at, result.dialed_at) == pytest.approx(result.ring_s, abs=1e-3)
    assert 3.0 <= result.ring_s <= 25.0  # a person answers within the default answered ring range
    assert result.talk_s >= 5 and result.disposition is not None
    # The conversation starts once the agent is bridged (0.5 s after the answer).
    assert seconds(result.ended_at, result.answered_at) == pytest.approx(0.5 + result.talk_s, abs=1e-3)


def test_no_agent_free_plays_the_message_and_is_abandoned() -> None:
    result, desk = dial({**ONLY, "answer_rate": 1.0}, client_first(information_message=MESSAGE), None, wait=2.0)
    assert result.status is CallStatus.ABANDONED
    assert result.answered_at is not None and len(desk.asked) == 1
    assert result.talk_s == 0 and result.disposition is None and result.agent is None
    # 2 s waiting for an agent, then the 13-word message at about 2.5 words a second.
    assert result.ended_at - result.answered_at == timedelta(seconds=2.0 + 1.0 + 13 / 2.5)
    with_setting, _ = dial({**ONLY, "answer_rate": 1.0, "message_seconds": 4}, client_first(), None, wait=1.0)
    assert with_setting.ended_at - with_setting.answered_at == timedelta(seconds=5)  # type: ignore[operator]


def test_a_detected_machine_never_reaches_an_agent() -> None:
    result, desk = dial({**ONLY, "machine_rate": 1.0}, client_first(detect_machine=True))
    assert result.status is CallStatus.MACHINE and result.agent is None
    assert desk.asked == [] and result.answered_at is not None
    assert 10.0 <= result.ring_s <= 30.0  # voicemail picks up late


def test_without_machine_detection_a_machine_is_a_live_answer() -> None:
    taken, desk = dial({**ONLY, "machine_rate": 1.0}, client_first(detect_machine=False), "bob")
    assert taken.status is CallStatus.MACHINE and taken.agent == "bob" and len(desk.asked) == 1
    assert taken.talk_s == 0 and taken.disposition is None
    nobody, desk = dial({**ONLY, "machine_rate": 1.0}, client_first(detect_machine=False), None)
    assert nobody.status is CallStatus.ABANDONED and len(desk.asked) == 1


def test_not_answered_calls_never_ask_for_an_agent() -> None:
    for rate, status in (("busy_rate", CallStatus.BUSY), ("failed_rate", CallStatus.FAILED)):
        result, desk = dial({**ONLY, rate: 1.0}, client_first())
        assert result.status is status and desk.asked == [] and result.answered_at is None
        assert result.ring_s <= 6.0  # fails fast
    result, desk = dial(ONLY, client_first())
    assert result.status is CallStatus.NO_ANSWER and desk.asked == []


def test_agent_first_calls_are_as_before() -> None:
    result, _ = dial({**ONLY, "answer_rate": 1.0}, request(connect_to="sip:101", agent="ann"))
    assert result.status is CallStatus.ANSWERED and result.agent is None and result.disposition is not None
    assert seconds(result.ended_at, result.answered_at) == pytest.approx(result.talk_s, abs=1e-3)


@pytest.mark.parametrize(("timeout", "min_ring", "rings"), [(10, 15, 15), (30, 15, 30), (20, 0, 20)])
def test_a_no_answer_rings_until_the_timeout_and_at_least_min_ring(timeout: int, min_ring: int, rings: int) -> None:
    req = request(ring_timeout=timedelta(seconds=timeout), min_ring=timedelta(seconds=min_ring))
    result, _ = dial(ONLY, req)
    assert result.status is CallStatus.NO_ANSWER and result.ring_s == rings
    assert result.ended_at - result.dialed_at == timedelta(seconds=rings)


def test_a_client_slower_than_the_ring_timeout_is_a_no_answer() -> None:
    slow = {**ONLY, "answer_rate": 1.0, "ring": {"answered": {"median": 20, "sigma": 0, "lo": 20, "hi": 20}}}
    short, _ = dial(slow, request(ring_timeout=timedelta(seconds=12)))
    assert (short.status, short.ring_s) == (CallStatus.NO_ANSWER, 12)
    # min_ring keeps it ringing long enough to be answered.
    kept, _ = dial(slow, request(ring_timeout=timedelta(seconds=12), min_ring=timedelta(seconds=25)))
    assert (kept.status, kept.ring_s) == (CallStatus.ANSWERED, 20)


def test_the_older_ring_seconds_range_still_applies() -> None:
    for n in range(20):
        result, _ = dial({**ONLY, "answer_rate": 1.0, "ring_seconds": [7, 9]}, request(n))
        assert 7 <= result.ring_s <= 9


def test_talk_time_follows_the_disposition_else_the_stage() -> None:
    conf = {
        **ONLY, "answer_rate": 1.0, "dispositions": {"prospect": {"refused": 1}, "hot": {"interested": 1}},
        "talk_by_disposition": {"refused": {"median": 40, "sigma": 0}},
        "talk_by_stage": {"hot": {"median": 400, "sigma": 0}},
    }  # fmt: skip
    refused, _ = dial(conf, request())
    assert refused.disposition == "refused" and refused.talk_s == 40
    hot, _ = dial(conf, request(context={"client_id": "h", "attempt": "1", "stage": "hot"}))
    assert hot.disposition == "interested" and hot.talk_s == 400
    capped, _ = dial(
        conf, request(context={"client_id": "h", "attempt": "1", "stage": "hot"}, hard_limit=timedelta(seconds=90))
    )
    assert capped.talk_s == 90


def test_same_seed_same_calls_other_seed_other_calls() -> None:
    conf: dict[str, Any] = {"seed": 11, "hourly": "typical"}

    def day(settings: dict[str, Any]) -> list[tuple[Any, ...]]:
        out = []
        for n in range(40):
            r, _ = dial(settings, client_first(n, context={"client_id": f"c{n}", "attempt": "2", "stage": "prospect"}))
            out.append((r.status, r.ring_s, r.talk_s, r.disposition, r.ended_at))
        return out

    first = day(conf)
    assert first == day(conf)
    assert first != day({**conf, "seed": 12})
    assert len({s for s, *_ in first}) >= 3  # a mix of outcomes, not one


def share_answered(
    provider: SimulatedProvider, clock: FixedClock, at: datetime, tz: str | None, n: int = 1500
) -> float:
    answered = Counter[bool]()
    for i in range(n):
        clock.set(at)
        context = {"client_id": f"c{i}", "attempt": "1", "stage": "prospect"} | ({"client_tz": tz} if tz else {})
        req = request(i, context=context)
        answered[asyncio.run(provider.dial(req)).status is CallStatus.ANSWERED] += 1
    return answered[True] / n


def test_a_lunch_hour_answers_fewer_than_the_morning() -> None:
    clock = FixedClock(T0)
    provider = SimulatedProvider("sim", {"seed": 3, "answer_rate": 0.5, "hourly": "typical"}, clock)
    at = datetime(2026, 12, 1, 10, 15, tzinfo=UTC)
    lunch = share_answered(provider, clock, at, "Europe/Moscow")  # 13:15 there
    morning = share_answered(provider, clock, at, "Europe/London")  # 10:15 there
    assert lunch < 0.38 < 0.43 < morning  # 0.5 * 0.6 = 0.30 expected at lunch, 0.5 in the morning
    flat = SimulatedProvider("sim", {"seed": 3, "answer_rate": 0.5}, clock)  # the provider's own default: flat
    assert share_answered(flat, clock, at, "Europe/Moscow") > 0.43
    # A request without the client's zone is taken in the `timezone` setting's.
    moscow = SimulatedProvider(
        "sim", {"seed": 3, "answer_rate": 0.5, "hourly": "typical", "timezone": "Europe/Moscow"}, clock
    )
    assert share_answered(moscow, clock, at, None) < 0.38
    assert share_answered(moscow, clock, at, "Europe/London") > 0.43


def issues(settings: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as exc:
        SimulatedSettings.model_validate(settings)
    lines, _ = settings_issues(exc.value, "simulated", "sim")
    return lines


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"hourly": {"25": {"answer": 0.5}}}, "providers.sim.hourly: '25': hours must be 0-23"),
        ({"hourly": {"12-14": {}, "13": {}}}, "hour 13 is already covered"),
        ({"hourly": {"13": {"answer": 2.0}}}, "at 13:00 answer+busy+machine+failed+invalid rates add up to"),
        ({"hourly": {"13": {"answr": 0.5}}}, "providers.sim.hourly.13.answr: unknown setting"),
        ({"hourly": "lunchy"}, "'lunchy' is not a profile"),
        ({"timezone": "Mars/Olympus"}, "providers.sim.timezone: unknown time zone"),
        (
            {"ring": {"busy": {"median": 2, "lo": 5, "hi": 3}}},
            "providers.sim.ring.busy: lo (5) must not be above hi (3)",
        ),
        ({"ring": {"busy": {"median": 2, "hi": 3}}, "ring_seconds": [1, 2]}, "not both"),
        ({"talk_by_disposition": {"maybe": {"median": 3}}}, "providers.sim.talk_by_disposition.maybe"),
    ],
)
def test_bad_settings_name_the_field(settings: dict[str, Any], expected: str) -> None:
    assert expected in issues(settings)


def test_human_agent_mode_takes_client_first_calls_too() -> None:
    human = {**ONLY, "answer_rate": 1.0, "agent": "human", "ring_seconds": [2, 2]}
    talked, desk = dial(human, client_first(hard_limit=timedelta(seconds=30)), "ann", wait=1.0)
    assert (talked.status, talked.agent, talked.talk_s, talked.disposition) == (CallStatus.ANSWERED, "ann", 30, None)
    assert len(desk.asked) == 1
    nobody, _ = dial(human, client_first(information_message=MESSAGE), None, wait=2.0)
    assert (nobody.status, nobody.talk_s, nobody.agent) == (CallStatus.ABANDONED, 0, None)
