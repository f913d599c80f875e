"""Schema upgrades across the change to one migration numbering.

Before, each store counted its own migrations: SQLite 1-8, PostgreSQL 1-6 (its first
held SQLite's first three, so PostgreSQL n was SQLite n + 2). A database written by
that code has `schema_version` in its store's own numbering and no `numbering` marker.
These tests build such databases the way the old code left them (the same migration
SQL, applied up to the old version, the old meta row), put data in them, and check that
`migrate()` applies exactly the missing steps, keeps the data and ends with the schema
a fresh database gets."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from dialer.domain import Stage
from dialer.store.base import SchemaMismatch
from dialer.store.schema import NUMBERING, has_statements, split_statements, unified_version
from dialer.store.sqlfiles import load_migrations
from dialer.store.sqlite import SqliteStore
from tests.support.services import pg_available
from tests.support.stores import pg_throwaway_store

if TYPE_CHECKING:
    from dialer.store.postgres import PostgresStore

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
KNOWN = len(load_migrations("sqlite"))


def test_both_dialects_share_one_numbering() -> None:
    sqlite, postgres = load_migrations("sqlite"), load_migrations("postgres")
    assert [(m.number, m.slug) for m in sqlite] == [(m.number, m.slug) for m in postgres]
    assert SqliteStore.known_schema_version == KNOWN == len(postgres)
    # A step with nothing to do in one dialect says why (a comment), it is not silently empty.
    for m in (*sqlite, *postgres):
        assert m.sql.lstrip().startswith("--"), m
    assert [m.number for m in postgres if not has_statements(m.sql)] == [2, 3]


def test_old_numbers_map_to_the_shared_ones() -> None:
    assert [unified_version("postgres", old, None) for old in range(7)] == [0, 3, 4, 5, 6, 7, 8]
    assert [unified_version("sqlite", old, None) for old in range(9)] == list(range(9))
    # Once marked, a number is the shared one in either dialect.
    assert unified_version("postgres", 8, NUMBERING) == 8


# ---------------------------------------------------------------- SQLite


def _old_sqlite_file(path: Path, version: int) -> None:
    """A SQLite queue as the code before the shared numbering left it at `version`."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for m in load_migrations("sqlite")[:version]:
        for statement in split_statements(m.sql):
            con.execute(statement)
    con.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(version),))
    start, closes = "2026-12-01T06:00:00Z", "2026-12-01T14:00:00Z"
    con.execute(
        "INSERT INTO clients(id, name, phone, timezone, country, stage, due_at, next_dial_at, window_closes_at, "
        "needs_schedule, created_at, updated_at) VALUES ('c1', 'Old client', '+79120000001', 'Europe/Moscow', "
        "'RU', 'hot', ?, ?, ?, 0, ?, ?)",
        (start, start, closes, start, start),
    )
    con.commit()
    con.close()


def _sqlite_schema(path: Path) -> list[Any]:
    con = sqlite3.connect(path)
    try:
        objects = con.execute("SELECT type, name, tbl_name FROM sqlite_master ORDER BY type, name").fetchall()
        columns = [
            (t, *col[1:3])
            for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            for col in con.execute(f"PRAGMA table_info({t})")
        ]
        return [objects, columns]
    finally:
        con.close()


@pytest.mark.parametrize("old", [1, 4, 5, 7, 8])
async def test_a_sqlite_file_of_the_old_numbering_upgrades(tmp_path: Path, old: int) -> None:
    path = tmp_path / "old.db"
    _old_sqlite_file(path, old)
    store = SqliteStore(path)
    await store.open(create=False)
    try:
        assert await store.schema_version() == old
        if old < KNOWN:
            with pytest.raises(SchemaMismatch, match="older"):
                await store.check_schema()
        assert await store.migrate() == KNOWN
        assert await store.check_schema() == KNOWN
        assert await store.migrate() == KNOWN  # nothing left to do
        client = await store.get_client("c1")
        assert client is not None and client.name == "Old client" and client.state.stage is Stage.HOT
        assert client.window_closes_at == datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
        if old < 6:  # migration 0006 gave it a slack key (its closing window) and a new placement
            assert client.slack_key == client.window_closes_at and client.needs_schedule
        meta = dict(await store._all("SELECT key, value FROM meta"))  # the test reads the table itself
        assert meta == {"schema_version": str(KNOWN), "numbering": NUMBERING}
    finally:
        await store.close()
    fresh = tmp_path / "fresh.db"
    new = SqliteStore(fresh)
    await new.open()
    await new.migrate()
    await new.close()
    assert _sqlite_schema(path) == _sqlite_schema(fresh)


async def test_a_newer_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    _old_sqlite_file(path, KNOWN)
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(KNOWN + 1),))
    con.commit()
    con.close()
    store = SqliteStore(path)
    await store.open(create=False)
    try:
        with pytest.raises(SchemaMismatch, match="newer than this dialer knows"):
            await store.migrate()
        with pytest.raises(SchemaMismatch, match="newer"):
            await store.check_schema()
    finally:
        await store.close()


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture
async def pg_pair() -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two open stores in throwaway schemas of their own: (old, fresh)."""
    await pg_available()
    stores = [pg_throwaway_store(), pg_throwaway_store()]
    for s in stores:
        await s.open()
    try:
        yield stores[0], stores[1]  # type: ignore[misc]
    finally:
        for s in stores:
            await s.close()


async def _old_postgres_schema(store: PostgresStore, old: int) -> None:
    """The schema as the code before the shared numbering left it at its own version
    `old` (its migration n is today's n + 2; today's 0002 and 0003 were in its first)."""
    async with store.pool.acquire() as con, con.transaction():
        await con.execute(f'CREATE SCHEMA "{store.schema}"')
        await con.execute("CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL)")
        for m in load_migrations("postgres")[: old + 2]:
            if has_statements(m.sql):
                await con.execute(m.sql)
        await con.execute("INSERT INTO meta VALUES ('schema_version', $1)", str(old))
        await con.execute(
            "INSERT INTO clients(id, name, phone, timezone, country, stage, due_at, next_dial_at, window_closes_at, "
            "needs_schedule, created_at, updated_at) VALUES ('c1', 'Old client', '+79120000001', 'Europe/Moscow', "
            "'RU', 'hot', $1, $1, $2, false, $1, $1)",
            NOW,
            NOW + timedelta(hours=8),
        )


async def _pg_schema(store: PostgresStore) -> list[Any]:
    columns = await store.pool.fetch(
        "SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns "
        "WHERE table_schema = $1 ORDER BY 1, 2",
        store.schema,
    )
    indexes = await store.pool.fetch(
        "SELECT tablename, indexname, replace(indexdef, $1, 'S') FROM pg_indexes WHERE schemaname = $2 ORDER BY 1, 2",
        f"{store.schema}.",
        store.schema,
    )
    triggers = await store.pool.fetch(
        "SELECT event_object_table, trigger_name, event_manipulation FROM information_schema.triggers "
        "WHERE trigger_schema = $1 ORDER BY 1, 2, 3",
        store.schema,
    )
    return [[tuple(r) for r in rows] for rows in (columns, indexes, triggers)]


@pytest.mark.parametrize("old", [1, 2, 3, 4, 5, 6])
async def test_a_postgres_schema_of_the_old_numbering_upgrades(
    pg_pair: tuple[PostgresStore, PostgresStore], old: int
) -> None:
    store, fresh = pg_pair
    await _old_postgres_schema(store, old)
    # Read in the shared numbering before anything is written.
    assert await store.schema_version() == old + 2
    if old + 2 < KNOWN:
        with pytest.raises(SchemaMismatch, match=f"schema version {old + 2}, older"):
            await store.check_schema()
    # Only the missing steps run: re-running one would fail (a column or table that exists).
    assert await store.migrate() == KNOWN
    assert await store.check_schema() == KNOWN
    assert await store.migrate() == KNOWN
    meta = dict(await store.pool.fetch("SELECT key, value FROM meta"))
    assert meta == {"schema_version": str(KNOWN), "numbering": NUMBERING}
    client = await store.get_client("c1")
    assert client is not None and client.name == "Old client" and client.state.stage is Stage.HOT
    assert client.window_closes_at == NOW + timedelta(hours=8)
    if old < 4:  # the old 4 (today's 0006) gave it a slack key and a new placement
        assert client.slack_key == client.window_closes_at and client.needs_schedule
    await fresh.migrate()
    assert await _pg_schema(store) == await _pg_schema(fresh)


async def test_a_postgres_schema_newer_than_known_in_the_old_numbering_is_refused(
    pg_pair: tuple[PostgresStore, PostgresStore],
) -> None:
    store, _ = pg_pair
    await _old_postgres_schema(store, 6)
    # An old number past the old code's last (6) maps past today's last: newer, never migrated down.
    # (old n is shared n + 2, so old KNOWN - 1 is shared KNOWN + 1)
    await store.pool.execute("UPDATE meta SET value = $1 WHERE key = 'schema_version'", str(KNOWN - 1))
    with pytest.raises(SchemaMismatch, match=f"schema version {KNOWN + 1}, newer"):
        await store.migrate()
    assert await store.pool.fetchval("SELECT value FROM meta WHERE key = 'schema_version'") == str(KNOWN - 1)
