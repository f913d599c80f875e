"""The day report's data: what the report page, its charts and its downloads show.

Pure functions over a day's call records, events and plan counts (`build_day_report`),
plus one loader that reads them from the store (`load_day_report`). The per campaign
and per agent counts are the rows of `dialer.reports.build_rows`, so the page, the
downloads and `dialer report` always agree; this module adds what a chart needs on top
(calls per hour, the talk-time distribution, the funnel in clients).

Hours are the **center's** local hours (``center.timezone``), the same clock the shift,
the plan and the day's bounds use: a supervisor reads "10:00" on the chart as 10:00 on
the wall of the call center, whatever zone the client was in.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from dialer.config import Campaign, DialerConfig
from dialer.domain import CallStatus, Disposition, Guideline
from dialer.model import CallRecord, EventRecord
from dialer.planning import day_bounds
from dialer.reporting.occupancy import CampaignOccupancy
from dialer.reports import TOTAL, ReportRow, build_rows, day_occupancy
from dialer.store.roles import DayRecords


class Outcome(StrEnum):
    """What became of a call, as the calls-per-hour chart stacks it: the call status,
    and for a conversation the disposition the agent recorded (grouped by what it
    means for the plan)."""

    SUCCESS = "success"  # meeting set, contract signed
    PROGRESS = "progress"  # interested, callback agreed
    OTHER_TALK = "other_talk"  # no need, complaint (resolved), contract terminated, wrong number
    REFUSED = "refused"  # refused, do-not-call
    UNDISPOSED = "undisposed"  # a conversation still waiting for the agent's disposition
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    MACHINE = "machine"
    ABANDONED = "abandoned"  # answered live, no agent free: the information message, then hung up
    FAILED = "failed"  # failed, invalid number
    DIALER = "dialer"  # canceled or interrupted by the dialer itself, or still in flight


OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.SUCCESS: "Meeting / contract",
    Outcome.PROGRESS: "Interested / callback",
    Outcome.OTHER_TALK: "Other conversation",
    Outcome.REFUSED: "Refused / do-not-call",
    Outcome.UNDISPOSED: "Awaiting disposition",
    Outcome.BUSY: "Busy",
    Outcome.NO_ANSWER: "No answer",
    Outcome.MACHINE: "Answering machine",
    Outcome.ABANDONED: "Abandoned (no agent free)",
    Outcome.FAILED: "Failed / invalid number",
    Outcome.DIALER: "Cut by the dialer / in flight",
}

_DISPOSITION_OUTCOME: dict[Disposition, Outcome] = {
    Disposition.MEETING_SET: Outcome.SUCCESS,
    Disposition.CONTRACT_SIGNED: Outcome.SUCCESS,
    Disposition.INTERESTED: Outcome.PROGRESS,
    Disposition.CALLBACK: Outcome.PROGRESS,
    Disposition.REFUSED: Outcome.REFUSED,
    Disposition.DO_NOT_CALL: Outcome.REFUSED,
    Disposition.NO_NEED: Outcome.OTHER_TALK,
    Disposition.COMPLAINT: Outcome.OTHER_TALK,
    Disposition.COMPLAINT_RESOLVED: Outcome.OTHER_TALK,
    Disposition.CONTRACT_TERMINATED: Outcome.OTHER_TALK,
    Disposition.WRONG_NUMBER: Outcome.OTHER_TALK,
}
_STATUS_OUTCOME: dict[CallStatus, Outcome] = {
    CallStatus.BUSY: Outcome.BUSY,
    CallStatus.NO_ANSWER: Outcome.NO_ANSWER,
    CallStatus.MACHINE: Outcome.MACHINE,
    CallStatus.ABANDONED: Outcome.ABANDONED,
    CallStatus.FAILED: Outcome.FAILED,
    CallStatus.INVALID_NUMBER: Outcome.FAILED,
    CallStatus.CANCELED: Outcome.DIALER,
    CallStatus.INTERRUPTED: Outcome.DIALER,
    CallStatus.DIALING: Outcome.DIALER,
}


def outcome_of(call: CallRecord) -> Outcome:
    if call.status is CallStatus.ANSWERED:
        return _DISPOSITION_OUTCOME[call.disposition] if call.disposition else Outcome.UNDISPOSED
    return _STATUS_OUTCOME[call.status]


class Band(StrEnum):
    """A conversation's talk time against its campaign's guideline (3-5 minutes by
    default): below target_min, inside, above target_max, or cut at hard_limit."""

    SHORT = "short"
    WITHIN = "within"
    LONG = "long"
    CUT = "cut"


BAND_LABELS: dict[Band, str] = {
    Band.SHORT: "Short",
    Band.WITHIN: "In band",
    Band.LONG: "Long",
    Band.CUT: "Cut at hard limit",
}


@dataclass(frozen=True)
class TalkGuide:
    """A campaign's talk guideline in seconds."""

    target_min_s: float
    target_max_s: float
    hard_limit_s: float | None

    @classmethod
    def of(cls, campaign: Campaign) -> TalkGuide:
        t = campaign.talk
        hard = t.hard_limit.total_seconds() if t.hard_limit else None
        return cls(t.target_min.total_seconds(), t.target_max.total_seconds(), hard)

    def band(self, talk_s: float) -> Band:
        # A provider hangs up exactly at hard_limit; talk measured a hair short of it
        # (clock granularity) is still the cut, hence the half-second allowance.
        if self.hard_limit_s is not None and talk_s >= self.hard_limit_s - 0.5:
            return Band.CUT
        if talk_s < self.target_min_s:
            return Band.SHORT
        if talk_s <= self.target_max_s:
            return Band.WITHIN
        return Band.LONG


_GUIDELINE_BAND = {Guideline.SHORT: Band.SHORT, Guideline.WITHIN: Band.WITHIN, Guideline.LONG: Band.LONG}


@dataclass(frozen=True)
class HourRow:
    hour: int  # 0..23, the center's local hour the calls started in
    counts: dict[Outcome, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class TalkBin:
    start_s: float
    end_s: float | None  # None: the open last bin (this long or longer)
    counts: dict[Band, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class TalkSummary:
    bins: list[TalkBin]
    counts: dict[Band, int]
    guides: dict[str, TalkGuide]  # campaign -> its guideline, for the campaigns with conversations
    median_s: float | None
    total_s: float

    @property
    def conversations(self) -> int:
        return sum(self.counts.values())

    @property
    def common_band(self) -> tuple[float, float] | None:
        """(target_min, target_max) when every campaign in view shares them (the chart
        shades that band), else None."""
        unique = {(g.target_min_s, g.target_max_s) for g in self.guides.values()}
        return unique.pop() if len(unique) == 1 else None

    @property
    def common_hard_limit(self) -> float | None:
        """The hard limit when every campaign in view has the same one, else None."""
        unique = {g.hard_limit_s for g in self.guides.values()}
        return unique.pop() if len(unique) == 1 else None

    @property
    def within_share(self) -> float | None:
        return self.counts[Band.WITHIN] / self.conversations if self.conversations else None


@dataclass(frozen=True)
class FunnelStep:
    key: str
    label: str
    value: int


@dataclass(frozen=True)
class AgentRow:
    """One agent's day in one campaign. `row` is the `dialer report` row."""

    row: ReportRow
    talk_total_s: float
    bands: dict[Band, int]
    dispositions: dict[Disposition, int]
    undisposed: int

    @property
    def campaign(self) -> str:
        return self.row.campaign

    @property
    def agent(self) -> str:
        return self.row.agent

    @property
    def conversations(self) -> int:
        return self.row.reached

    @property
    def within_share(self) -> float | None:
        n = sum(self.bands.values())
        return self.bands[Band.WITHIN] / n if n else None


@dataclass(frozen=True)
class CampaignPacing:
    """A campaign's dial mode and abandon-rate cap (from the config), for the report."""

    dial_mode: str
    max_abandon_rate: float
    abandon_window: str  # "24h" or "30d"

    @property
    def client_first(self) -> bool:
        return self.dial_mode in ("power", "predictive")


@dataclass(frozen=True)
class DayReport:
    day: date
    center_tz: str
    campaign: str | None  # the filter; None: every campaign
    campaigns: list[str]  # every configured campaign (the filter's choices)
    generated_at: datetime
    hours: list[HourRow]
    talk: TalkSummary
    funnel: list[FunnelStep]
    campaign_rows: list[ReportRow]  # the campaign totals (agent "*"), with the plan figures
    agents: list[AgentRow]
    calls: list[CallRecord] = field(default_factory=list)  # the call log, oldest first
    # issue 13: occupancy per campaign (and its agents), each campaign's pacing settings
    occupancy: list[CampaignOccupancy] = field(default_factory=list)
    pacing: dict[str, CampaignPacing] = field(default_factory=dict)

    @property
    def abandoned(self) -> int:
        return sum(r.abandoned for r in self.campaign_rows)

    @property
    def total_calls(self) -> int:
        return len(self.calls)

    def row_list(self) -> list[ReportRow]:
        """Every `dialer report` row of this report: campaign totals, then their agents."""
        out: list[ReportRow] = []
        for total in self.campaign_rows:
            out.append(total)
            out.extend(a.row for a in self.agents if a.campaign == total.campaign)
        return out


class UnknownCampaign(ValueError):
    """The campaign filter names no configured campaign."""


TALK_BIN_S = 30.0
TALK_BINS_MAX_S = 15 * 60.0  # beyond this, one open bin: the chart stays readable


def _talk_bins(conversations: Sequence[tuple[float, Band]], guides: Iterable[TalkGuide]) -> list[TalkBin]:
    """30 s bins from 0 to past the farthest band edge (hard limit or target_max) and the
    longest talk, up to 15 minutes; longer talks share the open last bin."""
    # one bin past the farthest band edge, so a hard limit's line is not the chart's edge
    edge = max([TALK_BIN_S * 12] + [(g.hard_limit_s or g.target_max_s) + TALK_BIN_S for g in guides])
    longest = max((t for t, _ in conversations), default=0.0)
    top = min(TALK_BINS_MAX_S, max(edge, longest))
    n = int(-(-top // TALK_BIN_S))  # ceil
    counts: list[Counter[Band]] = [Counter() for _ in range(n + 1)]
    for talk_s, band in conversations:
        counts[min(int(talk_s // TALK_BIN_S), n)][band] += 1
    bins = [TalkBin(i * TALK_BIN_S, (i + 1) * TALK_BIN_S, _all_bands(c)) for i, c in enumerate(counts[:n])]
    if counts[n]:
        bins.append(TalkBin(n * TALK_BIN_S, None, _all_bands(counts[n])))
    return bins


def _all_bands(c: Counter[Band]) -> dict[Band, int]:
    return {b: c[b] for b in Band}


def _hour_rows(calls: Sequence[CallRecord], zone: ZoneInfo, config: DialerConfig) -> list[HourRow]:
    """Every hour of the center's shift, and any other hour that had calls."""
    by_hour: dict[int, Counter[Outcome]] = defaultdict(Counter)
    for c in calls:
        by_hour[c.started_at.astimezone(zone).hour][outcome_of(c)] += 1
    shift = config.center.shift
    first = shift.start.hour
    last = shift.end.hour - (1 if shift.end.minute == 0 and shift.end.hour > first else 0)
    hours = set(range(first, last + 1)) | set(by_hour)
    return [HourRow(h, {o: by_hour[h][o] for o in Outcome}) for h in sorted(hours)]


def build_day_report(
    config: DialerConfig,
    day: date,
    calls: Iterable[CallRecord],
    events: Iterable[EventRecord],
    plans: dict[str, tuple[int, int]],
    *,
    campaign: str | None = None,
    generated_at: datetime | None = None,
    occupancy: Sequence[CampaignOccupancy] = (),
    window_rates: Mapping[str, float] | None = None,
) -> DayReport:
    """Pure: the day report of `day` from its calls, events and plans (campaign ->
    (planned, rolled over), as `dialer.reports.build_rows` takes them), for one campaign
    or (None) all. `occupancy` and `window_rates` (each campaign's rolling abandon rate)
    are `dialer.reports.day_occupancy`'s. Raises UnknownCampaign for a campaign the
    config does not name."""
    names = _check_campaign(config, campaign)
    zone = ZoneInfo(config.center.timezone)
    calls = sorted(
        (c for c in calls if campaign is None or c.campaign == campaign), key=lambda c: (c.started_at, c.call_id)
    )
    call_ids = {c.call_id for c in calls}
    events = [e for e in events if campaign is None or e.call_id is None or e.call_id in call_ids]
    plans = {k: v for k, v in plans.items() if campaign is None or k == campaign}
    occupancy = [o for o in occupancy if campaign is None or o.campaign == campaign]
    rows = build_rows(day, calls, events, plans, occupancy=occupancy, window_rates=window_rates)

    by_name = {c.name: c for c in config.campaigns}
    guides: dict[str, TalkGuide] = {}
    conversations: list[tuple[float, Band]] = []
    per_agent: dict[tuple[str, str], list[tuple[CallRecord, Band]]] = defaultdict(list)
    for c in calls:
        if c.status is not CallStatus.ANSWERED:
            continue
        cfg = by_name.get(c.campaign)
        if cfg is not None:
            guide = guides.setdefault(c.campaign, TalkGuide.of(cfg))
            band = guide.band(c.talk_s)
        else:  # a campaign removed from the config since: trust the band stored with the call
            band = _GUIDELINE_BAND.get(c.guideline, Band.SHORT) if c.guideline else Band.SHORT
        conversations.append((c.talk_s, band))
        per_agent[(c.campaign, c.agent or "-")].append((c, band))

    talks = sorted(t for t, _ in conversations)
    band_counts = Counter(b for _, b in conversations)
    talk = TalkSummary(
        bins=_talk_bins(conversations, guides.values()),
        counts=_all_bands(band_counts),
        guides=guides,
        median_s=_median(talks),
        total_s=sum(talks),
    )

    agents: list[AgentRow] = []
    for row in rows:
        if row.agent == TOTAL:
            continue
        talked = per_agent.get((row.campaign, row.agent), [])
        agents.append(
            AgentRow(
                row=row,
                talk_total_s=sum(c.talk_s for c, _ in talked),
                bands=_all_bands(Counter(b for _, b in talked)),
                dispositions=dict(Counter(c.disposition for c, _ in talked if c.disposition)),
                undisposed=sum(1 for c, _ in talked if c.disposition is None),
            )
        )

    totals = [r for r in rows if r.agent == TOTAL]
    planned = sum(r.planned or 0 for r in totals)
    funnel = [
        FunnelStep("planned", "Planned", planned),
        FunnelStep("dialed", "Dialed", len({c.client_id for c in calls})),
        FunnelStep("reached", "Reached", len({c.client_id for c in calls if c.status is CallStatus.ANSWERED})),
        FunnelStep("meetings", "Meetings", sum(r.meetings_set for r in totals)),
        FunnelStep("contracts", "Contracts", sum(r.contracts_signed for r in totals)),
    ]
    return DayReport(
        day=day,
        center_tz=config.center.timezone,
        campaign=campaign,
        campaigns=names,
        generated_at=generated_at or datetime.now(UTC),
        hours=_hour_rows(calls, zone, config),
        talk=talk,
        funnel=funnel,
        campaign_rows=totals,
        agents=agents,
        calls=calls,
        occupancy=list(occupancy),
        pacing={
            c.name: CampaignPacing(c.dial_mode.value, c.max_abandon_rate, c.abandon_window.value)
            for c in config.campaigns
            if campaign is None or c.name == campaign
        },
    )


def _check_campaign(config: DialerConfig, campaign: str | None) -> list[str]:
    """The configured campaign names; UnknownCampaign when `campaign` is not one of them."""
    names = [c.name for c in config.campaigns]
    if campaign is not None and campaign not in names:
        raise UnknownCampaign(f"no campaign named {campaign!r} (campaigns: {', '.join(names)})")
    return names


def _median(sorted_values: Sequence[float]) -> float | None:
    n = len(sorted_values)
    if not n:
        return None
    mid = n // 2
    return sorted_values[mid] if n % 2 else (sorted_values[mid - 1] + sorted_values[mid]) / 2


async def load_day_report(
    store: DayRecords, config: DialerConfig, day: date, *, campaign: str | None = None, now: datetime | None = None
) -> DayReport:
    """The day report of the center's local date `day` as of `now` (default: the current
    time), for one campaign or all; the store is only read. Raises UnknownCampaign."""
    now = now or datetime.now(UTC)
    _check_campaign(config, campaign)
    start, end = day_bounds(config, day)
    calls = await store.calls_between(start, end)
    events = await store.events_between(start, end)
    plans: dict[str, tuple[int, int]] = {}
    for c in config.campaigns:
        if campaign is not None and c.name != campaign:
            continue
        counts = await store.plan_counts(c.name, day, start, end, now)
        if counts is not None:
            plans[c.name] = (counts.planned, counts.rolled_over)
    occupied, rates = await day_occupancy(store, config, start, end, now, calls, campaign)
    return build_day_report(
        config, day, calls, events, plans, campaign=campaign, generated_at=now, occupancy=occupied, window_rates=rates
    )
