"""Clocks for tests."""

from __future__ import annotations

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
