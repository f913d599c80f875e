"""`dialer report --format xlsx|csv-excel [--output FILE]`: the report page's downloads
from the shell. dialer.cli calls these; they say what is wrong in one line."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click

from dialer.reporting.data import DayReport, load_day_report
from dialer.reporting.downloads import report_csv_excel, report_xlsx

__all__ = ["DOWNLOADS", "check_options", "load_day_report", "write"]

# The --format values that are downloads (the report page's files) rather than text.
DOWNLOADS = ("xlsx", "csv-excel")


def check_options(fmt: str, output: Path | None) -> None:
    """Refuse option combinations before anything is read (click's usage error, exit 2)."""
    if output is not None and fmt not in DOWNLOADS:
        raise click.UsageError("--output goes with --format xlsx|csv-excel")
    if fmt == "xlsx" and output is None and sys.stdout.isatty():
        raise click.UsageError("xlsx is a binary file: give --output FILE (or redirect the output)")


def write(report: DayReport, fmt: str, output: Path | None) -> None:
    """The download's bytes to `output` (replaced whole, never left half-written) or stdout."""
    data = report_xlsx(report) if fmt == "xlsx" else report_csv_excel(report)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        fd, tmp = tempfile.mkstemp(dir=output.parent if str(output.parent) else ".", prefix=f".{output.name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, output)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        click.echo(f"error: cannot write {output}: {exc.strerror or exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"{output}: {fmt}, {report.total_calls} calls on {report.day.isoformat()}", err=True)
