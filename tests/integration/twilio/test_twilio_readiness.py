"""Twilio not ready (credentials refused, API unreachable) is ProviderNotReady, so the
dispatcher records no attempt and claims nothing for the campaign until the account
check passes again; a rate limit or a refused number stays an ordinary provider error."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from dialer.dispatcher import Dispatcher
from dialer.domain import CallStatus
from dialer.store.sqlite import SqliteStore
from providers.base import ProviderError, ProviderNotReady
from providers.twilio import TwilioProvider
from tests.support.fake_twilio import (
    FakeTwilio,
    ScaledClock,
    Webhooks,
    app_for,
    form1,
    make_provider,
    request,
    seed,
    twilio_config,
    twilio_error,
)


async def test_check_with_refused_credentials_is_not_ready(provider: TwilioProvider, fake: FakeTwilio) -> None:
    fake.account_route.mock(return_value=twilio_error(401, 20003, "Authenticate"))
    with pytest.raises(ProviderNotReady, match="HTTP 401 code 20003"):
        await provider.check()
    fake.account_route.mock(side_effect=httpx.ConnectError("connection refused"))
    with pytest.raises(ProviderNotReady, match="unreachable"):
        await provider.check()


async def test_create_with_refused_credentials_is_not_ready(provider: TwilioProvider, fake: FakeTwilio) -> None:
    fake.create_effects = [twilio_error(401, 20003, "Authenticate")]
    with pytest.raises(ProviderNotReady, match="refused our credentials"):
        await provider.dial(request())
    assert fake.create_route.call_count == 1


async def test_unreachable_api_after_retries_is_not_ready(
    twilio_env: None, fake: FakeTwilio, clock: ScaledClock
) -> None:
    p = make_provider(clock, max_retries=2)
    await p.start()
    try:
        fake.create_effects = [httpx.ConnectError("connection refused")] * 3
        with pytest.raises(ProviderNotReady, match="unreachable"):
            await p.dial(request())
        # A rate limit is Twilio answering: an ordinary provider error, not "not ready".
        fake.create_effects = [twilio_error(429, 20429, "Too Many Requests")] * 3
        with pytest.raises(ProviderError) as info:
            await p.dial(request("call-2"))
        assert not isinstance(info.value, ProviderNotReady)
        # Unreachable, then rate limited: Twilio did answer, so not "not ready" either.
        fake.create_effects = [httpx.ConnectError("refused"), twilio_error(429, 20429, "Too Many"),
                               twilio_error(429, 20429, "Too Many")]  # fmt: skip
        with pytest.raises(ProviderError) as info:
            await p.dial(request("call-3"))
        assert not isinstance(info.value, ProviderNotReady)
    finally:
        await p.close()


async def test_refused_account_blocks_the_campaign(
    twilio_env: None, fake: FakeTwilio, clock: ScaledClock, store: SqliteStore, tmp_path: Path
) -> None:
    config = twilio_config(tmp_path)
    await seed(store, config, clock, 3)
    fake.account_route.mock(return_value=twilio_error(401, 20003, "Authenticate"))
    provider = TwilioProvider("twilio", config.providers["twilio"].settings, clock)
    await provider.start()
    dispatcher = Dispatcher(store, {"twilio": provider, "simulated": provider}, config, clock, owner="w1")
    try:
        for _ in range(3):
            await dispatcher.step()
            await asyncio.wait_for(dispatcher.wait_idle(), 5)
        assert not fake.create_route.called
        assert "HTTP 401 code 20003" in dispatcher.blocked["cold"]
        assert await store.client_calls("c1") == []
        # The account works again: the next check lets the campaign dial.
        fake.account_route.mock(return_value=httpx.Response(200, json={"sid": "AC", "status": "active"}))
        clock.start += timedelta(seconds=10)  # past the next check
        # The check runs in the background: the campaign dials from the first step that
        # sees it passed (this one or the next; the calls then stay up until their callbacks).
        for _ in range(5):
            await dispatcher.step()
            if len(fake.created) >= 3:
                break
            await asyncio.sleep(0.05)
        calls = await fake.wait_created(3)
        assert "cold" not in dispatcher.blocked
        [call] = await store.client_calls("c1")
        assert call.status is CallStatus.DIALING
        hooks = Webhooks(app_for(provider), clock)
        for created in calls:  # the agents were busy: the calls end
            await hooks.status(form1(created)["StatusCallback"], created.sid, "busy", 3)  # type: ignore[arg-type]
        await asyncio.wait_for(dispatcher.wait_idle(), 5)
    finally:
        await provider.close()
