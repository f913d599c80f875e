"""The Twilio provider: real outbound calls through the official SDK, status webhooks.

Settings: see settings.py (and the README's "Twilio" section).

One call, agent-first (the default: no client ever answers into silence):
  POST /Calls  To=agent  Url=<twiml>  StatusCallback=<status?call=ID&leg=parent>
  agent answers -> Twilio asks <twiml?call=ID> -> <Dial callerId timeout timeLimit
  answerOnBridge action=<dial?call=ID>><Number statusCallback=<status?call=ID&leg=child>>
  client</Number></Dial>; the client's leg (child) decides the outcome and its
  duration is the talk time.
Client-first:
  POST /Calls  To=client  MachineDetection=...  Url=<twiml>; Twilio asks for TwiML
  with AnsweredBy: a human (or unknown) is <Dial>ed to the agent target, a machine is
  hung up on (or left a message) and the call is recorded as `machine`.

`dial()` returns when the call has ended: it awaits the final state delivered by the
webhooks (dialer/http.py routes them to `handle_webhook`), keyed by OUR call id, which
is in every callback URL. A watchdog covers lost callbacks and over-long calls: with no
callback for `poll_interval` it fetches the call by SID; once the call outlives its cap
(ring + detection + talk cap + slack) it fetches it and, if still live, ends it with
``update_async(status="completed")``.

Creating calls: paced to `cps` (Twilio queues above the account's CPS instead of
refusing); 429 / code 20429 and refused connections are retried with bounded backoff;
a 5xx or timeout on POST /Calls is ambiguous (the call may exist), so the call is looked
up (a callback carrying our call id, else the call list filtered by To/From and creation
time) before any retry; when that cannot decide, nothing is retried: a client is never
dialed twice because of a retry.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import httpx
import structlog
from twilio.base.exceptions import TwilioException
from twilio.rest import Client

from dialer.clock import Clock
from dialer.domain import CallStatus
from dialer.secrets import secret
from providers.base import (
    CallNotPlaced,
    CallResult,
    DialRequest,
    EventSink,
    Provider,
    ProviderError,
    ProviderEvent,
    ProviderNotReady,
    WebhookProvider,
    WebhookRequest,
    WebhookResponse,
    create_gap,
)
from providers.twilio.callbacks import after_dial_twiml, answer_twiml, on_dial, on_status
from providers.twilio.calls import CallBook
from providers.twilio.errors import AUTH_REFUSED_CODES, api_code, api_status, retryable
from providers.twilio.rest_client import HttpxTwilioClient
from providers.twilio.settings import TwilioSettings, TwilioSettingsError, parse_settings
from providers.twilio.state import (
    FINAL,
    INVALID_NUMBER_CODES,
    CallState,
    provider_call_id,
    split_provider_call_id,
)
from providers.twilio.webhooks import (
    HANGUP,
    KINDS,
    Signer,
    form_params,
    parse_target,
    public_url,
    webhook_url,
)

__all__ = ["TwilioProvider", "TwilioSettings", "TwilioSettingsError"]

log = structlog.get_logger("providers.twilio")
T = TypeVar("T")

STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]
LOOKUP_SKEW = timedelta(minutes=2)
FIND_SKEW = timedelta(seconds=5)  # a dead worker's call: created right after its row was stamped
TWIML = "application/xml"


class _Unknown(Exception):
    """Whether Twilio created the call cannot be decided."""


def _safe_sink(on_event: EventSink | None, call_id: str) -> EventSink:
    """The caller's event sink; its failures are logged, never fatal to the call."""

    def emit(event: ProviderEvent) -> None:
        if on_event is None:
            return
        try:
            on_event(event)
        except Exception:
            log.exception("twilio_event_sink_failed", call_id=call_id, kind=event.kind)

    return emit


def _clamp(seconds: float, lo: int, hi: int) -> int:
    return int(max(lo, min(hi, round(seconds))))


def _secs(d: timedelta) -> float:
    return d.total_seconds()


def _ring(r: DialRequest) -> timedelta:
    """How long the client's phone rings: never below the campaign's min_ring (Ofcom: 15 s)."""
    return max(r.ring_timeout, r.min_ring)


def _is_final(state: CallState) -> bool:
    """The parent leg's finality, read afresh (a refresh may change it between reads)."""
    return state.parent.final


class TwilioProvider(Provider, WebhookProvider):
    # Each POST /Calls (retries included) takes the campaign's CPS slot itself (DialRequest.pace).
    paces_creates = True

    def __init__(self, name: str, settings: Mapping[str, Any], clock: Clock):
        self.name = name
        self.settings = parse_settings(name, settings)
        self.clock = clock
        self.public_base_url = self.settings.resolved_public_base_url()
        # WebhookProvider: where the endpoint should listen, how much body to accept
        self.listen: tuple[str, int] | None = (self.settings.listen_host, self.settings.listen_port)
        self.webhook_max_body: int = self.settings.max_body_bytes
        self.poll_interval: timedelta = self.settings.poll_interval
        self._book = CallBook()
        self._pace_lock = asyncio.Lock()
        self._last_create: datetime | None = None
        self._http: httpx.AsyncClient | None = None
        self._client: Client | None = None
        self._signer: Signer | None = None
        self._account_sid: str | None = None

    def __repr__(self) -> str:
        return f"<TwilioProvider {self.name} api={self.settings.api_base_url}>"

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._client is not None:
            return
        s = self.settings
        account_sid = secret(s.account_sid_env)
        token = secret(s.auth_token_env)
        shared_key = secret(s.webhook_key_env) if s.webhook_key_env else None
        assert account_sid is not None and token is not None
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(_secs(s.request_timeout), connect=_secs(s.connect_timeout)),
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        )
        # An explicit, non-empty environment: with an empty one the SDK reads os.environ,
        # where a stray TWILIO_REGION / TWILIO_EDGE would rewrite the API host.
        client = Client(
            username=account_sid,
            password=token,
            account_sid=account_sid,
            http_client=HttpxTwilioClient(self._http),
            environment={"DIALER_TWILIO_PROVIDER": self.name},
        )
        client.api.base_url = s.api_base_url
        self._client = client
        self._account_sid = account_sid
        self._signer = Signer(token, shared_key)
        log.info("twilio_started", provider=self.name, api=s.api_base_url, public=self.public_base_url, cps=s.cps)

    async def close(self) -> None:
        http, self._http = self._http, None
        self._client = None
        if http is not None:
            await http.aclose()

    async def check(self) -> None:
        """Readiness: the API answers and accepts our credentials."""
        await self.start()
        client = self._require()
        try:
            await client.api.v2010.accounts(self._account_sid).fetch_async()
        except TwilioException as exc:
            raise ProviderNotReady(
                f"Twilio API refused the account check: HTTP {api_status(exc)} code {api_code(exc)}"
            ) from None
        except httpx.HTTPError as exc:
            raise ProviderNotReady(f"Twilio API unreachable: {type(exc).__name__}: {exc}") from None

    def _require(self) -> Client:
        if self._client is None:
            raise ProviderNotReady(f"provider {self.name} is not started")
        return self._client

    def observe(self, call_id: str, fn: Callable[[str], None]) -> None:
        """Receive a human-readable line for each callback of one call (test-call)."""
        self._book.observe(call_id, fn)

    # ------------------------------------------------------------ dialing

    async def dial(self, request: DialRequest, on_event: EventSink | None = None) -> CallResult:
        await self.start()
        emit = _safe_sink(on_event, request.call_id)
        paced = request.connect_mode == "client_first" and request.agent_at_answer is not None
        # A paced call has no agent yet (connect_to is empty): the target comes at the answer.
        agent_to = "" if paced else parse_target(request.connect_to).rest_to
        if self._book.get(request.call_id) is not None:
            raise ProviderError(f"call {request.call_id} is already in progress")
        s = self.settings
        talk_cap = request.hard_limit or s.default_talk_limit
        if request.connect_mode == "client_first":
            detect = s.machine_detection.timeout if self._detects_machines(request) else timedelta(0)
            cap = _ring(request) + detect + s.agent_ring_timeout + talk_cap + s.watchdog_slack
        else:
            cap = s.agent_ring_timeout + request.ring_timeout + talk_cap + s.watchdog_slack
        state = CallState(
            request=request, mode=request.connect_mode, dialed_at=self.clock.now(), cap=cap, talk_cap=talk_cap
        )
        self._book.add(state)
        try:
            created = await self._create(state, self._create_params(state, agent_to))
            if isinstance(created, CallResult):
                return created
            self._book.adopt(state, created)
            pcid = provider_call_id(created, state.mode)
            emit(ProviderEvent("created", request.call_id, self.clock.now(), pcid))
            log.info("twilio_call_created", call_id=request.call_id, sid=created, mode=state.mode, cap_s=_secs(cap))
            result = await self._follow(state, emit, pcid)
            if state.decision is not None and not state.decision.done():
                # The client hung up while the engine looked for an agent: wait for its
                # answer (bounded, it never raises) so an agent it reserved for this call
                # is reported in the result rather than lost by cancelling the question.
                leg = await asyncio.shield(state.decision)
                if leg is not None and result.agent is None:
                    result = replace(result, agent=leg.agent)
        except BaseException as exc:
            if state.parent.sid and not state.parent.final:
                # The dispatcher gave up on the call (drain timeout) or we failed while
                # following it: do not leave a call live that nobody follows.
                why = "canceled by the worker" if isinstance(exc, asyncio.CancelledError) else repr(exc)
                await asyncio.shield(self._end_quietly(state, why))
            raise
        finally:
            if state.decision is not None and not state.decision.done():
                state.decision.cancel()  # nobody will serve its answer any more
            self._book.forget(state)
        emit(ProviderEvent("ended", request.call_id, result.ended_at, result.provider_call_id))
        log.info(
            "twilio_call_ended", call_id=request.call_id, sid=state.parent.sid, status=result.status.value,
            ring_s=result.ring_s, talk_s=result.talk_s, error=result.error,
        )  # fmt: skip
        return result

    def _urls(self, call_id: str) -> dict[str, str]:
        base = self.public_base_url
        return {
            "parent": webhook_url(base, self.name, "status", call=call_id, leg="parent"),
            "child": webhook_url(base, self.name, "status", call=call_id, leg="child"),
            "twiml": webhook_url(base, self.name, "twiml", call=call_id),
            "dial": webhook_url(base, self.name, "dial", call=call_id),
        }

    def _create_params(self, state: CallState, agent_to: str) -> dict[str, Any]:
        s = self.settings
        r = state.request
        urls = self._urls(r.call_id)
        params: dict[str, Any] = {
            "from_": r.caller_id,
            "url": urls["twiml"],
            "method": "POST",
            "status_callback": urls["parent"],
            "status_callback_event": STATUS_EVENTS,
            "status_callback_method": "POST",
            # the REST leg's backstop: Twilio itself ends the call after this
            "time_limit": _clamp(_secs(state.cap), 60, 86400),
        }
        if state.mode == "client_first":
            params["to"] = r.number
            params["timeout"] = _clamp(_secs(_ring(r)), 5, 600)
            md = s.machine_detection
            if self._detects_machines(r):
                # Synchronous AMD: Twilio asks for the TwiML only once it knows, so the
                # TwiML request carries AnsweredBy and a machine never reaches an agent
                # (nor, in a paced call, the engine's agent_at_answer).
                params["machine_detection"] = md.twilio_mode
                params["machine_detection_timeout"] = _clamp(_secs(md.timeout), 3, 59)
                if md.speech_threshold_ms is not None:
                    params["machine_detection_speech_threshold"] = md.speech_threshold_ms
                if md.speech_end_threshold_ms is not None:
                    params["machine_detection_speech_end_threshold"] = md.speech_end_threshold_ms
                if md.silence_timeout_ms is not None:
                    params["machine_detection_silence_timeout"] = md.silence_timeout_ms
        else:
            params["to"] = agent_to
            params["timeout"] = _clamp(_secs(s.agent_ring_timeout), 5, 600)
        return params

    def _detects_machines(self, r: DialRequest) -> bool:
        """Twilio AMD for a client-first call: a paced (power/predictive) call uses it when
        the engine asks (DialRequest.detect_machine); a classic client-first call when the
        provider's `machine_detection.enabled` says so."""
        if r.connect_mode != "client_first":
            return False
        if r.agent_at_answer is not None:
            return r.detect_machine
        return self.settings.machine_detection.enabled

    # ------------------------------------------------------------ creating, with retries

    async def _pace(self, request: DialRequest) -> None:
        """Hold both limits at the moment of this create request: the provider's `cps`
        (this worker) and the campaign's `cps` (all workers, through the store). The
        slot is the later of the two, reserved in both before anyone sleeps, so neither
        a retry nor the wait for the other limit moves a create onto another's slot."""
        gap = timedelta(seconds=create_gap(self.settings.cps))
        async with self._pace_lock:
            now = self.clock.now()
            slot = now if self._last_create is None else max(now, self._last_create + gap)
            if request.pace is not None:
                # The campaign's slot at or after the provider's; taken under our lock so
                # no other create of this provider can claim the same instant meanwhile.
                slot = max(slot, await request.pace(slot))
            self._last_create = slot
        wait = (slot - self.clock.now()).total_seconds()
        if wait > 0:
            await self.clock.sleep(wait)
        if request.may_create is not None and not request.may_create():
            raise CallNotPlaced("the worker is stopping; no create request was sent")

    def _backoff(self, attempt: int) -> float:
        s = self.settings
        base = min(_secs(s.backoff_max), _secs(s.backoff_initial) * (2.0 ** (attempt - 1)))
        return base * (0.5 + random.random() / 2)

    async def _create(self, state: CallState, params: dict[str, Any]) -> str | CallResult:
        client = self._require()
        call_id = state.call_id
        first_try = self.clock.now()
        attempt = 0
        unreachable = False  # every failure so far was Twilio not answering (nothing created)
        while True:
            await self._pace(state.request)
            try:
                call = await client.calls.create_async(**params)
                if not call.sid:
                    raise ProviderError("Twilio accepted the call but returned no SID")
                return str(call.sid)
            except TwilioException as exc:
                status = api_status(exc)
                if status == 429 or api_code(exc) == "20429":
                    reason = f"rate limited (HTTP {status}, code {api_code(exc)})"
                    unreachable = False
                elif status >= 500 or status == 0:
                    found = await self._after_ambiguous(state, params, first_try, f"HTTP {status}")
                    if found is not None:
                        return found
                    reason = f"HTTP {status}; the call was not created"
                    unreachable = attempt == 0 or unreachable
                else:
                    return self._refused(state, exc)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                reason = f"{type(exc).__name__}: nothing was sent"
                unreachable = attempt == 0 or unreachable
            except httpx.TransportError as exc:
                found = await self._after_ambiguous(state, params, first_try, type(exc).__name__)
                if found is not None:
                    return found
                reason = f"{type(exc).__name__}; the call was not created"
                unreachable = attempt == 0 or unreachable
            attempt += 1
            if attempt > self.settings.max_retries:
                if unreachable:
                    # Twilio never took the call: the API is away, not the client.
                    raise ProviderNotReady(
                        f"Twilio API unreachable: POST /Calls gave up after {attempt} attempts: {reason}"
                    )
                raise ProviderError(f"POST /Calls gave up after {attempt} attempts: {reason}")
            delay = self._backoff(attempt)
            log.warning("twilio_create_retry", call_id=call_id, attempt=attempt, reason=reason, delay_s=round(delay, 3))
            await self.clock.sleep(delay)

    def _refused(self, state: CallState, exc: Any) -> CallResult:
        """A 4xx on POST /Calls: nothing was dialed."""
        code = api_code(exc)
        text = getattr(exc, "msg", None) or getattr(exc, "detail", None) or getattr(exc, "title", "")
        msg = f"Twilio refused the call: HTTP {api_status(exc)} code {code}: {text}"
        log.warning("twilio_create_refused", call_id=state.call_id, status=api_status(exc), code=code)
        if api_status(exc) == 401 or code in AUTH_REFUSED_CODES:
            raise ProviderNotReady(f"Twilio refused our credentials: HTTP {api_status(exc)} code {code}: {text}")
        if state.mode == "client_first" and code in INVALID_NUMBER_CODES:
            now = self.clock.now()
            return CallResult(status=CallStatus.INVALID_NUMBER, dialed_at=state.dialed_at, ended_at=now, error=msg)
        raise ProviderError(msg)

    async def _after_ambiguous(
        self, state: CallState, params: dict[str, Any], since: datetime, what: str
    ) -> str | CallResult | None:
        """POST /Calls failed in a way that leaves open whether the call exists.
        Returns its SID if it does, None if it surely does not (a retry is safe), or a
        failed result when that cannot be decided (no retry: never dial twice)."""
        log.warning("twilio_create_ambiguous", call_id=state.call_id, error=what)
        try:
            sid = await self._lookup(state, params, since)
        except _Unknown as exc:
            sid = await self._await_sid(state, _secs(self.settings.watchdog_slack))
            if sid is None:
                return CallResult(
                    status=CallStatus.FAILED,
                    dialed_at=state.dialed_at,
                    ended_at=self.clock.now(),
                    error=f"create outcome unknown after {what} ({exc}); not retried so the client is not called twice",
                )
        if sid is not None:
            log.info("twilio_create_found", call_id=state.call_id, sid=sid, after=what)
        return sid

    async def _await_sid(self, state: CallState, seconds: float) -> str | None:
        deadline = self.clock.now() + timedelta(seconds=seconds)
        while state.parent.sid is None:
            left = (deadline - self.clock.now()).total_seconds()
            if left <= 0:
                return None
            state.changed.clear()
            await self._wait_change(state, left)
        return state.parent.sid

    async def _lookup(self, state: CallState, params: dict[str, Any], since: datetime) -> str | None:
        # Twilio reports a created call to our status callback, whose URL carries our call id.
        sid = await self._await_sid(state, _secs(self.settings.lookup_delay))
        if sid is not None:
            return sid
        client = self._require()
        try:
            calls = await client.calls.list_async(to=params["to"], from_=params["from_"], limit=20, page_size=20)
        except (TwilioException, httpx.HTTPError) as exc:
            raise _Unknown(f"call list failed: {type(exc).__name__}") from None
        if state.parent.sid is not None:
            return state.parent.sid
        cutoff = since - LOOKUP_SKEW
        candidates = [
            c.sid
            for c in calls
            if c.sid
            and not self._book.following(c.sid)
            and not self._book.finished(c.sid)
            and (c.date_created is None or c.date_created >= cutoff)
            and (not c.direction or c.direction == "outbound-api")
        ]
        if len(candidates) > 1:
            raise _Unknown(f"{len(candidates)} recent calls to {params['to']} match")
        return candidates[0] if candidates else None

    # ------------------------------------------------------------ following the call

    async def _wait_change(self, state: CallState, seconds: float) -> None:
        """Until a callback changes the state, or `seconds` pass on the provider's clock."""
        if state.changed.is_set():
            return
        waiter = asyncio.ensure_future(state.changed.wait())
        sleeper = asyncio.ensure_future(self.clock.sleep(max(0.0, seconds)))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for f in (waiter, sleeper):
                if not f.done():
                    f.cancel()
            await asyncio.gather(waiter, sleeper, return_exceptions=True)

    async def _follow(self, state: CallState, emit: EventSink, pcid: str) -> CallResult:
        s = self.settings
        grace = s.final_grace
        deadline = state.dialed_at + state.cap
        hangup_at: datetime | None = None
        if state.last_activity is None:
            state.last_activity = self.clock.now()
        while True:
            state.changed.clear()
            now = self.clock.now()
            for kind, at in state.progress():
                emit(ProviderEvent(kind, state.call_id, at, pcid))  # type: ignore[arg-type]
            outcome = state.resolve(now, grace)
            if isinstance(outcome, CallResult):
                if not state.parent.final:
                    outcome = await self._settle(state, outcome, grace)
                return outcome
            if hangup_at is None and now >= deadline:
                # The call outlived its cap: ask Twilio (callbacks may have been lost) ...
                await self._refresh(state)
                outcome = state.resolve(self.clock.now(), grace)
                if isinstance(outcome, CallResult):
                    log.warning("twilio_final_from_fetch", call_id=state.call_id, sid=state.parent.sid, why="cap")
                    return outcome
                if not state.parent.final:
                    # ... and end it if it is really still live.
                    log.warning(
                        "twilio_watchdog_end", call_id=state.call_id, sid=state.parent.sid, cap_s=_secs(state.cap)
                    )
                    state.notes.append(f"watchdog ended the call after {int(_secs(state.cap))} s")
                    await self._end(state)
                hangup_at = self.clock.now()
                continue
            if hangup_at is not None and now >= hangup_at + grace:
                await self._refresh(state)
                outcome = state.resolve(self.clock.now(), grace, force=True)
                assert isinstance(outcome, CallResult)
                return outcome
            quiet_since = state.last_activity or state.dialed_at
            if now - quiet_since >= self.poll_interval:
                log.info("twilio_poll", call_id=state.call_id, sid=state.parent.sid, quiet_s=_secs(now - quiet_since))
                await self._refresh(state)
                state.last_activity = self.clock.now()
                continue
            wake = [quiet_since + self.poll_interval, deadline if hangup_at is None else hangup_at + grace]
            if isinstance(outcome, datetime):
                wake.append(outcome)
            await self._wait_change(state, (min(wake) - now).total_seconds())

    async def _settle(self, state: CallState, outcome: CallResult, grace: timedelta) -> CallResult:
        """The outcome is known (<Dial action>) but the call's final callback has not come:
        read the call once, and end it if it is really still live, so neither the line
        nor the agent is held until the poll; then return the outcome."""
        await self._refresh(state)
        if not state.parent.final:
            log.warning(
                "twilio_final_callback_missing", call_id=state.call_id, sid=state.parent.sid, status=state.parent.status
            )
            await self._end(state)
        settled = state.resolve(self.clock.now(), grace, force=True)
        return settled if isinstance(settled, CallResult) else outcome

    async def _rest(self, op: Callable[[], Awaitable[T]], what: str) -> T:
        """An idempotent REST operation, retried on 429/5xx/network errors (bounded)."""
        attempt = 0
        while True:
            try:
                return await op()
            except TwilioException as exc:
                if not retryable(exc):
                    raise
                reason = f"HTTP {api_status(exc)}"
            except httpx.TransportError as exc:
                reason = type(exc).__name__
            attempt += 1
            if attempt > self.settings.max_retries:
                raise ProviderError(f"{what} failed after {attempt} attempts: {reason}")
            await self.clock.sleep(self._backoff(attempt))

    async def _refresh(self, state: CallState, *, strict: bool = False) -> bool:
        """Merge Twilio's view (the call and its child legs) into the state.
        False if the call could not be read (network, or unknown to Twilio); with
        `strict`, anything but "unknown to Twilio" raises ProviderError instead."""
        client = self._require()
        sid = state.parent.sid
        if sid is None:
            return False
        now = self.clock.now()
        try:
            call = await self._rest(lambda: client.calls(sid).fetch_async(), "fetch call")
        except TwilioException as exc:
            if api_status(exc) == 404:
                state.notes.append("Twilio does not know the call")
                state.parent.apply("failed", at=now, received=now)
                state.touch(now)
                return False
            log.warning("twilio_fetch_failed", sid=sid, status=api_status(exc), code=api_code(exc))
            if strict:
                raise ProviderError(f"fetching {sid} failed: HTTP {api_status(exc)} code {api_code(exc)}") from None
            return False
        except ProviderError as exc:
            log.warning("twilio_fetch_failed", sid=sid, error=str(exc))
            if strict:
                raise
            return False
        state.parent.apply_resource(call, now)
        if call.status in FINAL or call.status == "in-progress" or state.bridge_started:
            try:
                children = await self._rest(
                    lambda: client.calls.list_async(parent_call_sid=sid, limit=5, page_size=5), "list child legs"
                )
            except (TwilioException, ProviderError) as exc:
                log.warning("twilio_children_failed", sid=sid, error=str(exc))
                if strict:
                    raise ProviderError(f"listing the legs of {sid} failed: {exc}") from None
                children = []
            if children:
                child = next((c for c in children if c.sid == state.child.sid), children[0])
                state.child.apply_resource(child, now)
                state.bridge_started = True
        state.touch(now)
        return True

    async def _end(self, state: CallState) -> None:
        client = self._require()
        sid = state.parent.sid
        if sid is None:
            return
        state.ending = True
        try:
            await self._rest(lambda: client.calls(sid).update_async(status="completed"), "end call")
        except TwilioException as exc:
            if api_status(exc) == 404:
                return
            # A call still queued or ringing is canceled rather than completed.
            try:
                await self._rest(lambda: client.calls(sid).update_async(status="canceled"), "cancel call")
            except (TwilioException, ProviderError) as exc2:
                log.warning("twilio_end_failed", sid=sid, error=str(exc2))
        except ProviderError as exc:
            log.warning("twilio_end_failed", sid=sid, error=str(exc))

    async def _end_quietly(self, state: CallState, why: str) -> None:
        try:
            await asyncio.wait_for(self._end(state), timeout=_secs(self.settings.request_timeout))
            log.warning("twilio_call_abandoned", call_id=state.call_id, sid=state.parent.sid, why=why)
        except Exception as exc:  # best effort on the way out
            log.warning("twilio_end_failed", call_id=state.call_id, sid=state.parent.sid, error=repr(exc))

    # ------------------------------------------------------------ reconciliation

    async def fetch(self, provider_call_id: str) -> CallResult | None:
        """The final result of an earlier call from Twilio's call resource (and its child
        legs), or None when Twilio does not know it (404) or it is not final. A call still
        live that no worker follows (its worker died) is ended first when `end_orphans`
        is on: the dispatcher records the outcome now and frees the agent, so the call
        must not go on. Raises ProviderError when Twilio cannot be read (network, 5xx)."""
        await self.start()
        sid, mode = split_provider_call_id(provider_call_id)
        if self._book.following(sid):
            return None  # we are following it ourselves
        now = self.clock.now()
        dummy = DialRequest(call_id=f"fetch-{sid}", number="", caller_id="", connect_to="", ring_timeout=timedelta(0))
        state = CallState(request=dummy, mode=mode, dialed_at=now, cap=timedelta(0), talk_cap=timedelta(0))
        state.parent.sid = sid
        if not await self._refresh(state, strict=True) or state.parent.status is None:
            return None
        if state.parent.initiated_at is not None:
            state.dialed_at = state.parent.initiated_at
        if not state.parent.final:
            if not self.settings.end_orphans:
                return None
            log.warning("twilio_orphan_end", sid=sid, status=state.parent.status)
            await self._end(state)
            give_up = self.clock.now() + max(self.settings.final_grace, timedelta(seconds=1))
            await self._refresh(state, strict=True)
            while not _is_final(state) and self.clock.now() < give_up:
                await self.clock.sleep(0.25)
                await self._refresh(state, strict=True)
            if not _is_final(state):
                return None
            state.notes.append("ended by reconciliation: no worker was following the call")
        outcome = state.resolve(self.clock.now(), timedelta(0), force=True)
        return outcome if isinstance(outcome, CallResult) else None

    async def find_call(self, request: DialRequest, since: datetime, until: datetime) -> str | None:
        """The call a dead worker created for `request` before it could store the SID:
        Twilio's call list filtered by To (the client in client-first mode, the agent in
        agent-first mode) and From, then by creation time within [since, until] (the
        worker's life after the call's row was written). None when there is surely no
        such call; ProviderError when Twilio cannot be read or several calls match (a
        guess could dial the client twice or lose a call)."""
        await self.start()
        client = self._require()
        to = request.number if request.connect_mode == "client_first" else parse_target(request.connect_to).rest_to
        try:
            calls = await self._rest(
                lambda: client.calls.list_async(to=to, from_=request.caller_id, limit=50, page_size=50), "list calls"
            )
        except TwilioException as exc:
            raise ProviderError(f"listing calls to {to} failed: HTTP {api_status(exc)} code {api_code(exc)}") from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"listing calls to {to} failed: {type(exc).__name__}") from None
        # Twilio's dates have one-second resolution and its own clock: allow a little skew.
        lo, hi = since - FIND_SKEW, until + FIND_SKEW
        candidates = [
            c.sid
            for c in calls
            if c.sid
            and not self._book.following(c.sid)  # followed by a live call of ours
            and c.date_created is not None
            and lo <= c.date_created <= hi
            and (not c.direction or c.direction == "outbound-api")
        ]
        if len(candidates) > 1:
            raise ProviderError(f"{len(candidates)} calls to {to} between {lo:%H:%M:%S} and {hi:%H:%M:%S} match")
        return provider_call_id(candidates[0], request.connect_mode) if candidates else None

    # ------------------------------------------------------------ webhooks

    async def handle_webhook(self, request: WebhookRequest) -> WebhookResponse:
        """One Twilio webhook (status callback, TwiML request, <Dial action>)."""
        kind = request.kind
        if kind not in KINDS:
            return WebhookResponse(404, body=b"not found")
        if request.method != "POST":
            return WebhookResponse(405, body=b"POST only")
        if self._signer is None:
            return WebhookResponse(503, body=b"provider not started")
        url = public_url(self.public_base_url, request, self.settings.trusted_proxies)
        try:
            params = form_params(request.body)
        except UnicodeDecodeError:
            return WebhookResponse(400, body=b"bad form")
        if not self._signer.valid(url, params, request.headers):
            log.warning("twilio_webhook_rejected", provider=self.name, kind=kind, url=url, client=request.client_host)
            return WebhookResponse(403, body=b"invalid signature")
        query = dict(parse_qsl(request.query_string, keep_blank_values=True))
        call_id = query.get("call", "")
        state = self._book.get(call_id)
        now = self.clock.now()
        if state is None:
            level = log.debug if self._book.finished(call_id) else log.warning
            level("twilio_webhook_unknown_call", kind=kind, call_id=call_id, sid=params.get("CallSid"))
            if kind == "twiml":
                return WebhookResponse(200, TWIML, HANGUP.encode())  # nobody follows this call: connect no one
            return WebhookResponse(204)
        if kind == "status":
            on_status(self._book, state, query.get("leg", "parent"), params, now)
            return WebhookResponse(204)
        if kind == "dial":
            on_dial(self._book, state, params, now)
            return WebhookResponse(200, TWIML, after_dial_twiml(self.settings, state).encode())
        twiml = await answer_twiml(self._book, self.settings, self._urls(call_id), state, params, now)
        return WebhookResponse(200, TWIML, twiml.encode())
