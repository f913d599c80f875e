"""Calls per second at Twilio, measured where the fake Twilio receives POST /Calls:
both the provider's `cps` and each campaign's `cps` hold at the moment of every create
request, retries after a 429 or after a 5xx (call surely absent) included."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml

from dialer.config.loader import parse_config
from dialer.config.models import DialerConfig
from dialer.dispatcher import Dispatcher
from dialer.domain import ClientRecord, Stage
from dialer.scheduling import Scheduler
from dialer.store.sqlite import SqliteStore
from providers.base import CPS_MARGIN, CallNotPlaced, DialRequest
from providers.twilio import TwilioProvider
from tests.support.fake_twilio import (
    FAST_SETTINGS,
    START,
    FakeTwilio,
    ScaledClock,
    Webhooks,
    app_for,
    form1,
    twilio_error,
)
from tests.support.paths import ROOT

CALLER = "+73412000001"
JITTER = 0.03  # seconds: where respx answers is a little after the request was sent


def config_two_campaigns(tmp_path: Path, provider_cps: float, cold_cps: float) -> DialerConfig:
    """The example config with `cold` (cps limited) and `warm` (no cps of its own) both on
    one Twilio provider."""
    data = yaml.safe_load((ROOT / "config" / "dialer.yaml").read_text(encoding="utf-8"))
    data["providers"]["twilio"] = {"type": "twilio", **FAST_SETTINGS, "cps": provider_cps}
    for campaign in data["campaigns"]:
        if campaign["name"] == "cold":
            campaign.update(provider="twilio", cps=cold_cps)
        elif campaign["name"] == "warm":
            campaign["provider"] = "twilio"
            campaign.pop("cps", None)
    data["storage"] = {"path": str(tmp_path / "dialer.db"), "reports_dir": str(tmp_path / "reports")}
    return parse_config(yaml.safe_dump(data, allow_unicode=True), "twilio-pacing.yaml")


def _call_id(form: dict[str, list[str]]) -> str:
    return parse_qs(urlsplit(form["StatusCallback"][0]).query)["call"][0]


class ScriptedCreates:
    """POST /Calls answers per call: each call's n-th create request gets script[n]
    (then "ok"); every request's arrival time and call id are kept."""

    def __init__(self, fake: FakeTwilio, script: list[Any]):
        self.fake = fake
        self.script = script
        self.tries: dict[str, int] = defaultdict(int)
        self.log: list[tuple[float, str]] = []
        fake.create_route.side_effect = self._create

    def _create(self, request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode(), keep_blank_values=True)
        call_id = _call_id(form)
        n = self.tries[call_id]
        self.tries[call_id] += 1
        effect = self.script[n] if n < len(self.script) else "ok"
        # FakeTwilio._create takes its effect from create_effects and stamps create_times.
        self.fake.create_effects = [effect]
        response = self.fake._create(request)
        self.log.append((self.fake.create_times[-1], call_id))
        return response


def min_gap(times: list[float]) -> float:
    times = sorted(times)
    return min((b - a for a, b in zip(times, times[1:])), default=float("inf"))


async def test_campaign_and_provider_cps_hold_per_create_request(
    twilio_env: None, fake: FakeTwilio, clock: ScaledClock, tmp_path: Path
) -> None:
    provider_cps, cold_cps = 2.0, 1.0
    config = config_two_campaigns(tmp_path, provider_cps, cold_cps)
    store = SqliteStore(tmp_path / "dialer.db")
    await store.open()
    await store.migrate()
    now = clock.now()
    await store.upsert_clients(
        [ClientRecord(id=f"p{i}", name=f"P {i}", phone=f"+7912000000{i}", timezone="Europe/Samara", country="RU")
         for i in (1, 2)]
        + [ClientRecord(id="h1", name="H 1", phone="+79120000009", timezone="Europe/Samara", country="RU",
                        stage=Stage.HOT)]
    )  # fmt: skip
    pending = await store.clients_to_schedule(now, 100)
    await store.set_schedules([Scheduler(config).place_client(c, now) for c in pending])
    # Every call is refused once with 429, then gets a 503 for a call that was not
    # created (the lookup finds nothing, so the retry is safe), then goes through.
    creates = ScriptedCreates(fake, [twilio_error(429, 20429, "Too Many Requests"),
                                     twilio_error(503, 20503, "Service Unavailable")])  # fmt: skip
    provider = TwilioProvider("twilio", config.providers["twilio"].settings, clock)
    await provider.start()
    dispatcher = Dispatcher(store, {"twilio": provider, "simulated": object()}, config, clock, owner="w1")  # type: ignore[dict-item]
    hooks = Webhooks(app_for(provider), clock)
    try:
        result = await dispatcher.step()
        assert result.started == 3
        calls = await fake.wait_created(3, timeout=20)
        for call in calls:  # the agent was busy: each call ends (the pacing is what is measured)
            await hooks.status(form1(call)["StatusCallback"], call.sid, "busy", 3)  # type: ignore[arg-type]
        await asyncio.wait_for(dispatcher.wait_idle(), 10)
    finally:
        await provider.close()
        await store.close()

    campaign_of = {}
    for row in await _calls(tmp_path):
        campaign_of[row[0]] = row[1]
    assert sorted(campaign_of.values()) == ["cold", "cold", "warm"]
    assert len(creates.log) == 9 and all(n == 3 for n in creates.tries.values())
    # Measured at the receiving end, in the provider's clock (the clock runs in real time here).
    every = [t * clock.speed for t, _ in creates.log]
    cold = [t * clock.speed for t, cid in creates.log if campaign_of[cid] == "cold"]
    assert min_gap(every) >= 1 / provider_cps - JITTER, creates.log
    assert min_gap(cold) >= 1 / cold_cps - JITTER, creates.log
    # ...and not by stalling: the margin is small (6 cold creates need 5 gaps of ~1.1 s).
    assert max(cold) - min(cold) < 5 * (1 + CPS_MARGIN) / cold_cps + 1.5


async def _calls(tmp_path: Path) -> list[tuple[str, str]]:
    store = SqliteStore(tmp_path / "dialer.db")
    await store.open()
    try:
        return [
            (c.call_id, c.campaign)
            for c in await store.calls_between(START - timedelta(days=1), START + timedelta(days=1))
        ]
    finally:
        await store.close()


async def test_provider_pacer_reserves_the_campaign_slot_per_request(
    twilio_env: None, fake: FakeTwilio, clock: ScaledClock
) -> None:
    """Without the dispatcher: a pacer that hands out 0.4 s campaign slots, creates
    retried after 429s; every create request takes its own slot, never earlier."""
    p = TwilioProvider("twilio", {**FAST_SETTINGS, "cps": 50}, clock)
    await p.start()
    slots: list[float] = []
    next_free = [clock.now()]

    async def pace(not_before: datetime) -> datetime:
        slot = max(next_free[0], not_before, clock.now())
        next_free[0] = slot + timedelta(seconds=0.4)
        slots.append(time.monotonic() + (slot - clock.now()).total_seconds())
        return slot

    creates = ScriptedCreates(fake, [twilio_error(429, 20429, "Too Many Requests")] * 2)
    try:

        def req(i: int) -> DialRequest:
            return DialRequest(
                call_id=f"call-{i}", number=f"+7912000000{i}", caller_id=CALLER, connect_to="sip:101@pbx.local",
                ring_timeout=timedelta(seconds=20), connect_mode="client_first", campaign="cold", pace=pace,
            )  # fmt: skip

        tasks = [asyncio.create_task(p.dial(req(i))) for i in (1, 2)]
        calls = await fake.wait_created(2, timeout=10)
        hooks = Webhooks(app_for(p), clock)
        for call in calls:
            await hooks.status(form1(call)["StatusCallback"], call.sid, "busy", 2)  # type: ignore[arg-type]
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
    finally:
        await p.close()
    assert len(creates.log) == 6 and len(slots) == 6  # one slot per request, retries included
    times = sorted(t for t, _ in creates.log)
    assert min_gap(times) >= 0.4 - JITTER, creates.log
    for sent, slot in zip(times, sorted(slots)):
        assert sent >= slot - 0.005  # never before its slot


async def test_a_stopping_worker_sends_no_create_after_the_slot(
    twilio_env: None, fake: FakeTwilio, clock: ScaledClock
) -> None:
    """A call waiting inside the provider for its campaign slot when the worker begins
    to stop (may_create says no) is not created: CallNotPlaced, nothing sent to Twilio."""
    p = TwilioProvider("twilio", {**FAST_SETTINGS, "cps": 50}, clock)
    await p.start()
    stopping = [False]

    async def pace(not_before: datetime) -> datetime:
        return max(not_before, clock.now()) + timedelta(seconds=0.5)  # the slot comes later

    request = DialRequest(
        call_id="call-stop", number="+79120000001", caller_id=CALLER, connect_to="sip:101@pbx.local",
        ring_timeout=timedelta(seconds=20), connect_mode="client_first", campaign="cold", pace=pace,
        may_create=lambda: not stopping[0],
    )  # fmt: skip
    try:
        task = asyncio.create_task(p.dial(request))
        await asyncio.sleep(0.1)
        stopping[0] = True  # SIGTERM while the call waits for its slot
        with pytest.raises(CallNotPlaced):
            await asyncio.wait_for(task, 5)
    finally:
        await p.close()
    assert fake.create_route.call_count == 0, "no create request after the stop"
