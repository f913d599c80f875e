"""What the worker knows about one Twilio call, and how that becomes a CallResult.

Pure bookkeeping (no I/O). Facts arrive from status callbacks (out of order, more than
once), from the ``<Dial action>`` callback, from TwiML requests and from REST fetches;
every fact is applied idempotently:

- a leg's status only moves forward: by ``SequenceNumber`` when Twilio sends one, by
  the natural order queued < initiated < ringing < in-progress < final otherwise;
- once a leg is final, later non-final callbacks are ignored (the final state wins);
- timestamps (initiated/ringing/answered/ended) are first-seen facts, kept whatever
  order they arrive in.

Legs: the *parent* is the REST call; the *child* is the leg ``<Dial>`` creates. In
agent-first mode the parent rings the agent and the child is the client; in
client-first mode the parent rings the client and the child is the agent. Talk time is
always the bridged leg's (``DialCallDuration``, else the child's ``CallDuration``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from dialer.domain import CallStatus
from providers.base import AgentLeg, CallResult, DialRequest

Mode = Literal["agent_first", "client_first"]
Leg = Literal["parent", "child"]

FINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
_RANK = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3, "answered": 3}
MACHINE_ANSWERS = frozenset({"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"})
# Twilio error codes that mean "this number cannot be called at all".
INVALID_NUMBER_CODES = frozenset({"13223", "13224", "21211", "21214", "21217", "21401"})
CLIENT_FIRST_SUFFIX = ";client_first"
# After <Dial action> reported the bridge's outcome (and was answered with <Hangup/>),
# how long the call's own final callback may take before the outcome is taken as final:
# the outcome is known, so neither the line nor the agent waits for `final_grace` or
# `poll_interval` when that callback is late or lost.
DIAL_SETTLE = timedelta(seconds=1)


def rank(status: str | None) -> int:
    if status is None:
        return -1
    return 4 if status in FINAL else _RANK.get(status, 0)


def provider_call_id(sid: str, mode: Mode) -> str:
    """The id the dispatcher persists: the SID, plus the mode when it is not the default
    (crash reconciliation must know which leg is the client's)."""
    return sid + CLIENT_FIRST_SUFFIX if mode == "client_first" else sid


def split_provider_call_id(value: str) -> tuple[str, Mode]:
    sid, sep, mode = value.partition(";")
    if sep and mode == "client_first":
        return sid, "client_first"
    return sid, "agent_first"


def parse_timestamp(value: str | None) -> datetime | None:
    """Twilio's ``Timestamp`` (RFC 2822) as an aware datetime, or None."""
    if not value:
        return None
    try:
        dt = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return dt if dt.tzinfo is not None else None


def _seconds(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None


@dataclass
class LegState:
    sid: str | None = None
    status: str | None = None
    seq: int = -1
    duration: float | None = None
    answered_by: str | None = None
    error_code: str | None = None
    initiated_at: datetime | None = None
    ringing_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    final_seen_at: datetime | None = None  # when we learned it was final (worker clock)

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def apply(
        self,
        status: str,
        *,
        at: datetime,
        received: datetime,
        seq: int | None = None,
        duration: Any = None,
        answered_by: str | None = None,
        error_code: str | None = None,
        sid: str | None = None,
    ) -> bool:
        """Apply one observation; True if anything changed."""
        before = self._snapshot()
        if sid and self.sid is None:
            self.sid = sid
        # first-seen timestamps, whatever the order
        if status in ("initiated", "queued") and self.initiated_at is None:
            self.initiated_at = at
        elif status == "ringing" and self.ringing_at is None:
            self.ringing_at = at
        elif status in ("in-progress", "answered") and self.answered_at is None:
            self.answered_at = at
        elif status in FINAL and self.ended_at is None:
            self.ended_at = at
        if answered_by and not self.answered_by:
            self.answered_by = answered_by
        if error_code and not self.error_code:
            self.error_code = str(error_code)
        # The status moves forward only: by SequenceNumber when both sides have one, by
        # the natural order otherwise; a final status is never replaced by a non-final one.
        if self.status is None:
            accept = True
        elif self.final:
            # two different finals (never seen in practice): the later one wins
            accept = status in FINAL and status != self.status and seq is not None and seq > self.seq
        elif status in FINAL:
            accept = True
        elif seq is not None and self.seq >= 0:
            accept = seq > self.seq and rank(status) >= rank(self.status)
        else:
            accept = rank(status) > rank(self.status)
        if accept:
            self.status = status
            if status in FINAL and self.final_seen_at is None:
                self.final_seen_at = received
        if seq is not None:
            self.seq = max(self.seq, seq)
        if status in FINAL:
            d = _seconds(duration)
            if d is not None and self.duration is None:
                self.duration = d
        return self._snapshot() != before

    def apply_resource(self, call: Any, received: datetime) -> bool:
        """Facts from a REST CallInstance (fetch / list)."""
        status = getattr(call, "status", None)
        if not status:
            return False
        start = getattr(call, "start_time", None)
        end = getattr(call, "end_time", None)
        changed = False
        if start is not None and self.initiated_at is None:
            self.initiated_at = start
            changed = True
        duration = _seconds(getattr(call, "duration", None))
        if status in FINAL:
            at = end or received
            if status == "completed" and duration and end is not None and self.answered_at is None:
                self.answered_at = end - timedelta(seconds=duration)
                changed = True
            changed |= self.apply(
                status, at=at, received=received, seq=None, duration=duration,
                answered_by=getattr(call, "answered_by", None), sid=getattr(call, "sid", None),
            )  # fmt: skip
        else:
            changed |= self.apply(
                status, at=received, received=received, answered_by=getattr(call, "answered_by", None),
                sid=getattr(call, "sid", None),
            )  # fmt: skip
        return changed

    def _snapshot(self) -> tuple[Any, ...]:
        return (
            self.sid, self.status, self.seq, self.duration, self.answered_by, self.error_code,
            self.initiated_at, self.ringing_at, self.answered_at, self.ended_at,
        )  # fmt: skip


@dataclass
class CallState:
    request: DialRequest
    mode: Mode
    dialed_at: datetime
    cap: timedelta  # ring + detection + talk cap + slack: the watchdog's limit
    talk_cap: timedelta
    parent: LegState = field(default_factory=LegState)
    child: LegState = field(default_factory=LegState)
    dial_status: str | None = None  # <Dial action> DialCallStatus
    dial_duration: float | None = None  # DialCallDuration
    dial_seen_at: datetime | None = None
    bridge_started: bool = False  # TwiML with <Dial> was served: a bridged leg is expected
    machine: bool = False  # client-first: TwiML saw a machine and did not bridge
    # Client-first pacing (issue 13): the engine's answer to AgentAtAnswer, asked once per
    # call (a repeated TwiML request awaits the same task), the agent it named, and
    # whether the client got the information message instead of an agent.
    decision: asyncio.Task[AgentLeg | None] | None = None
    agent: str | None = None
    abandoned: bool = False
    informing: bool = False  # <Dial action> got the information message: await the call's own end
    ending: bool = False  # we asked Twilio to end the call
    last_activity: datetime | None = None
    notes: list[str] = field(default_factory=list)
    emitted: set[str] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def call_id(self) -> str:
        return self.request.call_id

    @property
    def client_leg(self) -> LegState:
        return self.child if self.mode == "agent_first" else self.parent

    @property
    def agent_leg(self) -> LegState:
        return self.parent if self.mode == "agent_first" else self.child

    def touch(self, now: datetime) -> None:
        self.last_activity = now
        self.changed.set()

    # -------------------------------------------------------------- progress events

    def progress(self) -> list[tuple[str, datetime]]:
        """Events (ringing, answered) reached for the client and not yet emitted."""
        out: list[tuple[str, datetime]] = []
        leg = self.client_leg
        ringing_at = leg.ringing_at or (leg.answered_at if leg.answered_at else None)
        if "ringing" not in self.emitted and ringing_at is not None:
            out.append(("ringing", ringing_at))
            self.emitted.add("ringing")
        human = self.mode == "agent_first" or (
            not self._machine_answer()
            and (self.bridge_started or self.abandoned or self.parent.answered_by in ("human", "unknown"))
        )  # client first: only once detection said it is not a machine
        if "answered" not in self.emitted and leg.answered_at is not None and human:
            out.append(("answered", leg.answered_at))
            self.emitted.add("answered")
        return out

    @property
    def paced(self) -> bool:
        """A power/predictive call: the engine picks the agent at the answer."""
        return self.mode == "client_first" and self.request.agent_at_answer is not None

    def _machine_answer(self) -> bool:
        return self.mode == "client_first" and (self.machine or (self.parent.answered_by or "") in MACHINE_ANSWERS)

    # -------------------------------------------------------------- the result

    def resolve(self, now: datetime, grace: timedelta, force: bool = False) -> CallResult | datetime | None:
        """The final result, or the instant to look again (waiting for the bridged
        leg after the parent ended), or None while the call is live."""
        if self.mode == "agent_first":
            return self._resolve_agent_first(now, grace, force)
        return self._resolve_client_first(now, grace, force)

    def _bridged_outcome(self) -> tuple[str | None, float | None]:
        """(status, talk seconds) of the bridged leg, if known."""
        if self.dial_status is not None:
            talk = self.dial_duration
            if talk is None and self.child.final:
                talk = self.child.duration
            return self.dial_status, talk
        if self.child.final:
            return self.child.status, self.child.duration
        return None, None

    def _waiting(self, now: datetime, grace: timedelta, force: bool) -> datetime | None:
        """Parent final, bridged leg expected but unknown: wait up to `grace`."""
        if force or not self.bridge_started:
            return None
        until = (self.parent.final_seen_at or now) + grace
        return until if now < until else None

    def _resolve_agent_first(self, now: datetime, grace: timedelta, force: bool) -> CallResult | datetime | None:
        status, talk = self._bridged_outcome()
        parent = self.parent
        if status is not None:
            if not parent.final and not force:
                # The client's leg is over; give the agent's leg a moment to end too
                # (briefly once <Dial action> has answered <Hangup/>: the outcome is known).
                seen = self.dial_seen_at or self.child.final_seen_at or now
                until = seen + (min(grace, DIAL_SETTLE) if self.dial_status is not None else grace)
                if now < until:
                    return until
            return self._result(self._map(status, self.child), talk, self.child)
        if not parent.final:
            if force:
                return self._forced()
            return None
        wait = self._waiting(now, grace, force)
        if wait is not None:
            return wait
        if self.child.answered_at is not None:
            # The bridged leg was answered but its end never reported: the call ended with the parent.
            ended = self.child.ended_at or parent.ended_at or now
            return self._result(CallStatus.ANSWERED, (ended - self.child.answered_at).total_seconds(), self.child)
        if parent.status == "completed":
            why = (
                "agent hung up before the client answered"
                if self.bridge_started
                else "agent leg ended before dialing the client"
            )
        elif parent.status == "failed":
            # Not "canceled" (= retry at once): a broken agent target would loop.
            why = f"agent leg failed ({self.request.connect_to}): the client was not dialed"
            code = f"; Twilio error {parent.error_code}" if parent.error_code else ""
            return self._result(CallStatus.FAILED, 0.0, self.child, error=why + code)
        else:
            why = f"agent leg {parent.status}: the client was not dialed"
        return self._result(CallStatus.CANCELED, 0.0, self.child, error=why)

    def _resolve_client_first(self, now: datetime, grace: timedelta, force: bool) -> CallResult | datetime | None:
        parent = self.parent
        parent_status = parent.status
        if not parent.final:
            if self.dial_status is None or self.informing:
                return self._forced() if force else None
            # <Dial action> reported how the agent leg ended and was answered with
            # <Hangup/>: the call is over even if its own final callback is late or lost.
            until = (self.dial_seen_at or now) + min(grace, DIAL_SETTLE)
            if not force and now < until:
                return until
            parent_status = "completed"
        status = self._map(parent_status or "failed", parent)
        talk = 0.0
        error = None
        if status is CallStatus.ANSWERED and self.abandoned:
            # No agent came free within abandon_after: the client heard the information
            # message and was hung up on. A live answer, never a conversation.
            return self._result(CallStatus.ABANDONED, 0.0, parent, error="abandoned: no agent free at the answer")
        if status is CallStatus.ANSWERED:
            bridged, secs = self._bridged_outcome()
            if bridged is None:
                wait = self._waiting(now, grace, force)
                if wait is not None:
                    return wait
                if self.child.answered_at is not None:
                    ended = self.child.ended_at or parent.ended_at or now
                    secs = (ended - self.child.answered_at).total_seconds()
                    bridged = "completed"
            if bridged in ("completed", "answered"):
                talk = secs or 0.0
            elif self.bridge_started and bridged is None:
                # Connected, but the agent leg never reported: the whole call is the best we know.
                talk = parent.duration or 0.0
                error = "no report from the agent leg: talk time is the whole call's"
            else:
                # Abandoned: the client picked up and no agent did. Not a conversation
                # (nothing for an agent to dispose); retried by the failed-call policy.
                why = f"agent leg {bridged}" if bridged is not None else "never connected to an agent"
                if self.paced:
                    # The engine's agent did not pick up: for the abandon rate this client
                    # answered and reached nobody (they heard the information message).
                    return self._result(
                        CallStatus.ABANDONED, 0.0, parent, error=f"abandoned: the client answered, {why}"
                    )
                return self._result(CallStatus.FAILED, 0.0, parent, error=f"abandoned: the client answered, {why}")
        return self._result(status, talk, parent, error=error)

    def _map(self, status: str, leg: LegState) -> CallStatus:
        if status in ("completed", "answered"):
            if leg is self.parent and self._machine_answer():
                return CallStatus.MACHINE
            return CallStatus.ANSWERED
        if status == "busy":
            return CallStatus.BUSY
        if status == "no-answer":
            return CallStatus.NO_ANSWER
        if status == "canceled":
            return CallStatus.CANCELED
        if leg.error_code in INVALID_NUMBER_CODES:
            return CallStatus.INVALID_NUMBER
        return CallStatus.FAILED

    def _result(self, status: CallStatus, talk: float | None, leg: LegState, error: str | None = None) -> CallResult:
        ended = leg.ended_at or self.parent.ended_at or self.dial_seen_at or self.parent.final_seen_at
        ended = ended or self.last_activity or self.dialed_at
        live = (CallStatus.ANSWERED, CallStatus.MACHINE, CallStatus.ABANDONED)
        answered = leg.answered_at if status in live else None
        if status is CallStatus.ABANDONED and answered is None:
            answered = self.parent.answered_at or ended
        talk_s = float(talk or 0.0) if status is CallStatus.ANSWERED else 0.0
        if status is CallStatus.ANSWERED and answered is None and talk_s:
            answered = ended - timedelta(seconds=talk_s)
        start = leg.ringing_at or leg.initiated_at
        ring_s = 0.0
        if start is not None:
            stop = answered or leg.answered_at or leg.ended_at or ended
            ring_s = max(0.0, (stop - start).total_seconds())
        elif status is CallStatus.NO_ANSWER:
            ring_s = self.request.ring_timeout.total_seconds()
        if status is CallStatus.FAILED and error is None and leg.error_code:
            error = f"Twilio error {leg.error_code}"
        notes = "; ".join(self.notes)
        if notes:
            error = f"{error}; {notes}" if error else notes
        sid = self.parent.sid
        return CallResult(
            status=status,
            dialed_at=self.dialed_at,
            # Twilio timestamps have whole seconds; the answer instant is ours (finer).
            ended_at=max(ended, self.dialed_at, answered or self.dialed_at),
            provider_call_id=provider_call_id(sid, self.mode) if sid else None,
            answered_at=answered,
            ring_s=round(ring_s, 3),
            talk_s=round(talk_s, 3),
            error=error,
            agent=self.agent if status in (CallStatus.ANSWERED, CallStatus.ABANDONED) else None,
        )

    def _forced(self) -> CallResult:
        """No final status anywhere (watchdog gave up): record what is known."""
        leg = self.client_leg
        self.notes.append("watchdog: no final status from Twilio")
        if self.abandoned:
            return self._result(CallStatus.ABANDONED, 0.0, leg)
        if leg.answered_at is not None and not self._machine_answer():
            ended = self.last_activity or leg.answered_at
            return self._result(CallStatus.ANSWERED, (ended - leg.answered_at).total_seconds(), leg)
        return self._result(CallStatus.FAILED, 0.0, leg)
