"""Media for the SIP provider: one thread relays RTP for every call.

pyVoIP's ``RTPClient`` decodes every packet into a jitter buffer, re-encodes it and runs
two polling threads per leg (a 10 ms sleep loop each): 80 threads and transcoding for 20
bridged calls. A dialer only needs to pass the agent's and the client's audio through,
so this module does that instead, on a single thread with a ``selectors`` loop:

* PCMU/PCMA packets are forwarded without transcoding; the relay acts as an RTP
  translator (its own SSRC, sequence numbers and a timestamp offset per leg), and maps
  payload types between the legs' negotiated numbers (telephone-event may differ).
* The nudge tone is mixed into the packets going to the agent only, for its few hundred
  milliseconds (the only time a payload is decoded and re-encoded).
* Message mode plays a prompt (20 ms frames on the thread's clock) and reports RFC 2833
  telephone-events as digits.

Other threads talk to the engine through a command queue and a wake-up socket pair; the
engine reports back through the callbacks it was given (the provider turns those into
``loop.call_soon_threadsafe``). RTP ports come from the configured range, even numbers
only; a port is held from ``open()`` until its socket is closed.
"""

from __future__ import annotations

import errno
import math
import os
import queue
import random
import selectors
import socket
import struct
import threading
import time
import wave
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

log = structlog.get_logger("providers.sip.media")

FRAME = 160  # samples per 20 ms at 8 kHz
PTIME = 0.02
DTMF_KEYS = "0123456789*#ABCD"
STATIC_PT = {"PCMU": 0, "PCMA": 8}


class NoPortsAvailable(RuntimeError):
    pass


# ------------------------------------------------------------------ G.711


def _ulaw_decode_table() -> list[int]:
    out = []
    for u in range(256):
        u = ~u & 0xFF
        sign, exponent, mantissa = u & 0x80, (u >> 4) & 0x07, u & 0x0F
        s = (((mantissa << 3) + 0x84) << exponent) - 0x84
        out.append(-s if sign else s)
    return out


def _alaw_decode_table() -> list[int]:
    out = []
    for a in range(256):
        a ^= 0x55
        t = (a & 0x0F) << 4
        seg = (a & 0x70) >> 4
        if seg == 0:
            t += 8
        elif seg == 1:
            t += 0x108
        else:
            t = (t + 0x108) << (seg - 1)
        out.append(t if a & 0x80 else -t)
    return out


_ULAW_SEG_END = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)


def _ulaw_encode(s: int) -> int:
    """16-bit linear -> mu-law (the classic Sun g711.c variant CPython's audioop used)."""
    s >>= 2
    if s < 0:
        s, mask = -s, 0x7F
    else:
        mask = 0xFF
    s = min(s, 8159) + 0x21
    seg = next((i for i, end in enumerate(_ULAW_SEG_END) if s <= end), 8)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((s >> (seg + 1)) & 0x0F)) ^ mask


_ALAW_SEG_END = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _alaw_encode(s: int) -> int:
    s >>= 3
    if s >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        s = -s - 1
    seg = next((i for i, end in enumerate(_ALAW_SEG_END) if s <= end), 8)
    if seg >= 8:
        return 0x7F ^ mask
    aval = seg << 4
    aval |= (s >> 1) & 0x0F if seg < 2 else (s >> seg) & 0x0F
    return aval ^ mask


class G711:
    """Lookup-table G.711 (audioop is deprecated and gone in Python 3.13)."""

    _decode = {"PCMU": _ulaw_decode_table(), "PCMA": _alaw_decode_table()}
    _encode: dict[str, bytes] = {}
    _lock = threading.Lock()

    @classmethod
    def encoder(cls, codec: str) -> bytes:
        table = cls._encode.get(codec)
        if table is None:
            with cls._lock:
                fn = _ulaw_encode if codec == "PCMU" else _alaw_encode
                table = cls._encode.setdefault(codec, bytes(fn(s - 32768) for s in range(65536)))
        return table

    @classmethod
    def decode(cls, codec: str, payload: bytes) -> list[int]:
        table = cls._decode[codec]
        return [table[b] for b in payload]

    @classmethod
    def encode(cls, codec: str, samples: list[int]) -> bytes:
        table = cls.encoder(codec)
        return bytes(table[max(-32768, min(32767, s)) + 32768] for s in samples)


def tone(frequency: float, seconds: float, dbfs: float, fade: float = 0.005) -> list[int]:
    """A sine burst with short fades (no clicks), 8 kHz linear samples."""
    n = int(round(seconds * 8000))
    amp = 32767 * 10 ** (dbfs / 20)
    ramp = max(1, int(fade * 8000))
    out = []
    for i in range(n):
        g = min(1.0, i / ramp, (n - 1 - i) / ramp)
        out.append(int(amp * g * math.sin(2 * math.pi * frequency * i / 8000)))
    return out


def nudge_samples(frequency: float, beep: float, gap: float, beeps: int, dbfs: float) -> list[int]:
    out: list[int] = []
    for i in range(beeps):
        if i:
            out.extend([0] * int(gap * 8000))
        out.extend(tone(frequency, beep, dbfs))
    return out


def frames_of(samples: list[int]) -> list[list[int]]:
    padded = samples + [0] * (-len(samples) % FRAME)
    return [padded[i : i + FRAME] for i in range(0, len(padded), FRAME)]


def load_wav(path: Path) -> list[int]:
    """An 8 kHz mono 16-bit WAV as linear samples (the settings checked the format)."""
    with wave.open(str(path), "rb") as w:
        data = w.readframes(w.getnframes())
    return list(struct.unpack(f"<{len(data) // 2}h", data[: len(data) // 2 * 2]))


# ------------------------------------------------------------------ endpoints


@dataclass(eq=False)
class RtpEndpoint:
    """One call leg's RTP socket and the state of the stream we send on it."""

    port: int
    sock: socket.socket
    label: str
    remote: tuple[str, int] | None = None
    codec: str = "PCMU"
    rx_names: dict[int, str] = field(default_factory=dict)  # payload type received -> encoding name
    tx_pts: dict[str, int] = field(default_factory=dict)  # encoding name -> payload type to send
    peer: RtpEndpoint | None = None
    on_dtmf: Callable[[str], None] | None = None
    on_played: Callable[[], None] | None = None
    # our outgoing stream
    out_ssrc: int = field(default_factory=lambda: random.getrandbits(32))
    out_seq: int = field(default_factory=lambda: random.getrandbits(16))
    out_ts: int = field(default_factory=lambda: random.getrandbits(32))
    ts_source: int | None = None  # SSRC the current timestamp offset belongs to
    ts_delta: int = 0
    resync: bool = True
    tone: deque[list[int]] = field(default_factory=deque)  # linear frames mixed in (nudge)
    held: bytes | None = None  # the last relayed payload while a tone is mixed in
    play: deque[bytes] = field(default_factory=deque)  # encoded frames replacing the stream (prompt)
    last_event: tuple[int, int] | None = None
    closed: bool = False
    # counters
    rx: int = 0
    tx: int = 0
    relayed: int = 0
    tone_frames: int = 0

    @property
    def injecting(self) -> bool:
        return bool(self.tone) or bool(self.play)


class MediaEngine:
    """All RTP of one provider on one thread."""

    def __init__(self, bind_ip: str, port_range: tuple[int, int], name: str = "sip", symmetric: bool = False):
        self.bind_ip = bind_ip
        lo, hi = port_range
        self._ports = list(range(lo + (lo % 2), hi + 1, 2))  # RTP on even ports (RFC 3550 11)
        self._cursor = random.randrange(len(self._ports)) if self._ports else 0
        self._held: set[int] = set()
        self._alloc = threading.Lock()
        self.name = name
        self.symmetric = symmetric
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._selector: selectors.BaseSelector | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._running = False
        self._endpoints: set[RtpEndpoint] = set()
        self._next_tick = 0.0
        self.cpu_s = 0.0

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._thread is not None:
            return
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._running = True
        self._thread = threading.Thread(target=self._run, name=f"sip-media-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread, close every socket it holds; bounded."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._running = False
        self._wake()
        thread.join(timeout)
        if thread.is_alive():
            log.error("sip_media_thread_stuck", provider=self.name)
        for ep in list(self._endpoints):
            self._close_now(ep)
        for s in (self._wake_r, self._wake_w):
            if s is not None:
                s.close()
        if self._selector is not None:
            self._selector.close()
        self._selector = self._wake_r = self._wake_w = None
        with self._alloc:
            self._held.clear()

    def held_ports(self) -> set[int]:
        with self._alloc:
            return set(self._held)

    def _wake(self) -> None:
        w = self._wake_w
        if w is not None:
            try:
                w.send(b"\0")
            except (BlockingIOError, OSError):
                pass  # already awake / shutting down

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the media thread."""
        if self._thread is None:
            return
        self._commands.put(fn)
        self._wake()

    # ------------------------------------------------------------ endpoints (any thread)

    def open(self, label: str) -> RtpEndpoint:
        """Bind an RTP socket on the next free even port of the range."""
        if self._thread is None:
            raise NoPortsAvailable("media engine is not running")
        with self._alloc:
            for _ in range(len(self._ports)):
                port = self._ports[self._cursor]
                self._cursor = (self._cursor + 1) % len(self._ports)
                if port in self._held:
                    continue
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    sock.bind((self.bind_ip, port))
                except OSError as exc:
                    sock.close()
                    if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                        continue
                    raise
                sock.setblocking(False)
                self._held.add(port)
                break
            else:
                raise NoPortsAvailable(
                    f"no free RTP port in {self._ports[0]}-{self._ports[-1] if self._ports else '?'}"
                )
        ep = RtpEndpoint(port=port, sock=sock, label=label)
        self.call(lambda: self._register(ep))
        return ep

    def configure(
        self, ep: RtpEndpoint, remote: tuple[str, int], codec: str, rx_names: dict[int, str], tx_pts: dict[str, int]
    ) -> None:
        def apply() -> None:
            ep.remote, ep.codec, ep.rx_names, ep.tx_pts = remote, codec, dict(rx_names), dict(tx_pts)

        self.call(apply)

    def bridge(self, a: RtpEndpoint, b: RtpEndpoint) -> None:
        def apply() -> None:
            a.peer, b.peer = b, a
            a.resync = b.resync = True

        self.call(apply)

    def early(self, source: RtpEndpoint, listener: RtpEndpoint) -> None:
        """One way only: what ``source`` receives (a ringing client's early media:
        ringback, operator announcements) goes to ``listener`` (the agent). Nothing of
        the agent reaches the client before the answer."""

        def apply() -> None:
            source.peer = listener
            listener.resync = True

        self.call(apply)

    def nudge(self, ep: RtpEndpoint, samples: list[int]) -> None:
        frames = frames_of(samples)

        def apply() -> None:
            ep.tone.extend(frames)
            self._arm_tick()

        self.call(apply)

    def play(self, ep: RtpEndpoint, samples: list[int], on_done: Callable[[], None]) -> None:
        def apply() -> None:
            ep.play.extend(G711.encode(ep.codec, f) for f in frames_of(samples))
            ep.on_played = on_done
            self._arm_tick()

        self.call(apply)

    def stop_playing(self, ep: RtpEndpoint) -> None:
        def apply() -> None:
            ep.play.clear()
            ep.on_played = None
            ep.resync = True

        self.call(apply)

    def listen_dtmf(self, ep: RtpEndpoint, on_digit: Callable[[str], None] | None) -> None:
        def apply() -> None:
            ep.on_dtmf = on_digit

        self.call(apply)

    def close(self, ep: RtpEndpoint) -> None:
        """Unbridge, close the socket and release the port (on the media thread)."""
        if self._thread is None:
            self._close_now(ep)
        else:
            self.call(lambda: self._close_now(ep))

    def stats(self, ep: RtpEndpoint) -> dict[str, int]:
        return {"rx": ep.rx, "tx": ep.tx, "relayed": ep.relayed, "tone_frames": ep.tone_frames, "port": ep.port}

    # ------------------------------------------------------------ the thread

    def _register(self, ep: RtpEndpoint) -> None:
        if ep.closed or self._selector is None:
            return
        self._endpoints.add(ep)
        self._selector.register(ep.sock, selectors.EVENT_READ, ep)

    def _close_now(self, ep: RtpEndpoint) -> None:
        if ep.closed:
            return
        ep.closed = True
        for other in self._endpoints:
            if other.peer is ep:
                other.peer = None
        ep.peer = None
        ep.on_dtmf = ep.on_played = None
        ep.tone.clear()
        ep.play.clear()
        if ep in self._endpoints:
            self._endpoints.discard(ep)
            if self._selector is not None:
                try:
                    self._selector.unregister(ep.sock)
                except (KeyError, ValueError):
                    pass
        ep.sock.close()
        with self._alloc:
            self._held.discard(ep.port)

    def _arm_tick(self) -> None:
        now = time.monotonic()
        if self._next_tick < now:
            self._next_tick = now

    def _run(self) -> None:
        sel = self._selector
        assert sel is not None
        cpu0 = time.thread_time()
        try:
            while self._running:
                injecting = any(ep.injecting for ep in self._endpoints)
                timeout = max(0.0, self._next_tick - time.monotonic()) if injecting else 0.5
                for key, _ in sel.select(timeout):
                    if key.data is None:
                        self._drain_commands()
                    else:
                        self._receive(key.data)
                if injecting and time.monotonic() >= self._next_tick:
                    self._tick()
                self.cpu_s = time.thread_time() - cpu0
        except Exception:  # the media thread must not die silently
            log.exception("sip_media_thread_crashed", provider=self.name)
            self._running = False

    def _drain_commands(self) -> None:
        assert self._wake_r is not None
        try:
            while self._wake_r.recv(512):
                pass
        except (BlockingIOError, OSError):
            pass
        while True:
            try:
                fn = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                fn()
            except Exception:
                log.exception("sip_media_command_failed", provider=self.name)

    def _receive(self, ep: RtpEndpoint) -> None:
        for _ in range(64):  # bounded per wake-up, other sockets get their turn
            if ep.closed:
                return
            try:
                pkt, src = ep.sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # ICMP port unreachable from a peer that went away, socket closed
            if len(pkt) < 12 or pkt[0] >> 6 != 2:
                continue
            ep.rx += 1
            if self.symmetric and ep.remote != src:
                ep.remote = src
            self._on_packet(ep, pkt)

    def _on_packet(self, ep: RtpEndpoint, pkt: bytes) -> None:
        b0 = pkt[0]
        pt = pkt[1] & 0x7F
        name = ep.rx_names.get(pt)
        if name is None:
            return  # unknown payload (comfort noise we did not offer, ...)
        offset = 12 + 4 * (b0 & 0x0F)
        if b0 & 0x10 and len(pkt) >= offset + 4:
            offset += 4 + 4 * struct.unpack_from("!H", pkt, offset + 2)[0]
        payload = pkt[offset:]
        if name == "telephone-event":
            self._dtmf(ep, pkt, payload)
        out = ep.peer
        if out is None or out.remote is None:
            return
        if out.injecting:
            if name == out.codec:
                out.held = payload  # mixed with the tone on the next tick
            return
        out_pt = out.tx_pts.get(name)
        if out_pt is None:
            return
        ssrc = struct.unpack_from("!I", pkt, 8)[0]
        ts = struct.unpack_from("!I", pkt, 4)[0]
        marker = pkt[1] & 0x80
        if out.resync or out.ts_source != ssrc:
            out.ts_delta = (out.out_ts + FRAME - ts) & 0xFFFFFFFF
            out.ts_source = ssrc
            out.resync = False
            marker = 0x80
        out.out_seq = (out.out_seq + 1) & 0xFFFF
        out.out_ts = (ts + out.ts_delta) & 0xFFFFFFFF
        header = struct.pack("!BBHII", 0x80 | (b0 & 0x3F), marker | out_pt, out.out_seq, out.out_ts, out.out_ssrc)
        if self._send(out, header + pkt[12:]):
            out.relayed += 1

    def _dtmf(self, ep: RtpEndpoint, pkt: bytes, payload: bytes) -> None:
        if len(payload) < 4 or ep.on_dtmf is None:
            return
        event = payload[0]
        if event >= len(DTMF_KEYS):
            return
        key = (struct.unpack_from("!I", pkt, 8)[0], struct.unpack_from("!I", pkt, 4)[0])
        if key == ep.last_event:
            return  # the same event again (continuation or the 3 end packets)
        ep.last_event = key
        ep.on_dtmf(DTMF_KEYS[event])

    def _send(self, ep: RtpEndpoint, packet: bytes) -> bool:
        if ep.remote is None or ep.closed:
            return False
        try:
            ep.sock.sendto(packet, ep.remote)
        except OSError:
            return False
        ep.tx += 1
        return True

    def _tick(self) -> None:
        """Every 20 ms while a tone or a prompt is playing on some leg."""
        for ep in list(self._endpoints):
            if ep.play:
                frame = ep.play.popleft()
                self._send_own(ep, frame)
                if not ep.play:
                    done, ep.on_played = ep.on_played, None
                    ep.resync = True
                    if done is not None:
                        done()
            elif ep.tone:
                samples = ep.tone.popleft()
                if ep.held is not None and len(ep.held) == FRAME:
                    other = G711.decode(ep.codec, ep.held)
                    samples = [a + b for a, b in zip(samples, other, strict=True)]
                ep.held = None
                self._send_own(ep, G711.encode(ep.codec, samples))
                ep.tone_frames += 1
                if not ep.tone:
                    ep.resync = True
        now = time.monotonic()
        self._next_tick += PTIME
        if self._next_tick < now - 0.1:  # fell behind (a stall): do not burst to catch up
            self._next_tick = now + PTIME

    def _send_own(self, ep: RtpEndpoint, payload: bytes) -> None:
        pt = ep.tx_pts.get(ep.codec, STATIC_PT.get(ep.codec, 0))
        marker = 0x80 if ep.resync else 0
        ep.resync = False
        ep.out_seq = (ep.out_seq + 1) & 0xFFFF
        ep.out_ts = (ep.out_ts + FRAME) & 0xFFFFFFFF
        ep.ts_source = None  # the relayed stream re-derives its offset after us
        header = struct.pack("!BBHII", 0x80, marker | pt, ep.out_seq, ep.out_ts, ep.out_ssrc)
        self._send(ep, header + payload)


def fd_count() -> int:
    """Open file descriptors of this process (tests and the benchmark)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1
