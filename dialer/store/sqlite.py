"""The embedded default store: one SQLite file on disk through aiosqlite, WAL mode.

Instants are stored as ISO 8601 UTC text with a fixed width ("2026-12-01T06:00:00Z")
so that string comparison is time comparison and the file reads well in the
sqlite3 shell. Transactions are explicit (`BEGIN IMMEDIATE`) because the claim and
the outcome must each be atomic and a second process (`dialer dispose`, `dialer
import`) may write at the same time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlite3
from collections.abc import Callable
from typing import TypeVar

import aiosqlite

from dialer.domain import (
    CallStatus,
    ClientRecord,
    ClientState,
    Disposition,
    Guideline,
    Priority,
    Stage,
    initial_state,
    priority_of,
    priority_sql,
)
from dialer.scheduling import WINDOW_HORIZON
from dialer.store import people as _people  # issue 12 hook
from dialer.store.base import (
    JOB_TAKEOVER,
    CallRecord,
    CallStart,
    CallUpdate,
    Claim,
    ClientUpdate,
    DispositionConflict,
    Event,
    EventRecord,
    LeaseLost,
    DueGroup,
    GroupKey,
    Plan,
    PlanCounts,
    PlanEntry,
    ProviderReadiness,
    QueuedClient,
    Schedule,
    SchemaMismatch,
    Store,
    StoreUnreachable,
    newer_schema_message,
)

_FMT = "%Y-%m-%dT%H:%M:%SZ"
T = TypeVar("T")


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


class _Priorities(dict[ClientState, int]):
    def __missing__(self, state: ClientState) -> int:
        self[state] = value = int(priority_of(state))
        return value


_PRIORITY = _Priorities()
_PRIORITY_SQL = priority_sql("complaint = 1")
_json = json.JSONEncoder(ensure_ascii=False, default=str).encode


def _attrs(attributes: dict[str, str]) -> str:
    return _json(attributes) if attributes else "{}"


def from_ts(value: str | None) -> datetime | None:
    if value is None:
        return None
    # fromisoformat is ~20x faster than strptime and reads the "Z" suffix (3.11+).
    return datetime.fromisoformat(value)


# Migration 5's starting point for clients imported before it. A client never called
# has exactly the stage, due moment and complaint its import said. One called before
# may have moved on, so what its last import said is unknown: imported_at stays NULL
# and its next import only records it (applying the file then could undo progress).
IMPORT_BASELINE_SQL = """
UPDATE clients SET imported_stage = CASE WHEN stage = 'dnc' THEN NULL ELSE stage END,
    imported_next_contact = due_at, imported_complaint = complaint, imported_at = updated_at
WHERE NOT EXISTS (SELECT 1 FROM calls WHERE calls.client_id = clients.id);
"""

MIGRATIONS: list[str] = [
    # 1: the whole first schema
    """
    CREATE TABLE clients (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        phone TEXT NOT NULL,
        timezone TEXT NOT NULL,
        country TEXT NOT NULL,
        schedule TEXT,
        campaign TEXT,
        campaign_pinned INTEGER NOT NULL DEFAULT 0,
        stage TEXT NOT NULL DEFAULT 'prospect',
        complaint INTEGER NOT NULL DEFAULT 0,
        hot_calls INTEGER NOT NULL DEFAULT 0,
        attempts_today INTEGER NOT NULL DEFAULT 0,
        attempts_total INTEGER NOT NULL DEFAULT 0,
        attempts_day TEXT,
        callback_at TEXT,
        awaiting_disposition INTEGER NOT NULL DEFAULT 0,
        invalid_number INTEGER NOT NULL DEFAULT 0,
        due_at TEXT,
        next_dial_at TEXT,
        window_closes_at TEXT,
        cap_until TEXT,
        priority INTEGER NOT NULL DEFAULT 4,
        schedule_reason TEXT,
        needs_schedule INTEGER NOT NULL DEFAULT 1,
        lease_owner TEXT,
        lease_token TEXT,
        lease_until TEXT,
        open_call_id TEXT,
        attributes TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    -- Claim: equality on campaign, then walk in call order; rows not yet due are skipped.
    CREATE INDEX clients_claim ON clients(campaign, priority, window_closes_at)
        WHERE next_dial_at IS NOT NULL;
    CREATE INDEX clients_next ON clients(next_dial_at) WHERE next_dial_at IS NOT NULL;
    CREATE INDEX clients_stale ON clients(window_closes_at) WHERE next_dial_at IS NOT NULL;
    CREATE INDEX clients_needs ON clients(needs_schedule) WHERE needs_schedule = 1;
    CREATE INDEX clients_lease ON clients(lease_owner) WHERE lease_owner IS NOT NULL;

    CREATE TABLE calls (
        call_id TEXT PRIMARY KEY,
        client_id TEXT NOT NULL REFERENCES clients(id),
        campaign TEXT NOT NULL,
        agent TEXT,
        phone TEXT NOT NULL,
        client_tz TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        local_day TEXT NOT NULL,
        status TEXT NOT NULL,
        provider TEXT NOT NULL,
        provider_call_id TEXT,
        answered_at TEXT,
        ended_at TEXT,
        ring_s REAL NOT NULL DEFAULT 0,
        talk_s REAL NOT NULL DEFAULT 0,
        guideline TEXT,
        disposition TEXT,
        disposition_at TEXT,
        note TEXT,
        error TEXT,
        allowed_by TEXT NOT NULL,
        lease_token TEXT
    );
    CREATE INDEX calls_started ON calls(started_at);
    CREATE INDEX calls_client ON calls(client_id, started_at);
    CREATE INDEX calls_open ON calls(status) WHERE status = 'dialing';
    CREATE INDEX calls_provider ON calls(provider_call_id) WHERE provider_call_id IS NOT NULL;

    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        client_id TEXT NOT NULL,
        call_id TEXT,
        kind TEXT NOT NULL,
        from_stage TEXT,
        to_stage TEXT,
        reason TEXT NOT NULL,
        data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_client ON events(client_id, id);
    CREATE INDEX events_at ON events(at);
    -- Append-only: the audit trail cannot be edited through SQL by accident.
    CREATE TRIGGER events_no_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
    CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

    CREATE TABLE plans (
        campaign TEXT NOT NULL,
        day TEXT NOT NULL,
        capacity INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (campaign, day)
    );
    CREATE TABLE plan_entries (
        campaign TEXT NOT NULL,
        day TEXT NOT NULL,
        position INTEGER NOT NULL,
        client_id TEXT NOT NULL,
        priority INTEGER NOT NULL,
        next_dial_at TEXT NOT NULL,
        window_closes_at TEXT,
        fits INTEGER NOT NULL,
        PRIMARY KEY (campaign, day, position)
    );
    CREATE TABLE job_runs (
        job TEXT NOT NULL,
        campaign TEXT NOT NULL,
        day TEXT NOT NULL,
        owner TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        PRIMARY KEY (job, campaign, day)
    );
    """,
    # 2: `dialer why` finds a client's place in a plan without a scan
    """
    CREATE INDEX plan_entries_client ON plan_entries(campaign, day, client_id);
    """,
    # 3: global calls-per-second pacing per campaign; live leases per campaign
    """
    CREATE TABLE pacing (campaign TEXT PRIMARY KEY, next_start REAL NOT NULL);
    CREATE INDEX clients_leased ON clients(campaign, lease_until) WHERE lease_owner IS NOT NULL;
    """,
    # 4: one call per client and attempt, enforced by the database itself
    """
    CREATE UNIQUE INDEX calls_attempt ON calls(client_id, attempt);
    """,
    # 5: what the last import said (a re-import applies only what the CRM changed since),
    # and the client's state before a call's first disposition (for a correction)
    f"""
    ALTER TABLE clients ADD COLUMN imported_stage TEXT;
    ALTER TABLE clients ADD COLUMN imported_next_contact TEXT;
    ALTER TABLE clients ADD COLUMN imported_complaint INTEGER;
    ALTER TABLE clients ADD COLUMN imported_at TEXT;
    ALTER TABLE calls ADD COLUMN state_before TEXT;
    {IMPORT_BASELINE_SQL}
    """,
    # 6: claims take the least slack first (callable time left in the client's day).
    # Existing rows keep their closing-window order until they are placed again (all
    # are marked for it); the claim index walks the new key.
    """
    ALTER TABLE clients ADD COLUMN slack_key TEXT;
    UPDATE clients SET slack_key = window_closes_at, needs_schedule = 1 WHERE next_dial_at IS NOT NULL;
    DROP INDEX clients_claim;
    CREATE INDEX clients_claim ON clients(campaign, priority, slack_key, window_closes_at, next_dial_at, id)
        WHERE next_dial_at IS NOT NULL;
    """,
    # 7: each worker's latest readiness finding per provider (`dialer status` reads them)
    """
    CREATE TABLE provider_readiness (
        owner TEXT NOT NULL,
        provider TEXT NOT NULL,
        ready INTEGER NOT NULL,
        reason TEXT,
        since TEXT NOT NULL,
        checked_at TEXT NOT NULL,
        PRIMARY KEY (owner, provider)
    );
    """,
    # 8: short leases renewed by a heartbeat: when each worker was last alive (a crashed
    # call ends then), which worker placed each call, and the lines a campaign has in use
    # (live leases and calls not yet settled) counted without a scan
    """
    CREATE TABLE workers (worker TEXT PRIMARY KEY, seen_at TEXT NOT NULL);
    ALTER TABLE calls ADD COLUMN worker TEXT;
    CREATE INDEX clients_busy ON clients(campaign) WHERE lease_owner IS NOT NULL OR open_call_id IS NOT NULL;
    """,
    # issue 12: the people role (accounts, tokens, presence, pauses, audit): dialer/store/people.py
    _people.schema_sql("sqlite"),
]

# The lines a campaign has in use, for every worker: live leases, and calls not yet
# settled (a dead worker's call holds its line until it is reconciled, so the call rows
# never show more calls in progress than lines). Uses the partial index clients_busy.
_BUSY = (
    "(lease_owner IS NOT NULL OR open_call_id IS NOT NULL) AND (open_call_id IS NOT NULL OR lease_until > :now)"
)

_CLIENT_COLS = (
    "id, name, phone, timezone, country, schedule, campaign, campaign_pinned, stage, complaint, hot_calls, "
    "attempts_today, attempts_total, attempts_day, callback_at, awaiting_disposition, invalid_number, due_at, "
    "next_dial_at, window_closes_at, cap_until, priority, schedule_reason, needs_schedule, lease_owner, "
    "lease_token, lease_until, open_call_id, attributes, slack_key"
)
_CALL_COLS = (
    "call_id, client_id, campaign, agent, phone, client_tz, attempt, started_at, local_day, status, provider, "
    "provider_call_id, answered_at, ended_at, ring_s, talk_s, guideline, disposition, disposition_at, note, "
    "error, allowed_by, worker"
)
# What a CallRecord is read from (written elsewhere: state_before comes with a disposition).
_CALL_READ = _CALL_COLS + ", state_before"


def _claim_branch(priority: int) -> str:
    return f"""SELECT * FROM (
        SELECT id, priority, slack_key, window_closes_at, next_dial_at FROM clients INDEXED BY clients_claim
        WHERE campaign=:campaign AND priority={priority} AND next_dial_at IS NOT NULL
          AND slack_key > :now AND slack_key <= :horizon
          AND window_closes_at > :now AND next_dial_at <= :now
          AND open_call_id IS NULL AND (lease_until IS NULL OR lease_until <= :now)
          AND (cap_until IS NULL OR cap_until <= :now)
        ORDER BY slack_key, window_closes_at, next_dial_at, id LIMIT :limit)"""


# One statement (one round trip to the database thread), one index range per priority
# class: within a class the index (campaign, priority, slack_key, window_closes_at,
# next_dial_at, id) is
# read in call order, least slack first, from "after now" (a client inside its window
# has a key after its window's last start, so after now) to a day ahead (a key is at
# most a day after its opening): clients due on later days are never walked, whatever
# the size of the queue.
_CLAIM = f"""
UPDATE clients SET lease_owner=:owner, lease_token=lower(hex(randomblob(12))), lease_until=:until
WHERE id IN (
    SELECT id FROM ({" UNION ALL ".join(_claim_branch(p) for p in Priority)})
    ORDER BY priority, slack_key, window_closes_at, next_dial_at, id LIMIT :limit)
RETURNING {_CLIENT_COLS}
"""

# The call order of claims, plans and `due_clients`, as a Python sort key.
def _call_order(c: QueuedClient) -> tuple[Any, ...]:
    return (c.priority, c.slack_key or c.window_closes_at, c.window_closes_at, c.next_dial_at, c.id)


def _slack(placed: Schedule | ClientUpdate) -> datetime | None:
    """The slack key to store: the placement's, else its window's close (a writer that
    computed none still leaves the client claimable, ordered by its closing window)."""
    return placed.slack_key or placed.window_closes_at


# A known client imported again. Contact data (name, phone, zone, country, schedule,
# campaign, attributes) is taken from the file. Stage, next contact and complaint change
# only when the file's cell differs from what the last import said (the CRM changed it
# since): re-importing the same list never undoes what the calls did. An empty cell
# says nothing (the stored value and the remembered one stay). Do-not-call is sticky;
# a changed phone clears a "wrong number" mark. A client whose last import is unknown
# (imported_at NULL, see IMPORT_BASELINE_SQL) only gets it recorded. The client is
# rescheduled only when something its place in the queue depends on changed.
_NEW_STAGE = (
    "CASE WHEN stage='dnc' OR :dnc=1 THEN 'dnc' "
    "WHEN :stage IS NOT NULL AND imported_at IS NOT NULL AND :stage IS NOT imported_stage THEN :stage "
    "ELSE stage END"
)
_NEW_COMPLAINT = (
    "CASE WHEN :complaint IS NOT NULL AND imported_at IS NOT NULL AND :complaint IS NOT imported_complaint "
    "THEN :complaint ELSE complaint END"
)
_NEW_DUE = (
    "CASE WHEN :due IS NOT NULL AND imported_at IS NOT NULL AND :due IS NOT imported_next_contact "
    "THEN :due ELSE due_at END"
)
_NEW_CAMPAIGN = "COALESCE(:campaign, CASE WHEN campaign_pinned=1 THEN NULL ELSE campaign END)"
_NEW_INVALID = "CASE WHEN phone<>:phone THEN 0 ELSE invalid_number END"
_REIMPORT = f"""
UPDATE clients SET
    name=:name, phone=:phone, timezone=:tz, country=:country, schedule=:schedule,
    campaign={_NEW_CAMPAIGN}, campaign_pinned=(:campaign IS NOT NULL),
    stage={_NEW_STAGE}, complaint={_NEW_COMPLAINT}, due_at={_NEW_DUE}, invalid_number={_NEW_INVALID},
    imported_stage=COALESCE(:stage, imported_stage),
    imported_next_contact=COALESCE(:due, imported_next_contact),
    imported_complaint=COALESCE(:complaint, imported_complaint),
    imported_at=:now, attributes=:attrs, updated_at=:now,
    needs_schedule=CASE WHEN needs_schedule=1 OR timezone IS NOT :tz OR schedule IS NOT :schedule
        OR country IS NOT :country OR campaign IS NOT {_NEW_CAMPAIGN}
        OR campaign_pinned <> (:campaign IS NOT NULL) OR stage <> {_NEW_STAGE}
        OR complaint <> {_NEW_COMPLAINT} OR due_at IS NOT {_NEW_DUE} OR invalid_number <> {_NEW_INVALID}
        THEN 1 ELSE 0 END
WHERE id=:id
"""


def _client(row: Sequence[Any]) -> QueuedClient:
    (
        id_, name, phone, tz, country, schedule, campaign, pinned, stage, complaint, hot_calls,
        a_today, a_total, a_day, callback_at, awaiting, invalid, due_at, next_dial_at, closes, cap_until,
        priority, reason, needs, l_owner, l_token, l_until, open_call, attributes, slack_key,
    ) = row  # fmt: skip
    state = ClientState(
        stage=Stage(stage),
        complaint=bool(complaint),
        hot_calls=hot_calls,
        attempts_today=a_today,
        attempts_total=a_total,
        attempts_day=date.fromisoformat(a_day) if a_day else None,
        callback_at=from_ts(callback_at),
        awaiting_disposition=bool(awaiting),
        invalid_number=bool(invalid),
    )
    return QueuedClient(
        id=id_, name=name, phone=phone, timezone=tz, country=country, schedule=schedule, campaign=campaign,
        campaign_pinned=bool(pinned), state=state, due_at=from_ts(due_at), next_dial_at=from_ts(next_dial_at),
        window_closes_at=from_ts(closes), cap_until=from_ts(cap_until), priority=priority,
        schedule_reason=reason, needs_schedule=bool(needs), lease_owner=l_owner, lease_token=l_token,
        lease_until=from_ts(l_until), open_call_id=open_call, attributes=json.loads(attributes or "{}"),
        slack_key=from_ts(slack_key),
    )  # fmt: skip


def _call(row: Sequence[Any]) -> CallRecord:
    (
        call_id, client_id, campaign, agent, phone, tz, attempt, started, local_day, status, provider,
        pcid, answered, ended, ring_s, talk_s, guideline, disposition, disp_at, note, error, allowed_by, worker,
        before,
    ) = row  # fmt: skip
    return CallRecord(
        call_id=call_id, client_id=client_id, campaign=campaign, agent=agent, phone=phone, client_tz=tz,
        attempt=attempt, started_at=from_ts(started), local_day=date.fromisoformat(local_day),  # type: ignore[arg-type]
        status=CallStatus(status), provider=provider, provider_call_id=pcid, answered_at=from_ts(answered),
        ended_at=from_ts(ended), ring_s=ring_s, talk_s=talk_s,
        guideline=Guideline(guideline) if guideline else None,
        disposition=Disposition(disposition) if disposition else None,
        disposition_at=from_ts(disp_at), note=note, error=error, allowed_by=allowed_by, worker=worker,
        state_before=ClientState.from_data(json.loads(before)) if before else None,
    )  # fmt: skip


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


class SqliteStore(Store):
    known_schema_version = len(MIGRATIONS)
    connection_errors = (sqlite3.OperationalError,)  # locked, I/O error, file gone

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 10_000):
        self.path = Path(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._db: aiosqlite.Connection | None = None
        # One connection is shared by all tasks of the worker: a transaction spans
        # several awaits, so writers take turns (readers need not).
        self._write_lock = asyncio.Lock()

    # ------------------------------------------------------------ life cycle

    @property
    def people(self) -> _people.SqlitePeople:  # issue 12 hook: the people role
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
            self._db = await aiosqlite.connect(target, isolation_level=None, uri=not create)
            await self._db.execute("PRAGMA journal_mode=WAL")
            await self._db.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
            await self._db.execute("PRAGMA synchronous=NORMAL")
            await self._db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            await self.close()
            # "file is not a database" is a wrong file, not an outage.
            kind = SchemaMismatch if not isinstance(exc, sqlite3.OperationalError) else StoreUnreachable
            raise kind(f"cannot open {self.describe()}: {exc}") from None
        except OSError as exc:
            await self.close()
            raise StoreUnreachable(f"cannot open {self.describe()}: {exc.strerror or exc}") from None

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
        tests/integration/test_store_contract.py pins it."""
        db = self.db
        conn = db._conn  # noqa: SLF001 - see the docstring

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
            return await db._execute(run)  # noqa: SLF001

    async def _one(self, sql: str, args: Any = ()) -> Any:
        """The first row or None, in one hand-off to the database thread."""
        rows = await self.db.execute_fetchall(sql, args)
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
            cur = await self.db.execute(sql, args)
            return cur.rowcount

    async def schema_version(self) -> int:
        if not await self._one("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"):
            return 0
        row = await self._one("SELECT value FROM meta WHERE key='schema_version'")
        return int(row[0]) if row else 0

    async def migrate(self) -> int:
        async with self._tx() as db:
            await db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            async with db.execute("SELECT value FROM meta WHERE key='schema_version'") as cur:
                row = await cur.fetchone()
            version = int(row[0]) if row else 0
            if version > len(MIGRATIONS):
                raise SchemaMismatch(newer_schema_message(self.describe(), version, len(MIGRATIONS)))
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                # executescript would COMMIT our transaction; run statements one by one.
                for statement in _split_sql(script):
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO meta(key, value) VALUES('schema_version', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    (str(number),),
                )
                version = number
        return version

    async def ping(self) -> None:
        await self.db.execute("SELECT 1")

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
                            ts(_slack(sch)) if sch else None,
                        )
                    )  # fmt: skip
            await db.executemany(
                "INSERT INTO clients(id, name, phone, timezone, country, schedule, campaign, campaign_pinned, "
                "stage, complaint, due_at, priority, attributes, created_at, updated_at, next_dial_at, "
                "window_closes_at, schedule_reason, needs_schedule, imported_stage, imported_next_contact, "
                "imported_complaint, imported_at, slack_key) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                new_rows,
            )
            await db.executemany(
                _REIMPORT,
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
        n = ts(now)
        rows = await self.db.execute_fetchall(
            f"SELECT {_CLIENT_COLS} FROM clients WHERE needs_schedule=1 AND lease_owner IS NULL LIMIT ?", (limit,)
        )
        if len(rows) < limit:
            # Window passed without a claim (worker down, lines busy): find the next one.
            rows += await self.db.execute_fetchall(
                f"SELECT {_CLIENT_COLS} FROM clients WHERE next_dial_at IS NOT NULL AND window_closes_at <= ? "
                "AND needs_schedule=0 AND lease_owner IS NULL AND open_call_id IS NULL LIMIT ?",
                (n, limit - len(rows)),
            )
        return [_client(r) for r in rows]

    async def set_schedules(self, items: Sequence[Schedule]) -> None:
        if not items:
            return
        async with self._tx() as db:
            await db.executemany(
                # Priority too: a re-import may have changed stage or complaint.
                "UPDATE clients SET next_dial_at=?, window_closes_at=?, slack_key=?, schedule_reason=?, "
                f"campaign=COALESCE(?, campaign), needs_schedule=0, priority={_PRIORITY_SQL} WHERE id=?",
                [
                    (ts(s.next_dial_at), ts(s.window_closes_at), ts(_slack(s)), s.reason, s.campaign, s.client_id)
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
        n = ts(now)
        args = {"owner": owner, "until": ts(lease_until), "campaign": campaign, "now": n,
                "horizon": ts(now + WINDOW_HORIZON), "limit": limit}  # fmt: skip

        def work(conn: sqlite3.Connection) -> list[Any]:
            if max_in_use is not None:
                (live,) = conn.execute(
                    f"SELECT COUNT(*) FROM clients WHERE campaign=:campaign AND {_BUSY}", args
                ).fetchone()
                args["limit"] = min(limit, max_in_use - live)
                if args["limit"] <= 0:
                    return []
            return conn.execute(_CLAIM, args).fetchall()

        rows = await self._in_thread(work)
        clients = sorted((_client(r) for r in rows), key=_call_order)
        return [Claim(client=c, lease_token=c.lease_token or "", lease_until=lease_until) for c in clients]

    async def reserve_start(self, campaign: str, cps: float, now: datetime) -> datetime:
        gap = 1.0 / cps
        t = now.timestamp()
        async with self._tx() as db:
            async with db.execute(
                "INSERT INTO pacing(campaign, next_start) VALUES (?, ?) ON CONFLICT(campaign) DO UPDATE "
                "SET next_start = MAX(next_start, ?) + ? RETURNING next_start",
                (campaign, t + gap, t, gap),
            ) as cur:
                row = await cur.fetchone()
        slot = float(row[0]) - gap if row else t
        return datetime.fromtimestamp(max(slot, t), UTC)

    async def release(self, claim: Claim, schedule: Schedule | None, *, cap_until: datetime | None = None) -> None:
        async with self._tx() as db:
            if schedule is None:
                await db.execute(
                    "UPDATE clients SET lease_owner=NULL, lease_token=NULL, lease_until=NULL, "
                    "cap_until=COALESCE(?, cap_until) WHERE id=? AND lease_token=?",
                    (ts(cap_until), claim.client.id, claim.lease_token),
                )
            else:
                await db.execute(
                    "UPDATE clients SET lease_owner=NULL, lease_token=NULL, lease_until=NULL, next_dial_at=?, "
                    "window_closes_at=?, slack_key=?, schedule_reason=?, cap_until=COALESCE(?, cap_until) "
                    "WHERE id=? AND lease_token=?",
                    (
                        ts(schedule.next_dial_at), ts(schedule.window_closes_at), ts(_slack(schedule)),
                        schedule.reason, ts(cap_until), claim.client.id, claim.lease_token,
                    ),
                )  # fmt: skip

    async def start_call(self, start: CallStart) -> int:
        def work(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "UPDATE clients SET open_call_id=? WHERE id=? AND lease_token=?",
                (start.call_id, start.client_id, start.lease_token),
            )
            if cur.rowcount != 1:
                raise LeaseLost(start.client_id)
            # The attempt number is assigned here, in the same transaction as the row.
            row = conn.execute(
                f"INSERT INTO calls({_CALL_COLS}, lease_token) "
                f"SELECT {','.join('?' * 6)}, COALESCE(MAX(attempt), 0) + 1, {','.join('?' * 15)}, "
                "(SELECT lease_owner FROM clients WHERE id=?), ? "
                "FROM calls WHERE client_id=? RETURNING attempt",
                (
                    start.call_id, start.client_id, start.campaign, start.agent, start.phone, start.client_tz,
                    ts(start.started_at), start.local_day.isoformat(), CallStatus.DIALING.value,
                    start.provider, None, None, None, 0.0, 0.0, None, None, None, None, None, start.allowed_by,
                    start.client_id, start.lease_token, start.client_id,
                ),
            ).fetchone()
            return int(row[0]) if row else 1

        return await self._in_thread(work)

    async def set_provider_call_id(self, call_id: str, provider_call_id: str) -> None:
        await self._write("UPDATE calls SET provider_call_id=? WHERE call_id=?", (provider_call_id, call_id))

    async def report_readiness(self, report: ProviderReadiness) -> None:
        await self._write(
            "INSERT INTO provider_readiness(owner, provider, ready, reason, since, checked_at) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT(owner, provider) DO UPDATE SET ready=excluded.ready, reason=excluded.reason, "
            "since=excluded.since, checked_at=excluded.checked_at",
            (report.owner, report.provider, int(report.ready), report.reason, ts(report.since), ts(report.checked_at)),
        )

    async def readiness_reports(self, since: datetime) -> list[ProviderReadiness]:
        rows = await self.db.execute_fetchall(
            "SELECT owner, provider, ready, reason, since, checked_at FROM provider_readiness "
            "WHERE checked_at >= ? ORDER BY provider, owner",
            (ts(since),),
        )
        return [
            ProviderReadiness(owner=r[0], provider=r[1], ready=bool(r[2]), reason=r[3], since=from_ts(r[4]),  # type: ignore[arg-type]
                              checked_at=from_ts(r[5]))  # type: ignore[arg-type]
            for r in rows
        ]

    @staticmethod
    def _write_outcome(
        db: sqlite3.Connection,
        call_id: str,
        client_id: str,
        lease_clause: str,
        lease_args: tuple[Any, ...],
        call: CallUpdate,
        client: ClientUpdate,
        event: Event,
        now: datetime,
    ) -> None:
        sp = _state_params(client.state)
        cur = db.execute(
            f"""
            UPDATE clients SET stage=:stage, complaint=:complaint, hot_calls=:hot_calls,
                attempts_today=:attempts_today, attempts_total=:attempts_total, attempts_day=:attempts_day,
                callback_at=:callback_at, awaiting_disposition=:awaiting_disposition,
                invalid_number=:invalid_number, due_at=:due_at, next_dial_at=:next_dial_at,
                window_closes_at=:window_closes_at, slack_key=:slack_key, cap_until=:cap_until, priority=:priority,
                campaign=CASE WHEN campaign_pinned=1 THEN campaign ELSE COALESCE(:campaign, campaign) END,
                schedule_reason=:reason, needs_schedule=0,
                lease_owner=NULL, lease_token=NULL, lease_until=NULL,
                open_call_id=CASE WHEN open_call_id=:call_id THEN NULL ELSE open_call_id END,
                updated_at=:now
            WHERE id=:id AND {lease_clause}
            """,
            {
                **sp,
                "due_at": ts(client.due_at),
                "next_dial_at": ts(client.next_dial_at),
                "window_closes_at": ts(client.window_closes_at),
                "slack_key": ts(_slack(client)),
                "cap_until": ts(client.cap_until),
                "priority": client.priority,
                "campaign": client.campaign,
                "reason": client.reason,
                "call_id": call_id,
                "now": ts(now),
                "id": client_id,
                **dict(zip(("l1", "l2"), lease_args)),
            },
        )
        if cur.rowcount != 1:
            raise LeaseLost(client_id)
        db.execute(
            """
            UPDATE calls SET status=?, provider_call_id=COALESCE(?, provider_call_id), answered_at=?, ended_at=?,
                ring_s=?, talk_s=?, guideline=?, disposition=?, disposition_at=?, note=COALESCE(?, note), error=?,
                state_before=COALESCE(state_before, ?)
            WHERE call_id=?
            """,
            (
                call.status.value, call.provider_call_id, ts(call.answered_at), ts(call.ended_at), call.ring_s,
                call.talk_s, call.guideline.value if call.guideline else None,
                call.disposition.value if call.disposition else None, ts(call.disposition_at), call.note,
                call.error, _json(call.state_before.as_data()) if call.state_before else None, call_id,
            ),
        )  # fmt: skip
        db.execute(
            "INSERT INTO events(at, client_id, call_id, kind, from_stage, to_stage, reason, data) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (
                ts(now), client_id, call_id, event.kind,
                event.from_stage.value if event.from_stage else None,
                event.to_stage.value if event.to_stage else None,
                event.reason, _json(event.data),
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
                db, call_id, client_id, "lease_token=:l1", (lease_token,), call, client, event, now
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
            row = db.execute("SELECT client_id, disposition FROM calls WHERE call_id=?", (call_id,)).fetchone()
            if row is None:
                raise KeyError(call_id)
            found = Disposition(row[1]) if row[1] else None
            if found is not expected:
                raise DispositionConflict(call_id, found)
            self._write_outcome(
                db, call_id, row[0], "(lease_until IS NULL OR lease_until <= :l1)", (ts(now),), call, client, event, now
            )

        await self._in_thread(work)

    async def mark_all_for_schedule(self) -> int:
        return await self._write("UPDATE clients SET needs_schedule=1 WHERE stage <> 'dnc' AND needs_schedule=0")

    async def expire_leases(self, owner: str, now: datetime) -> int:
        async with self._tx() as db:
            # Claimed but never dialed: simply released.
            cur = await db.execute(
                "UPDATE clients SET lease_owner=NULL, lease_token=NULL, lease_until=NULL "
                "WHERE lease_owner=? AND open_call_id IS NULL",
                (owner,),
            )
            released = cur.rowcount
            # In a call when we died: expired, so reconciliation takes them over now.
            cur = await db.execute(
                "UPDATE clients SET lease_until=? WHERE lease_owner=? AND open_call_id IS NOT NULL",
                (ts(now), owner),
            )
            return released + cur.rowcount

    async def heartbeat(self, owner: str, lease_until: datetime, now: datetime | None = None) -> int:
        async with self._tx() as db:
            if now is not None:
                await db.execute(
                    "INSERT INTO workers(worker, seen_at) VALUES (?, ?) "
                    "ON CONFLICT(worker) DO UPDATE SET seen_at=MAX(seen_at, excluded.seen_at)",
                    (owner, ts(now)),
                )
            cur = await db.execute(
                "UPDATE clients SET lease_until=? WHERE lease_owner=? AND lease_until < ?",
                (ts(lease_until), owner, ts(lease_until)),
            )
            return cur.rowcount

    async def worker_seen_at(self, worker: str) -> datetime | None:
        row = await self._one("SELECT seen_at FROM workers WHERE worker=?", (worker,))
        return from_ts(row[0]) if row else None

    async def lines_in_use(self, campaign: str, now: datetime) -> int:
        row = await self._one(f"SELECT COUNT(*) FROM clients WHERE campaign=:campaign AND {_BUSY}",
                              {"campaign": campaign, "now": ts(now)})  # fmt: skip
        return int(row[0]) if row else 0

    async def orphaned_calls(self, now: datetime, limit: int) -> list[CallRecord]:
        cols = ", ".join(f"calls.{c.strip()}" for c in _CALL_READ.split(","))
        return [_call(r) for r in await self.db.execute_fetchall(
            # Driven by the small partial index of open calls, joined by primary key:
            # never a scan of the clients table.
            f"SELECT {cols} FROM calls JOIN clients ON clients.id = calls.client_id "
            "WHERE calls.status='dialing' AND clients.open_call_id = calls.call_id "
            "AND (clients.lease_until IS NULL OR clients.lease_until <= ?) LIMIT ?",
            (ts(now), limit),
        )]

    async def rescue(self, call_id: str, owner: str, now: datetime, lease_until: datetime) -> Claim | None:
        async with self._tx() as db:
            async with db.execute(
                "UPDATE clients SET lease_owner=:o, lease_token=lower(hex(randomblob(12))), lease_until=:u "
                f"WHERE id=(SELECT client_id FROM calls WHERE call_id=:c) AND open_call_id=:c "
                f"AND (lease_until IS NULL OR lease_until <= :n) RETURNING {_CLIENT_COLS}",
                {"c": call_id, "n": ts(now), "o": owner, "u": ts(lease_until)},
            ) as cur:
                row = await cur.fetchone()
        if row is None:
            return None
        client = _client(row)
        return Claim(client=client, lease_token=client.lease_token or "", lease_until=lease_until)

    # ------------------------------------------------------------ reading

    async def get_client(self, client_id: str) -> QueuedClient | None:
        row = await self._one(f"SELECT {_CLIENT_COLS} FROM clients WHERE id=?", (client_id,))
        return _client(row) if row else None

    async def get_call(self, call_id: str) -> CallRecord | None:
        row = await self._one(f"SELECT {_CALL_READ} FROM calls WHERE call_id=?", (call_id,))
        return _call(row) if row else None

    async def calls_between(self, start: datetime, end: datetime) -> list[CallRecord]:
        return [_call(r) for r in await self.db.execute_fetchall(
            f"SELECT {_CALL_READ} FROM calls WHERE started_at >= ? AND started_at < ? ORDER BY started_at, call_id",
            (ts(start), ts(end)),
        )]

    async def client_calls(self, client_id: str, limit: int = 20) -> list[CallRecord]:
        return [_call(r) for r in await self.db.execute_fetchall(
            f"SELECT {_CALL_READ} FROM calls WHERE client_id=? ORDER BY started_at DESC LIMIT ?", (client_id, limit)
        )]

    async def contact_times(self, client_id: str, since: datetime, conversations_only: bool) -> list[datetime]:
        q = "SELECT started_at FROM calls WHERE client_id=? AND started_at >= ?"
        if conversations_only:
            q += " AND status='answered'"
        else:
            # Calls the dialer itself cut are not the client's attempts.
            q += " AND status NOT IN ('canceled', 'interrupted')"
        return [from_ts(r[0]) for r in await self.db.execute_fetchall(q + " ORDER BY started_at", (client_id, ts(since)))]  # type: ignore[misc]

    async def events_for(self, client_id: str, limit: int = 50) -> list[EventRecord]:
        return [_event(r) for r in await self.db.execute_fetchall(
            "SELECT id, at, client_id, call_id, kind, from_stage, to_stage, reason, data FROM events "
            "WHERE client_id=? ORDER BY id DESC LIMIT ?",
            (client_id, limit),
        )]

    async def events_between(self, start: datetime, end: datetime) -> list[EventRecord]:
        return [_event(r) for r in await self.db.execute_fetchall(
            "SELECT id, at, client_id, call_id, kind, from_stage, to_stage, reason, data FROM events "
            "WHERE at >= ? AND at < ? ORDER BY id",
            (ts(start), ts(end)),
        )]

    async def due_clients(self, campaign: str, until: datetime, limit: int | None = None) -> list[QueuedClient]:
        q = (
            f"SELECT {_CLIENT_COLS} FROM clients WHERE campaign=? AND next_dial_at IS NOT NULL AND next_dial_at < ? "
            "ORDER BY priority, slack_key, window_closes_at, next_dial_at, id"
        )
        args: tuple[Any, ...] = (campaign, ts(until))
        if limit is not None:
            q += " LIMIT ?"
            args += (limit,)
        return [_client(r) for r in await self.db.execute_fetchall(q, args)]

    async def next_dial_after(self, now: datetime, campaign: str | None = None) -> datetime | None:
        if campaign is None:
            row = await self._one("SELECT MIN(next_dial_at) FROM clients WHERE next_dial_at > ?", (ts(now),))
        else:
            row = await self._one(
                "SELECT MIN(next_dial_at) FROM clients WHERE campaign=? AND next_dial_at > ?", (campaign, ts(now))
            )
        return from_ts(row[0]) if row and row[0] else None

    async def queue_stats(self, campaign: str, now: datetime) -> dict[str, int]:
        n = ts(now)
        row = await self._one(
            """
            SELECT
              SUM(CASE WHEN lease_until > :n OR open_call_id IS NOT NULL THEN 1 ELSE 0 END),
              SUM(CASE WHEN next_dial_at <= :n AND window_closes_at > :n AND open_call_id IS NULL
                        AND (lease_until IS NULL OR lease_until <= :n) THEN 1 ELSE 0 END),
              COUNT(*),
              SUM(CASE WHEN window_closes_at <= :n AND open_call_id IS NULL
                        AND (lease_until IS NULL OR lease_until <= :n) THEN 1 ELSE 0 END)
            FROM clients WHERE campaign=:c AND next_dial_at IS NOT NULL
            """,
            {"n": n, "c": campaign},
        )
        lines, due, queued, passed = row or (0, 0, 0, 0)
        return {"lines_in_use": lines or 0, "due_now": due or 0, "queued": queued or 0, "window_passed": passed or 0}

    # ------------------------------------------------------------ plans and daily jobs

    async def count_due(self, campaign: str, until: datetime) -> int:
        row = await self._one(
            "SELECT COUNT(*) FROM clients WHERE campaign=? AND next_dial_at IS NOT NULL AND next_dial_at < ?",
            (campaign, ts(until)),
        )
        return int(row[0]) if row else 0

    async def due_groups(self, campaign: str, until: datetime) -> list[DueGroup]:
        rows = await self.db.execute_fetchall(
            "SELECT timezone, schedule, priority, next_dial_at, MIN(window_closes_at), MIN(slack_key), COUNT(*) "
            "FROM clients WHERE campaign=? AND next_dial_at IS NOT NULL AND next_dial_at < ? "
            "GROUP BY timezone, schedule, priority, next_dial_at",
            (campaign, ts(until)),
        )
        return [
            DueGroup(r[0], r[1], r[2], from_ts(r[3]), from_ts(r[4]), from_ts(r[5]), r[6])  # type: ignore[arg-type]
            for r in rows
        ]

    async def form_plan(
        self, campaign: str, day: date, until: datetime, dialed: Mapping[GroupKey, int], now: datetime
    ) -> int:
        d = day.isoformat()
        capacity = sum(max(0, k) for k in dialed.values())
        async with self._tx() as db:
            await db.execute("DELETE FROM plan_entries WHERE campaign=? AND day=?", (campaign, d))
            # The forecast per group, joined by key: the claims take a group's clients in id
            # order, and clients of tied groups (see below) in id order across them.
            await db.execute(
                "CREATE TEMP TABLE IF NOT EXISTS plan_fit "
                "(tz TEXT, sched TEXT, prio INTEGER, nda TEXT, k INTEGER, PRIMARY KEY (tz, sched, prio, nda))"
            )
            await db.execute("DELETE FROM temp.plan_fit")
            await db.executemany(
                "INSERT OR REPLACE INTO temp.plan_fit VALUES (?,?,?,?,?)",
                [(tz, sched or "", prio, ts(nda), k) for (tz, sched, prio, nda), k in dialed.items() if k > 0],
            )
            cur = await db.execute(
                """
                INSERT INTO plan_entries(campaign, day, position, client_id, priority, next_dial_at,
                                         window_closes_at, fits)
                SELECT ?, ?, ROW_NUMBER() OVER (ORDER BY q.priority, q.slack_key, q.window_closes_at,
                                                         q.next_dial_at, q.id) - 1,
                       q.id, q.priority, q.next_dial_at, q.window_closes_at, q.trn <= q.class_k
                FROM (SELECT g.*,
                             -- Clients the claims cannot tell apart but by id (the same class,
                             -- slack, window and dial moment, even in another zone or schedule)
                             -- are taken in id order across their groups: as many of such a tie
                             -- class fit as the per-group forecast says, but its first by id.
                             ROW_NUMBER() OVER (PARTITION BY priority, slack_key, window_closes_at, next_dial_at
                                                ORDER BY id) AS trn,
                             SUM(CASE WHEN grn <= COALESCE(k, 0) THEN 1 ELSE 0 END)
                                 OVER (PARTITION BY priority, slack_key, window_closes_at, next_dial_at) AS class_k
                      FROM (SELECT c.id, c.timezone, c.schedule, c.priority, c.next_dial_at, c.window_closes_at,
                                   c.slack_key, f.k,
                                   ROW_NUMBER() OVER (PARTITION BY c.timezone, c.schedule, c.priority, c.next_dial_at
                                                      ORDER BY c.id) AS grn
                            FROM clients c
                            LEFT JOIN temp.plan_fit f
                              ON f.tz = c.timezone AND f.sched = COALESCE(c.schedule, '') AND f.prio = c.priority
                             AND f.nda = c.next_dial_at
                            WHERE c.campaign=? AND c.next_dial_at IS NOT NULL AND c.next_dial_at < ?) g) q
                """,
                (campaign, d, campaign, ts(until)),
            )
            due = cur.rowcount
            await db.execute("DELETE FROM temp.plan_fit")
            await db.execute(
                "INSERT INTO plans(campaign, day, capacity, created_at) VALUES (?,?,?,?) "
                "ON CONFLICT(campaign, day) DO UPDATE SET capacity=excluded.capacity, created_at=excluded.created_at",
                (campaign, d, capacity, ts(now)),
            )
        return due

    async def get_plan(self, campaign: str, day: date, limit: int | None = None) -> Plan | None:
        d = day.isoformat()
        head = await self._one(
            "SELECT capacity, created_at, (SELECT COUNT(*) FROM plan_entries WHERE campaign=? AND day=?) "
            "FROM plans WHERE campaign=? AND day=?",
            (campaign, d, campaign, d),
        )
        if head is None:
            return None
        q = (
            "SELECT client_id, priority, next_dial_at, window_closes_at, fits FROM plan_entries "
            "WHERE campaign=? AND day=? ORDER BY position"
        )
        args: tuple[Any, ...] = (campaign, d)
        if limit is not None:
            q += " LIMIT ?"
            args += (limit,)
        async with self.db.execute(q, args) as cur:
            entries = [
                PlanEntry(r[0], r[1], from_ts(r[2]), from_ts(r[3]), bool(r[4]))  # type: ignore[arg-type]
                for r in await cur.fetchall()
            ]
        return Plan(
            campaign=campaign, day=day, capacity=head[0], due=head[2], entries=entries,
            created_at=from_ts(head[1]),  # type: ignore[arg-type]
        )  # fmt: skip

    async def plan_position(self, campaign: str, day: date, client_id: str) -> tuple[int, int, bool] | None:
        d = day.isoformat()
        row = await self._one(
            "SELECT position, fits, (SELECT COUNT(*) FROM plan_entries WHERE campaign=? AND day=?) "
            "FROM plan_entries WHERE campaign=? AND day=? AND client_id=?",
            (campaign, d, campaign, d, client_id),
        )
        return (row[0] + 1, row[2], bool(row[1])) if row else None

    async def plan_counts(
        self, campaign: str, day: date, start: datetime, end: datetime, now: datetime
    ) -> PlanCounts | None:
        d = day.isoformat()
        if await self._one("SELECT 1 FROM plans WHERE campaign=? AND day=?", (campaign, d)) is None:
            return None
        row = await self._one(
            """
            SELECT COUNT(*), SUM(dialed),
                   SUM(CASE WHEN dialed = 0 AND (:now >= :end OR next_dial_at IS NULL OR next_dial_at >= :end)
                       THEN 1 ELSE 0 END)
            FROM (SELECT EXISTS (SELECT 1 FROM calls WHERE calls.client_id = pe.client_id
                                 AND calls.started_at >= :start AND calls.started_at < :end) AS dialed,
                         c.next_dial_at
                  FROM plan_entries pe LEFT JOIN clients c ON c.id = pe.client_id
                  WHERE pe.campaign = :campaign AND pe.day = :day)
            """,
            {"start": ts(start), "end": ts(end), "now": ts(now), "campaign": campaign, "day": d},
        )
        return PlanCounts(int(row[0]), int(row[1] or 0), int(row[2] or 0)) if row else PlanCounts(0, 0, 0)

    async def try_start_job(self, job: str, campaign: str, day: date, owner: str, now: datetime) -> bool:
        async with self._tx() as db:
            # A run whose worker died before finishing is taken over after JOB_TAKEOVER.
            cur = await db.execute(
                "INSERT INTO job_runs(job, campaign, day, owner, started_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(job, campaign, day) DO UPDATE SET owner=excluded.owner, started_at=excluded.started_at "
                "WHERE job_runs.finished_at IS NULL AND job_runs.started_at < ?",
                (job, campaign, day.isoformat(), owner, ts(now), ts(now - JOB_TAKEOVER)),
            )
            return cur.rowcount == 1

    async def finish_job(self, job: str, campaign: str, day: date, now: datetime) -> None:
        await self._write(
            "UPDATE job_runs SET finished_at=? WHERE job=? AND campaign=? AND day=?",
            (ts(now), job, campaign, day.isoformat()),
        )


def _event(r: Sequence[Any]) -> EventRecord:
    return EventRecord(
        id=r[0], at=from_ts(r[1]), client_id=r[2], call_id=r[3], kind=r[4], from_stage=r[5],  # type: ignore[arg-type]
        to_stage=r[6], reason=r[7], data=json.loads(r[8] or "{}"),
    )  # fmt: skip


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies (BEGIN ... END;) whole."""
    statements: list[str] = []
    current: list[str] = []
    in_trigger = False
    for line in script.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        current.append(line)
        if stripped.upper().startswith("CREATE TRIGGER"):
            in_trigger = True
        if stripped.endswith(";") and (not in_trigger or stripped.upper().endswith("END;")):
            statements.append("\n".join(current))
            current = []
            in_trigger = False
    if current:
        statements.append("\n".join(current))
    return statements


__all__ = ["SqliteStore", "ts", "from_ts"]
