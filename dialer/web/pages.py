"""Server-rendered pages: login, logout, the home page with the agent's presence buttons.

The agent desktop and the supervisor console build on the same helpers: ``render``
(a Jinja2 template with the principal and the CSRF token filled in, no-store and
anti-framing headers), ``page_principal`` (the logged-in person or a redirect to
/login) and ``form_of`` (the form, CSRF checked).
"""

from __future__ import annotations

from typing import Any

import structlog
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from dialer.accounts import Principal, authenticate
from dialer.store.people import PresenceState, Role
from dialer.web.auth import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    HttpError,
    check_csrf,
    check_login_form,
    clear_session,
    client_address,
    context,
    csrf_token,
    login_form_token,
    session_principal,
    set_session,
)
from dialer.web.presence import change_presence

log = structlog.get_logger("dialer.web")

_ENV = Environment(loader=PackageLoader("dialer.web", "templates"), autoescape=select_autoescape(["html"]))
MAX_FORM_BYTES = 16384
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
}


class LoginRequired(Exception):
    pass


def render(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    values.setdefault("principal", getattr(request.state, "principal", None))
    values.setdefault("message", None)
    values.setdefault("csrf_token", csrf_token(request))
    body = _ENV.get_template(template).render(**values)
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


async def page_principal(request: Request) -> Principal:
    """The logged-in person; raises LoginRequired (the page answers with /login)."""
    principal = await session_principal(request)
    if principal is None:
        raise LoginRequired
    return principal


async def form_of(request: Request, *, login: bool = False) -> FormData:
    """The posted form, its CSRF token checked (HttpError 403 otherwise)."""
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit() or int(declared) > MAX_FORM_BYTES:
        raise HttpError(413, "the form is too large")
    form = await request.form()
    token = form.get(CSRF_FIELD)
    submitted = token if isinstance(token, str) else None
    if login:
        check_login_form(request, submitted)
    else:
        check_csrf(request, submitted)
    return form


def _text(form: FormData, name: str, limit: int = 200) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _login_page(request: Request, status: int = 200, message: str | None = None, name: str = "") -> Response:
    token = login_form_token(context(request))
    response = render(request, "login.html", status, login_token=token, message=message, name=name)
    response.set_cookie(
        LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="lax",
        secure=context(request).settings.secure_cookies, path="/login",
    )  # fmt: skip
    return response


async def login_get(request: Request) -> Response:
    if await session_principal(request) is not None:
        return RedirectResponse("/", status_code=303)
    return _login_page(request)


async def login_post(request: Request) -> Response:
    ctx = context(request)
    try:
        form = await form_of(request, login=True)
    except HttpError as exc:
        return _login_page(request, exc.status, exc.message)
    name, password = _text(form, "name", 64), form.get("password")
    if not name or not isinstance(password, str) or not password:
        return _login_page(request, 400, "enter your name and password", name)
    address = client_address(request)
    now = ctx.clock.now()
    if await ctx.throttle.blocked(ctx.people, name, address, now):
        log.warning("login_throttled", account=name, address=address)
        wait = int(ctx.settings.login_cooldown.total_seconds() // 60)
        return _login_page(request, 429, f"too many failed logins: wait {wait} minutes and try again", name)
    account = await authenticate(ctx.people, ctx.throttle, name, password[:1024], address, now)
    if account is None:
        log.info("login_failed", account=name, address=address)
        return _login_page(request, 401, "the name or the password is wrong (or the account is disabled)", name)
    log.info("login", account=name, role=account.role.value, address=address)
    response = RedirectResponse("/", status_code=303)
    set_session(response, ctx, account)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


async def logout(request: Request) -> Response:
    ctx = context(request)
    principal = await session_principal(request)
    if principal is not None:
        try:
            await form_of(request)
        except HttpError as exc:
            return render(request, "base.html", exc.status, message=exc.message)
        if principal.role is Role.AGENT:
            # Logged out: never offered a call again (a call in progress finishes).
            await change_presence(ctx, principal, principal.name, PresenceState.LOGGED_OUT, None)
        log.info("logout", account=principal.name)
    response = RedirectResponse("/login", status_code=303)
    clear_session(response, ctx)
    return response


async def home(request: Request) -> Response:
    ctx = context(request)
    try:
        principal = await page_principal(request)
    except LoginRequired:
        return RedirectResponse("/login", status_code=303)
    paused = await ctx.people.paused_campaigns()
    campaigns = [
        {"name": c.name, "paused": c.name in paused}
        for c in ctx.config.campaigns
        if not principal.campaigns or c.name in principal.campaigns
    ]
    presence = None
    if principal.role is Role.AGENT:
        (presence,) = await ctx.people.presence(ctx.clock.now(), [principal.name])
    return render(
        request, "home.html", principal=principal, presence=presence, campaigns=campaigns,
        pause_reasons=ctx.settings.pause_reasons,
    )  # fmt: skip


async def presence_post(request: Request) -> Response:
    """The home page's Ready / Pause buttons (a form; the desktop may use the API)."""
    ctx = context(request)
    try:
        principal = await page_principal(request)
    except LoginRequired:
        return RedirectResponse("/login", status_code=303)
    try:
        form = await form_of(request)
        state = _text(form, "state", 20)
        try:
            wanted = PresenceState(state)
        except ValueError:
            raise HttpError(400, f"unknown state {state!r}") from None
        await change_presence(ctx, principal, principal.name, wanted, _text(form, "reason") or None)
    except HttpError as exc:
        return render(request, "base.html", exc.status, principal=principal, message=exc.message)
    return RedirectResponse("/", status_code=303)


def page_routes() -> list[BaseRoute]:
    return [
        Route("/", home, methods=["GET"]),
        Route("/login", login_get, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/presence", presence_post, methods=["POST"]),
        Mount("/static", app=StaticFiles(packages=[("dialer.web", "static")]), name="static"),
    ]


__all__ = ["LoginRequired", "form_of", "page_principal", "page_routes", "render"]
