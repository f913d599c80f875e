"""The web foundation (issue 12) against the real Starlette app on a SQLite file, over
httpx: login, session cookie, CSRF, throttling, logout, roles, the /api/v1 API."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from dialer.accounts import hash_password, new_token
from dialer.config import DialerConfig
from dialer.http import create_app
from dialer.store.base import Store
from dialer.store.people import Account, ApiToken, PresenceState, Role, people_of
from dialer.web.api import openapi_text
from dialer.web.context import WebContext
from dialer.web.settings import WebSettings
from tests.support.clocks import FixedClock
from tests.support.talking import answered, only_call

SECRET = "s" * 40
PASSWORD = "correct horse battery"


def web_config(config: DialerConfig, **web: object) -> DialerConfig:
    return config.model_copy(update={"web": WebSettings(enabled=True, **web)})  # type: ignore[arg-type]


async def add_people(store: Store) -> dict[str, str]:
    people = people_of(store)
    now = datetime.now(UTC)
    for name, role, campaigns in [
        ("ivanova", Role.AGENT, ("cold",)),
        ("petrov", Role.AGENT, ("cold",)),
        ("boss", Role.SUPERVISOR, ()),
        ("warmboss", Role.SUPERVISOR, ("warm",)),
    ]:
        await people.add_account(Account(name, role, campaigns, hash_password(PASSWORD), False, now), actor="test")
    tokens = {}
    for label, role in [("sup", Role.SUPERVISOR), ("agent", Role.AGENT)]:
        token_id, secret, digest = new_token()
        await people.add_token(ApiToken(token_id, role, (), label, now), digest, actor="test")
        tokens[label] = secret
    return tokens


class Web:
    def __init__(self, store: Store, config: DialerConfig, clock: FixedClock):
        self.ctx = WebContext(store, lambda: config, clock, SECRET)
        self.app = create_app({}, web=self.ctx)

    def client(self, base_url: str = "http://test") -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=base_url)


async def login(c: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    page = await c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    return await c.post("/login", data={"csrf_token": token.group(1), "name": name, "password": password})


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


@pytest.fixture
async def web(store: Store, config: DialerConfig) -> AsyncIterator[tuple[Web, dict[str, str]]]:
    # An answered call of client c1, connected to agent ivanova (the cold campaign's first).
    d = await answered(store, config)
    tokens = await add_people(store)
    assert isinstance(d.clock, FixedClock)
    yield Web(store, web_config(config), d.clock), tokens


async def test_login_sets_a_signed_httponly_lax_cookie_and_logout_ends_it(web: tuple[Web, dict[str, str]]) -> None:
    w, _ = web
    async with w.client() as c:
        assert (await c.get("/")).headers["location"].startswith("/login")
        r = await login(c, "ivanova")
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = r.headers["set-cookie"]
        assert "dialer_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert "Secure" not in cookie and PASSWORD not in cookie
        home = await c.get("/")
        assert home.status_code == 200 and "ivanova (agent)" in home.text
        assert 'data-state="logged_out"' in home.text
        out = await c.post("/logout", data={"csrf_token": csrf_of(home.text)})
        assert out.status_code == 303
        assert (await c.get("/")).status_code == 303  # the session is gone


async def test_secure_cookie_behind_https(store: Store, config: DialerConfig) -> None:
    await add_people(store)
    w = Web(store, web_config(config, public_url="https://dialer.example"), FixedClock(datetime.now(UTC)))
    async with w.client("https://dialer.example") as c:
        r = await login(c, "boss")
        assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


async def test_wrong_password_and_throttle_after_failures(web: tuple[Web, dict[str, str]]) -> None:
    w, _ = web
    async with w.client() as c:
        r = await login(c, "ivanova", "wrong password")
        assert r.status_code == 401 and "wrong" in r.text and "dialer_session" not in r.headers.get("set-cookie", "")
        for _ in range(4):
            await login(c, "ivanova", "wrong password")
        r = await login(c, "ivanova")  # the right password, but the account waits now
        assert r.status_code == 429 and "too many failed logins" in r.text
        assert (await login(c, "petrov")).status_code == 303  # another account is not held


async def test_login_form_without_its_token_is_refused(web: tuple[Web, dict[str, str]]) -> None:
    w, _ = web
    async with w.client() as c:
        r = await c.post("/login", data={"name": "ivanova", "password": PASSWORD})
        assert r.status_code == 403 and "dialer_session" not in r.headers.get("set-cookie", "")


async def test_presence_form_needs_the_csrf_token(web: tuple[Web, dict[str, str]]) -> None:
    w, _ = web
    people = w.ctx.people
    async with w.client() as c:
        await login(c, "ivanova")
        r = await c.post("/presence", data={"state": "ready"})
        assert r.status_code == 403
        (p,) = await people.presence(w.ctx.clock.now(), ["ivanova"])
        assert p.state is PresenceState.LOGGED_OUT
        home = await c.get("/")
        r = await c.post("/presence", data={"state": "ready", "csrf_token": csrf_of(home.text)})
        assert r.status_code == 303
        (p,) = await people.presence(w.ctx.clock.now(), ["ivanova"])
        assert p.state is PresenceState.READY
        # Logging out takes the agent out of the rotation.
        await c.post("/logout", data={"csrf_token": csrf_of((await c.get("/")).text)})
        (p,) = await people.presence(w.ctx.clock.now(), ["ivanova"])
        assert p.state is PresenceState.LOGGED_OUT


async def test_expired_session_is_refused(store: Store, config: DialerConfig) -> None:
    import asyncio

    await add_people(store)
    w = Web(store, web_config(config, session_ttl="1s"), FixedClock(datetime.now(UTC)))
    async with w.client() as c:
        await login(c, "boss")
        assert (await c.get("/api/v1/me")).status_code == 200
        await asyncio.sleep(2.1)
        r = await c.get("/api/v1/me")
        assert r.status_code == 401 and "expired" in r.json()["error"]


async def test_disabled_account_is_out_at_once(web: tuple[Web, dict[str, str]]) -> None:
    w, _ = web
    async with w.client() as c:
        await login(c, "petrov")
        assert (await c.get("/api/v1/me")).json()["name"] == "petrov"
        await w.ctx.people.set_disabled("petrov", True, w.ctx.clock.now(), actor="test")
        assert (await c.get("/api/v1/me")).status_code == 401


async def test_api_needs_credentials_and_rejects_bad_tokens(web: tuple[Web, dict[str, str]]) -> None:
    w, tokens = web
    async with w.client() as c:
        assert (await c.get("/api/v1/campaigns")).status_code == 401
        r = await c.get("/api/v1/campaigns", headers={"Authorization": "Bearer dlr_nope"})
        assert r.status_code == 401 and r.json() == {"error": "the token is unknown or revoked"}
        r = await c.get("/api/v1/campaigns", headers={"Authorization": f"Bearer {tokens['sup']}"})
        assert r.status_code == 200 and {x["name"] for x in r.json()["campaigns"]} == {"cold", "warm", "care"}


async def test_pause_and_resume_roles_and_audit(web: tuple[Web, dict[str, str]]) -> None:
    w, tokens = web
    people = w.ctx.people
    sup = {"Authorization": f"Bearer {tokens['sup']}"}
    async with w.client() as c:
        r = await c.post("/api/v1/campaigns/cold/pause", headers={"Authorization": f"Bearer {tokens['agent']}"})
        assert r.status_code == 403 and await people.paused_campaigns() == set()
        r = await c.post("/api/v1/campaigns/nope/pause", headers=sup)
        assert r.status_code == 404 and "no campaign 'nope'" in r.json()["error"]
        # A supervisor of another campaign: 403, nothing changed.
        await login(c, "warmboss")
        home = await c.get("/")
        r = await c.post("/api/v1/campaigns/cold/pause", headers={"X-CSRF-Token": csrf_of(home.text)})
        assert r.status_code == 403 and await people.paused_campaigns() == set()
        # A session without the CSRF header: refused.
        assert (await c.post("/api/v1/campaigns/warm/pause")).status_code == 403
        r = await c.post("/api/v1/campaigns/warm/pause", headers={"X-CSRF-Token": csrf_of(home.text)})
        assert r.status_code == 200 and await people.paused_campaigns() == {"warm"}
    async with w.client() as c:
        assert (await c.post("/api/v1/campaigns/warm/resume", headers=sup)).status_code == 200
    assert await people.paused_campaigns() == set()
    actions = [(a.actor, a.action, a.subject) for a in await people.audit_since(datetime(2020, 1, 1, tzinfo=UTC))]
    assert actions[-2] == ("warmboss", "campaign_paused", "warm")
    assert actions[-1][0].startswith("token:") and actions[-1][1:] == ("campaign_resumed", "warm")


async def test_disposition_by_call_id_roles_and_bad_input(web: tuple[Web, dict[str, str]], store: Store) -> None:
    w, _ = web
    call = await only_call(store, "c1")
    assert call.agent == "ivanova"
    before = await store.get_client("c1")
    url = f"/api/v1/calls/{call.call_id}/disposition"
    async with w.client() as other:
        await login(other, "petrov")
        token = csrf_of((await other.get("/")).text)
        r = await other.post(url, json={"disposition": "interested"}, headers={"X-CSRF-Token": token})
        assert r.status_code == 403 and "not one of yours" in r.json()["error"]
        assert (await other.get("/api/v1/clients/c1")).status_code == 403
    assert await store.get_client("c1") == before
    async with w.client() as c:
        await login(c, "ivanova")
        h = {"X-CSRF-Token": csrf_of((await c.get("/")).text)}
        assert (await c.post(url, json={"disposition": "maybe"}, headers=h)).status_code == 400
        assert (await c.post(url, content=b"not json", headers=h)).status_code == 400
        r = await c.post(url, json={"disposition": "callback", "at": "2020-01-01T10:00"}, headers=h)
        assert r.status_code == 422 and "in the past" in r.json()["error"]
        assert (
            await c.post("/api/v1/calls/nope/disposition", json={"disposition": "interested"}, headers=h)
        ).status_code == 404
        assert await store.get_client("c1") == before
        r = await c.post(url, json={"disposition": "interested", "note": "wants a price list"}, headers=h)
        assert r.status_code == 200, r.text
        assert r.json()["stage"] == "hot" and r.json()["disposition"] == "interested"
        after = await store.get_client("c1")
        assert after is not None and after.state.stage.value == "hot" and after.due_at != before.due_at  # type: ignore[union-attr]
        r = await c.post(url, json={"disposition": "no_need"}, headers=h)
        assert r.status_code == 409 and "already has a disposition" in r.json()["error"]
        card = await c.get("/api/v1/clients/c1")
        assert card.status_code == 200 and card.json()["calls"][0]["disposition"] == "interested"
        assert card.json()["client"]["stage"] == "hot" and card.json()["why"]


async def test_disposition_by_client_id_with_a_token(web: tuple[Web, dict[str, str]], store: Store) -> None:
    w, tokens = web
    h = {"Authorization": f"Bearer {tokens['sup']}"}
    async with w.client() as c:
        assert (
            await c.post("/api/v1/clients/nobody/disposition", json={"disposition": "no_need"}, headers=h)
        ).status_code == 404
        r = await c.post("/api/v1/clients/c1/disposition", json={"disposition": "no_need"}, headers=h)
        assert r.status_code == 200 and r.json()["client_id"] == "c1"
    call = await only_call(store, "c1")
    assert call.disposition is not None and call.disposition.value == "no_need"


async def test_agents_states_and_who_may_set_them(web: tuple[Web, dict[str, str]]) -> None:
    w, tokens = web
    async with w.client() as c:
        await login(c, "ivanova")
        h = {"X-CSRF-Token": csrf_of((await c.get("/")).text)}
        assert (await c.put("/api/v1/agents/petrov/state", json={"state": "ready"}, headers=h)).status_code == 403
        r = await c.put("/api/v1/agents/ivanova/state", json={"state": "paused", "reason": "nap"}, headers=h)
        assert r.status_code == 400 and "reason" in r.json()["error"]
        r = await c.put("/api/v1/agents/ivanova/state", json={"state": "paused", "reason": "lunch"}, headers=h)
        assert r.status_code == 200
        r = await c.put("/api/v1/agents/ivanova/state", json={"state": "on_call"}, headers=h)
        assert r.status_code == 400
        mine = (await c.get("/api/v1/agents")).json()["agents"]
        assert [(a["agent"], a["state"], a["reason"]) for a in mine] == [("ivanova", "paused", "lunch")]
    sup = {"Authorization": f"Bearer {tokens['sup']}"}
    async with w.client() as c:
        r = await c.put("/api/v1/agents/ivanova/state", json={"state": "logged_out"}, headers=sup)
        assert r.status_code == 200
        everyone = {a["agent"]: a["state"] for a in (await c.get("/api/v1/agents", headers=sup)).json()["agents"]}
        assert everyone["ivanova"] == "logged_out" and len(everyone) > 3


async def test_webhooks_are_untouched_by_sessions(web: tuple[Web, dict[str, str]]) -> None:
    w, _ = web
    async with w.client() as c:
        r = await c.post("/webhooks/twilio/status", content=b"x=1")
        assert r.status_code == 404 and r.text == "no such provider"  # the webhook route, not a CSRF refusal
        assert (await c.get("/healthz")).text == "ok"


async def test_openapi_is_served_from_the_repo_file_and_covers_every_route(web: tuple[Web, dict[str, str]]) -> None:
    w, _ = web
    async with w.client() as c:
        r = await c.get("/api/v1/openapi.json")
    on_disk = (Path(__file__).parents[2] / "dialer" / "web" / "openapi.json").read_text(encoding="utf-8")
    assert r.status_code == 200 and r.text == on_disk == openapi_text()
    spec = json.loads(on_disk)
    routes = {
        (route.path, method.lower())
        for route in w.app.routes
        if isinstance(route, Route) and route.path.startswith("/api/v1")
        for method in (route.methods or ())
        if method != "HEAD"
    }
    described = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert routes == described
    from dialer.domain import Disposition

    assert spec["components"]["schemas"]["Disposition"]["properties"]["disposition"]["enum"] == [
        d.value for d in Disposition
    ]


async def test_page_events_reach_the_other_workers_pages_on_postgres(config: DialerConfig) -> None:
    import asyncio

    from dialer.store.postgres import PostgresStore
    from tests.support.services import pg_available
    from tests.support.stores import pg_throwaway_store

    await pg_available()
    first = pg_throwaway_store()
    await first.open()
    await first.migrate()
    assert isinstance(first, PostgresStore)
    second = PostgresStore(first.dsn, schema=first.schema)
    await second.open()
    clock = FixedClock(datetime.now(UTC))
    one = WebContext(first, lambda: web_config(config), clock, SECRET)
    two = WebContext(second, lambda: web_config(config), clock, SECRET)
    try:
        await two.start_listening()
        received: list[tuple[str, dict[str, object]]] = []

        async def page() -> None:
            async for event in two.notifier.subscribe(["campaign"]):
                received.append((event.topic, event.data))
                return

        task = asyncio.create_task(page())
        await asyncio.sleep(0)
        await one.publish("campaign", {"campaign": "cold", "paused": True})
        await asyncio.wait_for(task, 5)
        assert received == [("campaign", {"campaign": "cold", "paused": True})]
    finally:
        await one.close()
        await two.close()
        await second.close()
        await first.close()
