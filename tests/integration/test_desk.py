"""The agent desktop (issue 12) over httpx against the real app on SQLite: the page, the
client card, the awaiting list, the refusals, and the screen pop's path from the
dispatcher through the store to the page's feed."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from dialer.accounts import hash_password
from dialer.config import DialerConfig
from dialer.domain import Stage
from dialer.http import create_app
from dialer.store.base import Store
from dialer.store.people import Account, PresenceState, Role, people_of
from dialer.web.context import WebContext
from dialer.web.desk import why_now
from dialer.web.settings import WebSettings
from dialer.web.stream import page_gone
from tests.support.clocks import FixedClock
from tests.support.talking import answered, get, only_call

SECRET = "k" * 40
PASSWORD = "desk password 123"


async def _people(store: Store) -> None:
    now = datetime.now(UTC)
    for name, role in [("ivanova", Role.AGENT), ("petrov", Role.AGENT), ("boss", Role.SUPERVISOR)]:
        account = Account(name, role, ("cold",) if role is Role.AGENT else (), hash_password(PASSWORD), False, now)
        await people_of(store).add_account(account, actor="test")


@pytest.fixture
async def desk(store: Store, config: DialerConfig) -> AsyncIterator[tuple[WebContext, httpx.AsyncClient, str]]:
    d = await answered(store, config)  # client c1's answered call, connected to ivanova
    await _people(store)
    assert isinstance(d.clock, FixedClock)
    web = config.model_copy(update={"web": WebSettings(enabled=True)})
    ctx = WebContext(store, lambda: web, d.clock, SECRET)
    app = create_app({}, web=ctx)
    call = await only_call(store, "c1")
    yield ctx, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test"), call.call_id
    await ctx.close()


async def login(c: httpx.AsyncClient, name: str) -> str:
    page = await c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    r = await c.post("/login", data={"csrf_token": token.group(1), "name": name, "password": PASSWORD})
    assert r.status_code == 303
    desk = await c.get("/desk")
    found = re.search(r'data-csrf="([^"]+)"', desk.text)
    return found.group(1) if found else ""


async def test_the_desk_lists_the_call_awaiting_a_disposition_and_shows_its_card(
    desk: tuple[WebContext, httpx.AsyncClient, str],
) -> None:
    ctx, c, call_id = desk
    async with c:
        assert (await c.get("/desk")).headers["location"] == "/login"
        await login(c, "ivanova")
        page = await c.get("/desk")
        assert page.status_code == 200 and "My calls awaiting a disposition (1)" in page.text
        assert f'data-call="{call_id}"' in page.text and 'src="/static/desk.js"' in page.text
        card = await c.get(f"/desk/calls/{call_id}")
        assert card.status_code == 200
        client = await get(ctx.store, "c1")
        assert client.name in card.text and "cold call: a new prospect" in card.text
        assert 'data-target-min="180"' in card.text and 'data-target-max="300"' in card.text
        assert f'data-client-tz="{client.timezone}"' in card.text
        offered = set(re.findall(r'name="disposition" value="([a-z_]+)"', card.text))
        assert "no_need" in offered and "callback" in offered
        assert "contract_terminated" not in offered and "complaint_resolved" not in offered  # a prospect
        assert re.search(r'id="window" class="(open|closed)"', card.text)


async def test_refusals_each_say_one_thing_and_change_nothing(
    desk: tuple[WebContext, httpx.AsyncClient, str],
) -> None:
    ctx, c, call_id = desk
    before = await get(ctx.store, "c1")
    async with c:
        assert (await c.get(f"/desk/calls/{call_id}")).status_code == 401  # not logged in: session expired
        token = await login(c, "petrov")
        other = await c.get(f"/desk/calls/{call_id}")
        assert other.status_code == 403 and "not one of yours" in other.text
        refused = await c.post(
            f"/api/v1/calls/{call_id}/disposition", json={"disposition": "no_need"}, headers={"X-CSRF-Token": token}
        )
        assert refused.status_code == 403
        assert (await c.get("/desk/calls/nope")).status_code == 404
    async with httpx.AsyncClient(transport=c._transport, base_url="http://test") as boss:
        await login(boss, "boss")
        assert (await boss.get("/desk")).status_code == 403
    async with httpx.AsyncClient(transport=c._transport, base_url="http://test") as mine:
        token = await login(mine, "ivanova")
        url, headers = f"/api/v1/calls/{call_id}/disposition", {"X-CSRF-Token": token}
        r = await mine.post(url, json={"disposition": "contract_terminated"}, headers=headers)
        assert r.status_code == 422 and "does not fit" in r.json()["error"]
        r = await mine.post(url, json={"disposition": "callback", "at": "2026-12-01T23:30"}, headers=headers)
        assert r.status_code == 422 and "the next opening is" in r.json()["error"]
        assert "center time" in r.json()["error"]
        r = await mine.post(url, json={"disposition": "callback", "at": "2020-01-01T10:00"}, headers=headers)
        assert r.status_code == 422 and "in the past" in r.json()["error"]
        assert await get(ctx.store, "c1") == before
        assert (await ctx.store.get_call(call_id)).disposition is None  # type: ignore[union-attr]
        r = await mine.post(url, json={"disposition": "no_need", "note": "has a supplier"}, headers=headers)
        assert r.status_code == 200, r.text
        assert "(0)" in (await mine.get("/desk/awaiting")).text
        again = await mine.post(url, json={"disposition": "interested"}, headers=headers)
        assert again.status_code == 409 and "already has a disposition" in again.json()["error"]
        card = await mine.get(f"/desk/calls/{call_id}")
        assert "has a supplier" in card.text and 'id="edit-disposition"' in card.text


async def test_the_dispatchers_screen_pop_reaches_the_web_context_through_the_store(
    any_store: Store, config: DialerConfig
) -> None:
    """The dispatcher has no web context: it publishes through the store (PostgreSQL:
    NOTIFY, heard on the web context's own LISTEN connection, as another worker's
    would be; SQLite: in process). Then the call's end (wrap-up) follows."""
    web = config.model_copy(update={"web": WebSettings(enabled=True)})
    ctx = WebContext(any_store, lambda: web, FixedClock(datetime.now(UTC)), SECRET)
    await ctx.start_listening()
    feed = ctx.notifier.subscribe(("pop", "presence"))
    try:
        first = asyncio.ensure_future(anext(feed))
        await asyncio.sleep(0)
        await answered(any_store, config)  # the real dispatcher places c1's call
        call = await only_call(any_store, "c1")
        event = await asyncio.wait_for(first, 2.0)
        assert event.topic == "pop"
        assert event.data == {"agent": call.agent, "call_id": call.call_id, "client_id": "c1"}
    finally:
        await feed.aclose()
        await ctx.close()


async def test_a_correction_is_an_explicit_audited_edit(desk: tuple[WebContext, httpx.AsyncClient, str]) -> None:
    ctx, c, call_id = desk
    async with c:
        token = await login(c, "ivanova")
        url, headers = f"/api/v1/calls/{call_id}/disposition", {"X-CSRF-Token": token}
        assert (await c.post(url, json={"disposition": "interested"}, headers=headers)).status_code == 200
        assert (await get(ctx.store, "c1")).state.stage is Stage.HOT
        card = await c.get(f"/desk/calls/{call_id}")
        assert 'data-replace="true"' in card.text and 'id="edit-disposition"' in card.text
        # The edit offers what fits the state before the first disposition (a prospect).
        assert 'value="contract_terminated"' not in card.text
        r = await c.post(url, json={"disposition": "no_need", "replace": True}, headers=headers)
        assert r.status_code == 200 and r.json()["replaced"] == "interested"
        client = await get(ctx.store, "c1")
        assert client.state.stage is Stage.PROSPECT and client.state.hot_calls == 0  # counted once
        [last, *_] = await ctx.store.events_for("c1")
        assert last.data["by"] == "ivanova" and last.data["replaces"]["disposition"] == "interested"


async def test_the_stream_needs_an_agent_session(desk: tuple[WebContext, httpx.AsyncClient, str]) -> None:
    _, c, _ = desk
    async with c:
        r = await c.get("/desk/stream")
        assert r.status_code == 401 and "log in again" in r.text
        await login(c, "boss")
        assert (await c.get("/desk/stream")).status_code == 403


async def test_a_page_gone_logs_a_ready_agent_out(desk: tuple[WebContext, httpx.AsyncClient, str]) -> None:
    ctx, _, _ = desk
    now = ctx.clock.now()
    await ctx.people.set_presence("ivanova", PresenceState.READY, now, by="ivanova")
    await ctx.people.set_presence("petrov", PresenceState.PAUSED, now, by="petrov", reason="lunch")
    await page_gone(ctx, "ivanova", after=0)
    await page_gone(ctx, "petrov", after=0)
    ivanova, petrov = await ctx.people.presence(now + timedelta(seconds=1), ["ivanova", "petrov"])
    assert ivanova.state is PresenceState.LOGGED_OUT and ivanova.updated_by == "page-closed"
    assert petrov.state is PresenceState.PAUSED  # a paused agent is not offered calls anyway


async def test_why_now_names_the_queue_class(desk: tuple[WebContext, httpx.AsyncClient, str]) -> None:
    ctx, _, _ = desk
    client = await get(ctx.store, "c1")
    from dataclasses import replace

    assert why_now(replace(client, priority=0)) == "open complaint: follow it up"
    hot = replace(client, priority=2, state=client.state.evolve(hot_calls=1))
    assert why_now(hot) == "hot: showed interest, follow up (hot call 2)"
    assert why_now(replace(client, priority=3)) == "check-in with a customer"
