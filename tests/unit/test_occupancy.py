"""Occupancy and abandon rate from call records (dialer.reporting.occupancy), numbers by hand."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from dialer.domain import CallStatus
from dialer.model import CallRecord
from dialer.reporting.occupancy import LoggedIn, logged_in_from_changes, occupancy

T = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # since
UNTIL = T + timedelta(hours=1)


def at(minutes: float) -> datetime:
    return T + timedelta(minutes=minutes)


def call(
    n: int,
    status: CallStatus,
    *,
    start: float,
    answer: float | None = None,
    talk: float = 0,
    agent: str | None = "ann",
    campaign: str = "sales",
) -> CallRecord:
    answered = at(answer) if answer is not None else None
    return CallRecord(
        call_id=f"k{n}", client_id=f"c{n}", campaign=campaign, agent=agent, phone="+441000000000",
        client_tz="Europe/London", attempt=1, started_at=at(start), local_day=date(2026, 12, 1),
        status=status, provider="sim", provider_call_id=None, answered_at=answered,
        ended_at=(answered or at(start)) + timedelta(seconds=talk),
        ring_s=((answered - at(start)).total_seconds() if answered else 30), talk_s=talk,
        guideline=None, disposition=None, disposition_at=None, note=None, error=None, allowed_by="test",
    )  # fmt: skip


def test_one_agent_day_by_hand() -> None:
    calls = [
        call(1, CallStatus.ANSWERED, start=5, answer=5 + 20 / 60, talk=300),  # talk 09:05:20-09:10:20, wrap 60 s
        call(2, CallStatus.ABANDONED, start=19.5, answer=20, agent=None),
        call(3, CallStatus.NO_ANSWER, start=12),  # an agent-first ring: the agent waited through it
        call(4, CallStatus.ANSWERED, start=45, answer=45 + 10 / 60, talk=120),  # 09:45:10-09:47:10
        call(5, CallStatus.ANSWERED, start=59, answer=59.5, talk=60),  # talks past the end: 30 s inside
        call(6, CallStatus.ANSWERED, start=-3, answer=-2, talk=600),  # answered before the interval
        call(7, CallStatus.ABANDONED, start=61, answer=61.2, agent=None),  # after it
    ]
    # Logged in 09:00-09:30 and 09:40-10:30 (cut at 10:00): 50 minutes.
    logged = [LoggedIn("ann", at(0), at(30)), LoggedIn("ann", at(40), at(90)), LoggedIn("bob", at(0), at(60))]
    (sales,) = occupancy(calls, logged, T, UNTIL, {"sales": timedelta(seconds=60)}, {"sales": ["ann", "bob"]})
    ann, bob = sales.agents
    assert (ann.agent, ann.logged_in_s, ann.talk_s, ann.calls) == ("ann", 3000, 480, 3)
    # Wrap-ups of calls 1 and 4; call 5's starts after 10:00.
    assert ann.wrap_s == 120
    # Busy inside the logged-in time: 300+60, 120+60, 30 -> 570 s.
    assert ann.wait_s == 3000 - 570
    assert ann.talk_min_per_agent_hour == pytest.approx(8 / (50 / 60))  # 9.6
    assert (bob.logged_in_s, bob.talk_s, bob.wait_s, bob.calls, bob.talk_min_per_agent_hour) == (3600, 0, 3600, 0, 0)
    assert (sales.live_answers, sales.abandoned, sales.abandon_rate, sales.dials) == (4, 1, 0.25, 5)
    assert (sales.logged_in_s, sales.talk_s, sales.calls) == (6600, 480, 3)
    assert sales.talk_min_per_agent_hour == pytest.approx(8 / (6600 / 3600))


def test_an_agent_in_two_campaigns_waits_only_when_free_in_both() -> None:
    calls = [
        call(1, CallStatus.ANSWERED, start=9, answer=10, talk=600, agent="cat", campaign="sales"),
        call(2, CallStatus.ANSWERED, start=29, answer=30, talk=300, agent="cat", campaign="care"),
    ]
    wrap = {"sales": timedelta(seconds=30)}  # care: no wrap-up
    care, sales = occupancy(calls, [LoggedIn("cat", at(0), at(60))], T, UNTIL, wrap)
    assert (care.campaign, sales.campaign) == ("care", "sales")
    (c_care,), (c_sales,) = care.agents, sales.agents
    assert (c_sales.logged_in_s, c_sales.talk_s, c_sales.wrap_s) == (3600, 600, 30)
    assert (c_care.logged_in_s, c_care.talk_s, c_care.wrap_s) == (3600, 300, 0)
    assert c_sales.wait_s == c_care.wait_s == 3600 - 600 - 30 - 300


def test_overlapping_logins_and_a_talk_outside_them() -> None:
    # Two pages logged the same agent in over overlapping stretches: counted once. A talk
    # while logged out (presence lost) is talk time, but takes nothing from the wait.
    logged = [LoggedIn("ann", at(0), at(20)), LoggedIn("ann", at(10), at(30))]
    calls = [call(1, CallStatus.ANSWERED, start=39, answer=40, talk=60)]
    ((ann,),) = [c.agents for c in occupancy(calls, logged, T, UNTIL, {})]
    assert (ann.logged_in_s, ann.talk_s, ann.wrap_s, ann.wait_s) == (1800, 60, 0, 1800)


def test_no_live_answer_and_no_login_give_zero_rates() -> None:
    (c,) = occupancy([call(1, CallStatus.BUSY, start=1, agent=None)], [], T, UNTIL, {}, {"sales": ["ann"]})
    assert (c.abandon_rate, c.talk_min_per_agent_hour, c.dials, c.live_answers) == (0, 0, 1, 0)
    assert c.agents[0].logged_in_s == 0 and c.agents[0].talk_min_per_agent_hour == 0


def test_as_dict_is_json() -> None:
    calls = [call(1, CallStatus.ANSWERED, start=0, answer=1, talk=90), call(2, CallStatus.ABANDONED, start=2, answer=3)]
    (c,) = occupancy(calls, [LoggedIn("ann", at(0), at(60))], T, UNTIL, {})
    data = json.loads(json.dumps(c.as_dict()))
    assert data["abandon_rate"] == 0.5 and data["abandoned"] == 1 and data["live_answers"] == 2
    assert data["agents"][0]["talk_min_per_agent_hour"] == 1.5
    assert data["agents"][0]["wait_s"] == 3600 - 90


@dataclass(frozen=True)
class Change:
    agent: str
    at: datetime
    was_logged_in: bool
    logged_in: bool


def test_logged_in_from_changes_reads_the_state_before_the_first_change() -> None:
    changes = [
        Change("ann", at(90), True, False),  # out after the interval: in all along
        Change("bob", at(10), False, True),
        Change("bob", at(20), True, True),  # Ready -> Paused: still in
        Change("bob", at(30), True, False),
        Change("bob", at(50), False, True),
    ]
    now = {"ann": False, "bob": False, "cy": True, "dee": False}
    assert logged_in_from_changes(changes, now, T, UNTIL) == [
        LoggedIn("ann", T, UNTIL),
        LoggedIn("bob", at(10), at(30)),
        LoggedIn("bob", at(50), UNTIL),
        LoggedIn("cy", T, UNTIL),
    ]
