"""Checks of the contact caps over a day of calls."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from dialer.config import DialerConfig
from dialer.domain import CallStatus
from dialer.outcomes import caps_reopen_at
from dialer.store.base import CallRecord


def cap_breaches(calls: list[CallRecord], config: DialerConfig) -> list[str]:
    """Calls made although the calling campaign's caps, counting every earlier contact
    with the client (whichever campaign made it), were reached at that moment."""
    breaches = []
    for call in calls:
        caps = config.campaign(call.campaign).caps
        conversations = caps.count == "conversations"
        earlier = [
            c.started_at
            for c in calls
            if c.client_id == call.client_id and c.started_at < call.started_at
            and (not conversations or c.status is CallStatus.ANSWERED)
        ]  # fmt: skip
        if caps_reopen_at(earlier, caps, ZoneInfo(call.client_tz), call.started_at) is not None:
            breaches.append(f"{call.client_id} by {call.campaign} at {call.started_at}")
    return breaches
