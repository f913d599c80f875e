"""Preview mode in a real browser with the real dispatcher: the Ready agent's page shows
the next client's card with Call and Skip; Skip (with a reason) brings the next client;
Call dials that client and the call's card replaces the preview.

The app, the store and the dispatcher share uvicorn's loop (`Harness.run`), as in the worker."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dialer.accounts import hash_password
from dialer.config import DialerConfig, load_config
from dialer.dispatcher import Dispatcher
from dialer.domain import CallStatus
from dialer.http import create_app
from dialer.pacing.modes import DialMode
from dialer.store.people import Account, Role, people_of
from dialer.store.sqlite import SqliteStore
from dialer.web.context import WebContext
from dialer.web.settings import WebSettings
from providers.base import CallResult, DialRequest, EventSink
from tests.support.clocks import RunningClock
from tests.support.dispatch import MORNING, client, load
from tests.support.paths import EXAMPLE_CONFIG

T = TypeVar("T")
PASSWORD = "preview browser password"
WAIT = 10.0  # seconds any one browser wait may take


class Answering:
    """Records the dial; the client answers and talks until the test hangs up."""

    name = "simulated"

    def __init__(self, clock: RunningClock):
        self.clock = clock
        self.dialed: list[DialRequest] = []
        self.hang_up = asyncio.Event()

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def check(self) -> None: ...

    async def fetch(self, provider_call_id: str) -> CallResult | None:
        return None

    async def dial(self, request: DialRequest, on_event: EventSink | None = None) -> CallResult:
        self.dialed.append(request)
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
        cold = base.campaign("cold").model_copy(update={"dial_mode": DialMode.PREVIEW})
        self.config: DialerConfig = base.model_copy(update={"campaigns": [cold], "web": WebSettings(enabled=True)})
        self.clock = RunningClock(MORNING)
        self.store = SqliteStore(tmp / "preview.db")
        self.dispatcher = Dispatcher(self.store, {"simulated": Answering(self.clock)}, self.config, self.clock)
        self.ctx = WebContext(
            self.store, lambda: self.config, self.clock, "v" * 40, dispatcher_source=lambda: self.dispatcher
        )
        self.app = create_app({}, web=self.ctx)
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def provider(self) -> Answering:
        provider = self.dispatcher.providers["simulated"]
        assert isinstance(provider, Answering)
        return provider

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.loop = asyncio.get_running_loop()
        await self.app(scope, receive, send)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = WAIT) -> T:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def setup(self) -> None:
        await self.store.open()
        await self.store.migrate()
        records = [
            client(1, name="Anna Sokolova", attributes={"company": "Sokol LLC", "city": "Kazan"}),
            client(2, name="Boris Orlov", attributes={"company": "Orlov & Sons", "city": "Samara"}),
        ]
        await load(self.store, self.config, records, MORNING)
        account = Account("ivanova", Role.AGENT, ("cold",), hash_password(PASSWORD), False, datetime.now(UTC))
        await people_of(self.store).add_account(account, actor="test")

    async def step(self) -> None:
        await self.dispatcher.step()

    async def end_call(self) -> None:
        self.provider.hang_up.set()
        await self.dispatcher.wait_idle()


def _until(predicate: Any, what: str, timeout: float = WAIT) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except StaleElementReferenceException:
            value = None
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def test_the_agent_skips_one_client_and_calls_the_next(browser: Any, serve_app: Any, harness: Harness) -> None:
    from selenium.webdriver.common.by import By

    base = serve_app(harness)
    harness.run(harness.setup())
    try:
        browser.get(f"{base}/login")
        browser.find_element(By.NAME, "name").send_keys("ivanova")
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "form.login button").click()
        _until(lambda: browser.current_url.rstrip("/") == base, "the login")
        browser.get(f"{base}/desk")
        browser.find_element(By.ID, "go-ready").click()
        _until(lambda: browser.find_element(By.ID, "presence").get_attribute("data-state") == "ready", "ready")
        _until(lambda: "on" in (browser.find_element(By.ID, "live").get_attribute("class") or ""), "the live feed")

        harness.run(harness.step())
        first = _until(lambda: browser.find_elements(By.ID, "preview"), "the preview")[0]
        skipped = first.get_attribute("data-client")
        assert harness.provider.dialed == [], "a preview dialed before Call"
        assert "cold call" in first.text and first.find_element(By.ID, "preview-call").is_displayed()
        if os.environ.get("DIALER_SCREENSHOTS"):
            browser.save_screenshot(os.environ["DIALER_SCREENSHOTS"])

        browser.find_element(By.ID, "skip-button").click()  # no reason: the browser asks for one
        assert browser.find_elements(By.ID, "preview") and harness.dispatcher.previews
        browser.find_element(By.NAME, "reason").send_keys("needs preparation")
        browser.find_element(By.ID, "skip-button").click()
        _until(lambda: not harness.dispatcher.previews, "the skip")
        _until(lambda: browser.find_element(By.ID, "presence").get_attribute("data-state") == "ready", "ready again")

        harness.run(harness.step())
        second = _until(
            lambda: [p for p in browser.find_elements(By.ID, "preview") if p.get_attribute("data-client") != skipped],
            "the next client's preview",
        )[0]
        called = second.get_attribute("data-client")
        browser.find_element(By.ID, "preview-call").click()
        _until(lambda: browser.find_elements(By.ID, "card"), "the call's card")
        [request] = harness.provider.dialed
        assert request.context["client_id"] == called and request.agent == "ivanova"
        assert browser.find_element(By.ID, "card").get_attribute("data-client") == called
        harness.run(harness.end_call())
    finally:
        browser.get("about:blank")  # close the event stream before the server stops
        if harness.loop is not None:
            harness.run(harness.store.close())
