"""Call results -> client state: retry policy, talk guideline, contact caps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.config.models import Campaign, Caps, Talk, Window
from dialer.domain import CallStatus, ClientState, Disposition, Guideline, Stage
from dialer.outcomes import CallFacts, apply_call, caps_reopen_at, classify_talk, next_local_day_start

S = CallStatus
MOSCOW = ZoneInfo("Europe/Moscow")
KAMCHATKA = ZoneInfo("Asia/Kamchatka")
CAMPAIGN = Campaign(
    name="test",
    stages=["prospect", "hot", "customer"],
    lines=2,
    window=Window(start="09:00", end="18:00"),
    provider="simulated",
    caller_id="+74950000000",
    connect_to="queue",
)
NOW = datetime(2024, 3, 12, 10, 0, tzinfo=UTC)  # 13:00 in Moscow
TODAY = NOW.astimezone(MOSCOW).date()
NEXT_DAY = next_local_day_start(NOW, MOSCOW)  # 2024-03-12T21:00Z


def call(
    state: ClientState,
    status: CallStatus,
    *,
    now: datetime = NOW,
    day: date = TODAY,
    **facts: object,
) -> tuple[ClientState, datetime | None, str]:
    t = apply_call(
        state,
        CallFacts(status, **facts),  # type: ignore[arg-type]
        CAMPAIGN,
        now,
        day,
        next_local_day_start=next_local_day_start(now, MOSCOW),
    )
    return t.state, t.due_at, t.event


def test_next_local_day_start() -> None:
    assert datetime(2024, 3, 12, 21, 0, tzinfo=UTC) == NEXT_DAY
    # Cuba springs forward at midnight: 2024-03-10 00:00 does not exist, the day starts at 01:00 CDT.
    havana = ZoneInfo("America/Havana")
    start = next_local_day_start(datetime(2024, 3, 9, 18, 0, tzinfo=UTC), havana)
    assert start == datetime(2024, 3, 10, 5, 0, tzinfo=UTC)
    assert start.astimezone(havana).date() == date(2024, 3, 10)


# ---------------------------------------------------------------- retry policy


@pytest.mark.parametrize("status", [S.BUSY, S.NO_ANSWER, S.FAILED, S.MACHINE])
def test_retry_after_the_status_delay(status: CallStatus) -> None:
    retry = getattr(CAMPAIGN.retry, status.value)
    state, due, event = call(ClientState(), status)
    assert (state.attempts_today, state.attempts_total, state.attempts_day) == (1, 1, TODAY)
    assert (due, event) == (NOW + retry.delay, "retry")


@pytest.mark.parametrize("status", [S.BUSY, S.NO_ANSWER, S.FAILED, S.MACHINE])
def test_per_day_cap_moves_to_the_next_local_day(status: CallStatus) -> None:
    retry = getattr(CAMPAIGN.retry, status.value)
    start = ClientState(attempts_today=retry.max_per_day - 1, attempts_total=retry.max_per_day - 1, attempts_day=TODAY)
    state, due, event = call(start, status)
    assert state.attempts_today == retry.max_per_day
    assert (due, event) == (NEXT_DAY, "retry_next_day")


def test_per_day_cap_still_keeps_the_delay() -> None:
    # 23:30 Moscow: midnight is 30 minutes away, the machine delay is 3 hours.
    late = datetime(2024, 3, 12, 20, 30, tzinfo=UTC)
    start = ClientState(attempts_today=1, attempts_total=1, attempts_day=TODAY)
    _, due, event = call(start, S.MACHINE, now=late)
    assert (due, event) == (late + CAMPAIGN.retry.machine.delay, "retry_next_day")


@pytest.mark.parametrize("status", [S.BUSY, S.NO_ANSWER, S.FAILED, S.MACHINE])
def test_total_cap_makes_the_client_unreachable(status: CallStatus) -> None:
    retry = getattr(CAMPAIGN.retry, status.value)
    start = ClientState(
        stage=Stage.HOT,
        hot_calls=1,
        attempts_today=0,
        attempts_total=retry.max_total - 1,
        attempts_day=TODAY - timedelta(days=1),
        callback_at=NOW - timedelta(days=5),
    )
    state, due, event = call(start, status)
    assert (due, event) == (NOW + CAMPAIGN.retry.unreachable_recontact, "unreachable")
    assert (state.attempts_today, state.attempts_total, state.callback_at) == (0, 0, None)
    assert (state.stage, state.hot_calls) == (Stage.HOT, 1)  # unreachable is not a decision
    t = apply_call(start, CallFacts(status), CAMPAIGN, NOW, TODAY, next_local_day_start=NEXT_DAY)
    assert f"unreachable after {retry.max_total} attempts" in t.reason


def test_day_count_restarts_on_a_new_local_day() -> None:
    yesterday = TODAY - timedelta(days=1)
    start = ClientState(attempts_today=3, attempts_total=3, attempts_day=yesterday)
    state, due, event = call(start, S.BUSY)
    assert (state.attempts_today, state.attempts_total, state.attempts_day) == (1, 4, TODAY)
    assert (due, event) == (NOW + CAMPAIGN.retry.busy.delay, "retry")


def test_missed_callback_stays_a_callback() -> None:
    agreed = NOW - timedelta(minutes=5)
    state, _, _ = call(ClientState(stage=Stage.HOT, callback_at=agreed), S.NO_ANSWER)
    assert state.callback_at == agreed


# ---------------------------------------------------------------- other statuses


def test_answered_with_disposition_runs_the_lifecycle() -> None:
    t = apply_call(
        ClientState(attempts_today=2, attempts_total=4, attempts_day=TODAY),
        CallFacts(S.ANSWERED, talk_s=200, disposition=Disposition.INTERESTED),
        CAMPAIGN,
        NOW,
        TODAY,
        next_local_day_start=NEXT_DAY,
    )
    assert (t.state.stage, t.state.attempts_total, t.event) == (Stage.HOT, 0, "became_hot")
    assert t.due_at == NOW + CAMPAIGN.lifecycle.hot_followup
    assert "within" in t.reason
    agreed = NOW + timedelta(days=1)
    state, due, event = call(
        ClientState(), S.ANSWERED, talk_s=60, disposition=Disposition.CALLBACK, disposition_at=agreed
    )
    assert (state.callback_at, due, event) == (agreed, agreed, "callback_set")


def test_answered_without_disposition_awaits_the_agent() -> None:
    start = ClientState(stage=Stage.HOT, hot_calls=1, attempts_today=2, attempts_total=2, attempts_day=TODAY)
    state, due, event = call(start, S.ANSWERED, talk_s=240)
    assert state.awaiting_disposition is True
    assert (state.attempts_today, state.attempts_total) == (0, 0)
    assert (state.stage, state.hot_calls) == (Stage.HOT, 1)
    assert (due, event) == (NOW + CAMPAIGN.lifecycle.awaiting_disposition, "awaiting_disposition")


def test_canceled_is_not_an_attempt() -> None:
    start = ClientState(attempts_today=1, attempts_total=1, attempts_day=TODAY)
    t = apply_call(start, CallFacts(S.CANCELED), CAMPAIGN, NOW, TODAY, next_local_day_start=NEXT_DAY)
    assert (t.state, t.due_at, t.event) == (start, NOW, "canceled")
    assert "canceled" in t.reason


@settings(max_examples=150, deadline=None)
@given(
    status=st.sampled_from([S.CANCELED, S.INTERRUPTED]),
    stage=st.sampled_from([Stage.PROSPECT, Stage.HOT, Stage.CUSTOMER]),
    today=st.integers(0, 30),
    total=st.integers(0, 60),
    day_offset=st.integers(-3, 0),
    callback=st.booleans(),
    minutes=st.integers(0, 60 * 24 * 60),
)
def test_calls_the_dialer_cut_are_not_attempts(
    status: CallStatus, stage: Stage, today: int, total: int, day_offset: int, callback: bool, minutes: int
) -> None:
    """Canceled or interrupted (the dialer's own crash): the client's counters, stage and
    callback stay exactly as they were, whatever they were, so no retry budget is spent
    and no client is parked as unreachable because of the dialer."""
    now = NOW + timedelta(minutes=minutes)
    day = now.astimezone(MOSCOW).date()
    start = ClientState(
        stage=stage, attempts_today=today, attempts_total=total, attempts_day=day + timedelta(days=day_offset),
        callback_at=NOW if callback else None,
    )  # fmt: skip
    t = apply_call(start, CallFacts(status), CAMPAIGN, now, day, next_local_day_start=next_local_day_start(now, MOSCOW))
    assert t.state == start
    assert t.event == status.value
    assert t.due_at is not None and now <= t.due_at <= now + CAMPAIGN.retry.failed.delay
    assert not status.attempt


def test_statuses_that_count_as_attempts() -> None:
    assert {s for s in CallStatus if s.attempt} == {
        S.ANSWERED,
        S.BUSY,
        S.NO_ANSWER,
        S.FAILED,
        S.MACHINE,
        S.ABANDONED,
        S.INVALID_NUMBER,
    }


def test_invalid_number_is_never_dialed_again() -> None:
    state, due, event = call(ClientState(), S.INVALID_NUMBER)
    assert (state.invalid_number, due, event) == (True, None, "invalid_number")


def test_inconsistent_facts_are_rejected() -> None:
    with pytest.raises(ValueError, match="answered"):
        call(ClientState(), S.BUSY, disposition=Disposition.NO_NEED)
    with pytest.raises(ValueError, match="dialing"):
        call(ClientState(), S.DIALING)


@settings(max_examples=150, deadline=None)
@given(
    status=st.sampled_from([s for s in CallStatus if s.final]),
    disposition=st.none() | st.sampled_from(list(Disposition)),
    talk_s=st.floats(0, 3600),
    at_offset=st.timedeltas(timedelta(0), timedelta(days=30)),
    attempts=st.integers(0, 20),
    callback=st.booleans(),
    complaint=st.booleans(),
)
def test_dnc_never_gets_a_due_date(
    status: CallStatus,
    disposition: Disposition | None,
    talk_s: float,
    at_offset: timedelta,
    attempts: int,
    callback: bool,
    complaint: bool,
) -> None:
    if status is not S.ANSWERED:
        disposition = None
    start = ClientState(
        stage=Stage.DNC,
        complaint=complaint,
        attempts_today=attempts % 4,
        attempts_total=attempts,
        attempts_day=TODAY,
        callback_at=NOW if callback else None,
    )
    facts = CallFacts(status, talk_s, disposition, NOW + at_offset)
    t = apply_call(start, facts, CAMPAIGN, NOW, TODAY, next_local_day_start=NEXT_DAY)
    assert t.due_at is None
    assert t.state.stage is Stage.DNC


# ---------------------------------------------------------------- talk guideline


@pytest.mark.parametrize(
    ("talk_s", "expected"),
    [
        (0, None),
        (0.5, Guideline.SHORT),
        (179.9, Guideline.SHORT),
        (180, Guideline.WITHIN),
        (300, Guideline.WITHIN),
        (300.1, Guideline.LONG),
    ],
)
def test_classify_talk_boundaries(talk_s: float, expected: Guideline | None) -> None:
    assert classify_talk(talk_s, Talk()) is expected


# ---------------------------------------------------------------- contact caps

FZ230 = Caps(per_day=1, per_week=2, per_month=8)  # Russia's 230-FZ limits on debt-collection calls


def msk(y: int, m: int, d: int, h: int = 12) -> datetime:
    """A Moscow wall-clock moment as the UTC instant the store keeps."""
    return datetime(y, m, d, h, tzinfo=MOSCOW).astimezone(UTC)


def test_caps_not_reached() -> None:
    assert caps_reopen_at([], FZ230, MOSCOW, msk(2024, 3, 12)) is None
    assert caps_reopen_at([msk(2024, 3, 11)], FZ230, MOSCOW, msk(2024, 3, 12)) is None
    assert caps_reopen_at([msk(2024, 3, 11)] * 5, Caps(), MOSCOW, msk(2024, 3, 12)) is None


def test_day_cap_reopens_at_local_midnight() -> None:
    # Tuesday 12 March; one contact this morning.
    assert caps_reopen_at([msk(2024, 3, 12, 9)], FZ230, MOSCOW, msk(2024, 3, 12, 15)) == msk(2024, 3, 13, 0)


def test_week_cap_reopens_on_monday() -> None:
    contacts = [msk(2024, 3, 11), msk(2024, 3, 13)]  # Monday and Wednesday
    assert caps_reopen_at(contacts, FZ230, MOSCOW, msk(2024, 3, 14)) == msk(2024, 3, 18, 0)
    # Sunday's contacts belong to the previous ISO week: Monday is free again.
    sunday = [msk(2024, 3, 16), msk(2024, 3, 17, 10)]
    assert caps_reopen_at(sunday, FZ230, MOSCOW, msk(2024, 3, 17, 20)) == msk(2024, 3, 18, 0)
    assert caps_reopen_at(sunday, FZ230, MOSCOW, msk(2024, 3, 18, 9)) is None


def test_day_and_week_caps_reached_together_wait_for_both() -> None:
    contacts = [msk(2024, 3, 11), msk(2024, 3, 12, 9)]
    assert caps_reopen_at(contacts, FZ230, MOSCOW, msk(2024, 3, 12, 15)) == msk(2024, 3, 18, 0)


@pytest.mark.parametrize(
    ("days", "now", "reopen"),
    [
        # Two contacts a week for four weeks fill January's 8; the week cap is not reached on the 31st.
        ([1, 3, 8, 10, 15, 17, 22, 24], (2024, 1, 31), (2024, 2, 1)),
        ([2, 4, 9, 11, 16, 18, 23, 25], (2024, 12, 31), (2025, 1, 1)),  # year end
        ([1, 2, 5, 6, 12, 13, 19, 20], (2024, 2, 29), (2024, 3, 1)),  # leap February
    ],
    ids=["january", "december", "leap-february"],
)
def test_month_cap_reopens_on_the_first(
    days: list[int], now: tuple[int, int, int], reopen: tuple[int, int, int]
) -> None:
    y, m, _ = now
    contacts = [msk(y, m, d) for d in days]
    assert caps_reopen_at(contacts, FZ230, MOSCOW, msk(*now)) == msk(*reopen, 0)


def test_caps_count_in_the_clients_zone_kamchatka() -> None:
    # Kamchatka is UTC+12: 13:00Z on the 10th is already 01:00 on the 11th there.
    early = datetime(2024, 3, 10, 13, 0, tzinfo=UTC)
    now = datetime(2024, 3, 11, 2, 0, tzinfo=UTC)  # 14:00 on the 11th, local
    assert caps_reopen_at([early], Caps(per_day=1), KAMCHATKA, now) == datetime(2024, 3, 11, 12, 0, tzinfo=UTC)
    # 11:00Z on the 10th is 23:00 on the 10th local: yesterday, so today is free.
    assert caps_reopen_at([datetime(2024, 3, 10, 11, 0, tzinfo=UTC)], Caps(per_day=1), KAMCHATKA, now) is None


def test_week_cap_reopen_is_dst_safe() -> None:
    berlin = ZoneInfo("Europe/Berlin")  # clocks go forward on Sunday 31 March 2024
    contacts = [datetime(2024, 3, 25, 10, tzinfo=UTC), datetime(2024, 3, 27, 10, tzinfo=UTC)]
    reopen = caps_reopen_at(contacts, Caps(per_week=2), berlin, datetime(2024, 3, 31, 12, tzinfo=UTC))
    assert reopen == datetime(2024, 3, 31, 22, 0, tzinfo=UTC)  # Monday 00:00 CEST (UTC+2)


def test_lifecycle_periods_come_from_the_campaign_working_the_new_stage() -> None:
    from dialer.config.models import Lifecycle

    care = Lifecycle(checkin=timedelta(days=30), awaiting_disposition=timedelta(hours=7))
    cold = CAMPAIGN.model_copy(update={"lifecycle": Lifecycle(checkin=timedelta(days=5))})
    periods = {Stage.CUSTOMER: care}
    hot = ClientState(stage=Stage.HOT, hot_calls=1)
    signed = apply_call(
        hot, CallFacts(CallStatus.ANSWERED, 200, Disposition.CONTRACT_SIGNED), cold, NOW, NOW.date(),
        next_local_day_start=NOW + timedelta(days=1), periods=periods,
    )  # fmt: skip
    assert signed.state.stage is Stage.CUSTOMER and signed.due_at == NOW + timedelta(days=30)
    # Answered without a disposition: the stage stays, so does the campaign working it.
    waiting = apply_call(
        ClientState(stage=Stage.CUSTOMER), CallFacts(CallStatus.ANSWERED, 200), cold, NOW, NOW.date(),
        next_local_day_start=NOW + timedelta(days=1), periods=periods,
    )  # fmt: skip
    assert waiting.due_at == NOW + timedelta(hours=7)
