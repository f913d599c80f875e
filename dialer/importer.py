"""Client import: a CSV file -> validated `ClientRecord`s -> a store (`ClientSink`).

Parsing and validation are pure (`parse_row`); `import_clients` reads the file, batches the
good rows into the sink and writes every bad row, with its line number and the reason, to
``<stem>.rejected.csv`` next to the input so a supervisor can fix it and import it again.
No row is lost: ``rows == imported + updated + rejected``.

Columns (header names are case-insensitive; order does not matter):

* required: ``id``, ``name``, ``phone``
* optional: ``timezone``, ``country``, ``schedule``, ``stage``, ``next_contact``,
  ``complaint``, ``do_not_call``, ``campaign``
* anything else is kept in ``attributes`` (empty cells dropped).

The file is UTF-8 (a BOM is fine) or, when it is not valid UTF-8, Windows-1251 (what a
Russian Excel writes by default); the delimiter is ``;`` or ``,`` (or a tab), detected on
the header line. A column whose header cell is empty keeps its values as the attribute
``column_N`` (N = its position).

A bad row never stops the import: a row that cannot even be read (a cell over 128 KiB, a
line over 1 MiB, bytes that are not text in the file's encoding) is rejected with its
reason like an invalid one. The rejected file quotes cells a spreadsheet would run as a
formula (``=``, ``+``, ``-``, ``@`` first) with a leading ``'``, removed again when that
file is imported.

Time zone of a client, first that applies: the ``timezone`` cell; the zone of the phone
number when phonenumbers knows exactly one zone for it (landline area codes; a Russian
mobile number maps to all of Russia's zones, so it is never inferred); the time zone of the
client's schedule; of its campaign; the center's.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import itertools
import os
import re
import sys
import time as _time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from phonenumbers import timezone as pn_timezone

_TIMEZONE_DATA: dict[str, tuple[str, ...]] | None
try:  # the prefix table behind phonenumbers.timezone; only used to size a cache key
    from phonenumbers.tzdata import TIMEZONE_DATA as _TIMEZONE_DATA
except ImportError:  # pragma: no cover - a phonenumbers without it: no caching
    _TIMEZONE_DATA = None

from dialer.config.models import DialerConfig
from dialer.domain import EARLIEST_YEAR, LATEST_YEAR, ClientRecord, Stage, year_in_range

__all__ = [
    "ClientSink",
    "ImportAborted",
    "ImportFileError",
    "ImportSummary",
    "RowError",
    "import_clients",
    "parse_row",
    "rejected_path_for",
]

REQUIRED_COLUMNS = ("id", "name", "phone")
OPTIONAL_COLUMNS = (
    "timezone",
    "country",
    "schedule",
    "stage",
    "next_contact",
    "complaint",
    "do_not_call",
    "campaign",
)
KNOWN_COLUMNS = frozenset(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
# The two columns a rejected file adds; when a rejected file is imported again they are
# bookkeeping, not client attributes.
REJECT_COLUMNS = ("line", "reason")

# Russian Excel writes TRUE/FALSE as ИСТИНА/ЛОЖЬ.
_BOOLEANS: dict[str, bool] = {
    **dict.fromkeys(("1", "true", "yes", "y", "да", "д", "истина"), True),
    **dict.fromkeys(("0", "false", "no", "n", "нет", "н", "ложь"), False),
}
_BAD = object()
_BOOL_HINT = "1/0, true/false, yes/no, y/n or да/нет"
_STAGES = {s.value: s for s in (Stage.PROSPECT, Stage.HOT, Stage.CUSTOMER)}

# Punctuation people put into phone numbers; removing it before phonenumbers.parse gives
# the same result and saves ~25% of the parse time (the library normalises character by
# character).
_PHONE_PUNCT = str.maketrans("", "", " ()-.\u00a0\u2009\u202f\u2010\u2011\u2012\u2013\u2014\t")
_PLAIN_PHONE = re.compile(r"\+?[0-9]{1,30}")
# Shapes of Russian numbers the shortcut takes (see _RussianShortcut).
_RU_SHAPE = re.compile(r"(?:\+7|[78])?([3-9][0-9]{9})")
_PLUS7_SHAPE = re.compile(r"\+7([3-9][0-9]{9})")
_EXCEL_SCIENTIFIC = re.compile(r"\d[.,]\d+E\+\d+", re.IGNORECASE)
_EXCEL_HINT = (
    "phone: {raw} was shortened by Excel to scientific notation; "
    "format the column as text and export again"
)
_DOTTED = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")

# Corrections to phonenumbers' single-zone answers that are wrong today, by E.164 prefix.
# Its data gives +7 401 (Kaliningrad oblast) Europe/Bucharest, which has summer time while
# Kaliningrad stays on UTC+2, and +7 845 (Saratov oblast) Europe/Moscow although Saratov
# moved to UTC+4 in December 2020.
ZONE_OVERRIDES: dict[str, str] = {
    "+7401": "Europe/Kaliningrad",
    "+7845": "Europe/Saratov",
}
_UNKNOWN_ZONE = "Etc/Unknown"

TZ_FROM_ROW = "row"
TZ_INFERRED = "inferred"
TZ_DEFAULTED = "defaulted"


class RowError(ValueError):
    """A row that cannot be imported; ``reason`` names the column(s) and what is wrong."""

    def __init__(self, reason: str, line: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.line = line


class ImportFileError(Exception):
    """The file as a whole cannot be imported (unreadable, no header, missing column, the
    rejected file cannot be written); raised before anything is imported."""


class ImportAborted(RuntimeError):
    """The import stopped part-way for a reason outside the file's rows (the store failed,
    the disk filled up). Each batch is one transaction, so the clients written so far are
    whole; importing the same file again completes the import (upsert by id)."""


class ClientSink(Protocol):
    async def upsert_clients(self, records: Sequence[ClientRecord]) -> tuple[int, int]:
        """Insert or update by id; returns (inserted, updated).

        Importing the same id again updates that client, never duplicates it.
        """
        ...


@dataclass
class ImportSummary:
    rows: int  # data rows read (blank lines not counted)
    imported: int  # new clients
    updated: int  # existing clients updated
    rejected: int
    tz_from_row: int
    tz_inferred: int  # from the phone number
    tz_defaulted: int  # schedule / campaign / center zone
    rejected_path: Path | None = None  # written only when rejected > 0
    defaulted_path: Path | None = None  # clients whose zone was defaulted; written only when there are some
    source: Path | None = None
    blank: int = 0  # empty lines / rows of empty cells, skipped
    next_contact_past: int = 0  # accepted rows whose next_contact is before `now` (due at once)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (paths as strings)."""
        out = dict(self.__dict__)
        for key in ("rejected_path", "defaulted_path", "source"):
            out[key] = None if out[key] is None else str(out[key])
        out["seconds"] = round(self.seconds, 3)
        return out

    def lines(self) -> list[str]:
        name = self.source.name if self.source else "import"
        out = [
            f"{name}: {self.rows:,} rows: {self.imported:,} new, {self.updated:,} updated, "
            f"{self.rejected:,} rejected"
        ]
        accepted = self.imported + self.updated
        if accepted:
            out.append(
                f"time zones: {self.tz_from_row:,} from the file, {self.tz_inferred:,} from the phone number, "
                f"{self.tz_defaulted:,} defaulted (schedule, campaign or center zone)"
            )
        if self.rejected and self.rejected_path:
            out.append(f"rejected rows with line and reason: {self.rejected_path} (fix them and import that file)")
        if self.tz_defaulted and self.defaulted_path:
            out.append(
                f"clients whose time zone was defaulted: {self.defaulted_path} "
                "(fill in their timezone and import that file to correct them)"
            )
        if self.blank:
            out.append(f"{self.blank:,} blank lines skipped")
        if self.next_contact_past:
            out.append(f"{self.next_contact_past:,} clients have a next_contact in the past: they are due now")
        if self.seconds >= 1:
            out.append(f"took {self.seconds:.1f} s ({self.rows / self.seconds:,.0f} rows/s)")
        return out


def rejected_path_for(csv_path: str | os.PathLike[str]) -> Path:
    """``clients.csv`` -> ``clients.rejected.csv`` in the same folder."""
    p = Path(csv_path)
    return p.with_name(p.stem + ".rejected.csv")


def defaulted_path_for(csv_path: str | os.PathLike[str]) -> Path:
    """``clients.csv`` -> ``clients.defaulted.csv``: the imported clients whose time zone
    was neither in the file nor inferable from the number (same columns as the rejects,
    so the file can be corrected and imported again)."""
    p = Path(csv_path)
    return p.with_name(p.stem + ".defaulted.csv")


# ---------------------------------------------------------------- zones


_zone_names: dict[str, str] | None = None
_zone_countries: dict[str, frozenset[str]] | None = None


def _zones() -> dict[str, str]:
    """Lower-case name -> canonical IANA name, for case-insensitive zone cells."""
    global _zone_names
    if _zone_names is None:
        _zone_names = {z.lower(): z for z in available_timezones()}
    return _zone_names


def _countries_of_zones() -> dict[str, frozenset[str]]:
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


# ---------------------------------------------------------------- row parsing


class _RussianShortcut:
    """A faster, equivalent path for the common case: Russian numbers.

    phonenumbers.parse() + number_type() cost ~27 us of a ~35 us row, mostly generic
    machinery. For ``+7`` + 10 digits, and with default region RU also ``8``/``7`` + 10
    digits or the 10 digits alone, where the 10 digits start with 3, 4, 8 or 9, parse()
    yields country code 7 with exactly those digits whenever they form a valid Russian
    number (RU metadata: national prefix 8, international prefix 810, every valid national
    number has 10 digits, region RU for leading digits [3489]). The shortcut builds that
    number directly and classifies it with the RU metadata's own patterns, in the order
    phonenumbers' number_type() tries them; it answers only for valid numbers, everything
    else goes through phonenumbers.

    `build` checks every assumption against the installed phonenumbers (parse() and
    number_type() on a spread of numbers) and returns None, i.e. no shortcut, if any fails.
    """

    def __init__(self, shape: re.Pattern[str], metadata: Any):
        self.shape = shape
        self.leading = re.compile(metadata.leading_digits)

        def desc(d: Any) -> tuple[re.Pattern[str], frozenset[int]] | None:
            if d is None or not d.national_number_pattern:
                return None
            return re.compile(d.national_number_pattern), frozenset(d.possible_length or ())

        self.general = desc(metadata.general_desc)
        T = PhoneNumberType
        special = [
            (T.PREMIUM_RATE, metadata.premium_rate),
            (T.TOLL_FREE, metadata.toll_free),
            (T.SHARED_COST, metadata.shared_cost),
            (T.VOIP, metadata.voip),
            (T.PERSONAL_NUMBER, metadata.personal_number),
            (T.PAGER, metadata.pager),
            (T.UAN, metadata.uan),
            (T.VOICEMAIL, metadata.voicemail),
        ]
        self.special = [(t, d) for t, raw in special if (d := desc(raw)) is not None]
        self.fixed = desc(metadata.fixed_line)
        self.mobile = desc(metadata.mobile)
        self.same_fixed_mobile = bool(metadata.same_mobile_and_fixed_line_pattern)

    @staticmethod
    def _matches(desc: tuple[re.Pattern[str], frozenset[int]] | None, nsn: str) -> bool:
        if desc is None:
            return False
        pattern, lengths = desc
        return (not lengths or len(nsn) in lengths) and pattern.fullmatch(nsn) is not None

    def number_type(self, nsn: str) -> int:
        T = PhoneNumberType
        matches = self._matches
        if not matches(self.general, nsn):
            return T.UNKNOWN
        for t, desc in self.special:
            if matches(desc, nsn):
                return t
        if matches(self.fixed, nsn):
            if self.same_fixed_mobile or matches(self.mobile, nsn):
                return T.FIXED_LINE_OR_MOBILE
            return T.FIXED_LINE
        if not self.same_fixed_mobile and matches(self.mobile, nsn):
            return T.MOBILE
        return T.UNKNOWN

    def match(self, cleaned: str) -> tuple[phonenumbers.PhoneNumber, int, str, str] | None:
        m = self.shape.fullmatch(cleaned)
        if m is None:
            return None
        nsn = m.group(1)
        if self.leading.match(nsn) is None:
            return None
        ntype = self.number_type(nsn)
        if ntype == PhoneNumberType.UNKNOWN:
            return None
        return phonenumbers.PhoneNumber(country_code=7, national_number=int(nsn)), ntype, "+7" + nsn, "RU"

    @classmethod
    def build(cls, default_region: str) -> _RussianShortcut | None:
        try:
            metadata = phonenumbers.PhoneMetadata.metadata_for_region("RU")
            if metadata is None or metadata.country_code != 7 or not metadata.leading_digits:
                return None
            if phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(7, ())[:1] != ("RU",):
                return None
            shape = _RU_SHAPE if default_region == "RU" else _PLUS7_SHAPE
            shortcut = cls(shape, metadata)
            return shortcut if shortcut._agrees(default_region) else None
        except Exception:  # pragma: no cover - an unexpected phonenumbers: go the long way
            return None

    def _agrees(self, default_region: str) -> bool:
        import random

        rng = random.Random(7)
        nationals = [
            "9123456789", "9501234567", "9991234567", "9300051234", "9301234567", "3412123456",
            "4012123456", "4152123456", "8123456789", "8005553535", "8452123456", "3362212345",
            "4951234567", "8612345678", "3022123456", "8800123456", "8091234567", "8101234567",
        ]  # fmt: skip
        nationals += [rng.choice("3489") + f"{rng.randrange(10**9):09d}" for _ in range(150)]
        prefixes = ("+7", "8", "7", "")
        for i, nsn in enumerate(nationals):
            reference = phonenumbers.PhoneNumber(country_code=7, national_number=int(nsn))
            ntype = phonenumbers.number_type(reference)
            if self.number_type(nsn) != ntype:
                return False
            if ntype == PhoneNumberType.UNKNOWN:
                continue
            if phonenumbers.region_code_for_number(reference) != "RU":
                return False
            for prefix in prefixes if i < 18 else prefixes[i % 4 : i % 4 + 1]:
                text = prefix + nsn
                hit = self.match(text)
                if hit is None:
                    continue
                try:
                    parsed = phonenumbers.parse(text, default_region)
                except phonenumbers.NumberParseException:
                    return False
                if parsed != hit[0] or phonenumbers.format_number(parsed, PhoneNumberFormat.E164) != hit[2]:
                    return False
        return True


class _RowParser:
    """Everything parse_row needs from the config, precomputed once per config."""

    def __init__(self, config: DialerConfig):
        self.config = config
        self.region = config.center.phone_region
        self.center_zone = config.center.timezone
        self.schedules = {name.lower(): name for name in config.schedules}
        self.campaigns = {c.name.lower(): c.name for c in config.campaigns}
        self.zone_names = _zones()
        self.countries = frozenset(phonenumbers.SUPPORTED_REGIONS)
        self._default_zone: dict[tuple[str | None, str | None, Stage | None], str] = {}
        self._zone_decision: dict[Any, str | None] = {}
        self._tz_key_len: dict[int, int] = {}
        self._when: dict[tuple[str, str], datetime | str] = {}
        self._zoneinfo: dict[str, ZoneInfo] = {}
        self._shortcut = _RussianShortcut.build(self.region)
        # Calling codes of a single region: no need to ask phonenumbers which region.
        self._single_region = {
            cc: regions[0] for cc, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items() if len(regions) == 1
        }
        self._overrides = [
            (prefix, zone) for prefix, zone in ZONE_OVERRIDES.items() if zone.lower() in self.zone_names
        ]

    # -- the row

    def parse(
        self, row: dict[str, str], line: int | None = None, extra: Sequence[str] | None = None
    ) -> tuple[ClientRecord, str]:
        """(record, where its zone came from) or RowError listing every bad column.

        `row` is keyed by normalised (stripped, lower-case) column names; `extra`, when the
        caller knows them, are the keys that go to attributes.
        """
        get = row.get
        errors: list[str] = []

        id_ = (get("id") or "").strip()
        if not id_:
            errors.append("id: empty")
        name = (get("name") or "").strip()
        if not name:
            errors.append("name: empty")

        stage: Stage | None = None
        cell = (get("stage") or "").strip()
        if cell:
            stage = _STAGES.get(cell.lower())
            if stage is None:
                hint = "; a do-not-call client goes in the do_not_call column" if cell.lower() == "dnc" else ""
                errors.append(f"stage: unknown stage {_clip(cell)} (use prospect, hot or customer{hint})")

        schedule: str | None = None
        cell = (get("schedule") or "").strip()
        if cell:
            schedule = self.schedules.get(cell.lower())
            if schedule is None:
                defined = ", ".join(self.config.schedules) or "none"
                errors.append(f"schedule: unknown schedule {_clip(cell)} (defined: {defined})")

        campaign: str | None = None
        cell = (get("campaign") or "").strip()
        if cell:
            campaign = self.campaigns.get(cell.lower())
            if campaign is None:
                defined = ", ".join(c.name for c in self.config.campaigns)
                errors.append(f"campaign: unknown campaign {_clip(cell)} (defined: {defined})")

        complaint = do_not_call = None
        flag = get("complaint")
        if flag and (flag := flag.strip()):
            complaint = _BOOLEANS.get(flag.lower())
            if complaint is None:
                errors.append(f"complaint: expected {_BOOL_HINT}, got {_clip(flag)}")
        flag = get("do_not_call")
        if flag and (flag := flag.strip()):
            do_not_call = _BOOLEANS.get(flag.lower())
            if do_not_call is None:
                errors.append(f"do_not_call: expected {_BOOL_HINT}, got {_clip(flag)}")

        phone = e164 = region = None
        ntype = PhoneNumberType.UNKNOWN
        zone: str | None = None
        source = TZ_FROM_ROW
        raw_phone = (get("phone") or "").strip()
        if not raw_phone:
            errors.append("phone: empty")
        else:
            phone, ntype, e164, region = self._phone(raw_phone, errors)

        country: str | None = None
        cell = (get("country") or "").strip()
        if cell:
            country = cell.upper()
            if country not in self.countries:
                errors.append(f"country: {_clip(cell)} is not an ISO 3166 alpha-2 country code")
                country = None

        cell = (get("timezone") or "").strip()
        if cell:
            zone = self.zone_names.get(cell.lower())
            if zone is None:
                errors.append(f"timezone: unknown time zone {_clip(cell)} (use an IANA name such as Asia/Kamchatka)")
        if phone is not None and (not cell or country is None):
            if region is None:
                region = self._single_region.get(phone.country_code or 0) or phonenumbers.region_code_for_number(phone)
            if region == "001":  # non-geographic entity (+800 ...)
                region = None
            if not cell:
                zone = self._infer_zone(phone, ntype, e164, region)  # type: ignore[arg-type]
                source = TZ_INFERRED
        if zone is None and not cell:
            zone = self._default_zone_for(schedule, campaign, stage)
            source = TZ_DEFAULTED

        next_contact: datetime | None = None
        cell = (get("next_contact") or "").strip()
        if cell:
            when = self._parse_when(cell, zone or self.center_zone)
            if isinstance(when, str):
                errors.append(when)
            else:
                next_contact = when

        if errors:
            raise RowError("; ".join(errors), line)

        attributes: dict[str, str] = {}
        if extra is None:
            extra = [k for k in row if k and k not in KNOWN_COLUMNS]
        for key in extra:
            value = get(key)
            if value and isinstance(value, str):
                value = value.strip()
                if value:
                    attributes[key] = value

        record = ClientRecord(
            id=id_,
            name=name,
            phone=e164,  # type: ignore[arg-type]
            timezone=zone,  # type: ignore[arg-type]
            country=country or region or self.region,
            schedule=schedule,
            stage=stage,
            next_contact=next_contact,
            complaint=complaint,
            do_not_call=do_not_call,
            campaign=campaign,
            attributes=attributes,
        )
        return record, source

    # -- phone

    def _phone(
        self, raw: str, errors: list[str]
    ) -> tuple[phonenumbers.PhoneNumber | None, int, str, str | None]:
        """(number, its type, E.164, region or None if not yet known), or
        (None, UNKNOWN, "", None) with the reason in `errors`."""
        cleaned = raw.translate(_PHONE_PUNCT)
        shortcut = self._shortcut
        if shortcut is not None:
            hit = shortcut.match(cleaned)
            if hit is not None:
                return hit
            # Anything else, invalid ones included, goes to phonenumbers itself.
        text = cleaned if _PLAIN_PHONE.fullmatch(cleaned) else raw
        try:
            number = phonenumbers.parse(text, self.region)
        except phonenumbers.NumberParseException as exc:
            if _EXCEL_SCIENTIFIC.fullmatch(raw):
                errors.append(_EXCEL_HINT.format(raw=_clip(raw)))
            else:
                errors.append(f"phone: {_clip(raw)} is not a phone number ({_parse_problem(exc)})")
            return None, PhoneNumberType.UNKNOWN, "", None
        # number_type is UNKNOWN exactly when is_valid_number is false (both classify the
        # national number against the region's patterns); the type is needed anyway to
        # tell geographic numbers (landlines) from the rest, so it is computed once.
        ntype = phonenumbers.number_type(number)
        if ntype == PhoneNumberType.UNKNOWN:
            if _EXCEL_SCIENTIFIC.fullmatch(raw):
                errors.append(_EXCEL_HINT.format(raw=_clip(raw)))
            elif text.startswith("+"):
                errors.append(f"phone: {_clip(raw)} is not a valid phone number")
            else:
                errors.append(f"phone: {_clip(raw)} is not a valid number for region {self.region}")
            return None, ntype, "", None
        return number, ntype, phonenumbers.format_number(number, PhoneNumberFormat.E164), None

    def _infer_zone(
        self, number: phonenumbers.PhoneNumber, ntype: int, e164: str, region: str | None
    ) -> str | None:
        """The one zone phonenumbers gives for the number, when it is one and plausible.

        Cached per prefix: phonenumbers looks the zone up by the longest known prefix of the
        E.164 digits, so the answer for a geographic number depends only on its first
        `_tz_key_length(cc)` digits (4 for Russia), and for any other type only on the
        country code.
        """
        cc = number.country_code or 0
        if not phonenumbers.is_number_type_geographical(ntype, cc):
            # Mobile, toll-free, ...: the country's zones, the same for the whole code.
            key: Any = (cc, region, None)
            try:
                return self._zone_decision[key]
            except KeyError:
                decision = self._zone_decision[key] = self._decide(pn_timezone.time_zones_for_number(number), region)
                return decision
        length = self._tz_key_len.get(cc)
        if length is None:
            length = self._tz_key_len[cc] = self._tz_key_length(cc)
        key = (e164[1 : 1 + length], region) if length else None
        if key is not None:
            hit = self._zone_decision.get(key, _BAD)
            if hit is not _BAD:
                return hit  # type: ignore[return-value]
        decision = None
        for prefix, zone in self._overrides:
            if e164.startswith(prefix):
                decision = self.zone_names[zone.lower()]
                break
        else:
            decision = self._decide(pn_timezone.time_zones_for_geographical_number(number), region)
        if key is not None:
            self._zone_decision[key] = decision
        return decision

    def _tz_key_length(self, cc: int) -> int:
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
        countries = _countries_of_zones()
        if region and countries and zone in countries and region not in countries[zone]:
            return None
        return zone

    def _default_zone_for(self, schedule: str | None, campaign: str | None, stage: Stage | None) -> str:
        key = (schedule, campaign, stage)
        zone = self._default_zone.get(key)
        if zone is None:
            camp = self.config.campaign_for(stage or Stage.PROSPECT, campaign)
            _, sched = self.config.schedule_for(schedule, camp)
            zone = (
                (sched.timezone if sched is not None else None)
                or (camp.timezone if camp is not None else None)
                or self.center_zone
            )
            self._default_zone[key] = zone
        return zone

    # -- dates

    def _parse_when(self, cell: str, zone: str) -> datetime | str:
        """Aware UTC datetime, or the error reason. Cached: imports repeat the same dates."""
        key = (cell, zone)
        hit = self._when.get(key)
        if hit is not None:
            return hit
        result = self._parse_when_uncached(cell, zone)
        if len(self._when) > 100_000:
            self._when.clear()
        self._when[key] = result
        return result

    def _parse_when_uncached(self, cell: str, zone: str) -> datetime | str:
        bad = (
            f"next_contact: expected a date 2026-12-01 (or 01.12.2026) or a date-time "
            f"2026-12-01T10:00 / 2026-12-01T10:00+03:00, got {_clip(cell)}"
        )
        try:
            m = _DOTTED.fullmatch(cell)
            if m:
                d, mo, y, h, mi, s = m.groups()
                value = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
            elif cell.isascii():
                value = datetime.fromisoformat(cell)
            else:
                return bad
        except ValueError:
            return bad
        if not year_in_range(value.year):
            # 9999-12-31 is many CRMs' "never": it would overflow the calendar later.
            return f"next_contact: {cell!r} is out of range (years {EARLIEST_YEAR}-{LATEST_YEAR})"
        try:
            if value.tzinfo is None:
                tz = self._zoneinfo.get(zone)
                if tz is None:
                    tz = self._zoneinfo[zone] = ZoneInfo(zone)
                value = value.replace(tzinfo=tz)
            return value.astimezone(UTC)
        except (OverflowError, ValueError):
            return f"next_contact: {_clip(cell)} is out of range"


def _parse_problem(exc: phonenumbers.NumberParseException) -> str:
    return {
        phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
        phonenumbers.NumberParseException.NOT_A_NUMBER: "no number in it",
        phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
        phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
        phonenumbers.NumberParseException.TOO_LONG: "too long",
    }.get(exc.error_type, str(exc))


_parsers: dict[int, tuple[DialerConfig, _RowParser]] = {}


def _parser_for(config: DialerConfig) -> _RowParser:
    hit = _parsers.get(id(config))
    if hit is not None and hit[0] is config:
        return hit[1]
    parser = _RowParser(config)
    if len(_parsers) > 16:
        _parsers.clear()
    _parsers[id(config)] = (config, parser)
    return parser


def parse_row(row: dict[str, str], line: int, config: DialerConfig) -> ClientRecord:
    """One CSV row (header -> cell) -> a ClientRecord, or RowError naming every bad column.

    Header names are matched case-insensitively; columns other than the known ones go to
    ``attributes``.
    """
    normalized = {}
    for key, value in row.items():
        if isinstance(key, str):
            normalized[key.strip().lower()] = value if isinstance(value, str) else ""
    record, _ = _parser_for(config).parse(normalized, line)
    return record


# ---------------------------------------------------------------- the file


def _detect_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        # Mostly UTF-8 with a few foreign rows (one pasted from a Windows-1251 file) is
        # UTF-8: those rows are rejected, the rest read right. Windows-1251 Cyrillic almost
        # never forms valid UTF-8 sequences, so more valid than invalid ones means UTF-8.
        text = head.decode("utf-8", errors="surrogateescape")
        invalid = len(_ESCAPED_BYTES.findall(text))
        valid = sum(1 for c in text if c > "\x7f" and not "\udc80" <= c <= "\udcff")
        return "utf-8-sig" if valid > invalid else "cp1251"
    return "utf-8-sig"


def _detect_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


# Bounds on what one row may be. A cell over FIELD_LIMIT (the csv module's own default
# limit) or a physical line over LINE_LIMIT characters rejects its row; both also bound
# the memory one row can take, whatever the file holds.
FIELD_LIMIT = 128 * 1024
LINE_LIMIT = 1024 * 1024
_PREVIEW = 1000  # characters of an over-long line kept to show its first cells
_ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")

# Cells a spreadsheet would run as a formula when a supervisor opens the rejected file
# (OWASP "CSV injection"), and a leading quote, so that quoting them is reversible.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def _neutralise(cell: str) -> str:
    """A rejected file's cell as written: a leading ``'`` makes Excel and LibreOffice show
    ``=HYPERLINK(...)``, ``+7 912 ...`` or ``@SUM(...)`` as text instead of running it.
    A cell that already starts with ``'`` gets one more, so `_restore` is its exact inverse."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _restore(cell: str) -> str:
    """Undo `_neutralise` (only for a rejected file imported again, recognised by its
    trailing line/reason columns; a client file's own leading quotes are data)."""
    return cell[1:] if cell.startswith("'") else cell


class _Source:
    """The opened CSV: encoding, delimiter and header settled, rows to iterate.

    Bytes that are not text in the file's encoding are decoded with ``surrogateescape``
    and NUL characters are kept, so that such a row can be rejected on its own (with the
    rest imported) instead of stopping the import; `rows` flags them.
    """

    def __init__(self, path: Path, encoding: str | None):
        self.path = path
        try:
            self.raw = open(path, "rb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise ImportFileError(f"{path}: cannot open: {exc.strerror or exc}") from None
        try:
            self.size = os.fstat(self.raw.fileno()).st_size
            head = self.raw.read(1 << 16)
            if encoding is None and head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                # Excel's "Unicode Text" (UTF-16, tab-separated) would otherwise read as
                # cp1251 mojibake and be refused for "missing columns".
                raise ImportFileError(
                    f"{path}: UTF-16 text (Excel's \"Unicode Text\"); save it as \"CSV UTF-8\" "
                    "(or CSV in Windows-1251) and import that"
                )
            self.encoding = encoding or _detect_encoding(head)
            self.raw.seek(0)
            self.text = io.TextIOWrapper(self.raw, encoding=self.encoding, errors="surrogateescape", newline="")
            # physical line -> why its row cannot be imported (over-long, not text); filled
            # by _lines as the csv reader pulls lines, emptied by rows().
            self.bad_lines: dict[int, str] = {}
            self.current = ""  # the physical line the csv reader took last
            self.record_end = 0  # the physical line where the record rows() gave last ends
            lines = self._lines()
            first = next(lines, "")
            if self.bad_lines:
                raise ImportFileError(f"{path}: the header line cannot be read: {self.bad_lines[1]}")
            if not first.strip():
                raise ImportFileError(
                    f"{path}: no header line; the first line must name the columns, "
                    f"at least {', '.join(REQUIRED_COLUMNS)}"
                )
            self.delimiter = _detect_delimiter(first)
            self.reader = csv.reader(itertools.chain([first], lines), delimiter=self.delimiter)
            try:
                self.header = next(self.reader)
            except csv.Error as exc:
                raise ImportFileError(f"{path}: the header cannot be read: {exc}") from None
            if self.bad_lines:  # a quoted header name running on over later lines
                line, reason = next(iter(self.bad_lines.items()))
                raise ImportFileError(f"{path}: the header cannot be read (line {line}): {reason}")
            self._check_header()
        except BaseException:
            self.raw.close()
            raise

    def _lines(self) -> Iterator[str]:
        """The file's physical lines, none longer than LINE_LIMIT: the rest of an over-long
        line is read and dropped (its row is rejected), so one line cannot fill memory."""
        readline = self.text.readline
        bad = self.bad_lines
        n = 0
        while True:
            line = readline(LINE_LIMIT)
            if not line:
                return
            n += 1
            if len(line) >= LINE_LIMIT and line[-1] not in "\r\n":
                total = len(line)
                while more := readline(LINE_LIMIT):
                    total += len(more)
                    if more[-1] in "\r\n":
                        total -= len(more) - len(more.rstrip("\r\n"))
                        break
                bad[n] = f"the line is {total:,} characters long (at most {LINE_LIMIT:,})"
                line = _stand_in(line)
            elif "\x00" in line:
                bad[n] = self._unreadable(line)
            elif not line.isascii():
                try:
                    line.encode("utf-8")  # fails on the surrogates undecodable bytes became
                except UnicodeEncodeError:
                    bad[n] = self._unreadable(line)
            self.current = line
            yield line

    def _unreadable(self, line: str) -> str:
        if "\x00" in line and not _ESCAPED_BYTES.search(line):
            return "contains a NUL character (a binary file, or one saved as UTF-16?)"
        if self.encoding.startswith("utf-8"):
            return (
                "not UTF-8 text like the rest of the file (its cells are shown here read as "
                "Windows-1251): check them and import this file again"
            )
        return f"not {self.encoding} text (unreadable bytes are shown here as \ufffd)"

    def _check_header(self) -> None:
        raw = [h.replace("\ufeff", "").strip() for h in self.header]
        # A rejected file imported again: its trailing line/reason columns are ours.
        self.bookkeeping = len(raw) >= 2 and tuple(n.lower() for n in raw[-2:]) == REJECT_COLUMNS
        ncols = len(raw) - (2 if self.bookkeeping else 0)
        if self.bookkeeping:
            raw = [_restore(n) for n in raw]
            self.header = [_restore(h) for h in self.header]
        names = [n.lower() for n in raw]
        self.ncols = ncols
        # A column without a name keeps its values as the attribute column_N (its
        # position): they are the client's data, the header line just lacks a word.
        self.keys = [(n or f"column_{i + 1}") if i < ncols else "" for i, n in enumerate(names)]
        self.extra = [n for n in self.keys if n and n not in KNOWN_COLUMNS]
        seen: dict[str, int] = {}
        for i, n in enumerate(self.keys):
            if not n:
                continue
            if n in seen:
                j = seen[n]
                unnamed = [k + 1 for k in (j, i) if not names[k]]
                if unnamed:
                    raise ImportFileError(
                        f"{self.path}: column {unnamed[0]} has no name in the header line and column "
                        f"{j + 1 if unnamed[0] == i + 1 else i + 1} is named {_clip(n)}: name the column or delete it"
                    )
                raise ImportFileError(
                    f"{self.path}: column {_clip(n)} appears twice (columns {j + 1} and {i + 1})"
                )
            seen[n] = i
        missing = [c for c in REQUIRED_COLUMNS if c not in seen]
        if missing:
            plural = "s" if len(missing) > 1 else ""
            found = ", ".join(_clip(h, 40) for h in self.header[:20]) or "nothing"
            if len(self.header) > 20:
                found += ", ..."
            raise ImportFileError(
                f"{self.path}: missing required column{plural} {', '.join(missing)} "
                f"(the header line has {found}; delimiter {self.delimiter!r})"
            )

    def rows(self) -> Iterator[tuple[int, list[str], str | None]]:
        """(line where the record starts, cells, why the row cannot be imported or None).

        A record the csv module cannot read (a cell over its limit) comes with the first
        cells of its line when it started on that line; reading resumes on the next line.
        """
        reader = self.reader
        bad = self.bad_lines
        prev = reader.line_num
        restore = self.bookkeeping
        while True:
            try:
                for cells in reader:
                    end = reader.line_num
                    problem = None
                    if bad:
                        for n in range(prev + 1, end + 1):
                            reason = bad.pop(n, None)
                            if reason is not None and problem is None:
                                problem = reason if n == prev + 1 else f"line {n}: {reason}"
                    if restore:
                        cells = [_restore(c) for c in cells]
                    self.record_end = end
                    yield prev + 1, cells, problem
                    prev = end
                return
            except csv.Error as exc:
                end = reader.line_num
                first = prev + 1
                for n in range(first, end + 1):
                    bad.pop(n, None)
                message = str(exc)
                if "field larger than field limit" in message:
                    message = f"a cell is longer than {csv.field_size_limit():,} characters (the limit)"
                if end != first:
                    # A quoted cell running over lines; what follows `end` is read afresh.
                    message = f"lines {first}-{end} were read as one row (a quote not closed?): {message}"
                cells = _preview_cells(self.current, self.delimiter) if end == first else []
                prev = end
                yield first, cells, message

    def tell(self) -> int:
        try:
            return self.raw.tell()
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        self.raw.close()


def _stand_in(line: str) -> str:
    """What the csv reader gets instead of an over-long line: its start without quotes
    (so its first cells show in the rejected file), with one quote in front when the
    line had an odd number, so the reader's quoted/unquoted state changes as it would
    have over the whole line."""
    head = line[:_PREVIEW].replace('"', "").replace("\r", " ").replace("\n", " ")
    return ('"' if line.count('"') % 2 else "") + head + "\n"


def _preview_cells(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line[:_PREVIEW].replace('"', "")], delimiter=delimiter), [])
    except csv.Error:
        return []


def _clip(value: object, limit: int = 60) -> str:
    """repr of a value for a message, cut to `limit` characters: a reason never carries a
    whole 100 KiB cell."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "..." + text[-1]


def _cut(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _readable(cell: str) -> str:
    """A cell for the rejected file (which is UTF-8): bytes that were not text in the
    file's encoding are shown as Windows-1251, the usual reason for them in a Russian
    file otherwise UTF-8; NUL characters are dropped."""
    if cell.isascii() and "\x00" not in cell:
        return cell

    def decode(m: re.Match[str]) -> str:
        return bytes(ord(c) - 0xDC00 for c in m.group()).decode("cp1251", errors="replace")

    return _ESCAPED_BYTES.sub(decode, cell).replace("\x00", "")


class _Rejects:
    """``<stem>.rejected.csv``: original columns + line + reason; written to a temporary
    name and moved into place at the end, so an interrupted import leaves no half file.

    The temporary file is created before the first row is read, so a folder where it
    cannot be written stops the import before anything is imported."""

    def __init__(self, path: Path, header: list[str], ncols: int, delimiter: str):
        self.path = path
        self.part = path.with_name(path.name + ".part")
        self.header = header[:ncols]
        self.ncols = ncols
        self.delimiter = delimiter
        self.count = 0
        try:
            # utf-8-sig: Excel opens a UTF-8 CSV with Cyrillic correctly only with a BOM.
            self._file: Any = open(self.part, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115
        except OSError as exc:
            raise ImportFileError(
                f"{path}: cannot write the rejected rows there: {exc.strerror or exc}; nothing was imported"
            ) from None
        self._writer: Any = csv.writer(self._file, delimiter=delimiter)

    def add(self, line: int, cells: list[str], reason: str) -> None:
        if self.count == 0:
            self._writer.writerow([_neutralise(_readable(h)) for h in self.header] + list(REJECT_COLUMNS))
        row = cells[: self.ncols]
        if len(row) < self.ncols:
            row = row + [""] * (self.ncols - len(row))
        self._writer.writerow([*(_neutralise(_readable(c)) for c in row), line, _neutralise(_readable(reason))])
        self.count += 1

    def finish(self, source: Path) -> Path | None:
        self._file.close()
        if self.count:
            os.replace(self.part, self.path)
            return self.path
        self.part.unlink(missing_ok=True)
        if self.path.exists() and self.path.resolve() != source.resolve():
            self.path.unlink()  # stale, from an earlier run of this file
        return None

    def abort(self) -> None:
        self._file.close()
        self.part.unlink(missing_ok=True)


@dataclass
class _Counts:
    rows: int = 0
    blank: int = 0
    rejected: int = 0
    tz: dict[str, int] = field(default_factory=lambda: {TZ_FROM_ROW: 0, TZ_INFERRED: 0, TZ_DEFAULTED: 0})
    past: int = 0
    defaulted_path: Path | None = None


class _Reader:
    """Turns the file into batches of records; rejects go to the rejected file."""

    def __init__(
        self,
        source: _Source,
        parser: _RowParser,
        rejects: _Rejects,
        now: datetime,
        bar: Any,
        defaulted: _Rejects | None = None,
    ):
        self.source = source
        self.parser = parser
        self.rejects = rejects
        self.defaulted = defaulted
        self.now = now
        self.bar = bar
        self.counts = _Counts()
        self.seen: dict[str, int] = {}
        self.rows = source.rows()
        self.done = False
        self._pos = 0

    def batch(self, size: int) -> list[ClientRecord]:
        records: list[ClientRecord] = []
        append = records.append
        parse = self.parser.parse
        keys = self.source.keys
        extra = self.source.extra
        ncols = self.source.ncols
        width = len(keys)
        seen = self.seen
        counts = self.counts
        tz = counts.tz
        add_reject = self.rejects.add
        file = self.source

        def reject(line: int, cells: list[str], reason: str) -> None:
            # A record read over several lines that is then refused was most likely cut
            # by a quote never closed (the following rows became one cell): say so, or
            # "phone: empty" hides where the rows of the file went.
            if file.record_end > line:
                reason = f"lines {line}-{file.record_end} were read as one row (a quote not closed?): {reason}"
            add_reject(line, cells, reason)

        now = self.now
        for line, cells, problem in self.rows:
            if problem is not None:
                # Not readable as a row (over-long, not text): rejected on its own, the
                # rest of the file is imported.
                counts.rows += 1
                counts.rejected += 1
                reject(line, cells, problem)
                continue
            if len(cells) != width:
                if not "".join(cells).strip():
                    counts.blank += 1
                    continue
                if len(cells) > width and "".join(cells[width:]).strip():
                    counts.rows += 1
                    counts.rejected += 1
                    surplus = [c for c in cells[width:] if c.strip()]
                    reject(
                        line,
                        cells,
                        f"row has {len(cells)} cells but the header has {width} "
                        f"(extra: {', '.join(_clip(c) for c in surplus[:5])}); a delimiter inside an unquoted cell?",
                    )
                    continue
            row = dict(zip(keys, cells))
            id_ = row["id"].strip() if "id" in row else ""
            if id_:
                first = seen.get(id_)
                if first is not None:
                    counts.rows += 1
                    counts.rejected += 1
                    reject(line, cells, f"duplicate id {_cut(id_)} (first seen on line {first})")
                    continue
                seen[id_] = line
            elif not "".join(cells[:ncols]).strip():
                counts.blank += 1
                continue
            counts.rows += 1
            try:
                record, source = parse(row, line, extra)
            except RowError as exc:
                counts.rejected += 1
                reject(line, cells, exc.reason)
                continue
            tz[source] += 1
            if source == TZ_DEFAULTED and self.defaulted is not None:
                self.defaulted.add(line, cells, _defaulted_reason(record.timezone))
            if record.next_contact is not None and record.next_contact < now:
                counts.past += 1
            append(record)
            if len(records) >= size:
                break
        else:
            self.done = True
        if self.bar is not None:
            pos = self.source.size if self.done else self.source.tell()
            self.bar.update(max(0, pos - self._pos))
            self._pos = max(pos, self._pos)
            self.bar.set_postfix_str(f"{counts.rows:,} rows, {counts.rejected:,} rejected", refresh=False)
        return records


def _defaulted_reason(zone: str) -> str:
    return (
        f"timezone: empty and not inferable from the number; defaulted to {zone} "
        "(the schedule's, campaign's or center's zone)"
    )


def _side_files(path: Path, source: _Source) -> tuple[_Rejects, _Rejects]:
    """The rejected-rows file and the defaulted-zone file of an import."""
    return (
        _Rejects(rejected_path_for(path), source.header, source.ncols, source.delimiter),
        _Rejects(defaulted_path_for(path), source.header, source.ncols, source.delimiter),
    )


PARALLEL_FROM_BYTES = 8 << 20  # files larger than this are parsed in a separate process
_CHILD_POLL = 0.5  # seconds between checks that the parsing process is still alive


async def import_clients(
    config: DialerConfig,
    csv_path: str | os.PathLike[str],
    sink: ClientSink,
    *,
    batch_size: int = 5000,
    progress: bool = False,
    now: datetime | None = None,
    encoding: str | None = None,
    parallel: bool | None = None,
) -> ImportSummary:
    """Import a client CSV into `sink` in batches of `batch_size`.

    A row that cannot be read (a cell over FIELD_LIMIT, a line over LINE_LIMIT, bytes that
    are not text in the file's encoding, a NUL) is rejected on its own like any invalid
    row; the rest is imported. Raises ImportFileError (nothing imported) when the file
    cannot be opened, its header cannot be read or lacks a required column, or the
    rejected file cannot be written; ImportAborted when the sink fails part-way. `now` (default: the current time) only decides which
    next_contact dates count as past in the summary. `encoding` overrides the detection
    (UTF-8 with or without BOM, else Windows-1251).

    Parsing runs one batch ahead of the sink, so the store's writes overlap with it:
    in a worker thread for small files, in a separate process for large ones
    (`parallel`, default: files over 8 MiB), where it also escapes the GIL.
    """
    started = _time.perf_counter()
    path = Path(csv_path)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    source = _Source(path, encoding)  # header errors surface here, before anything is written
    if parallel is None:
        parallel = source.size > PARALLEL_FROM_BYTES
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=source.size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=path.name,
            file=sys.stderr,
            dynamic_ncols=True,
        )
    writer = _Writer(sink)
    try:
        if parallel:
            source.close()
            inserted, updated, counts, rejected_path = await _import_in_process(
                config, path, source.encoding, now, batch_size, writer, bar
            )
        else:
            inserted, updated, counts, rejected_path = await _import_in_thread(
                config, source, path, now, batch_size, writer, bar
            )
    except ImportFileError:
        raise
    except Exception as exc:
        written = writer.inserted + writer.updated
        raise ImportAborted(
            f"{path}: the import stopped after {written:,} clients were written "
            f"({type(exc).__name__}: {_cut(str(exc), 300)}); importing the file again completes it "
            "(by id, without duplicates)"
        ) from exc
    finally:
        if bar is not None:
            bar.close()
        source.close()
    c = counts
    summary = ImportSummary(
        rows=c.rows,
        imported=inserted,
        updated=updated,
        rejected=c.rejected,
        tz_from_row=c.tz[TZ_FROM_ROW],
        tz_inferred=c.tz[TZ_INFERRED],
        tz_defaulted=c.tz[TZ_DEFAULTED],
        rejected_path=rejected_path,
        defaulted_path=c.defaulted_path,
        source=path,
        blank=c.blank,
        next_contact_past=c.past,
        seconds=_time.perf_counter() - started,
    )
    assert summary.rows == summary.imported + summary.updated + summary.rejected, summary
    return summary


class _Writer:
    """Feeds batches to the sink, one in flight, checking the sink's counts."""

    def __init__(self, sink: ClientSink):
        self.sink = sink
        self.inserted = 0
        self.updated = 0
        self._pending: asyncio.Future[tuple[int, int]] | None = None
        self._size = 0

    async def flush(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            ins, upd = await pending
            _check_counts(ins, upd, self._size)
            self.inserted += ins
            self.updated += upd

    async def put(self, records: list[ClientRecord]) -> None:
        await self.flush()
        if records:
            self._pending = asyncio.ensure_future(self.sink.upsert_clients(records))
            self._size = len(records)

    async def settle(self) -> None:
        """After a failure: let the batch in flight finish (it commits or not as a whole)
        instead of cancelling it under the store, which the caller closes next; its own
        error, if any, is consumed here (the first failure is the one reported)."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await asyncio.wait([pending])
            if not pending.cancelled() and pending.exception() is None:
                ins, upd = pending.result()
                self.inserted += ins
                self.updated += upd


async def _import_in_thread(
    config: DialerConfig, source: _Source, path: Path, now: datetime, batch_size: int, writer: _Writer, bar: Any
) -> tuple[int, int, _Counts, Path | None]:
    rejects, defaulted = _side_files(path, source)
    reader = _Reader(source, _parser_for(config), rejects, now, bar, defaulted)
    finished = False
    try:
        while not reader.done:
            records = await asyncio.to_thread(reader.batch, batch_size)
            await writer.put(records)
        await writer.flush()
        rejected_path = rejects.finish(path)
        reader.counts.defaulted_path = defaulted.finish(path)
        finished = True
    finally:
        await writer.settle()
        if not finished:
            rejects.abort()
            defaulted.abort()
    return writer.inserted, writer.updated, reader.counts, rejected_path


def _read_in_process(
    conn: Any, config: DialerConfig, path: Path, encoding: str, now: datetime, batch_size: int
) -> None:
    """The parsing process: sends ("batch", records, file position) and waits for the
    parent's go-ahead (so at most two batches are in memory), then ("done", counts,
    rejected file) or ("error", message)."""
    rejects: _Rejects | None = None
    defaulted: _Rejects | None = None
    try:
        source = _Source(path, encoding)
        rejects, defaulted = _side_files(path, source)
        reader = _Reader(source, _parser_for(config), rejects, now, None, defaulted)
        while not reader.done:
            records = reader.batch(batch_size)
            conn.send(("batch", records, source.size if reader.done else source.tell()))
            if conn.recv() != "more":
                rejects.abort()
                defaulted.abort()
                return
        reader.counts.defaulted_path = defaulted.finish(path)
        conn.send(("done", reader.counts, rejects.finish(path)))
        source.close()
    except ImportFileError as exc:
        for side in (rejects, defaulted):
            if side is not None:
                side.abort()
        conn.send(("error", str(exc)))
    except BaseException as exc:  # reported to the parent, which raises it
        for side in (rejects, defaulted):
            if side is not None:
                side.abort()
        conn.send(("crash", f"{type(exc).__name__}: {exc}"))


async def _import_in_process(
    config: DialerConfig, path: Path, encoding: str, now: datetime, batch_size: int, writer: _Writer, bar: Any
) -> tuple[int, int, _Counts, Path | None]:
    import multiprocessing

    # spawn, not fork: the parent has threads (the store's), and forking those is unsafe.
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_read_in_process, args=(child, config, path, encoding, now, batch_size), daemon=True)
    proc.start()
    child.close()
    position = 0

    def receive() -> Any:
        while not parent.poll(_CHILD_POLL):
            if not proc.is_alive():
                raise RuntimeError(f"{path}: the parsing process died (exit code {proc.exitcode})")
        return parent.recv()

    try:
        while True:
            message = await asyncio.to_thread(receive)
            kind = message[0]
            if kind == "batch":
                _, records, pos = message
                parent.send("more")  # the child parses the next batch while we write this one
                await writer.put(records)
                if bar is not None:
                    bar.update(max(0, pos - position))
                    position = max(pos, position)
            elif kind == "done":
                await writer.flush()
                return writer.inserted, writer.updated, message[1], message[2]
            elif kind == "error":
                raise ImportFileError(message[1])
            else:
                raise RuntimeError(f"{path}: parsing failed: {message[1]}")
    finally:
        await writer.settle()
        if proc.is_alive():
            try:
                parent.send("stop")
            except OSError:
                pass
            proc.join(5)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        parent.close()


def _check_counts(inserted: int, updated: int, expected: int) -> None:
    if inserted + updated != expected:
        raise RuntimeError(
            f"the store accounted for {inserted} inserted + {updated} updated clients "
            f"of a batch of {expected}: rows would be lost"
        )

