"""Preview mode on the agent desktop (dialer/preview.py): the client's card before the call.

* ``GET /desk/preview/{client_id}`` the card of the client previewed to this agent (a
  fragment: the page fetches it on a "preview" event, dialer/web/stream.py).
* ``POST /desk/preview/{client_id}/call`` dial the client now (refused, one line, when
  the client's window closed meanwhile).
* ``POST /desk/preview/{client_id}/skip`` (``reason``) give the client back, audited.

Only the agent the preview was offered to may act on it; anyone else gets 403 and
nothing changes. The preview is held by the worker whose dispatcher offered it: with one
worker (SQLite) that is always this one; behind several workers the page must reach the
worker that offered it, the same sticky session the desk stream already needs
(dialer/web/stream.py). A request reaching another worker is refused (409) and changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dialer.accounts import Principal
from dialer.preview import PREVIEW_TIMEOUT, SKIP_REASONS, HeldPreview, PreviewRefused, skip_reason
from dialer.web.auth import HttpError, context
from dialer.web.context import WebContext
from dialer.web.desk import RECENT_CALLS, why_now, window_of
from dialer.web.pages import LoginRequired, form_of, page_principal, render

if TYPE_CHECKING:
    from dialer.dispatcher import Dispatcher


def _dispatcher(ctx: WebContext) -> Dispatcher:
    if ctx.dispatcher_source is None:
        raise HttpError(409, "previews are offered by the worker's dispatcher: this server runs none")
    return ctx.dispatcher_source()


async def _held(request: Request) -> tuple[WebContext, Principal, Dispatcher, HeldPreview]:
    """The preview of the path's client, offered to the requesting agent (403 otherwise)."""
    ctx = context(request)
    principal = await page_principal(request)
    if not principal.is_agent:
        raise HttpError(403, "previews are for agents")
    dispatcher = _dispatcher(ctx)
    client_id = request.path_params["client_id"]
    held = dispatcher.previews.get(client_id)
    if held is None:
        raise HttpError(404, f"client {client_id} is not previewed now (called, skipped or timed out)")
    if held.agent.name != principal.name:
        raise HttpError(403, f"client {client_id} is previewed to another agent")
    return ctx, principal, dispatcher, held


async def preview_values(ctx: WebContext, held: HeldPreview) -> dict[str, Any]:
    client = await ctx.store.get_client(held.client_id)
    if client is None:
        raise HttpError(404, f"no client {held.client_id!r}")
    now = ctx.clock.now()
    left = max(0, int((held.offered_at + PREVIEW_TIMEOUT - now).total_seconds()))
    return {
        "client": client,
        "campaign": held.campaign.name,
        "why": why_now(client),
        "window": window_of(ctx, client, held.campaign, now),
        "history": (await ctx.store.client_calls(client.id, limit=RECENT_CALLS))[:RECENT_CALLS],
        "zone": ZoneInfo(client.timezone),
        "center_tz": ctx.config.center.timezone,
        "left": left,
        "reasons": SKIP_REASONS,
    }


async def preview_card(request: Request) -> Response:
    try:
        ctx, _, _, held = await _held(request)
        values = await preview_values(ctx, held)
    except LoginRequired:
        return render(request, "desk_message.html", 401, message="your session expired: log in again")
    except HttpError as exc:
        return render(request, "desk_message.html", exc.status, message=exc.message)
    return render(request, "desk_preview.html", preview=values)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def call(request: Request) -> Response:
    try:
        _, principal, dispatcher, held = await _held(request)
        await form_of(request)
        call_id = await dispatcher.preview_call(held.client_id, principal.name)
    except LoginRequired:
        return _error(401, "your session expired: log in again")
    except HttpError as exc:
        return _error(exc.status, exc.message)
    except PreviewRefused as exc:
        return _error(409, str(exc))
    return JSONResponse({"client_id": held.client_id, "call_id": call_id})


async def skip(request: Request) -> Response:
    try:
        _, principal, dispatcher, held = await _held(request)
        form = await form_of(request)
        try:
            reason = skip_reason(form.get("reason"))
        except PreviewRefused as exc:
            raise HttpError(400, str(exc)) from None
        await dispatcher.preview_skip(held.client_id, principal.name, reason)
    except LoginRequired:
        return _error(401, "your session expired: log in again")
    except HttpError as exc:
        return _error(exc.status, exc.message)
    except PreviewRefused as exc:
        return _error(409, str(exc))
    return JSONResponse({"client_id": held.client_id, "skipped": True, "reason": reason})


def preview_routes() -> list[BaseRoute]:
    return [
        Route("/desk/preview/{client_id}", preview_card, methods=["GET"]),
        Route("/desk/preview/{client_id}/call", call, methods=["POST"]),
        Route("/desk/preview/{client_id}/skip", skip, methods=["POST"]),
    ]


__all__ = ["preview_routes", "preview_values"]
