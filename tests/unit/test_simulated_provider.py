"""The simulated provider on any seed, stage and settings: an answered call always comes
back with a valid disposition (default weights included), never a crash."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.domain import CallStatus, Disposition
from providers.base import DialRequest
from providers.simulated import SimulatedProvider, SimulatedSettings
from tests.support.clocks import FixedClock

T0 = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


def test_default_dispositions_are_dispositions() -> None:
    s = SimulatedSettings()
    assert set(s.dispositions) == {"prospect", "hot", "customer"}
    for weights in s.dispositions.values():
        assert weights and all(isinstance(d, Disposition) for d in weights)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    stage=st.sampled_from(["prospect", "hot", "customer"]),
    explicit=st.booleans(),
    client=st.integers(1, 10_000),
)
def test_answered_calls_carry_a_disposition(seed: int, stage: str, explicit: bool, client: int) -> None:
    conf: dict[str, object] = {"seed": seed, "answer_rate": 1.0, "busy_rate": 0, "machine_rate": 0, "failed_rate": 0}
    if explicit:
        conf["dispositions"] = {stage: {"callback": 1, "no_need": 1}}
    provider = SimulatedProvider("sim", conf, FixedClock(T0))
    request = DialRequest(
        call_id=f"call{client}", number="+79120000001", caller_id="+74950000000", connect_to="agent",
        ring_timeout=timedelta(seconds=30), context={"client_id": f"c{client}", "attempt": "1", "stage": stage},
    )  # fmt: skip
    result = asyncio.run(provider.dial(request))
    assert result.status is CallStatus.ANSWERED
    assert result.disposition in {d.value for d in Disposition}
    if Disposition(result.disposition).needs_time:
        assert result.disposition_at is not None and result.disposition_at > result.dialed_at
