"""The dispatcher against a real SQLite file and a scripted provider."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer.config.models import DialerConfig
from dialer.dispatcher import Dispatcher
from dialer.dispositions import dispose
from dialer.domain import CallStatus, Disposition, Stage
from dialer.store.sqlite import SqliteStore
from providers.base import CallResult, ProviderError
from tests.support.clocks import FixedClock
from tests.support.dispatch import MORNING, ScriptedProvider, client, load, run_step
from tests.support.window_property import ZONES, dials_only_inside_windows


async def test_complaints_and_hot_go_first(store: SqliteStore, config: DialerConfig) -> None:
    clock = FixedClock(MORNING)
    provider = ScriptedProvider(clock)
    # One line per campaign makes the order visible.
    one_line = config.model_copy(
        update={"campaigns": [c.model_copy(update={"lines": 1, "agents": c.agents[:1]}) for c in config.campaigns]}
    )
    await load(
        store, one_line,
        [client(1), client(2, stage=Stage.CUSTOMER), client(3, stage=Stage.CUSTOMER, complaint=True),
         client(4, stage=Stage.HOT)],
        MORNING,
    )  # fmt: skip
    d = Dispatcher(store, {"simulated": provider}, one_line, clock)
    await run_step(d)
    dialed = [r.context["client_id"] for _, r in provider.requests]
    assert set(dialed) == {"c1", "c3", "c4"}  # one per campaign; the complaint beats the check-in
    assert "c2" not in dialed


async def test_dnc_and_closed_windows_are_never_dialed(store: SqliteStore, config: DialerConfig) -> None:
    clock = FixedClock(MORNING)
    provider = ScriptedProvider(clock)
    await load(
        store, config,
        [client(1, do_not_call=True), client(2, timezone="Asia/Kamchatka"),  # 19:00 there: office closed
         client(3, timezone="Europe/Kaliningrad")],  # 09:00 there: open
        MORNING,
    )  # fmt: skip
    d = Dispatcher(store, {"simulated": provider}, config, clock)
    await run_step(d)
    assert [r.context["client_id"] for _, r in provider.requests] == ["c3"]
    why = await store.get_client("c1")
    assert why is not None and why.next_dial_at is None and "do-not-call" in (why.schedule_reason or "")


async def test_busy_retries_after_delay_inside_window(store: SqliteStore, config: DialerConfig) -> None:
    clock = FixedClock(MORNING)
    provider = ScriptedProvider(clock, {"+79120000001": CallStatus.BUSY})
    await load(store, config, [client(1)], MORNING)
    d = Dispatcher(store, {"simulated": provider}, config, clock)
    await run_step(d)
    c = await store.get_client("c1")
    assert c is not None and c.state.attempts_today == 1
    assert c.next_dial_at == MORNING + config.campaign("cold").retry.busy.delay
    calls = await store.client_calls("c1")
    assert calls[0].status is CallStatus.BUSY and calls[0].provider_call_id == f"P-{calls[0].call_id}"
    assert calls[0].allowed_by  # the audit trail names the windows


async def test_provider_error_is_recorded_and_client_kept(store: SqliteStore, config: DialerConfig) -> None:
    clock = FixedClock(MORNING)
    provider = ScriptedProvider(
        clock, {"+79120000001": ProviderError("trunk down"), "+79120000002": RuntimeError("bug")}
    )
    await load(store, config, [client(1), client(2)], MORNING)
    d = Dispatcher(store, {"simulated": provider}, config, clock)
    await run_step(d)
    for cid in ("c1", "c2"):
        [call] = await store.client_calls(cid)
        assert call.status is CallStatus.FAILED and call.error
        c = await store.get_client(cid)
        assert c is not None and c.next_dial_at is not None and c.lease_owner is None


async def test_answered_without_disposition_then_dispose(store: SqliteStore, config: DialerConfig) -> None:
    clock = FixedClock(MORNING)
    provider = ScriptedProvider(clock)
    await load(store, config, [client(1)], MORNING)
    d = Dispatcher(store, {"simulated": provider}, config, clock)
    await run_step(d)
    [call] = await store.client_calls("c1")
    c = await store.get_client("c1")
    assert c is not None and c.state.awaiting_disposition
    agreed = MORNING + timedelta(days=2)
    await dispose(d, call.call_id, Disposition.INTERESTED, agreed, note="wants a price list")
    c = await store.get_client("c1")
    assert c is not None and c.state.stage is Stage.HOT and c.campaign == "warm"
    assert c.next_dial_at is not None and c.next_dial_at >= agreed
    call2 = await store.get_call(call.call_id)
    assert call2 is not None and call2.disposition is Disposition.INTERESTED and call2.note == "wants a price list"
    with pytest.raises(ValueError):
        busy = await store.client_calls("c1")
        await dispose(d, busy[0].call_id, Disposition.CALLBACK)  # callback needs a time


async def test_drain_records_calls_still_running(store: SqliteStore, config: DialerConfig) -> None:
    clock = FixedClock(MORNING)
    provider = ScriptedProvider(clock)
    provider.hold = asyncio.Event()  # calls never end by themselves
    await load(store, config, [client(1), client(2)], MORNING)
    d = Dispatcher(store, {"simulated": provider}, config, clock)
    await d.step()
    assert d.in_flight == 2
    assert await d.drain(timeout=0.2) is False
    await d.wait_idle()
    for cid in ("c1", "c2"):
        [call] = await store.client_calls(cid)
        assert call.status is CallStatus.CANCELED
        c = await store.get_client(cid)
        assert c is not None and c.lease_owner is None and c.next_dial_at is not None


async def worker_dies_mid_call(
    store: SqliteStore, config: DialerConfig, clock: FixedClock
) -> tuple[Dispatcher, ScriptedProvider]:
    """A worker starts a call that never reports back; an hour later its lease is gone."""
    dead = ScriptedProvider(clock)
    dead.hold = asyncio.Event()
    await load(store, config, [client(1)], MORNING)
    d1 = Dispatcher(store, {"simulated": dead}, config, clock, owner="dead")
    await d1.step()
    await asyncio.sleep(0.05)
    clock.set(MORNING + timedelta(hours=1))
    return d1, dead


async def test_orphan_from_dead_worker_is_reconciled_before_redial(store: SqliteStore, config: DialerConfig) -> None:
    clock = FixedClock(MORNING)
    d1, dead = await worker_dies_mid_call(store, config, clock)
    fresh = ScriptedProvider(clock)

    async def fetch(pcid: str) -> CallResult:
        return CallResult(CallStatus.ANSWERED, MORNING, MORNING + timedelta(minutes=4), pcid, MORNING, 5, 235)

    fresh.fetch = fetch  # type: ignore[method-assign]
    d2 = Dispatcher(store, {"simulated": fresh}, config, clock, owner="alive")
    await run_step(d2)
    calls = await store.client_calls("c1")
    assert calls[-1].status is CallStatus.ANSWERED and calls[-1].talk_s == 235  # from the provider, not a guess
    assert d2.metrics.rescues == 1
    assert fresh.requests == []  # answered a moment ago: not redialed in the same step
    # The presumed-dead worker comes back: its late result must not overwrite the newer one.
    dead.hold.set()
    await d1.wait_idle()
    assert d1.metrics.lease_lost == 1
    calls = await store.client_calls("c1")
    assert len(calls) == 1 and calls[0].status is CallStatus.ANSWERED


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    instant=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
    zones=st.lists(st.sampled_from(ZONES), min_size=1, max_size=8),
    dnc=st.lists(st.booleans(), min_size=8, max_size=8),
    schedules=st.lists(st.sampled_from(["office", "shop", "home"]), min_size=8, max_size=8),
    stages=st.lists(st.sampled_from(list(Stage)[:3]), min_size=8, max_size=8),
)
def test_never_dials_outside_window_or_dnc(
    config: DialerConfig,
    instant: datetime,
    zones: list[str],
    dnc: list[bool],
    schedules: list[str],
    stages: list[Stage],
) -> None:
    """Property: whatever the clients and the moment, every call the dispatcher starts
    is inside the client's window and never to a do-not-call client."""

    dials_only_inside_windows(config, instant, (zones, dnc, schedules, stages), ScriptedProvider)


async def test_reconcile_waits_out_a_provider_blip(store: SqliteStore, config: DialerConfig) -> None:
    """A failing look-up never writes a guessed result at once; after a few tries it does."""
    from dialer.dispatcher import FETCH_RETRY, FETCH_TRIES

    clock = FixedClock(MORNING)
    d1, dead = await worker_dies_mid_call(store, config, clock)
    flaky = ScriptedProvider(clock)

    async def fetch(pcid: str) -> CallResult:
        raise ProviderError("connection reset")

    flaky.fetch = fetch  # type: ignore[method-assign]
    d2 = Dispatcher(store, {"simulated": flaky}, config, clock, owner="alive")
    for attempt in range(1, FETCH_TRIES + 1):
        await d2.reconcile_orphans(clock.now())
        [call] = await store.client_calls("c1")
        if attempt < FETCH_TRIES:
            assert call.status is CallStatus.DIALING
            # Given back meanwhile (it keeps its line), not looked at again before FETCH_RETRY.
            c = await store.get_client("c1")
            assert c is not None and c.lease_owner is None and c.open_call_id == call.call_id
            assert await d2.reconcile_orphans(clock.now()) == 0
        clock.set(clock.now() + FETCH_RETRY + timedelta(seconds=1))
    assert call.status is CallStatus.INTERRUPTED and "could not be asked" in (call.error or "")
    c = await store.get_client("c1")
    assert c is not None and c.state.attempts_total == 0 and c.open_call_id is None
    dead.hold.set()
    await d1.wait_idle()


class _CommitsThenDrops(SqliteStore):
    """A store whose connection drops right after the call row committed (the reply is lost)."""

    async def start_call(self, start):  # type: ignore[no-untyped-def]
        await super().start_call(start)
        raise ConnectionResetError("connection was closed in the middle of operation")


@pytest.mark.parametrize("lands", [True, False])
async def test_a_call_row_whose_write_was_cut_is_settled_not_left_dialing(
    tmp_path: Path, config: DialerConfig, lands: bool
) -> None:
    """The database went away during start_call: whether or not the row landed, nothing
    was dialed, no row stays `dialing`, and the client is dialed again later."""
    store: SqliteStore = _CommitsThenDrops(tmp_path / "d.db") if lands else SqliteStore(tmp_path / "d.db")
    if not lands:

        async def refused(start):  # type: ignore[no-untyped-def]
            raise ConnectionRefusedError("connect call failed")

        store.start_call = refused  # type: ignore[method-assign]
    await store.open()
    await store.migrate()
    try:
        clock = FixedClock(MORNING)
        provider = ScriptedProvider(clock)
        await load(store, config, [client(1)], MORNING)
        d = Dispatcher(store, {"simulated": provider}, config, clock)
        await run_step(d)
        assert provider.requests == []
        calls = await store.client_calls("c1")
        assert [c.status for c in calls] == ([CallStatus.CANCELED] if lands else [])
        c = await store.get_client("c1")
        assert c is not None and c.lease_owner is None and c.open_call_id is None and c.next_dial_at is not None
        assert c.state.attempts_total == 0, "not an attempt"
    finally:
        await store.close()
