"""Clocks for tests."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta


class FixedClock:
    """A clock the test moves by hand; sleep advances it (no real waiting)."""

    def __init__(self, now: datetime):
        self._now = now.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, now: datetime) -> None:
        self._now = now.astimezone(UTC)

    async def sleep(self, seconds: float) -> None:
        self._now += timedelta(seconds=max(0.0, seconds))


class RunningClock:
    """Real time, starting at a chosen moment (e.g. a working morning, so a client's
    window is open whatever the real date): for tests that run the worker for real."""

    def __init__(self, start: datetime):
        self._start, self._t0 = start, time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._t0)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
