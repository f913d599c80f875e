"""Settings, requests and an event recorder for the SIP provider's tests."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from providers.base import DialRequest, ProviderEvent
from tests.support import sip_peers as sp

PASSWORD_ENV = "DIALER_TEST_SIP_PASSWORD"
os.environ.setdefault(PASSWORD_ENV, sp.PASSWORD)

# Short protocol timeouts keep the failure paths fast; loopback loses nothing.
FAST: dict[str, Any] = {
    "bind_ip": "127.0.0.1",
    "bind_port": 0,
    "no_response_timeout": "1.5s",
    "agent_ring_timeout": "3s",
    "cancel_timeout": "2s",
    "bye_timeout": "2s",
    "register_wait": "3s",
    "register_backoff_initial": "0.3s",
    "register_backoff_max": "1s",
}


def direct_settings(client: sp.Sipp | None = None, **extra: Any) -> dict[str, Any]:
    """No PBX: the agent is a sip: URI, the client URI points at a sipp 'network'."""
    s = {**FAST, "register": False, "rtp_ports": list(sp.rtp_range())}
    s["client_uri"] = f"sip:{{number}}@127.0.0.1:{client.port if client else 9}"
    s.update(extra)
    return s


def pbx_settings(kam: sp.Kamailio, **extra: Any) -> dict[str, Any]:
    """Through kamailio: register as the dialer user, every INVITE to the proxy."""
    s = {
        **FAST,
        "registrar": kam.hostport,
        "username": sp.DIALER_USER,
        "password_env": PASSWORD_ENV,
        "rtp_ports": list(sp.rtp_range()),
        "register_expiry": "30s",
    }
    s.update(extra)
    return s


def request(
    connect_to: str, number: str = "+15550100", ring: float = 5, hard_limit: float | None = None,
    nudge_at: float | None = None, mode: str = "agent_first", call_id: str = "call-1",
) -> DialRequest:  # fmt: skip
    return DialRequest(
        call_id=call_id, number=number, caller_id="+15559990000", connect_to=connect_to,
        ring_timeout=timedelta(seconds=ring), hard_limit=timedelta(seconds=hard_limit) if hard_limit else None,
        nudge_at=timedelta(seconds=nudge_at) if nudge_at else None, connect_mode=mode,  # type: ignore[arg-type]
        campaign="test",
    )  # fmt: skip


class Events:
    def __init__(self) -> None:
        self.items: list[ProviderEvent] = []

    def __call__(self, event: ProviderEvent) -> None:
        self.items.append(event)

    @property
    def kinds(self) -> list[str]:
        return [e.kind for e in self.items]
