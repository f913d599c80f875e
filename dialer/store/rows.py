"""Rows to records, and the few values both stores compute the same way.

Both stores select the same columns in the same order (CLIENT_COLUMNS, CALL_COLUMNS,
EVENT_COLUMNS; the .sql files spell them out); what differs is how a value comes back:
SQLite keeps instants and dates as ISO 8601 text and booleans as 0/1, PostgreSQL returns
native values. A :class:`RowMapper` is built once per store with its two converters.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from dialer.domain import CallStatus, ClientState, Disposition, Guideline, Priority, Stage, priority_of
from dialer.model import (
    CallRecord,
    ClientUpdate,
    DueGroup,
    EventRecord,
    PlanEntry,
    ProviderReadiness,
    QueuedClient,
    Schedule,
)

# The column order every client, call and event read uses (the row mappers unpack it).
CLIENT_COLUMNS = (
    "id", "name", "phone", "timezone", "country", "schedule", "campaign", "campaign_pinned", "stage", "complaint",
    "hot_calls", "attempts_today", "attempts_total", "attempts_day", "callback_at", "awaiting_disposition",
    "invalid_number", "due_at", "next_dial_at", "window_closes_at", "cap_until", "priority", "schedule_reason",
    "needs_schedule", "lease_owner", "lease_token", "lease_until", "open_call_id", "attributes", "slack_key",
)  # fmt: skip
# What a CallRecord is read from (state_before is written with a disposition, not at the start).
CALL_COLUMNS = (
    "call_id", "client_id", "campaign", "agent", "phone", "client_tz", "attempt", "started_at", "local_day",
    "status", "provider", "provider_call_id", "answered_at", "ended_at", "ring_s", "talk_s", "guideline",
    "disposition", "disposition_at", "note", "error", "allowed_by", "worker", "state_before",
)  # fmt: skip
EVENT_COLUMNS = ("id", "at", "client_id", "call_id", "kind", "from_stage", "to_stage", "reason", "data")

encode_json = json.JSONEncoder(ensure_ascii=False, default=str).encode


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class RowMapper:
    """Rows (in the column orders above) to records, given how the database returns an
    instant and a date."""

    instant: Callable[[Any], datetime | None] = _same
    day: Callable[[Any], date | None] = _same

    def client(self, r: Sequence[Any]) -> QueuedClient:
        (
            id_, name, phone, tz, country, schedule, campaign, pinned, stage, complaint, hot_calls,
            a_today, a_total, a_day, callback_at, awaiting, invalid, due_at, next_dial_at, closes, cap_until,
            priority, reason, needs, l_owner, l_token, l_until, open_call, attributes, slack_key,
        ) = r  # fmt: skip
        at = self.instant
        state = ClientState(
            stage=Stage(stage),
            complaint=bool(complaint),
            hot_calls=hot_calls,
            attempts_today=a_today,
            attempts_total=a_total,
            attempts_day=self.day(a_day) if a_day else None,
            callback_at=at(callback_at),
            awaiting_disposition=bool(awaiting),
            invalid_number=bool(invalid),
        )
        return QueuedClient(
            id=id_, name=name, phone=phone, timezone=tz, country=country, schedule=schedule, campaign=campaign,
            campaign_pinned=bool(pinned), state=state, due_at=at(due_at), next_dial_at=at(next_dial_at),
            window_closes_at=at(closes), cap_until=at(cap_until), priority=priority, schedule_reason=reason,
            needs_schedule=bool(needs), lease_owner=l_owner, lease_token=l_token, lease_until=at(l_until),
            open_call_id=open_call, attributes=json.loads(attributes) if attributes and attributes != "{}" else {},
            slack_key=at(slack_key),
        )  # fmt: skip

    def call(self, r: Sequence[Any]) -> CallRecord:
        (
            call_id, client_id, campaign, agent, phone, tz, attempt, started, local_day, status, provider,
            pcid, answered, ended, ring_s, talk_s, guideline, disposition, disp_at, note, error, allowed_by, worker,
            before,
        ) = r  # fmt: skip
        at = self.instant
        return CallRecord(
            call_id=call_id, client_id=client_id, campaign=campaign, agent=agent, phone=phone, client_tz=tz,
            attempt=attempt, started_at=at(started), local_day=self.day(local_day),  # type: ignore[arg-type]
            status=CallStatus(status), provider=provider, provider_call_id=pcid, answered_at=at(answered),
            ended_at=at(ended), ring_s=ring_s, talk_s=talk_s,
            guideline=Guideline(guideline) if guideline else None,
            disposition=Disposition(disposition) if disposition else None,
            disposition_at=at(disp_at), note=note, error=error, allowed_by=allowed_by, worker=worker,
            state_before=ClientState.from_data(json.loads(before)) if before else None,
        )  # fmt: skip

    def event(self, r: Sequence[Any]) -> EventRecord:
        return EventRecord(
            id=r[0], at=self.instant(r[1]), client_id=r[2], call_id=r[3], kind=r[4],  # type: ignore[arg-type]
            from_stage=r[5], to_stage=r[6], reason=r[7], data=json.loads(r[8]) if r[8] else {},
        )  # fmt: skip

    def due_group(self, r: Sequence[Any]) -> DueGroup:
        at = self.instant
        return DueGroup(r[0], r[1], r[2], at(r[3]), at(r[4]), at(r[5]), int(r[6]))  # type: ignore[arg-type]

    def plan_entry(self, r: Sequence[Any]) -> PlanEntry:
        return PlanEntry(r[0], r[1], self.instant(r[2]), self.instant(r[3]), bool(r[4]))  # type: ignore[arg-type]

    def readiness(self, r: Sequence[Any]) -> ProviderReadiness:
        return ProviderReadiness(
            owner=r[0], provider=r[1], ready=bool(r[2]), reason=r[3],
            since=self.instant(r[4]), checked_at=self.instant(r[5]),  # type: ignore[arg-type]
        )  # fmt: skip


def call_order(c: QueuedClient) -> tuple[Any, ...]:
    """The call order of claims, plans and `due_clients`, as a Python sort key."""
    return (c.priority, c.slack_key or c.window_closes_at, c.window_closes_at, c.next_dial_at, c.id)


def slack_of(placed: Schedule | ClientUpdate) -> datetime | None:
    """The slack key to store: the placement's, else its window's close (a writer that
    computed none still leaves the client claimable, ordered by its closing window)."""
    return placed.slack_key or placed.window_closes_at


class Priorities(dict[ClientState, int]):
    """`priority_of` per state, cached (an import asks for the same few states a million times)."""

    def __missing__(self, state: ClientState) -> int:
        self[state] = value = int(priority_of(state))
        return value


def priority_sql(complaint_true: str = "complaint") -> str:
    """`priority_of` as an SQL expression over a clients row, so a store can set it for
    many rows at once (after a re-import changed stage or complaint). The .sql files
    spell it out; a contract test checks that this and `priority_of` agree, and that
    the files use this expression."""
    return (
        f"CASE WHEN {complaint_true} THEN {int(Priority.COMPLAINT)} "
        f"WHEN callback_at IS NOT NULL THEN {int(Priority.CALLBACK)} "
        f"WHEN stage = 'hot' THEN {int(Priority.HOT)} "
        f"WHEN stage = 'customer' THEN {int(Priority.CUSTOMER)} "
        f"ELSE {int(Priority.PROSPECT)} END"
    )


__all__ = [
    "CALL_COLUMNS",
    "CLIENT_COLUMNS",
    "EVENT_COLUMNS",
    "Priorities",
    "RowMapper",
    "call_order",
    "encode_json",
    "priority_sql",
    "slack_of",
]
