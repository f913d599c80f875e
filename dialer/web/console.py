"""The supervisor console: the live board, client search and the client page, and the
day report behind the login (issue 12).

    GET  /console                            the live board (cards refreshed every 2 s)
    GET  /console/board.json                 the board's data (the page's script, scripts)
    GET  /console/board/cards                the cards as HTML (what the page swaps in)
    GET  /console/clients?q=...              client search: id, phone or part of a name
    GET  /console/clients/{id}               the client: card, `why`, calls and events
    POST /console/clients/{id}/next-contact  move the next contact (client's local time)
    POST /console/clients/{id}/do-not-call   never call again
    GET  /console/report[.xlsx|.csv]         the day report and its downloads

Pausing a campaign and logging an agent out go through /api/v1 (the board's script
sends the CSRF header): the same checks, audit and page events as for a CRM.

Every route needs a supervisor; a campaign or client outside their scope is 403 and
nothing changes. The board is refreshed by polling, not a stream: most of what it
shows (lines in use, due now, plan progress) changes in the store without a page
event, so a stream would have to poll the store anyway; a 2 s fetch is as live, holds
no connection per open tab, and passes any proxy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import structlog
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from dialer.accounts import Principal, may_see_campaign, visible_campaigns
from dialer.reporting.data import DayReport, load_day_report
from dialer.reporting.downloads import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, download_name, report_csv_excel, report_xlsx
from dialer.reporting.page import STATIC_DIR_NAME, Links, render_day_report
from dialer.reporting.web import BadRequest, parse_query
from dialer.supervision import (
    ClientActionRefused,
    local_text,
    mark_do_not_call,
    move_next_contact,
    search_clients,
)
from dialer.web.auth import HttpError, context, session_principal
from dialer.web.board import load_board
from dialer.web.pages import PAGE_HEADERS, form_of, render

log = structlog.get_logger("dialer.web")

PREFIX = "/console"
REFRESH_MS = 2000
_STATUS = {"unknown": 404, "bad_input": 400, "outside_window": 422, "busy": 409, "do_not_call": 409}

Handler = Callable[[Request, Principal], Awaitable[Response]]


class _LoginRequired(Exception):
    pass


async def _supervisor(request: Request) -> Principal:
    principal = await session_principal(request)
    if principal is None:
        raise _LoginRequired
    if not principal.is_supervisor:
        raise HttpError(403, "the console is for supervisors")
    return principal


def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A console page: login (else /login), the supervisor role, refusals as one line."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request, await _supervisor(request))
        except _LoginRequired:
            return RedirectResponse("/login", status_code=303)
        except HttpError as exc:
            return render(request, "console_message.html", exc.status, message=exc.message)
        except Exception:
            log.exception("console_failed", path=request.url.path)
            return render(request, "console_message.html", 500, message="internal error (logged on the worker)")

    return run


def data(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A console data route (JSON or a fragment): refusals as {"error": ...}."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request, await _supervisor(request))
        except _LoginRequired:
            return JSONResponse({"error": "not logged in (or the session expired): log in again"}, 401)
        except HttpError as exc:
            return JSONResponse({"error": exc.message}, exc.status)
        except Exception:
            log.exception("console_failed", path=request.url.path)
            return JSONResponse({"error": "internal error (logged on the worker)"}, 500)

    return run


def _campaigns(request: Request, principal: Principal) -> list[str]:
    return visible_campaigns(principal, [c.name for c in context(request).config.campaigns])


def _client_allowed(principal: Principal, campaign: str | None) -> bool:
    return not principal.campaigns if campaign is None else may_see_campaign(principal, campaign)


# ---------------------------------------------------------------------------- the board


async def _cards(request: Request, principal: Principal) -> list[Any]:
    ctx = context(request)
    return await load_board(ctx.store, ctx.config, ctx.clock.now(), _campaigns(request, principal))


def _board_values(request: Request, cards: list[Any]) -> dict[str, Any]:
    ctx = context(request)
    zone = ZoneInfo(ctx.config.center.timezone)
    now = ctx.clock.now()

    def local(iso: str | None) -> str:
        return datetime.fromisoformat(iso).astimezone(zone).strftime("%a %H:%M") if iso else "-"

    return {"cards": cards, "local": local, "as_of": now.astimezone(zone).strftime("%H:%M:%S"), "for_text": _for}


def _for(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    return f"{h}h {rest // 60:02d}m" if h else f"{rest // 60}:{rest % 60:02d}"


async def board(request: Request, principal: Principal) -> Response:
    cards = await _cards(request, principal)
    return render(request, "console_board.html", principal=principal, refresh_ms=REFRESH_MS,
                  **_board_values(request, cards))  # fmt: skip


async def board_cards(request: Request, principal: Principal) -> Response:
    cards = await _cards(request, principal)
    return render(request, "console_cards.html", principal=principal, **_board_values(request, cards))


async def board_json(request: Request, principal: Principal) -> Response:
    ctx = context(request)
    cards = await _cards(request, principal)
    body = {"at": ctx.clock.now().isoformat(), "campaigns": [c.as_json() for c in cards]}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


# ---------------------------------------------------------------------------- clients


async def clients(request: Request, principal: Principal) -> Response:
    ctx = context(request)
    query = request.query_params.get("q", "")
    found, message = [], None
    if query.strip():
        try:
            found = await search_clients(ctx.store, ctx.config, query, principal.campaigns)
        except ClientActionRefused as exc:
            message = str(exc)
        if not found and message is None:
            message = f"no client matches {query.strip()[:60]!r}"
    return render(request, "console_clients.html", 200 if message is None or found else 404, principal=principal,
                  q=query, found=found, message=message)  # fmt: skip


async def _client_page(request: Request, principal: Principal, status: int = 200, **extra: Any) -> Response:
    from dialer.why import explain

    ctx = context(request)
    client_id = request.path_params["client_id"]
    client = await ctx.store.get_client(client_id)
    if client is None:
        raise HttpError(404, f"no client {client_id[:60]!r}")
    if not _client_allowed(principal, client.campaign):
        raise HttpError(403, f"client {client.id} is not in your campaigns")
    now = ctx.clock.now()
    zone = ZoneInfo(client.timezone)
    center = ZoneInfo(ctx.config.center.timezone)
    calls = await ctx.store.client_calls(client.id, limit=20)
    events = await ctx.store.events_for(client.id, limit=50)
    why = await explain(ctx.store, ctx.config, client.id, now)
    suggested = max(now, client.next_dial_at or now).astimezone(zone).strftime("%Y-%m-%dT%H:%M")
    return render(
        request, "console_client.html", status, principal=principal, client=client, why=why, calls=calls,
        events=events, local_now=now.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        next_local=local_text(client.next_dial_at, client.timezone), suggested=suggested,
        center=lambda t: t.astimezone(center).strftime("%Y-%m-%d %H:%M") if t else "-",
        center_tz=ctx.config.center.timezone, **extra,
    )  # fmt: skip


async def client_page(request: Request, principal: Principal) -> Response:
    done = {"moved": "the next contact was moved", "dnc": "the client is do-not-call now"}
    return await _client_page(request, principal, notice=done.get(request.query_params.get("done", "")))


async def _client_action(request: Request, principal: Principal, action: str) -> Response:
    ctx = context(request)
    client_id = request.path_params["client_id"]
    form = await form_of(request)
    client = await ctx.store.get_client(client_id)
    if client is None:
        raise HttpError(404, f"no client {client_id[:60]!r}")
    if not _client_allowed(principal, client.campaign):
        raise HttpError(403, f"client {client.id} is not in your campaigns")
    now = ctx.clock.now()
    try:
        if action == "moved":
            raw = form.get("at")
            text = raw.strip() if isinstance(raw, str) else ""
            try:
                at = datetime.fromisoformat(text)
            except ValueError:
                raise ClientActionRefused(
                    "bad_input", f"{text[:40]!r} is not a date and time like 2026-12-03T10:30"
                ) from None
            if at.tzinfo is None:
                at = at.replace(tzinfo=ZoneInfo(client.timezone))  # the client's local time
            await move_next_contact(ctx.store, ctx.config, client.id, at, now, by=principal.name)
        else:
            await mark_do_not_call(ctx.store, client.id, now, by=principal.name)
    except ClientActionRefused as exc:
        return await _client_page(request, principal, _STATUS.get(exc.kind, 400), message=str(exc))
    log.info("client_changed", client=client.id, action=action, by=principal.name)
    await ctx.publish("client", {"client_id": client.id, "action": action, "by": principal.name})
    return RedirectResponse(f"{PREFIX}/clients/{quote(client.id, safe='')}?done={action}", status_code=303)


async def next_contact(request: Request, principal: Principal) -> Response:
    return await _client_action(request, principal, "moved")


async def do_not_call(request: Request, principal: Principal) -> Response:
    return await _client_action(request, principal, "dnc")


# ---------------------------------------------------------------------------- day report

LINKS = Links(page=f"{PREFIX}/report", css=f"{PREFIX}/report/{STATIC_DIR_NAME}/report.css")


async def _report(request: Request, principal: Principal) -> DayReport:
    """The report the query asks for, within the supervisor's campaigns: a scoped
    supervisor without a campaign in the query gets their first campaign."""
    ctx = context(request)
    now = ctx.clock.now()
    try:
        day, campaign = parse_query(dict(request.query_params), ctx.config, now)
    except BadRequest as exc:
        raise HttpError(400, str(exc)) from None
    mine = _campaigns(request, principal)
    if campaign is not None and campaign not in mine:
        raise HttpError(403, f"campaign {campaign} is not one of yours")
    if campaign is None and principal.campaigns:
        if not mine:
            raise HttpError(403, "none of your campaigns is configured")
        campaign = mine[0]
    report = await load_day_report(ctx.store, ctx.config, day, campaign=campaign, now=now)
    return replace(report, campaigns=mine)


async def report_page(request: Request, principal: Principal) -> Response:
    ctx = context(request)
    report = await _report(request, principal)
    html = render_day_report(report, links=LINKS, center_name=ctx.config.center.name)
    return HTMLResponse(html, headers=PAGE_HEADERS)


def _download(ext: str) -> Handler:
    async def run(request: Request, principal: Principal) -> Response:
        try:
            report = await _report(request, principal)
        except HttpError as exc:
            return PlainTextResponse(f"{exc.message}\n", status_code=exc.status)
        body = report_xlsx(report) if ext == "xlsx" else report_csv_excel(report)
        log.info("report_download", format=ext, day=report.day.isoformat(), campaign=report.campaign,
                 by=principal.name)  # fmt: skip
        headers = {"Content-Disposition": f'attachment; filename="{download_name(report, ext)}"'}
        return Response(body, media_type=XLSX_MEDIA_TYPE if ext == "xlsx" else CSV_MEDIA_TYPE, headers=headers)

    return run


def console_routes() -> list[BaseRoute]:
    return [
        Route(PREFIX, page(board), methods=["GET"]),
        Route(f"{PREFIX}/board.json", data(board_json), methods=["GET"]),
        Route(f"{PREFIX}/board/cards", data(board_cards), methods=["GET"]),
        Route(f"{PREFIX}/clients", page(clients), methods=["GET"]),
        Route(f"{PREFIX}/clients/{{client_id}}", page(client_page), methods=["GET"]),
        Route(f"{PREFIX}/clients/{{client_id}}/next-contact", page(next_contact), methods=["POST"]),
        Route(f"{PREFIX}/clients/{{client_id}}/do-not-call", page(do_not_call), methods=["POST"]),
        Route(f"{PREFIX}/report", page(report_page), methods=["GET"]),
        Route(f"{PREFIX}/report.xlsx", page(_download("xlsx")), methods=["GET"]),
        Route(f"{PREFIX}/report.csv", page(_download("csv")), methods=["GET"]),
        Mount(
            f"{PREFIX}/report/{STATIC_DIR_NAME}",
            app=StaticFiles(packages=[("dialer.reporting", STATIC_DIR_NAME)]),
            name="console-report-static",
        ),
    ]


__all__ = ["PREFIX", "console_routes"]
