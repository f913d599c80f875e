"""The provider interface: turn a DialRequest into events and one CallResult.

A provider never touches the store or the scheduler (architecture.md). The dispatcher
hands it a request, listens to its events (the ``created`` event carries the
provider's call id, which the dispatcher persists at once so a crash can be
reconciled), and records the result it returns.

Third parties add a provider by exposing a factory under the ``dialer.providers``
entry-point group; the factory is called as ``Factory(name, settings, clock)``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib.metadata import entry_points
from typing import Any, Literal, Protocol, runtime_checkable

from dialer.clock import Clock
from dialer.domain import CallStatus


# Twilio queues creates that come exactly 1/cps apart (its clock and our send jitter put
# some closer than that): every pacer keeps this share of the gap more between creates.
CPS_MARGIN = 0.1


def create_gap(cps: float) -> float:
    """Seconds kept between two call creates under a calls-per-second limit, margin included."""
    return (1.0 / cps) * (1.0 + CPS_MARGIN)


# The campaign's calls-per-second slot, across all workers: ``await pace(not_before)``
# reserves the campaign's next free create slot at or after `not_before` and returns it.
# The caller sends its create request at that instant (not later: the next call of the
# campaign may have the following slot), and reserves again before a retry.
Pacer = Callable[[datetime], Awaitable[datetime]]


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
    # The campaign's CPS slot (None: the campaign sets no `cps`). Only a provider that
    # sets ``paces_creates = True`` gets it and must call it before each create request,
    # retries included; for any other provider the dispatcher waits for the slot once,
    # before dial().
    pace: Pacer | None = field(default=None, compare=False, repr=False)
    # Asked right before each create request (after any wait for a slot) by a provider
    # that paces its own creates: False means the worker is stopping, so no new call
    # may start; the provider then raises CallNotPlaced without sending anything.
    may_create: Callable[[], bool] | None = field(default=None, compare=False, repr=False)


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


class ProviderNotReady(ProviderError):
    """The provider cannot place calls right now (not registered, authentication
    refused, API unreachable): nothing was dialed and the client had no part in it. The
    dispatcher records such a dial as `canceled` (not an attempt) and stops claiming
    for the provider's campaigns until its ``check()`` passes again."""


class CallNotPlaced(ProviderError):
    """The call was not placed because the worker is stopping (DialRequest.may_create
    said no before the create request): nothing was sent. Recorded `canceled`."""


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
        """Raise (ProviderNotReady, ideally) if the provider cannot place calls now:
        readiness. The dispatcher calls it every few seconds; keep it cheap."""


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
