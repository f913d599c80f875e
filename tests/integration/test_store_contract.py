"""The store contract: every Store implementation must pass these (SQLite file on disk
here; the PostgreSQL store joins the `any_store` fixture's params)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from dialer.domain import CallStatus, ClientRecord, ClientState, Stage
from dialer.model import CallStart, CallUpdate, ClientUpdate, DueGroup, Event, PlanCounts, Schedule
from dialer.store.base import LeaseLost, SchemaMismatch, Store, StoreError
from dialer.store.sqlfiles import Migration
from dialer.store.sqlite import SqliteStore
from tests.support.stores import STORES

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def rec(i: int | str, **kw: object) -> ClientRecord:
    base: dict[str, object] = dict(
        id=str(i), name=f"Client {i}", phone="+79120000000", timezone="Europe/Moscow", country="RU"
    )
    base.update(kw)
    return ClientRecord(**base)  # type: ignore[arg-type]


async def queue(store: Store, n: int, campaign: str = "cold", **kw: object) -> None:
    await store.upsert_clients([rec(i, **kw) for i in range(n)])
    clients = await store.clients_to_schedule(NOW, 1000)
    await store.set_schedules(
        [Schedule(c.id, NOW, NOW + timedelta(hours=1, minutes=int(c.id)), "test", campaign) for c in clients]
    )


def update(state: ClientState | None = None, next_dial: datetime | None = None) -> ClientUpdate:
    return ClientUpdate(
        state=state or ClientState(),
        due_at=next_dial,
        next_dial_at=next_dial,
        window_closes_at=next_dial + timedelta(hours=1) if next_dial else None,
        cap_until=None,
        priority=4,
        campaign="cold",
        reason="test",
    )


def start_for(claim_client_id: str, token: str, call_id: str = "call-1") -> CallStart:
    return CallStart(
        call_id=call_id, client_id=claim_client_id, campaign="cold", agent="a", phone="+79120000000",
        client_tz="Europe/Moscow", attempt=1, started_at=NOW, local_day=date(2026, 12, 1), allowed_by="test",
        provider="simulated", lease_token=token,
    )  # fmt: skip


async def test_migrate_is_idempotent(any_store: Store) -> None:
    v = await any_store.migrate()
    assert v >= 1
    assert await any_store.migrate() == v


async def test_reimport_updates_never_duplicates(any_store: Store) -> None:
    assert await any_store.upsert_clients([rec(1), rec(2)]) == (2, 0)
    assert await any_store.upsert_clients([rec(1, name="Renamed"), rec(3)]) == (1, 1)
    c = await any_store.get_client("1")
    assert c is not None and c.name == "Renamed"


async def test_get_clients_reads_the_listed_clients_at_once(any_store: Store) -> None:
    await any_store.upsert_clients([rec(1), rec(2, name="Second"), rec(3)])
    found = await any_store.get_clients(["2", "1", "missing", "2"])
    assert sorted(found) == ["1", "2"]
    assert found["2"] == await any_store.get_client("2")
    assert found["2"].name == "Second"
    assert await any_store.get_clients([]) == {}


async def test_empty_cells_keep_progress_and_dnc_is_sticky(any_store: Store) -> None:
    await any_store.upsert_clients([rec(1, stage=Stage.HOT, complaint=True)])
    await any_store.upsert_clients([rec(1)])  # re-import of a list with empty cells
    c = await any_store.get_client("1")
    assert c is not None and c.state.stage is Stage.HOT and c.state.complaint
    await any_store.upsert_clients([rec(1, do_not_call=True)])
    await any_store.upsert_clients([rec(1, do_not_call=False, stage=Stage.PROSPECT)])
    c = await any_store.get_client("1")
    assert c is not None and c.state.stage is Stage.DNC


async def test_claim_order_and_lease(any_store: Store) -> None:
    await queue(any_store, 5)
    claims = await any_store.claim("cold", NOW, 3, "w1", NOW + timedelta(minutes=5))
    # Same priority: the window that closes soonest first.
    assert [c.client.id for c in claims] == ["0", "1", "2"]
    assert all(c.lease_token for c in claims)
    again = await any_store.claim("cold", NOW, 10, "w2", NOW + timedelta(minutes=5))
    assert {c.client.id for c in again} == {"3", "4"}  # leased ones are not handed out twice
    # After the lease expires the client returns to the queue.
    later = NOW + timedelta(minutes=6)
    back = await any_store.claim("cold", later, 10, "w2", later + timedelta(minutes=5))
    assert {c.client.id for c in back} == {"0", "1", "2", "3", "4"}


async def test_claims_take_the_least_slack_first_below_priority(any_store: Store) -> None:
    """Within a class the smallest slack key first (least callable time left today),
    then the one due longest, then the id (bytewise in both stores); a class above
    beats any slack. The key is stored by every writer, or the window's close."""
    ids = ["a", "B", "c", "d", "e", "f"]
    await any_store.upsert_clients([rec(i) for i in ids])
    await any_store.clients_to_schedule(NOW, 10)
    hour = timedelta(hours=1)
    closes = NOW + 2 * hour
    await any_store.set_schedules(
        [
            Schedule("a", NOW, closes, "t", "cold", NOW + 9 * hour),  # a whole afternoon ahead
            Schedule("B", NOW, closes, "t", "cold", NOW + 3 * hour),  # nearly done for the day
            Schedule("c", NOW - hour, closes, "t", "cold", NOW + 3 * hour),  # same key, due longer
            Schedule("d", NOW, closes, "t", "cold", NOW + 3 * hour),  # same key and moment: by id
            Schedule("e", NOW, closes, "t", "cold"),  # no key: its window's close
            Schedule("f", NOW + hour, closes, "t", "cold", NOW + 4 * hour),  # not due yet
        ]
    )
    assert (await any_store.get_client("e")).slack_key == closes  # type: ignore[union-attr]
    assert (await any_store.get_client("a")).slack_key == NOW + 9 * hour  # type: ignore[union-attr]
    claims = await any_store.claim("cold", NOW, 10, "w", NOW + timedelta(minutes=5))
    assert [c.client.id for c in claims] == ["e", "c", "B", "d", "a"]
    assert [c.client.slack_key for c in claims][:2] == [closes, NOW + 3 * hour]
    # A due complaint goes before all of them, whatever its slack.
    for c in claims:
        await any_store.release(c, None)
    await any_store.upsert_clients([rec("z", complaint=True)])
    await any_store.clients_to_schedule(NOW, 10)
    await any_store.set_schedules([Schedule("z", NOW, closes, "t", "cold", NOW + 12 * hour)])
    first = await any_store.claim("cold", NOW, 2, "w", NOW + timedelta(minutes=5))
    assert [c.client.id for c in first] == ["z", "e"]
    # release (rescheduled) and outcomes store the key too.
    await any_store.release(first[1], Schedule("e", NOW, closes, "t", "cold", NOW + 5 * hour))
    assert (await any_store.get_client("e")).slack_key == NOW + 5 * hour  # type: ignore[union-attr]
    [claim] = await any_store.claim("cold", NOW, 1, "w", NOW + timedelta(minutes=5))
    assert claim.client.id == "c"
    await any_store.start_call(start_for("c", claim.lease_token))
    later = replace(update(next_dial=NOW + hour), slack_key=NOW + 7 * hour)
    await any_store.record_outcome(
        "call-1", "c", claim.lease_token, CallUpdate(status=CallStatus.BUSY), later, Event("t", "t"), NOW
    )
    assert (await any_store.get_client("c")).slack_key == NOW + 7 * hour  # type: ignore[union-attr]


async def test_plan_fits_the_forecast_per_group_in_call_order(any_store: Store) -> None:
    """Entries in claim order; in each due group the first k by id fit."""
    d = date(2026, 12, 1)
    hour = timedelta(hours=1)
    await any_store.upsert_clients(
        [rec(f"m{i}") for i in range(4)]
        + [rec(f"n{i}", timezone="Asia/Novosibirsk", schedule="office") for i in range(3)]
    )
    await any_store.clients_to_schedule(NOW, 10)
    await any_store.set_schedules(
        [Schedule(f"m{i}", NOW, NOW + hour, "t", "cold", NOW + 8 * hour) for i in range(4)]
        + [Schedule(f"n{i}", NOW, NOW + hour, "t", "cold", NOW + 2 * hour) for i in range(3)]
    )
    until = NOW + timedelta(days=1)
    groups = sorted(await any_store.due_groups("cold", until), key=lambda g: g.timezone)
    assert [(g.timezone, g.schedule, g.count, g.slack_key) for g in groups] == [
        ("Asia/Novosibirsk", "office", 3, NOW + 2 * hour),
        ("Europe/Moscow", None, 4, NOW + 8 * hour),
    ]
    fits = {groups[0].key: 1, groups[1].key: 2}
    assert await any_store.form_plan("cold", d, until, fits, NOW) == 7
    plan = await any_store.get_plan("cold", d)
    assert plan is not None and plan.capacity == 3 and plan.fits == 3 and plan.rolls_over == 4
    assert [(e.client_id, e.fits) for e in plan.entries] == [
        ("n0", True), ("n1", False), ("n2", False), ("m0", True), ("m1", True), ("m2", False), ("m3", False),
    ]  # fmt: skip
    assert await any_store.plan_position("cold", d, "m1") == (5, 7, True)


async def test_claim_skips_not_due_closed_and_capped(any_store: Store) -> None:
    await any_store.upsert_clients([rec(1), rec(2), rec(3)])
    await any_store.clients_to_schedule(NOW, 10)
    await any_store.set_schedules(
        [
            Schedule("1", NOW + timedelta(hours=1), NOW + timedelta(hours=2), "not due", "cold"),
            Schedule("2", NOW - timedelta(hours=2), NOW - timedelta(hours=1), "window passed", "cold"),
            Schedule("3", None, None, "never", "cold"),
        ]
    )
    assert await any_store.claim("cold", NOW, 10, "w", NOW + timedelta(minutes=5)) == []
    stale = await any_store.clients_to_schedule(NOW, 10)
    assert [c.id for c in stale] == ["2"]


async def test_outcome_is_one_transaction_guarded_by_lease(any_store: Store) -> None:
    await queue(any_store, 1)
    [claim] = await any_store.claim("cold", NOW, 1, "w1", NOW + timedelta(minutes=5))
    assert await any_store.start_call(start_for("0", claim.lease_token)) == 1
    assert (await any_store.get_call("call-1")).status is CallStatus.DIALING  # type: ignore[union-attr]
    with pytest.raises(LeaseLost):
        await any_store.record_outcome(
            "call-1", "0", "not-the-token", CallUpdate(CallStatus.BUSY), update(next_dial=NOW), Event("retry", "x"), NOW
        )
    call = await any_store.get_call("call-1")
    assert call is not None and call.status is CallStatus.DIALING  # nothing written
    assert await any_store.events_for("0") == []
    await any_store.record_outcome(
        "call-1", "0", claim.lease_token, CallUpdate(CallStatus.BUSY, ended_at=NOW),
        update(next_dial=NOW + timedelta(minutes=15)), Event("retry", "busy"), NOW,
    )  # fmt: skip
    call = await any_store.get_call("call-1")
    client = await any_store.get_client("0")
    events = await any_store.events_for("0")
    assert call is not None and call.status is CallStatus.BUSY
    assert client is not None and client.lease_owner is None and client.open_call_id is None
    assert client.next_dial_at == NOW + timedelta(minutes=15)
    assert [e.kind for e in events] == ["retry"]


async def test_orphaned_call_is_rescued_not_redialed(any_store: Store) -> None:
    await queue(any_store, 1)
    [claim] = await any_store.claim("cold", NOW, 1, "dead", NOW + timedelta(minutes=1))
    await any_store.start_call(start_for("0", claim.lease_token))
    await any_store.set_provider_call_id("call-1", "PROV-1")
    later = NOW + timedelta(minutes=2)
    # The lease expired, but a client with an open call is not claimable: reconcile first.
    assert await any_store.claim("cold", later, 10, "w2", later + timedelta(minutes=5)) == []
    [orphan] = await any_store.orphaned_calls(later, 10)
    assert orphan.call_id == "call-1" and orphan.provider_call_id == "PROV-1"
    rescue = await any_store.rescue("call-1", "w2", later, later + timedelta(minutes=5))
    assert rescue is not None
    assert await any_store.rescue("call-1", "w3", later, later + timedelta(minutes=5)) is None
    await any_store.record_outcome(
        "call-1",
        "0",
        rescue.lease_token,
        CallUpdate(CallStatus.NO_ANSWER),
        update(next_dial=later),
        Event("retry", "x"),
        later,
    )
    assert await any_store.orphaned_calls(later, 10) == []
    # The dead worker's late write loses.
    with pytest.raises(LeaseLost):
        await any_store.record_outcome(
            "call-1",
            "0",
            claim.lease_token,
            CallUpdate(CallStatus.ANSWERED),
            update(next_dial=later),
            Event("x", "x"),
            later,
        )


async def test_heartbeat_keeps_lease(any_store: Store) -> None:
    await queue(any_store, 1)
    await any_store.claim("cold", NOW, 1, "w1", NOW + timedelta(minutes=1))
    assert await any_store.heartbeat("w1", NOW + timedelta(minutes=10)) == 1
    later = NOW + timedelta(minutes=5)
    assert await any_store.claim("cold", later, 1, "w2", later + timedelta(minutes=1)) == []


async def test_heartbeat_records_the_worker_alive(any_store: Store) -> None:
    await queue(any_store, 2)
    await any_store.claim("cold", NOW, 1, "w1", NOW + timedelta(seconds=20))
    assert await any_store.worker_seen_at("w1") is None
    assert await any_store.heartbeat("w1", NOW + timedelta(seconds=40), NOW + timedelta(seconds=20)) == 1
    assert await any_store.worker_seen_at("w1") == NOW + timedelta(seconds=20)
    # A late heartbeat (sent earlier, committed later) never moves the last sign of life back,
    # nor shortens a lease.
    assert await any_store.heartbeat("w1", NOW + timedelta(seconds=30), NOW + timedelta(seconds=10)) == 0
    assert await any_store.worker_seen_at("w1") == NOW + timedelta(seconds=20)
    [c] = [c for c in [await any_store.get_client("0"), await any_store.get_client("1")] if c and c.lease_owner]
    assert c.lease_until == NOW + timedelta(seconds=40)
    assert await any_store.worker_seen_at("w2") is None


async def test_the_call_row_names_its_worker(any_store: Store) -> None:
    await queue(any_store, 1)
    [claim] = await any_store.claim("cold", NOW, 1, "w7", NOW + timedelta(seconds=20))
    await any_store.start_call(start_for("0", claim.lease_token))
    call = await any_store.get_call("call-1")
    assert call is not None and call.worker == "w7"


async def test_unsettled_calls_hold_their_lines(any_store: Store) -> None:
    """A dead worker's lease runs out after seconds: its claims free their lines then, but
    a call it left `dialing` keeps its line until it is reconciled, so no new call can
    overlap it on the same line."""
    await queue(any_store, 5)
    lease = NOW + timedelta(seconds=20)
    c1, c2 = await any_store.claim("cold", NOW, 2, "dead", lease, max_in_use=2)
    await any_store.start_call(start_for(c1.client.id, c1.lease_token))
    assert await any_store.lines_in_use("cold", NOW) == 2
    later = lease + timedelta(seconds=1)
    assert await any_store.lines_in_use("cold", later) == 1
    assert (await any_store.queue_stats("cold", later))["lines_in_use"] == 1
    [again] = await any_store.claim("cold", later, 5, "w2", later + timedelta(seconds=20), max_in_use=2)
    assert again.client.id not in (c1.client.id,)
    assert await any_store.claim("cold", later, 5, "w3", later + timedelta(seconds=20), max_in_use=2) == []
    # Reconciled: the line comes back.
    rescue = await any_store.rescue("call-1", "w2", later, later + timedelta(seconds=20))
    assert rescue is not None
    await any_store.record_outcome(
        "call-1", c1.client.id, rescue.lease_token, CallUpdate(CallStatus.INTERRUPTED), update(next_dial=later),
        Event("interrupted", "x"), later,
    )  # fmt: skip
    assert await any_store.lines_in_use("cold", later) == 1
    assert len(await any_store.claim("cold", later, 5, "w3", later + timedelta(seconds=20), max_in_use=2)) == 1


async def test_calls_the_dialer_cut_are_not_attempts(any_store: Store) -> None:
    await queue(any_store, 1)
    statuses = [CallStatus.BUSY, CallStatus.CANCELED, CallStatus.INTERRUPTED, CallStatus.ANSWERED]
    for n, status in enumerate(statuses, start=1):
        at = NOW + timedelta(minutes=n)
        [claim] = await any_store.claim("cold", at, 1, "w", at + timedelta(seconds=20))
        start = start_for("0", claim.lease_token, f"call-{n}")
        await any_store.start_call(CallStart(**{**start.__dict__, "started_at": at}))
        await any_store.record_outcome(
            f"call-{n}", "0", claim.lease_token, CallUpdate(status), update(next_dial=at), Event("x", "x"), at
        )
    since = NOW - timedelta(days=1)
    minutes = lambda ts: [int((t - NOW).total_seconds() // 60) for t in ts]  # noqa: E731
    assert minutes(await any_store.contact_times("0", since, False)) == [1, 4]
    assert minutes(await any_store.contact_times("0", since, True)) == [4]


async def test_daily_job_runs_once(any_store: Store) -> None:
    d = date(2026, 12, 1)
    assert await any_store.try_start_job("plan", "cold", d, "w1", NOW)
    assert not await any_store.try_start_job("plan", "cold", d, "w2", NOW)
    assert await any_store.try_start_job("plan", "cold", d + timedelta(days=1), "w2", NOW)
    assert await any_store.try_start_job("report", "cold", d, "w2", NOW)


async def test_plan_is_formed_in_call_order(any_store: Store) -> None:
    d = date(2026, 12, 1)
    await queue(any_store, 5)
    await any_store.upsert_clients([rec("late")])
    await any_store.clients_to_schedule(NOW, 10)
    await any_store.set_schedules(
        [Schedule("late", NOW + timedelta(days=3), NOW + timedelta(days=3, hours=1), "t", "cold")]
    )
    until = NOW + timedelta(days=1)
    assert await any_store.count_due("cold", until) == 5
    # One group (same zone, schedule, class, dial moment); no slack key was given, so
    # each stored key is its window's close.
    assert await any_store.due_groups("cold", until) == [
        DueGroup("Europe/Moscow", None, 4, NOW, NOW + timedelta(hours=1), NOW + timedelta(hours=1), 5)
    ]
    key = ("Europe/Moscow", None, 4, NOW)
    assert await any_store.form_plan("cold", d, until, {key: 3}, NOW) == 5
    assert await any_store.form_plan("cold", d, until, {key: 3}, NOW) == 5  # re-forming replaces
    plan = await any_store.get_plan("cold", d)
    assert plan is not None and plan.due == 5 and plan.fits == 3 and plan.rolls_over == 2
    assert [e.client_id for e in plan.entries] == ["0", "1", "2", "3", "4"]
    assert [e.fits for e in plan.entries] == [True, True, True, False, False]
    assert len((await any_store.get_plan("cold", d, limit=2)).entries) == 2  # type: ignore[union-attr]
    assert await any_store.plan_position("cold", d, "3") == (4, 5, False)
    assert await any_store.plan_position("cold", d, "late") is None
    assert await any_store.get_plan("warm", d) is None
    # Rolled over = planned but not dialed that day.
    [claim] = await any_store.claim("cold", NOW, 1, "w", NOW + timedelta(minutes=5))
    await any_store.start_call(start_for(claim.client.id, claim.lease_token))
    start, end = NOW - timedelta(hours=8), NOW + timedelta(hours=16)
    assert await any_store.plan_counts("cold", d, start, end, end) == PlanCounts(5, 1, 4)
    assert await any_store.plan_counts("warm", d, NOW, NOW, NOW) is None


async def test_mid_day_only_clients_gone_for_the_day_are_rolled_over(any_store: Store) -> None:
    """Rolled over = planned, not dialed, and not dialable again that day. Mid-day a
    client still waiting for today's window is not rolled over; at the day's end every
    undialed one is."""
    d = date(2026, 12, 1)
    start, end = NOW - timedelta(hours=8), NOW + timedelta(hours=16)
    await queue(any_store, 4)
    everyone = {g.key: g.count for g in await any_store.due_groups("cold", end)}
    assert await any_store.form_plan("cold", d, end, everyone, NOW) == 4
    [claim] = await any_store.claim("cold", NOW, 1, "w", NOW + timedelta(minutes=5))
    await any_store.start_call(start_for(claim.client.id, claim.lease_token))
    # Client 1: its windows today closed, the next one is tomorrow. Client 2: reopens
    # after lunch today. Client 3: left the queue (no next dial moment).
    await any_store.set_schedules([
        Schedule("1", end + timedelta(hours=9), end + timedelta(hours=17), "tomorrow", "cold"),
        Schedule("2", NOW + timedelta(hours=3), NOW + timedelta(hours=7), "after lunch", "cold"),
        Schedule("3", None, None, "dnc", "cold"),
    ])  # fmt: skip
    assert await any_store.plan_counts("cold", d, start, end, NOW + timedelta(hours=1)) == PlanCounts(4, 1, 2)
    assert await any_store.plan_counts("cold", d, start, end, end) == PlanCounts(4, 1, 3)
    assert await any_store.plan_counts("cold", d, start, end, end + timedelta(days=3)) == PlanCounts(4, 1, 3)


async def test_next_dial_after_per_campaign(any_store: Store) -> None:
    await any_store.upsert_clients([rec("a"), rec("b"), rec("c")])
    await any_store.clients_to_schedule(NOW, 10)
    await any_store.set_schedules([
        Schedule("a", NOW - timedelta(hours=1), NOW + timedelta(hours=1), "t", "cold"),
        Schedule("b", NOW + timedelta(hours=5), NOW + timedelta(hours=6), "t", "cold"),
        Schedule("c", NOW + timedelta(hours=2), NOW + timedelta(hours=3), "t", "warm"),
    ])  # fmt: skip
    assert await any_store.next_dial_after(NOW, "cold") == NOW + timedelta(hours=5)  # never a past one
    assert await any_store.next_dial_after(NOW, "warm") == NOW + timedelta(hours=2)
    assert await any_store.next_dial_after(NOW) == NOW + timedelta(hours=2)
    assert await any_store.next_dial_after(NOW, "care") is None


async def test_schema_version_is_checked_not_changed(any_store: Store) -> None:
    known = any_store.known_schema_version
    assert await any_store.schema_version() == known
    assert await any_store.check_schema() == known


async def test_a_newer_schema_is_refused_by_migrate_and_check(any_store: Store) -> None:
    await _set_schema_version(any_store, any_store.known_schema_version + 1)
    with pytest.raises(SchemaMismatch, match="newer than this dialer knows"):
        await any_store.migrate()
    with pytest.raises(SchemaMismatch, match="newer"):
        await any_store.check_schema()
    assert await any_store.schema_version() == any_store.known_schema_version + 1  # untouched
    await _set_schema_version(any_store, any_store.known_schema_version - 1)
    with pytest.raises(SchemaMismatch, match="older than this dialer's.*dialer migrate"):
        await any_store.check_schema()


async def _set_schema_version(store: Store, version: int) -> None:
    # The test reaches into the database on purpose: no store method may do this.
    if isinstance(store, SqliteStore):
        await store.db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(version),))
    else:
        await store.pool.execute("UPDATE meta SET value=$1 WHERE key='schema_version'", str(version))  # type: ignore[attr-defined]


async def test_a_fresh_database_has_no_schema(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "fresh.db")
    await s.open()
    try:
        assert await s.schema_version() == 0
        with pytest.raises(SchemaMismatch, match="no dialer schema.*dialer migrate"):
            await s.check_schema()
    finally:
        await s.close()


async def test_opening_without_create_never_creates(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "q.db"
    with pytest.raises(SchemaMismatch, match="no SQLite database at"):
        await SqliteStore(missing).open(create=False)
    assert not missing.exists() and not missing.parent.exists()
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("not a database, just text " * 100)
    s = SqliteStore(not_a_db)
    with pytest.raises(StoreError):
        await s.open(create=False)
        await s.check_schema()
    await s.close()


async def test_attempts_are_numbered_per_client(any_store: Store) -> None:
    await queue(any_store, 1)
    for n in (1, 2):
        later = NOW + timedelta(minutes=10 * n)
        [claim] = await any_store.claim("cold", later, 1, "w", later + timedelta(minutes=5))
        assert await any_store.start_call(start_for("0", claim.lease_token, f"call-{n}")) == n
        await any_store.record_outcome(
            f"call-{n}", "0", claim.lease_token, CallUpdate(CallStatus.BUSY), update(next_dial=later),
            Event("retry", "x"), later,
        )  # fmt: skip


async def test_disposition_refused_while_in_call(any_store: Store) -> None:
    await queue(any_store, 1)
    [claim] = await any_store.claim("cold", NOW, 1, "w1", NOW + timedelta(minutes=5))
    await any_store.start_call(start_for("0", claim.lease_token))
    with pytest.raises(LeaseLost):
        await any_store.record_disposition(
            "call-1", CallUpdate(CallStatus.ANSWERED), update(), Event("x", "x"), NOW, expected=None
        )


async def test_queue_stats_and_next_dial(any_store: Store) -> None:
    await queue(any_store, 3)
    await any_store.claim("cold", NOW, 1, "w1", NOW + timedelta(minutes=5))
    stats = await any_store.queue_stats("cold", NOW)
    assert stats == {"lines_in_use": 1, "due_now": 2, "queued": 3, "window_passed": 0}
    assert await any_store.next_dial_after(NOW) is None
    # No worker ran for a while: windows closing at +60 and +61 min passed undialed (the
    # first client's lease ran out too); `dialer status` tells these apart.
    later = await any_store.queue_stats("cold", NOW + timedelta(minutes=61, seconds=30))
    assert later == {"lines_in_use": 0, "due_now": 1, "queued": 3, "window_passed": 2}


async def test_campaign_lines_are_global(any_store: Store) -> None:
    await queue(any_store, 6)
    lease = NOW + timedelta(minutes=5)
    assert len(await any_store.claim("cold", NOW, 10, "w1", lease, max_in_use=4)) == 4
    # Another worker sees the lines taken by the first.
    assert len(await any_store.claim("cold", NOW, 10, "w2", lease, max_in_use=4)) == 0
    later = lease + timedelta(seconds=1)  # the leases expired: the lines are free again
    assert len(await any_store.claim("cold", later, 10, "w2", later + timedelta(minutes=5), max_in_use=4)) == 4


async def test_calls_per_second_are_global(any_store: Store) -> None:
    slots = [await any_store.reserve_start("cold", 2.0, NOW) for _ in range(4)]
    assert [(s - NOW).total_seconds() for s in slots] == [0.0, 0.5, 1.0, 1.5]
    later = NOW + timedelta(seconds=10)
    assert await any_store.reserve_start("cold", 2.0, later) == later  # idle: no backlog
    assert await any_store.reserve_start("warm", 1.0, NOW) == NOW  # per campaign


async def test_restart_releases_own_leases(any_store: Store) -> None:
    await queue(any_store, 3)
    lease = NOW + timedelta(minutes=10)
    c1, c2, _ = await any_store.claim("cold", NOW, 3, "w1", lease)
    await any_store.start_call(start_for(c1.client.id, c1.lease_token))
    # w1 dies and comes back: the undialed claims are released, the call is rescuable now.
    assert await any_store.expire_leases("w1", NOW) == 3
    c = await any_store.get_client(c2.client.id)
    assert c is not None and c.lease_owner is None
    [orphan] = await any_store.orphaned_calls(NOW, 10)
    assert orphan.client_id == c1.client.id


async def test_unfinished_daily_job_is_taken_over(any_store: Store) -> None:
    from dialer.model import JOB_TAKEOVER

    d = date(2026, 12, 1)
    assert await any_store.try_start_job("plan", "cold", d, "w1", NOW)  # w1 dies mid-run
    assert not await any_store.try_start_job("plan", "cold", d, "w2", NOW + timedelta(minutes=1))
    later = NOW + JOB_TAKEOVER + timedelta(minutes=1)
    assert await any_store.try_start_job("plan", "cold", d, "w2", later)
    await any_store.finish_job("plan", "cold", d, later)
    assert not await any_store.try_start_job("plan", "cold", d, "w3", later + 2 * JOB_TAKEOVER)


async def test_reimport_updates_priority(any_store: Store) -> None:
    await queue(any_store, 1)
    assert (await any_store.get_client("0")).priority == 4  # type: ignore[union-attr]
    await any_store.upsert_clients([rec(0, stage=Stage.CUSTOMER, complaint=True)])
    [c] = await any_store.clients_to_schedule(NOW, 10)
    await any_store.set_schedules([Schedule(c.id, NOW, NOW + timedelta(hours=1), "t", "care")])
    assert (await any_store.get_client("0")).priority == 0  # type: ignore[union-attr]


def test_priority_sql_matches_priority_of() -> None:
    import sqlite3

    from dialer.domain import priority_of
    from dialer.store.rows import priority_sql

    db = sqlite3.connect(":memory:")
    for stage in Stage:
        for complaint in (False, True):
            for callback in (None, "2026-12-01T10:00:00Z"):
                state = ClientState(stage=stage, complaint=complaint, callback_at=NOW if callback else None)
                sql = priority_sql("c = 1").replace("callback_at", "cb").replace("stage", "s")
                got = db.execute(f"SELECT {sql} FROM (SELECT ? AS c, ? AS cb, ? AS s)",
                                 (int(complaint), callback, stage.value)).fetchone()[0]  # fmt: skip
                assert got == int(priority_of(state))


def test_the_sql_files_place_clients_by_priority_of() -> None:
    """The .sql files spell `priority_sql` out (set_schedule) and the SQLite claim has
    one branch per class: both must follow dialer.domain.Priority."""
    from dialer.domain import Priority
    from dialer.store.rows import priority_sql
    from dialer.store.sqlfiles import load_queries

    assert priority_sql("complaint = 1") in load_queries("sqlite", "queue")["set_schedule"]
    assert priority_sql("c.complaint") in load_queries("postgres", "queue")["set_schedules"]
    claim = load_queries("sqlite", "queue")["claim"]
    assert [p for p in range(10) if f"priority={p} " in claim] == [int(p) for p in Priority]


def test_aiosqlite_thread_hand_off_is_available() -> None:
    """SqliteStore runs whole transactions in aiosqlite's thread through its `_execute`
    queue and reads the plain connection as `_conn`; an aiosqlite upgrade that drops
    either must fail here, loudly, not in production."""
    import inspect

    import aiosqlite

    assert inspect.iscoroutinefunction(aiosqlite.Connection._execute)
    assert isinstance(inspect.getattr_static(aiosqlite.Connection, "_conn"), property)


# ---------------------------------------------------------------- re-import keeps progress

DUE = NOW + timedelta(days=1)
LIST = [
    rec("hot", stage=Stage.HOT, next_contact=DUE, complaint=False),
    rec("cust", stage=Stage.CUSTOMER, next_contact=DUE, complaint=True),
    rec("new", stage=Stage.PROSPECT, next_contact=NOW),
    rec("blank"),
]


def queue_view(c: object) -> tuple[object, ...]:
    """Everything about a client that is not contact data."""
    return (
        c.state, c.due_at, c.next_dial_at, c.window_closes_at, c.cap_until, c.priority,  # type: ignore[attr-defined]
        c.campaign, c.needs_schedule, c.schedule_reason,  # type: ignore[attr-defined]
    )  # fmt: skip


async def progress(store: Store, client_id: str, state: ClientState, due: datetime, call_id: str) -> None:
    """What the dialer does to a client: a call and its outcome."""
    later = NOW + timedelta(minutes=1)
    claims = await store.claim("cold", later, 10, "w", later + timedelta(minutes=5))
    claim = next(c for c in claims if c.client.id == client_id)
    for other in claims:
        if other is not claim:
            await store.release(other, None)
    await store.start_call(start_for(client_id, claim.lease_token, call_id))
    await store.record_outcome(
        call_id, client_id, claim.lease_token, CallUpdate(CallStatus.ANSWERED, ended_at=later),
        ClientUpdate(state=state, due_at=due, next_dial_at=due, window_closes_at=due + timedelta(hours=1),
                     cap_until=None, priority=3, campaign="cold", reason="progress"),
        Event("x", "x"), later,
    )  # fmt: skip


async def test_reimport_of_the_same_list_changes_nothing_but_contact_data(any_store: Store) -> None:
    assert await any_store.upsert_clients(LIST) == (4, 0)
    pending = await any_store.clients_to_schedule(NOW, 10)
    await any_store.set_schedules([Schedule(c.id, NOW, NOW + timedelta(hours=1), "t", "cold") for c in pending])
    # The calls moved every client on: the hot one signed, the complaint was resolved, ...
    signed = ClientState(stage=Stage.CUSTOMER)
    await progress(any_store, "hot", signed, NOW + timedelta(days=30), "call-h")
    await progress(any_store, "cust", ClientState(stage=Stage.CUSTOMER), NOW + timedelta(days=30), "call-c")
    await progress(any_store, "new", ClientState(stage=Stage.HOT, hot_calls=1), NOW + timedelta(days=3), "call-n")
    await progress(any_store, "blank", ClientState(stage=Stage.HOT, hot_calls=1), NOW + timedelta(days=3), "call-b")
    before = {r.id: queue_view(await any_store.get_client(r.id)) for r in LIST}

    # The same file again (contact data edited): the queue does not move.
    again = [rec(r.id, stage=r.stage, next_contact=r.next_contact, complaint=r.complaint, name="New name",
                 phone="+79120000099") for r in LIST]  # fmt: skip
    assert await any_store.upsert_clients(again) == (0, 4)
    assert await any_store.upsert_clients(again) == (0, 4)
    after = {r.id: await any_store.get_client(r.id) for r in LIST}
    assert {k: queue_view(v) for k, v in after.items()} == before
    assert all(c is not None and c.name == "New name" and c.phone == "+79120000099" for c in after.values())
    assert await any_store.clients_to_schedule(NOW + timedelta(minutes=2), 10) == []

    # The CRM changed one row's stage and another's next contact: only those move.
    changed = [
        rec("hot", stage=Stage.PROSPECT, next_contact=DUE, complaint=False),
        rec("cust", stage=Stage.CUSTOMER, next_contact=DUE + timedelta(days=2), complaint=True),
        rec("new", stage=Stage.PROSPECT, next_contact=NOW),
        rec("blank", stage=Stage.HOT),  # the first time the CRM says anything: hot, as it is
    ]
    await any_store.upsert_clients(changed)
    hot, cust, new, blank = [await any_store.get_client(r.id) for r in LIST]
    assert hot is not None and hot.state.stage is Stage.PROSPECT and hot.needs_schedule
    assert hot.due_at == NOW + timedelta(days=30)  # its next_contact cell did not change
    assert cust is not None and cust.due_at == DUE + timedelta(days=2) and cust.needs_schedule
    assert cust.state.stage is Stage.CUSTOMER and not cust.state.complaint  # complaint cell unchanged: stays resolved
    assert queue_view(new) == before["new"]
    assert blank is not None and blank.state == ClientState(stage=Stage.HOT, hot_calls=1) and not blank.needs_schedule
    # An empty cell says nothing; the same value again after it is no change either.
    await any_store.upsert_clients([rec("cust"), rec("new")])
    await any_store.upsert_clients([rec("new", stage=Stage.PROSPECT, next_contact=NOW)])
    new2 = await any_store.get_client("new")
    assert new2 is not None and new2.state.stage is Stage.HOT and new2.due_at == NOW + timedelta(days=3)


def _migration_after(migrations: list[Migration], needle: str) -> int:
    return next(i for i, m in enumerate(migrations) if needle in m.sql)


@pytest.mark.parametrize("kind", sorted(STORES))
async def test_clients_from_before_the_upgrade_keep_their_progress(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A queue of the version before: a client never called takes what the CRM changed
    at the next import; one already called only has that import recorded (what its
    last import said is unknown, and applying it could undo its progress)."""
    import importlib

    module = importlib.import_module(f"dialer.store.{kind}")
    full = list(module.MIGRATIONS)
    monkeypatch.setattr(module, "MIGRATIONS", full[: _migration_after(full, "imported_stage")])
    store = await STORES[kind](tmp_path)
    await store.open()
    try:
        await store.migrate()

        async def sql(q: str, *args: object) -> None:
            if kind == "sqlite":
                await store.db.execute(q, args)  # type: ignore[attr-defined]
            else:
                for n in range(len(args), 0, -1):
                    q = q.replace(f"?{n}", f"${n}")
                await store.pool.execute(q, *args)  # type: ignore[attr-defined]

        for cid, stage in (("called", "customer"), ("quiet", "prospect")):
            await sql(
                "INSERT INTO clients(id, name, phone, timezone, country, stage, needs_schedule, created_at, "
                "updated_at) VALUES (?1, ?1, '+79120000000', 'Europe/Moscow', 'RU', ?2, false, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                cid, stage,
            )  # fmt: skip
        await sql(
            "INSERT INTO calls(call_id, client_id, campaign, phone, client_tz, attempt, started_at, local_day, "
            "status, provider, allowed_by) VALUES ('k1', 'called', 'cold', '+79120000000', 'Europe/Moscow', 1, "
            "CURRENT_TIMESTAMP, CURRENT_DATE, 'answered', 'simulated', 'test')"
        )
        monkeypatch.setattr(module, "MIGRATIONS", full)
        assert await store.migrate() == len(full)
        # The original list said hot for the one that has become a customer since.
        await store.upsert_clients([rec("called", stage=Stage.HOT), rec("quiet", stage=Stage.HOT)])
        called, quiet = await store.get_client("called"), await store.get_client("quiet")
        assert called is not None and called.state.stage is Stage.CUSTOMER
        assert quiet is not None and quiet.state.stage is Stage.HOT  # never called: the CRM's change applies
        # From now on its imports are known: a real change in the CRM applies.
        await store.upsert_clients([rec("called", stage=Stage.HOT)])
        assert (await store.get_client("called")).state.stage is Stage.CUSTOMER  # type: ignore[union-attr]
        await store.upsert_clients([rec("called", stage=Stage.PROSPECT)])
        assert (await store.get_client("called")).state.stage is Stage.PROSPECT  # type: ignore[union-attr]
    finally:
        await store.close()


# ---------------------------------------------------------------- one disposition per call


async def answered_call(store: Store) -> None:
    await queue(store, 1)
    [claim] = await store.claim("cold", NOW, 1, "w1", NOW + timedelta(minutes=5))
    await store.start_call(start_for("0", claim.lease_token))
    await store.record_outcome(
        "call-1", "0", claim.lease_token, CallUpdate(CallStatus.ANSWERED, ended_at=NOW),
        update(ClientState(awaiting_disposition=True), NOW + timedelta(days=1)), Event("awaiting", "x"), NOW,
    )  # fmt: skip


async def test_a_call_takes_one_disposition_unless_replaced(any_store: Store) -> None:
    from dialer.domain import Disposition
    from dialer.store.base import DispositionConflict

    await answered_call(any_store)
    waiting = ClientState(awaiting_disposition=True)
    hot = ClientState(stage=Stage.HOT, hot_calls=1)
    first = CallUpdate(CallStatus.ANSWERED, disposition=Disposition.INTERESTED, state_before=waiting)
    await any_store.record_disposition("call-1", first, update(hot, NOW), Event("became_hot", "x"), NOW, expected=None)
    call = await any_store.get_call("call-1")
    assert call is not None and call.disposition is Disposition.INTERESTED and call.state_before == waiting
    # A second one, as if there were none: refused, nothing written.
    second = CallUpdate(CallStatus.ANSWERED, disposition=Disposition.NO_NEED, state_before=hot)
    with pytest.raises(DispositionConflict) as refused:
        await any_store.record_disposition("call-1", second, update(ClientState(), NOW), Event("no", "x"), NOW,
                                           expected=None)  # fmt: skip
    assert refused.value.found is Disposition.INTERESTED
    assert (await any_store.get_client("0")).state == hot  # type: ignore[union-attr]
    assert (await any_store.get_call("call-1")).disposition is Disposition.INTERESTED  # type: ignore[union-attr]
    assert [e.kind for e in await any_store.events_for("0")] == ["became_hot", "awaiting"]
    # A correction names what it replaces; the state before the first stays.
    await any_store.record_disposition("call-1", second, update(ClientState(), NOW), Event("no", "x"), NOW,
                                       expected=Disposition.INTERESTED)  # fmt: skip
    call = await any_store.get_call("call-1")
    assert call is not None and call.disposition is Disposition.NO_NEED and call.state_before == waiting
    with pytest.raises(KeyError):
        await any_store.record_disposition("nope", second, update(), Event("x", "x"), NOW, expected=None)


async def test_provider_disposition_keeps_the_state_before(any_store: Store) -> None:
    from dialer.domain import Disposition

    await queue(any_store, 1)
    [claim] = await any_store.claim("cold", NOW, 1, "w1", NOW + timedelta(minutes=5))
    await any_store.start_call(start_for("0", claim.lease_token))
    before = ClientState(stage=Stage.HOT, hot_calls=2, attempts_total=1, attempts_day=NOW.date(), callback_at=NOW)
    await any_store.record_outcome(
        "call-1", "0", claim.lease_token,
        CallUpdate(CallStatus.ANSWERED, disposition=Disposition.CONTRACT_SIGNED, state_before=before),
        update(ClientState(stage=Stage.CUSTOMER), NOW), Event("contract_signed", "x"), NOW,
    )  # fmt: skip
    [call] = await any_store.client_calls("0")
    assert call.state_before == before
    assert (await any_store.calls_between(NOW - timedelta(hours=1), NOW + timedelta(hours=1)))[0].state_before == before


async def test_release_can_store_a_cap(any_store: Store) -> None:
    await queue(any_store, 2)
    a, b = await any_store.claim("cold", NOW, 2, "w", NOW + timedelta(minutes=5))
    cap = NOW + timedelta(hours=16)
    await any_store.release(a, Schedule(a.client.id, cap, cap + timedelta(hours=8), "capped", "cold"), cap_until=cap)
    await any_store.release(b, None)
    ca, cb = await any_store.get_client(a.client.id), await any_store.get_client(b.client.id)
    assert ca is not None and ca.cap_until == cap and ca.next_dial_at == cap and ca.lease_owner is None
    assert cb is not None and cb.cap_until is None and cb.lease_owner is None


async def test_provider_readiness_reports_per_worker(any_store: Store) -> None:
    from dialer.model import ProviderReadiness

    down = ProviderReadiness("w1", "sip", False, "not registered with pbx: 403 Forbidden", NOW, NOW)
    await any_store.report_readiness(down)
    await any_store.report_readiness(ProviderReadiness("w2", "sip", True, None, NOW, NOW))
    await any_store.report_readiness(ProviderReadiness("w1", "twilio", True, None, NOW - timedelta(hours=1), NOW))
    got = await any_store.readiness_reports(NOW - timedelta(minutes=1))
    assert [(r.provider, r.owner, r.ready) for r in got] == [
        ("sip", "w1", False),
        ("sip", "w2", True),
        ("twilio", "w1", True),
    ]
    assert got[0] == down
    assert got[2].since == NOW - timedelta(hours=1)
    # One row per worker and provider: a later finding replaces the earlier one.
    later = NOW + timedelta(minutes=5)
    await any_store.report_readiness(ProviderReadiness("w1", "sip", True, None, later, later))
    fresh = await any_store.readiness_reports(later - timedelta(minutes=1))
    assert [(r.provider, r.owner, r.ready, r.reason) for r in fresh] == [("sip", "w1", True, None)]
    assert len(await any_store.readiness_reports(NOW - timedelta(days=1))) == 3


async def test_plan_fits_the_clients_the_claims_take_when_groups_tie(any_store: Store) -> None:
    """Two zones whose windows are the same instants (Moscow and Kirov, both UTC+3): the
    claims cannot tell their clients apart but by id, so the plan marks as fitting the
    first ones by id across both groups, exactly the ones the claims then take."""
    d = date(2026, 12, 1)
    ids = {"a1": "Europe/Moscow", "a2": "Europe/Kirov", "a3": "Europe/Moscow", "a4": "Europe/Kirov"}
    await any_store.upsert_clients([rec(i, timezone=tz) for i, tz in ids.items()])
    await any_store.clients_to_schedule(NOW, 10)
    closes = NOW + timedelta(hours=1)
    await any_store.set_schedules([Schedule(i, NOW, closes, "t", "cold", slack_key=closes) for i in ids])
    until = NOW + timedelta(days=1)
    groups = await any_store.due_groups("cold", until)
    assert len(groups) == 2
    moscow = next(g.key for g in groups if g.timezone == "Europe/Moscow")
    # The day's replay says two of the four are dialed (here: counted on the Moscow group).
    await any_store.form_plan("cold", d, until, {moscow: 2}, NOW)
    plan = await any_store.get_plan("cold", d)
    assert plan is not None
    fits = {e.client_id for e in plan.entries if e.fits}
    claimed = {c.client.id for c in await any_store.claim("cold", NOW, 2, "w", NOW + timedelta(minutes=5))}
    assert fits == claimed == {"a1", "a2"}


async def test_abandon_counts_cover_every_call_answered_in_the_window(any_store: Store) -> None:
    """issue 13: live answers are answered + abandoned calls, by answer time, per campaign."""
    await queue(any_store, 4)
    claims = await any_store.claim("cold", NOW, 4, "w1", NOW + timedelta(minutes=5))
    outcomes = [
        (CallStatus.ANSWERED, NOW - timedelta(hours=1)),
        (CallStatus.ABANDONED, NOW - timedelta(minutes=30)),
        (CallStatus.ABANDONED, NOW - timedelta(hours=30)),  # outside a 24 h window
        (CallStatus.BUSY, None),
    ]
    for i, (claim, (status, answered)) in enumerate(zip(claims, outcomes, strict=True)):
        call_id = f"call-{i}"
        await any_store.start_call(start_for(claim.client.id, claim.lease_token, call_id))
        await any_store.record_outcome(
            call_id, claim.client.id, claim.lease_token, CallUpdate(status, answered_at=answered, ended_at=NOW),
            update(next_dial=NOW + timedelta(hours=4)), Event(status.value, "x"), NOW,
        )  # fmt: skip
    day = await any_store.abandon_counts("cold", NOW - timedelta(hours=24), NOW + timedelta(seconds=1))
    assert (day.live, day.abandoned) == (2, 1) and day.rate == 0.5
    month = await any_store.abandon_counts("cold", NOW - timedelta(days=30), NOW + timedelta(seconds=1))
    assert (month.live, month.abandoned) == (3, 2)
    assert (await any_store.abandon_counts("care", NOW - timedelta(days=30), NOW)).live == 0


async def test_client_first_pacing_reads_ringing_calls_recent_calls_and_abandons(any_store: Store) -> None:
    """issue 13: calls up with no agent (every worker's), a campaign's finished calls newest
    first, and which clients were abandoned since an instant (the 72 h rule)."""
    await queue(any_store, 4)
    claims = await any_store.claim("cold", NOW, 4, "w1", NOW + timedelta(minutes=5))
    for i, claim in enumerate(claims):
        start = replace(start_for(claim.client.id, claim.lease_token, f"call-{i}"), agent=None)
        await any_store.start_call(replace(start, started_at=NOW + timedelta(seconds=i)))
    ringing = await any_store.ringing_unattached("cold")
    assert ringing == [NOW + timedelta(seconds=i) for i in range(4)]
    assert await any_store.ringing_unattached("care") == []
    await any_store.set_call_agent("call-0", "ivanova")  # attached at the answer: not ringing any more
    assert len(await any_store.ringing_unattached("cold")) == 3
    assert (await any_store.get_call("call-0")).agent == "ivanova"  # type: ignore[union-attr]
    outcomes = [
        (CallStatus.ANSWERED, NOW + timedelta(seconds=5)),
        (CallStatus.ABANDONED, NOW + timedelta(seconds=9)),
        (CallStatus.BUSY, None),
    ]
    for i, (status, answered) in enumerate(outcomes):
        claim = claims[i]
        await any_store.record_outcome(
            f"call-{i}", claim.client.id, claim.lease_token, CallUpdate(status, answered_at=answered, ended_at=NOW),
            update(next_dial=NOW + timedelta(hours=4)), Event(status.value, "x"), NOW,
        )  # fmt: skip
    await any_store.set_call_agent("call-1", "petrov")  # finished: the row keeps its agent (none)
    assert (await any_store.get_call("call-1")).agent is None  # type: ignore[union-attr]
    assert await any_store.ringing_unattached("cold") == [NOW + timedelta(seconds=3)]
    recent = await any_store.recent_calls("cold", NOW, 10)
    assert [c.call_id for c in recent] == ["call-2", "call-1", "call-0"]  # finished only, newest first
    assert [c.call_id for c in await any_store.recent_calls("cold", NOW + timedelta(seconds=1), 1)] == ["call-2"]
    narrow = await any_store.recent_outcomes("cold", NOW, 10)  # the same calls, only what pacing reads
    assert [(o.status, o.started_at, o.answered_at, o.ended_at, o.ring_s, o.talk_s) for o in narrow] == [
        (c.status, c.started_at, c.answered_at, c.ended_at, c.ring_s, c.talk_s) for c in recent
    ]
    assert len(await any_store.recent_outcomes("cold", NOW + timedelta(seconds=1), 1)) == 1
    ids = [c.client.id for c in claims]
    abandoned = await any_store.abandoned_since(ids, NOW)
    assert abandoned == {claims[1].client.id: NOW + timedelta(seconds=9)}
    assert await any_store.abandoned_since(ids, NOW + timedelta(seconds=10)) == {}
    assert await any_store.abandoned_since([], NOW) == {}
