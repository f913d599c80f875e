"""Properties of the calendar against an independent brute-force reading of the config.

The oracle below (`exact_open`) knows nothing of dialer.calendar: it takes one instant,
reads the wall clock in each zone and checks every configured constraint directly,
using the `holidays` package itself. The calendar must agree with it, except that it
may be *more* careful on the night of a clock change: a boundary that falls in a
skipped or repeated hour is converted conservatively (documented in dialer.calendar),
so an instant the oracle finds open may be reported closed there, never the reverse.

Between two wall-clock boundaries nothing changes, and every boundary here falls on a
whole UTC minute (hours are whole minutes, the zones' offsets and DST moves too), so
the oracle is evaluated once per minute cell.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dialer.calendar import DialRules, callable_left, next_open, open_intervals, status
from dialer.config.models import Hours, Schedule, Window
from dialer.config.values import DAY_NAMES

CLIENT_ZONES = (
    "Europe/Kaliningrad",
    "Europe/Samara",
    "Asia/Kamchatka",
    "Asia/Vladivostok",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # DST moves by 30 minutes
    "America/Sao_Paulo",
)
CENTER_ZONES = ("Europe/Samara", "Europe/Moscow", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe")
MINUTE = timedelta(minutes=1)
FIRST, LAST = datetime(2024, 1, 1, tzinfo=UTC), datetime(2027, 12, 31, tzinfo=UTC)
FULL_SCAN = 1500  # minute cells checked one by one after `at`
SAMPLED = 400  # further cells sampled at a stride when the answer is farther away


# ---------------------------------------------------------------- the oracle


@cache
def country(code: str, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(code, years=year)


def working_day(day: date, days: frozenset[int], code: str | None) -> bool:
    """The production-calendar rule as the brief states it, plus the documented edge:
    with no working weekdays at all, a moved working Saturday does not count either."""
    if not days:
        return False
    if code is None:
        return day.weekday() in days
    cal = country(code, day.year)
    if day in cal.weekend_workdays:
        return True
    return day.weekday() in days and day not in cal


def window_day(day: date, rules: DialRules) -> bool:
    """The campaign window's days as the brief states them: a listed weekday, or with
    `workdays`/`dayoffs` the production calendar's working days / days off (the
    package's own is_working_day) of the schedule's country, else the center's; with
    neither, Monday to Friday work."""
    window = rules.campaign_window
    if day.weekday() in window.days:
        return True
    if not (window.workdays or window.dayoffs):
        return False
    schedule = rules.schedule
    code = (schedule.holidays if schedule is not None else None) or rules.center_holidays
    working = country(code, day.year).is_working_day(day) if code else day.weekday() < 5
    return (window.workdays and working) or (window.dayoffs and not working)


def in_hours(wall: time, start: time, end: time) -> bool:
    return start <= wall and (end == time.max or wall < end)  # time.max is "24:00"


def exact_open(rules: DialRules, t: datetime) -> bool:
    """Is every constraint satisfied at instant t, read straight from the config objects?"""
    client = t.astimezone(rules.client_zone)
    day, wall = client.date(), client.time().replace(tzinfo=None)
    schedule = rules.schedule
    if schedule is not None:
        if day in schedule.closed_dates or not working_day(day, schedule.days, schedule.holidays):
            return False
        if not in_hours(wall, schedule.start, schedule.end):
            return False
        if schedule.lunch is not None and in_hours(wall, schedule.lunch.start, schedule.lunch.end):
            return False
    window = rules.campaign_window
    if not window_day(day, rules) or not in_hours(wall, window.start, window.end):
        return False
    if not in_hours(wall, rules.legal.start, rules.legal.end):
        return False
    center = t.astimezone(rules.center_zone)
    shift = rules.center_shift
    if not working_day(center.date(), shift.days, rules.center_holidays):
        return False
    return in_hours(center.time().replace(tzinfo=None), shift.start, shift.end)


class Oracle:
    """exact_open per minute cell, memoised, with the min_remaining look-ahead."""

    def __init__(self, rules: DialRules) -> None:
        self.rules = rules
        self.cells: dict[datetime, bool] = {}

    def cell(self, t: datetime) -> bool:
        key = t.replace(second=0, microsecond=0)
        if key not in self.cells:
            self.cells[key] = exact_open(self.rules, key)
        return self.cells[key]

    def may_start(self, t: datetime) -> bool:
        """Open for the whole of [t, t + min_remaining): every cell it touches is open."""
        last = t + self.rules.min_remaining - timedelta(microseconds=1)
        c = t.replace(second=0, microsecond=0)
        while True:
            if not self.cell(c):
                return False
            c += MINUTE
            if c > last:
                return True


def near_clock_change(rules: DialRules, t: datetime) -> bool:
    """A DST change within a day of t in either zone: the only excuse for disagreeing."""
    span = timedelta(hours=26)
    return any(z.utcoffset(t - span) != z.utcoffset(t + span) for z in (rules.client_zone, rules.center_zone))


def candidate_starts(at: datetime, stop: datetime) -> list[datetime]:
    """`at` itself, then the minute boundaries after it up to `stop`: every minute for
    FULL_SCAN minutes, then a strided sample (bounded work per example)."""
    first = at.replace(second=0, microsecond=0) + MINUTE
    out = [at]
    full_end = min(stop, first + FULL_SCAN * MINUTE)
    t = first
    while t < full_end:
        out.append(t)
        t += MINUTE
    if stop > full_end:
        stride = max(MINUTE, (stop - full_end) / SAMPLED)
        stride = timedelta(minutes=max(1, round(stride / MINUTE)))
        t = full_end
        while t < stop:
            out.append(t)
            t += stride
    return out


# ---------------------------------------------------------------- strategies


def _clock_changes() -> list[datetime]:
    """Midnights (UTC) of the days on which one of the zones changes its offset."""
    out: list[datetime] = []
    for name in set(CLIENT_ZONES) | set(CENTER_ZONES):
        zone = ZoneInfo(name)
        t = FIRST
        while t < LAST:
            if zone.utcoffset(t) != zone.utcoffset(t + timedelta(days=1)):
                out.append(t)
            t += timedelta(days=1)
    return out


ANCHORS = sorted(
    set(_clock_changes())
    | {datetime(y, 12, 31, tzinfo=UTC) for y in range(2024, 2027)}  # year ends / New Year break
    | {datetime(2025, 10, 31, tzinfo=UTC), datetime(2024, 4, 26, tzinfo=UTC)}  # working Saturdays
    | {datetime(2027, 2, 19, tzinfo=UTC), datetime(2027, 2, 21, tzinfo=UTC)}  # 2027-02-20 works, 02-22 off
)


def as_time(minute: int) -> time:
    return time.max if minute >= 1440 else time(minute // 60, minute % 60)


DST_MINUTES = (0, 60, 120, 150, 180, 1440)  # 02:30 is skipped or repeated in many zones


@st.composite
def spans(draw: st.DrawFn, wide: bool = False) -> tuple[int, int]:
    """A [start, end) span in minutes: any span, a typical working day, or DST-hour edges."""
    kind = draw(st.sampled_from(("any", "day", "day", "dst")) if not wide else st.just("wide"))
    if kind == "wide":
        start = draw(st.sampled_from((0, 0, 60, 150, 300, 480)))
        return start, draw(st.sampled_from((1200, 1320, 1440, 1440)))
    if kind == "day":
        start = draw(st.integers(0, 12 * 60))
        return start, draw(st.integers(max(start + 1, 12 * 60), 1440))
    if kind == "dst":
        start = draw(st.sampled_from(DST_MINUTES[:-1]))
        return start, draw(st.sampled_from([m for m in DST_MINUTES if m > start] + [start + 90, 1080]))
    start = draw(st.integers(0, 1439))
    return start, draw(st.integers(start + 1, 1440))


def day_names(days: frozenset[int]) -> list[str]:
    return [DAY_NAMES[d] for d in sorted(days)]


# Mostly real working weeks (random day sets rarely meet across three constraints).
weekdays = st.sampled_from(
    (frozenset(range(5)), frozenset(range(6)), frozenset(range(7)), frozenset(range(7)))
) | st.frozensets(st.integers(0, 6))


@st.composite
def schedules(draw: st.DrawFn) -> Schedule | None:
    if draw(st.integers(0, 4)) == 0:
        return None
    start, end = draw(spans())
    lunch = None
    if end - start >= 2 and draw(st.booleans()):
        lunch_start = draw(st.integers(start, end - 1))
        lunch = Hours(start=as_time(lunch_start), end=as_time(draw(st.integers(lunch_start + 1, end))))
    # Closed dates near the instants the tests look at, or anywhere.
    near = st.builds(lambda a, d: (a + timedelta(days=d)).date(), st.sampled_from(ANCHORS), st.integers(-1, 2))
    closed = draw(st.lists(near | st.dates(date(2024, 1, 1), date(2027, 12, 31)), max_size=3))
    return Schedule(
        days=day_names(draw(weekdays)),
        start=as_time(start),
        end=as_time(end),
        lunch=lunch,
        holidays=draw(st.sampled_from((None, "RU", "RU"))),
        closed_dates=closed,
    )


def window(days: frozenset[int], span: tuple[int, int], words: tuple[str, ...] = ()) -> Window:
    return Window(days=[*day_names(days), *words], start=as_time(span[0]), end=as_time(span[1]))


# A campaign window's production-calendar words (item 5 of issue 9): mostly none.
day_words = st.sampled_from(((), (), ("workdays",), ("workdays",), ("dayoffs",), ("workdays", "dayoffs")))


@st.composite
def dial_rules(draw: st.DrawFn) -> DialRules:
    legal = draw(spans(wide=True))
    return DialRules(
        client_zone=ZoneInfo(draw(st.sampled_from(CLIENT_ZONES))),
        schedule=draw(schedules()),
        campaign_window=window(
            draw(weekdays | st.just(frozenset())), draw(spans(wide=True) | spans()), draw(day_words)
        ),
        center_zone=ZoneInfo(draw(st.sampled_from(CENTER_ZONES))),
        center_shift=window(draw(weekdays), draw(spans(wide=True) | spans())),
        center_holidays=draw(st.sampled_from((None, "RU"))),
        legal=Hours(start=as_time(legal[0]), end=as_time(legal[1])),
        min_remaining=timedelta(minutes=draw(st.sampled_from((0, 1, 5, 5, 15)))),
        schedule_name="s",
        campaign_name="c",
    )


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    """Anywhere in 2024-2027, or within two days of a clock change or a year end."""
    if draw(st.booleans()):
        base = draw(st.sampled_from(ANCHORS)) - timedelta(days=1)
        minute = draw(st.integers(0, 3 * 24 * 60))
    else:
        base = FIRST
        minute = draw(st.integers(0, int((LAST - FIRST) / MINUTE)))
    seconds = draw(st.sampled_from((0, 0, 0, 1, 30, 59)))
    return base + minute * MINUTE + timedelta(seconds=seconds)


COMMON = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- properties


def check_open_status(rules: DialRules, at: datetime) -> None:
    s = status(rules, at)
    assert s.open and s.next_open == at and s.reasons == () and s.allowed_by
    assert s.closes_at is not None and s.last_start == s.closes_at - rules.min_remaining >= at
    oracle = Oracle(rules)
    # The whole call fits: [at, at + min_remaining) is open, and so is the rest of the
    # interval up to closes_at (checked cell by cell, bounded).
    assert oracle.may_start(at)
    for offset in (timedelta(0), rules.min_remaining / 2, rules.min_remaining - timedelta(seconds=1)):
        assert exact_open(rules, at + max(offset, timedelta(0)))
    t = at
    while t < min(s.closes_at, at + FULL_SCAN * MINUTE):
        assert oracle.cell(t), f"{t} inside the reported interval is closed"
        t = t.replace(second=0, microsecond=0) + MINUTE


@COMMON
@given(dial_rules(), instants())
def test_open_means_every_wall_clock_agrees_for_the_whole_call(rules: DialRules, at: datetime) -> None:
    s = status(rules, at)
    event("open" if s.open else "closed")
    if s.open:
        check_open_status(rules, at)
        return
    assert s.reasons and s.last_start is None and s.allowed_by == ""
    assert s.next_open is None or s.next_open > at
    assert not exact_open(rules, at) or s.closes_at is not None or near_clock_change(rules, at)
    if s.next_open is not None:
        # Also look at the moment it opens: most random instants are closed.
        check_open_status(rules, s.next_open)


@COMMON
@given(dial_rules(), instants())
def test_next_open_is_the_earliest_start(rules: DialRules, at: datetime) -> None:
    found = next_open(rules, at)
    event("found" if found else "never")
    s = status(rules, at)
    assert s.next_open == (found[0] if found else None)
    oracle = Oracle(rules)
    if found is not None:
        start, last_start = found
        assert at <= start <= last_start
        there = status(rules, start)
        assert there.open and there.next_open == start and there.last_start == last_start
        stop = start
    else:
        stop = at + timedelta(days=60)
    for t in candidate_starts(at, stop):
        if t >= stop:
            break
        if oracle.may_start(t):
            # Only a clock change excuses the calendar for opening later than the oracle.
            assert near_clock_change(rules, t), f"open at {t}, but next_open said {found}"
            break


@COMMON
@given(dial_rules(), instants(), st.integers(1, 10 * 24 * 60))
def test_open_intervals_are_sorted_disjoint_and_inside(rules: DialRules, start: datetime, minutes: int) -> None:
    end = start + minutes * MINUTE
    intervals = open_intervals(rules, start, end)
    event(f"{min(len(intervals), 3)} intervals")
    for iv in intervals:
        assert start <= iv.start < iv.end <= end
        assert iv.start.tzinfo is UTC and iv.end.tzinfo is UTC
        assert exact_open(rules, iv.start)
        assert exact_open(rules, iv.end - timedelta(microseconds=1))
    for a, b in zip(intervals, intervals[1:], strict=False):
        assert a.end < b.start  # disjoint and merged (no two intervals touch)
    # An interval long enough for a call starts with an open status.
    for iv in intervals[:3]:
        if iv.start > start and iv.end - iv.start >= rules.min_remaining and iv.end < end:
            assert status(rules, iv.start).open


OFFICE = Schedule(
    days=["mon-fri"], start=time(9), end=time(18), lunch=Hours(start=time(13), end=time(14)), holidays="RU"
)


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(CLIENT_ZONES), instants())
def test_realistic_rules_agree_with_the_oracle_minute_by_minute(zone: str, at: datetime) -> None:
    rules = DialRules(
        client_zone=ZoneInfo(zone),
        schedule=OFFICE,
        campaign_window=Window(days=["mon-sat"], start=time(9), end=time(19)),
        center_zone=ZoneInfo("Europe/Samara"),
        center_shift=Window(days=["mon-sat"], start=time(6), end=time(22)),
        center_holidays="RU",
        legal=Hours(start=time(8), end=time(21)),
        min_remaining=timedelta(minutes=5),
    )
    oracle = Oracle(rules)
    # Over the next 4 hours every minute's status agrees with the oracle exactly
    # (no configured boundary of this rule set falls into a DST hour).
    t = at
    for _ in range(240):
        assert status(rules, t).open == oracle.may_start(t), t
        t += MINUTE


DST_ZONES = ("Europe/Berlin", "America/New_York", "Australia/Lord_Howe")
# Boundaries on, inside and next to the skipped / repeated hour of those zones.
DST_BOUNDARIES = (0, 60, 90, 119, 120, 121, 135, 150, 165, 179, 180, 181, 210, 240, 1440)


@settings(max_examples=120, deadline=None)
@given(
    st.sampled_from(DST_ZONES),
    st.sampled_from(DST_BOUNDARIES[:-1]),
    st.sampled_from(DST_BOUNDARIES[1:]),
    st.sampled_from(ANCHORS),
    st.sampled_from((0, 0, 1, 5)),
)
def test_clock_changes_never_let_a_call_start_outside_the_hours(
    zone: str, start: int, end: int, anchor: datetime, minutes: int
) -> None:
    """Only the campaign window binds, with boundaries in and around DST hours, on the
    days the clocks change: every minute of every reported interval must read as inside
    the hours on the local clock (the conservative conversion at work)."""
    if end <= start:
        end = 1440
    rules = DialRules(
        client_zone=ZoneInfo(zone),
        schedule=None,
        campaign_window=window(frozenset(range(7)), (start, end)),
        center_zone=ZoneInfo("Asia/Kamchatka"),
        center_shift=window(frozenset(range(7)), (0, 1440)),
        center_holidays=None,
        legal=Hours(start=time(0), end=time.max),
        min_remaining=timedelta(minutes=minutes),
    )
    oracle = Oracle(rules)
    intervals = open_intervals(rules, anchor - timedelta(days=1), anchor + timedelta(days=2))
    assert intervals, "a daily window of at least a minute shows up every day"
    assert all(a.end < b.start for a, b in zip(intervals, intervals[1:], strict=False))  # merged
    for iv in intervals:
        t = iv.start
        while t < iv.end:
            assert oracle.cell(t), f"{t} ({t.astimezone(rules.client_zone)}) is outside the hours"
            t += MINUTE


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(("Europe/Kaliningrad", "Europe/Moscow", "Asia/Novosibirsk", "Asia/Kamchatka")),
    st.dates(date(2024, 1, 1), date(2027, 12, 31)),
    st.sampled_from((("workdays",), ("dayoffs",), ("workdays", "sat"), ("mon-fri",))),
    st.booleans(),
)
def test_workdays_windows_follow_the_production_calendar_on_every_date(
    zone: str, day: date, words: tuple[str, ...], schedule_has_calendar: bool
) -> None:
    """A client reachable at any hour on any day, a center open round the clock: only
    the campaign window's days decide. At noon local the window is open exactly on the
    days the package's RU calendar (the schedule's, else the center's) says: a moved
    working Saturday with `workdays`, a holiday on a weekday with `dayoffs`."""
    anyday = Schedule(
        days=list(DAY_NAMES), start=time(0), end=time.max, holidays="RU" if schedule_has_calendar else None
    )
    rules = DialRules(
        client_zone=ZoneInfo(zone),
        schedule=anyday,
        campaign_window=Window(days=list(words), start=time(0), end=time.max),
        center_zone=ZoneInfo("Asia/Kamchatka"),
        center_shift=Window(start=time(0), end=time.max),
        center_holidays=None if schedule_has_calendar else "RU",
        legal=Hours(start=time(0), end=time.max),
        min_remaining=timedelta(minutes=5),
        schedule_name="anyday",
    )
    noon = datetime.combine(day, time(12), tzinfo=ZoneInfo(zone))
    ru = country("RU", day.year)
    working = ru.is_working_day(day)
    expected = {
        ("workdays",): working,
        ("dayoffs",): not working,
        ("workdays", "sat"): working or day.weekday() == 5,
        ("mon-fri",): day.weekday() < 5,
    }[words]
    # Whoever holds the RU calendar (schedule or center) is itself off on public
    # holidays, whatever the window says.
    if day in ru:
        expected = False
    s = status(rules, noon)
    event(f"{words} {'open' if expected else 'closed'}")
    assert s.open == expected, (day, words, s.reasons)
    if expected:
        assert s.allowed_by
    else:
        assert any("campaign window" in r or "holiday" in r for r in s.reasons), s.reasons


def test_every_moved_working_day_of_2024_2027_is_dialed_by_a_workdays_window() -> None:
    """Exhaustive over the years the tests look at: each weekend day the RU calendar
    made a working day opens an office client's workdays window at 10:00 local."""
    office = Schedule(days=["mon-fri"], start=time(9), end=time(18), holidays="RU")
    moved = sorted(d for y in range(2024, 2028) for d in country("RU", y).weekend_workdays if d.year == y)
    assert date(2027, 2, 20) in moved and len(moved) >= 4
    for zone in ("Europe/Kaliningrad", "Asia/Novosibirsk"):
        rules = DialRules(
            client_zone=ZoneInfo(zone),
            schedule=office,
            campaign_window=Window(days=["workdays"], start=time(9), end=time(18)),
            center_zone=ZoneInfo("Europe/Samara"),
            center_shift=Window(days=["mon-sat"], start=time(5), end=time(23)),
            center_holidays="RU",
            legal=Hours(start=time(8), end=time(21)),
            min_remaining=timedelta(minutes=5),
        )
        for day in moved:
            at = datetime.combine(day, time(10), tzinfo=ZoneInfo(zone))
            if at.astimezone(ZoneInfo("Europe/Samara")).weekday() == 6:
                continue  # the center's own Sunday (not a case here, but the shift would close)
            assert status(rules, at).open, (zone, day, status(rules, at).reasons)


# ---------------------------------------------------------------- callable time left (issue 9 item 6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dial_rules(), instants())
def test_callable_left_counts_the_starts_left_in_the_clients_day(rules: DialRules, at: datetime) -> None:
    """callable_left = the minutes of the rest of the client's local day at which a call
    may start, by the oracle (to the minute; a clock change excuses a difference)."""
    at = at.replace(second=0, microsecond=0)
    local = at.astimezone(rules.client_zone)
    following = local.date() + timedelta(days=1)
    midnight = datetime(following.year, following.month, following.day, tzinfo=rules.client_zone).astimezone(UTC)
    left = callable_left(rules, at)
    assert timedelta(0) <= left <= midnight - at
    oracle = Oracle(rules)
    t, starts = at, 0
    while t < midnight:
        starts += oracle.may_start(t)
        t += MINUTE
    event("none left" if starts == 0 else "some left")
    if not near_clock_change(rules, at):
        # Every boundary is a whole minute. The calendar measures each interval's starts
        # [start, last start] as a length; the oracle counts the whole minutes in it,
        # last start included: one more per interval at most, never fewer.
        extra = starts * MINUTE - left
        assert timedelta(0) <= extra <= MINUTE * len(open_intervals(rules, at, midnight)), (left, starts)


def test_callable_left_puts_novosibirsk_before_kaliningrad() -> None:
    """At one instant, an office client whose day is nearly over has less left than one
    whose afternoon is still ahead: the claim order that keeps the east from starving."""
    at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 15:00 Novosibirsk, 10:00 Kaliningrad

    def office(zone: str) -> DialRules:
        return DialRules(
            client_zone=ZoneInfo(zone),
            schedule=OFFICE,
            campaign_window=Window(days=["workdays"], start=time(9), end=time(18)),
            center_zone=ZoneInfo("Europe/Samara"),
            center_shift=Window(days=["mon-sat"], start=time(6), end=time(22)),
            center_holidays="RU",
            legal=Hours(start=time(8), end=time(21)),
            min_remaining=timedelta(minutes=5),
        )

    assert callable_left(office("Asia/Novosibirsk"), at) == timedelta(hours=2, minutes=55)
    # 10:00-12:55 and 14:00-17:55 Kaliningrad time.
    assert callable_left(office("Europe/Kaliningrad"), at) == timedelta(hours=6, minutes=50)
    # In lunch: the afternoon only; after the last start: nothing.
    assert callable_left(office("Asia/Novosibirsk"), at - timedelta(hours=2)) == timedelta(hours=3, minutes=55)
    assert callable_left(office("Asia/Novosibirsk"), at + timedelta(hours=3)) == timedelta(0)
