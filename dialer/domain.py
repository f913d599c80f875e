"""The domain vocabulary (see ../shared/domain.md): stages, call statuses, dispositions.

Pure data, no I/O. Every other module speaks these names.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import IntEnum, StrEnum
from functools import lru_cache
from typing import Any

# The years a date given by a person (a CSV cell, --date, --at) may fall in. Far enough
# either way for any real date (a CRM's 1899-12-30 "no date" is simply past), and far
# enough from datetime's own limits (years 1 and 9999) that adding a lifecycle period (at
# most MAX_PERIOD), a zone offset or the calendar's look-ahead never overflows.
EARLIEST_YEAR = 1000
LATEST_YEAR = 8999
# The longest duration a config may set (a period, a delay, a timeout): 100 years.
MAX_PERIOD_DAYS = 36_500


def year_in_range(year: int) -> bool:
    """May a date of this year be reasoned about (see EARLIEST_YEAR / LATEST_YEAR)?"""
    return EARLIEST_YEAR <= year <= LATEST_YEAR


class Stage(StrEnum):
    """Where a client stands in the seed's lifecycle."""

    PROSPECT = "prospect"  # cold: no (or no longer a) need
    HOT = "hot"  # showed interest, has not decided
    CUSTOMER = "customer"  # under contract, called for check-ins
    DNC = "dnc"  # asked never to be called again: terminal


class CallStatus(StrEnum):
    """The technical outcome of one dial attempt."""

    DIALING = "dialing"  # started, no final result yet (in flight or lost in a crash)
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    MACHINE = "machine"
    INVALID_NUMBER = "invalid_number"
    CANCELED = "canceled"  # our side canceled before the client was reached (shutdown, provider never saw it)
    INTERRUPTED = "interrupted"  # the worker died during the call and nobody knows how it ended
    # issue 13: a client-first call answered live with no agent free within abandon_after:
    # the client heard the information message and was hung up on. No conversation.
    ABANDONED = "abandoned"

    @property
    def final(self) -> bool:
        return self is not CallStatus.DIALING

    @property
    def attempt(self) -> bool:
        """Whether the call counts against the client (retry policy, attempt caps).
        A call cut by the dialer itself (canceled, interrupted) is not the client's doing."""
        return self not in (CallStatus.DIALING, CallStatus.CANCELED, CallStatus.INTERRUPTED)


class Disposition(StrEnum):
    """What the conversation decided, recorded by the agent after an answered call."""

    NO_NEED = "no_need"
    INTERESTED = "interested"
    CALLBACK = "callback"
    MEETING_SET = "meeting_set"
    CONTRACT_SIGNED = "contract_signed"
    REFUSED = "refused"
    COMPLAINT = "complaint"
    COMPLAINT_RESOLVED = "complaint_resolved"
    CONTRACT_TERMINATED = "contract_terminated"
    DO_NOT_CALL = "do_not_call"
    WRONG_NUMBER = "wrong_number"

    @property
    def needs_time(self) -> bool:
        """Dispositions that carry an agreed moment (`--at`)."""
        return self in (Disposition.CALLBACK, Disposition.MEETING_SET)


class Priority(IntEnum):
    """Call order within a campaign: lower first (the seed: keep contracts before new sales)."""

    COMPLAINT = 0
    CALLBACK = 1
    HOT = 2
    CUSTOMER = 3
    PROSPECT = 4


class Guideline(StrEnum):
    """Talk time against the 3-5 minute rule."""

    SHORT = "short"
    WITHIN = "within"
    LONG = "long"


@dataclass(frozen=True)
class ClientState:
    """The part of a client row the lifecycle rules read and write.

    `hot_calls` counts conversations held while hot (the deciding call comes after
    `hot_calls_before_decision` of them). `attempts_today`/`attempts_total` count
    unanswered technical attempts since the last conversation (for the retry policy);
    `attempts_day` is the client-local date `attempts_today` belongs to.
    """

    stage: Stage = Stage.PROSPECT
    complaint: bool = False
    hot_calls: int = 0
    attempts_today: int = 0
    attempts_total: int = 0
    attempts_day: date | None = None
    callback_at: datetime | None = None
    awaiting_disposition: bool = False
    invalid_number: bool = False

    def evolve(self, **changes: Any) -> ClientState:
        return replace(self, **changes)

    @property
    def dialable(self) -> bool:
        return self.stage is not Stage.DNC and not self.invalid_number

    def as_data(self) -> dict[str, Any]:
        """JSON-ready (the state before a call's first disposition is kept on the call
        row, so a correction re-applies the lifecycle from it)."""
        return {
            "stage": self.stage.value,
            "complaint": self.complaint,
            "hot_calls": self.hot_calls,
            "attempts_today": self.attempts_today,
            "attempts_total": self.attempts_total,
            "attempts_day": self.attempts_day.isoformat() if self.attempts_day else None,
            "callback_at": self.callback_at.isoformat() if self.callback_at else None,
            "awaiting_disposition": self.awaiting_disposition,
            "invalid_number": self.invalid_number,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ClientState:
        """The inverse of `as_data`."""
        day = data.get("attempts_day")
        callback = data.get("callback_at")
        return cls(
            stage=Stage(data["stage"]),
            complaint=bool(data.get("complaint", False)),
            hot_calls=int(data.get("hot_calls", 0)),
            attempts_today=int(data.get("attempts_today", 0)),
            attempts_total=int(data.get("attempts_total", 0)),
            attempts_day=date.fromisoformat(day) if day else None,
            callback_at=datetime.fromisoformat(callback) if callback else None,
            awaiting_disposition=bool(data.get("awaiting_disposition", False)),
            invalid_number=bool(data.get("invalid_number", False)),
        )


def priority_of(state: ClientState) -> Priority:
    """Class used to order the daily plan and claims."""
    if state.complaint:
        return Priority.COMPLAINT
    if state.callback_at is not None:
        return Priority.CALLBACK
    if state.stage is Stage.HOT:
        return Priority.HOT
    if state.stage is Stage.CUSTOMER:
        return Priority.CUSTOMER
    return Priority.PROSPECT


@dataclass(frozen=True)
class ClientRecord:
    """One client as imported (a CSV row after validation), ready for the store.

    ``None`` in stage/next_contact/complaint/do_not_call means "the cell was empty":
    a new client gets the default, an existing one keeps what the store has. A filled
    stage/next_contact/complaint changes an existing client only when it differs from
    what the last import of that client said (the CRM changed it since), so
    re-importing the original list never undoes the lifecycle's progress.
    Do-not-call is sticky: no import ever clears it.
    """

    id: str
    name: str
    phone: str  # E.164
    timezone: str  # IANA
    country: str  # ISO 3166 alpha-2
    schedule: str | None = None  # named schedule from config; None = campaign default
    stage: Stage | None = None
    next_contact: datetime | None = None  # aware UTC
    complaint: bool | None = None
    do_not_call: bool | None = None
    campaign: str | None = None  # pinned campaign; None = chosen by stage
    attributes: dict[str, str] = field(default_factory=dict)


@lru_cache(maxsize=64)
def initial_state(stage: Stage | None, do_not_call: bool | None, complaint: bool | None) -> ClientState:
    """The state of a client new to the queue, from its CSV cells (empty = default)."""
    return ClientState(stage=Stage.DNC if do_not_call else (stage or Stage.PROSPECT), complaint=bool(complaint))
