"""The agent desktop: /desk (the page), its client card and the calls awaiting a disposition.

* ``GET /desk`` the agent's page: presence buttons, the card of the call in progress (a
  reload during a call shows it again), "my calls awaiting a disposition" (oldest first).
* ``GET /desk/calls/{call_id}`` the client card of one call as an HTML fragment (the
  page fetches it on a screen pop, dialer/web/stream.py): who, why now, the client's
  clock and window, the last calls, the talk timer's guideline and the disposition form.
* ``GET /desk/awaiting`` the list as a fragment (refreshed after each disposition).

Dispositions, presence and wrap-up go through /api/v1 (the page sends its CSRF token in
X-CSRF-Token): one code path for the page, the API and `dialer dispose`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dialer import calendar
from dialer.accounts import Principal, may_dispose_call
from dialer.config import Campaign
from dialer.domain import Disposition, Priority, Stage
from dialer.hangup import HangUpResult, hang_up
from dialer.lifecycle import allowed_dispositions, human_duration
from dialer.model import CallRecord, QueuedClient
from dialer.scheduling import Scheduler
from dialer.store.people import PresenceState
from dialer.web.auth import HttpError, context
from dialer.web.context import WebContext
from dialer.web.pages import LoginRequired, form_of, page_principal, render

log = structlog.get_logger("dialer.web.desk")

RECENT_CALLS = 5


def why_now(client: QueuedClient) -> str:
    """Why the client is called now, in the agent's words (the queue's class, dialer.domain.Priority)."""
    s = client.state
    zone = ZoneInfo(client.timezone)
    match Priority(client.priority):
        case Priority.COMPLAINT:
            return "open complaint: follow it up"
        case Priority.CALLBACK:
            at = f" for {s.callback_at.astimezone(zone):%a %d %b %H:%M}" if s.callback_at else ""
            return f"agreed callback{at} (client's time)"
        case Priority.HOT:
            return f"hot: showed interest, follow up (hot call {s.hot_calls + 1})"
        case Priority.CUSTOMER:
            return "check-in with a customer"
        case _:
            return "cold call: a new prospect"


@dataclass(frozen=True)
class Window:
    open_now: bool
    text: str
    closes_at: datetime | None  # last start, when open now


def window_of(ctx: WebContext, client: QueuedClient, campaign: Campaign, now: datetime) -> Window:
    """How long the client's window stays open (or when it opens), in the client's time."""
    scheduler = Scheduler(ctx.config)
    working = scheduler.campaign_of(client.state.stage, client.campaign if client.campaign_pinned else None)
    rules = scheduler.rules(working or campaign, client.timezone, client.schedule)
    found = calendar.next_open(replace(rules, min_remaining=timedelta(0)), now)
    zone = ZoneInfo(client.timezone)
    if found is None:
        return Window(False, "no opening in the coming weeks", None)
    start, last = found
    if start <= now:
        left = timedelta(minutes=max(0, int((last - now).total_seconds() // 60)))
        return Window(True, f"open for {human_duration(left)} (until {last.astimezone(zone):%H:%M})", last)
    return Window(False, f"closed: opens {start.astimezone(zone):%a %d %b %H:%M}", None)


def _campaign(ctx: WebContext, name: str) -> Campaign | None:
    return next((c for c in ctx.config.campaigns if c.name == name), None)


async def _own_call(ctx: WebContext, principal: Principal, call_id: str) -> CallRecord:
    call = await ctx.store.get_call(call_id)
    if call is None:
        raise HttpError(404, f"no call {call_id!r}")
    if not may_dispose_call(principal, call.campaign, call.agent):
        raise HttpError(403, f"call {call_id} is not one of yours")
    return call


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())


async def card_values(ctx: WebContext, call: CallRecord) -> dict[str, Any]:
    """Everything the card template shows for `call`."""
    client = await ctx.store.get_client(call.client_id)
    if client is None:
        raise HttpError(404, f"no client {call.client_id!r}")
    campaign = _campaign(ctx, call.campaign)
    now = ctx.clock.now()
    zone = ZoneInfo(client.timezone)
    center = ZoneInfo(ctx.config.center.timezone)
    history = [c for c in await ctx.store.client_calls(client.id, limit=RECENT_CALLS + 1) if c.call_id != call.call_id]
    # An edit re-applies the lifecycle from the state before the first disposition.
    state = call.state_before if call.disposition is not None and call.state_before else client.state
    late = call.ended_at is not None and now - call.ended_at > ctx.settings.edit_period
    talk = campaign.talk if campaign else None
    return {
        "call": call,
        "client": client,
        "why": why_now(client),
        "window": window_of(ctx, client, campaign, now) if campaign else None,
        "history": history[:RECENT_CALLS],
        "zone": zone,
        "center": center,
        "center_tz": ctx.config.center.timezone,
        "allowed": [d.value for d in allowed_dispositions(state)],
        "needs_time": [d.value for d in Disposition if d.needs_time],
        "editable": call.disposition is not None and not late and client.state.stage is not Stage.DNC,
        "live": call.ended_at is None,
        # Seconds since the pop, from the server's clock: the page counts on from there
        # (a browser's clock may be off; the timer must not be).
        "elapsed": max(0, int((now - (call.answered_at or call.started_at)).total_seconds())),
        "target_min": _seconds(talk.target_min if talk else None),
        "target_max": _seconds(talk.target_max if talk else None),
        "hard_limit": _seconds(talk.hard_limit if talk else None),
        "talk_s": call.talk_s,
    }


async def _agent(request: Request) -> Principal:
    principal = await page_principal(request)
    if not principal.is_agent:
        raise HttpError(403, "the desk is for agents (supervisors: the console)")
    return principal


def _refused(request: Request, exc: HttpError, fragment: bool) -> Response:
    if fragment:
        return render(request, "desk_message.html", exc.status, message=exc.message)
    return render(request, "base.html", exc.status, message=exc.message)


async def desk(request: Request) -> Response:
    ctx = context(request)
    try:
        principal = await _agent(request)
    except LoginRequired:
        return RedirectResponse("/login", status_code=303)
    except HttpError as exc:
        return _refused(request, exc, False)
    now = ctx.clock.now()
    (presence,) = await ctx.people.presence(now, [principal.name])
    current = None
    if presence.state is PresenceState.ON_CALL and presence.call_id:
        call = await ctx.store.get_call(presence.call_id)
        if call is not None:
            current = await card_values(ctx, call)
    preview = None
    held = ctx.dispatcher_source().preview_of(principal.name) if ctx.dispatcher_source else None
    if current is None and held is not None:  # a reload while a client is previewed shows it again
        from dialer.web.preview import preview_values

        preview = await preview_values(ctx, held)
    return render(
        request, "desk.html", principal=principal, presence=presence, pause_reasons=ctx.settings.pause_reasons,
        awaiting=await ctx.store.awaiting_disposition(principal.name), card=current, preview=preview,
        max_wrap_up=_seconds(ctx.settings.max_wrap_up), now=now,
    )  # fmt: skip


async def card(request: Request) -> Response:
    ctx = context(request)
    try:
        principal = await _agent(request)
        call = await _own_call(ctx, principal, request.path_params["call_id"])
        values = await card_values(ctx, call)
    except LoginRequired:
        return render(request, "desk_message.html", 401, message="your session expired: log in again")
    except HttpError as exc:
        return _refused(request, exc, True)
    return render(request, "desk_card.html", card=values)


async def awaiting(request: Request) -> Response:
    ctx = context(request)
    try:
        principal = await _agent(request)
    except LoginRequired:
        return render(request, "desk_message.html", 401, message="your session expired: log in again")
    except HttpError as exc:
        return _refused(request, exc, True)
    calls = await ctx.store.awaiting_disposition(principal.name)
    return render(request, "desk_awaiting.html", awaiting=calls)


# The answer to a page's Hang up, by what the provider could do (dialer.hangup).
_HANG_UP_STATUS = {
    HangUpResult.HUNG_UP: 200,
    HangUpResult.UNKNOWN_CALL: 404,
    HangUpResult.ENDED: 409,
    HangUpResult.NOT_SUPPORTED: 409,
    HangUpResult.NOT_HERE: 409,
}


async def hang_up_call(request: Request) -> Response:
    """The agent ends their own call in progress (providers that can: the simulated one
    playing a human, `dialer demo`); others hang up on their phone, and are told so."""
    ctx = context(request)
    try:
        principal = await _agent(request)
        await form_of(request)
        call = await _own_call(ctx, principal, request.path_params["call_id"])
    except LoginRequired:
        return JSONResponse({"error": "your session expired: log in again"}, status_code=401)
    except HttpError as exc:
        return JSONResponse({"error": exc.message}, status_code=exc.status)
    if ctx.dispatcher_source is None:
        result = HangUpResult.NOT_HERE
    else:
        result = await hang_up(ctx.dispatcher_source(), call.call_id)
    status = _HANG_UP_STATUS[result]
    log.info("hang_up_requested", call_id=call.call_id, agent=principal.name, result=result.value)
    body = {"call_id": call.call_id, "result": result.value}
    return JSONResponse(body if status == 200 else {**body, "error": result.message}, status_code=status)


def desk_routes() -> list[BaseRoute]:
    from dialer.web.preview import preview_routes
    from dialer.web.stream import desk_stream

    return [
        *preview_routes(),
        Route("/desk", desk, methods=["GET"]),
        Route("/desk/stream", desk_stream, methods=["GET"]),
        Route("/desk/awaiting", awaiting, methods=["GET"]),
        Route("/desk/calls/{call_id}", card, methods=["GET"]),
        Route("/desk/calls/{call_id}/hangup", hang_up_call, methods=["POST"]),
    ]


__all__ = ["Window", "card_values", "desk_routes", "why_now", "window_of"]
