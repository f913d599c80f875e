"""Which dial mode? Progressive, power, predictive and the ideal limit on one population.

    python benchmarks/dial_modes.py                      # 40,000 clients, 10 and 50 agents, 10 seeds
    python benchmarks/dial_modes.py --agents 10 --seeds 3

Plays one 8-hour day of one campaign per mode with `dialer.pacing.evaluate` (a generated
population: about 30 % of dials answered live, 10 % busy, 10 % machines recognised by AMD,
the rest ringing out at 30 s; answers after about 8 s; talk about 90 s median, log-normal;
wrap-up about 15 s; 3 attempts an hour apart; 4 lines per agent), prints a side-by-side
table for the first seed with each mode's talk minutes per agent-hour as a fraction of the
ideal dialer's (see `dialer.pacing.evaluate.ideal`), then predictive over every seed: the
abandon rate of each simulated day (the worst is what the cap is about) and its fraction of
the limit. Ends with the wall time of a 10,000-client predictive day with 20 lines.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dialer.pacing.evaluate import ModeResult, Population, Scenario, draw_attempts, evaluate, ideal
from dialer.pacing.modes import DialMode


def row(label: str, r: ModeResult, limit: ModeResult) -> str:
    share = r.talk_s / limit.talk_s if limit.talk_s else 0.0
    return (
        f"{label:<24} {r.logged_in_s / 3600:>8.1f} {r.talk_s / 3600:>8.1f} {r.talk_minutes_per_agent_hour:>9.1f} "
        f"{share:>8.1%} {r.mean_wait_s:>8.1f} {r.dials:>7} {r.live_answers:>6} {r.abandoned:>6} {r.abandon_rate:>8.2%}"
    )


def table(population: Population, scenario: Scenario, predictive_ratio: float) -> None:
    attempts = draw_attempts(population, scenario.seed)
    limit = ideal(population, scenario, attempts=attempts)
    print(
        f"\n{scenario.agents} agents, {scenario.line_count} lines, {population.clients:,} clients, "
        f"{scenario.day_seconds / 3600:g} h day, seed {scenario.seed}"
    )
    print(
        f"{'mode':<24} {'login h':>8} {'talk h':>8} {'talk m/h':>9} {'of limit':>8} {'wait s':>8} "
        f"{'dials':>7} {'live':>6} {'aband':>6} {'ab rate':>8}"
    )
    runs = [
        ("progressive", DialMode.PROGRESSIVE, scenario),
        (f"power (ratio {scenario.power_ratio:g})", DialMode.POWER, scenario),
        (
            f"predictive ({scenario.max_abandon_rate:.0%} cap)",
            DialMode.PREDICTIVE,
            replace(scenario, power_ratio=predictive_ratio),
        ),
    ]
    for label, mode, sc in runs:
        print(row(label, evaluate(mode, population, sc, attempts=attempts), limit))
    print(row("ideal (the limit)", limit, limit))


def seeds(population: Population, scenario: Scenario, count: int) -> None:
    rates: list[float] = []
    shares: list[float] = []
    for seed in range(scenario.seed, scenario.seed + count):
        sc = replace(scenario, seed=seed)
        attempts = draw_attempts(population, seed)
        r = evaluate(DialMode.PREDICTIVE, population, sc, attempts=attempts)
        rates.append(r.abandon_rate)
        shares.append(r.talk_s / ideal(population, sc, attempts=attempts).talk_s)
    cap = scenario.max_abandon_rate
    print(
        f"predictive, {scenario.agents} agents, {count} days: abandon rate max {max(rates):.2%} "
        f"(mean {sum(rates) / count:.2%}, cap {cap:.0%}, days over cap {sum(r > cap for r in rates)}); "
        f"of limit min {min(shares):.1%} mean {sum(shares) / count:.1%}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=40_000, help="population size (enough for 50 agents all day)")
    ap.add_argument("--agents", type=int, nargs="+", default=[10, 50])
    ap.add_argument("--seeds", type=int, default=10, help="simulated days for the predictive abandon check")
    ap.add_argument("--power-ratio", type=float, default=2.0)
    ap.add_argument("--predictive-ratio", type=float, default=4.0, help="predictive's ceiling, calls per agent")
    ap.add_argument("--cap", type=float, default=0.03)
    args = ap.parse_args()
    if args.clients < 1 or args.seeds < 1 or any(a < 1 for a in args.agents):
        ap.error("--clients, --seeds and --agents must be at least 1")

    population = Population(clients=args.clients)
    for agents in args.agents:
        scenario = Scenario(agents=agents, power_ratio=args.power_ratio, max_abandon_rate=args.cap)
        table(population, scenario, args.predictive_ratio)
    print()
    for agents in args.agents:
        scenario = Scenario(agents=agents, power_ratio=args.predictive_ratio, max_abandon_rate=args.cap)
        seeds(population, scenario, args.seeds)

    small = Population(clients=10_000)
    speed = Scenario(agents=20, lines=20, power_ratio=args.predictive_ratio, max_abandon_rate=args.cap)
    attempts = draw_attempts(small, speed.seed)
    started = time.perf_counter()
    evaluate(DialMode.PREDICTIVE, small, speed, attempts=attempts)
    print(f"\n10,000-client predictive day, 20 agents, 20 lines: {time.perf_counter() - started:.2f} s wall")


if __name__ == "__main__":
    main()
