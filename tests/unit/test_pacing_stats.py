"""The rolling measurements pacing keeps per campaign."""

from __future__ import annotations

import random

import pytest

from dialer.pacing.modes import AbandonWindow
from dialer.pacing.stats import (
    ABANDON_BUCKETS,
    RING_HISTORY,
    AbandonCounter,
    AnswerRate,
    CampaignStats,
    HandleTime,
    RingTimes,
    WindowCounts,
)


def test_answer_rate_starts_at_the_prior_and_follows_the_data() -> None:
    r = AnswerRate(prior_rate=0.3)
    assert r.rate == pytest.approx(0.3)
    rng = random.Random(7)
    for _ in range(3_000):
        r.record(rng.random() < 0.6)
    assert r.rate == pytest.approx(0.6, abs=0.06)
    # Recent dials weigh more: a list turning cold shows within a thousand dials.
    for _ in range(1_000):
        r.record(False)
    assert r.rate < 0.1


def test_a_few_dials_do_not_swing_the_rate() -> None:
    r = AnswerRate(prior_rate=0.3, prior_weight=20)
    for _ in range(3):
        r.record(False)
    assert 0.2 < r.rate < 0.3


def test_ring_age_lowers_the_chance_of_a_live_answer() -> None:
    rings = RingTimes()
    rng = random.Random(3)
    for _ in range(2_000):
        if rng.random() < 0.3:
            rings.record_answer(rng.uniform(4, 20))
        elif rng.random() < 0.2:
            rings.record_other(rng.uniform(2, 6))
        else:
            rings.record_other(30.0)
    young, early, mid, old = (rings.live_probability(age, 0.3) for age in (0.0, 6.0, 12.0, 25.0))
    assert young == pytest.approx(0.3, abs=0.01)  # nothing ended yet: the plain answer rate
    assert young < early  # busy signals are over, most answers still to come
    assert mid < young  # half the answers came, the ring-outs are all still ringing
    assert old < 0.02  # past every answer seen: only ring-outs are left
    assert rings.expected_live([0.0, 12.0, 25.0], 0.3) == pytest.approx(young + mid + old)
    assert 3.0 <= rings.answer_quantile(0.05) <= 5.0
    assert 11.0 <= rings.answer_quantile(0.5) <= 13.0


def test_ring_histograms_stay_bounded() -> None:
    rings = RingTimes()
    for i in range(50_000):
        rings.record_answer(i % 300)
        rings.record_other(9999.0)
    assert rings._answered.total <= RING_HISTORY
    assert len(rings._answered.counts) == len(rings._other.counts)
    assert 0.0 <= rings.live_probability(500.0, 0.3) <= 1.0


def test_handle_time_and_expected_free_times() -> None:
    h = HandleTime(mean_talk=90, mean_wrap=15)
    assert h.mean == 105
    assert h.expected_free_in(talking_for=30) == pytest.approx(75)
    assert h.expected_free_in(talking_for=500) == pytest.approx(0.2 * 90 + 15)  # a long call may go on
    assert h.expected_free_in(wrapping_for=10) == pytest.approx(5)
    assert h.expected_free_in(wrapping_for=40) == 0.0
    for _ in range(2_000):
        h.record_talk(200)
        h.record_wrap(5)
    assert h.mean_talk == pytest.approx(200, abs=1)
    assert h.mean_wrap == pytest.approx(5, abs=0.1)


def test_abandon_rate_is_abandoned_over_live_answers_in_the_window() -> None:
    c = AbandonCounter(AbandonWindow.DAY)
    for i in range(100):
        c.record_live(i * 60.0)
    for i in range(3):
        c.record_abandon(i * 60.0)
    counts = c.counts(6_000.0)
    assert counts == WindowCounts(live=100, abandoned=3)
    assert counts.rate == pytest.approx(0.03)
    assert counts.budget(0.03) == pytest.approx(0.0)
    # A day later the early hours have left the window.
    assert c.counts(86_400.0 + 3_000.0).live < 100
    assert c.counts(3 * 86_400.0) == WindowCounts(0, 0)
    assert WindowCounts(0, 0).rate == 0.0


def test_a_late_record_lands_in_the_newest_bucket() -> None:
    c = AbandonCounter(AbandonWindow.DAY)
    c.record_live(10_000.0)
    c.record_live(100.0)  # reported late by another part of the system
    c.record_abandon(100.0)
    assert len(c._buckets) == 1
    assert c.counts(10_000.0) == WindowCounts(2, 1)


def test_thirty_day_window_keeps_last_week() -> None:
    c = AbandonCounter(AbandonWindow.MONTH)
    c.record_live(0.0)
    c.record_abandon(0.0)
    assert c.counts(7 * 86_400.0) == WindowCounts(1, 1)
    assert c.counts(31 * 86_400.0) == WindowCounts(0, 0)


def test_window_memory_is_bounded() -> None:
    c = AbandonCounter(AbandonWindow.DAY)
    for i in range(200_000):
        c.record_live(i * 7.0)
    assert len(c._buckets) <= ABANDON_BUCKETS


def test_campaign_stats_route_each_record() -> None:
    s = CampaignStats.for_window(AbandonWindow.MONTH)
    s.record_live_answer(at=10.0, ring_seconds=8.0)
    s.record_live_answer(at=20.0, ring_seconds=9.0)
    s.record_abandon(at=22.0)
    s.record_not_live(ring_seconds=30.0)
    s.record_conversation(talk_seconds=60.0, wrap_seconds=10.0)
    assert s.abandons.window is AbandonWindow.MONTH
    assert s.abandons.counts(30.0) == WindowCounts(live=2, abandoned=1)
    assert s.rings._answered.total > s.rings._other.total
