"""The SIP provider: real calls through a PBX or a trunk, on pyVoIP (fixed up in client.py).

Settings: settings.py; set-up guide: the README's "SIP provider (PBX or trunk)" section.

One call, agent-first (the default; the client never answers into silence):

  INVITE agent (connect_to: extension or SIP URI) ---- rings up to agent_ring_timeout
     agent does not answer / busy      -> canceled (not an attempt), the client is not dialed
     agent leg fails (404, 5xx, auth)  -> failed, the client is not dialed
  agent answers -> INVITE client (client_uri, via the proxy/trunk) -- rings up to ring_timeout
     no answer: CANCEL -> no_answer, agent leg hung up with a Reason header
     486/600/603 busy, 404/484/604/410 invalid_number, 480/408/487 no_answer, 5xx/timeouts failed
  client answers -> RTP of the two legs relayed (PCMU/PCMA passed through) = the bridge;
     talk time counts from here. At ``nudge_at`` a short quiet tone goes to the agent only;
     at ``hard_limit`` (or ``default_talk_limit``) both legs are hung up. Either side's BYE
     ends the call and the other leg is hung up.

Client-first mode calls the client, then the agent. A power/predictive call (client
first with ``agent_at_answer``, issue 13) has no agent yet: when the client answers (SIP
has no answering-machine detection, so any answer is live), the engine names the agent
to INVITE, or None: the client hears ``information_audio`` (a WAV file) and is hung up
on, recorded ``abandoned``. The client's phone rings at least ``min_ring``. Message mode (``message_mode``) calls
the client alone, plays a prompt, reads one RFC 2833 digit and returns the disposition the
digit maps to.

Outcome choices a call center will ask about:
* 603 Decline -> ``busy`` (error "603 Decline"): the callee's phone rejected this call,
  as pressing "reject" does; the person is there but not now. That is what a busy retry
  (short delay, few per day) is for, and Twilio reports the same SIP 603 as "busy". A
  permanent refusal is the agent's disposition (refused / do_not_call), not a SIP code.
* The agent not answering is ``canceled``, not a client attempt (as the Twilio provider).

Threads (fixed, whatever the number of calls): the SIP thread, the RTP thread, and a
two-thread executor that runs the phone's blocking start/stop. Events from the SIP and
RTP threads reach asyncio only through ``loop.call_soon_threadsafe``.

``fetch()`` returns None: SIP keeps no central call record to ask after a crash, so the
dispatcher records a call lost in a crash as failed (the client returns to the queue).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from dialer.clock import Clock
from dialer.domain import CallStatus, Disposition
from dialer.secrets import MissingSecret, secret
from providers.base import (
    CallResult,
    DialRequest,
    EventSink,
    Provider,
    ProviderError,
    ProviderEvent,
    ProviderNotReady,
)
from providers.sip.addressing import Addresses
from providers.sip.client import DialerSipClient
from providers.sip.dialog import Leg
from providers.sip.media import MediaEngine, NoPortsAvailable, RtpEndpoint, load_wav, nudge_samples
from providers.sip.outcomes import AGENT_AWAY, AUTH_REFUSED, map_final
from providers.sip.pacing import InformationAudio, ask_agent
from providers.sip.phone import SipPhone
from providers.sip.sdp import Sdp, build_sdp
from providers.sip.settings import SipSettings, SipSettingsError, parse_settings

__all__ = ["SipProvider", "SipSettings", "SipSettingsError", "map_final"]

log = structlog.get_logger("providers.sip")

Event = tuple[str, str, dict[str, Any]]  # (role, kind, info)

AUTH_HOLD = 60.0  # seconds the provider stays not ready after a refused INVITE (then one call tries again)


@dataclass(eq=False)
class _LegRun:
    role: str  # "agent" | "client"
    call_id: str
    uri: str
    endpoint: RtpEndpoint
    leg: Leg | None = None
    invited_at: datetime | None = None
    ringing_at: datetime | None = None
    answered_at: datetime | None = None
    sdp: Sdp | None = None
    live: bool = False  # INVITE sent and not known to be over
    final: tuple[int, str] | None = None


@dataclass(eq=False)
class _Call:
    request: DialRequest
    queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    legs: dict[str, _LegRun] = field(default_factory=dict)
    nudged: bool = False
    ended_by: str = ""
    digit: str | None = None
    agent: str | None = None  # paced call: the agent the engine named at the answer
    information: list[int] | None = None  # paced call: the information message (samples)

    @property
    def paced(self) -> bool:
        return self.request.connect_mode == "client_first" and self.request.agent_at_answer is not None


def _ring(r: DialRequest) -> float:
    """Seconds the client's phone rings: never below the campaign's min_ring (Ofcom: 15 s)."""
    return max(r.ring_timeout, r.min_ring).total_seconds()


class SipProvider(Provider):
    def __init__(self, name: str, settings: Mapping[str, Any], clock: Clock):
        self.name = name
        self.settings: SipSettings = parse_settings(name, settings)
        self.clock = clock
        self._phone: SipPhone | None = None
        self._ua: DialerSipClient | None = None
        self._media: MediaEngine | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._start_lock = asyncio.Lock()
        self._registered = asyncio.Event()
        self._active: set[_Call] = set()
        self._addresses = Addresses(self.settings)
        self._nudge = nudge_samples(
            self.settings.nudge.frequency_hz, self.settings.nudge.beep.total_seconds(),
            self.settings.nudge.gap.total_seconds(), self.settings.nudge.beeps, self.settings.nudge.level_dbfs,
        )  # fmt: skip
        self._prompt: list[int] | None = None
        self._information = InformationAudio()
        self._auth_refused: tuple[float, str] | None = None  # (loop time until, why)
        self.counters: Counter[str] = Counter()
        self.call_log: deque[dict[str, Any]] = deque(maxlen=1000)

    def __repr__(self) -> str:
        s = self.settings
        return f"<SipProvider {self.name} registrar={s.registrar} proxy={s.proxy} register={s.register_}>"

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        async with self._start_lock:
            if self._phone is not None:
                return
            s = self.settings
            loop = asyncio.get_running_loop()
            self._loop = loop
            try:
                password = secret(s.password_env) if s.password_env else None
            except MissingSecret as exc:
                raise ProviderNotReady(f"provider {self.name}: {exc}") from None
            registrar = None
            if s.registrar is not None:
                registrar = (await self._addresses.resolve(s.registrar.host), s.registrar.port)
            ua = DialerSipClient(
                name=self.name,
                phone=None,
                bind_ip=s.bind_ip,
                bind_port=s.bind_port,
                public_ip=s.public_ip,
                username=s.username or "dialer",
                auth_username=s.auth_username,
                password=password,
                domain=self._addresses.uri_domain(fallback=s.public_ip or s.bind_ip),
                registrar=registrar,
                register=s.register_,
                expiry=s.register_expiry.total_seconds(),
                backoff=(s.register_backoff_initial.total_seconds(), s.register_backoff_max.total_seconds()),
                t1=s.t1.total_seconds(),
                user_agent=s.user_agent,
            )
            media = MediaEngine(s.bind_ip, s.rtp_ports, self.name, s.symmetric_rtp)
            phone = SipPhone(ua, media, s.rtp_ports, s.register_wait.total_seconds())

            def registration_changed(state: str, error: str | None) -> None:  # SIP thread
                loop.call_soon_threadsafe(self._on_registration, state, error)

            ua.on_registration = registration_changed
            executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"sip-{self.name}")
            try:
                if s.message_mode.enabled and s.message_mode.prompt is not None:
                    self._prompt = await loop.run_in_executor(executor, load_wav, s.message_mode.prompt)
                await loop.run_in_executor(executor, phone.start)  # bounded by register_wait
            except OSError as exc:  # the SIP port is taken, the prompt unreadable, ...
                executor.shutdown(wait=True)
                raise ProviderNotReady(f"provider {self.name}: {exc}") from None
            self._phone, self._ua, self._media, self._executor = phone, ua, media, executor
            if s.domain is None and s.send_to is None:
                ua.domain = ua.myIP
            self._on_registration(ua.reg_state, ua.reg_error)
            log.info(
                "sip_started", provider=self.name, local=f"{ua.myIP}:{ua.myPort}", registrar=str(s.registrar),
                proxy=str(s.proxy), register=s.register_, registration=ua.reg_state, error=ua.reg_error,
            )  # fmt: skip
            if s.register_ and ua.reg_state != "registered":
                log.error(
                    "sip_not_registered", provider=self.name, registrar=str(s.registrar), error=ua.reg_error,
                    note="retrying with back-off; its campaigns claim no client until the registrar accepts us",
                )  # fmt: skip

    async def close(self) -> None:
        phone, self._phone = self._phone, None
        executor, self._executor = self._executor, None
        for call in list(self._active):
            self._hangup_all(call, 'SIP;cause=503;text="dialer shutting down"')
            call.queue.put_nowait(("*", "closed", {}))  # wake the dial() that waits on it
        if phone is not None and executor is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(executor, phone.stop)
        if executor is not None:
            executor.shutdown(wait=True)
        self._ua = self._media = None
        self._registered.clear()

    async def check(self) -> None:
        """Readiness: registered (when registering), or the proxy answers OPTIONS; and no
        INVITE had its credentials refused in the last AUTH_HOLD seconds."""
        await self.start()
        ua = self._require()
        s = self.settings
        self._check_auth_hold()
        if s.register_:
            if ua.reg_state != "registered":
                raise ProviderNotReady(f"not registered with {s.registrar}: {ua.reg_error or ua.reg_state}")
            return
        hp = s.send_to
        if hp is None:
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[tuple[int, str]] = loop.create_future()

        def settle(code: int, reason: str) -> None:
            if not fut.done():
                fut.set_result((code, reason))

        def done(code: int, reason: str) -> None:  # SIP thread
            loop.call_soon_threadsafe(settle, code, reason)

        ua.options((await self._addresses.resolve(hp.host), hp.port), done, 2.0)
        try:
            code, reason = await asyncio.wait_for(fut, 3.0)
        except TimeoutError:
            code, reason = 0, "timeout"
        if code == 0:
            raise ProviderNotReady(f"SIP proxy {hp} does not answer OPTIONS ({reason})")

    async def fetch(self, provider_call_id: str) -> CallResult | None:
        """SIP has no central call record to look a call up in after a crash: always None,
        and the dispatcher records the lost call as failed."""
        return None

    def _require(self) -> DialerSipClient:
        if self._ua is None or self._media is None:
            raise ProviderNotReady(f"provider {self.name} is not started")
        return self._ua

    def _check_auth_hold(self) -> None:
        refused = self._auth_refused
        if refused is None:
            return
        until, why = refused
        left = until - asyncio.get_running_loop().time()
        if left <= 0:
            self._auth_refused = None  # let one call try the credentials again
            return
        raise ProviderNotReady(f"{why}; next try in {left:.0f} s")

    def _on_registration(self, state: str, error: str | None) -> None:
        if state in ("registered", "off"):
            self._registered.set()
        else:
            self._registered.clear()

    @property
    def registration(self) -> tuple[str, str | None]:
        ua = self._ua
        return (ua.reg_state, ua.reg_error) if ua is not None else ("stopped", None)

    def held_ports(self) -> set[int]:
        return self._media.held_ports() if self._media is not None else set()

    async def _await_registration(self) -> None:
        s = self.settings
        if not s.register_ or self._registered.is_set():
            return
        try:
            await asyncio.wait_for(self._registered.wait(), s.register_wait.total_seconds())
        except TimeoutError:
            ua = self._ua
            why = ua.reg_error if ua is not None else "stopped"
            raise ProviderNotReady(f"not registered with registrar {s.registrar}: {why or 'no answer yet'}") from None

    # ------------------------------------------------------------ dialing

    async def dial(self, request: DialRequest, on_event: EventSink | None = None) -> CallResult:
        await self.start()
        self._require()
        self._check_auth_hold()
        await self._await_registration()
        emit: EventSink = on_event if on_event is not None else (lambda _e: None)
        call = _Call(request=request)
        client_call_id = self._ua.gen_call_id() if self._ua else uuid.uuid4().hex
        dialed_at = self.clock.now()
        self._active.add(call)
        self.counters["dialed"] += 1
        try:
            if self.settings.message_mode.enabled:
                result = await self._message_call(call, client_call_id, dialed_at, emit)
            else:
                result = await self._bridged_call(call, client_call_id, dialed_at, emit)
        except asyncio.CancelledError:
            self._hangup_all(call, 'SIP;cause=503;text="call abandoned by the dialer"')
            raise
        finally:
            self._release(call)
            self._active.discard(call)
        emit(ProviderEvent("ended", request.call_id, result.ended_at, result.provider_call_id))
        self.counters[f"status:{result.status.value}"] += 1
        entry = {
            "call_id": request.call_id, "provider_call_id": result.provider_call_id, "status": result.status.value,
            "ended_by": call.ended_by, "nudged": call.nudged, "digit": call.digit, "talk_s": result.talk_s,
            "ring_s": result.ring_s, "error": result.error,
            "rtp": {role: self._media.stats(leg.endpoint) for role, leg in call.legs.items()} if self._media else {},
        }  # fmt: skip
        self.call_log.append(entry)
        log.info("sip_call_ended", provider=self.name, **{k: v for k, v in entry.items() if k != "rtp"})
        return result

    def _sink(self, call: _Call, role: str) -> Callable[[str, dict[str, Any]], None]:
        loop = self._loop
        assert loop is not None
        put = call.queue.put_nowait

        def sink(kind: str, info: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(put, (role, kind, info))

        return sink

    async def _next(self, call: _Call, deadline: float | None) -> Event | None:
        """The next event of this call, or None when the loop clock passes ``deadline``."""
        loop = asyncio.get_running_loop()
        left = None if deadline is None else deadline - loop.time()
        if left is not None and left <= 0:
            ev = call.queue.get_nowait() if not call.queue.empty() else None
        else:
            try:
                ev = await asyncio.wait_for(call.queue.get(), left)
            except TimeoutError:
                return None
        if ev is not None and ev[1] == "closed":
            raise ProviderError(f"provider {self.name} was closed during the call")
        return ev

    async def _invite(self, call: _Call, role: str, uri: str, call_id: str, codecs: list[str], display: str) -> _LegRun:
        ua = self._require()
        media = self._media
        assert media is not None
        s = self.settings
        try:
            ep = media.open(role)
        except NoPortsAvailable as exc:
            raise ProviderError(f"{exc}") from None
        run = _LegRun(role=role, call_id=call_id, uri=uri, endpoint=ep)
        call.legs[role] = run
        dest = await self._addresses.next_hop(uri)
        pts = [(0 if c == "PCMU" else 8, c) for c in codecs]
        sdp = build_sdp(ua.myIP, ep.port, uuid.uuid4().int % 10**9, 1, pts, s.dtmf_payload_type)
        from_user = s.username or re.sub(r"[^0-9+]", "", call.request.caller_id) or "dialer"
        domain = ua.domain
        extra = []
        if role == "client" and call.request.caller_id:
            extra.append(f"P-Asserted-Identity: <sip:{call.request.caller_id}@{domain}>")
        leg = Leg(
            call_id=call_id, uri=uri, dest=dest, from_hdr=f'"{display}" <sip:{from_user}@{domain}>', to_hdr=f"<{uri}>",
            sdp=sdp, sink=self._sink(call, role), extra=extra,
        )  # fmt: skip
        run.leg = leg
        run.invited_at = self.clock.now()
        run.live = True
        ua.invite(leg, s.no_response_timeout.total_seconds())
        log.debug("sip_invite", provider=self.name, role=role, uri=uri, call_id=call_id, dest=f"{dest[0]}:{dest[1]}")
        return run

    def _hangup(self, run: _LegRun | None, reason: str | None) -> None:
        if run is None or not run.live or self._ua is None:
            return
        run.live = False
        s = self.settings
        self._ua.hangup(run.call_id, reason, s.cancel_timeout.total_seconds(), s.bye_timeout.total_seconds())

    def _hangup_all(self, call: _Call, reason: str | None) -> None:
        for run in call.legs.values():
            self._hangup(run, reason)

    def _release(self, call: _Call) -> None:
        self._hangup_all(call, None)
        if self._media is not None:
            for run in call.legs.values():
                self._media.close(run.endpoint)

    def _configure(self, run: _LegRun, sdp: Sdp | None, offered: list[str]) -> str | None:
        """Point the leg's RTP at the peer; returns the codec used, None if none matches."""
        if sdp is None:
            return None
        codec = next((c for c in offered if sdp.pt_for(c) is not None), None)
        if codec is None:
            return None
        run.sdp = sdp
        dtmf = self.settings.dtmf_payload_type
        rx = {0 if codec == "PCMU" else 8: codec, dtmf: "telephone-event"}
        rx.update({pt: n for pt, n in sdp.payloads.items() if n in (codec, "telephone-event")})
        tx = {n: pt for pt, n in sdp.payloads.items() if n in (codec, "telephone-event")}
        assert self._media is not None
        self._media.configure(run.endpoint, (sdp.address, sdp.port), codec, rx, tx)
        return codec

    async def _await_leg(
        self, call: _Call, run: _LegRun, ring_s: float, emit_ringing: Callable[[], None] | None = None,
        watch: str | None = None, early_to: _LegRun | None = None, codecs: list[str] | None = None,
    ) -> tuple[str, dict[str, Any]]:  # fmt: skip
        """Until ``run`` answers or fails: ("answered"|"failed"|"timeout"|"other_gone", info).
        With ``early_to``, early media of ``run`` (183 + SDP) is played to that leg."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ring_s
        while True:
            ev = await self._next(call, deadline)
            if ev is None:
                return "timeout", {}
            role, kind, info = ev
            if role == run.role:
                if kind == "progress":
                    if run.ringing_at is None:
                        run.ringing_at = self.clock.now()
                        if emit_ringing is not None:
                            emit_ringing()
                    sdp = info.get("sdp")
                    if (
                        early_to is not None
                        and sdp is not None
                        and run.sdp is None
                        and self._media is not None
                        and self._configure(run, sdp, codecs or [run.endpoint.codec]) is not None
                    ):
                        self._media.early(run.endpoint, early_to.endpoint)
                        log.debug("sip_early_media", provider=self.name, call_id=call.request.call_id)
                elif kind == "answered":
                    run.answered_at = self.clock.now()
                    return "answered", info
                elif kind == "failed":
                    run.live = False
                    run.final = (int(info.get("code", 0)), str(info.get("reason", "")))
                    return "failed", info
                elif kind in ("bye", "ended"):
                    run.live = False
                    return "failed", {"code": 0, "reason": "ended before answer"}
            elif role == watch and kind in ("bye", "ended", "failed"):
                call.legs[role].live = False
                return "other_gone", info
            elif role == watch and kind == "media":
                other = call.legs[role]
                self._configure(other, info.get("sdp"), [other.endpoint.codec])

    async def _cancel_and_wait(self, call: _Call, run: _LegRun, reason: str) -> None:
        """CANCEL a ringing leg and wait (bounded) for its end; an answer that crosses the
        CANCEL is hung up by the SIP layer."""
        self._hangup(run, reason)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.cancel_timeout.total_seconds() + 1.0
        while True:
            ev = await self._next(call, deadline)
            if ev is None:
                return
            role, kind, _info = ev
            if role == run.role and kind in ("failed", "ended", "bye"):
                return

    def _result(
        self, call: _Call, status: CallStatus, dialed_at: datetime, client_call_id: str, *,
        answered_at: datetime | None = None, error: str | None = None, disposition: str | None = None,
        disposition_at: datetime | None = None,
    ) -> CallResult:  # fmt: skip
        live = status in (CallStatus.ANSWERED, CallStatus.ABANDONED)
        ended = self.clock.now()
        client = call.legs.get("client")
        ring = 0.0
        if client is not None and client.invited_at is not None:
            start = client.ringing_at or client.invited_at
            stop = client.answered_at or ended
            ring = max(0.0, (stop - start).total_seconds())
        talk = (ended - answered_at).total_seconds() if (answered_at and status is CallStatus.ANSWERED) else 0.0
        return CallResult(
            status=status, dialed_at=dialed_at, ended_at=max(ended, dialed_at),
            provider_call_id=client_call_id,  # announced in the created event, even if never dialed
            answered_at=answered_at if live else None,
            ring_s=round(ring, 3), talk_s=round(max(0.0, talk), 3), error=error,
            disposition=disposition, disposition_at=disposition_at, agent=call.agent if live else None,
        )  # fmt: skip

    async def _bridged_call(self, call: _Call, client_call_id: str, dialed_at: datetime, emit: EventSink) -> CallResult:
        r = call.request
        s = self.settings
        emit(ProviderEvent("created", r.call_id, dialed_at, client_call_id))
        # a paced call has no agent yet (connect_to is empty): the engine names one at the answer
        agent_uri = "" if call.paced else self._addresses.agent_uri(r.connect_to, self._require().domain)
        client_uri = self._addresses.client_uri(r.number, self._require().domain)
        ring_client = _ring(r)
        ring_agent = s.agent_ring_timeout.total_seconds()
        if call.paced:
            # read before dialing: nothing touches the disk between the answer and the message
            call.information = await self._information.load(r.information_audio, self._executor)

        def ringing() -> None:
            emit(ProviderEvent("ringing", r.call_id, self.clock.now(), client_call_id))

        if r.connect_mode == "client_first":
            first_role, second_role = "client", "agent"
            first_uri, second_uri = client_uri, agent_uri
            first_id, second_id = client_call_id, self._ua.gen_call_id()  # type: ignore[union-attr]
            first_ring, second_ring = ring_client, ring_agent
        else:
            first_role, second_role = "agent", "client"
            first_uri, second_uri = agent_uri, client_uri
            first_id, second_id = self._ua.gen_call_id(), client_call_id  # type: ignore[union-attr]
            first_ring, second_ring = ring_agent, ring_client
        display = {"agent": r.number, "client": r.caller_id}
        codecs: list[str] = list(s.codecs)

        # 1. the first leg
        first = await self._invite(call, first_role, first_uri, first_id, codecs, display[first_role])
        what, info = await self._await_leg(call, first, first_ring, ringing if first_role == "client" else None)
        if what != "answered":
            return await self._first_failed(call, first, what, info, dialed_at, client_call_id)
        codec = self._configure(first, info.get("sdp"), codecs)
        if codec is None:
            self._hangup(first, 'SIP;cause=488;text="no common codec"')
            return self._result(
                call,
                CallStatus.FAILED,
                dialed_at,
                client_call_id,
                error=f"{first_role} leg answered without a codec we offer ({', '.join(codecs)})",
            )
        first_answered = first.answered_at
        if first_role == "client":
            emit(ProviderEvent("answered", r.call_id, first_answered or self.clock.now(), client_call_id))
        if call.paced:
            # A live answer (SIP has no machine detection): the engine names the agent now.
            assert r.agent_at_answer is not None
            leg = await ask_agent(r.agent_at_answer, first_answered or self.clock.now(), r.call_id)
            if leg is None:
                return await self._inform(call, first, dialed_at, client_call_id, "no agent free at the answer")
            call.agent = leg.agent
            try:
                second_uri = self._addresses.agent_uri(leg.target, self._require().domain)
            except ProviderError as exc:
                log.error("sip_agent_target_invalid", provider=self.name, call_id=r.call_id, agent=leg.agent,
                          error=str(exc))  # fmt: skip
                return await self._inform(call, first, dialed_at, client_call_id, f"agent {leg.agent}: {exc}")

        # 2. the second leg, with the codec the first chose (passthrough, no transcoding)
        second = await self._invite(call, second_role, second_uri, second_id, [codec], display[second_role])
        what, info = await self._await_leg(
            call, second, second_ring, ringing if second_role == "client" else None, watch=first_role,
            early_to=first if second_role == "client" else None, codecs=[codec],
        )  # fmt: skip
        if what != "answered":
            return await self._second_failed(call, first, second, what, info, dialed_at, client_call_id)
        if self._configure(second, info.get("sdp"), [codec]) is None:
            self._hangup_all(call, 'SIP;cause=488;text="no common codec"')
            return self._result(
                call, CallStatus.FAILED, dialed_at, client_call_id, error=f"{second_role} leg answered without {codec}"
            )

        # 3. the bridge
        assert self._media is not None
        self._media.bridge(first.endpoint, second.endpoint)
        bridged_at = self.clock.now()
        if second_role == "client":
            emit(ProviderEvent("answered", r.call_id, bridged_at, client_call_id))
        await self._talk(call, bridged_at)
        return self._result(call, CallStatus.ANSWERED, dialed_at, client_call_id, answered_at=bridged_at)

    async def _talk(self, call: _Call, bridged_at: datetime) -> None:
        """The conversation: nudge the agent, enforce the limit, end when either side does."""
        r = call.request
        s = self.settings
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        limit = (r.hard_limit or s.default_talk_limit).total_seconds()
        end_at = t0 + limit
        nudge_at = t0 + r.nudge_at.total_seconds() if (r.nudge_at is not None and s.nudge.enabled) else None
        agent = call.legs.get("agent")
        if agent is None:
            nudge_at = None
        while True:
            deadline = min(end_at, nudge_at) if nudge_at is not None else end_at
            ev = await self._next(call, deadline)
            now = loop.time()
            if ev is None:
                if nudge_at is not None and now >= nudge_at and agent is not None:
                    assert self._media is not None
                    self._media.nudge(agent.endpoint, self._nudge)
                    call.nudged = True
                    nudge_at = None
                    log.info("sip_nudge", provider=self.name, call_id=r.call_id, talk_s=round(now - t0, 1))
                    continue
                if now >= end_at:
                    call.ended_by = "hard_limit" if r.hard_limit else "talk_limit"
                    why = "talk time limit reached"
                    self._hangup_all(call, f'SIP;cause=200;text="{why}"')
                    return
                continue
            role, kind, info = ev
            if kind in ("bye", "ended", "failed"):
                call.legs[role].live = False
                call.ended_by = role
                self._hangup_all(call, f'SIP;cause=200;text="{role} hung up"')
                return
            if kind == "media" and role in call.legs:
                run = call.legs[role]
                self._configure(run, info.get("sdp"), [run.endpoint.codec])
            elif kind == "digit":
                call.digit = call.digit or info.get("digit")

    async def _first_failed(
        self, call: _Call, first: _LegRun, what: str, info: dict[str, Any], dialed_at: datetime, client_call_id: str
    ) -> CallResult:
        r = call.request
        code, reason = int(info.get("code", 0)), str(info.get("reason", ""))
        if what == "failed" and code in AUTH_REFUSED and not info.get("timeout"):
            # Our credentials were refused before anyone rang: the provider is not
            # ready, not the client (nor the agent) unreachable.
            why = f"authentication refused: {first.role} leg {code} {reason}".strip()
            self._auth_refused = (asyncio.get_running_loop().time() + AUTH_HOLD, why)
            log.error(
                "sip_auth_refused",
                provider=self.name,
                call_id=r.call_id,
                code=code,
                reason=reason,
                note=f"check the SIP credentials; no call for {AUTH_HOLD:g} s",
            )
            raise ProviderNotReady(why)
        if what == "timeout":
            await self._cancel_and_wait(call, first, 'SIP;cause=480;text="ring timeout"')
        if first.role == "client":
            if what == "timeout":
                return self._result(
                    call,
                    CallStatus.NO_ANSWER,
                    dialed_at,
                    client_call_id,
                    error=f"no answer within {_ring(r):g} s",
                )
            status = map_final(code, reason, timeout=bool(info.get("timeout")))
            return self._result(call, status, dialed_at, client_call_id, error=f"{code} {reason}".strip())
        # the agent leg: the client was never dialed
        if what == "timeout":
            secs = self.settings.agent_ring_timeout.total_seconds()
            return self._result(
                call,
                CallStatus.CANCELED,
                dialed_at,
                client_call_id,
                error=f"agent {r.connect_to} did not answer within {secs:g} s: the client was not dialed",
            )
        text = f"agent leg {code} {reason}".strip()
        if code in AGENT_AWAY and not info.get("timeout"):
            return self._result(
                call, CallStatus.CANCELED, dialed_at, client_call_id, error=f"{text}: the client was not dialed"
            )
        # a broken agent target must not loop as 'canceled' (retried at once)
        return self._result(
            call,
            CallStatus.FAILED,
            dialed_at,
            client_call_id,
            error=f"{text} ({r.connect_to}): the client was not dialed",
        )

    async def _second_failed(
        self, call: _Call, first: _LegRun, second: _LegRun, what: str, info: dict[str, Any], dialed_at: datetime,
        client_call_id: str,
    ) -> CallResult:  # fmt: skip
        r = call.request
        code, reason = int(info.get("code", 0)), str(info.get("reason", ""))
        if what in ("timeout", "other_gone"):
            why = 'SIP;cause=480;text="ring timeout"' if what == "timeout" else 'SIP;cause=487;text="agent hung up"'
            await self._cancel_and_wait(call, second, why)
        if second.role == "client":
            # tell the agent and free them: the client is not coming
            if what == "other_gone":
                call.ended_by = "agent"
                return self._result(
                    call,
                    CallStatus.CANCELED,
                    dialed_at,
                    client_call_id,
                    error="agent hung up before the client answered",
                )
            if what == "timeout":
                status, error = CallStatus.NO_ANSWER, f"no answer within {_ring(r):g} s"
                cause = 'SIP;cause=480;text="client did not answer"'
            else:
                status = map_final(code, reason, timeout=bool(info.get("timeout")))
                error = f"{code} {reason}".strip()
                cause = f'SIP;cause={code or 500};text="client: {reason or status.value}"'
            self._hangup(first, cause)
            return self._result(call, status, dialed_at, client_call_id, error=error)
        # client-first: the client answered, no agent took the call
        detail = "did not answer" if what == "timeout" else ("hung up" if what == "other_gone" else f"{code} {reason}")
        if call.paced:
            # The engine's agent did not pick up: for the abandon rate this client answered
            # and reached nobody; if still on the line, they hear the information message.
            if what == "other_gone":
                call.ended_by = "client"
                return self._result(
                    call, CallStatus.ABANDONED, dialed_at, client_call_id, answered_at=first.answered_at,
                    error="abandoned: the client hung up before the agent answered",
                )  # fmt: skip
            return await self._inform(call, first, dialed_at, client_call_id, f"agent leg {detail}")
        self._hangup(first, 'SIP;cause=480;text="no agent available"')
        if what == "other_gone":
            call.ended_by = "client"
        return self._result(
            call,
            CallStatus.ANSWERED,
            dialed_at,
            client_call_id,
            answered_at=first.answered_at,
            error=f"agent leg {detail}: the client was answered but not connected",
        )

    async def _inform(
        self, call: _Call, client: _LegRun, dialed_at: datetime, client_call_id: str, why: str
    ) -> CallResult:
        """Abandon a live-answered paced call: play the information message to the client
        (bounded by its length), hang up, report ABANDONED (answered, no talk time)."""
        loop = asyncio.get_running_loop()
        media = self._media
        samples = call.information
        gone = not client.live
        if samples and media is not None and not gone:
            sink = self._sink(call, "client")
            media.play(client.endpoint, samples, lambda: sink("played", {}))
            deadline = loop.time() + len(samples) / 8000 + 2.0
            while True:
                ev = await self._next(call, deadline)
                if ev is None:
                    break
                role, kind, _info = ev
                if role != "client":
                    continue
                if kind == "played":
                    break
                if kind in ("bye", "ended", "failed"):
                    client.live = False
                    gone = True
                    break
            media.stop_playing(client.endpoint)
        elif not samples:
            log.warning("sip_no_information_audio", provider=self.name, call_id=call.request.call_id,
                        path=call.request.information_audio)  # fmt: skip
        call.ended_by = "client" if gone else "dialer"
        self._hangup(client, 'SIP;cause=200;text="no agent available"')
        return self._result(
            call, CallStatus.ABANDONED, dialed_at, client_call_id, answered_at=client.answered_at,
            error=f"abandoned: {why}",
        )  # fmt: skip

    # ------------------------------------------------------------ message mode

    async def _message_call(self, call: _Call, client_call_id: str, dialed_at: datetime, emit: EventSink) -> CallResult:
        r = call.request
        mm = self.settings.message_mode
        emit(ProviderEvent("created", r.call_id, dialed_at, client_call_id))
        codecs: list[str] = list(self.settings.codecs)
        client = await self._invite(
            call,
            "client",
            self._addresses.client_uri(r.number, self._require().domain),
            client_call_id,
            codecs,
            r.caller_id,
        )

        def ringing() -> None:
            emit(ProviderEvent("ringing", r.call_id, self.clock.now(), client_call_id))

        what, info = await self._await_leg(call, client, _ring(r), ringing)
        if what != "answered":
            return await self._first_failed(call, client, what, info, dialed_at, client_call_id)
        if self._configure(client, info.get("sdp"), codecs) is None:
            self._hangup(client, 'SIP;cause=488;text="no common codec"')
            return self._result(call, CallStatus.FAILED, dialed_at, client_call_id, error="no common codec")
        answered_at = client.answered_at or self.clock.now()
        emit(ProviderEvent("answered", r.call_id, answered_at, client_call_id))
        loop = asyncio.get_running_loop()
        media = self._media
        assert media is not None and self._prompt is not None
        sink = self._sink(call, "client")
        media.listen_dtmf(client.endpoint, lambda d: sink("digit", {"digit": d}))
        limit_at = loop.time() + (r.hard_limit or self.settings.default_talk_limit).total_seconds()
        digit: str | None = None
        gone = False
        for _ in range(mm.repeat):
            media.play(client.endpoint, self._prompt, lambda: sink("played", {}))
            played = False
            wait_until = limit_at
            while digit is None and not gone:
                ev = await self._next(call, min(wait_until, limit_at))
                if ev is None:
                    break
                role, kind, einfo = ev
                if role != "client":
                    continue
                if kind == "digit":
                    digit = str(einfo.get("digit"))
                elif kind == "played" and not played:
                    played = True
                    wait_until = loop.time() + mm.timeout.total_seconds()
                elif kind in ("bye", "ended", "failed"):
                    client.live = False
                    gone = True
            if digit is not None or gone or loop.time() >= limit_at:
                break
        media.stop_playing(client.endpoint)
        call.digit = digit
        call.ended_by = "client" if gone else ("hard_limit" if loop.time() >= limit_at else "dialer")
        self._hangup(client, 'SIP;cause=200;text="check-in done"')
        disposition: Disposition | None = mm.digits.get(digit) if digit else None
        error = None
        if digit is None:
            error = "no DTMF digit" + (" (client hung up)" if gone else f" within {mm.timeout.total_seconds():g} s")
        elif disposition is None:
            error = f"digit {digit} is not mapped to a disposition"
        disposition_at = None
        if disposition is not None and disposition.needs_time:
            disposition_at = answered_at + mm.callback_after
        return self._result(
            call, CallStatus.ANSWERED, dialed_at, client_call_id, answered_at=answered_at, error=error,
            disposition=disposition.value if disposition else None, disposition_at=disposition_at,
        )  # fmt: skip
