"""Clients into the queue: the CSV import plus the first placement of each client.

New clients are placed as they are written (one pass; a million rows share a few
hundred cached calendar answers); updated clients are re-placed afterwards from their
stored state, which the CSV's empty cells may have kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from dialer.config.models import DialerConfig
from dialer.domain import ClientRecord
from dialer.importer import ImportSummary, import_clients
from dialer.scheduling import Scheduler
from dialer.store.base import Store


class SchedulingSink:
    """The import's sink: new clients are placed in the queue as they are written, so
    a fresh import of a million rows is one pass (the calendar answers are cached).
    Updated clients are rescheduled afterwards from their stored state."""

    def __init__(self, store: Store, scheduler: Scheduler, now: datetime):
        self.store = store
        self.scheduler = scheduler
        self.now = now

    async def upsert_clients(self, records: Sequence[ClientRecord]) -> tuple[int, int]:
        schedules = {r.id: self.scheduler.place_record(r, self.now) for r in records}
        return await self.store.upsert_clients(records, schedules)


class Placed(NamedTuple):
    """Clients placed in the queue after an import, by why they needed it."""

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


async def schedule_pending(store: Store, scheduler: Scheduler, now: datetime, batch: int = 5000) -> Placed:
    """Place every new/changed client that still needs it (bounded batches)."""
    changed = passed = 0
    while True:
        clients = await store.clients_to_schedule(now, batch)
        if not clients:
            return Placed(changed, passed)
        await store.set_schedules([scheduler.place_client(c, now) for c in clients])
        marked = sum(1 for c in clients if c.needs_schedule)
        changed += marked
        passed += len(clients) - marked


async def load_clients(
    config: DialerConfig, csv_path: Path, store: Store, *, now: datetime | None = None, progress: bool = False
) -> tuple[ImportSummary, Placed]:
    """Import a CSV into the queue; (summary, clients placed after the import).

    New clients are placed as they are written and are not counted again here."""
    now = now or datetime.now(UTC)
    scheduler = Scheduler(config)
    summary = await import_clients(config, csv_path, SchedulingSink(store, scheduler, now), progress=progress, now=now)
    return summary, await schedule_pending(store, scheduler, now)
