"""Client import helpers: an in-memory sink and the example file of bad rows."""

from __future__ import annotations

from collections.abc import Sequence

from dialer.domain import ClientRecord
from tests.support.paths import DATA

BAD_CLIENTS = DATA / "clients_bad.csv"  # one row per kind of mistake a client file has


class FakeSink:
    """In-memory store: upsert by id."""

    def __init__(self) -> None:
        self.clients: dict[str, ClientRecord] = {}
        self.batches: list[int] = []

    async def upsert_clients(self, records: Sequence[ClientRecord]) -> tuple[int, int]:
        inserted = updated = 0
        for r in records:
            if r.id in self.clients:
                updated += 1
            else:
                inserted += 1
            self.clients[r.id] = r
        self.batches.append(len(records))
        return inserted, updated
