"""The store-fed side of client-first pacing (issue 13): what `dialer.pacing.decide` is asked
with, measured over every worker.

`dialer.pacing` stays pure; this module reads the shared store and turns it into the pure
decision's inputs, the same numbers on every worker:

- Ready agents and agents soon free: the campaign's agents' presence (the store's, read once
  per step by `dialer.presence.PresenceGate`). Ready = Ready and attached to no call. An agent
  talking is expected free after the campaign's measured talk time (what is left of it) plus
  its wrap-up; an agent wrapping up at its known wrap-up end.
- Calls in flight: the ring ages of the campaign's calls still up with no agent attached, all
  workers' (`Pacing.ringing_unattached`), plus this worker's calls claimed but not yet
  written (waiting for a calls-per-second slot), counted as just dialed.
- Agents shared between client-first campaigns (a center may list one agent in several):
  the campaigns that share agents, directly or through another, form a pool. Each one's
  decision counts the pool's Ready agents, and every call ringing for any campaign of the
  pool as in flight (an answer of theirs takes a pool agent), each weighed by its own
  campaign's statistics; its abandon budget is the smallest of those campaigns with calls
  in flight (their calls are the ones an over-dial would abandon). Without this each
  campaign counted the same Ready agents for itself and together they over-dialed.
- Statistics (answer rate, ring-time distribution, talk time) from the campaign's recent
  finished calls (`Pacing.recent_outcomes`: only the columns they need), and the abandon
  budget from `Pacing.abandon_counts` over the campaign's window: read from the store
  every STATS_EVERY (other workers' calls), and this worker's own calls folded in as they
  end (`observe`), so the budget moves with every abandon at no store cost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dialer.config.models import Campaign
from dialer.domain import CallStatus
from dialer.pacing.decide import calls_to_place
from dialer.pacing.modes import AbandonWindow
from dialer.pacing.stats import CampaignStats, WindowCounts
from dialer.store.people import Presence, PresenceState
from dialer.store.roles import PacedCall, Pacing

# The statistics are read from the store again this often (two indexed queries per campaign):
# what other workers' calls add; this worker's own calls are folded in as they end.
STATS_EVERY = timedelta(seconds=60)
# Built from the campaign's finished calls of this long ago at most, newest STATS_CALLS of them.
STATS_SINCE = timedelta(hours=12)
STATS_CALLS = 500
# Not a dial of the client's doing: the dialer cut it, so it says nothing about answers.
_NOT_DIALS = frozenset({CallStatus.DIALING, CallStatus.CANCELED, CallStatus.INTERRUPTED})
_LIVE = frozenset({CallStatus.ANSWERED, CallStatus.ABANDONED})


def _ring_seconds(call: PacedCall) -> float:
    if call.ring_s > 0:
        return call.ring_s
    end = call.answered_at or call.ended_at
    return max((end - call.started_at).total_seconds(), 0.0) if end else 0.0


def fold_call(stats: CampaignStats, call: PacedCall, wrap_s: float) -> None:
    """Add one finished call to the statistics (a dial the dialer itself cut is none)."""
    if call.status in _NOT_DIALS:
        return
    if call.status in _LIVE:
        at = (call.answered_at or call.started_at).timestamp()
        stats.record_live_answer(at=at, ring_seconds=_ring_seconds(call))
        if call.status is CallStatus.ABANDONED:
            stats.record_abandon(at=at)
        elif call.talk_s > 0:
            stats.record_conversation(talk_seconds=call.talk_s, wrap_seconds=wrap_s)
    else:
        stats.record_not_live(ring_seconds=_ring_seconds(call))


def stats_from_calls(calls: Iterable[PacedCall], window: AbandonWindow, wrap_s: float) -> CampaignStats:
    """The pacing statistics of these finished calls (any order: they are fed oldest first).
    Full `CallRecord`s do too (they have the same fields)."""
    stats = CampaignStats.for_window(window)
    for call in sorted(calls, key=lambda c: c.started_at):
        fold_call(stats, call, wrap_s)
    return stats


def agents_now(presence: Sequence[Presence], stats: CampaignStats, now: datetime) -> tuple[int, list[float]]:
    """(agents Ready and attached to no call, when each agent talking or wrapping up is
    expected Ready: epoch seconds). Paused and logged-out agents are neither."""
    ready = 0
    soon: list[float] = []
    t = now.timestamp()
    for p in presence:
        if p.state is PresenceState.READY:
            ready += 1
        elif p.state is PresenceState.ON_CALL:
            talking = max((now - p.since).total_seconds(), 0.0)
            soon.append(t + stats.handle.expected_free_in(talking_for=talking))
        elif p.state is PresenceState.WRAP_UP and p.wrap_up_until is not None:
            soon.append(max(p.wrap_up_until.timestamp(), t))
    return ready, soon


@dataclass(frozen=True)
class PacingInputs:
    """What one decision saw (logged; `dialer why` shows the same kind of numbers)."""

    ready: int
    soon_free: tuple[float, ...]
    ringing: tuple[float, ...]  # ring ages, seconds
    lines_free: int
    window: WindowCounts
    shared: tuple[float, ...] = ()  # the pool's other campaigns' calls in flight: P(live) each


@dataclass
class _Measured:
    at: datetime
    stats: CampaignStats
    window: WindowCounts


class LivePacer:
    """Per worker: the campaigns' statistics (read every STATS_EVERY, this worker's calls
    folded in as they end) and the decision."""

    def __init__(self, store: Pacing):
        self.store = store
        self._measured: dict[str, _Measured] = {}
        self.last: dict[str, PacingInputs] = {}  # campaign -> the inputs of its last decision

    def forget(self, campaign: str) -> None:
        """Read the campaign's statistics from the store again at the next decision."""
        self._measured.pop(campaign, None)

    def observe(self, campaign: Campaign, call: PacedCall) -> None:
        """This worker recorded one of the campaign's calls: fold it in now (the next read
        from the store, which includes it, replaces the lot)."""
        m = self._measured.get(campaign.name)
        if m is None or call.status in _NOT_DIALS:
            return
        fold_call(m.stats, call, campaign.wrap_up.total_seconds())
        if call.status in _LIVE:
            abandoned = 1 if call.status is CallStatus.ABANDONED else 0
            m.window = WindowCounts(m.window.live + 1, m.window.abandoned + abandoned)

    async def measured(self, campaign: Campaign, now: datetime) -> tuple[CampaignStats, WindowCounts]:
        m = self._measured.get(campaign.name)
        if m is None or not m.at <= now < m.at + STATS_EVERY:
            wrap = campaign.wrap_up.total_seconds()
            calls = await self.store.recent_outcomes(campaign.name, now - STATS_SINCE, STATS_CALLS)
            window = campaign.abandon_window
            counts = await self.store.abandon_counts(campaign.name, now - timedelta(seconds=window.seconds), now)
            m = _Measured(now, stats_from_calls(calls, window, wrap), WindowCounts(counts.live, counts.abandoned))
            self._measured[campaign.name] = m
        return m.stats, m.window

    async def _ring_ages(self, campaign: str, now: datetime, pending: int) -> list[float]:
        started = await self.store.ringing_unattached(campaign)
        return [max((now - at).total_seconds(), 0.0) for at in started] + [0.0] * pending

    async def calls_to_place(
        self,
        campaign: Campaign,
        now: datetime,
        agents: Sequence[Presence] | int,
        lines_free: int,
        pending: int = 0,
        shared: Mapping[str, tuple[Campaign, int]] | None = None,
    ) -> int:
        """How many client-first calls the campaign places now. `agents` is the presence of
        the agents of the campaign's pool (store), or, for a campaign without presence, how
        many of its agents are free on this worker (then none counts as soon free).
        `pending`: this worker's calls claimed and not yet written to the store. `shared`:
        the other client-first campaigns of its pool, by name, each with its pending calls."""
        if lines_free <= 0:
            return 0
        stats, window = await self.measured(campaign, now)
        soon: list[float] = []
        if isinstance(agents, int):
            ready = agents
        else:
            ready, soon = agents_now(agents, stats, now)
        ringing = await self._ring_ages(campaign.name, now, pending)
        others: list[float] = []
        for other, other_pending in (shared or {}).values():
            ages = await self._ring_ages(other.name, now, other_pending)
            if not ages:
                continue  # nothing of theirs can be abandoned by this decision
            o_stats, o_window = await self.measured(other, now)
            rate = o_stats.answers.rate
            others += [o_stats.rings.live_probability(age, rate) for age in ages]
            if o_window.budget(other.max_abandon_rate) < window.budget(campaign.max_abandon_rate):
                window = o_window  # the tightest budget of the campaigns an over-dial would hit
        self.last[campaign.name] = PacingInputs(ready, tuple(soon), tuple(ringing), lines_free, window, tuple(others))
        return calls_to_place(
            campaign.dial_mode, now.timestamp(), ready, soon, ringing, stats, campaign.pacing, lines_free, window,
            shared_in_flight=others,
        )  # fmt: skip


def sharing_pools(campaigns: Iterable[Campaign]) -> dict[str, list[str]]:
    """Client-first campaign -> the other client-first campaigns sharing agents with it,
    directly or through another (one pool of agents). Campaigns without agents share none."""
    firsts = [c for c in campaigns if c.dial_mode.client_first and c.agents]
    names = {c.name: {a.name for a in c.agents} for c in firsts}
    pools: dict[str, list[str]] = {}
    for c in firsts:
        pool, agents, grew = {c.name}, set(names[c.name]), True
        while grew:  # bounded: each round adds a campaign or stops
            grew = False
            for other, theirs in names.items():
                if other not in pool and theirs & agents:
                    pool.add(other)
                    agents |= theirs
                    grew = True
        pools[c.name] = [o.name for o in firsts if o.name in pool and o.name != c.name]
    return pools


@dataclass(frozen=True)
class ModeSummary:
    """A campaign's dial mode and, client first, its abandon rate over its window vs the cap."""

    dial_mode: str
    live: int | None = None
    abandoned: int | None = None
    window: str | None = None
    cap: float | None = None

    @property
    def rate(self) -> float | None:
        if self.live is None or self.abandoned is None:
            return None
        return self.abandoned / self.live if self.live else 0.0

    def line(self) -> str:
        """One line for `dialer status` and `dialer why`."""
        if self.rate is None or self.cap is None:
            return f"dial mode {self.dial_mode}"
        over = "  OVER THE CAP" if self.rate > self.cap else ""
        return (
            f"dial mode {self.dial_mode}: abandon rate {self.rate:.1%} ({self.abandoned} of {self.live} live "
            f"answers, last {self.window}), cap {self.cap:.1%}{over}"
        )

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ModeSummary:
        return cls(
            data["dial_mode"], data["live_answers"], data["abandoned"], data["abandon_window"], data["max_abandon_rate"]
        )

    def as_data(self) -> dict[str, object]:
        return {
            "dial_mode": self.dial_mode, "abandon_rate": self.rate, "abandoned": self.abandoned,
            "live_answers": self.live, "abandon_window": self.window, "max_abandon_rate": self.cap,
        }  # fmt: skip


async def mode_summary(store: Pacing, campaign: Campaign, now: datetime) -> ModeSummary:
    """The campaign's dial mode, with the abandon rate over its window for power/predictive."""
    mode = campaign.dial_mode
    if not mode.client_first:
        return ModeSummary(mode.value)
    window = campaign.abandon_window
    counts = await store.abandon_counts(campaign.name, now - timedelta(seconds=window.seconds), now)
    return ModeSummary(mode.value, counts.live, counts.abandoned, window.value, campaign.max_abandon_rate)


__all__ = [
    "LivePacer", "ModeSummary", "PacingInputs", "STATS_EVERY", "agents_now", "fold_call", "mode_summary",
    "sharing_pools", "stats_from_calls",
]  # fmt: skip
