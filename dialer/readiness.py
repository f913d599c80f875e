"""Which providers can place calls now, as this worker sees them.

A provider that is not ready (SIP not registered or its credentials refused, Twilio's
API unreachable or refusing the account) must not cost clients attempts: while it is
not ready the dispatcher claims nothing for its campaigns, and a dial that fails for
that reason (``ProviderNotReady``) is recorded `canceled`.

Readiness is the provider's own ``check()``: run once before the first claim, then in
the background (every CHECK_EVERY_READY while ready, CHECK_EVERY_NOT_READY while not),
and at once after a dial raised ProviderNotReady. A step never waits for a check
except the very first one. Each worker writes its findings to the store (on every
change, else every READINESS_REPORT_EVERY) so `dialer status` on any host shows which
campaigns are blocked, where and why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from dialer.clock import Clock
from dialer.model import READINESS_REPORT_EVERY, ProviderReadiness
from dialer.store.roles import Pacing
from providers.base import Provider

log = structlog.get_logger("dialer.readiness")

CHECK_EVERY_READY = timedelta(seconds=15)
CHECK_EVERY_NOT_READY = timedelta(seconds=5)
CHECK_TIMEOUT = 10.0  # real seconds: a check that hangs is a provider that is not ready

Spawn = Callable[[Coroutine[Any, Any, None]], None]


@dataclass
class _State:
    ready: bool
    reason: str | None
    since: datetime
    next_check: datetime
    reported_at: datetime | None = None
    checking: bool = False


class ProviderReadinessTracker:
    """This worker's view of its providers' readiness (see the module docstring)."""

    def __init__(self, store: Pacing, owner: str, clock: Clock, spawn: Spawn):
        self.store = store
        self.owner = owner
        self.clock = clock
        self._spawn = spawn
        self._states: dict[str, _State] = {}

    def not_ready(self, provider: str) -> str | None:
        """Why the provider cannot place calls now, or None if it can (or is not checked yet)."""
        state = self._states.get(provider)
        return state.reason if state is not None and not state.ready else None

    def ready(self, provider: str) -> bool | None:
        state = self._states.get(provider)
        return None if state is None else state.ready

    async def refresh(self, providers: Mapping[str, Provider], names: Iterable[str], now: datetime) -> None:
        """Check the named providers that are due: the first check of each inline (before
        the first claim), the later ones in the background."""
        first: list[str] = []
        for name in dict.fromkeys(names):
            provider = providers.get(name)
            if provider is None:
                continue
            state = self._states.get(name)
            if state is None:
                first.append(name)
            elif not state.checking and now >= state.next_check:
                state.checking = True
                self._spawn(self._check(name, provider))
        if first:
            await asyncio.gather(*(self._check(name, providers[name]) for name in first))

    def mark_not_ready(self, provider: str, reason: str, now: datetime) -> None:
        """A dial found the provider not ready: stop claiming for it now, and re-check
        at the next step (the check decides when it is ready again)."""
        self._set(provider, False, reason, now)
        state = self._states[provider]
        state.next_check = now

    async def _check(self, name: str, provider: Provider) -> None:
        try:
            await asyncio.wait_for(provider.check(), CHECK_TIMEOUT)
            ready, reason = True, None
        except TimeoutError:
            ready, reason = False, f"readiness check did not answer within {CHECK_TIMEOUT:g} s"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure means: do not place calls through it now
            ready, reason = False, str(exc) or type(exc).__name__
        now = self.clock.now()
        changed = self._set(name, ready, reason, now)
        state = self._states[name]
        state.checking = False
        state.next_check = now + (CHECK_EVERY_READY if ready else CHECK_EVERY_NOT_READY)
        if changed or state.reported_at is None or now - state.reported_at >= READINESS_REPORT_EVERY:
            await self._report(name, state, now)

    def _set(self, name: str, ready: bool, reason: str | None, now: datetime) -> bool:
        state = self._states.get(name)
        if state is not None and state.ready == ready and (ready or state.reason == reason):
            return False
        if state is None:
            self._states[name] = _State(ready=ready, reason=reason, since=now, next_check=now)
        else:
            if state.ready != ready:
                state.since = now
            state.ready, state.reason = ready, reason
            state.reported_at = None  # a change is written at once
        if ready:
            log.info("provider_ready", provider=name)
        else:
            log.error("provider_not_ready", provider=name, reason=reason,
                      note="its campaigns claim no client until it is ready again")  # fmt: skip
        return True

    async def _report(self, name: str, state: _State, now: datetime) -> None:
        report = ProviderReadiness(self.owner, name, state.ready, state.reason, state.since, now)
        try:
            await self.store.report_readiness(report)
            state.reported_at = now
        except Exception as exc:  # the database away: the dispatcher still knows; status learns later
            log.warning("readiness_not_reported", provider=name, error=f"{type(exc).__name__}: {exc}")
