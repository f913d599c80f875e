"""A worker killed between writing a call's row and storing Twilio's SID: the call is
found in Twilio's call list by number and time (a client-first call may already ring
the client) and recorded with its real outcome; never created -> `canceled`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from dialer.config.loader import parse_config
from dialer.config.models import DialerConfig
from dialer.dispatcher import LEASE, Dispatcher
from dialer.domain import CallStatus
from dialer.model import CallStart
from dialer.store.sqlite import SqliteStore
from providers.base import CallFinder, DialRequest, ProviderError
from providers.twilio import TwilioProvider
from tests.support.fake_twilio import FAST_SETTINGS, FakeTwilio, ScaledClock, seed
from tests.support.paths import ROOT


def client_first_config(tmp_path: Path) -> DialerConfig:
    data = yaml.safe_load((ROOT / "config" / "dialer.yaml").read_text(encoding="utf-8"))
    data["providers"]["twilio"] = {"type": "twilio", **FAST_SETTINGS}
    for campaign in data["campaigns"]:
        if campaign["name"] == "cold":
            campaign["provider"] = "twilio"
            campaign["connect_mode"] = "client_first"
    data["storage"] = {"path": str(tmp_path / "dialer.db"), "reports_dir": str(tmp_path / "reports")}
    return parse_config(yaml.safe_dump(data, allow_unicode=True), "twilio-orphans.yaml")


async def dead_call(store: SqliteStore, config: DialerConfig, clock: ScaledClock) -> CallStart:
    """Worker w1 claimed c1, wrote the call row, and died before the SID came back."""
    await seed(store, config, clock, 1)  # type: ignore[arg-type]
    now = clock.now()
    [claim] = await store.claim("cold", now, 1, "w1", now + LEASE)
    start = CallStart(
        call_id="lost-1", client_id="c1", campaign="cold", agent="ivanova", phone=claim.client.phone,
        client_tz=claim.client.timezone, attempt=0, started_at=now, local_day=now.date(), allowed_by="test",
        provider="twilio", lease_token=claim.lease_token,
    )  # fmt: skip
    await store.start_call(start)
    await store.heartbeat("w1", now + LEASE, now + timedelta(seconds=2))
    return start


@pytest.mark.parametrize("created", [True, False])
async def test_lost_sid_is_found_by_number(
    twilio_env: None, fake: FakeTwilio, clock: ScaledClock, store: SqliteStore, tmp_path: Path, created: bool
) -> None:
    config = client_first_config(tmp_path)
    start = await dead_call(store, config, clock)
    t = start.started_at
    # Calls to the same number long before (an earlier attempt) and from another caller id
    # are not this one.
    fake.add_call(to=start.phone, from_="+73412000001", status="busy", created=t - timedelta(hours=2),
                  started=t - timedelta(hours=2), ended=t - timedelta(hours=2))  # fmt: skip
    fake.add_call(to=start.phone, from_="+70000000000", status="completed", created=t, started=t, ended=t)
    if created:
        fake.add_call(to=start.phone, from_="+73412000001", status="busy", created=t + timedelta(seconds=1),
                      started=t + timedelta(seconds=1), ended=t + timedelta(seconds=6))  # fmt: skip
    provider = TwilioProvider("twilio", config.providers["twilio"].settings, clock)
    assert isinstance(provider, CallFinder)
    await provider.start()
    try:
        later = clock.now() + LEASE + timedelta(seconds=1)
        alive = Dispatcher(store, {"twilio": provider}, config, clock, owner="w2")
        assert await alive.reconcile_orphans(later) == 1
    finally:
        await provider.close()
    call = await store.get_call("lost-1")
    c = await store.get_client("c1")
    assert call is not None and c is not None and c.open_call_id is None
    if created:
        # Twilio's own final status: the client really was dialed (an attempt).
        assert call.status is CallStatus.BUSY and call.provider_call_id is not None
        assert call.provider_call_id.startswith("CA") and c.state.attempts_total == 1
    else:
        assert call.status is CallStatus.CANCELED and c.state.attempts_total == 0
        assert "provider saw" in (call.error or "") or "not dialed" in (call.error or "")


async def test_several_matching_calls_are_not_guessed(
    twilio_env: None, fake: FakeTwilio, clock: ScaledClock, tmp_path: Path
) -> None:
    config = client_first_config(tmp_path)
    provider = TwilioProvider("twilio", config.providers["twilio"].settings, clock)
    await provider.start()
    try:
        t = clock.now()
        for k in (1, 2):
            fake.add_call(to="+79120000001", from_="+73412000001", status="completed",
                          created=t + timedelta(seconds=k))  # fmt: skip
        request = DialRequest(call_id="x", number="+79120000001", caller_id="+73412000001", connect_to="sip:1@pbx",
                              ring_timeout=timedelta(seconds=30), connect_mode="client_first")  # fmt: skip
        with pytest.raises(ProviderError, match="2 calls"):
            await provider.find_call(request, t, t + timedelta(seconds=5))
        # Outside the dead worker's life: no call of its.
        assert await provider.find_call(request, t + timedelta(minutes=5), t + timedelta(minutes=6)) is None
        # Agent-first calls are looked up by the agent's leg.
        fake.add_call(to="sip:1@pbx", from_="+73412000001", status="completed", created=t + timedelta(seconds=1))
        agent_first = DialRequest(call_id="y", number="+79120000001", caller_id="+73412000001",
                                  connect_to="sip:1@pbx", ring_timeout=timedelta(seconds=30))  # fmt: skip
        found: Any = await provider.find_call(agent_first, t, t + timedelta(seconds=5))
        assert found is not None and found.startswith("CA") and ";" not in found
    finally:
        await provider.close()
