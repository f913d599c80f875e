"""What a supervisor does to one client by hand: find it, move its next contact, mark it
do-not-call (issue 12). The console's pages call these; the API can call the same.

Every change is checked first (unknown client, a time in the past, a time outside the
client's window: refused with its next opening, like an agent's callback), then written
with its client event in one transaction, then audited with who did it. A refusal is a
:class:`ClientActionRefused` with one line for the person; nothing changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from dialer import calendar
from dialer.config import DialerConfig
from dialer.domain import Stage
from dialer.importer.phones import PhoneReader
from dialer.model import Event, QueuedClient, Schedule
from dialer.scheduling import Scheduler
from dialer.store.people import people_of
from dialer.store.roles import Clients
from dialer.store.supervision import supervision_of

SEARCH_LIMIT = 20
MIN_NAME_QUERY = 2


class ClientActionRefused(ValueError):
    """Bad input or a client that cannot be changed now; `kind` for a status code."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind  # "unknown", "bad_input", "outside_window", "busy", "do_not_call"


@dataclass(frozen=True)
class Moved:
    client_id: str
    due_at: datetime
    schedule: Schedule


def local_text(instant: datetime | None, zone: str) -> str:
    """An instant as the client's wall time, with its zone (for messages and pages)."""
    if instant is None:
        return "-"
    return f"{instant.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} ({zone})"


def normalise_phone(text: str, region: str) -> str | None:
    """The E.164 form of a typed phone (any spelling the importer reads: +7 (912)
    345-67-89, 8 912 345 67 89, ...), or None when it is not a valid number."""
    number, _, e164, _ = PhoneReader(region).read(text, [])
    return e164 if number is not None and e164 else None


def _looks_like_phone(text: str) -> bool:
    digits = sum(ch.isdigit() for ch in text)
    return digits >= 5 and all(ch.isdigit() or ch in "+-() ." for ch in text)


async def search_clients(
    store: Clients, config: DialerConfig, query: str, campaigns: tuple[str, ...], limit: int = SEARCH_LIMIT
) -> list[QueuedClient]:
    """Clients by id (exact), phone (normalised like the importer) or name (a
    case-insensitive part), of `campaigns` (every campaign when empty), at most `limit`."""
    text = query.strip()[:100]
    if not text:
        raise ClientActionRefused("bad_input", "enter a client id, a phone number or a part of a name")

    def in_scope(c: QueuedClient) -> bool:
        return not campaigns or c.campaign in campaigns

    found: dict[str, QueuedClient] = {}
    exact = await store.get_client(text)
    if exact is not None and in_scope(exact):
        found[exact.id] = exact
    role = supervision_of(store)
    if _looks_like_phone(text):
        phone = normalise_phone(text, config.center.phone_region)
        if phone is not None:
            for c in await role.clients_by_phone(phone, campaigns, limit):
                found.setdefault(c.id, c)
    if len(text) >= MIN_NAME_QUERY and len(found) < limit:
        for c in await role.clients_by_name(text, campaigns, limit):
            found.setdefault(c.id, c)
    return list(found.values())[:limit]


async def _client(store: Clients, client_id: str) -> QueuedClient:
    client = await store.get_client(client_id)
    if client is None:
        raise ClientActionRefused("unknown", f"no client {client_id[:60]!r}")
    return client


async def move_next_contact(
    store: Clients, config: DialerConfig, client_id: str, at: datetime, now: datetime, *, by: str
) -> Moved:
    """The client is next called at `at` (an aware instant; a page reads it in the
    client's local time). Refused in the past, outside the client's window (with the
    next opening), for do-not-call, and while a worker holds the client."""
    client = await _client(store, client_id)
    zone = client.timezone
    if client.state.stage is Stage.DNC:
        raise ClientActionRefused("do_not_call", f"client {client.id} is do-not-call: it is never called again")
    if at <= now:
        raise ClientActionRefused(
            "bad_input", f"{local_text(at, zone)} is in the past (now {local_text(now, zone)}): give a later time"
        )
    scheduler = Scheduler(config)
    pinned = client.campaign if client.campaign_pinned else None
    campaign = scheduler.campaign_of(client.state.stage, pinned)
    if campaign is None:
        raise ClientActionRefused("bad_input", f"no campaign works client {client.id}'s stage {client.state.stage}")
    try:
        rules = scheduler.rules(campaign, zone, client.schedule)
    except (KeyError, ValueError) as exc:
        raise ClientActionRefused("bad_input", f"client {client.id} cannot be scheduled: {exc}") from None
    window = calendar.status(rules, at)
    if not window.open:
        opening = f"the next opening is {local_text(window.next_open, zone)}" if window.next_open else "no opening"
        raise ClientActionRefused(
            "outside_window", f"{local_text(at, zone)} is outside client {client.id}'s window: {opening}"
        )
    schedule = scheduler.place(
        client.id, zone, client.schedule, client.state, pinned, at, now, client.cap_until
    )  # the contact cap may still hold it back: the reason says so
    data = {"by": by, "at": at.isoformat(), "was": client.next_dial_at.isoformat() if client.next_dial_at else None}
    event = Event(
        kind="next_contact_moved",
        reason=f"next contact moved to {local_text(at, zone)} by {by}",
        from_stage=client.state.stage,
        to_stage=client.state.stage,
        data=data,
    )
    if not await supervision_of(store).move_next_contact(client.id, at, schedule, event, now):
        raise ClientActionRefused("busy", f"client {client.id} is being called right now: try again after the call")
    await people_of(store).audit(by, "client_next_contact_moved", client.id, data, now)
    return Moved(client.id, at, schedule)


async def mark_do_not_call(store: Clients, client_id: str, now: datetime, *, by: str) -> QueuedClient:
    """The client is never called again (do-not-call is sticky: a re-import keeps it)."""
    client = await _client(store, client_id)
    if client.state.stage is Stage.DNC:
        raise ClientActionRefused("do_not_call", f"client {client.id} is already do-not-call")
    event = Event(
        kind="do_not_call", reason=f"marked do-not-call by {by}", from_stage=client.state.stage, to_stage=Stage.DNC,
        data={"by": by},
    )  # fmt: skip
    if not await supervision_of(store).mark_do_not_call(client.id, event, now):
        raise ClientActionRefused("busy", f"client {client.id} is being called right now: try again after the call")
    await people_of(store).audit(by, "client_do_not_call", client.id, {"was": client.state.stage.value}, now)
    return client


__all__ = [
    "ClientActionRefused", "Moved", "SEARCH_LIMIT", "local_text", "mark_do_not_call", "move_next_contact",
    "normalise_phone", "search_clients",
]  # fmt: skip
