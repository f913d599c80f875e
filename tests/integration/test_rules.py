"""The rules across campaigns and over time (issue 9, items 1-4 and 7), on a real store:
re-imports keep progress, caps count every campaign's contacts, lifecycle periods come
from the campaign working the client's new stage, one disposition per call (corrections
are audited), no agreed moment in the past."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer import calendar
from dialer.config.models import Caps, DialerConfig, Lifecycle
from dialer.dispatcher import Dispatcher
from dialer.dispositions import NEXT_OPENING, DispositionRefused, dispose
from dialer.domain import CallStatus, ClientRecord, ClientState, Disposition, Stage
from dialer.lifecycle import allowed_dispositions, apply_disposition
from dialer.model import QueuedClient
from dialer.store.base import Store
from dialer.store.sqlite import SqliteStore
from tests.support.caps import cap_breaches
from tests.support.clocks import FixedClock
from tests.support.dispatch import MORNING, client, load, run_step
from tests.support.talking import Talking, always, answered, by_campaign, get, only_call

D = Disposition
MOSCOW = ZoneInfo("Europe/Moscow")


def tuned(config: DialerConfig, **campaigns: dict[str, Any]) -> DialerConfig:
    """The example config with some campaigns' settings replaced (lifecycle, caps)."""
    return config.model_copy(
        update={"campaigns": [c.model_copy(update=campaigns.get(c.name, {})) for c in config.campaigns]}
    )


def no_caps() -> Caps:
    return Caps()


def local_midnight_after(instant: datetime, zone: ZoneInfo = MOSCOW) -> datetime:
    day = instant.astimezone(zone).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


# ---------------------------------------------------------------- item 2: caps across campaigns


async def test_hot_does_not_talk_again_the_day_cold_talked(store: SqliteStore, config: DialerConfig) -> None:
    # cold has no caps at all; warm allows one conversation a day and follows up in an hour.
    cfg = tuned(
        config,
        cold={"caps": no_caps()},
        warm={"lifecycle": Lifecycle(hot_followup=timedelta(hours=1)), "caps": Caps(per_day=1)},
    )
    clock = FixedClock(MORNING)
    provider = Talking(clock, by_campaign(cold=D.INTERESTED, warm=D.NO_NEED))
    await load(store, cfg, [client(1)], MORNING)
    d = Dispatcher(store, {"simulated": provider}, cfg, clock)
    await run_step(d)
    hot = await get(store, "c1")
    assert hot.state.stage is Stage.HOT and hot.campaign == "warm"
    # warm's cap counts cold's conversation: not again today, first thing tomorrow.
    tomorrow = local_midnight_after(MORNING)
    assert hot.cap_until == tomorrow and hot.next_dial_at is not None and hot.next_dial_at >= tomorrow
    for hours in (1, 2, 5, 8):
        clock.set(MORNING + timedelta(hours=hours))
        await run_step(d)
    assert [r.campaign for r in provider.requests] == ["cold"]
    clock.set(MORNING + timedelta(days=1))
    await run_step(d)
    assert [r.campaign for r in provider.requests] == ["cold", "warm"]


async def test_claim_time_cap_counts_every_campaigns_calls(store: SqliteStore, config: DialerConfig) -> None:
    """The stored cap_until was computed under cold's caps (none); the CRM then moves
    the client to hot, due now: warm's caps are counted again when it claims."""
    cfg = tuned(config, cold={"caps": no_caps()}, warm={"caps": Caps(per_day=1)})
    clock = FixedClock(MORNING)
    provider = Talking(clock, always(disposition=D.NO_NEED))
    await load(store, cfg, [client(1, stage=Stage.PROSPECT)], MORNING)
    d = Dispatcher(store, {"simulated": provider}, cfg, clock)
    await run_step(d)
    assert (await get(store, "c1")).cap_until is None
    later = MORNING + timedelta(hours=1)
    clock.set(later)
    await load(store, cfg, [client(1, stage=Stage.HOT, next_contact=later)], later)
    moved = await get(store, "c1")
    assert moved.campaign == "warm" and moved.next_dial_at == later
    await run_step(d)
    assert len(provider.requests) == 1
    capped = await get(store, "c1")
    tomorrow = local_midnight_after(MORNING)
    assert capped.cap_until == tomorrow and capped.next_dial_at is not None and capped.next_dial_at >= tomorrow
    assert capped.lease_owner is None and "contact cap" in (capped.schedule_reason or "")


MINUTES = Lifecycle(
    no_need_recontact=timedelta(minutes=30), refused_recontact=timedelta(minutes=40),
    hot_followup=timedelta(minutes=10), hot_calls_before_decision=2, meeting_followup=timedelta(minutes=15),
    checkin=timedelta(minutes=20), complaint_followup=timedelta(minutes=10),
    terminated_cooldown=timedelta(minutes=30), awaiting_disposition=timedelta(minutes=30),
)  # fmt: skip
OUTCOMES = [(CallStatus.ANSWERED, d) for d in Disposition if d not in (D.DO_NOT_CALL, D.WRONG_NUMBER)] + [
    (CallStatus.ANSWERED, None), (CallStatus.BUSY, None), (CallStatus.NO_ANSWER, None),
]  # fmt: skip


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    script=st.lists(st.sampled_from(OUTCOMES), min_size=1, max_size=40),
    stages=st.lists(st.sampled_from([Stage.PROSPECT, Stage.HOT, Stage.CUSTOMER]), min_size=1, max_size=4),
    zones=st.lists(st.sampled_from(["Europe/Moscow", "Asia/Yekaterinburg", "Europe/Kaliningrad"]), min_size=4,
                   max_size=4),
    cold_caps=st.sampled_from([Caps(), Caps(per_day=3, count="attempts"), Caps(per_day=2)]),
)  # fmt: skip
def test_no_campaign_exceeds_its_caps_whoever_made_the_contacts(
    config: DialerConfig, script: list[tuple[CallStatus, Disposition | None]], stages: list[Stage],
    zones: list[str], cold_caps: Caps,
) -> None:  # fmt: skip
    """Property: clients moving between campaigns within minutes (every period is
    minutes long) over two working days: no call is ever made while the calling
    campaign's caps, counted over all of the client's calls, are reached."""
    cfg = tuned(
        config,
        cold={"lifecycle": MINUTES, "caps": cold_caps},
        warm={"lifecycle": MINUTES, "caps": Caps(per_day=1, per_week=2)},
        care={"lifecycle": MINUTES, "caps": Caps(per_day=1)},
    )
    outcomes = iter(script * 1000)

    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStore(Path(tmp) / "p.db")
            await store.open()
            await store.migrate()
            try:
                clock = FixedClock(MORNING)
                provider = Talking(clock, lambda _r: next(outcomes))
                records = [client(i, stage=s, timezone=zones[i]) for i, s in enumerate(stages)]
                await load(store, cfg, records, MORNING)
                d = Dispatcher(store, {"simulated": provider}, cfg, clock)
                end = MORNING + timedelta(days=2)
                for _ in range(400):  # bounded: each round dials or jumps to the next due client
                    await run_step(d)
                    nxt = await store.next_dial_after(clock.now())
                    if nxt is None or nxt >= end:
                        break
                    clock.set(max(nxt, clock.now() + timedelta(seconds=30)))
                calls = await store.calls_between(MORNING - timedelta(days=1), end + timedelta(days=1))
                assert len(calls) >= 1
                assert cap_breaches(calls, cfg) == []
            finally:
                await store.close()

    asyncio.run(scenario())


# ---------------------------------------------------------------- item 3: periods of the campaign working the new stage

COLD_PERIODS = Lifecycle(checkin=timedelta(days=5), hot_followup=timedelta(days=9))
CARE_PERIODS = Lifecycle(checkin=timedelta(days=30))
WARM_PERIODS = Lifecycle(hot_followup=timedelta(days=2))


def periods_config(config: DialerConfig) -> DialerConfig:
    return tuned(
        config,
        cold={"lifecycle": COLD_PERIODS, "caps": no_caps()},
        warm={"lifecycle": WARM_PERIODS},
        care={"lifecycle": CARE_PERIODS},
    )


@pytest.mark.parametrize(
    ("disposition", "stage", "campaign", "period"),
    [
        (D.CONTRACT_SIGNED, Stage.CUSTOMER, "care", CARE_PERIODS.checkin),
        (D.INTERESTED, Stage.HOT, "warm", WARM_PERIODS.hot_followup),
    ],
)
async def test_periods_come_from_the_campaign_working_the_new_stage(
    store: SqliteStore, config: DialerConfig, disposition: Disposition, stage: Stage, campaign: str,
    period: timedelta,
) -> None:  # fmt: skip
    cfg = periods_config(config)
    clock = FixedClock(MORNING)
    # With the call's result (the provider's agent) ...
    await load(store, cfg, [client(1), client(2)], MORNING)
    script = {"+79120000001": disposition, "+79120000002": None}
    d = Dispatcher(store, {"simulated": Talking(clock, lambda r: (CallStatus.ANSWERED, script[r.number]))}, cfg, clock)
    await run_step(d)
    c1 = await get(store, "c1")
    assert c1.state.stage is stage and c1.campaign == campaign and c1.due_at == MORNING + period
    # ... and recorded later by an agent.
    later = MORNING + timedelta(minutes=20)
    clock.set(later)
    await dispose(d, (await only_call(store, "c2")).call_id, disposition)
    c2 = await get(store, "c2")
    assert c2.state.stage is stage and c2.campaign == campaign and c2.due_at == later + period


# ---------------------------------------------------------------- item 4: one disposition per call


async def test_a_second_disposition_is_refused_and_changes_nothing(store: SqliteStore, config: DialerConfig) -> None:
    d = await answered(store, config)
    call = await only_call(store, "c1")
    await dispose(d, call.call_id, D.INTERESTED)
    hot = await get(store, "c1")
    assert hot.state.stage is Stage.HOT and hot.state.hot_calls == 1
    events = await store.events_for("c1")
    for second in (D.INTERESTED, D.CONTRACT_SIGNED):
        with pytest.raises(DispositionRefused, match="already has a disposition .interested.*--replace") as refused:
            await dispose(d, call.call_id, second)
        assert refused.value.kind == "already_disposed"
    assert await get(store, "c1") == hot
    assert await store.events_for("c1") == events
    assert (await store.get_call(call.call_id)).disposition is D.INTERESTED  # type: ignore[union-attr]


async def test_a_correction_reapplies_from_before_the_first_and_is_audited(
    store: SqliteStore, config: DialerConfig
) -> None:
    d = await answered(store, config)
    call = await only_call(store, "c1")
    waiting = (await get(store, "c1")).state
    await dispose(d, call.call_id, D.CONTRACT_SIGNED, note="signed")
    assert (await get(store, "c1")).state.stage is Stage.CUSTOMER
    with pytest.raises(DispositionRefused):
        await dispose(d, call.call_id, D.INTERESTED)
    assert (await store.get_call(call.call_id)).disposition is D.CONTRACT_SIGNED  # type: ignore[union-attr]

    done = await dispose(d, call.call_id, D.INTERESTED, note="misclicked", by="volkova", replace=True)
    assert done.replaced is D.CONTRACT_SIGNED
    fixed = await get(store, "c1")
    expected = apply_disposition(waiting, D.INTERESTED, config.campaign("cold").lifecycle, d.clock.now(),
                                 periods=d.placement.periods_for(fixed, config.campaign("cold")))  # fmt: skip
    assert fixed.state == expected.state and fixed.state.hot_calls == 1 and fixed.campaign == "warm"
    row = await store.get_call(call.call_id)
    assert row is not None and row.disposition is D.INTERESTED and row.state_before == waiting
    last = (await store.events_for("c1"))[0]
    assert last.data["by"] == "volkova" and last.data["replaces"]["disposition"] == "contract_signed"
    assert last.data["replaces"]["note"] == "signed" and last.at == d.clock.now()
    assert last.from_stage == "customer" and last.to_stage == "hot"


async def test_replace_needs_a_disposition_and_the_latest_call(store: SqliteStore, config: DialerConfig) -> None:
    cfg = tuned(config, cold={"caps": no_caps(), "lifecycle": MINUTES})
    d = await answered(store, cfg)
    first = await only_call(store, "c1")
    with pytest.raises(DispositionRefused, match="no disposition to replace"):
        await dispose(d, first.call_id, D.NO_NEED, replace=True)
    await dispose(d, first.call_id, D.NO_NEED)  # prospect again in 30 min
    clock: FixedClock = d.clock  # type: ignore[assignment]
    clock.set(MORNING + timedelta(hours=1))
    await run_step(d)
    assert len(await store.client_calls("c1")) == 2
    with pytest.raises(DispositionRefused, match="not client c1's latest call") as refused:
        await dispose(d, first.call_id, D.INTERESTED, replace=True)
    assert refused.value.kind == "not_latest"


async def test_a_providers_disposition_counts_as_the_first(store: SqliteStore, config: DialerConfig) -> None:
    """The simulated provider delivers dispositions with the call's result."""
    d = await answered(store, config, always(disposition=D.INTERESTED))
    call = await only_call(store, "c1")
    assert call.disposition is D.INTERESTED and call.state_before == ClientState()
    with pytest.raises(DispositionRefused, match="already has a disposition"):
        await dispose(d, call.call_id, D.INTERESTED)
    assert (await get(store, "c1")).state.hot_calls == 1
    await dispose(d, call.call_id, D.NO_NEED, replace=True)
    c = await get(store, "c1")
    # From the state before the call (a fresh prospect): no need, still a prospect.
    assert c.state.stage is Stage.PROSPECT and c.state.hot_calls == 0
    assert c.due_at == d.clock.now() + config.campaign("cold").lifecycle.no_need_recontact


async def test_a_correction_never_lifts_do_not_call(store: SqliteStore, config: DialerConfig) -> None:
    d = await answered(store, config, n=2)
    one, two = await only_call(store, "c1"), await only_call(store, "c2")
    await dispose(d, one.call_id, D.DO_NOT_CALL)
    await dispose(d, two.call_id, D.NO_NEED)
    await load(store, config, [client(2, do_not_call=True)], d.clock.now())  # the CRM says so
    for call in (one, two):
        with pytest.raises(DispositionRefused, match="do-not-call") as refused:
            await dispose(d, call.call_id, D.INTERESTED, replace=True)
        assert refused.value.kind == "do_not_call"
    for cid in ("c1", "c2"):
        c = await get(store, cid)
        assert c.state.stage is Stage.DNC and c.next_dial_at is None


async def test_two_agents_at_once_record_one_disposition(any_store: Store, config: DialerConfig) -> None:
    d = await answered(any_store, config)
    call = await only_call(any_store, "c1")
    results = await asyncio.gather(
        dispose(d, call.call_id, D.INTERESTED, by="a"), dispose(d, call.call_id, D.NO_NEED, by="b"),
        return_exceptions=True,
    )  # fmt: skip
    refused = [r for r in results if isinstance(r, DispositionRefused)]
    assert len(refused) == 1, results
    row = await any_store.get_call(call.call_id)
    c = await get(any_store, "c1")
    assert row is not None and row.disposition in (D.INTERESTED, D.NO_NEED)
    assert c.state.stage is (Stage.HOT if row.disposition is D.INTERESTED else Stage.PROSPECT)
    assert c.state.hot_calls == (1 if row.disposition is D.INTERESTED else 0)
    assert len(await any_store.events_for("c1")) == 2  # the call's, and one disposition


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.tuples(st.sampled_from(list(Disposition)), st.booleans()), min_size=1, max_size=6))
def test_only_the_last_accepted_disposition_counts(config: DialerConfig, ops: list[tuple[Disposition, bool]]) -> None:
    """Property: whatever agents record and correct on one call, the client ends as if
    only the last accepted disposition had been applied, once, to its state before."""

    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStore(Path(tmp) / "p.db")
            await store.open()
            await store.migrate()
            try:
                d = await answered(store, config)
                call = await only_call(store, "c1")
                before = (await get(store, "c1")).state
                accepted: Disposition | None = None
                for disposition, replace in ops:
                    at = d.clock.now() + timedelta(days=1) if disposition.needs_time else None
                    # A correction needs a first one, and never lifts do-not-call.
                    ok = (accepted is None) != replace and not (replace and accepted is D.DO_NOT_CALL)
                    ok = ok and disposition in allowed_dispositions(before)  # only what fits the stage
                    try:
                        await dispose(d, call.call_id, disposition, at, replace=replace)
                    except DispositionRefused:
                        assert not ok
                        continue
                    assert ok
                    accepted = disposition
                c = await get(store, "c1")
                row = await store.get_call(call.call_id)
                assert row is not None and row.disposition is accepted
                if accepted is not None:
                    at = d.clock.now() + timedelta(days=1) if accepted.needs_time else None
                    cold = config.campaign("cold")
                    want = apply_disposition(before, accepted, cold.lifecycle, d.clock.now(), at,
                                             periods=d.placement.periods_for(c, cold))  # fmt: skip
                    assert c.state == want.state and c.due_at == want.due_at
                else:
                    assert c.state == before
            finally:
                await store.close()

    asyncio.run(scenario())


# ---------------------------------------------------------------- item 7: no agreed moment in the past


async def test_an_agreed_moment_in_the_past_is_refused(store: SqliteStore, config: DialerConfig) -> None:
    d = await answered(store, config)
    call = await only_call(store, "c1")
    before = await get(store, "c1")
    events = await store.events_for("c1")
    now = d.clock.now()
    for disposition in (D.CALLBACK, D.MEETING_SET, D.INTERESTED):
        with pytest.raises(DispositionRefused, match="in the past") as refused:
            await dispose(d, call.call_id, disposition, now - timedelta(minutes=1))
        assert refused.value.kind == "in_past" and "\n" not in str(refused.value)
    assert await get(store, "c1") == before and await store.events_for("c1") == events
    assert (await store.get_call(call.call_id)).disposition is None  # type: ignore[union-attr]
    await dispose(d, call.call_id, D.CALLBACK, now)  # "now" itself is not the past


async def test_at_now_takes_the_clients_next_opening(store: SqliteStore, config: DialerConfig) -> None:
    d = await answered(store, config)
    call = await only_call(store, "c1")
    evening = datetime(2026, 12, 1, 19, 30, tzinfo=MOSCOW)  # the office and cold's window are closed
    clock: FixedClock = d.clock  # type: ignore[assignment]
    clock.set(evening)
    done = await dispose(d, call.call_id, D.CALLBACK, NEXT_OPENING)
    rules = d.scheduler.rules(config.campaign("cold"), "Europe/Moscow", None)
    found = calendar.next_open(rules, evening)
    assert found is not None and done.at == found[0] == datetime(2026, 12, 2, 9, 0, tzinfo=MOSCOW)
    assert done.at_next_opening
    c = await get(store, "c1")
    assert c.state.callback_at == done.at and c.next_dial_at == done.at and c.due_at == done.at
    last = (await store.events_for("c1"))[0]
    assert last.data["at_next_opening"] is True


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    offset=st.timedeltas(min_value=timedelta(days=-30), max_value=timedelta(days=30)),
    disposition=st.sampled_from([D.CALLBACK, D.MEETING_SET, D.INTERESTED, D.COMPLAINT]),
)
def test_an_agreed_moment_is_accepted_exactly_when_not_past(
    config: DialerConfig, offset: timedelta, disposition: Disposition
) -> None:
    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStore(Path(tmp) / "p.db")
            await store.open()
            await store.migrate()
            try:
                d = await answered(store, config)
                call = await only_call(store, "c1")
                at = d.clock.now() + offset
                try:
                    done = await dispose(d, call.call_id, disposition, at)
                except DispositionRefused as exc:
                    if exc.kind == "outside_window":  # a future moment the client cannot be called at
                        assert offset >= timedelta(0) and "the next opening is" in str(exc)
                    else:
                        assert offset < timedelta(0) and exc.kind == "in_past"
                    assert (await store.get_call(call.call_id)).disposition is None  # type: ignore[union-attr]
                    return
                assert offset >= timedelta(0) and done.at == at
                c = await get(store, "c1")
                # (The queue keeps whole seconds.)
                assert c.next_dial_at is None or c.next_dial_at >= at.replace(microsecond=0)
            finally:
                await store.close()

    asyncio.run(scenario())


# ---------------------------------------------------------------- item 1: re-import keeps progress

STAGE_CELLS = st.sampled_from([None, Stage.PROSPECT, Stage.HOT, Stage.CUSTOMER])


def progress_view(c: QueuedClient) -> tuple[object, ...]:
    return (c.state, c.due_at, c.next_dial_at, c.window_closes_at, c.cap_until, c.campaign, c.priority)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cells=st.lists(
        st.tuples(STAGE_CELLS, st.sampled_from([None, -60, 0, 30, 60 * 24 * 3]), st.sampled_from([None, False, True])),
        min_size=1, max_size=6,
    ),
    script=st.lists(st.sampled_from(OUTCOMES), min_size=1, max_size=10),
    edits=st.lists(st.tuples(st.integers(0, 5), STAGE_CELLS.filter(lambda s: s is not None)), max_size=3),
)  # fmt: skip
def test_reimporting_the_same_list_never_undoes_progress(
    config: DialerConfig, cells: list[tuple[Stage | None, int | None, bool | None]],
    script: list[tuple[CallStatus, Disposition | None]], edits: list[tuple[int, Stage]],
) -> None:  # fmt: skip
    """Property: import a list, let the dialer work it for a while, import the same list
    again: no client's queue state moves. Then the CRM changes some rows' stage: those
    clients (unless do-not-call) take it, no other client moves."""
    cfg = tuned(config, cold={"lifecycle": MINUTES}, warm={"lifecycle": MINUTES}, care={"lifecycle": MINUTES})
    outcomes = iter(script * 1000)

    def records(stages: dict[int, Stage | None] | None = None) -> list[ClientRecord]:
        out = []
        for i, (stage, minutes, complaint) in enumerate(cells):
            when = None if minutes is None else MORNING + timedelta(minutes=minutes)
            out.append(client(i, stage=(stages or {}).get(i, stage), next_contact=when, complaint=complaint))
        return out

    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStore(Path(tmp) / "p.db")
            await store.open()
            await store.migrate()
            try:
                clock = FixedClock(MORNING)
                await load(store, cfg, records(), MORNING)
                d = Dispatcher(store, {"simulated": Talking(clock, lambda _r: next(outcomes))}, cfg, clock)
                for _ in range(6):
                    await run_step(d)
                    clock.set(clock.now() + timedelta(minutes=37))
                await run_step(d)  # housekeeping settles windows that passed meanwhile
                before = {c.id: progress_view(c) for c in [await get(store, r.id) for r in records()]}

                await load(store, cfg, records(), clock.now())
                after = {c.id: progress_view(c) for c in [await get(store, r.id) for r in records()]}
                assert after == before

                changed = {i % len(cells): stage for i, stage in edits}
                said = {i: cells[i][0] for i in changed}
                await load(store, cfg, records(changed), clock.now())
                for i, r in enumerate(records()):
                    c = await get(store, r.id)
                    old_stage = before[r.id][0].stage  # type: ignore[attr-defined]
                    if i in changed and changed[i] != said[i] and old_stage is not Stage.DNC:
                        assert c.state.stage is changed[i]
                    elif i in changed:
                        assert c.state.stage is old_stage
                    else:
                        assert progress_view(c) == before[r.id]
            finally:
                await store.close()

    asyncio.run(scenario())
