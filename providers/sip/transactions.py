"""Timers and non-INVITE client transactions over UDP (RFC 3261 section 17.1.2):
retransmission from T1 doubling up to T2, a final response or a timeout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from providers.sip.message import SipMessage

T2 = 4.0


class TransactionUser(Protocol):
    """What a transaction needs of the user agent that owns it (its SIP thread)."""

    t1: float
    _tx: dict[str, ClientTransaction]

    def _sendto(self, data: bytes, dest: tuple[str, int]) -> None: ...

    def _after(self, delay: float, fn: Callable[[], object]) -> Timer: ...


class Timer:
    __slots__ = ("when", "fn", "cancelled")

    def __init__(self, when: float, fn: Callable[[], object]):
        self.when, self.fn, self.cancelled = when, fn, False

    def cancel(self) -> None:
        self.cancelled = True


class ClientTransaction:
    """A non-INVITE client transaction over UDP (REGISTER, BYE, CANCEL, OPTIONS)."""

    def __init__(
        self,
        ua: TransactionUser,
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
