"""A simulated working day with 20 lines: wall time of `dialer simulate` and its figures.

    python benchmarks/simulated_day.py                # 10,000 clients, 20 lines, 1 day, 3 runs
    python benchmarks/simulated_day.py --clients 20000 --runs 1

Generates a client list spread over Russia's zones (prospects, hot, customers,
complaints), gives the example config's cold campaign 20 lines, and runs the same code
path as the README's first command (the store as `dialer simulate` opens its temp file:
SQL in the event loop's thread, no fsync). Prints each run, then the median wall time
over the runs (import and the whole day, audit included), clients and calls per second,
and the guarantee audit. The target (issue 13): at most 8 s for 10,000 clients.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import logging
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dialer import logging as dlog
from dialer.config.loader import load_config
from dialer.config.models import Agent
from dialer.loading import load_clients
from dialer.planning import day_bounds
from dialer.simulate import run_simulation
from dialer.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parent.parent
ZONES = ["Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk",
         "Asia/Novosibirsk", "Asia/Irkutsk", "Asia/Yakutsk", "Asia/Vladivostok", "Asia/Magadan", "Asia/Kamchatka"]  # fmt: skip


def write_clients(path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "name", "phone", "timezone", "schedule", "stage", "complaint"])
        for i in range(n):
            stage = rng.choices(["prospect", "hot", "customer"], [75, 10, 15])[0]
            complaint = "1" if stage == "customer" and rng.random() < 0.1 else ""
            w.writerow([f"s{i}", f"Client {i}", f"+7912{i:07d}", rng.choice(ZONES),
                        rng.choice(["office", "shop", "home"]), stage, complaint])  # fmt: skip


async def one_run(
    config_path: Path, clients: Path, db: Path, lines: int, day: date, seed: int
) -> tuple[float, int, int]:
    config = load_config(config_path)
    campaigns = []
    for c in config.campaigns:
        if c.name == "cold":
            agents = [Agent(name=f"agent{i:02d}", target=f"sip:{300 + i}@pbx.local") for i in range(lines)]
            c = c.model_copy(update={"lines": lines, "agents": agents})
        campaigns.append(c)
    storage = config.storage.model_copy(update={"reports_dir": db.parent / "reports"})
    config = config.model_copy(update={"campaigns": campaigns, "storage": storage})
    store = SqliteStore(db, inline=True, throwaway=True)  # as `dialer simulate` opens its temp file
    await store.open()
    await store.migrate()
    t0 = time.perf_counter()
    start, _ = day_bounds(config, day)
    await load_clients(config, clients, store, now=start)
    results = await run_simulation(store, config, day, 1, seed)
    elapsed = time.perf_counter() - t0
    await store.close()
    audit = results[0].audit
    return elapsed, audit.calls, audit.violations


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=10_000)
    ap.add_argument("--lines", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--day", default="2026-12-01")
    args = ap.parse_args()
    dlog.configure(json=True, level=logging.WARNING)
    times = []
    calls = bad = 0
    with tempfile.TemporaryDirectory(prefix="dialer-simday-") as tmp:
        clients = Path(tmp) / "clients.csv"
        write_clients(clients, args.clients, 1)
        for run in range(args.runs):
            elapsed, calls, violations = asyncio.run(
                one_run(ROOT / "config" / "dialer.yaml", clients, Path(tmp) / f"run{run}.db", args.lines,
                        date.fromisoformat(args.day), 7)
            )  # fmt: skip
            bad += violations
            times.append(elapsed)
            print(f"run {run + 1}: {elapsed:.1f} s wall, {calls:,} calls, {violations} guarantee violations")
    median = statistics.median(times)
    print(
        f"simulated day, {args.clients:,} clients, cold campaign with {args.lines} lines: "
        f"median {median:.1f} s wall over {len(times)} runs, {args.clients / median:,.0f} clients/s, "
        f"{calls / median:,.0f} calls/s, {bad} guarantee violations"
    )


if __name__ == "__main__":
    main()
