"""Webhooks: signatures against the exact public URL, proxies, size limit, duplicates
and out-of-order callbacks, the HTTP app's other routes and the in-loop server."""

from __future__ import annotations

import asyncio
import itertools
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from dialer.domain import CallStatus
from dialer.http import HttpServer, bind_address, create_app, readiness_check, set_metrics
from providers.twilio import TwilioProvider
from providers.twilio.state import LegState
from tests.support.fake_twilio import (
    ACCOUNT_SID,
    CLIENT,
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
    sign,
    twiml,
)

T0 = datetime(2026, 3, 4, 6, 0, tzinfo=UTC)


async def _pending(provider: TwilioProvider, fake: FakeTwilio, **kw: Any) -> tuple[asyncio.Task[Any], Any]:
    task = asyncio.create_task(provider.dial(request(**kw)))
    (call,) = await fake.wait_created(1)
    return task, call


# ---------------------------------------------------------------- signatures


async def test_signed_callback_accepted_unsigned_tampered_and_wrong_url_rejected(
    provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock
) -> None:
    hooks = Webhooks(app_for(provider), clock)
    task, call = await _pending(provider, fake, connect_mode="client_first")
    url = form1(call)["StatusCallback"]
    busy = {"AccountSid": ACCOUNT_SID, "CallSid": call.sid, "CallStatus": "busy", "SequenceNumber": "2"}

    unsigned = await hooks.post(url, busy, signature=None)
    assert unsigned.status_code == 403
    forged = await hooks.post(url, busy, signature="bm90IGEgc2lnbmF0dXJl")
    assert forged.status_code == 403
    # signed for one set of parameters, sent with another
    tampered = await hooks.post(url, busy, signature=sign(url, {**busy, "CallStatus": "ringing"}))
    assert tampered.status_code == 403
    # signed for another host, another query (another call), another scheme
    for other in (
        url.replace("dialer.example.com", "evil.example.com"),
        url.replace("call=call-1", "call=call-2"),
        url.replace("https://", "http://"),
    ):
        assert (await hooks.post(url, busy, sign_url=other)).status_code == 403
    # signed with another account's token
    assert (await hooks.post(url, busy, signature=sign(url, busy, token="another-token"))).status_code == 403
    # a SharedKey-signed request needs the shared key, which is not configured
    shared = await hooks.post(
        url, busy, headers={"X-Twilio-Webhooks-Signature-Settings": "key=k1,algorithm=HMAC_SHA256"}
    )
    assert shared.status_code == 403

    await asyncio.sleep(0.05)
    assert not task.done()  # nothing changed
    ok = await hooks.post(url, busy)
    assert ok.status_code == 204
    assert (await finish(task)).status is CallStatus.BUSY


async def test_rejected_twiml_request_gets_no_twiml(
    provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock
) -> None:
    hooks = Webhooks(app_for(provider), clock)
    task, call = await _pending(provider, fake)
    r = await hooks.post(form1(call)["Url"], {"CallSid": call.sid, "CallStatus": "in-progress"}, signature=None)
    assert r.status_code == 403 and "<Dial" not in r.text
    await agent_first_call(hooks, fake, call, "busy")
    assert (await finish(task)).status is CallStatus.BUSY


async def test_forwarded_headers_only_from_trusted_proxies(
    twilio_env: None, fake: FakeTwilio, clock: ScaledClock
) -> None:
    p = make_provider(clock, trusted_proxies=["10.0.0.0/8"])
    await p.start()
    try:
        hooks = Webhooks(app_for(p), clock)
        task, call = await _pending(p, fake, connect_mode="client_first")
        url = form1(call)["StatusCallback"]
        # Twilio called the second hostname the proxy serves; the proxy says so.
        alt = url.replace("https://dialer.example.com", "https://dialer-b.example.com")
        forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "dialer-b.example.com"}
        params = {"CallSid": call.sid, "CallStatus": "no-answer", "SequenceNumber": "2"}
        untrusted = await hooks.post(url, params, sign_url=alt, headers=forwarded, peer=("198.51.100.9", 5000))
        assert untrusted.status_code == 403
        trusted = await hooks.post(url, params, sign_url=alt, headers=forwarded, peer=("10.1.2.3", 5000))
        assert trusted.status_code == 204
        assert (await finish(task)).status is CallStatus.NO_ANSWER
    finally:
        await p.close()


async def test_body_over_the_limit_gets_413(provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock) -> None:
    hooks = Webhooks(app_for(provider), clock)
    task, call = await _pending(provider, fake, connect_mode="client_first")
    url = form1(call)["StatusCallback"]
    big = {"CallSid": call.sid, "CallStatus": "busy", "Padding": "x" * 20000}
    r = await hooks.post(url, big)
    assert r.status_code == 413

    # chunked (no Content-Length): still cut off
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(40):
            yield b"A" * 1024

    transport = httpx.ASGITransport(app=hooks.app, client=hooks.peer)
    async with httpx.AsyncClient(transport=transport, base_url="http://worker.internal") as client:
        r2 = await client.post(url[len(PUBLIC) :], content=chunks(), headers={"X-Twilio-Signature": "x"})
    assert r2.status_code == 413
    assert not task.done()
    await hooks.status(url, call.sid, "busy", 2)  # type: ignore[arg-type]
    await finish(task)


async def test_unknown_call_and_unknown_provider(provider: TwilioProvider, clock: ScaledClock) -> None:
    hooks = Webhooks(app_for(provider), clock)
    twiml_url = f"{PUBLIC}/webhooks/twilio/twiml?call=gone"
    r = await hooks.post(twiml_url, {"CallSid": "CA9", "CallStatus": "in-progress"})
    assert r.status_code == 200 and "<Hangup />" in r.text and "<Dial" not in r.text
    r = await hooks.post(
        f"{PUBLIC}/webhooks/twilio/status?call=gone&leg=parent", {"CallSid": "CA9", "CallStatus": "busy"}
    )
    assert r.status_code == 204
    r = await hooks.post(f"{PUBLIC}/webhooks/nope/status?call=x", {"CallSid": "CA9"})
    assert r.status_code == 404
    r = await hooks.post(f"{PUBLIC}/webhooks/twilio/bogus?call=x", {"CallSid": "CA9"})
    assert r.status_code == 404


# ---------------------------------------------------------------- duplicates, order


async def test_duplicate_and_out_of_order_callbacks(
    provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock
) -> None:
    hooks = Webhooks(app_for(provider), clock)
    lines: list[str] = []
    events = Events()
    task = asyncio.create_task(provider.dial(request(), events))
    (call,) = await fake.wait_created(1)
    provider.observe("call-1", lines.append)
    parent_url = form1(call)["StatusCallback"]
    await hooks.status(parent_url, call.sid, "in-progress", 2)  # type: ignore[arg-type]
    await hooks.status(parent_url, call.sid, "initiated", 0)  # type: ignore[arg-type]  (late)
    dial = parse_dial(await twiml(hooks, call))
    child = fake.add_call(to=CLIENT, from_="x", parent=call.sid)
    u = dial.child_status_url
    # The final one first, then the earlier ones, then the final one again.
    await hooks.status(u, child.sid, "completed", 3, parent=call.sid, CallDuration="95")
    await hooks.status(u, child.sid, "ringing", 1, parent=call.sid)
    await hooks.status(u, child.sid, "in-progress", 2, parent=call.sid)
    await hooks.status(u, child.sid, "completed", 3, parent=call.sid, CallDuration="95")
    await hooks.status(u, child.sid, "no-answer", 1, parent=call.sid)  # nonsense after the final: ignored
    for _ in range(2):
        await hooks.post(dial.action, {"CallSid": call.sid, "DialCallStatus": "completed", "DialCallDuration": "95"})
    await asyncio.sleep(0.05)
    assert not task.done()  # the agent's leg has not ended yet (grace)
    await hooks.status(parent_url, call.sid, "completed", 3, CallDuration="99")  # type: ignore[arg-type]
    result = await finish(task)
    assert result.status is CallStatus.ANSWERED and result.talk_s == 95
    assert events.kinds == ["created", "ringing", "answered", "ended"]
    late = [line for line in lines if "ignored" in line or "status stays" in line]
    assert len(late) == 6, lines  # initiated, ringing, in-progress, completed again, no-answer, dial again
    # after the end: late duplicates are acknowledged and change nothing
    r = await hooks.post(parent_url, {"CallSid": call.sid, "CallStatus": "busy"})  # type: ignore[arg-type]
    assert r.status_code == 204


async def test_bridged_leg_end_waits_for_grace_then_resolves(
    provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock
) -> None:
    """The client's leg ended but the agent's leg never reports: resolve after final_grace."""
    hooks = Webhooks(app_for(provider), clock)
    task = asyncio.create_task(provider.dial(request()))
    (call,) = await fake.wait_created(1)
    await hooks.status(form1(call)["StatusCallback"], call.sid, "in-progress", 2)  # type: ignore[arg-type]
    dial = parse_dial(await twiml(hooks, call))
    await hooks.post(dial.action, {"CallSid": call.sid, "DialCallStatus": "busy", "DialCallDuration": "0"})
    result = await finish(task, 3)
    assert result.status is CallStatus.BUSY


def test_leg_state_ordering_is_idempotent() -> None:
    def leg_after(events: list[tuple[str, int | None]]) -> LegState:
        leg = LegState()
        for i, (status, seq) in enumerate(events):
            at = T0 + timedelta(seconds=10 * (seq if seq is not None else i))
            leg.apply(status, at=at, received=at, seq=seq, duration="42" if status == "completed" else None)
        return leg

    in_order = [("initiated", 0), ("ringing", 1), ("in-progress", 2), ("completed", 3)]
    for perm in itertools.permutations(in_order):
        leg = leg_after([*perm, *perm])  # every order, every callback twice
        assert leg.status == "completed" and leg.duration == 42
        assert leg.ringing_at == T0 + timedelta(seconds=10) and leg.answered_at == T0 + timedelta(seconds=20)
    # without sequence numbers: the natural order
    leg = leg_after([("ringing", None), ("initiated", None), ("in-progress", None), ("ringing", None)])
    assert leg.status == "in-progress"
    # a duplicate changes nothing
    leg = LegState()
    assert leg.apply("busy", at=T0, received=T0, seq=2)
    assert not leg.apply("busy", at=T0, received=T0, seq=2)
    assert not leg.apply("ringing", at=T0, received=T0, seq=1) or leg.status == "busy"
    assert leg.status == "busy"


# ---------------------------------------------------------------- the app's other routes, the server


async def test_healthz_readyz_metrics_hooks(provider: TwilioProvider, fake: FakeTwilio) -> None:
    failing = {"ok": False}

    async def store_ping() -> None:
        if failing["ok"]:
            raise RuntimeError("database is locked")

    app = create_app({"twilio": provider}, readiness=readiness_check({"twilio": provider}, store_ping))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://w") as client:
        assert (await client.get("/healthz")).text == "ok"
        r = await client.get("/readyz")
        assert r.status_code == 200 and fake.account_route.called
        failing["ok"] = True
        r = await client.get("/readyz")
        assert r.status_code == 503 and "database is locked" in r.text
        assert (await client.get("/metrics")).status_code == 404
        set_metrics(app, lambda: b"dialer_calls_total 3\n")
        r = await client.get("/metrics")
        assert r.status_code == 200 and r.text == "dialer_calls_total 3\n"
        assert r.headers["content-type"].startswith("text/plain; version=0.0.4")


def test_bind_address(twilio_env: None, clock: ScaledClock) -> None:
    a = make_provider(clock, "a", listen_port=9001)
    b = make_provider(clock, "b", listen_port=9002)
    assert bind_address({"a": a}) == ("127.0.0.1", 9001)
    assert bind_address({"a": a}, {"host": "127.0.0.1", "port": 9100}) == ("127.0.0.1", 9100)
    assert bind_address({}) is None
    with pytest.raises(ValueError, match="different listen addresses"):
        bind_address({"a": a, "b": b})


async def test_http_server_on_loopback_in_the_current_loop(
    provider: TwilioProvider, fake: FakeTwilio, clock: ScaledClock
) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    server = HttpServer(app_for(provider), graceful_timeout=1)
    host, port = await server.start("127.0.0.1", 0)
    try:
        assert {s: signal.getsignal(s) for s in before} == before  # uvicorn installed no handlers
        task, call = await _pending(provider, fake, connect_mode="client_first")
        url = form1(call)["StatusCallback"]
        params = {"CallSid": call.sid, "CallStatus": "busy", "SequenceNumber": "2"}
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
            assert (await client.get("/healthz")).text == "ok"
            r = await client.post(url[len(PUBLIC) :], data=params, headers={"X-Twilio-Signature": sign(url, params)})  # type: ignore[index]
            assert r.status_code == 204
        assert (await finish(task)).status is CallStatus.BUSY
        # the address is taken while the server runs
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            await HttpServer(app_for(provider)).start("127.0.0.1", port)
    finally:
        await asyncio.wait_for(server.stop(), 5)
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://{host}:{port}/healthz")
