"""Page events: what a page must learn without a reload (presence changed, a campaign
paused, a call disposed; later: a screen pop). Publish with ``WebContext.publish`` (it
goes through the store when workers share one: PostgreSQL LISTEN/NOTIFY, see
``PeopleStore.notify/listen``); a page's stream (SSE/WebSocket, built on top) iterates
``Notifier.subscribe`` after ``WebContext.start_listening``.

This class is the in-process fan-out: one bounded queue per open stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog

log = structlog.get_logger("dialer.web")

QUEUE_LIMIT = 100  # events a slow page may lag behind before it is dropped (it reloads)


@dataclass(frozen=True)
class PageEvent:
    topic: str  # e.g. "presence", "campaign", "call"
    data: dict[str, Any] = field(default_factory=dict)


class Notifier:
    def __init__(self) -> None:
        self._queues: dict[asyncio.Queue[PageEvent | None], frozenset[str]] = {}

    def publish(self, topic: str, data: dict[str, Any]) -> None:
        event = PageEvent(topic, data)
        for queue, topics in list(self._queues.items()):
            if topics and topic not in topics:
                continue
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                # A page that stopped reading: end its stream rather than grow without bound.
                self._queues.pop(queue, None)
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(None)
                log.info("page_stream_dropped", topic=topic)

    @property
    def subscribers(self) -> int:
        return len(self._queues)

    async def subscribe(self, topics: Iterable[str] = ()) -> AsyncIterator[PageEvent]:
        """Events of `topics` (all when empty) until the caller stops iterating."""
        queue: asyncio.Queue[PageEvent | None] = asyncio.Queue(QUEUE_LIMIT + 1)
        self._queues[queue] = frozenset(topics)
        try:
            while True:
                event = await queue.get()
                if event is None:
                    return
                yield event
        finally:
            self._queues.pop(queue, None)


__all__ = ["Notifier", "PageEvent"]
