"""Claim + record throughput with several workers: PostgreSQL store, raw SKIP LOCKED, SQLite.

One run, same queue shape for every case:
  - PostgreSQL store, 1/2/4 workers: `claim(batch, max_in_use=...)` (the dispatcher's call,
    advisory lock for global lines included) + one `record_outcome` per call;
  - raw PostgreSQL, 1/2/4 workers, plain asyncpg: one
    `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT n) RETURNING` + one
    `UPDATE` per call (the floor: no token check, no event, no call row);
  - SQLite store, 1 worker (its design point) and 2/4 for contrast (one file, one writer).
Every worker is a separate process with its own store (its own pool or file handle);
they start together on a barrier. The queue is reset between cases (and vacuumed), so
every case starts from the same state. Prints calls/s and the ratios.

    python benchmarks/store_throughput.py                        # 100,000 clients, 10 s per case
    python benchmarks/store_throughput.py --clients 20000 --seconds 3
    python benchmarks/store_throughput.py --dsn postgresql://postgres@db/test --workers 1,2,4,8

Uses a fresh schema (dropped at the end) and a temporary SQLite file. Every case is
bounded by --seconds and --max-calls.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dialer.domain import CallStatus, ClientRecord, ClientState, Stage
from dialer.model import CallUpdate, ClientUpdate, Event, Schedule
from dialer.store.base import Store

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=1)  # where a recorded client goes (out of today's queue)
CAMPAIGN = "cold"
WINDOWS = 600  # the queue's windows close 1..600 minutes from NOW


def window_of(i: int) -> datetime:
    return NOW + timedelta(minutes=1 + (i * 7919) % WINDOWS)


def records(start: int, stop: int) -> list[ClientRecord]:
    stages = [Stage.PROSPECT] * 8 + [Stage.HOT, Stage.CUSTOMER]
    return [
        ClientRecord(
            id=f"b{i}",
            name=f"Client {i}",
            phone=f"+79{i:09d}",
            timezone="Europe/Moscow",
            country="RU",
            stage=stages[i % 10],
            next_contact=NOW,
        )  # fmt: skip
        for i in range(start, stop)
    ]


async def load(store: Store, n: int) -> None:
    """All of them due now in one campaign; windows close 1..600 minutes from now."""
    batch = 20_000
    for start in range(0, n, batch):
        chunk = records(start, min(start + batch, n))
        schedules = {
            r.id: Schedule(r.id, NOW - timedelta(minutes=5), window_of(int(r.id[1:])), "bench", CAMPAIGN) for r in chunk
        }
        inserted, _ = await store.upsert_clients(chunk, schedules)
        assert inserted == len(chunk)


OUTCOME = ClientUpdate(
    state=ClientState(attempts_today=1, attempts_total=1), due_at=LATER, next_dial_at=LATER,
    window_closes_at=LATER + timedelta(hours=1), cap_until=None, priority=4, campaign=CAMPAIGN, reason="bench: busy",
)  # fmt: skip
CALL = CallUpdate(CallStatus.BUSY, ended_at=NOW, ring_s=3.0)
EVENT = Event("retry", "bench: busy", data={"status": "busy"})


# ---------------------------------------------------------------- one worker (a process)


@dataclass
class Job:
    kind: str  # "pg_store" | "pg_raw" | "sqlite_store"
    index: int
    workers: int
    dsn: str
    schema: str
    sqlite_path: str
    seconds: float
    max_calls: int
    batch: int


async def _store_loop(store: Store, job: Job, barrier) -> tuple[int, float, int]:  # type: ignore[no-untyped-def]
    owner = f"bench-{job.kind}-{job.index}"
    lease = NOW + timedelta(minutes=10)
    budget = job.max_calls // job.workers
    max_in_use = job.batch * job.workers * 4  # the dispatcher's path (global lines), never the binding limit
    calls = claims_n = 0
    barrier.wait()
    t0 = time.perf_counter()
    deadline = t0 + job.seconds
    while calls < budget and time.perf_counter() < deadline:
        claims = await store.claim(CAMPAIGN, NOW, job.batch, owner, lease, max_in_use=max_in_use)
        if not claims:
            break
        claims_n += 1
        for c in claims:
            await store.record_outcome(uuid.uuid4().hex, c.client.id, c.lease_token, CALL, OUTCOME, EVENT, NOW)
            calls += 1
    return calls, time.perf_counter() - t0, claims_n


async def _raw_loop(job: Job, barrier) -> tuple[int, float, int]:  # type: ignore[no-untyped-def]
    import asyncpg

    con = await asyncpg.connect(job.dsn, server_settings={"search_path": f'"{job.schema}"'})
    owner = f"bench-raw-{job.index}"
    lease = NOW + timedelta(minutes=10)
    budget = job.max_calls // job.workers
    claim = await con.prepare(
        "UPDATE clients SET lease_owner = $1, lease_token = md5(random()::text), lease_until = $2 "
        "WHERE id IN (SELECT id FROM clients WHERE campaign = $3 AND next_dial_at IS NOT NULL "
        "AND window_closes_at > $4 AND next_dial_at <= $4 AND (lease_until IS NULL OR lease_until <= $4) "
        "ORDER BY priority, window_closes_at LIMIT $5 FOR UPDATE SKIP LOCKED) RETURNING id"
    )
    record = await con.prepare(
        "UPDATE clients SET lease_owner = NULL, lease_token = NULL, lease_until = NULL, "
        "next_dial_at = $2, window_closes_at = $3 WHERE id = $1"
    )
    calls = claims_n = 0
    barrier.wait()
    t0 = time.perf_counter()
    deadline = t0 + job.seconds
    while calls < budget and time.perf_counter() < deadline:
        ids = await claim.fetch(owner, lease, CAMPAIGN, NOW, job.batch)
        if not ids:
            break
        claims_n += 1
        for (cid,) in ids:
            await record.fetch(cid, LATER, LATER + timedelta(hours=1))
            calls += 1
    elapsed = time.perf_counter() - t0
    await con.close()
    return calls, elapsed, claims_n


async def _run_job(job: Job, barrier) -> tuple[int, float, int]:  # type: ignore[no-untyped-def]
    if job.kind == "pg_raw":
        return await _raw_loop(job, barrier)
    store: Store
    if job.kind == "pg_store":
        from dialer.store.postgres import PostgresStore

        store = PostgresStore(job.dsn, schema=job.schema, min_size=1, max_size=2)
    else:
        from dialer.store.sqlite import SqliteStore

        store = SqliteStore(job.sqlite_path)
    await store.open()
    try:
        return await _store_loop(store, job, barrier)
    finally:
        await store.close()


def _worker(job: Job, barrier, results) -> None:  # type: ignore[no-untyped-def]
    try:
        results.put((job.index, asyncio.run(_run_job(job, barrier)), None))
    except BaseException as exc:  # report, do not hang the parent
        barrier.abort()
        results.put((job.index, None, f"{type(exc).__name__}: {exc}"))


@dataclass
class CaseResult:
    label: str
    workers: int
    calls: int
    seconds: float
    claims: int

    @property
    def rate(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0


def run_case(kind: str, workers: int, args: argparse.Namespace, schema: str, sqlite_path: str) -> CaseResult:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(workers)
    results = ctx.Queue()
    jobs = [
        Job(kind, i, workers, args.dsn, schema, sqlite_path, args.seconds, args.max_calls, args.batch)
        for i in range(workers)
    ]
    procs = [ctx.Process(target=_worker, args=(j, barrier, results), daemon=True) for j in jobs]
    for p in procs:
        p.start()
    out = []
    for _ in procs:
        index, value, error = results.get(timeout=args.seconds + 120)
        if error:
            for p in procs:
                p.terminate()
            raise RuntimeError(f"{kind} worker {index}: {error}")
        out.append(value)
    for p in procs:
        p.join(timeout=30)
    calls = sum(v[0] for v in out)
    seconds = max(v[1] for v in out)
    return CaseResult(kind, workers, calls, seconds, sum(v[2] for v in out))


# ---------------------------------------------------------------- queue set-up and reset


async def pg_prepare(dsn: str, schema: str, n: int) -> str:
    from dialer.store.postgres import PostgresStore

    store = PostgresStore(dsn, schema=schema)
    await store.open()
    try:
        await store.migrate()
        t0 = time.perf_counter()
        await load(store, n)
        load_s = time.perf_counter() - t0
        await store.pool.execute("VACUUM ANALYZE clients")
        version = await store.pool.fetchval("SHOW server_version")
    finally:
        await store.close()
    return f"PostgreSQL {version}; loaded {n:,} clients through the store in {load_s:.1f} s"


async def pg_reset(dsn: str, schema: str) -> None:
    import asyncpg

    con = await asyncpg.connect(dsn, server_settings={"search_path": f'"{schema}"'})
    try:
        await con.execute(
            f"""
            UPDATE clients SET lease_owner = NULL, lease_token = NULL, lease_until = NULL,
                next_dial_at = $1, window_closes_at = $2 + (1 + (substr(id, 2)::int * 7919) % {WINDOWS})
                    * interval '1 minute',
                due_at = $2, attempts_today = 0, attempts_total = 0
            WHERE lease_owner IS NOT NULL OR next_dial_at > $2
            """,
            NOW - timedelta(minutes=5),
            NOW,
        )
        await con.execute("VACUUM ANALYZE clients")
    finally:
        await con.close()


async def pg_drop(dsn: str, schema: str) -> None:
    import asyncpg

    con = await asyncpg.connect(dsn)
    try:
        await con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await con.close()


async def sqlite_prepare(path: str, n: int) -> str:
    from dialer.store.sqlite import SqliteStore

    store = SqliteStore(path)
    await store.open()
    try:
        await store.migrate()
        t0 = time.perf_counter()
        await load(store, n)
        load_s = time.perf_counter() - t0
        # No ANALYZE here: the store never runs it, and with statistics SQLite prefers
        # clients_next + a sort for the claim (all clients due) — tens of ms a claim.
    finally:
        await store.close()
    import sqlite3

    return f"SQLite {sqlite3.sqlite_version}; loaded {n:,} clients through the store in {load_s:.1f} s"


def sqlite_reset(path: str) -> None:
    import sqlite3

    from dialer.store.sqlite import ts

    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute(
            f"""
            UPDATE clients SET lease_owner = NULL, lease_token = NULL, lease_until = NULL, next_dial_at = ?,
                window_closes_at = strftime('%Y-%m-%dT%H:%M:%SZ', ?,
                    '+' || (1 + (CAST(substr(id, 2) AS INTEGER) * 7919) % {WINDOWS}) || ' minutes'),
                due_at = ?, attempts_today = 0, attempts_total = 0
            WHERE lease_owner IS NOT NULL OR next_dial_at > ?
            """,
            (ts(NOW - timedelta(minutes=5)), ts(NOW), ts(NOW), ts(NOW)),
        )
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()


# ---------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn", default=os.environ.get("DIALER_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--clients", type=int, default=100_000)
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of each case")
    ap.add_argument("--max-calls", type=int, default=200_000, help="call budget of each case (all workers)")
    ap.add_argument("--batch", type=int, default=20, help="clients per claim")
    ap.add_argument("--workers", default="1,2,4", help="worker counts for PostgreSQL")
    ap.add_argument("--sqlite-workers", default="1,2,4", help="worker counts for SQLite ('' to skip)")
    ap.add_argument("--rounds", type=int, default=1, help="repeat every case; ratios use the medians")
    args = ap.parse_args()
    counts = [int(x) for x in args.workers.split(",") if x]
    sqlite_counts = [int(x) for x in args.sqlite_workers.split(",") if x]

    schema = f"dialer_bench_{uuid.uuid4().hex[:10]}"
    print(
        f"store throughput: claim (batch {args.batch}) + one outcome write per call; {args.clients:,} queued clients; "
        f"{args.seconds:g} s or {args.max_calls:,} calls per case, {args.rounds} round(s); workers are processes; "
        f"{os.cpu_count()} CPUs"
    )
    labels = {
        "pg_store": "PostgreSQL store (claim+record)",
        "pg_raw": "PostgreSQL raw SKIP LOCKED",
        "sqlite_store": "SQLite store (claim+record)",
    }
    # Store and raw alternate at each worker count (and rounds repeat the lot), so that
    # drift on a shared machine does not favour one side of a ratio.
    cases = [(kind, n) for n in counts for kind in ("pg_store", "pg_raw")]
    cases += [("sqlite_store", n) for n in sqlite_counts]
    runs: dict[tuple[str, int], list[CaseResult]] = {c: [] for c in cases}
    with tempfile.TemporaryDirectory(prefix="dialer-bench-") as tmp:
        sqlite_path = str(Path(tmp) / "queue.db")
        try:
            print(asyncio.run(pg_prepare(args.dsn, schema, args.clients)) + f" (schema {schema})")
            if sqlite_counts:
                print(asyncio.run(sqlite_prepare(sqlite_path, args.clients)))
            print(
                f"\n{'round':<6}{'case':<34}{'workers':>8}{'calls':>10}{'seconds':>9}{'calls/s':>10}{'per worker':>12}"
            )
            for round_ in range(1, args.rounds + 1):
                for kind, n in cases:
                    if kind == "sqlite_store":
                        sqlite_reset(sqlite_path)
                    else:
                        asyncio.run(pg_reset(args.dsn, schema))
                    r = run_case(kind, n, args, schema, sqlite_path)
                    runs[(kind, n)].append(r)
                    short = r.calls < min(args.max_calls, args.clients) and r.seconds < args.seconds * 0.95
                    print(
                        f"{round_:<6}{labels[kind]:<34}{n:>8}{r.calls:>10,}{r.seconds:>9.1f}{r.rate:>10,.0f}"
                        f"{r.rate / n:>12,.0f}{'  (queue ran dry)' if short else ''}",
                        flush=True,
                    )
        finally:
            asyncio.run(pg_drop(args.dsn, schema))

    rate = {c: statistics.median(r.rate for r in rs) for c, rs in runs.items()}
    if args.rounds > 1:
        print(f"\nmedian of {args.rounds} rounds (calls/s)")
        for (kind, n), rs in runs.items():
            lo, hi = min(r.rate for r in rs), max(r.rate for r in rs)
            print(f"  {labels[kind]:<34}{n:>3} worker(s): {rate[(kind, n)]:>8,.0f}   (range {lo:,.0f}-{hi:,.0f})")
    print("\nratios")
    for n in counts:
        print(
            f"  PostgreSQL store / raw SKIP LOCKED, {n} worker(s): {rate[('pg_store', n)] / rate[('pg_raw', n)]:.2f}x"
        )
    for kind in ("pg_store", "pg_raw"):
        for n in counts[1:]:
            print(
                f"  {labels[kind].split(' (')[0]} scaling, {n} vs {counts[0]} worker(s): "
                f"{rate[(kind, n)] / rate[(kind, counts[0])]:.2f}x"
            )
    for n in sqlite_counts:
        if ("pg_store", n) in rate:
            print(
                f"  PostgreSQL store / SQLite store, {n} worker(s): {rate[('pg_store', n)] / rate[('sqlite_store', n)]:.2f}x"
            )
    if sqlite_counts and counts:
        best = max(counts, key=lambda n: rate[("pg_store", n)])
        print(
            f"  PostgreSQL store ({best} workers) / SQLite store (1 worker): "
            f"{rate[('pg_store', best)] / rate[('sqlite_store', sqlite_counts[0])]:.2f}x"
        )
    print(f"schema {schema} dropped")


if __name__ == "__main__":
    main()
