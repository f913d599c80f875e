"""pyVoIP 1.6.8 made fit for a dialer: subclasses that replace what it does wrong.

What pyVoIP gets wrong for outbound calls (issue 5), and what replaces it here:

============================================  =========================================================
pyVoIP 1.6.8                                  here
============================================  =========================================================
``SIPClient.invite`` blocks reading the       ``DialerSipClient.invite`` only queues the request; one
socket until 100/180/401 arrives              receive thread matches every response to its transaction
final responses other than 200/404/503 are    every final response is ACKed and reported (486, 603,
ignored: no ACK, call stays DIALING           480, 408, 487, 5xx, ...); retransmitted finals re-ACKed
``gen_ack`` puts a random To-tag in the ACK   ACK carries the To-tag of the 200 (and the route set);
for 200: the peer drops the call at ~32 s     a retransmitted 200 is ACKed again (pyVoIP #178/#272/#312)
no CANCEL, no ring timeout, 180/183 hidden    CANCEL after the first provisional; 180/183 reported
401 on INVITE only, MD5 without qop, fixed    digest for 401 and 407 (qop=auth, opaque, MD5/SHA-256),
digest uri; 407 unsupported                   the request's own URI; answered once per challenge
Call-IDs restart from 1 in every process      random Call-IDs, tags and branches (uuid4)
REGISTER refresh reads the next datagram on   REGISTER is a transaction like any other; failures back
the shared socket; 3 failures stop the phone  off (initial..max, jitter) and retry forever
``start()`` blocks 30 s, registration         ``start()`` waits at most ``register_wait``; ``register:
cannot be skipped                             false`` for IP trunks
prints to stdout, resets warning filters      pyVoIP's ``debug`` goes to structlog at debug level; the
                                              code paths that reset warning filters are never used
``import pyVoIP.SIP`` before ``pyVoIP.VoIP``  this module imports ``pyVoIP.VoIP`` first
fails (circular import)
a ``Timer`` thread per registration refresh,  one thread for all SIP (select with a bounded timeout,
two polling RTP threads per leg               a timer heap), one for all RTP (sip_media.py)
============================================  =========================================================

Kept from pyVoIP: ``SIPMessage`` (header dict layout, its Via and CSeq parsing),
``SIPStatus``, ``SIPClient`` (socket/identity fields, counters, branch generation),
``VoIPPhone`` (status, RTP range checks) and ``PhoneStatus``. Not supported: TCP/TLS,
IPv6, SRV/NAPTR look-ups, REFER, 100rel/PRACK, early media relay.

Threading: the receive thread owns all SIP state. Other threads call the public methods,
which only put a command on a queue and wake the thread; the thread reports through the
``sink`` callables it was given (the provider wraps them in ``loop.call_soon_threadsafe``).
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import queue
import random
import re
import select
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

# pyVoIP.VoIP first: importing pyVoIP.SIP before it fails with a circular import. Its RTP
# module imports audioop (deprecated); that warning is pyVoIP's business, not our users'.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import pyVoIP
    import pyVoIP.VoIP  # noqa: F401  (import order matters)
    from pyVoIP import RTP as pv_rtp
    from pyVoIP import SIP as pv_sip
    from pyVoIP.VoIP import VoIP as pv_voip
    from pyVoIP.VoIP.status import PhoneStatus

log = structlog.get_logger("providers.sip")

Sink = Callable[[str, dict[str, Any]], None]
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY"
T2 = 4.0


def _pyvoip_debug(s: Any, e: Any = None) -> None:
    """pyVoIP's debug(): it prints `e` to stdout even with DEBUG off. Log it instead."""
    log.debug("pyvoip", message=str(e if e is not None else s)[:500])


def quiet_pyvoip() -> None:
    pyVoIP.DEBUG = False
    for module in (pyVoIP, pv_sip, pv_voip, pv_rtp):
        module.debug = _pyvoip_debug  # type: ignore[attr-defined]


quiet_pyvoip()


# ------------------------------------------------------------------ parsing

_COMPACT = {
    "i": "Call-ID", "f": "From", "t": "To", "v": "Via", "m": "Contact", "l": "Content-Length",
    "c": "Content-Type", "k": "Supported", "e": "Content-Encoding", "o": "Event", "r": "Refer-To",
}  # fmt: skip
_CANON = {
    n.lower(): n
    for n in (
        "Call-ID", "CSeq", "WWW-Authenticate", "Proxy-Authenticate", "Authorization", "Proxy-Authorization",
        "Record-Route", "Route", "Via", "From", "To", "Contact", "Content-Type", "Content-Length", "Max-Forwards",
        "Min-Expires", "Expires", "Reason", "Allow", "Supported", "User-Agent", "Server", "Require",
    )
}  # fmt: skip
_MULTI = {"Via", "Record-Route", "Route", "Contact", "Allow", "Supported"}
_PARAM = re.compile(r'\s*;\s*([^=;\s]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^;\s]*))?')
_AUTH_PARAM = re.compile(r'([\w-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]+)')


def _canon(name: str) -> str:
    low = name.strip().lower()
    if low in _COMPACT:
        return _COMPACT[low]
    return _CANON.get(low) or "-".join(p.capitalize() for p in low.split("-"))


def split_commas(value: str) -> list[str]:
    """Split a header value on commas outside quotes and <...>."""
    out: list[str] = []
    cur: list[str] = []
    quoted, depth = False, 0
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth = max(0, depth - 1)
        if ch == "," and not quoted and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def params(text: str) -> dict[str, str]:
    return {m.group(1).lower(): (m.group(2) or "").strip('"') for m in _PARAM.finditer(text)}


def parse_name_addr(value: str) -> dict[str, Any]:
    """`"Name" <sip:u@h:p;x>;tag=1;y` -> pyVoIP's From/To dict, plus `uri` and `params`.

    (pyVoIP splits on ';tag=' and keeps whatever follows the tag as the tag.)"""
    v = value.strip()
    if "<" in v and ">" in v:
        lt = v.index("<")
        gt = v.index(">", lt)
        display, uri, rest, raw = v[:lt].strip().strip('"'), v[lt + 1 : gt], v[gt + 1 :], v[: gt + 1]
    else:
        display = ""
        uri, sep, rest = v.partition(";")
        rest = ";" + rest if sep else ""
        raw = uri
    p = params(rest)
    hostpart = uri.split(":", 1)[1] if ":" in uri else uri
    hostpart = hostpart.split(";", 1)[0]
    user, _, host = hostpart.rpartition("@")
    return {
        "raw": raw, "tag": p.get("tag", ""), "address": hostpart, "number": user or None,
        "caller": display, "host": host, "uri": uri, "params": p,
    }  # fmt: skip


def uri_hostport(uri: str) -> tuple[str, int]:
    """`sip:user@host:port;params` -> (host, port); 5060 when absent."""
    u = uri.strip().strip("<>")
    if ":" in u and u.split(":", 1)[0].lower() in ("sip", "sips"):
        u = u.split(":", 1)[1]
    u = u.split(";", 1)[0].split("?", 1)[0]
    hp = u.rpartition("@")[2]
    host, sep, port = hp.partition(":")
    return host, int(port) if sep and port.isdigit() else 5060


@dataclass
class Sdp:
    address: str
    port: int
    payloads: dict[int, str]  # payload type -> encoding name ("PCMU", "telephone-event", ...)
    direction: str = "sendrecv"

    def pt_for(self, name: str) -> int | None:
        for pt, n in self.payloads.items():
            if n.lower() == name.lower():
                return pt
        return None


_STATIC = {0: "PCMU", 3: "GSM", 8: "PCMA", 9: "G722", 13: "CN", 18: "G729"}


def parse_sdp(body: bytes | str) -> Sdp | None:
    """The first audio stream of an SDP body (pyVoIP's SDP parser trips over rtpmap lines
    for formats it has not seen in the m= line and over '=' inside values)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    session_c: str | None = None
    media_c: str | None = None
    direction = "sendrecv"
    port: int | None = None
    formats: list[int] = []
    names: dict[int, str] = {}
    in_audio = False
    seen_media = False
    for line in re.split(r"\r?\n", text):
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:].strip()
        if kind == "m":
            if seen_media and in_audio:
                break  # only the first audio stream
            seen_media = True
            parts = value.split()
            in_audio = len(parts) >= 4 and parts[0] == "audio"
            if in_audio:
                try:
                    port = int(parts[1].split("/")[0])
                    formats = [int(f) for f in parts[3:] if f.isdigit()]
                except ValueError:
                    return None
        elif kind == "c":
            addr = value.split()[-1].split("/")[0] if value.split() else ""
            if not seen_media:
                session_c = addr
            elif in_audio:
                media_c = addr
        elif kind == "a" and (in_audio or not seen_media):
            if value in ("sendrecv", "sendonly", "recvonly", "inactive"):
                direction = value
            elif value.startswith("rtpmap:") and in_audio:
                pt_text, _, enc = value[7:].partition(" ")
                if pt_text.isdigit():
                    names[int(pt_text)] = enc.split("/")[0]
    address = media_c or session_c
    if port is None or address is None:
        return None
    payloads = {pt: names.get(pt) or _STATIC.get(pt, f"pt{pt}") for pt in formats}
    return Sdp(address=address, port=port, payloads=payloads, direction=direction)


def build_sdp(ip: str, port: int, session: int, version: int, codecs: list[tuple[int, str]], dtmf_pt: int) -> str:
    pts = " ".join(str(pt) for pt, _ in codecs)
    lines = [
        "v=0",
        f"o=dialer {session} {version} IN IP4 {ip}",
        "s=dialer",
        f"c=IN IP4 {ip}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {pts} {dtmf_pt}",
        *(f"a=rtpmap:{pt} {name}/8000" for pt, name in codecs),
        f"a=rtpmap:{dtmf_pt} telephone-event/8000",
        f"a=fmtp:{dtmf_pt} 0-15",
        "a=ptime:20",
        "a=sendrecv",
    ]
    return "\r\n".join(lines) + "\r\n"


class SipMessage(pv_sip.SIPMessage):
    """pyVoIP's SIPMessage with a tolerant parser.

    pyVoIP only knows INVITE/ACK/BYE/CANCEL, keeps the first of repeated headers (so
    loses Record-Route sets), has no compact header forms, raises on status codes not in
    its enum and on bodies containing a blank line. The pyVoIP ``headers`` dict keeps its
    layout (Via list, From/To dicts, CSeq {check, method}); ``fields`` has every raw
    value of every header, in order.
    """

    def parse(self, data: bytes) -> None:
        self.fields: dict[str, list[str]] = {}
        self.code = 0
        self.reason = ""
        self.method = ""
        self.uri = ""
        self.sdp: Sdp | None = None
        head, sep, body = data.partition(b"\r\n\r\n")
        if not sep:
            head, _, body = data.partition(b"\n\n")
        lines = re.split(r"\r?\n", head.decode("utf-8", "replace"))
        start = lines[0].strip()
        self.heading = start.encode()
        parts = start.split(" ", 2)
        if parts[0] == "SIP/2.0" and len(parts) >= 2 and parts[1].isdigit():
            self.type = pv_sip.SIPMessageType.RESPONSE
            self.code = int(parts[1])
            self.reason = parts[2] if len(parts) > 2 else ""
            try:
                self.status = pv_sip.SIPStatus(self.code)
            except ValueError:
                self.status = pv_sip.SIPStatus({1: 100, 2: 200, 3: 300, 4: 400, 5: 500}.get(self.code // 100, 600))
        elif len(parts) == 3 and parts[2] == "SIP/2.0" and parts[0].isupper():
            self.type = pv_sip.SIPMessageType.MESSAGE
            self.method, self.uri = parts[0], parts[1]
        else:
            raise pv_sip.SIPParseError(f"not a SIP message: {start[:80]!r}")
        self.version = "SIP/2.0"
        folded: list[str] = []
        for line in lines[1:]:
            if not line:
                continue
            if line[0] in " \t" and folded:
                folded[-1] += " " + line.strip()
            else:
                folded.append(line)
        for line in folded:
            name, colon, value = line.partition(":")
            if not colon:
                continue
            canon = _canon(name)
            values = split_commas(value.strip()) if canon in _MULTI else [value.strip()]
            self.fields.setdefault(canon, []).extend(values)
        for required in ("Via", "From", "To", "Call-ID", "CSeq"):
            if required not in self.fields:
                raise pv_sip.SIPParseError(f"missing {required} header")
        self.headers = {"Via": []}
        self.parse_header("Via", self.fields["Via"])  # type: ignore[arg-type]  # pyVoIP's Via parser takes the list
        self.parse_header("CSeq", self.fields["CSeq"][0])  # pyVoIP's: {"check": "1", "method": "INVITE"}
        for name, values in self.fields.items():
            if name in ("Via", "CSeq"):
                continue
            if name in ("From", "To"):
                self.headers[name] = parse_name_addr(values[0])
            elif name == "Content-Length":
                self.headers[name] = int(values[0]) if values[0].isdigit() else 0
            else:
                self.headers[name] = values[0]
        try:
            self.cseq = int(self.headers["CSeq"]["check"])
        except (KeyError, ValueError):
            raise pv_sip.SIPParseError("bad CSeq") from None
        self.cseq_method = self.headers["CSeq"]["method"]
        if not self.method and self.type == pv_sip.SIPMessageType.MESSAGE:
            self.method = self.cseq_method
        length = self.headers.get("Content-Length")
        self.raw_body = body[:length] if isinstance(length, int) and length <= len(body) else body
        if self.raw_body and "application/sdp" in self.headers.get("Content-Type", "").lower():
            self.sdp = parse_sdp(self.raw_body)

    # helpers

    @property
    def call_id(self) -> str:
        return self.headers["Call-ID"]

    @property
    def branch(self) -> str:
        return params(";" + self.fields["Via"][0].partition(";")[2]).get("branch", "")

    def first(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None


# ------------------------------------------------------------------ digest


def digest_authorization(
    challenge: str, method: str, uri: str, user: str, password: str, cnonce: str | None = None
) -> str:
    """The Authorization / Proxy-Authorization value answering one Digest challenge
    (RFC 2617 / 7616: MD5, MD5-sess, SHA-256; qop=auth or none)."""
    scheme, _, rest = challenge.strip().partition(" ")
    if scheme.lower() != "digest":
        raise ValueError(f"unsupported authentication scheme {scheme!r}")
    p = {k.lower(): v.strip('"') for k, v in _AUTH_PARAM.findall(rest)}
    realm, nonce = p.get("realm", ""), p.get("nonce", "")
    algorithm = p.get("algorithm", "MD5")
    base = algorithm.upper().removesuffix("-SESS")
    if base == "MD5":
        h = lambda s: hashlib.md5(s.encode()).hexdigest()  # noqa: E731
    elif base in ("SHA-256", "SHA256"):
        h = lambda s: hashlib.sha256(s.encode()).hexdigest()  # noqa: E731
    else:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    cnonce = cnonce or uuid.uuid4().hex[:16]
    ha1 = h(f"{user}:{realm}:{password}")
    if algorithm.upper().endswith("-SESS"):
        ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}")
    qops = [q.strip() for q in p.get("qop", "").split(",") if q.strip()]
    parts = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    if qops:
        if "auth" not in qops:
            raise ValueError(f"unsupported qop {p['qop']!r} (only auth)")
        nc = "00000001"
        response = h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        parts += [f'response="{response}"', f"algorithm={algorithm}", "qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
    else:
        parts += [f'response="{h(f"{ha1}:{nonce}:{ha2}")}"', f"algorithm={algorithm}"]
    if "opaque" in p:
        parts.append(f'opaque="{p["opaque"]}"')
    return "Digest " + ", ".join(parts)


# ------------------------------------------------------------------ timers and transactions


class _Timer:
    __slots__ = ("when", "fn", "cancelled")

    def __init__(self, when: float, fn: Callable[[], object]):
        self.when, self.fn, self.cancelled = when, fn, False

    def cancel(self) -> None:
        self.cancelled = True


class _ClientTx:
    """A non-INVITE client transaction over UDP (REGISTER, BYE, CANCEL, OPTIONS)."""

    def __init__(
        self,
        ua: DialerSipClient,
        data: bytes,
        dest: tuple[str, int],
        branch: str,
        on_final: Callable[[SipMessage], None],
        on_timeout: Callable[[], None],
        timeout: float,
    ):
        self.ua, self.data, self.dest, self.branch = ua, data, dest, branch
        self.on_final, self.on_timeout = on_final, on_timeout
        self.interval = ua.t1
        self.done = False
        ua._tx[branch] = self
        ua._sendto(data, dest)
        self.retrans = ua._after(self.interval, self._retransmit)
        self.deadline = ua._after(timeout, self._timeout)

    def _retransmit(self) -> None:
        if self.done:
            return
        self.ua._sendto(self.data, self.dest)
        self.interval = min(self.interval * 2, T2)
        self.retrans = self.ua._after(self.interval, self._retransmit)

    def _finish(self) -> None:
        self.done = True
        self.retrans.cancel()
        self.deadline.cancel()
        self.ua._tx.pop(self.branch, None)

    def _timeout(self) -> None:
        if not self.done:
            self._finish()
            self.on_timeout()

    def response(self, msg: SipMessage) -> None:
        if self.done:
            return
        if msg.code < 200:
            self.retrans.cancel()  # proceeding: retransmit at T2
            self.interval = T2
            self.retrans = self.ua._after(T2, self._retransmit)
            return
        self._finish()
        self.on_final(msg)


@dataclass(eq=False)
class Leg:
    """One outbound INVITE and the dialog it creates (state owned by the UA thread)."""

    call_id: str
    uri: str
    dest: tuple[str, int]
    from_hdr: str  # without tag
    to_hdr: str
    sdp: str
    sink: Sink
    extra: list[str] = field(default_factory=list)
    local_tag: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    cseq: int = field(default_factory=lambda: random.randint(1, 9999))
    branch: str = ""
    invite: bytes = b""
    state: str = "new"  # calling, proceeding, confirmed, terminating, terminated
    got_response: bool = False
    remote_tag: str = ""
    remote_target: str = ""
    route_set: list[str] = field(default_factory=list)
    ack: bytes | None = None
    ack_dest: tuple[str, int] | None = None
    auth: dict[str, str] = field(default_factory=dict)  # header name -> value
    challenged: set[int] = field(default_factory=set)
    cancel_wanted: bool = False
    cancel_sent: bool = False
    interval: float = 0.5
    timers: list[_Timer] = field(default_factory=list)
    sdp_version: int = 1
    reinvite_reply: tuple[str, bytes] | None = None
    reported_end: bool = False


class DialerSipClient(pv_sip.SIPClient):
    """pyVoIP's SIPClient, rebuilt around one receive thread and real transactions."""

    def __init__(
        self,
        *,
        name: str,
        phone: Any,
        bind_ip: str,
        bind_port: int,
        public_ip: str | None,
        username: str,
        auth_username: str | None,
        password: str | None,
        domain: str,
        registrar: tuple[str, int] | None,
        register: bool,
        expiry: float,
        backoff: tuple[float, float],
        t1: float,
        user_agent: str,
    ):
        server, port = registrar or ("", 5060)
        super().__init__(server, port, username, password or "", phone, myIP=bind_ip, myPort=bind_port)
        self.name = name
        self.bind_ip = bind_ip
        self.public_ip = public_ip
        self.auth_user = auth_username or username
        self.domain = domain
        self.registrar = registrar
        self.register_enabled = register
        self.default_expires = int(expiry)
        self.backoff_initial, self.backoff_max = backoff
        self.t1 = t1
        self.user_agent = user_agent
        self._cmds: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, _Timer]] = []
        self._tseq = itertools.count()
        self._tx: dict[str, _ClientTx] = {}
        self._legs: dict[str, Leg] = {}
        self._thread: threading.Thread | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._resolved: dict[str, str] = {}
        # registration (read by other threads: simple values only)
        self.reg_state = "off" if not register else "idle"
        self.reg_error: str | None = None
        self.reg_attempts = 0  # REGISTER requests sent (a challenged one counts twice)
        self.reg_successes = 0
        self.reg_failures = 0
        self.reg_expires_at = 0.0
        self.reg_changed = threading.Event()
        self.on_registration: Callable[[str, str | None], None] | None = None
        self._reg_call_id = self.gen_call_id()
        self._reg_tag = self.gen_tag()
        self._reg_cseq = random.randint(1, 9999)
        self._reg_challenges = 0
        self._reg_backoff = self.backoff_initial
        self._reg_timer: _Timer | None = None
        self._reg_expires = self.default_expires
        self._reg_dereg_done = threading.Event()

    # ------------------------------------------------------------ identity (pyVoIP overrides)

    def gen_call_id(self) -> str:
        # pyVoIP: sha256 of a counter that restarts at 1 in every process.
        return f"{uuid.uuid4().hex}@dialer"

    def gen_tag(self) -> str:
        # pyVoIP keeps every tag ever made in a list (grows for the life of the process).
        return uuid.uuid4().hex[:16]

    @property
    def contact(self) -> str:
        return f"<sip:{self.username}@{self.myIP}:{self.myPort};transport=udp>"

    def _via(self, branch: str) -> str:
        return f"Via: SIP/2.0/UDP {self.myIP}:{self.myPort};branch={branch};rport"

    def _aor(self) -> str:
        return f"sip:{self.username}@{self.domain}"

    # ------------------------------------------------------------ lifecycle (any thread; blocking)

    def start(self) -> None:
        if self.NSD:
            raise RuntimeError("SIP client already started")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((self.bind_ip, self.myPort))
        except OSError as exc:
            s.close()
            raise OSError(exc.errno, f"cannot bind SIP socket {self.bind_ip}:{self.myPort}: {exc.strerror}") from None
        s.setblocking(False)
        self.s = self.out = s
        self.myPort = s.getsockname()[1]
        self.myIP = self.public_ip or self._local_ip()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.NSD = True
        self._thread = threading.Thread(target=self.recv_loop, name=f"sip-ua-{self.name}", daemon=True)
        self._thread.start()
        if self.register_enabled:
            self.call(self.register)

    def _local_ip(self) -> str:
        if self.bind_ip != "0.0.0.0":
            return self.bind_ip
        target = self.registrar or ((self.domain.split(":")[0]), 5060)
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.connect((self._resolve(target[0]), target[1]))  # no packet is sent
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"
        finally:
            probe.close()

    def stop(self, timeout: float = 2.0) -> None:
        """Deregister (bounded), stop the thread, close the sockets."""
        if not self.NSD:
            return
        flushed = threading.Event()  # let queued commands (BYEs of calls being closed) go out first
        self.call(flushed.set)
        flushed.wait(min(timeout, 1.0))
        if self.register_enabled and self.reg_state == "registered":
            self._reg_dereg_done.clear()
            self.call(self._deregister_now)
            self._reg_dereg_done.wait(min(timeout, 8 * self.t1))
        self.NSD = False
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("sip_thread_stuck", provider=self.name)
            self._thread = None
        self._close_sockets()
        for s in (self._wake_r, self._wake_w):
            if s is not None:
                s.close()
        self._wake_r = self._wake_w = None
        self._legs.clear()
        self._tx.clear()
        self._timers.clear()

    def call(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the SIP thread."""
        if not self.NSD:
            return
        self._cmds.put(fn)
        self._wake()

    def _wake(self) -> None:
        w = self._wake_w
        if w is not None:
            try:
                w.send(b"\0")
            except OSError:
                pass

    # ------------------------------------------------------------ the thread

    def recv_loop(self) -> None:
        """select() on the SIP socket and the wake pipe, bounded by the next timer."""
        wake = self._wake_r
        assert wake is not None
        while self.NSD:
            try:
                delay = self._next_timer_delay()
                ready, _, _ = select.select([self.s, wake], [], [], delay)
                if wake in ready:
                    self._drain()
                if self.s in ready:
                    for _ in range(64):
                        try:
                            data, addr = self.s.recvfrom(65535)
                        except (BlockingIOError, InterruptedError):
                            break
                        except OSError:
                            break  # ICMP errors surface here on Linux; nothing to read
                        self.recv_datagram(data, addr)
                self._run_timers()
            except Exception:  # never let the thread die: log and go on
                if self.NSD:
                    log.exception("sip_thread_error", provider=self.name)
                    time.sleep(0.05)

    def recv(self) -> None:  # pyVoIP API: the thread above does the reading
        raise NotImplementedError("DialerSipClient reads on its own thread")

    def _drain(self) -> None:
        assert self._wake_r is not None
        try:
            while self._wake_r.recv(512):
                pass
        except OSError:
            pass
        while True:
            try:
                fn = self._cmds.get_nowait()
            except queue.Empty:
                return
            try:
                fn()
            except Exception:
                log.exception("sip_command_failed", provider=self.name)

    def _after(self, delay: float, fn: Callable[[], object]) -> _Timer:
        t = _Timer(time.monotonic() + max(0.0, delay), fn)
        heapq.heappush(self._timers, (t.when, next(self._tseq), t))
        return t

    def _next_timer_delay(self) -> float:
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        if not self._timers:
            return 0.5
        return max(0.0, min(0.5, self._timers[0][0] - time.monotonic()))

    def _run_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, t = heapq.heappop(self._timers)
            if not t.cancelled:
                t.cancelled = True
                try:
                    t.fn()
                except Exception:
                    log.exception("sip_timer_failed", provider=self.name)

    def _sendto(self, data: bytes, dest: tuple[str, int]) -> None:
        try:
            self.s.sendto(data, (self._resolve(dest[0]), dest[1]))
        except OSError as exc:
            log.warning("sip_send_failed", provider=self.name, dest=f"{dest[0]}:{dest[1]}", error=str(exc))

    def _resolve(self, host: str) -> str:
        if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", host):
            return host
        ip = self._resolved.get(host)
        if ip is None:
            ip = socket.gethostbyname(host)  # names are resolved once (no SRV/NAPTR)
            self._resolved[host] = ip
        return ip

    def _report(self, leg: Leg, kind: str, **info: Any) -> None:
        try:
            leg.sink(kind, info)
        except RuntimeError:
            pass  # the event loop is gone (provider closed)
        except Exception:
            log.exception("sip_sink_failed", provider=self.name, call_id=leg.call_id)

    # ------------------------------------------------------------ incoming

    def recv_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 16 or data.strip(b"\r\n\0 ") == b"":
            return  # keep-alive
        try:
            msg = SipMessage(data)
        except (pv_sip.SIPParseError, ValueError, KeyError, IndexError) as exc:
            log.debug("sip_unparsable", provider=self.name, source=f"{addr[0]}:{addr[1]}", error=str(exc))
            return
        self.parse_message(msg, addr)

    def parse_message(self, message: SipMessage, addr: tuple[str, int] | None = None) -> None:  # type: ignore[override]
        if message.type == pv_sip.SIPMessageType.RESPONSE:
            if message.cseq_method == "INVITE":
                leg = self._legs.get(message.call_id)
                if leg is not None:
                    self._invite_response(leg, message)
                elif 200 <= message.code < 300:
                    self._stray_2xx(message)
                return
            tx = self._tx.get(message.branch)
            if tx is not None:
                tx.response(message)
            return
        self._request(message, addr or (self.server, self.port))

    def _request(self, msg: SipMessage, addr: tuple[str, int]) -> None:
        method = msg.method
        leg = self._legs.get(msg.call_id)
        to_tag = msg.headers["To"].get("tag", "")
        in_dialog = leg is not None and to_tag == leg.local_tag
        if method == "ACK":
            return
        if method == "BYE":
            if not in_dialog or leg is None:
                self._respond(msg, addr, 481, "Call/Transaction Does Not Exist")
                return
            self._respond(msg, addr, 200, "OK")
            if leg.state in ("confirmed", "terminating"):
                for t in leg.timers:
                    t.cancel()
                leg.state = "terminated"
                self._report(leg, "bye", reason=msg.first("Reason") or "")
                self._end_leg(leg)
            return
        if method == "INVITE" and in_dialog and leg is not None:
            if leg.state == "confirmed":
                self._reinvite(leg, msg, addr)
            else:  # we are hanging up: no new offer/answer
                self._respond(msg, addr, 481, "Call/Transaction Does Not Exist")
            return
        if method == "INVITE":
            # an outbound dialer takes no inbound calls
            self._respond(msg, addr, 480, "Temporarily Unavailable", to_tag=self.gen_tag())
            return
        if method == "CANCEL":
            self._respond(msg, addr, 481, "Call/Transaction Does Not Exist")
            return
        if method in ("OPTIONS", "UPDATE", "NOTIFY", "INFO"):
            if method == "INFO" and in_dialog and leg is not None:
                body = msg.raw_body.decode("utf-8", "replace")
                m = re.search(r"Signal\s*=\s*([0-9*#A-D])", body)
                if m:
                    self._report(leg, "digit", digit=m.group(1))  # SIP INFO (dtmf-relay) digits too
            extra = [f"Allow: {ALLOW}"] if method == "OPTIONS" else []
            self._respond(msg, addr, 200, "OK", extra=extra, to_tag=None if in_dialog else self.gen_tag())
            return
        self._respond(msg, addr, 501, "Not Implemented", extra=[f"Allow: {ALLOW}"], to_tag=self.gen_tag())

    def _respond(
        self,
        msg: SipMessage,
        addr: tuple[str, int],
        code: int,
        reason: str,
        extra: list[str] | None = None,
        body: str = "",
        to_tag: str | None = None,
    ) -> None:
        self._sendto(self.gen_response(msg, code, reason, extra, body, to_tag).encode(), addr)

    def gen_response(
        self,
        request: SipMessage,
        code: int,
        reason: str,
        extra: list[str] | None = None,
        body: str = "",
        to_tag: str | None = None,
    ) -> str:
        to = request.fields["To"][0]
        if to_tag and not request.headers["To"].get("tag"):
            to += f";tag={to_tag}"
        lines = [f"SIP/2.0 {code} {reason}"]
        lines += [f"Via: {v}" for v in request.fields["Via"]]
        lines += [
            f"From: {request.fields['From'][0]}",
            f"To: {to}",
            f"Call-ID: {request.call_id}",
            f"CSeq: {request.fields['CSeq'][0]}",
            f"Server: {self.user_agent}",
            *(extra or []),
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body.encode())}")
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def gen_ok(self, request: SipMessage) -> str:  # type: ignore[override]
        # pyVoIP answers BYE with a random To-tag; in a dialog the tag is already there.
        return self.gen_response(request, 200, "OK")

    def _reinvite(self, leg: Leg, msg: SipMessage, addr: tuple[str, int]) -> None:
        """A session refresh or a media change from the far end: answer with our SDP."""
        if leg.reinvite_reply is not None and leg.reinvite_reply[0] == msg.branch:
            self._sendto(leg.reinvite_reply[1], addr)  # retransmission
            return
        leg.sdp_version += 1
        sdp = re.sub(r"^(o=\S+ \S+ )\d+", lambda m: f"{m.group(1)}{leg.sdp_version}", leg.sdp, flags=re.M)
        reply = self.gen_response(msg, 200, "OK", [f"Contact: {self.contact}", f"Allow: {ALLOW}"], sdp).encode()
        leg.reinvite_reply = (msg.branch, reply)
        self._sendto(reply, addr)
        if msg.sdp is not None:
            self._report(leg, "media", sdp=msg.sdp)

    # ------------------------------------------------------------ INVITE client (UAC)

    def invite(self, leg: Leg, no_response_timeout: float) -> None:  # type: ignore[override]
        """Send an INVITE for ``leg`` without waiting for anything (pyVoIP blocks here)."""

        def start() -> None:
            self._legs[leg.call_id] = leg
            leg.state = "calling"
            self._send_invite(leg)
            leg.timers.append(self._after(no_response_timeout, lambda: self._no_response(leg, no_response_timeout)))

        self.call(start)

    def hangup(self, call_id: str, reason: str | None, cancel_timeout: float, bye_timeout: float) -> None:
        """CANCEL a ringing leg, BYE an answered one; no-op for an ended one."""

        def run() -> None:
            leg = self._legs.get(call_id)
            if leg is None:
                return
            if leg.state in ("calling", "proceeding"):
                if leg.cancel_wanted:
                    return
                leg.cancel_wanted = True
                if leg.got_response:  # RFC 3261 9.1: CANCEL only after a provisional
                    self._send_cancel(leg, cancel_timeout)
                leg.timers.append(self._after(cancel_timeout, lambda: self._cancel_gave_up(leg)))
            elif leg.state == "confirmed":
                self.send_bye(leg, reason, bye_timeout)

        self.call(run)

    def forget(self, call_id: str) -> None:
        self.call(lambda: self._legs.pop(call_id, None))

    def gen_invite(self, leg: Leg) -> str:  # type: ignore[override]
        body = leg.sdp
        lines = [
            f"INVITE {leg.uri} SIP/2.0",
            self._via(leg.branch),
            "Max-Forwards: 70",
            f"From: {leg.from_hdr};tag={leg.local_tag}",
            f"To: {leg.to_hdr}",
            f"Call-ID: {leg.call_id}",
            f"CSeq: {leg.cseq} INVITE",
            f"Contact: {self.contact}",
            f"Allow: {ALLOW}",
            f"User-Agent: {self.user_agent}",
            *(f"{k}: {v}" for k, v in leg.auth.items()),
            *leg.extra,
            "Content-Type: application/sdp",
            f"Content-Length: {len(body.encode())}",
        ]
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def _send_invite(self, leg: Leg) -> None:
        leg.branch = self.gen_branch()
        leg.invite = self.gen_invite(leg).encode()
        leg.got_response = False
        leg.interval = self.t1
        self._sendto(leg.invite, leg.dest)
        branch = leg.branch
        leg.timers.append(self._after(leg.interval, lambda: self._retransmit_invite(leg, branch)))

    def _retransmit_invite(self, leg: Leg, branch: str) -> None:
        if leg.state != "calling" or leg.got_response or leg.branch != branch:
            return
        self._sendto(leg.invite, leg.dest)
        leg.interval *= 2  # timer A doubles without a cap until timer B
        leg.timers.append(self._after(leg.interval, lambda: self._retransmit_invite(leg, branch)))

    def _no_response(self, leg: Leg, waited: float) -> None:
        if leg.state == "calling" and not leg.got_response:
            self._terminate(leg)
            self._report(
                leg, "failed", code=408, reason=f"no response from {leg.dest[0]}:{leg.dest[1]} within {waited:g} s",
                timeout=True, canceled=leg.cancel_wanted,
            )  # fmt: skip

    def _terminate(self, leg: Leg) -> None:
        for t in leg.timers:
            t.cancel()
        leg.timers.clear()
        leg.state = "terminated"
        self._end_leg(leg)

    def _end_leg(self, leg: Leg) -> None:
        """Keep a finished leg a little for retransmissions, then drop it (bounded memory)."""
        linger = min(64 * self.t1, 8.0)
        def drop() -> None:
            if self._legs.get(leg.call_id) is leg:
                del self._legs[leg.call_id]

        self._after(linger, drop)

    def _invite_response(self, leg: Leg, msg: SipMessage) -> None:
        code = msg.code
        if msg.cseq != leg.cseq:
            if 200 <= code < 300 and leg.ack is not None and leg.ack_dest is not None:
                self._sendto(leg.ack, leg.ack_dest)
            elif code >= 300:  # a retransmitted challenge of the previous INVITE
                self._sendto(self._ack_for_failure(leg, msg).encode(), leg.dest)
            return
        if code < 200:
            if leg.state not in ("calling", "proceeding"):
                return
            leg.got_response = True
            leg.state = "proceeding"
            if leg.cancel_wanted and not leg.cancel_sent:
                self._send_cancel(leg, 4 * T2)
            if code in (180, 181, 182, 183):
                self._report(leg, "progress", code=code, reason=msg.reason, sdp=msg.sdp)
            return
        if 200 <= code < 300:
            if leg.ack is not None and leg.ack_dest is not None:
                self._sendto(leg.ack, leg.ack_dest)  # a retransmitted 200: ACK it again
                return
            for t in leg.timers:
                t.cancel()
            leg.timers.clear()
            leg.got_response = True
            leg.remote_tag = msg.headers["To"].get("tag", "")
            contact = msg.first("Contact")
            leg.remote_target = parse_name_addr(contact)["uri"] if contact else leg.uri
            leg.route_set = list(reversed(msg.fields.get("Record-Route", [])))
            leg.ack = self.gen_ack(leg).encode()  # type: ignore[arg-type]
            leg.ack_dest = self._dialog_dest(leg)
            self._sendto(leg.ack, leg.ack_dest)
            leg.state = "confirmed"
            if leg.cancel_wanted:
                # answered while we were canceling: end it at once
                self._report(leg, "failed", code=487, reason="answered after CANCEL; hung up", canceled=True)
                leg.reported_end = True
                self.send_bye(leg, "SIP;cause=487;text=\"ring timeout\"", 4 * T2)
                return
            self._report(leg, "answered", sdp=msg.sdp, remote_tag=leg.remote_tag)
            return
        # a final failure: ACK it (also a retransmission of it)
        self._sendto(self._ack_for_failure(leg, msg).encode(), leg.dest)
        if leg.state not in ("calling", "proceeding"):
            return
        if code in (401, 407) and code not in leg.challenged and self.password:
            header = "WWW-Authenticate" if code == 401 else "Proxy-Authenticate"
            challenge = msg.first(header)
            if challenge:
                try:
                    value = digest_authorization(challenge, "INVITE", leg.uri, self.auth_user, self.password)
                except ValueError as exc:
                    self._terminate(leg)
                    self._report(leg, "failed", code=code, reason=f"{msg.reason} ({exc})", canceled=leg.cancel_wanted)
                    return
                leg.challenged.add(code)
                leg.auth["Authorization" if code == 401 else "Proxy-Authorization"] = value
                leg.cseq += 1
                leg.state = "calling"
                self._send_invite(leg)
                return
        self._terminate(leg)
        reason = msg.reason
        if code in (401, 407):
            reason += " (credentials rejected)" if code in leg.challenged else " (no password configured)"
        self._report(leg, "failed", code=code, reason=reason, canceled=leg.cancel_wanted)

    def _ack_for_failure(self, leg: Leg, response: SipMessage) -> str:
        """ACK for a non-2xx final: part of the INVITE transaction (same branch)."""
        lines = [
            f"ACK {leg.uri} SIP/2.0",
            self._via(response.branch),
            "Max-Forwards: 70",
            f"From: {leg.from_hdr};tag={leg.local_tag}",
            f"To: {response.fields['To'][0]}",
            f"Call-ID: {leg.call_id}",
            f"CSeq: {response.cseq} ACK",
            f"User-Agent: {self.user_agent}",
            "Content-Length: 0",
        ]
        return "\r\n".join(lines) + "\r\n\r\n"

    def gen_ack(self, leg: Leg) -> str:  # type: ignore[override]
        """ACK for a 2xx: its own transaction, To-tag from the 200 (pyVoIP makes one up),
        Request-URI = the remote target, Route = the route set."""
        lines = [
            f"ACK {leg.remote_target} SIP/2.0",
            self._via(self.gen_branch()),
            "Max-Forwards: 70",
            *(f"Route: {r}" for r in leg.route_set),
            f"From: {leg.from_hdr};tag={leg.local_tag}",
            f"To: {leg.to_hdr};tag={leg.remote_tag}",
            f"Call-ID: {leg.call_id}",
            f"CSeq: {leg.cseq} ACK",
            *(f"{k}: {v}" for k, v in leg.auth.items()),
            f"User-Agent: {self.user_agent}",
            "Content-Length: 0",
        ]
        return "\r\n".join(lines) + "\r\n\r\n"

    def _dialog_dest(self, leg: Leg) -> tuple[str, int]:
        """Where in-dialog requests go: the first route (loose routing), else the remote target."""
        try:
            if leg.route_set:
                return uri_hostport(parse_name_addr(leg.route_set[0])["uri"])
            return uri_hostport(leg.remote_target)
        except ValueError:
            return leg.dest

    def _stray_2xx(self, msg: SipMessage) -> None:
        """A 200 for a call we already forgot: ACK it and hang it up, or the far end rings on."""
        contact = msg.first("Contact")
        if not contact:
            return
        frm = parse_name_addr(msg.fields["From"][0])
        to = msg.fields["To"][0]
        target = parse_name_addr(contact)["uri"]
        routes = list(reversed(msg.fields.get("Record-Route", [])))
        dest = uri_hostport(parse_name_addr(routes[0])["uri"]) if routes else uri_hostport(target)
        common = [
            "Max-Forwards: 70", *(f"Route: {r}" for r in routes), f"From: {msg.fields['From'][0]}", f"To: {to}",
            f"Call-ID: {msg.call_id}",
        ]  # fmt: skip
        ack = [f"ACK {target} SIP/2.0", self._via(self.gen_branch()), *common, f"CSeq: {msg.cseq} ACK", "Content-Length: 0"]
        bye = [f"BYE {target} SIP/2.0", self._via(self.gen_branch()), *common, f"CSeq: {msg.cseq + 1} BYE", "Content-Length: 0"]
        self._sendto(("\r\n".join(ack) + "\r\n\r\n").encode(), dest)
        self._sendto(("\r\n".join(bye) + "\r\n\r\n").encode(), dest)
        log.warning("sip_stray_answer_hung_up", provider=self.name, call_id=msg.call_id, from_tag=frm["tag"])

    def _send_cancel(self, leg: Leg, timeout: float) -> None:
        leg.cancel_sent = True
        lines = [
            f"CANCEL {leg.uri} SIP/2.0",
            self._via(leg.branch),
            "Max-Forwards: 70",
            f"From: {leg.from_hdr};tag={leg.local_tag}",
            f"To: {leg.to_hdr}",
            f"Call-ID: {leg.call_id}",
            f"CSeq: {leg.cseq} CANCEL",
            f"User-Agent: {self.user_agent}",
            "Content-Length: 0",
        ]
        data = ("\r\n".join(lines) + "\r\n\r\n").encode()
        # The CANCEL shares the INVITE's branch; INVITE responses never go through _tx.
        _ClientTx(self, data, leg.dest, leg.branch, lambda _m: None, lambda: None, timeout)

    def _cancel_gave_up(self, leg: Leg) -> None:
        if leg.state in ("calling", "proceeding"):
            self._terminate(leg)
            self._report(leg, "failed", code=487, reason="no final response after CANCEL", canceled=True)

    def send_bye(self, leg: Leg, reason: str | None, timeout: float) -> None:
        """BYE within the dialog (route set, remote target, both tags); retransmitted until
        answered or ``timeout``. Reports ``ended`` either way."""
        if leg.state != "confirmed":
            return
        leg.state = "terminating"
        leg.cseq += 1
        branch = self.gen_branch()
        lines = [
            f"BYE {leg.remote_target} SIP/2.0",
            self._via(branch),
            "Max-Forwards: 70",
            *(f"Route: {r}" for r in leg.route_set),
            f"From: {leg.from_hdr};tag={leg.local_tag}",
            f"To: {leg.to_hdr};tag={leg.remote_tag}",
            f"Call-ID: {leg.call_id}",
            f"CSeq: {leg.cseq} BYE",
            *([f"Reason: {reason}"] if reason else []),
            f"User-Agent: {self.user_agent}",
            "Content-Length: 0",
        ]
        data = ("\r\n".join(lines) + "\r\n\r\n").encode()

        def done(why: str) -> None:
            if leg.state == "terminating":
                leg.state = "terminated"
                self._report(leg, "ended", how=why)
                self._end_leg(leg)

        _ClientTx(
            self, data, self._dialog_dest(leg), branch,
            lambda m: done(f"BYE answered {m.code}"), lambda: done("BYE unanswered"), timeout,
        )  # fmt: skip

    def bye(self, request: Any) -> None:  # pyVoIP API
        raise NotImplementedError("use hangup(call_id, ...)")

    # ------------------------------------------------------------ REGISTER (never stops the phone)

    def register(self) -> bool:  # type: ignore[override]
        """Start (or refresh) the registration; runs on the SIP thread."""
        if not self.register_enabled or not self.NSD:
            return False
        if self._reg_timer is not None:
            self._reg_timer.cancel()
        self._reg_challenges = 0
        self._send_register(expires=self._reg_expires)
        return True

    def gen_register(self, expires: int, auth: tuple[str, str] | None = None) -> str:  # type: ignore[override]
        self._reg_cseq += 1
        lines = [
            f"REGISTER sip:{self.domain} SIP/2.0",
            self._via(self._reg_branch),
            "Max-Forwards: 70",
            f"From: <{self._aor()}>;tag={self._reg_tag}",
            f"To: <{self._aor()}>",
            f"Call-ID: {self._reg_call_id}",
            f"CSeq: {self._reg_cseq} REGISTER",
            f"Contact: {self.contact}",
            f"Expires: {expires}",
            f"Allow: {ALLOW}",
            f"User-Agent: {self.user_agent}",
            *([f"{auth[0]}: {auth[1]}"] if auth else []),
            "Content-Length: 0",
        ]
        return "\r\n".join(lines) + "\r\n\r\n"

    def _send_register(self, expires: int, auth: tuple[str, str] | None = None) -> None:
        assert self.registrar is not None
        if expires:
            self.reg_attempts += 1
            if self.reg_state != "registered":
                self.reg_state = "registering"
        self._reg_branch = self.gen_branch()
        data = self.gen_register(expires, auth).encode()
        _ClientTx(
            self, data, self.registrar, self._reg_branch,
            lambda m: self._register_response(m, expires), lambda: self._register_failed(
                f"no response from registrar {self.registrar[0]}:{self.registrar[1]}", expires),  # type: ignore[index]
            min(16 * self.t1, 8.0),
        )  # fmt: skip

    def _register_response(self, msg: SipMessage, expires: int) -> None:
        code = msg.code
        if code in (401, 407):
            header = "WWW-Authenticate" if code == 401 else "Proxy-Authenticate"
            challenge = msg.first(header)
            stale = bool(challenge and re.search(r"stale\s*=\s*\"?true", challenge, re.I))
            if challenge and self.password and (self._reg_challenges == 0 or stale) and self._reg_challenges < 3:
                self._reg_challenges += 1
                try:
                    value = digest_authorization(challenge, "REGISTER", f"sip:{self.domain}", self.auth_user, self.password)
                except ValueError as exc:
                    self._register_failed(f"{code} {msg.reason}: {exc}", expires)
                    return
                self._send_register(expires, ("Authorization" if code == 401 else "Proxy-Authorization", value))
                return
            why = "no password configured" if not self.password else "check username and password_env"
            self._register_failed(f"{code} {msg.reason}: credentials rejected ({why})", expires)
            return
        if code == 423 and expires:
            min_exp = msg.first("Min-Expires")
            if min_exp and min_exp.isdigit() and int(min_exp) > expires:
                self._reg_expires = int(min_exp)
                self._reg_challenges = 0
                self._send_register(self._reg_expires)
                return
        if 200 <= code < 300:
            if not expires:
                self.reg_state = "off"
                self._reg_dereg_done.set()
                return
            granted = self._granted_expiry(msg, expires)
            self.reg_state = "registered"
            self.reg_error = None
            self.reg_successes += 1
            self.reg_expires_at = time.monotonic() + granted
            self._reg_backoff = self.backoff_initial
            self._reg_timer = self._after(max(1.0, granted * 0.8), self.register)
            log.info("sip_registered", provider=self.name, registrar=f"{self.registrar}", expires=granted)
            self._reg_notify()
            return
        self._register_failed(f"{code} {msg.reason}", expires)

    def _granted_expiry(self, msg: SipMessage, asked: int) -> int:
        ours = f"{self.myIP}:{self.myPort}"
        for c in msg.fields.get("Contact", []):
            na = parse_name_addr(c)
            if ours in na["uri"] and na["params"].get("expires", "").isdigit():
                return max(1, int(na["params"]["expires"]))
        header = msg.first("Expires")
        if header and header.isdigit():
            return max(1, int(header))
        return asked

    def _register_failed(self, why: str, expires: int) -> None:
        if not expires:
            self._reg_dereg_done.set()
            return
        delay = self._reg_backoff * random.uniform(0.75, 1.0)
        self._reg_backoff = min(self.backoff_max, self._reg_backoff * 2)
        self.reg_failures += 1
        self.reg_state = "failed"
        self.reg_error = why
        log.error(
            "sip_register_failed", provider=self.name, registrar=f"{self.registrar[0]}:{self.registrar[1]}",  # type: ignore[index]
            error=why, retry_in_s=round(delay, 2),
        )  # fmt: skip
        if self._reg_timer is not None:
            self._reg_timer.cancel()
        self._reg_timer = self._after(delay, self.register)
        self._reg_notify()

    def _reg_notify(self) -> None:
        self.reg_changed.set()
        cb = self.on_registration
        if cb is not None:
            try:
                cb(self.reg_state, self.reg_error)
            except RuntimeError:
                pass
            except Exception:
                log.exception("sip_registration_callback_failed", provider=self.name)

    def _deregister_now(self) -> None:
        if self._reg_timer is not None:
            self._reg_timer.cancel()
        self._reg_challenges = 0
        self._send_register(expires=0)

    def deregister(self) -> bool:  # type: ignore[override]
        raise NotImplementedError("stop() deregisters")

    # ------------------------------------------------------------ OPTIONS (readiness)

    def options(self, dest: tuple[str, int], done: Callable[[int, str], None], timeout: float) -> None:
        def run() -> None:
            branch = self.gen_branch()
            lines = [
                f"OPTIONS sip:{dest[0]}:{dest[1]} SIP/2.0",
                self._via(branch),
                "Max-Forwards: 70",
                f"From: <{self._aor()}>;tag={self.gen_tag()}",
                f"To: <sip:{dest[0]}:{dest[1]}>",
                f"Call-ID: {self.gen_call_id()}",
                "CSeq: 1 OPTIONS",
                f"User-Agent: {self.user_agent}",
                "Content-Length: 0",
            ]
            data = ("\r\n".join(lines) + "\r\n\r\n").encode()
            _ClientTx(self, data, dest, branch, lambda m: done(m.code, m.reason), lambda: done(0, "timeout"), timeout)

        self.call(run)


class SipPhone(pv_voip.VoIPPhone):
    """pyVoIP's VoIPPhone around our SIP client and media engine.

    Keeps VoIPPhone's status and RTP range checks; ``start``/``stop`` are bounded (pyVoIP
    blocks up to 30 s on an unreachable registrar and stops itself after 3 failed
    refreshes). Blocking: call ``start``/``stop`` from an executor."""

    def __init__(self, sip: DialerSipClient, media: Any, rtp_range: tuple[int, int], register_wait: float):
        lo, hi = rtp_range
        super().__init__(
            sip.server or "127.0.0.1", sip.port, sip.username, sip.password, myIP=sip.bind_ip,
            sipPort=sip.myPort, rtpPortLow=lo, rtpPortHigh=hi,
        )  # fmt: skip
        self.sip = sip  # replaces the SIPClient VoIPPhone made (no socket was opened by it)
        self.ua: DialerSipClient = sip
        sip.phone = self
        self.media = media
        self.register_wait = register_wait

    def start(self) -> None:
        self._status = PhoneStatus.REGISTERING
        self.media.start()
        try:
            self.ua.start()
        except Exception:
            self.media.stop()
            self._status = PhoneStatus.FAILED
            raise
        self.NSD = True
        if self.ua.register_enabled:
            deadline = time.monotonic() + self.register_wait
            while self.ua.reg_state in ("idle", "registering") and time.monotonic() < deadline:
                self.ua.reg_changed.wait(max(0.0, min(0.2, deadline - time.monotonic())))
                self.ua.reg_changed.clear()
        self._status = self.get_status()

    def get_status(self) -> PhoneStatus:
        if not self.NSD:
            return PhoneStatus.INACTIVE
        state = self.ua.reg_state
        if state in ("registered", "off"):
            return PhoneStatus.REGISTERED
        if state == "failed":
            return PhoneStatus.FAILED
        return PhoneStatus.REGISTERING

    def stop(self, failed: bool = False) -> None:
        self._status = PhoneStatus.DEREGISTERING
        self.NSD = False
        try:
            self.ua.stop()
        finally:
            self.media.stop()
            self._status = PhoneStatus.FAILED if failed else PhoneStatus.INACTIVE

    def call(self, number: str) -> Any:
        raise NotImplementedError("SipProvider.dial places calls (pyVoIP's call() blocks and leaks ports)")

    def request_port(self, blocking: bool = True) -> int:
        raise NotImplementedError("the media engine allocates RTP ports")
