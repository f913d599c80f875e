"""The queue's interface. The store is the only place with SQL.

Two implementations keep the same contract (tests/contract runs against each):
``sqlite.SqliteStore`` (embedded default, one worker) and, for many workers,
a PostgreSQL store. A small in-process one is not provided on purpose: the SQLite
store on a temp file is fast enough for unit tests and is the real thing.

Vocabulary:
- *due_at*: when the lifecycle wants the next contact (ignores working hours);
- *next_dial_at*: the earliest instant that is due AND inside the client's window;
- *window_closes_at*: the last instant a call may start in that window;
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
    worker: str | None = None  # the worker that placed the call (its lease owner)


@dataclass(frozen=True)
class Schedule:
    """Where a client goes in the queue (the calendar's answer for its due moment)."""

    client_id: str
    next_dial_at: datetime | None
    window_closes_at: datetime | None
    reason: str
    campaign: str | None = None


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


# A daily job started but never finished (its worker died) is run again after this.
JOB_TAKEOVER = timedelta(minutes=15)


class LeaseLost(Exception):
    """The client's lease moved on (expired and rescued by someone else)."""


class Store(abc.ABC):
    """Everything the worker, the CLI and the reports need from the queue."""

    # -- life cycle
    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def migrate(self) -> int:
        """Bring the schema to the current version; return that version."""

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
        pass at import); every other touched client is marked as needing a schedule."""

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
    async def release(self, claim: Claim, schedule: Schedule | None) -> None:
        """Give a claimed client back without a call (optionally rescheduled)."""

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
        self, call_id: str, call: CallUpdate, client: ClientUpdate, event: Event, now: datetime
    ) -> None:
        """An agent's disposition recorded after the call (`dialer dispose`): same
        one-transaction rule; raises LeaseLost if the client is in a call right now."""

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
    async def next_dial_after(self, now: datetime) -> datetime | None:
        """The earliest next_dial_at later than `now` (the simulation jumps there)."""

    @abc.abstractmethod
    async def queue_stats(self, campaign: str, now: datetime) -> dict[str, int]:
        """lines_in_use (leased), due_now, queued (dialable at all)."""

    # -- plans and daily jobs
    @abc.abstractmethod
    async def count_due(self, campaign: str, until: datetime) -> int: ...

    @abc.abstractmethod
    async def due_zones(self, campaign: str, until: datetime) -> list[str]:
        """The distinct client zones among the clients due before `until`."""

    @abc.abstractmethod
    async def form_plan(self, campaign: str, day: date, until: datetime, capacity: int, now: datetime) -> int:
        """Store the day's plan from the queue, in call order, in the database itself
        (a million-client queue never crosses into Python); the first `capacity` fit.
        Re-forming replaces. Returns the number of due clients."""

    @abc.abstractmethod
    async def get_plan(self, campaign: str, day: date, limit: int | None = None) -> Plan | None: ...

    @abc.abstractmethod
    async def plan_position(self, campaign: str, day: date, client_id: str) -> tuple[int, int, bool] | None:
        """(1-based position, plan size, fits) of a client in a stored plan."""

    @abc.abstractmethod
    async def plan_counts(self, campaign: str, day: date, start: datetime, end: datetime) -> tuple[int, int] | None:
        """(planned, rolled over = planned but not dialed in [start, end)), or None without a plan."""

    @abc.abstractmethod
    async def try_start_job(self, job: str, campaign: str, day: date, owner: str, now: datetime) -> bool:
        """Record that a daily job runs; False if it already ran or runs for that day.
        A run left unfinished for JOB_TAKEOVER (its worker died) may be taken over."""

    @abc.abstractmethod
    async def finish_job(self, job: str, campaign: str, day: date, now: datetime) -> None: ...
