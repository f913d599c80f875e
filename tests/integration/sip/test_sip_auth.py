"""SIP provider with kamailio as the PBX: digest on REGISTER (401, qop=auth) and on
INVITE (407 proxy challenge, or 401), record-routed ACK/BYE, wrong credentials."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from dialer.domain import CallStatus
from providers.base import ProviderError
from tests.support import sip_peers as sp
from tests.support.sip import pbx_settings, request

pytestmark = pytest.mark.integration


def _kamailio(tmp_path: Path, trunk: sp.Sipp, **kw) -> sp.Kamailio:
    sp.require("kamailio")
    return sp.Kamailio(tmp_path / "kamailio", trunk_port=trunk.port, **kw)


async def _exit(peer: sp.Sipp, timeout: float = 10) -> int:
    return await asyncio.get_running_loop().run_in_executor(None, peer.wait, timeout)


@pytest.mark.parametrize("invite_401", [False, True], ids=["invite-407", "invite-401"])
async def test_register_and_call_with_digest_challenges(tmp_path, sipp, provider, invite_401: bool) -> None:
    trunk = sipp(sp.answer_scenario(ring_ms=100, hold_ms=800), label="trunk", max_calls=1, trace_msg=True)
    agent = sipp(sp.answer_scenario(), label="agent", max_calls=1, trace_msg=True)
    kam = _kamailio(tmp_path, trunk, invite_401=invite_401)
    p = None
    try:
        p = await provider(pbx_settings(kam))
        assert p.registration == ("registered", None)
        result = await p.dial(request(agent.uri(), number="+15550142", hard_limit=20))
        assert result.status is CallStatus.ANSWERED, result
        assert await _exit(trunk) == 0 and await _exit(agent) == 0
        # through the proxy both ways: kamailio's Via on what the phones got, and the
        # ACK and BYE followed the recorded route (a Route header, kamailio's Via)
        invite = trunk.messages_received("INVITE")[0]
        assert "Record-Route:" in invite and invite.count("Via:") == 2
        assert "sip:+15550142@" in invite.splitlines()[0]
        for method in ("ACK", "BYE"):
            msg = agent.messages_received(method)[0]
            assert msg.count("Via:") == 2, msg
        # the INVITE that got through carried the answer to the challenge
        header = "Authorization:" if invite_401 else "Proxy-Authorization:"
        assert header not in invite  # kamailio consumed the credentials
        assert kam.alive()
    finally:
        if p is not None:
            await p.close()  # deregisters while kamailio is still there
        kam.stop()


async def test_wrong_password_is_a_clear_error_not_a_loop(tmp_path, sipp, provider, monkeypatch) -> None:
    trunk = sipp(sp.answer_scenario(), label="trunk", trace_msg=True)
    kam = _kamailio(tmp_path, trunk)
    p = None
    monkeypatch.setenv("DIALER_TEST_SIP_WRONG", "not-the-password")
    try:
        t0 = time.monotonic()
        p = await provider(pbx_settings(kam, password_env="DIALER_TEST_SIP_WRONG", register_wait="2s"))
        assert time.monotonic() - t0 < 3  # start() does not hang (pyVoIP: up to 30 s)
        state, error = p.registration
        assert state == "failed"
        assert "401" in (error or "") and "credentials rejected" in (error or "")
        with pytest.raises(ProviderError, match=f"not registered with registrar {kam.hostport}"):
            await p.dial(request("sip:agent@127.0.0.1:9"))
        with pytest.raises(ProviderError, match="credentials rejected"):
            await p.check()
        # back-off, not a tight loop: initial 0.3 s doubling to 1 s
        before = p._ua.reg_failures
        await asyncio.sleep(3)
        assert 1 <= p._ua.reg_failures - before <= 5
        assert p._ua.NSD  # still running: pyVoIP stops the phone after 3 failures
        assert trunk.received("INVITE") == 0
    finally:
        if p is not None:
            await p.close()  # deregisters while kamailio is still there
        kam.stop()


async def test_missing_password_variable_names_it(tmp_path, provider, monkeypatch) -> None:
    monkeypatch.delenv("DIALER_TEST_SIP_UNSET", raising=False)
    settings = {
        "registrar": "127.0.0.1:9", "username": "dialer", "password_env": "DIALER_TEST_SIP_UNSET",
        "bind_ip": "127.0.0.1", "bind_port": 0,
    }  # fmt: skip
    with pytest.raises(ProviderError, match="DIALER_TEST_SIP_UNSET"):
        await provider(settings)
    assert "DIALER_TEST_SIP_UNSET" not in os.environ
