"""A call ends when its outcome is known: once <Dial action> has reported the bridge's
outcome, a lost final status callback of the call holds neither the line nor the agent
for `poll_interval` (client first) or `final_grace` (agent first)."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
import pytest

from dialer.domain import CallStatus
from dialer.testcall import test_call as run_test_call
from providers.twilio import TwilioProvider
from tests.support.fake_twilio import (
    AGENT,
    CALLER,
    PUBLIC,
    FakeTwilio,
    ScaledClock,
    Webhooks,
    app_for,
    form1,
    make_provider,
    parse_dial,
    request,
    sign,
    twilio_config,
    twiml,
)

# Production defaults for the waits this is about: a slow poll, a 10 s grace.
SLOW = {"poll_interval": "30s", "final_grace": "10s"}
QUICK = 3.0  # seconds: the outcome known, the call must be over well before 10 s


@pytest.fixture
async def slow_provider(twilio_env: None, fake: FakeTwilio, clock: ScaledClock):  # type: ignore[no-untyped-def]
    p = make_provider(clock, **SLOW)
    await p.start()
    yield p
    await p.close()


@pytest.mark.parametrize("still_live", [False, True], ids=["call-ended", "call-still-live"])
async def test_client_first_final_callback_lost(
    slow_provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock, still_live: bool
) -> None:
    hooks = Webhooks(app_for(slow_provider), clock)
    task = asyncio.create_task(slow_provider.dial(request(connect_mode="client_first")))
    (call,) = await fake.wait_created(1)
    url = form1(call)["StatusCallback"]
    await hooks.status(url, call.sid, "ringing", 1)  # type: ignore[arg-type]
    dial = parse_dial(await twiml(hooks, call, AnsweredBy="human"))
    await hooks.status(url, call.sid, "in-progress", 2, AnsweredBy="human")  # type: ignore[arg-type]
    agent_leg = fake.add_call(to=AGENT, from_=CALLER, parent=call.sid)
    await hooks.status(dial.child_status_url, agent_leg.sid, "in-progress", 2, parent=call.sid)
    # Twilio's own view: the <Hangup/> ended the call, or (a fault) it still runs.
    call.status = "in-progress" if still_live else "completed"
    t0 = time.monotonic()
    await hooks.post(dial.action, {"CallSid": call.sid, "DialCallStatus": "completed", "DialCallDuration": "1",
                                   "DialCallSid": agent_leg.sid})  # fmt: skip
    # ... and the call's final status callback never comes.
    result = await asyncio.wait_for(task, 15)
    took = time.monotonic() - t0
    assert took < QUICK, took
    assert result.status is CallStatus.ANSWERED and result.talk_s == 1
    ended = [form.get("Status", [""])[0] for sid, form in fake.updates if sid == call.sid]
    # Ended by us only when it was really still live.
    assert ended == (["completed"] if still_live else [])
    assert call.status == "completed"


@pytest.mark.parametrize("outcome", ["completed", "no-answer"])
async def test_client_first_abandoned_or_answered_without_final_callback(
    slow_provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock, outcome: str
) -> None:
    hooks = Webhooks(app_for(slow_provider), clock)
    task = asyncio.create_task(slow_provider.dial(request(connect_mode="client_first")))
    (call,) = await fake.wait_created(1)
    dial = parse_dial(await twiml(hooks, call, AnsweredBy="human"))
    call.status = "completed"
    talk = "7" if outcome == "completed" else "0"
    await hooks.post(dial.action, {"CallSid": call.sid, "DialCallStatus": outcome, "DialCallDuration": talk})
    t0 = time.monotonic()
    result = await asyncio.wait_for(task, 15)
    assert time.monotonic() - t0 < QUICK
    if outcome == "completed":
        assert result.status is CallStatus.ANSWERED and result.talk_s == 7
    else:
        assert result.status is CallStatus.FAILED and "abandoned" in (result.error or "")


@pytest.mark.parametrize("still_live", [False, True], ids=["call-ended", "call-still-live"])
async def test_agent_first_final_callback_lost(
    slow_provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock, still_live: bool
) -> None:
    hooks = Webhooks(app_for(slow_provider), clock)
    task = asyncio.create_task(slow_provider.dial(request()))
    (call,) = await fake.wait_created(1)
    parent = form1(call)["StatusCallback"]
    await hooks.status(parent, call.sid, "in-progress", 2)  # type: ignore[arg-type]
    dial = parse_dial(await twiml(hooks, call))
    child = fake.add_call(to=dial.target, from_=CALLER, parent=call.sid)
    await hooks.status(dial.child_status_url, child.sid, "in-progress", 2, parent=call.sid)
    await hooks.status(dial.child_status_url, child.sid, "completed", 3, parent=call.sid, CallDuration="1")
    call.status = "in-progress" if still_live else "completed"
    t0 = time.monotonic()
    await hooks.post(dial.action, {"CallSid": call.sid, "DialCallSid": child.sid, "DialCallStatus": "completed",
                                   "DialCallDuration": "1"})  # fmt: skip
    result = await asyncio.wait_for(task, 15)
    took = time.monotonic() - t0
    assert took < QUICK, took
    assert result.status is CallStatus.ANSWERED and result.talk_s == 1
    ended = [form.get("Status", [""])[0] for sid, form in fake.updates if sid == call.sid]
    assert ended == (["completed"] if still_live else [])


async def test_agent_first_final_callback_on_time_needs_no_rest_call(
    slow_provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock
) -> None:
    """The usual case: the final callback follows the <Dial action>: no fetch, no end."""
    hooks = Webhooks(app_for(slow_provider), clock)
    task = asyncio.create_task(slow_provider.dial(request()))
    (call,) = await fake.wait_created(1)
    parent = form1(call)["StatusCallback"]
    dial = parse_dial(await twiml(hooks, call))
    await hooks.post(dial.action, {"CallSid": call.sid, "DialCallStatus": "busy", "DialCallDuration": "0"})
    await hooks.status(parent, call.sid, "completed", 5)  # type: ignore[arg-type]
    result = await asyncio.wait_for(task, 5)
    assert result.status is CallStatus.BUSY
    assert not fake.fetch_route.called and not fake.updates


async def test_test_call_of_one_second_is_quick(
    twilio_env: None, fake: FakeTwilio, clock: ScaledClock, tmp_path: Path
) -> None:
    """`dialer test-call`, agent first, 1 s talk, the final callback lost: no 10 s wait."""
    config = twilio_config(tmp_path, **SLOW)
    lines: list[str] = []
    task = asyncio.create_task(run_test_call(config, "cold", "8 912 000-00-07", lines.append, clock=clock))
    (call,) = await fake.wait_created(1)
    listening = next(line for line in lines if "webhooks: listening on" in line)
    port = int(re.search(r"127\.0\.0\.1:(\d+)", listening).group(1))  # type: ignore[union-attr]

    async def post(url: str, params: dict[str, str]) -> httpx.Response:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            return await http.post(url[len(PUBLIC) :], data=params, headers={"X-Twilio-Signature": sign(url, params)})

    parent = form1(call)["StatusCallback"]
    await post(parent, {"CallSid": call.sid, "CallStatus": "in-progress", "SequenceNumber": "2"})  # type: ignore[arg-type]
    answer = await post(form1(call)["Url"], {"CallSid": call.sid, "CallStatus": "in-progress"})  # type: ignore[arg-type]
    action = re.search(r'action="([^"]+)"', answer.text).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    call.status = "completed"
    t0 = time.monotonic()
    await post(action, {"CallSid": call.sid, "DialCallStatus": "completed", "DialCallDuration": "1"})
    code = await asyncio.wait_for(task, 15)
    assert time.monotonic() - t0 < QUICK, "\n".join(lines)
    assert code == 0 and any("result: answered" in line and "talk 1.0 s" in line for line in lines), lines
