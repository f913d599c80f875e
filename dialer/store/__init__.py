"""The queue store: pick the implementation from the config (or an override)."""

from __future__ import annotations

import os
from pathlib import Path

from dialer.config import DialerConfig
from dialer.store.base import Store


def store_for(config: DialerConfig, db: str | Path | None = None) -> Store:
    """`--db` wins, then DIALER_DATABASE_URL, then storage.url, then storage.path."""
    target = str(db) if db is not None else os.environ.get("DIALER_DATABASE_URL") or config.storage.url
    if target and target.startswith(("postgres://", "postgresql://")):
        from dialer.store.postgres import PostgresStore  # optional dependency (asyncpg)

        return PostgresStore(target)
    from dialer.store.sqlite import SqliteStore

    path = Path(target.removeprefix("sqlite:///")) if target else config.storage.path
    if path is None:
        raise ValueError("no storage configured: set storage.path or storage.url")
    return SqliteStore(path)
