"""The JSON API under /api/v1 (for CRMs, scripts and the pages' own JavaScript).

Every answer is JSON; every refusal is ``{"error": "one line"}`` with its status and
changes nothing. Dispositions go through dialer.dispositions.dispose, exactly like
`dialer dispose`. The description is dialer/web/openapi.json (served as it is; a test
keeps it in step with the routes).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dialer.accounts import (
    Principal,
    may_dispose_call,
    may_manage_campaign,
    may_see_campaign,
    may_see_client,
    visible_campaigns,
)
from dialer.dispositions import NEXT_OPENING, DispositionRefused, NextOpening, dispose
from dialer.domain import CallStatus, Disposition
from dialer.store.base import CallRecord
from dialer.store.people import PresenceState, Role
from dialer.web.auth import HttpError, api_principal, context
from dialer.web.presence import agents_of, change_presence, extend_wrap_up

log = structlog.get_logger("dialer.web")

PREFIX = "/api/v1"
MAX_BODY = 65536
# DispositionRefused.kind -> status: a conflict with the call's state, or bad input.
_CONFLICTS = {"already_disposed", "conflict", "in_call", "not_latest", "nothing_to_replace", "no_state_before"}

Handler = Callable[[Request, Principal], Awaitable[Any]]


def _json_response(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers={"Cache-Control": "no-store"})


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Authenticate, run, turn refusals into JSON errors (never a traceback)."""

    async def run(request: Request) -> Response:
        try:
            principal = await api_principal(request)
            result = await handler(request, principal)
        except HttpError as exc:
            return _json_response({"error": exc.message}, exc.status)
        except Exception:
            log.exception("api_failed", path=request.url.path)
            return _json_response({"error": "internal error (logged on the worker)"}, 500)
        return result if isinstance(result, Response) else _json_response(result)

    return run


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise HttpError(413, "the request body is too large")
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise HttpError(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise HttpError(400, "the body must be a JSON object")
    return data


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _call_json(call: CallRecord) -> dict[str, Any]:
    return {
        "call_id": call.call_id, "client_id": call.client_id, "campaign": call.campaign, "agent": call.agent,
        "attempt": call.attempt, "started_at": _iso(call.started_at), "status": call.status.value,
        "answered_at": _iso(call.answered_at), "ended_at": _iso(call.ended_at), "talk_s": call.talk_s,
        "guideline": call.guideline.value if call.guideline else None,
        "disposition": call.disposition.value if call.disposition else None,
        "disposition_at": _iso(call.disposition_at), "note": call.note,
    }  # fmt: skip


def _campaign_known(request: Request, name: str) -> None:
    if name not in {c.name for c in context(request).config.campaigns}:
        raise HttpError(404, f"no campaign {name!r}")


# ---------------------------------------------------------------------------- handlers


async def me(request: Request, principal: Principal) -> Any:
    return {"name": principal.name, "role": principal.role.value, "campaigns": list(principal.campaigns)}


async def campaigns(request: Request, principal: Principal) -> Any:
    ctx = context(request)
    pauses = {p.campaign: p for p in await ctx.people.campaign_pauses()}
    out = []
    for name in visible_campaigns(principal, [c.name for c in ctx.config.campaigns]):
        pause = pauses.get(name)
        paused = bool(pause and pause.paused)
        out.append({
            "name": name, "paused": paused, "paused_by": pause.by if paused and pause else None,
            "paused_at": _iso(pause.at) if paused and pause else None,
        })  # fmt: skip
    return {"campaigns": out}


async def _pause(request: Request, principal: Principal, paused: bool) -> Any:
    ctx = context(request)
    name = request.path_params["campaign"]
    _campaign_known(request, name)
    if not may_manage_campaign(principal, name):
        raise HttpError(403, f"pausing {name} needs a supervisor of that campaign")
    await ctx.people.set_campaign_paused(name, paused, ctx.clock.now(), by=principal.name)
    log.info("campaign_paused" if paused else "campaign_resumed", campaign=name, by=principal.name)
    await ctx.publish("campaign", {"campaign": name, "paused": paused, "by": principal.name})
    return {"campaign": name, "paused": paused}


async def pause(request: Request, principal: Principal) -> Any:
    return await _pause(request, principal, True)


async def resume(request: Request, principal: Principal) -> Any:
    return await _pause(request, principal, False)


async def agents(request: Request, principal: Principal) -> Any:
    ctx = context(request)
    if principal.role is Role.AGENT and principal.via == "session":
        names = [principal.name]
    else:
        names = agents_of(ctx, principal.campaigns)
    rows = await ctx.people.presence(ctx.clock.now(), names)
    return {
        "agents": [
            {
                "agent": p.agent, "state": p.state.value, "reason": p.reason, "since": _iso(p.since),
                "wrap_up_until": _iso(p.wrap_up_until), "call_id": p.call_id, "campaign": p.campaign,
            }
            for p in rows
        ]
    }  # fmt: skip


async def set_state(request: Request, principal: Principal) -> Any:
    body = await _body(request)
    agent = request.path_params["agent"]
    raw = body.get("state")
    try:
        state = PresenceState(str(raw))
    except ValueError:
        raise HttpError(400, f"state must be one of ready, paused, logged_out (got {raw!r})") from None
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise HttpError(400, "reason must be a string")
    await change_presence(context(request), principal, agent, state, reason)
    return {"agent": agent, "state": state.value}


async def wrap_up(request: Request, principal: Principal) -> Any:
    body = await _body(request)
    seconds = body.get("seconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        raise HttpError(400, "seconds must be a number")
    await extend_wrap_up(context(request), principal, request.path_params["agent"], float(seconds))
    return {"agent": request.path_params["agent"], "extended": True}


async def client(request: Request, principal: Principal) -> Any:
    ctx = context(request)
    client_id = request.path_params["client_id"]
    found = await ctx.store.get_client(client_id)
    if found is None:
        raise HttpError(404, f"no client {client_id!r}")
    calls = await ctx.store.client_calls(client_id, limit=20)
    if not may_see_client(principal, found.campaign, [c.agent for c in calls]):
        raise HttpError(403, f"client {client_id} is not one of yours")
    events = await ctx.store.events_for(client_id, limit=50)
    from dialer.why import explain

    why = await explain(ctx.store, ctx.config, client_id, ctx.clock.now())
    return {
        "client": {
            "id": found.id, "name": found.name, "phone": found.phone, "timezone": found.timezone,
            "country": found.country, "campaign": found.campaign, "stage": found.state.stage.value,
            "complaint": found.state.complaint, "attributes": found.attributes,
            "next_dial_at": _iso(found.next_dial_at), "schedule_reason": found.schedule_reason,
            "local_time": ctx.clock.now().astimezone(ZoneInfo(found.timezone)).isoformat(timespec="minutes"),
        },
        "why": why,
        "calls": [_call_json(c) for c in calls],
        "events": [
            {"at": _iso(e.at), "kind": e.kind, "from_stage": e.from_stage, "to_stage": e.to_stage, "reason": e.reason,
             "call_id": e.call_id}
            for e in events
        ],
    }  # fmt: skip


def _parse_at(value: Any, zone: str) -> datetime | NextOpening | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise HttpError(400, "at must be an ISO date-time string or 'now'")
    if value.strip().lower() == "now":
        return NEXT_OPENING
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise HttpError(400, f"at {value!r} is not an ISO date-time like 2026-12-01T10:30") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(zone))  # no offset: the client's local time, as `dialer dispose`
    return at


async def _dispose(request: Request, principal: Principal, call: CallRecord) -> Any:
    ctx = context(request)
    if not may_dispose_call(principal, call.campaign, call.agent):
        raise HttpError(403, f"call {call.call_id} is not one of yours")
    body = await _body(request)
    raw = body.get("disposition")
    try:
        disposition = Disposition(str(raw))
    except ValueError:
        known = ", ".join(d.value for d in Disposition)
        raise HttpError(400, f"disposition must be one of {known} (got {raw!r})") from None
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 2000):
        raise HttpError(400, "note must be a string of at most 2000 characters")
    replace = body.get("replace", False)
    if not isinstance(replace, bool):
        raise HttpError(400, "replace must be true or false")
    late = call.ended_at is not None and ctx.clock.now() - call.ended_at > ctx.settings.edit_period
    if replace and principal.role is Role.AGENT and late:
        minutes = int(ctx.settings.edit_period.total_seconds() // 60)
        raise HttpError(409, f"call {call.call_id} ended more than {minutes} minutes ago: ask a supervisor")
    at = _parse_at(body.get("at"), call.client_tz)
    try:
        done = await dispose(
            ctx.placement(), call.call_id, disposition, at, note=note, by=principal.name, replace=replace
        )
    except DispositionRefused as exc:
        raise HttpError(409 if exc.kind in _CONFLICTS else 422, str(exc)) from None
    except LookupError as exc:
        raise HttpError(404, str(exc)) from None
    await ctx.publish("call", {"call_id": call.call_id, "disposition": disposition.value, "by": principal.name})
    return {
        "call_id": call.call_id, "client_id": call.client_id, "disposition": disposition.value,
        "replaced": done.replaced.value if done.replaced else None, "at": _iso(done.at),
        "at_next_opening": done.at_next_opening, "reason": done.transition.reason,
        "stage": done.transition.state.stage.value, "next_dial_at": _iso(done.update.next_dial_at),
    }  # fmt: skip


async def call_disposition(request: Request, principal: Principal) -> Any:
    ctx = context(request)
    call_id = request.path_params["call_id"]
    call = await ctx.store.get_call(call_id)
    if call is None or not may_see_campaign(principal, call.campaign):
        raise HttpError(404, f"no call {call_id!r}")
    return await _dispose(request, principal, call)


async def client_disposition(request: Request, principal: Principal) -> Any:
    """The client's open call: its latest call, answered and (unless replacing) not yet disposed."""
    ctx = context(request)
    client_id = request.path_params["client_id"]
    if await ctx.store.get_client(client_id) is None:
        raise HttpError(404, f"no client {client_id!r}")
    latest = await ctx.store.client_calls(client_id, limit=1)
    if not latest or latest[0].status is not CallStatus.ANSWERED:
        raise HttpError(409, f"client {client_id} has no answered call awaiting a disposition")
    return await _dispose(request, principal, latest[0])


async def day_report(request: Request, principal: Principal) -> Any:
    ctx = context(request)
    if not principal.is_supervisor:
        raise HttpError(403, "the day report needs the supervisor role")
    raw = request.query_params.get("date")
    if raw is None:
        from dialer.planning import center_today

        day = center_today(ctx.config, ctx.clock.now())
    else:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise HttpError(400, f"date {raw!r} is not like 2026-12-01") from None
    # --- supervisor console (issue 12): ?campaign=C, refused outside the token's scope
    campaign = request.query_params.get("campaign")
    if campaign is not None:
        _campaign_known(request, campaign)
        if not may_see_campaign(principal, campaign):
            raise HttpError(403, f"campaign {campaign} is not one of yours")
    # --- end supervisor console
    rows = await ctx.day_report(ctx.store, ctx.config, day)
    rows = [r for r in rows if may_see_campaign(principal, str(r.get("campaign")))]
    if campaign is not None:
        rows = [r for r in rows if r.get("campaign") == campaign]
    return {"date": day.isoformat(), "campaign": campaign, "rows": rows}


async def openapi(request: Request) -> Response:
    return Response(openapi_text(), media_type="application/json")


def openapi_text() -> str:
    return (resources.files("dialer.web") / "openapi.json").read_text(encoding="utf-8")


def api_routes() -> list[BaseRoute]:
    return [
        Route(f"{PREFIX}/openapi.json", openapi, methods=["GET"]),
        Route(f"{PREFIX}/me", endpoint(me), methods=["GET"]),
        Route(f"{PREFIX}/campaigns", endpoint(campaigns), methods=["GET"]),
        Route(f"{PREFIX}/campaigns/{{campaign}}/pause", endpoint(pause), methods=["POST"]),
        Route(f"{PREFIX}/campaigns/{{campaign}}/resume", endpoint(resume), methods=["POST"]),
        Route(f"{PREFIX}/agents", endpoint(agents), methods=["GET"]),
        Route(f"{PREFIX}/agents/{{agent}}/state", endpoint(set_state), methods=["PUT"]),
        Route(f"{PREFIX}/agents/{{agent}}/wrap-up", endpoint(wrap_up), methods=["POST"]),
        Route(f"{PREFIX}/clients/{{client_id}}", endpoint(client), methods=["GET"]),
        Route(f"{PREFIX}/clients/{{client_id}}/disposition", endpoint(client_disposition), methods=["POST"]),
        Route(f"{PREFIX}/calls/{{call_id}}/disposition", endpoint(call_disposition), methods=["POST"]),
        Route(f"{PREFIX}/reports/day", endpoint(day_report), methods=["GET"]),
    ]


__all__ = ["PREFIX", "api_routes", "endpoint", "openapi_text"]
