"""`--log-format` and `--log-level`: what the root command chose, applied per command.

Console lines when standard error is a terminal (a person runs the command), JSON lines
otherwise (systemd, cron, a pipe). Commands log warnings and errors to standard error;
the service logs from INFO to standard output, its journal.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import Any

import click

from dialer import logging as dlog

LOG_FORMATS = ("console", "json")


@dataclass(frozen=True)
class LogSettings:
    json: bool
    level: int | None  # None: the command's own default

    def apply(self, default_level: int, stream: Any) -> None:
        dlog.configure(json=self.json, level=default_level if self.level is None else self.level, stream=stream)


def settings_from(log_format: str | None, log_level: str | None, verbose: bool) -> LogSettings:
    json = not sys.stderr.isatty() if log_format is None else log_format == "json"
    level = dlog.LEVELS[log_level] if log_level is not None else (logging.DEBUG if verbose else None)
    return LogSettings(json=json, level=level)


def log_settings(ctx: click.Context) -> LogSettings:
    """The settings the root command stored (the defaults when a command runs alone)."""
    found = ctx.find_object(LogSettings)
    return found if found is not None else settings_from(None, None, verbose=False)
