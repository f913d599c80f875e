"""The store role "people": accounts, API tokens, agent presence, campaign pauses,
login failures and the audit trail of people's actions (issue 12).

Every worker reads these from the shared store, so an agent who goes Ready on one
worker's page is offered calls by any worker, and a campaign paused through one worker
is claimed by none. The SQL is in ``sql/<dialect>/people.sql`` (named queries) and
``people_schema.sql`` (the tables, appended to each store's migrations).

Presence states: ``ready``, ``paused`` (with a reason), ``wrap_up`` (until an instant;
it ends by itself: every reader treats a wrap-up that ran out as Ready), ``on_call``
(taken by a worker for one call) and ``logged_out`` (also: no row at all).
Each change a person or a page makes (`set_presence`) is also kept as an audit row
(action ``presence``, not listed by `audit_since`), so logged-in time can be rebuilt
for any past day (`presence_changes`, issue 13).

A store exposes the role as ``store.people`` (see :func:`people_of`). Writes that a
person makes (accounts, tokens, pauses) append an audit row in the same transaction.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from dialer.store.sqlfiles import load_queries

if TYPE_CHECKING:
    from dialer.store.postgres import PostgresStore
    from dialer.store.sqlite import SqliteStore


class Role(enum.StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"


class PresenceState(enum.StrEnum):
    READY = "ready"
    PAUSED = "paused"
    WRAP_UP = "wrap_up"
    ON_CALL = "on_call"
    LOGGED_OUT = "logged_out"


# The states a person (or a page) may set; wrap-up and on-call are the dispatcher's.
SETTABLE_STATES = frozenset({PresenceState.READY, PresenceState.PAUSED, PresenceState.LOGGED_OUT})


@dataclass(frozen=True)
class Account:
    name: str
    role: Role
    campaigns: tuple[str, ...]  # empty: every campaign (supervisors); agents list theirs
    password_hash: str
    disabled: bool
    created_at: datetime


@dataclass(frozen=True)
class ApiToken:
    id: str
    role: Role
    campaigns: tuple[str, ...]
    label: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class Presence:
    agent: str
    state: PresenceState
    reason: str | None
    since: datetime
    wrap_up_until: datetime | None
    call_id: str | None
    campaign: str | None
    updated_by: str

    def effective(self, now: datetime) -> Presence:
        """The state as of `now`: a wrap-up that ran out is Ready (since it ended)."""
        if self.state is PresenceState.WRAP_UP and self.wrap_up_until is not None and self.wrap_up_until <= now:
            return Presence(
                self.agent, PresenceState.READY, None, self.wrap_up_until, None, None, None, self.updated_by
            )
        return self


# Logged in: every state but Logged out (Paused agents are at their desk; issue 13 counts
# their time as logged-in time).
LOGGED_IN_STATES = frozenset(PresenceState) - {PresenceState.LOGGED_OUT}


@dataclass(frozen=True)
class PresenceChange:
    """One change of an agent's stored presence, set by a person or a page
    (`set_presence`), kept in the audit table. The dispatcher's own moves (on a call,
    wrap-up, Ready again) are not changes here: they never log anyone in or out."""

    agent: str
    at: datetime
    state: PresenceState
    was: PresenceState  # Logged out when the agent had no presence row yet

    @property
    def logged_in(self) -> bool:
        return self.state in LOGGED_IN_STATES

    @property
    def was_logged_in(self) -> bool:
        return self.was in LOGGED_IN_STATES


def _change(at: datetime, agent: str, data: str) -> PresenceChange:
    d = json.loads(data)
    return PresenceChange(agent, at, PresenceState(d["state"]), PresenceState(d["was"]))


@dataclass(frozen=True)
class CampaignPause:
    campaign: str
    paused: bool
    by: str
    at: datetime


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    data: dict[str, Any] = field(default_factory=dict)


class AccountExists(Exception):
    pass


class PeopleStore(Protocol):
    """What the CLI, the web layer and the dispatcher need about people."""

    async def add_account(self, account: Account, *, actor: str) -> None:
        """Raises AccountExists (nothing written) when the name is taken."""

    async def get_account(self, name: str) -> Account | None: ...

    async def list_accounts(self) -> list[Account]: ...

    async def set_password(self, name: str, password_hash: str, now: datetime, *, actor: str) -> bool: ...

    async def set_disabled(self, name: str, disabled: bool, now: datetime, *, actor: str) -> bool: ...

    async def add_token(self, token: ApiToken, token_hash: str, *, actor: str) -> None: ...

    async def token_by_hash(self, token_hash: str) -> ApiToken | None: ...

    async def list_tokens(self) -> list[ApiToken]: ...

    async def revoke_token(self, token_id: str, now: datetime, *, actor: str) -> bool: ...

    async def set_presence(
        self, agent: str, state: PresenceState, now: datetime, *, by: str, reason: str | None = None
    ) -> None:
        """Ready, Paused (with reason) or Logged out, as the agent or a supervisor asks."""

    async def presence_changes(self, since: datetime) -> list[PresenceChange]:
        """Every presence change at or after `since`, oldest first (with the current
        presence, enough to rebuild logged-in time from `since` on)."""

    async def presence(self, now: datetime, agents: Sequence[str] | None = None) -> list[Presence]:
        """Effective presence (see Presence.effective) of the agents named (all with a
        row when None); an agent without a row is Logged out and listed as such."""

    async def ready_agents(self, agents: Sequence[str], now: datetime) -> list[str]:
        """Of `agents`, those a call may go to now, longest waiting first."""

    async def take_agent(
        self, agents: Sequence[str], now: datetime, *, campaign: str, call_id: str, by: str
    ) -> str | None:
        """Atomically move one Ready agent of `agents` to on-call for `call_id`; None when
        none is Ready (across every worker: two workers never take the same agent)."""

    async def end_call(
        self, agent: str, call_id: str, now: datetime, wrap_up_until: datetime | None, *, by: str
    ) -> None:
        """The call ended: the agent goes to wrap-up until `wrap_up_until` (Ready at once
        when None). An agent who paused or logged out meanwhile stays so."""

    async def extend_wrap_up(self, agent: str, until: datetime, now: datetime, *, by: str) -> bool:
        """Move a running wrap-up's end (the caller bounds it); False when not in wrap-up."""

    async def set_campaign_paused(self, campaign: str, paused: bool, now: datetime, *, by: str) -> None: ...

    async def paused_campaigns(self) -> set[str]: ...

    async def campaign_pauses(self) -> list[CampaignPause]: ...

    async def add_login_failure(self, account: str, address: str, now: datetime) -> None: ...

    async def login_failures(self, account: str, address: str, since: datetime) -> tuple[int, int]:
        """Failures since `since`: (of this account from anywhere, from this address)."""

    async def clear_login_failures(self, account: str, address: str, older_than: datetime) -> None:
        """After a successful login: this pair's failures go, and everyone's older ones."""

    async def audit(self, actor: str, action: str, subject: str, data: dict[str, Any], now: datetime) -> None: ...

    async def audit_since(self, since: datetime, limit: int = 500) -> list[AuditRecord]: ...

    # Page events across workers (see dialer/web/notify.py). A store that reaches every
    # worker (PostgreSQL) carries them: `notify` sends, `listen` delivers every worker's
    # (this one's included) to `deliver` until the returned closer is awaited. SQLite has
    # one worker: `shared_events` is False and the worker delivers its own in process.
    shared_events: bool

    async def notify(self, topic: str, data: dict[str, Any]) -> None: ...

    async def listen(self, deliver: Callable[[str, dict[str, Any]], None]) -> Callable[[], Awaitable[None]]: ...


def people_of(store: object) -> PeopleStore:
    """The people role of an open store."""
    role: PeopleStore | None = getattr(store, "people", None)
    if role is None:
        raise TypeError(f"{type(store).__name__} has no people role")
    return role


def _campaigns(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text)) if text else ()


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _audit_data(data: dict[str, Any]) -> str:
    return _json(data)


# ---------------------------------------------------------------------------- SQLite


class SqlitePeople:
    """The role on a SqliteStore's connection (its writer lock and thread hand-off)."""

    def __init__(self, store: SqliteStore):
        self._store = store
        self._q = load_queries("sqlite", "people")

    @staticmethod
    def _ts(value: datetime | None) -> str | None:
        from dialer.store.sqlite import ts

        return ts(value)

    @staticmethod
    def _at(value: str | None) -> datetime | None:
        from dialer.store.sqlite import from_ts

        return from_ts(value)

    def _when(self, value: str) -> datetime:
        at = self._at(value)
        assert at is not None
        return at

    async def _rows(self, name: str, args: Sequence[Any] = ()) -> list[Any]:
        return await self._store._all(self._q[name], tuple(args))  # the store's own path (inline in a simulation)

    def _account(self, r: Sequence[Any]) -> Account:
        return Account(r[0], Role(r[1]), _campaigns(r[2]), r[3], bool(r[4]), self._when(r[5]))

    def _token(self, r: Sequence[Any]) -> ApiToken:
        return ApiToken(r[0], Role(r[1]), _campaigns(r[2]), r[3], self._when(r[4]), self._at(r[5]))

    def _presence(self, r: Sequence[Any]) -> Presence:
        return Presence(r[0], PresenceState(r[1]), r[2], self._when(r[3]), self._at(r[4]), r[5], r[6], r[7])

    def _audit_row(
        self, conn: sqlite3.Connection, actor: str, action: str, subject: str, data: dict[str, Any], now: datetime
    ) -> None:
        conn.execute(self._q["add_audit"], (self._ts(now), actor, action, subject, _audit_data(data)))

    async def add_account(self, account: Account, *, actor: str) -> None:
        now = self._ts(account.created_at)

        def work(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    self._q["add_account"],
                    (account.name, account.role.value, _json(list(account.campaigns)), account.password_hash, now, now),
                )
            except sqlite3.IntegrityError:
                raise AccountExists(account.name) from None
            data = {"role": account.role.value, "campaigns": list(account.campaigns)}
            self._audit_row(conn, actor, "account_added", account.name, data, account.created_at)

        await self._store._in_thread(work)

    async def get_account(self, name: str) -> Account | None:
        rows = await self._rows("get_account", (name,))
        return self._account(rows[0]) if rows else None

    async def list_accounts(self) -> list[Account]:
        return [self._account(r) for r in await self._rows("list_accounts")]

    async def _update(
        self, sql: str, args: tuple[Any, ...], audit: tuple[str, str, str, dict[str, Any]], now: datetime
    ) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            changed = conn.execute(sql, args).rowcount > 0
            if changed:
                self._audit_row(conn, *audit, now)
            return changed

        return await self._store._in_thread(work)

    async def set_password(self, name: str, password_hash: str, now: datetime, *, actor: str) -> bool:
        return await self._update(
            self._q["set_password"], (password_hash, self._ts(now), name), (actor, "password_set", name, {}), now
        )

    async def set_disabled(self, name: str, disabled: bool, now: datetime, *, actor: str) -> bool:
        action = "account_disabled" if disabled else "account_enabled"
        return await self._update(
            self._q["set_disabled"], (int(disabled), self._ts(now), name), (actor, action, name, {}), now
        )

    async def add_token(self, token: ApiToken, token_hash: str, *, actor: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                self._q["add_token"],
                (
                    token.id,
                    token_hash,
                    token.role.value,
                    _json(list(token.campaigns)),
                    token.label,
                    self._ts(token.created_at),
                ),
            )
            data = {"role": token.role.value, "campaigns": list(token.campaigns), "label": token.label}
            self._audit_row(conn, actor, "token_added", token.id, data, token.created_at)

        await self._store._in_thread(work)

    async def token_by_hash(self, token_hash: str) -> ApiToken | None:
        rows = await self._rows("token_by_hash", (token_hash,))
        return self._token(rows[0]) if rows else None

    async def list_tokens(self) -> list[ApiToken]:
        return [self._token(r) for r in await self._rows("list_tokens")]

    async def revoke_token(self, token_id: str, now: datetime, *, actor: str) -> bool:
        return await self._update(
            self._q["revoke_token"], (self._ts(now), token_id), (actor, "token_revoked", token_id, {}), now
        )

    async def set_presence(
        self, agent: str, state: PresenceState, now: datetime, *, by: str, reason: str | None = None
    ) -> None:
        at = self._ts(now)

        def work(conn: sqlite3.Connection) -> None:
            row = conn.execute(self._q["presence_state"], (agent,)).fetchone()
            was = row[0] if row else PresenceState.LOGGED_OUT.value
            conn.execute(self._q["set_presence"], (agent, state.value, reason, at, by, at))
            if was != state.value:
                self._audit_row(conn, by, "presence", agent, {"state": state.value, "was": was}, now)

        await self._store._in_thread(work)

    async def presence_changes(self, since: datetime) -> list[PresenceChange]:
        return [_change(self._when(r[0]), r[1], r[2]) for r in await self._rows("presence_changes", (self._ts(since),))]

    async def presence(self, now: datetime, agents: Sequence[str] | None = None) -> list[Presence]:
        rows = [self._presence(r).effective(now) for r in await self._rows("presence_all")]
        return _named(rows, agents, now)

    async def ready_agents(self, agents: Sequence[str], now: datetime) -> list[str]:
        rows = await self._rows("ready_agents", (_json(list(agents)), self._ts(now)))
        return [r[0] for r in rows]

    async def take_agent(
        self, agents: Sequence[str], now: datetime, *, campaign: str, call_id: str, by: str
    ) -> str | None:
        at = self._ts(now)
        names = _json(list(agents))

        def work(conn: sqlite3.Connection) -> str | None:
            # BEGIN IMMEDIATE holds the writer lock: no other process takes the same agent.
            for (agent,) in conn.execute(self._q["ready_agents"], (names, at)).fetchall():
                if conn.execute(self._q["take_agent"], (at, call_id, campaign, by, at, agent, at)).rowcount:
                    return str(agent)
            return None

        return await self._store._in_thread(work)

    async def end_call(
        self, agent: str, call_id: str, now: datetime, wrap_up_until: datetime | None, *, by: str
    ) -> None:
        at, until = self._ts(now), self._ts(wrap_up_until)

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(self._q["end_call"], (until, at, by, agent, call_id))

        await self._store._in_thread(work)

    async def extend_wrap_up(self, agent: str, until: datetime, now: datetime, *, by: str) -> bool:
        at = self._ts(now)

        def work(conn: sqlite3.Connection) -> bool:
            return conn.execute(self._q["extend_wrap_up"], (self._ts(until), by, at, agent, at)).rowcount > 0

        return await self._store._in_thread(work)

    async def set_campaign_paused(self, campaign: str, paused: bool, now: datetime, *, by: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(self._q["set_campaign_paused"], (campaign, int(paused), by, self._ts(now)))
            self._audit_row(conn, by, "campaign_paused" if paused else "campaign_resumed", campaign, {}, now)

        await self._store._in_thread(work)

    async def paused_campaigns(self) -> set[str]:
        return {r[0] for r in await self._rows("paused_campaigns")}

    async def campaign_pauses(self) -> list[CampaignPause]:
        return [CampaignPause(r[0], bool(r[1]), r[2], self._when(r[3])) for r in await self._rows("campaign_pauses")]

    async def add_login_failure(self, account: str, address: str, now: datetime) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(self._q["add_login_failure"], (account, address, self._ts(now)))

        await self._store._in_thread(work)

    async def login_failures(self, account: str, address: str, since: datetime) -> tuple[int, int]:
        at = self._ts(since)
        by_account = await self._rows("failures_of_account", (account, at))
        by_address = await self._rows("failures_of_address", (address, at))
        return int(by_account[0][0]), int(by_address[0][0])

    async def clear_login_failures(self, account: str, address: str, older_than: datetime) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(self._q["clear_login_failures"], (account, address, self._ts(older_than)))

        await self._store._in_thread(work)

    async def audit(self, actor: str, action: str, subject: str, data: dict[str, Any], now: datetime) -> None:
        def work(conn: sqlite3.Connection) -> None:
            self._audit_row(conn, actor, action, subject, data, now)

        await self._store._in_thread(work)

    async def audit_since(self, since: datetime, limit: int = 500) -> list[AuditRecord]:
        rows = await self._rows("audit_since", (self._ts(since), limit))
        return [AuditRecord(r[0], self._when(r[1]), r[2], r[3], r[4], json.loads(r[5])) for r in rows]

    shared_events = False

    async def notify(self, topic: str, data: dict[str, Any]) -> None:
        """One worker per SQLite file: events stay in its process, delivered to whoever
        listens on this store (the dispatcher has no web context: its screen pop comes
        through here to the worker's pages)."""
        for deliver in list(_LOCAL_LISTENERS.get(self._store, ())):
            deliver(topic, data)

    async def listen(self, deliver: Callable[[str, dict[str, Any]], None]) -> Callable[[], Awaitable[None]]:
        listeners = _LOCAL_LISTENERS.setdefault(self._store, [])
        listeners.append(deliver)

        async def close() -> None:
            if deliver in listeners:
                listeners.remove(deliver)

        return close


# SQLite store -> its in-process listeners (weak: a closed, dropped store takes its own along).
_LOCAL_LISTENERS: weakref.WeakKeyDictionary[Any, list[Callable[[str, dict[str, Any]], None]]] = (
    weakref.WeakKeyDictionary()
)


def _named(rows: list[Presence], agents: Sequence[str] | None, now: datetime) -> list[Presence]:
    if agents is None:
        return rows
    known = {p.agent: p for p in rows}
    out = []
    for name in agents:
        out.append(known.get(name) or Presence(name, PresenceState.LOGGED_OUT, None, now, None, None, None, ""))
    return out


# ---------------------------------------------------------------------------- PostgreSQL


class PostgresPeople:
    """The role on a PostgresStore's pool."""

    def __init__(self, store: PostgresStore):
        self._store = store
        self._q = load_queries("postgres", "people")

    def _account(self, r: Sequence[Any]) -> Account:
        return Account(r[0], Role(r[1]), _campaigns(r[2]), r[3], bool(r[4]), r[5])

    def _token(self, r: Sequence[Any]) -> ApiToken:
        return ApiToken(r[0], Role(r[1]), _campaigns(r[2]), r[3], r[4], r[5])

    def _presence(self, r: Sequence[Any]) -> Presence:
        return Presence(r[0], PresenceState(r[1]), r[2], r[3], r[4], r[5], r[6], r[7])

    async def _audit_row(
        self, con: Any, actor: str, action: str, subject: str, data: dict[str, Any], now: datetime
    ) -> None:
        await con.execute(self._q["add_audit"], now, actor, action, subject, _audit_data(data))

    async def add_account(self, account: Account, *, actor: str) -> None:
        import asyncpg

        async with self._store.pool.acquire() as con, con.transaction():
            try:
                await con.execute(
                    self._q["add_account"], account.name, account.role.value, _json(list(account.campaigns)),
                    account.password_hash, account.created_at, account.created_at,
                )  # fmt: skip
            except asyncpg.UniqueViolationError:
                raise AccountExists(account.name) from None
            data = {"role": account.role.value, "campaigns": list(account.campaigns)}
            await self._audit_row(con, actor, "account_added", account.name, data, account.created_at)

    async def get_account(self, name: str) -> Account | None:
        row = await self._store.pool.fetchrow(self._q["get_account"], name)
        return self._account(row) if row else None

    async def list_accounts(self) -> list[Account]:
        return [self._account(r) for r in await self._store.pool.fetch(self._q["list_accounts"])]

    async def _update(
        self, sql: str, args: tuple[Any, ...], audit: tuple[str, str, str, dict[str, Any]], now: datetime
    ) -> bool:
        from dialer.store.postgres import _count

        async with self._store.pool.acquire() as con, con.transaction():
            changed = _count(await con.execute(sql, *args)) > 0
            if changed:
                await self._audit_row(con, *audit, now)
        return changed

    async def set_password(self, name: str, password_hash: str, now: datetime, *, actor: str) -> bool:
        return await self._update(
            self._q["set_password"], (password_hash, now, name), (actor, "password_set", name, {}), now
        )

    async def set_disabled(self, name: str, disabled: bool, now: datetime, *, actor: str) -> bool:
        action = "account_disabled" if disabled else "account_enabled"
        return await self._update(self._q["set_disabled"], (disabled, now, name), (actor, action, name, {}), now)

    async def add_token(self, token: ApiToken, token_hash: str, *, actor: str) -> None:
        async with self._store.pool.acquire() as con, con.transaction():
            await con.execute(
                self._q["add_token"], token.id, token_hash, token.role.value, _json(list(token.campaigns)),
                token.label, token.created_at,
            )  # fmt: skip
            data = {"role": token.role.value, "campaigns": list(token.campaigns), "label": token.label}
            await self._audit_row(con, actor, "token_added", token.id, data, token.created_at)

    async def token_by_hash(self, token_hash: str) -> ApiToken | None:
        row = await self._store.pool.fetchrow(self._q["token_by_hash"], token_hash)
        return self._token(row) if row else None

    async def list_tokens(self) -> list[ApiToken]:
        return [self._token(r) for r in await self._store.pool.fetch(self._q["list_tokens"])]

    async def revoke_token(self, token_id: str, now: datetime, *, actor: str) -> bool:
        return await self._update(self._q["revoke_token"], (now, token_id), (actor, "token_revoked", token_id, {}), now)

    async def set_presence(
        self, agent: str, state: PresenceState, now: datetime, *, by: str, reason: str | None = None
    ) -> None:
        async with self._store.pool.acquire() as con, con.transaction():
            row = await con.fetchrow(self._q["presence_state"], agent)
            was = row[0] if row else PresenceState.LOGGED_OUT.value
            await con.execute(self._q["set_presence"], agent, state.value, reason, now, by, now)
            if was != state.value:
                await self._audit_row(con, by, "presence", agent, {"state": state.value, "was": was}, now)

    async def presence_changes(self, since: datetime) -> list[PresenceChange]:
        rows = await self._store.pool.fetch(self._q["presence_changes"], since)
        return [_change(r[0], r[1], r[2]) for r in rows]

    async def presence(self, now: datetime, agents: Sequence[str] | None = None) -> list[Presence]:
        rows = [self._presence(r).effective(now) for r in await self._store.pool.fetch(self._q["presence_all"])]
        return _named(rows, agents, now)

    async def ready_agents(self, agents: Sequence[str], now: datetime) -> list[str]:
        return [r[0] for r in await self._store.pool.fetch(self._q["ready_agents"], list(agents), now)]

    async def take_agent(
        self, agents: Sequence[str], now: datetime, *, campaign: str, call_id: str, by: str
    ) -> str | None:
        taken = await self._store.pool.fetchval(self._q["take_agent"], now, call_id, campaign, by, list(agents))
        return str(taken) if taken is not None else None

    async def end_call(
        self, agent: str, call_id: str, now: datetime, wrap_up_until: datetime | None, *, by: str
    ) -> None:
        await self._store.pool.execute(self._q["end_call"], wrap_up_until, now, by, agent, call_id)

    async def extend_wrap_up(self, agent: str, until: datetime, now: datetime, *, by: str) -> bool:
        from dialer.store.postgres import _count

        return _count(await self._store.pool.execute(self._q["extend_wrap_up"], until, by, now, agent)) > 0

    async def set_campaign_paused(self, campaign: str, paused: bool, now: datetime, *, by: str) -> None:
        async with self._store.pool.acquire() as con, con.transaction():
            await con.execute(self._q["set_campaign_paused"], campaign, paused, by, now)
            await self._audit_row(con, by, "campaign_paused" if paused else "campaign_resumed", campaign, {}, now)

    async def paused_campaigns(self) -> set[str]:
        return {r[0] for r in await self._store.pool.fetch(self._q["paused_campaigns"])}

    async def campaign_pauses(self) -> list[CampaignPause]:
        rows = await self._store.pool.fetch(self._q["campaign_pauses"])
        return [CampaignPause(r[0], bool(r[1]), r[2], r[3]) for r in rows]

    async def add_login_failure(self, account: str, address: str, now: datetime) -> None:
        await self._store.pool.execute(self._q["add_login_failure"], account, address, now)

    async def login_failures(self, account: str, address: str, since: datetime) -> tuple[int, int]:
        by_account = await self._store.pool.fetchval(self._q["failures_of_account"], account, since)
        by_address = await self._store.pool.fetchval(self._q["failures_of_address"], address, since)
        return int(by_account), int(by_address)

    async def clear_login_failures(self, account: str, address: str, older_than: datetime) -> None:
        await self._store.pool.execute(self._q["clear_login_failures"], account, address, older_than)

    async def audit(self, actor: str, action: str, subject: str, data: dict[str, Any], now: datetime) -> None:
        await self._store.pool.execute(self._q["add_audit"], now, actor, action, subject, _audit_data(data))

    async def audit_since(self, since: datetime, limit: int = 500) -> list[AuditRecord]:
        rows = await self._store.pool.fetch(self._q["audit_since"], since, limit)
        return [AuditRecord(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]

    shared_events = True

    @property
    def _channel(self) -> str:
        # One channel per schema: deployments (and test schemas) sharing a database never mix.
        return f"dialer.people.{self._store.schema or 'public'}"

    async def notify(self, topic: str, data: dict[str, Any]) -> None:
        payload = _json({"topic": topic, "data": data})
        if len(payload.encode("utf-8")) >= 7900:  # PostgreSQL's payload limit is 8000 bytes
            raise ValueError(f"page event {topic!r} is too large to notify ({len(payload)} characters)")
        await self._store.pool.execute("SELECT pg_notify($1, $2)", self._channel, payload)

    async def listen(self, deliver: Callable[[str, dict[str, Any]], None]) -> Callable[[], Awaitable[None]]:
        """A connection of its own (LISTEN is session state; the pool's connections keep none)."""
        import asyncpg

        con = await asyncpg.connect(self._store.dsn, timeout=self._store.connect_timeout)

        def received(_con: object, _pid: int, _channel: str, payload: str) -> None:
            try:
                event = json.loads(payload)
                deliver(str(event["topic"]), dict(event["data"]))
            except (ValueError, KeyError, TypeError):
                return  # not ours: ignore

        await con.add_listener(self._channel, received)

        async def close() -> None:
            try:
                await con.remove_listener(self._channel, received)
            finally:
                await con.close()

        return close


__all__ = [
    "LOGGED_IN_STATES", "Account", "AccountExists", "ApiToken", "AuditRecord", "CampaignPause", "PeopleStore",
    "PostgresPeople", "Presence", "PresenceChange", "PresenceState", "Role", "SETTABLE_STATES", "SqlitePeople",
    "people_of",
]  # fmt: skip
