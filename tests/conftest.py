"""Fixtures for every suite. Helpers (paths, clocks, services) live in `tests.support`;
tests that need an outside service skip with a reason, except in CI (CI=true), where a
missing service fails the run instead (`tests.support.services.require_service`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dialer.config.loader import load_config
from dialer.config.models import DialerConfig
from dialer.store.sqlite import SqliteStore
from tests.support.paths import EXAMPLE_CONFIG


@pytest.fixture
def config() -> DialerConfig:
    return load_config(EXAMPLE_CONFIG)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "dialer.db")
    await s.open()
    await s.migrate()
    try:
        yield s
    finally:
        await s.close()
