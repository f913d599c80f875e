"""Crashes, leases and several workers, against a real SQLite file: short leases kept
by the heartbeat, calls cut by a crash (interrupted / canceled, never an attempt), the
start of a call stamped when the provider gets it, a stop that gives paced claims back,
and workers sharing the lines."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from dialer import calendar
from dialer import dispatcher as dispatcher_module
from dialer.clock import VirtualClock
from dialer.config.models import DialerConfig
from dialer.dispatcher import LEASE, Dispatcher
from dialer.domain import CallStatus
from dialer.scheduling import Scheduler
from dialer.store.sqlite import SqliteStore
from providers.base import CallFinder, CallResult, DialRequest, EventSink, create_gap
from tests.support.clocks import FixedClock
from tests.support.dispatch import MORNING, ScriptedProvider, client, load


def with_campaign(config: DialerConfig, name: str, **changes: Any) -> DialerConfig:
    return config.model_copy(
        update={"campaigns": [c.model_copy(update=changes) if c.name == name else c for c in config.campaigns]}
    )


class QuietProvider(ScriptedProvider):
    """Dials without ever reporting its call id (the worker dies before it is stored)."""

    async def dial(self, request: DialRequest, on_event: EventSink | None = None) -> CallResult:
        return await super().dial(request, None)


class FindingProvider(ScriptedProvider):
    """A provider with a central call record (like Twilio): it can look a call up by number."""

    def __init__(self, clock: Any, found: str | None, result: CallResult | None = None):
        super().__init__(clock)
        self.found = found
        self.result = result
        self.asked: list[tuple[str, datetime, datetime]] = []

    async def find_call(self, request: DialRequest, since: datetime, until: datetime) -> str | None:
        self.asked.append((request.number, since, until))
        return self.found

    async def fetch(self, provider_call_id: str) -> CallResult | None:
        return self.result if provider_call_id == self.found else None


async def dead_worker_call(
    store: SqliteStore, config: DialerConfig, clock: FixedClock, provider: ScriptedProvider, alive_for: timedelta
) -> tuple[Dispatcher, datetime]:
    """Worker `dead` starts one call, beats once after `alive_for`, then dies (the call
    never reports back). Returns it and the moment it was last alive."""
    provider.hold = asyncio.Event()
    await load(store, config, [client(1)], MORNING)
    dead = Dispatcher(store, {"simulated": provider}, config, clock, owner="dead")
    await dead.step()
    await asyncio.sleep(0.05)
    clock.set(MORNING + alive_for)
    await dead.beat(clock.now())
    last_alive = clock.now()
    clock.set(last_alive + LEASE + timedelta(minutes=1))
    return dead, last_alive


async def bury(dead: Dispatcher, provider: ScriptedProvider) -> None:
    assert provider.hold is not None
    provider.hold.set()
    await dead.wait_idle()


async def test_a_call_its_worker_took_down_is_interrupted_not_an_attempt(
    store: SqliteStore, config: DialerConfig
) -> None:
    """SIP/simulated cannot tell how a dead worker's call ended: `interrupted`, ended when
    the worker was last alive, and the client's retry budget is untouched."""
    clock = FixedClock(MORNING)
    dead_provider = ScriptedProvider(clock)
    dead, last_alive = await dead_worker_call(store, config, clock, dead_provider, timedelta(seconds=12))
    before = await store.get_client("c1")
    alive = Dispatcher(store, {"simulated": ScriptedProvider(clock)}, config, clock, owner="alive")
    assert await alive.reconcile_orphans(clock.now()) == 1
    [call] = await store.client_calls("c1")
    assert call.status is CallStatus.INTERRUPTED and call.worker == "dead"
    assert call.ended_at == last_alive, "a crashed call ends when its worker was last alive"
    assert "worker died" in (call.error or "")
    after = await store.get_client("c1")
    assert before is not None and after is not None
    assert after.state == before.state, "not an attempt: counters, stage and callback unchanged"
    assert after.next_dial_at is not None and after.lease_owner is None and after.open_call_id is None
    [event] = await store.events_for("c1")
    assert event.kind == "interrupted"
    # Attempt caps do not count it either (cold counts attempts, 2 a day).
    assert await store.contact_times("c1", MORNING - timedelta(days=1), False) == []
    await bury(dead, dead_provider)


@pytest.mark.parametrize("seen", [None, "P-found"])
async def test_a_call_without_provider_id_is_looked_up_by_number(
    store: SqliteStore, config: DialerConfig, seen: str | None
) -> None:
    """The worker died before the provider's call id was stored: a provider that keeps a
    call record is asked by number and time; never seen -> `canceled` (not an attempt),
    found -> its final status."""
    clock = FixedClock(MORNING)
    dead_provider = QuietProvider(clock)
    dead, last_alive = await dead_worker_call(store, config, clock, dead_provider, timedelta(seconds=7))
    [open_call] = await store.client_calls("c1")
    assert open_call.provider_call_id is None
    answered = CallResult(CallStatus.BUSY, MORNING, MORNING + timedelta(seconds=9), "P-found", ring_s=4)
    finder = FindingProvider(clock, seen, answered)
    assert isinstance(finder, CallFinder)
    alive = Dispatcher(store, {"simulated": finder}, config, clock, owner="alive")
    assert await alive.reconcile_orphans(clock.now()) == 1
    [(number, since, until)] = finder.asked
    assert number == "+79120000001" and since == open_call.started_at
    assert last_alive < until <= last_alive + timedelta(seconds=10)  # the worker may have lived one beat more
    [call] = await store.client_calls("c1")
    c = await store.get_client("c1")
    assert c is not None
    if seen is None:
        assert call.status is CallStatus.CANCELED and call.ended_at == call.started_at
        assert c.state.attempts_total == 0
    else:
        assert (call.status, call.provider_call_id, call.ended_at) == (CallStatus.BUSY, "P-found", answered.ended_at)
        assert c.state.attempts_total == 1
    await bury(dead, dead_provider)


async def test_without_provider_id_and_no_call_record_it_is_interrupted(
    store: SqliteStore, config: DialerConfig
) -> None:
    clock = FixedClock(MORNING)
    dead_provider = QuietProvider(clock)
    dead, _ = await dead_worker_call(store, config, clock, dead_provider, timedelta(seconds=3))
    alive = Dispatcher(store, {"simulated": ScriptedProvider(clock)}, config, clock, owner="alive")
    assert await alive.reconcile_orphans(clock.now()) == 1
    [call] = await store.client_calls("c1")
    assert call.status is CallStatus.INTERRUPTED and "cannot look a call up" in (call.error or "")
    await bury(dead, dead_provider)


async def test_heartbeat_keeps_a_long_call_and_a_dead_workers_line_comes_back(
    store: SqliteStore, config: DialerConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Leases are short; the heartbeat, a task of its own, renews them while the call
    lasts, even while the tick is stuck on a slow store. Once the worker is gone, its
    call is reconciled and its line comes back one lease later."""
    monkeypatch.setattr(dispatcher_module, "HEARTBEAT_EVERY", timedelta(seconds=0.01))
    clock = FixedClock(MORNING)
    provider = ScriptedProvider(clock)
    provider.hold = asyncio.Event()
    await load(store, config, [client(1)], MORNING)
    worker = Dispatcher(store, {"simulated": provider}, config, clock, owner="w1")
    await worker.step()
    [claimed] = [c for c in [await store.get_client("c1")] if c and c.lease_until]
    assert claimed.lease_until == MORNING + LEASE
    other = Dispatcher(store, {"simulated": ScriptedProvider(clock)}, config, clock, owner="w2")
    heart = asyncio.create_task(worker.keep_alive())
    stuck = asyncio.Event()
    real_claim = store.claim

    async def slow_claim(*args: Any, **kw: Any) -> Any:
        await stuck.wait()
        return await real_claim(*args, **kw)

    store.claim = slow_claim  # type: ignore[method-assign]
    tick = asyncio.create_task(worker.step())  # the tick hangs on the store
    try:
        for _ in range(60):  # an hour-long call, minute by minute
            clock.set(clock.now() + timedelta(minutes=1))
            await asyncio.sleep(0.03)
            assert await other.reconcile_orphans(clock.now()) == 0, "a live worker's call was taken over"
        c = await store.get_client("c1")
        assert c is not None and c.lease_owner == "w1" and c.lease_until is not None
        assert c.lease_until > clock.now()
        heart.cancel()  # the worker dies
        await asyncio.gather(heart, return_exceptions=True)
        died = clock.now()
        clock.set(died + LEASE - timedelta(seconds=1))
        assert await other.reconcile_orphans(clock.now()) == 0
        clock.set(died + LEASE + timedelta(seconds=1))
        assert await other.reconcile_orphans(clock.now()) == 1
        [call] = await store.client_calls("c1")
        assert call.status is CallStatus.INTERRUPTED
        assert died - timedelta(seconds=1) <= call.ended_at <= died  # type: ignore[operator]
        assert await store.lines_in_use("cold", clock.now()) == 0
    finally:
        stuck.set()
        store.claim = real_claim  # type: ignore[method-assign]
        heart.cancel()
        await asyncio.gather(tick, heart, return_exceptions=True)
        provider.hold.set()
        await worker.wait_idle()


def closing_soon(config: DialerConfig, zone: str, day_start: datetime, gap: timedelta) -> datetime:
    """An instant the cold campaign may dial a client of `zone`, but no longer `gap` later."""
    rules = Scheduler(config).rules(config.campaign("cold"), zone, None)
    t = day_start
    for _ in range(24 * 60):
        if calendar.status(rules, t).open and not calendar.status(rules, t + gap).open:
            return t
        t += timedelta(minutes=1)
    raise AssertionError("no closing window found")


async def test_start_is_stamped_when_the_provider_gets_the_call(store: SqliteStore, config: DialerConfig) -> None:
    """With CPS pacing, a claimed call waits for its slot: its `started_at` is the moment
    the provider got it, and the window is checked again then (it may have closed)."""
    gap = timedelta(minutes=10)
    paced = with_campaign(config, "cold", cps=1 / gap.total_seconds())
    start = closing_soon(paced, "Europe/Moscow", MORNING, gap)
    clock = VirtualClock(start)
    provider = ScriptedProvider(clock)  # type: ignore[arg-type]
    await load(store, paced, [client(1), client(2)], start)
    d = Dispatcher(store, {"simulated": provider}, paced, clock)
    assert (await d.step()).started == 2
    for _ in range(50):
        if provider.requests:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    [(dialed_at, request)] = provider.requests
    # The second call's slot: one gap later, plus the pacers' margin (providers.base).
    clock.advance_to(start + timedelta(seconds=create_gap(1 / gap.total_seconds())))
    await d.wait_idle()
    assert len(provider.requests) == 1, "the window closed while the second call waited for its slot"
    calls = await store.calls_between(start - timedelta(hours=1), start + timedelta(hours=1))
    assert [(c.call_id, c.started_at) for c in calls] == [(request.call_id, dialed_at.replace(microsecond=0))]
    waited = "c2" if request.context["client_id"] == "c1" else "c1"
    c = await store.get_client(waited)
    assert c is not None and c.lease_owner is None and c.open_call_id is None
    assert c.next_dial_at is not None and c.next_dial_at > start + gap  # rescheduled to its next window


async def test_stopping_gives_back_claims_waiting_for_a_slot(store: SqliteStore, config: DialerConfig) -> None:
    """SIGTERM while claimed calls wait for their CPS slot: no new call starts; their
    claims go back (no call row, no attempt); the call in progress finishes normally."""
    paced = with_campaign(config, "cold", cps=1 / 60)
    clock = VirtualClock(MORNING)
    provider = ScriptedProvider(clock)  # type: ignore[arg-type]
    provider.hold = asyncio.Event()
    await load(store, paced, [client(i) for i in range(1, 4)], MORNING)
    d = Dispatcher(store, {"simulated": provider}, paced, clock)
    assert (await d.step()).started == 3
    for _ in range(50):
        if provider.requests:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert len(provider.requests) == 1
    drained = asyncio.create_task(d.drain(timeout=5))
    await asyncio.sleep(0.1)
    clock.advance_to(MORNING + timedelta(minutes=5))  # the slots come: too late
    provider.hold.set()
    assert await drained
    await d.wait_idle()
    assert len(provider.requests) == 1
    calls = await store.calls_between(MORNING - timedelta(hours=1), MORNING + timedelta(hours=1))
    assert len(calls) == 1 and calls[0].status is CallStatus.ANSWERED
    for cid in ("c1", "c2", "c3"):
        c = await store.get_client(cid)
        assert c is not None and c.lease_owner is None and c.open_call_id is None
        assert c.state.attempts_total == 0


async def test_a_worker_whose_claim_came_back_short_gets_the_next_free_line(
    store: SqliteStore, config: DialerConfig
) -> None:
    """Lines are global: while another worker holds them all, a worker does not pause
    (it asks again at its next tick), so it gets a line as soon as one frees."""
    two = with_campaign(config, "cold", lines=2)
    clock = FixedClock(MORNING)
    busy_provider = ScriptedProvider(clock)
    busy_provider.hold = asyncio.Event()
    await load(store, two, [client(i) for i in range(1, 7)], MORNING)
    busy = Dispatcher(store, {"simulated": busy_provider}, two, clock, owner="busy")
    waiting_provider = ScriptedProvider(clock)
    waiting = Dispatcher(store, {"simulated": waiting_provider}, two, clock, owner="waiting")
    assert (await busy.step()).started == 2
    await asyncio.sleep(0.05)
    assert (await waiting.step()).started == 0  # every line taken
    busy_provider.hold.set()
    await busy.wait_idle()  # the busy worker's calls end: two lines free
    assert (await waiting.step()).started == 2, "the waiting worker takes the freed lines at its next tick"
    await waiting.wait_idle()
    assert await store.lines_in_use("cold", clock.now()) == 0


async def test_a_call_canceled_at_shutdown_counts_for_no_attempt_cap(store: SqliteStore, config: DialerConfig) -> None:
    """`count: attempts` caps (cold: 2 a day) skip calls the dialer itself cut: after one
    busy attempt and one call canceled at shutdown the client may still be dialed today."""
    capped = with_campaign(config, "cold", caps=config.campaign("cold").caps.model_copy(update={"per_day": 2}))
    clock = FixedClock(MORNING + timedelta(microseconds=654_321))  # the store keeps whole seconds
    provider = ScriptedProvider(clock, {"+79120000001": CallStatus.BUSY})
    await load(store, capped, [client(1)], MORNING)
    d = Dispatcher(store, {"simulated": provider}, capped, clock)
    await d.step()
    await d.wait_idle()
    clock.set(clock.now() + timedelta(hours=1, microseconds=123_456))
    provider.script.clear()
    provider.hold = asyncio.Event()
    d2 = Dispatcher(store, {"simulated": provider}, capped, clock)
    assert (await d2.step()).started == 1
    await asyncio.sleep(0.05)
    assert await d2.drain(timeout=0.1) is False
    await d2.wait_idle()
    calls = await store.client_calls("c1")
    assert sorted(c.status for c in calls) == [CallStatus.BUSY, CallStatus.CANCELED]
    c = await store.get_client("c1")
    assert c is not None and c.cap_until is None, "the canceled call was counted against the attempt cap"
