"""The worker's HTTP listener against hostile clients, with real sockets on 127.0.0.1:
a body cut off mid-way, clients that connect and say nothing or trickle their request,
and garbage request lines. Every case ends in a structured log line (never a raw
traceback on stderr) and a closed connection."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from dialer import logging as dlog
from dialer.http import HttpServer, create_app
from providers.base import WebhookProvider, WebhookRequest, WebhookResponse


class EchoProvider:
    """A webhook provider that records what reached it."""

    name = "echo"
    webhook_max_body = 4096
    listen = None

    def __init__(self) -> None:
        self.seen: list[WebhookRequest] = []

    async def handle_webhook(self, request: WebhookRequest) -> WebhookResponse:
        self.seen.append(request)
        return WebhookResponse(200, body=b"ok")


def test_echo_provider_is_a_webhook_provider() -> None:
    assert isinstance(EchoProvider(), WebhookProvider)


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    dlog.configure(json=True, stream=out, level=logging.INFO)
    yield out
    dlog.configure(json=False, level=logging.WARNING)


def events(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]


async def started(provider: EchoProvider, **kw: Any) -> tuple[HttpServer, int]:
    server = HttpServer(create_app({"echo": provider}), graceful_timeout=1, **kw)
    _, port = await server.start("127.0.0.1", 0)
    return server, port


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> bytes:
    """Everything the server sent until it closed the connection (bounded wait)."""
    return await asyncio.wait_for(reader.read(), timeout=within)


async def test_partial_body_then_disconnect_is_logged_not_raised(
    log_lines: io.StringIO, capfd: pytest.CaptureFixture[str]
) -> None:
    provider = EchoProvider()
    server, port = await started(provider)
    try:
        for cut in (0, 1, 50):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                b"POST /webhooks/echo/status HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 100\r\n\r\n" + b"a" * cut
            )
            await writer.drain()
            await asyncio.sleep(0.2)
            writer.close()
            await writer.wait_closed()
        # The listener is still fine, and a complete request still works.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /webhooks/echo/status HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
        )
        answer = await closed_by_server(reader, 5)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200")
    finally:
        await server.stop()
    assert [r.body for r in provider.seen] == [b"abc"]  # no cut body reached the provider
    gone = [e for e in events(log_lines) if e["event"] == "webhook_client_gone"]
    assert len(gone) == 3 and all(e["provider"] == "echo" for e in gone)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception in ASGI application" not in err
    assert not [e for e in events(log_lines) if e.get("level") == "error"]


async def test_idle_and_trickling_clients_are_closed_after_the_timeouts(log_lines: io.StringIO) -> None:
    provider = EchoProvider()
    server, port = await started(provider, headers_timeout=0.5, body_timeout=0.5)
    try:
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(30)]
        # A slowloris: a byte of the request line at a time, forever.
        slow_reader, slow_writer = await asyncio.open_connection("127.0.0.1", port)
        # A slow body: headers at once, then one byte a while.
        body_reader, body_writer = await asyncio.open_connection("127.0.0.1", port)
        body_writer.write(b"POST /webhooks/echo/status HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        began = time.monotonic()
        for byte in b"POST /webhooks/echo/status HTTP/1.1\r\n":
            if slow_reader.at_eof() or time.monotonic() - began > 3:
                break
            slow_writer.write(bytes([byte]))
            body_writer.write(b"a")
            await asyncio.sleep(0.1)
        closed = await asyncio.gather(*(closed_by_server(r, 3) for r, _ in idle))
        assert closed == [b""] * 30  # each idle connection was closed by the server
        assert await closed_by_server(slow_reader, 3) == b""
        assert await closed_by_server(body_reader, 3) == b""
        # Closed by the deadline, not by the end of the loop above (which takes ~3.7 s).
        assert time.monotonic() - began < 3
        for _, w in [*idle, (slow_reader, slow_writer), (body_reader, body_writer)]:
            w.close()
        # A well-behaved client is still served.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert (await closed_by_server(reader, 5)).startswith(b"HTTP/1.1 200")
        writer.close()
    finally:
        await server.stop()
    timeouts = [e for e in events(log_lines) if e["event"] == "http_client_timeout"]
    assert {e["phase"] for e in timeouts} == {"headers", "body"}
    assert len(timeouts) == 32
    assert provider.seen == []


async def test_a_keep_alive_client_is_not_cut_by_the_header_deadline(log_lines: io.StringIO) -> None:
    """Requests that keep coming in time on one connection are served, each with its
    own deadline (the deadline is per request, not per connection)."""
    provider = EchoProvider()
    server, port = await started(provider, headers_timeout=0.6, body_timeout=0.6, keep_alive_timeout=5)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(4):
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=3)
            assert head.startswith(b"HTTP/1.1 200")
            assert await asyncio.wait_for(reader.readexactly(2), timeout=3) == b"ok"
            await asyncio.sleep(0.4)  # 4 x 0.4 s: longer than one deadline in all
        writer.close()
    finally:
        await server.stop()
    assert not [e for e in events(log_lines) if e["event"] == "http_client_timeout"]


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
        b"HELLO\r\n\r\n",
        b"GET /x y z\r\n\r\n",
    ],
)
async def test_garbage_request_lines_are_structured_log_lines(
    garbage: bytes, log_lines: io.StringIO, capfd: pytest.CaptureFixture[str]
) -> None:
    server, port = await started(EchoProvider())
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(garbage)
        answer = await closed_by_server(reader, 5)
        writer.close()
    finally:
        await server.stop()
    assert answer.startswith(b"HTTP/1.1 400")
    [line] = [e for e in events(log_lines) if e["event"] == "http_server"]
    assert line["message"] == "Invalid HTTP request received." and line["level"] == "warning"
    assert "Invalid HTTP request" not in capfd.readouterr().err  # not also as raw text


def test_datetimes_in_json_logs_are_iso_8601() -> None:
    from datetime import UTC, date, datetime, timedelta
    from zoneinfo import ZoneInfo

    import structlog

    out = io.StringIO()
    dlog.configure(json=True, stream=out, level=logging.INFO)
    try:
        structlog.get_logger("t").info(
            "x",
            at=datetime(2026, 12, 3, 9, 30, tzinfo=UTC),
            local=datetime(2026, 12, 3, 12, 30, tzinfo=ZoneInfo("Europe/Moscow")),
            day=date(2026, 12, 3),
            wait=timedelta(minutes=2),
            many=[datetime(2026, 1, 1, tzinfo=UTC)],
        )
    finally:
        dlog.configure(json=False, level=logging.WARNING)
    line = json.loads(out.getvalue())
    assert line["at"] == "2026-12-03T09:30:00Z"
    assert line["local"] == "2026-12-03T12:30:00+03:00"
    assert line["day"] == "2026-12-03" and line["wait"] == 120.0
    assert line["many"] == ["2026-01-01T00:00:00Z"]
    assert "datetime.datetime(" not in out.getvalue()
