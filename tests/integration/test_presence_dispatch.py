"""Presence and campaign pauses in the dispatcher (issue 12): calls go only to Ready
agents, wrap-up follows an answered call, paused campaigns are claimed by no worker."""

from __future__ import annotations

from datetime import timedelta

from dialer.config import DialerConfig
from dialer.dispatcher import Dispatcher
from dialer.presence import uses_presence
from dialer.store.base import Store
from dialer.store.people import PresenceState, people_of
from dialer.web.settings import WebSettings
from tests.support.clocks import FixedClock
from tests.support.dispatch import MORNING, ScriptedProvider, client, load, run_step
from tests.support.stores import two_workers_on_postgres


def cold_only(config: DialerConfig, **cold: object) -> DialerConfig:
    """The cold campaign alone (agents ivanova, petrov, ...), web on: presence applies."""
    [cold_campaign] = [c.model_copy(update=cold) for c in config.campaigns if c.name == "cold"]
    return config.model_copy(update={"campaigns": [cold_campaign], "web": WebSettings(enabled=True)})


async def calls_of(store: Store) -> list[str]:
    calls = await store.calls_between(MORNING - timedelta(days=1), MORNING + timedelta(days=1))
    return sorted(c.agent or "" for c in calls)


async def test_no_ready_agent_no_call_then_ready_wrap_up_ready(store: Store, config: DialerConfig) -> None:
    config = cold_only(config, wrap_up=timedelta(seconds=30))
    assert uses_presence(config, config.campaigns[0])
    clock = FixedClock(MORNING)
    await load(store, config, [client(i) for i in range(1, 5)], MORNING)
    d = Dispatcher(store, {"simulated": ScriptedProvider(clock)}, config, clock)
    await run_step(d)
    assert await calls_of(store) == []
    assert d.presence.holds["cold"].startswith("no agent ready (6 logged out of 6 agents)")
    people = people_of(store)
    await people.set_presence("petrov", PresenceState.READY, MORNING, by="petrov")
    await people.set_presence("sidorova", PresenceState.PAUSED, MORNING, by="sidorova", reason="lunch")
    clock.set(MORNING + timedelta(seconds=1))
    await run_step(d)
    assert await calls_of(store) == ["petrov"]
    (p,) = await people.presence(clock.now(), ["petrov"])
    assert p.state is PresenceState.WRAP_UP and p.wrap_up_until == clock.now() + timedelta(seconds=30)
    clock.set(MORNING + timedelta(seconds=20))  # still wrapping up: no call
    await run_step(d)
    assert await calls_of(store) == ["petrov"]
    clock.set(MORNING + timedelta(seconds=40))  # wrap-up over: Ready again by itself
    await run_step(d)
    assert await calls_of(store) == ["petrov", "petrov"]


async def test_a_paused_campaign_places_no_call_until_resumed(store: Store, config: DialerConfig) -> None:
    config = cold_only(config, presence=False)
    clock = FixedClock(MORNING)
    await load(store, config, [client(i) for i in range(1, 3)], MORNING)
    d = Dispatcher(store, {"simulated": ScriptedProvider(clock)}, config, clock)
    await people_of(store).set_campaign_paused("cold", True, MORNING, by="boss")
    await run_step(d)
    assert await calls_of(store) == [] and d.presence.holds == {"cold": "paused by a supervisor"}
    await people_of(store).set_campaign_paused("cold", False, MORNING, by="boss")
    clock.set(MORNING + timedelta(seconds=1))
    await run_step(d)
    assert len(await calls_of(store)) == 2  # presence off: the agents rotate as before


async def test_pause_through_one_worker_stops_the_other_on_postgres(config: DialerConfig) -> None:
    async with two_workers_on_postgres() as (first, second):
        config = cold_only(config, presence=False)
        clock = FixedClock(MORNING)
        await load(first, config, [client(i) for i in range(1, 4)], MORNING)
        worker = Dispatcher(second, {"simulated": ScriptedProvider(clock)}, config, clock, owner="w2")
        await people_of(first).set_campaign_paused("cold", True, MORNING, by="boss")  # through worker 1's store
        await run_step(worker)
        assert await calls_of(first) == []
        await people_of(first).set_campaign_paused("cold", False, MORNING, by="boss")
        clock.set(MORNING + timedelta(seconds=1))
        await run_step(worker)
        assert len(await calls_of(first)) == 3


async def test_two_workers_share_ready_agents_on_postgres(config: DialerConfig) -> None:
    async with two_workers_on_postgres() as (first, second):
        config = cold_only(config)
        clock = FixedClock(MORNING)
        await load(first, config, [client(i) for i in range(1, 6)], MORNING)
        await people_of(first).set_presence("ivanova", PresenceState.READY, MORNING, by="ivanova")
        workers = [
            Dispatcher(s, {"simulated": ScriptedProvider(clock)}, config, clock, owner=f"w{i}")
            for i, s in enumerate((first, second))
        ]
        for w in workers:
            await w.step()
        for w in workers:
            await w.wait_idle()
        assert await calls_of(first) == ["ivanova"]  # one Ready agent: one call, whichever worker
