"""The domain's model: the records the rules, the engine and the store pass each other.

Pure data, no I/O and no SQL. The rules (scheduling, planning, outcomes) build and read
these; the store (dialer.store) persists them; neither side imports the other for them.
Vocabulary of the queue (see also dialer.store.base):

- *due_at*: when the lifecycle wants the next contact (ignores working hours);
- *next_dial_at*: the earliest instant that is due AND inside the client's window;
- *window_closes_at*: the last instant a call may start in that window;
- *slack_key*: next_dial_at + the callable time the client has left in its local day
  (never before window_closes_at, never more than a day after next_dial_at);
- *lease*: a worker's claim on a client (owner, token, until).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from dialer.domain import CallStatus, ClientState, Disposition, Guideline, Stage

# A stored window ends within a day of its opening, and a slack key is at most a day after
# it: the claim scans only clients whose key falls within this horizon. The rules cut
# windows to it (dialer.scheduling) and the stores bound their claim range by it.
WINDOW_HORIZON = timedelta(days=1)


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


@dataclass(frozen=True)
class PlanCounts:
    """A stored plan's progress on its day."""

    planned: int
    dialed: int  # planned clients with a call that day
    rolled_over: int  # planned, not dialed, and no longer dialable that day


@dataclass(frozen=True, slots=True)
class AbandonCounts:
    """A campaign's live answers (answered + abandoned) and abandoned calls over a window."""

    live: int
    abandoned: int

    @property
    def rate(self) -> float:
        """Abandoned / live answers (0 with no live answer yet)."""
        return self.abandoned / self.live if self.live else 0.0
