"""Fixtures of the integration suite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dialer.store.base import Store
from tests.support.stores import STORES


@pytest.fixture(params=sorted(STORES))
async def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    s = await STORES[request.param](tmp_path)
    await s.open()
    await s.migrate()
    try:
        yield s
    finally:
        await s.close()
