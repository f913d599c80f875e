"""The PostgreSQL store: many workers on many hosts share one queue (asyncpg pool).

Same contract as the SQLite store (tests/integration/test_store_contract.py runs
against both). What differs is how the guarantees are kept with concurrent writers:

- claims are one `UPDATE ... WHERE id = ANY(ARRAY(SELECT ... FOR UPDATE SKIP LOCKED))`:
  workers never queue behind each other's row locks;
- campaign lines (`max_in_use`) are global: claims of one campaign with a line limit
  take a transaction-scoped advisory lock, then count the live leases and claim the
  rest in one statement;
- outcomes, call starts and dispositions are single statements (data-modifying CTEs):
  the client row guarded by its lease token, the call row and the event commit
  together or not at all, in one round trip;
- migrations take an advisory lock in their transaction, so workers starting at once
  apply each one exactly once;
- `events` refuses UPDATE, DELETE and TRUNCATE (a trigger): the audit trail is
  append-only.

Needs PostgreSQL 13 or later (gen_random_uuid() in core). Instants are `timestamptz`
(microseconds kept; SQLite keeps whole seconds) and come back as aware UTC datetimes.
A naive datetime reaching the store is an error, as in SQLite (asyncpg would silently
read it as UTC).

An optional `schema` (constructor, or `?schema=NAME`, `?search_path=NAME` or
`?options=-csearch_path=NAME` in the DSN) puts every table in that schema; it is set
as the search_path of each pooled connection at start-up and created by `migrate()`.
Connection loss is not hidden: methods raise (asyncpg errors, OSError) and the caller
decides to pause and retry.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

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
    AccessDenied,
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
    denied_message,
    newer_schema_message,
)

# Versioned like sqlite.MIGRATIONS (the numbering is this store's own): entry n brings
# the schema from version n-1 to n. Never edit a released entry; append a new one.
MIGRATIONS: list[str] = [
    # 1: the whole first schema (the equivalent of SQLite's versions 1-3)
    """
    CREATE TABLE clients (
        id text PRIMARY KEY,
        name text NOT NULL,
        phone text NOT NULL,
        timezone text NOT NULL,
        country text NOT NULL,
        schedule text,
        campaign text,
        campaign_pinned boolean NOT NULL DEFAULT false,
        stage text NOT NULL DEFAULT 'prospect',
        complaint boolean NOT NULL DEFAULT false,
        hot_calls integer NOT NULL DEFAULT 0,
        attempts_today integer NOT NULL DEFAULT 0,
        attempts_total integer NOT NULL DEFAULT 0,
        attempts_day date,
        callback_at timestamptz,
        awaiting_disposition boolean NOT NULL DEFAULT false,
        invalid_number boolean NOT NULL DEFAULT false,
        due_at timestamptz,
        next_dial_at timestamptz,
        window_closes_at timestamptz,
        cap_until timestamptz,
        priority integer NOT NULL DEFAULT 4,
        schedule_reason text,
        needs_schedule boolean NOT NULL DEFAULT true,
        lease_owner text,
        lease_token text,
        lease_until timestamptz,
        open_call_id text,
        attributes jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
    ) WITH (fillfactor = 90);
    -- Claim: equality on campaign, then walk in call order; rows not yet due are skipped.
    CREATE INDEX clients_claim ON clients(campaign, priority, window_closes_at)
        WHERE next_dial_at IS NOT NULL;
    CREATE INDEX clients_next ON clients(next_dial_at) WHERE next_dial_at IS NOT NULL;
    CREATE INDEX clients_stale ON clients(window_closes_at) WHERE next_dial_at IS NOT NULL;
    CREATE INDEX clients_needs ON clients(id) WHERE needs_schedule;
    CREATE INDEX clients_lease ON clients(lease_owner) WHERE lease_owner IS NOT NULL;
    -- Live leases per campaign (global campaign lines).
    CREATE INDEX clients_leased ON clients(campaign, lease_until) WHERE lease_owner IS NOT NULL;

    CREATE TABLE calls (
        call_id text PRIMARY KEY,
        client_id text NOT NULL REFERENCES clients(id),
        campaign text NOT NULL,
        agent text,
        phone text NOT NULL,
        client_tz text NOT NULL,
        attempt integer NOT NULL,
        started_at timestamptz NOT NULL,
        local_day date NOT NULL,
        status text NOT NULL,
        provider text NOT NULL,
        provider_call_id text,
        answered_at timestamptz,
        ended_at timestamptz,
        ring_s double precision NOT NULL DEFAULT 0,
        talk_s double precision NOT NULL DEFAULT 0,
        guideline text,
        disposition text,
        disposition_at timestamptz,
        note text,
        error text,
        allowed_by text NOT NULL,
        lease_token text
    );
    CREATE INDEX calls_started ON calls(started_at);
    CREATE INDEX calls_client ON calls(client_id, started_at);
    -- Open calls only: small however long the history; orphaned_calls starts here.
    CREATE INDEX calls_open ON calls(call_id) WHERE status = 'dialing';
    CREATE INDEX calls_provider ON calls(provider_call_id) WHERE provider_call_id IS NOT NULL;

    CREATE TABLE events (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at timestamptz NOT NULL,
        client_id text NOT NULL,
        call_id text,
        kind text NOT NULL,
        from_stage text,
        to_stage text,
        reason text NOT NULL,
        data jsonb NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_client ON events(client_id, id);
    CREATE INDEX events_at ON events(at);
    -- Append-only: the audit trail cannot be edited through SQL by accident.
    CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'events are append-only';
    END
    $$;
    CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
        FOR EACH ROW EXECUTE FUNCTION events_append_only();
    CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
        FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

    CREATE TABLE plans (
        campaign text NOT NULL,
        day date NOT NULL,
        capacity integer NOT NULL,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (campaign, day)
    );
    CREATE TABLE plan_entries (
        campaign text NOT NULL,
        day date NOT NULL,
        position integer NOT NULL,
        client_id text NOT NULL,
        priority integer NOT NULL,
        next_dial_at timestamptz NOT NULL,
        window_closes_at timestamptz,
        fits boolean NOT NULL,
        PRIMARY KEY (campaign, day, position)
    );
    -- `dialer why` finds a client's place in a plan without a scan.
    CREATE INDEX plan_entries_client ON plan_entries(campaign, day, client_id);
    CREATE TABLE job_runs (
        job text NOT NULL,
        campaign text NOT NULL,
        day date NOT NULL,
        owner text NOT NULL,
        started_at timestamptz NOT NULL,
        finished_at timestamptz,
        PRIMARY KEY (job, campaign, day)
    );
    -- Global calls-per-second pacing per campaign (epoch seconds of the next free slot).
    CREATE TABLE pacing (campaign text PRIMARY KEY, next_start double precision NOT NULL);
    """,
    # 2: one call per client and attempt, enforced by the database itself (SQLite's 4)
    """
    CREATE UNIQUE INDEX calls_attempt ON calls(client_id, attempt);
    """,
    # 3: what the last import said (a re-import applies only what the CRM changed since),
    # and the client's state before a call's first disposition (for a correction). A
    # client never called has exactly what its import said; one called before may have
    # moved on, so its last import is unknown (imported_at NULL) and its next import
    # only records it. (SQLite's 5.)
    """
    ALTER TABLE clients ADD COLUMN imported_stage text, ADD COLUMN imported_next_contact timestamptz,
        ADD COLUMN imported_complaint boolean, ADD COLUMN imported_at timestamptz;
    ALTER TABLE calls ADD COLUMN state_before jsonb;
    UPDATE clients SET imported_stage = CASE WHEN stage = 'dnc' THEN NULL ELSE stage END,
        imported_next_contact = due_at, imported_complaint = complaint, imported_at = updated_at
    WHERE NOT EXISTS (SELECT 1 FROM calls WHERE calls.client_id = clients.id);
    """,
    # 4: claims take the least slack first (SQLite's 6). Existing rows keep their
    # closing-window order until placed again (all are marked for it). Ids compare
    # bytewise ("C"), as in SQLite, so both stores take ties in the same order.
    """
    ALTER TABLE clients ADD COLUMN slack_key timestamptz;
    UPDATE clients SET slack_key = window_closes_at, needs_schedule = true WHERE next_dial_at IS NOT NULL;
    DROP INDEX clients_claim;
    CREATE INDEX clients_claim ON clients(campaign, priority, slack_key, window_closes_at, next_dial_at,
        id COLLATE "C")
        WHERE next_dial_at IS NOT NULL;
    """,
    # 5: each worker's latest readiness finding per provider (`dialer status` reads them)
    """
    CREATE TABLE provider_readiness (
        owner text NOT NULL,
        provider text NOT NULL,
        ready boolean NOT NULL,
        reason text,
        since timestamptz NOT NULL,
        checked_at timestamptz NOT NULL,
        PRIMARY KEY (owner, provider)
    );
    """,
    # 6: short leases renewed by a heartbeat (SQLite's 8): when each worker was last alive
    # (a crashed call ends then), which worker placed each call, and the lines a campaign
    # has in use (live leases and calls not yet settled) counted without a scan
    """
    CREATE TABLE workers (worker text PRIMARY KEY, seen_at timestamptz NOT NULL);
    ALTER TABLE calls ADD COLUMN worker text;
    CREATE INDEX clients_busy ON clients(campaign) WHERE lease_owner IS NOT NULL OR open_call_id IS NOT NULL;
    """,
    # issue 12: the people role (accounts, tokens, presence, pauses, audit): dialer/store/people.py
    _people.schema_sql("postgres"),
]

_CLIENT_FIELDS = (
    "id", "name", "phone", "timezone", "country", "schedule", "campaign", "campaign_pinned", "stage", "complaint",
    "hot_calls", "attempts_today", "attempts_total", "attempts_day", "callback_at", "awaiting_disposition",
    "invalid_number", "due_at", "next_dial_at", "window_closes_at", "cap_until", "priority", "schedule_reason",
    "needs_schedule", "lease_owner", "lease_token", "lease_until", "open_call_id", "attributes", "slack_key",
)  # fmt: skip
_CLIENT_COLS = ", ".join(_CLIENT_FIELDS)
_CLAIM_COLS = ", ".join(f"c.{f}" for f in _CLIENT_FIELDS)
_CALL_FIELDS = (
    "call_id", "client_id", "campaign", "agent", "phone", "client_tz", "attempt", "started_at", "local_day",
    "status", "provider", "provider_call_id", "answered_at", "ended_at", "ring_s", "talk_s", "guideline",
    "disposition", "disposition_at", "note", "error", "allowed_by", "worker",
)  # fmt: skip
_CALL_COLS = ", ".join(_CALL_FIELDS)
# What a CallRecord is read from (written elsewhere: state_before comes with a disposition).
_CALL_READ = _CALL_COLS + ", state_before"
_EVENT_COLS = "id, at, client_id, call_id, kind, from_stage, to_stage, reason, data"

_json = json.JSONEncoder(ensure_ascii=False, default=str).encode


def _ts(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("naive datetime reached the store")
    return value


def _count(status: str) -> int:
    """Rows affected, from a command tag such as 'UPDATE 3' or 'INSERT 0 1'."""
    try:
        return int(status.rsplit(" ", 1)[-1])
    except ValueError:
        return 0


class _Priorities(dict[ClientState, int]):
    def __missing__(self, state: ClientState) -> int:
        self[state] = value = int(priority_of(state))
        return value


_PRIORITY = _Priorities()


def _client(r: Sequence[Any]) -> QueuedClient:
    (
        id_, name, phone, tz, country, schedule, campaign, pinned, stage, complaint, hot_calls,
        a_today, a_total, a_day, callback_at, awaiting, invalid, due_at, next_dial_at, closes, cap_until,
        priority, reason, needs, l_owner, l_token, l_until, open_call, attributes, slack_key,
    ) = r  # fmt: skip
    state = ClientState(
        stage=Stage(stage),
        complaint=complaint,
        hot_calls=hot_calls,
        attempts_today=a_today,
        attempts_total=a_total,
        attempts_day=a_day,
        callback_at=callback_at,
        awaiting_disposition=awaiting,
        invalid_number=invalid,
    )
    return QueuedClient(
        id=id_, name=name, phone=phone, timezone=tz, country=country, schedule=schedule, campaign=campaign,
        campaign_pinned=pinned, state=state, due_at=due_at, next_dial_at=next_dial_at, window_closes_at=closes,
        cap_until=cap_until, priority=priority, schedule_reason=reason, needs_schedule=needs, lease_owner=l_owner,
        lease_token=l_token, lease_until=l_until, open_call_id=open_call,
        attributes=json.loads(attributes) if attributes and attributes != "{}" else {}, slack_key=slack_key,
    )  # fmt: skip


def _call(r: Sequence[Any]) -> CallRecord:
    (
        call_id, client_id, campaign, agent, phone, tz, attempt, started, local_day, status, provider,
        pcid, answered, ended, ring_s, talk_s, guideline, disposition, disp_at, note, error, allowed_by, worker,
        before,
    ) = r  # fmt: skip
    return CallRecord(
        call_id=call_id, client_id=client_id, campaign=campaign, agent=agent, phone=phone, client_tz=tz,
        attempt=attempt, started_at=started, local_day=local_day, status=CallStatus(status), provider=provider,
        provider_call_id=pcid, answered_at=answered, ended_at=ended, ring_s=ring_s, talk_s=talk_s,
        guideline=Guideline(guideline) if guideline else None,
        disposition=Disposition(disposition) if disposition else None,
        disposition_at=disp_at, note=note, error=error, allowed_by=allowed_by, worker=worker,
        state_before=ClientState.from_data(json.loads(before)) if before else None,
    )  # fmt: skip


def _event(r: Sequence[Any]) -> EventRecord:
    return EventRecord(
        id=r[0], at=r[1], client_id=r[2], call_id=r[3], kind=r[4], from_stage=r[5], to_stage=r[6], reason=r[7],
        data=json.loads(r[8]) if r[8] else {},
    )  # fmt: skip


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_OPTIONS_SEARCH_PATH = re.compile(r"-c\s*search_path\s*=\s*([^\s,]+)")


def _split_dsn(dsn: str) -> tuple[str, str | None]:
    """The DSN without our own `schema` parameter, and the schema it names (if any):
    `?schema=NAME`, else the first element of `?search_path=` or of `-c search_path=`
    in `?options=` (both of which asyncpg passes to the server as they are)."""
    parts = urlsplit(dsn)
    if not parts.query:
        return dsn, None
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = [(k, v) for k, v in query if k != "schema"]
    if schema is None:
        path = next((v for k, v in rest if k == "search_path"), None)
        if path is None:
            options = next((v for k, v in rest if k == "options"), "")
            m = _OPTIONS_SEARCH_PATH.search(options)
            path = m.group(1) if m else None
        if path:
            schema = path.split(",")[0].strip().strip('"') or None
    return urlunsplit(parts._replace(query=urlencode(rest))), schema


_SECRET_PARAM = re.compile(r"pass|secret|token|key", re.I)


def redact_dsn(dsn: str) -> str:
    """The DSN for messages: no password (in the user part or as a query parameter)."""
    try:
        parts = urlsplit(dsn)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hosts = netloc.rpartition("@")
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}@{hosts}" if user else hosts
        query = urlencode(
            [(k, "***" if _SECRET_PARAM.search(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        )
        return urlunsplit(parts._replace(netloc=netloc, query=query))
    except ValueError:
        return "postgresql://(unparsable DSN)"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _no_reset(_con: asyncpg.Connection) -> None:
    """The store keeps no session state (no SET, cursors, LISTEN or session advisory
    locks; open transactions are still rolled back by the pool): skip the reset query
    asyncpg would otherwise send on every release, one round trip per call."""


class PostgresStore(Store):
    known_schema_version = len(MIGRATIONS)
    connection_errors = (
        ConnectionError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
        asyncpg.CannotConnectNowError,
    )  # fmt: skip
    denied_errors = (asyncpg.InsufficientPrivilegeError,)

    def __init__(
        self,
        dsn: str,
        *,
        schema: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 10.0,
        upsert_batch: int = 20_000,
    ):
        self.dsn, dsn_schema = _split_dsn(dsn)
        self.schema = schema or dsn_schema
        self.min_size = min_size
        self.max_size = max_size
        self.connect_timeout = connect_timeout
        self.upsert_batch = upsert_batch
        self._pool: asyncpg.Pool | None = None
        # Advisory lock keys are per schema: two deployments (or test schemas) sharing
        # a database never wait for each other.
        self._lock_ns = f"dialer.{self.schema or ''}."

    # ------------------------------------------------------------ life cycle

    @property
    def people(self) -> _people.PostgresPeople:  # issue 12 hook: the people role
        return _people.PostgresPeople(self)

    def describe(self) -> str:
        where = redact_dsn(self.dsn)
        return f"PostgreSQL {where}" + (f" (schema {self.schema})" if self.schema else "")

    async def open(self, *, create: bool = True) -> None:
        # `create` is moot here: connecting never creates a database, and the schema
        # is created by migrate() only.
        if self._pool is not None:
            return
        settings = {"application_name": "dialer"}
        if self.schema:
            settings["search_path"] = _quote_ident(self.schema)
        try:
            # The whole start-up is bounded: create_pool's own timeout covers each
            # connection attempt, not a server that accepts and then says nothing.
            self._pool = await asyncio.wait_for(
                asyncpg.create_pool(
                    self.dsn,
                    min_size=self.min_size,
                    max_size=self.max_size,
                    timeout=self.connect_timeout,
                    server_settings=settings,
                    reset=_no_reset,
                ),
                timeout=self.connect_timeout * 2,
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError, OverflowError) as exc:
            # ValueError/InterfaceError: a malformed DSN; OverflowError: a port over 65535.
            # Never echo the DSN as given.
            reason = _reason(exc)
            try:
                password = urlsplit(self.dsn).password
            except ValueError:
                password = None
            if password:
                reason = reason.replace(password, "***")
            raise StoreUnreachable(f"cannot connect to {self.describe()}: {reason}") from None

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=10)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pool.terminate()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("store is not open")
        return self._pool

    async def _check_usage(self, con: asyncpg.Connection) -> None:
        """A schema this role may not use hides its tables: say so, rather than "no
        dialer schema" (whose advice, `dialer migrate`, would fail the same way)."""
        if not self.schema:
            return
        usable = await con.fetchval(
            "SELECT has_schema_privilege(oid, 'USAGE') FROM pg_namespace WHERE nspname = $1", self.schema
        )
        if usable is False:
            raise AccessDenied(denied_message(self.describe(), f"permission denied for schema {self.schema} (no USAGE)"))

    async def schema_version(self) -> int:
        async with self.pool.acquire() as con:
            # to_regclass follows the search_path; NULL when the table (or schema) is not there.
            if await con.fetchval("SELECT to_regclass('meta')") is None:
                await self._check_usage(con)
                return 0
            row = await con.fetchval("SELECT value FROM meta WHERE key = 'schema_version'")
        return int(row) if row else 0

    async def migrate(self) -> int:
        async with self.pool.acquire() as con, con.transaction():
            # Workers starting at once: the first applies, the others wait here and
            # then read the new version (READ COMMITTED: the next statement's snapshot
            # is taken after the lock is granted).
            await con.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self._lock_ns + "migrate")
            if self.schema and not await con.fetchval(
                "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", self.schema
            ):
                # Only when missing: a role without CREATE on the database can still
                # migrate inside a schema an administrator made for it.
                await con.execute(f"CREATE SCHEMA {_quote_ident(self.schema)}")
            await self._check_usage(con)
            await con.execute("CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text NOT NULL)")
            row = await con.fetchval("SELECT value FROM meta WHERE key = 'schema_version'")
            version = int(row) if row else 0
            if version > len(MIGRATIONS):
                raise SchemaMismatch(newer_schema_message(self.describe(), version, len(MIGRATIONS)))
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                await con.execute(script)  # no arguments: simple protocol, several statements
                await con.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema_version', $1) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    str(number),
                )
                version = number
        return version

    async def ping(self) -> None:
        await asyncio.wait_for(self.pool.fetchval("SELECT 1"), timeout=self.connect_timeout)

    # ------------------------------------------------------------ import and scheduling

    async def upsert_clients(
        self, records: Sequence[ClientRecord], schedules: Mapping[str, Schedule] | None = None
    ) -> tuple[int, int]:
        if not records:
            return 0, 0
        now = datetime.now(UTC)
        inserted = updated = 0
        async with self.pool.acquire() as con, con.transaction():
            # Imports take turns: the update/insert split below is exact only if no
            # other import inserts the same ids meanwhile.
            await con.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self._lock_ns + "import")
            for start in range(0, len(records), self.upsert_batch):
                args = _upsert_columns(records[start : start + self.upsert_batch], schedules)
                row = await con.fetchrow(_UPSERT, *args, now)
                inserted += row[0]
                updated += row[1]
        return inserted, updated

    async def clients_to_schedule(self, now: datetime, limit: int) -> list[QueuedClient]:
        async with self.pool.acquire() as con:
            rows = await con.fetch(
                f"SELECT {_CLIENT_COLS} FROM clients WHERE needs_schedule AND lease_owner IS NULL LIMIT $1", limit
            )
            if len(rows) < limit:
                # Window passed without a claim (worker down, lines busy): find the next one.
                rows += await con.fetch(
                    f"SELECT {_CLIENT_COLS} FROM clients WHERE next_dial_at IS NOT NULL AND window_closes_at <= $1 "
                    "AND NOT needs_schedule AND lease_owner IS NULL AND open_call_id IS NULL LIMIT $2",
                    _ts(now),
                    limit - len(rows),
                )
        return [_client(r) for r in rows]

    async def set_schedules(self, items: Sequence[Schedule]) -> None:
        if not items:
            return
        last = {s.client_id: s for s in items}  # the same client twice: the last one wins
        await self.pool.execute(
            """
            UPDATE clients c SET next_dial_at = s.next_dial_at, window_closes_at = s.window_closes_at,
                slack_key = s.slack_key,
                schedule_reason = s.reason, campaign = COALESCE(s.campaign, c.campaign), needs_schedule = false,
                priority = """
            + priority_sql("c.complaint")
            + """
            FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::text[], $5::text[],
                        $6::timestamptz[])
                AS s(id, next_dial_at, window_closes_at, reason, campaign, slack_key)
            WHERE c.id = s.id
            """,
            list(last),
            [_ts(s.next_dial_at) for s in last.values()],
            [_ts(s.window_closes_at) for s in last.values()],
            [s.reason for s in last.values()],
            [s.campaign for s in last.values()],
            [_ts(_slack(s)) for s in last.values()],
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
        _ts(now)
        _ts(lease_until)
        horizon = now + WINDOW_HORIZON
        async with self.pool.acquire() as con:
            if max_in_use is None:
                rows = await con.fetch(_CLAIM, owner, lease_until, campaign, now, limit, _PRIORITIES, horizon)
            else:
                async with con.transaction():
                    # Lines are global: claims of this campaign take turns. The claim is a
                    # later statement than the lock, so its snapshot sees every lease
                    # committed before the lock was granted, and it counts them itself.
                    await con.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self._lock_ns + "claim." + campaign)
                    rows = await con.fetch(
                        _CLAIM_LINES, owner, lease_until, campaign, now, limit, _PRIORITIES, horizon, max_in_use
                    )
        clients = sorted((_client(r) for r in rows), key=_call_order)
        return [Claim(client=c, lease_token=c.lease_token or "", lease_until=lease_until) for c in clients]

    async def reserve_start(self, campaign: str, cps: float, now: datetime) -> datetime:
        gap = 1.0 / cps
        t = _ts(now).timestamp()  # type: ignore[union-attr]
        next_start = await self.pool.fetchval(
            "INSERT INTO pacing(campaign, next_start) VALUES ($1, $2) ON CONFLICT (campaign) DO UPDATE "
            "SET next_start = GREATEST(pacing.next_start, $3) + $4 RETURNING next_start",
            campaign,
            t + gap,
            t,
            gap,
        )
        slot = float(next_start) - gap if next_start is not None else t
        return datetime.fromtimestamp(max(slot, t), UTC)

    async def release(self, claim: Claim, schedule: Schedule | None, *, cap_until: datetime | None = None) -> None:
        if schedule is None:
            await self.pool.execute(
                "UPDATE clients SET lease_owner = NULL, lease_token = NULL, lease_until = NULL, "
                "cap_until = COALESCE($3, cap_until) WHERE id = $1 AND lease_token = $2",
                claim.client.id,
                claim.lease_token,
                _ts(cap_until),
            )
        else:
            await self.pool.execute(
                "UPDATE clients SET lease_owner = NULL, lease_token = NULL, lease_until = NULL, next_dial_at = $3, "
                "window_closes_at = $4, schedule_reason = $5, cap_until = COALESCE($6, cap_until), "
                "slack_key = $7 WHERE id = $1 AND lease_token = $2",
                claim.client.id,
                claim.lease_token,
                _ts(schedule.next_dial_at),
                _ts(schedule.window_closes_at),
                schedule.reason,
                _ts(cap_until),
                _ts(_slack(schedule)),
            )

    async def start_call(self, start: CallStart) -> int:
        # One statement: the client's open call (guarded by the lease) and the call row
        # with its attempt number commit together; no row back = the lease moved on.
        attempt = await self.pool.fetchval(
            f"""
            WITH c AS (
                UPDATE clients SET open_call_id = $1 WHERE id = $2 AND lease_token = $3 RETURNING id, lease_owner
            )
            INSERT INTO calls({_CALL_COLS}, lease_token)
            SELECT $1, c.id, $4, $5, $6, $7,
                   (SELECT COALESCE(MAX(attempt), 0) + 1 FROM calls WHERE client_id = $2),
                   $8, $9, 'dialing', $10, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, $11, c.lease_owner, $3
            FROM c
            RETURNING attempt
            """,
            start.call_id, start.client_id, start.lease_token, start.campaign, start.agent, start.phone,
            start.client_tz, _ts(start.started_at), start.local_day, start.provider, start.allowed_by,
        )  # fmt: skip
        if attempt is None:
            raise LeaseLost(start.client_id)
        return int(attempt)

    async def set_provider_call_id(self, call_id: str, provider_call_id: str) -> None:
        await self.pool.execute("UPDATE calls SET provider_call_id = $2 WHERE call_id = $1", call_id, provider_call_id)

    async def report_readiness(self, report: ProviderReadiness) -> None:
        await self.pool.execute(
            "INSERT INTO provider_readiness(owner, provider, ready, reason, since, checked_at) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (owner, provider) DO UPDATE SET ready = EXCLUDED.ready, "
            "reason = EXCLUDED.reason, since = EXCLUDED.since, checked_at = EXCLUDED.checked_at",
            report.owner, report.provider, report.ready, report.reason, _ts(report.since), _ts(report.checked_at),
        )  # fmt: skip

    async def readiness_reports(self, since: datetime) -> list[ProviderReadiness]:
        rows = await self.pool.fetch(
            "SELECT owner, provider, ready, reason, since, checked_at FROM provider_readiness "
            "WHERE checked_at >= $1 ORDER BY provider, owner",
            _ts(since),
        )
        return [
            ProviderReadiness(owner=r[0], provider=r[1], ready=bool(r[2]), reason=r[3], since=r[4], checked_at=r[5])
            for r in rows
        ]

    @staticmethod
    def _outcome_args(
        call_id: str, call: CallUpdate, client: ClientUpdate, event: Event, now: datetime
    ) -> tuple[Any, ...]:
        s = client.state
        return (
            s.stage.value, s.complaint, s.hot_calls, s.attempts_today, s.attempts_total, s.attempts_day,
            _ts(s.callback_at), s.awaiting_disposition, s.invalid_number, _ts(client.due_at),
            _ts(client.next_dial_at), _ts(client.window_closes_at), _ts(client.cap_until), client.priority,
            client.campaign, client.reason, call_id, _ts(now),
            call.status.value, call.provider_call_id, _ts(call.answered_at), _ts(call.ended_at), call.ring_s,
            call.talk_s, call.guideline.value if call.guideline else None,
            call.disposition.value if call.disposition else None, _ts(call.disposition_at), call.note, call.error,
            event.kind, event.from_stage.value if event.from_stage else None,
            event.to_stage.value if event.to_stage else None, event.reason, _json(event.data),
            _json(call.state_before.as_data()) if call.state_before else None,
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
        written = await self.pool.fetchval(
            _RECORD_OUTCOME,
            *self._outcome_args(call_id, call, client, event, now),
            client_id,
            lease_token,
            _ts(_slack(client)),
        )
        if not written:
            raise LeaseLost(client_id)

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
        async with self.pool.acquire() as con, con.transaction():
            # The call row is locked until commit: two agents disposing the same call
            # at once take turns, and the second sees the first one's disposition.
            found = await con.fetchrow("SELECT client_id, disposition FROM calls WHERE call_id = $1 FOR UPDATE", call_id)
            if found is None:
                raise KeyError(call_id)
            current = Disposition(found[1]) if found[1] else None
            if current is not expected:
                raise DispositionConflict(call_id, current)
            row = await con.fetchrow(
                _RECORD_DISPOSITION, *self._outcome_args(call_id, call, client, event, now), _ts(_slack(client))
            )
            if not row[0]:
                raise LeaseLost(found[0])

    async def mark_all_for_schedule(self) -> int:
        return _count(
            await self.pool.execute(
                "UPDATE clients SET needs_schedule = true WHERE stage <> 'dnc' AND NOT needs_schedule"
            )
        )

    async def expire_leases(self, owner: str, now: datetime) -> int:
        # Claimed but never dialed: released. In a call when we died: the lease ends
        # now, so reconciliation takes the call over at once.
        return _count(
            await self.pool.execute(
                """
                UPDATE clients SET
                    lease_owner = CASE WHEN open_call_id IS NULL THEN NULL ELSE lease_owner END,
                    lease_token = CASE WHEN open_call_id IS NULL THEN NULL ELSE lease_token END,
                    lease_until = CASE WHEN open_call_id IS NULL THEN NULL ELSE $2::timestamptz END
                WHERE lease_owner = $1
                """,
                owner,
                _ts(now),
            )
        )

    async def heartbeat(self, owner: str, lease_until: datetime, now: datetime | None = None) -> int:
        if now is None:
            return _count(
                await self.pool.execute(
                    "UPDATE clients SET lease_until = $2 WHERE lease_owner = $1 AND lease_until < $2",
                    owner,
                    _ts(lease_until),
                )
            )
        # One statement, one transaction: the worker's last sign of life and its leases.
        extended = await self.pool.fetchval(
            """
            WITH seen AS (
                INSERT INTO workers(worker, seen_at) VALUES ($1, $3) ON CONFLICT (worker)
                DO UPDATE SET seen_at = GREATEST(workers.seen_at, excluded.seen_at) RETURNING 1
            ), leases AS (
                UPDATE clients SET lease_until = $2 WHERE lease_owner = $1 AND lease_until < $2 RETURNING 1
            )
            SELECT count(*) FROM leases  -- `seen` runs all the same (data-modifying CTE)
            """,
            owner,
            _ts(lease_until),
            _ts(now),
        )
        return int(extended or 0)

    async def worker_seen_at(self, worker: str) -> datetime | None:
        value: datetime | None = await self.pool.fetchval("SELECT seen_at FROM workers WHERE worker = $1", worker)
        return value

    async def lines_in_use(self, campaign: str, now: datetime) -> int:
        return int(await self.pool.fetchval(_LINES_IN_USE, campaign, _ts(now)))

    async def orphaned_calls(self, now: datetime, limit: int) -> list[CallRecord]:
        rows = await self.pool.fetch(_ORPHANED, _ts(now), limit)
        return [_call(r) for r in rows]

    async def rescue(self, call_id: str, owner: str, now: datetime, lease_until: datetime) -> Claim | None:
        row = await self.pool.fetchrow(
            "UPDATE clients SET lease_owner = $2, lease_token = gen_random_uuid()::text, lease_until = $4 "
            "WHERE id = (SELECT client_id FROM calls WHERE call_id = $1) AND open_call_id = $1 "
            f"AND (lease_until IS NULL OR lease_until <= $3) RETURNING {_CLIENT_COLS}",
            call_id,
            owner,
            _ts(now),
            _ts(lease_until),
        )
        if row is None:
            return None
        client = _client(row)
        return Claim(client=client, lease_token=client.lease_token or "", lease_until=lease_until)

    # ------------------------------------------------------------ reading

    async def get_client(self, client_id: str) -> QueuedClient | None:
        row = await self.pool.fetchrow(f"SELECT {_CLIENT_COLS} FROM clients WHERE id = $1", client_id)
        return _client(row) if row else None

    async def get_call(self, call_id: str) -> CallRecord | None:
        row = await self.pool.fetchrow(f"SELECT {_CALL_READ} FROM calls WHERE call_id = $1", call_id)
        return _call(row) if row else None

    async def calls_between(self, start: datetime, end: datetime) -> list[CallRecord]:
        rows = await self.pool.fetch(
            f"SELECT {_CALL_READ} FROM calls WHERE started_at >= $1 AND started_at < $2 "
            'ORDER BY started_at, call_id COLLATE "C"',
            _ts(start),
            _ts(end),
        )
        return [_call(r) for r in rows]

    async def client_calls(self, client_id: str, limit: int = 20) -> list[CallRecord]:
        rows = await self.pool.fetch(
            f"SELECT {_CALL_READ} FROM calls WHERE client_id = $1 ORDER BY started_at DESC LIMIT $2", client_id, limit
        )
        return [_call(r) for r in rows]

    async def contact_times(self, client_id: str, since: datetime, conversations_only: bool) -> list[datetime]:
        q = "SELECT started_at FROM calls WHERE client_id = $1 AND started_at >= $2"
        if conversations_only:
            q += " AND status = 'answered'"
        else:
            # Calls the dialer itself cut are not the client's attempts.
            q += " AND status NOT IN ('canceled', 'interrupted')"
        rows = await self.pool.fetch(q + " ORDER BY started_at", client_id, _ts(since))
        return [r[0] for r in rows]

    async def events_for(self, client_id: str, limit: int = 50) -> list[EventRecord]:
        rows = await self.pool.fetch(
            f"SELECT {_EVENT_COLS} FROM events WHERE client_id = $1 ORDER BY id DESC LIMIT $2", client_id, limit
        )
        return [_event(r) for r in rows]

    async def events_between(self, start: datetime, end: datetime) -> list[EventRecord]:
        rows = await self.pool.fetch(
            f"SELECT {_EVENT_COLS} FROM events WHERE at >= $1 AND at < $2 ORDER BY id", _ts(start), _ts(end)
        )
        return [_event(r) for r in rows]

    async def due_clients(self, campaign: str, until: datetime, limit: int | None = None) -> list[QueuedClient]:
        rows = await self.pool.fetch(
            f"SELECT {_CLIENT_COLS} FROM clients WHERE campaign = $1 AND next_dial_at IS NOT NULL "
            'AND next_dial_at < $2 ORDER BY priority, slack_key, window_closes_at, next_dial_at, id COLLATE "C" LIMIT $3',
            campaign,
            _ts(until),
            limit,  # LIMIT NULL = no limit
        )
        return [_client(r) for r in rows]

    async def next_dial_after(self, now: datetime, campaign: str | None = None) -> datetime | None:
        value: datetime | None = await self.pool.fetchval(
            "SELECT min(next_dial_at) FROM clients WHERE next_dial_at > $1 AND ($2::text IS NULL OR campaign = $2)",
            _ts(now),
            campaign,
        )
        return value

    async def queue_stats(self, campaign: str, now: datetime) -> dict[str, int]:
        row = await self.pool.fetchrow(
            """
            SELECT count(*) FILTER (WHERE lease_until > $2 OR open_call_id IS NOT NULL),
                   count(*) FILTER (WHERE next_dial_at <= $2 AND window_closes_at > $2 AND open_call_id IS NULL
                                    AND (lease_until IS NULL OR lease_until <= $2)),
                   count(*),
                   count(*) FILTER (WHERE window_closes_at <= $2 AND open_call_id IS NULL
                                    AND (lease_until IS NULL OR lease_until <= $2))
            FROM clients WHERE campaign = $1 AND next_dial_at IS NOT NULL
            """,
            campaign,
            _ts(now),
        )
        return {"lines_in_use": row[0], "due_now": row[1], "queued": row[2], "window_passed": row[3]}

    # ------------------------------------------------------------ plans and daily jobs

    async def count_due(self, campaign: str, until: datetime) -> int:
        return int(
            await self.pool.fetchval(
                "SELECT count(*) FROM clients WHERE campaign = $1 AND next_dial_at IS NOT NULL AND next_dial_at < $2",
                campaign,
                _ts(until),
            )
        )

    async def due_groups(self, campaign: str, until: datetime) -> list[DueGroup]:
        rows = await self.pool.fetch(
            "SELECT timezone, schedule, priority, next_dial_at, min(window_closes_at), min(slack_key), count(*) "
            "FROM clients WHERE campaign = $1 AND next_dial_at IS NOT NULL AND next_dial_at < $2 "
            "GROUP BY timezone, schedule, priority, next_dial_at",
            campaign,
            _ts(until),
        )
        return [DueGroup(r[0], r[1], r[2], r[3], r[4], r[5], int(r[6])) for r in rows]

    async def form_plan(
        self, campaign: str, day: date, until: datetime, dialed: Mapping[GroupKey, int], now: datetime
    ) -> int:
        fits = {k: n for k, n in dialed.items() if n > 0}
        capacity = sum(fits.values())
        async with self.pool.acquire() as con, con.transaction():
            await con.execute("DELETE FROM plan_entries WHERE campaign = $1 AND day = $2", campaign, day)
            # The forecast per group, joined by key: the claims take a group's clients in id
            # order, and clients of tied groups (see below) in id order across them.
            status = await con.execute(
                """
                INSERT INTO plan_entries(campaign, day, position, client_id, priority, next_dial_at,
                                         window_closes_at, fits)
                SELECT $1, $2,
                       ROW_NUMBER() OVER (ORDER BY q.priority, q.slack_key, q.window_closes_at, q.next_dial_at,
                                          q.id COLLATE "C") - 1,
                       q.id, q.priority, q.next_dial_at, q.window_closes_at, q.trn <= q.class_k
                FROM (SELECT g.*,
                             -- Clients the claims cannot tell apart but by id (the same class,
                             -- slack, window and dial moment, even in another zone or schedule)
                             -- are taken in id order across their groups: as many of such a tie
                             -- class fit as the per-group forecast says, but its first by id.
                             ROW_NUMBER() OVER (PARTITION BY priority, slack_key, window_closes_at, next_dial_at
                                                ORDER BY id COLLATE "C") AS trn,
                             SUM(CASE WHEN grn <= COALESCE(k, 0) THEN 1 ELSE 0 END)
                                 OVER (PARTITION BY priority, slack_key, window_closes_at, next_dial_at) AS class_k
                      FROM (SELECT c.id, c.timezone, c.schedule, c.priority, c.next_dial_at, c.window_closes_at,
                                   c.slack_key, f.k,
                                   ROW_NUMBER() OVER (PARTITION BY c.timezone, c.schedule, c.priority, c.next_dial_at
                                                      ORDER BY c.id COLLATE "C") AS grn
                            FROM clients c
                            LEFT JOIN unnest($4::text[], $5::text[], $6::int[], $7::timestamptz[], $8::int[])
                                 AS f(tz, sched, prio, nda, k)
                              ON f.tz = c.timezone AND f.sched = COALESCE(c.schedule, '') AND f.prio = c.priority
                             AND f.nda = c.next_dial_at
                            WHERE c.campaign = $1 AND c.next_dial_at IS NOT NULL AND c.next_dial_at < $3) g) q
                """,
                campaign,
                day,
                _ts(until),
                [k[0] for k in fits],
                [k[1] or "" for k in fits],
                [k[2] for k in fits],
                [_ts(k[3]) for k in fits],
                list(fits.values()),
            )
            await con.execute(
                "INSERT INTO plans(campaign, day, capacity, created_at) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (campaign, day) DO UPDATE SET capacity = excluded.capacity, "
                "created_at = excluded.created_at",
                campaign,
                day,
                capacity,
                _ts(now),
            )
        return _count(status)

    async def get_plan(self, campaign: str, day: date, limit: int | None = None) -> Plan | None:
        async with self.pool.acquire() as con:
            head = await con.fetchrow(
                "SELECT capacity, created_at, (SELECT count(*) FROM plan_entries WHERE campaign = $1 AND day = $2) "
                "FROM plans WHERE campaign = $1 AND day = $2",
                campaign,
                day,
            )
            if head is None:
                return None
            rows = await con.fetch(
                "SELECT client_id, priority, next_dial_at, window_closes_at, fits FROM plan_entries "
                "WHERE campaign = $1 AND day = $2 ORDER BY position LIMIT $3",
                campaign,
                day,
                limit,
            )
        entries = [PlanEntry(r[0], r[1], r[2], r[3], r[4]) for r in rows]
        return Plan(campaign=campaign, day=day, capacity=head[0], due=head[2], entries=entries, created_at=head[1])

    async def plan_position(self, campaign: str, day: date, client_id: str) -> tuple[int, int, bool] | None:
        row = await self.pool.fetchrow(
            "SELECT position, fits, (SELECT count(*) FROM plan_entries WHERE campaign = $1 AND day = $2) "
            "FROM plan_entries WHERE campaign = $1 AND day = $2 AND client_id = $3",
            campaign,
            day,
            client_id,
        )
        return (row[0] + 1, row[2], row[1]) if row else None

    async def plan_counts(
        self, campaign: str, day: date, start: datetime, end: datetime, now: datetime
    ) -> PlanCounts | None:
        row = await self.pool.fetchrow(
            """
            SELECT EXISTS (SELECT 1 FROM plans WHERE campaign = $1 AND day = $2),
                   count(*),
                   count(*) FILTER (WHERE dialed),
                   count(*) FILTER (WHERE NOT dialed AND ($5 >= $4 OR next_dial_at IS NULL OR next_dial_at >= $4))
            FROM (SELECT EXISTS (SELECT 1 FROM calls WHERE calls.client_id = pe.client_id
                                 AND calls.started_at >= $3 AND calls.started_at < $4) AS dialed,
                         c.next_dial_at
                  FROM plan_entries pe LEFT JOIN clients c ON c.id = pe.client_id
                  WHERE pe.campaign = $1 AND pe.day = $2) p
            """,
            campaign,
            day,
            _ts(start),
            _ts(end),
            _ts(now),
        )
        if not row[0]:
            return None
        return PlanCounts(int(row[1]), int(row[2]), int(row[3]))

    async def try_start_job(self, job: str, campaign: str, day: date, owner: str, now: datetime) -> bool:
        # A run whose worker died before finishing is taken over after JOB_TAKEOVER.
        status = await self.pool.execute(
            "INSERT INTO job_runs(job, campaign, day, owner, started_at) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (job, campaign, day) DO UPDATE SET owner = EXCLUDED.owner, started_at = EXCLUDED.started_at "
            "WHERE job_runs.finished_at IS NULL AND job_runs.started_at < $6",
            job,
            campaign,
            day,
            owner,
            _ts(now),
            _ts(now - JOB_TAKEOVER),
        )
        return _count(status) == 1

    async def finish_job(self, job: str, campaign: str, day: date, now: datetime) -> None:
        await self.pool.execute(
            "UPDATE job_runs SET finished_at = $4 WHERE job = $1 AND campaign = $2 AND day = $3",
            job,
            campaign,
            day,
            _ts(now),
        )


# One claim statement: skip rows other transactions hold, lease the best `limit` of the
# rest in call order; each row gets its own token. `= ANY(ARRAY(...))`, not `IN (...)`:
# the picked ids become one array and the update looks them up by primary key whatever
# the planner guesses for LIMIT. With `IN`, a generic plan (or a LIMIT that is an
# expression) assumes 10 % of the campaign and hash-joins a scan of the whole table
# (~280 ms a claim at 1M clients instead of ~2 ms).
# One claim statement, one index range per priority class (complaints, callbacks, hot,
# customers, prospects; $6 lists them): within a class the index (campaign, priority,
# slack_key, window_closes_at, next_dial_at, id) is read in call order, least slack first, from "after
# now" (a client inside its window has a key after its last start) to a day ahead ($7;
# a key is at most a day after its opening), so clients due on later days are never
# walked, whatever the size of the queue. Rows other
# transactions hold are skipped. `= ANY(ARRAY(...))`, not `IN (...)`: the picked ids
# become one array and the update looks them up by primary key whatever the planner
# guesses for LIMIT (with `IN`, a generic plan hash-joins a scan of the whole table).
_CLAIM_SQL = """
UPDATE clients c SET lease_owner = $1, lease_token = gen_random_uuid()::text, lease_until = $2
WHERE c.id = ANY(ARRAY(
    SELECT x.id FROM unnest($6::int[]) AS p(priority)
    CROSS JOIN LATERAL (
        SELECT id, slack_key, window_closes_at, next_dial_at FROM clients
        WHERE campaign = $3 AND priority = p.priority AND next_dial_at IS NOT NULL
          AND slack_key > $4 AND slack_key <= $7
          AND window_closes_at > $4 AND next_dial_at <= $4
          AND open_call_id IS NULL
          AND (lease_until IS NULL OR lease_until <= $4)
          AND (cap_until IS NULL OR cap_until <= $4)
        ORDER BY slack_key, window_closes_at, next_dial_at, id COLLATE "C"
        LIMIT {limit}
        FOR UPDATE SKIP LOCKED) x
    ORDER BY p.priority, x.slack_key, x.window_closes_at, x.next_dial_at, x.id COLLATE "C"
    LIMIT {limit}))
RETURNING {cols}
"""
_CLAIM = _CLAIM_SQL.format(limit="$5", cols=_CLAIM_COLS)
# The lines a campaign has in use, for every worker: live leases, and calls not yet
# settled (a dead worker's call holds its line until it is reconciled, so the call rows
# never show more calls in progress than lines). Uses the partial index clients_busy.
_BUSY = (
    "campaign = {campaign} AND (lease_owner IS NOT NULL OR open_call_id IS NOT NULL) "
    "AND (open_call_id IS NOT NULL OR lease_until > {now})"
)
_LINES_IN_USE = "SELECT count(*) FROM clients WHERE " + _BUSY.format(campaign="$1", now="$2")
_CLAIM_LINES = _CLAIM_SQL.format(
    limit="GREATEST(0, LEAST($5, $8 - (SELECT count(*) FROM clients WHERE "
    + _BUSY.format(campaign="$3", now="$4")
    + ")))",
    cols=_CLAIM_COLS,
)  # with global lines ($8 = max_in_use): at most what the lines in use of all workers leave
_PRIORITIES = [int(p) for p in Priority]


def _call_order(c: QueuedClient) -> tuple[Any, ...]:
    """The call order of claims, plans and `due_clients`, as a Python sort key."""
    return (c.priority, c.slack_key or c.window_closes_at, c.window_closes_at, c.next_dial_at, c.id)


def _slack(placed: Schedule | ClientUpdate) -> datetime | None:
    """The slack key to store: the placement's, else its window's close (a writer that
    computed none still leaves the client claimable, ordered by its closing window)."""
    return placed.slack_key or placed.window_closes_at

# Calls still dialing whose client's lease ran out. Driven by the small partial index of
# open calls; each one looks its client up by primary key (OFFSET 0 keeps the lookup a
# per-row subquery, so the planner cannot turn it into a join that scans clients).
_ORPHANED = f"""
SELECT {", ".join(f"o.{c}" for c in (*_CALL_FIELDS, "state_before"))} FROM calls o
WHERE o.status = 'dialing'
  AND EXISTS (SELECT 1 FROM clients c
              WHERE c.id = o.client_id AND c.open_call_id = o.call_id
                AND (c.lease_until IS NULL OR c.lease_until <= $1) OFFSET 0)
LIMIT $2
"""

# An outcome (or a disposition) in one statement, hence one transaction: the client row
# only where the lease clause holds; the call row and the event only if it did.
# $1-$16 client, $17 call id, $18 now, $19-$29 call, $30-$34 event, $35 the call's state_before;
# then the slack key (and, for an outcome, the client id and lease token).
_OUTCOME = """
WITH cl AS (
    UPDATE clients SET stage = $1, complaint = $2, hot_calls = $3, attempts_today = $4, attempts_total = $5,
        attempts_day = $6, callback_at = $7, awaiting_disposition = $8, invalid_number = $9, due_at = $10,
        next_dial_at = $11, window_closes_at = $12, slack_key = {slack}, cap_until = $13, priority = $14,
        campaign = CASE WHEN campaign_pinned THEN campaign ELSE COALESCE($15, campaign) END,
        schedule_reason = $16, needs_schedule = false,
        lease_owner = NULL, lease_token = NULL, lease_until = NULL,
        open_call_id = CASE WHEN open_call_id = $17 THEN NULL ELSE open_call_id END,
        updated_at = $18
    WHERE id = {target} AND {lease}
    RETURNING id
), ca AS (
    UPDATE calls SET status = $19, provider_call_id = COALESCE($20, provider_call_id), answered_at = $21,
        ended_at = $22, ring_s = $23, talk_s = $24, guideline = $25, disposition = $26, disposition_at = $27,
        note = COALESCE($28, note), error = $29, state_before = COALESCE(state_before, $35::jsonb)
    WHERE call_id = $17 AND EXISTS (SELECT 1 FROM cl)
), ev AS (
    INSERT INTO events(at, client_id, call_id, kind, from_stage, to_stage, reason, data)
    SELECT $18, cl.id, $17, $30, $31, $32, $33, $34::jsonb FROM cl
)
SELECT count(*){extra} FROM cl
"""
_RECORD_OUTCOME = _OUTCOME.format(target="$36", lease="lease_token = $37", extra="", slack="$38::timestamptz")
# A disposition: the call's client, only while no live lease (not in a call right now);
# the second column tells "no such call" from "in a call".
_RECORD_DISPOSITION = _OUTCOME.format(
    target="(SELECT client_id FROM calls WHERE call_id = $17)",
    lease="(lease_until IS NULL OR lease_until <= $18)",
    extra=", EXISTS (SELECT 1 FROM calls WHERE call_id = $17)",
    slack="$36::timestamptz",
)

# Bulk upsert of one batch, passed as column arrays. Both halves read the table as it
# was before the statement, so `upd` touches exactly the known ids and `ins` exactly
# the new ones: the counts are exact. A known client: contact data (name, phone, zone,
# country, schedule, campaign, attributes) is taken from the file; stage, next contact
# and complaint change only when the file's cell differs from what the last import said
# (the CRM changed it since), so re-importing the same list never undoes what the calls
# did; an empty cell (NULL) says nothing. Do-not-call is sticky, a changed phone clears
# invalid_number, an import without a campaign unpins (the stored campaign stays unless
# it was pinned). A client whose last import is unknown (imported_at NULL, see
# migration 3) only gets it recorded. It is rescheduled only when something its place
# in the queue depends on changed.
_NEW_STAGE = (
    "CASE WHEN c.stage = 'dnc' OR t.dnc THEN 'dnc' "
    "WHEN t.stage IS NOT NULL AND c.imported_at IS NOT NULL AND t.stage IS DISTINCT FROM c.imported_stage "
    "THEN t.stage ELSE c.stage END"
)
_NEW_COMPLAINT = (
    "CASE WHEN t.complaint IS NOT NULL AND c.imported_at IS NOT NULL "
    "AND t.complaint IS DISTINCT FROM c.imported_complaint THEN t.complaint ELSE c.complaint END"
)
_NEW_DUE = (
    "CASE WHEN t.due_at IS NOT NULL AND c.imported_at IS NOT NULL "
    "AND t.due_at IS DISTINCT FROM c.imported_next_contact THEN t.due_at ELSE c.due_at END"
)
_NEW_CAMPAIGN = "COALESCE(t.campaign, CASE WHEN c.campaign_pinned THEN NULL ELSE c.campaign END)"
_NEW_INVALID = "CASE WHEN c.phone <> t.phone THEN false ELSE c.invalid_number END"
_UPSERT = f"""
WITH t AS MATERIALIZED (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::boolean[], $10::boolean[], $11::timestamptz[], $12::jsonb[],
                         $13::text[], $14::text[], $15::boolean[], $16::integer[], $17::timestamptz[],
                         $18::timestamptz[], $19::text[], $20::boolean[], $21::timestamptz[])
        AS t(id, name, phone, timezone, country, schedule, campaign, stage, dnc, complaint, due_at, attributes,
             new_campaign, new_stage, new_complaint, new_priority, next_dial_at, window_closes_at, reason,
             scheduled, slack_key)
), upd AS (
    UPDATE clients c SET
        name = t.name, phone = t.phone, timezone = t.timezone, country = t.country, schedule = t.schedule,
        campaign = {_NEW_CAMPAIGN}, campaign_pinned = t.campaign IS NOT NULL,
        stage = {_NEW_STAGE}, complaint = {_NEW_COMPLAINT}, due_at = {_NEW_DUE}, invalid_number = {_NEW_INVALID},
        imported_stage = COALESCE(t.stage, c.imported_stage),
        imported_next_contact = COALESCE(t.due_at, c.imported_next_contact),
        imported_complaint = COALESCE(t.complaint, c.imported_complaint),
        imported_at = $22, attributes = t.attributes, updated_at = $22,
        needs_schedule = c.needs_schedule OR c.timezone IS DISTINCT FROM t.timezone
            OR c.schedule IS DISTINCT FROM t.schedule OR c.country IS DISTINCT FROM t.country
            OR c.campaign IS DISTINCT FROM {_NEW_CAMPAIGN} OR c.campaign_pinned <> (t.campaign IS NOT NULL)
            OR c.stage <> {_NEW_STAGE} OR c.complaint <> {_NEW_COMPLAINT}
            OR c.due_at IS DISTINCT FROM {_NEW_DUE} OR c.invalid_number <> {_NEW_INVALID}
    FROM t WHERE c.id = t.id
    RETURNING 1
), ins AS (
    INSERT INTO clients(id, name, phone, timezone, country, schedule, campaign, campaign_pinned, stage, complaint,
                        due_at, priority, attributes, created_at, updated_at, next_dial_at, window_closes_at,
                        schedule_reason, needs_schedule, imported_stage, imported_next_contact,
                        imported_complaint, imported_at, slack_key)
    SELECT t.id, t.name, t.phone, t.timezone, t.country, t.schedule, t.new_campaign, t.campaign IS NOT NULL,
           t.new_stage, t.new_complaint, t.due_at, t.new_priority, t.attributes, $22, $22, t.next_dial_at,
           t.window_closes_at, t.reason, NOT t.scheduled, t.stage, t.due_at, t.complaint, $22, t.slack_key
    FROM t WHERE NOT EXISTS (SELECT 1 FROM clients x WHERE x.id = t.id)
    RETURNING 1
)
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM upd)
"""


def _upsert_columns(records: Sequence[ClientRecord], schedules: Mapping[str, Schedule] | None) -> list[list[Any]]:
    """The batch as 21 column arrays (one pass; asyncpg encodes them in binary)."""
    cols: list[list[Any]] = [[] for _ in range(21)]
    (
        ids, names, phones, zones, countries, sched_names, campaigns, stages, dncs, complaints, dues, attrs,
        new_campaigns, new_stages, new_complaints, new_priorities, nexts, closes, reasons, scheduled, slacks,
    ) = cols  # fmt: skip
    get = schedules.get if schedules else (lambda _id: None)
    for r in records:
        due = r.next_contact
        if due is not None and due.tzinfo is None:
            raise ValueError("naive datetime reached the store")
        state = initial_state(r.stage, r.do_not_call, r.complaint)
        sch = get(r.id)
        ids.append(r.id)
        names.append(r.name)
        phones.append(r.phone)
        zones.append(r.timezone)
        countries.append(r.country)
        sched_names.append(r.schedule)
        campaigns.append(r.campaign)
        stages.append(r.stage.value if r.stage else None)
        dncs.append(bool(r.do_not_call))
        complaints.append(r.complaint)
        dues.append(due)
        attrs.append(_json(r.attributes) if r.attributes else "{}")
        new_stages.append(state.stage.value)
        new_complaints.append(state.complaint)
        new_priorities.append(_PRIORITY[state])
        if sch is not None:
            new_campaigns.append(sch.campaign or r.campaign)
            nexts.append(_ts(sch.next_dial_at))
            closes.append(_ts(sch.window_closes_at))
            reasons.append(sch.reason)
            scheduled.append(True)
            slacks.append(_ts(_slack(sch)))
        else:
            new_campaigns.append(r.campaign)
            nexts.append(None)
            closes.append(None)
            reasons.append(None)
            scheduled.append(False)
            slacks.append(None)
    return cols


__all__ = ["PostgresStore", "MIGRATIONS"]
