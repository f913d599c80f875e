"""Answered calls whose agent decides the disposition: a provider for the rules' tests
and a dispatcher with calls waiting to be disposed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from dialer.config import DialerConfig
from dialer.dispatcher import Dispatcher
from dialer.domain import CallStatus, Disposition
from dialer.store.base import CallRecord, QueuedClient, Store
from providers.base import CallResult, DialRequest, EventSink
from tests.support.clocks import FixedClock
from tests.support.dispatch import MORNING, client, load, run_step

Decide = Callable[[DialRequest], "tuple[CallStatus, Disposition | None]"]


class Talking:
    """A provider whose agent decides each answered call (`decide`); callbacks and
    meetings are agreed half an hour later."""

    name = "simulated"

    def __init__(self, clock: FixedClock, decide: Decide):
        self.clock = clock
        self.decide = decide
        self.requests: list[DialRequest] = []

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def check(self) -> None: ...

    async def fetch(self, provider_call_id: str) -> CallResult | None:
        return None

    async def dial(self, request: DialRequest, on_event: EventSink | None = None) -> CallResult:
        now = self.clock.now()
        self.requests.append(request)
        status, disposition = self.decide(request)
        answered = status is CallStatus.ANSWERED
        return CallResult(
            status=status, dialed_at=now, ended_at=now, provider_call_id=f"P-{request.call_id}",
            answered_at=now if answered else None, ring_s=5, talk_s=240.0 if answered else 0.0,
            disposition=disposition.value if disposition and answered else None,
            disposition_at=now + timedelta(minutes=30) if disposition and disposition.needs_time else None,
        )  # fmt: skip


def always(status: CallStatus = CallStatus.ANSWERED, disposition: Disposition | None = None) -> Decide:
    return lambda _request: (status, disposition)


def by_campaign(**decisions: Disposition | None) -> Decide:
    return lambda request: (CallStatus.ANSWERED, decisions.get(request.campaign))


async def only_call(store: Store, client_id: str) -> CallRecord:
    [call] = await store.client_calls(client_id)
    return call


async def get(store: Store, client_id: str) -> QueuedClient:
    c = await store.get_client(client_id)
    assert c is not None
    return c


async def answered(store: Store, config: DialerConfig, decide: Decide | None = None, n: int = 1) -> Dispatcher:
    clock = FixedClock(MORNING)
    await load(store, config, [client(i) for i in range(1, n + 1)], MORNING)
    d = Dispatcher(store, {"simulated": Talking(clock, decide or always())}, config, clock)
    await run_step(d)
    clock.set(MORNING + timedelta(minutes=10))
    return d
