"""A store filled by a real simulation of one working day (the example config and
clients, the simulated provider on a virtual clock): about two seconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path

from starlette.applications import Starlette

from dialer.config import DialerConfig
from dialer.loading import load_clients
from dialer.planning import day_bounds
from dialer.reporting.web import report_routes
from dialer.simulate import run_simulation
from dialer.store.sqlite import SqliteStore

DAY = date(2026, 12, 1)  # a Tuesday, a working day in Russia


def simulate_day(config: DialerConfig, clients_csv: Path, db: Path, day: date = DAY, seed: int = 1) -> None:
    """Import the clients into a new SQLite store at `db` and simulate `day` on it (the
    evening report files land beside it, never in the config's reports folder)."""
    storage = config.storage.model_copy(update={"reports_dir": db.with_name(db.name + ".reports")})
    config = config.model_copy(update={"storage": storage})

    async def go() -> None:
        store = SqliteStore(db)
        await store.open()
        try:
            await store.migrate()
            start, _ = day_bounds(config, day)
            await load_clients(config, clients_csv, store, now=start)
            await run_simulation(store, config, day, 1, seed)
        finally:
            await store.close()

    asyncio.run(go())


def report_app(config: DialerConfig, db: Path) -> Starlette:
    """The day report routes over the store at `db`, opened in the serving loop."""
    store = SqliteStore(db)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.open(create=False)
        try:
            yield
        finally:
            await store.close()

    return Starlette(routes=list(report_routes(store, config)), lifespan=lifespan)
