"""Mounting the web layer into the worker's Starlette app (dialer/http.py create_app).

``mount_web(app, ctx)`` adds the pages and /api/v1 routes after the app's own
(webhooks, /healthz, /metrics keep their paths and their own checks: sessions and
CSRF never touch them). ``web_context(...)`` builds the context from the config and
the session secret (environment or systemd credential; never in the repo).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog
from starlette.applications import Starlette

from dialer.clock import Clock
from dialer.config import DialerConfig
from dialer.secrets import MissingSecret, secret
from dialer.store.base import Store
from dialer.web.api import api_routes
from dialer.web.console import console_routes
from dialer.web.context import WebContext
from dialer.web.desk import desk_routes
from dialer.web.pages import page_routes

if TYPE_CHECKING:
    from dialer.dispatcher import Dispatcher

log = structlog.get_logger("dialer.web")
MIN_SECRET = 32


def web_context(
    store: Store,
    config_source: Callable[[], DialerConfig],
    clock: Clock,
    dispatcher_source: Callable[[], Dispatcher] | None = None,
) -> WebContext | None:
    """The context when the web section is enabled and the session secret is set; else
    None (logged once: without the secret no session can be signed)."""
    settings = config_source().web
    if not settings.enabled:
        return None
    try:
        key = secret(settings.session_secret_env)
    except MissingSecret as exc:
        log.error("web_disabled", reason=str(exc))
        return None
    if key is None or len(key) < MIN_SECRET:
        log.error("web_disabled", reason=f"{settings.session_secret_env} must hold at least {MIN_SECRET} characters")
        return None
    return WebContext(store, config_source, clock, key, dispatcher_source)


def web_bind(config: DialerConfig, address: tuple[str, int]) -> tuple[str, int]:
    """Where the worker's endpoint listens: web.host / web.port override the http section's."""
    web = config.web
    if not web.enabled:
        return address
    return (web.host or address[0], web.port if web.port is not None else address[1])


def mount_web(app: Starlette, ctx: WebContext | None) -> None:
    if ctx is None:
        return
    app.state.web = ctx
    app.router.routes.extend([*page_routes(), *api_routes(), *console_routes(), *desk_routes()])
    log.info("web_mounted", public_url=ctx.settings.public_url)


__all__ = ["mount_web", "web_bind", "web_context"]
