"""The validated, typed config: pydantic models, pure (no YAML, no file I/O).

The rules (calendar, lifecycle, outcomes, planning), the engine and the providers import
these; reading a file, YAML and FILE:LINE error reporting live in `dialer.config.loader`.
"""

from __future__ import annotations

from datetime import date, time, timedelta
from pathlib import Path
from typing import Any, Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from dialer.config.values import (
    DSN_PASSWORD,
    Country,
    Days,
    Duration,
    TimeOfDay,
    Zone,
    after_start,
    secret_error,
    secret_keys,
    show,
    value_at,
)
from dialer.domain import Stage
from dialer.pacing.modes import (
    REGULATORY_MAX_ABANDON_AFTER,
    REGULATORY_MAX_ABANDON_RATE,
    REGULATORY_MIN_RING,
    AbandonWindow,
    DialMode,
    PacingSettings,
    validate_settings,
)
from dialer.web.settings import WebSettings


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
        return after_start(end, info)


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
    holidays: Country | None = Field(
        None, description="production calendar by country code (moved days off, working Saturdays)"
    )
    closed_dates: list[date] = Field(default_factory=list, description="extra dates the client does not work")
    timezone: Zone | None = Field(None, description="zone for clients of this schedule without their own")

    @field_validator("end")
    @classmethod
    def _ordered(cls, end: time, info: ValidationInfo) -> time:
        return after_start(end, info)

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
    # issue 13: a live answer the dialer hung up on (no agent free). A power or predictive
    # campaign waits at least ABANDON_REDIAL_BLOCK before dialing the client again without
    # an agent reserved, whatever this delay says.
    abandoned: Retry = Retry(delay=timedelta(hours=4), max_per_day=1, max_total=3)
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
    # Presence: the campaign's agents must be Ready (the agent desktop) to be offered a call.
    presence: bool | None = Field(None, description="call only agents who are Ready (default: web.enabled)")
    wrap_up: Duration = Field(timedelta(seconds=30), description="after a call the agent wraps up this long")
    # issue 12: preview = the agent sees the client's card first and presses Call or Skip.
    dial_mode: DialMode = Field(DialMode.PROGRESSIVE, description="preview, progressive, power or predictive")
    # issue 13: client-first pacing (power, predictive) and its compliance settings.
    power_ratio: float = Field(2.0, description="power: calls per Ready agent; predictive never goes above it")
    max_abandon_rate: float = Field(
        REGULATORY_MAX_ABANDON_RATE, description="abandoned / live-answered calls over abandon_window, at most"
    )
    abandon_window: AbandonWindow = Field(AbandonWindow.DAY, description="24h (Ofcom) or 30d (TCPA)")
    abandon_after: Duration = Field(
        timedelta(seconds=REGULATORY_MAX_ABANDON_AFTER),
        description="a live answer with no agent free this long hears the information message and is hung up",
    )
    min_ring: Duration = Field(
        timedelta(seconds=REGULATORY_MIN_RING), description="every call rings at least this long"
    )
    allow_abandon: bool = Field(False, description="power/predictive: accept that some answered calls are abandoned")
    information_message: str = Field(
        "", description="said to an abandoned call (Twilio <Say>): who called and how to opt out"
    )
    information_audio: Path | None = Field(
        None, description="the same message as an audio file (WAV, 8 kHz mono) for SIP providers"
    )

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
        problems = validate_settings(self.pacing)
        if problems:
            raise ValueError("; ".join(problems))
        if self.dial_mode.client_first and not self.agents:
            raise ValueError(f"dial_mode {self.dial_mode.value} needs agents: (calls are paced on Ready agents)")
        if self.dial_mode is DialMode.PREVIEW and (not self.agents or self.presence is False):
            raise ValueError("dial_mode preview needs agents: (a person previews each client) and presence")
        return self

    @property
    def pacing(self) -> PacingSettings:
        """The campaign's pacing choice for dialer.pacing (seconds as floats)."""
        return PacingSettings(
            dial_mode=self.dial_mode,
            power_ratio=self.power_ratio,
            max_abandon_rate=self.max_abandon_rate,
            abandon_window=self.abandon_window,
            abandon_after=self.abandon_after.total_seconds(),
            min_ring=self.min_ring.total_seconds(),
            allow_abandon=self.allow_abandon,
            information_message=self.information_message or str(self.information_audio or ""),
        )

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
        # (The config loader reports these at the key's own line, see loader._reference_errors.)
        for path in secret_keys(self.model_extra or {}):
            raise ValueError(f"{'.'.join(path)}: {secret_error(path, value_at(self.model_extra or {}, path))}")
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
        if v is not None and DSN_PASSWORD.search(v):
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
    providers: dict[str, ProviderConfig] = Field(
        default_factory=lambda: {"simulated": ProviderConfig(type="simulated")}
    )
    service: Service = Service()
    http: Http = Http()
    web: WebSettings = WebSettings()

    @model_validator(mode="after")
    def _preview_has_a_desk(self) -> DialerConfig:
        # A preview is shown on the agent desktop: without the web section no one sees it.
        for c in self.campaigns:
            if c.dial_mode is DialMode.PREVIEW and c.presence is None and not self.web.enabled:
                raise ValueError(f"campaign {c.name}: dial_mode preview needs the web section (the agent desktop)")
        return self

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


def json_schema() -> dict[str, Any]:
    schema = DialerConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "dialer configuration"
    return schema
