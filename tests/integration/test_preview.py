"""Preview mode (issue 12, dialer/preview.py) on SQLite with the real dispatcher and app:
the Ready agent sees the client first, nothing is dialed until Call; Call dials that
client; Skip gives it back without an attempt and audits why; another agent gets 403;
a window closed at Call time is refused; an unanswered preview times out."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from dialer.accounts import hash_password
from dialer.config import DialerConfig
from dialer.dispatcher import Dispatcher
from dialer.http import create_app
from dialer.pacing.modes import DialMode
from dialer.preview import PREVIEW_TIMEOUT, SKIP_AGAIN_AFTER, TIMED_OUT
from dialer.store.base import Store
from dialer.store.people import Account, PresenceState, Role, people_of
from dialer.web.context import WebContext
from dialer.web.settings import WebSettings
from tests.support.clocks import FixedClock
from tests.support.dispatch import MORNING, ScriptedProvider, client, load, run_step

SECRET = "p" * 40
PASSWORD = "preview password 1"


@dataclass
class Desk:
    store: Store
    clock: FixedClock
    dispatcher: Dispatcher
    provider: ScriptedProvider
    ctx: WebContext
    app: object

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://test")  # type: ignore[arg-type]

    async def calls(self) -> list[str]:
        calls = await self.store.calls_between(MORNING - timedelta(days=1), MORNING + timedelta(days=1))
        return sorted(c.client_id for c in calls)


@pytest.fixture
async def desk(store: Store, config: DialerConfig) -> AsyncIterator[Desk]:
    [cold] = [c.model_copy(update={"dial_mode": DialMode.PREVIEW}) for c in config.campaigns if c.name == "cold"]
    config = config.model_copy(update={"campaigns": [cold], "web": WebSettings(enabled=True)})
    clock = FixedClock(MORNING)
    await load(store, config, [client(1), client(2)], MORNING)
    now = datetime.now(UTC)
    for name in ("ivanova", "petrov"):
        account = Account(name, Role.AGENT, ("cold",), hash_password(PASSWORD), False, now)
        await people_of(store).add_account(account, actor="test")
    await people_of(store).set_presence("ivanova", PresenceState.READY, MORNING, by="ivanova")
    provider = ScriptedProvider(clock)
    d = Dispatcher(store, {"simulated": provider}, config, clock)
    ctx = WebContext(store, lambda: config, clock, SECRET, dispatcher_source=lambda: d)
    yield Desk(store, clock, d, provider, ctx, create_app({}, web=ctx))
    await ctx.close()


async def login(c: httpx.AsyncClient, name: str) -> tuple[str, str]:
    """Logs in; the CSRF token and the desk page."""
    page = await c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    r = await c.post("/login", data={"csrf_token": token.group(1), "name": name, "password": PASSWORD})
    assert r.status_code == 303
    desk = await c.get("/desk")
    found = re.search(r'data-csrf="([^"]+)"', desk.text)
    assert found is not None
    return found.group(1), desk.text


async def offered(desk: Desk) -> str:
    """One step; the client previewed to ivanova (the page heard of it)."""
    await desk.ctx.start_listening()
    feed = desk.ctx.notifier.subscribe(("preview",))
    try:
        first = asyncio.ensure_future(anext(feed))
        await asyncio.sleep(0)
        await run_step(desk.dispatcher)
        event = await asyncio.wait_for(first, 2.0)
    finally:
        await feed.aclose()
    held = desk.dispatcher.preview_of("ivanova")
    assert held is not None
    assert event.data == {"agent": "ivanova", "client_id": held.client_id, "call_id": held.call_id}
    return held.client_id


async def test_preview_then_call_dials_that_client_for_that_agent(desk: Desk) -> None:
    client_id = await offered(desk)
    assert desk.provider.requests == [] and await desk.calls() == []  # shown, not dialed
    (p,) = await people_of(desk.store).presence(desk.clock.now(), ["ivanova"])
    assert p.state is PresenceState.ON_CALL
    await run_step(desk.dispatcher)  # another step offers nothing more and dials nothing
    assert desk.provider.requests == [] and len(desk.dispatcher.previews) == 1
    async with desk.client() as c:
        token, page = await login(c, "ivanova")
        assert 'id="preview-call"' in page and 'id="preview-skip"' in page  # a reload shows it again
        card = await c.get(f"/desk/preview/{client_id}")
        assert card.status_code == 200 and "Client " in card.text and "First call" in card.text
        r = await c.post(f"/desk/preview/{client_id}/call", data={"csrf_token": token})
        assert r.status_code == 200, r.text
        await desk.dispatcher.wait_idle()
    [(_, request)] = desk.provider.requests
    assert request.context["client_id"] == client_id and request.agent == "ivanova"
    assert r.json()["call_id"] == request.call_id
    assert await desk.calls() == [client_id] and desk.dispatcher.previews == {}


async def test_skip_gives_the_client_back_without_an_attempt_and_audits_why(desk: Desk) -> None:
    client_id = await offered(desk)
    async with desk.client() as c:
        token, _ = await login(c, "ivanova")
        r = await c.post(f"/desk/preview/{client_id}/skip", data={"csrf_token": token, "reason": "  "})
        assert r.status_code == 400 and r.json() == {"error": "a skip needs a reason"}
        assert client_id in desk.dispatcher.previews  # refused: nothing changed
        r = await c.post(f"/desk/preview/{client_id}/skip", data={"csrf_token": "forged", "reason": "x"})
        assert r.status_code == 403 and client_id in desk.dispatcher.previews
        r = await c.post(f"/desk/preview/{client_id}/skip", data={"csrf_token": token, "reason": "needs preparation"})
        assert r.status_code == 200, r.text
    assert desk.provider.requests == [] and await desk.calls() == []  # no call row: no attempt
    queued = await desk.store.get_client(client_id)
    assert queued is not None and queued.state.attempts_total == 0
    assert queued.next_dial_at is not None and queued.next_dial_at >= MORNING + SKIP_AGAIN_AFTER
    [row] = [
        a for a in await people_of(desk.store).audit_since(MORNING - timedelta(days=1)) if a.action == "preview_skip"
    ]
    assert (row.actor, row.subject, row.data["reason"]) == ("ivanova", client_id, "needs preparation")
    (p,) = await people_of(desk.store).presence(desk.clock.now(), ["ivanova"])
    assert p.state is PresenceState.READY
    desk.clock.set(MORNING + timedelta(seconds=6))
    other = await offered(desk)  # the agent is offered the next client
    assert other != client_id and desk.provider.requests == []


async def test_another_agent_gets_403_and_nothing_changes(desk: Desk) -> None:
    client_id = await offered(desk)
    async with desk.client() as c:
        token, _ = await login(c, "petrov")
        for action, data in (("call", {}), ("skip", {"reason": "not mine"})):
            r = await c.post(f"/desk/preview/{client_id}/{action}", data={"csrf_token": token, **data})
            assert r.status_code == 403 and "another agent" in r.json()["error"]
        assert (await c.get(f"/desk/preview/{client_id}")).status_code == 403
        r = await c.post("/desk/preview/nobody/call", data={"csrf_token": token})
        assert r.status_code == 404
    assert desk.provider.requests == [] and client_id in desk.dispatcher.previews


async def test_a_window_closed_at_call_time_is_refused(desk: Desk) -> None:
    client_id = await offered(desk)
    desk.clock.set(MORNING + timedelta(hours=8))  # 18:00 in Moscow: the cold window is over
    async with desk.client() as c:
        token, _ = await login(c, "ivanova")
        r = await c.post(f"/desk/preview/{client_id}/call", data={"csrf_token": token})
        assert r.status_code == 409
        assert r.json() == {"error": f"the client's calling window closed: {client_id} was not dialed"}
    await desk.dispatcher.wait_idle()
    assert desk.provider.requests == [] and await desk.calls() == [] and desk.dispatcher.previews == {}
    queued = await desk.store.get_client(client_id)
    assert queued is not None and queued.next_dial_at is not None and queued.next_dial_at > desk.clock.now()


async def test_an_unanswered_preview_goes_back_and_the_agent_is_paused(desk: Desk) -> None:
    client_id = await offered(desk)
    desk.clock.set(MORNING + PREVIEW_TIMEOUT + timedelta(seconds=1))
    await run_step(desk.dispatcher)
    assert desk.dispatcher.previews == {} and desk.provider.requests == []
    (p,) = await people_of(desk.store).presence(desk.clock.now(), ["ivanova"])
    assert (p.state, p.reason) == (PresenceState.PAUSED, TIMED_OUT)
    queued = await desk.store.get_client(client_id)
    assert queued is not None and queued.state.attempts_total == 0
