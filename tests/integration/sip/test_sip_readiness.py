"""A SIP provider that is not ready never uses up clients' attempts (kamailio as the PBX):
a wrong password fails registration, and the worker claims no client, sends no INVITE,
shows the campaign blocked; credentials refused on an INVITE are recorded `canceled`
(not an attempt) and block the campaign for a while."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from dialer.config.models import DialerConfig
from dialer.dispatcher import Dispatcher
from dialer.domain import CallStatus
from dialer.store.sqlite import SqliteStore
from providers.base import ProviderNotReady
from tests.support import sip_peers as sp
from tests.support.clocks import FixedClock
from tests.support.dispatch import MORNING, client, load
from tests.support.sip import pbx_settings, request

pytestmark = pytest.mark.integration

WRONG_ENV = "DIALER_TEST_SIP_WRONG_PASSWORD"


def _kamailio(tmp_path: Path, trunk: sp.Sipp) -> sp.Kamailio:
    sp.require("kamailio")
    return sp.Kamailio(tmp_path / "kamailio", trunk_port=trunk.port)


async def _ticks(d: Dispatcher, clock: FixedClock, n: int) -> None:
    for _ in range(n):
        await d.step()
        await d.wait_idle()
        clock.set(clock.now() + timedelta(seconds=6))


async def test_wrong_password_claims_nothing_and_sends_no_invite(
    tmp_path: Path, sipp, provider, store: SqliteStore, config: DialerConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WRONG_ENV, "not-the-password")
    trunk = sipp(sp.answer_scenario(), label="trunk", trace_msg=True)
    kam = _kamailio(tmp_path, trunk)
    try:
        p = await provider(pbx_settings(kam, password_env=WRONG_ENV, register_wait="1s"))
        assert p.registration[0] == "failed"
        with pytest.raises(ProviderNotReady, match="credentials rejected"):
            await p.check()
        await load(store, config, [client(i) for i in range(1, 4)], MORNING)
        clock = FixedClock(MORNING)
        # The example campaigns name their provider "simulated": here it is this SIP provider.
        d = Dispatcher(store, {"simulated": p}, config, clock, owner="w1")
        await _ticks(d, clock, 4)
        assert trunk.received("INVITE") == 0
        assert await store.client_calls("c1") == []
        for i in range(1, 4):
            c = await store.get_client(f"c{i}")
            assert c is not None and c.state.attempts_total == 0 and c.lease_owner is None
        assert "credentials rejected" in d.blocked["cold"]
        [report] = await store.readiness_reports(clock.now() - timedelta(minutes=3))
        assert not report.ready and "not registered" in (report.reason or "")
    finally:
        kam.stop()


async def test_invite_credentials_refused_is_canceled_and_blocks(
    tmp_path: Path, sipp, provider, store: SqliteStore, config: DialerConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WRONG_ENV, "not-the-password")
    trunk = sipp(sp.answer_scenario(), label="trunk", trace_msg=True)
    agent = sipp(sp.answer_scenario(), label="agent", trace_msg=True)
    kam = _kamailio(tmp_path, trunk)
    try:
        # No registration: the first sign of a wrong password is the INVITE's 407.
        p = await provider(pbx_settings(kam, password_env=WRONG_ENV, register=False))
        await p.check()  # nothing tells it yet
        with pytest.raises(ProviderNotReady, match="authentication refused: agent leg 407"):
            await p.dial(request(agent.uri()))
        with pytest.raises(ProviderNotReady, match="authentication refused"):
            await p.check()  # held not ready: no INVITE per tick with wrong credentials

        # Through the dispatcher: the refused dial is canceled, not an attempt.
        p._auth_refused = None  # as after the hold: one call tries the credentials again
        await load(store, config, [client(1)], MORNING)
        clock = FixedClock(MORNING)
        one_line = config.model_copy(
            update={"campaigns": [c.model_copy(update={"lines": 1, "agents": [c.agents[0].model_copy(
                update={"target": agent.uri()})]} if c.agents else {}) for c in config.campaigns]}
        )  # fmt: skip
        d = Dispatcher(store, {"simulated": p}, one_line, clock, owner="w1")
        await _ticks(d, clock, 3)
        [call] = await store.client_calls("c1")
        assert call.status is CallStatus.CANCELED and "authentication refused" in (call.error or ""), call.error
        c = await store.get_client("c1")
        assert c is not None and c.state.attempts_total == 0
        assert "cold" in d.blocked
        await asyncio.sleep(0.2)
        assert trunk.received("INVITE") == 0  # the client was never dialed
    finally:
        kam.stop()
