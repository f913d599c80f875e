"""APScheduler wiring: the dispatcher tick and the daily jobs.

Known traps, handled here:
- the AsyncIOScheduler is created and started inside the running loop;
- `shutdown(wait=True)` would cancel running async jobs, so the tick only *starts*
  calls in the dispatcher's own task set and the drain is the service's;
- cron times between 02:00 and 03:00 misfire on DST days, and a worker may start
  late: daily jobs are claimed once per campaign and date in the store, and a
  30-second catch-up check runs them if the cron trigger was missed.
"""

from __future__ import annotations

import time as _time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from dialer.config.models import DialerConfig

log = structlog.get_logger("dialer.scheduler")

TICK_JOB = "tick"
CATCH_UP_JOB = "daily-catch-up"


class DialerScheduler:
    def __init__(
        self,
        config: DialerConfig,
        tick: Callable[[], Awaitable[Any]],
        daily: Callable[[], Awaitable[Any]],
    ):
        self._tick = tick
        self._daily = daily
        self.scheduler = AsyncIOScheduler(job_defaults={"coalesce": True, "max_instances": 1})
        self.last_tick_lag: float = 0.0
        self._config = config

    async def _tick_job(self) -> None:
        started = _time.monotonic()
        try:
            await self._tick()
        except Exception:
            # One bad tick (database briefly away...) must not stop the daemon.
            log.exception("tick_failed")
        self.last_tick_lag = _time.monotonic() - started

    async def _daily_job(self) -> None:
        try:
            await self._daily()
        except Exception:
            log.exception("daily_jobs_failed")

    def start(self) -> None:
        """Call from inside the running event loop."""
        seconds = max(0.05, self._config.service.tick.total_seconds())
        # Jittered ticks, the same rate on average: with fixed phases, a line freed at a
        # random moment always goes to the worker whose tick follows the longest gap in
        # the others' ticks, so some workers would place many more calls than others.
        # Each jitter shifts the phase (APScheduler counts the next interval from the
        # jittered fire time), so over minutes every worker is first as often.
        self.scheduler.add_job(
            self._tick_job, IntervalTrigger(seconds=seconds * 0.75, jitter=seconds * 0.5), id=TICK_JOB,
            misfire_grace_time=None,
        )  # fmt: skip
        self.scheduler.add_job(self._daily_job, IntervalTrigger(seconds=30), id=CATCH_UP_JOB, misfire_grace_time=None)
        self._add_cron_jobs(self._config)
        self.scheduler.start()

    def _add_cron_jobs(self, config: DialerConfig) -> None:
        zone = config.center.timezone
        times = {(c.plan_at.hour, c.plan_at.minute) for c in config.campaigns} | {
            (c.report_at.hour, c.report_at.minute) for c in config.campaigns
        }
        for hour, minute in sorted(times):
            self.scheduler.add_job(
                self._daily_job,
                CronTrigger(hour=hour, minute=minute, timezone=zone),
                id=f"daily-{hour:02d}{minute:02d}",
                misfire_grace_time=3600,
                replace_existing=True,
            )

    def reload(self, config: DialerConfig) -> None:
        for job in self.scheduler.get_jobs():
            if job.id.startswith("daily-") and job.id != CATCH_UP_JOB:
                job.remove()
        self._config = config
        self._add_cron_jobs(config)

    def shutdown(self) -> None:
        # wait=False: never let APScheduler cancel or wait for our calls.
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
