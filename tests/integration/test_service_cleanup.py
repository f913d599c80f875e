"""`dialer run` releases what it acquired on every way out, not only on a clean stop:
a provider whose start fails, or an HTTP port that is taken, still closes the providers
already started, the HTTP server and the store, and removes the signal handlers.

Real objects throughout: the example config on a SQLite file, real simulated providers
(a subclass only records start/close, one refuses to start), a real socket holding the
port, the real asyncio signal handlers."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import dialer.service
from dialer.clock import SystemClock
from dialer.config import DialerConfig
from dialer.service import Service
from providers.base import Provider
from providers.simulated import SimulatedProvider

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "config" / "dialer.yaml"


class RecordingProvider(SimulatedProvider):
    """A simulated provider that remembers whether it is running."""

    def __init__(self, name: str, log: list[str]):
        super().__init__(name, {}, SystemClock())
        self.log = log

    async def start(self) -> None:
        await super().start()
        self.log.append(f"start {self.name}")

    async def close(self) -> None:
        await super().close()
        self.log.append(f"close {self.name}")


class RefusingProvider(RecordingProvider):
    async def start(self) -> None:
        self.log.append(f"refuse {self.name}")
        raise OSError(f"provider {self.name}: SIP port taken")


def config_file(tmp_path: Path, port: int) -> Path:
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8").replace("../var/", "var/")
    text = text.replace("http:\n  host: 127.0.0.1\n  port: 8089", f"http:\n  host: 127.0.0.1\n  port: {port}")
    assert f"port: {port}" in text
    path = tmp_path / "dialer.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def use_providers(monkeypatch: pytest.MonkeyPatch, providers: dict[str, Provider]) -> None:
    def build(
        config: DialerConfig, clock: SystemClock, existing: dict[str, Provider] | None = None
    ) -> dict[str, Provider]:
        return dict(providers)

    monkeypatch.setattr(dialer.service, "build_providers", build)


@pytest.fixture
def taken_port() -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


def no_handlers_left(loop: asyncio.AbstractEventLoop) -> bool:
    # remove_signal_handler answers False when no handler of ours is installed.
    return not any(loop.remove_signal_handler(sig) for sig in SIGNALS)


async def store_closed(service: Service) -> bool:
    assert service.store is not None
    try:
        await service.store.ping()
    except Exception:
        return True
    return False


async def test_a_provider_that_fails_to_start_closes_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log: list[str] = []
    use_providers(
        monkeypatch,
        {
            "first": RecordingProvider("first", log),
            "second": RecordingProvider("second", log),
            "broken": RefusingProvider("broken", log),
            "never": RecordingProvider("never", log),
        },
    )
    service = Service(config_file(tmp_path, 0))
    with pytest.raises(OSError, match="SIP port taken"):
        await service.run()
    # Started in order, closed in reverse; the one after the failure never started.
    assert log == ["start first", "start second", "refuse broken", "close second", "close first"]
    assert service.http is None  # it never got that far
    assert await store_closed(service)
    assert no_handlers_left(asyncio.get_running_loop())


async def test_a_taken_http_port_closes_the_providers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, taken_port: int
) -> None:
    log: list[str] = []
    use_providers(monkeypatch, {"a": RecordingProvider("a", log), "b": RecordingProvider("b", log)})
    service = Service(config_file(tmp_path, taken_port))
    with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{taken_port}"):
        await service.run()
    assert log == ["start a", "start b", "close b", "close a"]
    assert service.http is not None and service.http.address is None  # bound nothing
    assert await store_closed(service)
    assert no_handlers_left(asyncio.get_running_loop())


async def test_a_clean_stop_releases_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    use_providers(monkeypatch, {"a": RecordingProvider("a", log)})
    service = Service(config_file(tmp_path, 0))
    run = asyncio.create_task(service.run())
    for _ in range(200):  # bounded: up to 10 s for the worker to be ticking
        if service.scheduler is not None or run.done():
            break
        await asyncio.sleep(0.05)
    assert service.scheduler is not None, "the worker did not start"
    assert service.http is not None and service.http.address is not None
    host, port = service.http.address
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 200")
    writer.close()
    await writer.wait_closed()
    service.request_stop()
    assert await asyncio.wait_for(run, 30) == 0
    assert log == ["start a", "close a"]
    assert service.http.address is not None and service.http._task is None  # stopped
    with pytest.raises(OSError):
        await asyncio.open_connection(host, port)
    assert await store_closed(service)
    assert no_handlers_left(asyncio.get_running_loop())
