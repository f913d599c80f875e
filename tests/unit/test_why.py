"""`dialer why`'s verdict line: the reason it names is the one holding the client back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dialer.domain import ClientState
from dialer.model import QueuedClient
from dialer.why import _verdict

NOW = datetime(2026, 12, 3, 7, 17, tzinfo=UTC)


def queued(next_dial_at: datetime, cap_until: datetime | None) -> QueuedClient:
    return QueuedClient(
        id="n1", name="Орлова Дарья", phone="+79134000001", timezone="Europe/Samara", country="RU",
        schedule=None, campaign="closers", campaign_pinned=False, state=ClientState(), due_at=None,
        next_dial_at=next_dial_at, window_closes_at=None, cap_until=cap_until, priority=0,
        schedule_reason=None, needs_schedule=False, lease_owner=None, lease_token=None,
        lease_until=None, open_call_id=None,
    )  # fmt: skip


def test_the_cap_is_named_only_while_it_holds_the_client_back() -> None:
    tonight = NOW + timedelta(hours=13)
    # Talked to today, due again in four days: it waits for that, not for the cap
    # (which `why` once named, with a reopening hours before anything could happen).
    assert _verdict(queued(NOW + timedelta(days=4), tonight), NOW, None) == "WAITING for its next dial moment"
    # Due now (or before the cap reopens): the cap is what holds it.
    for due in (NOW, NOW + timedelta(hours=2), tonight):
        assert _verdict(queued(due, tonight), NOW, None).startswith("WAITING: contact cap reached until")
    # A cap already reopened says nothing.
    assert _verdict(queued(NOW + timedelta(days=4), NOW - timedelta(hours=1)), NOW, None) == (
        "WAITING for its next dial moment"
    )
