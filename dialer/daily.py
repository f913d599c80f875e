"""The daily jobs: the morning plan and the evening report, per campaign.

Each runs once per campaign and center-local date, whatever the number of
restarts or workers: the run is claimed in the store (`job_runs`, unique key)
before the work starts. `run_due` is called from a frequent tick as well as from
the cron triggers, which makes catch-up after a late start or a DST-skipped hour
(02:00-03:00 cron times misfire on DST days) the same code path as the normal run.
"""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog

from dialer.config.models import Campaign, DialerConfig
from dialer.model import JOB_TAKEOVER
from dialer.planning import center_today
from dialer.plans import form_plan
from dialer.reports import REPORT_FIELDS, ReportRow, build_rows, day_report, report_dicts, to_csv
from dialer.store.roles import DayRecords

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

    async def run_due(self, store: DayRecords, config: DialerConfig, now: datetime) -> list[JobRun]:
        """Run every due job not yet run (by anyone); return the ones this call ran."""
        ran: list[JobRun] = []
        # The campaigns' report files of one pass share one day report (all campaigns,
        # as of `now`): reading the day's calls once, not once per campaign.
        day_rows: dict[date, list[ReportRow]] = {}
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
            try:
                if run.job == PLAN:
                    await morning_plan(store, config, campaign, run.day, now)
                else:
                    if run.day not in day_rows:
                        day_rows[run.day] = await day_report(store, config, run.day, now)
                    await evening_report(store, config, campaign, run.day, now, day_rows=day_rows[run.day])
            except Exception as exc:
                # A report folder that cannot be written (read-only, a path under a
                # file, disk full) or a database hiccup must not stop the worker nor
                # the other jobs. The run stays unfinished in the store, so it is
                # taken over (by this worker or another) after JOB_TAKEOVER: retried.
                log.error(
                    "daily_job_failed", job=run.job, campaign=run.campaign, day=run.day.isoformat(),
                    error=f"{type(exc).__name__}: {exc}", retry_in=JOB_TAKEOVER.total_seconds(),
                )  # fmt: skip
                self._busy_until[run] = now + JOB_TAKEOVER + timedelta(seconds=1)
                continue
            await store.finish_job(run.job, run.campaign, run.day, now)
            self._settled.add(run)
            self._busy_until.pop(run, None)
            ran.append(run)
        return ran


async def morning_plan(store: DayRecords, config: DialerConfig, campaign: Campaign, day: date, now: datetime) -> None:
    plan = await form_plan(store, config, campaign, day, now)
    log.info(
        "daily_plan", campaign=campaign.name, day=day.isoformat(), due=plan.due, capacity=plan.capacity,
        fits=plan.fits, rolled_over=plan.rolls_over,
    )  # fmt: skip


# Read-only for the service under the unit's ProtectSystem=strict (systemd/dialer.service).
_READ_ONLY_UNDER_SYSTEMD = (Path("/etc"), Path("/usr"), Path("/boot"), Path("/efi"), Path("/opt"))


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"uid {os.getuid()}"


def reports_dir_problem(directory: Path) -> str | None:
    """Why the evening reports could not be written to `directory` by this user, or
    None. (check-config runs as the service user in the unit's ExecStartPre.)"""
    existing = directory
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder, so {directory} cannot be created"
    if not os.access(existing, os.W_OK | os.X_OK):
        who = f"this user ({_user()})"
        if existing == directory:
            return f"{directory} is not writable by {who}"
        return f"{directory} cannot be created: {existing} is not writable by {who}"
    if any(directory.is_relative_to(p) for p in _READ_ONLY_UNDER_SYSTEMD):
        return (
            f"{directory} is read-only for the service under systemd's ProtectSystem=strict "
            "(systemd/dialer.service); use a folder under /var/lib/dialer, e.g. /var/lib/dialer/reports"
        )
    return None


def _write_whole(path: Path, text: str) -> None:
    """Write through a temporary name and rename: a reader never sees half a report."""
    part = path.with_name(path.name + ".part")
    try:
        part.write_text(text, encoding="utf-8")
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


async def evening_report(
    store: DayRecords,
    config: DialerConfig,
    campaign: Campaign,
    day: date,
    now: datetime | None = None,
    *,
    day_rows: list[ReportRow] | None = None,
) -> Path | None:
    """Write the day report files; raises OSError when the folder cannot be written.
    ``day_rows``: the day report of every campaign, when the caller already has it."""
    if day_rows is None:
        day_rows = await day_report(store, config, day, now)
    rows = [r for r in day_rows if r.campaign == campaign.name]
    if not rows:
        rows = build_rows(day, [], [], {})
    directory = config.storage.reports_dir
    directory.mkdir(parents=True, exist_ok=True)
    base = directory / f"{day.isoformat()}.{campaign.name}"
    dicts = report_dicts(rows)
    _write_whole(base.with_suffix(base.suffix + ".csv"), to_csv(dicts, REPORT_FIELDS))
    _write_whole(base.with_suffix(base.suffix + ".json"), json.dumps(dicts, ensure_ascii=False, indent=1))
    total = next((r for r in rows if r.agent == "*"), None)
    log.info(
        "day_report", campaign=campaign.name, day=day.isoformat(), file=str(base) + ".csv",
        planned=total.planned if total else None, dialed=total.dialed if total else 0,
        reached=total.reached if total else 0,
    )  # fmt: skip
    return base
