"""The supervisor's live board: one card per campaign, as of now.

`campaign_card` is pure (everything it shows is passed in); `load_board` reads the
store once per refresh: the queue's counts, presence, pauses, the providers'
readiness, and the day's calls/events/plans, from which each campaign's plan progress
and guideline adherence come through the day report's own code (so the board, the
report page and `dialer report` agree). Issue 13: each card also shows the campaign's
dial mode and its abandon rate over its abandon_window (the store's counts across every
worker) against max_abandon_rate, flagged near the cap and over it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from dialer.config import Campaign, DialerConfig
from dialer.model import READINESS_STALE, AbandonCounts, CallRecord, EventRecord, PlanCounts, ProviderReadiness
from dialer.planning import center_today, day_bounds, lines_of
from dialer.presence import explain_hold, uses_presence
from dialer.reporting.data import DayReport, build_day_report
from dialer.reporting.occupancy import abandon_level
from dialer.store.base import Store
from dialer.store.people import CampaignPause, Presence, PresenceState, people_of

# The order agents' states are counted and listed in.
STATE_ORDER = (
    PresenceState.ON_CALL, PresenceState.READY, PresenceState.WRAP_UP, PresenceState.PAUSED, PresenceState.LOGGED_OUT,
)  # fmt: skip


@dataclass(frozen=True)
class AgentLine:
    name: str
    state: str
    reason: str | None
    since: str
    for_s: int  # how long in this state, seconds
    call_id: str | None


@dataclass(frozen=True)
class ProviderLine:
    name: str
    ready: bool | None  # None: no worker reported recently
    text: str


@dataclass(frozen=True)
class CampaignCard:
    name: str
    lines: int
    lines_in_use: int
    due_now: int
    queued: int
    uses_presence: bool
    agents: list[AgentLine]
    agent_counts: dict[str, int]
    plan: dict[str, int]  # planned, dialed, reached, meetings, contracts
    conversations: int
    adherence: float | None  # share of today's conversations inside the talk band
    band: str  # "3-5 min"
    next_opening: str | None
    provider: ProviderLine
    paused: bool
    paused_by: str | None
    held: str | None  # why it places no calls now
    # issue 13: pacing and the abandon rate over the campaign's rolling window
    dial_mode: str = "progressive"
    abandon_window: str = "24h"
    max_abandon_rate: float = 0.03
    abandon_rate: float | None = None  # None: no live answer in the window yet
    abandoned_window: int = 0
    live_window: int = 0
    abandoned_today: int = 0
    abandon_level: str = "ok"  # ok, near (amber), over (red): see dialer.reporting.occupancy

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _minutes(seconds: float) -> str:
    m = seconds / 60
    return f"{m:g}" if m == int(m) else f"{m:.1f}"


def provider_line(name: str, reports: Sequence[ProviderReadiness]) -> ProviderLine:
    """Ready when any worker finds it ready; else the reason a worker gave."""
    mine = [r for r in reports if r.provider == name]
    if not mine:
        return ProviderLine(name, None, "no worker reported in the last minutes")
    ready = [r for r in mine if r.ready]
    if ready:
        return ProviderLine(name, True, f"{len(ready)} of {len(mine)} worker{'s' if len(mine) > 1 else ''} ready")
    reasons = sorted({r.reason or "not ready" for r in mine})
    return ProviderLine(name, False, "; ".join(reasons))


def campaign_card(
    campaign: Campaign,
    config: DialerConfig,
    now: datetime,
    *,
    stats: dict[str, int],
    lines_in_use: int,
    presence: list[Presence],
    pause: CampaignPause | None,
    report: DayReport,
    next_opening: datetime | None,
    readiness: Sequence[ProviderReadiness],
    abandon: AbandonCounts | None = None,
) -> CampaignCard:
    """`abandon`: the campaign's live answers and abandoned calls over its abandon_window
    to now (None: not read, shown as no live answer yet)."""
    presence_on = uses_presence(config, campaign)
    agents = [
        AgentLine(p.agent, p.state.value, p.reason, p.since.isoformat(), max(0, int((now - p.since).total_seconds())),
                  p.call_id if p.state in (PresenceState.ON_CALL, PresenceState.WRAP_UP) else None)
        for p in sorted(presence, key=lambda p: (STATE_ORDER.index(p.state), p.since))
    ]  # fmt: skip
    counts = {s.value: sum(1 for p in presence if p.state is s) for s in STATE_ORDER}
    paused = bool(pause and pause.paused)
    talk = campaign.talk
    due_now = stats.get("due_now") or 0
    rate = abandon.rate if abandon and abandon.live else None
    return CampaignCard(
        name=campaign.name,
        lines=lines_of(campaign),
        lines_in_use=lines_in_use,
        due_now=due_now,
        queued=stats.get("queued") or 0,
        uses_presence=presence_on,
        agents=agents,
        agent_counts=counts,
        plan={s.key: s.value for s in report.funnel},
        conversations=report.talk.conversations,
        adherence=report.talk.within_share,
        band=f"{_minutes(talk.target_min.total_seconds())}-{_minutes(talk.target_max.total_seconds())} min",
        next_opening=None if due_now or next_opening is None else next_opening.isoformat(),
        provider=provider_line(campaign.provider, readiness),
        paused=paused,
        paused_by=pause.by if paused and pause else None,
        held=_held(campaign, paused, presence if presence_on else None),
        dial_mode=campaign.dial_mode.value,
        abandon_window=campaign.abandon_window.value,
        max_abandon_rate=campaign.max_abandon_rate,
        abandon_rate=rate,
        abandoned_window=abandon.abandoned if abandon else 0,
        live_window=abandon.live if abandon else 0,
        abandoned_today=report.abandoned,
        abandon_level=abandon_level(rate, campaign.max_abandon_rate),
    )


# States in which an agent takes (or is about to take) the campaign's calls.
_WORKING = frozenset({PresenceState.READY, PresenceState.ON_CALL, PresenceState.WRAP_UP})


def _held(campaign: Campaign, paused: bool, presence: list[Presence] | None) -> str | None:
    """Why the campaign places no calls: paused, or every agent paused or logged out.
    Agents all busy on calls or wrapping up is the board working, not a hold (`dialer
    status` answers "no agent ready" for that instant too; the board says it by the
    agents' states)."""
    if paused or presence is None:
        return explain_hold(campaign, paused, None)
    if any(p.state in _WORKING for p in presence):
        return None
    return explain_hold(campaign, False, presence)


async def load_board(store: Store, config: DialerConfig, now: datetime, campaigns: Sequence[str]) -> list[CampaignCard]:
    """The cards of `campaigns` (names the config knows), in config order."""
    people = people_of(store)
    wanted = [c for c in config.campaigns if c.name in campaigns]
    day = center_today(config, now)
    start, end = day_bounds(config, day)
    calls: list[CallRecord] = await store.calls_between(start, end)
    events: list[EventRecord] = await store.events_between(start, end)
    pauses = {p.campaign: p for p in await people.campaign_pauses()}
    readiness = await store.readiness_reports(now - READINESS_STALE)
    cards = []
    for campaign in wanted:
        counts: PlanCounts | None = await store.plan_counts(campaign.name, day, start, end, now)
        plans = {campaign.name: (counts.planned, counts.rolled_over)} if counts else {}
        report = build_day_report(config, day, calls, events, plans, campaign=campaign.name, generated_at=now)
        presence = await people.presence(now, [a.name for a in campaign.agents]) if campaign.agents else []
        window = timedelta(seconds=campaign.abandon_window.seconds)
        abandon = await store.abandon_counts(campaign.name, now - window, now)
        cards.append(
            campaign_card(
                campaign, config, now,
                stats=await store.queue_stats(campaign.name, now),
                lines_in_use=await store.lines_in_use(campaign.name, now),
                presence=presence, pause=pauses.get(campaign.name), report=report,
                next_opening=await store.next_dial_after(now, campaign.name), readiness=readiness,
                abandon=abandon,
            )
        )  # fmt: skip
    return cards


__all__ = ["AgentLine", "CampaignCard", "ProviderLine", "campaign_card", "load_board", "provider_line"]
