"""What every page and API handler needs, in one object: ``request.app.state.web``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from itsdangerous import URLSafeTimedSerializer

from dialer.accounts import Throttle
from dialer.clock import Clock
from dialer.config import DialerConfig
from dialer.placement import Placement
from dialer.store.base import Store
from dialer.store.people import PeopleStore, people_of
from dialer.web.notify import Notifier
from dialer.web.settings import WebSettings

if TYPE_CHECKING:
    from dialer.dispatcher import Dispatcher

# The day report's data for the API and the report page: (store, config, day) -> rows
# as JSON-ready dicts. dialer.reports provides the default; the day-report work of
# issue 12 plugs its richer data function in here (WebContext.day_report).
DayReport = Callable[[Store, DialerConfig, date], Awaitable[list[dict[str, Any]]]]


async def default_day_report(store: Store, config: DialerConfig, day: date) -> list[dict[str, Any]]:
    from dialer.reports import day_report, report_dicts

    return report_dicts(await day_report(store, config, day))


@dataclass
class WebContext:
    store: Store
    config_source: Callable[[], DialerConfig]  # the current config (a reload swaps it)
    clock: Clock
    session_secret: str
    dispatcher_source: Callable[[], Dispatcher] | None = None  # the worker's, for dispositions
    notifier: Notifier = field(default_factory=Notifier)
    day_report: DayReport = default_day_report

    @property
    def config(self) -> DialerConfig:
        return self.config_source()

    @property
    def settings(self) -> WebSettings:
        return self.config.web

    @property
    def people(self) -> PeopleStore:
        return people_of(self.store)

    @property
    def throttle(self) -> Throttle:
        s = self.settings
        return Throttle(s.login_max_failures, s.login_address_max_failures, s.login_cooldown)

    _stop_listening: Callable[[], Awaitable[None]] | None = field(default=None, init=False, repr=False)

    async def publish(self, topic: str, data: dict[str, Any]) -> None:
        """Tell every page that cares, on every worker: through the store when it is shared
        (PostgreSQL LISTEN/NOTIFY; this worker's pages hear it back from there), else in
        process. Pages subscribe with ``notifier.subscribe`` after ``start_listening``."""
        if self.people.shared_events:
            await self.start_listening()
            await self.people.notify(topic, data)
        else:
            self.notifier.publish(topic, data)

    async def start_listening(self) -> None:
        # SQLite too: the dispatcher's events (screen pop) reach pages through the store.
        if self._stop_listening is None:
            self._stop_listening = await self.people.listen(self.notifier.publish)

    async def close(self) -> None:
        stop, self._stop_listening = self._stop_listening, None
        if stop is not None:
            await stop()

    def serializer(self, purpose: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.session_secret, salt=f"dialer.web.{purpose}")

    def placement(self) -> Placement:
        """Where a disposed client goes next (dialer.dispositions): the worker's own rules
        when running inside it (a reload's config included), else built from the store."""
        if self.dispatcher_source is not None:
            return self.dispatcher_source().placement
        return Placement(self.store, self.clock, self.config)

    def dispatcher(self) -> Dispatcher:
        """The worker's dispatcher when running inside it, else one for recording only
        (as `dialer dispose` makes): dispositions go through the same code either way."""
        if self.dispatcher_source is not None:
            return self.dispatcher_source()
        from dialer.dispatcher import Dispatcher

        return Dispatcher(self.store, {}, self.config, self.clock, owner="web")


__all__ = ["DayReport", "WebContext", "default_day_report"]
