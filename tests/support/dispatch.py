"""Building blocks of the dispatcher tests: a scripted provider, clients, a loaded queue."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dialer.config import DialerConfig
from dialer.dispatcher import Dispatcher
from dialer.domain import CallStatus, ClientRecord
from dialer.scheduling import Scheduler
from dialer.store.base import Store
from providers.base import CallResult, DialRequest, EventSink, ProviderEvent
from tests.support.clocks import FixedClock

# Tue 2026-12-01 10:00 Moscow: inside the office schedule and every window.
MORNING = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


class ScriptedProvider:
    """Answers every call with the status scripted for its number (default answered)."""

    name = "simulated"

    def __init__(self, clock: FixedClock, script: Mapping[str, Any] | None = None):
        self.clock = clock
        self.script = dict(script or {})
        self.requests: list[tuple[datetime, DialRequest]] = []
        self.hold: asyncio.Event | None = None

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def check(self) -> None: ...

    async def fetch(self, provider_call_id: str) -> CallResult | None:
        return None

    async def dial(self, request: DialRequest, on_event: EventSink | None = None) -> CallResult:
        now = self.clock.now()
        self.requests.append((now, request))
        if on_event:
            on_event(ProviderEvent("created", request.call_id, now, f"P-{request.call_id}"))
        if self.hold is not None:
            await self.hold.wait()
        outcome = self.script.get(request.number, CallStatus.ANSWERED)
        if isinstance(outcome, Exception):
            raise outcome
        talk = 240.0 if outcome is CallStatus.ANSWERED else 0.0
        return CallResult(
            status=outcome, dialed_at=now, ended_at=now, provider_call_id=f"P-{request.call_id}",
            answered_at=now if outcome is CallStatus.ANSWERED else None, ring_s=5, talk_s=talk,
        )  # fmt: skip


async def load(store: Store, config: DialerConfig, records: list[ClientRecord], now: datetime) -> None:
    await store.upsert_clients(records)
    scheduler = Scheduler(config)
    clients = await store.clients_to_schedule(now, 10_000)
    await store.set_schedules([scheduler.place_client(c, now) for c in clients])


def client(i: int, **kw: Any) -> ClientRecord:
    base: dict[str, Any] = dict(
        id=f"c{i}", name=f"Client {i}", phone=f"+7912000{i:04d}", timezone="Europe/Moscow", country="RU"
    )
    base.update(kw)
    return ClientRecord(**base)


async def run_step(dispatcher: Dispatcher) -> None:
    await dispatcher.step()
    await dispatcher.wait_idle()
