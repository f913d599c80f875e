"""PostgreSQL-only behaviour: several workers (stores with pools of their own) on one
queue. The shared contract (test_store_contract.py) already runs against PostgreSQL;
these tests are about concurrency, locking and the server itself.

Each test works in a fresh schema, dropped at the end. Without a server the tests
skip locally and fail in CI (see tests/conftest.py)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from dialer.domain import CallStatus, ClientRecord, ClientState, Stage
from dialer.model import CallStart, CallUpdate, Claim, ClientUpdate, Event, Schedule
from dialer.store.base import LeaseLost
from tests.support.services import PG_DSN, pg_available

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
LEASE = NOW + timedelta(minutes=5)

if TYPE_CHECKING:
    from dialer.store.postgres import PostgresStore

StoreFactory = Callable[..., Awaitable["PostgresStore"]]


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    """A schema name nobody uses yet; dropped (with everything in it) afterwards."""
    await pg_available()
    import asyncpg as apg

    name = f"dialer_test_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        con = await apg.connect(PG_DSN)
        try:
            await con.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            await con.close()


@pytest.fixture
async def workers(schema: str) -> AsyncIterator[StoreFactory]:
    """make(migrate=True, **kw) -> an open PostgresStore in the test's schema: one per
    simulated worker (each with its own pool, i.e. its own connections)."""
    from dialer.store.postgres import PostgresStore

    opened: list[PostgresStore] = []

    async def make(migrate: bool = True, **kw: object) -> PostgresStore:
        s = PostgresStore(PG_DSN, schema=schema, **kw)  # type: ignore[arg-type]
        await s.open()
        opened.append(s)
        if migrate:
            await s.migrate()
        return s

    try:
        yield make
    finally:
        for s in opened:
            await s.close()


def rec(i: int | str, **kw: object) -> ClientRecord:
    base: dict[str, object] = dict(
        id=str(i), name=f"Client {i}", phone=f"+7912{int(i) if str(i).isdigit() else 0:07d}",
        timezone="Europe/Moscow", country="RU",
    )  # fmt: skip
    base.update(kw)
    return ClientRecord(**base)  # type: ignore[arg-type]


def sched(i: int | str, campaign: str = "cold", minutes: int = 0) -> Schedule:
    return Schedule(str(i), NOW, NOW + timedelta(hours=1, minutes=minutes), "test", campaign)


async def fill(store: PostgresStore, n: int, campaign: str = "cold") -> None:
    """n clients due now; client i's window closes i minutes after the previous one."""
    records = [rec(i) for i in range(n)]
    schedules = {r.id: sched(r.id, campaign, i) for i, r in enumerate(records)}
    assert await store.upsert_clients(records, schedules) == (n, 0)


def outcome(next_dial: datetime | None = None) -> ClientUpdate:
    return ClientUpdate(
        state=ClientState(), due_at=next_dial, next_dial_at=next_dial,
        window_closes_at=next_dial + timedelta(hours=1) if next_dial else None, cap_until=None, priority=4,
        campaign="cold", reason="test",
    )  # fmt: skip


def start_for(claim: Claim, call_id: str) -> CallStart:
    return CallStart(
        call_id=call_id, client_id=claim.client.id, campaign="cold", agent=None, phone=claim.client.phone,
        client_tz="Europe/Moscow", attempt=0, started_at=NOW, local_day=date(2026, 12, 1), allowed_by="test",
        provider="simulated", lease_token=claim.lease_token,
    )  # fmt: skip


# ---------------------------------------------------------------- migrations


async def test_concurrent_migrations_apply_once(workers: StoreFactory, schema: str) -> None:
    from dialer.store.postgres import MIGRATIONS
    from dialer.store.schema import NUMBERING

    # Four workers start at once against a schema that does not exist yet. Applying a
    # migration twice would fail (CREATE TABLE of an existing table), so all four
    # succeeding with the same version means each step ran exactly once.
    stores = [await workers(migrate=False) for _ in range(4)]
    versions = await asyncio.gather(*(s.migrate() for s in stores))
    assert versions == [len(MIGRATIONS)] * 4
    # Once more (a restart): nothing to do, same version.
    assert await asyncio.gather(*(s.migrate() for s in stores)) == versions
    s = stores[0]
    assert await s.pool.fetchval("SELECT value FROM meta WHERE key = 'schema_version'") == str(len(MIGRATIONS))
    assert await s.pool.fetchval("SELECT value FROM meta WHERE key = 'numbering'") == NUMBERING
    tables = await s.pool.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1", schema
    )
    assert [r[0] for r in tables] == [
        "accounts",
        "agent_presence",
        "api_tokens",
        "audit",
        "calls",
        "campaign_pauses",
        "clients",
        "events",
        "job_runs",
        "login_failures",
        "meta",
        "pacing",
        "plan_entries",
        "plans",
        "provider_readiness",
        "workers",
    ]  # fmt: skip (accounts ... login_failures: issue 12, dialer/store/people.py)
    assert (await s.pool.fetchval("SELECT current_schema()")) == schema


async def test_events_are_append_only(workers: StoreFactory) -> None:
    import asyncpg as apg

    s = await workers()
    await fill(s, 1)
    [claim] = await s.claim("cold", NOW, 1, "w", LEASE)
    await s.start_call(start_for(claim, "call-1"))
    await s.record_outcome(
        "call-1", "0", claim.lease_token, CallUpdate(CallStatus.BUSY), outcome(NOW), Event("retry", "busy"), NOW
    )
    for sql in ("UPDATE events SET reason = 'edited'", "DELETE FROM events", "TRUNCATE events"):
        with pytest.raises(apg.RaiseError, match="append-only"):
            await s.pool.execute(sql)
    assert [e.reason for e in await s.events_for("0")] == ["busy"]


# ---------------------------------------------------------------- many workers, one queue


async def test_concurrent_claims_never_share_a_client(workers: StoreFactory) -> None:
    """Four workers drain one campaign at once: every client is claimed exactly once."""
    stores = [await workers() for _ in range(4)]
    await fill(stores[0], 600)
    got: list[list[Claim]] = [[] for _ in stores]

    async def drain(i: int) -> None:
        while claims := await stores[i].claim("cold", NOW, 7, f"w{i}", LEASE):
            got[i].extend(claims)

    await asyncio.gather(*(drain(i) for i in range(len(stores))))
    ids = [c.client.id for claims in got for c in claims]
    assert len(ids) == 600 and len(set(ids)) == 600
    assert all(got), "every worker got some (they really ran concurrently)"
    tokens = [c.lease_token for claims in got for c in claims]
    assert len(set(tokens)) == 600  # a token per row
    owners = await stores[0].pool.fetch("SELECT lease_owner, count(*) FROM clients GROUP BY 1")
    assert {r[0]: r[1] for r in owners} == {f"w{i}": len(got[i]) for i in range(len(stores))}


async def test_campaign_lines_are_global_under_concurrency(workers: StoreFactory) -> None:
    """Four workers claim, hold, record and claim again with max_in_use=10: the live
    leases of all of them together never exceed 10, and no client is held twice."""
    max_in_use = 10
    stores = [await workers() for _ in range(4)]
    await fill(stores[0], 300)
    held: set[str] = set()
    peak = 0
    db_peak = 0
    done = 0
    limited = 0  # claims cut short by the line limit (the queue itself never runs dry)
    rng = random.Random(6)

    async def work(i: int) -> None:
        nonlocal peak, db_peak, done, limited
        store = stores[i]
        for _ in range(25):
            wanted = rng.randint(1, 6)
            claims = await store.claim("cold", NOW, wanted, f"w{i}", LEASE, max_in_use=max_in_use)
            limited += len(claims) < wanted
            for c in claims:
                assert c.client.id not in held, f"{c.client.id} handed out twice"
                held.add(c.client.id)
            peak = max(peak, len(held))
            live = await store.pool.fetchval(
                "SELECT count(*) FROM clients WHERE lease_owner IS NOT NULL AND lease_until > $1", NOW
            )
            db_peak = max(db_peak, live)
            await asyncio.sleep(rng.random() / 200)
            for c in claims:
                # Forget it before the store releases it: `held` never runs ahead of the database.
                held.discard(c.client.id)
                call_id = uuid.uuid4().hex
                await store.start_call(start_for(c, call_id))
                await store.record_outcome(
                    call_id, c.client.id, c.lease_token, CallUpdate(CallStatus.BUSY), outcome(NOW),
                    Event("retry", "busy"), NOW,
                )  # fmt: skip
                done += 1

    await asyncio.gather(*(work(i) for i in range(len(stores))))
    assert done > 100
    assert peak <= max_in_use and db_peak <= max_in_use
    assert limited > 0, "the limit was actually reached (the test exercised it)"
    assert await stores[0].queue_stats("cold", NOW) == {
        "lines_in_use": 0,
        "due_now": 300,
        "queued": 300,
        "window_passed": 0,
    }


async def test_stale_worker_loses_to_the_rescuer(workers: StoreFactory) -> None:
    dead, alive = await workers(), await workers()
    await fill(dead, 1)
    [claim] = await dead.claim("cold", NOW, 1, "dead", NOW + timedelta(minutes=1))
    await dead.start_call(start_for(claim, "call-1"))
    await dead.set_provider_call_id("call-1", "PROV-1")
    later = NOW + timedelta(minutes=2)
    [orphan] = await alive.orphaned_calls(later, 10)
    assert orphan.call_id == "call-1" and orphan.provider_call_id == "PROV-1"
    # Two rescuers at once: exactly one gets the client.
    rescues = await asyncio.gather(
        alive.rescue("call-1", "alive", later, later + timedelta(minutes=5)),
        dead.rescue("call-1", "other", later, later + timedelta(minutes=5)),
    )
    [rescue] = [r for r in rescues if r is not None]
    assert rescue.lease_token != claim.lease_token
    await alive.record_outcome(
        "call-1", "0", rescue.lease_token, CallUpdate(CallStatus.NO_ANSWER), outcome(later),
        Event("retry", "reconciled"), later,
    )  # fmt: skip
    # The worker presumed dead comes back and writes late: refused, nothing written.
    with pytest.raises(LeaseLost):
        await dead.record_outcome(
            "call-1", "0", claim.lease_token, CallUpdate(CallStatus.ANSWERED, talk_s=200), outcome(later),
            Event("answered", "late"), later,
        )  # fmt: skip
    call = await alive.get_call("call-1")
    assert call is not None and call.status is CallStatus.NO_ANSWER and call.talk_s == 0
    assert [e.reason for e in await alive.events_for("0")] == ["reconciled"]
    assert await alive.orphaned_calls(later, 10) == []


async def test_claim_skips_rows_locked_elsewhere_without_waiting(workers: StoreFactory) -> None:
    """SKIP LOCKED: another transaction holding row locks on the best clients neither
    blocks a claim nor gets those clients handed out."""
    import asyncpg as apg

    s = await workers()
    await fill(s, 10)
    other = await apg.connect(PG_DSN, server_settings={"search_path": f'"{s.schema}"'})
    try:
        async with other.transaction():
            locked = await other.fetch("SELECT id FROM clients WHERE id = ANY($1::text[]) FOR UPDATE", ["0", "1", "2"])
            assert len(locked) == 3
            first = await asyncio.wait_for(s.claim("cold", NOW, 4, "w1", LEASE), timeout=3)
            assert [c.client.id for c in first] == ["3", "4", "5", "6"]
            # The line-limited path (advisory lock + count) does not wait either.
            second = await asyncio.wait_for(s.claim("cold", NOW, 4, "w2", LEASE, max_in_use=8), timeout=3)
            assert [c.client.id for c in second] == ["7", "8", "9"]
    finally:
        await other.close()
    # Unlocked: the best ones are claimable again.
    assert [c.client.id for c in await s.claim("cold", NOW, 5, "w3", LEASE)] == ["0", "1", "2"]


async def test_daily_job_and_pacing_are_global(workers: StoreFactory) -> None:
    stores = [await workers() for _ in range(4)]
    d = date(2026, 12, 1)
    started = await asyncio.gather(*(s.try_start_job("plan", "cold", d, f"w{i}", NOW) for i, s in enumerate(stores)))
    assert sorted(started) == [False, False, False, True]
    slots = await asyncio.gather(*(s.reserve_start("cold", 4.0, NOW) for s in stores for _ in range(5)))
    assert sorted((t - NOW).total_seconds() for t in slots) == [i * 0.25 for i in range(20)]


# ---------------------------------------------------------------- import


async def test_bulk_upsert_counts_are_exact(workers: StoreFactory) -> None:
    s = await workers(upsert_batch=3000)  # several batches per call, boundaries included
    first = [rec(i, stage=Stage.HOT if i % 7 == 0 else None, do_not_call=(i % 11 == 0) or None) for i in range(20_000)]
    schedules = {r.id: sched(r.id) for r in first[::2]}  # half go straight into the queue
    assert await s.upsert_clients(first, schedules) == (20_000, 0)
    # Re-import: the upper half known, 10,000 new; empty cells keep progress, DNC sticks.
    second = [rec(i, name=f"New {i}", do_not_call=False) for i in range(10_000, 30_000)]
    assert await s.upsert_clients(second, {r.id: sched(r.id) for r in second}) == (10_000, 10_000)
    pool = s.pool
    assert await pool.fetchval("SELECT count(*) FROM clients") == 30_000
    assert await pool.fetchval("SELECT count(*) FROM clients WHERE name LIKE 'New %'") == 20_000
    expected_dnc = sum(1 for i in range(20_000) if i % 11 == 0)
    assert await pool.fetchval("SELECT count(*) FROM clients WHERE stage = 'dnc'") == expected_dnc
    assert await pool.fetchval("SELECT count(*) FROM clients WHERE stage = 'hot'") == sum(
        1 for i in range(20_000) if i % 7 == 0 and i % 11 != 0
    )
    # New and scheduled: queued at once. Known ones whose re-import changed nothing their
    # place depends on (only the name) keep it; those never placed (odd ids) still wait.
    assert await pool.fetchval("SELECT count(*) FROM clients WHERE needs_schedule") == 5_000 + 5_000
    c = await s.get_client("10010")  # imported as do-not-call, then re-imported with do_not_call=False
    assert c is not None and c.state.stage is Stage.DNC and not c.needs_schedule and c.name == "New 10010"
    await s.upsert_clients([rec(10010, timezone="Asia/Omsk")])  # a new zone: rescheduled
    assert (await s.get_client("10010")).needs_schedule  # type: ignore[union-attr]
    c = await s.get_client("10024")  # imported hot and queued, re-imported with an empty stage cell
    assert c is not None and c.state.stage is Stage.HOT and c.next_dial_at == NOW


async def test_concurrent_imports_of_the_same_new_ids_count_exactly(workers: StoreFactory) -> None:
    a, b = await workers(), await workers()
    records = [rec(i) for i in range(5000)]
    results = await asyncio.gather(a.upsert_clients(records), b.upsert_clients(records))
    assert sorted(results) == [(0, 5000), (5000, 0)]
    assert await a.pool.fetchval("SELECT count(*) FROM clients") == 5000


# ---------------------------------------------------------------- plans, indexes, the server


async def test_orphaned_calls_use_the_open_calls_index(workers: StoreFactory) -> None:
    from dialer.store.sqlfiles import load_queries

    orphaned = load_queries("postgres", "queue")["orphaned_calls"]

    s = await workers()
    n = 3000
    await fill(s, n)
    # A long history of finished calls, a few open ones.
    await s.pool.execute(
        """
        INSERT INTO calls(call_id, client_id, campaign, phone, client_tz, attempt, started_at, local_day, status,
                          provider, allowed_by)
        SELECT 'h' || g, (g % $1)::text, 'cold', '+7', 'Europe/Moscow', g, $2, '2026-12-01', 'busy', 'sim', 't'
        FROM generate_series(1, 20000) g
        """,
        n,
        NOW,
    )
    claims = await s.claim("cold", NOW, 3, "dead", NOW + timedelta(minutes=1))
    for i, c in enumerate(claims):
        await s.start_call(start_for(c, f"open-{i}"))
    await s.pool.execute("ANALYZE")
    later = NOW + timedelta(minutes=2)
    plan = "\n".join(r[0] for r in await s.pool.fetch("EXPLAIN " + orphaned, later, 10))
    assert "calls_open" in plan and "clients_pkey" in plan, plan
    assert "Seq Scan on clients" not in plan and "Seq Scan on calls" not in plan, plan
    assert sorted(c.call_id for c in await s.orphaned_calls(later, 10)) == ["open-0", "open-1", "open-2"]


async def test_claim_plans_never_scan_the_table(workers: StoreFactory) -> None:
    """The claim walks the claim index and updates by primary key, whether the server
    plans it for the given values or once for all (generic plan, LIMIT unknown)."""
    from dialer.model import WINDOW_HORIZON
    from dialer.store.postgres import _PRIORITIES
    from dialer.store.sqlfiles import load_queries

    queue = load_queries("postgres", "queue")

    s = await workers()
    await fill(s, 5000)
    await s.pool.execute("ANALYZE clients")
    async with s.pool.acquire() as con:
        for mode in ("auto", "force_generic_plan"):
            await con.execute(f"SET plan_cache_mode = {mode}")
            base = ("w", LEASE, "cold", NOW, 20, _PRIORITIES, NOW + WINDOW_HORIZON)
            for sql, args in ((queue["claim"], base), (queue["claim_within_lines"], (*base, 50))):
                stmt = await con.prepare("EXPLAIN " + sql)
                plan = "\n".join(r[0] for r in await stmt.fetch(*args))
                # Either index range is bounded (a day of windows): clients_claim
                # (campaign, class, closing time) or clients_stale (closing time).
                assert ("clients_claim" in plan or "clients_stale" in plan) and "clients_pkey" in plan, plan
                assert "Seq Scan" not in plan, plan
        await con.execute("RESET plan_cache_mode")


async def test_naive_datetimes_are_refused(workers: StoreFactory) -> None:
    s = await workers()
    with pytest.raises(ValueError, match="naive"):
        await s.claim("cold", NOW.replace(tzinfo=None), 1, "w", LEASE)
    with pytest.raises(ValueError, match="naive"):
        await s.upsert_clients([rec(1, next_contact=NOW.replace(tzinfo=None))])


async def test_connection_loss_raises_then_recovers(workers: StoreFactory) -> None:
    """The server drops the worker's connection mid-query (restart, failover): the call
    raises (the dispatcher pauses and retries), and the next one reconnects."""
    import asyncpg as apg

    s = await workers(min_size=1, max_size=1)
    await fill(s, 1)
    pid = await s.pool.fetchval("SELECT pg_backend_pid()")  # the pool's only connection
    other = await apg.connect(PG_DSN, server_settings={"search_path": f'"{s.schema}"'})
    try:
        async with other.transaction():
            await other.execute("LOCK TABLE clients IN ACCESS EXCLUSIVE MODE")
            pending = asyncio.create_task(s.get_client("0"))
            for _ in range(200):  # until the store's query waits on the lock
                if await other.fetchval("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid):
                    break
                await asyncio.sleep(0.01)
            await other.execute("SELECT pg_terminate_backend($1)", pid)
            with pytest.raises((apg.PostgresError, apg.InterfaceError, OSError)):
                await asyncio.wait_for(pending, timeout=5)
    finally:
        await other.close()
    client = await s.get_client("0")
    assert client is not None and client.id == "0"
    await s.ping()


async def test_unreachable_server_raises() -> None:
    await pg_available()
    from dialer.store.base import StoreUnreachable
    from dialer.store.postgres import PostgresStore

    s = PostgresStore("postgresql://postgres:pw-secret@127.0.0.1:1/test", connect_timeout=2)
    with pytest.raises(StoreUnreachable) as exc:
        await s.open()
    # One line for the operator: the DSN without its password, and the reason.
    assert str(exc.value).startswith("cannot connect to PostgreSQL postgresql://postgres@127.0.0.1:1/test: ")
    assert "Connect" in str(exc.value) and "pw-secret" not in str(exc.value) and "\n" not in str(exc.value)


def test_schema_from_the_dsn() -> None:
    from dialer.store.postgres import PostgresStore

    s = PostgresStore("postgresql://u@h/db?schema=tenant_a&application_name=x")
    assert s.schema == "tenant_a" and s.dsn == "postgresql://u@h/db?application_name=x"
    assert PostgresStore("postgresql://u@h/db?options=-csearch_path%3Dtenant_b").schema == "tenant_b"
    assert PostgresStore("postgresql://u@h/db?search_path=tenant_c,public").schema == "tenant_c"
    assert PostgresStore("postgresql://u@h/db", schema="x").schema == "x"
    assert PostgresStore("postgresql://u@h/db").schema is None
