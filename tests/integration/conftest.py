"""Fixtures of the integration suite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dialer.store.base import Store
from tests.support.stores import STORE_KINDS, STORES, migrated


@pytest.fixture(params=sorted(STORE_KINDS))
async def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with migrated(STORE_KINDS[request.param], tmp_path) as s:
        yield s


@pytest.fixture(params=sorted(STORES))
async def real_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A migrated store of each kind a user runs (SQLite on disk, PostgreSQL), without the
    simulation's in-loop SQLite mode that `any_store` adds. (Not named `store`: that is
    the SQLite-only fixture of tests/conftest.py most integration tests use.)"""
    async with migrated(STORES[request.param], tmp_path) as s:
        yield s
