"""One row of a client file -> a `ClientRecord`, or a `RowError` naming every bad column.

Pure: no file, no store. `RowParser` precomputes what it needs from the config once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import PhoneNumberType

from dialer.config.models import DialerConfig
from dialer.domain import EARLIEST_YEAR, LATEST_YEAR, ClientRecord, Stage, year_in_range
from dialer.importer.errors import RowError
from dialer.importer.messages import clip
from dialer.importer.phones import PhoneReader
from dialer.importer.zones import TZ_DEFAULTED, TZ_FROM_ROW, TZ_INFERRED, ZoneInference, zone_names

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
_BOOL_HINT = "1/0, true/false, yes/no, y/n or да/нет"
_STAGES = {s.value: s for s in (Stage.PROSPECT, Stage.HOT, Stage.CUSTOMER)}

_DOTTED = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")


class RowParser:
    """Everything parse_row needs from the config, precomputed once per config."""

    def __init__(self, config: DialerConfig):
        self.config = config
        self.region = config.center.phone_region
        self.center_zone = config.center.timezone
        self.schedules = {name.lower(): name for name in config.schedules}
        self.campaigns = {c.name.lower(): c.name for c in config.campaigns}
        self.zone_names = zone_names()
        self.countries = frozenset(phonenumbers.SUPPORTED_REGIONS)
        self._default_zone: dict[tuple[str | None, str | None, Stage | None], str] = {}
        self._when: dict[tuple[str, str], datetime | str] = {}
        self._zoneinfo: dict[str, ZoneInfo] = {}
        self.phones = PhoneReader(self.region)
        self.zones = ZoneInference(self.zone_names)
        # Calling codes of a single region: no need to ask phonenumbers which region.
        self._single_region = {
            cc: regions[0] for cc, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items() if len(regions) == 1
        }

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
                errors.append(f"stage: unknown stage {clip(cell)} (use prospect, hot or customer{hint})")

        schedule: str | None = None
        cell = (get("schedule") or "").strip()
        if cell:
            schedule = self.schedules.get(cell.lower())
            if schedule is None:
                defined = ", ".join(self.config.schedules) or "none"
                errors.append(f"schedule: unknown schedule {clip(cell)} (defined: {defined})")

        campaign: str | None = None
        cell = (get("campaign") or "").strip()
        if cell:
            campaign = self.campaigns.get(cell.lower())
            if campaign is None:
                defined = ", ".join(c.name for c in self.config.campaigns)
                errors.append(f"campaign: unknown campaign {clip(cell)} (defined: {defined})")

        complaint = do_not_call = None
        flag = get("complaint")
        if flag and (flag := flag.strip()):
            complaint = _BOOLEANS.get(flag.lower())
            if complaint is None:
                errors.append(f"complaint: expected {_BOOL_HINT}, got {clip(flag)}")
        flag = get("do_not_call")
        if flag and (flag := flag.strip()):
            do_not_call = _BOOLEANS.get(flag.lower())
            if do_not_call is None:
                errors.append(f"do_not_call: expected {_BOOL_HINT}, got {clip(flag)}")

        phone = e164 = region = None
        ntype = PhoneNumberType.UNKNOWN
        zone: str | None = None
        source = TZ_FROM_ROW
        raw_phone = (get("phone") or "").strip()
        if not raw_phone:
            errors.append("phone: empty")
        else:
            phone, ntype, e164, region = self.phones.read(raw_phone, errors)

        country: str | None = None
        cell = (get("country") or "").strip()
        if cell:
            country = cell.upper()
            if country not in self.countries:
                errors.append(f"country: {clip(cell)} is not an ISO 3166 alpha-2 country code")
                country = None

        cell = (get("timezone") or "").strip()
        if cell:
            zone = self.zone_names.get(cell.lower())
            if zone is None:
                errors.append(f"timezone: unknown time zone {clip(cell)} (use an IANA name such as Asia/Kamchatka)")
        if phone is not None and (not cell or country is None):
            if region is None:
                region = self._single_region.get(phone.country_code or 0) or phonenumbers.region_code_for_number(phone)
            if region == "001":  # non-geographic entity (+800 ...)
                region = None
            if not cell:
                zone = self.zones.infer(phone, ntype, e164, region)  # type: ignore[arg-type]
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
            f"2026-12-01T10:00 / 2026-12-01T10:00+03:00, got {clip(cell)}"
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
            return f"next_contact: {clip(cell)} is out of range"


_parsers: dict[int, tuple[DialerConfig, RowParser]] = {}


def parser_for(config: DialerConfig) -> RowParser:
    hit = _parsers.get(id(config))
    if hit is not None and hit[0] is config:
        return hit[1]
    parser = RowParser(config)
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
    record, _ = parser_for(config).parse(normalized, line)
    return record
