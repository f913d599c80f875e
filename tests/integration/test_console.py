"""The supervisor console over HTTP (the real Starlette app on a SQLite file, httpx):
roles and scope on every route, the board's data, pause and log-out from the board's
calls, client search and the client's actions, the day report behind the login, and
/api/v1/reports/day?campaign=."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from io import BytesIO

import httpx
import pytest
from openpyxl import load_workbook

from dialer.config import DialerConfig
from dialer.domain import Stage
from dialer.http import create_app
from dialer.store.base import Store
from dialer.store.people import PresenceState, people_of
from dialer.web.context import WebContext
from tests.support.clocks import FixedClock
from tests.support.console_web import SECRET, add_people, csrf_of, login, web_config
from tests.support.talking import answered


@dataclass
class Console:
    ctx: WebContext
    store: Store
    clock: FixedClock
    tokens: dict[str, str]

    def client(self) -> httpx.AsyncClient:
        app = create_app({}, web=self.ctx)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")

    @asynccontextmanager
    async def session(self, name: str) -> AsyncIterator[httpx.AsyncClient]:
        async with self.client() as c:
            await login(c, name)
            yield c


@pytest.fixture
async def console(store: Store, config: DialerConfig) -> AsyncIterator[Console]:
    d = await answered(store, config, n=3)  # clients c1..c3, calls at 10:00 Moscow
    tokens = await add_people(store)
    assert isinstance(d.clock, FixedClock)
    yield Console(WebContext(store, lambda: web_config(config), d.clock, SECRET), store, d.clock, tokens)


PAGES = [
    "/console", "/console/board.json", "/console/board/cards", "/console/clients?q=c1", "/console/clients/c1",
    "/console/report", "/console/report.xlsx", "/console/report.csv",
]  # fmt: skip


async def test_agents_get_403_everywhere_and_nothing_changes(console: Console) -> None:
    async with console.session("ivanova") as c:
        for path in PAGES:
            assert (await c.get(path)).status_code == 403, path
        csrf = csrf_of((await c.get("/")).text)
        before = await console.store.get_client("c1")
        r = await c.post("/console/clients/c1/next-contact", data={"csrf_token": csrf, "at": "2026-12-02T11:00"})
        assert r.status_code == 403
        r = await c.post("/console/clients/c1/do-not-call", data={"csrf_token": csrf, "confirm": "yes"})
        assert r.status_code == 403
        assert await console.store.get_client("c1") == before


async def test_without_a_session_pages_go_to_login_and_data_is_401(console: Console) -> None:
    async with console.client() as c:
        r = await c.get("/console")
        assert r.status_code == 303 and r.headers["location"] == "/login"
        r = await c.get("/console/board.json")
        assert r.status_code == 401 and "log in" in r.json()["error"]


async def test_the_board_shows_the_campaigns_in_scope(console: Console) -> None:
    async with console.session("boss") as c:
        page = await c.get("/console")
        assert page.status_code == 200 and 'data-campaign="cold"' in page.text
        assert 'name="csrf-token"' in page.text and "/static/console.js" in page.text
        board = (await c.get("/console/board.json")).json()
        cold = next(x for x in board["campaigns"] if x["name"] == "cold")
        assert [x["name"] for x in board["campaigns"]] == ["cold", "warm", "care"]
        assert cold["lines"] >= 1 and cold["plan"]["dialed"] == 3 and cold["plan"]["reached"] == 3
        assert cold["conversations"] == 3 and cold["adherence"] == 1.0  # 4 min talks: inside 3-5
        assert cold["band"] == "3-5 min" and not cold["paused"]
        assert {a["name"] for a in cold["agents"]} >= {"ivanova", "petrov"}
        assert cold["provider"]["name"] == "simulated"
    async with console.session("warmboss") as c:
        board = (await c.get("/console/board.json")).json()
        assert [x["name"] for x in board["campaigns"]] == ["warm"]
        assert 'data-campaign="cold"' not in (await c.get("/console/board/cards")).text


async def test_pause_resume_and_log_out_from_the_board_are_scoped_and_audited(console: Console) -> None:
    people = people_of(console.store)
    now = console.clock.now()
    await people.set_presence("ivanova", PresenceState.READY, now, by="ivanova")
    async with console.session("warmboss") as c:
        csrf = csrf_of((await c.get("/console")).text)
        r = await c.post("/api/v1/campaigns/cold/pause", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 403
        r = await c.put("/api/v1/agents/ivanova/state", json={"state": "logged_out"}, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 403
    assert "cold" not in await people.paused_campaigns()
    async with console.session("boss") as c:
        csrf = csrf_of((await c.get("/console")).text)
        assert (await c.post("/api/v1/campaigns/cold/pause")).status_code == 403  # no CSRF header
        r = await c.post("/api/v1/campaigns/cold/pause", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200
        cold = (await c.get("/console/board.json")).json()["campaigns"][0]
        assert cold["paused"] and cold["paused_by"] == "boss" and cold["held"] == "paused by a supervisor"
        assert "Resume" in (await c.get("/console/board/cards")).text
        r = await c.put("/api/v1/agents/ivanova/state", json={"state": "logged_out"}, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200
        r = await c.post("/api/v1/campaigns/cold/resume", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200
    (p,) = await people.presence(now, ["ivanova"])
    assert p.state is PresenceState.LOGGED_OUT
    assert "cold" not in await people.paused_campaigns()
    actions = [(a.actor, a.action, a.subject) for a in await people.audit_since(now - timedelta(hours=1))]
    assert ("boss", "campaign_paused", "cold") in actions and ("boss", "campaign_resumed", "cold") in actions
    assert ("boss", "agent_logged_out", "ivanova") in actions


async def test_client_search_and_client_page(console: Console) -> None:
    async with console.session("boss") as c:
        r = await c.get("/console/clients", params={"q": "8 (912) 000-00-01"})
        assert r.status_code == 200 and 'href="/console/clients/c1"' in r.text and "/console/clients/c2" not in r.text
        r = await c.get("/console/clients", params={"q": "client 2"})
        assert 'href="/console/clients/c2"' in r.text
        r = await c.get("/console/clients", params={"q": "nobody at all"})
        assert r.status_code == 404 and "no client matches" in r.text
        page = await c.get("/console/clients/c1")
        assert page.status_code == 200 and 'id="client-why"' in page.text and "ivanova" in page.text
        assert (await c.get("/console/clients/nope")).status_code == 404
    async with console.session("warmboss") as c:
        assert "/console/clients/c1" not in (await c.get("/console/clients", params={"q": "c1"})).text
        r = await c.get("/console/clients/c1")
        assert r.status_code == 403 and "not in your campaigns" in r.text


async def test_move_next_contact_and_do_not_call_forms(console: Console) -> None:
    store = console.store
    async with console.session("boss") as c:
        page = await c.get("/console/clients/c1")
        csrf = csrf_of(page.text)
        before = await store.get_client("c1")
        r = await c.post("/console/clients/c1/next-contact", data={"at": "2026-12-02T11:00"})
        assert r.status_code == 403
        r = await c.post("/console/clients/c1/next-contact", data={"csrf_token": csrf, "at": "tomorrow"})
        assert r.status_code == 400 and "is not a date and time" in r.text
        r = await c.post("/console/clients/c1/next-contact", data={"csrf_token": csrf, "at": "2026-11-30T11:00"})
        assert r.status_code == 400 and "in the past" in r.text
        r = await c.post("/console/clients/c1/next-contact", data={"csrf_token": csrf, "at": "2026-12-02T21:00"})
        assert r.status_code == 422 and "the next opening is 2026-12-03 09:00 (Europe/Moscow)" in r.text
        assert await store.get_client("c1") == before
        r = await c.post("/console/clients/c1/next-contact", data={"csrf_token": csrf, "at": "2026-12-02T11:30"})
        assert r.status_code == 303 and r.headers["location"] == "/console/clients/c1?done=moved"
        moved = await store.get_client("c1")
        assert moved is not None and moved.next_dial_at is not None
        assert moved.next_dial_at.isoformat() == "2026-12-02T08:30:00+00:00"  # 11:30 in Moscow
        assert "the next contact was moved" in (await c.get(r.headers["location"])).text
        r = await c.post("/console/clients/c2/do-not-call", data={"csrf_token": csrf, "confirm": "yes"})
        assert r.status_code == 303
        dnc = await store.get_client("c2")
        assert dnc is not None and dnc.state.stage is Stage.DNC and dnc.next_dial_at is None
        r = await c.post("/console/clients/c2/do-not-call", data={"csrf_token": csrf, "confirm": "yes"})
        assert r.status_code == 409 and "already do-not-call" in r.text


async def test_the_day_report_behind_the_login_is_scoped(console: Console) -> None:
    async with console.session("boss") as c:
        r = await c.get("/console/report", params={"date": "2026-12-01"})
        assert (
            r.status_code == 200 and 'id="chart-hours"' in r.text and "/console/report.xlsx?date=2026-12-01" in r.text
        )
        css = await c.get("/console/report/static/report.css")
        assert css.status_code == 200
        r = await c.get("/console/report.xlsx", params={"date": "2026-12-01", "campaign": "cold"})
        assert r.status_code == 200
        book = load_workbook(BytesIO(r.content))
        assert book.sheetnames
        assert (await c.get("/console/report", params={"date": "1.12.2026"})).status_code == 400
        r = await c.get("/console/report", params={"campaign": "nope"})
        assert r.status_code == 400 and "no campaign named" in r.text
    async with console.session("warmboss") as c:
        r = await c.get("/console/report", params={"date": "2026-12-01", "campaign": "cold"})
        assert r.status_code == 403 and "not one of yours" in r.text
        assert (await c.get("/console/report.csv", params={"campaign": "cold"})).status_code == 403
        r = await c.get("/console/report", params={"date": "2026-12-01"})
        assert r.status_code == 200 and "warm" in r.text and '<option value="cold"' not in r.text


async def test_api_day_report_by_campaign(console: Console) -> None:
    async with console.client() as c:

        def auth(label: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {console.tokens[label]}"}

        r = await c.get("/api/v1/reports/day?date=2026-12-01&campaign=cold", headers=auth("boss"))
        body = r.json()
        assert r.status_code == 200 and body["campaign"] == "cold" and body["rows"]
        assert {row["campaign"] for row in body["rows"]} == {"cold"}
        r = await c.get("/api/v1/reports/day?date=2026-12-01&campaign=cold", headers=auth("warm"))
        assert r.status_code == 403 and r.json() == {"error": "campaign cold is not one of yours"}
        r = await c.get("/api/v1/reports/day?date=2026-12-01&campaign=nope", headers=auth("boss"))
        assert r.status_code == 404 and "nope" in r.json()["error"]
        r = await c.get("/api/v1/reports/day?date=2026-12-01&campaign=cold", headers=auth("agent"))
        assert r.status_code == 403
        r = await c.get("/api/v1/reports/day?date=yesterday", headers=auth("boss"))
        assert r.status_code == 400
