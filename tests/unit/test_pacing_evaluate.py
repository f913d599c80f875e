"""The offline mode evaluator: audited days, the ideal limit, and its speed."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer.pacing.evaluate import (
    Attempt,
    ModeResult,
    Outcome,
    Population,
    Scenario,
    draw_attempts,
    evaluate,
    ideal,
)
from dialer.pacing.modes import DialMode

DIALING = [DialMode.PROGRESSIVE, DialMode.POWER, DialMode.PREDICTIVE]
EPS = 1e-6


def audit(result: ModeResult, population: Population, scenario: Scenario, attempts: list[list[Attempt]]) -> None:
    """Every guarantee the evaluator claims, checked from its trail."""
    calls = result.calls
    assert len(calls) == result.dials
    # Clients: each attempt at most once, in order, at most max_attempts, spaced by retry_after.
    by_client: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for c in calls:
        by_client[c.client].append((c.attempt, c.dialed_at))
        assert c.outcome is attempts[c.client][c.attempt].outcome
        assert c.dialed_at < scenario.day_seconds
        assert c.ended_at is not None, "every call ends"
    for tries in by_client.values():
        assert [k for k, _ in tries] == list(range(len(tries)))
        assert len(tries) <= population.max_attempts
        for (_, a), (_, b) in zip(tries, tries[1:], strict=False):
            assert b - a >= population.retry_after - EPS
    # Agents: never in two calls at once.
    spans: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for agent, start, end in result.agent_spans:
        assert 0 <= agent < scenario.agents and start <= end + EPS
        spans[agent].append((start, end))
    for agent_spans in spans.values():
        agent_spans.sort()
        for (_, end), (start, _) in zip(agent_spans, agent_spans[1:], strict=False):
            assert start >= end - EPS
    assert len(result.agent_talk_s) == scenario.agents
    assert sum(result.agent_talk_s) == pytest.approx(result.talk_s)
    connected = [c for c in calls if c.connected_at is not None]
    for c in connected:
        at = c.connected_at
        assert at is not None and c.agent is not None and c.answered_at is not None
        assert at - c.answered_at <= scenario.abandon_after + EPS
        assert any(s - EPS <= at <= e + EPS for s, e in spans[c.agent])
    # Abandons: only client first, only after abandon_after, only with every agent busy throughout.
    abandoned = [c for c in calls if c.abandoned_at is not None]
    assert len(abandoned) == result.abandoned
    assert result.live_answers == len(connected) + len(abandoned) == result.conversations + result.abandoned
    for c in abandoned:
        assert result.mode != "progressive"
        answered, gave_up = c.answered_at, c.abandoned_at
        assert answered is not None and gave_up is not None and c.agent is None
        assert gave_up == pytest.approx(answered + scenario.abandon_after)
        for agent in range(scenario.agents):
            assert covered(spans[agent], answered, gave_up), f"agent {agent} was free"
        assert c.client not in {d.client for d in calls if d.dialed_at > c.dialed_at}, "abandoned, then redialed"
    # Lines: never more calls up than lines.
    edges = sorted([(c.dialed_at, 1) for c in calls] + [(c.ended_at or 0.0, -1) for c in calls], key=lambda e: e)
    up = 0
    for _, step in edges:
        up += step
        assert up <= scenario.line_count


def covered(spans: list[tuple[float, float]], start: float, end: float) -> bool:
    """Do these busy spans (sorted, touching allowed) cover [start, end] without a gap?"""
    reach = start
    for s, e in spans:
        if s - EPS <= reach < e:
            reach = e
        if reach >= end - EPS:
            return True
    return reach >= end - EPS


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mode=st.sampled_from(DIALING),
    seed=st.integers(0, 10_000),
    agents=st.integers(1, 8),
    clients=st.integers(1, 400),
    lines=st.one_of(st.none(), st.integers(1, 30)),
    ratio=st.floats(1.0, 6.0),
    amd=st.booleans(),
    answer_rate=st.floats(0.05, 0.9),
)
def test_every_day_passes_the_audit(
    mode: DialMode,
    seed: int,
    agents: int,
    clients: int,
    lines: int | None,
    ratio: float,
    amd: bool,
    answer_rate: float,
) -> None:
    population = Population(
        clients=clients, answer_rate=answer_rate, busy_rate=0.05, machine_rate=0.05, retry_after=600.0
    )
    scenario = Scenario(agents=agents, lines=lines, seed=seed, power_ratio=ratio, amd=amd, day_seconds=1_800.0)
    attempts = draw_attempts(population, seed)
    result = evaluate(mode, population, scenario, attempts=attempts, trace=True)
    audit(result, population, scenario, attempts)


def test_realistic_day_per_mode_is_audited_and_bounded_by_the_ideal() -> None:
    population = Population(clients=3_000)
    scenario = Scenario(agents=10, day_seconds=2 * 3_600.0, seed=5, power_ratio=4.0)
    attempts = draw_attempts(population, scenario.seed)
    limit = ideal(population, scenario, attempts=attempts)
    results = {m: evaluate(m, population, scenario, attempts=attempts, trace=True) for m in DIALING}
    for mode, r in results.items():
        audit(r, population, scenario, attempts)
        assert 0 < r.talk_s <= limit.talk_s, mode
        assert r.logged_in_s == limit.logged_in_s == 10 * 2 * 3_600.0
    progressive, power, predictive = (results[m] for m in DIALING)
    assert progressive.abandoned == 0
    # Dialing ahead keeps agents talking longer, and predictive keeps under its cap.
    assert progressive.occupancy < predictive.occupancy
    assert progressive.mean_wait_s > predictive.mean_wait_s
    assert predictive.abandon_rate <= scenario.max_abandon_rate
    assert power.abandon_rate > predictive.abandon_rate  # ratio 4 on a 30 % list abandons a lot
    assert limit.abandoned == 0 and limit.mean_wait_s == pytest.approx(0.0, abs=1e-6)


def test_ideal_occupancy_is_talk_over_handle_time_when_the_list_outlasts_the_day() -> None:
    population = Population(clients=5_000)
    scenario = Scenario(agents=5, day_seconds=3_600.0)
    limit = ideal(population, scenario)
    assert limit.talk_s + limit.wrap_s == pytest.approx(limit.logged_in_s, rel=1e-9)
    assert sum(limit.agent_talk_s) == pytest.approx(limit.talk_s)
    assert min(limit.agent_talk_s) > 0.6 * 3_600.0  # every agent talks most of the hour
    assert limit.talk_minutes_per_agent_hour == pytest.approx(60 * limit.occupancy)


def test_ideal_agents_wait_when_the_list_runs_out() -> None:
    population = Population(clients=20, max_attempts=1)
    scenario = Scenario(agents=5, day_seconds=3_600.0)
    limit = ideal(population, scenario)
    live = sum(1 for tries in draw_attempts(population, scenario.seed) if tries[0].outcome is Outcome.LIVE)
    assert limit.conversations == limit.dials == live
    assert limit.mean_wait_s > 0


def test_same_seed_same_day_and_modes_see_the_same_outcomes() -> None:
    population = Population(clients=500)
    scenario = Scenario(agents=4, day_seconds=1_800.0)
    a = evaluate(DialMode.PREDICTIVE, population, scenario)
    b = evaluate(DialMode.PREDICTIVE, population, scenario)
    assert a == b
    other = evaluate(DialMode.PREDICTIVE, population, replace(scenario, seed=2))
    assert other != a
    assert draw_attempts(population, 1) == draw_attempts(population, 1)


def test_preview_is_not_evaluated() -> None:
    with pytest.raises(ValueError, match="preview is paced by the agents"):
        evaluate(DialMode.PREVIEW, Population(clients=10), Scenario())


def test_a_ten_thousand_client_day_is_fast() -> None:
    population = Population(clients=10_000)
    scenario = Scenario(agents=20, lines=40)
    attempts = draw_attempts(population, scenario.seed)
    started = time.perf_counter()
    result = evaluate(DialMode.PREDICTIVE, population, scenario, attempts=attempts)
    elapsed = time.perf_counter() - started
    assert result.dials > 10_000
    # About 0.6 s on an idle core of the 2-core box; generous for a loaded machine.
    assert elapsed < 5.0, f"{elapsed:.2f} s"
