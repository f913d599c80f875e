"""The `dialer` command: the root group, its global options, and where commands register.

Every command that reads the queue takes `--config FILE` (default: $DIALER_CONFIG or
config/dialer.yaml) and `--db PATH` to override the store the config names; commands
that print tables or records take `--format` (the choices each one offers).
Exit codes: 0 ok, 1 the command ran but found a problem (bad config, rejected rows
with --strict, guarantee violated in a simulation), 2 usage errors, 3 the database
cannot be reached or opened, 4 the database is missing or its schema is not the one
this version knows (`dialer migrate`, or upgrade dialer).

Only `run`, `import`, `simulate` and `migrate` create a database or migrate its
schema; every other command opens an existing database of exactly this version.
"""

from __future__ import annotations

import logging

import click

from dialer import logging as dlog
from dialer.cli import agent_cmds, config_cmds, demo_cmds, people_cmds, queue_cmds, report_cmds, service_cmds
from dialer.cli.logsetup import LOG_FORMATS, settings_from


@click.group("dialer", context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    package_name="dialer", prog_name="dialer", message="%(prog)s %(version)s", help="print the version and exit"
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default=None,
    show_default="console when stderr is a terminal, else json",
    help="how log lines look (json for systemd and log collectors)",
)
@click.option(
    "--log-level",
    type=click.Choice(list(dlog.LEVELS)),
    default=None,
    show_default="warning; info for run",
    help="the least severe log lines shown",
)
@click.option("-v", "--verbose", is_flag=True, help="same as --log-level debug")
@click.pass_context
def main(ctx: click.Context, log_format: str | None, log_level: str | None, verbose: bool) -> None:
    """dialer: outbound telemarketing dialer worker."""
    settings = settings_from(log_format, log_level, verbose)
    ctx.obj = settings
    # Commands log warnings to stderr; `run` re-applies these for its own stream and level.
    settings.apply(default_level=logging.WARNING, stream=dlog.STDERR)


# ---------------------------------------------------------------- commands
# One line per command. Command groups of other modules register here the same way
# (e.g. main.add_command(users.user)).

main.add_command(config_cmds.check_config)
main.add_command(config_cmds.config_schema)
main.add_command(queue_cmds.import_cmd)
main.add_command(queue_cmds.migrate_cmd)
main.add_command(service_cmds.run_cmd)
main.add_command(service_cmds.simulate_cmd)
main.add_command(service_cmds.test_call_cmd)
main.add_command(report_cmds.plan_cmd)
main.add_command(report_cmds.report_cmd)
main.add_command(report_cmds.calls_cmd)
main.add_command(report_cmds.status_cmd)
main.add_command(agent_cmds.why_cmd)
main.add_command(agent_cmds.dispose_cmd)
main.add_command(people_cmds.user_group)
main.add_command(people_cmds.token_group)
main.add_command(demo_cmds.demo_cmd)
