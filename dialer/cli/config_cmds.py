"""Commands about the config itself: check it, print its schema."""

from __future__ import annotations

import json
from pathlib import Path

import click

from dialer.cli.common import load_or_exit
from dialer.cli.options import HiddenArgument, SpellingError, command, config_from, config_option
from dialer.config.loader import line_of
from dialer.config.models import DialerConfig, json_schema


@command("check-config")
@config_option
@click.argument(
    "legacy_file",
    nargs=-1,
    cls=HiddenArgument,
    type=click.Path(dir_okay=False, path_type=Path),
    help="old spelling of --config FILE",
)
@click.pass_context
def check_config(ctx: click.Context, config_path: Path, legacy_file: tuple[Path, ...]) -> None:
    """Validate the config; print every error as FILE:LINE: field.path: message."""
    if len(legacy_file) > 1:
        raise SpellingError(f"{len(legacy_file)} files given: check-config takes one config, as --config FILE")
    file = config_from(ctx, legacy_file[0] if legacy_file else None)
    # Provider settings belong to each provider type: each one is built (no connection
    # is made, no secret is read) so their errors show here, not at start-up.
    config = load_or_exit(file, providers=True)
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
        if c.agents and c.lines > len(c.agents) and not c.dial_mode.client_first:
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


@command("config-schema")
def config_schema() -> None:
    """Print the JSON Schema of the config (for editor autocompletion)."""
    click.echo(json.dumps(json_schema(), indent=2, ensure_ascii=False))
