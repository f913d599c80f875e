"""Twilio's callbacks applied to a call's state: status callbacks of either leg, the
<Dial action> callback, and the TwiML request when the REST leg answers.

Signature checks and routing are the provider's (`TwilioProvider.handle_webhook`); here
the facts of an authentic callback are merged into the `CallState` (idempotently, see
state.py), and each becomes a line for a watching test call (`CallBook.tell`).

Client-first pacing (power/predictive, issue 13): the TwiML request of a live answer
(after synchronous AMD, so ``AnsweredBy`` is already known) awaits the engine's
`AgentAtAnswer` before it answers: an agent is <Dial>ed, None gets the information
message (<Say>) and <Hangup/>. The engine answers within abandon_after (2 s), well
inside Twilio's 15 s webhook timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime, timedelta

import structlog

from providers.base import AgentLeg, ProviderError
from providers.twilio.calls import CallBook
from providers.twilio.settings import TwilioSettings
from providers.twilio.state import MACHINE_ANSWERS, CallState, parse_timestamp
from providers.twilio.webhooks import (
    HANGUP,
    Target,
    bridge_twiml,
    information_twiml,
    machine_twiml,
    parse_target,
)

log = structlog.get_logger("providers.twilio")

# Seconds the TwiML request waits for AgentAtAnswer at most. The engine answers within
# abandon_after (2 s); this bound only keeps a misbehaving engine from running into
# Twilio's 15 s webhook timeout (an application error the client would hear): past it
# the client is treated as abandoned and hears the information message.
DECISION_BUDGET = 10.0


def _clamp(seconds: float, lo: int, hi: int) -> int:
    return int(max(lo, min(hi, round(seconds))))


def _secs(d: timedelta) -> float:
    return d.total_seconds()


def on_status(book: CallBook, state: CallState, leg_name: str, p: Mapping[str, str], now: datetime) -> None:
    """A status callback of one leg (parent or child)."""
    leg = state.child if leg_name == "child" else state.parent
    sid = p.get("CallSid")
    status = p.get("CallStatus", "")
    if not status:
        return
    if leg.sid is not None and sid and sid != leg.sid:
        log.warning("twilio_callback_other_sid", call_id=state.call_id, leg=leg_name, sid=sid, known=leg.sid)
        return
    if leg_name == "parent" and sid and state.parent.sid is None:
        book.adopt(state, sid)
    seq_text = p.get("SequenceNumber")
    seq = int(seq_text) if seq_text and seq_text.isdigit() else None
    at = parse_timestamp(p.get("Timestamp")) or now
    changed = leg.apply(
        status,
        at=at,
        received=now,
        seq=seq,
        duration=p.get("CallDuration"),
        answered_by=p.get("AnsweredBy"),
        error_code=p.get("ErrorCode"),
        sid=sid,
    )
    if leg_name == "child" and sid:
        book.note_sid(sid, state.call_id)
        state.bridge_started = True
    log.debug(
        "twilio_callback", call_id=state.call_id, leg=leg_name, status=status, seq=seq, changed=changed,
        duration=p.get("CallDuration"), answered_by=p.get("AnsweredBy"),
    )  # fmt: skip
    book.tell(
        state,
        f"{leg_name:<6} {status:<11} seq={seq_text or '-'}"
        + (f" duration={p['CallDuration']}s" if p.get("CallDuration") else "")
        + (f" answered_by={p['AnsweredBy']}" if p.get("AnsweredBy") else "")
        + (
            ""
            if changed and leg.status == status
            else " (duplicate: ignored)"
            if not changed
            else f" (late: status stays {leg.status})"
        ),
    )
    state.touch(now)


def on_dial(book: CallBook, state: CallState, p: Mapping[str, str], now: datetime) -> None:
    """The <Dial action> callback: the bridge's outcome (DialCallStatus, DialCallDuration)."""
    status = p.get("DialCallStatus")
    duplicate = state.dial_status is not None
    if status and not duplicate:
        state.dial_status = status
        try:
            state.dial_duration = max(0.0, float(p.get("DialCallDuration") or 0))
        except ValueError:
            state.dial_duration = None
        state.dial_seen_at = now
        child_sid = p.get("DialCallSid")
        if child_sid and state.child.sid is None:
            state.child.sid = child_sid
            book.note_sid(child_sid, state.call_id)
    book.tell(
        state,
        f"dial   {status or '?':<11} duration={p.get('DialCallDuration', '-')}s"
        + (" (duplicate: ignored)" if duplicate else ""),
    )
    state.touch(now)


def after_dial_twiml(s: TwilioSettings, state: CallState) -> str:
    """The answer to <Dial action>: hang up, except in a paced call whose agent did not
    pick up: the client is still on the line and hears the information message first."""
    if state.paced and state.dial_status not in (None, "completed", "answered") and not state.parent.final:
        state.informing = True
        md = s.machine_detection
        return information_twiml(state.request.information_message, md.language, md.voice)
    return HANGUP


async def _decide(state: CallState, at: datetime) -> AgentLeg | None:
    ask = state.request.agent_at_answer
    assert ask is not None
    try:
        return await asyncio.wait_for(ask(at), DECISION_BUDGET)
    except TimeoutError:
        log.error("twilio_agent_at_answer_timeout", call_id=state.call_id, budget_s=DECISION_BUDGET)
    except Exception:
        log.exception("twilio_agent_at_answer_failed", call_id=state.call_id)
    return None


async def agent_at_answer(state: CallState, at: datetime) -> AgentLeg | None:
    """The engine's answer, asked once per call: a repeated TwiML request (Twilio retries,
    a duplicate) awaits the same decision, and a request cut off midway does not cancel it."""
    if state.decision is None:
        state.decision = asyncio.ensure_future(_decide(state, at))
    decision: AgentLeg | None = await asyncio.shield(state.decision)
    return decision


async def _paced_twiml(
    book: CallBook, s: TwilioSettings, urls: Mapping[str, str], state: CallState, now: datetime
) -> str:
    """A live answer of a power/predictive call: <Dial> the agent the engine names, or read
    the information message and hang up (abandoned)."""
    r = state.request
    md = s.machine_detection
    leg = await agent_at_answer(state, now)
    state.touch(now)
    if leg is not None:
        state.agent = leg.agent  # reserved for this call: the engine frees it from the result
    if state.ending or state.parent.final:
        # The client hung up (or we are ending the call) while the engine looked for an agent.
        book.tell(state, "twiml  hangup (call ended while looking for an agent)")
        return HANGUP
    if leg is None:
        state.abandoned = True
        book.tell(state, "twiml  no agent free: information message, hangup")
        return information_twiml(r.information_message, md.language, md.voice)
    try:
        target = parse_target(leg.target)
    except ProviderError as exc:
        log.error("twilio_agent_target_invalid", call_id=state.call_id, agent=leg.agent, error=str(exc))
        state.abandoned = True
        state.notes.append(f"agent {leg.agent}: {exc}")
        return information_twiml(r.information_message, md.language, md.voice)
    state.bridge_started = True
    book.tell(state, f"twiml  dial agent {leg.agent} at {target.rest_to} (timeLimit {int(_secs(state.talk_cap))} s)")
    return bridge_twiml(
        target,
        caller_id=r.caller_id,
        timeout_s=_clamp(_secs(s.agent_ring_timeout), 5, 600),
        time_limit_s=max(1, int(_secs(state.talk_cap))),
        action_url=urls["dial"],
        status_url=urls["child"],
    )


async def answer_twiml(
    book: CallBook, s: TwilioSettings, urls: Mapping[str, str], state: CallState, p: Mapping[str, str], now: datetime
) -> str:
    """The TwiML for Twilio's request when the REST leg answers: <Dial> the other party,
    or hang up (machine, or the call is being ended)."""
    r = state.request
    sid = p.get("CallSid")
    if sid and state.parent.sid is None:
        book.adopt(state, sid)
    answered_by = p.get("AnsweredBy")
    state.parent.apply("in-progress", at=now, received=now, answered_by=answered_by)
    state.touch(now)
    if state.ending or state.parent.final:
        book.tell(state, "twiml  hangup (call is being ended)")
        return HANGUP
    if state.mode == "client_first":
        if answered_by in MACHINE_ANSWERS:
            state.machine = True
            md = s.machine_detection
            book.tell(state, f"twiml  machine ({answered_by}): {md.on_machine}")
            if md.on_machine == "message":
                return machine_twiml(md.message, md.message_url, md.language, md.voice)
            return HANGUP
        if state.paced:
            return await _paced_twiml(book, s, urls, state, now)
        target = parse_target(r.connect_to)
        timeout = _clamp(_secs(s.agent_ring_timeout), 5, 600)
    else:
        target = Target("number", r.number)
        timeout = _clamp(_secs(r.ring_timeout), 5, 600)
    state.bridge_started = True
    book.tell(state, f"twiml  dial {target.rest_to} (timeLimit {int(_secs(state.talk_cap))} s)")
    return bridge_twiml(
        target,
        caller_id=r.caller_id,
        timeout_s=timeout,
        time_limit_s=max(1, int(_secs(state.talk_cap))),
        action_url=urls["dial"],
        status_url=urls["child"],
    )
