"""SIP provider cost: CPU per bridged call (media relayed both ways) and calls per second.

    python benchmarks/sip_calls.py                        # 20 calls held 20 s, then 200 short calls
    python benchmarks/sip_calls.py --concurrent 40 --hold 30
    python benchmarks/sip_calls.py --calls 500 --parallel 10

Needs sipp (apt-get install sip-tester). Two sipp processes on 127.0.0.1 play the agent
and the client; each streams PCMU at 50 packets/s (a pcap) into its leg, so the relay
carries 2 x 50 packets/s per bridged call, like a real conversation (no silence
suppression). sipp's own CPU is not counted: the figures are this process's (the
provider, its SIP and RTP threads, asyncio), from getrusage.

1. CPU per bridged call: N calls bridged at once and held `--hold` seconds; CPU time of
   the process (and of the RTP thread alone) over the held window, per call.
2. Calls per second: `--calls` short bridged calls (answer, 20 ms, hang up) one after
   the other, then with `--parallel` at a time; signalling only, no media.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import structlog  # noqa: E402

from dialer.clock import SystemClock  # noqa: E402
from dialer.domain import CallStatus  # noqa: E402
from providers.base import DialRequest  # noqa: E402
from providers.sip import SipProvider  # noqa: E402
from providers.sip.media import G711  # noqa: E402
from tests.support import sip_peers as sp  # noqa: E402


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def req(agent: sp.Sipp, i: int, hold: float) -> DialRequest:
    return DialRequest(
        call_id=f"bench-{i}", number=f"+1555{i:07d}", caller_id="+15559990000", connect_to=agent.uri(),
        ring_timeout=timedelta(seconds=10), hard_limit=timedelta(seconds=hold),
    )  # fmt: skip


async def provider(client: sp.Sipp, ports: int) -> SipProvider:
    lo = 22000
    p = SipProvider(
        "bench",
        {"register": False, "bind_ip": "127.0.0.1", "bind_port": 0, "rtp_ports": [lo, lo + ports * 2],
         "client_uri": f"sip:{{number}}@127.0.0.1:{client.port}"},
        SystemClock(),
    )  # fmt: skip
    await p.start()
    return p


async def held_calls(work: Path, concurrent: int, hold: float) -> None:
    seconds = hold + 10
    audio = G711.encode("PCMU", sp.sine(440, 1.0)) * int(seconds)
    pcap = sp.pcmu_pcap(work / "audio.pcap", [audio[i : i + 160] for i in range(0, len(audio), 160)])
    agent = sp.Sipp(work / "agent", sp.answer_scenario(play=pcap), label="agent")
    client = sp.Sipp(work / "client", sp.answer_scenario(play=pcap), label="client")
    try:
        p = await provider(client, concurrent * 2 + 10)
        idle0, t_idle = cpu(), time.monotonic()
        await asyncio.sleep(2)
        idle_cpu = (cpu() - idle0) / (time.monotonic() - t_idle)
        tasks = [asyncio.create_task(p.dial(req(agent, i, hold))) for i in range(concurrent)]
        await asyncio.sleep(2)  # all answered and bridged by now
        media0 = p._media.cpu_s if p._media else 0.0
        c0, t0 = cpu(), time.monotonic()
        await asyncio.sleep(max(1.0, hold - 4))
        dt = time.monotonic() - t0
        used = cpu() - c0
        media = (p._media.cpu_s if p._media else 0.0) - media0
        results = await asyncio.gather(*tasks)
        ok = sum(r.status is CallStatus.ANSWERED for r in results)
        relayed = sum(e["rtp"]["agent"]["relayed"] + e["rtp"]["client"]["relayed"] for e in p.call_log)
        await p.close()
    finally:
        agent.stop()
        client.stop()
    per_call = used / dt / concurrent
    print(f"bridged calls held:      {concurrent} at once for {dt:.1f} s measured ({ok}/{concurrent} answered)")
    print(f"packets relayed:         {relayed} ({relayed / concurrent / hold:.0f} per call per s, both directions)")
    print(f"process CPU while held:  {used / dt * 100:.1f} % of one core (idle provider: {idle_cpu * 100:.2f} %)")
    print(f"CPU per bridged call:    {per_call * 100:.2f} % of one core = {per_call * 60:.2f} CPU-s per call-minute")
    print(f"  of which RTP thread:   {media / dt / concurrent * 100:.2f} % of one core per call")
    print(f"calls per core (media):  ~{1 / per_call:.0f} bridged calls would fill one core")


async def call_rate(work: Path, calls: int, parallel: int) -> None:
    agent = sp.Sipp(work / "agent2", sp.answer_scenario(), label="agent2")
    client = sp.Sipp(work / "client2", sp.answer_scenario(hold_ms=20), label="client2")
    try:
        p = await provider(client, parallel * 2 + 10)
        for i in range(5):
            await p.dial(req(agent, i, 5))
        c0, t0 = cpu(), time.monotonic()
        seq = [await p.dial(req(agent, i, 5)) for i in range(calls)]
        dt_seq, cpu_seq = time.monotonic() - t0, cpu() - c0
        sem = asyncio.Semaphore(parallel)

        async def one(i: int) -> CallStatus:
            async with sem:
                return (await p.dial(req(agent, 10_000 + i, 5))).status

        c1, t1 = cpu(), time.monotonic()
        par = await asyncio.gather(*(one(i) for i in range(calls)))
        dt_par, cpu_par = time.monotonic() - t1, cpu() - c1
        await p.close()
    finally:
        agent.stop()
        client.stop()
    ok_seq = sum(r.status is CallStatus.ANSWERED for r in seq)
    ok_par = sum(s is CallStatus.ANSWERED for s in par)
    print(f"sequential calls:        {calls} in {dt_seq:.2f} s = {calls / dt_seq:.1f} calls/s "
          f"({ok_seq} answered, {cpu_seq / calls * 1000:.1f} ms CPU per call)")  # fmt: skip
    print(f"{parallel} in parallel:          {calls} in {dt_par:.2f} s = {calls / dt_par:.1f} calls/s "
          f"({ok_par} answered, {cpu_par / calls * 1000:.1f} ms CPU per call)")  # fmt: skip


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concurrent", type=int, default=20, help="bridged calls held at once")
    ap.add_argument("--hold", type=float, default=20.0, help="seconds each held call lasts")
    ap.add_argument("--calls", type=int, default=200, help="short calls for the rate test")
    ap.add_argument("--parallel", type=int, default=10, help="concurrency of the second rate test")
    args = ap.parse_args()
    if sp.binary("sipp") is None:
        sys.exit("sipp is not installed: apt-get install sip-tester")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # errors only
    with tempfile.TemporaryDirectory(prefix="sip-bench-") as tmp:
        work = Path(tmp)
        await held_calls(work, args.concurrent, args.hold)
        await call_rate(work, args.calls, args.parallel)


if __name__ == "__main__":
    asyncio.run(main())
