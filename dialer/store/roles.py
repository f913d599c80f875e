"""The store's roles: what each kind of caller needs from the database.

A concrete store (``SqliteStore``, ``PostgresStore``) implements every role through
:class:`dialer.store.base.Store`; a caller types its parameter with the narrowest role
(or combination below) it uses, so a reader sees at a glance what it can touch:
`dialer why` reads a client's history, reports read calls and plans, the readiness
tracker only writes its findings. The dispatcher and the service take the whole Store.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import NamedTuple, Protocol

from dialer.domain import CallStatus, ClientRecord, Disposition
from dialer.model import (
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
from dialer.store.errors import SchemaMismatch, newer_schema_message


class Database(Protocol):
    """Open, close and migrate the database; the schema this code knows."""

    # The schema version this code knows (the number of its migrations).
    known_schema_version: int = 0
    # Exceptions that mean the connection to the database failed mid-command.
    connection_errors: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)
    # Exceptions that mean the database refused this role an operation (privileges).
    denied_errors: tuple[type[BaseException], ...] = ()

    @abc.abstractmethod
    async def open(self, *, create: bool = True) -> None:
        """Connect. With `create=False` a database that does not exist is not created
        (SchemaMismatch). A database that cannot be reached raises StoreUnreachable."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def describe(self) -> str:
        """The database for messages: a SQLite path or the DSN without its password."""

    @abc.abstractmethod
    async def migrate(self) -> int:
        """Bring the schema to the current version; return that version. Raises
        SchemaMismatch if the schema is newer than this code knows (never downgrades)."""

    @abc.abstractmethod
    async def schema_version(self) -> int:
        """The stored schema version; 0 when the database has no dialer schema."""

    async def check_schema(self) -> int:
        """For commands that must not create or migrate: the schema is exactly the one
        this code knows, else SchemaMismatch saying what to do."""
        found = await self.schema_version()
        known = self.known_schema_version
        if found == 0:
            raise SchemaMismatch(f"{self.describe()} has no dialer schema; create it with `dialer migrate`")
        if found < known:
            raise SchemaMismatch(
                f"{self.describe()} has schema version {found}, older than this dialer's {known}; "
                "upgrade it with `dialer migrate` (workers of the older version must be stopped first)"
            )
        if found > known:
            raise SchemaMismatch(newer_schema_message(self.describe(), found, known))
        return found

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise if the database is not reachable."""


class Clients(Protocol):
    """Reading the client queue: one client, the due ones, the next dial moment, counts."""

    @abc.abstractmethod
    async def get_client(self, client_id: str) -> QueuedClient | None: ...

    @abc.abstractmethod
    async def get_clients(self, client_ids: Sequence[str]) -> dict[str, QueuedClient]:
        """The listed clients that exist, by id, in one round trip."""

    @abc.abstractmethod
    async def due_clients(self, campaign: str, until: datetime, limit: int | None = None) -> list[QueuedClient]:
        """Clients of a campaign whose next_dial_at is before `until`, in call order."""

    @abc.abstractmethod
    async def next_dial_after(self, now: datetime, campaign: str | None = None) -> datetime | None:
        """The earliest next_dial_at later than `now` (the simulation jumps there), of
        one campaign's clients or of all."""

    @abc.abstractmethod
    async def queue_stats(self, campaign: str, now: datetime) -> dict[str, int]:
        """lines_in_use (leased), due_now, queued (dialable at all), window_passed (queued
        clients whose window closed before they were dialed, e.g. while no worker ran:
        a running worker places them again within seconds)."""


class Queue(Clients, Protocol):
    """The client queue and its leases: import, placement, claims, heartbeats, rescue."""

    @abc.abstractmethod
    async def upsert_clients(
        self, records: Sequence[ClientRecord], schedules: Mapping[str, Schedule] | None = None
    ) -> tuple[int, int]:
        """Insert new clients, update known ones (never duplicate); (inserted, updated).

        A new client with an entry in `schedules` goes straight into the queue (one
        pass at import). A known client takes the file's contact data; its stage,
        due moment (next_contact) and complaint change only when the file's cell
        differs from what its last import said (remembered per client; an empty cell
        says nothing), and do-not-call is sticky. It is marked as needing a schedule
        only when something its place in the queue depends on changed."""

    @abc.abstractmethod
    async def clients_to_schedule(self, now: datetime, limit: int) -> list[QueuedClient]:
        """Clients whose next_dial_at must be (re)computed: new or changed ones, and
        ones whose window passed while they were not claimed."""

    @abc.abstractmethod
    async def set_schedules(self, items: Sequence[Schedule]) -> None: ...

    @abc.abstractmethod
    async def mark_all_for_schedule(self) -> int:
        """After a config reload: every dialable client's window is recomputed (they stay
        claimable meanwhile; the claim-time window check guards the guarantee)."""

    @abc.abstractmethod
    async def claim(
        self,
        campaign: str,
        now: datetime,
        limit: int,
        owner: str,
        lease_until: datetime,
        max_in_use: int | None = None,
    ) -> list[Claim]:
        """Lease up to `limit` clients due and open now, best first (priority, then the
        window that closes soonest). With `max_in_use`, the campaign's lines in use by
        *all* workers (see `lines_in_use`) plus this claim never exceed it (campaign
        lines are global)."""

    @abc.abstractmethod
    async def release(self, claim: Claim, schedule: Schedule | None, *, cap_until: datetime | None = None) -> None:
        """Give a claimed client back without a call (optionally rescheduled). With
        `cap_until` (a claim-time cap check found the client capped) it is stored too."""

    @abc.abstractmethod
    async def expire_leases(self, owner: str, now: datetime) -> int:
        """At start-up: leases this worker id held in a previous life end now. Clients
        it had claimed but not dialed are released; clients with a call in flight keep
        an expired lease, so reconciliation takes their calls over at once (instead of
        after the lease runs out). Returns how many."""

    @abc.abstractmethod
    async def heartbeat(self, owner: str, lease_until: datetime, now: datetime | None = None) -> int:
        """Extend every lease the owner holds (to `lease_until`, never shortening one);
        return how many. With `now`, also record that the worker was alive then (one
        transaction): a call its worker takes to the grave ended at that moment."""

    @abc.abstractmethod
    async def worker_seen_at(self, worker: str) -> datetime | None:
        """The last `now` a heartbeat of this worker recorded, or None if never."""

    @abc.abstractmethod
    async def lines_in_use(self, campaign: str, now: datetime) -> int:
        """The campaign's lines in use across all workers: live leases, plus calls not yet
        settled (a dead worker's call keeps its line until it is reconciled). `claim`
        with `max_in_use` counts the same way."""

    @abc.abstractmethod
    async def orphaned_calls(self, now: datetime, limit: int) -> list[CallRecord]:
        """Calls still `dialing` whose client's lease has expired (their worker died)."""

    @abc.abstractmethod
    async def rescue(self, call_id: str, owner: str, now: datetime, lease_until: datetime) -> Claim | None:
        """Take over an orphaned call's client (new lease) to record its final result."""


class CallLog(Protocol):
    """Calls and the audit trail: call rows, outcomes, dispositions, events."""

    @abc.abstractmethod
    async def start_call(self, start: CallStart) -> int:
        """Write the call row (status dialing) before the provider is asked to dial:
        every call that started has a row, even after a crash. Returns the attempt
        number (1 + the client's previous calls), assigned in the same transaction;
        `start.attempt` is ignored. The row's `worker` is the client's lease owner."""

    @abc.abstractmethod
    async def set_provider_call_id(self, call_id: str, provider_call_id: str) -> None: ...

    @abc.abstractmethod
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
        """One transaction: call row, client state (lease released) and event.
        Raises LeaseLost if the lease token no longer matches (nothing written)."""

    @abc.abstractmethod
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
        """An agent's disposition recorded after the call (`dialer dispose`): same
        one-transaction rule. Written only if the call's disposition is still `expected`
        (None: the call has none yet; a correction names the one it replaces), else
        DispositionConflict; LeaseLost if the client is in a call right now; KeyError if
        there is no such call. Nothing is written in any of those cases."""

    @abc.abstractmethod
    async def set_call_agent(self, call_id: str, agent: str) -> None:
        """issue 13: the agent a client-first call was given at the answer (written only
        while the call is still `dialing`: from then on it is not counted as ringing)."""

    @abc.abstractmethod
    async def get_call(self, call_id: str) -> CallRecord | None: ...

    @abc.abstractmethod
    async def calls_between(self, start: datetime, end: datetime) -> list[CallRecord]: ...

    @abc.abstractmethod
    async def client_calls(self, client_id: str, limit: int = 20) -> list[CallRecord]: ...

    @abc.abstractmethod
    async def awaiting_disposition(self, agent: str, limit: int = 50) -> list[CallRecord]:
        """The agent's answered calls with no disposition yet, oldest first (the desk's list)."""

    @abc.abstractmethod
    async def contact_times(self, client_id: str, since: datetime, conversations_only: bool) -> list[datetime]:
        """Start instants of the client's calls since `since`: answered ones only, or
        every attempt (calls still dialing included; calls the dialer itself cut,
        canceled or interrupted, excluded: they are not the client's attempts)."""

    @abc.abstractmethod
    async def events_for(self, client_id: str, limit: int = 50) -> list[EventRecord]: ...

    @abc.abstractmethod
    async def events_between(self, start: datetime, end: datetime) -> list[EventRecord]: ...


class Plans(Protocol):
    """The daily plans and the daily jobs' runs."""

    @abc.abstractmethod
    async def count_due(self, campaign: str, until: datetime) -> int: ...

    @abc.abstractmethod
    async def due_groups(self, campaign: str, until: datetime) -> list[DueGroup]:
        """The campaign's clients due before `until`, counted per :data:`GroupKey` (the
        plan's forecast replays the day on these, not on a million rows)."""

    @abc.abstractmethod
    async def form_plan(
        self, campaign: str, day: date, until: datetime, dialed: Mapping[GroupKey, int], now: datetime
    ) -> int:
        """Store the day's plan from the queue, in call order (priority, slack key,
        next dial moment, id), in the database itself (a million-client queue never
        crosses into Python). In each due group the first `dialed[key]` clients by id
        fit (the forecast of what the day dials); the plan's capacity is their sum.
        Re-forming replaces. Returns the number of due clients."""

    @abc.abstractmethod
    async def get_plan(self, campaign: str, day: date, limit: int | None = None) -> Plan | None: ...

    @abc.abstractmethod
    async def plan_position(self, campaign: str, day: date, client_id: str) -> tuple[int, int, bool] | None:
        """(1-based position, plan size, fits) of a client in a stored plan."""

    @abc.abstractmethod
    async def plan_counts(
        self, campaign: str, day: date, start: datetime, end: datetime, now: datetime
    ) -> PlanCounts | None:
        """The plan's progress, or None without a plan. Dialed: a planned client with a
        call in [start, end). Rolled over: not dialed, and it will not be that day: the
        day is over (`now` >= `end`), or the client's next dial moment is no longer
        inside it (its windows of the day closed, or it left the queue). Mid-day a
        client still waiting for its window is neither."""

    @abc.abstractmethod
    async def try_start_job(self, job: str, campaign: str, day: date, owner: str, now: datetime) -> bool:
        """Record that a daily job runs; False if it already ran or runs for that day.
        A run left unfinished for JOB_TAKEOVER (its worker died) may be taken over."""

    @abc.abstractmethod
    async def finish_job(self, job: str, campaign: str, day: date, now: datetime) -> None: ...


class PacedCall(NamedTuple):
    """issue 13: what the pacing statistics need of a finished call (a narrow read of the
    call log: the pacer re-reads it every minute, and full rows cost far more to map)."""

    status: CallStatus
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    ring_s: float
    talk_s: float


class Pacing(Protocol):
    """What the workers share to pace calls: start slots (calls per second) and readiness."""

    @abc.abstractmethod
    async def reserve_start(self, campaign: str, cps: float, now: datetime) -> datetime:
        """Calls-per-second across all workers: reserve the next start slot of the
        campaign and return when it is (now, or later if the slot is taken)."""

    @abc.abstractmethod
    async def report_readiness(self, report: ProviderReadiness) -> None:
        """Store a worker's latest readiness finding for a provider (one row per worker
        and provider, replaced)."""

    @abc.abstractmethod
    async def readiness_reports(self, since: datetime) -> list[ProviderReadiness]:
        """Every worker's readiness findings checked at or after `since`, by provider then owner."""

    @abc.abstractmethod
    async def abandon_counts(self, campaign: str, since: datetime, until: datetime) -> AbandonCounts:
        """issue 13: the campaign's live answers and abandoned calls answered in [since,
        until), over every worker (the abandon rate's rolling window)."""

    @abc.abstractmethod
    async def ringing_unattached(self, campaign: str) -> list[datetime]:
        """issue 13: when each of the campaign's calls still up with no agent attached (a
        client-first call ringing, or answered and waiting for an agent) started, oldest
        first, over every worker: the pacer's calls in flight."""

    @abc.abstractmethod
    async def recent_calls(self, campaign: str, since: datetime, limit: int) -> list[CallRecord]:
        """issue 13: the campaign's finished calls started at or after `since`, newest
        first, at most `limit` (the pacing statistics every worker builds alike)."""

    @abc.abstractmethod
    async def recent_outcomes(self, campaign: str, since: datetime, limit: int) -> list[PacedCall]:
        """issue 13: `recent_calls` narrowed to what the pacing statistics read, newest first."""

    @abc.abstractmethod
    async def abandoned_since(self, client_ids: Sequence[str], since: datetime) -> dict[str, datetime]:
        """issue 13: of these clients, those with an abandoned call answered at or after
        `since`, each with its latest such answer (the 72 h rule)."""


class ClientHistory(Clients, CallLog, Plans, Pacing, Protocol):
    """A client's row, its calls and events, its place in a plan and its campaign's
    abandon rate (`dialer why`)."""


class DayRecords(CallLog, Plans, Protocol):
    """A day's calls, events and plans (reports, the daily jobs)."""


class CallHistory(Clients, CallLog, Protocol):
    """Clients and their calls (the simulation's audit)."""


class QueueStatus(Clients, CallLog, Pacing, Protocol):
    """The queue's counts, the day's calls and the workers' readiness (`dialer status`)."""


__all__ = [
    "CallHistory",
    "CallLog",
    "ClientHistory",
    "Clients",
    "Database",
    "DayRecords",
    "Pacing",
    "Plans",
    "Queue",
    "QueueStatus",
]
