"""The day report's data: hours in center time, outcomes, talk bands, funnel, agents."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from dialer.config import DialerConfig
from dialer.domain import CallStatus, Disposition, Guideline
from dialer.reporting.data import Band, Outcome, UnknownCampaign, build_day_report, outcome_of
from dialer.reports import TOTAL, build_rows
from dialer.store.base import CallRecord

DAY = date(2026, 12, 1)
T0 = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)  # 09:00 in Izhevsk (Europe/Samara, UTC+4)


def call(
    n: int,
    status: CallStatus = CallStatus.ANSWERED,
    *,
    campaign: str = "cold",
    agent: str | None = "ivanova",
    client: str | None = None,
    at: datetime = T0,
    talk_s: float = 0.0,
    disposition: Disposition | None = None,
    guideline: Guideline | None = None,
) -> CallRecord:
    return CallRecord(
        call_id=f"k{n}", client_id=client or f"c{n}", campaign=campaign, agent=agent, phone="+79120000000",
        client_tz="Asia/Kamchatka", attempt=1, started_at=at, local_day=DAY, status=status, provider="simulated",
        provider_call_id=None, answered_at=None, ended_at=at, ring_s=5.0, talk_s=talk_s, guideline=guideline,
        disposition=disposition, disposition_at=None, note=None, error=None, allowed_by="test",
    )  # fmt: skip


def test_hours_are_the_centers_not_the_clients(config: DialerConfig) -> None:
    # 05:30 UTC is 09:30 at the center (UTC+4) and 17:30 for the Kamchatka client (UTC+12)
    report = build_day_report(config, DAY, [call(1, CallStatus.BUSY, at=T0 + timedelta(minutes=30))], [], {})
    by_hour = {h.hour: h for h in report.hours}
    assert by_hour[9].counts[Outcome.BUSY] == 1
    assert by_hour[17].total == 0
    # the shift (06:00-22:00) is always on the axis, even hours without calls
    assert [h.hour for h in report.hours] == list(range(6, 22))


def test_a_call_outside_the_shift_gets_its_own_hour(config: DialerConfig) -> None:
    late = call(1, CallStatus.NO_ANSWER, at=datetime(2026, 12, 1, 19, 10, tzinfo=UTC))  # 23:10 center
    report = build_day_report(config, DAY, [late], [], {})
    assert report.hours[-1].hour == 23 and report.hours[-1].counts[Outcome.NO_ANSWER] == 1


@pytest.mark.parametrize(
    ("status", "disposition", "outcome"),
    [
        (CallStatus.ANSWERED, Disposition.MEETING_SET, Outcome.SUCCESS),
        (CallStatus.ANSWERED, Disposition.CONTRACT_SIGNED, Outcome.SUCCESS),
        (CallStatus.ANSWERED, Disposition.CALLBACK, Outcome.PROGRESS),
        (CallStatus.ANSWERED, Disposition.DO_NOT_CALL, Outcome.REFUSED),
        (CallStatus.ANSWERED, Disposition.NO_NEED, Outcome.OTHER_TALK),
        (CallStatus.ANSWERED, None, Outcome.UNDISPOSED),
        (CallStatus.INVALID_NUMBER, None, Outcome.FAILED),
        (CallStatus.INTERRUPTED, None, Outcome.DIALER),
        (CallStatus.DIALING, None, Outcome.DIALER),
        (CallStatus.MACHINE, None, Outcome.MACHINE),
    ],
)
def test_outcome_of_a_call(status: CallStatus, disposition: Disposition | None, outcome: Outcome) -> None:
    assert outcome_of(call(1, status, disposition=disposition, talk_s=200)) is outcome


def test_every_disposition_and_status_has_an_outcome() -> None:
    for d in Disposition:
        outcome_of(call(1, disposition=d, talk_s=10))
    for s in CallStatus:
        outcome_of(call(1, s))


def test_talk_bands_follow_each_campaigns_guideline(config: DialerConfig) -> None:
    # cold: 3-5 min, no hard limit; warm: 3-5 min, hard limit 12 min
    calls = [
        call(1, talk_s=179.0),  # short
        call(2, talk_s=180.0),  # in band (the edges are in)
        call(3, talk_s=300.0),  # in band
        call(4, talk_s=301.0),  # long
        call(5, talk_s=900.0),  # long: cold has no hard limit
        call(6, campaign="warm", agent="volkova", talk_s=720.0),  # cut at warm's 12 min
        call(7, campaign="warm", agent="volkova", talk_s=719.8),  # cut: the provider's clock granularity
        call(8, CallStatus.NO_ANSWER),  # not a conversation
    ]
    report = build_day_report(config, DAY, calls, [], {})
    assert report.talk.counts == {Band.SHORT: 1, Band.WITHIN: 2, Band.LONG: 2, Band.CUT: 2}
    assert report.talk.conversations == 7
    assert report.talk.median_s == 301.0
    assert report.talk.common_band == (180.0, 300.0)
    assert report.talk.common_hard_limit is None  # cold has none, warm 12 min
    # every conversation lands in exactly one 30 s bin; 900 s is past 15 min: the open bin
    assert sum(b.total for b in report.talk.bins) == 7
    assert report.talk.bins[-1].end_s is None and report.talk.bins[-1].counts[Band.LONG] == 1
    assert report.talk.bins[5].start_s == 150.0 and report.talk.bins[5].counts[Band.SHORT] == 1


def test_funnel_counts_clients_and_results(config: DialerConfig) -> None:
    calls = [
        call(1, CallStatus.BUSY, client="a"),
        call(2, client="a", talk_s=200, disposition=Disposition.MEETING_SET),  # same client reached later
        call(3, CallStatus.NO_ANSWER, client="b"),
        call(4, campaign="warm", agent="volkova", client="c", talk_s=250, disposition=Disposition.CONTRACT_SIGNED),
    ]
    report = build_day_report(config, DAY, calls, [], {"cold": (5, 1), "warm": (2, 0)})
    assert [(s.key, s.value) for s in report.funnel] == [
        ("planned", 7), ("dialed", 3), ("reached", 2), ("meetings", 1), ("contracts", 1),
    ]  # fmt: skip


def test_agents_and_campaigns_are_the_dialer_report_rows(config: DialerConfig) -> None:
    calls = [
        call(1, talk_s=200, disposition=Disposition.REFUSED),
        call(2, talk_s=100),
        call(3, CallStatus.BUSY),
        call(4, agent="petrov", talk_s=400, disposition=Disposition.CALLBACK),
    ]
    report = build_day_report(config, DAY, calls, [], {"cold": (9, 0)})
    assert report.row_list() == build_rows(DAY, calls, [], {"cold": (9, 0)})
    ivanova = next(a for a in report.agents if a.agent == "ivanova")
    assert (ivanova.row.dialed, ivanova.conversations, ivanova.talk_total_s) == (3, 2, 300.0)
    assert ivanova.bands[Band.WITHIN] == 1 and ivanova.bands[Band.SHORT] == 1
    assert ivanova.within_share == 0.5
    assert ivanova.dispositions == {Disposition.REFUSED: 1} and ivanova.undisposed == 1
    assert [r.agent for r in report.campaign_rows] == [TOTAL]


def test_the_campaign_filter(config: DialerConfig) -> None:
    calls = [call(1, talk_s=200), call(2, campaign="warm", agent="volkova", talk_s=200)]
    report = build_day_report(config, DAY, calls, [], {"cold": (4, 0), "warm": (3, 0)}, campaign="warm")
    assert [c.call_id for c in report.calls] == ["k2"]
    assert [r.campaign for r in report.campaign_rows] == ["warm"]
    assert report.funnel[0].value == 3
    assert report.campaigns == ["cold", "warm", "care"]
    with pytest.raises(UnknownCampaign, match="no campaign named 'nope'"):
        build_day_report(config, DAY, calls, [], {}, campaign="nope")


def test_a_campaign_gone_from_the_config_keeps_its_stored_band(config: DialerConfig) -> None:
    gone = call(1, campaign="old", talk_s=500, guideline=Guideline.LONG)
    report = build_day_report(config, DAY, [gone], [], {})
    assert report.talk.counts[Band.LONG] == 1 and report.talk.guides == {}


def test_an_empty_day(config: DialerConfig) -> None:
    report = build_day_report(config, DAY, [], [], {})
    assert report.total_calls == 0 and report.talk.conversations == 0 and report.talk.median_s is None
    assert report.agents == [] and all(s.value == 0 for s in report.funnel)
