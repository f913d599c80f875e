"""The working-hours calendar: when may this client be dialed?

Pure functions, no I/O and no clock: every function takes the instant it reasons about,
so the dispatcher, the morning plan and the simulation ask the very same questions.
All instants going in must be aware; everything coming out is aware UTC.

A call may start at ``t`` only inside the intersection of four windows:

1. the client's own schedule (days, hours, lunch, production calendar, closed dates),
   in the client's zone; no schedule means "any time" for this constraint;
2. the campaign window, in the client's zone;
3. the center's shift minus the center's holidays, in the center's zone;
4. the legal window (every day), in the client's zone;

and only if at least ``min_remaining`` (the 5-minute talk guideline) is left before that
intersection closes, so a conversation never runs past the end of anybody's window.

How it is computed: the three client-zone windows are intersected in wall-clock time
first (they share one clock), then each local day is converted to UTC once and cached
per (rules, day); the center's shift likewise. The two UTC streams are merged across
midnight and intersected. Work is per day, never per minute, so ``next_open`` is cheap
enough to run for every imported client and after every call.

Daylight-saving time: a wall-clock boundary that is skipped or repeated is converted
conservatively (an interval's start goes to the later candidate instant, its end to the
earlier one), so no instant inside a reported interval ever shows a local time outside
the configured hours. The price is that the window can open a little later or close a
little earlier on the night of a clock change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

import holidays

from dialer.config.models import Campaign, DialerConfig, Hours, Schedule, Window

__all__ = [
    "DialRules",
    "Interval",
    "WindowStatus",
    "callable_left",
    "day_rules",
    "next_open",
    "open_intervals",
    "rules_for",
    "status",
]

UTC = UTC
DEFAULT_HORIZON = timedelta(days=400)
_DAY = timedelta(days=1)
_END_OF_DAY = timedelta(days=1)  # how time.max ("24:00") is represented as an offset
_ALL_DAYS = frozenset(range(7))
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# A wall-clock span [start, end) as offsets from local midnight (end may be 24:00).
_Span = tuple[timedelta, timedelta]
# A UTC interval as a plain tuple: the hot loops avoid building dataclasses.
_Pair = tuple[datetime, datetime]


# ---------------------------------------------------------------- public types


@dataclass(frozen=True)
class DialRules:
    """Everything the calendar needs to decide when one client may be called in one
    campaign. Built once per client (see :func:`rules_for`) so the per-call questions do
    not have to look anything up in the config again."""

    client_zone: ZoneInfo
    schedule: Schedule | None
    campaign_window: Window
    center_zone: ZoneInfo
    center_shift: Window
    center_holidays: str | None
    legal: Hours
    min_remaining: timedelta
    schedule_name: str | None = None  # only for the audit text
    campaign_name: str = ""  # only for the audit text

    @cached_property
    def _compiled(self) -> _Compiled:
        # Computed on first use and kept on the instance (cached_property writes to
        # __dict__, which a frozen dataclass allows); equal rules share one compiled
        # object so the per-day caches are shared by all clients of a zone/schedule.
        return _compile(self)


@dataclass(frozen=True)
class Interval:
    """A half-open span [start, end) of aware UTC instants."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class WindowStatus:
    """The answer to "may we dial now?", with the why for the operator and the audit.

    ``closes_at`` is set whenever ``at`` lies inside an interval of the intersection, even
    if too little remains to start a call; ``last_start`` only when a call may start.
    ``reasons`` explains a closed window, ``allowed_by`` names the windows that allowed an
    open one (kept in the call record for compliance)."""

    open: bool
    closes_at: datetime | None
    last_start: datetime | None
    next_open: datetime | None
    reasons: tuple[str, ...]
    allowed_by: str


def rules_for(
    config: DialerConfig,
    campaign: Campaign,
    client_zone: str,
    schedule: Schedule | None,
    *,
    schedule_name: str | None = None,
) -> DialRules:
    """Collect one client's constraints from the config (the center and the legal window
    are global, the campaign window and talk guideline per campaign)."""
    center = config.center
    return DialRules(
        client_zone=ZoneInfo(client_zone),
        schedule=schedule,
        campaign_window=campaign.window,
        center_zone=ZoneInfo(center.timezone),
        center_shift=center.shift,
        center_holidays=center.holidays,
        legal=config.legal_window,
        min_remaining=campaign.min_remaining,
        schedule_name=schedule_name,
        campaign_name=campaign.name,
    )


# ---------------------------------------------------------------- public functions


def open_intervals(rules: DialRules, start: datetime, end: datetime) -> list[Interval]:
    """The intervals of the intersection overlapping [start, end), clipped to it.

    Sorted, disjoint and merged across midnight; ``min_remaining`` is not applied (an
    interval is where a call may *be*, not where one may start)."""
    start, end = _utc(start), _utc(end)
    out: list[Interval] = []
    if start >= end:
        return out
    for s, e in _scan(rules._compiled, start, end):
        if e <= start:
            continue
        if s >= end:
            break
        out.append(Interval(max(s, start), min(e, end)))
    return out


def next_open(rules: DialRules, at: datetime, horizon: timedelta = DEFAULT_HORIZON) -> tuple[datetime, datetime] | None:
    """The earliest instant >= ``at`` at which a call may start, with the last instant a
    call may start in that same interval (its end minus ``min_remaining``).

    ``None`` when nothing opens before ``at + horizon``; an interval still open at the
    horizon is cut a day or so after it, which only makes ``last_start`` earlier."""
    at = _utc(at)
    limit = at + horizon
    found = _first_start(_scan(rules._compiled, at, limit), at, limit, rules.min_remaining)
    if found is None:
        return None
    start, end = found
    return start, end - rules.min_remaining


def callable_left(rules: DialRules, at: datetime) -> timedelta:
    """How much time to start a call the client has left in its local day from ``at``:
    the total length of the instants in [at, the client's next local midnight) at which
    a call may start (each interval minus ``min_remaining`` at its end).

    It is the client's slack for the day: the dispatcher takes the least first, so a
    client whose afternoon is still ahead waits for one whose day is nearly over."""
    at = _utc(at)
    zone = rules.client_zone
    local = at.astimezone(zone)
    following = local.date() + _DAY
    midnight = datetime(following.year, following.month, following.day, tzinfo=zone).astimezone(UTC)
    total = timedelta(0)
    for s, e in _scan(rules._compiled, at, midnight):
        if s >= midnight:
            break
        start = s if s > at else at
        end = min(e - rules.min_remaining, midnight)
        if end > start:
            total += end - start
    return total


def status(rules: DialRules, at: datetime, horizon: timedelta = DEFAULT_HORIZON) -> WindowStatus:
    """May a call to this client start at ``at``? If not, why, and when next.

    Pure, so remembered for a while: a call is checked at its claim, again right before
    it is dialed and once more by the simulation's audit, mostly at the same instant."""
    at = _utc(at)
    # By identity (rules hold lists, and the scheduler keeps one object per client kind);
    # the entry keeps its rules alive, so an id is never reused while it is remembered.
    key = (id(rules), at, horizon)
    found = _STATUS_MEMO.get(key)
    if found is None or found[0] is not rules:
        found = (rules, _status(rules, at, horizon))
        if len(_STATUS_MEMO) >= _STATUS_MEMO_SIZE:
            _STATUS_MEMO.clear()
        _STATUS_MEMO[key] = found
    return found[1]


_STATUS_MEMO: dict[tuple[int, datetime, timedelta], tuple[DialRules, WindowStatus]] = {}
_STATUS_MEMO_SIZE = 4096


def _status(rules: DialRules, at: datetime, horizon: timedelta) -> WindowStatus:
    limit = at + horizon
    intervals = _scan(rules._compiled, at, limit)
    current = next((iv for iv in intervals if iv[1] > at), None)
    closes_at = current[1] if current is not None and current[0] <= at else None
    if closes_at is not None and closes_at - at >= rules.min_remaining:
        return WindowStatus(
            open=True,
            closes_at=closes_at,
            last_start=closes_at - rules.min_remaining,
            next_open=at,
            reasons=(),
            allowed_by=_allowed_by(rules, at),
        )
    # Search on from the interval found (it may be the short one we are in, which
    # _first_start rejects again, or the next one).
    rest = intervals if current is None else _chain(current, intervals)
    found = _first_start(rest, at, limit, rules.min_remaining)
    return WindowStatus(
        open=False,
        closes_at=closes_at,
        last_start=None,
        next_open=found[0] if found else None,
        reasons=_reasons(rules, at, closes_at),
        allowed_by="",
    )


def day_rules(rules: DialRules, at: datetime) -> list[str]:
    """Which calendar decided about the day of ``at``, one line per constraint with days:
    the client's schedule, the campaign window and the center's shift (for `dialer why`)."""
    at = _utc(at)
    day = _local_date(at, rules.client_zone)
    weekday = _DAY_NAMES[day.weekday()]
    out: list[str] = []
    schedule = rules.schedule
    if schedule is not None:
        works = _is_working_day(day, schedule.days, schedule.holidays) and day not in schedule.closed_dates
        by = f"{schedule.holidays} production calendar" if schedule.holidays else "its weekdays (no calendar)"
        if day in schedule.closed_dates:
            # The client's own closure decided, not the calendar (which may call it a working day).
            by = "its closed_dates"
        out.append(
            f"client {day.isoformat()} ({weekday}): schedule {rules.schedule_name or ''} "
            f"{'works' if works else 'is off'} by {by}".replace("  ", " ")
        )
    window = rules.campaign_window
    allowed = _window_gate(rules).allows(day)
    if window.follows_calendar and day.weekday() not in window.days:
        decided = f"{_day_kind(day, _window_code(rules)[0])} by the {_calendar_text(rules)}"
    else:
        decided = f"{weekday} {'is' if day.weekday() in window.days else 'is not'} listed"
    out.append(
        f"campaign window days [{_window_days_text(window)}]: {'open' if allowed else 'closed'} on "
        f"{day.isoformat()} ({decided})"
    )
    center_day = _local_date(at, rules.center_zone)
    code = rules.center_holidays
    works = _is_working_day(center_day, rules.center_shift.days, code)
    by = f"{code} production calendar" if code else "its shift days (no calendar)"
    out.append(
        f"center {center_day.isoformat()} ({_DAY_NAMES[center_day.weekday()]}): "
        f"{'works' if works else 'is off'} by {by}"
    )
    return out


# ---------------------------------------------------------------- wall clock helpers


def _utc(instant: datetime) -> datetime:
    """Reject naive datetimes: a wall-clock time without a zone is ambiguous by 14 hours."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"naive datetime {instant!r}: pass an aware instant (UTC preferred)")
    return instant.astimezone(UTC)


@lru_cache(maxsize=4096)
def _offset(t: time) -> timedelta:
    """A configured time of day as an offset from midnight; time.max is "24:00".
    Cached: configs hold a handful of distinct times, asked about on every status."""
    if t == time.max:
        return _END_OF_DAY
    return timedelta(hours=t.hour, minutes=t.minute, seconds=t.second, microseconds=t.microsecond)


@lru_cache(maxsize=4096)
def _fmt_time(t: time) -> str:
    if t == time.max:
        return "24:00"
    return t.strftime("%H:%M:%S" if t.second else "%H:%M")


def _fmt_span(start: time, end: time) -> str:
    return f"{_fmt_time(start)}-{_fmt_time(end)}"


def _fmt_duration(d: timedelta) -> str:
    seconds = int(d.total_seconds())
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def _wall(instant: datetime, zone: ZoneInfo) -> tuple[date, timedelta]:
    """Local date and time-of-day offset of an instant in a zone (never "24:00": the
    last microsecond of a day is still that day)."""
    local = instant.astimezone(zone)
    of_day = timedelta(hours=local.hour, minutes=local.minute, seconds=local.second, microseconds=local.microsecond)
    return local.date(), of_day


def _local_date(instant: datetime, zone: ZoneInfo) -> date:
    return instant.astimezone(zone).date()


def _wall_to_utc(zone: ZoneInfo, day: date, offset: timedelta, *, is_start: bool) -> datetime:
    """Convert a local wall-clock boundary to UTC, conservatively.

    In a DST gap or overlap a wall time has two candidate instants (fold=0/1). A start
    takes the later one and an end the earlier one, so the reported interval never
    contains an instant whose local time is outside the configured hours."""
    naive = datetime(day.year, day.month, day.day) + offset
    first = zone.utcoffset(naive)
    second = zone.utcoffset(naive.replace(fold=1))
    assert first is not None and second is not None
    # The larger UTC offset gives the earlier instant.
    chosen = min(first, second) if is_start else max(first, second)
    return (naive - chosen).replace(tzinfo=UTC)


def _intersect_spans(a: tuple[_Span, ...], b: tuple[_Span, ...]) -> tuple[_Span, ...]:
    """Intersection of two sorted lists of disjoint wall-clock spans of the same day."""
    out: list[_Span] = []
    for s1, e1 in a:
        for s2, e2 in b:
            s, e = max(s1, s2), min(e1, e2)
            if s < e:
                out.append((s, e))
    return tuple(sorted(out))


# ---------------------------------------------------------------- production calendar


@dataclass(frozen=True)
class _HolidayYear:
    """One country's year, flattened to plain lookups (a HolidayBase lookup is slow)."""

    names: Mapping[date, str]
    workdays: frozenset[date]  # weekend days that are working days (moved working days)
    weekend: frozenset[int]  # the country's regular days off (RU: sat, sun)


@lru_cache(maxsize=512)
def _holiday_year(code: str, year: int) -> _HolidayYear:
    # Loading the neighbouring years too catches a day off or working Saturday that the
    # package might attach to the adjacent year (moves across New Year); we keep only
    # this year's dates. Names in English: the reasons text is English, and the
    # package's default language for RU is Russian.
    cal = holidays.country_holidays(code, years=(year - 1, year, year + 1), language="en_US")
    names = {d: name for d, name in cal.items() if d.year == year}
    workdays = frozenset(d for d in getattr(cal, "weekend_workdays", ()) if d.year == year)
    weekend = frozenset(getattr(cal, "weekend", None) or _WEEKEND)
    return _HolidayYear(names=names, workdays=workdays, weekend=weekend)


_WEEKEND = frozenset((5, 6))


def _calendar_working(day: date, code: str | None) -> bool:
    """A working day of the country's production calendar, as the `holidays` package
    defines it (HolidayBase.is_working_day): a weekend day only if the calendar moved a
    working day onto it, any other day unless it is a public holiday or a moved day off.
    Without a calendar: Monday to Friday."""
    if code is None:
        return day.weekday() not in _WEEKEND
    year = _holiday_year(code, day.year)
    if day.weekday() in year.weekend:
        return day in year.workdays
    return day not in year.names


def _holiday_name(code: str | None, day: date) -> str | None:
    if code is None:
        return None
    return _holiday_year(code, day.year).names.get(day)


def _is_working_day(day: date, days: frozenset[int], code: str | None) -> bool:
    """The production-calendar rule: a listed weekday that is not a holiday, or a
    weekend day the calendar turned into a working day (e.g. RU 2025-11-01).

    A calendar with no working weekdays at all never works, not even on those moved
    Saturdays: they replace a weekday that such a client does not work either."""
    if not days:
        return False
    if code is None:
        return day.weekday() in days
    year = _holiday_year(code, day.year)
    if day in year.workdays:
        return True
    return day.weekday() in days and day not in year.names


# ---------------------------------------------------------------- compiled rules


@dataclass(frozen=True)
class _Gate:
    """The campaign window's day rule: listed weekdays, plus (``workdays``/``dayoffs``)
    the production calendar's working days or days off of ``code``."""

    weekdays: frozenset[int]
    workdays: bool = False
    dayoffs: bool = False
    code: str | None = None

    @property
    def possible(self) -> frozenset[int]:
        """Weekdays on which the gate can ever open (a moved working day can fall on any)."""
        return _ALL_DAYS if self.workdays or self.dayoffs else self.weekdays

    def allows(self, day: date) -> bool:
        if day.weekday() in self.weekdays:
            return True
        if not (self.workdays or self.dayoffs):
            return False
        working = _calendar_working(day, self.code)
        return (self.workdays and working) or (self.dayoffs and not working)


_ANY_DAY = _Gate(_ALL_DAYS)


def _window_code(rules: DialRules) -> tuple[str | None, str]:
    """Whose production calendar a campaign window's ``workdays``/``dayoffs`` read: the
    client's schedule's country, else the center's; with a label for the explanations."""
    schedule = rules.schedule
    if schedule is not None and schedule.holidays:
        return schedule.holidays, f"schedule {rules.schedule_name or ''}".rstrip()
    if rules.center_holidays:
        return rules.center_holidays, "center"
    return None, "none set"


@dataclass(frozen=True, eq=False)
class _Side:
    """One zone's share of the constraints: date-independent wall-clock spans plus the
    rule saying on which local days they apply. Interned (identity hash) so the per-day
    cache key is cheap and shared by every client with the same settings."""

    zone: ZoneInfo
    spans: tuple[_Span, ...]
    gate: _Gate  # the campaign window's days (the center side: any day)
    work_days: frozenset[int]  # the calendar's regular working weekdays
    holidays: str | None
    closed: frozenset[date]

    @property
    def never(self) -> bool:
        """True when no day can ever be open, so searches stop at once instead of
        walking the whole horizon."""
        if not self.spans or not self.gate.possible or not self.work_days:
            return True
        # Without a production calendar only the listed weekdays can work; with one,
        # a moved working day can fall on any weekday.
        possible = self.work_days if self.holidays is None else _ALL_DAYS
        return not (self.gate.possible & possible)

    def open_on(self, day: date) -> bool:
        return self.gate.allows(day) and day not in self.closed and _is_working_day(day, self.work_days, self.holidays)


@dataclass(frozen=True, eq=False)
class _Compiled:
    client: _Side
    center: _Side

    @property
    def never(self) -> bool:
        return self.client.never or self.center.never


@lru_cache(maxsize=4096)
def _intern_side(
    zone: ZoneInfo,
    spans: tuple[_Span, ...],
    gate: _Gate,
    work_days: frozenset[int],
    code: str | None,
    closed: frozenset[date],
) -> _Side:
    return _Side(zone, spans, gate, work_days, code, closed)


def _schedule_spans(schedule: Schedule | None) -> tuple[_Span, ...]:
    if schedule is None:
        return ((timedelta(0), _END_OF_DAY),)
    start, end = _offset(schedule.start), _offset(schedule.end)
    if schedule.lunch is None:
        return ((start, end),)
    lunch_start, lunch_end = _offset(schedule.lunch.start), _offset(schedule.lunch.end)
    return tuple(span for span in ((start, lunch_start), (lunch_end, end)) if span[0] < span[1])


def _compile(rules: DialRules) -> _Compiled:
    # The client's schedule, the campaign window and the legal window all read the
    # client's clock, so they are intersected once here in wall-clock time.
    window, legal, schedule = rules.campaign_window, rules.legal, rules.schedule
    spans = _intersect_spans(_schedule_spans(schedule), ((_offset(window.start), _offset(window.end)),))
    spans = _intersect_spans(spans, ((_offset(legal.start), _offset(legal.end)),))
    code = _window_code(rules)[0] if window.follows_calendar else None
    client = _intern_side(
        rules.client_zone,
        spans,
        _Gate(window.days, window.workdays, window.dayoffs, code),
        schedule.days if schedule else _ALL_DAYS,
        schedule.holidays if schedule else None,
        frozenset(schedule.closed_dates) if schedule else frozenset(),
    )
    shift = rules.center_shift
    center = _intern_side(
        rules.center_zone,
        ((_offset(shift.start), _offset(shift.end)),),
        _ANY_DAY,
        shift.days,
        rules.center_holidays,
        frozenset(),
    )
    return _Compiled(client, center)


# ---------------------------------------------------------------- day by day in UTC


@lru_cache(maxsize=1 << 17)
def _day_intervals(side: _Side, day: date) -> tuple[_Pair, ...]:
    """One local day of one side, in UTC. Cached: a few zones times a few schedules
    times the days ahead is all the dispatcher ever asks about."""
    if not side.open_on(day):
        return ()
    out: list[_Pair] = []
    for start, end in side.spans:
        s = _wall_to_utc(side.zone, day, start, is_start=True)
        e = _wall_to_utc(side.zone, day, end, is_start=False)
        if s < e:  # a span swallowed by a DST gap disappears
            out.append((s, e))
    return tuple(out)


def _stream(side: _Side, first: date, last: date) -> Iterator[_Pair]:
    """The side's UTC intervals for local days first..last, merged where one day's
    window runs into the next (e.g. 22:00-24:00 then 00:00-02:00)."""
    pending: _Pair | None = None
    day = first
    while day <= last:
        for s, e in _day_intervals(side, day):
            if pending is None:
                pending = (s, e)
            elif s <= pending[1]:
                if e > pending[1]:
                    pending = (pending[0], e)
            else:
                yield pending
                pending = (s, e)
        day += _DAY
    if pending is not None:
        yield pending


def _intersect(a: Iterator[_Pair], b: Iterator[_Pair]) -> Iterator[_Pair]:
    """Intersect two sorted streams of disjoint, non-touching intervals. The result is
    again disjoint and non-touching (a touch would need a touch in one of the inputs)."""
    x, y = next(a, None), next(b, None)
    while x is not None and y is not None:
        s = x[0] if x[0] > y[0] else y[0]
        e = x[1] if x[1] < y[1] else y[1]
        if s < e:
            yield s, e
        if x[1] <= y[1]:
            x = next(a, None)
        else:
            y = next(b, None)


def _scan(compiled: _Compiled, start: datetime, stop: datetime) -> Iterator[_Pair]:
    """All intersection intervals that may overlap [start, stop), lazily, in order.

    Each side walks its own local days. The day before ``start`` is included so that a
    window running through midnight is merged with its first half (and as insurance for
    zones that move their clocks at midnight); the day after ``stop`` so that the last
    interval is not cut at ``stop``'s local midnight."""
    if compiled.never:
        return iter(())
    client, center = compiled.client, compiled.center
    return _intersect(
        _stream(client, _local_date(start, client.zone) - _DAY, _local_date(stop, client.zone) + _DAY),
        _stream(center, _local_date(start, center.zone) - _DAY, _local_date(stop, center.zone) + _DAY),
    )


def _first_start(intervals: Iterator[_Pair], at: datetime, limit: datetime, min_remaining: timedelta) -> _Pair | None:
    """The earliest (start instant, interval end) with start >= at, start <= limit and
    at least min_remaining before the end."""
    for s, e in intervals:
        if e <= at:
            continue
        t = s if s > at else at
        if t > limit:
            return None
        if e - t >= min_remaining:
            return t, e
    return None


def _chain(first: _Pair, rest: Iterator[_Pair]) -> Iterator[_Pair]:
    yield first
    yield from rest


# ---------------------------------------------------------------- explanations


def _reasons(rules: DialRules, at: datetime, closes_at: datetime | None) -> tuple[str, ...]:
    """Why no call may start at ``at``: every closed constraint, read off the wall clocks."""
    out = [*_client_reasons(rules, at), *_center_reasons(rules, at)]
    zone = rules.client_zone
    if out:
        return tuple(out)
    if closes_at is not None:
        local = closes_at.astimezone(zone)
        return (
            f"less than {_fmt_duration(rules.min_remaining)} left before the window closes at "
            f"{_fmt_time(local.time().replace(microsecond=0))} {zone.key}",
        )
    # Every wall clock says yes, but a boundary sits on a skipped or repeated hour and
    # was converted conservatively.
    return ("clock change (daylight saving): the window boundary falls in a skipped or repeated hour",)


def _client_reasons(rules: DialRules, at: datetime) -> list[str]:
    zone = rules.client_zone
    day, wall = _wall(at, zone)
    out: list[str] = []
    schedule = rules.schedule
    if schedule is not None:
        out.extend(_schedule_reasons(schedule, zone, day, wall))
    window = rules.campaign_window
    if not _window_gate(rules).allows(day):
        out.append(_window_day_reason(rules, day))
    elif not _offset(window.start) <= wall < _offset(window.end):
        out.append(f"outside campaign window {_fmt_span(window.start, window.end)} (client time)")
    legal = rules.legal
    if not _offset(legal.start) <= wall < _offset(legal.end):
        out.append(f"legal window {_fmt_span(legal.start, legal.end)} (client time)")
    return out


def _window_gate(rules: DialRules) -> _Gate:
    return rules._compiled.client.gate


def _day_kind(day: date, code: str | None) -> str:
    """'working day' / 'day off' / 'public holiday: NAME' / 'moved working day' by a calendar."""
    if code is None:
        return "working day" if _calendar_working(day, None) else "day off"
    name = _holiday_name(code, day)
    if name is not None:
        return f"day off ({name})"
    if day in _holiday_year(code, day.year).workdays:
        return "working day (moved working day)"
    return "working day" if _calendar_working(day, code) else "day off"


def _window_days_text(window: Window) -> str:
    words = [w for w, on in (("workdays", window.workdays), ("dayoffs", window.dayoffs)) if on]
    return ", ".join([*words, *(_DAY_NAMES[d] for d in sorted(window.days))]) or "none"


def _calendar_text(rules: DialRules) -> str:
    code, whose = _window_code(rules)
    if code is None:
        return "no production calendar (neither the schedule nor the center sets holidays): mon-fri work"
    return f"{code} production calendar of the {whose}"


def _window_day_reason(rules: DialRules, day: date) -> str:
    """Why the campaign window's days exclude the client's local ``day``, naming the
    calendar that decided."""
    window = rules.campaign_window
    weekday = _DAY_NAMES[day.weekday()]
    if window.follows_calendar:
        code = _window_code(rules)[0]
        return (
            f"outside campaign window days [{_window_days_text(window)}]: {day.isoformat()} ({weekday}) is a "
            f"{_day_kind(day, code)} by the {_calendar_text(rules)} (client time)"
        )
    text = f"outside campaign window: no calls on {weekday} (client time)"
    code = _window_code(rules)[0]
    if code is not None and day in _holiday_year(code, day.year).workdays:
        # The supervisor most likely meant the production calendar's working days.
        text += (
            f"; {day.isoformat()} is a moved working day by {code}: write workdays in the window's days to follow it"
        )
    return text


def _schedule_reasons(schedule: Schedule, zone: ZoneInfo, day: date, wall: timedelta) -> list[str]:
    if day in schedule.closed_dates:
        return [f"closed date {day.isoformat()}"]
    if not _is_working_day(day, schedule.days, schedule.holidays):
        holiday = _holiday_name(schedule.holidays, day)
        if holiday is not None:
            return [f"public holiday: {holiday} ({schedule.holidays})"]
        return [f"client day off ({_DAY_NAMES[day.weekday()]})"]
    if not _offset(schedule.start) <= wall < _offset(schedule.end):
        return [f"outside client hours {_fmt_span(schedule.start, schedule.end)} {zone.key}"]
    lunch = schedule.lunch
    if lunch is not None and _offset(lunch.start) <= wall < _offset(lunch.end):
        return [f"client lunch {_fmt_span(lunch.start, lunch.end)} {zone.key}"]
    return []


def _center_reasons(rules: DialRules, at: datetime) -> list[str]:
    zone, shift, code = rules.center_zone, rules.center_shift, rules.center_holidays
    day, wall = _wall(at, zone)
    hours = f"{_fmt_span(shift.start, shift.end)} {zone.key}"
    if not _is_working_day(day, shift.days, code):
        holiday = _holiday_name(code, day)
        if holiday is not None:
            return [f"center holiday: {holiday} ({code})"]
        return [f"center shift closed on {_DAY_NAMES[day.weekday()]} ({hours})"]
    if not _offset(shift.start) <= wall < _offset(shift.end):
        return [f"center shift closed ({hours})"]
    return []


def _allowed_by(rules: DialRules, at: datetime) -> str:
    """One line naming every window that allowed the call, for the audit trail."""
    zone = rules.client_zone
    day, wall = _wall(at, zone)
    window, shift, legal = rules.campaign_window, rules.center_shift, rules.legal
    campaign = " ".join(filter(None, ("campaign", rules.campaign_name, _fmt_span(window.start, window.end))))
    if window.follows_calendar and day.weekday() not in window.days:
        # The production calendar opened this day, not a weekday name: say whose.
        campaign += f" ({_day_kind(day, _window_code(rules)[0])} by the {_calendar_text(rules)})"
    parts = [
        _client_part(rules, day, wall),
        campaign,
        f"center {_fmt_span(shift.start, shift.end)} {rules.center_zone.key}",
        f"legal {_fmt_span(legal.start, legal.end)}",
    ]
    center_day = _local_date(at, rules.center_zone)
    if rules.center_holidays and center_day in _holiday_year(rules.center_holidays, center_day.year).workdays:
        parts[2] += f" (working day by {rules.center_holidays} calendar)"
    return " ∩ ".join(parts)


def _client_part(rules: DialRules, day: date, wall: timedelta) -> str:
    zone = rules.client_zone.key
    schedule = rules.schedule
    if schedule is None:
        return f"client any time {zone}"
    name = rules.schedule_name or "schedule"
    start, end = schedule.start, schedule.end
    if schedule.lunch is not None:
        # Name the half of the day we are in: that is the span that binds.
        if wall < _offset(schedule.lunch.start):
            end = schedule.lunch.start
        else:
            start = schedule.lunch.end
    text = f"client {name} {_fmt_span(start, end)} {zone}"
    code = schedule.holidays
    if code and day.weekday() not in schedule.days:
        text += f" (working day by {code} calendar)"
    return text
