"""Real and virtual clocks.

Everything that needs "now" or a pause takes a Clock, so the simulation can run a
working day in seconds through the very same dispatcher and provider code.
All instants are aware datetimes in UTC.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """A clock that only moves when the driver advances it.

    `sleep` parks the caller until the driver's `advance_to` passes its wake-up
    instant. The driver knows when every in-flight task is parked (`sleepers`) and can
    then jump straight to the next interesting instant instead of waiting.
    """

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs an aware start instant")
        self._now = start.astimezone(UTC)
        self._heap: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._sleeping: dict[asyncio.Future[None], asyncio.Task[object] | None] = {}
        self.parked = asyncio.Event()  # set whenever a task goes to sleep (the driver waits on it)

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (self._now + timedelta(seconds=seconds), next(self._seq), fut))
        self._sleeping[fut] = asyncio.current_task()
        self.parked.set()
        try:
            await fut
        finally:
            self._sleeping.pop(fut, None)
            if not fut.done():
                fut.cancel()

    def sleeping_tasks(self) -> set[asyncio.Task[object]]:
        """Tasks parked in `sleep` that the next `advance_to` has not woken yet."""
        return {t for f, t in self._sleeping.items() if t is not None and not f.done()}

    def next_wake(self) -> datetime | None:
        while self._heap and self._heap[0][2].done():
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def advance_to(self, instant: datetime) -> None:
        """Move time forward (never back) and wake everyone whose time has come."""
        if instant > self._now:
            self._now = instant
        while self._heap and self._heap[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._heap)
            if not fut.done():
                fut.set_result(None)
