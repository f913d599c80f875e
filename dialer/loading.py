"""Clients into the queue: the CSV import plus the first placement of each client.

New clients are placed as they are written (one pass; a million rows share a few
hundred cached calendar answers); updated clients are re-placed afterwards from their
stored state, which the CSV's empty cells may have kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from dialer.config.models import DialerConfig
from dialer.domain import ClientRecord
from dialer.importer import ImportSummary, import_clients
from dialer.placement import Placed, schedule_pending
from dialer.scheduling import Scheduler
from dialer.store.roles import Queue


class SchedulingSink:
    """The import's sink: new clients are placed in the queue as they are written, so
    a fresh import of a million rows is one pass (the calendar answers are cached).
    Updated clients are rescheduled afterwards from their stored state."""

    def __init__(self, store: Queue, scheduler: Scheduler, now: datetime):
        self.store = store
        self.scheduler = scheduler
        self.now = now

    async def upsert_clients(self, records: Sequence[ClientRecord]) -> tuple[int, int]:
        schedules = {r.id: self.scheduler.place_record(r, self.now) for r in records}
        return await self.store.upsert_clients(records, schedules)


async def load_clients(
    config: DialerConfig, csv_path: Path, store: Queue, *, now: datetime | None = None, progress: bool = False
) -> tuple[ImportSummary, Placed]:
    """Import a CSV into the queue; (summary, clients placed after the import).

    New clients are placed as they are written and are not counted again here."""
    now = now or datetime.now(UTC)
    scheduler = Scheduler(config)
    summary = await import_clients(config, csv_path, SchedulingSink(store, scheduler, now), progress=progress, now=now)
    return summary, await schedule_pending(store, scheduler, now)


__all__ = ["Placed", "SchedulingSink", "load_clients", "schedule_pending"]
