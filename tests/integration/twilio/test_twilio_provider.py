"""The Twilio provider against a respx-mocked REST API and signed webhooks."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
import structlog

from dialer import logging as dlog
from dialer.domain import CallStatus
from providers.base import ProviderError, create_provider
from providers.twilio import TwilioProvider
from providers.twilio.settings import TwilioSettingsError
from tests.support.fake_twilio import (
    AGENT,
    AUTH_TOKEN,
    CALLER,
    CLIENT,
    FAST_SETTINGS,
    PUBLIC,
    Events,
    FakeTwilio,
    ScaledClock,
    Webhooks,
    agent_first_call,
    app_for,
    finish,
    form1,
    make_provider,
    parse_dial,
    request,
    twilio_error,
    twiml,
)

# ---------------------------------------------------------------- settings


def test_settings_errors_name_provider_and_field(twilio_env: None, clock: ScaledClock) -> None:
    with pytest.raises(TwilioSettingsError) as err:
        TwilioProvider("acme", {"cps": 0, "colour": "blue", "trusted_proxies": ["not-an-ip"]}, clock)
    text = str(err.value)
    assert "providers.acme.cps:" in text
    assert "providers.acme.colour: unknown setting" in text
    assert "providers.acme.trusted_proxies" in text and "not-an-ip" in text
    with pytest.raises(TwilioSettingsError, match="public_base_url is required"):
        TwilioProvider("acme", {}, clock)
    with pytest.raises(TwilioSettingsError, match="public_base_url must be an absolute http"):
        TwilioProvider("acme", {"public_base_url": "dialer.example.com"}, clock)
    with pytest.raises(TwilioSettingsError, match="machine_detection: on_machine: message needs"):
        TwilioProvider("acme", {"public_base_url": PUBLIC, "machine_detection": {"on_machine": "message"}}, clock)


def test_registered_as_builtin_type(twilio_env: None, clock: ScaledClock) -> None:
    p = create_provider("tw", "twilio", FAST_SETTINGS, clock)
    assert isinstance(p, TwilioProvider)


async def test_missing_secret_names_the_variable(clock: ScaledClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIALER_TEST_TWILIO_SID", raising=False)
    p = make_provider(clock)
    with pytest.raises(LookupError, match="DIALER_TEST_TWILIO_SID"):
        await p.start()


# ---------------------------------------------------------------- agent first


async def test_agent_first_form_fields_twiml_and_result(
    provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock
) -> None:
    hooks = Webhooks(app_for(provider), clock)
    events = Events()
    task = asyncio.create_task(provider.dial(request(), events))
    (call,) = await fake.wait_created(1)
    assert form1(call) == {
        "To": AGENT,
        "From": CALLER,
        "Url": f"{PUBLIC}/webhooks/twilio/twiml?call=call-1",
        "Method": "POST",
        "StatusCallback": f"{PUBLIC}/webhooks/twilio/status?call=call-1&leg=parent",
        "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
        "StatusCallbackMethod": "POST",
        "Timeout": "20",  # the agent's phone rings agent_ring_timeout
        "TimeLimit": str(20 + 30 + 12 * 60 + 60),  # backstop: agent ring + ring + hard cap + slack
    }
    dial = await agent_first_call(hooks, fake, call, "completed", talk=187)
    assert dial is not None
    assert dial.attrs == {
        "action": f"{PUBLIC}/webhooks/twilio/dial?call=call-1",
        "answerOnBridge": "true",
        "callerId": CALLER,
        "method": "POST",
        "timeLimit": str(12 * 60),
        "timeout": "30",
    }
    assert dial.noun == "Number" and dial.target == CLIENT
    assert dial.noun_attrs == {
        "statusCallback": f"{PUBLIC}/webhooks/twilio/status?call=call-1&leg=child",
        "statusCallbackEvent": "initiated ringing answered completed",
        "statusCallbackMethod": "POST",
    }
    result = await finish(task)
    assert result.status is CallStatus.ANSWERED
    assert result.talk_s == 187
    assert result.provider_call_id == call.sid
    assert result.answered_at is not None and result.error is None
    assert events.kinds == ["created", "ringing", "answered", "ended"]
    assert events[0].provider_call_id == call.sid


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [("busy", CallStatus.BUSY), ("no-answer", CallStatus.NO_ANSWER), ("failed", CallStatus.FAILED)],
)
async def test_agent_first_client_leg_outcomes(
    provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock, outcome: str, expected: CallStatus
) -> None:
    hooks = Webhooks(app_for(provider), clock)
    task = asyncio.create_task(provider.dial(request()))
    (call,) = await fake.wait_created(1)
    await agent_first_call(hooks, fake, call, outcome)
    result = await finish(task)
    assert result.status is expected
    assert result.talk_s == 0 and result.answered_at is None


async def test_agent_not_answering_is_canceled_not_an_attempt(
    provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock
) -> None:
    hooks = Webhooks(app_for(provider), clock)
    task = asyncio.create_task(provider.dial(request()))
    (call,) = await fake.wait_created(1)
    url = form1(call)["StatusCallback"]
    await hooks.status(url, call.sid, "initiated", 0)  # type: ignore[arg-type]
    await hooks.status(url, call.sid, "ringing", 1)  # type: ignore[arg-type]
    await hooks.status(url, call.sid, "no-answer", 2)  # type: ignore[arg-type]
    result = await finish(task)
    assert result.status is CallStatus.CANCELED
    assert "agent leg no-answer" in (result.error or "")


async def test_agent_leg_failure_is_failed_not_canceled(
    provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock
) -> None:
    """A broken agent target must not look like 'not an attempt, retry at once'."""
    hooks = Webhooks(app_for(provider), clock)
    task = asyncio.create_task(provider.dial(request()))
    (call,) = await fake.wait_created(1)
    await hooks.status(form1(call)["StatusCallback"], call.sid, "failed", 1, ErrorCode="32009")  # type: ignore[arg-type]
    result = await finish(task)
    assert result.status is CallStatus.FAILED
    assert "agent leg failed (sip:101@pbx.local)" in (result.error or "") and "32009" in (result.error or "")


async def test_check_reports_bad_credentials(provider: TwilioProvider, fake: FakeTwilio) -> None:
    fake.account_route.mock(return_value=twilio_error(401, 20003, "Authenticate"))
    with pytest.raises(ProviderError, match="HTTP 401 code 20003"):
        await provider.check()


async def test_queue_target_is_refused_before_dialing(provider: TwilioProvider, fake: FakeTwilio) -> None:
    with pytest.raises(ProviderError, match="cannot dial the agent target 'queue:care'"):
        await provider.dial(request(connect_to="queue:care"))
    assert not fake.create_route.called


# ---------------------------------------------------------------- client first


async def test_client_first_form_fields_and_human_bridged(
    provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock
) -> None:
    hooks = Webhooks(app_for(provider), clock)
    events = Events()
    task = asyncio.create_task(provider.dial(request(connect_mode="client_first"), events))
    (call,) = await fake.wait_created(1)
    assert form1(call) == {
        "To": CLIENT,
        "From": CALLER,
        "Url": f"{PUBLIC}/webhooks/twilio/twiml?call=call-1",
        "Method": "POST",
        "StatusCallback": f"{PUBLIC}/webhooks/twilio/status?call=call-1&leg=parent",
        "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
        "StatusCallbackMethod": "POST",
        "Timeout": "30",
        "MachineDetection": "Enable",
        "MachineDetectionTimeout": "30",
        "TimeLimit": str(30 + 30 + 20 + 12 * 60 + 60),  # ring + detection + agent ring + cap + slack
    }
    url = form1(call)["StatusCallback"]
    await hooks.status(url, call.sid, "initiated", 0)  # type: ignore[arg-type]
    await hooks.status(url, call.sid, "ringing", 1)  # type: ignore[arg-type]
    dial = parse_dial(await twiml(hooks, call, AnsweredBy="human"))
    assert dial.noun == "Sip" and dial.target == AGENT
    assert dial.attrs["timeLimit"] == str(12 * 60) and dial.attrs["timeout"] == "20"
    await hooks.status(url, call.sid, "in-progress", 2, AnsweredBy="human")  # type: ignore[arg-type]
    agent_leg = fake.add_call(to=AGENT, from_=CALLER, parent=call.sid)
    await hooks.status(dial.child_status_url, agent_leg.sid, "in-progress", 2, parent=call.sid)
    await hooks.status(dial.child_status_url, agent_leg.sid, "completed", 3, parent=call.sid, CallDuration="240")
    await hooks.post(dial.action, {"CallSid": call.sid, "DialCallStatus": "completed", "DialCallDuration": "238",
                                   "DialCallSid": agent_leg.sid})  # fmt: skip
    await hooks.status(url, call.sid, "completed", 3, CallDuration="251", AnsweredBy="human")  # type: ignore[arg-type]
    result = await finish(task)
    assert result.status is CallStatus.ANSWERED
    assert result.talk_s == 238  # the bridged leg, not the whole call
    assert result.provider_call_id == f"{call.sid};client_first"
    assert events.kinds == ["created", "ringing", "answered", "ended"]


async def test_client_first_abandoned_when_no_agent_picks_up(
    provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock
) -> None:
    hooks = Webhooks(app_for(provider), clock)
    task = asyncio.create_task(provider.dial(request(connect_mode="client_first")))
    (call,) = await fake.wait_created(1)
    dial = parse_dial(await twiml(hooks, call, AnsweredBy="human"))
    await hooks.post(dial.action, {"CallSid": call.sid, "DialCallStatus": "no-answer", "DialCallDuration": "0"})
    await hooks.status(form1(call)["StatusCallback"], call.sid, "completed", 4, CallDuration="22", AnsweredBy="human")  # type: ignore[arg-type]
    result = await finish(task)
    assert result.status is CallStatus.FAILED and result.talk_s == 0
    assert result.error == "abandoned: the client answered, agent leg no-answer"


@pytest.mark.parametrize("answered_by", ["machine_start", "fax"])
async def test_client_first_machine_is_hung_up_and_recorded_as_machine(
    provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock, answered_by: str
) -> None:
    hooks = Webhooks(app_for(provider), clock)
    events = Events()
    task = asyncio.create_task(provider.dial(request(connect_mode="client_first"), events))
    (call,) = await fake.wait_created(1)
    xml = await twiml(hooks, call, AnsweredBy=answered_by)
    assert "<Dial" not in xml and "<Hangup />" in xml
    url = form1(call)["StatusCallback"]
    await hooks.status(url, call.sid, "completed", 3, CallDuration="4", AnsweredBy=answered_by)  # type: ignore[arg-type]
    result = await finish(task)
    assert result.status is CallStatus.MACHINE
    assert result.talk_s == 0
    assert "answered" not in events.kinds


async def test_client_first_machine_gets_the_message(twilio_env: None, fake: FakeTwilio, clock: ScaledClock) -> None:
    p = make_provider(
        clock, machine_detection={"on_machine": "message", "message": "Перезвоните нам", "language": "ru-RU"}
    )
    await p.start()
    try:
        hooks = Webhooks(app_for(p), clock)
        task = asyncio.create_task(p.dial(request(connect_mode="client_first")))
        (call,) = await fake.wait_created(1)
        assert form1(call)["MachineDetection"] == "DetectMessageEnd"
        xml = await twiml(hooks, call, AnsweredBy="machine_end_beep")
        assert '<Say language="ru-RU">Перезвоните нам</Say><Hangup />' in xml
        await hooks.status(form1(call)["StatusCallback"], call.sid, "completed", 4, AnsweredBy="machine_end_beep")  # type: ignore[arg-type]
        assert (await finish(task)).status is CallStatus.MACHINE
    finally:
        await p.close()


async def test_invalid_client_number_is_recorded_not_raised(provider: TwilioProvider, fake: FakeTwilio) -> None:
    fake.create_effects = [twilio_error(400, 21211, "The 'To' number +7912 is not a valid phone number.")]
    result = await provider.dial(request(connect_mode="client_first"))
    assert result.status is CallStatus.INVALID_NUMBER
    assert "21211" in (result.error or "")
    assert fake.create_route.call_count == 1


async def test_other_4xx_is_a_provider_error(provider: TwilioProvider, fake: FakeTwilio) -> None:
    fake.create_effects = [twilio_error(400, 21210, "The source phone number provided is not yet verified")]
    with pytest.raises(ProviderError, match="21210"):
        await provider.dial(request())
    assert fake.create_route.call_count == 1


# ---------------------------------------------------------------- retries, never twice


async def test_429_then_success(provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock) -> None:
    fake.create_effects = [twilio_error(429, 20429, "Too Many Requests"), "ok"]
    task = asyncio.create_task(provider.dial(request(connect_mode="client_first")))
    (call,) = await fake.wait_created(1)
    assert fake.create_route.call_count == 2
    await Webhooks(app_for(provider), clock).status(form1(call)["StatusCallback"], call.sid, "busy", 2)  # type: ignore[arg-type]
    assert (await finish(task)).status is CallStatus.BUSY
    assert not fake.list_route.called  # a 429 is not ambiguous: no lookup


async def test_429_retries_are_bounded(twilio_env: None, fake: FakeTwilio, clock: ScaledClock) -> None:
    p = make_provider(clock, max_retries=2)
    await p.start()
    try:
        fake.create_effects = [twilio_error(429, 20429, "Too Many Requests")] * 5
        with pytest.raises(ProviderError, match="gave up after 3 attempts"):
            await p.dial(request())
        assert fake.create_route.call_count == 3
    finally:
        await p.close()


async def test_refused_connection_is_retried(provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock) -> None:
    fake.create_effects = [httpx.ConnectError("connection refused"), "ok"]
    task = asyncio.create_task(provider.dial(request(connect_mode="client_first")))
    (call,) = await fake.wait_created(1)
    await Webhooks(app_for(provider), clock).status(form1(call)["StatusCallback"], call.sid, "no-answer", 2)  # type: ignore[arg-type]
    assert (await finish(task)).status is CallStatus.NO_ANSWER
    assert fake.create_route.call_count == 2 and len(fake.calls) == 1


@pytest.mark.parametrize(
    "error",
    [twilio_error(500, 20500, "Internal Server Error"), httpx.ReadTimeout("read timed out")],
    ids=["500", "read-timeout"],
)
async def test_ambiguous_create_finds_the_call_and_never_posts_twice(
    provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock, error: Any
) -> None:
    fake.add_call(to=CLIENT, from_=CALLER, status="completed", created=clock.start - timedelta(hours=3))  # an old call
    fake.create_effects = [("create_then", error)]
    events = Events()
    task = asyncio.create_task(provider.dial(request(connect_mode="client_first"), events))
    (call,) = await fake.wait_created(1)
    async with asyncio.timeout(5):
        while not any(e.kind == "created" for e in events):
            await asyncio.sleep(0.01)
    assert events[0].provider_call_id == f"{call.sid};client_first"
    assert fake.list_route.called
    listed = fake.list_route.calls.last.request.url.params
    assert listed["To"] == CLIENT and listed["From"] == CALLER
    await Webhooks(app_for(provider), clock).status(form1(call)["StatusCallback"], call.sid, "busy", 2)  # type: ignore[arg-type]
    assert (await finish(task)).status is CallStatus.BUSY
    assert fake.create_route.call_count == 1
    assert len(fake.created) == 1


async def test_ambiguous_create_learns_the_sid_from_a_callback(
    twilio_env: None, fake: FakeTwilio, clock: ScaledClock
) -> None:
    p = make_provider(clock, lookup_delay="5s")
    await p.start()
    try:
        hooks = Webhooks(app_for(p), clock)
        fake.create_effects = [("create_then", twilio_error(502, 20500, "Bad Gateway"))]
        task = asyncio.create_task(p.dial(request(connect_mode="client_first")))
        (call,) = await fake.wait_created(1)
        # Twilio reports the call it did create; the callback URL carries our call id.
        await hooks.status(form1(call)["StatusCallback"], call.sid, "initiated", 0)  # type: ignore[arg-type]
        await hooks.status(form1(call)["StatusCallback"], call.sid, "no-answer", 2)  # type: ignore[arg-type]
        result = await finish(task)
        assert result.status is CallStatus.NO_ANSWER and result.provider_call_id == f"{call.sid};client_first"
        assert fake.create_route.call_count == 1 and not fake.list_route.called
    finally:
        await p.close()


async def test_5xx_without_a_call_is_retried(provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock) -> None:
    fake.create_effects = [twilio_error(503, 20503, "Service Unavailable"), "ok"]
    task = asyncio.create_task(provider.dial(request(connect_mode="client_first")))
    (call,) = await fake.wait_created(1)
    await Webhooks(app_for(provider), clock).status(form1(call)["StatusCallback"], call.sid, "busy", 2)  # type: ignore[arg-type]
    assert (await finish(task)).status is CallStatus.BUSY
    assert fake.list_route.call_count == 1  # looked up first: nothing there, so the retry is safe
    assert fake.create_route.call_count == 2 and len(fake.calls) == 1


async def test_undecidable_create_is_not_retried(twilio_env: None, fake: FakeTwilio, clock: ScaledClock) -> None:
    p = make_provider(clock, watchdog_slack="0.2s")
    await p.start()
    try:
        fake.create_effects = [httpx.ReadTimeout("read timed out")]
        fake.list_effect = twilio_error(500, 20500, "Internal Server Error")
        result = await asyncio.wait_for(p.dial(request(connect_mode="client_first")), 5)
        assert result.status is CallStatus.FAILED
        assert "not retried so the client is not called twice" in (result.error or "")
        assert fake.create_route.call_count == 1
    finally:
        await p.close()


async def test_two_unattributable_candidates_are_not_retried(
    twilio_env: None, fake: FakeTwilio, clock: ScaledClock
) -> None:
    p = make_provider(clock, watchdog_slack="0.2s")
    await p.start()
    try:
        for _ in range(2):
            fake.add_call(to=CLIENT, from_=CALLER, created=clock.now())
        fake.create_effects = [twilio_error(500, 20500, "Internal Server Error")]
        result = await asyncio.wait_for(p.dial(request(connect_mode="client_first")), 5)
        assert result.status is CallStatus.FAILED and "2 recent calls" in (result.error or "")
        assert fake.create_route.call_count == 1
    finally:
        await p.close()


async def test_pacing_to_cps(twilio_env: None, fake: FakeTwilio, clock: ScaledClock) -> None:
    p = make_provider(clock, cps=10)
    await p.start()
    try:
        tasks = [asyncio.create_task(p.dial(request(f"c{i}", connect_mode="client_first"))) for i in range(4)]
        calls = await fake.wait_created(4)
        gaps = [b - a for a, b in zip(fake.create_times, fake.create_times[1:])]
        # paced before each request (timings measured where respx answers: allow jitter)
        assert sum(gaps) >= 0.28 and min(gaps) >= 0.05, gaps
        hooks = Webhooks(app_for(p), clock)
        for call in calls:
            await hooks.status(form1(call)["StatusCallback"], call.sid, "busy", 2)  # type: ignore[arg-type]
        assert [r.status for r in await asyncio.wait_for(asyncio.gather(*tasks), 5)] == [CallStatus.BUSY] * 4
    finally:
        await p.close()


# ---------------------------------------------------------------- watchdog


async def test_watchdog_ends_an_overlong_call(twilio_env: None, fake: FakeTwilio) -> None:
    clock = ScaledClock(speed=20)
    fake.clock = clock.now
    p = make_provider(clock, watchdog_slack="2s", agent_ring_timeout="5s", final_grace="1s")
    await p.start()
    try:
        hooks = Webhooks(app_for(p), clock)
        task = asyncio.create_task(p.dial(request(ring_timeout=timedelta(seconds=5), hard_limit=timedelta(seconds=10))))
        (call,) = await fake.wait_created(1)
        url = form1(call)["StatusCallback"]
        await hooks.status(url, call.sid, "in-progress", 2)  # type: ignore[arg-type]
        dial = parse_dial(await twiml(hooks, call))
        child = fake.add_call(to=CLIENT, from_=CALLER, parent=call.sid, status="in-progress", started=clock.now())
        await hooks.status(dial.child_status_url, child.sid, "in-progress", 2, parent=call.sid)
        call.status = "in-progress"

        def hang_up(c: Any, status: str) -> None:  # Twilio ends both legs
            for leg in (c, child):
                leg.status, leg.ended = "completed", clock.now()
            child.duration = 16

        fake.on_update = hang_up
        # The callbacks for the hang-up never arrive (as if the endpoint were down).
        result = await finish(task, 5)
        assert fake.updates and fake.updates[0] == (call.sid, {"Status": ["completed"]})
        assert result.status is CallStatus.ANSWERED and result.talk_s == 16
        assert "watchdog ended the call after 22 s" in (result.error or "")
    finally:
        await p.close()


async def test_poll_by_sid_when_callbacks_stop(twilio_env: None, fake: FakeTwilio) -> None:
    clock = ScaledClock(speed=20)
    fake.clock = clock.now
    p = make_provider(clock, poll_interval="10s")
    await p.start()
    try:
        task = asyncio.create_task(p.dial(request()))
        (call,) = await fake.wait_created(1)
        # Not a single callback: the call happened and ended at Twilio.
        call.status, call.started, call.ended, call.duration = "completed", clock.now(), clock.now(), 70
        fake.add_call(to=CLIENT, from_=CALLER, parent=call.sid, status="completed", duration=63,
                      started=clock.now() - timedelta(seconds=70), ended=clock.now())  # fmt: skip
        result = await finish(task, 5)
        assert fake.fetch_route.called and not fake.update_route.called
        assert result.status is CallStatus.ANSWERED and result.talk_s == 63
    finally:
        await p.close()


async def test_cancel_ends_the_live_call(provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock) -> None:
    task = asyncio.create_task(provider.dial(request()))
    (call,) = await fake.wait_created(1)
    await Webhooks(app_for(provider), clock).status(form1(call)["StatusCallback"], call.sid, "ringing", 1)  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fake.updates and fake.updates[0][0] == call.sid


# ---------------------------------------------------------------- fetch (reconciliation)


async def test_fetch_final_agent_first(provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock) -> None:
    t = clock.now()
    parent = fake.add_call(to=AGENT, from_=CALLER, status="completed", started=t, ended=t + timedelta(seconds=200),
                           duration=195)  # fmt: skip
    fake.add_call(to=CLIENT, from_=CALLER, parent=parent.sid, status="completed", started=t + timedelta(seconds=5),
                  ended=t + timedelta(seconds=199), duration=181)  # fmt: skip
    result = await provider.fetch(parent.sid)
    assert result is not None
    assert result.status is CallStatus.ANSWERED and result.talk_s == 181
    assert result.provider_call_id == parent.sid


async def test_fetch_client_first_and_unknown(provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock) -> None:
    call = fake.add_call(to=CLIENT, from_=CALLER, status="no-answer", started=clock.now(),
                         ended=clock.now() + timedelta(seconds=30))  # fmt: skip
    result = await provider.fetch(f"{call.sid};client_first")
    assert result is not None and result.status is CallStatus.NO_ANSWER and result.ring_s == 30
    agent_first = await provider.fetch(call.sid)  # the same call read as agent-first: the agent never answered
    assert agent_first is not None and agent_first.status is CallStatus.CANCELED
    assert await provider.fetch("CA" + "f" * 32) is None  # 404: unknown
    fake.fetch_route.side_effect = None
    fake.fetch_route.mock(return_value=twilio_error(503, 20503, "Service Unavailable"))
    with pytest.raises(ProviderError, match="fetch call failed after"):
        await provider.fetch(call.sid)


async def test_fetch_ends_a_live_orphan(provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock) -> None:
    t = clock.now()
    call = fake.add_call(to=CLIENT, from_=CALLER, status="in-progress", started=t, answered_by="human")
    agent_leg = fake.add_call(to=AGENT, from_=CALLER, parent=call.sid, status="in-progress", started=t)

    def hang_up(c: Any, status: str) -> None:
        for leg in (c, agent_leg):
            leg.status, leg.ended = "completed", t + timedelta(seconds=75)
        agent_leg.duration = 70

    fake.on_update = hang_up
    result = await provider.fetch(f"{call.sid};client_first")
    assert fake.updates == [(call.sid, {"Status": ["completed"]})]
    assert result is not None and result.status is CallStatus.ANSWERED and result.talk_s == 70
    assert "ended by reconciliation" in (result.error or "")


# ---------------------------------------------------------------- environment and secrets


async def test_stray_twilio_region_and_edge_are_ignored(
    twilio_env: None, fake: FakeTwilio, clock: ScaledClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_REGION", "au1")
    monkeypatch.setenv("TWILIO_EDGE", "sydney")
    p = make_provider(clock)
    await p.start()
    try:
        await p.check()  # would hit api.sydney.au1.twilio.mock, which respx does not know
        assert fake.account_route.called
    finally:
        await p.close()


async def test_auth_token_never_logged(twilio_env: None, fake: FakeTwilio, clock: ScaledClock) -> None:
    out = io.StringIO()
    dlog.configure(json=True, stream=out, level=10)
    try:
        p = make_provider(clock)
        await p.start()
        hooks = Webhooks(app_for(p), clock)
        task = asyncio.create_task(p.dial(request()))
        (call,) = await fake.wait_created(1)
        await hooks.post(form1(call)["StatusCallback"], {"CallSid": call.sid, "CallStatus": "busy"}, signature="forged")  # type: ignore[arg-type]
        await agent_first_call(hooks, fake, call, "busy")
        await finish(task)
        structlog.get_logger("test").info("oops", detail=f"token={AUTH_TOKEN}")
        await p.close()
    finally:
        structlog.reset_defaults()
    text = out.getvalue()
    assert "twilio_call_ended" in text and "twilio_webhook_rejected" in text
    assert AUTH_TOKEN not in text
    assert re.search(r"token=\*\*\*", text)
