"""Queue performance with a large queue (default 1,000,000 clients) on SQLite.

Prints, in one run on this machine:
  - load: upsert + schedule of N clients through the store and the calendar;
  - morning plan per campaign (seconds);
  - dispatcher claim + record cost per call at several queue sizes (should not grow);
  - the raw floor: one `UPDATE ... RETURNING` claim + one outcome write per call,
    plain aiosqlite, same batch size, and the ratio dispatcher / floor;
  - worker memory (RSS) before and after many dispatcher cycles.

    python benchmarks/queue_scale.py                 # 1,000,000 clients
    python benchmarks/queue_scale.py --clients 100000 --cycles 200

Only local files; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dialer import logging as dlog
from dialer.clock import Clock
from dialer.config.loader import load_config
from dialer.daily import morning_plan
from dialer.dispatcher import Dispatcher
from dialer.domain import CallStatus, ClientRecord, Stage
from dialer.scheduling import Scheduler
from dialer.store.sqlite import SqliteStore
from providers.base import CallResult, DialRequest, EventSink

ROOT = Path(__file__).resolve().parent.parent
ZONES = ["Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk",
         "Asia/Novosibirsk", "Asia/Krasnoyarsk", "Asia/Irkutsk", "Asia/Yakutsk", "Asia/Vladivostok",
         "Asia/Magadan", "Asia/Kamchatka"]  # fmt: skip
# Tue 2026-12-01 12:00 Samara: windows are open in the western half of Russia.
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


class StillClock:
    def __init__(self, now: datetime):
        self._now = now

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


class InstantProvider:
    """Answers 'busy' at once: measures the dispatcher and the store, not telephony."""

    name = "simulated"

    def __init__(self, clock: Clock):
        self.clock = clock

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def check(self) -> None: ...
    async def fetch(self, pcid: str) -> CallResult | None:
        return None

    async def dial(self, request: DialRequest, on_event: EventSink | None = None) -> CallResult:
        now = self.clock.now()
        return CallResult(CallStatus.BUSY, now, now, f"B{request.call_id}", ring_s=3)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def records(n: int, start: int = 0, seed: int = 1) -> list[ClientRecord]:
    rng = random.Random(seed + start)
    out = []
    for i in range(start, start + n):
        stage = rng.choices([Stage.PROSPECT, Stage.HOT, Stage.CUSTOMER], [80, 8, 12])[0]
        # A third due already (backlog), the rest spread over the next 30 days.
        if rng.random() < 1 / 3:
            due = NOW - timedelta(days=rng.randrange(0, 5))
        else:
            due = NOW + timedelta(days=rng.randrange(0, 30), minutes=rng.randrange(0, 600))
        out.append(
            ClientRecord(
                id=f"b{i}", name=f"Client {i}", phone=f"+79{i:09d}", timezone=rng.choice(ZONES), country="RU",
                schedule=rng.choice(["office", "shop", "home"]), stage=stage, next_contact=due,
                complaint=stage is Stage.CUSTOMER and rng.random() < 0.05,
            )
        )  # fmt: skip
    return out


async def load(store: SqliteStore, scheduler: Scheduler, total: int, have: int) -> None:
    batch = 20_000
    for start in range(have, total, batch):
        await store.upsert_clients(records(min(batch, total - start), start))
    while True:
        pending = await store.clients_to_schedule(NOW, 20_000)
        if not pending:
            break
        await store.set_schedules([scheduler.place_client(c, NOW) for c in pending])


async def dispatcher_cycles(store: SqliteStore, config, cycles: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Per-call seconds of claim + start + record, one campaign step at a time."""
    clock = StillClock(NOW)
    d = Dispatcher(store, {"simulated": InstantProvider(clock)}, config, clock, owner="bench")
    per_call: list[float] = []
    for _ in range(cycles):
        t0 = time.perf_counter()
        result = await d.step()
        await d.wait_idle()
        dt = time.perf_counter() - t0
        if result.started:
            per_call.append(dt / result.started)
        clock._now += timedelta(seconds=1)
    return per_call


async def raw_floor(path: Path, campaign: str, batch: int, cycles: int) -> list[float]:
    """The floor: one claim statement + one outcome write per call, plain aiosqlite."""
    db = await aiosqlite.connect(path, isolation_level=None)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=NORMAL")
    per_call: list[float] = []
    now = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    until = (NOW + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for _ in range(cycles):
        t0 = time.perf_counter()
        await db.execute("BEGIN IMMEDIATE")
        async with db.execute(
            "UPDATE clients SET lease_owner='raw', lease_token=lower(hex(randomblob(12))), lease_until=? "
            "WHERE id IN (SELECT id FROM clients WHERE campaign=? AND next_dial_at IS NOT NULL "
            "AND window_closes_at > ? AND next_dial_at <= ? AND (lease_until IS NULL OR lease_until <= ?) "
            "ORDER BY priority, window_closes_at LIMIT ?) RETURNING id",
            (until, campaign, now, now, now, batch),
        ) as cur:
            ids = [r[0] for r in await cur.fetchall()]
        await db.execute("COMMIT")
        for cid in ids:
            await db.execute("BEGIN IMMEDIATE")
            await db.execute(
                "UPDATE clients SET lease_owner=NULL, lease_token=NULL, lease_until=NULL, "
                "next_dial_at='2027-01-01T00:00:00Z', window_closes_at='2027-01-01T01:00:00Z' WHERE id=?",
                (cid,),
            )
            await db.execute("COMMIT")
        dt = time.perf_counter() - t0
        if ids:
            per_call.append(dt / len(ids))
    await db.close()
    return per_call


def fmt_us(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e6:,.0f} µs/call (median of {len(values)} cycles)" if values else "n/a"


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=1_000_000)
    ap.add_argument("--cycles", type=int, default=60)
    ap.add_argument("--lines", type=int, default=20)
    ap.add_argument("--db", type=Path, default=None, help="keep the queue in this file (reused if it exists)")
    args = ap.parse_args()
    dlog.configure(json=True, level=logging.WARNING)

    base = load_config(ROOT / "config" / "dialer.yaml")
    campaigns = [
        c.model_copy(
            update={
                "lines": args.lines,
                "agents": [],
                "connect_to": "queue:bench",
                "caps": c.caps.model_copy(update={"per_day": None, "per_week": None, "per_month": None}),
            }
        )
        for c in base.campaigns
    ]
    config = base.model_copy(update={"campaigns": campaigns})
    scheduler = Scheduler(config)
    sizes = sorted({s for s in (10_000, 100_000, args.clients) if s <= args.clients})
    print(f"queue benchmark: {args.clients:,} clients, {args.lines} lines per campaign, batch = free lines")
    with tempfile.TemporaryDirectory(prefix="dialer-bench-") as tmp:
        path = args.db or Path(tmp) / "queue.db"
        store = SqliteStore(path)
        await store.open()
        await store.migrate()
        async with store.db.execute("SELECT COUNT(*) FROM clients") as cur:
            have = (await cur.fetchone())[0]
        sizes = [s for s in sizes if s >= have]
        rss_start = rss_mb()
        for size in sizes:
            t0 = time.perf_counter()
            await load(store, scheduler, size, have)
            load_s = time.perf_counter() - t0
            print(
                f"\n-- queue of {size:,}: loaded +{size - have:,} clients in {load_s:.1f} s "
                f"({(size - have) / load_s:,.0f}/s, upsert + calendar + schedule)"
            )
            have = size
            rss_before = rss_mb()
            per_call = await dispatcher_cycles(store, config, args.cycles)
            rss_after = rss_mb()
            floor = await raw_floor(path, "cold", args.lines, args.cycles)
            print(f"   dispatcher claim+dial+record: {fmt_us(per_call)}")
            print(f"   raw floor (claim + outcome) : {fmt_us(floor)}")
            if per_call and floor:
                print(f"   ratio dispatcher / floor    : {statistics.median(per_call) / statistics.median(floor):.1f}x")
            print(
                f"   worker RSS over the cycles  : {rss_before:.0f} -> {rss_after:.0f} MB "
                f"(process start {rss_start:.0f} MB; loading is in the same process)"
            )
        for campaign in config.campaigns:
            t0 = time.perf_counter()
            await morning_plan(store, config, campaign, NOW.date(), NOW)
            plan = await store.get_plan(campaign.name, NOW.date())
            print(
                f"\nmorning plan {campaign.name}: {time.perf_counter() - t0:.2f} s for "
                f"{len(plan.entries) if plan else 0:,} due clients (capacity {plan.capacity if plan else 0:,})"
            )
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
