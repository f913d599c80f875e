"""YAML config -> validated, typed models.

Supervisors edit the YAML; every error is reported as ``FILE:LINE: field.path: message``
so the line to fix is obvious. Times of day are "HH:MM" strings, durations accept
``90``, ``"90s"``, ``"15m"``, ``"2h"``, ``"3d"`` (plain numbers are seconds), days are
``mon``..``sun`` or ranges like ``mon-fri``.

Whatever the file holds, loading ends in a config or in ConfigError issues, never in
another exception: the file's size, nesting, aliases and alias-expanded values are
bounded before anything is built, and a message quotes at most a short cut of a value
(`show`), never a secret (secret-named keys and URL passwords are refused unread).
"""

from __future__ import annotations

import math
import os
import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import phonenumbers
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from dialer.domain import MAX_PERIOD_DAYS, Stage
from dialer.web.settings import WebSettings  # issue 12

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$")
_UNIT = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
# Longer than any period a call center plans with, and far from where adding it to a date
# would overflow (year 9999).
MAX_DURATION = timedelta(days=MAX_PERIOD_DAYS)


# ---------------------------------------------------------------- showing values in messages

_shown = reprlib.Repr()
_shown.maxlevel = 2
_shown.maxstring = _shown.maxother = 60
_shown.maxlist = _shown.maxtuple = _shown.maxdict = _shown.maxset = _shown.maxfrozenset = 4
_URL_PASSWORD = re.compile(r"(://[^/:@\s]*:)[^@/\s]*@")


def show(value: Any, limit: int = 60) -> str:
    """A value as an error message may quote it: a bounded repr (never a whole 100 KB
    string or an alias-expanded structure), with the password of a URL masked."""
    text = _shown.repr(value)
    if len(text) > limit:
        text = text[: limit - 4] + "..." + text[-1]
    return _URL_PASSWORD.sub(r"\1***@", text)


# ---------------------------------------------------------------- scalar types


def _parse_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 09:30 as the sexagesimal number 570.
        hours, minutes = divmod(value, 60)
        if 0 <= hours <= 24:
            return time(hours % 24, minutes) if hours < 24 else time(0)
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", value)
        if m:
            h, mi = int(m.group(1)), int(m.group(2))
            if h == 24 and mi == 0:
                return time.max  # "24:00": end of day
            if 0 <= h < 24 and 0 <= mi < 60:
                return time(h, mi)
    raise ValueError(f"expected a time of day as HH:MM, got {show(value)}")


def _parse_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ValueError(f"expected a duration like 90s, 15m, 2h or 3d, got {show(value)}")
    elif isinstance(value, (int, float)):
        # (float() of a 400-digit int overflows; such a number is only "too large")
        seconds = float(value) if not abs(value) >= 1e300 else (math.inf if value > 0 else -math.inf)
    elif isinstance(value, str) and len(value) < 40 and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT[m.group(2)]
    else:
        raise ValueError(f"expected a duration like 90s, 15m, 2h or 3d, got {show(value)}")
    if math.isnan(seconds):
        raise ValueError("expected a duration like 90s, 15m, 2h or 3d, got nan")
    if seconds < 0:
        raise ValueError("must not be negative")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"must be at most {MAX_DURATION.days}d (100 years)")
    return value if isinstance(value, timedelta) else timedelta(seconds=seconds)


def _parse_days(value: Any) -> frozenset[int]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple, set, frozenset)):
        raise ValueError("expected a list of days such as [mon-fri] or [mon, wed, sat]")
    out: set[int] = set()
    for raw in items:
        if not isinstance(raw, str):
            raise ValueError(f"unknown day {show(raw)}; days are {', '.join(DAY_NAMES)}")
        item = raw.strip().lower()
        if "-" in item:
            a, _, b = item.partition("-")
            if a not in DAY_NAMES or b not in DAY_NAMES:
                raise ValueError(f"unknown day range {show(raw)}; days are {', '.join(DAY_NAMES)}")
            i, j = DAY_NAMES.index(a), DAY_NAMES.index(b)
            span = range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)]
            out.update(span)
        elif item in DAY_NAMES:
            out.add(DAY_NAMES.index(item))
        else:
            raise ValueError(f"unknown day {show(raw)}; days are {', '.join(DAY_NAMES)} (a campaign window also takes workdays, dayoffs)")
    return frozenset(out)


def _check_zone(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected an IANA time zone such as Europe/Moscow")
    unknown = f"unknown time zone {show(value)} (use an IANA name such as Asia/Kamchatka)"
    if len(value) > 100:
        raise ValueError(unknown)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a directory of the zone database (Europe), a name too long for a path.
        raise ValueError(unknown) from None
    return value


def _check_country(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a country code such as RU, got {show(value)}")
    code = value.strip().upper()
    if code not in holidays.list_supported_countries():
        raise ValueError(f"no holiday calendar for country code {show(value)}")
    return code


def _after_start(end: time, info: ValidationInfo) -> time:
    """Field-level check so the error points at the `end` line."""
    start = info.data.get("start")
    if isinstance(start, time) and end <= start:
        raise ValueError(f"end {_fmt_time(end)} must be after start {_fmt_time(start)}")
    return end


def _fmt_time(t: time) -> str:
    return "24:00" if t == time.max else t.strftime("%H:%M")


def _fmt_duration(d: timedelta) -> str:
    return f"{int(d.total_seconds())}s"


TimeOfDay = Annotated[
    time,
    BeforeValidator(_parse_time),
    PlainSerializer(_fmt_time, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,2}:\d{2}$", "examples": ["09:00"]}),
]
Duration = Annotated[
    timedelta,
    BeforeValidator(_parse_duration),
    PlainSerializer(_fmt_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^\d+(\.\d+)?\s*(s|sec|m|min|h|d)?$"},
            ],
            "description": "seconds, or a number with unit s, m, h or d",
        }
    ),
]
Days = Annotated[
    frozenset[int],
    BeforeValidator(_parse_days),
    PlainSerializer(lambda v: [DAY_NAMES[d] for d in sorted(v)], return_type=list),
    WithJsonSchema(
        {
            "type": "array",
            "items": {
                "type": "string",
                "pattern": r"^((mon|tue|wed|thu|fri|sat|sun)(-(mon|tue|wed|thu|fri|sat|sun))?|workdays|dayoffs)$",
            },
            "examples": [["mon-fri"], ["workdays"]],
        }
    ),
]
Zone = Annotated[str, BeforeValidator(_check_zone), WithJsonSchema({"type": "string", "examples": ["Europe/Samara"]})]
Country = Annotated[str, BeforeValidator(_check_country), WithJsonSchema({"type": "string", "examples": ["RU"]})]


# Key names that hold a secret (api_key, auth_token, password, private_key, ...) unless they
# end in _env, i.e. name the environment variable that holds it.
_SECRET_WORDS = frozenset({"token", "password", "passwd", "pwd", "secret", "key", "apikey", "passphrase",
                           "credential", "credentials"})  # fmt: skip
_SECRET_PARTS = ("token", "password", "passwd", "secret", "apikey", "api_key")
# user:PASSWORD@ in a URL, or password= in its query string / a key=value DSN.
_DSN_PASSWORD = re.compile(r"://[^/@\s]*:[^/@\s]+@|(?:^|[?&;\s])(?:ssl)?password\s*=", re.IGNORECASE)


def is_secret_key(key: str) -> bool:
    """Does a setting's name say it holds a secret (and is not the *name* of a variable)?"""
    lowered = key.lower()
    if lowered.endswith("_env"):
        return False
    return any(p in lowered for p in _SECRET_PARTS) or bool(_SECRET_WORDS & set(re.split(r"[^a-z0-9]+", lowered)))


def _secret_keys(settings: Mapping[Any, Any], depth: int = 0) -> list[tuple[str, ...]]:
    """Paths of secret-named keys, and of URLs with a password (https://user:PASSWORD@...),
    in provider settings, nested mappings included."""
    out: list[tuple[str, ...]] = []
    for key, value in settings.items():
        if isinstance(key, str) and is_secret_key(key):
            out.append((key,))
        elif isinstance(value, str) and _URL_PASSWORD.search(value):
            out.append((str(key),))
        elif isinstance(value, Mapping) and depth < 8:
            out.extend((str(key), *sub) for sub in _secret_keys(value, depth + 1))
    return out


def _secret_message(key: str) -> str:
    return f"secrets come from the environment; name the variable as {_path_part(key)}_env"


def _secret_error(path: tuple[str, ...], value: Any) -> str:
    if isinstance(value, str) and not is_secret_key(path[-1]):
        return f"a password in the URL: {_secret_message(path[-1])}"
    return _secret_message(path[-1])


def _at(settings: Mapping[Any, Any], path: tuple[str, ...]) -> Any:
    value: Any = settings
    for key in path:
        value = next((v for k, v in value.items() if str(k) == key), None) if isinstance(value, Mapping) else None
    return value


def _names(names: Any, limit: int = 10) -> str:
    listed = sorted(str(n) for n in names)
    text = ", ".join(show(n)[1:-1] for n in listed[:limit])
    return text + (f", ... ({len(listed)} in all)" if len(listed) > limit else "")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- building blocks


class Hours(_Model):
    """A daily span [start, end) in some zone's wall-clock time."""

    start: TimeOfDay
    end: TimeOfDay

    @field_validator("end")
    @classmethod
    def _ordered(cls, end: time, info: ValidationInfo) -> time:
        return _after_start(end, info)


# Day words a campaign window accepts besides weekday names: they follow the production
# calendar (see Window), so a moved working Saturday is a working day.
CALENDAR_DAYS = ("workdays", "dayoffs")


class Window(Hours):
    """Days and hours; used for the center shift and campaign windows.

    ``days`` may also name ``workdays`` / ``dayoffs`` (campaign windows only): the
    production calendar's working days (moved working days included, public holidays
    excluded) or days off, of the client's schedule's country, else the center's. They
    are kept apart from the weekday names (``workdays``/``dayoffs`` flags) and combine
    with them as a union: ``[workdays, sat]`` is every working day and every Saturday."""

    days: Days = frozenset(range(7))
    workdays: bool = Field(False, description="set by `workdays` in days: the production calendar's working days")
    dayoffs: bool = Field(False, description="set by `dayoffs` in days: the production calendar's days off")

    @model_validator(mode="before")
    @classmethod
    def _calendar_days(cls, data: Any) -> Any:
        # `days: [workdays]` is what supervisors write; the words become the flags and
        # the weekday names stay in `days` (empty when only words were given).
        if not isinstance(data, dict):
            return data
        raw = data.get("days")
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, (list, tuple)):
            return data
        words = {str(i).strip().lower() for i in items} & set(CALENDAR_DAYS)
        if not words:
            return data
        rest = [i for i in items if str(i).strip().lower() not in CALENDAR_DAYS]
        return {**data, "days": rest, **dict.fromkeys(words, True)}

    @property
    def follows_calendar(self) -> bool:
        return self.workdays or self.dayoffs


class Center(_Model):
    name: str
    timezone: Zone
    shift: Window = Field(description="when the center itself dials, in the center's time zone")
    holidays: Country | None = Field(None, description="the center's own days off (country code)")
    phone_region: str = Field("RU", description="default region for numbers written without +country")

    @field_validator("shift")
    @classmethod
    def _shift_days(cls, v: Window) -> Window:
        if v.follows_calendar:
            raise ValueError(
                "workdays/dayoffs are for campaign windows: the shift's days are the center's regular "
                "working weekdays, and center.holidays applies the production calendar to them"
            )
        return v

    @field_validator("phone_region")
    @classmethod
    def _region(cls, v: str) -> str:
        if v.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {show(v)}")
        return v.upper()


class Schedule(_Model):
    """A client's own working schedule, in the client's time zone."""

    days: Days = frozenset(range(5))
    start: TimeOfDay = time(9)
    end: TimeOfDay = time(18)
    lunch: Hours | None = None
    holidays: Country | None = Field(None, description="production calendar by country code (moved days off, working Saturdays)")
    closed_dates: list[date] = Field(default_factory=list, description="extra dates the client does not work")
    timezone: Zone | None = Field(None, description="zone for clients of this schedule without their own")

    @field_validator("end")
    @classmethod
    def _ordered(cls, end: time, info: ValidationInfo) -> time:
        return _after_start(end, info)

    @model_validator(mode="after")
    def _shape(self) -> Schedule:
        if self.lunch and not (self.start <= self.lunch.start and self.lunch.end <= self.end):
            raise ValueError("lunch must lie inside the working hours")
        return self


class Talk(_Model):
    """The 3-5 minute guideline (cheat-sheet rule 7)."""

    target_min: Duration = timedelta(minutes=3)
    target_max: Duration = timedelta(minutes=5)
    hard_limit: Duration | None = Field(None, description="providers hang up at this talk time")

    @field_validator("target_max")
    @classmethod
    def _max(cls, v: timedelta, info: ValidationInfo) -> timedelta:
        low = info.data.get("target_min")
        if isinstance(low, timedelta) and v < low:
            raise ValueError("target_max must not be below target_min")
        return v

    @field_validator("hard_limit")
    @classmethod
    def _hard(cls, v: timedelta | None, info: ValidationInfo) -> timedelta | None:
        top = info.data.get("target_max")
        if v is not None and isinstance(top, timedelta) and v < top:
            raise ValueError("hard_limit must not be below target_max")
        return v


class Retry(_Model):
    delay: Duration
    max_per_day: int = Field(3, ge=1)
    max_total: int = Field(10, ge=1)


class RetryPolicy(_Model):
    busy: Retry = Retry(delay=timedelta(minutes=15), max_per_day=3, max_total=10)
    no_answer: Retry = Retry(delay=timedelta(hours=2), max_per_day=3, max_total=10)
    failed: Retry = Retry(delay=timedelta(minutes=30), max_per_day=2, max_total=6)
    machine: Retry = Retry(delay=timedelta(hours=3), max_per_day=2, max_total=6)
    unreachable_recontact: Duration = Field(
        timedelta(days=30), description="after max_total attempts, try again this much later"
    )


class Lifecycle(_Model):
    no_need_recontact: Duration = Field(timedelta(days=90), description="re-contact a prospect with no need")
    refused_recontact: Duration = Field(timedelta(days=180), description="re-contact after a firm refusal")
    hot_followup: Duration = Field(timedelta(days=3), description="next hot call when no time was agreed")
    hot_calls_before_decision: int = Field(2, ge=1, description="hot conversations before the deciding call")
    meeting_followup: Duration = Field(timedelta(days=1), description="call after a meeting took place")
    checkin: Duration = Field(timedelta(days=30), description="customer check-in period")
    complaint_followup: Duration = Field(timedelta(days=1), description="call back on an open complaint")
    terminated_cooldown: Duration = Field(timedelta(days=180), description="ex-customer becomes a prospect after this")
    awaiting_disposition: Duration = Field(
        timedelta(days=1), description="an answered call with no disposition is dialed again after this"
    )


class Caps(_Model):
    """Contact caps per client, counted in the client's local day / week (Mon-Sun) / month."""

    per_day: int | None = Field(None, ge=1)
    per_week: int | None = Field(None, ge=1)
    per_month: int | None = Field(None, ge=1)
    count: Literal["attempts", "conversations"] = Field(
        "conversations", description="what counts as a contact (Russia's 230-FZ counts conversations)"
    )


class Agent(_Model):
    name: str
    target: str = Field(description="extension, SIP URI or phone number the provider connects")


class Campaign(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    stages: list[Literal["prospect", "hot", "customer"]] = Field(min_length=1)
    lines: int = Field(ge=1, description="max concurrent calls")
    window: Window = Field(description="days and hours in the client's local time")
    provider: str
    caller_id: str
    connect_to: str | None = Field(None, description="queue/agent target when no agents are listed")
    connect_mode: Literal["agent_first", "client_first"] = "agent_first"
    agents: list[Agent] = Field(default_factory=list)
    schedule: str | None = Field(None, description="default schedule of this campaign's clients")
    timezone: Zone | None = Field(None, description="default zone of this campaign's clients")
    talk: Talk = Talk()
    ring_timeout: Duration = timedelta(seconds=30)
    expected_handle: Duration | None = Field(
        None, description="planning: ring + talk + wrap-up per call (default ring + target_max + 1 min)"
    )
    retry: RetryPolicy = RetryPolicy()
    lifecycle: Lifecycle = Lifecycle()
    caps: Caps = Caps()
    cps: float | None = Field(None, gt=0, description="calls started per second, at most")
    allow_short_remaining: bool = Field(
        False, description="allow starting a call with less than talk.target_max left in the window"
    )
    plan_at: TimeOfDay = Field(time(7, 30), description="morning plan, center local time")
    report_at: TimeOfDay = Field(time(21, 30), description="evening report, center local time")
    # issue 12: presence (agents must be Ready; default: when the web section is enabled) and wrap-up
    presence: bool | None = Field(None, description="call only agents who are Ready (default: web.enabled)")
    wrap_up: Duration = Field(timedelta(seconds=30), description="after a call the agent wraps up this long")

    @field_validator("caller_id")
    @classmethod
    def _caller(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v

    @model_validator(mode="after")
    def _target(self) -> Campaign:
        if not self.agents and not self.connect_to:
            raise ValueError("needs connect_to or at least one agent")
        return self

    @property
    def stage_set(self) -> frozenset[Stage]:
        return frozenset(Stage(s) for s in self.stages)

    @property
    def min_remaining(self) -> timedelta:
        """The guideline: no call starts when less than this remains in the window."""
        return timedelta(0) if self.allow_short_remaining else self.talk.target_max

    @property
    def handle_time(self) -> timedelta:
        return self.expected_handle or (self.ring_timeout + self.talk.target_max + timedelta(minutes=1))


class ProviderConfig(_Model):
    """A provider by name: its `type` picks the implementation, the rest are its settings.

    Secrets are never written here, only the *names* of environment variables
    (keys ending in ``_env``) that hold them.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str

    @model_validator(mode="after")
    def _no_secrets(self) -> ProviderConfig:
        # (The config loader reports these at the key's own line, see _secret_errors.)
        for path in _secret_keys(self.model_extra or {}):
            raise ValueError(f"{'.'.join(path)}: {_secret_error(path, _at(self.model_extra or {}, path))}")
        return self

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Storage(_Model):
    path: Path | None = Field(Path("var/dialer.db"), description="SQLite file, relative to the config file")
    url: str | None = Field(None, description="postgresql://... DSN without a password; overrides path")
    reports_dir: Path = Field(Path("var/reports"), description="evening reports are written here")

    @field_validator("url")
    @classmethod
    def _no_password(cls, v: str | None) -> str | None:
        # Never echoed: the point is that the value holds a secret.
        if v is not None and _DSN_PASSWORD.search(v):
            raise ValueError(
                "a password in the URL: it comes from PGPASSWORD or ~/.pgpass of the service user "
                "(or the whole URL from DIALER_DATABASE_URL), never from the config; remove it"
            )
        return v


class Service(_Model):
    worker_id: str | None = Field(None, description="stable id of this worker (default: host name)")
    tick: Duration = Field(timedelta(seconds=1), description="how often the dispatcher step runs")
    drain_timeout: Duration = Field(
        timedelta(minutes=6), description="on stop, how long calls in flight may take to finish"
    )


class Http(_Model):
    """The worker's HTTP endpoint: provider webhooks, /healthz, /readyz, /metrics."""

    enabled: bool = True
    host: str | None = Field(None, description="bind address (default 127.0.0.1, or what webhook providers ask)")
    port: int | None = Field(None, ge=0, le=65535, description="default 8089; 0 picks a free port")

    def bind_settings(self) -> dict[str, Any]:
        return {k: v for k, v in (("host", self.host), ("port", self.port)) if v is not None}


class DialerConfig(_Model):
    center: Center
    legal_window: Hours = Hours(start=time(8), end=time(21))
    storage: Storage = Storage()
    schedules: dict[str, Schedule] = Field(default_factory=dict)
    default_schedule: str | None = None
    campaigns: list[Campaign] = Field(min_length=1)
    providers: dict[str, ProviderConfig] = Field(default_factory=lambda: {"simulated": ProviderConfig(type="simulated")})
    service: Service = Service()
    http: Http = Http()
    web: WebSettings = WebSettings()  # issue 12: dialer/web/settings.py

    def campaign(self, name: str) -> Campaign:
        for c in self.campaigns:
            if c.name == name:
                return c
        raise KeyError(name)

    def campaign_for(self, stage: Stage, pinned: str | None = None) -> Campaign | None:
        """The campaign that works a client: its pinned one, else the first working its stage."""
        if pinned is not None:
            try:
                return self.campaign(pinned)
            except KeyError:
                return None
        for c in self.campaigns:
            if stage in c.stage_set:
                return c
        return None

    def schedule_for(self, name: str | None, campaign: Campaign | None) -> tuple[str | None, Schedule | None]:
        key = name or (campaign.schedule if campaign else None) or self.default_schedule
        if key is None:
            return None, None
        return key, self.schedules.get(key)


# ---------------------------------------------------------------- loading with locations


@dataclass(frozen=True)
class ConfigIssue:
    file: str
    line: int
    path: str
    message: str

    def __post_init__(self) -> None:
        # One line, never a whole value: whatever built the message, it is cut here.
        message = " ".join(self.message.split())
        if len(message) > _MESSAGE_LIMIT:
            message = message[: _MESSAGE_LIMIT - 3] + "..."
        object.__setattr__(self, "message", message)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.path}: {self.message}"


class ConfigError(Exception):
    def __init__(self, issues: list[ConfigIssue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """Follow a pydantic error location through the YAML node tree to a line number."""
    line = node.start_mark.line + 1 if node is not None else 1
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(key):
                    line = k.start_mark.line + 1
                    node = v
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _reference_errors(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """Cross-references (campaign -> provider/schedule), checked on the raw mapping so they
    are reported together with field errors instead of only after those are fixed."""
    out: list[tuple[tuple[Any, ...], str]] = []
    providers = data.get("providers")
    provider_names = set(providers) if isinstance(providers, dict) else {"simulated"}
    schedules = data.get("schedules") if isinstance(data.get("schedules"), dict) else {}
    campaigns = data.get("campaigns") if isinstance(data.get("campaigns"), list) else []
    seen: set[str] = set()
    for i, c in enumerate(campaigns):
        if not isinstance(c, dict):
            continue
        name = c.get("name")
        if isinstance(name, str):
            if name in seen:
                out.append((("campaigns", i, "name"), f"duplicate campaign name {show(name)}"))
            seen.add(name)
        prov = c.get("provider")
        if isinstance(prov, str) and prov not in provider_names:
            out.append(
                (("campaigns", i, "provider"), f"unknown provider {show(prov)} (defined: {_names(provider_names)})")
            )
        sched = c.get("schedule")
        if isinstance(sched, str) and sched not in schedules:
            defined = _names(schedules) or "none"
            out.append((("campaigns", i, "schedule"), f"unknown schedule {show(sched)} (defined: {defined})"))
    default = data.get("default_schedule")
    if isinstance(default, str) and default not in schedules:
        out.append((("default_schedule",), f"unknown schedule {show(default)}"))
    if isinstance(providers, dict):
        for name, settings in providers.items():
            if isinstance(settings, dict):
                for path in _secret_keys(settings):
                    out.append((("providers", name, *path), _secret_error(path, _at(settings, path))))
    return out


# Bounds on a config file: a supervisor's config is a few hundred lines; these stop an
# alias bomb ("billion laughs"), deep nesting or a huge file before they cost memory or
# time, wherever a config is read (check-config, run, SIGHUP reload, every command).
MAX_CONFIG_BYTES = 1 << 20
MAX_DEPTH = 32  # nested mappings/lists
MAX_ALIASES = 200  # uses of *anchor
MAX_VALUES = 50_000  # values (scalars, mappings, lists) once every alias is expanded
_MESSAGE_LIMIT = 400


class _Loader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """The safe loader; a scalar it cannot construct (2026-13-45, an int of 5000 digits)
    is a YAML error at that scalar's line instead of a bare ValueError."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, TypeError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value: {exc}", node.start_mark
            ) from None


def _yaml_issue(filename: str, text: str, exc: yaml.YAMLError) -> ConfigIssue:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        line = mark.line + 1
    elif isinstance(getattr(exc, "position", None), int):  # ReaderError: a character offset
        line = text.count("\n", 0, exc.position) + 1  # type: ignore[attr-defined]
    else:
        line = 1
    problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc).splitlines()[0]
    return ConfigIssue(filename, line, "(yaml)", str(problem))


def _check_shape(text: str, filename: str) -> None:
    """Depth, alias uses and the number of values, from the parser's events (no tree is
    built yet, and the event parser does not recurse)."""

    def fail(event: Any, message: str) -> ConfigError:
        return ConfigError([ConfigIssue(filename, event.start_mark.line + 1, "(yaml)", message)])

    depth = aliases = values = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            values += 1
            if depth > MAX_DEPTH:
                raise fail(event, f"nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.ScalarEvent):
            values += 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise fail(event, f"more than {MAX_ALIASES} aliases (*name)")
        if values > MAX_VALUES:
            raise fail(event, f"more than {MAX_VALUES:,} values; a config is not a data file")


def _expanded_size(root: yaml.Node, filename: str) -> None:
    """Count the values the document stands for with every alias expanded (an alias is
    the same node object again), so a few aliases of aliases cannot stand for a billion."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        known = sizes.get(key)
        if known is not None:
            return known
        if key in open_:
            raise ConfigError(
                [ConfigIssue(filename, node.start_mark.line + 1, "(yaml)", "an alias refers to the value it is part of")]
            )
        open_.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k) + size(v)
                if total > MAX_VALUES:
                    break
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item)
                if total > MAX_VALUES:
                    break
        open_.discard(key)
        if total > MAX_VALUES:
            raise ConfigError(
                [
                    ConfigIssue(
                        filename,
                        node.start_mark.line + 1,
                        "(yaml)",
                        f"with its aliases expanded this stands for more than {MAX_VALUES:,} values",
                    )
                ]
            )
        sizes[key] = total
        return total

    size(root)


def _compose(text: str, filename: str) -> tuple[yaml.Node | None, Any]:
    """(node tree, data) of YAML text within the bounds, or ConfigError with the line."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError([ConfigIssue(filename, 1, "(file)", f"larger than {MAX_CONFIG_BYTES >> 20} MiB")])
    try:
        _check_shape(text, filename)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _expanded_size(node, filename)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_issue(filename, text, exc)]) from None
    except RecursionError:  # not expected within MAX_DEPTH; still one line, not a traceback
        raise ConfigError([ConfigIssue(filename, 1, "(yaml)", "nested too deeply")]) from None
    return node, data


def _located(errors: list[Any], prefix: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    """pydantic errors -> (location, message), without the input values pydantic keeps."""
    out = []
    for err in errors:
        loc = prefix + tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        out.append((loc, err["msg"].removeprefix("Value error, ")))
    return out


def _issues(filename: str, node: yaml.Node | None, located: list[tuple[tuple[Any, ...], str]]) -> list[ConfigIssue]:
    issues = [
        ConfigIssue(filename, _line_of(node, loc), ".".join(_path_part(p) for p in loc) or "(root)", msg)
        for loc, msg in located
    ]
    return sorted(issues, key=lambda i: i.line)


_PLAIN_KEY = re.compile(r"[\w.\-+@/]{1,60}")


def _path_part(part: Any) -> str:
    """A key of the error's path: as written when it is a plain word, else quoted (and
    cut), so a key with spaces or colons cannot be mistaken for the message."""
    if isinstance(part, int) or (isinstance(part, str) and _PLAIN_KEY.fullmatch(part)):
        return str(part)
    return show(part, 40)


def _parse(text: str, filename: str) -> tuple[DialerConfig, yaml.Node | None]:
    node, data = _compose(text, filename)
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue(filename, 1, "(root)", "the config must be a mapping")])
    located: list[tuple[tuple[Any, ...], str]] = []
    config: DialerConfig | None = None
    try:
        config = DialerConfig.model_validate(data)
    except (ValueError, ArithmeticError, TypeError, RecursionError) as exc:
        if not isinstance(exc, ValidationError):
            # A validator that failed in a way it should have reported (a bug): still one
            # located line rather than a traceback, and it names what went wrong.
            raise ConfigError([ConfigIssue(filename, 1, "(root)", f"cannot check the config: {type(exc).__name__}: {exc}")]) from exc
        located.extend(
            (loc, msg)
            for loc, msg in _located(exc.errors(include_input=False, include_url=False))
            if "secrets come from the environment" not in msg  # located by _reference_errors
        )
    located.extend(_reference_errors(data))
    if located:
        raise ConfigError(_issues(filename, node, located))
    assert config is not None
    return config, node


def parse_config(text: str, filename: str = "<config>") -> DialerConfig:
    """Parse and validate YAML text; raise ConfigError listing every problem with its line."""
    return _parse(text, filename)[0]


def _read(p: Path) -> str:
    try:
        with open(p, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(p), 0, "(file)", exc.strerror or str(exc))]) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError([ConfigIssue(str(p), 1, "(file)", f"larger than {MAX_CONFIG_BYTES >> 20} MiB")])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            [
                ConfigIssue(
                    str(p), line, "(file)", f"not UTF-8 text (byte 0x{raw[exc.start]:02x}, column {column}); save it as UTF-8"
                )
            ]
        ) from None


def load_config(path: str | Path, *, check_providers: bool = False) -> DialerConfig:
    """Read and validate a config file; ConfigError lists every problem as FILE:LINE.

    With `check_providers`, each provider is also built once from its settings (no
    connection is made, no secret is read) so that their errors are reported the same
    way (check-config, start-up, SIGHUP reload)."""
    p = Path(path)
    config, node = _parse(_read(p), str(p))
    if check_providers:
        issues = provider_issues(config, str(p), node)
        if issues:
            raise ConfigError(issues)
    # The SQLite path is relative to the config file, so `--config` works from any directory.
    base = p.parent
    updates: dict[str, Path] = {}
    if config.storage.path is not None and not config.storage.path.is_absolute():
        updates["path"] = (base / config.storage.path).resolve()
    if not config.storage.reports_dir.is_absolute():
        updates["reports_dir"] = (base / config.storage.reports_dir).resolve()
    if updates:
        config = config.model_copy(update={"storage": config.storage.model_copy(update=updates)})
    return config


def provider_issues(config: DialerConfig, filename: str, node: yaml.Node | None = None) -> list[ConfigIssue]:
    """Build every provider once and turn what it refuses into located issues.

    A provider's own error is read as pydantic errors or `.issues` (location, message)
    when it offers them; any other error becomes lines under ``providers.NAME``, cut short,
    with every value of a secret-named setting and of the variables its ``*_env``
    settings name masked (a third-party provider may quote them)."""
    from dialer.clock import SystemClock
    from providers.base import create_provider

    located: list[tuple[tuple[Any, ...], str]] = []
    for name, p in config.providers.items():
        prefix = ("providers", name)
        try:
            create_provider(name, p.type, p.settings, SystemClock())
        except ValidationError as exc:
            for loc, msg in _located(exc.errors(include_input=False, include_url=False), prefix):
                if msg == "Extra inputs are not permitted":
                    msg = f"unknown setting for a {p.type} provider"
                located.append((loc, msg))
        except Exception as exc:
            issues = getattr(exc, "issues", None)
            if isinstance(issues, list) and all(isinstance(i, tuple) and len(i) == 2 for i in issues):
                located.extend((prefix + tuple(loc), str(msg)) for loc, msg in issues)
                continue
            if isinstance(exc, LookupError) and "is not installed" in str(exc):
                located.append(((*prefix, "type"), str(exc)))
                continue
            lines = [ln.strip() for ln in (str(exc) or type(exc).__name__).splitlines() if ln.strip()]
            for ln in lines[:5]:
                for junk in (f"providers.{name}.", f"providers.{name}: "):
                    ln = ln.removeprefix(junk)
                located.append((prefix, _mask(ln, p.settings)))
    if node is None:
        node = _node_of(filename)
    return _issues(filename, node, located)


def _mask(text: str, settings: Mapping[str, Any]) -> str:
    secrets: set[str] = set()
    for key, value in settings.items():
        if not isinstance(value, str):
            continue
        if isinstance(key, str) and key.endswith("_env"):
            env = os.environ.get(value)
            if env and len(env) >= 4:
                secrets.add(env)
        elif isinstance(key, str) and is_secret_key(key) and len(value) >= 4:
            secrets.add(value)
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return _URL_PASSWORD.sub(r"\1***@", text)


def _node_of(path: str | Path) -> yaml.Node | None:
    try:
        return _compose(_read(Path(path)), str(path))[0]
    except ConfigError:
        return None


def line_of(path: str | Path, loc: tuple[Any, ...]) -> int:
    """The line of a field in a config file (for errors found after validation)."""
    return _line_of(_node_of(path), loc)


def json_schema() -> dict[str, Any]:
    schema = DialerConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "dialer configuration"
    return schema
