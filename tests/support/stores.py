"""The stores every contract test runs against: a SQLite file, and PostgreSQL in a
throwaway schema (skipped locally without a server, required in CI)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from dialer.store.base import Store
from dialer.store.sqlite import SqliteStore
from tests.support.services import PG_DSN, pg_available

if TYPE_CHECKING:
    from dialer.store.postgres import PostgresStore


async def _sqlite(tmp_path: Path) -> Store:
    return SqliteStore(tmp_path / "contract.db")


async def _sqlite_simulation(tmp_path: Path) -> Store:
    """As `dialer simulate` opens its temp file: the SQL in the event loop's thread, no
    fsync, one lock for the run. The same contract must hold."""
    return SqliteStore(tmp_path / "simulation.db", inline=True, throwaway=True)


# PostgreSQL: each test in a fresh schema of the server named by DIALER_TEST_PG_DSN,
# dropped when the store closes. Skipped locally without a server, failed in CI.
def pg_throwaway_store(**kw: object) -> Store:
    """A PostgresStore in a schema of its own; close() drops the schema."""
    from dialer.store.postgres import PostgresStore

    class ThrowawayPostgresStore(PostgresStore):
        async def close(self) -> None:
            try:
                if self._pool is not None:
                    await self.pool.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
            finally:
                await super().close()

    return ThrowawayPostgresStore(PG_DSN, schema=f"dialer_test_{uuid.uuid4().hex[:12]}", **kw)  # type: ignore[arg-type]


@asynccontextmanager
async def migrated(make: Callable[[Path], Awaitable[Store]], tmp_path: Path) -> AsyncIterator[Store]:
    """A store from one of the factories above, opened and migrated; closed after."""
    store = await make(tmp_path)
    await store.open()
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def two_workers_on_postgres() -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two workers' stores on one throwaway PostgreSQL schema (migrated; dropped after).
    Skips without a server (required in CI)."""
    from dialer.store.postgres import PostgresStore

    await pg_available()
    first = pg_throwaway_store()
    await first.open()
    await first.migrate()
    assert isinstance(first, PostgresStore)
    second = PostgresStore(first.dsn, schema=first.schema)
    await second.open()
    try:
        yield first, second
    finally:
        await second.close()
        await first.close()


async def _postgres(tmp_path: Path) -> Store:
    await pg_available()
    return pg_throwaway_store()


# One per dialect (a key names its module, dialer.store.<key>).
STORES: dict[str, Callable[[Path], Awaitable[Store]]] = {"sqlite": _sqlite, "postgres": _postgres}
# What the `any_store` tests run against: the dialects, and SQLite as a simulation opens it.
STORE_KINDS: dict[str, Callable[[Path], Awaitable[Store]]] = {**STORES, "sqlite-simulation": _sqlite_simulation}
