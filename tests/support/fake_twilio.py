"""Shared pieces of the Twilio tests: a fake Twilio REST API on respx, signed webhooks sent
the way Twilio signs them, a scaled clock, requests and configs. Their fixtures are in
tests/integration/twilio/conftest.py.

respx mocks the REST API at the HTTP layer with ``assert_all_mocked=True``: any request
the fake does not know fails the test. Webhooks go to the ASGI app through httpx's
ASGITransport (not intercepted by respx), or over loopback to a real HttpServer.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import respx
import yaml
from twilio.request_validator import RequestValidator

from dialer.config import DialerConfig, parse_config
from dialer.domain import ClientRecord, Stage
from dialer.http import create_app
from dialer.scheduling import Scheduler
from dialer.store.sqlite import SqliteStore
from providers.base import DialRequest, ProviderEvent
from providers.twilio import TwilioProvider
from tests.support.paths import ROOT

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
SID_ENV = "DIALER_TEST_TWILIO_SID"
TOKEN_ENV = "DIALER_TEST_TWILIO_TOKEN"
API = "https://twilio.mock"
PUBLIC = "https://dialer.example.com/hooks"  # the proxy strips /hooks
ACCOUNT_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}"
START = datetime(2026, 3, 4, 6, 0, tzinfo=UTC)  # Wed 10:00 in Izhevsk (Europe/Samara)

FAST_SETTINGS: dict[str, Any] = {
    "account_sid_env": SID_ENV,
    "auth_token_env": TOKEN_ENV,
    "api_base_url": API,
    "public_base_url": PUBLIC,
    "listen_port": 0,
    "cps": 200,
    "final_grace": "0.3s",
    "poll_interval": "1h",
    "lookup_delay": "0.05s",
    "backoff_initial": "0.01s",
    "backoff_max": "0.05s",
    "watchdog_slack": "60s",
}


class ScaledClock:
    """Starts at a fixed instant and runs `speed` times faster than real time."""

    def __init__(self, start: datetime = START, speed: float = 1.0):
        self.start = start
        self.speed = speed
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._t0) * self.speed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


def rfc2822(dt: datetime) -> str:
    return format_datetime(dt.astimezone(UTC), usegmt=True)


# ---------------------------------------------------------------- the fake REST API


@dataclass
class FakeCall:
    sid: str
    to: str
    from_: str
    status: str = "queued"
    parent: str | None = None
    duration: int | None = None
    answered_by: str | None = None
    created: datetime = START
    started: datetime | None = None
    ended: datetime | None = None
    form: dict[str, list[str]] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "account_sid": ACCOUNT_SID,
            "parent_call_sid": self.parent,
            "to": self.to,
            "from": self.from_,
            "status": self.status,
            "direction": "outbound-dial" if self.parent else "outbound-api",
            "date_created": rfc2822(self.created),
            "date_updated": rfc2822(self.created),
            "start_time": rfc2822(self.started) if self.started else None,
            "end_time": rfc2822(self.ended) if self.ended else None,
            "duration": str(self.duration) if self.duration is not None else None,
            "answered_by": self.answered_by,
            "api_version": "2010-04-01",
            "uri": f"{ACCOUNT_PATH}/Calls/{self.sid}.json",
        }


def twilio_error(status: int, code: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message, "more_info": "", "status": status})


class FakeTwilio:
    """Calls resource of one account. `create_effects` scripts POST /Calls: each item
    is "ok", an httpx.Response, an exception, or ("create_then", response_or_exc)
    (the call is created but the client sees the error: the ambiguous case)."""

    def __init__(self, router: respx.MockRouter, clock: Callable[[], datetime]):
        self.router = router
        self.clock = clock
        self.calls: dict[str, FakeCall] = {}
        self.created: list[FakeCall] = []
        self.create_effects: list[Any] = []
        self.create_times: list[float] = []
        self.updates: list[tuple[str, dict[str, list[str]]]] = []
        self.on_update: Callable[[FakeCall, str], None] | None = None
        self.list_effect: Any = None
        self._seq = itertools.count(1)
        base = f"{ACCOUNT_PATH}"
        host = urlsplit(API).hostname
        self.create_route = router.post(host=host, path=f"{base}/Calls.json").mock(side_effect=self._create)
        self.list_route = router.get(host=host, path=f"{base}/Calls.json").mock(side_effect=self._list)
        self.fetch_route = router.get(host=host, path__regex=rf"^{base}/Calls/(?P<sid>CA\w+)\.json$").mock(
            side_effect=self._fetch
        )
        self.update_route = router.post(host=host, path__regex=rf"^{base}/Calls/(?P<sid>CA\w+)\.json$").mock(
            side_effect=self._update
        )
        self.account_route = router.get(host=host, path=f"{base}.json").mock(
            return_value=httpx.Response(200, json={"sid": ACCOUNT_SID, "status": "active", "friendly_name": "test"})
        )

    def new_sid(self) -> str:
        return f"CA{next(self._seq):032x}"

    def _auth_ok(self, request: httpx.Request) -> bool:
        expected = httpx.BasicAuth(ACCOUNT_SID, AUTH_TOKEN)
        probe = next(expected.auth_flow(httpx.Request("GET", "https://x")))
        return bool(request.headers.get("authorization") == probe.headers["authorization"])

    def add_call(self, **kwargs: Any) -> FakeCall:
        call = FakeCall(sid=kwargs.pop("sid", None) or self.new_sid(), **kwargs)
        self.calls[call.sid] = call
        return call

    def _create(self, request: httpx.Request) -> httpx.Response:
        self.create_times.append(time.monotonic())
        if not self._auth_ok(request):
            return twilio_error(401, 20003, "Authenticate")
        form = parse_qs(request.content.decode(), keep_blank_values=True)
        effect: Any = self.create_effects.pop(0) if self.create_effects else "ok"
        create_then = isinstance(effect, tuple) and effect[0] == "create_then"
        if effect == "ok" or create_then:
            call = self.add_call(to=form["To"][0], from_=form["From"][0], created=self.clock(), form=form)
            self.created.append(call)
            if create_then:
                effect = effect[1]
            else:
                return httpx.Response(201, json=call.json())
        if isinstance(effect, BaseException):
            raise effect
        response: httpx.Response = effect  # the rest of the script: a canned response
        return response

    def _list(self, request: httpx.Request) -> httpx.Response:
        if self.list_effect is not None:
            effect = self.list_effect
            if isinstance(effect, BaseException):
                raise effect
            response: httpx.Response = effect
            return response
        q = request.url.params
        found = [
            c
            for c in sorted(self.calls.values(), key=lambda c: c.created, reverse=True)
            if (not q.get("To") or c.to == q.get("To"))
            and (not q.get("From") or c.from_ == q.get("From"))
            and (not q.get("ParentCallSid") or c.parent == q.get("ParentCallSid"))
        ]
        return httpx.Response(
            200,
            json={
                "calls": [c.json() for c in found],
                "page": 0,
                "page_size": 50,
                "start": 0,
                "end": len(found),
                "uri": f"{ACCOUNT_PATH}/Calls.json",
                "first_page_uri": f"{ACCOUNT_PATH}/Calls.json?Page=0",
                "next_page_uri": None,
                "previous_page_uri": None,
            },
        )

    def _fetch(self, request: httpx.Request, sid: str) -> httpx.Response:
        call = self.calls.get(sid)
        if call is None:
            return twilio_error(404, 20404, f"The requested resource {request.url.path} was not found")
        return httpx.Response(200, json=call.json())

    def _update(self, request: httpx.Request, sid: str) -> httpx.Response:
        call = self.calls.get(sid)
        if call is None:
            return twilio_error(404, 20404, "not found")
        form = parse_qs(request.content.decode(), keep_blank_values=True)
        self.updates.append((sid, form))
        status = form.get("Status", [""])[0]
        final = ("completed", "busy", "no-answer", "failed", "canceled")
        if status in ("completed", "canceled") and call.status not in final:
            if self.on_update is not None:
                self.on_update(call, status)
            else:
                call.status = status
                call.ended = self.clock()
        return httpx.Response(200, json=call.json())

    async def wait_created(self, n: int, timeout: float = 5.0) -> list[FakeCall]:
        async def until() -> None:
            while len(self.created) < n:
                await asyncio.sleep(0.005)

        await asyncio.wait_for(until(), timeout)
        return self.created[:n]


def make_provider(clock: Any, name: str = "twilio", **overrides: Any) -> TwilioProvider:
    settings = {**FAST_SETTINGS, **overrides}
    return TwilioProvider(name, settings, clock)


# ---------------------------------------------------------------- signed webhooks


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    signature: str = RequestValidator(token).compute_signature(url, params)
    return signature


class Webhooks:
    """Posts webhooks to the app exactly as Twilio would: to the public URL given to
    Twilio (the proxy in front strips the public path prefix), signed over that URL
    and the form parameters."""

    def __init__(self, app: Any, clock: ScaledClock, client: tuple[str, int] = ("198.51.100.7", 40000)):
        self.app = app
        self.clock = clock
        self.peer = client

    def _client(self, peer: tuple[str, int] | None = None) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=peer or self.peer)
        return httpx.AsyncClient(transport=transport, base_url="http://worker.internal")

    async def post(
        self,
        public_url: str,
        params: dict[str, str],
        *,
        signature: str | None = "auto",
        sign_url: str | None = None,
        headers: dict[str, str] | None = None,
        peer: tuple[str, int] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        assert public_url.startswith(PUBLIC), public_url
        path = public_url[len(PUBLIC) :]
        hdrs = dict(headers or {})
        if signature == "auto":
            hdrs["X-Twilio-Signature"] = sign(sign_url or public_url, params)
        elif signature is not None:
            hdrs["X-Twilio-Signature"] = signature
        async with self._client(peer) as client:
            if content is not None:
                hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
                return await client.post(path, content=content, headers=hdrs)
            return await client.post(path, data=params, headers=hdrs)

    # -- one leg's status callback
    async def status(
        self, url: str, sid: str, status: str, seq: int | None, *, parent: str | None = None, **extra: str
    ) -> httpx.Response:
        params = {
            "AccountSid": ACCOUNT_SID,
            "CallSid": sid,
            "CallStatus": status,
            "ApiVersion": "2010-04-01",
            "Direction": "outbound-dial" if parent else "outbound-api",
            "Timestamp": rfc2822(self.clock.now()),
            "CallbackSource": "call-progress-events",
        }
        if seq is not None:
            params["SequenceNumber"] = str(seq)
        if parent:
            params["ParentCallSid"] = parent
        params.update(extra)
        r = await self.post(url, params)
        assert r.status_code in (200, 204), r.text
        return r


def form1(call: FakeCall) -> dict[str, str | list[str]]:
    return {k: (v[0] if len(v) == 1 else v) for k, v in call.form.items()}


@dataclass
class TwimlDial:
    """What the <Dial> TwiML says."""

    attrs: dict[str, str]
    noun: str
    noun_attrs: dict[str, str]
    target: str

    @property
    def action(self) -> str:
        return self.attrs["action"]

    @property
    def child_status_url(self) -> str:
        return self.noun_attrs["statusCallback"]


def parse_dial(xml: str) -> TwimlDial:
    root = ET.fromstring(xml)
    dial = root.find("Dial")
    assert dial is not None, xml
    noun = list(dial)[0]
    return TwimlDial(dict(dial.attrib), noun.tag, dict(noun.attrib), (noun.text or "").strip())


async def twiml(hooks: Webhooks, call: FakeCall, **extra: str) -> str:
    params = {"AccountSid": ACCOUNT_SID, "CallSid": call.sid, "CallStatus": "in-progress", **extra}
    r = await hooks.post(form1(call)["Url"], params)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/xml")
    return r.text


async def agent_first_call(
    hooks: Webhooks,
    fake: FakeTwilio,
    call: FakeCall,
    outcome: str = "completed",
    talk: int = 0,
    *,
    dial_action: bool = True,
) -> TwimlDial | None:
    """Drive one agent-first call the way Twilio reports it. `outcome` is the client
    leg's final status (completed = answered and talked `talk` seconds)."""
    parent_url = form1(call)["StatusCallback"]
    await hooks.status(parent_url, call.sid, "initiated", 0)  # type: ignore[arg-type]
    await hooks.status(parent_url, call.sid, "ringing", 1)  # type: ignore[arg-type]
    await hooks.status(parent_url, call.sid, "in-progress", 2)  # type: ignore[arg-type]
    dial = parse_dial(await twiml(hooks, call))
    child = fake.add_call(to=dial.target, from_=dial.attrs["callerId"], parent=call.sid, created=hooks.clock.now())
    await hooks.status(dial.child_status_url, child.sid, "initiated", 0, parent=call.sid)
    await hooks.status(dial.child_status_url, child.sid, "ringing", 1, parent=call.sid)
    extra: dict[str, str] = {}
    if outcome == "completed":
        await hooks.status(dial.child_status_url, child.sid, "in-progress", 2, parent=call.sid)
        extra["CallDuration"] = str(talk)
    await hooks.status(dial.child_status_url, child.sid, outcome, 3, parent=call.sid, **extra)
    if dial_action:
        r = await hooks.post(
            dial.action,
            {
                "AccountSid": ACCOUNT_SID,
                "CallSid": call.sid,
                "DialCallSid": child.sid,
                "DialCallStatus": outcome,
                "DialCallDuration": str(talk if outcome == "completed" else 0),
            },
        )
        assert r.status_code == 200 and "<Hangup" in r.text
    await hooks.status(parent_url, call.sid, "completed", 3, CallDuration=str(talk + 5))  # type: ignore[arg-type]
    return dial


def app_for(*providers: TwilioProvider) -> Any:
    return create_app({p.name: p for p in providers})


async def finish(task: asyncio.Task[Any], timeout: float = 5.0) -> Any:
    return await asyncio.wait_for(task, timeout)


def iter_lines(lines: Iterable[str], needle: str) -> list[str]:
    return [line for line in lines if needle in line]


# ---------------------------------------------------------------- calls and configs

CLIENT = "+79120000001"
CALLER = "+73412000001"
AGENT = "sip:101@pbx.local"


def request(call_id: str = "call-1", **kw: Any) -> DialRequest:
    base: dict[str, Any] = dict(
        call_id=call_id,
        number=CLIENT,
        caller_id=CALLER,
        connect_to=AGENT,
        ring_timeout=timedelta(seconds=30),
        hard_limit=timedelta(minutes=12),
        nudge_at=timedelta(minutes=5),
        campaign="cold",
        agent="ivanova",
    )
    base.update(kw)
    return DialRequest(**base)


class Events(list[ProviderEvent]):
    def __call__(self, event: ProviderEvent) -> None:
        self.append(event)

    @property
    def kinds(self) -> list[str]:
        return [e.kind for e in self]


def twilio_config(tmp_path: Path, **settings: Any) -> DialerConfig:
    """config/dialer.yaml with the cold campaign switched to a twilio provider."""
    data = yaml.safe_load((ROOT / "config" / "dialer.yaml").read_text(encoding="utf-8"))
    data["providers"]["twilio"] = {"type": "twilio", **FAST_SETTINGS, **settings}
    for campaign in data["campaigns"]:
        if campaign["name"] == "cold":
            campaign["provider"] = "twilio"
    data["storage"] = {"path": str(tmp_path / "dialer.db"), "reports_dir": str(tmp_path / "reports")}
    return parse_config(yaml.safe_dump(data, allow_unicode=True), "twilio-test.yaml")


def twilio_client(i: int) -> ClientRecord:
    return ClientRecord(
        id=f"c{i}", name=f"Client {i}", phone=f"+7912000000{i}", timezone="Europe/Samara", country="RU",
        stage=Stage.PROSPECT,
    )  # fmt: skip


async def seed(store: SqliteStore, config: DialerConfig, clock: ScaledClock, n: int) -> None:
    now = clock.now()
    await store.upsert_clients([twilio_client(i) for i in range(1, n + 1)])
    clients = await store.clients_to_schedule(now, 100)
    await store.set_schedules([Scheduler(config).place_client(c, now) for c in clients])
