"""Client import throughput: generate N synthetic clients, import them, print rows/s.

    python benchmarks/import_csv.py                     # 1,000,000 rows into a null sink
    python benchmarks/import_csv.py --rows 200000 --repeat 3
    python benchmarks/import_csv.py --sqlite            # into the real SQLite store, placed in the queue
    python benchmarks/import_csv.py --csv my.csv        # import an existing file instead

The file looks like a Russian Excel export (UTF-8 with BOM, ``;``), with a realistic mix:
mobile numbers in several spellings (zone defaulted), landlines whose zone is inferred
from the area code, explicit time zones, stages, schedules, dates, extra columns and
about 0.5% bad rows (rejected with a reason). Generation is not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dialer.config.loader import load_config  # noqa: E402
from dialer.domain import ClientRecord  # noqa: E402
from dialer.importer import import_clients  # noqa: E402

# Area codes (after +7) whose zone phonenumbers knows, with that zone.
LANDLINES = [
    ("4012", "Europe/Kaliningrad"),
    ("495", "Europe/Moscow"),
    ("812", "Europe/Moscow"),
    ("3412", "Europe/Samara"),
    ("8462", "Europe/Samara"),
    ("343", "Asia/Yekaterinburg"),
    ("3812", "Asia/Omsk"),
    ("383", "Asia/Novosibirsk"),
    ("3912", "Asia/Krasnoyarsk"),
    ("3952", "Asia/Irkutsk"),
    ("4112", "Asia/Yakutsk"),
    ("4232", "Asia/Vladivostok"),
    ("4132", "Asia/Magadan"),
    ("4152", "Asia/Kamchatka"),
]
ZONES = [z for _, z in LANDLINES]
MOBILE_PREFIXES = ["912", "922", "950", "982", "917", "903", "905", "926", "999", "914"]
FIRST = ["Иван", "Пётр", "Анна", "Мария", "Сергей", "Ольга", "Дмитрий", "Елена", "Алексей", "Наталья"]
LAST = ["Иванов", "Петров", "Сидоров", "Кузнецов", "Смирнов", "Попов", "Волков", "Морозов", "Лебедев", "Соколов"]
CITIES = ["Ижевск", "Москва", "Казань", "Омск", "Томск", "Пермь", "Самара", "Чита", "Якутск", "Калининград"]
HEADER = [
    "id",
    "name",
    "phone",
    "timezone",
    "schedule",
    "stage",
    "next_contact",
    "complaint",
    "do_not_call",
    "company",
    "city",
    "segment",
]


def _mobile(rng: random.Random, i: int) -> str:
    prefix = MOBILE_PREFIXES[i % len(MOBILE_PREFIXES)]
    # The row index makes every number unique: nothing a per-number cache could reuse.
    rest = f"{(i * 7919) % 10_000_000:07d}"
    style = rng.randrange(4)
    if style == 0:
        return f"8 ({prefix}) {rest[:3]}-{rest[3:5]}-{rest[5:]}"
    if style == 1:
        return f"+7 {prefix} {rest[:3]} {rest[3:5]} {rest[5:]}"
    if style == 2:
        return f"8{prefix}{rest}"
    return f"+7{prefix}{rest}"


def _landline(rng: random.Random, i: int) -> tuple[str, str]:
    code, zone = LANDLINES[rng.randrange(len(LANDLINES))]
    digits = 10 - len(code)
    rest = f"{(i * 104729) % 10**digits:0{digits}d}"
    if rng.random() < 0.5:
        return f"8 ({code}) {rest}", zone
    return f"+7 {code} {rest}", zone


def generate(path: Path, rows: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(HEADER)
        for i in range(rows):
            r = rng.random()
            zone = ""
            if r < 0.30:  # landline: zone inferred from the area code
                phone, _ = _landline(rng, i)
            elif r < 0.55:  # explicit zone
                phone = _mobile(rng, i)
                zone = ZONES[rng.randrange(len(ZONES))]
            else:  # mobile without zone: defaulted
                phone = _mobile(rng, i)
            cid = f"C{i:07d}"
            if r > 0.995:  # ~0.5% bad rows
                bad = rng.randrange(3)
                if bad == 0:
                    phone = "123-45"
                elif bad == 1:
                    zone = "Europe/Atlantis"
                else:
                    cid = f"C{max(i - 1, 0):07d}"  # duplicate id
            s = rng.random()
            stage = "hot" if s < 0.08 else "customer" if s < 0.2 else ("prospect" if s < 0.5 else "")
            w.writerow(
                [
                    cid,
                    f"{FIRST[i % 10]} {LAST[(i // 10) % 10]}",
                    phone,
                    zone,
                    ("office", "shop", "home", "")[i % 4],
                    stage,
                    f"2026-11-{20 + i % 11:02d}" if i % 2 else "",
                    "1" if stage == "customer" and i % 17 == 0 else "",
                    "1" if i % 997 == 0 else "",
                    f"ООО «Компания {i % 5000}»" if i % 3 else "",
                    CITIES[i % len(CITIES)],
                    ("b2b", "b2c", "vip")[i % 3],
                ]
            )


class NullSink:
    """Counts rows; every id is new (the generator makes unique ids)."""

    def __init__(self) -> None:
        self.rows = 0

    async def upsert_clients(self, records: Sequence[ClientRecord]) -> tuple[int, int]:
        self.rows += len(records)
        return len(records), 0


async def run_once(config_path: Path, csv_path: Path, use_sqlite: bool, workdir: Path, batch: int, progress: bool):
    config = load_config(config_path)
    store: Any = None
    sink: Any
    if use_sqlite:
        from dialer.store.sqlite import SqliteStore  # lazily: only this mode needs it

        db = workdir / f"bench-{time.monotonic_ns()}.db"
        store = SqliteStore(db)
        await store.open()
        await store.migrate()
        # What `dialer import` does: write and place each new client in the queue.
        from dialer.loading import SchedulingSink
        from dialer.scheduling import Scheduler

        sink = SchedulingSink(store, Scheduler(config), datetime.now(UTC))
    else:
        sink = NullSink()
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        summary = await import_clients(config, csv_path, sink, batch_size=batch, progress=progress)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        if store is not None:
            await store.close()
    return summary, seconds, cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=1, help="import the same file this many times; report the median")
    ap.add_argument("--sqlite", action="store_true", help="import into the real SqliteStore (a fresh db per run)")
    ap.add_argument("--csv", type=Path, help="import this file instead of generating one")
    ap.add_argument("--config", type=Path, default=ROOT / "config" / "dialer.yaml")
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the generated file and databases")
    args = ap.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="dialer-bench-"))
    try:
        if args.csv:
            csv_path = args.csv
        else:
            csv_path = workdir / "clients.csv"
            t0 = time.perf_counter()
            generate(csv_path, args.rows)
            size = csv_path.stat().st_size / 2**20
            print(f"generated {args.rows:,} rows ({size:.0f} MiB) in {time.perf_counter() - t0:.1f} s: {csv_path}")
        times = []
        for i in range(args.repeat):
            summary, seconds, cpu = asyncio.run(
                run_once(args.config, csv_path, args.sqlite, workdir, args.batch, args.progress)
            )
            times.append(seconds)
            sink = "sqlite" if args.sqlite else "null sink"
            print(
                f"run {i + 1}: {summary.rows:,} rows in {seconds:.2f} s = {summary.rows / seconds:,.0f} rows/s "
                f"(CPU {cpu:.2f} s) "
                f"({sink}; {summary.imported:,} new, {summary.updated:,} updated, {summary.rejected:,} rejected; "
                f"zones {summary.tz_from_row:,} file / {summary.tz_inferred:,} inferred / "
                f"{summary.tz_defaulted:,} defaulted)"
            )
        if args.repeat > 1:
            med = statistics.median(times)
            print(f"median of {args.repeat}: {med:.2f} s = {summary.rows / med:,.0f} rows/s")
        if args.keep:
            print(f"kept: {workdir}")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
