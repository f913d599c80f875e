"""Dial modes and a campaign's pacing settings, with the checks check-config will run.

Pure data, no I/O. Times are seconds (float).

- `preview`: the agent sees the client and starts the call (agent desktop issue).
- `progressive`: agent first, one call per Ready agent; never abandons. The default.
- `power`: client first, a fixed `power_ratio` of calls per Ready agent.
- `predictive`: client first, the number of calls computed from the live statistics so the
  expected abandon rate stays under `max_abandon_rate` (see `dialer.pacing.decide`).

Power and predictive abandon a client now and then (a live answer with no agent free within
`abandon_after`), which regulators cap (Ofcom: 3 % of live answers per campaign per 24 h,
an information message within 2 s, at least 15 s of ringing; US TCPA: 3 % over 30 days).
So they need an explicit `allow_abandon: true` and an information message.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DialMode(StrEnum):
    """How a campaign paces its calls."""

    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    POWER = "power"
    PREDICTIVE = "predictive"

    @property
    def client_first(self) -> bool:
        """Does the client's leg ring before an agent is attached (so a call can be abandoned)?"""
        return self in (DialMode.POWER, DialMode.PREDICTIVE)


class AbandonWindow(StrEnum):
    """The rolling window the abandon rate is measured over (Ofcom 24 h, TCPA 30 days)."""

    DAY = "24h"
    MONTH = "30d"

    @property
    def seconds(self) -> float:
        return 86_400.0 if self is AbandonWindow.DAY else 30 * 86_400.0


# The regulators' ceilings: an abandon rate above 3 %, an information message later than
# 2 s after the answer, or less than 15 s of ringing is not allowed under Ofcom's policy.
REGULATORY_MAX_ABANDON_RATE = 0.03
REGULATORY_MAX_ABANDON_AFTER = 2.0
REGULATORY_MIN_RING = 15.0
# A client abandoned by a power/predictive call is not dialed again by a client-first call
# within this many seconds (Ofcom): only a call with an agent reserved (agent first) may.
ABANDON_REDIAL_BLOCK = 72 * 3600.0
# Above this many calls per Ready agent a power dialer only burns lines and clients.
MAX_POWER_RATIO = 10.0


@dataclass(frozen=True, slots=True)
class PacingSettings:
    """One campaign's pacing choice (config keys of the same names)."""

    dial_mode: DialMode = DialMode.PROGRESSIVE
    # Calls per Ready agent in power mode; the ceiling predictive never goes above.
    power_ratio: float = 2.0
    # Abandoned / live-answered calls over `abandon_window` (abandoned calls count as live).
    max_abandon_rate: float = REGULATORY_MAX_ABANDON_RATE
    abandon_window: AbandonWindow = AbandonWindow.DAY
    # A live answer with no agent free within this many seconds hears the message and is hung up.
    abandon_after: float = REGULATORY_MAX_ABANDON_AFTER
    # Every call rings at least this long before the dialer gives up on it.
    min_ring: float = REGULATORY_MIN_RING
    allow_abandon: bool = False
    # Who called and how to opt out: text for Twilio <Say>, an audio file path for SIP.
    information_message: str = ""


def validate_settings(settings: PacingSettings) -> list[str]:
    """Every reason these settings are refused, one clear line each (empty: accepted)."""
    problems: list[str] = []
    s = settings
    if not 1.0 <= s.power_ratio <= MAX_POWER_RATIO:
        problems.append(f"power_ratio must be between 1 and {MAX_POWER_RATIO:g} calls per Ready agent")
    if not 0.0 < s.max_abandon_rate <= REGULATORY_MAX_ABANDON_RATE:
        problems.append(
            f"max_abandon_rate must be above 0 and at most {REGULATORY_MAX_ABANDON_RATE:g} "
            "(3 % of live-answered calls, the Ofcom/TCPA cap)"
        )
    if not 0.0 < s.abandon_after <= REGULATORY_MAX_ABANDON_AFTER:
        problems.append(
            f"abandon_after must be above 0 and at most {REGULATORY_MAX_ABANDON_AFTER:g} seconds "
            "(the information message must start within 2 s of the answer)"
        )
    if s.min_ring < 0:
        problems.append("min_ring must not be negative")
    if s.dial_mode.client_first:
        mode = s.dial_mode.value
        if not s.allow_abandon:
            problems.append(f"dial_mode {mode} abandons some answered calls: set allow_abandon: true to accept that")
        if not s.information_message.strip():
            problems.append(
                f"dial_mode {mode} needs an information_message (who called, how to opt out) "
                "played to an abandoned call"
            )
        if s.min_ring < REGULATORY_MIN_RING:
            problems.append(f"dial_mode {mode} needs min_ring of at least {REGULATORY_MIN_RING:g} seconds")
    return problems
