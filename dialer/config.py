"""YAML config -> validated, typed models.

Supervisors edit the YAML; every error is reported as ``FILE:LINE: field.path: message``
so the line to fix is obvious. Times of day are "HH:MM" strings, durations accept
``90``, ``"90s"``, ``"15m"``, ``"2h"``, ``"3d"`` (plain numbers are seconds), days are
``mon``..``sun`` or ranges like ``mon-fri``.
"""

from __future__ import annotations

import re
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

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$")
_UNIT = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


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
    raise ValueError(f"expected a time of day as HH:MM, got {value!r}")


def _parse_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, bool):
        raise ValueError(f"expected a duration like 90s, 15m, 2h or 3d, got {value!r}")
    else:
        if isinstance(value, (int, float)):
            seconds = float(value)
        elif isinstance(value, str) and (m := _DURATION.match(value)):
            seconds = float(m.group(1)) * _UNIT[m.group(2)]
        else:
            raise ValueError(f"expected a duration like 90s, 15m, 2h or 3d, got {value!r}")
        if seconds != seconds:  # NaN
            raise ValueError("expected a duration like 90s, 15m, 2h or 3d, got NaN")
        if seconds < 0:
            raise ValueError("must not be negative")
        # Checked before building the timedelta (which overflows on .inf or 1e300), and
        # bounded: a period of centuries would only overflow the dates computed from it,
        # mid-call.
        if seconds > MAX_PERIOD_DAYS * 86400:
            raise ValueError(f"must be at most {MAX_PERIOD_DAYS}d (100 years)")
        result = timedelta(seconds=seconds)
    if result < timedelta(0):
        raise ValueError("must not be negative")
    if result > timedelta(days=MAX_PERIOD_DAYS):
        raise ValueError(f"must be at most {MAX_PERIOD_DAYS}d (100 years)")
    return result


def _parse_days(value: Any) -> frozenset[int]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple, set, frozenset)):
        raise ValueError("expected a list of days such as [mon-fri] or [mon, wed, sat]")
    out: set[int] = set()
    for raw in items:
        item = str(raw).strip().lower()
        if "-" in item:
            a, _, b = item.partition("-")
            if a not in DAY_NAMES or b not in DAY_NAMES:
                raise ValueError(f"unknown day range {raw!r}; days are {', '.join(DAY_NAMES)}")
            i, j = DAY_NAMES.index(a), DAY_NAMES.index(b)
            span = range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)]
            out.update(span)
        elif item in DAY_NAMES:
            out.add(DAY_NAMES.index(item))
        else:
            raise ValueError(f"unknown day {raw!r}; days are {', '.join(DAY_NAMES)}")
    return frozenset(out)


def _check_zone(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected an IANA time zone such as Europe/Moscow")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Kamchatka)") from None
    return value


def _check_country(value: Any) -> str:
    code = str(value).strip().upper()
    if code not in holidays.list_supported_countries():
        raise ValueError(f"no holiday calendar for country code {value!r}")
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
            "items": {"type": "string", "pattern": r"^(mon|tue|wed|thu|fri|sat|sun)(-(mon|tue|wed|thu|fri|sat|sun))?$"},
            "examples": [["mon-fri"]],
        }
    ),
]
Zone = Annotated[str, BeforeValidator(_check_zone), WithJsonSchema({"type": "string", "examples": ["Europe/Samara"]})]
Country = Annotated[str, BeforeValidator(_check_country), WithJsonSchema({"type": "string", "examples": ["RU"]})]


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


class Window(Hours):
    """Days and hours; used for the center shift and campaign windows."""

    days: Days = frozenset(range(7))


class Center(_Model):
    name: str
    timezone: Zone
    shift: Window = Field(description="when the center itself dials, in the center's time zone")
    holidays: Country | None = Field(None, description="the center's own days off (country code)")
    phone_region: str = Field("RU", description="default region for numbers written without +country")

    @field_validator("phone_region")
    @classmethod
    def _region(cls, v: str) -> str:
        if v.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {v!r}")
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
        for key in self.model_extra or {}:
            lowered = key.lower()
            if any(s in lowered for s in ("token", "password", "secret")) and not lowered.endswith("_env"):
                raise ValueError(f"{key}: secrets come from the environment; name the variable as {key}_env")
        return self

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Storage(_Model):
    path: Path | None = Field(Path("var/dialer.db"), description="SQLite file, relative to the config file")
    url: str | None = Field(None, description="postgresql://... DSN; overrides path")
    reports_dir: Path = Field(Path("var/reports"), description="evening reports are written here")


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
                out.append((("campaigns", i, "name"), f"duplicate campaign name {name!r}"))
            seen.add(name)
        prov = c.get("provider")
        if isinstance(prov, str) and prov not in provider_names:
            out.append(
                (("campaigns", i, "provider"), f"unknown provider {prov!r} (defined: {', '.join(sorted(provider_names))})")
            )
        sched = c.get("schedule")
        if isinstance(sched, str) and sched not in schedules:
            defined = ", ".join(sorted(schedules)) or "none"
            out.append((("campaigns", i, "schedule"), f"unknown schedule {sched!r} (defined: {defined})"))
    default = data.get("default_schedule")
    if isinstance(default, str) and default not in schedules:
        out.append((("default_schedule",), f"unknown schedule {default!r}"))
    return out


def parse_config(text: str, filename: str = "<config>") -> DialerConfig:
    """Parse and validate YAML text; raise ConfigError listing every problem with its line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise ConfigError([ConfigIssue(filename, line, "(yaml)", str(getattr(exc, "problem", exc)))]) from None
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue(filename, 1, "(root)", "the config must be a mapping")])
    located: list[tuple[tuple[Any, ...], str]] = []
    config: DialerConfig | None = None
    try:
        config = DialerConfig.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            located.append((loc, err["msg"].removeprefix("Value error, ")))
    located.extend(_reference_errors(data))
    if located:
        issues = [
            ConfigIssue(filename, _line_of(node, loc), ".".join(str(p) for p in loc) or "(root)", msg)
            for loc, msg in located
        ]
        raise ConfigError(sorted(issues, key=lambda i: i.line))
    assert config is not None
    return config


def load_config(path: str | Path) -> DialerConfig:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(p), 0, "(file)", exc.strerror or str(exc))]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Also reached by a reload (SIGHUP), where a traceback would replace reload_rejected.
        line = raw.count(b"\n", 0, exc.start) + 1
        message = f"not UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        raise ConfigError([ConfigIssue(str(p), line, "(file)", message)]) from None
    config = parse_config(text, str(p))
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


def line_of(path: str | Path, loc: tuple[Any, ...]) -> int:
    """The line of a field in a config file (for errors found after validation)."""
    try:
        node = yaml.compose(Path(path).read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return 1
    return _line_of(node, loc)


def json_schema() -> dict[str, Any]:
    schema = DialerConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "dialer configuration"
    return schema
