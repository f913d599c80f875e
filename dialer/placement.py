"""Placing clients in the queue: every new, changed or stale client gets its next dial
moment (the calendar's answer, see dialer.scheduling) written back to the store.

One implementation for both callers: the import places what it changed until nothing is
left; the dispatcher's housekeeping places one bounded batch every few seconds.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from dialer.scheduling import Scheduler
from dialer.store.roles import Queue


class Placed(NamedTuple):
    """Clients placed in the queue, by why they needed it."""

    changed: int  # updated by the file (or otherwise marked as needing a new placement)
    window_passed: int  # already queued, whose window closed without a call: moved to the next one

    @property
    def total(self) -> int:
        return self.changed + self.window_passed

    def lines(self) -> list[str]:
        out = []
        if self.changed:
            out.append(f"next dial moment recomputed for {self.changed:,} changed clients")
        if self.window_passed:
            out.append(
                f"{self.window_passed:,} queued clients whose window had passed without a call "
                "were moved to their next window"
            )
        return out


async def schedule_pending(
    store: Queue, scheduler: Scheduler, now: datetime, batch: int = 5000, *, max_batches: int | None = None
) -> Placed:
    """Place every client that needs it, `batch` at a time; with `max_batches`, stop
    after that many batches (the rest is placed on a later call)."""
    changed = passed = batches = 0
    while max_batches is None or batches < max_batches:
        clients = await store.clients_to_schedule(now, batch)
        if not clients:
            break
        batches += 1
        await store.set_schedules([scheduler.place_client(c, now) for c in clients])
        marked = sum(1 for c in clients if c.needs_schedule)
        changed += marked
        passed += len(clients) - marked
    return Placed(changed, passed)


__all__ = ["Placed", "schedule_pending"]
