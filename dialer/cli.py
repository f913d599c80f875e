"""The `dialer` command.

Every command that reads the queue takes `--config FILE` (default: $DIALER_CONFIG or
config/dialer.yaml) and `--db PATH` to override the store the config names.
Exit codes: 0 ok, 1 the command ran but found a problem (bad config, rejected rows
with --strict, guarantee violated in a simulation), 2 usage errors, 3 the database
cannot be reached or opened, 4 the database is missing or its schema is not the one
this version knows (`dialer migrate`, or upgrade dialer).

Only `run`, `import`, `simulate` and `migrate` create a database or migrate its
schema; every other command opens an existing database of exactly this version.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click

from dialer import logging as dlog
from dialer.config import ConfigError, DialerConfig, json_schema, line_of, load_config, show
from dialer.domain import EARLIEST_YEAR, LATEST_YEAR, Disposition, Priority, year_in_range
from dialer.planning import center_today, day_bounds, preview_plan
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
from dialer.store import store_for
from dialer.store.base import AccessDenied, SchemaMismatch, Store, StoreError, StoreUnreachable, denied_message

T = TypeVar("T")
DEFAULT_CONFIG = "config/dialer.yaml"

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=lambda: os.environ.get("DIALER_CONFIG", DEFAULT_CONFIG),
    show_default="$DIALER_CONFIG or config/dialer.yaml",
    help="the YAML config",
)
db_option = click.option("--db", "db", default=None, help="SQLite file or postgresql:// DSN (overrides the config)")


def _load(config_path: Path, *, providers: bool = False) -> DialerConfig:
    """The config, or every problem as FILE:LINE: field: message and exit 1; `providers`
    also builds each provider from its settings (check-config, run)."""
    try:
        return load_config(config_path, check_providers=providers)
    except ConfigError as exc:
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        raise SystemExit(1) from None


def _run(coro: Awaitable[T]) -> T:
    """Run a command's coroutine; a store it cannot use is one line and exit 3 or 4."""
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(exc.exit_code) from None


async def _with_store(
    config: DialerConfig,
    db: str | None,
    fn: Callable[[Store], Awaitable[T]],
    *,
    migrate: bool = False,
    schema_by_fn: bool = False,
) -> T:
    """Open the store, run `fn`, close. With `migrate` the database may be created and
    its schema brought up to date; without, it must exist at exactly this version.
    With `schema_by_fn` it may be created and `fn` itself deals with the schema
    (`dialer migrate`)."""
    try:
        store = store_for(config, db)
    except ValueError as exc:
        raise SchemaMismatch(str(exc)) from None
    try:
        await store.open(create=migrate or schema_by_fn)
        try:
            if migrate:
                await store.migrate()
            elif not schema_by_fn:
                await store.check_schema()
            return await fn(store)
        finally:
            await store.close()
    except store.connection_errors as exc:
        # The connection broke mid-command (server restart, network cut, locked file).
        raise StoreUnreachable(f"{store.describe()}: {type(exc).__name__}: {exc}") from None
    except store.denied_errors as exc:
        raise AccessDenied(denied_message(store.describe(), exc)) from None


def _parse_instant(value: str | None, zone: str) -> datetime:
    """ISO date-time; without an offset it is read in `zone` (the center's)."""
    if value is None:
        return datetime.now(UTC)
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO date-time like 2026-12-01T10:30 or 2026-12-01T10:30+03:00", param_hint="--at"
        ) from None
    if not year_in_range(dt.year):
        raise click.BadParameter(f"{value!r} is out of range (years {EARLIEST_YEAR}-{LATEST_YEAR})", param_hint="--at")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(zone))
    return dt.astimezone(UTC)


def _parse_day(value: str | None, config: DialerConfig, param_hint: str = "--date") -> date:
    if value is None:
        return center_today(config, datetime.now(UTC))
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-12-01", param_hint=param_hint) from None
    if not year_in_range(day.year):
        raise click.BadParameter(f"{value!r} is out of range (years {EARLIEST_YEAR}-{LATEST_YEAR})", param_hint=param_hint)
    return day


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="log debug details to stderr")
def main(verbose: bool) -> None:
    """dialer: outbound telemarketing dialer worker."""
    dlog.configure(json=False, level=logging.DEBUG if verbose else logging.WARNING, stream=sys.stderr)


# ---------------------------------------------------------------- config


@main.command("check-config")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def check_config(file: Path) -> None:
    """Validate FILE; print every error as FILE:LINE: field.path: message."""
    # Provider settings belong to each provider type: each one is built (no connection
    # is made, no secret is read) so their errors show here, not at start-up.
    config = _load(file, providers=True)
    for warning in _config_warnings(file, config):
        click.echo(warning, err=True)
    click.echo(
        f"{file}: ok ({len(config.campaigns)} campaigns, {len(config.schedules)} schedules, "
        f"{len(config.providers)} providers)"
    )


def _config_warnings(file: Path, config: DialerConfig) -> list[str]:
    """Valid, but it will not work as written: FILE:LINE: field: warning: message."""
    from dialer.daily import reports_dir_problem

    out = []
    problem = reports_dir_problem(config.storage.reports_dir)
    if problem:
        out.append(f"{file}:{line_of(file, ('storage', 'reports_dir'))}: storage.reports_dir: warning: {problem}")
    for i, c in enumerate(config.campaigns):
        if c.agents and c.lines > len(c.agents):
            agents = len(c.agents)
            out.append(
                f"{file}:{line_of(file, ('campaigns', i, 'lines'))}: campaigns.{i}.lines: warning: "
                f"{c.lines} lines but {agents} agent{'s' if agents != 1 else ''}: campaign {c.name!r} makes at most "
                f"{agents} call{'s' if agents != 1 else ''} at once (each call is connected to a free agent)"
            )
    # Stages: the first campaign working a stage gets its unpinned clients; a stage no
    # campaign works leaves its clients out of the queue (`why` says NOT QUEUED).
    first: dict[str, int] = {}
    for i, c in enumerate(config.campaigns):
        for stage in c.stages:
            if stage in first:
                j = first[stage]
                out.append(
                    f"{file}:{line_of(file, ('campaigns', i, 'stages'))}: campaigns.{i}.stages: warning: stage "
                    f"{stage!r} is also worked by campaign {config.campaigns[j].name!r} (listed first), which takes "
                    f"every {stage} client not pinned to {c.name!r}"
                )
            else:
                first[stage] = i
    for stage in ("prospect", "hot", "customer"):
        if stage not in first:
            out.append(
                f"{file}:{line_of(file, ('campaigns',))}: campaigns: warning: no campaign works stage {stage!r}; "
                f"{stage} clients are not queued (only clients pinned to a campaign are)"
            )
    for name, sched in config.schedules.items():
        if not sched.days:
            out.append(
                f"{file}:{line_of(file, ('schedules', name, 'days'))}: schedules.{name}.days: warning: no working "
                "day: clients on this schedule are never called"
            )
    return out


@main.command("config-schema")
def config_schema() -> None:
    """Print the JSON Schema of the config (for editor autocompletion)."""
    click.echo(json.dumps(json_schema(), indent=2, ensure_ascii=False))


# ---------------------------------------------------------------- import


@main.command("import")
@click.argument("config_file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("csv_file", type=click.Path(dir_okay=False, path_type=Path))
@db_option
@click.option("--progress/--no-progress", default=None, help="progress bar (default: when stderr is a terminal)")
@click.option("--strict", is_flag=True, help="exit 1 when any row was rejected (the good rows are still imported)")
def import_cmd(config_file: Path, csv_file: Path, db: str | None, progress: bool | None, strict: bool) -> None:
    """Load clients from CSV_FILE into the queue (re-import updates, never duplicates).

    Creates the database or migrates its schema if needed."""
    from dialer.importer import ImportAborted, ImportFileError
    from dialer.loading import load_clients

    config = _load(config_file)
    show = sys.stderr.isatty() if progress is None else progress

    async def go(store: Store) -> Any:
        return await load_clients(config, csv_file, store, progress=show)

    try:
        summary, placed = _run(_with_store(config, db, go, migrate=True))
    except (ImportFileError, ImportAborted) as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    for line in summary.lines() + placed.lines():
        click.echo(line)
    if strict and summary.rejected:
        click.echo(f"error: {summary.rejected:,} rows rejected (--strict)", err=True)
        raise SystemExit(1)


# ---------------------------------------------------------------- the daemon and the simulation


@main.command("run")
@config_option
@db_option
def run_cmd(config_path: Path, db: str | None) -> None:
    """Run the dialer service (SIGTERM drains and stops, SIGHUP reloads the config).

    Creates the database or migrates its schema if needed; refuses a newer schema."""
    from dialer.service import Service

    dlog.configure(json=True, level=logging.INFO)
    _load(config_path, providers=True)
    raise SystemExit(asyncio.run(Service(config_path, db).run()))


@main.command("migrate")
@config_option
@db_option
def migrate_cmd(config_path: Path, db: str | None) -> None:
    """Create the database or bring its schema up to this version.

    Stop the workers of an older version first: they refuse a newer schema."""
    config = _load(config_path)

    async def go(store: Store) -> tuple[str, int, int]:
        before = await store.schema_version()
        return store.describe(), before, await store.migrate()

    where, before, after = _run(_with_store(config, db, go, schema_by_fn=True))
    if before == after:
        click.echo(f"{where}: schema version {after}, already current")
    else:
        click.echo(f"{where}: schema version {after} (was {before or 'none'})")


@main.command("simulate")
@config_option
@click.option("--clients", "clients_csv", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--from", "first", required=True, help="first day, YYYY-MM-DD (center's local date)")
@click.option("--days", default=1, show_default=True, type=click.IntRange(1, 366))
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--db", "db", default=None, help="keep the simulated queue in this SQLite file (default: a temp file)")
@click.option("--json", "as_json", is_flag=True, help="print the day reports as JSON")
def simulate_cmd(config_path: Path, clients_csv: Path, first: str, days: int, seed: int, db: str | None, as_json: bool) -> None:
    """Run whole working days on a virtual clock with the simulated provider."""
    from dialer.importer import ImportAborted, ImportFileError
    from dialer.loading import load_clients
    from dialer.simulate import run_simulation

    config = _load(config_path)
    first_day = _parse_day(first, config, "--from")
    tmp = None
    if db is None:
        tmp = tempfile.TemporaryDirectory(prefix="dialer-sim-")
        db = str(Path(tmp.name) / "simulation.db")
    # Reports of a simulation never land in the production reports folder, and two
    # simulations in one folder keep theirs apart: sim.db -> sim.reports/.
    reports = Path(db).with_name(Path(db).name + ".reports") if tmp is None else Path(tmp.name) / "reports"
    config = config.model_copy(update={"storage": config.storage.model_copy(update={"reports_dir": reports})})
    start, _ = day_bounds(config, first_day)

    async def go(store: Store) -> Any:
        summary, _ = await load_clients(config, clients_csv, store, now=start)
        return summary, await run_simulation(store, config, first_day, days, seed)

    try:
        summary, results = _run(_with_store(config, db, go, migrate=True))
    except (ImportFileError, ImportAborted) as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    finally:
        if tmp is not None:
            tmp.cleanup()
    violations = sum(r.audit.violations for r in results)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "import": summary.as_dict(),
                    "days": [
                        {
                            "date": r.day.isoformat(),
                            "report": report_dicts(r.rows),
                            "audit": {
                                "calls": r.audit.calls,
                                "outside_window": len(r.audit.outside_window),
                                "dnc_dialed": len(r.audit.dnc_dialed),
                                "open_calls": r.audit.open_calls,
                                "provider_crashes": len(r.audit.provider_crashes),
                            },
                        }
                        for r in results
                    ],
                },
                ensure_ascii=False,
                indent=1,
            )
        )
    else:
        for line in summary.lines():
            click.echo(line)
        for r in results:
            click.echo("")
            click.echo(f"== {r.day.isoformat()} ({r.day:%A}) ==")
            click.echo(report_table(r.rows) if r.rows else "no calls")
            click.echo(
                f"audit: {r.audit.calls} calls, {len(r.audit.outside_window)} outside any window, "
                f"{len(r.audit.dnc_dialed)} do-not-call dialed, {r.audit.open_calls} without a final result, "
                f"{len(r.audit.provider_crashes)} provider crashes"
            )
    crashes = [r for r in results if r.audit.provider_crashes]
    if crashes:
        # On stderr as well, so a --json consumer (and a CI log) sees why it failed.
        count = sum(len(r.audit.provider_crashes) for r in crashes)
        click.echo(
            f"error: the provider crashed on {count} call(s) (recorded failed); first on {crashes[0].day.isoformat()}: "
            f"{crashes[0].audit.first_crash}",
            err=True,
        )
    if summary.rows and not (summary.imported + summary.updated) and not sum(r.audit.calls for r in results):
        # Nothing to simulate is not a clean day: the file is wrong, say so.
        click.echo(
            f"error: no client of {clients_csv} was imported ({summary.rejected:,} rows rejected"
            + (f", see {summary.rejected_path}" if summary.rejected_path else "")
            + "): nothing was simulated",
            err=True,
        )
        raise SystemExit(1)
    if violations:
        raise SystemExit(1)


@main.command("test-call")
@config_option
@click.option("--campaign", required=True, help="the campaign whose provider, caller id and agents to use")
@click.argument("number")
def test_call_cmd(config_path: Path, campaign: str, number: str) -> None:
    """Place one call through the campaign's provider and print its timeline."""
    from dialer.testcall import test_call

    dlog.configure(json=False, level=logging.WARNING, stream=sys.stderr)
    raise SystemExit(_run(test_call(_load(config_path), campaign, number, click.echo)))


# ---------------------------------------------------------------- plan, report, calls


@main.command("plan")
@config_option
@db_option
@click.option("--date", "day", default=None, help="YYYY-MM-DD (default: today, center time)")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", default=50, show_default=True, help="rows per campaign in the table (JSON has all)")
def plan_cmd(config_path: Path, db: str | None, day: str | None, as_json: bool, limit: int) -> None:
    """The day's plan per campaign: due clients in call order, capacity, roll-over."""
    config = _load(config_path)
    d = _parse_day(day, config)

    async def go(store: Store) -> list[dict[str, Any]]:
        out = []
        for campaign in config.campaigns:
            rows = None if as_json else limit
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
                        "next_dial_at": _iso(e.next_dial_at),
                        "window_closes_at": _iso(e.window_closes_at),
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

    plans = _run(_with_store(config, db, go))
    if as_json:
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
            click.echo(f"  ... {p['due'] - limit} more (--limit N or --json)")


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


@main.command("report")
@config_option
@db_option
@click.option("--date", "day", default=None, help="YYYY-MM-DD (default: today, center time)")
@click.option("--json", "as_json", is_flag=True)
@click.option("--csv", "as_csv", is_flag=True)
def report_cmd(config_path: Path, db: str | None, day: str | None, as_json: bool, as_csv: bool) -> None:
    """The day report per campaign and agent (agent * = campaign total)."""
    config = _load(config_path)
    d = _parse_day(day, config)
    rows = _run(_with_store(config, db, lambda s: day_report(s, config, d)))
    if as_json:
        click.echo(json.dumps(report_dicts(rows), ensure_ascii=False, indent=1))
    elif as_csv:
        click.echo(to_csv(report_dicts(rows), REPORT_FIELDS), nl=False)
    else:
        click.echo(report_table(rows) if rows else f"no calls and no plan on {d.isoformat()}")


@main.command("calls")
@config_option
@db_option
@click.option("--date", "day", default=None, help="YYYY-MM-DD (default: today, center time)")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
def calls_cmd(config_path: Path, db: str | None, day: str | None, fmt: str) -> None:
    """The call log of a day, one row a call."""
    config = _load(config_path)
    d = _parse_day(day, config)
    start, end = day_bounds(config, d)
    calls = _run(_with_store(config, db, lambda s: s.calls_between(start, end)))
    rows = [call_log_row(c) for c in calls]
    click.echo(to_csv(rows, CALL_LOG_FIELDS) if fmt == "csv" else to_jsonl(rows), nl=False)


# ---------------------------------------------------------------- why, dispose, status


@main.command("why")
@config_option
@db_option
@click.argument("client_id")
@click.option("--at", "at", default=None, help="instant to explain (ISO; default now; no offset = center time)")
def why_cmd(config_path: Path, db: str | None, client_id: str, at: str | None) -> None:
    """Why is this client (not) being dialed?"""
    from dialer.why import explain

    config = _load(config_path)
    instant = _parse_instant(at, config.center.timezone)
    text = _run(_with_store(config, db, lambda s: explain(s, config, client_id, instant)))
    if text is None:
        click.echo(f"no client {client_id!r}", err=True)
        raise SystemExit(1)
    click.echo(text)


@main.command("dispose")
@config_option
@db_option
@click.argument("call_id")
@click.argument("disposition", type=click.Choice([d.value for d in Disposition]))
@click.option(
    "--at", "at", default=None,
    help="agreed time for callback / meeting_set (ISO; no offset = client's time); 'now' = the client's next opening",
)  # fmt: skip
@click.option("--note", default=None)
@click.option("--replace", is_flag=True, help="correct the call's disposition (audited; re-applied from before it)")
@click.option("--by", "by", default=None, help="who records it, for the audit trail (default: your login name)")
def dispose_cmd(
    config_path: Path, db: str | None, call_id: str, disposition: str, at: str | None, note: str | None,
    replace: bool, by: str | None,
) -> None:  # fmt: skip
    """Record an agent's disposition for an answered call (one per call; --replace corrects it)."""
    from dialer.clock import SystemClock
    from dialer.dispatcher import Dispatcher
    from dialer.dispositions import NEXT_OPENING, DispositionRefused, NextOpening, dispose

    config = _load(config_path)
    disp = Disposition(disposition)
    if disp.needs_time and at is None:
        raise click.ClickException(f"{disposition} needs --at (the agreed time, or 'now' for the client's next opening)")
    who = by or _login_name()

    async def go(store: Store) -> str:
        call = await store.get_call(call_id)
        if call is None:
            raise click.ClickException(f"no call {show(call_id)}")
        when: datetime | NextOpening | None = None
        if at is not None:
            try:
                when = NEXT_OPENING if at.strip().lower() == "now" else _parse_instant(at, call.client_tz)
            except click.BadParameter as exc:
                raise click.ClickException(f"--at: {exc.message}") from None
        dispatcher = Dispatcher(store, {}, config, SystemClock(), owner="cli")
        try:
            done = await dispose(dispatcher, call_id, disp, when, note=note, by=who, replace=replace)
        except (DispositionRefused, LookupError) as exc:
            raise click.ClickException(str(exc)) from None
        what = f"{disposition} recorded" + (f" (replaces {done.replaced.value})" if done.replaced else "")
        if done.at_next_opening and done.at is not None:
            what += f"; --at now took the client's next opening {_iso(done.at)}"
        nxt = _iso(done.update.next_dial_at)
        return f"{call_id}: {what}; {done.transition.reason}; next dial {nxt or 'never'}"

    click.echo(_run(_with_store(config, db, go)))


def _login_name() -> str:
    """Who runs the command, for the audit trail ("agent" when the system cannot tell)."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry)
        return "agent"


@main.command("status")
@config_option
@db_option
@click.option("--json", "as_json", is_flag=True)
def status_cmd(config_path: Path, db: str | None, as_json: bool) -> None:
    """Per campaign: lines in use, due now, done today, next opening; blocked when its
    provider is not ready on a running worker.

    Lines are the effective ones: a campaign with agents makes no more calls at once
    than it has agents. The next opening is the earliest moment after now at which a
    queued client of the campaign falls due (clients due already count in "due now")."""
    from dialer.planning import lines_of
    from dialer.presence import campaign_hold
    from dialer.store.base import READINESS_STALE

    config = _load(config_path)
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
                    "next_opening": _iso(nxt),
                    "held": await campaign_hold(store, config, c, now),  # issue 12: paused / no agent ready
                    "blocked": [
                        {"worker": r.owner, "provider": r.provider, "reason": r.reason, "since": _iso(r.since),
                         "checked_at": _iso(r.checked_at)}
                        for r in not_ready
                        if r.provider == c.provider
                    ],  # fmt: skip
                }
            )
        return out

    rows = _run(_with_store(config, db, go))
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        limited = f" ({r['lines_configured']} set, {r['agents']} agents)" if r["lines"] < r["lines_configured"] else ""
        click.echo(
            f"{r['campaign']:<12} lines {r['lines_in_use']}/{r['lines']}{limited}  due now {r['due_now']}  "
            f"queued {r['queued']}  done today {r['done_today']}  next opening {r['next_opening'] or '-'}"
        )
        if r["held"]:  # issue 12
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


# issue 12: accounts and API tokens (their own module; imported last, it uses the helpers above)
from dialer.cli_people import token_group, user_group  # noqa: E402

main.add_command(user_group)
main.add_command(token_group)

if __name__ == "__main__":  # pragma: no cover
    main()
