"""Client-first pacing (power/predictive) on SIP against sipp phones on 127.0.0.1: the
engine names the agent when the client answers, or the client hears the information
message (a WAV file, as RTP) and gets a BYE, recorded `abandoned`. SIP has no machine
detection: every answer is live and reaches the engine."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dialer.domain import CallStatus
from providers.base import AgentLeg, DialRequest
from providers.sip.media import G711
from tests.support import sip_peers as sp
from tests.support.sip import Events, direct_settings, request

pytestmark = pytest.mark.integration


class Engine:
    """Stands in for the dispatcher's AgentAtAnswer."""

    def __init__(self, leg: AgentLeg | None, delay: float = 0.0):
        self.leg = leg
        self.delay = delay
        self.asked: list[datetime] = []

    async def __call__(self, at: datetime) -> AgentLeg | None:
        self.asked.append(at)
        await asyncio.sleep(self.delay)
        return self.leg


def paced(engine: Engine, audio: Path | None, **kw: Any) -> DialRequest:
    base = request("", mode="client_first", hard_limit=10)
    fields: dict[str, Any] = dict(
        agent_at_answer=engine, information_audio=str(audio) if audio else None,
        information_message="Acme Bank", min_ring=timedelta(0),
    )  # fmt: skip
    fields.update(kw)
    return dataclasses.replace(base, **fields)


async def _wait_exit(peer: sp.Sipp, timeout: float = 10.0) -> int:
    return await asyncio.get_running_loop().run_in_executor(None, peer.wait, timeout)


async def test_no_agent_free_plays_the_message_then_bye(tmp_path: Path, sipp, provider) -> None:
    message = sp.sine(700, 1.0)
    audio = sp.write_wav(tmp_path / "information.wav", message)
    with sp.RtpSink() as sink:
        client = sipp(sp.answer_scenario(ring_ms=300, sdp_port=sink.port), label="client", max_calls=1,
                      trace_msg=True)  # fmt: skip
        p = await provider(direct_settings(client))
        engine = Engine(None, delay=0.2)
        events = Events()
        t0 = time.monotonic()
        result = await p.dial(paced(engine, audio), events)
        elapsed = time.monotonic() - t0
        await asyncio.sleep(0.1)
    assert result.status is CallStatus.ABANDONED, result
    assert result.answered_at is not None and result.talk_s == 0 and result.agent is None
    assert 0.2 <= result.ring_s <= 1.0, result.ring_s
    assert len(engine.asked) == 1 and abs((engine.asked[0] - result.answered_at).total_seconds()) < 0.2
    assert events.kinds == ["created", "ringing", "answered", "ended"]
    # the client heard our WAV as PCMU, from its first frame, then got the BYE
    expected = G711.encode("PCMU", message)
    got = b"".join(payload for _, payload in sink.payloads(0))
    assert len(got) >= len(expected) - 160 * 3 and expected.startswith(got[: 160 * 20])
    assert 1.0 <= elapsed <= 3.0, elapsed  # ring + engine + the 1 s message, not the 10 s talk cap
    assert await _wait_exit(client) == 0 and client.received("BYE") == 1
    entry = p.call_log[-1]
    assert entry["ended_by"] == "dialer" and list(entry["rtp"]) == ["client"]  # no agent was dialed


async def test_agent_named_at_the_answer_is_bridged(sipp, provider) -> None:
    client = sipp(sp.answer_scenario(ring_ms=200, hold_ms=900), label="client", max_calls=1)
    agent = sipp(sp.answer_scenario(ring_ms=100), label="agent", max_calls=1, trace_msg=True)
    p = await provider(direct_settings(client))
    engine = Engine(AgentLeg("ivanova", agent.uri()), delay=0.1)
    events = Events()
    result = await p.dial(paced(engine, None), events)
    assert result.status is CallStatus.ANSWERED, result
    assert result.agent == "ivanova" and len(engine.asked) == 1
    assert 0.2 <= result.talk_s <= 1.5, result.talk_s
    assert events.kinds == ["created", "ringing", "answered", "ended"]
    assert agent.received("INVITE") == 1 and p.call_log[-1]["ended_by"] == "client"
    assert await _wait_exit(agent) == 0 and await _wait_exit(client) == 0


async def test_ring_time_is_never_below_min_ring(sipp, provider) -> None:
    client = sipp(sp.scenario("uas_ring_forever"), label="client", max_calls=1)
    p = await provider(direct_settings(client))
    engine = Engine(None)
    t0 = time.monotonic()
    result = await p.dial(paced(engine, None, ring_timeout=timedelta(seconds=0.3), min_ring=timedelta(seconds=1.2)))
    elapsed = time.monotonic() - t0
    assert result.status is CallStatus.NO_ANSWER, result
    assert 1.1 <= elapsed <= 3.5, elapsed
    assert result.error == "no answer within 1.2 s"
    assert engine.asked == []  # nobody answered: the engine is never asked


async def test_agent_not_picking_up_gives_the_message_and_abandoned(tmp_path: Path, sipp, provider) -> None:
    audio = sp.write_wav(tmp_path / "information.wav", sp.sine(700, 0.5))
    with sp.RtpSink() as sink:
        client = sipp(sp.answer_scenario(sdp_port=sink.port), label="client", max_calls=1, trace_msg=True)
        agent = sipp(sp.reject_scenario(486, "Busy Here"), label="agent", max_calls=1)
        p = await provider(direct_settings(client))
        result = await p.dial(paced(Engine(AgentLeg("ivanova", agent.uri())), audio))
        await asyncio.sleep(0.1)
    assert result.status is CallStatus.ABANDONED, result
    assert result.agent == "ivanova"  # the reserved agent, so the engine can tell who did not answer
    assert result.answered_at is not None and result.talk_s == 0
    assert "agent leg 486 Busy Here" in (result.error or "")
    assert len(sink.payloads(0)) >= 20  # the 0.5 s message (25 frames) reached the client
    assert await _wait_exit(client) == 0 and client.received("BYE") == 1
