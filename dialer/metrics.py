"""Prometheus metrics for `/metrics`: one registry per worker process.

Counters are bumped where things happen (dispatcher); gauges that describe the
queue (lines in use, due now, plan progress) are refreshed by the service every
few seconds from the store, so a scrape never queries the database.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from dialer.model import AbandonCounts

# Talk-time buckets around the 3-5 minute guideline.
TALK_BUCKETS = (30, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200)


class DialerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.calls_started = Counter("dialer_calls_started", "Calls started", ["campaign"], registry=r)
        self.calls_ended = Counter("dialer_calls_ended", "Calls ended", ["campaign", "status"], registry=r)
        self.talk_seconds = Histogram(
            "dialer_talk_seconds", "Talk time of answered calls", ["campaign"], buckets=TALK_BUCKETS, registry=r
        )
        self.talk_guideline = Counter(
            "dialer_talk_guideline", "Answered calls by the 3-5 min guideline", ["campaign", "guideline"], registry=r
        )
        self.provider_errors = Counter("dialer_provider_errors", "Provider errors", ["provider"], registry=r)
        self.lease_rescues = Counter("dialer_lease_rescues", "Calls of dead workers reconciled", registry=r)
        self.lease_lost = Counter("dialer_lease_lost", "Outcomes refused: lease moved on", registry=r)
        self.store_errors = Counter("dialer_store_errors", "Store operations that failed", registry=r)
        self.lines_in_use = Gauge("dialer_lines_in_use", "Calls in flight (all workers)", ["campaign"], registry=r)
        self.lines = Gauge("dialer_lines", "Configured lines", ["campaign"], registry=r)
        self.due_now = Gauge("dialer_queue_due_now", "Clients due and open now", ["campaign"], registry=r)
        self.plan_due = Gauge("dialer_plan_due", "Clients in today's plan", ["campaign"], registry=r)
        self.plan_done = Gauge("dialer_plan_dialed", "Planned clients dialed today", ["campaign"], registry=r)
        self.campaign_blocked = Gauge(
            "dialer_campaign_blocked", "1 while the campaign's provider is not ready on this worker (no claims)",
            ["campaign"], registry=r,
        )  # fmt: skip
        self.provider_ready = Gauge(
            "dialer_provider_ready", "1 if the provider passed its last readiness check on this worker", ["provider"],
            registry=r,
        )  # fmt: skip
        self.campaign_held = Gauge(  # issue 12
            "dialer_campaign_held", "1 if the campaign places no calls: paused, or no agent ready", ["campaign"],
            registry=r,
        )  # fmt: skip
        # issue 13: the abandon rate over each campaign's abandon_window, counted by the
        # store across every worker (dialer_calls_ended{status="abandoned"} counts this
        # worker's own); alert on dialer_abandon_rate > dialer_abandon_rate_max.
        self.abandon_rate = Gauge(
            "dialer_abandon_rate", "Abandoned / live-answered calls over the campaign's abandon_window (all workers)",
            ["campaign"], registry=r,
        )  # fmt: skip
        self.abandoned = Gauge(
            "dialer_abandoned", "Abandoned calls over the campaign's abandon_window (all workers)", ["campaign"],
            registry=r,
        )  # fmt: skip
        self.live_answers = Gauge(
            "dialer_live_answers", "Live-answered calls (answered + abandoned) over the campaign's abandon_window",
            ["campaign"], registry=r,
        )  # fmt: skip
        self.abandon_rate_max = Gauge(
            "dialer_abandon_rate_max", "The campaign's max_abandon_rate (configured cap)", ["campaign"], registry=r
        )
        self.tick_lag = Gauge("dialer_tick_lag_seconds", "Duration of the last dispatcher tick", registry=r)
        self.store_up = Gauge("dialer_store_up", "1 if the store answered the last tick", registry=r)

    def set_abandon(self, campaign: str, counts: AbandonCounts, cap: float) -> None:
        """The campaign's abandon figures over its window (the service refreshes them)."""
        self.abandon_rate.labels(campaign).set(counts.rate)
        self.abandoned.labels(campaign).set(counts.abandoned)
        self.live_answers.labels(campaign).set(counts.live)
        self.abandon_rate_max.labels(campaign).set(cap)

    def render(self) -> bytes:
        return generate_latest(self.registry)
