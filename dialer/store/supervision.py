"""The store role "supervision": a supervisor finds clients (by phone, by name) and
changes one by hand (moves its next contact, marks it do-not-call), each change with
its client event in the same transaction (issue 12, the supervisor console).

The SQL is in ``sql/<dialect>/supervision.sql``. A change is written only while no
worker holds the client (claimed, or in a call): otherwise the worker's own write of
the call's outcome would overwrite it; the caller is told (False) and nothing changed.
Get the role of an open store with :func:`supervision_of`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from dialer.domain import Stage
from dialer.model import Event, QueuedClient, Schedule
from dialer.store.rows import RowMapper, encode_json
from dialer.store.sqlfiles import load_queries

if TYPE_CHECKING:
    from dialer.store.postgres import PostgresStore
    from dialer.store.sqlite import SqliteStore

DNC_REASON = "do-not-call: never dialed"


class SupervisionStore(Protocol):
    async def clients_by_phone(self, phone: str, campaigns: Sequence[str], limit: int) -> list[QueuedClient]:
        """Clients with this E.164 phone, of `campaigns` (every campaign when empty)."""

    async def clients_by_name(self, text: str, campaigns: Sequence[str], limit: int) -> list[QueuedClient]:
        """Clients whose name contains `text` (case-insensitive), by name."""

    async def move_next_contact(
        self, client_id: str, due_at: datetime, schedule: Schedule, event: Event, now: datetime
    ) -> bool:
        """Set the client's due moment and its place in the queue; False (nothing
        written) when it is do-not-call or a worker holds it."""

    async def mark_do_not_call(self, client_id: str, event: Event, now: datetime) -> bool:
        """Stage do-not-call, out of the queue; False (nothing written) when it already
        is or a worker holds it."""


def _fold(value: str | None) -> str | None:
    return value.casefold() if value is not None else None


def _stage(stage: Stage | None) -> str | None:
    return stage.value if stage is not None else None


class SqliteSupervision:
    def __init__(self, store: SqliteStore):
        from dialer.store.sqlite import _ROWS

        self._store = store
        self._q = load_queries("sqlite", "supervision")
        self._rows: RowMapper = _ROWS

    @staticmethod
    def _ts(value: datetime | None) -> str | None:
        from dialer.store.sqlite import ts

        return ts(value)

    async def _find(self, query: str, args: dict[str, Any], campaigns: Sequence[str]) -> list[QueuedClient]:
        args = {**args, "all": int(not campaigns), "scope": encode_json(list(campaigns))}

        def work(conn: sqlite3.Connection) -> list[Any]:
            conn.create_function("dialer_fold", 1, _fold, deterministic=True)
            return list(conn.execute(self._q[query], args).fetchall())

        return [self._rows.client(r) for r in await self._store._in_thread(work)]

    async def clients_by_phone(self, phone: str, campaigns: Sequence[str], limit: int) -> list[QueuedClient]:
        return await self._find("clients_by_phone", {"phone": phone, "limit": limit}, campaigns)

    async def clients_by_name(self, text: str, campaigns: Sequence[str], limit: int) -> list[QueuedClient]:
        return await self._find("clients_by_name", {"text": text.casefold(), "limit": limit}, campaigns)

    def _event(self, conn: sqlite3.Connection, client_id: str, event: Event, now: datetime) -> None:
        conn.execute(
            self._q["insert_event"],
            {
                "now": self._ts(now), "id": client_id, "kind": event.kind, "from_stage": _stage(event.from_stage),
                "to_stage": _stage(event.to_stage), "reason": event.reason, "data": encode_json(event.data),
            },
        )  # fmt: skip

    async def move_next_contact(
        self, client_id: str, due_at: datetime, schedule: Schedule, event: Event, now: datetime
    ) -> bool:
        args = {
            "id": client_id, "due": self._ts(due_at), "next": self._ts(schedule.next_dial_at),
            "closes": self._ts(schedule.window_closes_at),
            "slack": self._ts(schedule.slack_key or schedule.window_closes_at), "reason": schedule.reason,
            "campaign": schedule.campaign, "now": self._ts(now),
        }  # fmt: skip

        def work(conn: sqlite3.Connection) -> bool:
            if conn.execute(self._q["move_next_contact"], args).rowcount != 1:
                return False
            self._event(conn, client_id, event, now)
            return True

        return await self._store._in_thread(work)

    async def mark_do_not_call(self, client_id: str, event: Event, now: datetime) -> bool:
        args = {"id": client_id, "reason": DNC_REASON, "now": self._ts(now)}

        def work(conn: sqlite3.Connection) -> bool:
            if conn.execute(self._q["mark_do_not_call"], args).rowcount != 1:
                return False
            self._event(conn, client_id, event, now)
            return True

        return await self._store._in_thread(work)


class PostgresSupervision:
    def __init__(self, store: PostgresStore):
        self._store = store
        self._q = load_queries("postgres", "supervision")
        from dialer.store.postgres import _ROWS

        self._rows: RowMapper = _ROWS

    async def _find(self, query: str, text: str, campaigns: Sequence[str], limit: int) -> list[QueuedClient]:
        rows = await self._store.pool.fetch(self._q[query], text, not campaigns, list(campaigns), limit)
        return [self._rows.client(r) for r in rows]

    async def clients_by_phone(self, phone: str, campaigns: Sequence[str], limit: int) -> list[QueuedClient]:
        return await self._find("clients_by_phone", phone, campaigns, limit)

    async def clients_by_name(self, text: str, campaigns: Sequence[str], limit: int) -> list[QueuedClient]:
        return await self._find("clients_by_name", text, campaigns, limit)

    async def move_next_contact(
        self, client_id: str, due_at: datetime, schedule: Schedule, event: Event, now: datetime
    ) -> bool:
        changed = await self._store.pool.fetchval(
            self._q["move_next_contact"], client_id, due_at, schedule.next_dial_at, schedule.window_closes_at,
            schedule.slack_key or schedule.window_closes_at, schedule.reason, schedule.campaign, now, event.kind,
            _stage(event.from_stage), _stage(event.to_stage), event.reason, encode_json(event.data),
        )  # fmt: skip
        return bool(changed)

    async def mark_do_not_call(self, client_id: str, event: Event, now: datetime) -> bool:
        changed = await self._store.pool.fetchval(
            self._q["mark_do_not_call"], client_id, DNC_REASON, now, event.kind, _stage(event.from_stage),
            event.reason, encode_json(event.data),
        )  # fmt: skip
        return bool(changed)


def supervision_of(store: object) -> SupervisionStore:
    """The supervision role of an open SQLite or PostgreSQL store."""
    from dialer.store.postgres import PostgresStore
    from dialer.store.sqlite import SqliteStore

    if isinstance(store, SqliteStore):
        return SqliteSupervision(store)
    if isinstance(store, PostgresStore):
        return PostgresSupervision(store)
    raise TypeError(f"{type(store).__name__} has no supervision role")


__all__ = ["DNC_REASON", "PostgresSupervision", "SqliteSupervision", "SupervisionStore", "supervision_of"]
