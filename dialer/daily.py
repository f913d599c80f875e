"""The daily jobs: the morning plan and the evening report, per campaign.

Each runs once per campaign and center-local date, whatever the number of
restarts or workers: the run is claimed in the store (`job_runs`, unique key)
before the work starts. `run_due` is called from a frequent tick as well as from
the cron triggers, which makes catch-up after a late start or a DST-skipped hour
(02:00-03:00 cron times misfire on DST days) the same code path as the normal run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog

from dialer.config import Campaign, DialerConfig
from dialer.planning import center_today, form_plan
from dialer.reports import REPORT_FIELDS, build_rows, day_report, report_dicts, to_csv
from dialer.store.base import Store

log = structlog.get_logger("dialer.daily")

PLAN = "plan"
BUSY_RECHECK = timedelta(minutes=5)
REPORT = "report"


@dataclass(frozen=True)
class JobRun:
    job: str
    campaign: str
    day: date


def job_instant(config: DialerConfig, day: date, at: time) -> datetime:
    """The job's wall-clock time on `day` in the center's zone, as an aware instant.

    A time inside a DST gap resolves to the later wall-clock (fold=0 semantics):
    the job runs a little late rather than not at all."""
    zone = ZoneInfo(config.center.timezone)
    return datetime.combine(day, at, tzinfo=zone)


def due_jobs(config: DialerConfig, now: datetime) -> list[tuple[JobRun, Campaign]]:
    """Jobs whose time has come today (and yesterday's report, if a restart missed it)."""
    today = center_today(config, now)
    out: list[tuple[JobRun, Campaign]] = []
    for campaign in config.campaigns:
        if now >= job_instant(config, today, campaign.plan_at):
            out.append((JobRun(PLAN, campaign.name, today), campaign))
        out.append((JobRun(REPORT, campaign.name, today - timedelta(days=1)), campaign))
        if now >= job_instant(config, today, campaign.report_at):
            out.append((JobRun(REPORT, campaign.name, today), campaign))
    return out


class DailyJobs:
    """Runs the due daily jobs; remembers which are settled so that the frequent
    catch-up check costs no database round trip once a job has run."""

    def __init__(self, owner: str):
        self.owner = owner
        self._settled: set[JobRun] = set()
        self._busy_until: dict[JobRun, datetime] = {}  # another worker runs it: look again then

    async def run_due(self, store: Store, config: DialerConfig, now: datetime) -> list[JobRun]:
        """Run every due job not yet run (by anyone); return the ones this call ran."""
        ran: list[JobRun] = []
        today = center_today(config, now)
        self._settled = {r for r in self._settled if r.day >= today - timedelta(days=2)}
        self._busy_until = {r: t for r, t in self._busy_until.items() if r.day >= today - timedelta(days=2)}
        for run, campaign in due_jobs(config, now):
            if run in self._settled or now < self._busy_until.get(run, now):
                continue
            # Catch up on yesterday's report only if that day was worked (it has a plan).
            if run.job == REPORT and run.day < today and await store.get_plan(run.campaign, run.day, 0) is None:
                self._settled.add(run)
                continue
            if not await store.try_start_job(run.job, run.campaign, run.day, self.owner, now):
                # Done, or running elsewhere; if that worker dies, the run is taken over
                # after JOB_TAKEOVER, so look again now and then rather than never.
                self._busy_until[run] = now + BUSY_RECHECK
                continue
            if run.job == PLAN:
                await morning_plan(store, config, campaign, run.day, now)
            else:
                await evening_report(store, config, campaign, run.day)
            await store.finish_job(run.job, run.campaign, run.day, now)
            self._settled.add(run)
            self._busy_until.pop(run, None)
            ran.append(run)
        return ran


async def morning_plan(store: Store, config: DialerConfig, campaign: Campaign, day: date, now: datetime) -> None:
    plan = await form_plan(store, config, campaign, day, now)
    log.info(
        "daily_plan", campaign=campaign.name, day=day.isoformat(), due=plan.due, capacity=plan.capacity,
        fits=plan.fits, rolled_over=plan.rolls_over,
    )  # fmt: skip


async def evening_report(store: Store, config: DialerConfig, campaign: Campaign, day: date) -> Path | None:
    rows = [r for r in await day_report(store, config, day) if r.campaign == campaign.name]
    if not rows:
        rows = build_rows(day, [], [], {})
    directory = config.storage.reports_dir
    directory.mkdir(parents=True, exist_ok=True)
    base = directory / f"{day.isoformat()}.{campaign.name}"
    dicts = report_dicts(rows)
    base.with_suffix(base.suffix + ".csv").write_text(to_csv(dicts, REPORT_FIELDS), encoding="utf-8")
    base.with_suffix(base.suffix + ".json").write_text(json.dumps(dicts, ensure_ascii=False, indent=1), encoding="utf-8")
    total = next((r for r in rows if r.agent == "*"), None)
    log.info(
        "day_report", campaign=campaign.name, day=day.isoformat(), file=str(base) + ".csv",
        planned=total.planned if total else None, dialed=total.dialed if total else 0,
        reached=total.reached if total else 0,
    )  # fmt: skip
    return base
