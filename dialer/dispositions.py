"""Recording an agent's disposition after the call: the one place `dialer dispose` (and
an HTTP endpoint, when there is one) goes through.

Rules:

* Only an answered call has a disposition, and only one: a second one is refused and
  changes nothing, whether the first came from an agent or from the provider with the
  call's result (the simulated provider, SIP message mode). Each disposition is one
  conversation for the lifecycle, so counting two would, say, count two hot calls.
* A deliberate correction is a separate operation (``replace=True``, ``dialer dispose
  --replace``): the lifecycle is applied again from the client's state *before* the
  call's first disposition (kept on the call row), as if the first had never been
  recorded, and the event row says who corrected what, and when. Only the client's
  latest call can be corrected (a later call's outcome would be undone otherwise), and
  never one of a do-not-call client: do-not-call is sticky, a correction does not lift
  it (the person asked never to be called; that outweighs a lost lead).
* An agreed moment (``at``) in the past is refused; ``at=NEXT_OPENING`` takes the
  client's next opening (its window under the campaign that will work it, after any
  contact cap), and the result says which moment was taken.
* The client is in a call right now: refused, record it when that call ends.

Every refusal is a `DispositionRefused` (a ValueError) with a one-line message for the
person and a short `kind` (for an HTTP status); an unknown call is a LookupError.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Literal, Protocol
from zoneinfo import ZoneInfo

from dialer import calendar
from dialer.config.values import show
from dialer.domain import CallStatus, ClientState, Disposition, Stage
from dialer.lifecycle import Transition, allowed_dispositions, apply_disposition
from dialer.model import CallRecord, CallUpdate, ClientUpdate, Event
from dialer.placement import Placement
from dialer.store.base import DispositionConflict, LeaseLost

__all__ = ["NEXT_OPENING", "Disposed", "DispositionRefused", "NextOpening", "Placing", "dispose"]

if TYPE_CHECKING:
    from dialer.config.models import Campaign
    from dialer.model import QueuedClient


class Placing(Protocol):
    """Where a disposed client goes next: a `dialer.placement.Placement` (the CLI and the
    pages build one from the store and the config) or a running dispatcher (its own)."""

    @property
    def placement(self) -> Placement: ...


class NextOpening(Enum):
    """`at` asking for the client's next opening (`--at now`)."""

    TOKEN = "now"


NEXT_OPENING = NextOpening.TOKEN

RefusalKind = Literal[
    "not_answered", "already_disposed", "nothing_to_replace", "not_latest", "no_state_before",
    "needs_time", "in_past", "no_opening", "in_call", "conflict", "do_not_call", "not_allowed", "outside_window",
]  # fmt: skip


class DispositionRefused(ValueError):
    """The disposition cannot be recorded as asked; nothing was changed."""

    def __init__(self, kind: RefusalKind, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Disposed:
    """What a recorded disposition did."""

    call: CallRecord  # the call as it was before
    transition: Transition
    update: ClientUpdate  # the client's new row (next_dial_at, campaign, ...)
    at: datetime | None  # the agreed moment used
    at_next_opening: bool  # `at` was taken from the client's next opening
    replaced: Disposition | None  # the disposition a correction replaced


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="minutes").replace("+00:00", "Z")


async def dispose(
    engine: Placing,
    call_id: str,
    disposition: Disposition,
    at: datetime | NextOpening | None = None,
    *,
    note: str | None = None,
    by: str | None = None,
    replace: bool = False,
) -> Disposed:
    """Record `disposition` for the answered call `call_id` (see the module docstring).

    `by` names who recorded it (the audit trail); `replace` corrects the call's existing
    disposition. Raises LookupError for an unknown call, DispositionRefused otherwise.
    """
    placement = engine.placement
    store = placement.store
    now = placement.clock.now()
    call = await store.get_call(call_id)
    if call is None:
        raise LookupError(f"no call {show(call_id)}")
    if call.status is not CallStatus.ANSWERED:
        raise DispositionRefused(
            "not_answered", f"call {call_id} was {call.status.value}, not answered: nothing to dispose"
        )
    if call.disposition is not None and not replace:
        raise DispositionRefused(
            "already_disposed",
            f"call {call_id} already has a disposition ({call.disposition.value}); one per call "
            "(to correct it: dispose again with --replace)",
        )
    if replace and call.disposition is None:
        raise DispositionRefused(
            "nothing_to_replace", f"call {call_id} has no disposition to replace: record it without --replace"
        )
    if disposition.needs_time and at is None:
        raise DispositionRefused(
            "needs_time", f"{disposition.value} needs the agreed time: --at TIME (or --at now for the next opening)"
        )
    client = await store.get_client(call.client_id)
    if client is None:
        raise LookupError(f"client {call.client_id!r} of call {call_id} is gone")

    before: ClientState
    if replace and client.state.stage is Stage.DNC:
        raise DispositionRefused(
            "do_not_call", f"client {client.id} is do-not-call: a correction does not lift it (nothing changed)"
        )
    if replace:
        [latest] = await store.client_calls(client.id, limit=1)
        if latest.call_id != call_id:
            raise DispositionRefused(
                "not_latest",
                f"call {call_id} is not client {client.id}'s latest call ({latest.call_id} came after it): "
                "correcting it would undo that call's outcome",
            )
        if call.state_before is None:
            raise DispositionRefused(
                "no_state_before",
                f"call {call_id} was disposed before corrections were kept (no state before it): it cannot be replaced",
            )
        before = call.state_before
    else:
        before = client.state
    if disposition not in (allowed := allowed_dispositions(before)):  # issue 12: only what fits the stage
        stage = before.stage.value + (" with an open complaint" if before.complaint else "")
        raise DispositionRefused(
            "not_allowed", f"{disposition.value} does not fit client {client.id} ({stage}): one of {', '.join(allowed)}"
        )

    calling = placement.campaign_of_call(call.campaign)
    periods = placement.periods_for(client, calling)
    taken_next_opening = isinstance(at, NextOpening)
    agreed: datetime | None
    if isinstance(at, NextOpening):
        # Where the client goes once disposed (its new stage may move it to another
        # campaign), due now: the queue's answer is its next opening, caps included.
        probe = apply_disposition(before, disposition, calling.lifecycle, now, now, periods=periods)
        placed = await placement.client_update(client, _due(probe, now), calling, now, None)
        if placed.next_dial_at is None:
            raise DispositionRefused("no_opening", f"client {client.id} has no next opening: {placed.reason}")
        agreed = max(placed.next_dial_at, now)
    else:
        agreed = at
        if agreed is not None and agreed < now:
            raise DispositionRefused(
                "in_past",
                f"--at {_iso(agreed)} is in the past (now {_iso(now)}): give a later time, "
                "or --at now for the client's next opening",
            )

    transition = apply_disposition(before, disposition, calling.lifecycle, now, agreed, periods=periods)
    if agreed is not None and not taken_next_opening:  # an agreed time the client can be called at
        await _check_opening(placement, client, calling, transition, agreed)
    update = await placement.client_update(client, transition, calling, now, None)
    data: dict[str, object] = {"disposition": disposition.value, "by": by or "agent", "note": note}
    if agreed is not None:
        data["at"] = agreed.isoformat()
        if taken_next_opening:
            data["at_next_opening"] = True
    reason = transition.reason
    if replace:
        assert call.disposition is not None
        data["replaces"] = {
            "disposition": call.disposition.value,
            "at": call.disposition_at.isoformat() if call.disposition_at else None,
            "note": call.note,
            "state_before": before.as_data(),
        }
        reason = f"correction of {call.disposition.value}: {reason}"
    event = Event(
        kind=transition.event, reason=reason, from_stage=client.state.stage, to_stage=transition.state.stage, data=data
    )
    row = CallUpdate(
        status=call.status,
        answered_at=call.answered_at,
        ended_at=call.ended_at,
        ring_s=call.ring_s,
        talk_s=call.talk_s,
        guideline=call.guideline,
        disposition=disposition,
        disposition_at=agreed,
        note=note,
        error=call.error,
        state_before=before,
    )
    try:
        await store.record_disposition(call_id, row, update, event, now, expected=call.disposition)
    except DispositionConflict as exc:
        found = exc.found.value if exc.found else "none"
        raise DispositionRefused(
            "conflict", f"call {call_id} was disposed meanwhile ({found}); nothing changed: look again"
        ) from None
    except LeaseLost:
        raise DispositionRefused(
            "in_call", f"client {client.id} is in a call right now; record it when that call ends"
        ) from None
    except KeyError:
        raise LookupError(f"no call {show(call_id)}") from None
    return Disposed(
        call=call, transition=transition, update=update, at=agreed, at_next_opening=taken_next_opening,
        replaced=call.disposition if replace else None,
    )  # fmt: skip


async def _check_opening(
    placement: Placement, client: QueuedClient, calling: Campaign, transition: Transition, agreed: datetime
) -> None:
    """Refuse an agreed moment outside the client's calling hours (under the campaign
    that will work its new stage), naming the next opening from that moment in both
    clocks. A moment inside the hours but too close to their end is kept: the queue
    moves it to the next opening, as it always did."""
    scheduler = placement.scheduler
    pinned = client.campaign if client.campaign_pinned else None
    working = scheduler.campaign_of(transition.state.stage, pinned) or calling
    rules = scheduler.rules(working, client.timezone, client.schedule)
    found = calendar.next_open(replace(rules, min_remaining=timedelta(0)), agreed)
    if found is not None and found[0] <= agreed:
        return
    zone = ZoneInfo(client.timezone)
    center = ZoneInfo(placement.config.center.timezone)

    def both(value: datetime) -> str:
        local = value.astimezone(zone).strftime("%a %d %b %H:%M")
        return f"{local} client's time ({value.astimezone(center).strftime('%H:%M')} center time)"

    opening = f"the next opening is {both(found[0])}" if found else "no opening in the coming weeks"
    message = f"{both(agreed)} is outside client {client.id}'s calling hours: {opening}"
    raise DispositionRefused("outside_window", message)


def _due(transition: Transition, now: datetime) -> Transition:
    """The same new state, due now (to ask the queue for the next opening)."""
    return replace(transition, due_at=now)
