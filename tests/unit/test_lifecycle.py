"""The seed's lifecycle (shared/domain.md): one table of every transition, plus a story."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.config.models import Lifecycle
from dialer.domain import ClientState, Disposition, Stage
from dialer.lifecycle import Transition, apply_disposition, human_duration

D = Disposition
POLICY = Lifecycle()  # defaults: no_need 90d, refused 180d, hot_followup 3d, 2 hot calls, ...
NOW = datetime(2024, 3, 12, 10, 0, tzinfo=UTC)
A = timedelta(days=2, hours=3)  # the agreed moment `at`, as an offset from NOW
OLD_CALLBACK = NOW - timedelta(hours=1)


def days(n: float) -> timedelta:
    return timedelta(days=n)


def client(stage: Stage, hot_calls: int = 0, complaint: bool = False) -> ClientState:
    # Leftovers every conversation must clear: unanswered attempts, a pending
    # disposition and an old callback appointment.
    return ClientState(
        stage=stage,
        hot_calls=hot_calls,
        complaint=complaint,
        attempts_today=2,
        attempts_total=5,
        attempts_day=NOW.date(),
        awaiting_disposition=True,
        callback_at=OLD_CALLBACK,
    )


PROSPECT = client(Stage.PROSPECT)
HOT = client(Stage.HOT, hot_calls=1)  # after the cold call that showed interest
DECIDING = client(Stage.HOT, hot_calls=POLICY.hot_calls_before_decision)  # next call decides
CUSTOMER = client(Stage.CUSTOMER)
COMPLAINING = client(Stage.CUSTOMER, complaint=True)
DNC = client(Stage.DNC)


class Case(NamedTuple):
    id: str
    start: ClientState
    disposition: Disposition
    with_at: bool
    stage: Stage
    hot_calls: int
    complaint: bool
    due: timedelta | None  # offset from NOW; None = never
    event: str
    callback: bool = False  # callback_at becomes `at`
    invalid: bool = False


CASES = [
    # -- prospect: the cold call
    Case("prospect+no_need", PROSPECT, D.NO_NEED, False, Stage.PROSPECT, 0, False, days(90), "no_need"),
    Case("prospect+no_need@at", PROSPECT, D.NO_NEED, True, Stage.PROSPECT, 0, False, A, "no_need", callback=True),
    Case("prospect+interested", PROSPECT, D.INTERESTED, False, Stage.HOT, 1, False, days(3), "became_hot"),
    Case("prospect+interested@at", PROSPECT, D.INTERESTED, True, Stage.HOT, 1, False, A, "became_hot", callback=True),
    Case("prospect+callback", PROSPECT, D.CALLBACK, True, Stage.PROSPECT, 0, False, A, "callback_set", callback=True),
    Case("prospect+meeting_set", PROSPECT, D.MEETING_SET, True, Stage.HOT, 1, False, A + days(1), "meeting_set"),
    Case(
        "prospect+contract_signed",
        PROSPECT,
        D.CONTRACT_SIGNED,
        False,
        Stage.CUSTOMER,
        0,
        False,
        days(30),
        "contract_signed",
    ),
    Case("prospect+refused", PROSPECT, D.REFUSED, False, Stage.PROSPECT, 0, False, days(180), "refused"),
    Case("prospect+complaint", PROSPECT, D.COMPLAINT, False, Stage.PROSPECT, 0, True, days(1), "complaint_opened"),
    Case(
        "prospect+complaint_resolved",
        client(Stage.PROSPECT, complaint=True),
        D.COMPLAINT_RESOLVED,
        False,
        Stage.PROSPECT,
        0,
        False,
        days(30),
        "complaint_resolved",
    ),
    Case(
        "prospect+contract_terminated",
        PROSPECT,
        D.CONTRACT_TERMINATED,
        False,
        Stage.PROSPECT,
        0,
        False,
        days(180),
        "contract_terminated",
    ),
    Case("prospect+do_not_call", PROSPECT, D.DO_NOT_CALL, False, Stage.DNC, 0, False, None, "do_not_call"),
    Case(
        "prospect+wrong_number",
        PROSPECT,
        D.WRONG_NUMBER,
        False,
        Stage.PROSPECT,
        0,
        False,
        None,
        "wrong_number",
        invalid=True,
    ),
    # -- hot, before the deciding call (the seed's second call: should agree a time)
    Case("hot+no_need", HOT, D.NO_NEED, False, Stage.PROSPECT, 0, False, days(90), "interest_lost"),
    Case("hot+interested/no-time", HOT, D.INTERESTED, False, Stage.HOT, 2, False, days(3), "hot_followup"),
    Case("hot+interested@at", HOT, D.INTERESTED, True, Stage.HOT, 2, False, A, "hot_followup", callback=True),
    Case("hot+callback", HOT, D.CALLBACK, True, Stage.HOT, 2, False, A, "callback_set", callback=True),
    Case("hot+meeting_set", HOT, D.MEETING_SET, True, Stage.HOT, 2, False, A + days(1), "meeting_set"),
    Case("hot+contract_signed", HOT, D.CONTRACT_SIGNED, False, Stage.CUSTOMER, 0, False, days(30), "contract_signed"),
    Case("hot+refused", HOT, D.REFUSED, False, Stage.PROSPECT, 0, False, days(180), "refused"),
    Case("hot+complaint", HOT, D.COMPLAINT, False, Stage.HOT, 1, True, days(1), "complaint_opened"),
    Case(
        "hot+complaint_resolved",
        client(Stage.HOT, 1, complaint=True),
        D.COMPLAINT_RESOLVED,
        False,
        Stage.HOT,
        1,
        False,
        days(3),
        "complaint_resolved",
    ),
    Case(
        "hot+contract_terminated",
        HOT,
        D.CONTRACT_TERMINATED,
        False,
        Stage.PROSPECT,
        0,
        False,
        days(180),
        "contract_terminated",
    ),
    Case("hot+do_not_call", HOT, D.DO_NOT_CALL, False, Stage.DNC, 0, False, None, "do_not_call"),
    Case("hot+wrong_number", HOT, D.WRONG_NUMBER, False, Stage.HOT, 1, False, None, "wrong_number", invalid=True),
    # -- hot, the deciding call: a decision, or back to prospect
    Case(
        "deciding+contract_signed",
        DECIDING,
        D.CONTRACT_SIGNED,
        False,
        Stage.CUSTOMER,
        0,
        False,
        days(30),
        "contract_signed",
    ),
    Case("deciding+refused", DECIDING, D.REFUSED, False, Stage.PROSPECT, 0, False, days(180), "refused"),
    Case("deciding+no_need", DECIDING, D.NO_NEED, False, Stage.PROSPECT, 0, False, days(90), "interest_lost"),
    Case("deciding+interested", DECIDING, D.INTERESTED, False, Stage.PROSPECT, 0, False, days(90), "no_decision"),
    Case("deciding+interested@at", DECIDING, D.INTERESTED, True, Stage.PROSPECT, 0, False, days(90), "no_decision"),
    Case("deciding+callback", DECIDING, D.CALLBACK, True, Stage.PROSPECT, 0, False, days(90), "no_decision"),
    Case("deciding+meeting_set", DECIDING, D.MEETING_SET, True, Stage.HOT, 3, False, A + days(1), "meeting_set"),
    # -- customer: check-ins, offers, complaints
    Case("customer+no_need/checkin", CUSTOMER, D.NO_NEED, False, Stage.CUSTOMER, 0, False, days(30), "checkin_ok"),
    Case(
        "customer+interested/upsell",
        CUSTOMER,
        D.INTERESTED,
        False,
        Stage.CUSTOMER,
        0,
        False,
        days(3),
        "upsell_interest",
    ),
    Case(
        "customer+interested@at",
        CUSTOMER,
        D.INTERESTED,
        True,
        Stage.CUSTOMER,
        0,
        False,
        A,
        "upsell_interest",
        callback=True,
    ),
    Case("customer+callback", CUSTOMER, D.CALLBACK, True, Stage.CUSTOMER, 0, False, A, "callback_set", callback=True),
    Case("customer+meeting_set", CUSTOMER, D.MEETING_SET, True, Stage.CUSTOMER, 0, False, A + days(1), "meeting_set"),
    Case(
        "customer+contract_signed",
        CUSTOMER,
        D.CONTRACT_SIGNED,
        False,
        Stage.CUSTOMER,
        0,
        False,
        days(30),
        "contract_signed",
    ),
    Case("customer+refused/offer", CUSTOMER, D.REFUSED, False, Stage.CUSTOMER, 0, False, days(30), "offer_refused"),
    Case("customer+complaint", CUSTOMER, D.COMPLAINT, False, Stage.CUSTOMER, 0, True, days(1), "complaint_opened"),
    Case(
        "customer+complaint_resolved",
        COMPLAINING,
        D.COMPLAINT_RESOLVED,
        False,
        Stage.CUSTOMER,
        0,
        False,
        days(30),
        "complaint_resolved",
    ),
    Case(
        "customer+contract_terminated",
        COMPLAINING,
        D.CONTRACT_TERMINATED,
        False,
        Stage.PROSPECT,
        0,
        False,
        days(180),
        "contract_terminated",
    ),
    Case("customer+do_not_call", CUSTOMER, D.DO_NOT_CALL, False, Stage.DNC, 0, False, None, "do_not_call"),
    Case(
        "customer+wrong_number",
        CUSTOMER,
        D.WRONG_NUMBER,
        False,
        Stage.CUSTOMER,
        0,
        False,
        None,
        "wrong_number",
        invalid=True,
    ),
    # -- an open complaint is followed up at its own pace, not the 30-day check-in's
    Case("complaining+no_need", COMPLAINING, D.NO_NEED, False, Stage.CUSTOMER, 0, True, days(1), "checkin_ok"),
    Case("complaining+refused", COMPLAINING, D.REFUSED, False, Stage.CUSTOMER, 0, True, days(1), "offer_refused"),
    Case(
        "complaining+signed/clears",
        COMPLAINING,
        D.CONTRACT_SIGNED,
        False,
        Stage.CUSTOMER,
        0,
        False,
        days(30),
        "contract_signed",
    ),
    Case(
        "complaining+callback@at",
        COMPLAINING,
        D.CALLBACK,
        True,
        Stage.CUSTOMER,
        0,
        True,
        A,
        "callback_set",
        callback=True,
    ),
    # -- do-not-call is terminal: whatever is recorded later, never call again
    *(Case(f"dnc+{d}", DNC, d, d.needs_time, Stage.DNC, 0, False, None, "dnc_kept") for d in Disposition),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_transition_table(case: Case) -> None:
    at = NOW + A if case.with_at else None
    t = apply_disposition(case.start, case.disposition, POLICY, NOW, at)

    assert t.state.stage is case.stage
    assert t.state.hot_calls == case.hot_calls
    assert t.state.complaint is case.complaint
    assert t.state.invalid_number is case.invalid
    assert t.due_at == (None if case.due is None else NOW + case.due)
    assert t.event == case.event
    assert t.reason.startswith(f"{case.disposition}: ")
    # Every conversation resets the retry bookkeeping and the old appointment.
    assert (t.state.attempts_today, t.state.attempts_total, t.state.attempts_day) == (0, 0, None)
    assert t.state.awaiting_disposition is False
    assert t.state.callback_at == (at if case.callback else None)


def test_every_stage_and_disposition_is_in_the_table() -> None:
    covered = {(c.start.stage, c.disposition) for c in CASES}
    assert covered == {(s, d) for s in Stage for d in Disposition}


def test_reasons_are_readable() -> None:
    t = apply_disposition(PROSPECT, D.INTERESTED, POLICY, NOW)
    assert t.reason == "interested: prospect -> hot, follow up in 3 days"
    t = apply_disposition(HOT, D.INTERESTED, POLICY, NOW)
    assert "no time agreed" in t.reason
    t = apply_disposition(DECIDING, D.INTERESTED, POLICY, NOW)
    assert "no decision after 3 hot calls" in t.reason
    assert human_duration(timedelta(minutes=90)) == "1 h 30 min"


def test_seed_algorithm_story() -> None:
    """Cold call -> hot -> agreed time -> deciding call -> customer -> terminated -> cold again."""
    state = ClientState()
    now = NOW

    def step(d: Disposition, at: datetime | None = None) -> Transition:
        nonlocal state, now
        t = apply_disposition(state, d, POLICY, now, at)
        state = t.state
        assert t.due_at is not None
        now = t.due_at  # the next call happens when it is due
        return t

    t = step(D.INTERESTED)  # 1. cold call finds a need
    assert (state.stage, state.hot_calls, t.event) == (Stage.HOT, 1, "became_hot")
    assert t.due_at == NOW + POLICY.hot_followup

    agreed = now + timedelta(days=2, hours=4)
    t = step(D.INTERESTED, at=agreed)  # 2. second call ends with an agreed date/time
    assert (state.stage, state.hot_calls, state.callback_at) == (Stage.HOT, 2, agreed)
    assert t.due_at == agreed

    deciding_at = now
    t = step(D.CONTRACT_SIGNED)  # 3. the deciding call: yes
    assert (state.stage, state.hot_calls, state.callback_at, t.event) == (Stage.CUSTOMER, 0, None, "contract_signed")
    assert t.due_at == deciding_at + POLICY.checkin

    t = step(D.NO_NEED)  # check-in: all fine
    assert (state.stage, t.event) == (Stage.CUSTOMER, "checkin_ok")

    terminated_at = now
    t = step(D.CONTRACT_TERMINATED)  # 4. terminates: a prospect again, after the cooldown
    assert (state.stage, t.event) == (Stage.PROSPECT, "contract_terminated")
    assert t.due_at == terminated_at + POLICY.terminated_cooldown

    t = step(D.INTERESTED)  # ... and the algorithm starts over
    assert (state.stage, state.hot_calls) == (Stage.HOT, 1)


def test_deciding_call_without_decision_returns_to_prospect() -> None:
    """With the default of 2 hot calls, the third hot conversation must decide."""
    state = ClientState()
    for _ in range(POLICY.hot_calls_before_decision):
        state = apply_disposition(state, D.INTERESTED, POLICY, NOW).state
        assert state.stage is Stage.HOT
    t = apply_disposition(state, D.INTERESTED, POLICY, NOW)
    assert (t.state.stage, t.event, t.due_at) == (Stage.PROSPECT, "no_decision", NOW + POLICY.no_need_recontact)


@settings(max_examples=60, deadline=None)
@given(
    stage=st.sampled_from([Stage.PROSPECT, Stage.CUSTOMER]),
    hot_calls=st.integers(0, 1),
    offset=st.timedeltas(min_value=timedelta(minutes=-30), max_value=timedelta(days=400)),
)
def test_callback_is_never_before_the_agreed_moment(stage: Stage, hot_calls: int, offset: timedelta) -> None:
    at = NOW + offset
    for start in (ClientState(stage=stage), ClientState(stage=Stage.HOT, hot_calls=hot_calls)):
        t = apply_disposition(start, D.CALLBACK, POLICY, NOW, at)
        assert t.due_at is not None and t.due_at >= at
        assert t.state.callback_at == at


@pytest.mark.parametrize("disposition", [D.CALLBACK, D.MEETING_SET])
def test_agreed_moment_is_required(disposition: Disposition) -> None:
    with pytest.raises(ValueError, match="at"):
        apply_disposition(PROSPECT, disposition, POLICY, NOW)


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        apply_disposition(PROSPECT, D.NO_NEED, POLICY, NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="aware"):
        apply_disposition(PROSPECT, D.CALLBACK, POLICY, NOW, NOW.replace(tzinfo=None))


@settings(max_examples=80, deadline=None)
@given(
    start=st.sampled_from([PROSPECT, HOT, DECIDING, CUSTOMER, COMPLAINING]),
    later=st.lists(
        st.tuples(st.sampled_from(list(Disposition)), st.timedeltas(timedelta(0), timedelta(days=60))),
        max_size=12,
    ),
)
def test_do_not_call_is_terminal(start: ClientState, later: list[tuple[Disposition, timedelta]]) -> None:
    t = apply_disposition(start, D.DO_NOT_CALL, POLICY, NOW)
    assert (t.state.stage, t.due_at) == (Stage.DNC, None)
    for disposition, offset in later:
        t = apply_disposition(t.state, disposition, POLICY, NOW + offset, NOW + 2 * offset)
        assert (t.state.stage, t.due_at) == (Stage.DNC, None)


# ---------------------------------------------------------------- periods of the campaign working the new stage

# Three campaigns' lifecycles whose periods all differ, so a due moment tells whose it was.
COLD = Lifecycle(no_need_recontact=days(91), refused_recontact=days(181), hot_followup=days(4), checkin=days(5),
                 meeting_followup=days(1), complaint_followup=timedelta(hours=25), terminated_cooldown=days(182),
                 hot_calls_before_decision=3)  # fmt: skip
WARM = Lifecycle(no_need_recontact=days(92), refused_recontact=days(183), hot_followup=days(2), checkin=days(6),
                 meeting_followup=timedelta(hours=5), complaint_followup=timedelta(hours=26),
                 terminated_cooldown=days(184), hot_calls_before_decision=2)  # fmt: skip
CARE = Lifecycle(no_need_recontact=days(93), refused_recontact=days(185), hot_followup=days(7), checkin=days(30),
                 meeting_followup=timedelta(hours=6), complaint_followup=timedelta(hours=27),
                 terminated_cooldown=days(186), hot_calls_before_decision=4)  # fmt: skip
PERIODS = {Stage.PROSPECT: COLD, Stage.HOT: WARM, Stage.CUSTOMER: CARE}

states = st.builds(
    ClientState,
    stage=st.sampled_from(list(Stage)),
    complaint=st.booleans(),
    hot_calls=st.integers(0, 5),
    callback_at=st.none() | st.just(OLD_CALLBACK),
    awaiting_disposition=st.booleans(),
)


def test_customer_signed_in_cold_gets_the_customer_campaigns_checkin() -> None:
    t = apply_disposition(client(Stage.HOT, hot_calls=1), D.CONTRACT_SIGNED, COLD, NOW, periods=PERIODS)
    assert t.state.stage is Stage.CUSTOMER and t.due_at == NOW + CARE.checkin
    # A hot lead found by the cold campaign is followed up at the warm campaign's pace.
    t = apply_disposition(PROSPECT, D.INTERESTED, COLD, NOW, periods=PERIODS)
    assert t.state.stage is Stage.HOT and t.due_at == NOW + WARM.hot_followup
    # A terminated contract: cold again, after the cold campaign's cooldown.
    t = apply_disposition(CUSTOMER, D.CONTRACT_TERMINATED, CARE, NOW, periods=PERIODS)
    assert t.state.stage is Stage.PROSPECT and t.due_at == NOW + COLD.terminated_cooldown


@settings(max_examples=300)
@given(
    start=states,
    disposition=st.sampled_from(list(Disposition)),
    calling=st.sampled_from([COLD, WARM, CARE]),
    at=st.none() | st.timedeltas(min_value=timedelta(minutes=1), max_value=days(40)).map(lambda d: NOW + d),
)
def test_periods_are_those_of_the_campaign_working_the_new_stage(
    start: ClientState, disposition: Disposition, calling: Lifecycle, at: datetime | None
) -> None:
    """Property: with `periods`, the result is exactly what the new stage's campaign's
    lifecycle gives, except that the calling campaign decides the deciding-call rule."""
    if disposition.needs_time and at is None:
        at = NOW + days(1)
    got = apply_disposition(start, disposition, calling, NOW, at, periods=PERIODS)
    target = PERIODS.get(got.state.stage, calling)
    alone = target.model_copy(update={"hot_calls_before_decision": calling.hot_calls_before_decision})
    assert got == apply_disposition(start, disposition, alone, NOW, at)
    # And without `periods` it is the calling campaign's own lifecycle, as before.
    assert apply_disposition(start, disposition, calling, NOW, at, periods=None) == apply_disposition(
        start, disposition, calling, NOW, at
    )


@given(start=states, day=st.none() | st.dates())
def test_client_state_round_trips_through_data(start: ClientState, day: object) -> None:
    import json

    state = start.evolve(attempts_day=day, attempts_today=1, attempts_total=3)
    assert ClientState.from_data(json.loads(json.dumps(state.as_data()))) == state
