"""Commands that place calls: the service, a simulated run of whole days, one test call."""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from dialer import logging as dlog
from dialer.cli.common import load_or_exit, parse_day, run_or_exit, with_store
from dialer.cli.logsetup import log_settings
from dialer.cli.options import command, config_option, db_option, format_option
from dialer.config import DialerConfig
from dialer.planning import day_bounds
from dialer.reports import report_dicts, report_table
from dialer.store.base import Store

if TYPE_CHECKING:
    from dialer.reporting.occupancy import CampaignOccupancy
    from dialer.simulate_setup import Overrides


@command("run")
@config_option
@db_option
@click.pass_context
def run_cmd(ctx: click.Context, config_path: Path, db: str | None) -> None:
    """Run the dialer service (SIGTERM drains and stops, SIGHUP reloads the config).

    Creates the database or migrates its schema if needed; refuses a newer schema."""
    from dialer.service import Service

    # The daemon's log is its standard output (the journal under systemd), at INFO
    # unless --log-level says otherwise.
    log_settings(ctx).apply(default_level=logging.INFO, stream=dlog.STDOUT)
    load_or_exit(config_path, providers=True)
    raise SystemExit(asyncio.run(Service(config_path, db).run()))


@command("simulate")
@config_option
@click.option(
    "--clients",
    "clients_csv",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="the clients' CSV file to load before the first day",
)
@click.option("--from", "first", required=True, help="first day, YYYY-MM-DD (center's local date)")
@click.option("--days", default=1, show_default=True, type=click.IntRange(1, 366), help="how many days to run")
@click.option(
    "--seed", default=1, show_default=True, type=int, help="seed of the simulated outcomes (same seed, same day)"
)
@click.option("--db", "db", default=None, help="keep the simulated queue in this SQLite file (default: a temp file)")
@click.option(
    "--dial-mode",
    "dial_mode",
    default=None,
    metavar="MODE",
    help="run every campaign in this mode: preview, progressive, power or predictive (the last two allow abandons)",
)
@click.option(
    "--agents",
    "agents",
    default=None,
    metavar="N",
    help="replace each campaign's agents with N simulated ones (agent-01..N, Ready through the shift)",
)
@click.option(
    "--lines", "lines", default=None, metavar="N", help="set every campaign's lines (calls in flight at most)"
)
@format_option(["table", "json"], default="table", legacy=["json"])
def simulate_cmd(
    config_path: Path,
    clients_csv: Path,
    first: str,
    days: int,
    seed: int,
    db: str | None,
    dial_mode: str | None,
    agents: str | None,
    lines: str | None,
    fmt: str,
) -> None:
    """Run whole working days on a virtual clock with the simulated provider."""
    from dialer.importer import ImportAborted, ImportFileError
    from dialer.loading import load_clients
    from dialer.simulate import run_simulation
    from dialer.simulate_occupancy import day_occupancy, run_occupancy, summary_line
    from dialer.simulate_setup import SimulationSetupError, apply_overrides

    config = load_or_exit(config_path)
    first_day = parse_day(first, config, "--from")
    try:
        config, notes = apply_overrides(config, _overrides(dial_mode, agents, lines))
        _check_simulated_settings(config)
    except SimulationSetupError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    tmp = None
    if db is None:
        tmp = tempfile.TemporaryDirectory(prefix="dialer-sim-")
        db = str(Path(tmp.name) / "simulation.db")
    # Reports of a simulation never land in the production reports folder, and two
    # simulations in one folder keep theirs apart: sim.db -> sim.reports/.
    reports = Path(db).with_name(Path(db).name + ".reports") if tmp is None else Path(tmp.name) / "reports"
    config = config.model_copy(update={"storage": config.storage.model_copy(update={"reports_dir": reports})})
    start, _ = day_bounds(config, first_day)

    figures: list[list[CampaignOccupancy]] = []  # per day, then over the whole run (issue 13)

    async def go(store: Store) -> Any:
        summary, _ = await load_clients(config, clients_csv, store, now=start)
        results = await run_simulation(store, config, first_day, days, seed)
        figures.extend([await day_occupancy(store, config, r.day) for r in results])
        figures.append(await run_occupancy(store, config, [r.day for r in results]))
        return summary, results

    try:
        # A temp file nobody keeps is written without fsync; a --db file keeps WAL and fsync.
        store_run = with_store(config, db, go, migrate=True, simulation=True, throwaway=tmp is not None)
        summary, results = run_or_exit(store_run)
    except (ImportFileError, ImportAborted) as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    finally:
        if tmp is not None:
            tmp.cleanup()
    violations = sum(r.audit.violations for r in results)
    totals = figures.pop()
    if fmt == "json":
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
                            "occupancy": [f.as_dict() for f in day_figures],
                        }
                        for r, day_figures in zip(results, figures, strict=True)
                    ],
                    "occupancy": [f.as_dict() for f in totals],  # over every simulated day
                    "notes": notes,
                },
                ensure_ascii=False,
                indent=1,
            )
        )
    else:
        for line in summary.lines():
            click.echo(line)
        for note in notes:
            click.echo(f"simulate: {note}")
        for r, day_figures in zip(results, figures, strict=True):
            click.echo("")
            click.echo(f"== {r.day.isoformat()} ({r.day:%A}) ==")
            click.echo(report_table(r.rows) if r.rows else "no calls")
            click.echo(
                f"audit: {r.audit.calls} calls, {len(r.audit.outside_window)} outside any window, "
                f"{len(r.audit.dnc_dialed)} do-not-call dialed, {r.audit.open_calls} without a final result, "
                f"{len(r.audit.provider_crashes)} provider crashes"
            )
            for f in day_figures:
                if f.agents and f.logged_in_s > 0:
                    click.echo(f"occupancy: {summary_line(f)}")
        if len(results) > 1:
            click.echo("")
            for f in totals:
                if f.agents and f.logged_in_s > 0:
                    click.echo(f"occupancy over {len(results)} days: {summary_line(f)}")
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


def _count(option: str, value: str | None, what: str, most: int) -> int | None:
    from dialer.simulate_setup import SimulationSetupError

    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise SimulationSetupError(f"{option} {value!r} is not a number of {what} (1 to {most})") from None


def _overrides(dial_mode: str | None, agents: str | None, lines: str | None) -> Overrides:
    """The simulate options as overrides; a bad value is one line (SimulationSetupError)."""
    from dialer.pacing.modes import DialMode
    from dialer.simulate_setup import MAX_AGENTS, MAX_LINES, Overrides, SimulationSetupError

    mode = None
    if dial_mode is not None:
        try:
            mode = DialMode(dial_mode.strip().lower())
        except ValueError:
            modes = ", ".join(m.value for m in DialMode)
            raise SimulationSetupError(f"--dial-mode {dial_mode!r} is not a dial mode ({modes})") from None
    return Overrides(
        dial_mode=mode,
        agents=_count("--agents", agents, "agents", MAX_AGENTS),
        lines=_count("--lines", lines, "lines", MAX_LINES),
    )


def _check_simulated_settings(config: DialerConfig) -> None:
    """Every simulated provider's settings, checked before the run (a bad one would
    otherwise stop it midway): the first bad field as one line."""
    from pydantic import ValidationError

    from dialer.simulate_setup import SimulationSetupError, simulation_settings
    from providers.base import settings_issues
    from providers.simulated import SimulatedSettings

    for name, p in config.providers.items():
        if p.type != "simulated":
            continue
        try:
            SimulatedSettings.model_validate(simulation_settings(p.settings, config))
        except ValidationError as exc:
            lines, _ = settings_issues(exc, "simulated", name)
            line = lines.splitlines()[0]
            if "hourly" not in p.settings and line.startswith(f"providers.{name}.hourly:"):
                line += " (the typical profile dialer simulate applies; set hourly: flat to keep the rates all day)"
            raise SimulationSetupError(line) from None


@command("test-call")
@config_option
@click.option("--campaign", required=True, help="the campaign whose provider, caller id and agents to use")
@click.argument("number", help="the number to call (E.164, or national in the center's phone region)")
def test_call_cmd(config_path: Path, campaign: str, number: str) -> None:
    """Place one call through the campaign's provider and print its timeline."""
    from dialer.testcall import test_call

    raise SystemExit(run_or_exit(test_call(load_or_exit(config_path), campaign, number, click.echo)))
