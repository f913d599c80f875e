"""The working-hours calendar on concrete days: an Izhevsk center calling Russia.

Dates are chosen against Russia's production calendar as shipped by the `holidays`
package (0.109): 2025-11-01 is a working Saturday, 2026-01-01..09 are days off (the 9th
was moved from Saturday the 3rd), 2026-12-31 is a moved day off.
"""

from __future__ import annotations

import time as stopwatch
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest

from dialer.calendar import DialRules, Interval, next_open, open_intervals, rules_for, status
from dialer.config.loader import parse_config
from dialer.config.models import DialerConfig, Hours, Schedule, Window

CONFIG_YAML = """
center:
  name: Izhevsk
  timezone: Europe/Samara
  shift: {days: [mon-sat], start: "06:00", end: "22:00"}
  holidays: RU
legal_window: {start: "08:00", end: "21:00"}
schedules:
  office:
    days: [mon-fri]
    start: "09:00"
    end: "18:00"
    lunch: {start: "13:00", end: "14:00"}
    holidays: RU
default_schedule: office
campaigns:
  - name: cold
    stages: [prospect]
    lines: 1
    window: {days: [mon-fri], start: "09:00", end: "18:00"}
    provider: simulated
    caller_id: "+73412000001"
    connect_to: "queue:cold"
  - name: warm
    stages: [hot]
    lines: 1
    window: {days: [mon-sat], start: "09:00", end: "19:00"}
    provider: simulated
    caller_id: "+73412000002"
    connect_to: "queue:warm"
"""

CONFIG: DialerConfig = parse_config(CONFIG_YAML)
OFFICE = CONFIG.schedules["office"]
FIVE_MIN = timedelta(minutes=5)


def rules(
    zone: str, campaign: str = "cold", schedule: Schedule | None = OFFICE, min_remaining: timedelta | None = None
) -> DialRules:
    built = rules_for(CONFIG, CONFIG.campaign(campaign), zone, schedule, schedule_name="office" if schedule else None)
    return built if min_remaining is None else replace(built, min_remaining=min_remaining)


def local(zone: str, *args: int) -> datetime:
    """An instant given as wall-clock time in a zone, returned in UTC."""
    return datetime(*args, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def always_open_rules(zone: str, window: Window, *, center_zone: str = "Europe/Samara") -> DialRules:
    """Only the campaign window binds: no schedule, 24/7 center and legal window. Used to
    look at DST handling of one boundary at a time."""
    return DialRules(
        client_zone=ZoneInfo(zone),
        schedule=None,
        campaign_window=window,
        center_zone=ZoneInfo(center_zone),
        center_shift=Window(start=time(0), end=time.max),
        center_holidays=None,
        legal=Hours(start=time(0), end=time.max),
        min_remaining=timedelta(0),
    )


# ---------------------------------------------------------------- building rules


def test_rules_for_collects_the_four_constraints() -> None:
    r = rules("Asia/Omsk")
    assert r.client_zone == ZoneInfo("Asia/Omsk")
    assert r.center_zone == ZoneInfo("Europe/Samara")
    assert r.center_shift.days == frozenset(range(6))
    assert r.center_holidays == "RU"
    assert r.legal == Hours(start=time(8), end=time(21))
    assert r.campaign_window == CONFIG.campaign("cold").window
    assert r.min_remaining == FIVE_MIN
    assert (r.schedule_name, r.campaign_name) == ("office", "cold")


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="naive"):
        status(rules("Asia/Omsk"), datetime(2026, 3, 2, 10, 0))
    with pytest.raises(ValueError, match="naive"):
        next_open(rules("Asia/Omsk"), datetime(2026, 3, 2, 10, 0))


def test_results_are_utc_even_for_local_input() -> None:
    at = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Asia/Omsk"))
    s = status(rules("Asia/Omsk"), at)
    assert s.open and s.next_open == at and s.next_open.tzinfo is UTC
    assert s.closes_at is not None and s.closes_at.tzinfo is UTC


# ---------------------------------------------------------------- eleven time zones


def test_kaliningrad_client_opens_at_nine_local() -> None:
    zone = "Europe/Kaliningrad"  # UTC+2: 09:00 there is 11:00 in Izhevsk
    r = rules(zone)
    early = status(r, local(zone, 2026, 3, 2, 8, 30))  # Monday
    assert not early.open
    assert early.next_open == local(zone, 2026, 3, 2, 9, 0) == utc(2026, 3, 2, 7, 0)
    assert any("outside client hours 09:00-18:00 Europe/Kaliningrad" in r for r in early.reasons)
    morning = status(r, local(zone, 2026, 3, 2, 9, 0))
    assert morning.open
    assert morning.closes_at == local(zone, 2026, 3, 2, 13, 0)  # lunch
    assert morning.last_start == local(zone, 2026, 3, 2, 12, 55)
    assert morning.allowed_by == (
        "client office 09:00-13:00 Europe/Kaliningrad ∩ campaign cold 09:00-18:00"
        " ∩ center 06:00-22:00 Europe/Samara ∩ legal 08:00-21:00"
    )


def test_kamchatka_morning_is_the_centers_night() -> None:
    zone = "Asia/Kamchatka"  # UTC+12: 09:00 there is 01:00 in Izhevsk
    r = rules(zone)
    at = local(zone, 2026, 3, 2, 9, 0)  # Monday 09:00 Kamchatka = Sunday 21:00 UTC
    assert at == utc(2026, 3, 1, 21, 0)
    s = status(r, at)
    assert not s.open
    assert s.reasons == ("center shift closed (06:00-22:00 Europe/Samara)",)
    # The center opens at 06:00 Samara = 14:00 Kamchatka, right after the client's lunch.
    assert s.next_open == local("Europe/Samara", 2026, 3, 2, 6, 0) == local(zone, 2026, 3, 2, 14, 0)
    assert next_open(r, at) == (local(zone, 2026, 3, 2, 14, 0), local(zone, 2026, 3, 2, 17, 55))
    assert open_intervals(r, local(zone, 2026, 3, 2, 0, 0), local(zone, 2026, 3, 3, 0, 0)) == [
        Interval(local(zone, 2026, 3, 2, 14, 0), local(zone, 2026, 3, 2, 18, 0))
    ]


def test_kamchatka_friday_afternoon_is_the_centers_friday_morning() -> None:
    zone = "Asia/Kamchatka"
    r = rules(zone)
    s = status(r, local(zone, 2026, 3, 6, 15, 0))
    assert s.open and s.closes_at == local(zone, 2026, 3, 6, 18, 0)


# ---------------------------------------------------------------- lunch, 5-minute rule


def test_lunch_closes_the_window_and_says_so() -> None:
    zone = "Asia/Vladivostok"
    r = rules(zone)
    s = status(r, local(zone, 2026, 3, 3, 13, 30))
    assert not s.open
    assert s.reasons == ("client lunch 13:00-14:00 Asia/Vladivostok",)
    assert s.next_open == local(zone, 2026, 3, 3, 14, 0)
    intervals = open_intervals(r, local(zone, 2026, 3, 3, 0, 0), local(zone, 2026, 3, 4, 0, 0))
    # The morning starts at 12:00, not 09:00: that is 06:00 in Izhevsk, when the shift starts.
    assert intervals == [
        Interval(local(zone, 2026, 3, 3, 12, 0), local(zone, 2026, 3, 3, 13, 0)),
        Interval(local(zone, 2026, 3, 3, 14, 0), local(zone, 2026, 3, 3, 18, 0)),
    ]
    afternoon = status(r, local(zone, 2026, 3, 3, 14, 0))
    assert afternoon.allowed_by.startswith("client office 14:00-18:00 Asia/Vladivostok ∩")


def test_less_than_five_minutes_before_close_means_tomorrow() -> None:
    zone = "Asia/Omsk"
    r = rules(zone)
    last = status(r, local(zone, 2026, 3, 3, 17, 55))
    assert last.open and last.last_start == local(zone, 2026, 3, 3, 17, 55)
    s = status(r, local(zone, 2026, 3, 3, 17, 56))
    assert not s.open
    assert s.closes_at == local(zone, 2026, 3, 3, 18, 0)  # still inside the interval
    assert s.last_start is None
    assert s.reasons == ("less than 5 min left before the window closes at 18:00 Asia/Omsk",)
    assert s.next_open == local(zone, 2026, 3, 4, 9, 0)
    # The same rule before lunch: 12:57 is too late for a call, 14:00 is next.
    assert next_open(r, local(zone, 2026, 3, 3, 12, 57)) == (
        local(zone, 2026, 3, 3, 14, 0),
        local(zone, 2026, 3, 3, 17, 55),
    )


def test_min_remaining_zero_allows_the_last_second() -> None:
    zone = "Asia/Omsk"
    r = rules(zone, min_remaining=timedelta(0))
    at = local(zone, 2026, 3, 3, 17, 59, 59)
    s = status(r, at)
    assert s.open and s.closes_at == s.last_start == local(zone, 2026, 3, 3, 18, 0)
    assert not status(r, local(zone, 2026, 3, 3, 18, 0)).open


# ---------------------------------------------------------------- production calendar


def test_holidays_package_has_the_2026_new_year_break() -> None:
    # Guard the data the next test relies on: Jan 9 is a day off moved from Jan 3.
    ru = holidays.country_holidays("RU", years=2026, language="en_US")
    assert all(date(2026, 1, d) in ru for d in range(1, 10))
    assert "substituted" in ru[date(2026, 1, 9)]
    assert date(2026, 1, 12) not in ru


def test_new_year_break_jumps_to_january_12() -> None:
    zone = "Europe/Moscow"
    r = rules(zone)
    at = local(zone, 2025, 12, 30, 18, 30)  # Tuesday evening; the 31st is a moved day off
    start = local(zone, 2026, 1, 12, 9, 0)
    assert next_open(r, at) == (start, local(zone, 2026, 1, 12, 12, 55))
    for day in range(1, 10):
        s = status(r, local(zone, 2026, 1, day, 10, 0))
        assert not s.open and s.next_open == start
        assert any(reason.startswith("public holiday: ") and "(RU)" in reason for reason in s.reasons)
    new_year = status(r, local(zone, 2026, 1, 1, 10, 0))
    assert "public holiday: New Year Holidays (RU)" in new_year.reasons
    assert "center holiday: New Year Holidays (RU)" in new_year.reasons
    assert "client day off (sat)" in status(r, local(zone, 2026, 1, 10, 10, 0)).reasons


def test_working_saturday_opens_when_the_campaign_works_saturdays() -> None:
    zone = "Europe/Moscow"
    assert date(2025, 11, 1) in holidays.country_holidays("RU", years=2025).weekend_workdays
    at = local(zone, 2025, 11, 1, 10, 0)  # Saturday, a working day in Russia
    warm = status(rules(zone, "warm"), at)
    assert warm.open
    assert "(working day by RU calendar)" in warm.allowed_by
    cold = status(rules(zone, "cold"), at)  # the cold campaign only dials mon-fri
    assert not cold.open
    # A plain weekday list means what it says; the reason points at `workdays`.
    assert cold.reasons == (
        "outside campaign window: no calls on sat (client time); 2025-11-01 is a moved working day by RU: "
        "write workdays in the window's days to follow it",
    )
    # Monday Nov 3 is the moved day off and Nov 4 is Unity Day.
    assert cold.next_open == local(zone, 2025, 11, 5, 9, 0)
    monday = status(rules(zone, "cold"), local(zone, 2025, 11, 3, 10, 0))
    assert any("public holiday: Day off (substituted from 11/01/2025)" in r for r in monday.reasons)


def workdays_rules(
    zone: str, days: list[str], schedule: Schedule | None = OFFICE, center: str | None = "RU"
) -> DialRules:
    window = Window.model_validate({"days": days, "start": "09:00", "end": "18:00"})
    base = rules(zone, "cold", schedule)
    return replace(base, campaign_window=window, center_holidays=center)


def test_workdays_window_dials_the_working_saturday_2027_02_20() -> None:
    """Issue 9 item 5: with the schedule and the center on RU, a campaign window on
    the production calendar's working days dials the moved working Saturday, and not
    the Monday that became a day off in exchange."""
    zone = "Asia/Novosibirsk"
    assert date(2027, 2, 20) in holidays.country_holidays("RU", years=2027).weekend_workdays
    r = workdays_rules(zone, ["workdays"])
    saturday = status(r, local(zone, 2027, 2, 20, 10, 0))
    assert saturday.open
    assert "working day (moved working day) by the RU production calendar of the schedule office" in saturday.allowed_by
    # The Monday after is the day off moved from that Saturday, Tuesday is Defender Day.
    monday = status(r, local(zone, 2027, 2, 22, 10, 0))
    assert not monday.open and monday.next_open == local(zone, 2027, 2, 24, 9, 0)
    assert any(
        reason.startswith("outside campaign window days [workdays]: 2027-02-22 (mon) is a day off (Day off")
        and "RU production calendar of the schedule office" in reason
        for reason in monday.reasons
    ), monday.reasons
    # The old [mon-fri] window skips the Saturday and says how to follow the calendar.
    plain = status(workdays_rules(zone, ["mon-fri"]), local(zone, 2027, 2, 20, 10, 0))
    assert not plain.open and any("write workdays" in reason for reason in plain.reasons)


def test_workdays_read_the_center_calendar_when_the_schedule_has_none() -> None:
    zone = "Europe/Moscow"
    no_calendar = OFFICE.model_copy(update={"holidays": None, "days": frozenset(range(7))})
    r = replace(workdays_rules(zone, ["workdays"], no_calendar), schedule_name="anyday")
    assert status(r, local(zone, 2027, 2, 20, 10, 0)).open
    assert "RU production calendar of the center" in status(r, local(zone, 2027, 2, 20, 10, 0)).allowed_by
    off = status(r, local(zone, 2027, 2, 21, 10, 0))  # an ordinary Sunday
    assert not off.open
    assert any("2027-02-21 (sun) is a day off by the RU production calendar of the center" in x for x in off.reasons)
    # Neither calendar: Monday to Friday, and the reason says there is none.
    bare = status(replace(r, center_holidays=None), local(zone, 2027, 2, 20, 10, 0))
    assert not bare.open and any("no production calendar" in x for x in bare.reasons)
    assert status(replace(r, center_holidays=None), local(zone, 2027, 2, 22, 10, 0)).open


def test_dayoffs_window_and_union_with_weekdays() -> None:
    zone = "Europe/Moscow"
    # A client working every day but public holidays, a center open every day: only the
    # campaign window's days decide, on the schedule's RU calendar.
    anyday = OFFICE.model_copy(update={"days": frozenset(range(7))})
    every_day = Window(start=time(6), end=time(22))

    def with_days(days: list[str]) -> DialRules:
        return replace(workdays_rules(zone, days, anyday, center=None), center_shift=every_day)

    dayoffs = with_days(["dayoffs"])
    assert status(dayoffs, local(zone, 2027, 2, 21, 10, 0)).open  # Sunday
    assert not status(dayoffs, local(zone, 2027, 2, 20, 10, 0)).open  # working Saturday
    assert not status(dayoffs, local(zone, 2027, 2, 24, 10, 0)).open  # Wednesday
    both = with_days(["workdays", "sun"])
    assert both.campaign_window.days == frozenset({6}) and both.campaign_window.workdays
    assert status(both, local(zone, 2027, 2, 21, 10, 0)).open  # Sunday, by name
    assert status(both, local(zone, 2027, 2, 20, 10, 0)).open  # working Saturday
    assert not status(both, local(zone, 2027, 2, 22, 10, 0)).open  # moved day off


def test_day_rules_name_the_calendar_that_decided() -> None:
    from dialer.calendar import day_rules

    zone = "Asia/Novosibirsk"
    lines = day_rules(workdays_rules(zone, ["workdays"]), local(zone, 2027, 2, 20, 10, 0))
    assert lines[0] == "client 2027-02-20 (sat): schedule office works by RU production calendar"
    assert lines[1] == (
        "campaign window days [workdays]: open on 2027-02-20 (working day (moved working day) by the RU "
        "production calendar of the schedule office)"
    )
    assert lines[2].startswith("center 2027-02-20 (sat): works by RU production calendar")


def test_day_rules_name_a_closed_date_not_the_calendar() -> None:
    """A client's own closure on a working day of the calendar: `why` must not blame the
    production calendar (2025-11-05 is an ordinary working Wednesday in Russia)."""
    from dialer.calendar import day_rules

    zone = "Asia/Yekaterinburg"
    schedule = OFFICE.model_copy(update={"closed_dates": [date(2025, 11, 5)]})
    lines = day_rules(workdays_rules(zone, ["workdays"], schedule), local(zone, 2025, 11, 5, 10, 0))
    assert lines[0] == "client 2025-11-05 (wed): schedule office is off by its closed_dates"
    after = day_rules(workdays_rules(zone, ["workdays"], schedule), local(zone, 2025, 11, 6, 10, 0))
    assert after[0] == "client 2025-11-06 (thu): schedule office works by RU production calendar"


def test_a_plain_saturday_is_a_client_day_off() -> None:
    zone = "Europe/Moscow"
    s = status(rules(zone, "warm"), local(zone, 2025, 11, 8, 10, 0))
    assert s.reasons == ("client day off (sat)",)
    assert s.next_open == local(zone, 2025, 11, 10, 9, 0)


def test_closed_date_and_year_end_run_into_next_year() -> None:
    zone = "Asia/Yekaterinburg"
    schedule = OFFICE.model_copy(update={"closed_dates": [date(2026, 12, 30)]})
    r = rules(zone, schedule=schedule)
    at = local(zone, 2026, 12, 30, 10, 0)
    s = status(r, at)
    assert s.reasons == ("closed date 2026-12-30",)
    # Dec 31 is a moved day off, Jan 1-8 2027 the New Year break, Jan 9-10 a weekend.
    assert s.next_open == local(zone, 2027, 1, 11, 9, 0)
    assert next_open(rules(zone), at) == (at, local(zone, 2026, 12, 30, 12, 55))


def test_center_holiday_blocks_a_foreign_client() -> None:
    zone = "Europe/Berlin"
    r = rules(zone, schedule=None)
    s = status(r, local(zone, 2026, 1, 5, 10, 0))  # a Monday, working in Berlin
    assert s.reasons == ("center holiday: New Year Holidays (RU)",)
    assert s.next_open == local(zone, 2026, 1, 12, 9, 0)
    assert status(r, local(zone, 2026, 1, 12, 9, 0)).allowed_by.startswith("client any time Europe/Berlin ∩")


# ---------------------------------------------------------------- nothing ever open


def test_schedule_without_working_days_never_opens() -> None:
    schedule = Schedule(days=[], holidays="RU")
    r = rules("Europe/Moscow", schedule=schedule)
    at = utc(2025, 10, 20, 8, 0)  # before the working Saturday 2025-11-01
    assert next_open(r, at) is None
    s = status(r, at)
    assert not s.open and s.next_open is None and s.closes_at is None
    assert s.reasons[0] == "client day off (mon)"


def test_windows_that_never_meet_return_none_with_bounded_work() -> None:
    # 09:00-10:00 in Kamchatka is 01:00-02:00 in Izhevsk: the center is always closed.
    r = rules("Asia/Kamchatka", schedule=Schedule(start=time(9), end=time(10)))
    begun = stopwatch.perf_counter()
    assert next_open(r, utc(2026, 3, 2)) is None
    assert next_open(r, utc(2026, 3, 2), horizon=timedelta(days=30)) is None
    assert stopwatch.perf_counter() - begun < 0.5
    assert open_intervals(r, utc(2026, 3, 2), utc(2026, 4, 2)) == []


def test_horizon_bounds_the_search() -> None:
    zone = "Europe/Moscow"
    at = local(zone, 2025, 12, 31, 10, 0)
    assert next_open(rules(zone), at, horizon=timedelta(days=5)) is None
    assert status(rules(zone), at, horizon=timedelta(days=5)).next_open is None
    assert next_open(rules(zone), at, horizon=timedelta(days=15)) is not None


# ---------------------------------------------------------------- daylight saving time


def test_window_start_in_spring_gap_opens_at_the_later_instant() -> None:
    # Berlin 2025-03-30: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
    r = always_open_rules("Europe/Berlin", Window(start=time(2, 30), end=time(10)))
    got = next_open(r, utc(2025, 3, 29, 23, 0))
    assert got is not None
    # fold=0 reads 02:30 as CET (01:30 UTC = 03:30 CEST), fold=1 as CEST (00:30 UTC =
    # 01:30 CET, before the window). The later one is the only safe choice.
    assert got[0] == utc(2025, 3, 30, 1, 30)
    assert not status(r, utc(2025, 3, 30, 1, 0)).open  # 03:00 CEST: inside but kept closed
    assert status(r, utc(2025, 3, 30, 1, 0)).reasons[0].startswith("clock change")


def test_window_end_in_spring_gap_closes_at_the_earlier_instant() -> None:
    r = always_open_rules("Europe/Berlin", Window(start=time(0), end=time(2, 30)))
    assert open_intervals(r, utc(2025, 3, 29, 22, 0), utc(2025, 3, 30, 12, 0)) == [
        Interval(utc(2025, 3, 29, 23, 0), utc(2025, 3, 30, 0, 30))
    ]


def test_boundaries_in_autumn_overlap_are_conservative() -> None:
    # Berlin 2025-10-26: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    start_in_overlap = always_open_rules("Europe/Berlin", Window(start=time(2, 30), end=time(10)))
    got = next_open(start_in_overlap, utc(2025, 10, 25, 22, 0))
    assert got is not None and got[0] == utc(2025, 10, 26, 1, 30)  # the second 02:30 (CET)
    end_in_overlap = always_open_rules("Europe/Berlin", Window(start=time(0), end=time(2, 30)))
    assert open_intervals(end_in_overlap, utc(2025, 10, 25, 20, 0), utc(2025, 10, 26, 12, 0)) == [
        Interval(utc(2025, 10, 25, 22, 0), utc(2025, 10, 26, 0, 30))  # the first 02:30 (CEST)
    ]


def test_new_york_gap_and_normal_days_around_it() -> None:
    zone = "America/New_York"  # 2025-03-09: 02:00 EST jumps to 03:00 EDT
    r = always_open_rules(zone, Window(start=time(2, 30), end=time(4)))
    assert next_open(r, local(zone, 2025, 3, 8, 0, 0))[0] == local(zone, 2025, 3, 8, 2, 30)  # type: ignore[index]
    assert next_open(r, local(zone, 2025, 3, 8, 5, 0))[0] == utc(2025, 3, 9, 7, 30)  # type: ignore[index]
    assert next_open(r, local(zone, 2025, 3, 9, 5, 0))[0] == local(zone, 2025, 3, 10, 2, 30)  # type: ignore[index]


def test_dst_client_against_russian_center_keeps_the_local_nine() -> None:
    zone = "America/New_York"  # 09:00 EST = 18:00 Samara, 09:00 EDT = 17:00 Samara
    r = rules(zone, schedule=None)
    assert next_open(r, local(zone, 2025, 3, 7, 0, 0))[0] == local(zone, 2025, 3, 7, 9, 0)  # type: ignore[index]
    assert next_open(r, local(zone, 2025, 3, 10, 0, 0))[0] == local(zone, 2025, 3, 10, 9, 0)  # type: ignore[index]
    # The center closes at 22:00 Samara = 13:00 EST / 14:00 EDT.
    assert status(r, local(zone, 2025, 3, 7, 9, 0)).closes_at == local(zone, 2025, 3, 7, 13, 0)
    assert status(r, local(zone, 2025, 3, 10, 9, 0)).closes_at == local(zone, 2025, 3, 10, 14, 0)


# ---------------------------------------------------------------- intervals


def test_round_the_clock_windows_merge_across_midnight() -> None:
    r = always_open_rules("Europe/Berlin", Window(start=time(0), end=time.max))
    start, end = utc(2026, 3, 1, 5, 0), utc(2026, 3, 4, 5, 0)
    assert open_intervals(r, start, end) == [Interval(start, end)]
    s = status(r, start, horizon=timedelta(days=3))
    assert s.open and s.closes_at is not None and s.closes_at >= start + timedelta(days=3)


def test_open_intervals_are_clipped_and_empty_for_empty_ranges() -> None:
    zone = "Asia/Omsk"
    r = rules(zone)
    a, b = local(zone, 2026, 3, 3, 10, 0), local(zone, 2026, 3, 3, 15, 0)
    assert open_intervals(r, a, b) == [
        Interval(a, local(zone, 2026, 3, 3, 13, 0)),
        Interval(local(zone, 2026, 3, 3, 14, 0), b),
    ]
    assert open_intervals(r, b, a) == []
    week = open_intervals(r, local(zone, 2026, 3, 2, 0, 0), local(zone, 2026, 3, 9, 0, 0))
    assert len(week) == 10  # five days, two halves each


def test_status_reasons_name_every_closed_constraint() -> None:
    zone = "Asia/Omsk"
    s = status(rules(zone), local(zone, 2026, 3, 3, 7, 0))
    assert s.reasons == (
        "outside client hours 09:00-18:00 Asia/Omsk",
        "outside campaign window 09:00-18:00 (client time)",
        "legal window 08:00-21:00 (client time)",
        "center shift closed (06:00-22:00 Europe/Samara)",  # 07:00 Omsk is 05:00 Izhevsk
    )
    sunday = status(rules(zone), local(zone, 2026, 3, 15, 12, 0))  # Mar 8 is a holiday
    assert "client day off (sun)" in sunday.reasons
    assert any(r.startswith("center ") for r in sunday.reasons)  # Sunday 09:00 Samara is no shift


@pytest.mark.parametrize("zone", ["Europe/Kaliningrad", "Asia/Novosibirsk", "Asia/Kamchatka", "Europe/Samara"])
def test_slack_key_is_opening_plus_callable_time_left(zone: str) -> None:
    """What placement stores: key - opening = the callable time left in the client's
    day, never before the window's last start and never a day after the opening (the
    claim's bounded index range)."""
    from dialer.calendar import callable_left
    from dialer.domain import ClientState
    from dialer.scheduling import WINDOW_HORIZON, Scheduler

    scheduler = Scheduler(CONFIG)
    campaign = CONFIG.campaign("cold")
    at = utc(2026, 12, 1, 0, 0)
    for _ in range(48):
        found = scheduler.opening(campaign, zone, "office", at)
        assert found is not None
        opens, last_start, key = found
        assert last_start <= key <= opens + WINDOW_HORIZON
        assert key - opens == callable_left(scheduler.rules(campaign, zone, "office"), opens)
        placed = scheduler.place("x", zone, "office", ClientState(), None, None, at)
        assert (placed.next_dial_at, placed.window_closes_at, placed.slack_key) == (opens, last_start, key)
        at += timedelta(minutes=47)
