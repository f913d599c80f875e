"""The provider interface: turn a DialRequest into events and one CallResult.

A provider never touches the store or the scheduler (architecture.md). The dispatcher
hands it a request, listens to its events (the ``created`` event carries the
provider's call id, which the dispatcher persists at once so a crash can be
reconciled), and records the result it returns.

Two halves, both declared here:

* `Provider`: dialing (start, dial, fetch, check, close). A provider is an async
  context manager: ``async with provider:`` starts it and closes it again, whatever
  happens inside; subclassing `Provider` gives that default.
* `WebhookProvider` (optional): a provider that takes HTTP callbacks. The worker's
  HTTP endpoint (dialer/http.py) hands it a framework-neutral `WebhookRequest` and
  sends back its `WebhookResponse`; nothing in providers/ imports the web framework.

One registry: every provider type, the built-in ones included, is an entry point of the
``dialer.providers`` group (pyproject.toml); a third party adds one the same way. The
factory is called as ``Factory(name, settings, clock)``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib.metadata import EntryPoint, entry_points
from types import TracebackType
from typing import Any, Literal, Protocol, Self, runtime_checkable

from pydantic import ValidationError

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
class AgentLeg:
    """The agent a client-first call is connected to once the client answered live."""

    agent: str  # the agent's name (campaign `agents:`, the desktop account)
    target: str  # extension / SIP URI / number the provider connects


# issue 13, client-first pacing (power, predictive). A provider calls it once, as soon as
# the client answered live (after its machine detection, if any). It returns the agent to
# bridge to, or None: no agent came free within the campaign's `abandon_after`, so the
# provider plays DialRequest.information_message (text, Twilio <Say>) or
# information_audio (a WAV file, SIP), hangs up and reports CallStatus.ABANDONED with
# `answered_at` set and no talk time. It never takes longer than `abandon_after`.
AgentAtAnswer = Callable[[datetime], Awaitable[AgentLeg | None]]


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
    # issue 13: set for a power/predictive campaign's call (connect_mode client_first, no
    # agent reserved: connect_to is empty). See AgentAtAnswer.
    agent_at_answer: AgentAtAnswer | None = field(default=None, compare=False, repr=False)
    information_message: str = ""
    information_audio: str | None = None
    # The call rings at least this long before the provider gives up (ring_timeout is
    # never below it for a client-first call).
    min_ring: timedelta = timedelta(0)
    # Client-first only: detect answering machines where the provider can (Twilio AMD); a
    # machine is never a live answer and never reaches agent_at_answer.
    detect_machine: bool = False


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
    # issue 13: the agent a client-first call was bridged to (AgentAtAnswer's answer).
    agent: str | None = None


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
    """A telephony provider. Subclass it (explicitly) for the async-context-manager
    default; a third-party provider that does not must define ``__aenter__`` and
    ``__aexit__`` itself."""

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

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


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


# ------------------------------------------------------------------ webhooks


WEBHOOK_MAX_BODY = 16384  # bytes a webhook provider accepts unless it says otherwise


@dataclass(frozen=True)
class WebhookRequest:
    """One HTTP callback as a provider sees it (no web framework inside providers/)."""

    provider: str
    kind: str  # the last path segment: /webhooks/{provider}/{kind}
    method: str
    path: str  # as sent (percent-escapes kept), inside the app, e.g. /webhooks/twilio/status
    query_string: str  # exactly as received
    headers: Mapping[str, str]  # names lower-cased; a repeated header keeps its first value
    client_host: str | None  # the TCP peer (a proxy, if there is one)
    body: bytes


@dataclass(frozen=True)
class WebhookResponse:
    status: int
    media_type: str = "text/plain"
    body: bytes = b""


@runtime_checkable
class WebhookProvider(Protocol):
    """Optional second half of a provider: it takes webhooks at
    ``/webhooks/{name}/{kind}``. Signature checks are the provider's own: only it
    knows its secret."""

    name: str
    # Larger bodies get 413 before the provider sees them.
    webhook_max_body: int
    # The (host, port) the provider wants the endpoint bound to; None: no preference.
    listen: tuple[str, int] | None

    async def handle_webhook(self, request: WebhookRequest) -> WebhookResponse:
        """Answer one callback. An exception becomes a 500 (and a log line)."""
        ...


# ------------------------------------------------------------------ registry


ProviderFactory = Callable[[str, Mapping[str, Any], Clock], Provider]
ENTRY_POINT_GROUP = "dialer.providers"


class UnknownProviderType(LookupError):
    pass


def provider_types() -> dict[str, EntryPoint]:
    """The installed provider types (entry points of the ``dialer.providers`` group)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def create_provider(name: str, type_: str, settings: Mapping[str, Any], clock: Clock) -> Provider:
    """Build a provider by its type, found through its entry point."""
    types = provider_types()
    if type_ not in types:
        known = ", ".join(sorted(types)) or "none"
        raise UnknownProviderType(f"provider type {type_!r} is not installed (known: {known})")
    factory: ProviderFactory = types[type_].load()
    provider = factory(name, settings, clock)
    if not isinstance(provider, Provider):
        raise UnknownProviderType(
            f"provider type {type_!r} is not installed correctly: its entry point built a "
            f"{type(provider).__name__}, which is not a provider"
        )
    return provider


SettingsIssue = tuple[tuple[str | int, ...], str]


def settings_issues(exc: ValidationError, kind: str, name: str) -> tuple[str, list[SettingsIssue]]:
    """A provider's settings errors as check-config shows them: one line per bad field,
    ``providers.NAME.field.path: message``, and the (path, message) pairs behind them."""
    issues: list[SettingsIssue] = []
    for err in exc.errors(include_input=False, include_url=False):
        # pydantic names a field validator's wrapper in the path ("function-after[...]").
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown setting for a {kind} provider"
        issues.append((loc, msg))
    lines = [f"providers.{name}{''.join(f'.{p}' for p in loc)}: {msg}" for loc, msg in issues]
    return "\n".join(lines), issues
