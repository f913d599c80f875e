"""One call's technical result (and optional disposition) -> the client's new state.

Pure: no I/O, no clock. ``now`` is an aware UTC instant passed in; the client-local facts
the rules need (the local date of the call, the instant of the next local midnight) are
passed in by the caller, who knows the client's zone. The returned ``due_at`` ignores
working hours (dialer/calendar.py maps it into the next open window); ``None`` = never.

Rules, with the choices made where shared/domain.md is silent:

* answered + disposition  -> lifecycle.apply_disposition: the deciding-call rule of the
                             calling campaign, the periods of the campaign that works the
                             client's new stage (``periods``); the talk time against the
                             3-5 minute guideline is appended to the reason.
* answered, no disposition -> an agent records it later (``dialer dispose``): the client is
                             marked awaiting_disposition, attempt counters reset, and it is
                             dialed again after ``lifecycle.awaiting_disposition`` (of the
                             campaign working its stage) so it is not lost if nobody ever
                             records it. callback_at is kept until the disposition says
                             what happened.
* busy / no_answer / failed / machine -> that status's Retry. Counters: attempts_today is
  per client-local day (restarts when ``local_day`` differs from ``attempts_day``);
  attempts_total counts every unanswered attempt since the last conversation, whatever
  the status, and is compared with the *current* status's ``max_total``.
    - attempts_total >= max_total -> unreachable: counters reset, callback_at dropped (the
      appointment is long missed), due after ``unreachable_recontact``;
    - attempts_today >= max_per_day -> the next local day: due = the later of the next
      local midnight and now + delay (the delay is the minimum gap between attempts);
    - else due = now + delay.
  A missed agreed callback keeps callback_at (and with it its priority).
* invalid_number          -> invalid_number = True, due None.
* canceled                -> our side canceled (shutdown, hang-up before ringing): not an
                             attempt, nothing changes, due now (retry when the window allows).
* interrupted             -> the worker died during the call and neither it nor the provider
                             knows how it ended: not an attempt either (the dialer cut it, not
                             the client), nothing changes; due after the failed-call delay, so a
                             client who may just have been talking is not rung again at once.
* a do-not-call client or one with an invalid number: due None, whatever happened.

``caps_reopen_at`` is the contact-cap helper (per client-local day / ISO week / month).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dialer.config.models import Campaign, Caps, Lifecycle, Retry, Talk
from dialer.domain import CallStatus, ClientState, Disposition, Guideline, Stage
from dialer.lifecycle import Transition, apply_disposition, human_duration

__all__ = [
    "CallFacts",
    "Transition",
    "apply_call",
    "caps_reopen_at",
    "classify_talk",
    "next_local_day_start",
]


@dataclass(frozen=True)
class CallFacts:
    """What is known about one finished call."""

    status: CallStatus
    talk_s: float = 0.0
    disposition: Disposition | None = None
    disposition_at: datetime | None = None  # agreed callback / meeting time


def classify_talk(talk_s: float, talk: Talk) -> Guideline | None:
    """Talk time against the guideline: short < target_min <= within <= target_max < long.

    None when there was no talk at all (not answered, or 0 s).
    """
    if talk_s <= 0:
        return None
    if talk_s < talk.target_min.total_seconds():
        return Guideline.SHORT
    if talk_s <= talk.target_max.total_seconds():
        return Guideline.WITHIN
    return Guideline.LONG


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (UTC), got naive {value!r}")


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant the local date ``day`` begins in ``zone``.

    DST-safe: if 00:00 does not exist (a spring-forward gap at midnight), fold=0 resolves
    with the pre-transition offset, which is exactly the instant the day starts; if it
    is ambiguous, fold=0 is its first occurrence, again the start of the day.
    """
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def next_local_day_start(now: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of the next local midnight after ``now`` in ``zone`` (for apply_call)."""
    _require_aware(now, "now")
    return _local_midnight(now.astimezone(zone).date() + timedelta(days=1), zone)


_RETRIED = {
    CallStatus.BUSY: "busy",
    CallStatus.NO_ANSWER: "no_answer",
    CallStatus.FAILED: "failed",
    CallStatus.MACHINE: "machine",
    CallStatus.ABANDONED: "abandoned",
}


def apply_call(
    state: ClientState,
    facts: CallFacts,
    campaign: Campaign,
    now: datetime,
    local_day: date,
    *,
    next_local_day_start: datetime,
    periods: Mapping[Stage, Lifecycle] | None = None,
) -> Transition:
    """The client's new state after one call (see the module docstring for the rules).

    ``campaign`` is the campaign that made the call (talk guideline, retries, the
    deciding-call rule); ``periods`` maps a stage to the lifecycle of the campaign that
    works it (see lifecycle.apply_disposition), resolved by the caller.
    ``local_day`` is the client-local date of the call; ``next_local_day_start`` the UTC
    instant of the client's next local midnight (where a per-day retry cap reopens).
    Raises ValueError for a call that has not finished (status dialing), a disposition
    on a call that was not answered, or naive datetimes.
    """
    _require_aware(now, "now")
    _require_aware(next_local_day_start, "next_local_day_start")
    status = facts.status
    if not status.final:
        raise ValueError("the call has not finished (status dialing): nothing to apply")
    if facts.disposition is not None and status is not CallStatus.ANSWERED:
        raise ValueError(f"a disposition ({facts.disposition}) needs an answered call, got {status}")

    result = _transition(state, facts, campaign, now, local_day, next_local_day_start, periods)
    if not result.state.dialable and result.due_at is not None:
        # Guarantee: a do-not-call client (or an invalid number) is never scheduled again.
        why = "do-not-call" if result.state.stage is Stage.DNC else "number invalid"
        result = replace(result, due_at=None, reason=f"{result.reason}; {why}: never called")
    return result


def _transition(
    state: ClientState,
    facts: CallFacts,
    campaign: Campaign,
    now: datetime,
    local_day: date,
    next_day: datetime,
    periods: Mapping[Stage, Lifecycle] | None,
) -> Transition:
    status = facts.status
    lifecycle = campaign.lifecycle

    if status is CallStatus.ANSWERED:
        guideline = classify_talk(facts.talk_s, campaign.talk)
        talk_note = f" [talk {facts.talk_s:.0f} s, {guideline}]" if guideline is not None else ""
        if facts.disposition is not None:
            result = apply_disposition(state, facts.disposition, lifecycle, now, facts.disposition_at, periods=periods)
            return replace(result, reason=result.reason + talk_note)
        new = state.evolve(awaiting_disposition=True, attempts_today=0, attempts_total=0, attempts_day=None)
        # The stage does not change: the campaign working it says how long to wait.
        wait = (periods or {}).get(state.stage, lifecycle).awaiting_disposition
        return Transition(
            new,
            now + wait,
            f"answered, disposition not recorded yet: dial again in {human_duration(wait)} if it never is{talk_note}",
            "awaiting_disposition",
        )

    if status is CallStatus.INVALID_NUMBER:
        new = state.evolve(invalid_number=True)
        return Transition(new, None, "invalid number: fix the phone number and re-import", "invalid_number")

    if status is CallStatus.CANCELED:
        # Our own doing (shutdown, hang-up before ringing): the client did nothing wrong.
        return Transition(
            state, now, "canceled by the dialer: not an attempt, retry when the window allows", "canceled"
        )

    if status is CallStatus.INTERRUPTED:
        delay = campaign.retry.failed.delay
        return Transition(
            state,
            now + delay,
            f"interrupted by the dialer's own crash: not an attempt, retry in {human_duration(delay)}",
            "interrupted",
        )

    name = _RETRIED[status]
    retry: Retry = getattr(campaign.retry, name)
    today = state.attempts_today if state.attempts_day == local_day else 0
    today += 1
    total = state.attempts_total + 1

    if total >= retry.max_total:
        recontact = campaign.retry.unreachable_recontact
        new = state.evolve(attempts_today=0, attempts_total=0, attempts_day=local_day, callback_at=None)
        return Transition(
            new,
            now + recontact,
            f"{name}: unreachable after {total} attempts, try again in {human_duration(recontact)}",
            "unreachable",
        )

    new = state.evolve(attempts_today=today, attempts_total=total, attempts_day=local_day)
    if today >= retry.max_per_day:
        due = max(next_day, now + retry.delay)
        return Transition(
            new,
            due,
            f"{name}: {today} attempts today (max {retry.max_per_day}), next local day",
            "retry_next_day",
        )
    return Transition(
        new,
        now + retry.delay,
        f"{name}: attempt {today} today / {total} in all, retry in {human_duration(retry.delay)}",
        "retry",
    )


def caps_reopen_at(contacts: Sequence[datetime], caps: Caps, zone: ZoneInfo, now: datetime) -> datetime | None:
    """When contact caps allow the next contact, or None if none is reached at ``now``.

    ``contacts`` are this client's earlier contact instants (aware, UTC), already filtered
    by the caller to the kind ``caps.count`` counts, and including every contact already
    made (a contact at ``now`` itself counts if the caller passes it). Counting is by the
    client-local calendar in ``zone``: the local date of ``now``, its ISO week (Mon-Sun)
    and its calendar month. When caps are reached, the result is the earliest UTC instant
    at which every reached cap has reset (next local midnight / next Monday 00:00 / the
    1st of next month 00:00). Counts only fall at those resets, so after that instant no
    cap that was not reached now can be reached without a new contact.
    """
    _require_aware(now, "now")
    today = now.astimezone(zone).date()
    week_start = today - timedelta(days=today.weekday())
    month_start = today.replace(day=1)
    local_days = [c.astimezone(zone).date() for c in contacts]

    reopen: list[date] = []
    if caps.per_day is not None and sum(1 for d in local_days if d == today) >= caps.per_day:
        reopen.append(today + timedelta(days=1))
    if caps.per_week is not None:
        in_week = sum(1 for d in local_days if week_start <= d < week_start + timedelta(days=7))
        if in_week >= caps.per_week:
            reopen.append(week_start + timedelta(days=7))
    if caps.per_month is not None:
        in_month = sum(1 for d in local_days if (d.year, d.month) == (today.year, today.month))
        if in_month >= caps.per_month:
            reopen.append((month_start + timedelta(days=32)).replace(day=1))
    if not reopen:
        return None
    return _local_midnight(max(reopen), zone)
