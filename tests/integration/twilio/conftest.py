"""Fixtures of the Twilio tests: credentials in the environment, a scaled clock, the fake
Twilio REST API (respx) and a started provider."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import respx

from providers.twilio import TwilioProvider
from tests.support.fake_twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SID_ENV,
    TOKEN_ENV,
    FakeTwilio,
    ScaledClock,
    make_provider,
)


@pytest.fixture
def twilio_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SID_ENV, ACCOUNT_SID)
    monkeypatch.setenv(TOKEN_ENV, AUTH_TOKEN)


@pytest.fixture
def clock() -> ScaledClock:
    return ScaledClock()


@pytest.fixture
def fake(clock: ScaledClock) -> Iterator[FakeTwilio]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        router.route(host="127.0.0.1").pass_through()  # the real HttpServer over loopback
        yield FakeTwilio(router, clock.now)


@pytest.fixture
async def provider(twilio_env: None, fake: FakeTwilio, clock: ScaledClock) -> AsyncIterator[TwilioProvider]:
    p = make_provider(clock)
    await p.start()
    yield p
    await p.close()
