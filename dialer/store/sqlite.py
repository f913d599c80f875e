"""The embedded default store: one SQLite file on disk through aiosqlite, WAL mode.

Instants are stored as ISO 8601 UTC text with a fixed width ("2026-12-01T06:00:00Z")
so that string comparison is time comparison and the file reads well in the
sqlite3 shell. Transactions are explicit (`BEGIN IMMEDIATE`) because the claim and
the outcome must each be atomic and a second process (`dialer dispose`, `dialer
import`) may write at the same time. The SQL is in ``sql/sqlite/`` (see sqlfiles).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from dialer.domain import CallStatus, ClientRecord, ClientState, Disposition, initial_state
from dialer.model import (
    JOB_TAKEOVER,
    WINDOW_HORIZON,
    AbandonCounts,
    CallRecord,
    CallStart,
    CallUpdate,
    Claim,
    ClientUpdate,
    DueGroup,
    Event,
    EventRecord,
    GroupKey,
    Plan,
    PlanCounts,
    ProviderReadiness,
    QueuedClient,
    Schedule,
)
from dialer.store import people as _people
from dialer.store.base import (
    DispositionConflict,
    LeaseLost,
    SchemaMismatch,
    Store,
    StoreUnreachable,
    newer_schema_message,
)
from dialer.store.roles import PacedCall
from dialer.store.rows import Priorities, RowMapper, call_order, encode_json, slack_of
from dialer.store.schema import NUMBERING, NUMBERING_KEY, VERSION_KEY, split_statements, unified_version
from dialer.store.sqlfiles import load_migrations, load_queries

T = TypeVar("T")
DIALECT = "sqlite"
MIGRATIONS = load_migrations(DIALECT)
_DB = load_queries(DIALECT, "database")
_QUEUE = load_queries(DIALECT, "queue")
_CALLS = load_queries(DIALECT, "calls")
_PLANS = load_queries(DIALECT, "plans")
_PACING = load_queries(DIALECT, "pacing")


def ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    text = _TS_CACHE.get(value)
    if text is None:
        if value.tzinfo is None:
            raise ValueError("naive datetime reached the store")
        # isoformat is several times faster than strftime; the width stays fixed.
        text = value.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"
        if len(_TS_CACHE) > 50_000:
            _TS_CACHE.clear()
        _TS_CACHE[value] = text
    return text


# An import writes the same few hundred instants a million times over.
_TS_CACHE: dict[datetime, str] = {}


def from_ts(value: str | None) -> datetime | None:
    if value is None:
        return None
    # fromisoformat is ~20x faster than strptime and reads the "Z" suffix (3.11+).
    return datetime.fromisoformat(value)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


_ROWS = RowMapper(instant=from_ts, day=_day)
_PRIORITY = Priorities()


def _attrs(attributes: dict[str, str]) -> str:
    return encode_json(attributes) if attributes else "{}"


def _state_params(state: ClientState) -> dict[str, Any]:
    return {
        "stage": state.stage.value,
        "complaint": int(state.complaint),
        "hot_calls": state.hot_calls,
        "attempts_today": state.attempts_today,
        "attempts_total": state.attempts_total,
        "attempts_day": state.attempts_day.isoformat() if state.attempts_day else None,
        "callback_at": ts(state.callback_at),
        "awaiting_disposition": int(state.awaiting_disposition),
        "invalid_number": int(state.invalid_number),
    }


def _rows(rows: Iterable[sqlite3.Row | tuple[Any, ...]]) -> list[Any]:
    # aiosqlite types execute_fetchall as an Iterable; it is a list.
    return list(rows)


_THROWAWAY_PRAGMAS = (
    "PRAGMA journal_mode=MEMORY",
    "PRAGMA synchronous=OFF",
    "PRAGMA locking_mode=EXCLUSIVE",
    "PRAGMA cache_size=-65536",  # KiB: 64 MiB (a 10,000-client day is a 17 MB file)
)


class _InlineConnection(aiosqlite.Connection):
    """aiosqlite's API with every statement run in the caller's (event loop's) thread.

    The hand-off to aiosqlite's thread costs two context switches and a loop wake-up
    per statement (~0.1-0.5 ms), more than the SQL itself. A simulation is one task
    tree on a virtual clock with nothing else to serve, so blocking its loop for the
    length of a statement costs nothing, and a simulated day makes ~100,000 of them.
    The thread still opens and closes the connection (aiosqlite's life cycle); the
    sqlite3 connection is made with check_same_thread=False for that."""

    async def _execute(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


class SqliteStore(Store):
    known_schema_version = len(MIGRATIONS)
    connection_errors = (sqlite3.OperationalError,)  # locked, I/O error, file gone

    def __init__(
        self, path: str | Path, *, busy_timeout_ms: int = 10_000, inline: bool = False, throwaway: bool = False
    ):
        """``inline``: run the SQL in the event loop's thread (`_InlineConnection`; only
        for a process that serves nothing else, i.e. `dialer simulate`). ``throwaway``:
        the file is deleted after the run (a simulation's temp file), so it is written
        without fsync, its rollback journal in memory and under one exclusive lock
        (`_THROWAWAY_PRAGMAS`): a crash loses nothing anyone keeps. Never for a file a
        user keeps (`--db`) or for `dialer run`."""
        self.path = Path(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._inline = inline
        self._throwaway = throwaway
        self._db: aiosqlite.Connection | None = None
        # One connection is shared by all tasks of the worker: a transaction spans
        # several awaits, so writers take turns (readers need not).
        self._write_lock = asyncio.Lock()

    # ------------------------------------------------------------ life cycle

    @property
    def people(self) -> _people.SqlitePeople:
        """The people role (accounts, tokens, presence, pauses, audit): dialer/store/people.py."""
        return _people.SqlitePeople(self)

    def describe(self) -> str:
        return f"SQLite database {self.path}"

    async def open(self, *, create: bool = True) -> None:
        if not create and not self.path.is_file():
            raise SchemaMismatch(
                f"no SQLite database at {self.path} (a typo? `dialer import` or `dialer migrate` creates it)"
            )
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                target: str | Path = self.path
            else:
                # mode=rw: never create the file, even if it vanished since the check.
                target = self.path.resolve().as_uri() + "?mode=rw"
            # isolation_level=None: no implicit transactions; we BEGIN IMMEDIATE ourselves.
            self._db = await self._connect(target, uri=not create)
            if self._throwaway:
                # Nobody else opens a throwaway file and nobody keeps it: no fsync, the
                # rollback journal in memory, one lock for the whole run (commits are a
                # tenth of a simulated day's database time in WAL mode), a larger cache.
                for pragma in _THROWAWAY_PRAGMAS:
                    await self._db.execute(pragma)
            else:
                await self._db.execute("PRAGMA journal_mode=WAL")
                await self._db.execute("PRAGMA synchronous=NORMAL")
            await self._db.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
            await self._db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            await self.close()
            # "file is not a database" is a wrong file, not an outage.
            kind = SchemaMismatch if not isinstance(exc, sqlite3.OperationalError) else StoreUnreachable
            raise kind(f"cannot open {self.describe()}: {exc}") from None
        except OSError as exc:
            await self.close()
            raise StoreUnreachable(f"cannot open {self.describe()}: {exc.strerror or exc}") from None

    async def _connect(self, target: str | Path, *, uri: bool) -> aiosqlite.Connection:
        if not self._inline:
            return await aiosqlite.connect(target, isolation_level=None, uri=uri)

        def connector() -> sqlite3.Connection:
            return sqlite3.connect(target, isolation_level=None, uri=uri, check_same_thread=False)

        return await _InlineConnection(connector, 64)

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    async def _in_thread(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run a whole transaction inside the connection's own thread: one hand-off to
        that thread instead of one per statement (each hand-off costs ~0.5 ms here,
        more than the SQL). `work` gets the plain sqlite3 connection. This uses
        aiosqlite's `_execute` (its queue of callables for the thread);
        tests/integration/test_store_contract.py pins it. Inline (a simulation): no
        hand-off at all."""
        db = self.db
        conn = db._conn

        def run() -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        async with self._write_lock:
            if self._inline:
                return run()
            result: T = await db._execute(run)  # type: ignore[no-untyped-call]
            return result

    async def _all(self, sql: str, args: Any = ()) -> list[Any]:
        """Every row, in one hand-off to the database thread (inline: none)."""
        if self._inline:
            return self.db._conn.execute(sql, args).fetchall()
        return _rows(await self.db.execute_fetchall(sql, args))

    async def _one(self, sql: str, args: Any = ()) -> Any:
        """The first row or None, in one hand-off to the database thread."""
        rows = await self._all(sql, args)
        return rows[0] if rows else None

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[aiosqlite.Connection]:
        db = self.db
        async with self._write_lock:
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            else:
                await db.execute("COMMIT")

    async def _write(self, sql: str, args: Any = ()) -> int:
        """A single-statement write, outside any other task's transaction."""
        async with self._write_lock:
            if self._inline:
                return self.db._conn.execute(sql, args).rowcount
            cur = await self.db.execute(sql, args)
            return cur.rowcount

    async def schema_version(self) -> int:
        if not await self._one(_DB["has_meta"]):
            return 0
        version = await self._one(_DB["get_meta"], (VERSION_KEY,))
        numbering = await self._one(_DB["get_meta"], (NUMBERING_KEY,))
        return unified_version(DIALECT, int(version[0]) if version else 0, numbering[0] if numbering else None)

    async def migrate(self) -> int:
        async with self._tx() as db:
            await db.execute(_DB["create_meta"])

            async def meta(key: str) -> str | None:
                async with db.execute(_DB["get_meta"], (key,)) as cur:
                    row = await cur.fetchone()
                return str(row[0]) if row else None

            stored, numbering = await meta(VERSION_KEY), await meta(NUMBERING_KEY)
            version = unified_version(DIALECT, int(stored) if stored else 0, numbering)
            if version > len(MIGRATIONS):
                raise SchemaMismatch(newer_schema_message(self.describe(), version, len(MIGRATIONS)))
            for migration in MIGRATIONS[version:]:
                for statement in split_statements(migration.sql):
                    await db.execute(statement)
                version = migration.number
            if stored != str(version) or numbering != NUMBERING:
                await db.execute(_DB["set_meta"], (VERSION_KEY, str(version)))
                await db.execute(_DB["set_meta"], (NUMBERING_KEY, NUMBERING))
        return version

    async def ping(self) -> None:
        await self.db.execute(_DB["ping"])

    # ------------------------------------------------------------ import and scheduling

    async def upsert_clients(
        self, records: Sequence[ClientRecord], schedules: Mapping[str, Schedule] | None = None
    ) -> tuple[int, int]:
        if not records:
            return 0, 0
        now = ts(datetime.now(UTC))
        ids = [r.id for r in records]
        async with self._tx() as db:
            existing: set[str] = set()
            for chunk in _chunks(ids, 900):
                # Built here: the number of placeholders is the chunk's (SQLite allows 999).
                q = f"SELECT id FROM clients WHERE id IN ({','.join('?' * len(chunk))})"
                async with db.execute(q, chunk) as cur:
                    existing.update(r[0] for r in await cur.fetchall())
            new_rows = []
            upd_rows = []
            for r in records:
                if r.id in existing:
                    upd_rows.append(r)
                else:
                    state = initial_state(r.stage, r.do_not_call, r.complaint)
                    sch = schedules.get(r.id) if schedules else None
                    new_rows.append(
                        (
                            r.id, r.name, r.phone, r.timezone, r.country, r.schedule,
                            sch.campaign if sch and sch.campaign else r.campaign,
                            int(r.campaign is not None), state.stage.value, int(state.complaint),
                            ts(r.next_contact), _PRIORITY[state], _attrs(r.attributes), now, now,
                            ts(sch.next_dial_at) if sch else None, ts(sch.window_closes_at) if sch else None,
                            sch.reason if sch else None, 0 if sch else 1,
                            r.stage.value if r.stage else None, ts(r.next_contact),
                            None if r.complaint is None else int(r.complaint), now,
                            ts(slack_of(sch)) if sch else None,
                        )
                    )  # fmt: skip
            await db.executemany(_QUEUE["insert_client"], new_rows)
            await db.executemany(
                _QUEUE["reimport_client"],
                [
                    {
                        "id": r.id, "name": r.name, "phone": r.phone, "tz": r.timezone, "country": r.country,
                        "schedule": r.schedule, "campaign": r.campaign, "dnc": int(bool(r.do_not_call)),
                        "stage": r.stage.value if r.stage else None,
                        "complaint": None if r.complaint is None else int(r.complaint),
                        "due": ts(r.next_contact), "attrs": _attrs(r.attributes), "now": now,
                    }
                    for r in upd_rows
                ],
            )  # fmt: skip
        return len(new_rows), len(upd_rows)

    async def clients_to_schedule(self, now: datetime, limit: int) -> list[QueuedClient]:
        rows = await self._all(_QUEUE["clients_needing_schedule"], (limit,))
        if len(rows) < limit:
            rows += await self._all(_QUEUE["clients_window_passed"], (ts(now), limit - len(rows)))
        return [_ROWS.client(r) for r in rows]

    async def set_schedules(self, items: Sequence[Schedule]) -> None:
        if not items:
            return
        async with self._tx() as db:
            await db.executemany(
                _QUEUE["set_schedule"],
                [
                    (ts(s.next_dial_at), ts(s.window_closes_at), ts(slack_of(s)), s.reason, s.campaign, s.client_id)
                    for s in items
                ],
            )

    # ------------------------------------------------------------ the queue

    async def claim(
        self,
        campaign: str,
        now: datetime,
        limit: int,
        owner: str,
        lease_until: datetime,
        max_in_use: int | None = None,
    ) -> list[Claim]:
        if limit <= 0:
            return []
        args: dict[str, Any] = {"owner": owner, "until": ts(lease_until), "campaign": campaign, "now": ts(now),
                                "horizon": ts(now + WINDOW_HORIZON), "limit": limit}  # fmt: skip

        def work(conn: sqlite3.Connection) -> list[Any]:
            if max_in_use is not None:
                (live,) = conn.execute(_QUEUE["lines_in_use"], args).fetchone()
                args["limit"] = min(limit, max_in_use - live)
                if args["limit"] <= 0:
                    return []
            return conn.execute(_QUEUE["claim"], args).fetchall()

        rows = await self._in_thread(work)
        clients = sorted((_ROWS.client(r) for r in rows), key=call_order)
        return [Claim(client=c, lease_token=c.lease_token or "", lease_until=lease_until) for c in clients]

    async def reserve_start(self, campaign: str, cps: float, now: datetime) -> datetime:
        gap = 1.0 / cps
        t = now.timestamp()
        row = await self._in_thread(
            lambda conn: conn.execute(_PACING["reserve_start"], (campaign, t + gap, t, gap)).fetchone()
        )
        slot = float(row[0]) - gap if row else t
        return datetime.fromtimestamp(max(slot, t), UTC)

    async def release(self, claim: Claim, schedule: Schedule | None, *, cap_until: datetime | None = None) -> None:
        # One hand-off (see _in_thread), not one per statement.
        args: tuple[Any, ...]
        if schedule is None:
            query, args = _QUEUE["release"], (ts(cap_until), claim.client.id, claim.lease_token)
        else:
            query = _QUEUE["release_and_place"]
            args = (
                ts(schedule.next_dial_at), ts(schedule.window_closes_at), ts(slack_of(schedule)),
                schedule.reason, ts(cap_until), claim.client.id, claim.lease_token,
            )  # fmt: skip

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(query, args)

        await self._in_thread(work)

    async def start_call(self, start: CallStart) -> int:
        def work(conn: sqlite3.Connection) -> int:
            cur = conn.execute(_CALLS["open_call"], (start.call_id, start.client_id, start.lease_token))
            if cur.rowcount != 1:
                raise LeaseLost(start.client_id)
            row = conn.execute(
                _CALLS["insert_call"],
                {
                    "call_id": start.call_id, "client_id": start.client_id, "campaign": start.campaign,
                    "agent": start.agent, "phone": start.phone, "client_tz": start.client_tz,
                    "started_at": ts(start.started_at), "local_day": start.local_day.isoformat(),
                    "provider": start.provider, "allowed_by": start.allowed_by, "lease_token": start.lease_token,
                },
            ).fetchone()  # fmt: skip
            return int(row[0]) if row else 1

        return await self._in_thread(work)

    async def set_provider_call_id(self, call_id: str, provider_call_id: str) -> None:
        await self._write(_CALLS["set_provider_call_id"], (provider_call_id, call_id))

    async def report_readiness(self, report: ProviderReadiness) -> None:
        await self._write(
            _PACING["report_readiness"],
            (report.owner, report.provider, int(report.ready), report.reason, ts(report.since), ts(report.checked_at)),
        )

    async def readiness_reports(self, since: datetime) -> list[ProviderReadiness]:
        return [_ROWS.readiness(r) for r in await self._all(_PACING["readiness_reports"], (ts(since),))]

    async def abandon_counts(self, campaign: str, since: datetime, until: datetime) -> AbandonCounts:
        row = await self._one(_PACING["abandon_counts"], (campaign, ts(since), ts(until)))
        return AbandonCounts(live=int(row[0]), abandoned=int(row[1]))

    async def ringing_unattached(self, campaign: str) -> list[datetime]:
        rows = await self._all(_PACING["ringing_unattached"], (campaign,))
        return [at for (text,) in rows if (at := from_ts(text)) is not None]

    async def recent_calls(self, campaign: str, since: datetime, limit: int) -> list[CallRecord]:
        return [_ROWS.call(r) for r in await self._all(_PACING["recent_calls"], (campaign, ts(since), limit))]

    async def recent_outcomes(self, campaign: str, since: datetime, limit: int) -> list[PacedCall]:
        rows = await self._all(_PACING["recent_outcomes"], (campaign, ts(since), limit))
        return [
            PacedCall(CallStatus(r[0]), started, from_ts(r[2]), from_ts(r[3]), float(r[4] or 0), float(r[5] or 0))
            for r in rows
            if (started := from_ts(r[1])) is not None
        ]

    async def abandoned_since(self, client_ids: Sequence[str], since: datetime) -> dict[str, datetime]:
        if not client_ids:
            return {}
        rows = await self._all(_PACING["abandoned_since"], (json.dumps(list(client_ids)), ts(since)))
        return {str(r[0]): at for r in rows if (at := from_ts(r[1])) is not None}

    async def set_call_agent(self, call_id: str, agent: str) -> None:
        await self._write(_CALLS["set_call_agent"], (agent, call_id))

    @staticmethod
    def _write_outcome(
        db: sqlite3.Connection,
        query: str,
        call_id: str,
        client_id: str,
        lease_token: str | None,
        call: CallUpdate,
        client: ClientUpdate,
        event: Event,
        now: datetime,
    ) -> None:
        cur = db.execute(
            _CALLS[query],
            {
                **_state_params(client.state),
                "due_at": ts(client.due_at),
                "next_dial_at": ts(client.next_dial_at),
                "window_closes_at": ts(client.window_closes_at),
                "slack_key": ts(slack_of(client)),
                "cap_until": ts(client.cap_until),
                "priority": client.priority,
                "campaign": client.campaign,
                "reason": client.reason,
                "call_id": call_id,
                "now": ts(now),
                "id": client_id,
                "lease_token": lease_token,
            },
        )
        if cur.rowcount != 1:
            raise LeaseLost(client_id)
        db.execute(
            _CALLS["update_call"],
            (
                call.status.value, call.provider_call_id, ts(call.answered_at), ts(call.ended_at), call.ring_s,
                call.talk_s, call.guideline.value if call.guideline else None,
                call.disposition.value if call.disposition else None, ts(call.disposition_at), call.note,
                call.error, encode_json(call.state_before.as_data()) if call.state_before else None, call_id,
            ),
        )  # fmt: skip
        db.execute(
            _CALLS["insert_event"],
            (
                ts(now), client_id, call_id, event.kind,
                event.from_stage.value if event.from_stage else None,
                event.to_stage.value if event.to_stage else None,
                event.reason, encode_json(event.data),
            ),
        )  # fmt: skip

    async def record_outcome(
        self,
        call_id: str,
        client_id: str,
        lease_token: str,
        call: CallUpdate,
        client: ClientUpdate,
        event: Event,
        now: datetime,
    ) -> None:
        await self._in_thread(
            lambda db: self._write_outcome(
                db, "outcome_client", call_id, client_id, lease_token, call, client, event, now
            )
        )

    async def record_disposition(
        self,
        call_id: str,
        call: CallUpdate,
        client: ClientUpdate,
        event: Event,
        now: datetime,
        *,
        expected: Disposition | None,
    ) -> None:
        def work(db: sqlite3.Connection) -> None:
            # Read and written in one BEGIN IMMEDIATE transaction: two agents disposing
            # the same call at once cannot both pass this check.
            row = db.execute(_CALLS["call_disposition"], (call_id,)).fetchone()
            if row is None:
                raise KeyError(call_id)
            found = Disposition(row[1]) if row[1] else None
            if found is not expected:
                raise DispositionConflict(call_id, found)
            self._write_outcome(db, "disposition_client", call_id, row[0], None, call, client, event, now)

        await self._in_thread(work)

    async def mark_all_for_schedule(self) -> int:
        return await self._write(_QUEUE["mark_all_for_schedule"])

    async def expire_leases(self, owner: str, now: datetime) -> int:
        async with self._tx() as db:
            cur = await db.execute(_QUEUE["release_unstarted_leases"], (owner,))
            released = cur.rowcount
            cur = await db.execute(_QUEUE["expire_call_leases"], (ts(now), owner))
            return released + cur.rowcount

    async def heartbeat(self, owner: str, lease_until: datetime, now: datetime | None = None) -> int:
        def work(conn: sqlite3.Connection) -> int:
            if now is not None:
                conn.execute(_QUEUE["worker_seen"], (owner, ts(now)))
            return int(conn.execute(_QUEUE["extend_leases"], (ts(lease_until), owner, ts(lease_until))).rowcount)

        # One hand-off per beat (see _in_thread): a worker beats every few seconds.
        return await self._in_thread(work)

    async def worker_seen_at(self, worker: str) -> datetime | None:
        row = await self._one(_QUEUE["worker_seen_at"], (worker,))
        return from_ts(row[0]) if row else None

    async def lines_in_use(self, campaign: str, now: datetime) -> int:
        row = await self._one(_QUEUE["lines_in_use"], {"campaign": campaign, "now": ts(now)})
        return int(row[0]) if row else 0

    async def orphaned_calls(self, now: datetime, limit: int) -> list[CallRecord]:
        return [_ROWS.call(r) for r in await self._all(_QUEUE["orphaned_calls"], (ts(now), limit))]

    async def rescue(self, call_id: str, owner: str, now: datetime, lease_until: datetime) -> Claim | None:
        async with (
            self._tx() as db,
            db.execute(_QUEUE["rescue"], {"c": call_id, "n": ts(now), "o": owner, "u": ts(lease_until)}) as cur,
        ):
            row = await cur.fetchone()
        if row is None:
            return None
        client = _ROWS.client(row)
        return Claim(client=client, lease_token=client.lease_token or "", lease_until=lease_until)

    # ------------------------------------------------------------ reading

    async def get_client(self, client_id: str) -> QueuedClient | None:
        row = await self._one(_QUEUE["get_client"], (client_id,))
        return _ROWS.client(row) if row else None

    async def get_clients(self, client_ids: Sequence[str]) -> dict[str, QueuedClient]:
        if not client_ids:
            return {}
        rows = await self._all(_QUEUE["get_clients"], (json.dumps(list(client_ids)),))
        return {c.id: c for c in map(_ROWS.client, rows)}

    async def get_call(self, call_id: str) -> CallRecord | None:
        row = await self._one(_CALLS["get_call"], (call_id,))
        return _ROWS.call(row) if row else None

    async def calls_between(self, start: datetime, end: datetime) -> list[CallRecord]:
        return [_ROWS.call(r) for r in await self._all(_CALLS["calls_between"], (ts(start), ts(end)))]

    async def client_calls(self, client_id: str, limit: int = 20) -> list[CallRecord]:
        return [_ROWS.call(r) for r in await self._all(_CALLS["client_calls"], (client_id, limit))]

    async def awaiting_disposition(self, agent: str, limit: int = 50) -> list[CallRecord]:
        return [_ROWS.call(r) for r in await self._all(_CALLS["awaiting_disposition"], (agent, limit))]

    async def contact_times(self, client_id: str, since: datetime, conversations_only: bool) -> list[datetime]:
        query = _CALLS["conversation_times" if conversations_only else "attempt_times"]
        return [datetime.fromisoformat(r[0]) for r in await self._all(query, (client_id, ts(since)))]

    async def events_for(self, client_id: str, limit: int = 50) -> list[EventRecord]:
        return [_ROWS.event(r) for r in await self._all(_CALLS["events_for"], (client_id, limit))]

    async def events_between(self, start: datetime, end: datetime) -> list[EventRecord]:
        return [_ROWS.event(r) for r in await self._all(_CALLS["events_between"], (ts(start), ts(end)))]

    async def due_clients(self, campaign: str, until: datetime, limit: int | None = None) -> list[QueuedClient]:
        rows = await self._all(_QUEUE["due_clients"], (campaign, ts(until), -1 if limit is None else limit))
        return [_ROWS.client(r) for r in rows]

    async def next_dial_after(self, now: datetime, campaign: str | None = None) -> datetime | None:
        if campaign is None:
            row = await self._one(_QUEUE["next_dial_after"], (ts(now),))
        else:
            row = await self._one(_QUEUE["next_dial_after_in_campaign"], (campaign, ts(now)))
        return from_ts(row[0]) if row and row[0] else None

    async def queue_stats(self, campaign: str, now: datetime) -> dict[str, int]:
        row = await self._one(_QUEUE["queue_stats"], {"n": ts(now), "c": campaign})
        lines, due, queued, passed = row or (0, 0, 0, 0)
        return {"lines_in_use": lines or 0, "due_now": due or 0, "queued": queued or 0, "window_passed": passed or 0}

    # ------------------------------------------------------------ plans and daily jobs

    async def count_due(self, campaign: str, until: datetime) -> int:
        row = await self._one(_PLANS["count_due"], (campaign, ts(until)))
        return int(row[0]) if row else 0

    async def due_groups(self, campaign: str, until: datetime) -> list[DueGroup]:
        return [_ROWS.due_group(r) for r in await self._all(_PLANS["due_groups"], (campaign, ts(until)))]

    async def form_plan(
        self, campaign: str, day: date, until: datetime, dialed: Mapping[GroupKey, int], now: datetime
    ) -> int:
        d = day.isoformat()
        capacity = sum(max(0, k) for k in dialed.values())
        async with self._tx() as db:
            await db.execute(_PLANS["delete_plan_entries"], (campaign, d))
            await db.execute(_PLANS["create_plan_fit"])
            await db.execute(_PLANS["clear_plan_fit"])
            await db.executemany(
                _PLANS["insert_plan_fit"],
                [(tz, sched or "", prio, ts(nda), k) for (tz, sched, prio, nda), k in dialed.items() if k > 0],
            )
            cur = await db.execute(_PLANS["insert_plan_entries"], (campaign, d, campaign, ts(until)))
            due = cur.rowcount
            await db.execute(_PLANS["clear_plan_fit"])
            await db.execute(_PLANS["upsert_plan"], (campaign, d, capacity, ts(now)))
        return due

    async def get_plan(self, campaign: str, day: date, limit: int | None = None) -> Plan | None:
        d = day.isoformat()
        head = await self._one(_PLANS["plan_head"], (campaign, d, campaign, d))
        if head is None:
            return None
        rows = await self._all(_PLANS["plan_entries"], (campaign, d, -1 if limit is None else limit))
        return Plan(
            campaign=campaign, day=day, capacity=head[0], due=head[2], entries=[_ROWS.plan_entry(r) for r in rows],
            created_at=from_ts(head[1]),  # type: ignore[arg-type]
        )  # fmt: skip

    async def plan_position(self, campaign: str, day: date, client_id: str) -> tuple[int, int, bool] | None:
        d = day.isoformat()
        row = await self._one(_PLANS["plan_position"], (campaign, d, campaign, d, client_id))
        return (row[0] + 1, row[2], bool(row[1])) if row else None

    async def plan_counts(
        self, campaign: str, day: date, start: datetime, end: datetime, now: datetime
    ) -> PlanCounts | None:
        d = day.isoformat()
        if await self._one(_PLANS["plan_exists"], (campaign, d)) is None:
            return None
        row = await self._one(
            _PLANS["plan_counts"],
            {"start": ts(start), "end": ts(end), "now": ts(now), "campaign": campaign, "day": d},
        )
        return PlanCounts(int(row[0]), int(row[1] or 0), int(row[2] or 0)) if row else PlanCounts(0, 0, 0)

    async def try_start_job(self, job: str, campaign: str, day: date, owner: str, now: datetime) -> bool:
        async with self._tx() as db:
            cur = await db.execute(
                _PLANS["start_job"], (job, campaign, day.isoformat(), owner, ts(now), ts(now - JOB_TAKEOVER))
            )
            return cur.rowcount == 1

    async def finish_job(self, job: str, campaign: str, day: date, now: datetime) -> None:
        await self._write(_PLANS["finish_job"], (ts(now), job, campaign, day.isoformat()))


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


__all__ = ["MIGRATIONS", "SqliteStore", "from_ts", "ts"]
