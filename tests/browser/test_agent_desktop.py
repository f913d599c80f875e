"""The agent desktop in a real browser, with the real dispatcher placing the call:
two agents log in and go Ready, the call pops the card on the right agent's page
within 1 s, the talk timer runs and changes colour, a callback outside the client's
window is refused with the next opening, a disposition saves and moves the client's
next contact in the store, and the other agent gets 403 on the call.

The app runs in uvicorn's thread and loop (serve_app); the store and the dispatcher run
in that same loop (`Harness.run`), as they do in the worker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dialer.accounts import hash_password
from dialer.config import DialerConfig, load_config
from dialer.config.models import Talk
from dialer.dispatcher import Dispatcher
from dialer.domain import CallStatus, Stage
from dialer.http import create_app
from dialer.store.people import Account, Role, people_of
from dialer.store.sqlite import SqliteStore
from dialer.web.context import WebContext
from dialer.web.settings import WebSettings
from providers.base import CallResult, DialRequest, EventSink
from tests.support.clocks import RunningClock
from tests.support.dispatch import MORNING, client, load
from tests.support.paths import EXAMPLE_CONFIG

T = TypeVar("T")
PASSWORD = "desk browser password"
POP_WITHIN = 1.0
WAIT = 10.0  # seconds any one browser wait may take


class HeldCall:
    """The simulated client answers and talks until the test hangs up; the agent's
    disposition is left to the person at the page."""

    name = "simulated"

    def __init__(self, clock: RunningClock):
        self.clock = clock
        self.dialed_at: float | None = None
        self.hang_up = asyncio.Event()

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def check(self) -> None: ...

    async def fetch(self, provider_call_id: str) -> CallResult | None:
        return None

    async def dial(self, request: DialRequest, on_event: EventSink | None = None) -> CallResult:
        self.dialed_at = time.monotonic()
        start = self.clock.now()
        try:
            await asyncio.wait_for(self.hang_up.wait(), 30)
        except TimeoutError:
            pass
        end = self.clock.now()
        return CallResult(
            status=CallStatus.ANSWERED, dialed_at=start, ended_at=end, provider_call_id=f"P-{request.call_id}",
            answered_at=start, ring_s=0, talk_s=(end - start).total_seconds(),
        )  # fmt: skip


class Harness:
    def __init__(self, tmp: Path):
        base = load_config(EXAMPLE_CONFIG)
        cold = base.campaign("cold").model_copy(
            update={
                "talk": Talk(
                    target_min=timedelta(seconds=2), target_max=timedelta(seconds=4), hard_limit=timedelta(seconds=20)
                )
            }  # fmt: skip
        )
        campaigns = [cold if c.name == "cold" else c for c in base.campaigns]
        self.config: DialerConfig = base.model_copy(update={"campaigns": campaigns, "web": WebSettings(enabled=True)})
        self.clock = RunningClock(MORNING)
        self.store = SqliteStore(tmp / "desk.db")
        self.ctx = WebContext(self.store, lambda: self.config, self.clock, "d" * 40)
        self.app = create_app({}, web=self.ctx)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.provider = HeldCall(self.clock)
        self.dispatcher: Dispatcher | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.loop = asyncio.get_running_loop()  # uvicorn's: the store and dispatcher live here
        await self.app(scope, receive, send)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = WAIT) -> T:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def setup(self) -> None:
        await self.store.open()
        await self.store.migrate()
        record = client(1, name="Anna Sokolova", attributes={"company": "Sokol LLC", "city": "Kazan"})
        await load(self.store, self.config, [record], MORNING)
        now = datetime.now(UTC)
        for name in ("ivanova", "petrov"):
            account = Account(name, Role.AGENT, ("cold",), hash_password(PASSWORD), False, now)
            await people_of(self.store).add_account(account, actor="test")
        self.dispatcher = Dispatcher(self.store, {"simulated": self.provider}, self.config, self.clock)

    async def place_call(self) -> None:
        assert self.dispatcher is not None
        await self.dispatcher.step()

    async def end_call(self) -> None:
        assert self.dispatcher is not None
        self.provider.hang_up.set()
        await self.dispatcher.wait_idle()


def _until(predicate: Any, what: str, timeout: float = WAIT) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except StaleElementReferenceException:  # the page replaced it meanwhile: look again
            value = None
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _login(browser: Any, base: str, name: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{base}/login")
    browser.find_element(By.NAME, "name").send_keys(name)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form.login button").click()
    _until(lambda: browser.current_url.rstrip("/") == base, "the login")
    browser.get(f"{base}/desk")
    browser.find_element(By.ID, "go-ready").click()
    _until(lambda: browser.find_element(By.ID, "presence").get_attribute("data-state") == "ready", f"{name} ready")
    _until(lambda: "on" in (browser.find_element(By.ID, "live").get_attribute("class") or ""), "the live feed")


def _text(browser: Any, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    found = browser.find_elements(By.ID, element_id)
    return str(found[0].text) if found and found[0].is_displayed() else ""


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def test_an_agent_works_a_call_from_pop_to_disposition(browser: Any, serve_app: Any, harness: Harness) -> None:
    from selenium.webdriver.common.by import By

    port = serve_app(harness).rsplit(":", 1)[1]
    harness.run(harness.setup())
    # Two agents, two sessions: cookies are per host, so each has its own window and host.
    sites = {"ivanova": f"http://127.0.0.1:{port}", "petrov": f"http://localhost:{port}"}
    windows: dict[str, str] = {}
    try:
        for name, base in sites.items():
            if windows:
                browser.switch_to.new_window("window")
            windows[name] = browser.current_window_handle
            _login(browser, base, name)

        harness.run(harness.place_call())
        dialed_at = _until(lambda: harness.provider.dialed_at, "the dial")
        [call] = harness.run(harness.store.client_calls("c1"))
        mine, other = call.agent, next(n for n in sites if n != call.agent)
        assert mine in sites

        browser.switch_to.window(windows[mine])
        _until(lambda: browser.find_elements(By.ID, "card"), "the screen pop", timeout=POP_WITHIN + 2)
        assert time.monotonic() - dialed_at < POP_WITHIN, "the card popped later than 1 s after the dial"
        card = browser.find_element(By.ID, "card")
        assert card.get_attribute("data-call") == call.call_id
        assert "Anna Sokolova" in card.text and "Sokol LLC" in card.text and "Kazan" in card.text
        assert "cold call" in card.text
        assert browser.find_element(By.ID, "presence").get_attribute("data-state") == "on_call"

        # The timer runs: neutral, then green inside 2-4 s, then amber past 4 s.
        timer = browser.find_element(By.ID, "talk-timer")
        seen = {timer.get_attribute("data-colour")}
        _until(lambda: seen.add(timer.get_attribute("data-colour")) or "amber" in seen, "an amber timer", 8)
        assert {"green", "amber"} <= seen
        assert "hard limit in" in _text(browser, "timer-hint")

        browser.switch_to.window(windows[other])
        assert not browser.find_elements(By.ID, "card"), "the other agent's page popped too"
        status = browser.execute_async_script(
            "fetch(arguments[0], {credentials: 'same-origin'}).then(r => arguments[1](r.status));",
            f"/desk/calls/{call.call_id}",
        )
        assert status == 403
        status = browser.execute_async_script(
            "fetch(arguments[0], {method: 'POST', credentials: 'same-origin', headers: {'Content-Type': "
            "'application/json', 'X-CSRF-Token': document.getElementById('desk').dataset.csrf}, body: "
            "JSON.stringify({disposition: 'no_need'})}).then(r => arguments[1](r.status));",
            f"/api/v1/calls/{call.call_id}/disposition",
        )
        assert status == 403

        harness.run(harness.end_call())
        browser.switch_to.window(windows[mine])
        _until(lambda: browser.find_element(By.ID, "presence").get_attribute("data-state") == "wrap_up", "wrap-up")
        _until(lambda: browser.find_element(By.ID, "card").get_attribute("data-live") == "no", "the card's end")
        assert "left" in _text(browser, "wrap-up-left")

        before = harness.run(harness.store.get_client("c1"))
        assert before is not None
        # A callback outside the client's window: refused, with the next opening.
        browser.find_element(By.CSS_SELECTOR, "input[name=disposition][value=callback]").click()
        at = browser.find_element(By.CSS_SELECTOR, "input[name=at]")
        assert at.is_displayed()
        browser.execute_script(
            "arguments[0].value = '2026-12-01T23:30'; arguments[0].dispatchEvent(new Event('input'));", at
        )
        assert "client's time" in browser.find_element(By.CSS_SELECTOR, ".at-both").text
        browser.find_element(By.ID, "save-disposition").click()
        message = _until(lambda: _text(browser, "card-message"), "the refusal")
        assert "outside client c1's calling hours" in message and "the next opening is" in message
        assert harness.run(harness.store.get_client("c1")) == before

        # Interested: saved, the client turns hot and its next contact moves.
        browser.find_element(By.CSS_SELECTOR, "input[name=disposition][value=interested]").click()
        browser.find_element(By.NAME, "note").send_keys("wants a price list")
        browser.find_element(By.ID, "save-disposition").click()
        _until(lambda: browser.find_elements(By.ID, "disposed"), "the saved disposition")
        assert "interested" in browser.find_element(By.ID, "disposed").text
        after = harness.run(harness.store.get_client("c1"))
        assert after is not None and after.state.stage is Stage.HOT
        assert after.next_dial_at is not None and after.next_dial_at != before.next_dial_at
        assert after.next_dial_at > MORNING + timedelta(days=2)
        _until(lambda: "(0)" in browser.find_element(By.ID, "awaiting").text, "the empty awaiting list")
    finally:
        for handle in windows.values():  # close the event streams before the server stops
            browser.switch_to.window(handle)
            browser.get("about:blank")
        if harness.loop is not None:
            harness.run(harness.store.close())
