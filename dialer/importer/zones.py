"""A client's time zone from its phone number: phonenumbers' answer when it names exactly
one plausible zone, corrected where its data is wrong today, cached per number prefix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

import phonenumbers
from phonenumbers import timezone as pn_timezone

_TIMEZONE_DATA: dict[str, tuple[str, ...]] | None
try:  # the prefix table behind phonenumbers.timezone; only used to size a cache key
    from phonenumbers.tzdata import TIMEZONE_DATA as _TIMEZONE_DATA
except ImportError:  # pragma: no cover - a phonenumbers without it: no caching
    _TIMEZONE_DATA = None

# Where a client's zone came from (the import summary counts each).
TZ_FROM_ROW = "row"
TZ_INFERRED = "inferred"
TZ_DEFAULTED = "defaulted"

# Corrections to phonenumbers' single-zone answers that are wrong today, by E.164 prefix.
# Its data gives +7 401 (Kaliningrad oblast) Europe/Bucharest, which has summer time while
# Kaliningrad stays on UTC+2, and +7 845 (Saratov oblast) Europe/Moscow although Saratov
# moved to UTC+4 in December 2020.
ZONE_OVERRIDES: dict[str, str] = {
    "+7401": "Europe/Kaliningrad",
    "+7845": "Europe/Saratov",
}
_UNKNOWN_ZONE = "Etc/Unknown"
_MISSING = object()

_zone_names: dict[str, str] | None = None
_zone_countries: dict[str, frozenset[str]] | None = None


def zone_names() -> dict[str, str]:
    """Lower-case name -> canonical IANA name, for case-insensitive zone cells."""
    global _zone_names
    if _zone_names is None:
        _zone_names = {z.lower(): z for z in available_timezones()}
    return _zone_names


def countries_of_zones() -> dict[str, frozenset[str]]:
    """Zone -> countries using it, from the system's zone.tab / zone1970.tab (empty if absent)."""
    global _zone_countries
    if _zone_countries is None:
        found: dict[str, set[str]] = {}
        from zoneinfo import TZPATH

        for base in TZPATH:
            for name in ("zone.tab", "zone1970.tab"):
                try:
                    text = Path(base, name).read_text(encoding="utf-8")
                except OSError:
                    continue
                for ln in text.splitlines():
                    if ln.startswith("#") or not ln.strip():
                        continue
                    parts = ln.split("\t")
                    if len(parts) >= 3:
                        found.setdefault(parts[2], set()).update(parts[0].split(","))
            if found:
                break
        _zone_countries = {z: frozenset(c) for z, c in found.items()}
    return _zone_countries


class ZoneInference:
    """The zone of a valid phone number, or None when the number does not tell it."""

    def __init__(self, names: dict[str, str]):
        self.zone_names = names
        self._decision: dict[Any, str | None] = {}
        self._key_len: dict[int, int] = {}
        self._overrides = [(prefix, zone) for prefix, zone in ZONE_OVERRIDES.items() if zone.lower() in names]

    def infer(self, number: phonenumbers.PhoneNumber, ntype: int, e164: str, region: str | None) -> str | None:
        """The one zone phonenumbers gives for the number, when it is one and plausible.

        Cached per prefix: phonenumbers looks the zone up by the longest known prefix of the
        E.164 digits, so the answer for a geographic number depends only on its first
        `_key_length(cc)` digits (4 for Russia), and for any other type only on the
        country code.
        """
        cc = number.country_code or 0
        if not phonenumbers.is_number_type_geographical(ntype, cc):
            # Mobile, toll-free, ...: the country's zones, the same for the whole code.
            key: Any = (cc, region, None)
            try:
                return self._decision[key]
            except KeyError:
                decision = self._decision[key] = self._decide(pn_timezone.time_zones_for_number(number), region)
                return decision
        length = self._key_len.get(cc)
        if length is None:
            length = self._key_len[cc] = self._key_length(cc)
        key = (e164[1 : 1 + length], region) if length else None
        if key is not None:
            hit = self._decision.get(key, _MISSING)
            if hit is not _MISSING:
                return hit  # type: ignore[return-value]
        decision = None
        for prefix, zone in self._overrides:
            if e164.startswith(prefix):
                decision = self.zone_names[zone.lower()]
                break
        else:
            decision = self._decide(pn_timezone.time_zones_for_geographical_number(number), region)
        if key is not None:
            self._decision[key] = decision
        return decision

    def _key_length(self, cc: int) -> int:
        """Digits of E.164 that decide the zone lookup for this calling code (0: don't cache)."""
        if _TIMEZONE_DATA is None:
            return 0
        code = str(cc)
        lengths = [len(k) for k in _TIMEZONE_DATA if k.startswith(code)]
        lengths += [len(p) - 1 for p, _ in self._overrides if p.startswith("+" + code)]
        return max(lengths, default=len(code))

    def _decide(self, zones: Sequence[str], region: str | None) -> str | None:
        if len(zones) != 1 or zones[0] == _UNKNOWN_ZONE:
            return None
        zone = self.zone_names.get(zones[0].lower())
        if zone is None:
            return None
        # A zone of another country (phonenumbers gives Europe/Bucharest for Kaliningrad)
        # is not the client's zone: better the configured default than a wrong guess.
        countries = countries_of_zones()
        if region and countries and zone in countries and region not in countries[zone]:
            return None
        return zone
