"""The supervisor console in a real browser against a real worker (`dialer run`'s
Service: dispatcher, the simulated provider in real time with short calls, SQLite,
the web section on): a supervisor logs in and the board updates without a reload;
pausing a campaign stops new calls while the calls in flight finish (checked in the
store), resuming starts them again; a client found by phone gets its next contact
moved; the day report draws its charts and its XLSX download reads back. Calls of the
morning with one client abandoned (written through the store's API before the worker
starts) show on the board as the abandon rate over the cap, and on the report page in
its occupancy table.

With DIALER_SCREENSHOTS=<folder> set, the board and the report page are saved there as
PNG (to look at them as a person would).

The worker runs in the test's event loop; the browser is driven from a thread
(Selenium blocks), so the worker keeps ticking while the test waits on the page.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from dialer.config import load_config
from dialer.domain import CallStatus, Stage
from dialer.service import Service
from dialer.store.people import PresenceState, people_of
from dialer.store.sqlite import SqliteStore
from tests.support.call_records import Done, record_calls
from tests.support.console_web import PASSWORD, SECRET, add_people
from tests.support.dispatch import client, load

T = TypeVar("T")
AGENTS = ("ivanova", "petrov", "sidorova")
CLIENTS = 40
WAIT = 15.0  # the longest any step waits, seconds


def _zone_at_noon(now: datetime) -> str:
    """An Etc/GMT zone whose wall clock reads about noon now: the legal window (08-21)
    is open whenever the test runs."""
    offset = max(-12, min(14, 12 - now.hour))
    return "Etc/GMT" + ("" if offset == 0 else f"{-offset:+d}")  # Etc/GMT-3 is UTC+3


def _config_text(zone: str) -> str:
    agents = "\n".join(f'      - {{name: {a}, target: "sip:{i}@pbx.local"}}' for i, a in enumerate(AGENTS, 101))
    return f"""
center:
  name: "Browser test center"
  timezone: {zone}
  shift: {{days: [mon-sun], start: "00:00", end: "23:59"}}
  phone_region: RU
legal_window: {{start: "08:00", end: "21:00"}}
storage: {{path: dialer.db, reports_dir: reports}}
schedules:
  always: {{days: [mon-sun], start: "00:00", end: "23:59"}}
default_schedule: always
campaigns:
  - name: cold
    stages: [prospect]
    lines: 3
    window: {{days: [mon-sun], start: "00:00", end: "23:59"}}
    provider: simulated
    caller_id: "+73412000001"
    agents:
{agents}
    wrap_up: 1s
providers:
  simulated:
    type: simulated
    answer_rate: 1.0
    busy_rate: 0
    machine_rate: 0
    failed_rate: 0
    ring_seconds: [1, 2]
    talk_seconds: {{median: 5, sigma: 0.1}}
http: {{host: 127.0.0.1, port: 0}}
service: {{tick: 0.5s, drain_timeout: 20s}}
web: {{enabled: true}}
"""


@dataclass
class Worker:
    base: str
    store: SqliteStore  # a second connection to the worker's file, for the test's checks
    zone: str


@pytest.fixture
async def worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Worker]:
    monkeypatch.setenv("DIALER_SESSION_SECRET", SECRET)
    now = datetime.now(UTC)
    zone = _zone_at_noon(now)
    path = tmp_path / "dialer.yaml"
    path.write_text(_config_text(zone), encoding="utf-8")
    config = load_config(path)
    store = SqliteStore(tmp_path / "dialer.db")
    await store.open()
    await store.migrate()
    await load(store, config, [client(i, timezone=zone, schedule="always") for i in range(1, CLIENTS + 1)], now)
    await add_people(store)
    for agent in AGENTS:  # the agents are at their desks
        await people_of(store).set_presence(agent, PresenceState.READY, now - timedelta(minutes=30), by=agent)
    # The morning so far: two conversations and a client abandoned (answered, no agent free).
    morning = [Done(CallStatus.ANSWERED, "ivanova", 200.0)] * 2 + [Done(CallStatus.ABANDONED)]
    await record_calls(store, "cold", morning, now - timedelta(minutes=10), prefix="m")
    service = Service(path)
    run = asyncio.create_task(service.run())
    try:
        for _ in range(200):  # bounded: up to 10 s to listen
            if run.done() or (service.http is not None and service.http.address is not None):
                break
            await asyncio.sleep(0.05)
        assert not run.done() and service.http is not None and service.http.address is not None, "worker did not start"
        host, port = service.http.address
        yield Worker(f"http://{host}:{port}", store, zone)
    finally:
        service.request_stop()
        await asyncio.wait_for(run, 30)
        await store.close()


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(fn, *args)


async def until(check: Callable[[], Any], what: str, within: float = WAIT) -> Any:
    """Poll an async check (the loop keeps running the worker) until it is truthy."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.2)


def _login(browser: Any, base: str, name: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{base}/login")
    browser.find_element(By.NAME, "name").send_keys(name)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    _wait_for(browser, lambda: browser.current_url.rstrip("/") == base, "the home page after login")


def _wait_for(browser: Any, check: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except Exception:  # the element is being swapped by the board's refresh
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            shown = browser.execute_script("const m = document.getElementById('flash'); return m ? m.textContent : '';")
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (the page says: {shown!r})")
        time.sleep(0.1)


def _screenshot(browser: Any, name: str, height: int = 900) -> None:
    """Save the page as PNG in $DIALER_SCREENSHOTS (nothing without it)."""
    folder = os.environ.get("DIALER_SCREENSHOTS")
    if folder:
        browser.set_window_size(1280, height)
        browser.save_screenshot(str(Path(folder) / f"{name}.png"))


def _card_text(browser: Any, selector: str) -> str:
    from selenium.webdriver.common.by import By

    return str(browser.find_element(By.CSS_SELECTOR, f'article.card[data-campaign="cold"] {selector}').text)


def _click_card_button(browser: Any, action: str) -> None:
    from selenium.webdriver.common.by import By

    button = _wait_for(
        browser,
        lambda: browser.find_element(
            By.CSS_SELECTOR, f'article.card[data-campaign="cold"] button[data-action="{action}"]'
        ),
        f"the {action} button",
    )
    button.click()


async def _calls(store: SqliteStore) -> list[Any]:
    start = datetime.now(UTC) - timedelta(hours=1)
    return await store.calls_between(start, start + timedelta(hours=2))


async def test_supervisor_watches_pauses_resumes_and_moves_a_client(browser: Any, worker: Worker) -> None:
    from selenium.webdriver.common.by import By

    store = worker.store
    await in_thread(_login, browser, worker.base, "boss")
    await in_thread(browser.get, f"{worker.base}/console")
    await in_thread(browser.execute_script, "window.notReloaded = true;")
    first = await in_thread(_card_text, browser, '[data-k="plan-dialed"] .value')

    # The board updates by itself: calls are dialed and it shows them without a reload.
    def moved_on() -> bool:
        return bool(_card_text(browser, '[data-k="plan-dialed"] .value') != first and browser.execute_script(
            "return window.notReloaded === true;"
        ))  # fmt: skip

    await in_thread(_wait_for, browser, moved_on, "the board to show new calls without a reload")
    # The abandon rate over the campaign's 24 h window, against its 3 % cap: over it (one
    # abandoned of a handful of live answers), flagged red, with the mode and today's count.
    level = await in_thread(
        lambda: browser.find_element(By.CSS_SELECTOR, 'article.card[data-campaign="cold"] [data-k="abandon"]')
    )
    assert await in_thread(level.get_attribute, "data-level") == "over"
    rate = await in_thread(_card_text, browser, '[data-k="abandon-rate"]')
    assert rate.endswith("%") and 3.0 < float(rate.rstrip("%")) <= 100 / 3
    color = await in_thread(
        browser.execute_script, "return getComputedStyle(arguments[0].querySelector('.value')).color", level
    )
    assert color == "rgb(176, 58, 46)"  # the red of .fig.abandon-over
    assert "1 abandoned today" in await in_thread(_card_text, browser, '[data-k="abandoned-today"]')
    assert await in_thread(_card_text, browser, '[data-k="dial-mode"]') == "progressive"
    await in_thread(_screenshot, browser, "board")
    await until(lambda: _dialing(store), "a call in flight")

    # Pause: no new call starts; the calls in flight finish.
    await in_thread(_click_card_button, browser, "pause")
    await in_thread(_wait_for, browser, lambda: "Paused" in _card_text(browser, "header"), "the Paused badge")
    [pause] = [p for p in await people_of(store).campaign_pauses() if p.campaign == "cold"]
    assert pause.paused and pause.by == "boss"
    in_flight = {c.call_id for c in await _calls(store) if c.status is CallStatus.DIALING}

    async def settled() -> bool:
        calls = {c.call_id: c for c in await _calls(store)}
        return all(calls[i].status is not CallStatus.DIALING for i in in_flight)

    await until(settled, "the calls in flight to finish")
    await asyncio.sleep(2.0)  # four more ticks: still nothing new
    late = [c for c in await _calls(store) if c.started_at > pause.at + timedelta(seconds=1)]
    assert late == [], f"calls started after the pause: {[(c.call_id, c.started_at) for c in late]}"
    assert not await _dialing(store)
    held = await in_thread(_card_text, browser, "header")
    assert "Resume" in held

    # While paused: find a client by phone (any spelling) and move its next contact.
    # A client the cold campaign still works (a conversation may have made another hot,
    # which no campaign of this config works, or do-not-call) and no worker holds.
    target = await _prospect(store)
    digits = f"{int(target[1:]):04d}"  # tests.support.dispatch.client: +7912000NNNN
    number = f"8 (912) 000-{digits[:2]}-{digits[2:]}"
    search = await in_thread(browser.find_element, By.CSS_SELECTOR, "header form.search input[name=q]")
    await in_thread(search.send_keys, number + "\n")
    link = await in_thread(
        _wait_for, browser, lambda: browser.find_element(By.LINK_TEXT, target), f"the search result {target}"
    )
    await in_thread(link.click)
    await in_thread(_wait_for, browser, lambda: browser.find_element(By.ID, "client-why"), "the client page")
    zone = ZoneInfo(worker.zone)
    wanted = (datetime.now(zone) + timedelta(days=1)).replace(hour=12, minute=15, second=0, microsecond=0)
    await in_thread(
        browser.execute_script, "document.getElementById('move-at').value = arguments[0];", f"{wanted:%Y-%m-%dT%H:%M}"
    )
    await in_thread(lambda: browser.find_element(By.ID, "move-submit").click())
    await in_thread(_wait_for, browser, lambda: "the next contact was moved" in browser.page_source, "the moved notice")
    moved = await store.get_client(target)
    assert moved is not None and moved.next_dial_at == wanted.astimezone(UTC)

    # Resume: calls start again.
    await in_thread(browser.get, f"{worker.base}/console")
    resumed_at = datetime.now(UTC)
    await in_thread(_click_card_button, browser, "resume")
    await in_thread(_wait_for, browser, lambda: "Running" in _card_text(browser, "header"), "the Running badge")

    async def new_call() -> bool:
        return any(c.started_at >= resumed_at for c in await _calls(store))

    await until(new_call, "a call after the resume")


async def _prospect(store: SqliteStore) -> str:
    now = datetime.now(UTC)
    for i in range(1, CLIENTS + 1):
        c = await store.get_client(f"c{i}")
        held = c is not None and (c.open_call_id or (c.lease_until and c.lease_until > now))
        if c is not None and c.state.stage is Stage.PROSPECT and not held:
            return c.id
    raise AssertionError("no prospect left to move")


async def _dialing(store: SqliteStore) -> bool:
    return any(c.status is CallStatus.DIALING for c in await _calls(store))


async def test_the_report_page_behind_login_draws_charts_and_the_xlsx_reads_back(browser: Any, worker: Worker) -> None:
    from selenium.webdriver.common.by import By

    await until(lambda: _answered(worker.store), "a finished conversation")
    await in_thread(_login, browser, worker.base, "boss")
    await in_thread(browser.get, f"{worker.base}/console")
    await in_thread(lambda: browser.find_element(By.LINK_TEXT, "Day report").click())
    await in_thread(_wait_for, browser, lambda: "Day report" in browser.title, "the report page")
    charts = await in_thread(browser.find_elements, By.CSS_SELECTOR, "svg.chart")
    assert {await in_thread(c.get_attribute, "id") for c in charts} == {
        "chart-hours", "chart-talk", "chart-funnel", "chart-agents",
    }  # fmt: skip
    for svg in charts:
        box = await in_thread(
            browser.execute_script, "const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", svg
        )
        assert box[0] > 300 and box[1] > 100
    bars = await in_thread(browser.find_elements, By.CSS_SELECTOR, "#chart-hours rect.bar")
    assert bars
    titles = [await in_thread(b.get_attribute, "textContent") for b in bars]
    assert any("Abandoned (no agent free) 1" in t for t in titles), titles
    occupancy = await in_thread(browser.find_element, By.CSS_SELECTOR, '#table-occupancy tr[data-campaign="cold"]')
    cells = (await in_thread(lambda: occupancy.text)).split()
    assert "progressive" in cells and "1" in cells  # the mode; one abandoned
    over = await in_thread(browser.find_element, By.CSS_SELECTOR, "#table-occupancy td.abandon-over")
    assert (await in_thread(lambda: over.text)).endswith("/ 24h")
    kpi = await in_thread(lambda: browser.find_element(By.ID, "kpi-abandoned").text)
    assert kpi.startswith("1")
    await in_thread(_screenshot, browser, "report", 2600)
    bg = await in_thread(browser.execute_script, "return getComputedStyle(document.documentElement).backgroundColor")
    assert bg == "rgb(244, 246, 249)"  # the report's stylesheet, served behind the console
    await in_thread(lambda: browser.find_element(By.ID, "download-xlsx").click())
    downloads: Path = browser.download_dir
    book_path = await in_thread(
        _wait_for, browser, lambda: next(iter(downloads.glob("*.xlsx")), None), "the XLSX download"
    )
    book = load_workbook(book_path)
    assert book.sheetnames and book.active is not None


async def _answered(store: SqliteStore) -> bool:
    return any(c.status is CallStatus.ANSWERED for c in await _calls(store))
