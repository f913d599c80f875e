"""The agent desktop's live feed: ``GET /desk/stream`` (Server-Sent Events).

What the agent's page learns without a reload, only about this agent:

* ``pop``: the dispatcher started a client's leg for this agent (``{"call_id", ...}``);
  the page fetches the card (/desk/calls/{id}). The dispatcher publishes through the
  store (``PeopleStore.notify``: PostgreSQL NOTIFY, so a call placed by another worker
  pops here too; SQLite: in process), and this worker's context listens to it.
* ``preview``: a client is previewed to this agent (preview mode, dialer/preview.py);
  the page fetches its card (/desk/preview/{client_id}) with Call and Skip.
* ``presence``: this agent's state changed (the dispatcher, a supervisor, another tab).
* ``call``: a disposition of this agent's was recorded (the awaiting list refreshes).

Presence follows the page: when the agent's last stream on this worker has been gone
for ``PAGE_GONE_AFTER`` (the page was closed, the laptop slept, the network dropped;
EventSource reconnects within a second or two otherwise), an agent who is Ready, in
wrap-up or on a call is logged out, so a closed page is never offered a call (a call in
progress finishes; logged out, no wrap-up follows it). Behind several workers the
browser must reach one worker per session (sticky load balancing), which nginx's
``ip_hash`` or a single worker serving the web section gives.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import weakref
from collections import Counter
from collections.abc import AsyncIterator

import structlog
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from dialer.store.people import PresenceState
from dialer.web.auth import context, session_principal
from dialer.web.context import WebContext
from dialer.web.notify import Notifier, PageEvent

log = structlog.get_logger("dialer.web")

TOPICS = ("pop", "preview", "presence", "call")
KEEPALIVE = 15.0  # seconds between comments: proxies keep the stream, closed pages are noticed
MAX_STREAM = 3600.0  # seconds one stream lasts (the session is re-checked when the page reconnects)
PAGE_GONE_AFTER = 20.0  # seconds without a stream before an agent is logged out
RECONNECT_MS = 1000
QUEUE_LIMIT = 100
BY_PAGE_GONE = "page-closed"
_ACTIVE_STATES = frozenset({PresenceState.READY, PresenceState.WRAP_UP, PresenceState.ON_CALL})


class _Streams:
    """Open desk streams per agent on this worker, and the pending page-gone checks."""

    def __init__(self) -> None:
        self.open: Counter[str] = Counter()
        self.checks: set[asyncio.Task[None]] = set()


# Keyed by the context's notifier (one per context, hashable by identity).
_STREAMS: weakref.WeakKeyDictionary[Notifier, _Streams] = weakref.WeakKeyDictionary()


def _streams(ctx: WebContext) -> _Streams:
    found = _STREAMS.get(ctx.notifier)
    if found is None:
        found = _STREAMS[ctx.notifier] = _Streams()
    return found


def _mine(event: PageEvent, agent: str) -> bool:
    if event.topic == "call":
        return event.data.get("by") == agent
    return event.data.get("agent") == agent


def sse(event: PageEvent) -> str:
    return f"event: {event.topic}\ndata: {json.dumps(event.data, separators=(',', ':'))}\n\n"


async def page_gone(ctx: WebContext, agent: str, after: float = PAGE_GONE_AFTER) -> None:
    """Log the agent out when no desk stream of theirs came back within `after` seconds."""
    await asyncio.sleep(after)
    if _streams(ctx).open[agent] > 0:
        return
    now = ctx.clock.now()
    (presence,) = await ctx.people.presence(now, [agent])
    if presence.state not in _ACTIVE_STATES:
        return
    await ctx.people.set_presence(agent, PresenceState.LOGGED_OUT, now, by=BY_PAGE_GONE)
    log.info("agent_page_gone", agent=agent, was=presence.state.value)
    await ctx.publish("presence", {"agent": agent, "state": "logged_out", "reason": None, "by": BY_PAGE_GONE})


async def _events(ctx: WebContext, agent: str, request: Request) -> AsyncIterator[str]:
    streams = _streams(ctx)
    streams.open[agent] += 1
    queue: asyncio.Queue[PageEvent | None] = asyncio.Queue(QUEUE_LIMIT)

    async def pump() -> None:
        async for event in ctx.notifier.subscribe(TOPICS):
            if _mine(event, agent):
                try:
                    queue.put_nowait(event)
                except asyncio.QueueFull:
                    break  # a page that stopped reading: end its stream (it reconnects)
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(None)

    pumping = asyncio.create_task(pump(), name=f"desk-stream-{agent}")
    deadline = time.monotonic() + MAX_STREAM
    try:
        yield f"retry: {RECONNECT_MS}\n: connected\n\n"
        while time.monotonic() < deadline:
            try:
                event = await asyncio.wait_for(queue.get(), KEEPALIVE)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield ": keepalive\n\n"
                continue
            if event is None:
                return
            yield sse(event)
    finally:
        pumping.cancel()
        streams.open[agent] -= 1
        if streams.open[agent] <= 0:
            del streams.open[agent]
            check = asyncio.get_running_loop().create_task(page_gone(ctx, agent))
            streams.checks.add(check)
            check.add_done_callback(streams.checks.discard)


async def desk_stream(request: Request) -> Response:
    ctx = context(request)
    principal = await session_principal(request)
    if principal is None:
        return PlainTextResponse("your session expired: log in again", status_code=401)
    if not principal.is_agent:
        return PlainTextResponse("the desk stream is for agents", status_code=403)
    await ctx.start_listening()
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(_events(ctx, principal.name, request), media_type="text/event-stream", headers=headers)


__all__ = ["PAGE_GONE_AFTER", "desk_stream", "page_gone", "sse"]
