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
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from dialer import calendar
from dialer.clock import VirtualClock
from dialer.config.models import DialerConfig
from dialer.daily import BUSY_RECHECK, DailyJobs, job_instant
from dialer.dispatcher import PROVIDER_CRASHED, Dispatcher
from dialer.domain import Stage
from dialer.model import CallRecord
from dialer.planning import day_bounds
from dialer.reports import ReportRow, day_report
from dialer.scheduling import Scheduler
from dialer.simulate_setup import PreviewReader, SimulatedShift, next_wrap_up_end, simulation_settings
from dialer.store.base import Store
from dialer.store.roles import CallHistory
from providers.base import Provider
from providers.simulated import SimulatedProvider

log = structlog.get_logger("dialer.simulate")

MAX_JUMP = timedelta(minutes=10)
QUIESCE_LIMIT = 100_000  # rounds per wait; bounded so a stuck task fails instead of hanging
QUIESCE_SECONDS = 30.0  # real seconds without any progress
SPIN_ROUNDS = 16  # loop turns yielded before waiting on events (see _quiesce)


class SimulationStuck(RuntimeError):
    pass


@dataclass
class Audit:
    """Guarantee checks over the simulated call log."""

    calls: int = 0
    outside_window: list[str] = field(default_factory=list)
    dnc_dialed: list[str] = field(default_factory=list)
    open_calls: int = 0
    # Calls the provider crashed on (a bug, never a telephony outcome): each would
    # otherwise pass as an ordinary `failed` call and hide, e.g., `reached 0`.
    provider_crashes: list[str] = field(default_factory=list)
    first_crash: str | None = None

    @property
    def violations(self) -> int:
        return len(self.outside_window) + len(self.dnc_dialed) + self.open_calls + len(self.provider_crashes)


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
        settings = simulation_settings(p.settings if p.type == "simulated" else template, config)  # issue 13
        if seed is not None:
            settings["seed"] = seed
        out[name] = SimulatedProvider(name, settings, clock)
    return out


async def _quiesce(clock: VirtualClock, dispatcher: Dispatcher, extra: Iterable[asyncio.Task[Any]] = ()) -> None:
    """Wait until every task is done or asleep on the virtual clock.

    Most of the time the tasks awake only need the event loop to turn a few times (the
    simulation's store answers in the loop's own thread), so it yields first
    (`SPIN_ROUNDS`, no task or timer made); a task that still waits (a PostgreSQL
    round trip, a lock) is waited for event-driven: it wakes when a task finishes or
    parks in `clock.sleep`, never polls. Bounded in rounds and in real time: a stuck
    task fails the simulation instead of hanging it."""
    extra = list(extra)
    asleep = clock.asleep
    for rounds in range(QUIESCE_LIMIT):
        # Most in-flight calls are parked on the clock: take those out with one set
        # difference (in C) before looking at each remaining task (run for every turn).
        tasks = {*extra, *dispatcher.tasks()} - asleep
        if rounds % (SPIN_ROUNDS + 1) != SPIN_ROUNDS:
            # One task awake is enough to turn the loop again: stop looking at the first.
            if any(not t.done() for t in tasks):
                await asyncio.sleep(0)
                continue
            return
        awake = [t for t in tasks if not t.done()]
        if not awake:
            return
        parked = clock.parked()
        done, _ = await asyncio.wait({*awake, parked}, timeout=QUIESCE_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        if not done:
            break
    raise SimulationStuck("simulation made no progress (a task neither finished nor slept)")


class _JobTimes:
    """The daily jobs' instants of the current center-local day, computed once a day
    (the driver asks at every instant; each asks the zone database)."""

    def __init__(self, config: DialerConfig):
        self._config = config
        self._zone = ZoneInfo(config.center.timezone)
        self._day: date | None = None
        self._instants: list[datetime] = []

    def after(self, now: datetime) -> datetime | None:
        """The first job instant of today after `now`, or None."""
        today = now.astimezone(self._zone).date()
        if today != self._day:
            self._day = today
            times = {at for c in self._config.campaigns for at in (c.plan_at, c.report_at)}
            self._instants = sorted(job_instant(self._config, today, at) for at in times)
        return next((t for t in self._instants if t > now), None)

    def next_run(self, now: datetime, day_end: datetime) -> datetime:
        """When `DailyJobs.run_due` can next have something to do: a job's time comes,
        the day ends, or a job another worker holds is looked at again (BUSY_RECHECK).
        Between those it would only find every due job settled."""
        return min(self.after(now) or day_end, day_end, now + BUSY_RECHECK)


def _next_instant(
    clock: VirtualClock,
    end: datetime,
    due: datetime | None,
    job: datetime | None,
    resume: datetime | None = None,
) -> tuple[datetime, bool]:
    """The next instant worth simulating, and whether it is only a call progressing.
    ``job``: the next daily job's instant; ``resume``: a claim held back (CLAIM_IDLE)
    while a client is due: step then."""
    now = clock.now()
    candidates = [end, now + MAX_JUMP]
    if resume is not None and resume > now:
        candidates.append(resume)
    wake = clock.next_wake()
    if wake is not None:
        candidates.append(wake)
    if due is not None and due > now:
        candidates.append(due)
    if job is not None and job > now:
        candidates.append(job)
    target = max(min(candidates), now + timedelta(seconds=1))
    only_calls = wake is not None and target == wake and all(c > target for c in candidates if c != wake)
    return target, only_calls


@dataclass
class _Pending:
    """Why the driver woke up, to skip steps that cannot start anything."""

    last_ended: int = -1
    only_call_progress: bool = False  # woken only because a call moves on (ring -> talk)

    def should_step(self, now: datetime, ended: int) -> bool:
        return not self.only_call_progress or ended != self.last_ended

    def stepped(self, now: datetime, ended: int) -> None:
        self.last_ended = ended


async def run_simulation(
    store: Store, config: DialerConfig, first_day: date, days: int, seed: int | None
) -> list[DayResult]:
    """Simulate `days` center-local days from `first_day` on `store` (already imported)."""
    start, _ = day_bounds(config, first_day)
    clock = VirtualClock(start)
    providers = simulated_providers(config, clock, seed)
    dispatcher = Dispatcher(store, providers, config, clock, owner="simulation")
    previews = PreviewReader(dispatcher, clock)  # issue 13: simulated agents press Call on previews
    shift = SimulatedShift(
        store, config, dispatcher.presence
    )  # issue 13: agents log in when work starts, out when it ends
    daily = DailyJobs(dispatcher.owner)
    jobs = _JobTimes(config)
    results: list[DayResult] = []
    dnc = DncLog()  # the audit's do-not-call dates, read forward day by day
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        _, day_end = day_bounds(config, day)
        wake_reason = _Pending()
        next_due: datetime | None = None
        due_known_at: tuple[int, int] | None = None
        held_due = False
        daily_at = clock.now()
        while clock.now() < day_end:
            if clock.now() >= daily_at:
                await daily.run_due(store, config, clock.now())
                daily_at = jobs.next_run(clock.now(), day_end)
            # Step only when something can have changed for the queue: a call ended (a
            # line is free), a client fell due, or time jumped. A call merely moving
            # from ringing to talking changes nothing, and skipping those steps is
            # what makes a day take seconds.
            if wake_reason.should_step(clock.now(), dispatcher.ended):
                await shift.begin(clock.now(), next_due)
                step = asyncio.ensure_future(dispatcher.step())
                await _quiesce(clock, dispatcher, [step])
                step.result()
                await previews.after_step()  # issue 13: simulated agents press Call on their previews
                wake_reason.stepped(clock.now(), dispatcher.ended)
            # The next client falling due changes only when a step or a call's result
            # touched the queue: ask the store then, not at every instant.
            fell_due = next_due is not None and next_due <= clock.now()
            if fell_due and dispatcher.claims_resume_at(clock.now()) is not None:
                # A client fell due while a short claim holds the dispatcher back: the
                # production tick claims it when the hold ends, so step then.
                held_due = True
            if due_known_at != (wake_reason.last_ended, dispatcher.ended) or fell_due:
                next_due = await store.next_dial_after(clock.now())
                # issue 13: an agent back from wrap-up can take a call: step then too.
                ready_at = await next_wrap_up_end(store, config, clock.now())
                next_due = min(next_due, ready_at) if next_due and ready_at else next_due or ready_at
                due_known_at = (wake_reason.last_ended, dispatcher.ended)
            resume = dispatcher.claims_resume_at(clock.now()) if held_due else None
            held_due = False
            target, only_calls = _next_instant(clock, day_end, next_due, jobs.after(clock.now()), resume)
            wake_reason.only_call_progress = only_calls
            clock.advance_to(target)
            await _quiesce(clock, dispatcher)
        # Calls still running at midnight finish (and are recorded) before the day closes.
        while dispatcher.in_flight:
            wake = clock.next_wake()
            if wake is None:
                await _quiesce(clock, dispatcher)
                continue
            clock.advance_to(wake)
            await _quiesce(clock, dispatcher)
        await shift.end(*day_bounds(config, day))
        await daily.run_due(store, config, clock.now())
        # The day's calls read once, for the report and the audit.
        calls = await store.calls_between(*day_bounds(config, day))
        rows = await day_report(store, config, day, clock.now(), calls=calls)
        audit = await audit_day(store, config, day, dispatcher.scheduler, calls=calls, dnc=dnc)
        results.append(DayResult(day, rows, audit))
    await dispatcher.wait_idle()
    return results


class DncLog:
    """When each client was first put on the do-not-call list, from the store's events,
    read forward once: each day's audit reads only the events written since the last
    one (one query a day, not one per client called; a run of many days stays linear)."""

    def __init__(self) -> None:
        self.since: dict[str, datetime] = {}
        self._read_until = datetime(1970, 1, 1, tzinfo=UTC)

    async def read_until(self, store: CallHistory, end: datetime) -> None:
        if end <= self._read_until:
            return
        for e in await store.events_between(self._read_until, end):
            if e.to_stage == Stage.DNC.value:
                was = self.since.get(e.client_id)
                self.since[e.client_id] = e.at if was is None else min(was, e.at)
        self._read_until = end


async def audit_day(
    store: CallHistory,
    config: DialerConfig,
    day: date,
    scheduler: Scheduler | None = None,
    *,
    calls: list[CallRecord] | None = None,
    dnc: DncLog | None = None,
) -> Audit:
    """Re-check every call of the day against the calendar and the do-not-call list.
    ``scheduler``: one built from the same config (the dispatcher's: its calendar rules
    are already compiled); the rules are re-derived from the config either way.
    ``calls``: the day's calls if the caller already read them; ``dnc``: a DncLog kept
    across the days of one run (a fresh one reads every event before the day's end)."""
    start, end = day_bounds(config, day)
    if calls is None:
        calls = await store.calls_between(start, end)
    scheduler = scheduler if scheduler is not None and scheduler.config is config else Scheduler(config)
    dnc = dnc or DncLog()
    # Every do-not-call event before the day's end: one written later cannot precede a call of the day.
    await dnc.read_until(store, end)
    audit = Audit(calls=len(calls))
    # Every client called that day, read at once (their rows cannot change while the
    # audit runs); one missing from the store fails the window check.
    clients = await store.get_clients(list(dict.fromkeys(c.client_id for c in calls)))
    for call in calls:
        if not _inside_window(scheduler, config, call, clients.get(call.client_id)):
            audit.outside_window.append(call.call_id)
        # Dialed after the do-not-call event was written?
        dnc_at = dnc.since.get(call.client_id)
        if dnc_at is not None and dnc_at < call.started_at:
            audit.dnc_dialed.append(call.call_id)
        if not call.status.final:
            audit.open_calls += 1
        if call.error and call.error.startswith(PROVIDER_CRASHED):
            audit.provider_crashes.append(call.call_id)
            audit.first_crash = audit.first_crash or call.error
    return audit


def _inside_window(scheduler: Scheduler, config: DialerConfig, call: CallRecord, client: Any) -> bool:
    if client is None:
        return False
    campaign = config.campaign(call.campaign)
    rules = scheduler.rules(campaign, call.client_tz, client.schedule)
    return calendar.status(rules, call.started_at).open
