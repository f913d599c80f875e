"""Property (issue 13): client-first dialing keeps the guarantees of every other mode: never
outside the client's window, never a do-not-call client, whatever the clients and the moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dialer.config.models import DialerConfig
from dialer.domain import Stage
from dialer.pacing.modes import DialMode
from tests.support.client_first_provider import ClientFirstProvider
from tests.support.window_property import ZONES, dials_only_inside_windows


def client_first_everywhere(config: DialerConfig, mode: DialMode) -> DialerConfig:
    """Every campaign with agents dials client first (presence off: the worker's own agents)."""
    campaigns = [
        c.model_copy(update={"dial_mode": mode, "allow_abandon": True, "information_message": "x", "lines": 12})
        if c.agents
        else c
        for c in config.campaigns
    ]
    return config.model_copy(update={"campaigns": campaigns})


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    # Any day of two years, in the hours when most of the clients' windows are open (some
    # zones are at night then): most examples dial, some find every window closed.
    instant=st.builds(
        lambda day, minute: datetime(2026, 1, 12, 6, 30, tzinfo=UTC) + timedelta(days=day, minutes=minute),
        st.integers(0, 700),
        st.integers(0, 8 * 60),
    ),
    zones=st.lists(st.sampled_from(ZONES), min_size=1, max_size=8),
    dnc=st.lists(st.booleans(), min_size=8, max_size=8),
    schedules=st.lists(st.sampled_from(["office", "shop", "home"]), min_size=8, max_size=8),
    stages=st.lists(st.sampled_from(list(Stage)[:3]), min_size=8, max_size=8),
    mode=st.sampled_from([DialMode.POWER, DialMode.PREDICTIVE]),
)
def test_client_first_never_dials_outside_window_or_dnc(
    config: DialerConfig,
    instant: datetime,
    zones: list[str],
    dnc: list[bool],
    schedules: list[str],
    stages: list[Stage],
    mode: DialMode,
) -> None:
    config = client_first_everywhere(config, mode)
    requests = dials_only_inside_windows(config, instant, (zones, dnc, schedules, stages), ClientFirstProvider)
    event("dialed" if requests else "nothing open")
    for _, req in requests:
        if config.campaign(req.campaign).agents:
            assert req.connect_mode == "client_first" and req.agent_at_answer is not None
