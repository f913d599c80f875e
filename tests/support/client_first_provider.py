"""A small deterministic provider for client-first dialing (issue 13).

It keeps the contract of providers.base.AgentAtAnswer: a call scripted as answered calls
`request.agent_at_answer` at the answer; None -> ABANDONED (answered_at set, no talk),
an agent -> ANSWERED with `CallResult.agent`. Agent-first requests (no callback) are
answered with the agent the dispatcher reserved. Nothing sleeps: the test sets the clock,
and `hold` (when set) keeps every call ringing until the test releases it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime

from dialer.domain import CallStatus
from providers.base import AgentLeg, CallResult, DialRequest, EventSink, ProviderEvent
from tests.support.clocks import FixedClock

HOLD_AT_MOST = 10.0  # seconds


class ClientFirstProvider:
    name = "simulated"

    def __init__(self, clock: FixedClock, script: Mapping[str, CallStatus] | None = None, talk_s: float = 60.0):
        self.clock = clock
        self.script = dict(script or {})
        self.talk_s = talk_s
        self.requests: list[tuple[datetime, DialRequest]] = []
        self.legs: dict[str, AgentLeg | None] = {}  # call id -> what agent_at_answer gave
        self.hold: asyncio.Event | None = None

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def check(self) -> None: ...

    async def fetch(self, provider_call_id: str) -> CallResult | None:
        return None

    async def dial(self, request: DialRequest, on_event: EventSink | None = None) -> CallResult:
        dialed = self.clock.now()
        self.requests.append((dialed, request))
        pcid = f"P-{request.call_id}"
        if on_event:
            on_event(ProviderEvent("created", request.call_id, dialed, pcid))
        if self.hold is not None:
            # Bounded: a test that fails before releasing its calls must not hang.
            await asyncio.wait_for(self.hold.wait(), HOLD_AT_MOST)
        outcome = self.script.get(request.number, CallStatus.ANSWERED)
        answered = self.clock.now()
        ring_s = (answered - dialed).total_seconds()
        if outcome is not CallStatus.ANSWERED:
            return CallResult(status=outcome, dialed_at=dialed, ended_at=answered, provider_call_id=pcid, ring_s=ring_s)
        agent = request.agent
        if request.agent_at_answer is not None:
            leg = await request.agent_at_answer(answered)
            self.legs[request.call_id] = leg
            if leg is None:
                return CallResult(
                    status=CallStatus.ABANDONED, dialed_at=dialed, ended_at=self.clock.now(), provider_call_id=pcid,
                    answered_at=answered, ring_s=ring_s,
                )  # fmt: skip
            agent = leg.agent
        return CallResult(
            status=CallStatus.ANSWERED, dialed_at=dialed, ended_at=self.clock.now(), provider_call_id=pcid,
            answered_at=answered, ring_s=ring_s, talk_s=self.talk_s, agent=agent,
        )  # fmt: skip
