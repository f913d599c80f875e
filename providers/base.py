"""The provider interface: turn a DialRequest into events and one CallResult.

A provider never touches the store or the scheduler (architecture.md). The dispatcher
hands it a request, listens to its events (the ``created`` event carries the
provider's call id, which the dispatcher persists at once so a crash can be
reconciled), and records the result it returns.

Third parties add a provider by exposing a factory under the ``dialer.providers``
entry-point group; the factory is called as ``Factory(name, settings, clock)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib.metadata import entry_points
from typing import Any, Literal, Protocol, runtime_checkable

from dialer.clock import Clock
from dialer.domain import CallStatus


@dataclass(frozen=True)
class DialRequest:
    call_id: str  # ours; unique per attempt, also used as the idempotency key
    number: str  # E.164
    caller_id: str
    connect_to: str  # agent extension / SIP URI / queue target
    ring_timeout: timedelta
    hard_limit: timedelta | None = None  # hang up when talk time reaches this
    nudge_at: timedelta | None = None  # talk time at which the agent hears a wrap-up nudge
    connect_mode: Literal["agent_first", "client_first"] = "agent_first"
    campaign: str = ""
    agent: str | None = None
    # What a provider may use to shape the call (the simulated one picks a
    # disposition by stage); never secrets.
    context: Mapping[str, str] = field(default_factory=dict)


EventKind = Literal["created", "ringing", "answered", "ended"]


@dataclass(frozen=True)
class ProviderEvent:
    kind: EventKind
    call_id: str
    at: datetime
    provider_call_id: str | None = None


EventSink = Callable[[ProviderEvent], None]


@dataclass(frozen=True)
class CallResult:
    status: CallStatus
    dialed_at: datetime
    ended_at: datetime
    provider_call_id: str | None = None
    answered_at: datetime | None = None
    ring_s: float = 0.0
    talk_s: float = 0.0
    error: str | None = None
    # Set only when the provider itself learns the conversation's outcome
    # (a simulated agent, or DTMF in message mode); otherwise the agent records it.
    disposition: str | None = None
    disposition_at: datetime | None = None


class ProviderError(Exception):
    """The provider could not place the call at all (nothing was dialed)."""


@runtime_checkable
class Provider(Protocol):
    name: str

    async def start(self) -> None:
        """Open connections / register. Called once before the first dial."""

    async def close(self) -> None:
        """Release everything start() opened."""

    async def dial(self, request: DialRequest, on_event: EventSink | None = None) -> CallResult:
        """Place the call and return when it has ended (or failed)."""

    async def fetch(self, provider_call_id: str) -> CallResult | None:
        """The final result of an earlier call (crash reconciliation), or None if unknown
        or not yet final."""

    async def check(self) -> None:
        """Raise if the provider is not reachable (readiness)."""


@runtime_checkable
class CallFinder(Protocol):
    """Optional: a provider with a central call record (Twilio) can look a call up by the
    number it dialed, for a call whose worker died before the provider's call id was
    stored. SIP and the simulated provider cannot know, and do not implement it."""

    async def find_call(self, request: DialRequest, since: datetime, until: datetime) -> str | None:
        """The provider call id (as `fetch` takes it) of the call placed for `request`
        (the same number, caller id and mode) created between `since` and `until` (when
        its worker was last possibly alive); None when the provider surely never saw such
        a call. Raise ProviderError when it cannot tell (unreachable, several match)."""


ProviderFactory = Callable[[str, Mapping[str, Any], Clock], Provider]


class UnknownProviderType(LookupError):
    pass


def provider_types() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group="dialer.providers")}


def create_provider(name: str, type_: str, settings: Mapping[str, Any], clock: Clock) -> Provider:
    """Build a provider by its type, found through entry points (built-ins first)."""
    builtins = {
        "simulated": "providers.simulated:SimulatedProvider",
        "twilio": "providers.twilio:TwilioProvider",
        "sip": "providers.sip:SipProvider",
    }
    eps = provider_types()
    if type_ in eps:
        factory = eps[type_].load()
    elif type_ in builtins:
        module, _, attr = builtins[type_].partition(":")
        factory = getattr(__import__(module, fromlist=[attr]), attr)
    else:
        known = sorted(set(eps) | set(builtins))
        raise UnknownProviderType(f"provider type {type_!r} is not installed (known: {', '.join(known)})")
    return factory(name, settings, clock)
