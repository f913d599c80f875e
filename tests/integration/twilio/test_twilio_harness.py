"""The Twilio test harness (tests/support/fake_twilio.py) signs webhooks as Twilio does."""

from __future__ import annotations

from twilio.request_validator import RequestValidator

from tests.support.fake_twilio import AUTH_TOKEN, PUBLIC, sign


def test_signature_helper_matches_the_validator() -> None:
    url = f"{PUBLIC}/webhooks/twilio/status?call=abc&leg=parent"
    params = {"CallSid": "CA1", "CallStatus": "ringing"}
    assert RequestValidator(AUTH_TOKEN).validate(url, params, sign(url, params))
    assert not RequestValidator(AUTH_TOKEN).validate(url, {**params, "CallStatus": "busy"}, sign(url, params))
