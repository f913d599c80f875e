"""The pacing decision: examples per mode, and properties over random campaign states."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer.pacing.decide import RESERVE_ABANDONS, calls_to_place, lookahead, poisson_overflow
from dialer.pacing.modes import DialMode, PacingSettings
from dialer.pacing.stats import CampaignStats, WindowCounts

PREDICTIVE = PacingSettings(
    dial_mode=DialMode.PREDICTIVE, power_ratio=4.0, allow_abandon=True, information_message="Acme; press 9"
)
# Plenty of abandon budget: 3 % of 2,000 live answers, none used.
ROOMY = WindowCounts(live=2_000, abandoned=0)


def trained_stats(seed: int = 1, answer_rate: float = 0.3, dials: int = 1_500) -> CampaignStats:
    """Statistics after a realistic stretch of dialing (answers after 4-20 s, ring-outs at 30 s)."""
    stats = CampaignStats()
    rng = random.Random(seed)
    for i in range(dials):
        x = rng.random()
        if x < answer_rate:
            stats.record_live_answer(at=float(i), ring_seconds=rng.uniform(4, 20))
            stats.record_conversation(talk_seconds=rng.uniform(30, 200), wrap_seconds=15)
        elif x < answer_rate + 0.1:
            stats.record_not_live(ring_seconds=rng.uniform(2, 6))
        else:
            stats.record_not_live(ring_seconds=30.0)
    return stats


STATS = trained_stats()


def decide(
    mode: DialMode,
    ready: int,
    soon: list[float] | None = None,
    ringing: list[float] | None = None,
    lines: int = 1_000,
    counts: WindowCounts | None = ROOMY,
    stats: CampaignStats = STATS,
    pacing: PacingSettings = PREDICTIVE,
) -> int:
    return calls_to_place(mode, 0.0, ready, soon or [], ringing or [], stats, pacing, lines, counts)


def test_poisson_overflow_matches_its_definition() -> None:
    for mean, agents in [(0.5, 0), (3.0, 2), (7.5, 10), (40.0, 30), (800.0, 790), (900.0, 1_000)]:
        tail = range(agents + 1, agents + 400)
        direct = sum((k - agents) * math.exp(k * math.log(mean) - mean - math.lgamma(k + 1)) for k in tail)
        assert poisson_overflow(mean, agents) == pytest.approx(direct, abs=1e-9)
    assert poisson_overflow(0.0, 5) == 0.0


def test_preview_places_nothing() -> None:
    assert decide(DialMode.PREVIEW, ready=5) == 0


def test_progressive_one_call_per_unmatched_ready_agent() -> None:
    assert decide(DialMode.PROGRESSIVE, ready=5) == 5
    assert decide(DialMode.PROGRESSIVE, ready=5, ringing=[3.0, 4.0]) == 3
    assert decide(DialMode.PROGRESSIVE, ready=2, ringing=[1.0, 1.0, 1.0]) == 0
    assert decide(DialMode.PROGRESSIVE, ready=5, lines=2) == 2


def test_power_is_the_ratio_times_ready_agents_minus_calls_ringing() -> None:
    two = replace(PREDICTIVE, dial_mode=DialMode.POWER, power_ratio=2.0)
    assert decide(DialMode.POWER, ready=5, pacing=two) == 10
    assert decide(DialMode.POWER, ready=5, ringing=[1.0] * 4, pacing=two) == 6
    assert decide(DialMode.POWER, ready=3, pacing=replace(two, power_ratio=2.5)) == 7
    assert decide(DialMode.POWER, ready=5, lines=3, pacing=two) == 3
    assert decide(DialMode.POWER, ready=0, soon=[0.0], pacing=two) == 0


def test_power_falls_back_to_progressive_while_over_the_cap() -> None:
    """The ratio cannot aim at the cap, but power stops breaking it: over max_abandon_rate
    over the window, one call per Ready agent until live answers bring the rate back under."""
    two = replace(PREDICTIVE, dial_mode=DialMode.POWER, power_ratio=2.0)
    over = WindowCounts(live=100, abandoned=4)  # 4 % > 3 %
    at_cap = WindowCounts(live=100, abandoned=3)
    assert decide(DialMode.POWER, ready=5, counts=over, pacing=two) == 5
    assert decide(DialMode.POWER, ready=5, ringing=[1.0] * 2, counts=over, pacing=two) == 3
    assert decide(DialMode.POWER, ready=5, counts=at_cap, pacing=two) == 10
    assert decide(DialMode.POWER, ready=5, counts=WindowCounts(live=0, abandoned=0), pacing=two) == 10


def test_predictive_dials_ahead_with_budget_and_enough_agents() -> None:
    n = decide(DialMode.PREDICTIVE, ready=10)
    # More than one call per agent (a third of calls are answered), within the ratio bound.
    assert 10 < n <= 40
    # Calls already ringing young count almost fully against it; old ones hardly at all.
    young = decide(DialMode.PREDICTIVE, ready=10, ringing=[1.0] * 10)
    old = decide(DialMode.PREDICTIVE, ready=10, ringing=[29.0] * 10)
    assert young < old <= n


def test_predictive_counts_agents_about_to_be_ready() -> None:
    horizon = lookahead(STATS, PREDICTIVE)
    alone = decide(DialMode.PREDICTIVE, ready=2)
    helped = decide(DialMode.PREDICTIVE, ready=2, soon=[horizon / 2] * 4)
    too_late = decide(DialMode.PREDICTIVE, ready=2, soon=[horizon + 30] * 4)
    assert helped > alone == too_late
    # Nobody Ready yet, but agents finishing wrap-up: dial for them.
    assert decide(DialMode.PREDICTIVE, ready=0, soon=[1.0] * 5) > 0


def test_predictive_starts_progressive_and_slows_down_near_the_cap() -> None:
    fresh = WindowCounts(live=0, abandoned=0)
    assert decide(DialMode.PREDICTIVE, ready=10, counts=fresh) == 10
    at_cap = WindowCounts(live=1_000, abandoned=30)
    assert decide(DialMode.PREDICTIVE, ready=10, counts=at_cap) == 10
    over = WindowCounts(live=1_000, abandoned=45)
    assert decide(DialMode.PREDICTIVE, ready=10, ringing=[2.0] * 3, counts=over) == 7
    near = WindowCounts(live=1_000, abandoned=25)
    assert 10 <= decide(DialMode.PREDICTIVE, ready=10, counts=near) < decide(DialMode.PREDICTIVE, ready=10)


def test_predictive_uses_its_own_window_without_store_counts() -> None:
    stats = trained_stats(seed=2)
    # Its own window holds the 450-odd live answers fed in above, no abandons.
    assert decide(DialMode.PREDICTIVE, ready=10, stats=stats, counts=None) > 10
    for i in range(40):
        stats.record_abandon(at=1_500.0 + i)
    assert decide(DialMode.PREDICTIVE, ready=10, stats=stats, counts=None) == 10


def test_a_cold_list_needs_fewer_calls_per_agent() -> None:
    warm = decide(DialMode.PREDICTIVE, ready=10, stats=trained_stats(answer_rate=0.6))
    cold = decide(DialMode.PREDICTIVE, ready=10, stats=trained_stats(answer_rate=0.15))
    assert warm < cold


# -- properties over random campaign states

ages = st.lists(st.floats(0, 120, allow_nan=False), max_size=80)
free_times = st.lists(st.floats(0, 300, allow_nan=False), max_size=60)
counts = st.builds(WindowCounts, live=st.integers(0, 20_000), abandoned=st.integers(0, 600))
pacings = st.builds(
    PacingSettings,
    dial_mode=st.just(DialMode.PREDICTIVE),
    power_ratio=st.floats(1.0, 10.0),
    max_abandon_rate=st.floats(0.001, 0.03),
    abandon_after=st.floats(0.1, 2.0),
    allow_abandon=st.just(True),
    information_message=st.just("Acme; press 9"),
)
stats_pool = [trained_stats(seed=s, answer_rate=r) for s, r in [(1, 0.3), (2, 0.1), (3, 0.7)]] + [CampaignStats()]
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(
    mode=st.sampled_from(list(DialMode)),
    ready=st.integers(-2, 80),
    soon=free_times,
    ringing=ages,
    lines=st.integers(-5, 300),
    window=st.one_of(st.none(), counts),
    pacing=pacings,
    stats_i=st.integers(0, len(stats_pool) - 1),
)
def test_never_negative_never_above_lines_free(
    mode: DialMode,
    ready: int,
    soon: list[float],
    ringing: list[float],
    lines: int,
    window: WindowCounts | None,
    pacing: PacingSettings,
    stats_i: int,
) -> None:
    n = calls_to_place(mode, 0.0, ready, soon, ringing, stats_pool[stats_i], pacing, lines, window)
    assert 0 <= n <= max(lines, 0)
    if mode is DialMode.PROGRESSIVE:
        assert n <= max(ready - len(ringing), 0)


@PROPERTY
@given(
    ready=st.integers(0, 80),
    soon=free_times,
    ringing=ages,
    lines=st.integers(0, 400),
    window=counts,
    pacing=pacings,
    stats_i=st.integers(0, len(stats_pool) - 1),
)
def test_predictive_between_progressive_and_power(
    ready: int,
    soon: list[float],
    ringing: list[float],
    lines: int,
    window: WindowCounts,
    pacing: PacingSettings,
    stats_i: int,
) -> None:
    stats = stats_pool[stats_i]

    def place(mode: DialMode, ready_agents: int, soon_free: list[float]) -> int:
        return calls_to_place(mode, 0.0, ready_agents, soon_free, ringing, stats, pacing, lines, window)

    predictive = place(DialMode.PREDICTIVE, ready, soon)
    assert place(DialMode.PROGRESSIVE, ready, soon) <= predictive
    # Agents about to be Ready count as Ready for the ratio bound, never more.
    assert predictive <= place(DialMode.POWER, ready + len(soon), [])
    if not soon:
        assert predictive <= place(DialMode.POWER, ready, [])


@PROPERTY
@given(
    ready=st.integers(0, 80),
    soon=free_times,
    ringing=ages,
    lines=st.integers(0, 400),
    live=st.integers(0, 20_000),
    over=st.integers(0, 50),
    pacing=pacings,
    stats_i=st.integers(0, len(stats_pool) - 1),
)
def test_spent_budget_means_progressive(
    ready: int,
    soon: list[float],
    ringing: list[float],
    lines: int,
    live: int,
    over: int,
    pacing: PacingSettings,
    stats_i: int,
) -> None:
    # Abandons at or above the cap (less the reserve), however many live answers: no dialing ahead.
    spent = WindowCounts(live=live, abandoned=math.ceil(pacing.max_abandon_rate * live - RESERVE_ABANDONS) + over)
    args = (0.0, ready, soon, ringing, stats_pool[stats_i], pacing, lines, spent)
    assert calls_to_place(DialMode.PREDICTIVE, *args) == calls_to_place(DialMode.PROGRESSIVE, *args)


@PROPERTY
@given(
    ready=st.integers(0, 80),
    soon=free_times,
    ringing=ages,
    live=st.integers(0, 20_000),
    abandoned=st.integers(0, 600),
    more=st.integers(1, 5_000),
    pacing=pacings,
)
def test_more_budget_never_means_fewer_calls(
    ready: int,
    soon: list[float],
    ringing: list[float],
    live: int,
    abandoned: int,
    more: int,
    pacing: PacingSettings,
) -> None:
    def place(window: WindowCounts) -> int:
        return calls_to_place(DialMode.PREDICTIVE, 0.0, ready, soon, ringing, STATS, pacing, 1_000, window)

    assert place(WindowCounts(live, abandoned)) <= place(WindowCounts(live + more, abandoned))
