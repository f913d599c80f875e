"""A final SIP response -> the call's status (see the provider's docstring for the
choices a call center asks about: 603 Decline is `busy`; an agent not answering is
`canceled`, not a client attempt)."""

from __future__ import annotations

from dialer.domain import CallStatus

_BUSY = frozenset({486, 600, 603})
_INVALID = frozenset({404, 410, 484, 604})
_NO_ANSWER = frozenset({480, 408, 487})
# The agent leg ended so (busy, declined, not answering): `canceled`, the client is not dialed.
AGENT_AWAY = frozenset({486, 600, 603, 480, 408, 487})
AUTH_REFUSED = frozenset({401, 407})  # final, after our credentials were sent: they are wrong


def map_final(code: int, reason: str, *, timeout: bool = False) -> CallStatus:
    """A final SIP response to the client's INVITE -> the call's status."""
    if timeout:
        return CallStatus.FAILED  # nothing answered at all: the route is broken, not the client
    if code in _BUSY:
        return CallStatus.BUSY  # 603 included: see the provider's docstring
    if code in _INVALID:
        return CallStatus.INVALID_NUMBER
    if code in _NO_ANSWER:
        return CallStatus.NO_ANSWER
    return CallStatus.FAILED  # 5xx, 401/407 after credentials, 403, 3xx (not followed), other 4xx/6xx
