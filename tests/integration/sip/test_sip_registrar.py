"""Registration that survives the registrar: unreachable at start, refreshed under call
traffic, restarted in the middle of the day."""

from __future__ import annotations

import asyncio
import time

import pytest

from dialer.domain import CallStatus
from providers.base import ProviderError
from tests.support import sip_peers as sp
from tests.support.sip import pbx_settings, request

pytestmark = pytest.mark.integration

QUICK = {"t1": "0.1s", "register_expiry": "2s", "register_wait": "2s"}


async def _until(predicate, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return predicate()


async def test_unreachable_registrar_does_not_block_start(provider) -> None:
    dead = sp.free_udp_port()  # nothing listens here
    settings = {
        "registrar": f"127.0.0.1:{dead}", "username": "dialer", "password_env": "DIALER_TEST_SIP_PASSWORD",
        "bind_ip": "127.0.0.1", "bind_port": 0, "register_backoff_initial": "0.3s", "register_backoff_max": "1s",
        "rtp_ports": list(sp.rtp_range()), **QUICK,
    }  # fmt: skip
    t0 = time.monotonic()
    p = await provider(settings)
    assert time.monotonic() - t0 < 3
    assert await _until(lambda: p.registration[0] == "failed", 3)
    assert f"no response from registrar 127.0.0.1:{dead}" in (p.registration[1] or "")
    t1 = time.monotonic()
    with pytest.raises(ProviderError, match="not registered"):
        await p.dial(request("sip:agent@127.0.0.1:9"))
    assert time.monotonic() - t1 < 3
    # 1.6 s per attempt (16 x T1) plus 0.3..1 s back-off: a handful, not thousands
    failures = p._ua.reg_failures
    await asyncio.sleep(3)
    assert 1 <= p._ua.reg_failures - failures <= 3


async def test_refresh_under_call_traffic_and_registrar_restart(tmp_path, sipp, provider) -> None:
    sp.require("kamailio")
    trunk = sipp(sp.answer_scenario(hold_ms=3000), label="trunk", trace_msg=True)
    agent = sipp(sp.answer_scenario(), label="agent")
    kam = sp.Kamailio(tmp_path / "kamailio", trunk_port=trunk.port)
    p = None
    try:
        p = await provider(pbx_settings(kam, **QUICK))
        ua = p._ua
        assert p.registration == ("registered", None)

        # 1. a 3 s call while the registration refreshes every 1.6 s on the same socket:
        #    the refresh must not eat the call's messages (pyVoIP reads the next datagram)
        before = ua.reg_successes
        r1 = await p.dial(request(agent.uri(), hard_limit=20, call_id="before"))
        assert r1.status is CallStatus.ANSWERED and 2.5 <= r1.talk_s <= 4.5, r1
        assert ua.reg_successes - before >= 1

        # 2. the registrar goes away mid-day: failures back off, the phone keeps running
        kam.stop()
        assert await _until(lambda: p.registration[0] == "failed", 5)
        failing_since = ua.reg_failures
        with pytest.raises(ProviderError, match="not registered"):
            await p.dial(request(agent.uri(), call_id="during"))
        await asyncio.sleep(2.5)
        assert ua.NSD and p.registration[0] == "failed"
        assert ua.reg_failures - failing_since <= 4  # bounded by the back-off
        assert "no response from registrar" in (p.registration[1] or "")

        # 3. it comes back on the same address: registered again without a restart of ours
        kam.start()
        assert await _until(lambda: p.registration[0] == "registered", 5), p.registration
        r2 = await p.dial(request(agent.uri(), hard_limit=20, call_id="after"))
        assert r2.status is CallStatus.ANSWERED, r2
        assert trunk.received("INVITE") == 2
    finally:
        if p is not None:
            await p.close()  # deregisters while kamailio is still there
        kam.stop()


async def test_check_pings_an_ip_trunk(sipp, provider) -> None:
    trunk = sipp(sp.answer_scenario(), label="trunk")  # sipp -aa answers OPTIONS
    base = {"register": False, "bind_ip": "127.0.0.1", "bind_port": 0, "rtp_ports": list(sp.rtp_range())}
    alive = await provider({**base, "proxy": f"127.0.0.1:{trunk.port}"}, name="alive")
    await alive.check()
    dead = await provider({**base, "proxy": f"127.0.0.1:{sp.free_udp_port()}"}, name="dead")
    t0 = time.monotonic()
    with pytest.raises(ProviderError, match="does not answer OPTIONS"):
        await dead.check()
    assert time.monotonic() - t0 < 4
