"""Dial modes and the pacing settings' checks (what check-config will say)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dialer.pacing.modes import AbandonWindow, DialMode, PacingSettings, validate_settings

ABANDONING = PacingSettings(
    dial_mode=DialMode.PREDICTIVE, allow_abandon=True, information_message="This was Acme; press 9 to opt out."
)


def test_defaults_are_progressive_and_accepted() -> None:
    s = PacingSettings()
    assert s.dial_mode is DialMode.PROGRESSIVE
    assert (s.max_abandon_rate, s.abandon_after, s.min_ring, s.power_ratio) == (0.03, 2.0, 15.0, 2.0)
    assert s.abandon_window is AbandonWindow.DAY
    assert validate_settings(s) == []


def test_modes_and_windows_by_their_config_names() -> None:
    assert [m.value for m in DialMode] == ["preview", "progressive", "power", "predictive"]
    assert [m for m in DialMode if m.client_first] == [DialMode.POWER, DialMode.PREDICTIVE]
    assert AbandonWindow("24h").seconds == 86_400
    assert AbandonWindow("30d").seconds == 30 * 86_400


@pytest.mark.parametrize("mode", [DialMode.POWER, DialMode.PREDICTIVE])
def test_abandoning_modes_need_consent_and_a_message(mode: DialMode) -> None:
    problems = validate_settings(PacingSettings(dial_mode=mode))
    assert len(problems) == 2
    assert f"dial_mode {mode.value} abandons some answered calls: set allow_abandon: true" in problems[0]
    assert "needs an information_message" in problems[1]
    assert validate_settings(replace(ABANDONING, dial_mode=mode)) == []


@pytest.mark.parametrize("mode", [DialMode.PREVIEW, DialMode.PROGRESSIVE])
def test_agent_first_modes_need_neither(mode: DialMode) -> None:
    assert validate_settings(PacingSettings(dial_mode=mode, min_ring=0)) == []


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"power_ratio": 0.5}, "power_ratio must be between 1 and 10"),
        ({"power_ratio": 11.0}, "power_ratio must be between 1 and 10"),
        ({"max_abandon_rate": 0.0}, "max_abandon_rate must be above 0 and at most 0.03"),
        ({"max_abandon_rate": 0.05}, "max_abandon_rate must be above 0 and at most 0.03"),
        ({"abandon_after": 3.0}, "abandon_after must be above 0 and at most 2 seconds"),
        ({"abandon_after": 0.0}, "abandon_after must be above 0 and at most 2 seconds"),
        ({"min_ring": 10.0}, "dial_mode predictive needs min_ring of at least 15 seconds"),
        ({"min_ring": -1.0}, "min_ring must not be negative"),
        ({"information_message": "   "}, "needs an information_message"),
    ],
)
def test_each_bad_value_gets_one_clear_line(change: dict[str, object], fragment: str) -> None:
    problems = validate_settings(replace(ABANDONING, **change))  # type: ignore[arg-type]
    assert any(fragment in p for p in problems), problems
    assert all("\n" not in p for p in problems)
