"""REGISTER as a transaction like any other: refreshed before it expires, challenged
with digest, and on failure retried with back-off (initial..max, jitter) forever; it
never stops the phone (pyVoIP stops after 3 failed refreshes)."""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable
from typing import Unpack

import structlog

from providers.sip.digest import digest_authorization
from providers.sip.message import SipMessage, parse_name_addr
from providers.sip.transactions import ClientTransaction, Timer
from providers.sip.transport import SipTransport, UaOptions

log = structlog.get_logger("providers.sip")
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY"


class RegisteringClient(SipTransport):
    """The transport plus registration state (read by other threads: simple values only)."""

    def __init__(self, **options: Unpack[UaOptions]):
        super().__init__(**options)
        register = options["register"]
        self.register_enabled = register
        self.default_expires = int(options["expiry"])
        self.backoff_initial, self.backoff_max = options["backoff"]
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
        self._reg_timer: Timer | None = None
        self._reg_expires = self.default_expires
        self._reg_dereg_done = threading.Event()

    def start(self) -> None:
        super().start()
        if self.register_enabled:
            self.call(self.register)

    def _before_stop(self, timeout: float) -> None:
        """Deregister (bounded) while the thread still runs."""
        if self.register_enabled and self.reg_state == "registered":
            self._reg_dereg_done.clear()
            self.call(self._deregister_now)
            self._reg_dereg_done.wait(min(timeout, 8 * self.t1))

    def register(self) -> bool:
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
        ClientTransaction(
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
                    value = digest_authorization(
                        challenge, "REGISTER", f"sip:{self.domain}", self.auth_user, self.password
                    )
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

    def deregister(self) -> bool:
        raise NotImplementedError("stop() deregisters")
