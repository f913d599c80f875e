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
    instant. The driver knows when every in-flight task is parked (`asleep`) and can
    then jump straight to the next interesting instant instead of waiting.
    """

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs an aware start instant")
        self._now = start.astimezone(UTC)
        self._heap: list[tuple[datetime, int, asyncio.Future[None], asyncio.Task[object] | None]] = []
        self._seq = itertools.count()
        # The tasks parked in `sleep` that no `advance_to` has woken yet, kept up to date
        # as they park and wake (the driver asks after every loop turn: a set built
        # from scratch each time was a tenth of a simulated day).
        self.asleep: set[asyncio.Task[object]] = set()
        self._on_park: asyncio.Future[None] | None = None

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.current_task()
        heapq.heappush(self._heap, (self._now + timedelta(seconds=seconds), next(self._seq), fut, task))
        if task is not None:
            self.asleep.add(task)
        if self._on_park is not None and not self._on_park.done():
            self._on_park.set_result(None)
        try:
            await fut
        finally:
            if task is not None:
                self.asleep.discard(task)
            if not fut.done():
                fut.cancel()

    def parked(self) -> asyncio.Future[None]:
        """A future that completes when a task next parks in `sleep`."""
        if self._on_park is None or self._on_park.done():
            self._on_park = asyncio.get_running_loop().create_future()
        return self._on_park

    def sleeping_tasks(self) -> set[asyncio.Task[object]]:
        """Tasks parked in `sleep` that the next `advance_to` has not woken yet."""
        return set(self.asleep)

    def next_wake(self) -> datetime | None:
        while self._heap and self._heap[0][2].done():
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def advance_to(self, instant: datetime) -> None:
        """Move time forward (never back) and wake everyone whose time has come."""
        if instant > self._now:
            self._now = instant
        while self._heap and self._heap[0][0] <= self._now:
            _, _, fut, task = heapq.heappop(self._heap)
            if not fut.done():
                fut.set_result(None)
                if task is not None:
                    self.asleep.discard(task)
