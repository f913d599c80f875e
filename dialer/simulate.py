"""`dialer simulate`: the production dispatcher on a virtual clock.

The driver is event-driven: after each dispatcher step it waits until every call in
flight is parked in the virtual clock (or done), then jumps straight to the next
interesting instant (a call's next event, a client becoming due, a daily job, or at
most `MAX_JUMP` ahead so stale windows get rescheduled). A working day runs in
seconds, through the same code `dialer run` uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import structlog

from dialer import calendar
from dialer.clock import VirtualClock
from dialer.config import DialerConfig
from dialer.daily import job_instant, run_due
from dialer.dispatcher import Dispatcher
from dialer.domain import Stage
from dialer.planning import day_bounds
from dialer.reports import ReportRow, day_report
from dialer.scheduling import Scheduler
from dialer.store.base import CallRecord, Store
from providers.base import Provider
from providers.simulated import SimulatedProvider

log = structlog.get_logger("dialer.simulate")

MAX_JUMP = timedelta(minutes=10)
QUIESCE_LIMIT = 200_000  # bounded: a stuck task fails the simulation instead of hanging


class SimulationStuck(RuntimeError):
    pass


@dataclass
class Audit:
    """Guarantee checks over the simulated call log."""

    calls: int = 0
    outside_window: list[str] = field(default_factory=list)
    dnc_dialed: list[str] = field(default_factory=list)
    open_calls: int = 0


@dataclass
class DayResult:
    day: date
    rows: list[ReportRow]
    audit: Audit


def simulated_providers(config: DialerConfig, clock: VirtualClock, seed: int | None) -> dict[str, Provider]:
    """One simulated provider per configured provider name: a SIP or Twilio campaign is
    simulated with the first simulated provider's settings (or the defaults), so a
    supervisor can try a production config before going live."""
    template: dict[str, Any] = {}
    for p in config.providers.values():
        if p.type == "simulated":
            template = p.settings
            break
    out: dict[str, Provider] = {}
    for name, p in config.providers.items():
        settings = dict(p.settings if p.type == "simulated" else template)
        if seed is not None:
            settings["seed"] = seed
        out[name] = SimulatedProvider(name, settings, clock)
    return out


async def _quiesce(clock: VirtualClock, dispatcher: Dispatcher, extra: Iterable[asyncio.Task[Any]] = ()) -> None:
    """Wait (in real time, bounded) until every task is done or asleep on the virtual clock."""
    extra = list(extra)
    for _ in range(QUIESCE_LIMIT):
        pending = [t for t in (*dispatcher.tasks(), *extra) if not t.done()]
        if not pending or set(pending) <= clock.sleeping_tasks():
            if all(t.done() for t in extra):
                return
        await asyncio.sleep(0.0002 if pending else 0)
    raise SimulationStuck("simulation made no progress (a task neither finished nor slept)")


async def _next_instant(store: Store, config: DialerConfig, clock: VirtualClock, end: datetime) -> datetime:
    now = clock.now()
    candidates = [end, now + MAX_JUMP]
    wake = clock.next_wake()
    if wake is not None:
        candidates.append(wake)
    due = await store.next_dial_after(now)
    if due is not None:
        candidates.append(due)
    today = now.astimezone(calendar.ZoneInfo(config.center.timezone)).date()
    for campaign in config.campaigns:
        for at in (campaign.plan_at, campaign.report_at):
            t = job_instant(config, today, at)
            if t > now:
                candidates.append(t)
    return max(min(candidates), now + timedelta(seconds=1))


async def run_simulation(
    store: Store, config: DialerConfig, first_day: date, days: int, seed: int | None
) -> list[DayResult]:
    """Simulate `days` center-local days from `first_day` on `store` (already imported)."""
    start, _ = day_bounds(config, first_day)
    clock = VirtualClock(start)
    providers = simulated_providers(config, clock, seed)
    dispatcher = Dispatcher(store, providers, config, clock, owner="simulation")
    results: list[DayResult] = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        _, day_end = day_bounds(config, day)
        while clock.now() < day_end:
            await run_due(store, config, clock.now(), dispatcher.owner)
            step = asyncio.ensure_future(dispatcher.step())
            await _quiesce(clock, dispatcher, [step])
            step.result()
            clock.advance_to(await _next_instant(store, config, clock, day_end))
            await _quiesce(clock, dispatcher)
        # Calls still running at midnight finish (and are recorded) before the day closes.
        while dispatcher.in_flight:
            wake = clock.next_wake()
            if wake is None:
                await _quiesce(clock, dispatcher)
                continue
            clock.advance_to(wake)
            await _quiesce(clock, dispatcher)
        await run_due(store, config, clock.now(), dispatcher.owner)
        rows = await day_report(store, config, day)
        results.append(DayResult(day, rows, await audit_day(store, config, day)))
    await dispatcher.wait_idle()
    return results


async def audit_day(store: Store, config: DialerConfig, day: date) -> Audit:
    """Re-check every call of the day against the calendar and the do-not-call list."""
    start, end = day_bounds(config, day)
    calls = await store.calls_between(start, end)
    scheduler = Scheduler(config)
    audit = Audit(calls=len(calls))
    for call in calls:
        if not _inside_window(scheduler, config, call, await store.get_client(call.client_id)):
            audit.outside_window.append(call.call_id)
        events = await store.events_for(call.client_id, limit=1000)
        # Dialed after the do-not-call event was written?
        for e in events:
            if e.to_stage == Stage.DNC.value and e.at < call.started_at:
                audit.dnc_dialed.append(call.call_id)
                break
        if not call.status.final:
            audit.open_calls += 1
    return audit


def _inside_window(scheduler: Scheduler, config: DialerConfig, call: CallRecord, client: Any) -> bool:
    if client is None:
        return False
    campaign = config.campaign(call.campaign)
    rules = scheduler.rules(campaign, call.client_tz, client.schedule)
    return calendar.status(rules, call.started_at).open
