"""Fixtures of the SIP provider's tests: sipp peers and providers, stopped after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dialer.clock import SystemClock
from providers.sip import SipProvider
from tests.support import sip_peers as sp


@pytest.fixture
def sipp(tmp_path: Path) -> Iterator[Callable[..., sp.Sipp]]:
    sp.require("sipp")
    started: list[sp.Sipp] = []

    def make(xml: str, **kw: Any) -> sp.Sipp:
        peer = sp.Sipp(tmp_path / kw.get("label", f"sipp{len(started)}"), xml, **kw)
        started.append(peer)
        return peer

    yield make
    for peer in reversed(started):
        peer.stop()


@pytest.fixture
async def provider() -> AsyncIterator[Callable[[dict[str, Any]], Awaitable[SipProvider]]]:
    made: list[SipProvider] = []

    async def make(settings: dict[str, Any], name: str = "sip-test") -> SipProvider:
        p = SipProvider(name, settings, SystemClock())
        made.append(p)
        await p.start()
        return p

    yield make
    for p in made:
        await p.close()
