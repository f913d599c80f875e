"""The simulated provider's outcome model: rates per client-local hour and ring times per
outcome (issue 13). Pure: settings models and table look-ups, no clock, no I/O.

Rates: the provider's base rates (answer, busy, machine, failed, invalid; the rest rings
out) scaled per client-local hour by an `hourly` profile of factors. The "typical"
profile (what `dialer simulate` uses unless the settings say otherwise) has fewer answers
(and more voicemail) at lunch and in the evening, as real lists do; "flat" (the provider's
own default, so a demo or a test answers alike at any hour) keeps the base rates all day.

Ring times: a log-normal per outcome, kept inside [lo, hi]. A person answers after a few
seconds to about 25 s, voicemail picks up later, busy and failed calls end at once; a call
nobody answers rings until the dialer gives up (the ring timeout, never below min_ring).
"""

from __future__ import annotations

import math
import random
import re
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dialer.domain import CallStatus

HOURS = 24
_HOUR_KEY = re.compile(r"^\s*(\d{1,2})\s*(?:-\s*(\d{1,2})\s*)?$")


class RingDistribution(BaseModel):
    """Seconds a call rings before this outcome: log-normal around `median`, inside [lo, hi]."""

    model_config = ConfigDict(extra="forbid")
    median: float = Field(gt=0)
    sigma: float = Field(0.4, ge=0)
    lo: float = Field(0.0, ge=0)
    hi: float = Field(gt=0)

    @model_validator(mode="after")
    def _bounds(self) -> RingDistribution:
        if self.lo > self.hi:
            raise ValueError(f"lo ({self.lo:g}) must not be above hi ({self.hi:g})")
        return self

    def draw(self, rng: random.Random) -> float:
        return min(self.hi, max(self.lo, rng.lognormvariate(math.log(self.median), self.sigma)))


class RingTimes(BaseModel):
    """Ring time per outcome; a no-answer rings until the ring timeout (not drawn)."""

    model_config = ConfigDict(extra="forbid")
    answered: RingDistribution = RingDistribution(median=9.0, sigma=0.45, lo=3.0, hi=25.0)
    # Voicemail and network mailboxes pick up after a fixed 15-25 s on most carriers.
    machine: RingDistribution = RingDistribution(median=18.0, sigma=0.2, lo=10.0, hi=30.0)
    busy: RingDistribution = RingDistribution(median=2.5, sigma=0.4, lo=0.5, hi=6.0)
    failed: RingDistribution = RingDistribution(median=1.0, sigma=0.4, lo=0.2, hi=2.0)


class HourFactors(BaseModel):
    """Factors on the base rates for calls placed in these client-local hours (the share
    taken from answers goes to no-answer)."""

    model_config = ConfigDict(extra="forbid")
    answer: float = Field(1.0, ge=0)
    busy: float = Field(1.0, ge=0)
    machine: float = Field(1.0, ge=0)


# Fewer people pick up at lunch (voicemail instead) and in the evening.
DEFAULT_HOURLY: dict[str, HourFactors] = {
    "12": HourFactors(answer=0.85),
    "13": HourFactors(answer=0.6, machine=1.5),
    "18": HourFactors(answer=0.85),
    "19-24": HourFactors(answer=0.7, machine=1.3),
}
# By name, for the `hourly` setting ("flat": the base rates all day).
HOURLY_PROFILES: dict[str, dict[str, HourFactors]] = {"typical": DEFAULT_HOURLY, "flat": {}}


def hour_span(key: str) -> range:
    """The local hours an `hourly` key covers: "13" is 13:00-13:59, "19-21" is 19:00-20:59."""
    m = _HOUR_KEY.match(key)
    if m is None:
        raise ValueError(f"{key!r}: an hour key is H or H-H (client-local hours, e.g. '13' or '19-21')")
    lo = int(m.group(1))
    hi = int(m.group(2)) if m.group(2) is not None else lo + 1
    if not (0 <= lo < hi <= HOURS):
        raise ValueError(f"{key!r}: hours must be 0-23 and a range H-H with the first below the second (at most 24)")
    return range(lo, hi)


def hour_factors(hourly: dict[str, HourFactors]) -> list[HourFactors]:
    """One factor set per hour 0..23 (1.0 where no key covers it); overlapping keys refused."""
    table: list[HourFactors | None] = [None] * HOURS
    for key, factors in hourly.items():
        for h in hour_span(key):
            if table[h] is not None:
                raise ValueError(f"{key!r}: hour {h} is already covered by another key")
            table[h] = factors
    return [f if f is not None else HourFactors() for f in table]


Thresholds = tuple[tuple[CallStatus, float], ...]

_ORDER = (CallStatus.ANSWERED, CallStatus.BUSY, CallStatus.MACHINE, CallStatus.FAILED, CallStatus.INVALID_NUMBER)


def rates_table(
    base: tuple[float, float, float, float, float], factors: list[HourFactors]
) -> tuple[list[Thresholds], list[str]]:
    """Per hour, the (status, rate) pairs in draw order; and one problem line per hour whose
    scaled rates add up to more than 1. `base`: answer, busy, machine, failed, invalid."""
    answer, busy, machine, failed, invalid = base
    table: list[Thresholds] = []
    problems: list[str] = []
    for h, f in enumerate(factors):
        rates = (answer * f.answer, busy * f.busy, machine * f.machine, failed, invalid)
        total = sum(rates)
        if total > 1.0 + 1e-9:
            problems.append(f"at {h:02d}:00 answer+busy+machine+failed+invalid rates add up to {total:.2f} > 1")
        table.append(tuple(zip(_ORDER, rates, strict=True)))
    return table, problems


def draw_status(x: float, thresholds: Thresholds) -> CallStatus:
    """The outcome a uniform draw `x` in [0, 1) falls on (the rest: no answer)."""
    for status, rate in thresholds:
        if x < rate:
            return status
        x -= rate
    return CallStatus.NO_ANSWER


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo | None:
    """The client's zone, or None when unknown (the provider then uses its own setting)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


__all__ = [
    "DEFAULT_HOURLY",
    "HOURLY_PROFILES",
    "HourFactors",
    "RingDistribution",
    "RingTimes",
    "draw_status",
    "hour_factors",
    "hour_span",
    "rates_table",
    "zone",
]
