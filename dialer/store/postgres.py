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
decides to pause and retry. The SQL is in ``sql/postgres/`` (see sqlfiles).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from dialer.domain import CallStatus, ClientRecord, Disposition, Priority, initial_state
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
    AccessDenied,
    DispositionConflict,
    LeaseLost,
    SchemaMismatch,
    Store,
    StoreUnreachable,
    denied_message,
    newer_schema_message,
)
from dialer.store.roles import PacedCall
from dialer.store.rows import Priorities, RowMapper, call_order, encode_json, slack_of
from dialer.store.schema import NUMBERING, NUMBERING_KEY, VERSION_KEY, has_statements, unified_version
from dialer.store.sqlfiles import load_migrations, load_queries

DIALECT = "postgres"
MIGRATIONS = load_migrations(DIALECT)
_DB = load_queries(DIALECT, "database")
_QUEUE = load_queries(DIALECT, "queue")
_CALLS = load_queries(DIALECT, "calls")
_PLANS = load_queries(DIALECT, "plans")
_PACING = load_queries(DIALECT, "pacing")
# The priority classes, lowest (called first) first: the claim reads one index range per class.
_PRIORITIES = [int(p) for p in Priority]
# asyncpg returns native values: instants as aware datetimes, dates as dates.
_ROWS = RowMapper()
_PRIORITY = Priorities()


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
    def people(self) -> _people.PostgresPeople:
        """The people role (accounts, tokens, presence, pauses, audit): dialer/store/people.py."""
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
        usable = await con.fetchval(_DB["schema_usable"], self.schema)
        if usable is False:
            reason = f"permission denied for schema {self.schema} (no USAGE)"
            raise AccessDenied(denied_message(self.describe(), reason))

    @staticmethod
    async def _stored_version(con: asyncpg.Connection) -> int:
        stored = await con.fetchval(_DB["get_meta"], VERSION_KEY)
        numbering = await con.fetchval(_DB["get_meta"], NUMBERING_KEY)
        return unified_version(DIALECT, int(stored) if stored else 0, numbering)

    async def schema_version(self) -> int:
        async with self.pool.acquire() as con:
            if await con.fetchval(_DB["has_meta"]) is None:
                await self._check_usage(con)
                return 0
            return await self._stored_version(con)

    async def migrate(self) -> int:
        async with self.pool.acquire() as con, con.transaction():
            # Workers starting at once: the first applies, the others wait here and
            # then read the new version (READ COMMITTED: the next statement's snapshot
            # is taken after the lock is granted).
            await con.execute(_DB["lock"], self._lock_ns + "migrate")
            if self.schema and not await con.fetchval(_DB["schema_exists"], self.schema):
                # Only when missing: a role without CREATE on the database can still
                # migrate inside a schema an administrator made for it.
                await con.execute(f"CREATE SCHEMA {_quote_ident(self.schema)}")
            await self._check_usage(con)
            await con.execute(_DB["create_meta"])
            stored = await con.fetchval(_DB["get_meta"], VERSION_KEY)
            numbering = await con.fetchval(_DB["get_meta"], NUMBERING_KEY)
            version = unified_version(DIALECT, int(stored) if stored else 0, numbering)
            if version > len(MIGRATIONS):
                raise SchemaMismatch(newer_schema_message(self.describe(), version, len(MIGRATIONS)))
            for migration in MIGRATIONS[version:]:
                if has_statements(migration.sql):
                    await con.execute(migration.sql)  # no arguments: simple protocol, several statements
                version = migration.number
            if stored != str(version) or numbering != NUMBERING:
                await con.execute(_DB["set_meta"], VERSION_KEY, str(version))
                await con.execute(_DB["set_meta"], NUMBERING_KEY, NUMBERING)
        return version

    async def ping(self) -> None:
        await asyncio.wait_for(self.pool.fetchval(_DB["ping"]), timeout=self.connect_timeout)

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
            await con.execute(_DB["lock"], self._lock_ns + "import")
            for start in range(0, len(records), self.upsert_batch):
                args = _upsert_columns(records[start : start + self.upsert_batch], schedules)
                row = await con.fetchrow(_QUEUE["upsert_clients"], *args, now)
                inserted += row[0]
                updated += row[1]
        return inserted, updated

    async def clients_to_schedule(self, now: datetime, limit: int) -> list[QueuedClient]:
        async with self.pool.acquire() as con:
            rows = await con.fetch(_QUEUE["clients_needing_schedule"], limit)
            if len(rows) < limit:
                rows += await con.fetch(_QUEUE["clients_window_passed"], _ts(now), limit - len(rows))
        return [_ROWS.client(r) for r in rows]

    async def set_schedules(self, items: Sequence[Schedule]) -> None:
        if not items:
            return
        last = {s.client_id: s for s in items}  # the same client twice: the last one wins
        await self.pool.execute(
            _QUEUE["set_schedules"],
            list(last),
            [_ts(s.next_dial_at) for s in last.values()],
            [_ts(s.window_closes_at) for s in last.values()],
            [s.reason for s in last.values()],
            [s.campaign for s in last.values()],
            [_ts(slack_of(s)) for s in last.values()],
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
                rows = await con.fetch(_QUEUE["claim"], owner, lease_until, campaign, now, limit, _PRIORITIES, horizon)
            else:
                async with con.transaction():
                    # Lines are global: claims of this campaign take turns. The claim is a
                    # later statement than the lock, so its snapshot sees every lease
                    # committed before the lock was granted, and it counts them itself.
                    await con.execute(_DB["lock"], self._lock_ns + "claim." + campaign)
                    rows = await con.fetch(
                        _QUEUE["claim_within_lines"],
                        owner, lease_until, campaign, now, limit, _PRIORITIES, horizon, max_in_use,
                    )  # fmt: skip
        clients = sorted((_ROWS.client(r) for r in rows), key=call_order)
        return [Claim(client=c, lease_token=c.lease_token or "", lease_until=lease_until) for c in clients]

    async def reserve_start(self, campaign: str, cps: float, now: datetime) -> datetime:
        gap = 1.0 / cps
        _ts(now)
        t = now.timestamp()
        next_start = await self.pool.fetchval(_PACING["reserve_start"], campaign, t + gap, t, gap)
        slot = float(next_start) - gap if next_start is not None else t
        return datetime.fromtimestamp(max(slot, t), UTC)

    async def release(self, claim: Claim, schedule: Schedule | None, *, cap_until: datetime | None = None) -> None:
        if schedule is None:
            await self.pool.execute(_QUEUE["release"], claim.client.id, claim.lease_token, _ts(cap_until))
        else:
            await self.pool.execute(
                _QUEUE["release_and_place"],
                claim.client.id,
                claim.lease_token,
                _ts(schedule.next_dial_at),
                _ts(schedule.window_closes_at),
                schedule.reason,
                _ts(cap_until),
                _ts(slack_of(schedule)),
            )

    async def start_call(self, start: CallStart) -> int:
        attempt = await self.pool.fetchval(
            _CALLS["start_call"],
            start.call_id, start.client_id, start.lease_token, start.campaign, start.agent, start.phone,
            start.client_tz, _ts(start.started_at), start.local_day, start.provider, start.allowed_by,
        )  # fmt: skip
        if attempt is None:
            raise LeaseLost(start.client_id)
        return int(attempt)

    async def set_provider_call_id(self, call_id: str, provider_call_id: str) -> None:
        await self.pool.execute(_CALLS["set_provider_call_id"], call_id, provider_call_id)

    async def report_readiness(self, report: ProviderReadiness) -> None:
        await self.pool.execute(
            _PACING["report_readiness"],
            report.owner, report.provider, report.ready, report.reason, _ts(report.since), _ts(report.checked_at),
        )  # fmt: skip

    async def readiness_reports(self, since: datetime) -> list[ProviderReadiness]:
        return [_ROWS.readiness(r) for r in await self.pool.fetch(_PACING["readiness_reports"], _ts(since))]

    async def abandon_counts(self, campaign: str, since: datetime, until: datetime) -> AbandonCounts:
        row = await self.pool.fetchrow(_PACING["abandon_counts"], campaign, _ts(since), _ts(until))
        return AbandonCounts(live=int(row[0]), abandoned=int(row[1])) if row else AbandonCounts(0, 0)

    async def ringing_unattached(self, campaign: str) -> list[datetime]:
        return [r[0] for r in await self.pool.fetch(_PACING["ringing_unattached"], campaign)]

    async def recent_calls(self, campaign: str, since: datetime, limit: int) -> list[CallRecord]:
        rows = await self.pool.fetch(_PACING["recent_calls"], campaign, _ts(since), limit)
        return [_ROWS.call(r) for r in rows]

    async def recent_outcomes(self, campaign: str, since: datetime, limit: int) -> list[PacedCall]:
        rows = await self.pool.fetch(_PACING["recent_outcomes"], campaign, _ts(since), limit)
        return [PacedCall(CallStatus(r[0]), r[1], r[2], r[3], float(r[4] or 0), float(r[5] or 0)) for r in rows]

    async def abandoned_since(self, client_ids: Sequence[str], since: datetime) -> dict[str, datetime]:
        if not client_ids:
            return {}
        rows = await self.pool.fetch(_PACING["abandoned_since"], list(client_ids), _ts(since))
        return {str(r[0]): r[1] for r in rows}

    async def set_call_agent(self, call_id: str, agent: str) -> None:
        await self.pool.execute(_CALLS["set_call_agent"], agent, call_id)

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
            event.to_stage.value if event.to_stage else None, event.reason, encode_json(event.data),
            encode_json(call.state_before.as_data()) if call.state_before else None,
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
            _CALLS["record_outcome"],
            *self._outcome_args(call_id, call, client, event, now),
            client_id,
            lease_token,
            _ts(slack_of(client)),
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
            found = await con.fetchrow(_CALLS["lock_call_disposition"], call_id)
            if found is None:
                raise KeyError(call_id)
            current = Disposition(found[1]) if found[1] else None
            if current is not expected:
                raise DispositionConflict(call_id, current)
            row = await con.fetchrow(
                _CALLS["record_disposition"], *self._outcome_args(call_id, call, client, event, now),
                _ts(slack_of(client)),
            )  # fmt: skip
            if not row[0]:
                raise LeaseLost(found[0])

    async def mark_all_for_schedule(self) -> int:
        return _count(await self.pool.execute(_QUEUE["mark_all_for_schedule"]))

    async def expire_leases(self, owner: str, now: datetime) -> int:
        return _count(await self.pool.execute(_QUEUE["expire_leases"], owner, _ts(now)))

    async def heartbeat(self, owner: str, lease_until: datetime, now: datetime | None = None) -> int:
        if now is None:
            return _count(await self.pool.execute(_QUEUE["extend_leases"], owner, _ts(lease_until)))
        extended = await self.pool.fetchval(_QUEUE["heartbeat"], owner, _ts(lease_until), _ts(now))
        return int(extended or 0)

    async def worker_seen_at(self, worker: str) -> datetime | None:
        value: datetime | None = await self.pool.fetchval(_QUEUE["worker_seen_at"], worker)
        return value

    async def lines_in_use(self, campaign: str, now: datetime) -> int:
        return int(await self.pool.fetchval(_QUEUE["lines_in_use"], campaign, _ts(now)))

    async def orphaned_calls(self, now: datetime, limit: int) -> list[CallRecord]:
        return [_ROWS.call(r) for r in await self.pool.fetch(_QUEUE["orphaned_calls"], _ts(now), limit)]

    async def rescue(self, call_id: str, owner: str, now: datetime, lease_until: datetime) -> Claim | None:
        row = await self.pool.fetchrow(_QUEUE["rescue"], call_id, owner, _ts(now), _ts(lease_until))
        if row is None:
            return None
        client = _ROWS.client(row)
        return Claim(client=client, lease_token=client.lease_token or "", lease_until=lease_until)

    # ------------------------------------------------------------ reading

    async def get_client(self, client_id: str) -> QueuedClient | None:
        row = await self.pool.fetchrow(_QUEUE["get_client"], client_id)
        return _ROWS.client(row) if row else None

    async def get_clients(self, client_ids: Sequence[str]) -> dict[str, QueuedClient]:
        if not client_ids:
            return {}
        rows = await self.pool.fetch(_QUEUE["get_clients"], list(client_ids))
        return {c.id: c for c in map(_ROWS.client, rows)}

    async def get_call(self, call_id: str) -> CallRecord | None:
        row = await self.pool.fetchrow(_CALLS["get_call"], call_id)
        return _ROWS.call(row) if row else None

    async def calls_between(self, start: datetime, end: datetime) -> list[CallRecord]:
        return [_ROWS.call(r) for r in await self.pool.fetch(_CALLS["calls_between"], _ts(start), _ts(end))]

    async def client_calls(self, client_id: str, limit: int = 20) -> list[CallRecord]:
        return [_ROWS.call(r) for r in await self.pool.fetch(_CALLS["client_calls"], client_id, limit)]

    async def awaiting_disposition(self, agent: str, limit: int = 50) -> list[CallRecord]:
        return [_ROWS.call(r) for r in await self.pool.fetch(_CALLS["awaiting_disposition"], agent, limit)]

    async def contact_times(self, client_id: str, since: datetime, conversations_only: bool) -> list[datetime]:
        query = _CALLS["conversation_times" if conversations_only else "attempt_times"]
        return [r[0] for r in await self.pool.fetch(query, client_id, _ts(since))]

    async def events_for(self, client_id: str, limit: int = 50) -> list[EventRecord]:
        return [_ROWS.event(r) for r in await self.pool.fetch(_CALLS["events_for"], client_id, limit)]

    async def events_between(self, start: datetime, end: datetime) -> list[EventRecord]:
        return [_ROWS.event(r) for r in await self.pool.fetch(_CALLS["events_between"], _ts(start), _ts(end))]

    async def due_clients(self, campaign: str, until: datetime, limit: int | None = None) -> list[QueuedClient]:
        rows = await self.pool.fetch(_QUEUE["due_clients"], campaign, _ts(until), limit)  # LIMIT NULL = no limit
        return [_ROWS.client(r) for r in rows]

    async def next_dial_after(self, now: datetime, campaign: str | None = None) -> datetime | None:
        value: datetime | None = await self.pool.fetchval(_QUEUE["next_dial_after"], _ts(now), campaign)
        return value

    async def queue_stats(self, campaign: str, now: datetime) -> dict[str, int]:
        row = await self.pool.fetchrow(_QUEUE["queue_stats"], campaign, _ts(now))
        return {"lines_in_use": row[0], "due_now": row[1], "queued": row[2], "window_passed": row[3]}

    # ------------------------------------------------------------ plans and daily jobs

    async def count_due(self, campaign: str, until: datetime) -> int:
        return int(await self.pool.fetchval(_PLANS["count_due"], campaign, _ts(until)))

    async def due_groups(self, campaign: str, until: datetime) -> list[DueGroup]:
        return [_ROWS.due_group(r) for r in await self.pool.fetch(_PLANS["due_groups"], campaign, _ts(until))]

    async def form_plan(
        self, campaign: str, day: date, until: datetime, dialed: Mapping[GroupKey, int], now: datetime
    ) -> int:
        fits = {k: n for k, n in dialed.items() if n > 0}
        capacity = sum(fits.values())
        async with self.pool.acquire() as con, con.transaction():
            await con.execute(_PLANS["delete_plan_entries"], campaign, day)
            status = await con.execute(
                _PLANS["insert_plan_entries"],
                campaign,
                day,
                _ts(until),
                [k[0] for k in fits],
                [k[1] or "" for k in fits],
                [k[2] for k in fits],
                [_ts(k[3]) for k in fits],
                list(fits.values()),
            )
            await con.execute(_PLANS["upsert_plan"], campaign, day, capacity, _ts(now))
        return _count(status)

    async def get_plan(self, campaign: str, day: date, limit: int | None = None) -> Plan | None:
        async with self.pool.acquire() as con:
            head = await con.fetchrow(_PLANS["plan_head"], campaign, day)
            if head is None:
                return None
            rows = await con.fetch(_PLANS["plan_entries"], campaign, day, limit)
        entries = [_ROWS.plan_entry(r) for r in rows]
        return Plan(campaign=campaign, day=day, capacity=head[0], due=head[2], entries=entries, created_at=head[1])

    async def plan_position(self, campaign: str, day: date, client_id: str) -> tuple[int, int, bool] | None:
        row = await self.pool.fetchrow(_PLANS["plan_position"], campaign, day, client_id)
        return (row[0] + 1, row[2], row[1]) if row else None

    async def plan_counts(
        self, campaign: str, day: date, start: datetime, end: datetime, now: datetime
    ) -> PlanCounts | None:
        row = await self.pool.fetchrow(_PLANS["plan_counts"], campaign, day, _ts(start), _ts(end), _ts(now))
        if not row[0]:
            return None
        return PlanCounts(int(row[1]), int(row[2]), int(row[3]))

    async def try_start_job(self, job: str, campaign: str, day: date, owner: str, now: datetime) -> bool:
        status = await self.pool.execute(
            _PLANS["start_job"], job, campaign, day, owner, _ts(now), _ts(now - JOB_TAKEOVER)
        )
        return _count(status) == 1

    async def finish_job(self, job: str, campaign: str, day: date, now: datetime) -> None:
        await self.pool.execute(_PLANS["finish_job"], job, campaign, day, _ts(now))


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
        attrs.append(encode_json(r.attributes) if r.attributes else "{}")
        new_stages.append(state.stage.value)
        new_complaints.append(state.complaint)
        new_priorities.append(_PRIORITY[state])
        if sch is not None:
            new_campaigns.append(sch.campaign or r.campaign)
            nexts.append(_ts(sch.next_dial_at))
            closes.append(_ts(sch.window_closes_at))
            reasons.append(sch.reason)
            scheduled.append(True)
            slacks.append(_ts(slack_of(sch)))
        else:
            new_campaigns.append(r.campaign)
            nexts.append(None)
            closes.append(None)
            reasons.append(None)
            scheduled.append(False)
            slacks.append(None)
    return cols


__all__ = ["MIGRATIONS", "PostgresStore", "redact_dsn"]
