"""Client-first pacing in the dispatcher (issue 13): power and predictive campaigns dial
from the store's global counts, take an agent at the answer or abandon, keep the 72 h rule."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from dialer.clock import VirtualClock
from dialer.config import DialerConfig
from dialer.dispatcher import Dispatcher
from dialer.domain import CallStatus
from dialer.live_pacing import ModeSummary, mode_summary
from dialer.model import CallRecord, CallStart, CallUpdate, ClientUpdate, Event
from dialer.pacing.modes import DialMode
from dialer.store.base import Store
from dialer.store.people import PresenceState, people_of
from dialer.web.settings import WebSettings
from dialer.why import explain
from tests.support.client_first_provider import ClientFirstProvider
from tests.support.clocks import FixedClock
from tests.support.dispatch import MORNING, client, load
from tests.support.stores import two_workers_on_postgres

MESSAGE = "This was Izhevsk call center; to opt out press 9."


def client_first(config: DialerConfig, mode: DialMode = DialMode.POWER, **cold: object) -> DialerConfig:
    """The cold campaign alone, client first, presence on (web enabled)."""
    settings: dict[str, object] = dict(
        dial_mode=mode, allow_abandon=True, information_message=MESSAGE, lines=10, wrap_up=timedelta(seconds=30),
        caps=None,
    )  # fmt: skip
    settings.update(cold)
    [c] = [c for c in config.campaigns if c.name == "cold"]
    if settings.pop("caps", None) is None:
        settings["caps"] = type(c.caps)()
    campaign = c.model_copy(update=settings)
    return config.model_copy(update={"campaigns": [campaign], "web": WebSettings(enabled=True)})


async def ready(store: Store, *agents: str) -> None:
    for name in agents:
        await people_of(store).set_presence(name, PresenceState.READY, MORNING, by=name)


async def dialed(provider: ClientFirstProvider, n: int) -> None:
    """Let the step's call tasks reach the provider (they write their rows first; bounded)."""
    for _ in range(400):
        if len(provider.requests) >= n:
            await settle()
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{len(provider.requests)} calls reached the provider, expected {n}")


async def settle() -> None:
    """A moment for any further call task to reach the provider (there should be none)."""
    await asyncio.sleep(0.05)


async def calls(store: Store) -> list[CallRecord]:
    return await store.calls_between(MORNING - timedelta(days=1), MORNING + timedelta(days=5))


async def test_power_places_ratio_times_ready_calls_client_first(store: Store, config: DialerConfig) -> None:
    config = client_first(config, power_ratio=2.0)
    clock = FixedClock(MORNING)
    await load(store, config, [client(i) for i in range(1, 11)], MORNING)
    await ready(store, "ivanova", "petrov")
    provider = ClientFirstProvider(clock)
    provider.hold = asyncio.Event()
    d = Dispatcher(store, {"simulated": provider}, config, clock)
    await d.step()
    await dialed(provider, 4)
    for _, request in provider.requests:
        assert request.connect_mode == "client_first" and request.connect_to == "" and request.agent is None
        assert request.agent_at_answer is not None and request.detect_machine
        assert request.min_ring == timedelta(seconds=15) and request.ring_timeout >= request.min_ring
        assert request.information_message == MESSAGE
    assert len(await store.ringing_unattached("cold")) == 4
    clock.set(MORNING + timedelta(seconds=1))
    await d.step()  # 4 calls ringing = 2 x 2 Ready agents: nothing more
    await settle()
    assert len(provider.requests) == 4
    provider.hold.set()
    await d.wait_idle()
    rows = await calls(store)
    answered = [c for c in rows if c.status is CallStatus.ANSWERED]
    abandoned = [c for c in rows if c.status is CallStatus.ABANDONED]
    # Two agents, four live answers, 30 s of wrap-up: two talk, two hear the message.
    assert sorted(c.agent or "" for c in answered) == ["ivanova", "petrov"]
    assert len(abandoned) == 2 and all(c.answered_at is not None and c.agent is None for c in abandoned)
    states = {p.agent: p.state for p in await people_of(store).presence(clock.now(), ["ivanova", "petrov"])}
    assert states == {"ivanova": PresenceState.WRAP_UP, "petrov": PresenceState.WRAP_UP}


async def test_no_working_agent_no_client_first_call(store: Store, config: DialerConfig) -> None:
    config = client_first(config)
    clock = FixedClock(MORNING)
    await load(store, config, [client(i) for i in range(1, 4)], MORNING)
    await people_of(store).set_presence("ivanova", PresenceState.PAUSED, MORNING, by="ivanova", reason="lunch")
    provider = ClientFirstProvider(clock)
    d = Dispatcher(store, {"simulated": provider}, config, clock)
    await d.step()
    await d.wait_idle()
    assert provider.requests == [] and d.presence.holds["cold"].startswith("no agent ready")
    await people_of(store).set_campaign_paused("cold", True, MORNING, by="boss")
    await ready(store, "ivanova")
    clock.set(MORNING + timedelta(seconds=1))
    await d.step()
    await d.wait_idle()
    assert provider.requests == []  # paused by a supervisor


async def test_predictive_starts_progressive_and_never_exceeds_lines(store: Store, config: DialerConfig) -> None:
    config = client_first(config, DialMode.PREDICTIVE, lines=2, power_ratio=3.0)
    clock = FixedClock(MORNING)
    await load(store, config, [client(i) for i in range(1, 11)], MORNING)
    await ready(store, "ivanova", "petrov", "sidorova")
    provider = ClientFirstProvider(clock)
    provider.hold = asyncio.Event()
    d = Dispatcher(store, {"simulated": provider}, config, clock)
    await d.step()
    await dialed(provider, 2)
    await settle()
    assert len(provider.requests) == 2  # 3 Ready, but 2 lines
    provider.hold.set()
    await d.wait_idle()
    # A fresh window has no abandon budget: predictive is progressive (one call per Ready agent).
    config3 = client_first(config, DialMode.PREDICTIVE, lines=10, power_ratio=3.0)
    d.set_config(config3)
    provider.hold = asyncio.Event()
    clock.set(MORNING + timedelta(minutes=2))  # wrap-up over: 3 Ready
    before = len(provider.requests)
    await d.step()
    await dialed(provider, before + 3)
    await settle()
    assert len(provider.requests) - before == 3
    assert d.pacer.last["cold"].ready == 3 and d.pacer.last["cold"].window.live == 2
    provider.hold.set()
    await d.wait_idle()


async def test_an_abandoned_client_is_dialed_only_agent_first_for_72_hours(store: Store, config: DialerConfig) -> None:
    config = client_first(config, power_ratio=2.0)
    clock = FixedClock(MORNING)
    await load(store, config, [client(1), client(2)], MORNING)
    await ready(store, "ivanova")
    provider = ClientFirstProvider(clock)
    provider.hold = asyncio.Event()
    d = Dispatcher(store, {"simulated": provider}, config, clock)
    await d.step()
    await dialed(provider, 2)
    provider.hold.set()
    await d.wait_idle()
    [gone] = [c for c in await calls(store) if c.status is CallStatus.ABANDONED]
    assert gone.answered_at is not None and d.metrics.ended[("cold", "abandoned")] == 1
    again = await store.get_client(gone.client_id)
    assert again is not None and again.next_dial_at is not None and again.next_dial_at > clock.now()
    # When it is due again (well inside 72 h) and no agent can be reserved: not dialed.
    provider.hold = None
    await people_of(store).set_presence("ivanova", PresenceState.PAUSED, MORNING, by="ivanova", reason="x")
    await ready(store, "petrov")
    clock.set(again.next_dial_at + timedelta(minutes=1))
    await people_of(store).set_presence("petrov", PresenceState.READY, clock.now(), by="petrov")
    dials_before = len(provider.requests)
    await d.step()
    await d.wait_idle()
    new = provider.requests[dials_before:]
    assert len(new) == 1
    _, request = new[0]
    # Reserved agent first: the agent is on the call before the client's phone rings.
    assert request.context["client_id"] == gone.client_id
    assert request.agent_at_answer is None and request.agent == "petrov" and request.connect_to == "sip:102@pbx.local"
    assert request.connect_mode == "agent_first"
    assert clock.now() - gone.answered_at < timedelta(hours=72)
    # `dialer why` says the mode, the rate vs the cap, and the 72 h rule; `status` the same line.
    text = await explain(store, config, gone.client_id, clock.now())
    assert text is not None
    assert (
        "pacing:            cold: dial mode power: abandon rate 50.0% (1 of 2 live answers, last 24h), cap 3.0%" in text
    )
    assert "OVER THE CAP" in text and "dialed only with an agent reserved until 2026-12-04" in text
    summary = await mode_summary(store, config.campaigns[0], clock.now() + timedelta(days=2))
    assert summary.line() == "dial mode power: abandon rate 0.0% (0 of 0 live answers, last 24h), cap 3.0%"
    assert ModeSummary.from_data(summary.as_data()) == summary


async def test_the_call_log_says_who_was_abandoned_and_they_get_a_reserved_agent(
    store: Store, config: DialerConfig
) -> None:
    config = client_first(config, power_ratio=3.0)
    clock = FixedClock(MORNING)
    await load(store, config, [client(1)], MORNING)
    provider = ClientFirstProvider(clock)
    d = Dispatcher(store, {"simulated": provider}, config, clock)
    # The client was abandoned an hour ago (the call log says so) and is due now.
    claim = (await store.claim("cold", MORNING, 1, "old", MORNING + timedelta(minutes=1)))[0]
    start = CallStart(
        "gone", "c1", "cold", None, claim.client.phone, "Europe/Moscow", 0, MORNING - timedelta(hours=1),
        MORNING.date(), "test", "simulated", claim.lease_token,
    )  # fmt: skip
    await store.start_call(start)
    update = ClientUpdate(claim.client.state, None, MORNING, MORNING + timedelta(hours=2), None, 4, "cold", "test")
    answered = MORNING - timedelta(minutes=59)
    await store.record_outcome(
        "gone", "c1", claim.lease_token, CallUpdate(CallStatus.ABANDONED, answered_at=answered, ended_at=answered),
        update, Event("abandoned", "test"), MORNING,
    )  # fmt: skip
    await ready(store, "ivanova")
    # ratio 3 x 1 Ready: the pacer wants calls, but this client may only be dialed with a
    # reserved agent: ivanova is reserved (agent first).
    await d.step()
    await d.wait_idle()
    [(_, request)] = provider.requests
    assert request.agent == "ivanova" and request.agent_at_answer is None


async def test_two_workers_share_agents_and_count_each_others_calls_on_postgres(config: DialerConfig) -> None:
    async with two_workers_on_postgres() as (first, second):
        config = client_first(config, power_ratio=2.0)
        clock = FixedClock(MORNING)
        await load(first, config, [client(i) for i in range(1, 11)], MORNING)
        await ready(first, "ivanova")
        provider = ClientFirstProvider(clock)
        provider.hold = asyncio.Event()
        w1 = Dispatcher(first, {"simulated": provider}, config, clock, owner="w1")
        w2 = Dispatcher(second, {"simulated": provider}, config, clock, owner="w2")
        await w1.step()
        await dialed(provider, 2)  # 2 x 1 Ready
        await w2.step()
        await settle()
        assert len(provider.requests) == 2  # w2 counts w1's two calls ringing
        await ready(first, "petrov")
        clock.set(MORNING + timedelta(seconds=1))
        await w2.step()
        await dialed(provider, 4)  # 2 x 2 Ready - 2 ringing
        assert w2.pacer.last["cold"].ringing and len(w2.pacer.last["cold"].ringing) == 2
        provider.hold.set()  # four answers race for two agents across both workers
        await asyncio.gather(w1.wait_idle(), w2.wait_idle())
        rows = await calls(first)
        answered = sorted(c.agent or "" for c in rows if c.status is CallStatus.ANSWERED)
        assert answered == ["ivanova", "petrov"]  # each agent once
        assert sum(1 for c in rows if c.status is CallStatus.ABANDONED) == 2
        assert {c.worker for c in rows} == {"w1", "w2"}


@pytest.mark.parametrize("comes_after", [1.0, 3.0])
async def test_an_answer_waits_for_an_agent_at_most_abandon_after(
    store: Store, config: DialerConfig, comes_after: float
) -> None:
    """On the virtual clock: a second agent turns Ready `comes_after` seconds after the
    answers. Within abandon_after (2 s) the waiting client gets them; later, the call is
    abandoned exactly abandon_after after its answer, never later."""
    config = client_first(config, power_ratio=2.0)
    clock = VirtualClock(MORNING)
    await load(store, config, [client(1), client(2)], MORNING)
    await ready(store, "ivanova")
    provider = ClientFirstProvider(clock)  # type: ignore[arg-type]  # any clock with now() and sleep()
    provider.hold = asyncio.Event()
    d = Dispatcher(store, {"simulated": provider}, config, clock)
    await d.step()
    await dialed(provider, 2)
    answered_at = MORNING + timedelta(seconds=5)
    clock.advance_to(answered_at)
    provider.hold.set()  # both answer now; ivanova takes one, the other waits
    came = False
    for _ in range(300):  # bounded: each round lets the tasks park, then jumps to the next wake-up
        await asyncio.sleep(0.005)
        if not d.tasks():
            break
        wake = clock.next_wake()
        if wake is None:
            continue
        if not came and wake >= answered_at + timedelta(seconds=comes_after):
            clock.advance_to(answered_at + timedelta(seconds=comes_after))
            await people_of(store).set_presence("petrov", PresenceState.READY, clock.now(), by="petrov")
            came = True
            continue
        clock.advance_to(wake)
    await d.wait_idle()
    rows = {c.agent or "": c for c in await calls(store)}
    assert rows["ivanova"].status is CallStatus.ANSWERED
    if comes_after < 2.0:
        assert rows["petrov"].status is CallStatus.ANSWERED and "" not in rows
    else:
        gone = rows[""]
        assert gone.status is CallStatus.ABANDONED and gone.answered_at == answered_at
        assert gone.ended_at == answered_at + timedelta(seconds=2)  # abandon_after, to the poll
