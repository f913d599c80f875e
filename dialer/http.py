"""The worker's HTTP endpoint: provider webhooks, /healthz, /readyz, /metrics.

An ASGI app (Starlette) served by uvicorn inside the worker's own event loop, so
webhooks and the dispatcher share one process and one loop, and uvicorn installs no
signal handlers (the service owns signals).

Routes:
  POST /webhooks/{provider}/{kind}   a provider's webhooks (Twilio: status, twiml, dial)
  GET  /healthz                      the process is up (200 "ok")
  GET  /readyz                       the `readiness` callback passes (store + providers), else 503
  GET  /metrics                      the `metrics` callback's bytes (Prometheus text), 404 without one

A provider takes webhooks by being a `providers.base.WebhookProvider`: it gets a
framework-neutral `WebhookRequest` (built here from Starlette's request) and returns a
`WebhookResponse`; its ``webhook_max_body`` (bytes) is enforced before it sees a body
(413), and its ``listen`` ((host, port) or None) says where it wants the endpoint bound.
Signature checks are the provider's: only it knows its secret.

Slow or broken clients are bounded by the protocol itself (`_BoundedH11Protocol`): a
connection must deliver its request line and headers within `headers_timeout` and its
body within `body_timeout`, else it is closed; a client that goes away mid-body is
logged, not raised. uvicorn's own messages go through structlog (event `http_server`).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

import h11
import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from dialer.logging import route_stdlib_logger

if TYPE_CHECKING:
    from dialer.web.context import WebContext
from providers.base import Provider, WebhookProvider, WebhookRequest

log = structlog.get_logger("dialer.http")

DEFAULT_BIND = ("127.0.0.1", 8089)
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
HEADERS_TIMEOUT = 10.0  # seconds from connection (or first byte of a request) to its complete headers
BODY_TIMEOUT = 10.0  # seconds from the headers to the end of the body
KEEP_ALIVE_TIMEOUT = 5  # idle seconds between requests on one connection
MAX_CONNECTIONS = 256  # beyond this, new requests get 503 (uvicorn's limit_concurrency)

Readiness = Callable[[], Awaitable[None]]
Metrics = Callable[[], bytes]


class BodyTooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise BodyTooLarge
        except ValueError:
            raise BodyTooLarge from None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)


ProviderMap = Mapping[str, Provider]


def create_app(
    providers: ProviderMap,
    *,
    readiness: Readiness | None = None,
    metrics: Metrics | None = None,
    web: WebContext | None = None,
) -> Starlette:
    """The ASGI app. `providers` is read at request time: after a reload, swap it with
    `set_providers(app, new)`. `readiness` raises when the worker is not ready (see
    `readiness_check`); `metrics` returns the /metrics payload (Prometheus text)."""

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        check: Readiness | None = request.app.state.readiness
        if check is None:
            return PlainTextResponse("ok")
        try:
            await asyncio.wait_for(check(), timeout=request.app.state.readiness_timeout)
        except Exception as exc:
            log.warning("not_ready", error=f"{type(exc).__name__}: {exc}")
            return PlainTextResponse(f"not ready: {type(exc).__name__}: {exc}", status_code=503)
        return PlainTextResponse("ok")

    async def metrics_endpoint(request: Request) -> Response:
        produce: Metrics | None = request.app.state.metrics
        if produce is None:
            return PlainTextResponse("metrics are not enabled", status_code=404)
        return Response(produce(), media_type=PROMETHEUS_TEXT)

    async def webhook(request: Request) -> Response:
        name = request.path_params["provider"]
        current: ProviderMap = request.app.state.providers
        provider = current.get(name)
        if provider is None or not isinstance(provider, WebhookProvider):
            return PlainTextResponse("no such provider", status_code=404)
        limit = provider.webhook_max_body
        try:
            body = await _read_body(request, limit)
        except BodyTooLarge:
            log.warning("webhook_too_large", provider=name, limit=limit, client=_peer(request))
            return PlainTextResponse("request body too large", status_code=413)
        except ClientDisconnect:
            # Gone before the body was complete (or cut off by the body timeout): nothing
            # to answer and nothing reached the provider.
            log.info("webhook_client_gone", provider=name, client=_peer(request))
            return PlainTextResponse("client disconnected", status_code=400)
        hook = _webhook_request(request, name, body)
        try:
            answer = await provider.handle_webhook(hook)
        except Exception:
            log.exception("webhook_failed", provider=name, kind=hook.kind)
            return PlainTextResponse("internal error", status_code=500)
        return Response(answer.body, status_code=answer.status, media_type=answer.media_type)

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET", "HEAD"]),
            Route("/readyz", readyz, methods=["GET", "HEAD"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/webhooks/{provider}/{kind}", webhook, methods=["GET", "POST"]),
        ]
    )
    app.state.providers = providers
    app.state.readiness = readiness
    app.state.readiness_timeout = 10.0
    app.state.metrics = metrics
    if web is not None:  # issue 12: pages and /api/v1 (dialer/web/app.py)
        from dialer.web.app import mount_web

        mount_web(app, web)
    return app


def _webhook_request(request: Request, provider: str, body: bytes) -> WebhookRequest:
    """Starlette's request as the provider sees it."""
    # The path as sent (percent-escapes kept): signatures cover the exact URL.
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if raw else str(request.scope["path"])
    root = str(request.scope.get("root_path", ""))
    if root and path.startswith(root):
        path = path[len(root) :]
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        headers.setdefault(key.lower(), value)  # the first of repeated headers, as Starlette's .get
    return WebhookRequest(
        provider=provider,
        kind=request.path_params["kind"],
        method=request.method,
        path=path,
        query_string=bytes(request.scope.get("query_string", b"")).decode("latin-1"),
        headers=headers,
        client_host=_peer(request),
        body=body,
    )


def set_providers(app: Starlette, providers: ProviderMap) -> None:
    """After a config reload swapped the providers."""
    app.state.providers = providers


def set_metrics(app: Starlette, metrics: Metrics | None) -> None:
    """The /metrics hook (`None`: /metrics answers 404)."""
    app.state.metrics = metrics


def set_readiness(app: Starlette, readiness: Readiness | None) -> None:
    app.state.readiness = readiness


def readiness_check(
    providers: Callable[[], ProviderMap] | ProviderMap,
    store_ping: Callable[[], Awaitable[None]] | None = None,
) -> Readiness:
    """A /readyz callback: the store answers (``store.ping``) and every provider's
    ``check()`` passes."""

    async def check() -> None:
        if store_ping is not None:
            await store_ping()
        current = providers() if callable(providers) else providers
        for name, provider in current.items():
            try:
                await provider.check()
            except Exception as exc:
                raise RuntimeError(f"provider {name}: {exc}") from exc

    return check


def _peer(request: Request) -> str | None:
    return request.client.host if request.client else None


def bind_address(
    providers: ProviderMap, http_settings: Mapping[str, str | int] | None = None
) -> tuple[str, int] | None:
    """Where the worker's endpoint listens: ``http: {host, port}`` from the config if
    set, else what the webhook providers ask for (they must agree), else None (no
    provider needs webhooks)."""
    http_settings = http_settings or {}
    if "host" in http_settings or "port" in http_settings:
        return str(http_settings.get("host", DEFAULT_BIND[0])), int(http_settings.get("port", DEFAULT_BIND[1]))
    wanted = {p.listen for p in providers.values() if isinstance(p, WebhookProvider) and p.listen is not None}
    if not wanted:
        return None
    if len(wanted) > 1:
        raise ValueError(
            "webhook providers ask for different listen addresses "
            f"({', '.join(f'{h}:{p}' for h, p in sorted(wanted))}); set the same listen_host/listen_port "
            "or one `http: {host, port}` in the config"
        )
    host, port = next(iter(wanted))
    return str(host), int(port)


class _BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines on slow clients (uvicorn itself only times
    out idle keep-alive connections, so a client that connects and sends nothing, or
    trickles its headers or body, would hold a connection forever).

    While the client owes us bytes (h11's `their_state` is IDLE with a connection
    open, or SEND_BODY) one deadline runs per phase; trickling bytes does not extend
    it. When it passes, the connection is closed: a request still being read sees a
    disconnect."""

    headers_timeout: float = HEADERS_TIMEOUT
    body_timeout: float = BODY_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self._deadline_phase: object = None  # an h11 state (IDLE / SEND_BODY) or None
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Between requests uvicorn's keep-alive timer rules; ours starts again with
        # the next request's first byte (data_received).
        if self.conn.their_state is h11.IDLE:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        phase = self.conn.their_state
        if phase not in (h11.IDLE, h11.SEND_BODY):
            self._disarm()
            return
        if self._deadline is not None and self._deadline_phase is phase:
            return  # the same phase keeps its first deadline
        self._disarm()
        timeout = self.headers_timeout if phase is h11.IDLE else self.body_timeout
        self._deadline_phase = phase
        self._deadline = self.loop.call_later(timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = None
        self._deadline_phase = None

    def _expired(self) -> None:
        phase = "headers" if self._deadline_phase is h11.IDLE else "body"
        self._deadline = None
        self._deadline_phase = None
        if self.transport.is_closing():
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else None
        log.info("http_client_timeout", phase=phase, client=client)
        self.transport.close()


class _Server(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The service owns SIGTERM/SIGINT/SIGHUP: uvicorn must not install handlers.
        yield


class HttpServer:
    """uvicorn serving an app inside the current event loop.

    ``await start(host, port)`` binds (raising OSError with the address if it cannot)
    and returns the bound (host, port) — port 0 picks a free one; ``await stop()``
    closes the listener and waits (bounded) for requests in flight."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        graceful_timeout: float = 5.0,
        headers_timeout: float = HEADERS_TIMEOUT,
        body_timeout: float = BODY_TIMEOUT,
        keep_alive_timeout: int = KEEP_ALIVE_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ):
        self.app = app
        self.graceful_timeout = graceful_timeout
        self.headers_timeout = headers_timeout
        self.body_timeout = body_timeout
        self.keep_alive_timeout = keep_alive_timeout
        self.max_connections = max_connections
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.address: tuple[str, int] | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        if self._task is not None:
            raise RuntimeError("HttpServer already started")
        sock = _bind(host, port)
        # uvicorn's messages ("Invalid HTTP request received.", "Exception in ASGI
        # application") as structured lines, not raw text on stderr.
        route_stdlib_logger("uvicorn")
        protocol = type(
            "BoundedH11Protocol",
            (_BoundedH11Protocol,),
            {"headers_timeout": self.headers_timeout, "body_timeout": self.body_timeout},
        )
        config = uvicorn.Config(
            self.app,
            http=protocol,
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_keep_alive=self.keep_alive_timeout,
            limit_concurrency=self.max_connections,
            proxy_headers=False,  # X-Forwarded-* are judged by the provider (trusted proxies)
            server_header=False,
            timeout_graceful_shutdown=max(1, round(self.graceful_timeout)),
        )
        server = _Server(config)
        self._server = server
        self._task = asyncio.create_task(server.serve(sockets=[sock]), name="http-server")
        try:
            while not server.started:
                if self._task.done():
                    self._task.result()  # raises what stopped it
                    raise RuntimeError("HTTP server stopped during start-up")
                await asyncio.sleep(0.01)
        except BaseException:
            await self.stop()
            raise
        bound = sock.getsockname()
        self.address = (str(bound[0]), int(bound[1]))
        log.info("http_listening", host=self.address[0], port=self.address[1])
        return self.address

    async def stop(self) -> None:
        server, task = self._server, self._task
        self._server = self._task = None
        if server is None or task is None:
            return
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=self.graceful_timeout + 2)
        except TimeoutError:
            server.force_exit = True
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        except Exception:
            log.exception("http_stop_failed")
        log.info("http_stopped")


def _bind(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    last: OSError | None = None
    for family, kind, proto, _canon, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.setblocking(False)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise OSError(f"cannot listen on {host}:{port}: {last}")
