"""SQLite as `dialer simulate` opens it: the SQL in the event loop's thread (no hand-off
to aiosqlite's thread) and, for its temp file only, no fsync and one lock for the run.
The store contract itself runs against this mode too (`any_store`, "sqlite-simulation")."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from dialer.config.models import DialerConfig
from dialer.store import store_for
from dialer.store.sqlite import SqliteStore


async def _pragmas(store: SqliteStore) -> tuple[str, int, str]:
    (journal,) = await store._one("PRAGMA journal_mode")
    (sync,) = await store._one("PRAGMA synchronous")
    (locking,) = await store._one("PRAGMA locking_mode")
    return str(journal), int(sync), str(locking)


async def _sql_thread(store: SqliteStore) -> int:
    await store.db.create_function("thread_id", 0, threading.get_ident)
    (ident,) = await store._one("SELECT thread_id()")
    return int(ident)


@pytest.mark.parametrize(
    ("inline", "throwaway", "expected"),
    [
        (False, False, ("wal", 1, "normal")),  # `dialer run`, every other command
        (True, False, ("wal", 1, "normal")),  # `dialer simulate --db FILE`: a file a user keeps
        (True, True, ("memory", 0, "exclusive")),  # `dialer simulate`'s own temp file
    ],
)
async def test_only_a_throwaway_file_gives_up_durability(
    tmp_path: Path, inline: bool, throwaway: bool, expected: tuple[str, int, str]
) -> None:
    store = SqliteStore(tmp_path / "q.db", inline=inline, throwaway=throwaway)
    await store.open()
    try:
        await store.migrate()
        assert await _pragmas(store) == expected
    finally:
        await store.close()


@pytest.mark.parametrize("inline", [False, True])
async def test_inline_runs_the_sql_in_the_loops_thread(tmp_path: Path, inline: bool) -> None:
    store = SqliteStore(tmp_path / "q.db", inline=inline)
    await store.open()
    try:
        await store.migrate()
        in_loop = await _sql_thread(store) == threading.get_ident()
        assert in_loop is inline
        # Transactions too (one BEGIN IMMEDIATE ... COMMIT, rolled back on error).
        await store._in_thread(lambda conn: conn.execute("CREATE TABLE t(x PRIMARY KEY)"))

        def insert_twice(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO t VALUES (1)")
            conn.execute("INSERT INTO t VALUES (1)")

        with pytest.raises(sqlite3.IntegrityError):
            await store._in_thread(insert_twice)
        assert await store._all("SELECT x FROM t") == []
    finally:
        await store.close()
    with pytest.raises(RuntimeError):
        store.db  # noqa: B018 - closed: no connection left behind


def test_store_for_passes_the_simulation_options_to_sqlite_only(tmp_path: Path, config: DialerConfig) -> None:
    plain = store_for(config, tmp_path / "a.db")
    sim = store_for(config, tmp_path / "b.db", simulation=True, throwaway=True)
    assert isinstance(plain, SqliteStore) and isinstance(sim, SqliteStore)
    assert (plain._inline, plain._throwaway) == (False, False)
    assert (sim._inline, sim._throwaway) == (True, True)
