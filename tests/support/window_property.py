"""The window / do-not-call property shared by every dial mode's hypothesis test: load
generated clients a day early, run one dispatcher step at `instant`, and check every call
started is inside its client's window and never to a do-not-call client."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from dialer import calendar
from dialer.config.models import DialerConfig
from dialer.dispatcher import Dispatcher
from dialer.domain import Stage
from dialer.scheduling import Scheduler
from dialer.store.sqlite import SqliteStore
from providers.base import DialRequest, Provider
from tests.support.clocks import FixedClock
from tests.support.dispatch import client, load, run_step

ZONES = ["Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Omsk", "Asia/Vladivostok", "Asia/Kamchatka",
         "Europe/Berlin", "America/New_York"]  # fmt: skip


class Recording(Provider, Protocol):
    """What the property needs of a test provider: the requests it was given, with when."""

    requests: list[tuple[datetime, DialRequest]]


def dials_only_inside_windows(
    config: DialerConfig,
    instant: datetime,
    clients: tuple[list[str], list[bool], list[str], list[Stage]],
    provider_for: Callable[[FixedClock], Recording],
) -> list[tuple[datetime, DialRequest]]:
    """Assert the property for one generated example; return the calls started (for
    mode-specific checks). `clients`: zones, do-not-call flags, schedules, stages."""
    zones, dnc, schedules, stages = clients

    async def scenario() -> list[tuple[datetime, DialRequest]]:
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStore(Path(tmp) / "p.db")
            await store.open()
            await store.migrate()
            try:
                clock = FixedClock(instant - timedelta(days=1))
                records = [
                    client(i, timezone=z, do_not_call=dnc[i], schedule=schedules[i], stage=stages[i])
                    for i, z in enumerate(zones)
                ]
                # Scheduled a day earlier, dialed now: the stored next_dial_at may be stale.
                await load(store, config, records, clock.now())
                clock.set(instant)
                provider = provider_for(clock)
                await run_step(Dispatcher(store, {"simulated": provider}, config, clock))
            finally:
                await store.close()
        scheduler = Scheduler(config)
        for at, req in provider.requests:
            i = int(req.context["client_id"][1:])
            assert not dnc[i], "dialed a do-not-call client"
            rules = scheduler.rules(config.campaign(req.campaign), zones[i], schedules[i])
            assert calendar.status(rules, at).open, f"dialed outside the window at {at}"
        return provider.requests

    return asyncio.run(scenario())
