"""The pacing decision: how many new calls a campaign places now.

Pure and cheap (the dispatcher and the evaluator ask on every change of state). Inputs
describe the whole campaign (with several workers: the store's global counts, not one
worker's view):

- `ready_agents`: agents in Ready presence who are not attached to any call yet;
- `agents_soon_free`: for each agent talking or wrapping up, the time (same clock as `now`)
  it is expected to be Ready again (see `HandleTime.expected_free_in`);
- `calls_in_flight`: the ring age (seconds since the dial) of every client-first call still
  ringing with no agent attached; agent-first calls already hold their agent and are not
  counted here;
- `lines_free`: lines (and contact caps) still available: no mode ever exceeds it;
- `shared_in_flight`: the calls ringing for OTHER client-first campaigns whose agents this
  campaign shares (a center may list one agent in several campaigns), each as the
  probability it is still answered live (from its own campaign's statistics): an answer of
  theirs takes an agent of the same pool, so they count as in flight here too, and
  `ready_agents` / `agents_soon_free` are then the whole pool's.

The modes:

- progressive: one call per Ready agent not already matched to a ringing call,
  `ready_agents - len(calls_in_flight)`. Each call has its agent, so nothing is abandoned.
- power: `floor(power_ratio x ready_agents) - len(calls_in_flight)`; while the window's
  abandon rate is over `max_abandon_rate`, the progressive count instead (the regulatory cap
  holds in every mode).
- predictive: the largest n, between the progressive count and the power bound
  `floor(power_ratio x (ready_agents + agents counted soon free)) - len(calls_in_flight)`,
  such that the expected abandons among the next live answers stay at most `target` times
  the expected live answers:

    A  = ready_agents + agents expected free within `abandon_after + lead` seconds, where
         `lead` is the 5th percentile of time-to-answer (a new call is not answered sooner);
    q_i = P(ringing call i is answered live | it has rung for its age), from the ring-time
         histograms and the answer rate (`RingTimes.live_probability`);
    N  ~ Poisson(sum q_i + n x answer_rate), the live answers still to come (Poisson rather
         than the exact sum of Bernoullis: a larger variance, so the estimate errs on the
         side of abandoning less, and it costs O(A) to evaluate);
    E[abandons] = E[max(0, N - A)];   accept n while E[abandons] <= target x E[N].

  The `target` follows the abandon budget over the rolling window, the measurement that
  corrects the model's errors either way:

    budget = max_abandon_rate x live answers - abandoned          (abandons still allowed)
             - E[abandons of the calls already ringing] - RESERVE_ABANDONS
    target = max_abandon_rate x min(MAX_TARGET_FACTOR, budget / BUDGET_RAMP)

  A fresh window (no live answers yet) starts progressive and earns its budget; while the
  measured rate is well under the cap the dialer may aim above the cap for the next few
  answers (at most MAX_TARGET_FACTOR times: the model errs on the cautious side), which
  spends budget and pulls the rate up; as the rate nears the cap the target shrinks, and
  with the budget spent (budget <= 0) the decision is the progressive one: no more calls
  than Ready agents left unmatched, so every answer finds its agent. The reserve absorbs
  the abandons of calls already in flight beyond their expectation, so the window's rate
  stays at or under the cap.

`lookahead(stats, settings)` is how far ahead an agent's expected free time counts: callers
need only pass the agents expected free within it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from dialer.pacing.modes import DialMode, PacingSettings
from dialer.pacing.stats import CampaignStats, WindowCounts

# Abandons kept back from the budget: calls already ringing may abandon more than expected.
RESERVE_ABANDONS = 2.0
# Abandons of budget at which predictive aims exactly at the cap; less: proportionally lower.
BUDGET_RAMP = 3.0
# With budget to spare, aim at most this many times the cap for the next answers. The model
# overestimates abandons (Poisson variance; agents who become Ready while calls ring are not
# counted), by about half in the evaluator's days, so aiming at twice the cap lands near the
# cap without spending a surplus in a burst: a burst could push a later window over the cap
# once the surplus's old live answers leave it.
MAX_TARGET_FACTOR = 2.0
# Live answers of new calls come no sooner than this quantile of time-to-answer.
LEAD_QUANTILE = 0.05
_EPS = 1e-9
# Above this mean, exp(-mean) is lost in float underflow.
_UNDERFLOW = 700.0


def poisson_overflow(mean: float, agents: int) -> float:
    """E[max(0, N - agents)] for N ~ Poisson(mean).

    = mean - agents + sum_{k<agents} (agents - k) P(N = k), in O(agents).
    """
    if mean <= 0.0:
        return 0.0
    under = 0.0
    if mean < _UNDERFLOW:
        pk = math.exp(-mean)
        for k in range(agents):
            under += (agents - k) * pk
            pk *= mean / (k + 1)
    else:
        # exp(-mean) underflows to 0: walk the probabilities in logs instead (hundreds of agents).
        log_mean = math.log(mean)
        log_pk = -mean
        for k in range(agents):
            under += (agents - k) * math.exp(log_pk)
            log_pk += log_mean - math.log(k + 1)
    return max(mean - agents + under, 0.0)


def lookahead(stats: CampaignStats, settings: PacingSettings) -> float:
    """Seconds ahead an agent expected to be Ready counts as available for the next answers.

    `abandon_after` (an answer may wait that long) plus the time before which hardly any new
    call is answered (the LEAD_QUANTILE of time-to-answer).
    """
    return settings.abandon_after + stats.rings.answer_quantile(LEAD_QUANTILE)


def _progressive(ready_agents: int, in_flight: int) -> int:
    return max(ready_agents - in_flight, 0)


def _power(ratio: float, agents: int, in_flight: int) -> int:
    return max(math.floor(ratio * agents + _EPS) - in_flight, 0)


def calls_to_place(
    mode: DialMode,
    now: float,
    ready_agents: int,
    agents_soon_free: Sequence[float],
    calls_in_flight: Sequence[float],
    stats: CampaignStats,
    settings: PacingSettings,
    lines_free: int,
    window_counts: WindowCounts | None = None,
    shared_in_flight: Sequence[float] = (),
) -> int:
    """How many new calls to place now (never negative, never above `lines_free`).

    `window_counts` are the live answers and abandons over the abandon window from the store
    (several workers); without them this process's own `stats.abandons` are used.
    """
    lines = max(lines_free, 0)
    ready = max(ready_agents, 0)
    in_flight = len(calls_in_flight) + len(shared_in_flight)
    if mode is DialMode.PREVIEW:
        # The agent starts each call from the desktop; the pacer places none.
        return 0
    if mode is DialMode.PROGRESSIVE:
        return min(_progressive(ready, in_flight), lines)
    if mode is DialMode.POWER:
        # A fixed ratio cannot aim at the cap, but it must not keep breaking it: with the
        # window's rate over max_abandon_rate, power places progressive counts (every
        # answer finds its agent) until live answers bring the rate back under.
        counts = window_counts if window_counts is not None else stats.abandons.counts(now)
        if counts.budget(settings.max_abandon_rate) < 0.0:
            return min(_progressive(ready, in_flight), lines)
        return min(_power(settings.power_ratio, ready, in_flight), lines)
    n = _predictive(now, ready, agents_soon_free, calls_in_flight, shared_in_flight, stats, settings, window_counts)
    return min(n, lines)


def _predictive(
    now: float,
    ready: int,
    agents_soon_free: Sequence[float],
    calls_in_flight: Sequence[float],
    shared_in_flight: Sequence[float],
    stats: CampaignStats,
    settings: PacingSettings,
    window_counts: WindowCounts | None,
) -> int:
    in_flight = len(calls_in_flight) + len(shared_in_flight)
    floor_n = _progressive(ready, in_flight)
    horizon = now + lookahead(stats, settings)
    agents = ready + sum(1 for t in agents_soon_free if t <= horizon)
    ceiling_n = _power(settings.power_ratio, agents, in_flight)
    if ceiling_n <= floor_n:
        return floor_n

    p = stats.answers.rate
    mean_in_flight = stats.rings.expected_live(calls_in_flight, p) + sum(shared_in_flight)
    counts = window_counts if window_counts is not None else stats.abandons.counts(now)
    budget = counts.budget(settings.max_abandon_rate) - poisson_overflow(mean_in_flight, agents) - RESERVE_ABANDONS
    if budget <= 0.0 or p <= 0.0:
        return floor_n
    target = settings.max_abandon_rate * min(MAX_TARGET_FACTOR, budget / BUDGET_RAMP)

    def acceptable(n: int) -> bool:
        mean = mean_in_flight + n * p
        return poisson_overflow(mean, agents) <= target * mean

    # The overflow share grows with the mean, so the acceptable n form a prefix: bisect it.
    lo, hi = floor_n, ceiling_n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if acceptable(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo
