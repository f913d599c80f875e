"""One dispatcher step: claim what is due and open now, dial, record.

The dispatcher is a function of (store, providers, config, clock); the APScheduler
daemon and the simulation are two drivers of this same code. `step()` only *starts*
calls, as tasks in the dispatcher's own task set, and never waits for one: the
drain on shutdown is ours (`drain()`), not APScheduler's.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import structlog

from dialer import calendar
from dialer.clock import Clock
from dialer.config.models import Agent, Campaign, DialerConfig
from dialer.domain import CallStatus, ClientState, Disposition, Stage
from dialer.lifecycle import Transition
from dialer.live_pacing import LivePacer, sharing_pools
from dialer.metrics import DialerMetrics
from dialer.model import CallRecord, CallStart, CallUpdate, Claim, ClientUpdate, Event
from dialer.outcomes import CallFacts, apply_call, classify_talk
from dialer.pacing.modes import ABANDON_REDIAL_BLOCK, DialMode
from dialer.placement import Placement, schedule_pending
from dialer.planning import lines_of
from dialer.presence import PresenceGate
from dialer.preview import SKIP_AGAIN_AFTER, TIMED_OUT, HeldPreview, PreviewRefused
from dialer.readiness import ProviderReadinessTracker
from dialer.scheduling import Scheduler, local_midnight_after
from dialer.store.base import LeaseLost, Store
from dialer.store.people import PresenceState, people_of
from dialer.store.roles import PacedCall
from providers.base import (
    AgentAtAnswer,
    AgentLeg,
    CallFinder,
    CallNotPlaced,
    CallResult,
    DialRequest,
    Pacer,
    Provider,
    ProviderError,
    ProviderEvent,
    ProviderNotReady,
    create_gap,
)

log = structlog.get_logger("dialer.dispatcher")

# Leases are short and the heartbeat renews them, however long a call lasts: a dead
# worker's lines come back (and its calls are reconciled) LEASE after its last heartbeat,
# plus at most one housekeeping round. Four heartbeats fit in one lease, so a slow store
# or a busy tick delays a renewal without losing the lease.
LEASE = timedelta(seconds=20)
HEARTBEAT_EVERY = timedelta(seconds=5)
HOUSEKEEPING_EVERY = timedelta(seconds=5)
# After a claim came back short with lines free (nothing more due), claim again only when
# the queue says a client fell due since (a cheap index look-up each tick, the same for
# every worker, so whichever worker looks first takes it: the workers share the calls),
# when one of our calls ends, or after CLAIM_IDLE at the latest (a dead worker's claims
# return to the queue without a new due time).
CLAIM_IDLE = timedelta(seconds=5)
RESCUE_LEASE = LEASE  # a reconciling worker's lease on a dead worker's call (renewed by its heartbeat)
FETCH_TRIES = 5  # provider look-ups of an orphaned call before it is recorded as interrupted
FETCH_RETRY = timedelta(seconds=30)  # between two look-ups of the same orphaned call
STORE_RETRY_FIRST = 0.5  # seconds; doubled up to STORE_RETRY_MAX while the store is away
STORE_RETRY_MAX = 15.0
STORE_RETRY_FOR = 600.0  # then give up: the call row stays `dialing` and is reconciled later
T = TypeVar("T")
# The error text of a call whose provider raised something other than ProviderError (a
# bug): the simulation's audit fails on it.
PROVIDER_CRASHED = "provider crashed"
# issue 13: a client-first call answered live with no agent Ready waits for one until its
# abandon_after runs out: it looks again when a wrap-up known to the store ends (every
# worker's agents' wrap-up ends are in the presence read each step; this worker's own
# are noted as it writes them), and at least this often for agents Ready by other means
# (another worker's agent-first call ending, an agent back from a pause).
ANSWER_POLL = 0.5  # seconds


def _paces_creates(provider: Provider) -> bool:
    return bool(getattr(provider, "paces_creates", False))


def campaign_pacer(store: Store, campaign: Campaign, clock: Clock) -> Pacer | None:
    """The campaign's calls-per-second slot across all workers (None without `cps`),
    with the same margin as the providers' own pacers (see providers.base.CPS_MARGIN)."""
    if not campaign.cps:
        return None
    cps = 1.0 / create_gap(campaign.cps)
    name = campaign.name

    async def pace(not_before: datetime) -> datetime:
        return await store.reserve_start(name, cps, max(not_before, clock.now()))

    return pace


def lease_for(campaign: Campaign) -> timedelta:
    """A claim's lease. The same short lease for every campaign: the heartbeat renews it
    for as long as the call lasts (see LEASE)."""
    return LEASE


@dataclass
class StepResult:
    started: int = 0
    scheduled: int = 0
    rescued: int = 0
    skipped_closed: int = 0


@dataclass
class Metrics:
    """What the dispatcher counts: plain counters (tests read them) mirrored into the
    Prometheus registry when the daemon attaches one."""

    started: Counter[str] = field(default_factory=Counter)
    ended: Counter[tuple[str, str]] = field(default_factory=Counter)
    provider_errors: Counter[str] = field(default_factory=Counter)
    rescues: int = 0
    lease_lost: int = 0
    store_errors: int = 0
    prom: DialerMetrics | None = None

    def call_started(self, campaign: str) -> None:
        self.started[campaign] += 1
        if self.prom:
            self.prom.calls_started.labels(campaign).inc()

    def call_ended(self, campaign: str, status: str, talk_s: float, guideline: str | None) -> None:
        self.ended[(campaign, status)] += 1
        if self.prom:
            self.prom.calls_ended.labels(campaign, status).inc()
            if guideline is not None:
                self.prom.talk_seconds.labels(campaign).observe(talk_s)
                self.prom.talk_guideline.labels(campaign, guideline).inc()

    def provider_error(self, provider: str) -> None:
        self.provider_errors[provider] += 1
        if self.prom:
            self.prom.provider_errors.labels(provider).inc()

    def blocked(self, campaign: str, is_blocked: bool) -> None:
        if self.prom:
            self.prom.campaign_blocked.labels(campaign).set(1 if is_blocked else 0)

    def provider_ready(self, provider: str, ready: bool) -> None:
        if self.prom:
            self.prom.provider_ready.labels(provider).set(1 if ready else 0)

    def rescued(self) -> None:
        self.rescues += 1
        if self.prom:
            self.prom.lease_rescues.inc()

    def lost_lease(self) -> None:
        self.lease_lost += 1
        if self.prom:
            self.prom.lease_lost.inc()

    def store_error(self) -> None:
        self.store_errors += 1
        if self.prom:
            self.prom.store_errors.inc()


class Dispatcher:
    def __init__(
        self,
        store: Store,
        providers: Mapping[str, Provider],
        config: DialerConfig,
        clock: Clock,
        owner: str | None = None,
    ):
        self.store = store
        self.providers = dict(providers)
        self.clock = clock
        self.owner = owner or f"worker-{uuid.uuid4().hex[:8]}"
        self.metrics = Metrics()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._lines: Counter[str] = Counter()
        self._agents_busy: dict[str, set[str]] = {}
        self._last_heartbeat: datetime | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()
        self.ended = 0  # calls finished so far (the simulation steps when this moves)
        self._fetch_failures: dict[str, int] = {}
        self._idle: dict[str, tuple[datetime, datetime]] = {}  # campaign -> (short claim at, look again by)
        self._last_housekeeping: datetime | None = None
        self._fetch_retry_at: dict[str, datetime] = {}
        self._claiming = True
        self.readiness = ProviderReadinessTracker(store, self.owner, clock, self._spawn)
        self.blocked: dict[str, str] = {}  # campaign -> why its provider is not ready
        self._stopping = asyncio.Event()  # set when claiming stops: calls waiting for a CPS slot give up
        self.presence = PresenceGate(store, self.owner)  # issue 12: pauses and agents' presence (dialer/presence.py)
        self.previews: dict[str, HeldPreview] = {}  # client id -> claim shown to an agent (dialer/preview.py)
        # issue 13: client-first pacing (power, predictive) from the store's global counts.
        self.pacer = LivePacer(store)
        self._pending: Counter[str] = Counter()  # client-first calls claimed, their row not written yet
        self._wrap_ends: dict[str, datetime] = {}  # agent -> the end of the wrap-up this worker wrote
        self.set_config(config)

    # ------------------------------------------------------------ config

    def set_config(self, config: DialerConfig) -> None:
        """Swap the config (SIGHUP). Calls in flight keep the campaign they started with."""
        self.config = config
        self.scheduler = Scheduler(config)
        self.placement = Placement(self.store, self.clock, config, self.scheduler)
        # issue 13: client-first campaigns sharing agents pace as one pool (dialer/live_pacing.py).
        self._pools = sharing_pools(config.campaigns)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def tasks(self) -> list[asyncio.Task[None]]:
        return [*self._tasks.values(), *self._side_tasks]

    def lines_in_use(self, campaign: str) -> int:
        return self._lines[campaign]

    def stop_claiming(self) -> None:
        """No new call starts from now on: claims still waiting for a CPS slot are given back."""
        self._claiming = False
        self._stopping.set()

    def claims_resume_at(self, now: datetime) -> datetime | None:
        """The earliest moment a campaign that came back short from its last claim asks
        the queue again (CLAIM_IDLE), or None. A simulation steps then, as the
        production tick would, so a client falling due meanwhile is not left waiting."""
        return min((until for _, until in self._idle.values() if until > now), default=None)

    # ------------------------------------------------------------ the step

    async def step(self) -> StepResult:
        now = self.clock.now()
        result = StepResult()
        await self._heartbeat(now)
        # Housekeeping (new/changed/stale clients, dead workers' calls) every few
        # seconds, not every tick: each is a query, and ticks are frequent.
        if self._last_housekeeping is None or now - self._last_housekeeping >= HOUSEKEEPING_EVERY:
            self._last_housekeeping = now
            result.scheduled = await self.schedule_pending(now)
            result.rescued = await self.reconcile_orphans(now)
        if not self._claiming:
            return result
        await self.readiness.refresh(self.providers, (c.provider for c in self.config.campaigns), now)
        await self.presence.refresh(self.config, now, self.metrics.prom)  # issue 12
        await self._settle_previews(now)
        for campaign in self.config.campaigns:
            result.started += await self._start_campaign(campaign, now, result)
        return result

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        side = asyncio.ensure_future(coro)
        self._side_tasks.add(side)
        side.add_done_callback(self._side_done)

    def _blocked_by(self, campaign: Campaign) -> str | None:
        """Why the campaign claims nothing now (its provider is not ready), or None; the
        change is logged once and mirrored in the metrics."""
        reason = self.readiness.not_ready(campaign.provider)
        ready = self.readiness.ready(campaign.provider)
        if ready is not None:
            self.metrics.provider_ready(campaign.provider, ready)
        was = self.blocked.get(campaign.name)
        if reason is not None:
            self.blocked[campaign.name] = reason
            if was is None:
                log.error("campaign_blocked", campaign=campaign.name, provider=campaign.provider, reason=reason)
        elif was is not None:
            del self.blocked[campaign.name]
            log.info("campaign_unblocked", campaign=campaign.name, provider=campaign.provider)
        self.metrics.blocked(campaign.name, reason is not None)
        return reason

    async def schedule_pending(self, now: datetime, limit: int = 2000) -> int:
        """(Re)compute next_dial_at for new, changed and stale clients, in bounded batches."""
        placed = await schedule_pending(self.store, self.scheduler, now, limit, max_batches=1)
        return placed.total

    def _free_lines(self, campaign: Campaign) -> int:
        free = campaign.lines - self._lines[campaign.name]
        if campaign.agents:
            free = min(free, len(campaign.agents) - len(self._agents_busy.get(campaign.name, set())))
        return max(0, self.presence.free(campaign, free))  # issue 12: held campaigns, Ready agents

    def _free_client_first(self, campaign: Campaign) -> int:
        """issue 13: a client-first campaign's lines free on this worker: its lines, not
        bounded by its agents (the pacer decides how many calls per agent); none when held."""
        if self.presence.held(campaign):
            return 0
        return max(0, campaign.lines - self._lines[campaign.name])

    async def _client_first_want(self, campaign: Campaign, now: datetime, lines_free: int) -> int:
        """issue 13: how many client-first calls to place now (dialer/live_pacing.py)."""
        agents = self.presence.agents.get(campaign.name)
        if agents is None:  # presence off: this worker's own agent rotation
            free_agents = len(campaign.agents) - len(self._agents_busy.get(campaign.name, set()))
            return await self.pacer.calls_to_place(campaign, now, free_agents, lines_free, self._pending[campaign.name])
        # One pool with the client-first campaigns it shares agents with: their agents, and
        # their calls ringing (they would take the same agents at the answer).
        pool = {p.agent: p for p in agents}
        shared: dict[str, tuple[Campaign, int]] = {}
        for name in self._pools.get(campaign.name, ()):
            other = self.config.campaign(name)
            for p in self.presence.agents.get(name, ()):
                pool.setdefault(p.agent, p)
            shared[name] = (other, self._pending[name])
        return await self.pacer.calls_to_place(
            campaign, now, list(pool.values()), lines_free, self._pending[campaign.name], shared
        )

    async def _start_campaign(self, campaign: Campaign, now: datetime, result: StepResult) -> int:
        if self._blocked_by(campaign) is not None:
            return 0  # a provider that cannot dial must not use up the clients' attempts
        client_first = campaign.dial_mode.client_first
        free = self._free_client_first(campaign) if client_first else self._free_lines(campaign)
        if free <= 0:
            return 0
        # The queue had nothing more for this campaign a moment ago, and no call of it has
        # ended since: claim again (a claim scans today's windows) only once a client fell
        # due meanwhile. Every worker asks the same question each tick: none is favoured.
        idle = self._idle.get(campaign.name)
        if idle is not None and now < idle[1]:
            due = await self.store.next_dial_after(idle[0])
            if due is None or due > now:
                return 0
        provider = self.providers.get(campaign.provider)
        if provider is None:
            log.error("provider_missing", campaign=campaign.name, provider=campaign.provider)
            return 0
        lines = lines_of(campaign)  # client first: every line (the pacer bounds the calls)
        # Every line taken (by any worker): look again at the next tick. A line that frees
        # goes to whichever worker asks first, so the workers share the lines evenly;
        # a worker that paused here would leave every freed line to the busiest one.
        want = min(free, lines - await self.store.lines_in_use(campaign.name, now))
        if want <= 0:
            return 0
        if client_first:
            want = await self._client_first_want(campaign, now, want)
            if want <= 0:
                return 0
        claims = await self.store.claim(
            campaign.name, now, want, self.owner, now + lease_for(campaign), max_in_use=lines
        )
        if len(claims) < want and await self.store.lines_in_use(campaign.name, now) < lines:
            self._idle[campaign.name] = (now, now + CLAIM_IDLE)  # lines free, nothing more due now
        else:
            self._idle.pop(campaign.name, None)
        # issue 13, the 72 h rule: a client abandoned that recently is never dialed client
        # first again; it is dialed agent first, with a Ready agent reserved (or given back).
        abandoned: dict[str, datetime] = {}
        if client_first and claims:
            since = now - timedelta(seconds=ABANDON_REDIAL_BLOCK)
            abandoned = await self.store.abandoned_since([c.client.id for c in claims], since)
        started = 0
        for claim in claims:
            if not self._claiming:
                # Stopping: give back what this step claimed but has not dialed yet.
                await self.store.release(claim, None)
                continue
            mode_first = client_first and claim.client.id not in abandoned
            if await self._start_call(campaign, provider, claim, now, result, client_first=mode_first):
                started += 1
        return started

    async def _start_call(
        self,
        campaign: Campaign,
        provider: Provider,
        claim: Claim,
        now: datetime,
        result: StepResult,
        client_first: bool = False,
    ) -> bool:
        """Hand a claim to a call task of its own (pacing, the final window check, the call
        row and the dial happen there: a step never waits for a CPS slot). A client-first
        call (issue 13) has no agent yet: it takes one when the client answers."""
        client = claim.client
        if client.state.stage is Stage.DNC or client.state.invalid_number:
            await self.store.release(claim, self.scheduler.place_client(client, now))
            return False
        if not self._window(campaign, claim, now).open:
            result.skipped_closed += 1
            await self.store.release(claim, self.scheduler.place_client(client, now))
            return False
        if await self._capped(campaign, claim, now):
            return False
        call_id = uuid.uuid4().hex
        agent: Agent | None
        if client_first:
            agent = None
            self._pending[campaign.name] += 1
        # issue 12: a presence campaign's agent is a Ready one from the store (any worker's view), or no call
        elif self.presence.applies(campaign):
            agent = await self.presence.take(campaign, now, call_id)
            if agent is None:
                await self.store.release(claim, None)
                return False
            if campaign.dial_mode is DialMode.PREVIEW:
                await self._offer_preview(HeldPreview(campaign, claim, call_id, agent, now))
                return False  # shown, not dialed: the line stays taken until Call or Skip
        else:
            agent = self._take_agent(campaign)
            if agent is None and campaign.dial_mode.client_first:
                await self.store.release(claim, None)  # 72 h rule: no agent to reserve, later
                return False
        self._lines[campaign.name] += 1
        task = asyncio.create_task(
            self._run_call(campaign, provider, claim, call_id, agent, client_first), name=f"call-{call_id}"
        )
        self._tasks[call_id] = task
        task.add_done_callback(functools.partial(self._forget_task, call_id))
        return True

    def _forget_task(self, call_id: str, _task: asyncio.Task[None]) -> None:
        self._tasks.pop(call_id, None)

    def _window(self, campaign: Campaign, claim: Claim, now: datetime) -> calendar.WindowStatus:
        # The stored next_dial_at was computed earlier (maybe under another config).
        client = claim.client
        return calendar.status(self.scheduler.rules(campaign, client.timezone, client.schedule), now)

    async def _pace(self, campaign: Campaign, provider: Provider) -> bool:
        """Calls per second per campaign, across all workers sharing the store (Twilio
        queues calls above its CPS rather than refusing them, so we must pace). A provider
        that paces its own create requests (`paces_creates`) takes the campaign's slot per
        request itself (DialRequest.pace), so nothing is waited for here. False when the
        worker began stopping before the slot came: stopping means no new call."""
        pace = None if _paces_creates(provider) else campaign_pacer(self.store, campaign, self.clock)
        if self._claiming and pace is not None:
            slot = await pace(self.clock.now())
            await self._sleep_unless_stopping((slot - self.clock.now()).total_seconds())
        return self._claiming

    async def _sleep_unless_stopping(self, wait: float) -> None:
        if wait <= 0 or self._stopping.is_set():
            return
        stop = asyncio.ensure_future(self._stopping.wait())
        sleep = asyncio.ensure_future(self.clock.sleep(wait))
        try:
            await asyncio.wait({stop, sleep}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for f in (stop, sleep):
                f.cancel()
            await asyncio.gather(stop, sleep, return_exceptions=True)

    def _may_create(self) -> bool:
        """Asked by a provider right before each create request: a worker that is
        stopping starts no new call (a slot it waited for inside the provider included)."""
        return self._claiming

    def _take_agent(self, campaign: Campaign) -> Agent | None:
        if not campaign.agents:
            return None
        busy = self._agents_busy.setdefault(campaign.name, set())
        for agent in campaign.agents:
            if agent.name not in busy:
                busy.add(agent.name)
                return agent
        return None

    def _free_agent(self, campaign: Campaign, agent: str | None) -> None:
        if agent is not None:
            self._agents_busy.get(campaign.name, set()).discard(agent)

    # ------------------------------------------------------------ one call

    async def _begin(
        self, campaign: Campaign, provider: Provider, claim: Claim, call_id: str, agent: Agent | None
    ) -> CallStart | None:
        """Wait for the CPS slot, check the window again and write the call row, right
        before the call is handed to the provider: `started_at` is that moment, so the
        call rows never show a call in progress before its line was really taken. None
        (claim given back, no call row) when stopping or the window closed meanwhile."""
        client = claim.client
        try:
            paced = await self._pace(campaign, provider)
        except asyncio.CancelledError:
            await asyncio.shield(self.store.release(claim, None))
            raise
        if not paced:
            await self.store.release(claim, None)
            log.info("claim_returned", client_id=client.id, campaign=campaign.name, reason="stopping")
            return None
        now = self.clock.now()
        status = self._window(campaign, claim, now)
        if not status.open:
            await self.store.release(claim, self.scheduler.place_client(client, now))
            return None
        start = CallStart(
            call_id=call_id,
            client_id=client.id,
            campaign=campaign.name,
            # A client-first call has no agent until the answer (the pacer counts it as ringing).
            agent=agent.name if agent else (None if campaign.dial_mode.client_first else campaign.connect_to),
            phone=client.phone,
            client_tz=client.timezone,
            attempt=0,  # assigned by the store
            started_at=now,
            local_day=now.astimezone(ZoneInfo(client.timezone)).date(),
            allowed_by=status.allowed_by,
            provider=campaign.provider,
            lease_token=claim.lease_token,
        )
        writing = asyncio.ensure_future(self.store.start_call(start))
        try:
            attempt = await asyncio.shield(writing)
        except LeaseLost:
            self.metrics.lost_lease()
            return None
        except asyncio.CancelledError:
            # Canceled (drain timeout) while the row was being written: let the write
            # land, then settle it, so no row is left `dialing` and the claim goes back.
            try:
                await writing
            except LeaseLost:
                raise asyncio.CancelledError from None
            await asyncio.shield(
                self.record(claim, start, self._failed(start, "canceled at shutdown", CallStatus.CANCELED))
            )
            raise
        except Exception as exc:
            # The store went away in the middle of the write: the row may have landed
            # (committed, reply lost). Nothing was dialed; settle it either way, so no
            # row is left `dialing` and the claim goes back to the queue.
            log.warning("call_row_unsure", call_id=call_id, client_id=client.id, error=f"{type(exc).__name__}: {exc}")
            stored = await self._retry_store("get_call", lambda: self.store.get_call(call_id))
            if stored is None:
                await self._retry_store("release", lambda: self.store.release(claim, None))
            else:
                settled = replace(start, attempt=stored.attempt)
                await self.record(
                    claim, settled, self._failed(settled, "store unavailable at start", CallStatus.CANCELED)
                )
            return None
        self.metrics.call_started(campaign.name)
        log.info(
            "call_started", call_id=call_id, client_id=client.id, campaign=campaign.name, agent=start.agent,
            attempt=attempt, client_tz=client.timezone, allowed_by=status.allowed_by,
        )  # fmt: skip
        return replace(start, attempt=attempt)

    @staticmethod
    def _request(
        campaign: Campaign, start: CallStart, agent: Agent | None, stage: str, client_first: bool = False
    ) -> DialRequest:
        if client_first:
            # issue 13: no agent reserved; rings at least min_ring; the message for an abandon.
            audio = str(campaign.information_audio) if campaign.information_audio else None
            return DialRequest(
                call_id=start.call_id, number=start.phone, caller_id=campaign.caller_id, connect_to="",
                ring_timeout=max(campaign.ring_timeout, campaign.min_ring), hard_limit=campaign.talk.hard_limit,
                nudge_at=campaign.talk.target_max, connect_mode="client_first", campaign=campaign.name, agent=None,
                context={
                    "client_id": start.client_id, "attempt": str(start.attempt), "stage": stage,
                    "client_tz": start.client_tz,
                },
                information_message=campaign.information_message, information_audio=audio,
                min_ring=campaign.min_ring, detect_machine=True,
            )  # fmt: skip
        return DialRequest(
            call_id=start.call_id,
            number=start.phone,
            caller_id=campaign.caller_id,
            connect_to=agent.target if agent else (campaign.connect_to or ""),
            # Every call rings at least min_ring (Ofcom: 15 s), whoever waits for the answer.
            ring_timeout=max(campaign.ring_timeout, campaign.min_ring),
            min_ring=campaign.min_ring,
            hard_limit=campaign.talk.hard_limit,
            nudge_at=campaign.talk.target_max,
            connect_mode=campaign.connect_mode,
            campaign=campaign.name,
            agent=start.agent,
            # client_tz: the simulated provider's answer rates follow the client's local hour.
            context={
                "client_id": start.client_id,
                "attempt": str(start.attempt),
                "stage": stage,
                "client_tz": start.client_tz,
            },
        )

    async def _run_call(
        self,
        campaign: Campaign,
        provider: Provider,
        claim: Claim,
        call_id: str,
        agent: Agent | None,
        client_first: bool = False,
    ) -> None:
        taken: list[Agent] = []  # client first: the agent given at the answer (issue 13)
        try:
            try:
                start = await self._begin(campaign, provider, claim, call_id, agent)
            finally:
                if client_first:
                    self._pending[campaign.name] -= 1
            if start is not None:
                if agent is not None:  # issue 12: the agent's page shows the client (dialer/web/stream.py)
                    await self._screen_pop(start)
                request = self._request(campaign, start, agent, claim.client.state.stage.value, client_first)
                if client_first:
                    request = replace(request, agent_at_answer=self._agent_at_answer(campaign, start, taken))
                if _paces_creates(provider):
                    request = replace(
                        request, pace=campaign_pacer(self.store, campaign, self.clock), may_create=self._may_create
                    )
                await self._dial(campaign, provider, claim, start, request)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call_failed_to_start", call_id=call_id, client_id=claim.client.id)
        finally:
            self.ended += 1
            self._lines[campaign.name] -= 1
            # A line is free, and this call's result may have made a client due.
            self._idle.pop(campaign.name, None)
            for used in [agent, *taken] if agent is not None else taken:
                self._free_agent(campaign, used.name)
                if self.presence.applies(campaign):  # issue 12: wrap-up, then Ready
                    await self._end_presence(campaign, used.name, call_id)

    # ------------------------------------------------------------ client first (issue 13)

    def _agent_at_answer(self, campaign: Campaign, start: CallStart, taken: list[Agent]) -> AgentAtAnswer:
        """The provider's callback at a live answer: a Ready agent of the campaign, taken
        atomically through the store (no two workers give one agent two calls), polled for
        until `abandon_after` after the answer and never longer; None: abandoned."""
        wait_for = campaign.abandon_after

        async def at_answer(answered_at: datetime) -> AgentLeg | None:
            deadline = min(answered_at, self.clock.now()) + wait_for
            while True:
                try:
                    agent = await self._take_at_answer(campaign, start.call_id)
                except Exception as exc:  # the store is away: the client must not wait in silence
                    log.error("agent_at_answer_failed", call_id=start.call_id, error=f"{type(exc).__name__}: {exc}")
                    return None
                if agent is not None:
                    taken.append(agent)
                    await self._attach(start, agent)
                    return AgentLeg(agent.name, agent.target)
                now = self.clock.now()
                left = (deadline - now).total_seconds()
                if left <= 0:
                    log.info("no_agent_at_answer", call_id=start.call_id, campaign=campaign.name)
                    return None
                await self.clock.sleep(min(ANSWER_POLL, left, self._next_wrap_end(campaign, now)))

        return at_answer

    def _next_wrap_end(self, campaign: Campaign, now: datetime) -> float:
        """Seconds until the next wrap-up end known for the campaign's agents (inf: none)."""
        ends = [p.wrap_up_until for p in self.presence.agents.get(campaign.name, ()) if p.wrap_up_until]
        ends += [self._wrap_ends[a.name] for a in campaign.agents if a.name in self._wrap_ends]
        return min(((t - now).total_seconds() for t in ends if t > now), default=float("inf"))

    async def _take_at_answer(self, campaign: Campaign, call_id: str) -> Agent | None:
        if self.presence.applies(campaign):
            return await self.presence.take(campaign, self.clock.now(), call_id)
        return self._take_agent(campaign)

    async def _attach(self, start: CallStart, agent: Agent) -> None:
        """The agent is on this call now: the call row says so (it stops counting as
        ringing) and the agent's page shows the client."""
        try:
            await self.store.set_call_agent(start.call_id, agent.name)
        except Exception as exc:  # the call goes on; the row is settled with its outcome
            log.warning("call_agent_not_written", call_id=start.call_id, error=f"{type(exc).__name__}: {exc}")
        await self._screen_pop(replace(start, agent=agent.name))

    async def _screen_pop(self, start: CallStart) -> None:
        """Tell the agent's page, on whichever worker serves it, through the store."""
        await self._tell_page("pop", {"agent": start.agent, "call_id": start.call_id, "client_id": start.client_id})

    async def _tell_page(self, topic: str, data: dict[str, Any]) -> None:
        try:
            await people_of(self.store).notify(topic, data)
        except Exception as exc:  # a page event is never worth a call
            log.warning("page_event_failed", topic=topic, error=f"{type(exc).__name__}: {exc}")

    # ------------------------------------------------------------ preview mode (dialer/preview.py)

    async def _offer_preview(self, held: HeldPreview) -> None:
        self._lines[held.campaign.name] += 1
        self.previews[held.client_id] = held
        log.info("preview_offered", client_id=held.client_id, campaign=held.campaign.name, agent=held.agent.name)
        data = {"agent": held.agent.name, "client_id": held.client_id, "call_id": held.call_id}
        await self._tell_page("preview", data)

    def preview_of(self, agent: str) -> HeldPreview | None:
        return next((h for h in self.previews.values() if h.agent.name == agent), None)

    def _held(self, client_id: str, agent: str) -> HeldPreview:
        held = self.previews.get(client_id)
        if held is None or held.agent.name != agent:
            raise PreviewRefused(f"client {client_id} is not previewed to you now")
        return held

    async def _give_back(self, held: HeldPreview, due_at: datetime | None, pause: str | None = None) -> None:
        """Release the held claim (placed by the scheduler, no attempt counted) and free the agent."""
        if self.previews.get(held.client_id) is not held:
            return  # called or given back meanwhile (a Call can land while a step awaits the store)
        del self.previews[held.client_id]
        self._lines[held.campaign.name] -= 1
        self._idle.pop(held.campaign.name, None)
        client, now = held.claim.client, self.clock.now()
        pinned = client.campaign if client.campaign_pinned else None
        due = max(filter(None, (due_at, client.due_at)), default=None)
        schedule = self.scheduler.place(
            client.id, client.timezone, client.schedule, client.state, pinned, due, now, client.cap_until
        )
        await self.store.release(held.claim, schedule)
        people = people_of(self.store)
        (state,) = await people.presence(now, [held.agent.name])
        if state.state is PresenceState.ON_CALL and state.call_id == held.call_id:
            await people.end_call(held.agent.name, held.call_id, now, None, by=self.owner)
            if pause is not None:
                await people.set_presence(held.agent.name, PresenceState.PAUSED, now, by=self.owner, reason=pause)
            (state,) = await people.presence(now, [held.agent.name])
            await self._tell_page(
                "presence", {"agent": held.agent.name, "state": state.state.value, "reason": state.reason}
            )

    async def preview_call(self, client_id: str, agent: str) -> str:
        """The agent pressed Call: dial the held claim for them (the normal call path).
        Refused when the client's window closed meanwhile (the client goes back to the
        queue, placed at its next opening). Returns the call id."""
        held = self._held(client_id, agent)
        provider = self.providers.get(held.campaign.provider)
        if provider is None or not self._claiming:
            raise PreviewRefused("this worker is not dialing now: try again in a moment")
        if not self._window(held.campaign, held.claim, self.clock.now()).open:
            await self._give_back(held, None)
            raise PreviewRefused(f"the client's calling window closed: {client_id} was not dialed")
        del self.previews[client_id]
        log.info("preview_called", client_id=client_id, campaign=held.campaign.name, agent=agent)
        task = asyncio.create_task(
            self._run_call(held.campaign, provider, held.claim, held.call_id, held.agent), name=f"call-{held.call_id}"
        )
        self._tasks[held.call_id] = task
        task.add_done_callback(functools.partial(self._forget_task, held.call_id))
        return held.call_id

    async def preview_skip(self, client_id: str, agent: str, reason: str) -> None:
        """The agent pressed Skip: the client goes back (no attempt), audited; the agent
        is Ready again, so the next step offers the next client."""
        held = self._held(client_id, agent)
        now = self.clock.now()
        await self._give_back(held, now + SKIP_AGAIN_AFTER)
        data = {"campaign": held.campaign.name, "reason": reason, "again_after": (now + SKIP_AGAIN_AFTER).isoformat()}
        await people_of(self.store).audit(agent, "preview_skip", client_id, data, now)
        log.info("preview_skipped", client_id=client_id, campaign=held.campaign.name, agent=agent, reason=reason)

    async def _settle_previews(self, now: datetime) -> None:
        """Give back previews nobody answered in time (the agent is Paused) and those of
        agents no longer on them (logged out, the page closed)."""
        if not self.previews:
            return
        people = people_of(self.store)
        for held in list(self.previews.values()):
            (state,) = await people.presence(now, [held.agent.name])
            if state.state is not PresenceState.ON_CALL or state.call_id != held.call_id:
                await self._give_back(held, None)
            elif held.expired(now):
                log.warning("preview_timed_out", client_id=held.client_id, agent=held.agent.name)
                await self._give_back(held, None, pause=TIMED_OUT)

    async def _end_presence(self, campaign: Campaign, agent: str, call_id: str) -> None:
        try:
            await asyncio.shield(self.presence.end(campaign, agent, call_id, self.clock.now()))
            (state,) = await people_of(self.store).presence(self.clock.now(), [agent])  # issue 12: the page's state
            if state.wrap_up_until is not None:  # issue 13: an answer waiting for an agent looks again then
                self._wrap_ends[agent] = state.wrap_up_until
            until = state.wrap_up_until.isoformat() if state.wrap_up_until else None
            await self._tell_page("presence", {"agent": agent, "state": state.state.value, "until": until})
        except Exception as exc:  # the store is away: the agent stays on-call until a supervisor logs them out
            log.error("presence_not_updated", agent=agent, call_id=call_id, error=f"{type(exc).__name__}: {exc}")

    async def _dial(
        self, campaign: Campaign, provider: Provider, claim: Claim, start: CallStart, request: DialRequest
    ) -> None:
        def on_event(event: ProviderEvent) -> None:
            if event.kind == "created" and event.provider_call_id:
                # Persist at once: after a crash, reconciliation looks the call up by it.
                side = asyncio.ensure_future(self.store.set_provider_call_id(start.call_id, event.provider_call_id))
                self._side_tasks.add(side)
                side.add_done_callback(self._side_done)

        try:
            try:
                result = await provider.dial(request, on_event)
            except CallNotPlaced as exc:
                # The worker began stopping while the call waited for its create slot
                # inside the provider: nothing was sent, so it is no attempt.
                result = self._failed(start, f"not placed: {exc}", CallStatus.CANCELED)
            except ProviderNotReady as exc:
                # Nothing was dialed and the client had no part in it: not an attempt.
                self.metrics.provider_error(campaign.provider)
                self.readiness.mark_not_ready(campaign.provider, str(exc), self.clock.now())
                result = self._failed(start, f"provider not ready: {exc}", CallStatus.CANCELED)
            except ProviderError as exc:
                self.metrics.provider_error(campaign.provider)
                result = self._failed(start, f"provider error: {exc}")
            except asyncio.CancelledError:
                # Drain timed out: the call is abandoned; record it so nothing is lost.
                await asyncio.shield(
                    self.record(claim, start, self._failed(start, "canceled at shutdown", CallStatus.CANCELED))
                )
                raise
            except Exception as exc:  # a provider bug must not lose the client
                self.metrics.provider_error(campaign.provider)
                log.exception("provider_crashed", call_id=start.call_id)
                result = self._failed(start, f"{PROVIDER_CRASHED}: {type(exc).__name__}: {exc}")
            await self.record(claim, start, result)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("record_failed", call_id=start.call_id, client_id=start.client_id)

    def _side_done(self, task: asyncio.Task[None]) -> None:
        """A side task ended (e.g. storing a provider's call id at once): a failure (the
        store away) is logged, never left unretrieved; the call's outcome row carries the
        provider's call id again anyway."""
        self._side_tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("side_task_failed", task=task.get_name(), error=f"{type(exc).__name__}: {exc}")

    def _failed(self, start: CallStart, error: str, status: CallStatus = CallStatus.FAILED) -> CallResult:
        now = self.clock.now()
        return CallResult(status=status, dialed_at=start.started_at, ended_at=now, error=error)

    # ------------------------------------------------------------ recording

    async def record(self, claim: Claim, start: CallStart, result: CallResult) -> None:
        """Apply the rules to a call's result and write call + client + event at once."""
        campaign = self.placement.campaign_of_call(start.campaign)
        client = claim.client
        now = self.clock.now()
        disposition = _parse_disposition(result.disposition)
        facts = CallFacts(
            status=result.status, talk_s=result.talk_s, disposition=disposition, disposition_at=result.disposition_at
        )
        zone = ZoneInfo(client.timezone)
        transition = apply_call(
            client.state,
            facts,
            campaign,
            now,
            now.astimezone(zone).date(),
            next_local_day_start=local_midnight_after(now, zone),
            periods=self.placement.periods_for(client, campaign),
        )
        guideline = classify_talk(result.talk_s, campaign.talk) if result.status is CallStatus.ANSWERED else None
        counted = start.started_at if result.status is CallStatus.ANSWERED else None
        call = CallUpdate(
            status=result.status,
            provider_call_id=result.provider_call_id,
            answered_at=result.answered_at,
            ended_at=result.ended_at,
            ring_s=result.ring_s,
            talk_s=result.talk_s,
            guideline=guideline,
            disposition=disposition,
            disposition_at=result.disposition_at,
            error=result.error,
            # A correction (`dialer dispose --replace`) re-applies the lifecycle from here.
            state_before=client.state if disposition is not None else None,
        )
        event = _event(client.state, transition, {"status": result.status.value, "talk_s": result.talk_s})

        tries = 0

        # The call being recorded is still `dialing` in the store, so an attempt count
        # includes it: take it out again when the dialer itself cut it.
        not_attempt = start.started_at if not result.status.attempt else None

        async def write() -> ClientUpdate:
            nonlocal tries
            tries += 1
            update = await self.placement.client_update(client, transition, campaign, now, counted, not_attempt)
            await self.store.record_outcome(start.call_id, client.id, claim.lease_token, call, update, event, now)
            return update

        try:
            # A call's result is worth waiting for: if the database is away, keep
            # trying (bounded); past that the row stays `dialing` and is reconciled.
            update = await self._retry_store("record_outcome", write)
        except LeaseLost:
            # A retry after a dropped connection finds its own committed write (the
            # token is already cleared): that is success, not a lost lease.
            stored = await self.store.get_call(start.call_id) if tries > 1 else None
            if stored is None or not stored.status.final or stored.status is not result.status:
                self.metrics.lost_lease()
                log.warning("lease_lost", call_id=start.call_id, client_id=client.id)
                return
            stored_client = await self.store.get_client(client.id)
            update = ClientUpdate(
                state=stored_client.state if stored_client else transition.state, due_at=None,
                next_dial_at=stored_client.next_dial_at if stored_client else None, window_closes_at=None,
                cap_until=None, priority=0, campaign=None, reason="written by an earlier try",
            )  # fmt: skip
        # issue 13: this worker's call goes into the pacing statistics and abandon budget now.
        self.pacer.observe(
            campaign,
            PacedCall(
                result.status, start.started_at, result.answered_at, result.ended_at, result.ring_s, result.talk_s
            ),
        )
        self.metrics.call_ended(
            start.campaign, result.status.value, result.talk_s, guideline.value if guideline else None
        )
        log.info(
            "call_ended", call_id=start.call_id, client_id=client.id, campaign=start.campaign,
            status=result.status.value,
            ring_s=result.ring_s, talk_s=result.talk_s, guideline=guideline.value if guideline else None,
            disposition=disposition.value if disposition else None, next_dial_at=update.next_dial_at,
            reason=transition.reason,
        )  # fmt: skip

    async def _retry_store(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        delay = STORE_RETRY_FIRST
        deadline = asyncio.get_running_loop().time() + STORE_RETRY_FOR
        while True:
            try:
                return await fn()
            except (LeaseLost, LookupError, ValueError, asyncio.CancelledError):
                raise
            except Exception as exc:
                self.metrics.store_error()
                if asyncio.get_running_loop().time() + delay > deadline:
                    log.error("store_gave_up", operation=what, error=f"{type(exc).__name__}: {exc}")
                    raise
                log.warning("store_unavailable", operation=what, error=f"{type(exc).__name__}: {exc}", retry_in=delay)
                # Real time on purpose: the database comes back in real time.
                await asyncio.sleep(delay)
                delay = min(delay * 2, STORE_RETRY_MAX)

    async def _capped(self, campaign: Campaign, claim: Claim, now: datetime) -> bool:
        """The claim-time cap check: the stored cap_until may have been computed under
        another campaign's caps (the client changed stage or was re-imported since) or
        another config, so count again with the caps of the campaign about to dial. A
        capped client is given back, placed after the cap; True then."""
        client = claim.client
        cap = await self.placement.cap_until(client.id, client.timezone, campaign, now, None)
        if cap is None or cap <= now:
            return False
        pinned = client.campaign if client.campaign_pinned else None
        schedule = self.scheduler.place(
            client.id, client.timezone, client.schedule, client.state, pinned, client.due_at, now, cap
        )
        await self.store.release(claim, schedule, cap_until=cap)
        log.info("cap_reached", client_id=client.id, campaign=campaign.name, cap_until=cap)
        return True

    # ------------------------------------------------------------ leases and crashes

    async def _heartbeat(self, now: datetime) -> None:
        if self._last_heartbeat is None or now - self._last_heartbeat >= HEARTBEAT_EVERY:
            await self.beat(now)

    async def beat(self, now: datetime) -> None:
        """Renew every lease this worker holds and record that it is alive now."""
        await self.store.heartbeat(self.owner, now + LEASE, now)
        self._last_heartbeat = now

    async def keep_alive(self) -> None:
        """The heartbeat as a task of its own (the daemon runs it until it stops): it
        renews this worker's leases every HEARTBEAT_EVERY whatever the tick is doing
        (waiting for a claim, paused while the store is away), so a call however long
        never loses its lease while its worker lives. A failed beat is retried at the
        next one; a slow one delays the next, never stacks up."""
        every = HEARTBEAT_EVERY.total_seconds()
        while True:
            began = asyncio.get_running_loop().time()
            try:
                await self.beat(self.clock.now())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.metrics.store_error()
                log.warning("heartbeat_failed", error=f"{type(exc).__name__}: {exc}")
            elapsed = asyncio.get_running_loop().time() - began
            # Real time on purpose (like the store retries): leases run out in real time.
            await asyncio.sleep(max(0.0, every - elapsed))

    async def reconcile_orphans(self, now: datetime, limit: int = 100) -> int:
        """Calls left `dialing` by a dead worker: ask the provider for the final status
        (by its call id, or by number and time when the worker died before storing the
        id) and record it; the provider never saw the call: `canceled`; nobody knows
        (SIP, simulated): `interrupted`. Neither is an attempt of the client. A call
        settled here ended, at the latest, when its worker was last alive. Never redial
        before this is settled."""
        rescued = 0
        for call in await self.store.orphaned_calls(now, limit):
            if call.call_id in self._tasks:
                continue  # ours and still running (heartbeat lagged)
            if now < self._fetch_retry_at.get(call.call_id, now):
                continue  # a look-up failed a moment ago
            claim = await self.store.rescue(call.call_id, self.owner, now, now + RESCUE_LEASE)
            if claim is None:
                continue
            try:
                result = await self._settle_orphan(call, now)
                self._fetch_failures.pop(call.call_id, None)
                self._fetch_retry_at.pop(call.call_id, None)
            except Exception as exc:
                # A network blip must not write a wrong result: give the call back (it
                # keeps its line) and look again later, a few times at most.
                failures = self._fetch_failures.get(call.call_id, 0) + 1
                log.warning("reconcile_fetch_failed", call_id=call.call_id, error=str(exc), tries=failures)
                if failures < FETCH_TRIES:
                    self._fetch_failures[call.call_id] = failures
                    self._fetch_retry_at[call.call_id] = now + FETCH_RETRY
                    await self.store.release(claim, None)
                    continue
                self._fetch_failures.pop(call.call_id, None)
                self._fetch_retry_at.pop(call.call_id, None)
                died = await self._died_at(call, now)
                result = CallResult(
                    status=CallStatus.INTERRUPTED, dialed_at=call.started_at, ended_at=died,
                    provider_call_id=call.provider_call_id,
                    error=f"worker died during the call; the provider could not be asked ({exc})",
                )  # fmt: skip
            start = CallStart(
                call_id=call.call_id, client_id=call.client_id, campaign=call.campaign, agent=call.agent,
                phone=call.phone, client_tz=call.client_tz, attempt=call.attempt, started_at=call.started_at,
                local_day=call.local_day, allowed_by=call.allowed_by, provider=call.provider,
                lease_token=claim.lease_token,
            )  # fmt: skip
            await self.record(claim, start, result)
            self.metrics.rescued()
            rescued += 1
            log.warning(
                "call_rescued", call_id=call.call_id, client_id=call.client_id, status=result.status.value,
                worker=call.worker,
            )  # fmt: skip
        return rescued

    async def _died_at(self, call: CallRecord, now: datetime) -> datetime:
        """When the dead worker was last alive (its last heartbeat): the latest moment its
        call can be said to have lasted. Never before the call started, never after now."""
        seen = await self.store.worker_seen_at(call.worker) if call.worker else None
        if seen is None:
            return call.started_at if call.worker else now
        return max(call.started_at, min(seen, now))

    async def _settle_orphan(self, call: CallRecord, now: datetime) -> CallResult:
        """The final result of a dead worker's call. Raises when the provider cannot be
        asked right now (the caller retries)."""
        died = await self._died_at(call, now)
        provider = self.providers.get(call.provider)
        pcid = call.provider_call_id
        if provider is not None and pcid is None:
            finder = provider if isinstance(provider, CallFinder) else None
            if finder is None:
                return self._interrupted(call, died, f"provider {call.provider} cannot look a call up by number")
            campaign = self.placement.campaign_of_call(call.campaign)
            agent = next((a for a in campaign.agents if a.name == call.agent), None)
            start = CallStart(
                call_id=call.call_id, client_id=call.client_id, campaign=call.campaign, agent=call.agent,
                phone=call.phone, client_tz=call.client_tz, attempt=call.attempt, started_at=call.started_at,
                local_day=call.local_day, allowed_by=call.allowed_by, provider=call.provider, lease_token="",
            )  # fmt: skip
            client_first = campaign.dial_mode.client_first and call.agent is None
            request = self._request(campaign, start, agent, "", client_first)
            # The worker may have lived up to one heartbeat past its last one.
            pcid = await finder.find_call(request, call.started_at, died + HEARTBEAT_EVERY)
            if pcid is None:
                return CallResult(
                    status=CallStatus.CANCELED, dialed_at=call.started_at, ended_at=call.started_at,
                    error="worker died before the provider saw the call: not dialed",
                )  # fmt: skip
        if provider is None or pcid is None:
            return self._interrupted(call, died, f"provider {call.provider} is not configured any more")
        result = await provider.fetch(pcid)
        if result is None:
            return self._interrupted(call, died, "the provider has no final status", pcid)
        return result if result.provider_call_id else replace(result, provider_call_id=pcid)

    @staticmethod
    def _interrupted(call: CallRecord, died: datetime, why: str, pcid: str | None = None) -> CallResult:
        return CallResult(
            status=CallStatus.INTERRUPTED, dialed_at=call.started_at, ended_at=died,
            provider_call_id=pcid or call.provider_call_id, error=f"worker died during the call; {why}",
        )  # fmt: skip

    # ------------------------------------------------------------ shutdown

    async def drain(self, timeout: float) -> bool:  # noqa: ASYNC109 - the drain's own bound, in seconds
        """Stop claiming, let calls in flight finish (bounded), then cancel the rest
        (each canceled call is still recorded). True if all finished in time."""
        self.stop_claiming()
        for held in list(self.previews.values()):  # shown, not dialed: back to the queue at once
            await self._give_back(held, None)
        tasks = list(self._tasks.values())
        if not tasks:
            return True
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        return not pending

    async def wait_idle(self) -> None:
        """Wait for every call in flight (simulation end of day)."""
        while self._tasks or self._side_tasks:
            await asyncio.gather(*self.tasks(), return_exceptions=True)


def _parse_disposition(value: str | None) -> Disposition | None:
    if value is None:
        return None
    try:
        return Disposition(value)
    except ValueError:
        log.warning("unknown_disposition", value=value)
        return None


def _event(before: ClientState, transition: Transition, data: dict[str, object]) -> Event:
    return Event(
        kind=transition.event,
        reason=transition.reason,
        from_stage=before.stage,
        to_stage=transition.state.stage,
        data=data,
    )
