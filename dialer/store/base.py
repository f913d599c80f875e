"""The queue's interface. The store is the only place with SQL.

Two implementations keep the same contract (tests/contract runs against each):
``sqlite.SqliteStore`` (embedded default, one worker) and, for many workers,
a PostgreSQL store. A small in-process one is not provided on purpose: the SQLite
store on a temp file is fast enough for unit tests and is the real thing.

Vocabulary:
- *due_at*: when the lifecycle wants the next contact (ignores working hours);
- *next_dial_at*: the earliest instant that is due AND inside the client's window;
- *window_closes_at*: the last instant a call may start in that window;
- *slack_key*: next_dial_at + the callable time the client has left in its local day
  (never before window_closes_at, never more than a day after next_dial_at). Claims and
  the daily plan order by (priority, slack_key, window_closes_at, next_dial_at, id): within
  a class the client with the least callable time left first; at equal slack the window
  that closes first, then the one due longest. A write without one stores
  window_closes_at (the order by closing window);
- *lease*: a worker's claim on a client (owner, token, until). An outcome is written
  only while the token still matches, so a worker presumed dead cannot overwrite a
  newer result.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from dialer.domain import CallStatus, ClientRecord, ClientState, Disposition, Guideline, Stage


@dataclass(frozen=True)
class QueuedClient:
    id: str
    name: str
    phone: str
    timezone: str
    country: str
    schedule: str | None
    campaign: str | None
    campaign_pinned: bool
    state: ClientState
    due_at: datetime | None
    next_dial_at: datetime | None
    window_closes_at: datetime | None
    cap_until: datetime | None
    priority: int
    schedule_reason: str | None
    needs_schedule: bool
    lease_owner: str | None
    lease_token: str | None
    lease_until: datetime | None
    open_call_id: str | None
    attributes: dict[str, str] = field(default_factory=dict)
    slack_key: datetime | None = None


@dataclass(frozen=True)
class Claim:
    """A client leased to one worker for one dial attempt."""

    client: QueuedClient
    lease_token: str
    lease_until: datetime


@dataclass(frozen=True)
class CallStart:
    call_id: str
    client_id: str
    campaign: str
    agent: str | None
    phone: str
    client_tz: str
    attempt: int
    started_at: datetime
    local_day: date
    allowed_by: str
    provider: str
    lease_token: str


@dataclass(frozen=True)
class CallRecord:
    call_id: str
    client_id: str
    campaign: str
    agent: str | None
    phone: str
    client_tz: str
    attempt: int
    started_at: datetime
    local_day: date
    status: CallStatus
    provider: str
    provider_call_id: str | None
    answered_at: datetime | None
    ended_at: datetime | None
    ring_s: float
    talk_s: float
    guideline: Guideline | None
    disposition: Disposition | None
    disposition_at: datetime | None
    note: str | None
    error: str | None
    allowed_by: str
    # The client's state before the call's first disposition was applied (None while the
    # call has none): a correction (`dialer dispose --replace`) re-applies from it.
    state_before: ClientState | None = None
    worker: str | None = None  # the worker that placed the call (its lease owner)


@dataclass(frozen=True)
class Schedule:
    """Where a client goes in the queue (the calendar's answer for its due moment)."""

    client_id: str
    next_dial_at: datetime | None
    window_closes_at: datetime | None
    reason: str
    campaign: str | None = None
    slack_key: datetime | None = None


@dataclass(frozen=True)
class CallUpdate:
    status: CallStatus
    provider_call_id: str | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    ring_s: float = 0.0
    talk_s: float = 0.0
    guideline: Guideline | None = None
    disposition: Disposition | None = None
    disposition_at: datetime | None = None
    note: str | None = None
    error: str | None = None
    # With the call's first disposition: the client's state before it (kept once; a
    # correction leaves the stored one alone).
    state_before: ClientState | None = None


@dataclass(frozen=True)
class ClientUpdate:
    """The client's new state after an outcome or a disposition."""

    state: ClientState
    due_at: datetime | None
    next_dial_at: datetime | None
    window_closes_at: datetime | None
    cap_until: datetime | None
    priority: int
    campaign: str | None
    reason: str
    slack_key: datetime | None = None


@dataclass(frozen=True)
class Event:
    kind: str
    reason: str
    from_stage: Stage | None = None
    to_stage: Stage | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EventRecord:
    id: int
    at: datetime
    client_id: str
    call_id: str | None
    kind: str
    from_stage: str | None
    to_stage: str | None
    reason: str
    data: dict[str, Any]


# A group of due clients the claim order cannot tell apart but by id: same zone and
# schedule (so the same windows), class and dial moment (so the same slack key).
GroupKey = tuple[str, "str | None", int, datetime]


@dataclass(frozen=True)
class DueGroup:
    """Clients of one campaign due in a period, counted per :data:`GroupKey`. Within a
    group, claims (and so the day) take them in id order; the plan forecasts how many
    of each group the day dials."""

    timezone: str
    schedule: str | None
    priority: int
    next_dial_at: datetime
    window_closes_at: datetime | None
    slack_key: datetime | None
    count: int

    @property
    def key(self) -> GroupKey:
        return (self.timezone, self.schedule, self.priority, self.next_dial_at)


@dataclass(frozen=True)
class PlanEntry:
    client_id: str
    priority: int
    next_dial_at: datetime
    window_closes_at: datetime | None
    fits: bool


@dataclass(frozen=True)
class Plan:
    """A day's plan; `entries` may be the first rows only (see `get_plan(limit=)`)."""

    campaign: str
    day: date
    capacity: int
    due: int
    entries: list[PlanEntry]
    created_at: datetime

    @property
    def fits(self) -> int:
        return min(self.due, self.capacity)

    @property
    def rolls_over(self) -> int:
        return self.due - self.fits


@dataclass(frozen=True)
class ProviderReadiness:
    """What one worker last found about one provider: ready to place calls or not, and
    why (`dialer status` reads these across workers; a worker rewrites its own rows at
    least every READINESS_REPORT_EVERY, so older rows are of a worker that is gone)."""

    owner: str
    provider: str
    ready: bool
    reason: str | None
    since: datetime  # when this worker found it in this state
    checked_at: datetime


READINESS_REPORT_EVERY = timedelta(seconds=60)
# A finding older than this is of a worker that stopped or died: `dialer status` ignores it.
READINESS_STALE = timedelta(minutes=3)


# A daily job started but never finished (its worker died) is run again after this.
JOB_TAKEOVER = timedelta(minutes=15)


class LeaseLost(Exception):
    """The client's lease moved on (expired and rescued by someone else)."""


class StoreError(Exception):
    """The store cannot be used. The message is one line for the operator: it names
    the database (never its password) and the reason. `exit_code` is the CLI's."""

    exit_code = 3


class StoreUnreachable(StoreError):
    """The database cannot be reached or opened (server down, refused, timed out,
    authentication failed, file not readable). Often worth retrying later."""

    exit_code = 3


class AccessDenied(StoreError):
    """The database refuses this role what the command needs (a privilege): an operator
    must grant it; retrying alone does not help."""

    exit_code = 4


def denied_message(database: str, reason: object) -> str:
    return (
        f"{database}: {reason} (grant the dialer's role what it needs: CREATE to create or "
        "migrate the schema, USAGE on the schema and read/write on its tables)"
    )


class SchemaMismatch(StoreError):
    """The database is missing, has no dialer schema, or its schema is older or newer
    than this version knows: an operator must act (`dialer migrate`, or upgrade)."""

    exit_code = 4


@dataclass(frozen=True)
class PlanCounts:
    """A stored plan's progress on its day."""

    planned: int
    dialed: int  # planned clients with a call that day
    rolled_over: int  # planned, not dialed, and no longer dialable that day


def newer_schema_message(database: str, found: int, known: int) -> str:
    return (
        f"{database} has schema version {found}, newer than this dialer knows ({known}); "
        "upgrade dialer on this host (never migrate a newer database down)"
    )


class DispositionConflict(Exception):
    """The call's disposition is not the one the writer expected (another agent or a
    retry recorded one meanwhile): nothing was written."""

    def __init__(self, call_id: str, found: Disposition | None):
        super().__init__(f"call {call_id} has disposition {found.value if found else 'none'}")
        self.call_id = call_id
        self.found = found


class Store(abc.ABC):
    """Everything the worker, the CLI and the reports need from the queue."""

    # The schema version this code knows (the number of its migrations).
    known_schema_version: int = 0

    # -- life cycle
    @abc.abstractmethod
    async def open(self, *, create: bool = True) -> None:
        """Connect. With `create=False` a database that does not exist is not created
        (SchemaMismatch). A database that cannot be reached raises StoreUnreachable."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def describe(self) -> str:
        """The database for messages: a SQLite path or the DSN without its password."""

    # Exceptions that mean the connection to the database failed mid-command.
    connection_errors: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)
    # Exceptions that mean the database refused this role an operation (privileges).
    denied_errors: tuple[type[BaseException], ...] = ()

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

    # -- import and scheduling
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

    # -- the queue
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
    async def reserve_start(self, campaign: str, cps: float, now: datetime) -> datetime:
        """Calls-per-second across all workers: reserve the next start slot of the
        campaign and return when it is (now, or later if the slot is taken)."""

    @abc.abstractmethod
    async def release(self, claim: Claim, schedule: Schedule | None, *, cap_until: datetime | None = None) -> None:
        """Give a claimed client back without a call (optionally rescheduled). With
        `cap_until` (a claim-time cap check found the client capped) it is stored too."""

    @abc.abstractmethod
    async def start_call(self, start: CallStart) -> int:
        """Write the call row (status dialing) before the provider is asked to dial:
        every call that started has a row, even after a crash. Returns the attempt
        number (1 + the client's previous calls), assigned in the same transaction;
        `start.attempt` is ignored. The row's `worker` is the client's lease owner."""

    @abc.abstractmethod
    async def set_provider_call_id(self, call_id: str, provider_call_id: str) -> None: ...

    @abc.abstractmethod
    async def report_readiness(self, report: ProviderReadiness) -> None:
        """Store a worker's latest readiness finding for a provider (one row per worker
        and provider, replaced)."""

    @abc.abstractmethod
    async def readiness_reports(self, since: datetime) -> list[ProviderReadiness]:
        """Every worker's readiness findings checked at or after `since`, by provider then owner."""

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
    async def mark_all_for_schedule(self) -> int:
        """After a config reload: every dialable client's window is recomputed (they stay
        claimable meanwhile; the claim-time window check guards the guarantee)."""

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

    # -- reading
    @abc.abstractmethod
    async def get_client(self, client_id: str) -> QueuedClient | None: ...

    @abc.abstractmethod
    async def get_call(self, call_id: str) -> CallRecord | None: ...

    @abc.abstractmethod
    async def calls_between(self, start: datetime, end: datetime) -> list[CallRecord]: ...

    @abc.abstractmethod
    async def client_calls(self, client_id: str, limit: int = 20) -> list[CallRecord]: ...

    @abc.abstractmethod
    async def contact_times(self, client_id: str, since: datetime, conversations_only: bool) -> list[datetime]:
        """Start instants of the client's calls since `since`: answered ones only, or
        every attempt (calls still dialing included; calls the dialer itself cut,
        canceled or interrupted, excluded: they are not the client's attempts)."""

    @abc.abstractmethod
    async def events_for(self, client_id: str, limit: int = 50) -> list[EventRecord]: ...

    @abc.abstractmethod
    async def events_between(self, start: datetime, end: datetime) -> list[EventRecord]: ...

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

    # -- plans and daily jobs
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
