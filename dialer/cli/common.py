"""What the commands share when they run: the config or its errors, the store or one
line and an exit code, dates and instants as a person types them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import click

from dialer.config.errors import ConfigError
from dialer.config.loader import load_config
from dialer.config.models import DialerConfig
from dialer.domain import EARLIEST_YEAR, LATEST_YEAR, year_in_range
from dialer.planning import center_today
from dialer.store import store_for
from dialer.store.base import AccessDenied, SchemaMismatch, Store, StoreError, StoreUnreachable, denied_message

T = TypeVar("T")


def load_or_exit(config_path: Path, *, providers: bool = False) -> DialerConfig:
    """The config, or every problem as FILE:LINE: field: message and exit 1; `providers`
    also builds each provider from its settings (check-config, run)."""
    try:
        return load_config(config_path, check_providers=providers)
    except ConfigError as exc:
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        raise SystemExit(1) from None


def run_or_exit(coro: Awaitable[T]) -> T:
    """Run a command's coroutine; a store it cannot use is one line and exit 3 or 4."""
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(exc.exit_code) from None


async def with_store(
    config: DialerConfig,
    db: str | None,
    fn: Callable[[Store], Awaitable[T]],
    *,
    migrate: bool = False,
    schema_by_fn: bool = False,
    simulation: bool = False,
    throwaway: bool = False,
) -> T:
    """Open the store, run `fn`, close. With `migrate` the database may be created and
    its schema brought up to date; without, it must exist at exactly this version.
    With `schema_by_fn` it may be created and `fn` itself deals with the schema
    (`dialer migrate`). `simulation` and `throwaway`: see `store_for`."""
    try:
        store = store_for(config, db, simulation=simulation, throwaway=throwaway)
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


def parse_instant(value: str | None, zone: str) -> datetime:
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


def parse_day(value: str | None, config: DialerConfig, param_hint: str = "--date") -> date:
    if value is None:
        return center_today(config, datetime.now(UTC))
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-12-01", param_hint=param_hint) from None
    if not year_in_range(day.year):
        raise click.BadParameter(
            f"{value!r} is out of range (years {EARLIEST_YEAR}-{LATEST_YEAR})", param_hint=param_hint
        )
    return day


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def login_name() -> str:
    """Who runs the command, for the audit trail ("agent" when the system cannot tell)."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry)
        return "agent"
