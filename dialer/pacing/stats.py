"""The rolling measurements a campaign keeps for pacing, in bounded memory.

Pure: the caller feeds every finished dial and conversation in; nothing here reads a clock
or a store. Times are seconds (float, any epoch, as long as one campaign uses one).

- `AnswerRate`: live answers / dials, exponentially smoothed over the last few hundred dials,
  with a prior so a campaign's first minutes have a sensible estimate.
- `RingTimes`: how long live-answered calls rang before the answer, and how long the other
  dials lasted before they ended (busy, no answer, machine, failure), as 1-second histograms;
  from them the probability that a call still ringing at a given age will be answered live.
- `HandleTime`: talk and wrap-up, smoothed means with priors; the expected time until an agent
  who is talking or wrapping up is free again.
- `AbandonCounter`: live answers and abandoned calls over the campaign's rolling window (24 h
  or 30 days) in time buckets. The rate is Ofcom's and the TCPA's: abandoned calls divided by
  live-answered calls, where an abandoned call is itself a live answer.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from dialer.pacing.modes import AbandonWindow


def _decay(half_life: float) -> float:
    """The factor that halves a count's weight after `half_life` further observations."""
    return float(0.5 ** (1.0 / half_life))


@dataclass(slots=True)
class AnswerRate:
    """Live answers per dial, smoothed (recent dials weigh more) and started from a prior."""

    prior_rate: float = 0.3
    # How many dials the prior is worth: after about this many real dials the data dominates.
    prior_weight: float = 20.0
    half_life: float = 300.0
    _live: float = 0.0
    _dials: float = 0.0

    def record(self, live: bool) -> None:
        k = _decay(self.half_life)
        self._live = self._live * k + (1.0 if live else 0.0)
        self._dials = self._dials * k + 1.0

    @property
    def rate(self) -> float:
        return (self._live + self.prior_rate * self.prior_weight) / (self._dials + self.prior_weight)


# Ring times are kept in 1-second bins up to this; longer rings share the last bin.
RING_BINS = 120
# Each histogram is halved when it holds more than this, so old calls fade and counts stay bounded.
RING_HISTORY = 2_000.0
# The per-age tables are rebuilt after this many new observations (a few calls more or less
# do not move a distribution built from hundreds; the pacing loop asks on every event).
REBUILD_EVERY = 16


@dataclass(slots=True)
class _Histogram:
    counts: list[float] = field(default_factory=lambda: [0.0] * RING_BINS)
    total: float = 0.0

    def add(self, seconds: float) -> None:
        i = min(max(int(seconds), 0), RING_BINS - 1)
        self.counts[i] += 1.0
        self.total += 1.0
        if self.total > RING_HISTORY:
            self.counts = [c / 2 for c in self.counts]
            self.total /= 2

    def survival(self) -> list[float]:
        """survival[i] = share of observations lasting at least i seconds (bin i and later)."""
        out = [0.0] * RING_BINS
        acc = 0.0
        for i in range(RING_BINS - 1, -1, -1):
            acc += self.counts[i]
            out[i] = acc / self.total if self.total else 0.0
        return out


# The prior ring-time shapes used until a campaign has seen real calls: a live answer after
# 3-20 s, a dial that fails after 2-6 s (busy) or rings out at 30 s.
_PRIOR_ANSWER = tuple(range(3, 21))
_PRIOR_OTHER = (2, 3, 4, 5, 6, 30, 30, 30, 30, 30)


@dataclass(slots=True)
class RingTimes:
    """Time to answer (live answers) and time to give up (every other dial)."""

    _answered: _Histogram = field(default_factory=_Histogram)
    _other: _Histogram = field(default_factory=_Histogram)
    # Cached per-age tables, rebuilt lazily after new observations (the pacing loop asks
    # far more often than calls finish).
    _surv_answered: list[float] | None = None
    _surv_other: list[float] | None = None
    _stale: int = 0
    _quantiles: dict[float, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for s in _PRIOR_ANSWER:
            self._answered.add(s + 0.5)
        for s in _PRIOR_OTHER:
            self._other.add(s + 0.5)

    def record_answer(self, ring_seconds: float) -> None:
        self._answered.add(ring_seconds)
        self._stale += 1

    def record_other(self, ring_seconds: float) -> None:
        self._other.add(ring_seconds)
        self._stale += 1

    def _tables(self) -> tuple[list[float], list[float]]:
        if self._surv_answered is None or self._surv_other is None or self._stale >= REBUILD_EVERY:
            self._surv_answered = self._answered.survival()
            self._surv_other = self._other.survival()
            self._stale = 0
            self._quantiles.clear()
        return self._surv_answered, self._surv_other

    def live_probability(self, ring_age: float, answer_rate: float) -> float:
        """P(this call will be answered live | it is still ringing `ring_age` seconds after the dial).

        Bayes over the two histograms: of the dials still ringing at this age, the share that
        are live answers still to come.
        """
        sa, so = self._tables()
        i = min(max(int(ring_age), 0), RING_BINS - 1)
        live = answer_rate * sa[i]
        other = (1.0 - answer_rate) * so[i]
        if live + other <= 0.0:
            return 0.0
        return live / (live + other)

    def expected_live(self, ring_ages: Iterable[float], answer_rate: float) -> float:
        """Expected live answers still to come from calls ringing for these ages (sum of the above)."""
        sa, so = self._tables()
        last = RING_BINS - 1
        total = 0.0
        for age in ring_ages:
            i = min(max(int(age), 0), last)
            live = answer_rate * sa[i]
            other = (1.0 - answer_rate) * so[i]
            if live > 0.0:
                total += live / (live + other)
        return total

    def answer_quantile(self, q: float) -> float:
        """The ring time (whole seconds) before which a share `q` of live answers came."""
        sa, _ = self._tables()
        cached = self._quantiles.get(q)
        if cached is not None:
            return cached
        # sa[i + 1] is the share answered after i + 1 s: the first i where the rest falls to 1 - q.
        found = float(RING_BINS - 1)
        for i in range(RING_BINS - 1):
            if 1.0 - sa[i + 1] >= q:
                found = float(i)
                break
        self._quantiles[q] = found
        return found


@dataclass(slots=True)
class HandleTime:
    """Talk and wrap-up durations, smoothed, with priors for the cold start."""

    mean_talk: float = 90.0
    mean_wrap: float = 15.0
    half_life: float = 100.0

    def record_talk(self, seconds: float) -> None:
        k = _decay(self.half_life)
        self.mean_talk = self.mean_talk * k + seconds * (1 - k)

    def record_wrap(self, seconds: float) -> None:
        k = _decay(self.half_life)
        self.mean_wrap = self.mean_wrap * k + seconds * (1 - k)

    @property
    def mean(self) -> float:
        """Mean handle time: talk plus wrap-up."""
        return self.mean_talk + self.mean_wrap

    def expected_free_in(self, talking_for: float | None = None, wrapping_for: float | None = None) -> float:
        """Seconds until an agent who has been talking (or wrapping up) this long is expected Ready.

        Talk times have a long tail, so a call past its mean is still expected to last a
        fifth of the mean rather than to end now.
        """
        if talking_for is not None:
            rest = max(self.mean_talk - talking_for, 0.2 * self.mean_talk)
            return rest + self.mean_wrap
        if wrapping_for is not None:
            return max(self.mean_wrap - wrapping_for, 0.0)
        return 0.0


# The rolling window is kept in this many buckets (15 min for 24 h, 7.5 h for 30 days).
ABANDON_BUCKETS = 96


@dataclass(frozen=True, slots=True)
class WindowCounts:
    """Live answers and abandoned calls in the rolling window (from a store, or this process)."""

    live: int
    abandoned: int

    @property
    def rate(self) -> float:
        return self.abandoned / self.live if self.live else 0.0

    def budget(self, cap: float) -> float:
        """How many more calls may be abandoned now with the rate still at or under `cap`."""
        return cap * self.live - self.abandoned


@dataclass(slots=True)
class AbandonCounter:
    """Live answers and abandons in a rolling window, bucketed (at most ABANDON_BUCKETS kept).

    The window is exact to within one bucket: the current bucket and the 95 before it.
    """

    window: AbandonWindow = AbandonWindow.DAY
    _buckets: deque[list[int]] = field(default_factory=deque)  # [bucket index, live, abandoned]

    @property
    def _width(self) -> float:
        return self.window.seconds / ABANDON_BUCKETS

    def _bucket(self, at: float) -> list[int]:
        idx = math.floor(at / self._width)
        if self._buckets and self._buckets[-1][0] >= idx:
            # This bucket, or a record a little out of order: the newest bucket holds it (the
            # count then leaves the window a little later, never earlier).
            return self._buckets[-1]
        b = [idx, 0, 0]
        self._buckets.append(b)
        self._expire(idx)
        return b

    def _expire(self, now_idx: int) -> None:
        while self._buckets and self._buckets[0][0] <= now_idx - ABANDON_BUCKETS:
            self._buckets.popleft()

    def record_live(self, at: float) -> None:
        """A live answer (call it for abandoned calls too: they are live answers)."""
        self._bucket(at)[1] += 1

    def record_abandon(self, at: float) -> None:
        self._bucket(at)[2] += 1

    def counts(self, now: float) -> WindowCounts:
        self._expire(math.floor(now / self._width))
        return WindowCounts(sum(b[1] for b in self._buckets), sum(b[2] for b in self._buckets))


@dataclass(slots=True)
class CampaignStats:
    """Everything pacing measures for one campaign."""

    answers: AnswerRate = field(default_factory=AnswerRate)
    rings: RingTimes = field(default_factory=RingTimes)
    handle: HandleTime = field(default_factory=HandleTime)
    abandons: AbandonCounter = field(default_factory=AbandonCounter)

    @classmethod
    def for_window(cls, window: AbandonWindow) -> CampaignStats:
        return cls(abandons=AbandonCounter(window=window))

    def record_live_answer(self, *, at: float, ring_seconds: float) -> None:
        """A person answered after ringing this long (abandoned calls are live answers too)."""
        self.answers.record(True)
        self.rings.record_answer(ring_seconds)
        self.abandons.record_live(at)

    def record_not_live(self, *, ring_seconds: float) -> None:
        """A dial that ended without a person: busy, no answer, a detected machine, a failure."""
        self.answers.record(False)
        self.rings.record_other(ring_seconds)

    def record_abandon(self, *, at: float) -> None:
        """A live answer that got the information message because no agent was free."""
        self.abandons.record_abandon(at)

    def record_conversation(self, *, talk_seconds: float, wrap_seconds: float) -> None:
        self.handle.record_talk(talk_seconds)
        self.handle.record_wrap(wrap_seconds)
