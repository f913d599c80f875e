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
``import pyVoIP.SIP`` before ``pyVoIP.VoIP``  pyvoip.py imports ``pyVoIP.VoIP`` first
fails (circular import)
a ``Timer`` thread per registration refresh,  one thread for all SIP (select with a bounded timeout,
two polling RTP threads per leg               a timer heap), one for all RTP (media.py)
============================================  =========================================================

Kept from pyVoIP: ``SIPMessage`` (header dict layout, its Via and CSeq parsing),
``SIPStatus``, ``SIPClient`` (socket/identity fields, counters, branch generation),
``VoIPPhone`` (status, RTP range checks) and ``PhoneStatus``. Not supported: TCP/TLS,
IPv6, SRV/NAPTR look-ups, REFER, 100rel/PRACK, early media relay.

Threading: the receive thread owns all SIP state. Other threads call the public methods,
which only put a command on a queue and wake the thread; the thread reports through the
``sink`` callables it was given (the provider wraps them in ``loop.call_soon_threadsafe``).

The user agent is layered: `transport.SipTransport` (socket, thread, timers) <
`registration.RegisteringClient` (REGISTER) < `DialerSipClient` here (incoming requests,
INVITE client transactions and dialogs, CANCEL, BYE, OPTIONS).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Unpack

import structlog

from providers.sip.dialog import Leg
from providers.sip.digest import digest_authorization
from providers.sip.message import SipMessage, parse_name_addr, uri_hostport
from providers.sip.pyvoip import pv_sip
from providers.sip.registration import ALLOW, RegisteringClient
from providers.sip.transactions import T2, ClientTransaction
from providers.sip.transport import UaOptions

log = structlog.get_logger("providers.sip")


class DialerSipClient(RegisteringClient):
    """pyVoIP's SIPClient, rebuilt around one receive thread and real transactions."""

    def __init__(self, **options: Unpack[UaOptions]):
        super().__init__(**options)
        self._legs: dict[str, Leg] = {}

    def _after_stop(self) -> None:
        self._legs.clear()

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
            leg.ack = self.gen_ack(leg).encode()
            leg.ack_dest = self._dialog_dest(leg)
            self._sendto(leg.ack, leg.ack_dest)
            leg.state = "confirmed"
            if leg.cancel_wanted:
                # answered while we were canceling: end it at once
                self._report(leg, "failed", code=487, reason="answered after CANCEL; hung up", canceled=True)
                leg.reported_end = True
                self.send_bye(leg, 'SIP;cause=487;text="ring timeout"', 4 * T2)
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
        ack = [
            f"ACK {target} SIP/2.0",
            self._via(self.gen_branch()),
            *common,
            f"CSeq: {msg.cseq} ACK",
            "Content-Length: 0",
        ]
        bye = [
            f"BYE {target} SIP/2.0",
            self._via(self.gen_branch()),
            *common,
            f"CSeq: {msg.cseq + 1} BYE",
            "Content-Length: 0",
        ]
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
        ClientTransaction(self, data, leg.dest, leg.branch, lambda _m: None, lambda: None, timeout)

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

        ClientTransaction(
            self, data, self._dialog_dest(leg), branch,
            lambda m: done(f"BYE answered {m.code}"), lambda: done("BYE unanswered"), timeout,
        )  # fmt: skip

    def bye(self, request: Any) -> None:  # pyVoIP API
        raise NotImplementedError("use hangup(call_id, ...)")

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
            ClientTransaction(
                self, data, dest, branch, lambda m: done(m.code, m.reason), lambda: done(0, "timeout"), timeout
            )

        self.call(run)
