"""The user agent's transport: one UDP socket, one thread for all SIP, a timer heap.

Threading: the receive thread owns all SIP state. Other threads call the public methods,
which only put a command on a queue and wake the thread (`call`); the thread reports
through the ``sink`` callables it was given (the provider wraps them in
``loop.call_soon_threadsafe``).
"""

from __future__ import annotations

import heapq
import itertools
import queue
import re
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypedDict, Unpack

import structlog

from providers.sip.pyvoip import pv_sip
from providers.sip.transactions import ClientTransaction, Timer

log = structlog.get_logger("providers.sip")


class UaOptions(TypedDict):
    """How the user agent is set up (the provider derives it from SipSettings)."""

    name: str
    phone: Any
    bind_ip: str
    bind_port: int
    public_ip: str | None
    username: str
    auth_username: str | None
    password: str | None
    domain: str
    registrar: tuple[str, int] | None
    register: bool
    expiry: float
    backoff: tuple[float, float]
    t1: float
    user_agent: str


class SipTransport(pv_sip.SIPClient):
    """pyVoIP's SIPClient (identity fields, counters, branch generation) around one
    socket and one receive thread. Subclasses handle what arrives (`recv_datagram`)."""

    def __init__(self, **options: Unpack[UaOptions]):
        o = options
        server, port = o["registrar"] or ("", 5060)
        super().__init__(
            server, port, o["username"], o["password"] or "", o["phone"], myIP=o["bind_ip"], myPort=o["bind_port"]
        )
        self.name = o["name"]
        self.bind_ip = o["bind_ip"]
        self.public_ip = o["public_ip"]
        self.auth_user = o["auth_username"] or o["username"]
        self.domain = o["domain"]
        self.registrar = o["registrar"]
        self.t1 = o["t1"]
        self.user_agent = o["user_agent"]
        self._cmds: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Timer]] = []
        self._tseq = itertools.count()
        self._tx: dict[str, ClientTransaction] = {}
        self._thread: threading.Thread | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._resolved: dict[str, str] = {}

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

    def _local_ip(self) -> str:
        if self.bind_ip != "0.0.0.0":
            return self.bind_ip
        target = self.registrar or ((self.domain.split(":")[0]), 5060)
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.connect((self._resolve(target[0]), target[1]))  # no packet is sent
            return str(probe.getsockname()[0])
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
        self._before_stop(timeout)
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
        self._after_stop()
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

    def _after(self, delay: float, fn: Callable[[], object]) -> Timer:
        t = Timer(time.monotonic() + max(0.0, delay), fn)
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

    # ------------------------------------------------------------ for subclasses

    def _before_stop(self, timeout: float) -> None:
        """Runs on stop() while the thread still runs (deregistration)."""

    def _after_stop(self) -> None:
        """Runs on stop() once the thread is gone: drop per-call state."""

    def recv_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        """One datagram from the socket (on the SIP thread)."""
        raise NotImplementedError
