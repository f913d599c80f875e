"""How the commands are spelled: the options every command shares and the old spellings.

One dialect: `--config FILE` (default $DIALER_CONFIG, else config/dialer.yaml) and
`--format NAME` (the choices each command offers). The spellings of earlier releases
still work for one more release, hidden from the help: the config as a positional
argument of `import` and `check-config`, and `--json` / `--csv` for `--format`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_CONFIG = "config/dialer.yaml"
CONFIG_ENV = "DIALER_CONFIG"


class SpellingError(click.ClickException):
    """A command line spelled two ways at once: one line (``Error: ...``), exit 2 as for
    any usage error, without click's usage block."""

    exit_code = 2


class DialerCommand(click.Command):
    """A command whose help leaves out hidden (old-spelling) arguments."""

    def format_arguments(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        shown = [p for p in self.get_params(ctx) if isinstance(p, click.Argument) and not _hidden(p)]
        rows = [p.get_help_record(ctx) for p in shown]
        if rows and any(p.help for p in shown):
            with formatter.section("Positional arguments"):
                formatter.write_dl(rows)


class HiddenArgument(click.Argument):
    """A positional argument kept for an old spelling: parsed, but not in the usage line
    or the help."""

    hidden = True

    def get_usage_pieces(self, ctx: click.Context) -> list[str]:
        return []


def _hidden(param: click.Parameter) -> bool:
    return bool(getattr(param, "hidden", False))


def command(name: str) -> Callable[[Callable[..., Any]], click.Command]:
    """`click.command` with the dialer's command class (see `DialerCommand`)."""
    return click.command(name, cls=DialerCommand)


def _default_config() -> Path:
    return Path(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG))


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=_default_config,
    show_default=f"${CONFIG_ENV} or {DEFAULT_CONFIG}",
    help="the YAML config file",
)
db_option = click.option(
    "--db", "db", default=None, metavar="PATH|DSN", help="SQLite file or postgresql:// DSN (overrides the config)"
)


def config_given_twice(ctx: click.Context, positional: Path) -> SpellingError:
    """The config named both ways at once: refused, not silently picked."""
    return SpellingError(
        f"the config is given twice ({positional} and --config {ctx.params['config_path']}); give it once, "
        "as --config FILE"
    )


def config_from(ctx: click.Context, positional: Path | None) -> Path:
    """The config file of a command that also takes it positionally (the old spelling)."""
    if positional is None:
        path: Path = ctx.params["config_path"]
        return path
    if ctx.get_parameter_source("config_path") == click.ParameterSource.COMMANDLINE:
        raise config_given_twice(ctx, positional)
    return positional


def format_option(choices: Sequence[str], default: str, legacy: Sequence[str] = ()) -> Callable[[F], F]:
    """`--format` with the command's `choices`, passed to the command as `fmt`; each name
    in `legacy` (json, csv) also gets its old hidden flag `--NAME`. Two different formats
    at once (``--json --csv``, ``--format csv --json``) are refused in one line."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            flags = [name for name in legacy if kwargs.pop(f"legacy_{name}", False)]
            given = click.get_current_context().get_parameter_source("fmt") == click.ParameterSource.COMMANDLINE
            kwargs["fmt"] = chosen_format(kwargs["fmt"] if given else None, flags, default)
            return fn(*args, **kwargs)

        decorated: Any = wrapper
        for name in reversed(legacy):
            decorated = click.option(
                f"--{name}", f"legacy_{name}", is_flag=True, hidden=True, help=f"old spelling of --format {name}"
            )(decorated)
        decorated = click.option(
            "--format",
            "fmt",
            type=click.Choice(list(choices)),
            default=default,
            show_default=True,
            help="output format",
        )(decorated)
        result: F = decorated
        return result

    return decorate


def chosen_format(fmt: str | None, flags: list[str], default: str) -> str:
    asked = ([f"--format {fmt}"] if fmt else []) + [f"--{f}" for f in flags]
    names = {fmt, *flags} - {None}
    if len(names) > 1:
        raise SpellingError(f"{' and '.join(asked)} together: choose one output format with --format")
    return fmt or (flags[0] if flags else default)
