"""The hang-up seam (dialer/hangup.py) through the real dispatcher, on a prepared demo
store: a Ready agent gets a call, it stays connected until hung up, the result is
recorded answered with the real talk time and no disposition, and the agent wraps up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dialer.clock import SystemClock
from dialer.demo.setup import DemoPaths, prepare
from dialer.dispatcher import Dispatcher
from dialer.domain import CallStatus
from dialer.hangup import HangUpResult, hang_up
from dialer.store import store_for
from dialer.store.people import PresenceState, people_of
from providers.simulated import SimulatedProvider

ANSWERS = {"agent": "human", "answer_rate": 1.0, "busy_rate": 0, "machine_rate": 0, "failed_rate": 0,
           "ring_seconds": [0.1, 0.1]}  # fmt: skip


async def test_a_call_stays_up_until_the_agent_hangs_up(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    prepared = await prepare(DemoPaths.beside(tmp_path / "demo.db"), now, agents=1, port=18999, speed=1.0)
    assert prepared.clients == 72 and [lg.name for lg in prepared.logins] == ["ivanova", "boss"]
    config = prepared.config
    store = store_for(config, str(prepared.paths.db))
    await store.open()
    clock = SystemClock()
    provider = SimulatedProvider("demo", ANSWERS, clock)
    dispatcher = Dispatcher(store, {"demo": provider}, config, clock, owner="demo-test")
    try:
        await dispatcher.step()
        assert dispatcher.in_flight == 0, "nobody is Ready: no call"
        await people_of(store).set_presence("ivanova", PresenceState.READY, clock.now(), by="ivanova")
        await dispatcher.step()
        assert dispatcher.in_flight == 1, "one Ready agent: one call"
        for _ in range(200):
            if provider.in_progress() and (await store.get_call(provider.in_progress()[0])) is not None:
                break
            await asyncio.sleep(0.02)
        [call_id] = provider.in_progress()
        await asyncio.sleep(1.0)  # talking
        await dispatcher.step()
        assert dispatcher.in_flight == 1, "the agent is on the call: no second call"
        call = await store.get_call(call_id)
        assert call is not None and call.status is CallStatus.DIALING and call.agent == "ivanova"
        assert await hang_up(dispatcher, "no-such-call") is HangUpResult.UNKNOWN_CALL
        assert await hang_up(dispatcher, call_id) is HangUpResult.HUNG_UP
        await asyncio.wait_for(dispatcher.wait_idle(), 5)
        call = await store.get_call(call_id)
        assert call is not None and call.status is CallStatus.ANSWERED
        assert call.disposition is None, "the person records the disposition, not the provider"
        assert 0.8 <= call.talk_s <= 3.0  # 1 s on the line, less the 0.1 s ring if still ringing then
        assert await hang_up(dispatcher, call_id) is HangUpResult.ENDED
        (presence,) = await people_of(store).presence(clock.now(), ["ivanova"])
        assert presence.state is PresenceState.WRAP_UP
        assert presence.wrap_up_until is not None
        assert presence.wrap_up_until - clock.now() <= timedelta(seconds=30)
    finally:
        await dispatcher.drain(1)
        await store.close()


async def test_a_call_of_another_worker_or_a_simulated_agent_is_not_hung_up_here(tmp_path: Path) -> None:
    prepared = await prepare(DemoPaths.beside(tmp_path / "demo.db"), datetime.now(UTC), agents=1, port=18999, speed=1)
    store = store_for(prepared.config, str(prepared.paths.db))
    await store.open()
    clock = SystemClock()
    # The provider plays the agent itself (no `agent: human`): it cannot be hung up.
    provider = SimulatedProvider("demo", {**ANSWERS, "agent": "simulated", "talk_seconds": {"median": 60}}, clock)
    dispatcher = Dispatcher(store, {"demo": provider}, prepared.config, clock, owner="w1")
    try:
        await people_of(store).set_presence("ivanova", PresenceState.READY, clock.now(), by="ivanova")
        await dispatcher.step()
        call_id = next(iter(dispatcher._tasks))
        for _ in range(200):
            if await store.get_call(call_id) is not None:
                break
            await asyncio.sleep(0.02)
        assert await hang_up(dispatcher, call_id) is HangUpResult.NOT_SUPPORTED
        other = Dispatcher(store, {"demo": provider}, prepared.config, clock, owner="w2")
        assert await hang_up(other, call_id) is HangUpResult.NOT_HERE
    finally:
        await dispatcher.drain(0.5)
        await store.close()
