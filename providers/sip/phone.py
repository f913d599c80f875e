"""pyVoIP's VoIPPhone around our SIP client and media engine."""

from __future__ import annotations

import time
from typing import Any

from providers.sip.client import DialerSipClient
from providers.sip.pyvoip import PhoneStatus, pv_voip


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
