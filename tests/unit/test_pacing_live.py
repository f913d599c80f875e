"""The store-fed side of client-first pacing (dialer/live_pacing.py): statistics from the
call log, agents from presence, the decision from global counts, refreshed every few seconds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from dialer.config.loader import load_config
from dialer.config.models import Campaign
from dialer.domain import CallStatus
from dialer.live_pacing import STATS_EVERY, LivePacer, agents_now, stats_from_calls
from dialer.model import AbandonCounts, CallRecord
from dialer.pacing.modes import AbandonWindow, DialMode
from dialer.pacing.stats import CampaignStats
from dialer.planning import lines_of
from dialer.store.people import Presence, PresenceState
from tests.support.paths import EXAMPLE_CONFIG

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def call(i: int, status: CallStatus, ring: float = 6.0, talk: float = 0.0) -> CallRecord:
    started = NOW - timedelta(minutes=60 - i)
    answered = started + timedelta(seconds=ring) if status in (CallStatus.ANSWERED, CallStatus.ABANDONED) else None
    return CallRecord(
        call_id=f"k{i}", client_id=f"c{i}", campaign="cold", agent=None, phone="+7", client_tz="Europe/Moscow",
        attempt=1, started_at=started, local_day=date(2026, 12, 1), status=status, provider="sim",
        provider_call_id=None, answered_at=answered, ended_at=started + timedelta(seconds=ring + talk),
        ring_s=ring, talk_s=talk, guideline=None, disposition=None, disposition_at=None, note=None, error=None,
        allowed_by="t", worker="w",
    )  # fmt: skip


class FakePacingStore:
    """The three reads the pacer makes, counted."""

    def __init__(self, calls: list[CallRecord], window: AbandonCounts, ringing: list[datetime]):
        self.calls, self.window, self.ringing = calls, window, ringing
        self.reads: list[str] = []

    async def recent_calls(self, campaign: str, since: datetime, limit: int) -> list[CallRecord]:
        self.reads.append("recent_calls")
        return [c for c in self.calls if c.started_at >= since][:limit]

    async def abandon_counts(self, campaign: str, since: datetime, until: datetime) -> AbandonCounts:
        self.reads.append("abandon_counts")
        return self.window

    async def ringing_unattached(self, campaign: str) -> list[datetime]:
        self.reads.append("ringing_unattached")
        return list(self.ringing)


def cold(**kw: Any) -> Campaign:
    [c] = [c for c in load_config(EXAMPLE_CONFIG).campaigns if c.name == "cold"]
    settings: dict[str, Any] = {"allow_abandon": True, "information_message": "x", "lines": 40}
    settings.update(kw)
    return c.model_copy(update=settings)


def presence(state: PresenceState, since: datetime = NOW, until: datetime | None = None) -> Presence:
    return Presence("a", state, None, since, until, None, None, "t")


def pacer(store: FakePacingStore) -> LivePacer:
    return LivePacer(store)  # type: ignore[arg-type]  # the fake has only the reads the pacer makes


def test_statistics_come_from_the_finished_calls() -> None:
    calls = [call(i, CallStatus.ANSWERED, ring=4, talk=120) for i in range(30)]
    calls += [call(100 + i, CallStatus.BUSY, ring=3) for i in range(60)]
    calls += [call(200, CallStatus.ABANDONED), call(201, CallStatus.CANCELED), call(202, CallStatus.INTERRUPTED)]
    stats = stats_from_calls(calls, AbandonWindow.DAY, wrap_s=20)
    prior = CampaignStats()
    assert abs(stats.answers.rate - (31 + 0.3 * 20) / (91 + 20)) < 0.02  # canceled/interrupted are no dials
    assert stats.abandons.counts(NOW.timestamp()).abandoned == 1
    assert stats.abandons.counts(NOW.timestamp()).live == 31
    assert stats.handle.mean_talk > prior.handle.mean_talk and stats.handle.mean_wrap > prior.handle.mean_wrap


def test_ready_agents_and_when_the_busy_ones_are_free() -> None:
    stats = CampaignStats()
    agents = [
        presence(PresenceState.READY),
        presence(PresenceState.READY),
        presence(PresenceState.ON_CALL, since=NOW - timedelta(seconds=30)),
        presence(PresenceState.WRAP_UP, until=NOW + timedelta(seconds=12)),
        presence(PresenceState.PAUSED),
        presence(PresenceState.LOGGED_OUT),
    ]
    ready, soon = agents_now(agents, stats, NOW)
    assert ready == 2 and len(soon) == 2
    t = NOW.timestamp()
    assert sorted(s - t for s in soon) == [12.0, stats.handle.expected_free_in(talking_for=30.0)]


async def test_power_counts_every_workers_ringing_calls_and_lines() -> None:
    store = FakePacingStore([], AbandonCounts(0, 0), [NOW - timedelta(seconds=3)])
    p = pacer(store)
    agents = [presence(PresenceState.READY)] * 3
    assert await p.calls_to_place(cold(dial_mode=DialMode.POWER, power_ratio=2.0), NOW, agents, 40) == 5
    assert await p.calls_to_place(cold(dial_mode=DialMode.POWER, power_ratio=2.0), NOW, agents, 40, pending=2) == 3
    assert await p.calls_to_place(cold(dial_mode=DialMode.POWER, power_ratio=2.0), NOW, agents, 2) == 2
    assert p.last["cold"].ready == 3 and p.last["cold"].ringing == (3.0,) and p.last["cold"].lines_free == 2


async def test_predictive_goes_above_progressive_only_with_budget_left() -> None:
    history = [call(i, CallStatus.ANSWERED, ring=5, talk=90) for i in range(60)]
    history += [call(100 + i, CallStatus.NO_ANSWER, ring=30) for i in range(140)]
    agents = [presence(PresenceState.READY)] * 4
    campaign = cold(dial_mode=DialMode.PREDICTIVE, power_ratio=3.0)
    healthy = pacer(FakePacingStore(history, AbandonCounts(live=1000, abandoned=0), []))
    n = await healthy.calls_to_place(campaign, NOW, agents, 40)
    assert 4 < n <= 12  # above one per Ready agent, at most power_ratio x agents
    assert await healthy.calls_to_place(campaign, NOW, agents, 5) == 5  # lines bound it
    spent = pacer(FakePacingStore(history, AbandonCounts(live=100, abandoned=3), [NOW]))
    assert await spent.calls_to_place(campaign, NOW, agents, 40) == 3  # progressive: 4 Ready - 1 ringing
    fresh = pacer(FakePacingStore(history, AbandonCounts(live=0, abandoned=0), []))
    assert await fresh.calls_to_place(campaign, NOW, agents, 40) == 4


async def test_statistics_are_read_every_few_seconds_and_again_after_an_abandon() -> None:
    store = FakePacingStore([], AbandonCounts(0, 0), [])
    p = pacer(store)
    agents = [presence(PresenceState.READY)]
    campaign = cold(dial_mode=DialMode.POWER)
    for s in (0, 1, 4):
        await p.calls_to_place(campaign, NOW + timedelta(seconds=s), agents, 10)
    assert store.reads.count("recent_calls") == 1 and store.reads.count("ringing_unattached") == 3
    await p.calls_to_place(campaign, NOW + STATS_EVERY, agents, 10)
    assert store.reads.count("abandon_counts") == 2
    p.forget("cold")
    await p.calls_to_place(campaign, NOW + STATS_EVERY, agents, 10)
    assert store.reads.count("abandon_counts") == 3
    assert await p.calls_to_place(campaign, NOW, agents, 0) == 0  # no line: nothing is read
    assert store.reads.count("ringing_unattached") == 5


def test_a_client_first_campaign_uses_all_its_lines() -> None:
    """Agent first, a campaign holds no more calls than agents; client first, all its lines."""
    assert lines_of(cold(lines=40)) == 6  # the example's cold campaign has six agents
    assert lines_of(cold(lines=40, dial_mode=DialMode.POWER)) == 40
