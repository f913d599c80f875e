"""The store-fed side of client-first pacing (dialer/live_pacing.py): statistics from the
call log, agents from presence, the decision from global counts, refreshed every few seconds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from dialer.config.loader import load_config
from dialer.config.models import Campaign
from dialer.domain import CallStatus
from dialer.live_pacing import STATS_EVERY, LivePacer, agents_now, sharing_pools, stats_from_calls
from dialer.model import AbandonCounts, CallRecord
from dialer.pacing.decide import calls_to_place as decide
from dialer.pacing.modes import AbandonWindow, DialMode
from dialer.pacing.stats import CampaignStats, WindowCounts
from dialer.planning import lines_of
from dialer.store.people import Presence, PresenceState
from dialer.store.roles import PacedCall
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
        self.ringing_of: dict[str, list[datetime]] = {}  # other campaigns' calls ringing
        self.window_of: dict[str, AbandonCounts] = {}  # other campaigns' abandon windows
        self.reads: list[str] = []

    async def recent_outcomes(self, campaign: str, since: datetime, limit: int) -> list[CallRecord]:
        self.reads.append("recent_outcomes")
        return [c for c in self.calls if c.started_at >= since and c.campaign == campaign][:limit]

    async def abandon_counts(self, campaign: str, since: datetime, until: datetime) -> AbandonCounts:
        self.reads.append("abandon_counts")
        return self.window_of.get(campaign, self.window)

    async def ringing_unattached(self, campaign: str) -> list[datetime]:
        self.reads.append("ringing_unattached")
        return list(self.ringing_of.get(campaign, self.ringing if campaign == "cold" else []))


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
    assert store.reads.count("recent_outcomes") == 1 and store.reads.count("ringing_unattached") == 3
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


# -- agents shared between client-first campaigns (one pool)


def test_campaigns_sharing_agents_form_one_pool() -> None:
    base = cold(dial_mode=DialMode.POWER)
    agent = base.agents[0]
    a = base.model_copy(update={"name": "a", "agents": base.agents[:2]})
    b = base.model_copy(update={"name": "b", "agents": base.agents[1:3]})  # shares one agent with a
    c = base.model_copy(update={"name": "c", "agents": base.agents[2:4]})  # with b only: still the pool
    alone = base.model_copy(update={"name": "alone", "agents": base.agents[4:]})
    agent_first = base.model_copy(update={"name": "af", "dial_mode": DialMode.PROGRESSIVE, "agents": [agent]})
    pools = sharing_pools([a, b, c, alone, agent_first])
    assert pools == {"a": ["b", "c"], "b": ["a", "c"], "c": ["a", "b"], "alone": []}


def test_the_pools_ringing_calls_count_against_its_ready_agents() -> None:
    stats = CampaignStats()
    power = cold(dial_mode=DialMode.POWER, power_ratio=2.0).pacing
    t = NOW.timestamp()
    assert decide(DialMode.POWER, t, 3, [], [1.0], stats, power, 40) == 5
    assert decide(DialMode.POWER, t, 3, [], [1.0], stats, power, 40, shared_in_flight=[0.3, 0.3]) == 3
    progressive = cold().pacing
    assert decide(DialMode.PROGRESSIVE, t, 3, [], [], stats, progressive, 40, shared_in_flight=[0.3]) == 2
    predictive = cold(dial_mode=DialMode.PREDICTIVE, power_ratio=3.0).pacing
    rich = WindowCounts(live=1000, abandoned=0)
    alone = decide(DialMode.PREDICTIVE, t, 4, [], [], stats, predictive, 40, rich)
    shared = decide(DialMode.PREDICTIVE, t, 4, [], [], stats, predictive, 40, rich, shared_in_flight=[0.9] * 4)
    assert alone > 4 and shared < alone


async def test_a_campaign_counts_the_calls_of_the_campaigns_sharing_its_agents() -> None:
    store = FakePacingStore([], AbandonCounts(0, 0), [NOW - timedelta(seconds=3)])
    store.ringing_of["care"] = [NOW - timedelta(seconds=2), NOW - timedelta(seconds=1)]
    p = pacer(store)
    power = cold(dial_mode=DialMode.POWER, power_ratio=2.0)
    care = cold(name="care", dial_mode=DialMode.POWER, power_ratio=2.0)
    agents = [presence(PresenceState.READY)] * 3
    # 6 calls for 3 Ready agents: 1 of cold's ringing, 2 of care's, 1 care claimed and not yet written.
    assert await p.calls_to_place(power, NOW, agents, 40, shared={"care": (care, 1)}) == 2
    assert len(p.last["cold"].shared) == 3 and p.last["cold"].ringing == (3.0,)
    assert await p.calls_to_place(power, NOW, agents, 40) == 5  # alone, as before


async def test_the_tightest_budget_of_the_pool_holds_predictive_back() -> None:
    history = [call(i, CallStatus.ANSWERED, ring=5, talk=90) for i in range(60)]
    history += [call(100 + i, CallStatus.NO_ANSWER, ring=30) for i in range(140)]
    store = FakePacingStore(history, AbandonCounts(live=1000, abandoned=0), [])
    store.window_of["care"] = AbandonCounts(live=100, abandoned=3)  # care's budget is spent
    p = pacer(store)
    campaign = cold(dial_mode=DialMode.PREDICTIVE, power_ratio=3.0)
    care = cold(name="care", dial_mode=DialMode.PREDICTIVE, power_ratio=3.0)
    agents = [presence(PresenceState.READY)] * 4
    assert await p.calls_to_place(campaign, NOW, agents, 40, shared={"care": (care, 0)}) > 4  # care: nothing ringing
    store.ringing_of["care"] = [NOW]
    assert await p.calls_to_place(campaign, NOW, agents, 40, shared={"care": (care, 0)}) == 3  # progressive


async def test_this_workers_calls_are_folded_in_without_reading_the_store() -> None:
    store = FakePacingStore([], AbandonCounts(live=10, abandoned=0), [])
    p = pacer(store)
    campaign = cold(dial_mode=DialMode.PREDICTIVE)
    stats, window = await p.measured(campaign, NOW)
    answers = stats.answers.rate
    p.observe(campaign, PacedCall(CallStatus.ABANDONED, NOW, NOW + timedelta(seconds=5), NOW, 5.0, 0.0))
    p.observe(campaign, PacedCall(CallStatus.ANSWERED, NOW, NOW + timedelta(seconds=5), NOW, 5.0, 60.0))
    p.observe(campaign, PacedCall(CallStatus.CANCELED, NOW, None, NOW, 0.0, 0.0))  # no dial
    stats, window = await p.measured(campaign, NOW + timedelta(seconds=1))
    assert window == WindowCounts(live=12, abandoned=1) and stats.answers.rate > answers
    assert store.reads.count("recent_outcomes") == 1 and store.reads.count("abandon_counts") == 1
