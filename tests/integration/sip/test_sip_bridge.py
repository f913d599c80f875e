"""Bridged calls with media: the 60 s call through kamailio to baresip, the nudge in the
agent's ear only, PCMU passed through untouched, message mode's DTMF, 20 concurrent
calls, and 300 calls in a row without leaking threads, sockets or RTP ports.

The 60 s call runs on its own thread (its own event loop and provider) from the first
test of this module to the last, so the rest of the module runs meanwhile.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dialer.clock import SystemClock
from dialer.domain import CallStatus
from providers.base import CallResult, ProviderError
from providers.sip import SipProvider
from providers.sip.media import G711, fd_count
from tests.support import sip_peers as sp
from tests.support.sip import direct_settings, pbx_settings, request

pytestmark = pytest.mark.integration

LONG_CALL_S = 60
NUDGE_HZ = 1000


# ------------------------------------------------------------------ the long call


class LongCall:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.result: CallResult | None = None
        self.entry: dict[str, Any] = {}
        self.error: BaseException | None = None
        self.answered = threading.Event()
        self.peers: list[sp.Peer] = []
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        source = sp.long_source_wav(self.workdir / "source.wav", LONG_CALL_S + 60)
        kam = sp.Kamailio(self.workdir / "kamailio", trunk_port=9)
        self.peers.append(kam)
        self.agent = sp.Baresip(self.workdir / "agent", user="1001", registrar_port=kam.port, source=source,
                                label="baresip-agent")  # fmt: skip
        self.peers.append(self.agent)
        # the client's phone registers its number, so kamailio routes the call to it
        self.client = sp.Baresip(self.workdir / "client", user="+15550123", registrar_port=kam.port, source=source,
                                 label="baresip-client")  # fmt: skip
        self.peers.append(self.client)
        self.kam = kam
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="long-call", daemon=True)
        self.thread.start()

    async def _run(self) -> None:
        try:
            p = SipProvider("long", pbx_settings(self.kam, register_expiry="20s"), SystemClock())
            await p.start()
            try:

                def on_event(e: Any) -> None:
                    if e.kind == "answered":
                        self.answered.set()

                req = request("1001", number="+15550123", ring=10, hard_limit=LONG_CALL_S, nudge_at=20,
                              call_id="long-call")  # fmt: skip
                self.result = await p.dial(req, on_event)
                self.entry = dict(p.call_log[-1])
            finally:
                await p.close()
        except BaseException as exc:  # reported by the test that joins
            self.error = exc
            self.answered.set()

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.join(LONG_CALL_S + 30)
        for peer in reversed(self.peers):
            peer.stop()


@pytest.fixture(scope="module")
def long_call(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LongCall]:
    sp.require("kamailio", "baresip")
    call = LongCall(tmp_path_factory.mktemp("long-call"))
    try:
        call.start()
        yield call
    finally:
        call.stop()


def test_long_call_is_bridged(long_call: LongCall) -> None:
    """Starts the 60 s call (runs on while the tests below do)."""
    assert long_call.answered.wait(15), "the long call was not answered"
    assert long_call.error is None, long_call.error
    deadline = time.monotonic() + 5
    while not (long_call.agent.established() and long_call.client.established()) and time.monotonic() < deadline:
        time.sleep(0.05)  # baresip logs "Call established" once our ACK arrived
    assert long_call.agent.established() == 1 and long_call.client.established() == 1


# ------------------------------------------------------------------ media with sinks


def _frames(sink: sp.RtpSink) -> list[tuple[float, list[int]]]:
    return [(t, G711.decode("PCMU", p)) for t, p in sink.payloads(0) if len(p) == 160]


def _tone_frames(frames: list[tuple[float, list[int]]], hz: float = NUDGE_HZ, threshold: float = 1e8) -> list[float]:
    return [t for t, f in frames if sp.goertzel(f, hz) > threshold]


async def test_nudge_reaches_the_agent_only_and_pcmu_passes_through(tmp_path: Path, sipp, provider) -> None:
    client_audio = G711.encode("PCMU", sp.sine(600, 3.0))
    agent_audio = G711.encode("PCMU", sp.sine(300, 3.0))
    client_pkts = [client_audio[i : i + 160] for i in range(0, len(client_audio), 160)]
    agent_pkts = [agent_audio[i : i + 160] for i in range(0, len(agent_audio), 160)]
    client_pcap = sp.pcmu_pcap(tmp_path / "client.pcap", client_pkts)
    agent_pcap = sp.pcmu_pcap(tmp_path / "agent.pcap", agent_pkts)
    with sp.RtpSink() as agent_sink, sp.RtpSink() as client_sink:
        agent = sipp(sp.answer_scenario(sdp_port=agent_sink.port, play=agent_pcap), label="agent", max_calls=1)
        client = sipp(sp.answer_scenario(ring_ms=200, sdp_port=client_sink.port, play=client_pcap), label="client",
                      max_calls=1)  # fmt: skip
        p = await provider(direct_settings(client))
        t0 = time.monotonic()
        result = await p.dial(request(agent.uri(), hard_limit=2.8, nudge_at=1.0))
        await asyncio.sleep(0.2)
    assert result.status is CallStatus.ANSWERED, result
    entry = p.call_log[-1]
    assert entry["nudged"] and entry["ended_by"] == "hard_limit"

    agent_frames, client_frames = _frames(agent_sink), _frames(client_sink)
    assert len(agent_frames) > 80 and len(client_frames) > 80
    # the tone: about nudge_at after the bridge, in the agent's stream, never the client's
    tone_at = _tone_frames(agent_frames)
    assert 20 <= len(tone_at) <= 40, len(tone_at)  # 2 x 0.25 s beeps = 25 frames (+ gap frames)
    bridged = t0 + result.ring_s + 0.2
    assert 0.6 <= tone_at[0] - bridged <= 1.8, tone_at[0] - bridged
    assert _tone_frames(client_frames) == []
    # outside the nudge, the client's PCMU reaches the agent byte for byte (no transcoding),
    # and the agent's reaches the client
    sent_by_client = set(client_pkts)
    relayed = [p for _, p in agent_sink.payloads(0) if p in sent_by_client]
    assert len(relayed) >= 70, len(relayed)
    assert all(p in set(agent_pkts) for _, p in client_sink.payloads(0)), "client heard something else"
    stats = entry["rtp"]
    assert stats["agent"]["tone_frames"] >= 20 and stats["client"]["tone_frames"] == 0


async def test_dtmf_message_mode(tmp_path: Path, sipp, provider) -> None:
    prompt = sp.write_wav(tmp_path / "prompt.wav", sp.sine(800, 1.5))
    mm = {
        "enabled": True, "prompt": str(prompt), "timeout": "1s",
        "digits": {"1": "no_need", "2": "complaint", "3": "callback"}, "callback_after": "3h",
    }  # fmt: skip
    cases = [("2", "complaint"), ("3", "callback"), (None, None)]
    for digit, disposition in cases:
        with sp.RtpSink() as sink:
            play = sp.dtmf_pcap(tmp_path / f"dtmf{digit}.pcap", digit) if digit else None
            client = sipp(sp.answer_scenario(sdp_port=sink.port, play=play, play_after_ms=500),
                          label=f"client{digit}", max_calls=1, trace_msg=True)  # fmt: skip
            p = await provider(direct_settings(client, message_mode=mm))
            result = await p.dial(request("sip:ignored@127.0.0.1:9", hard_limit=20))
            await asyncio.sleep(0.1)
        assert result.status is CallStatus.ANSWERED, result
        assert result.disposition == disposition, result
        if digit is None:
            assert result.error == "no DTMF digit within 1 s"
            assert 2.3 <= result.talk_s <= 4.0  # the 1.5 s prompt, then 1 s for a digit
        else:
            assert result.error is None and p.call_log[-1]["digit"] == digit
            assert result.talk_s < 1.6  # the digit cut the prompt short
        if disposition == "callback":
            assert result.disposition_at == result.answered_at + timedelta(hours=3)
        # the prompt went to the client as PCMU frames of our WAV, in order
        expected = G711.encode("PCMU", sp.sine(800, 1.5))
        got = b"".join(p for _, p in sink.payloads(0))
        assert got and expected.startswith(got[: 160 * 10])
        assert client.received("BYE") == 1  # the dialer hung up after the digit / the wait
        assert list(p.call_log[-1]["rtp"]) == ["client"]  # no agent leg in message mode


async def test_early_media_reaches_the_agent_one_way(tmp_path: Path, sipp, provider) -> None:
    ringback = G711.encode("PCMU", sp.sine(425, 1.0))
    pkts = [ringback[i : i + 160] for i in range(0, len(ringback), 160)]
    pcap = sp.pcmu_pcap(tmp_path / "ringback.pcap", pkts)
    with sp.RtpSink() as agent_sink, sp.RtpSink() as client_sink:
        agent_audio = G711.encode("PCMU", sp.sine(300, 2.0))
        agent_pcap = sp.pcmu_pcap(tmp_path / "agent.pcap", [agent_audio[i : i + 160] for i in range(0, 16000, 160)])
        agent = sipp(sp.answer_scenario(sdp_port=agent_sink.port, play=agent_pcap), label="agent", max_calls=1)
        client = sipp(sp.early_media_scenario(client_sink.port, pcap, 1200), label="client", max_calls=1)
        p = await provider(direct_settings(client))
        events: list[tuple[str, float]] = []
        result = await p.dial(request(agent.uri(), hard_limit=0.5), lambda e: events.append((e.kind, time.monotonic())))
        await asyncio.sleep(0.1)
    assert result.status is CallStatus.ANSWERED, result
    answered = dict(events)["answered"]
    heard = [t for t, payload in agent_sink.payloads(0) if payload in set(pkts)]
    assert len(heard) >= 30 and heard[0] < answered - 0.5  # the agent heard the ringback before the answer
    # nothing of the agent reached the client's side before the answer
    assert all(t >= answered - 0.05 for t, _ in client_sink.payloads(0))


async def test_reinvite_moves_the_media(tmp_path: Path, sipp, provider) -> None:
    audio = G711.encode("PCMU", sp.sine(300, 3.0))
    pcap = sp.pcmu_pcap(tmp_path / "agent.pcap", [audio[i : i + 160] for i in range(0, len(audio), 160)])
    with sp.RtpSink() as first, sp.RtpSink() as second:
        agent = sipp(sp.answer_scenario(play=pcap), label="agent", max_calls=1)
        client = sipp(sp.reinvite_scenario(first.port, second.port, 800), label="client", max_calls=1)
        p = await provider(direct_settings(client))
        result = await p.dial(request(agent.uri(), hard_limit=2.0))
        await asyncio.sleep(0.1)
        assert await asyncio.get_running_loop().run_in_executor(None, client.wait, 5) == 0  # 200 + SDP, ACK, BYE
    assert result.status is CallStatus.ANSWERED and p.call_log[-1]["ended_by"] == "hard_limit"
    assert len(first.packets) >= 20 and len(second.packets) >= 30, (len(first.packets), len(second.packets))
    assert first.packets[-1][0] < second.packets[0][0] + 0.1  # moved, not duplicated


async def test_close_during_a_call_ends_it(sipp, provider) -> None:
    agent = sipp(sp.answer_scenario(), label="agent", max_calls=1)
    client = sipp(sp.answer_scenario(), label="client", max_calls=1)
    p = await provider(direct_settings(client))
    task = asyncio.create_task(p.dial(request(agent.uri(), hard_limit=600)))
    for _ in range(100):
        if p._active and all(r.answered_at for c in p._active for r in c.legs.values()) and len(
                next(iter(p._active)).legs) == 2:  # fmt: skip
            break
        await asyncio.sleep(0.02)
    t0 = time.monotonic()
    await p.close()
    with pytest.raises(ProviderError, match="closed during the call"):
        await asyncio.wait_for(task, 2)
    assert time.monotonic() - t0 < 3
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, agent.wait, 5) == 0  # both phones got their BYE
    assert await loop.run_in_executor(None, client.wait, 5) == 0


# ------------------------------------------------------------------ load


async def test_twenty_concurrent_bridged_calls(tmp_path: Path, sipp, provider) -> None:
    audio = G711.encode("PCMU", sp.sine(500, 3.0))
    pcap = sp.pcmu_pcap(tmp_path / "audio.pcap", [audio[i : i + 160] for i in range(0, len(audio), 160)])
    agent = sipp(sp.answer_scenario(ring_ms=100, play=pcap), label="agents")
    client = sipp(sp.answer_scenario(ring_ms=300, hold_ms=3000, play=pcap), label="clients")
    p = await provider(direct_settings(client, rtp_ports=list(sp.rtp_range(400))))
    t0 = time.monotonic()
    results = await asyncio.gather(
        *(p.dial(request(agent.uri(), number=f"+1555020{i:04d}", call_id=f"c{i}", hard_limit=30)) for i in range(20))
    )
    elapsed = time.monotonic() - t0
    assert [r.status for r in results] == [CallStatus.ANSWERED] * 20, [r.error for r in results]
    assert len({r.provider_call_id for r in results}) == 20
    assert all(2.8 <= r.talk_s <= 4.5 for r in results), [r.talk_s for r in results]
    assert elapsed < 8
    for entry in list(p.call_log)[-20:]:
        # both directions carried the pcap's 150 packets (some may race the bridge)
        assert entry["rtp"]["agent"]["relayed"] >= 100, entry
        assert entry["rtp"]["client"]["relayed"] >= 100, entry
    assert await _settled(p)


async def _settled(p: SipProvider, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not p.held_ports():
            return True
        await asyncio.sleep(0.05)
    return not p.held_ports()


async def _snapshot(p: SipProvider) -> tuple[int, int, int]:
    await _settled(p)
    await asyncio.sleep(0.2)
    return threading.active_count(), fd_count(), len(p.held_ports())


async def test_three_hundred_sequential_calls_leak_nothing(tmp_path: Path, sipp, provider) -> None:
    agent = sipp(sp.answer_scenario(), label="agents")
    client = sipp(sp.answer_scenario(hold_ms=20), label="clients")
    p = await provider(direct_settings(client, rtp_ports=[32100, 32109]))  # 5 ports: a leak runs out
    for i in range(5):  # warm-up: executor threads, codec tables, first sockets
        assert (await p.dial(request(agent.uri(), call_id=f"w{i}", hard_limit=10))).status is CallStatus.ANSWERED
    threads0, fds0, ports0 = await _snapshot(p)
    t0 = time.monotonic()
    statuses = []
    for i in range(300):
        r = await p.dial(request(agent.uri(), number=f"+1555030{i:04d}", call_id=f"s{i}", hard_limit=10))
        statuses.append(r.status)
        if i % 50 == 0:
            assert threading.active_count() <= threads0 + 1, "threads grow during calls"
    elapsed = time.monotonic() - t0
    threads1, fds1, ports1 = await _snapshot(p)
    assert statuses.count(CallStatus.ANSWERED) == 300, {s: statuses.count(s) for s in set(statuses)}
    assert threads1 <= threads0, (threads0, threads1)
    assert fds1 <= fds0, (fds0, fds1)
    assert ports0 == ports1 == 0
    assert not p._ua._tx  # no transaction left behind
    print(f"300 sequential bridged calls in {elapsed:.1f} s ({300 / elapsed:.1f} calls/s)")


# ------------------------------------------------------------------ the long call's end


def test_bridged_call_held_60s_through_kamailio_to_baresip_does_not_drop_at_32s(long_call: LongCall) -> None:
    assert long_call.thread is not None
    long_call.thread.join(LONG_CALL_S + 30)
    assert not long_call.thread.is_alive(), "the long call did not finish"
    assert long_call.error is None, long_call.error
    r = long_call.result
    assert r is not None and r.status is CallStatus.ANSWERED, r
    assert r.error is None
    # ended by our hard limit at 60 s, not by baresip's ACK timeout at ~32 s
    assert long_call.entry["ended_by"] == "hard_limit", long_call.entry
    assert LONG_CALL_S - 0.5 <= r.talk_s <= LONG_CALL_S + 1.5, r.talk_s
    assert long_call.entry["nudged"]
    for phone in (long_call.agent, long_call.client):
        ends = phone.terminated_lines()
        assert len(ends) == 1 and "duration: 1 min" in ends[0], (phone.name, ends, phone.tail())
        log = phone.log.read_text(errors="replace")
        assert "session closed: Connection reset by peer" in log  # our BYE, at the hard limit
        assert "timed out" not in log.lower(), phone.tail()  # libre ends un-ACKed calls with ETIMEDOUT
    # both phones' audio went through the relay the whole time (~50 packets/s each way)
    rtp = long_call.entry["rtp"]
    assert rtp["agent"]["relayed"] > 40 * LONG_CALL_S * 0.9 and rtp["client"]["relayed"] > 40 * LONG_CALL_S * 0.9, rtp
    assert long_call.kam.alive()
