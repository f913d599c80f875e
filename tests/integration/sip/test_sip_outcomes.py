"""SIP provider against sipp phones on 127.0.0.1 (no mocks): every way a call ends.

The agent and the client are separate sipp processes (scenarios in tests/data/sip);
the dialer INVITEs the agent's URI directly and the client through `client_uri`.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from dialer.domain import CallStatus
from providers.base import ProviderError
from tests.support import sip_peers as sp
from tests.support.sip import Events, direct_settings, request

pytestmark = pytest.mark.integration


async def _wait_exit(peer: sp.Sipp, timeout: float = 10.0) -> int:
    """sipp with -m N exits 0 when every call followed its scenario to the end."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, peer.wait, timeout)


async def test_answered_then_client_hangs_up(sipp, provider) -> None:
    agent = sipp(sp.answer_scenario(ring_ms=100), label="agent", max_calls=1, trace_msg=True)
    client = sipp(sp.answer_scenario(ring_ms=300, hold_ms=1200), label="client", max_calls=1, trace_msg=True)
    p = await provider(direct_settings(client))
    events = Events()
    t0 = time.monotonic()
    result = await p.dial(request(agent.uri(), ring=5, hard_limit=30), events)
    assert result.status is CallStatus.ANSWERED, result
    assert events.kinds == ["created", "ringing", "answered", "ended"]
    assert result.provider_call_id == events.items[0].provider_call_id
    assert result.provider_call_id and result.provider_call_id.endswith("@dialer")
    assert 1.0 <= result.talk_s <= 2.5, result
    assert 0.2 <= result.ring_s <= 1.5, result
    assert result.answered_at is not None and result.dialed_at <= result.answered_at <= result.ended_at
    assert p.call_log[-1]["ended_by"] == "client"
    assert time.monotonic() - t0 < 5
    # the agent's phone was hung up for us, and both scenarios completed
    assert await _wait_exit(agent) == 0
    assert await _wait_exit(client) == 0
    bye = agent.messages_received("BYE")[0]
    assert "Reason:" in bye and "client hung up" in bye
    # the client leg's Call-ID is the one reported
    assert f"Call-ID: {result.provider_call_id}" in client.messages_received("INVITE")[0]


async def test_answered_then_agent_hangs_up(sipp, provider) -> None:
    agent = sipp(sp.answer_scenario(hold_ms=1500), label="agent", max_calls=1)
    client = sipp(sp.answer_scenario(), label="client", max_calls=1, trace_msg=True)
    p = await provider(direct_settings(client))
    result = await p.dial(request(agent.uri(), hard_limit=30))
    assert result.status is CallStatus.ANSWERED
    assert p.call_log[-1]["ended_by"] == "agent"
    assert 1.0 <= result.talk_s <= 2.5
    assert await _wait_exit(client) == 0  # the client got our BYE
    assert await _wait_exit(agent) == 0
    assert client.received("BYE") == 1


async def test_answered_then_dialer_hangs_up_at_hard_limit(sipp, provider) -> None:
    agent = sipp(sp.answer_scenario(), label="agent", max_calls=1)
    client = sipp(sp.answer_scenario(), label="client", max_calls=1)
    p = await provider(direct_settings(client))
    result = await p.dial(request(agent.uri(), hard_limit=1.5))
    assert result.status is CallStatus.ANSWERED
    assert p.call_log[-1]["ended_by"] == "hard_limit"
    assert 1.4 <= result.talk_s <= 2.2, result
    assert await _wait_exit(agent) == 0 and await _wait_exit(client) == 0


@pytest.mark.parametrize(
    ("code", "reason", "status"),
    [
        (486, "Busy Here", CallStatus.BUSY),
        (600, "Busy Everywhere", CallStatus.BUSY),
        (603, "Decline", CallStatus.BUSY),  # refused: retried by the busy policy (see providers/sip.py)
        (404, "Not Found", CallStatus.INVALID_NUMBER),
        (484, "Address Incomplete", CallStatus.INVALID_NUMBER),
        (604, "Does Not Exist Anywhere", CallStatus.INVALID_NUMBER),
        (480, "Temporarily Unavailable", CallStatus.NO_ANSWER),
        (408, "Request Timeout", CallStatus.NO_ANSWER),
        (487, "Request Terminated", CallStatus.NO_ANSWER),
        (500, "Server Internal Error", CallStatus.FAILED),
        (503, "Service Unavailable", CallStatus.FAILED),
        (403, "Forbidden", CallStatus.FAILED),
    ],
)
async def test_client_final_responses(sipp, provider, code: int, reason: str, status: CallStatus) -> None:
    agent = sipp(sp.answer_scenario(), label="agent", max_calls=1, trace_msg=True)
    client = sipp(sp.reject_scenario(code, reason, ring_ms=200), label="client", max_calls=1)
    p = await provider(direct_settings(client))
    events = Events()
    result = await p.dial(request(agent.uri()), events)
    assert result.status is status, result
    assert result.error == f"{code} {reason}"
    assert result.talk_s == 0 and result.answered_at is None
    assert "answered" not in events.kinds and events.kinds[-1] == "ended"
    # the final response was ACKed (scenario completes) and the agent was told and freed
    assert await _wait_exit(client) == 0
    assert await _wait_exit(agent) == 0
    bye = agent.messages_received("BYE")[0]
    assert f"cause={code}" in bye


async def test_no_answer_is_canceled_at_ring_timeout(sipp, provider) -> None:
    agent = sipp(sp.answer_scenario(), label="agent", max_calls=1, trace_msg=True)
    client = sipp(sp.scenario("uas_ring_forever"), label="client", max_calls=1)
    p = await provider(direct_settings(client))
    events = Events()
    t0 = time.monotonic()
    result = await p.dial(request(agent.uri(), ring=1.5), events)
    elapsed = time.monotonic() - t0
    assert result.status is CallStatus.NO_ANSWER, result
    assert "no answer within 1.5 s" in (result.error or "")
    assert 1.3 <= result.ring_s <= 2.5
    assert "ringing" in events.kinds
    assert elapsed < 4
    assert await _wait_exit(client) == 0  # CANCEL, 200, 487, ACK: the whole dance
    assert await _wait_exit(agent) == 0
    assert "client did not answer" in agent.messages_received("BYE")[0]


async def test_client_that_never_responds_fails_in_bounded_time(sipp, provider) -> None:
    agent = sipp(sp.answer_scenario(), label="agent", max_calls=1)
    client = sipp(sp.scenario("uas_silent"), label="client", trace_msg=True)
    p = await provider(direct_settings(client))
    t0 = time.monotonic()
    result = await p.dial(request(agent.uri(), ring=10))
    assert result.status is CallStatus.FAILED, result
    assert "no response" in (result.error or "")
    assert time.monotonic() - t0 < 4  # no_response_timeout 1.5 s, not pyVoIP's forever
    assert await _wait_exit(agent) == 0
    assert client.received("INVITE") >= 2  # it was retransmitted (UDP timer A), then given up


async def test_agent_busy_never_dials_the_client(sipp, provider) -> None:
    agent = sipp(sp.reject_scenario(486, "Busy Here"), label="agent", max_calls=1)
    client = sipp(sp.answer_scenario(), label="client", trace_msg=True)
    p = await provider(direct_settings(client))
    result = await p.dial(request(agent.uri()))
    assert result.status is CallStatus.CANCELED, result
    assert "agent leg 486" in (result.error or "") and "not dialed" in (result.error or "")
    assert await _wait_exit(agent) == 0
    await asyncio.sleep(0.2)
    assert client.received("INVITE") == 0


async def test_agent_not_answering_is_canceled(sipp, provider) -> None:
    agent = sipp(sp.scenario("uas_ring_forever"), label="agent", max_calls=1)
    client = sipp(sp.answer_scenario(), label="client", trace_msg=True)
    p = await provider(direct_settings(client, agent_ring_timeout="1s"))
    t0 = time.monotonic()
    result = await p.dial(request(agent.uri()))
    assert result.status is CallStatus.CANCELED
    assert "did not answer within 1 s" in (result.error or "")
    assert time.monotonic() - t0 < 3
    assert await _wait_exit(agent) == 0  # CANCEL/487/ACK with the agent's phone
    assert client.received("INVITE") == 0


async def test_broken_agent_target_fails(sipp, provider) -> None:
    agent = sipp(sp.reject_scenario(404, "Not Found"), label="agent", max_calls=1)
    client = sipp(sp.answer_scenario(), label="client", trace_msg=True)
    p = await provider(direct_settings(client))
    result = await p.dial(request(agent.uri()))
    # not "canceled": a wrong extension would otherwise be retried at once, forever
    assert result.status is CallStatus.FAILED
    assert "agent leg 404" in (result.error or "")
    assert client.received("INVITE") == 0


async def test_silent_agent_fails_without_dialing_the_client(sipp, provider) -> None:
    agent = sipp(sp.scenario("uas_silent"), label="agent")
    client = sipp(sp.answer_scenario(), label="client", trace_msg=True)
    p = await provider(direct_settings(client))
    result = await p.dial(request(agent.uri()))
    assert result.status is CallStatus.FAILED
    assert "no response" in (result.error or "")
    assert client.received("INVITE") == 0


async def test_client_first_mode(sipp, provider) -> None:
    client = sipp(sp.answer_scenario(ring_ms=200, hold_ms=800), label="client", max_calls=1)
    agent = sipp(sp.answer_scenario(ring_ms=200), label="agent", max_calls=1)
    p = await provider(direct_settings(client))
    events = Events()
    result = await p.dial(request(agent.uri(), mode="client_first", hard_limit=10), events)
    assert result.status is CallStatus.ANSWERED
    assert events.kinds == ["created", "ringing", "answered", "ended"]
    assert await _wait_exit(agent) == 0 and await _wait_exit(client) == 0


async def test_bad_connect_to_is_a_provider_error(sipp, provider) -> None:
    client = sipp(sp.answer_scenario(), label="client", trace_msg=True)
    p = await provider(direct_settings(client))
    with pytest.raises(ProviderError, match="neither a SIP URI"):
        await p.dial(request("not a target!"))
    assert p.held_ports() == set() or await _settled(p)


async def _settled(p) -> bool:
    for _ in range(20):
        if not p.held_ports():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_call_ids_are_unique_per_process_and_call(sipp, provider) -> None:
    client = sipp(sp.answer_scenario(hold_ms=50), label="client")
    agent = sipp(sp.answer_scenario(), label="agent")
    a = await provider(direct_settings(client), name="a")
    b = await provider(direct_settings(client), name="b")
    ids = set()
    for i, p in enumerate((a, b, a, b)):
        r = await p.dial(request(agent.uri(), call_id=f"c{i}", hard_limit=5))
        assert r.status is CallStatus.ANSWERED
        ids.add(r.provider_call_id)
    assert len(ids) == 4  # pyVoIP would hand out sha256("1") in every process
