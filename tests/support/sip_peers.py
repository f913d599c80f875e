"""Real SIP peers on 127.0.0.1 for the SIP provider's tests (and benchmarks/sip_calls.py).

sipp (Debian package sip-tester) plays phones and networks from the scenario templates
in tests/data/sip; kamailio is the PBX (registrar, digest auth, record-routing proxy);
baresip is a real softphone (agent and client). Every peer gets its own ports, is
started as a child process, waited for (its UDP port bound, then a SIP answer where it
matters) and stopped by its PID. A missing binary skips the test with the package to
install, except when CI=true, where it fails (tests.support.services.require_service).

Media files are generated, not downloaded: an 8 kHz PCMU pcap for sipp to play, an
RFC 2833 DTMF pcap, WAV prompts and a long WAV for baresip's audio source.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
import uuid
import wave
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.support.services import require_service

DATA = Path(__file__).resolve().parents[1] / "data" / "sip"
PASSWORD = "s3cret-pass"
DIALER_USER = "dialer"

PACKAGES = {"sipp": "sip-tester", "kamailio": "kamailio", "baresip": "baresip"}


def binary(name: str) -> str | None:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    return path


def require(*names: str) -> None:
    """Skip (locally) or fail (CI=true) when a peer's binary is missing."""
    for name in names:
        require_service(
            binary(name) is not None,
            f"{name} is not installed (apt-get install {PACKAGES.get(name, name)}; scripts/test-all installs it)",
        )


# ------------------------------------------------------------------ ports

_handed_out: set[int] = set()
_rtp_base = itertools.count(0)


def free_udp_port(pair: bool = False) -> int:
    """A UDP port free on 127.0.0.1 now (and, with pair, port+2 too: sipp's -mp uses both)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port in _handed_out or port > 65000 or (pair and (port + 2) in _handed_out):
            continue
        if pair:
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s2:
                    s2.bind(("127.0.0.1", port + 2))
            except OSError:
                continue
            _handed_out.add(port + 2)
        _handed_out.add(port)
        return port
    raise RuntimeError("no free UDP port found")


def rtp_range(size: int = 200) -> tuple[int, int]:
    """A distinct RTP port range per provider instance in this process, below the
    kernel's ephemeral range (where sipp's and the sinks' ports come from)."""
    i = next(_rtp_base)
    lo = 20000 + ((os.getpid() * 7 + i) * size) % 12000
    lo -= lo % 2
    return lo, lo + size - 1


def udp_bound(port: int) -> bool:
    hexport = f":{port:04X} "
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    local = line.split()[1]
                    if (local + " ").endswith(hexport):
                        return True
        except OSError:
            continue
    return False


def sip_ping(port: int, timeout: float = 0.5) -> int | None:
    """Send OPTIONS to 127.0.0.1:port; the status code of the answer, None if none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(timeout)
        me = s.getsockname()[1]
        msg = (
            f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=probe\r\n"
            f"To: <sip:127.0.0.1:{port}>\r\nCall-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        s.sendto(msg.encode(), ("127.0.0.1", port))
        try:
            data = s.recv(4096)
        except OSError:
            return None
    try:
        return int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


# ------------------------------------------------------------------ processes


class Peer:
    """A child process we started, stopped by its PID (terminate, then kill), bounded."""

    name = "peer"

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"{self.name}.log"

    def _spawn(self, cmd: Sequence[str], cwd: Path | None = None) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                list(cmd), cwd=cwd or self.workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_port(self, port: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited ({self.proc and self.proc.returncode}):\n{self.tail()}")
            if udp_bound(port):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not bind UDP port {port} within {timeout} s:\n{self.tail()}")

    def stop(self, timeout: float = 5.0) -> int | None:
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                # our child's own process group (start_new_session): kamailio's workers too
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout)
        return proc.returncode

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------------ sipp

RING = """
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Record-Route:]
      Contact: <sip:ring@[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0
    ]]>
  </send>
  <pause milliseconds="{ring_ms}"/>
"""

CAPTURE_FROM = """    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="remote_from"/>
    </action>"""

OK_FOR_BYE = """
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
"""

WAIT_BYE = '  <recv request="BYE"/>\n' + OK_FOR_BYE

HANGUP_AFTER = (
    """
  <recv request="BYE" timeout="{hold_ms}" ontimeout="hangup" next="gotbye"/>
  <label id="hangup"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:answer@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
      To:[$remote_from]
      [last_Call-ID:]
      CSeq: 1 BYE
      Contact: <sip:answer@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" next="end"/>
  <label id="gotbye"/>
"""
    + OK_FOR_BYE
    + '  <label id="end"/>\n'
)


def answer_scenario(
    ring_ms: int = 0, hold_ms: int | None = None, sdp_port: int | str = "[media_port]",
    play: Path | None = None, play_after_ms: int = 0,
) -> str:  # fmt: skip
    """uas_answer.xml filled in: ring (ms, 0 = answer at once), then wait for the dialer's
    BYE (hold_ms None) or hang up after hold_ms; play a pcap at play_after_ms."""
    media = ""
    if play is not None:
        if play_after_ms:
            media += f'  <pause milliseconds="{play_after_ms}"/>\n'
        media += f'  <nop><action><exec play_pcap_audio="{play}"/></action></nop>\n'
    ending = WAIT_BYE if hold_ms is None else HANGUP_AFTER.format(hold_ms=hold_ms)
    return (
        (DATA / "uas_answer.xml")
        .read_text()
        .format(
            capture=CAPTURE_FROM if hold_ms is not None else "",
            ring=RING.format(ring_ms=ring_ms) if ring_ms else "",
            sdp_port=sdp_port,
            media=media,
            ending=ending,
        )
    )


def reject_scenario(code: int, reason: str, ring_ms: int = 0) -> str:
    return (
        (DATA / "uas_reject.xml")
        .read_text()
        .format(code=code, reason=reason, ring=RING.format(ring_ms=ring_ms) if ring_ms else "")
    )


def scenario(name: str) -> str:
    return (DATA / f"{name}.xml").read_text()


class Sipp(Peer):
    """sipp as a UAS (a phone / a network) on 127.0.0.1:port."""

    name = "sipp"

    def __init__(self, workdir: Path, xml: str, *, max_calls: int | None = None, trace_msg: bool = False,
                 label: str = "sipp"):  # fmt: skip
        self.name = label
        super().__init__(workdir)
        self.port = free_udp_port()
        self.media_port = free_udp_port(pair=True)
        self.xml_path = workdir / f"{label}.xml"
        self.xml_path.write_text(xml)
        self.messages = workdir / f"{label}_messages.log"
        cmd = [
            binary("sipp") or "sipp", "-sf", str(self.xml_path), "-i", "127.0.0.1", "-p", str(self.port),
            "-mp", str(self.media_port), "-nostdin", "-trace_err", "-error_file", str(workdir / f"{label}_errors.log"),
            "-max_socket", "200", "-l", "400", "-aa",
        ]  # fmt: skip
        if max_calls is not None:
            cmd += ["-m", str(max_calls)]
        if trace_msg:
            cmd += ["-trace_msg", "-message_file", str(self.messages)]
        self._spawn(cmd)
        self.wait_port(self.port)

    def uri(self, user: str = "agent") -> str:
        return f"sip:{user}@127.0.0.1:{self.port}"

    def messages_received(self, method: str | None = None) -> list[str]:
        """The SIP messages sipp logged as received (needs trace_msg); filtered by the
        first word of the start line (a method, or "SIP/2.0" for responses)."""
        try:
            text = self.messages.read_text(errors="replace")
        except OSError:
            return []
        out = []
        for block in re.split(r"^-{10,}.*$", text, flags=re.M):
            head, _, body = block.strip().partition("\n")
            if "message received" not in head:
                continue
            msg = body.strip()
            if method is None or msg.startswith(f"{method} "):
                out.append(msg)
        return out

    def received(self, method: str) -> int:
        return len(self.messages_received(method))


# ------------------------------------------------------------------ kamailio


class Kamailio(Peer):
    name = "kamailio"

    def __init__(self, workdir: Path, *, trunk_port: int = 9, auth: bool = True, invite_401: bool = False,
                 port: int | None = None):  # fmt: skip
        super().__init__(workdir)
        self.port = port or free_udp_port()
        self.trunk_port = trunk_port
        self.auth = auth
        self.invite_401 = invite_401
        defines = []
        if auth:
            defines.append("#!define WITH_AUTH")
        if invite_401:
            defines.append("#!define WITH_INVITE_401")
        cfg = (DATA / "kamailio.cfg").read_text()
        for key, value in {
            "@@PORT@@": str(self.port), "@@PASSWORD@@": PASSWORD, "@@DIALER@@": DIALER_USER,
            "@@TRUNK@@": f"127.0.0.1:{trunk_port}", "@@DEFINES@@": "\n".join(defines),
        }.items():  # fmt: skip
            cfg = cfg.replace(key, value)
        self.cfg = workdir / "kamailio.cfg"
        self.cfg.write_text(cfg)
        self.start()

    def start(self) -> None:
        run = self.workdir / "run"
        run.mkdir(exist_ok=True)
        self._spawn(
            [binary("kamailio") or "kamailio", "-f", str(self.cfg), "-DD", "-E", "-m", "32", "-M", "4", "-Y", str(run)]
        )
        self.wait_port(self.port)
        deadline = time.monotonic() + 10
        while sip_ping(self.port) != 200:
            if time.monotonic() > deadline or not self.alive():
                raise RuntimeError(f"kamailio does not answer OPTIONS:\n{self.tail()}")
            time.sleep(0.1)

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"


# ------------------------------------------------------------------ baresip


class Baresip(Peer):
    """A softphone answering automatically; registers with kamailio as `user`.

    Its audio source is a generated WAV (baresip 1.0 ends the call when the file ends,
    so it is longer than any test call); received audio is dropped (aubridge)."""

    name = "baresip"

    def __init__(self, workdir: Path, *, user: str, registrar_port: int, source: Path, max_calls: int = 4,
                 label: str = "baresip"):  # fmt: skip
        self.name = label
        super().__init__(workdir)
        self.port = free_udp_port()
        self.user = user
        conf = workdir / "conf"
        conf.mkdir(exist_ok=True)
        (conf / "config").write_text(
            "\n".join(
                [
                    "poll_method epoll",
                    f"sip_listen 127.0.0.1:{self.port}",
                    "call_local_timeout 120",
                    f"call_max_calls {max_calls}",
                    "audio_player aubridge,nowhere",
                    f"audio_source aufile,{source}",
                    "audio_alert aubridge,nowhere",
                    "ausrc_srate 8000",
                    "ausrc_channels 1",
                    "auplay_srate 8000",
                    "auplay_channels 1",
                    "audio_level no",
                    "rtp_stats no",
                    "module_path /usr/lib/baresip/modules",
                    "module g711.so",
                    "module aufile.so",
                    "module aubridge.so",
                    "module_tmp account.so",
                    "",
                ]
            )
        )
        (conf / "accounts").write_text(
            f"<sip:{user}@127.0.0.1:{registrar_port}>;auth_pass={PASSWORD};answermode=auto;regint=300\n"
        )
        # line-buffered stdout, or its log lines reach the file late (the tests read it)
        stdbuf = shutil.which("stdbuf")
        self._spawn([*([stdbuf, "-oL"] if stdbuf else []), binary("baresip") or "baresip", "-f", str(conf)])
        self.wait_port(self.port)
        deadline = time.monotonic() + 10
        while "200 OK" not in self.log.read_text(errors="replace"):
            if time.monotonic() > deadline or not self.alive():
                raise RuntimeError(f"baresip {user} did not register:\n{self.tail()}")
            time.sleep(0.05)

    def established(self) -> int:
        return self.log.read_text(errors="replace").count("Call established")

    def terminated_lines(self, wait: float = 3.0) -> list[str]:
        """'Call with ... terminated (duration: ...)' lines, waiting a little for the first."""
        deadline = time.monotonic() + wait
        while True:
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if "terminated (duration" in ln]
            if lines or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)


# ------------------------------------------------------------------ media files


def write_wav(path: Path, samples: Sequence[int]) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return path


def sine(frequency: float, seconds: float, amplitude: int = 6000) -> list[int]:
    step = 2 * math.pi * frequency / 8000
    return [int(amplitude * math.sin(step * i)) for i in range(int(seconds * 8000))]


def long_source_wav(path: Path, seconds: float, frequency: float = 440.0) -> Path:
    """One second of tone repeated (fast to make even for minutes of audio)."""
    one = struct.pack("<8000h", *sine(frequency, 1.0, 3000))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        for _ in range(int(math.ceil(seconds))):
            w.writeframes(one)
    return path


def _pcap(path: Path, payloads: Sequence[tuple[float, bytes]]) -> Path:
    """A classic pcap of UDP datagrams 127.0.0.1:40000 -> 127.0.0.1:40002 (Ethernet)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for t, payload in payloads:
        udp = struct.pack("!HHHH", 40000, 40002, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes([127, 0, 0, 1]),
                         bytes([127, 0, 0, 1]))  # fmt: skip
        csum = sum(struct.unpack("!10H", ip))
        while csum >> 16:
            csum = (csum & 0xFFFF) + (csum >> 16)
        ip = ip[:10] + struct.pack("!H", ~csum & 0xFFFF) + ip[12:]
        frame = b"\x00" * 6 + b"\x00" * 6 + b"\x08\x00" + ip + udp
        sec = int(t)
        out.append(struct.pack("<IIII", sec, int((t - sec) * 1e6), len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return path


def pcmu_pcap(path: Path, payloads: Sequence[bytes], ssrc: int = 0x1234ABCD) -> Path:
    """RTP/PCMU, one 20 ms payload per packet, for sipp's play_pcap_audio."""
    pkts = []
    for i, payload in enumerate(payloads):
        header = struct.pack("!BBHII", 0x80, (0x80 if i == 0 else 0) | 0, 1000 + i, 160 * i, ssrc)
        pkts.append((1_700_000_000 + 0.02 * i, header + payload))
    return _pcap(path, pkts)


def dtmf_pcap(path: Path, digit: str, pt: int = 101, ssrc: int = 0x0BADCAFE) -> Path:
    """One RFC 2833 telephone-event (100 ms + 3 end packets), after 100 ms of nothing."""
    event = "0123456789*#".index(digit)
    pkts = []
    seq = 2000
    t0 = 1_700_000_000.0
    ts = 8000
    for i in range(5):
        duration = 160 * (i + 1)
        payload = struct.pack("!BBH", event, 10, duration)
        header = struct.pack("!BBHII", 0x80, (0x80 if i == 0 else 0) | pt, seq, ts, ssrc)
        pkts.append((t0 + 0.1 + 0.02 * i, header + payload))
        seq += 1
    for j in range(3):
        payload = struct.pack("!BBH", event, 0x80 | 10, 160 * 6)
        pkts.append((t0 + 0.2 + 0.02 * j, struct.pack("!BBHII", 0x80, pt, seq, ts, ssrc) + payload))
        seq += 1
    return _pcap(path, pkts)


# ------------------------------------------------------------------ RTP sinks and analysis


class RtpSink:
    """A UDP socket standing in for a phone's media port: it records what the dialer
    sends (the phone's SIP side is sipp, whose SDP points here)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.packets: list[tuple[float, bytes]] = []
        self._stop = False
        import threading

        self._thread = threading.Thread(target=self._run, name=f"rtp-sink-{self.port}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(2048)
            except OSError:
                continue
            self.packets.append((time.monotonic(), data))

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()

    def payloads(self, pt: int = 0) -> list[tuple[float, bytes]]:
        return [(t, p[12:]) for t, p in self.packets if len(p) > 12 and p[1] & 0x7F == pt]

    def __enter__(self) -> RtpSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def goertzel(samples: Sequence[int], frequency: float, rate: int = 8000) -> float:
    """Relative power of one frequency in a block of samples."""
    if not samples:
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * frequency / rate)
    s1 = s2 = 0.0
    for x in samples:
        s0 = x + coeff * s1 - s2
        s2, s1 = s1, s0
    return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / len(samples)


@contextlib.contextmanager
def peers() -> Iterator[list[Peer]]:
    """Collect peers and stop them all (reverse order) on the way out."""
    started: list[Peer] = []
    try:
        yield started
    finally:
        for p in reversed(started):
            with contextlib.suppress(Exception):
                p.stop()


def early_media_scenario(sdp_port: int | str, play: Path, early_ms: int) -> str:
    return (DATA / "uas_early_media.xml").read_text().format(sdp_port=sdp_port, play=play, early_ms=early_ms)


def reinvite_scenario(first_port: int, second_port: int, reinvite_ms: int) -> str:
    return (
        (DATA / "uas_reinvite.xml")
        .read_text()
        .format(first_port=first_port, second_port=second_port, reinvite_ms=reinvite_ms)
    )
