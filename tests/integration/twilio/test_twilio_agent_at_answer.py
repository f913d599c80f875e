"""Client-first pacing (power/predictive) on Twilio: the engine picks the agent when the
client answers live (DialRequest.agent_at_answer), or the client hears the information
message and the call is recorded `abandoned`. REST mocked with respx, webhooks signed
the way Twilio signs them."""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from typing import Any

from dialer.domain import CallStatus
from providers.base import AgentLeg, DialRequest
from providers.twilio import TwilioProvider
from tests.support.fake_twilio import (
    CALLER,
    CLIENT,
    Events,
    FakeTwilio,
    ScaledClock,
    Webhooks,
    app_for,
    finish,
    form1,
    parse_dial,
    request,
    twiml,
)

MESSAGE = "This was Acme Bank. To stop our calls, reply STOP to 1234."
AGENT_TARGET = "sip:205@pbx.local"


class Engine:
    """Stands in for the dispatcher's AgentAtAnswer: records each question, answers `leg`
    after `delay` seconds."""

    def __init__(self, leg: AgentLeg | None, delay: float = 0.0):
        self.leg = leg
        self.delay = delay
        self.asked: list[datetime] = []

    async def __call__(self, at: datetime) -> AgentLeg | None:
        self.asked.append(at)
        await asyncio.sleep(self.delay)
        return self.leg


def paced(engine: Engine, **kw: Any) -> DialRequest:
    base: dict[str, Any] = dict(
        connect_mode="client_first",
        connect_to="",  # no agent reserved: the engine names one at the answer
        agent=None,
        ring_timeout=timedelta(seconds=10),
        min_ring=timedelta(seconds=15),
        agent_at_answer=engine,
        information_message=MESSAGE,
        detect_machine=True,
    )
    base.update(kw)
    return request(**base)


def say_then_hangup(xml: str) -> str:
    """The text of <Say> when the TwiML is exactly <Say>...</Say><Hangup/>; else fails."""
    root = ET.fromstring(xml)
    assert [child.tag for child in root] == ["Say", "Hangup"], xml
    return (root[0].text or "").strip()


async def test_live_answer_is_bridged_to_the_engines_agent(
    provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock
) -> None:
    hooks = Webhooks(app_for(provider), clock)
    engine = Engine(AgentLeg("ivanova", AGENT_TARGET), delay=0.2)
    events = Events()
    task = asyncio.create_task(provider.dial(paced(engine), events))
    (call,) = await fake.wait_created(1)
    form = form1(call)
    assert form["To"] == CLIENT
    assert form["Timeout"] == "15"  # ring_timeout 10 s, but never below min_ring
    assert form["MachineDetection"] == "Enable"  # synchronous AMD: AnsweredBy comes with the TwiML request
    url = form["StatusCallback"]
    await hooks.status(url, call.sid, "initiated", 0)  # type: ignore[arg-type]
    await hooks.status(url, call.sid, "ringing", 1)  # type: ignore[arg-type]
    await asyncio.sleep(0.3)
    t0 = time.monotonic()
    dial = parse_dial(await twiml(hooks, call, AnsweredBy="human"))
    assert time.monotonic() - t0 >= 0.2  # the TwiML waited for the engine's answer
    assert len(engine.asked) == 1 and abs((engine.asked[0] - clock.now()).total_seconds()) < 1
    assert dial.noun == "Sip" and dial.target == AGENT_TARGET and dial.attrs["callerId"] == CALLER
    agent_leg = fake.add_call(to=AGENT_TARGET, from_=CALLER, parent=call.sid)
    await hooks.status(dial.child_status_url, agent_leg.sid, "in-progress", 2, parent=call.sid)
    await hooks.status(dial.child_status_url, agent_leg.sid, "completed", 3, parent=call.sid, CallDuration="95")
    r = await hooks.post(dial.action, {"CallSid": call.sid, "DialCallStatus": "completed", "DialCallDuration": "93",
                                       "DialCallSid": agent_leg.sid})  # fmt: skip
    assert "<Hangup" in r.text and "<Say" not in r.text
    await hooks.status(url, call.sid, "completed", 3, CallDuration="99", AnsweredBy="human")  # type: ignore[arg-type]
    result = await finish(task)
    assert result.status is CallStatus.ANSWERED and result.agent == "ivanova"
    assert result.talk_s == 93
    assert 0.25 <= result.ring_s <= 2.0, result.ring_s
    assert events.kinds == ["created", "ringing", "answered", "ended"]


async def test_no_agent_free_plays_the_message_and_is_abandoned(
    provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock
) -> None:
    hooks = Webhooks(app_for(provider), clock)
    engine = Engine(None, delay=0.1)
    events = Events()
    task = asyncio.create_task(provider.dial(paced(engine), events))
    (call,) = await fake.wait_created(1)
    url = form1(call)["StatusCallback"]
    await hooks.status(url, call.sid, "ringing", 1)  # type: ignore[arg-type]
    await asyncio.sleep(0.3)
    xml = await twiml(hooks, call, AnsweredBy="human")
    assert say_then_hangup(xml) == MESSAGE
    assert "<Dial" not in xml
    # the message is read before the call ends: the result waits for the call's own end
    await asyncio.sleep(0.2)
    assert not task.done()
    await hooks.status(url, call.sid, "completed", 2, CallDuration="9", AnsweredBy="human")  # type: ignore[arg-type]
    result = await finish(task)
    assert result.status is CallStatus.ABANDONED
    assert result.answered_at is not None and result.talk_s == 0 and result.agent is None
    assert result.dialed_at <= result.answered_at <= result.ended_at
    assert 0.25 <= result.ring_s <= 2.0, result.ring_s
    assert len(engine.asked) == 1
    assert "answered" in events.kinds  # a live answer, though no conversation


async def test_machine_never_reaches_the_engine(provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock) -> None:
    hooks = Webhooks(app_for(provider), clock)
    engine = Engine(AgentLeg("ivanova", AGENT_TARGET))
    events = Events()
    task = asyncio.create_task(provider.dial(paced(engine), events))
    (call,) = await fake.wait_created(1)
    xml = await twiml(hooks, call, AnsweredBy="machine_start")
    assert "<Dial" not in xml and "<Say" not in xml and "<Hangup />" in xml
    await hooks.status(form1(call)["StatusCallback"], call.sid, "completed", 3, CallDuration="4",  # type: ignore[arg-type]
                       AnsweredBy="machine_start")  # fmt: skip
    result = await finish(task)
    assert result.status is CallStatus.MACHINE and result.agent is None
    assert engine.asked == []
    assert "answered" not in events.kinds


async def test_without_detect_machine_no_amd_and_the_answer_is_live(
    provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock
) -> None:
    hooks = Webhooks(app_for(provider), clock)
    engine = Engine(None)
    task = asyncio.create_task(provider.dial(paced(engine, detect_machine=False, ring_timeout=timedelta(seconds=40))))
    (call,) = await fake.wait_created(1)
    form = form1(call)
    assert "MachineDetection" not in form and form["Timeout"] == "40"  # above min_ring: the campaign's own
    assert say_then_hangup(await twiml(hooks, call)) == MESSAGE
    await hooks.status(form["StatusCallback"], call.sid, "completed", 2, CallDuration="8")  # type: ignore[arg-type]
    assert (await finish(task)).status is CallStatus.ABANDONED


async def test_repeated_twiml_request_asks_the_engine_once(
    provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock
) -> None:
    hooks = Webhooks(app_for(provider), clock)
    engine = Engine(AgentLeg("petrov", "+73412000099"), delay=0.2)
    task = asyncio.create_task(provider.dial(paced(engine)))
    (call,) = await fake.wait_created(1)
    first, second = await asyncio.gather(twiml(hooks, call, AnsweredBy="human"), twiml(hooks, call, AnsweredBy="human"))
    assert first == second and parse_dial(first).target == "+73412000099"
    assert len(engine.asked) == 1
    await hooks.status(form1(call)["StatusCallback"], call.sid, "completed", 3, CallDuration="1")  # type: ignore[arg-type]
    result = await finish(task)
    assert result.agent == "petrov"


async def test_agent_not_picking_up_gives_the_message_and_abandoned(
    provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock
) -> None:
    hooks = Webhooks(app_for(provider), clock)
    engine = Engine(AgentLeg("ivanova", AGENT_TARGET))
    task = asyncio.create_task(provider.dial(paced(engine)))
    (call,) = await fake.wait_created(1)
    dial = parse_dial(await twiml(hooks, call, AnsweredBy="human"))
    r = await hooks.post(dial.action, {"CallSid": call.sid, "DialCallStatus": "no-answer", "DialCallDuration": "0"})
    assert say_then_hangup(r.text) == MESSAGE  # the client is still on the line: tell them who called
    await asyncio.sleep(1.3)  # longer than the 1 s settle after <Dial action>: the message is not cut
    assert not task.done() and fake.updates == []
    await hooks.status(form1(call)["StatusCallback"], call.sid, "completed", 4, CallDuration="30", AnsweredBy="human")  # type: ignore[arg-type]
    result = await finish(task)
    assert result.status is CallStatus.ABANDONED and result.talk_s == 0
    assert result.agent == "ivanova"  # the reserved agent, so the engine can tell who did not answer
    assert "agent leg no-answer" in (result.error or "")


async def test_unknown_call_at_another_worker_connects_no_one(
    provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock
) -> None:
    """Callbacks carry the placing worker's public URL; a TwiML request that reaches a
    worker which does not follow the call (misrouted) is hung up on, never bridged."""
    hooks = Webhooks(app_for(provider), clock)
    call = fake.add_call(
        to=CLIENT, from_=CALLER, form={"Url": [f"{provider.public_base_url}/webhooks/twilio/twiml?call=elsewhere"]}
    )
    xml = await twiml(hooks, call, AnsweredBy="human")
    assert "<Dial" not in xml and "<Hangup />" in xml


async def test_client_hanging_up_while_the_engine_looks_is_abandoned_with_its_agent(
    provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock
) -> None:
    hooks = Webhooks(app_for(provider), clock)
    engine = Engine(AgentLeg("ivanova", AGENT_TARGET), delay=0.4)
    task = asyncio.create_task(provider.dial(paced(engine)))
    (call,) = await fake.wait_created(1)
    answer = asyncio.create_task(twiml(hooks, call, AnsweredBy="human"))
    await asyncio.sleep(0.1)  # the engine is looking for an agent
    await hooks.status(form1(call)["StatusCallback"], call.sid, "completed", 3, CallDuration="1", AnsweredBy="human")  # type: ignore[arg-type]
    result = await finish(task)
    assert "<Dial" not in await answer and len(engine.asked) == 1
    # the question was answered, not cancelled: the agent it reserved is in the result
    assert result.status is CallStatus.ABANDONED and result.agent == "ivanova" and result.talk_s == 0
