"""The `dialer` command line (see `dialer.cli.app` for the commands and exit codes)."""

from __future__ import annotations

from dialer.cli.app import main

__all__ = ["main"]
