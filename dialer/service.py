"""`dialer run`: the daemon. Signals, drain, reload, sd_notify.

- SIGTERM / SIGINT: stop claiming, let calls in flight finish (bounded by
  service.drain_timeout), record their results, exit 0.
- SIGHUP: reload the config; an invalid one is reported and the old one kept.
- systemd Type=notify: READY=1 once ticking, WATCHDOG=1 from the tick (so a
  stuck loop is restarted), STOPPING=1 when the drain starts.

Everything `run` acquires (signal handlers, the store, each provider, the HTTP
server, the heartbeat, the scheduler) is entered into one `AsyncExitStack` as it is
acquired, so whichever step fails, what was acquired before it is released, in reverse
order; the clean stop unwinds the same stack.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path

import structlog
from starlette.applications import Starlette

from dialer.clock import SystemClock
from dialer.config.errors import ConfigError
from dialer.config.loader import load_config
from dialer.config.models import DialerConfig
from dialer.daily import DailyJobs
from dialer.dispatcher import Dispatcher
from dialer.http import DEFAULT_BIND, HttpServer, bind_address, create_app, readiness_check, set_providers
from dialer.metrics import DialerMetrics
from dialer.planning import center_today, day_bounds, lines_of
from dialer.scheduler import DialerScheduler
from dialer.store import store_for
from dialer.store.base import AccessDenied, SchemaMismatch, Store, StoreError, StoreUnreachable, denied_message
from dialer.web.app import web_bind, web_context
from providers.base import Provider, create_provider

log = structlog.get_logger("dialer.service")

GAUGES_EVERY = 15.0  # seconds between queue gauge refreshes (scrapes never hit the database)
PAUSE_MAX = 30.0  # longest pause between ticks while the database is away


def sd_notify(message: str) -> bool:
    """Send one sd_notify datagram; a no-op outside systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
        return True
    except OSError:
        return False


def worker_id(config: DialerConfig) -> str:
    return config.service.worker_id or socket.gethostname()


def build_providers(
    config: DialerConfig, clock: SystemClock, existing: dict[str, Provider] | None = None
) -> dict[str, Provider]:
    providers = dict(existing or {})
    for name, p in config.providers.items():
        if name not in providers:
            providers[name] = create_provider(name, p.type, p.settings, clock)
    return providers


class Service:
    def __init__(self, config_path: str | Path, db: str | None = None):
        self.config_path = Path(config_path)
        self.db = db
        self.config = load_config(self.config_path)
        self.clock = SystemClock()
        self._stop = asyncio.Event()
        self._reload_requested = False
        self._watchdog_every = _watchdog_interval()
        self._last_watchdog = 0.0
        self._paused_until = 0.0
        self._stepping = asyncio.Lock()
        self._failures = 0
        self._last_gauges = 0.0
        self.metrics = DialerMetrics()
        self.store: Store | None = None
        self.dispatcher: Dispatcher | None = None
        self.scheduler: DialerScheduler | None = None
        self.http: HttpServer | None = None
        self.app: Starlette | None = None
        # Every started provider is entered here (at start and on reload); closed as one.
        self._providers: AsyncExitStack | None = None
        self.daily = DailyJobs(worker_id(self.config))

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._reload_requested = True

    async def _tick(self) -> None:
        assert self.dispatcher is not None
        now = time.monotonic()
        # The process is alive and handling its state even while the database is away.
        if self._watchdog_every and now - self._last_watchdog >= self._watchdog_every:
            sd_notify("WATCHDOG=1")
            self._last_watchdog = now
        if self._reload_requested:
            self._reload_requested = False
            await self.reload()
        if now < self._paused_until:
            return
        started = time.monotonic()
        try:
            # APScheduler's shutdown cancels a running job: shielded, the step itself
            # always completes (a call row written but never dialed would be orphaned),
            # and the drain waits for it through the lock.
            await asyncio.shield(asyncio.ensure_future(self._locked_step()))
            if now - self._last_gauges >= GAUGES_EVERY:
                self._last_gauges = now
                await self._refresh_gauges()
        except Exception as exc:
            # The database went away (or a bug): pause with back-off, never spin, never die.
            self._failures += 1
            pause = min(PAUSE_MAX, 2 ** min(self._failures, 6) / 2)
            self._paused_until = time.monotonic() + pause
            self.metrics.store_up.set(0)
            self.metrics.store_errors.inc()
            log.warning("tick_paused", error=f"{type(exc).__name__}: {exc}", retry_in=pause, failures=self._failures)
            return
        if self._failures:
            log.info("tick_resumed", after_failures=self._failures)
            self._failures = 0
        self.metrics.store_up.set(1)
        self.metrics.tick_lag.set(time.monotonic() - started)

    async def _keep_alive(self) -> None:
        assert self.dispatcher is not None
        await self.dispatcher.keep_alive()

    async def _locked_step(self) -> None:
        assert self.dispatcher is not None
        async with self._stepping:
            await self.dispatcher.step()

    async def _refresh_gauges(self) -> None:
        assert self.store is not None
        now = self.clock.now()
        today = center_today(self.config, now)
        start, end = day_bounds(self.config, today)
        for c in self.config.campaigns:
            stats = await self.store.queue_stats(c.name, now)
            self.metrics.lines.labels(c.name).set(lines_of(c))
            self.metrics.lines_in_use.labels(c.name).set(stats["lines_in_use"])
            self.metrics.due_now.labels(c.name).set(stats["due_now"])
            counts = await self.store.plan_counts(c.name, today, start, end, now)
            if counts is not None:
                self.metrics.plan_due.labels(c.name).set(counts.planned)
                self.metrics.plan_done.labels(c.name).set(counts.dialed)
            window = timedelta(seconds=c.abandon_window.seconds)
            abandon = await self.store.abandon_counts(c.name, now - window, now)
            self.metrics.set_abandon(c.name, abandon, c.max_abandon_rate)

    async def _daily(self) -> None:
        assert self.store is not None
        await self.daily.run_due(self.store, self.config, self.clock.now())

    async def reload(self) -> None:
        try:
            new = load_config(self.config_path, check_providers=True)
        except ConfigError as exc:
            log.error("reload_rejected", file=str(self.config_path), errors=[str(i) for i in exc.issues])
            return
        assert self.dispatcher is not None and self.scheduler is not None and self.store is not None
        assert self._providers is not None
        providers = build_providers(new, self.clock, self.dispatcher.providers)
        for name, provider in providers.items():
            if name not in self.dispatcher.providers:
                await self._providers.enter_async_context(provider)
        self.dispatcher.providers = providers
        if self.app is not None:
            set_providers(self.app, providers)
        self.dispatcher.set_config(new)
        self.scheduler.reload(new)
        self.config = new
        marked = await self.store.mark_all_for_schedule()
        log.info("config_reloaded", file=str(self.config_path), rescheduling=marked)

    async def _start_http(self, stack: AsyncExitStack, providers: dict[str, Provider]) -> None:
        if not self.config.http.enabled:
            return
        assert self.store is not None and self.dispatcher is not None
        dispatcher = self.dispatcher
        # The people's pages and /api/v1 (dialer/web), when the web section is enabled.
        web = web_context(self.store, lambda: self.config, self.clock, lambda: dispatcher)
        self.app = create_app(
            providers,
            readiness=readiness_check(lambda: dispatcher.providers, self.store.ping),
            metrics=self.metrics.render,
            web=web,
        )
        if web is not None:
            # Its page-event listener holds a connection of its own; closed after the endpoint.
            stack.push_async_callback(web.close)
        address = web_bind(self.config, bind_address(providers, self.config.http.bind_settings()) or DEFAULT_BIND)
        self.http = HttpServer(self.app)
        stack.push_async_callback(self.http.stop)
        await self.http.start(*address)  # logs http_listening

    def _handle_signals(self, stack: AsyncExitStack) -> None:
        """Install our handlers; the stack removes them again (a failed start included)."""
        loop = asyncio.get_running_loop()
        wanted = {
            signal.SIGTERM: self.request_stop,
            signal.SIGINT: self.request_stop,
            signal.SIGHUP: self.request_reload,
        }
        for sig, handler in wanted.items():
            loop.add_signal_handler(sig, handler)
            stack.callback(loop.remove_signal_handler, sig)

    async def _open_store(self, stack: AsyncExitStack) -> Store | int:
        """The store, opened and migrated (closed by the stack), or the exit code when it
        cannot be (logged as one `store_unavailable` line)."""
        try:
            store = store_for(self.config, self.db)
        except ValueError as exc:
            # A DSN that cannot be read (or a URL of another database): as the other
            # commands do, exit 4 with one line.
            mismatch = SchemaMismatch(str(exc))
            log.error("store_unavailable", error=str(mismatch), exit_code=mismatch.exit_code)
            return mismatch.exit_code
        stack.push_async_callback(store.close)
        try:
            # `run` may create and migrate the schema (and only forward: a schema newer
            # than this version is refused). A store it cannot reach is one log line
            # and a documented exit code; systemd restarts the unit (Restart=on-failure).
            await store.open()
            await store.migrate()
        except StoreError as exc:
            log.error("store_unavailable", error=str(exc), exit_code=exc.exit_code)
            return exc.exit_code
        except store.connection_errors + store.denied_errors as exc:
            error: StoreError
            if isinstance(exc, store.denied_errors):
                error = AccessDenied(denied_message(store.describe(), exc))
            else:
                error = StoreUnreachable(f"{store.describe()}: {type(exc).__name__}: {exc}")
            log.error("store_unavailable", error=str(error), exit_code=error.exit_code)
            return error.exit_code
        return store

    async def run(self) -> int:
        async with AsyncExitStack() as stack:
            self._handle_signals(stack)
            owner = worker_id(self.config)
            store = await self._open_store(stack)
            if isinstance(store, int):
                return store
            self.store = store
            # Entered before the HTTP server: on the way out the endpoint goes first,
            # then the providers (those a reload added included), then the store.
            self._providers = await stack.enter_async_context(AsyncExitStack())
            providers = build_providers(self.config, self.clock)
            for provider in providers.values():
                await self._providers.enter_async_context(provider)
            self.dispatcher = Dispatcher(store, providers, self.config, self.clock, owner=owner)
            self.dispatcher.metrics.prom = self.metrics
            # Webhooks must be served before reconciliation and the first call.
            await self._start_http(stack, providers)
            # Our previous life's leases: expire them so its calls are reconciled now,
            # before our first heartbeat overwrites the moment that life was last alive.
            expired = await store.expire_leases(owner, self.clock.now())
            rescued = await self.dispatcher.reconcile_orphans(self.clock.now())
            # The heartbeat runs on its own, not in the tick: a busy or paused tick
            # must not let this worker's leases run out.
            heartbeat = asyncio.create_task(self._keep_alive(), name="heartbeat")
            stack.push_async_callback(_cancel, heartbeat)
            try:
                await self._daily()
            except Exception as exc:
                # The catch-up is retried by the scheduler every 30 s; dialing starts anyway.
                log.error("daily_jobs_failed", error=f"{type(exc).__name__}: {exc}")
            self.scheduler = DialerScheduler(self.config, self._tick, self._daily)
            stack.callback(self.scheduler.shutdown)
            self.scheduler.start()
            sd_notify("READY=1")
            log.info(
                "started",
                worker=owner,
                config=str(self.config_path),
                campaigns=[c.name for c in self.config.campaigns],
                expired_leases=expired,
                rescued_calls=rescued,
            )
            await self._stop.wait()
            sd_notify("STOPPING=1")
            log.info("stopping", in_flight=self.dispatcher.in_flight)
            self.scheduler.shutdown()
            # A tick may be in the middle of a step (claiming, starting calls): stop
            # claiming and let that step finish before the drain takes stock.
            self.dispatcher.stop_claiming()
            async with self._stepping:
                pass
            drained = await self.dispatcher.drain(self.config.service.drain_timeout.total_seconds())
            await self.dispatcher.wait_idle()
            await _cancel(heartbeat)
            # Leave no lease behind: a claim whose answer was lost with a dropped
            # connection is still ours in the database. (Best effort: the database may
            # be away, and then the leases simply expire.)
            try:
                await store.expire_leases(owner, self.clock.now())
            except Exception as exc:
                log.warning("leases_not_released", error=f"{type(exc).__name__}: {exc}")
            # Calls in flight needed their callbacks until now; then the endpoint goes,
            # the providers close and the store closes (the stack, in reverse order).
            await stack.aclose()
            log.info("stopped", drained=drained)
            return 0


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _watchdog_interval() -> float:
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec or not usec.isdigit():
        return 0.0
    return int(usec) / 1_000_000 / 2
