"""The Twilio provider under the real dispatcher and store: a campaign tick, start-up
reconciliation of calls left open by a dead worker, and `dialer test-call`."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from dialer.dispatcher import Dispatcher, lease_for
from dialer.domain import CallStatus
from dialer.model import CallStart
from dialer.store.sqlite import SqliteStore
from dialer.testcall import test_call as run_test_call
from providers.twilio import TwilioProvider
from tests.support.fake_twilio import (
    PUBLIC,
    FakeTwilio,
    ScaledClock,
    Webhooks,
    agent_first_call,
    app_for,
    form1,
    seed,
    sign,
    twilio_config,
)


def call_id_of(call: Any) -> str:
    return parse_qs(urlsplit(form1(call)["StatusCallback"]).query)["call"][0]  # type: ignore[arg-type]


async def test_campaign_tick_through_twilio(
    twilio_env: None, fake: FakeTwilio, clock: ScaledClock, store: SqliteStore, tmp_path: Path
) -> None:
    config = twilio_config(tmp_path)
    await seed(store, config, clock, 3)
    provider = TwilioProvider("twilio", config.providers["twilio"].settings, clock)
    await provider.start()
    providers = {"twilio": provider, "simulated": object()}
    dispatcher = Dispatcher(store, providers, config, clock, owner="w1")  # type: ignore[arg-type]
    hooks = Webhooks(app_for(provider), clock)
    try:
        result = await dispatcher.step()
        assert result.started == 3
        calls = await fake.wait_created(3)
        # each call went to its own agent, from the campaign's caller id
        assert sorted(form1(c)["To"] for c in calls) == ["sip:101@pbx.local", "sip:102@pbx.local", "sip:103@pbx.local"]
        assert {form1(c)["From"] for c in calls} == {"+73412000001"}
        by_client: dict[str, Any] = {}
        for call in calls:
            row = await store.get_call(call_id_of(call))
            assert row is not None and row.status is CallStatus.DIALING
            by_client[row.client_id] = call
        # the provider call id is persisted while the call is still in flight
        async with asyncio.timeout(5):
            while (await store.get_call(call_id_of(calls[0]))).provider_call_id is None:  # type: ignore[union-attr]
                await asyncio.sleep(0.01)
        script = {"c1": ("completed", 212), "c2": ("busy", 0), "c3": ("no-answer", 0)}
        await asyncio.gather(
            *(agent_first_call(hooks, fake, by_client[cid], outcome, talk) for cid, (outcome, talk) in script.items())
        )
        await asyncio.wait_for(dispatcher.wait_idle(), 5)
        expected = {"c1": (CallStatus.ANSWERED, 212.0), "c2": (CallStatus.BUSY, 0.0), "c3": (CallStatus.NO_ANSWER, 0.0)}
        for cid, (status, talk) in expected.items():
            call = by_client[cid]
            row = await store.get_call(call_id_of(call))
            assert row is not None
            assert (row.status, row.talk_s) == (status, talk), cid
            assert row.provider_call_id == call.sid and row.provider == "twilio"
            assert row.client_id == cid and row.ended_at is not None
        answered = await store.get_client("c1")
        assert answered is not None and answered.open_call_id is None and answered.state.awaiting_disposition
        assert dispatcher.metrics.ended[("cold", "answered")] == 1
        assert dispatcher.in_flight == 0
    finally:
        await provider.close()


async def test_startup_reconciliation_of_calls_left_open(
    twilio_env: None, fake: FakeTwilio, clock: ScaledClock, store: SqliteStore, tmp_path: Path
) -> None:
    """A worker died with two calls in flight; on start-up it reconciles them by SID:
    one ended at Twilio meanwhile (its result is recorded), one is still live and
    nobody follows it (it is ended, then recorded)."""
    config = twilio_config(tmp_path)
    await seed(store, config, clock, 2)
    campaign = config.campaign("cold")
    now = clock.now()
    claims = await store.claim("cold", now, 2, "w1", now + lease_for(campaign))
    assert len(claims) == 2
    t = now - timedelta(minutes=3)
    done = fake.add_call(to="sip:101@pbx.local", from_="+73412000001", status="completed", started=t,
                         ended=t + timedelta(seconds=150), duration=148)  # fmt: skip
    fake.add_call(to="+79120000001", from_="+73412000001", parent=done.sid, status="completed",
                  started=t + timedelta(seconds=4), ended=t + timedelta(seconds=150), duration=131)  # fmt: skip
    live = fake.add_call(to="sip:102@pbx.local", from_="+73412000001", status="in-progress", started=t)
    live_child = fake.add_call(to="+79120000002", from_="+73412000001", parent=live.sid, status="in-progress",
                               started=t + timedelta(seconds=3))  # fmt: skip

    def hang_up(call: Any, status: str) -> None:
        for leg in (call, live_child):
            leg.status, leg.ended = "completed", clock.now()
        live_child.duration = 170

    fake.on_update = hang_up
    for claim, sid in zip(claims, (done.sid, live.sid)):
        start = CallStart(
            call_id=f"old-{claim.client.id}", client_id=claim.client.id, campaign="cold", agent="ivanova",
            phone=claim.client.phone, client_tz=claim.client.timezone, attempt=0, started_at=t,
            local_day=t.date(), allowed_by="test", provider="twilio", lease_token=claim.lease_token,
        )  # fmt: skip
        await store.start_call(start)
        await store.set_provider_call_id(start.call_id, sid)

    # the new process: same worker id, fresh provider (knows none of those calls)
    provider = TwilioProvider("twilio", config.providers["twilio"].settings, clock)
    await provider.start()
    try:
        dispatcher = Dispatcher(store, {"twilio": provider}, config, clock, owner="w1")
        assert await store.expire_leases("w1", clock.now()) == 2
        assert await dispatcher.reconcile_orphans(clock.now()) == 2
        first = await store.get_call(f"old-{claims[0].client.id}")
        second = await store.get_call(f"old-{claims[1].client.id}")
        assert first is not None and (first.status, first.talk_s) == (CallStatus.ANSWERED, 131.0)
        assert second is not None and (second.status, second.talk_s) == (CallStatus.ANSWERED, 170.0)
        assert "ended by reconciliation" in (second.error or "")
        assert fake.updates == [(live.sid, {"Status": ["completed"]})]  # only the live one was touched
        for claim in claims:
            c = await store.get_client(claim.client.id)
            assert c is not None and c.open_call_id is None
    finally:
        await provider.close()


async def test_test_call_prints_the_timeline(
    twilio_env: None, fake: FakeTwilio, clock: ScaledClock, tmp_path: Path
) -> None:
    config = twilio_config(tmp_path)
    lines: list[str] = []
    task = asyncio.create_task(run_test_call(config, "cold", "8 912 000-00-07", lines.append, clock=clock))
    (call,) = await fake.wait_created(1)
    listening = next(line for line in lines if "webhooks: listening on" in line)
    port = int(re.search(r"127\.0\.0\.1:(\d+)", listening).group(1))  # type: ignore[union-attr]

    async def post(url: str, params: dict[str, str]) -> httpx.Response:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            return await http.post(url[len(PUBLIC) :], data=params, headers={"X-Twilio-Signature": sign(url, params)})

    parent = form1(call)["StatusCallback"]
    assert form1(call)["To"] == "sip:101@pbx.local"
    for seq, status in enumerate(["initiated", "ringing", "in-progress"]):
        assert (
            await post(parent, {"CallSid": call.sid, "CallStatus": status, "SequenceNumber": str(seq)})
        ).status_code == 204  # type: ignore[arg-type]
    twiml = await post(form1(call)["Url"], {"CallSid": call.sid, "CallStatus": "in-progress"})  # type: ignore[arg-type]
    assert "+79120000007" in twiml.text
    action = re.search(r'action="([^"]+)"', twiml.text).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    await post(action, {"CallSid": call.sid, "DialCallStatus": "completed", "DialCallDuration": "33"})
    await post(parent, {"CallSid": call.sid, "CallStatus": "completed", "SequenceNumber": "4"})  # type: ignore[arg-type]
    code = await asyncio.wait_for(task, 5)
    text = "\n".join(lines)
    assert code == 0, text
    for needle in ("test call test-", f"created {call.sid}", "callback parent ringing", "twiml  dial +79120000007",
                   "callback dial   completed", "result: answered, ring", "talk 33.0 s"):  # fmt: skip
        assert needle in text, text


async def test_test_call_usage_errors(twilio_env: None, tmp_path: Path, clock: ScaledClock) -> None:
    config = twilio_config(tmp_path)
    lines: list[str] = []
    assert await run_test_call(config, "nope", "+79120000001", lines.append, clock=clock) == 2
    assert "no campaign 'nope'" in lines[-1]
    assert await run_test_call(config, "cold", "12", lines.append, clock=clock) == 2
    assert "not a valid phone number" in lines[-1]
