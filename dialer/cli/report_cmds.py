"""What the day looks like: plan, report, the call log, status."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from dialer.cli.common import iso, load_or_exit, parse_day, run_or_exit, with_store
from dialer.cli.options import command, config_option, db_option, format_option
from dialer.domain import CallStatus, Priority
from dialer.planning import center_today, day_bounds
from dialer.plans import PlanPreviewSource, preview_plan
from dialer.reports import (
    CALL_LOG_FIELDS,
    REPORT_FIELDS,
    call_log_row,
    day_report,
    report_dicts,
    report_table,
    to_csv,
    to_jsonl,
)
from dialer.store.base import Store


@command("plan")
@config_option
@db_option
@click.option("--date", "day", default=None, help="YYYY-MM-DD (default: today, center time)")
@format_option(["table", "json"], default="table", legacy=["json"])
@click.option("--limit", default=50, show_default=True, help="rows per campaign in the table (JSON has all)")
def plan_cmd(config_path: Path, db: str | None, day: str | None, fmt: str, limit: int) -> None:
    """The day's plan per campaign: due clients in call order, capacity, roll-over."""
    config = load_or_exit(config_path)
    d = parse_day(day, config)

    async def go(store: PlanPreviewSource) -> list[dict[str, Any]]:
        out = []
        for campaign in config.campaigns:
            rows = None if fmt == "json" else limit
            plan = await store.get_plan(campaign.name, d, rows)
            source = "stored"
            if plan is None:
                # Not formed yet (the morning job runs at plan_at): preview it now.
                plan = await preview_plan(store, config, campaign, d, datetime.now(UTC), rows)
                source = "preview"
            entries = []
            for i, e in enumerate(plan.entries):
                client = await store.get_client(e.client_id)
                entries.append(
                    {
                        "position": i + 1,
                        "client_id": e.client_id,
                        "name": client.name if client else None,
                        "client_tz": client.timezone if client else None,
                        "class": Priority(e.priority).name.lower(),
                        "next_dial_at": iso(e.next_dial_at),
                        "window_closes_at": iso(e.window_closes_at),
                        "fits": e.fits,
                    }
                )
            out.append(
                {
                    "campaign": campaign.name,
                    "date": d.isoformat(),
                    "source": source,
                    "due": plan.due,
                    "capacity": plan.capacity,
                    "fits": plan.fits,
                    "rolled_over": plan.rolls_over,
                    "clients": entries,
                }
            )
        return out

    plans = run_or_exit(with_store(config, db, go))
    if fmt == "json":
        click.echo(json.dumps(plans, ensure_ascii=False, indent=1))
        return
    for p in plans:
        click.echo(
            f"== {p['campaign']} {p['date']} ({p['source']}): {p['due']} due, capacity {p['capacity']}, "
            f"{p['fits']} fit, {p['rolled_over']} roll over =="
        )
        for e in p["clients"][:limit]:
            mark = "" if e["fits"] else "  (rolls over)"
            click.echo(
                f"{e['position']:>5}  {e['class']:<9} {e['client_id']:<12} {(e['name'] or '')[:28]:<28} "
                f"{e['client_tz'] or '':<20} opens {e['next_dial_at']}{mark}"
            )
        if p["due"] > limit:
            click.echo(f"  ... {p['due'] - limit} more (--limit N or --format json)")


@command("report")
@config_option
@db_option
@click.option("--date", "day", default=None, help="YYYY-MM-DD (default: today, center time)")
@format_option(["table", "json", "csv", "xlsx", "csv-excel"], default="table", legacy=["json", "csv"])
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write the xlsx / csv-excel download to this file (replaced whole)",
)
def report_cmd(config_path: Path, db: str | None, day: str | None, fmt: str, output: Path | None) -> None:
    """The day report per campaign and agent (agent * = campaign total).

    `--format xlsx` and `--format csv-excel` (UTF-8 with BOM, `;`, decimal comma: what
    Russian Excel opens) are the report page's downloads."""
    from dialer.reporting import cli as downloads

    downloads.check_options(fmt, output)
    config = load_or_exit(config_path)
    d = parse_day(day, config)
    if fmt in downloads.DOWNLOADS:
        report = run_or_exit(with_store(config, db, lambda s: downloads.load_day_report(s, config, d)))
        downloads.write(report, fmt, output)
        return
    rows = run_or_exit(with_store(config, db, lambda s: day_report(s, config, d)))
    if fmt == "json":
        click.echo(json.dumps(report_dicts(rows), ensure_ascii=False, indent=1))
    elif fmt == "csv":
        click.echo(to_csv(report_dicts(rows), REPORT_FIELDS), nl=False)
    else:
        click.echo(report_table(rows) if rows else f"no calls and no plan on {d.isoformat()}")


@command("calls")
@config_option
@db_option
@click.option("--date", "day", default=None, help="YYYY-MM-DD (default: today, center time)")
@format_option(["csv", "jsonl"], default="csv")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in CallStatus]),
    help="only calls with this status (repeatable), e.g. --status abandoned",
)
def calls_cmd(config_path: Path, db: str | None, day: str | None, fmt: str, statuses: tuple[str, ...]) -> None:
    """The call log of a day, one row a call. Abandoned calls (answered live, no agent
    free: the information message, then hung up) have the status `abandoned`."""
    config = load_or_exit(config_path)
    d = parse_day(day, config)
    start, end = day_bounds(config, d)
    calls = run_or_exit(with_store(config, db, lambda s: s.calls_between(start, end)))
    rows = [call_log_row(c) for c in calls if not statuses or c.status.value in statuses]
    click.echo(to_csv(rows, CALL_LOG_FIELDS) if fmt == "csv" else to_jsonl(rows), nl=False)


@command("status")
@config_option
@db_option
@format_option(["table", "json"], default="table", legacy=["json"])
def status_cmd(config_path: Path, db: str | None, fmt: str) -> None:
    """Per campaign: lines in use, due now, done today, next opening; blocked when its
    provider is not ready on a running worker.

    Lines are the effective ones: a campaign with agents makes no more calls at once
    than it has agents. The next opening is the earliest moment after now at which a
    queued client of the campaign falls due (clients due already count in "due now")."""
    from dialer.live_pacing import ModeSummary
    from dialer.model import READINESS_STALE
    from dialer.planning import lines_of
    from dialer.presence import campaign_hold

    config = load_or_exit(config_path)
    now = datetime.now(UTC)
    today = center_today(config, now)
    start, end = day_bounds(config, today)

    async def go(store: Store) -> list[dict[str, Any]]:
        calls = await store.calls_between(start, end)
        # Each running worker writes what it found about its providers (every minute
        # and on every change); older findings are of workers that are gone.
        not_ready = [r for r in await store.readiness_reports(now - READINESS_STALE) if not r.ready]
        out = []
        for c in config.campaigns:
            stats = await store.queue_stats(c.name, now)
            nxt = await store.next_dial_after(now, c.name)
            window = timedelta(seconds=c.abandon_window.seconds)
            abandon = await store.abandon_counts(c.name, now - window, now)
            out.append(
                {
                    "campaign": c.name,
                    "lines": lines_of(c),
                    "lines_configured": c.lines,
                    "agents": len(c.agents) if c.agents else None,
                    "lines_in_use": stats["lines_in_use"],
                    "due_now": stats["due_now"],
                    "queued": stats["queued"],
                    "window_passed": stats["window_passed"],
                    "done_today": sum(1 for x in calls if x.campaign == c.name and x.status.final),
                    "next_opening": iso(nxt),
                    # issue 13: the abandon rate over the campaign's window, every worker
                    "dial_mode": c.dial_mode.value,
                    "abandon": {
                        "window": c.abandon_window.value,
                        "rate": round(abandon.rate, 4),
                        "abandoned": abandon.abandoned,
                        "live_answers": abandon.live,
                        "max_rate": c.max_abandon_rate,
                    },
                    # Paused by a supervisor, or none of its agents Ready: it places no calls.
                    "held": await campaign_hold(store, config, c, now),
                    "blocked": [
                        {
                            "worker": r.owner,
                            "provider": r.provider,
                            "reason": r.reason,
                            "since": iso(r.since),
                            "checked_at": iso(r.checked_at),
                        }
                        for r in not_ready
                        if r.provider == c.provider
                    ],  # fmt: skip
                }
            )
        return out

    rows = run_or_exit(with_store(config, db, go))
    if fmt == "json":
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        limited = f" ({r['lines_configured']} set, {r['agents']} agents)" if r["lines"] < r["lines_configured"] else ""
        click.echo(
            f"{r['campaign']:<12} lines {r['lines_in_use']}/{r['lines']}{limited}  due now {r['due_now']}  "
            f"queued {r['queued']}  done today {r['done_today']}  next opening {r['next_opening'] or '-'}"
        )
        a = r["abandon"]
        shown = r["dial_mode"] in ("power", "predictive") or a["abandoned"]
        summary = ModeSummary(r["dial_mode"], a["live_answers"], a["abandoned"], a["window"], a["max_rate"])
        click.echo(f"{'':<12} {summary.line() if shown else ModeSummary(r['dial_mode']).line()}")  # issue 13
        if r["held"]:
            click.echo(f"{'':<12} HELD: {r['held']}: places no calls")
        if r["window_passed"]:
            click.echo(
                f"{'':<12} {r['window_passed']} queued clients' windows closed before they were dialed (no worker "
                "running?): a running worker places them again within seconds"
            )
        for b in r["blocked"]:
            click.echo(
                f"{'':<12} BLOCKED: provider {b['provider']} not ready on worker {b['worker']} since {b['since']}: "
                f"{b['reason']} (its clients are not claimed there)"
            )
