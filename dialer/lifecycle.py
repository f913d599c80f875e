"""The seed's lifecycle: what a recorded disposition does to a client's stage and next contact.

Pure: no I/O, no clock. ``now`` and any agreed moment ``at`` are aware datetimes passed in.
The result's ``due_at`` is the earliest moment the client should be called again, *ignoring*
working hours (dialer/calendar.py moves it into the next open window), or ``None`` for never.

The rules (shared/domain.md, "Lifecycle"), plus the choices made where the seed is silent:

* prospect + no_need          -> prospect, re-contact after ``no_need_recontact``.
* prospect + interested       -> hot (hot_calls = 1), next call at the agreed ``at`` or after
                                 ``hot_followup``.
* hot + interested / callback -> hot, hot_calls + 1 (a hot conversation), next call at ``at``
                                 (the seed: the second call must end with an agreed time; the
                                 reason says so when none was agreed).
* The deciding call: once a hot client has had ``hot_calls_before_decision`` hot
  conversations, the next one is meant to decide. If it ends *without* a decision
  (interested or callback, i.e. hot_calls would become >= hot_calls_before_decision + 1),
  the client goes back to prospect with ``no_need_recontact`` -- even if a callback time
  was agreed: a client must not stay hot forever, and the agreed time is dropped.
  Decisions are contract_signed, refused, no_need (interest lost), do_not_call,
  wrong_number. meeting_set is *not* treated as indecision: a meeting is a goal reached
  (the seed: "if the goal is only to set a meeting, don't sell"); it still counts as a hot
  conversation, so the call after the meeting is itself a deciding call.
* callback (needs ``at``)     -> stage unchanged, callback_at = at, due = at (never earlier).
* meeting_set (needs ``at``)  -> hot (a customer stays customer), due = at + meeting_followup.
* contract_signed             -> customer, hot_calls = 0, complaint cleared (only one
                                 disposition per call is recorded; a client who signs is
                                 taken as satisfied), first check-in after ``checkin``.
* refused                     -> prospect/hot: prospect, hot_calls = 0, ``refused_recontact``;
                                 a customer refusing an offer stays customer, ``checkin``.
* hot + no_need               -> interest lost: prospect, hot_calls = 0, ``no_need_recontact``.
* customer + no_need          -> check-in, all fine: stays customer, ``checkin``.
* customer + interested       -> an upsell: stays customer, ``at`` or ``hot_followup``.
* complaint                   -> complaint = True, stage kept, ``complaint_followup``
                                 (ordering puts complaints first; see domain.priority_of).
* complaint_resolved          -> complaint = False; next contact ``checkin`` (``hot_followup``
                                 for a hot client, so a hot lead does not cool off for a month).
* contract_terminated         -> prospect, complaint and hot_calls cleared, after
                                 ``terminated_cooldown``. Applied whatever the recorded
                                 stage (the client's own word beats a stale stage).
* do_not_call                 -> stage dnc, never again. DNC is terminal: any later
                                 disposition keeps dnc and due None.
* wrong_number                -> invalid_number = True, due None (fix the number, re-import).

Further choices:

* An explicit ``at`` is the next contact the agent agreed with the client, and wins over
  the configured period for every disposition that keeps calling (the seed: every outcome
  is "written back with the next contact date"); it then also becomes ``callback_at`` so
  the agreed call is ordered as a callback. Exceptions: meeting_set (``at`` is the
  meeting), the failed deciding call (above), do_not_call / wrong_number / a dnc client.
* While a complaint stays open and no time was agreed, the next contact is never later
  than ``complaint_followup``: an open complaint must not wait for a 30-day check-in.
* A client whose number is marked invalid gets due None whatever is recorded (it cannot
  be dialed until the number is fixed).
* Every conversation resets attempts_today/attempts_total (and attempts_day), clears
  awaiting_disposition, and clears callback_at unless the new disposition sets one.
* Periods belong to the campaign that will work the client next: each period above is
  read from the lifecycle of the campaign working the client's *new* stage (``periods``),
  so a customer signed by the cold campaign gets the customer campaign's ``checkin``.
  Whether a call was the deciding one is the calling campaign's rule (``policy``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from dialer.config.models import Lifecycle
from dialer.domain import ClientState, Disposition, Stage

__all__ = ["Transition", "allowed_dispositions", "apply_disposition", "human_duration"]


@dataclass(frozen=True)
class Transition:
    """The new state of a client and when to contact it next."""

    state: ClientState  # the new state
    due_at: datetime | None  # next contact moment (ignoring working hours); None = never
    reason: str  # human readable, for the event log and the CLI
    event: str  # short machine kind, e.g. "became_hot", "do_not_call"


def human_duration(d: timedelta) -> str:
    """'3 days', '1 day', '2 h', '15 min', '1 day 12 h' -- for reasons read by supervisors."""
    seconds = int(round(d.total_seconds()))
    if seconds <= 0:
        return "0 min"
    parts: list[str] = []
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        parts.append(f"{days} day" if days == 1 else f"{days} days")
    if hours:
        parts.append(f"{hours} h")
    if minutes:
        parts.append(f"{minutes} min")
    if secs and not days:
        parts.append(f"{secs} s")
    return " ".join(parts) or "0 min"


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (UTC), got naive {value!r}")


def _moves(old: Stage, new: Stage) -> str:
    return f"{old} -> {new}" if old is not new else f"{old} stays {new}"


def apply_disposition(
    state: ClientState,
    disposition: Disposition,
    policy: Lifecycle,
    now: datetime,
    at: datetime | None = None,
    *,
    periods: Mapping[Stage, Lifecycle] | None = None,
) -> Transition:
    """Apply one recorded conversation outcome; see the module docstring for every rule.

    ``policy`` is the lifecycle of the campaign that held the conversation: it decides
    whether this was the deciding call (``hot_calls_before_decision``). ``periods`` maps
    a stage to the lifecycle of the campaign that works that stage: the next contact is
    computed with the periods of the client's *new* stage (a customer signed by the cold
    campaign gets the customer campaign's check-in period); a stage it lacks falls back
    to ``policy``.

    Raises ValueError when ``now``/``at`` are naive, or when a callback / meeting_set
    comes without its agreed moment ``at``.
    """
    _require_aware(now, "now")
    if at is not None:
        _require_aware(at, "at")
    if disposition.needs_time and at is None:
        raise ValueError(f"{disposition} needs the agreed moment (at)")

    old = state.stage
    # Whatever was decided, a conversation took place: the unanswered-attempt counters and
    # the pending disposition are done with; an old callback appointment has been kept.
    talked = state.evolve(
        attempts_today=0,
        attempts_total=0,
        attempts_day=None,
        awaiting_disposition=False,
        callback_at=None,
    )
    d = disposition
    D = Disposition

    if old is Stage.DNC:
        return Transition(talked, None, f"{d}: client is do-not-call, never called again", "dnc_kept")
    if d is D.DO_NOT_CALL:
        new = talked.evolve(stage=Stage.DNC, hot_calls=0)
        return Transition(new, None, f"do_not_call: {old} -> dnc, never call again", "do_not_call")
    if d is D.WRONG_NUMBER:
        new = talked.evolve(invalid_number=True)
        return Transition(new, None, "wrong_number: fix the phone number and re-import", "wrong_number")

    deciding = old is Stage.HOT and state.hot_calls >= policy.hot_calls_before_decision

    def of(new_state: ClientState) -> Lifecycle:
        """The periods of the campaign that will work the client's new stage."""
        return periods.get(new_state.stage, policy) if periods else policy

    # `agreed` is set when `at` is used as the next contact (it then becomes callback_at).
    agreed = False

    def follow(period: timedelta, what: str) -> tuple[datetime, str]:
        """Next contact: the agreed `at` if there is one, else now + the configured period."""
        nonlocal agreed
        if at is not None:
            agreed = True
            return at, f"call at the agreed {at.isoformat()}"
        return now + period, f"{what} in {human_duration(period)}"

    due: datetime
    event: str
    note: str

    if d in (D.INTERESTED, D.CALLBACK) and deciding:
        # The deciding call ended without a decision: the seed wants no endless "hot".
        n = state.hot_calls + 1
        new = talked.evolve(stage=Stage.PROSPECT, hot_calls=0)
        recontact = of(new).no_need_recontact
        due = now + recontact
        note = f"no decision after {n} hot calls, re-contact in {human_duration(recontact)}" + (
            " (agreed time dropped)" if at is not None else ""
        )
        event = "no_decision"
    elif d is D.INTERESTED:
        if old is Stage.CUSTOMER:
            new = talked
            due, note = follow(of(new).hot_followup, "upsell interest, follow up")
            event = "upsell_interest"
        elif old is Stage.PROSPECT:
            new = talked.evolve(stage=Stage.HOT, hot_calls=1)
            due, note = follow(of(new).hot_followup, "follow up")
            event = "became_hot"
        else:  # hot, not yet deciding
            new = talked.evolve(hot_calls=state.hot_calls + 1)
            due, note = follow(of(new).hot_followup, "no time agreed, follow up")
            event = "hot_followup"
    elif d is D.CALLBACK:
        assert at is not None
        hot_calls = state.hot_calls + 1 if old is Stage.HOT else state.hot_calls
        new = talked.evolve(hot_calls=hot_calls)
        # The agreed moment is the due moment: never before it, whatever the stage.
        due, agreed = at, True
        note = f"callback agreed at {at.isoformat()}"
        event = "callback_set"
    elif d is D.MEETING_SET:
        assert at is not None
        if old is Stage.CUSTOMER:
            new = talked
        else:
            new = talked.evolve(stage=Stage.HOT, hot_calls=state.hot_calls + 1)
        after = of(new).meeting_followup
        due = at + after
        note = f"meeting at {at.isoformat()}, call {human_duration(after)} after it"
        event = "meeting_set"
    elif d is D.CONTRACT_SIGNED:
        new = talked.evolve(stage=Stage.CUSTOMER, hot_calls=0, complaint=False)
        due, note = follow(of(new).checkin, "first check-in")
        event = "contract_signed"
    elif d is D.REFUSED:
        if old is Stage.CUSTOMER:
            new = talked
            due, note = follow(of(new).checkin, "offer refused, next check-in")
            event = "offer_refused"
        else:
            new = talked.evolve(stage=Stage.PROSPECT, hot_calls=0)
            due, note = follow(of(new).refused_recontact, "firm refusal, re-contact")
            event = "refused"
    elif d is D.NO_NEED:
        if old is Stage.CUSTOMER:
            new = talked
            due, note = follow(of(new).checkin, "check-in fine, next check-in")
            event = "checkin_ok"
        elif old is Stage.HOT:
            new = talked.evolve(stage=Stage.PROSPECT, hot_calls=0)
            due, note = follow(of(new).no_need_recontact, "interest lost, re-contact")
            event = "interest_lost"
        else:
            new = talked
            due, note = follow(of(new).no_need_recontact, "re-contact")
            event = "no_need"
    elif d is D.COMPLAINT:
        new = talked.evolve(complaint=True)
        due, note = follow(of(new).complaint_followup, "complaint opened, call back")
        event = "complaint_opened"
    elif d is D.COMPLAINT_RESOLVED:
        new = talked.evolve(complaint=False)
        period = of(new).hot_followup if old is Stage.HOT else of(new).checkin
        due, note = follow(period, "complaint resolved, next contact")
        event = "complaint_resolved"
    elif d is D.CONTRACT_TERMINATED:
        new = talked.evolve(stage=Stage.PROSPECT, hot_calls=0, complaint=False)
        due, note = follow(of(new).terminated_cooldown, "contract terminated, cold again")
        event = "contract_terminated"
    else:  # pragma: no cover - every Disposition is handled above
        raise ValueError(f"unknown disposition {d!r}")

    if agreed:
        new = new.evolve(callback_at=at)
    elif new.complaint and due > now + of(new).complaint_followup:
        # An open complaint is followed up at its own pace, not the check-in's.
        followup = of(new).complaint_followup
        due = now + followup
        note += f" (open complaint: call back in {human_duration(followup)})"

    if new.invalid_number:
        return Transition(new, None, f"{d}: {_moves(old, new.stage)}, number invalid: fix it and re-import", event)
    return Transition(new, due, f"{d}: {_moves(old, new.stage)}, {note}", event)


def allowed_dispositions(state: ClientState) -> tuple[Disposition, ...]:
    """The dispositions that make sense for a client in `state` (the agent desktop offers
    only these; `dispositions.dispose` refuses the others). A contract can be terminated
    only by a customer, a complaint resolved only when one is open; a do-not-call client
    is never called, so a conversation with one can only confirm it or flag the number.
    Everything else is possible at any stage (a prospect may complain, a customer may
    sign another contract)."""
    if state.stage is Stage.DNC:
        return (Disposition.DO_NOT_CALL, Disposition.WRONG_NUMBER)
    return tuple(
        d
        for d in Disposition
        if (d is not Disposition.CONTRACT_TERMINATED or state.stage is Stage.CUSTOMER)
        and (d is not Disposition.COMPLAINT_RESOLVED or state.complaint)
    )
