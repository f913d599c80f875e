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
- Statistics (answer rate, ring-time distribution, talk time) from the campaign's recent
  finished calls, and the abandon budget from `Pacing.abandon_counts` over the campaign's
  window: rebuilt every STATS_EVERY (not every tick), so every worker sees the same
  numbers a few seconds old at most; an abandon this worker records refreshes them at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dialer.config.models import Campaign
from dialer.domain import CallStatus
from dialer.model import CallRecord
from dialer.pacing.decide import calls_to_place
from dialer.pacing.modes import AbandonWindow
from dialer.pacing.stats import CampaignStats, WindowCounts
from dialer.store.people import Presence, PresenceState
from dialer.store.roles import Pacing

# The statistics are rebuilt this often (each rebuild is two indexed queries per campaign).
STATS_EVERY = timedelta(seconds=5)
# Built from the campaign's finished calls of this long ago at most, newest STATS_CALLS of them.
STATS_SINCE = timedelta(hours=12)
STATS_CALLS = 500
# Not a dial of the client's doing: the dialer cut it, so it says nothing about answers.
_NOT_DIALS = frozenset({CallStatus.DIALING, CallStatus.CANCELED, CallStatus.INTERRUPTED})
_LIVE = frozenset({CallStatus.ANSWERED, CallStatus.ABANDONED})


def _ring_seconds(call: CallRecord) -> float:
    if call.ring_s > 0:
        return call.ring_s
    end = call.answered_at or call.ended_at
    return max((end - call.started_at).total_seconds(), 0.0) if end else 0.0


def stats_from_calls(calls: Iterable[CallRecord], window: AbandonWindow, wrap_s: float) -> CampaignStats:
    """The pacing statistics of these finished calls (any order: they are fed oldest first)."""
    stats = CampaignStats.for_window(window)
    for call in sorted(calls, key=lambda c: (c.started_at, c.call_id)):
        if call.status in _NOT_DIALS:
            continue
        if call.status in _LIVE:
            at = (call.answered_at or call.started_at).timestamp()
            stats.record_live_answer(at=at, ring_seconds=_ring_seconds(call))
            if call.status is CallStatus.ABANDONED:
                stats.record_abandon(at=at)
            elif call.talk_s > 0:
                stats.record_conversation(talk_seconds=call.talk_s, wrap_seconds=wrap_s)
        else:
            stats.record_not_live(ring_seconds=_ring_seconds(call))
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


@dataclass
class _Measured:
    at: datetime
    stats: CampaignStats
    window: WindowCounts


class LivePacer:
    """Per worker: the campaigns' statistics (refreshed every STATS_EVERY) and the decision."""

    def __init__(self, store: Pacing):
        self.store = store
        self._measured: dict[str, _Measured] = {}
        self.last: dict[str, PacingInputs] = {}  # campaign -> the inputs of its last decision

    def forget(self, campaign: str) -> None:
        """Measure again at the next decision (this worker just recorded an abandon)."""
        self._measured.pop(campaign, None)

    async def measured(self, campaign: Campaign, now: datetime) -> tuple[CampaignStats, WindowCounts]:
        m = self._measured.get(campaign.name)
        if m is None or not m.at <= now < m.at + STATS_EVERY:
            wrap = campaign.wrap_up.total_seconds()
            calls = await self.store.recent_calls(campaign.name, now - STATS_SINCE, STATS_CALLS)
            window = campaign.abandon_window
            counts = await self.store.abandon_counts(campaign.name, now - timedelta(seconds=window.seconds), now)
            m = _Measured(now, stats_from_calls(calls, window, wrap), WindowCounts(counts.live, counts.abandoned))
            self._measured[campaign.name] = m
        return m.stats, m.window

    async def calls_to_place(
        self,
        campaign: Campaign,
        now: datetime,
        agents: Sequence[Presence] | int,
        lines_free: int,
        pending: int = 0,
    ) -> int:
        """How many client-first calls the campaign places now. `agents` is the campaign's
        agents' presence (store), or, for a campaign without presence, how many of its
        agents are free on this worker (then none counts as soon free). `pending`: this
        worker's calls claimed and not yet written to the store."""
        if lines_free <= 0:
            return 0
        stats, window = await self.measured(campaign, now)
        soon: list[float] = []
        if isinstance(agents, int):
            ready = agents
        else:
            ready, soon = agents_now(agents, stats, now)
        started = await self.store.ringing_unattached(campaign.name)
        ringing = [max((now - at).total_seconds(), 0.0) for at in started] + [0.0] * pending
        self.last[campaign.name] = PacingInputs(ready, tuple(soon), tuple(ringing), lines_free, window)
        return calls_to_place(
            campaign.dial_mode, now.timestamp(), ready, soon, ringing, stats, campaign.pacing, lines_free, window
        )


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
    "LivePacer", "ModeSummary", "PacingInputs", "STATS_EVERY", "agents_now", "mode_summary", "stats_from_calls",
]  # fmt: skip
