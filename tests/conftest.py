"""Shared fixtures. Tests that need an outside service skip with a reason, except
in CI (CI=true), where a missing service fails the run instead."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dialer.config.loader import load_config
from dialer.config.models import DialerConfig
from dialer.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "config" / "dialer.yaml"
EXAMPLE_CLIENTS = ROOT / "config" / "clients.csv"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_service(available: bool, reason: str) -> None:
    """Skip locally when a service is missing; fail in CI where it must be there."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


class FixedClock:
    """A clock the test moves by hand; sleep advances it (no real waiting)."""

    def __init__(self, now: datetime):
        self._now = now.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, now: datetime) -> None:
        self._now = now.astimezone(UTC)

    async def sleep(self, seconds: float) -> None:
        from datetime import timedelta

        self._now += timedelta(seconds=max(0.0, seconds))


@pytest.fixture
def config() -> DialerConfig:
    return load_config(EXAMPLE_CONFIG)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "dialer.db")
    await s.open()
    await s.migrate()
    try:
        yield s
    finally:
        await s.close()
