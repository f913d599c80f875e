"""Call order against an upper bound: clients dialed in a simulated day vs what any order could dial.

    python benchmarks/call_order.py                 # every population below, one simulated day each
    python benchmarks/call_order.py --only issue    # one of them
    python benchmarks/call_order.py --compare       # also the old order (closing window first)

Each population is a generated client list (office clients over several zones with
lunch breaks, a number of lines). It is imported and one working day is simulated
through the code `dialer simulate` runs (dispatcher, SQLite store, daily plan), with a
simulated provider that answers every call and holds the line for exactly the
campaign's `expected_handle` (5 min, 6.5 min in issue-6.5min); the disposition sets the next contact months
ahead, so nobody is dialed twice a day. Printed per population:

  dialed    clients called that day (from the call log)
  bound     an upper bound on the clients ANY call order could reach that day: a
            max-flow relaxation where each client needs `expected_handle` of line
            time inside [window opening, last start + expected_handle] of its callable
            windows, no client on two lines at once, and the lines are the machines
            (preemptive, so it may exceed what is reachable; never below it)
  plan fits the morning plan's forecast (clients that fit), which must equal dialed;
  ≠day      clients the plan marked fitting but the day did not dial, or the reverse
            (for the least-slack order; the old order's many exact ties are broken by
            id in the store and by zone in the forecast, so there it may differ)
  idle      line-minutes left idle while some undialed client was callable (the
            defect of issue 9 item 6: it must be 0)

The figures are deterministic (no random outcomes, fixed seeds).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import logging
import random
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dialer import calendar
from dialer import logging as dlog
from dialer.config.loader import parse_config
from dialer.config.models import DialerConfig
from dialer.loading import load_clients
from dialer.model import CallRecord
from dialer.planning import day_bounds
from dialer.scheduling import Scheduler
from dialer.simulate import run_simulation
from dialer.store.sqlite import SqliteStore

DAY = date(2026, 12, 1)  # a Tuesday, no holiday
ALL_ZONES = ["Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk",
             "Asia/Novosibirsk", "Asia/Irkutsk", "Asia/Yakutsk", "Asia/Vladivostok", "Asia/Magadan",
             "Asia/Kamchatka"]  # fmt: skip
FIVE_ZONES = ["Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Novosibirsk"]


@dataclass(frozen=True)
class Population:
    name: str
    clients: int
    lines: int
    zones: tuple[str, ...]
    lunches: tuple[tuple[str, str] | None, ...]  # one schedule per lunch variant
    weights: tuple[float, ...] | None = None  # per zone; None = even
    seed: int = 1
    handle_s: int = 300  # ring 10 s + talk: every call holds its line this long

    @property
    def handle(self) -> timedelta:
        return timedelta(seconds=self.handle_s)


POPULATIONS = [
    Population("issue", 300, 2, tuple(FIVE_ZONES), (("13:00", "14:00"),)),
    Population("issue-6.5min", 300, 2, tuple(FIVE_ZONES), (("13:00", "14:00"),), handle_s=390),
    Population(
        "eleven-zones", 400, 3, tuple(ALL_ZONES), (("12:00", "13:00"), ("13:00", "14:00"), ("14:00", "15:00"), None)
    ),
    Population(
        "east-heavy",
        260,
        2,
        tuple(ALL_ZONES),
        (("13:00", "14:00"), ("12:30", "13:30")),
        weights=(1, 1, 1, 2, 2, 4, 4, 3, 3, 2, 2),
    ),  # fmt: skip
    Population("overloaded", 600, 2, tuple(FIVE_ZONES), (("13:00", "14:00"), ("12:00", "13:00"))),
    Population("one-line", 130, 1, tuple(ALL_ZONES), (("13:00", "14:00"), None)),
]


def config_yaml(pop: Population, db_dir: Path) -> str:
    schedules = []
    for i, lunch in enumerate(pop.lunches):
        lunch_line = f'\n    lunch: {{start: "{lunch[0]}", end: "{lunch[1]}"}}' if lunch else ""
        schedules.append(
            f'  office{i}:\n    days: [mon-fri]\n    start: "09:00"\n    end: "18:00"{lunch_line}\n    holidays: RU'
        )
    return f"""
center:
  name: bench
  timezone: Europe/Samara
  shift: {{days: [mon-sat], start: "06:00", end: "22:00"}}
  holidays: RU
legal_window: {{start: "08:00", end: "21:00"}}
storage: {{path: {db_dir / "bench.db"}, reports_dir: {db_dir / "reports"}}}
schedules:
{chr(10).join(schedules)}
default_schedule: office0
campaigns:
  - name: cold
    stages: [prospect]
    lines: {pop.lines}
    window: {{days: [workdays], start: "09:00", end: "18:00"}}
    provider: simulated
    caller_id: "+73412000001"
    connect_to: "queue:cold"
    talk: {{target_min: 3m, target_max: 5m}}
    ring_timeout: 30s
    expected_handle: {pop.handle_s}s
    plan_at: "05:00"
    report_at: "23:00"
providers:
  simulated:
    type: simulated
    answer_rate: 1.0
    busy_rate: 0
    machine_rate: 0
    failed_rate: 0
    ring_seconds: [10, 10]
    hourly: flat  # every call answered, whatever the local hour (the bound assumes it)
    talk_seconds: {{median: {pop.handle_s - 10}, sigma: 0}}
    dispositions: {{prospect: {{no_need: 1}}}}
"""


def write_clients(pop: Population, path: Path) -> None:
    rng = random.Random(pop.seed)
    weights = list(pop.weights) if pop.weights else None
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "name", "phone", "timezone", "schedule", "stage"])
        for i in range(pop.clients):
            zone = rng.choices(pop.zones, weights)[0]
            w.writerow([f"c{i:05d}", f"Client {i}", f"+7912{i:07d}", zone,
                        f"office{rng.randrange(len(pop.lunches))}", "prospect"])  # fmt: skip


# ---------------------------------------------------------------- the bound


def _max_flow(n: int, edges: list[tuple[int, int, int]], source: int, sink: int) -> int:
    """Edmonds-Karp on a small graph (a few dozen classes, a few hundred segments)."""
    graph: list[list[int]] = [[] for _ in range(n)]
    to: list[int] = []
    cap: list[int] = []
    for u, v, c in edges:
        graph[u].append(len(to))
        to.append(v)
        cap.append(c)
        graph[v].append(len(to))
        to.append(u)
        cap.append(0)
    flow = 0
    while True:
        parent = [-1] * n
        parent[source] = -2
        queue = deque([source])
        while queue and parent[sink] == -1:
            u = queue.popleft()
            for e in graph[u]:
                if cap[e] > 0 and parent[to[e]] == -1:
                    parent[to[e]] = e
                    queue.append(to[e])
        if parent[sink] == -1:
            return flow
        push = None
        v = sink
        while v != source:
            e = parent[v]
            push = cap[e] if push is None else min(push, cap[e])
            v = to[e ^ 1]
        v = sink
        while v != source:
            e = parent[v]
            cap[e] -= push  # type: ignore[operator]
            cap[e ^ 1] += push  # type: ignore[operator]
            v = to[e ^ 1]
        flow += push  # type: ignore[operator]


def regions(
    config: DialerConfig, zone: str, schedule: str, day: date, handle: timedelta
) -> list[tuple[datetime, datetime]]:
    """Where a client's call can hold a line on `day`: from each window's opening to
    its last start plus the handle time (merged where they overlap)."""
    campaign = config.campaigns[0]
    rules = Scheduler(config).rules(campaign, zone, schedule)
    start, end = day_bounds(config, day)
    out: list[tuple[datetime, datetime]] = []
    for iv in calendar.open_intervals(rules, start, end):
        last = iv.end - rules.min_remaining
        if last <= iv.start:
            continue
        a, b = iv.start, min(last, end) + handle
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def upper_bound(
    config: DialerConfig, classes: Counter[tuple[str, str]], lines: int, day: date, handle: timedelta
) -> int:
    """Clients any order could dial: max flow / handle time (see the module docstring)."""
    spans = {k: regions(config, k[0], k[1], day, handle) for k in classes}
    cuts = sorted({t for rs in spans.values() for r in rs for t in r})
    segments = list(zip(cuts, cuts[1:], strict=False))
    keys = list(classes)
    source, sink = 0, 1 + len(keys) + len(segments)
    edges: list[tuple[int, int, int]] = []
    h = int(handle.total_seconds())
    for i, k in enumerate(keys):
        edges.append((source, 1 + i, classes[k] * h))
        for j, (a, b) in enumerate(segments):
            if any(ra <= a and b <= rb for ra, rb in spans[k]):
                edges.append((1 + i, 1 + len(keys) + j, classes[k] * int((b - a).total_seconds())))
    for j, (a, b) in enumerate(segments):
        edges.append((1 + len(keys) + j, sink, lines * int((b - a).total_seconds())))
    return min(sum(classes.values()), _max_flow(sink + 1, edges, source, sink) // h)


# ---------------------------------------------------------------- the day


@dataclass
class DayFigures:
    population: str
    clients: int
    lines: int
    dialed: int
    bound: int
    planned_fit: int
    plan_mismatch: int  # clients the plan said fit but were not dialed, or the reverse
    rolled_over: int
    idle_minutes: int
    first_zone: str
    never_dialed: dict[str, int]
    seconds: float


def idle_line_minutes(
    config: DialerConfig, calls: list[CallRecord], undialed: Counter[tuple[str, str]], lines: int, day: date
) -> int:
    """Minutes in which fewer than `lines` calls were up while at least one undialed
    client could have started a call (sampled mid-minute: every boundary here falls on
    a whole minute, so the sample stands for the whole minute)."""
    campaign = config.campaigns[0]
    scheduler = Scheduler(config)
    start, end = day_bounds(config, day)
    minutes = 0
    t = start + timedelta(seconds=30)
    rules = [scheduler.rules(campaign, z, s) for z, s in undialed]
    while t < end:
        busy = sum(1 for c in calls if c.started_at <= t < (c.ended_at or c.started_at))
        if busy < lines and any(calendar.status(r, t).open for r in rules):
            minutes += 1
        t += timedelta(minutes=1)
    return minutes


async def simulate_day(pop: Population, workdir: Path) -> DayFigures:
    config = parse_config(config_yaml(pop, workdir))
    clients_csv = workdir / "clients.csv"
    write_clients(pop, clients_csv)
    store = SqliteStore(workdir / "bench.db")
    await store.open()
    await store.migrate()
    t0 = time.perf_counter()
    try:
        start, end = day_bounds(config, DAY)
        await load_clients(config, clients_csv, store, now=start)
        await run_simulation(store, config, DAY, 1, seed=1)
        elapsed = time.perf_counter() - t0
        calls = await store.calls_between(start, end)
        plan = await store.get_plan("cold", DAY)
        counts = await store.plan_counts("cold", DAY, start, end, end)  # read at the end of the day
        assert plan is not None and counts is not None
        classes: Counter[tuple[str, str]] = Counter()
        undialed: Counter[tuple[str, str]] = Counter()
        dialed_ids = {c.client_id for c in calls}
        zone_of: dict[str, str] = {}
        for row in csv.DictReader(clients_csv.open(encoding="utf-8")):
            key = (row["timezone"], row["schedule"])
            classes[key] += 1
            zone_of[row["id"]] = row["timezone"]
            if row["id"] not in dialed_ids:
                undialed[key] += 1
        never = Counter(z for (z, _), n in undialed.items() for _ in range(n))
        first = min(calls, key=lambda c: (c.started_at, c.call_id)).client_tz if calls else "-"
        return DayFigures(
            population=pop.name, clients=pop.clients, lines=pop.lines, dialed=len(dialed_ids),
            bound=upper_bound(config, classes, pop.lines, DAY, pop.handle), planned_fit=plan.fits,
            plan_mismatch=len({e.client_id for e in plan.entries if e.fits} ^ dialed_ids), rolled_over=counts.rolled_over,
            idle_minutes=idle_line_minutes(config, calls, undialed, pop.lines, DAY), first_zone=first,
            never_dialed=dict(never), seconds=elapsed,
        )  # fmt: skip
    finally:
        await store.close()


@contextmanager
def old_order() -> Iterator[None]:
    """The order before issue 9 item 6: the stored slack key falls back to the window's
    last start, so claims take the window that closes soonest first."""
    with mock.patch.object(calendar, "callable_left", lambda rules, at: timedelta(0)):
        yield


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=[p.name for p in POPULATIONS])
    ap.add_argument("--compare", action="store_true", help="also run the old closing-window order")
    args = ap.parse_args()
    dlog.configure(json=True, level=logging.WARNING)
    pops = [p for p in POPULATIONS if args.only in (None, p.name)]
    orders = [("least slack", None), ("old: closing window", old_order)] if args.compare else [("least slack", None)]
    print(f"simulated day {DAY} (Tue), office clients 09-18 client time, center Izhevsk 06-22, "
          "each call answered and holding its line for the campaign's expected_handle")  # fmt: skip
    print(f"{'population':<14}{'order':<21}{'clients':>8}{'lines':>6}{'dialed':>8}{'bound':>7}"
          f"{'dialed/bound':>13}{'plan fits':>10}{'≠day':>5}{'rolled':>7}{'idle min':>9}  first zone / never dialed")  # fmt: skip
    for pop in pops:
        for label, ctx in orders:
            with tempfile.TemporaryDirectory(prefix="dialer-order-") as tmp:
                if ctx is None:
                    fig = asyncio.run(simulate_day(pop, Path(tmp)))
                else:
                    with ctx():
                        fig = asyncio.run(simulate_day(pop, Path(tmp)))
            never = ", ".join(f"{z.split('/')[1]} {n}" for z, n in sorted(fig.never_dialed.items())) or "none"
            print(f"{pop.name:<14}{label:<21}{fig.clients:>8}{fig.lines:>6}{fig.dialed:>8}{fig.bound:>7}"
                  f"{fig.dialed / fig.bound:>13.3f}{fig.planned_fit:>10}{fig.plan_mismatch:>5}{fig.rolled_over:>7}"
                  f"{fig.idle_minutes:>9}"
                  f"  {fig.first_zone.split('/')[-1]} / {never}  ({fig.seconds:.1f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
