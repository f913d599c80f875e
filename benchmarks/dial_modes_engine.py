"""Which dial mode? Progressive, power and predictive through the PRODUCTION engine, vs the limit.

    python benchmarks/dial_modes_engine.py                          # 30,000 clients, 10 and 50 agents
    python benchmarks/dial_modes_engine.py --clients 8000 --agents 10 --days 2

`benchmarks/dial_modes.py` plays the pure pacing model (`dialer.pacing.evaluate`); this one
runs `dialer.simulate.run_simulation`, the dispatcher `dialer run` uses, on a virtual clock
with the simulated provider, for each mode on the same generated population:

- ONE campaign (the example config's `cold`, alone), clients in the center's zone with the
  `home` schedule: an 8-hour calling day (10:00-18:00), the campaign's retry rules and caps;
- the simulated provider: 30 % of dials answered live, 10 % busy, 10 % machines (recognised
  by AMD on client-first calls), the rest ringing out; answers after about 9 s; talk about
  90 s median (log-normal, sigma 0.7); wrap-up 15 s; the same rates at every hour;
- `--agents N` simulated agents (Ready through the day's shift, presence on), lines
  `agents x 4` (enough for power's and predictive's ceilings);
- progressive; power (ratio 2); predictive (3 % cap, its ceiling `--predictive-ratio` calls
  per agent, 4 by default as in benchmarks/dial_modes.py).

Per mode: talk minutes per agent-hour (the day report's occupancy: talk over logged-in
time), the abandon rate (abandoned / live answers; the worst simulated day), and both as
a fraction of their limit (the cap for the abandon rate).

The limit, an ideal dialer that knows every outcome in advance (no agent ever waits,
nothing is abandoned), computed from the simulated call logs' conversations:

    T = mean talk of the conversations (answered calls) over every mode's call log
    W = the campaign's wrap-up
    live clients = clients answered live by any mode on the day
                   + clients the busiest mode never dialed x its live clients / clients dialed
    available = live clients x T                        (the talk the list holds on the day)
    limit (talk min per agent-hour) = min(60 x T / (T + W),  60 x available / agent-hours)

The first term: agents always either talking or wrapping up; the second: no dialer talks
longer than the live conversations the list holds on the day (agent-hours: the mode's
logged-in time; the agents log out after the day's last call, so a list that runs dry
shortens it; the limit row shows the longest).

Prints one table per agent count and the wall time of each run.
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
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dialer import logging as dlog
from dialer.config.loader import load_config
from dialer.config.models import DialerConfig, ProviderConfig
from dialer.domain import CallStatus
from dialer.loading import load_clients
from dialer.pacing.modes import DialMode
from dialer.planning import day_bounds
from dialer.simulate import run_simulation
from dialer.simulate_setup import Overrides, apply_overrides
from dialer.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parent.parent
CAP = 0.03
WRAP_UP_S = 15.0
PROVIDER = {
    "type": "simulated", "answer_rate": 0.30, "busy_rate": 0.10, "machine_rate": 0.10, "failed_rate": 0.0,
    "hourly": {}, "talk_seconds": {"median": 90.0, "sigma": 0.7},
}  # fmt: skip


def write_clients(path: Path, n: int, seed: int) -> None:
    """Prospects in the center's zone (Europe/Samara), `home` schedule, distinct numbers."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "name", "phone", "timezone", "schedule", "stage"])
        for i in rng.sample(range(n), n):
            w.writerow([f"e{i}", f"Client {i}", f"+7912{i:07d}", "Europe/Samara", "home", "prospect"])


def config_for(mode: DialMode, agents: int, ratio: float, db: Path) -> DialerConfig:
    config = load_config(ROOT / "config" / "dialer.yaml")
    [cold] = [c for c in config.campaigns if c.name == "cold"]
    cold = cold.model_copy(
        update={"power_ratio": ratio, "max_abandon_rate": CAP, "wrap_up": timedelta(seconds=WRAP_UP_S)}
    )
    providers = dict(config.providers)
    providers["simulated"] = ProviderConfig.model_validate({**PROVIDER, "seed": 7})
    storage = config.storage.model_copy(update={"reports_dir": db.parent / "reports"})
    config = config.model_copy(update={"campaigns": [cold], "providers": providers, "storage": storage})
    config, _ = apply_overrides(config, Overrides(dial_mode=mode, agents=agents, lines=agents * 4))
    return config


@dataclass
class Run:
    mode: str
    agents: int
    logged_in_s: float
    talk_s: float
    live: int
    abandoned: int
    worst_day_rate: float
    talks: list[float]  # every conversation's talk seconds
    reached: set[str]  # clients answered live
    dialed: int  # distinct clients dialed
    wall_s: float

    @property
    def talk_min_per_agent_hour(self) -> float:
        return 60.0 * self.talk_s / self.logged_in_s if self.logged_in_s else 0.0

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.live if self.live else 0.0


async def one_run(mode: DialMode, agents: int, ratio: float, clients: Path, db: Path, first: date, days: int) -> Run:
    config = config_for(mode, agents, ratio, db)
    store = SqliteStore(db)
    await store.open()
    await store.migrate()
    started = time.perf_counter()
    start, _ = day_bounds(config, first)
    await load_clients(config, clients, store, now=start)
    results = await run_simulation(store, config, first, days, seed=7)
    wall = time.perf_counter() - started
    logged = talk = 0.0
    live = abandoned = 0
    worst = 0.0
    for day in results:
        [row] = [r for r in day.rows if r.agent == "*"]
        logged += row.logged_in_s or 0.0
        talk += row.talk_total_s or 0.0
        live += row.reached + row.abandoned
        abandoned += row.abandoned
        worst = max(worst, row.abandon_rate or 0.0)
    calls = await store.calls_between(start, start + timedelta(days=days + 1))
    await store.close()
    talks = [c.talk_s for c in calls if c.status is CallStatus.ANSWERED]
    reached = {c.client_id for c in calls if c.status in (CallStatus.ANSWERED, CallStatus.ABANDONED)}
    dialed = len({c.client_id for c in calls})
    return Run(mode.value, agents, logged, talk, live, abandoned, worst, talks, reached, dialed, wall)


def limit_of(runs: list[Run], logged_in_s: float, clients: int) -> float:
    """Talk minutes per agent-hour of the ideal dialer over `logged_in_s` agent-seconds
    (see the module docstring)."""
    talks = [t for r in runs for t in r.talks]
    mean_talk = statistics.fmean(talks) if talks else 0.0
    reached: set[str] = set().union(*(r.reached for r in runs))
    busiest = max(runs, key=lambda r: r.dialed)
    untried = max(clients - busiest.dialed, 0) * len(busiest.reached) / max(busiest.dialed, 1)
    busy = 60.0 * mean_talk / (mean_talk + WRAP_UP_S) if mean_talk else 0.0
    return min(busy, 60.0 * (len(reached) + untried) * mean_talk / logged_in_s) if logged_in_s else 0.0


def table(agents: int, runs: list[Run], labels: list[str], days: int, clients: int) -> None:
    # A list that runs dry ends a mode's shift sooner: each mode against the limit over its own hours.
    limit = limit_of(runs, max(r.logged_in_s for r in runs), clients)
    print(f"\n{agents} agents, {agents * 4} lines, one campaign, {clients:,} clients, {days} day(s)")
    print(
        f"{'mode':<22} {'talk m/h':>9} {'of limit':>9} {'ab rate':>8} {'worst day':>10} {'of cap':>7} "
        f"{'live':>7} {'aband':>6} {'wall s':>7}"
    )
    for label, r in zip(labels, runs, strict=True):
        print(
            f"{label:<22} {r.talk_min_per_agent_hour:>9.1f} {r.talk_min_per_agent_hour / limit_of(runs, r.logged_in_s, clients):>9.1%} "
            f"{r.abandon_rate:>8.2%} {r.worst_day_rate:>10.2%} {r.worst_day_rate / CAP:>7.0%} "
            f"{r.live:>7} {r.abandoned:>6} {r.wall_s:>7.1f}"
        )
    print(f"{'ideal (the limit)':<22} {limit:>9.1f} {1:>9.1%} {0:>8.2%} {0:>10.2%} {0:>7.0%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=30_000, help="population size (enough for 50 agents all day)")
    ap.add_argument("--agents", type=int, nargs="+", default=[10, 50])
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--modes", nargs="+", default=["progressive", "power", "predictive"], help="a subset to run")
    ap.add_argument("--day", default="2026-12-01", help="the first simulated day (a working day)")
    ap.add_argument("--power-ratio", type=float, default=2.0)
    ap.add_argument("--predictive-ratio", type=float, default=4.0, help="predictive's ceiling, calls per agent")
    args = ap.parse_args()
    if args.clients < 1 or args.days < 1 or any(a < 1 for a in args.agents):
        ap.error("--clients, --days and --agents must be at least 1")
    dlog.configure(json=True, level=logging.WARNING)
    first = date.fromisoformat(args.day)
    modes = [
        ("progressive", DialMode.PROGRESSIVE, 1.0),
        (f"power (ratio {args.power_ratio:g})", DialMode.POWER, args.power_ratio),
        (f"predictive ({CAP:.0%} cap)", DialMode.PREDICTIVE, args.predictive_ratio),
    ]
    modes = [m for m in modes if m[1].value in args.modes]
    if not modes:
        ap.error("--modes: progressive, power and/or predictive")
    with tempfile.TemporaryDirectory(prefix="dialer-modes-") as tmp:
        clients = Path(tmp) / "clients.csv"
        write_clients(clients, args.clients, 1)
        for agents in args.agents:
            runs = []
            for label, mode, ratio in modes:
                db = Path(tmp) / f"{mode.value}-{agents}.db"
                runs.append(asyncio.run(one_run(mode, agents, ratio, clients, db, first, args.days)))
                print(f"  {label}, {agents} agents: {runs[-1].wall_s:.1f} s wall", file=sys.stderr)
            table(agents, runs, [m[0] for m in modes], args.days, args.clients)


if __name__ == "__main__":
    main()
