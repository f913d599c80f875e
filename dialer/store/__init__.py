"""The queue store: pick the implementation from the config (or an override)."""

from __future__ import annotations

import os
from pathlib import Path

from dialer.config.models import DialerConfig
from dialer.store.base import Store


def store_for(
    config: DialerConfig, db: str | Path | None = None, *, simulation: bool = False, throwaway: bool = False
) -> Store:
    """`--db` wins, then DIALER_DATABASE_URL, then storage.url, then storage.path.

    ``simulation``: the process serves nothing else (`dialer simulate`), so a SQLite
    store runs its SQL in the event loop's thread; ``throwaway``: the SQLite file is a
    temporary one deleted after the run (no fsync, no shared lock). See SqliteStore."""
    target = str(db) if db is not None else os.environ.get("DIALER_DATABASE_URL") or config.storage.url
    if target and target.startswith(("postgres://", "postgresql://")):
        from dialer.store.postgres import PostgresStore  # optional dependency (asyncpg)

        try:
            return PostgresStore(target)
        except ValueError as exc:
            # e.g. "Invalid IPv6 URL": say what could not be read (never echo the DSN).
            raise ValueError(f"cannot read the PostgreSQL DSN: {exc}") from None
    scheme, sep, _ = (target or "").partition("://")
    if sep and scheme != "sqlite" and scheme.replace("+", "").isalnum():
        # mysql://... would otherwise be taken for a SQLite file under a folder "mysql:".
        raise ValueError(f"unsupported database URL {scheme}://...: use a SQLite file path or postgresql://...")
    from dialer.store.sqlite import SqliteStore

    path = Path(target.removeprefix("sqlite:///")) if target else config.storage.path
    if path is None:
        raise ValueError("no storage configured: set storage.path or storage.url")
    return SqliteStore(path, inline=simulation, throwaway=throwaway)
