"""Real-browser fixtures: Debian's Chromium driven by Selenium, and a Starlette app
served on a loopback port for it.

    def test_page(browser, serve_app):
        base = serve_app(my_starlette_app)        # "http://127.0.0.1:PORT"
        browser.get(base + "/report")

`browser` is a headless Chromium (window 1280x900) from /usr/bin/chromium and
/usr/bin/chromedriver (CHROMIUM / CHROMEDRIVER override the paths); its downloads land
in `browser.download_dir`. Nothing here downloads a browser or a driver: the driver's
path is given to Selenium's Service, so Selenium Manager is never asked, and the
fixture makes sure of it by refusing any call to Selenium Manager. Without Chromium or
chromedriver the tests skip with the reason, except in CI (CI=true), where they fail
(scripts/test-all installs both: `apt_install chromium chromium-driver`).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.services import require_service

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
WINDOW = (1280, 900)
SERVER_START_TIMEOUT = 10.0
SERVER_STOP_TIMEOUT = 10.0


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


class _NoSeleniumManager:
    """Stands in for Selenium Manager: it would download a browser or a driver."""

    def binary_paths(self, *args: Any, **kwargs: Any) -> dict[str, str]:
        raise AssertionError("Selenium Manager was invoked: the browser fixtures must use Debian's chromedriver")


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A headless Chromium (1280x900) through Selenium; skips (fails in CI) without one."""
    require_service(_executable(CHROMIUM), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    require_service(
        _executable(CHROMEDRIVER), f"chromedriver not found at {CHROMEDRIVER} (apt-get install chromium-driver)"
    )
    selenium = pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[test]')")
    del selenium
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common import driver_finder

    monkeypatch.setattr(driver_finder, "SeleniumManager", _NoSeleniumManager)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # tests run as root in CI
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        # no calls home: nothing but the loopback server is reached
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
        options.add_argument(arg)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.download_dir = downloads  # type: ignore[attr-defined]
    driver.set_page_load_timeout(15)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def serve_app() -> Iterator[Callable[[Any], str]]:
    """serve_app(asgi_app) -> base URL: the app on a free loopback port (uvicorn in a
    background thread, with its own event loop and the app's lifespan); stopped, and its
    thread joined, when the test ends."""
    import uvicorn

    running: list[tuple[uvicorn.Server, threading.Thread, socket.socket]] = []

    def serve(app: Any) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True)
        thread.start()
        running.append((server, thread, sock))
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the app's server stopped while starting (see the log above)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app's server did not start within {SERVER_START_TIMEOUT} s")
            time.sleep(0.02)
        return f"http://127.0.0.1:{port}"

    try:
        yield serve
    finally:
        for server, thread, sock in running:
            server.should_exit = True
            thread.join(SERVER_STOP_TIMEOUT)
            sock.close()
            assert not thread.is_alive(), "the app's server did not stop"
