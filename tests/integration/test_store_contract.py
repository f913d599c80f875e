"""The store contract: every Store implementation must pass these (SQLite file on disk
here; the PostgreSQL store joins the `any_store` fixture's params)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from dialer.domain import CallStatus, ClientRecord, ClientState, Stage
from dialer.store.base import CallStart, CallUpdate, ClientUpdate, Event, LeaseLost, Schedule, Store
from dialer.store.sqlite import SqliteStore
from tests.conftest import require_service

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


async def _sqlite(tmp_path: Path) -> Store:
    return SqliteStore(tmp_path / "contract.db")


# PostgreSQL: each test in a fresh schema of the server named by DIALER_TEST_PG_DSN,
# dropped when the store closes. Skipped locally without a server, failed in CI.
PG_DSN = os.environ.get("DIALER_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
_pg_reachable: str | None = None  # "" = reachable, else why not


async def pg_available() -> None:
    """require_service() for the PostgreSQL server (checked once per session)."""
    global _pg_reachable
    if _pg_reachable is None:
        try:
            import asyncpg

            con = await asyncpg.connect(PG_DSN, timeout=3)
            await con.close()
            _pg_reachable = ""
        except ImportError:
            _pg_reachable = "asyncpg is not installed (pip install -e .[test])"
        except Exception as exc:  # refused, timeout, auth, missing database
            _pg_reachable = f"PostgreSQL at {PG_DSN} unreachable: {type(exc).__name__}: {exc}"
    require_service(not _pg_reachable, _pg_reachable or "")


def pg_throwaway_store(**kw: object) -> Store:
    """A PostgresStore in a schema of its own; close() drops the schema."""
    from dialer.store.postgres import PostgresStore

    class ThrowawayPostgresStore(PostgresStore):
        async def close(self) -> None:
            try:
                if self._pool is not None:
                    await self.pool.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
            finally:
                await super().close()

    return ThrowawayPostgresStore(PG_DSN, schema=f"dialer_test_{uuid.uuid4().hex[:12]}", **kw)  # type: ignore[arg-type]


async def _postgres(tmp_path: Path) -> Store:
    await pg_available()
    return pg_throwaway_store()


STORES = {"sqlite": _sqlite, "postgres": _postgres}


@pytest.fixture(params=sorted(STORES))
async def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    s = await STORES[request.param](tmp_path)
    await s.open()
    await s.migrate()
    try:
        yield s
    finally:
        await s.close()


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
        "call-1", "0", claim.lease_token, CallUpdate(CallStatus.BUSY, ended_at=NOW), update(next_dial=NOW + timedelta(minutes=15)),
        Event("retry", "busy"), NOW,
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
        "call-1", "0", rescue.lease_token, CallUpdate(CallStatus.NO_ANSWER), update(next_dial=later), Event("retry", "x"), later
    )
    assert await any_store.orphaned_calls(later, 10) == []
    # The dead worker's late write loses.
    with pytest.raises(LeaseLost):
        await any_store.record_outcome(
            "call-1", "0", claim.lease_token, CallUpdate(CallStatus.ANSWERED), update(next_dial=later), Event("x", "x"), later
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
    await any_store.set_schedules([Schedule("late", NOW + timedelta(days=3), NOW + timedelta(days=3, hours=1), "t", "cold")])
    until = NOW + timedelta(days=1)
    assert await any_store.count_due("cold", until) == 5
    assert await any_store.due_zones("cold", until) == ["Europe/Moscow"]
    assert await any_store.form_plan("cold", d, until, 3, NOW) == 5
    assert await any_store.form_plan("cold", d, until, 3, NOW) == 5  # re-forming replaces
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
    assert await any_store.plan_counts("cold", d, NOW - timedelta(hours=8), NOW + timedelta(hours=16)) == (5, 4)
    assert await any_store.plan_counts("warm", d, NOW, NOW) is None


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
        await any_store.record_disposition("call-1", CallUpdate(CallStatus.ANSWERED), update(), Event("x", "x"), NOW)


async def test_queue_stats_and_next_dial(any_store: Store) -> None:
    await queue(any_store, 3)
    await any_store.claim("cold", NOW, 1, "w1", NOW + timedelta(minutes=5))
    stats = await any_store.queue_stats("cold", NOW)
    assert stats == {"lines_in_use": 1, "due_now": 2, "queued": 3}
    assert await any_store.next_dial_after(NOW) is None


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
    from dialer.store.base import JOB_TAKEOVER

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

    from dialer.domain import priority_of, priority_sql

    db = sqlite3.connect(":memory:")
    for stage in Stage:
        for complaint in (False, True):
            for callback in (None, "2026-12-01T10:00:00Z"):
                state = ClientState(stage=stage, complaint=complaint, callback_at=NOW if callback else None)
                sql = priority_sql("c = 1").replace("callback_at", "cb").replace("stage", "s")
                got = db.execute(f"SELECT {sql} FROM (SELECT ? AS c, ? AS cb, ? AS s)",
                                 (int(complaint), callback, stage.value)).fetchone()[0]  # fmt: skip
                assert got == int(priority_of(state))


def test_aiosqlite_thread_hand_off_is_available() -> None:
    """SqliteStore runs whole transactions in aiosqlite's thread through its `_execute`
    queue and reads the plain connection as `_conn`; an aiosqlite upgrade that drops
    either must fail here, loudly, not in production."""
    import inspect

    import aiosqlite

    assert inspect.iscoroutinefunction(aiosqlite.Connection._execute)
    assert isinstance(inspect.getattr_static(aiosqlite.Connection, "_conn"), property)
