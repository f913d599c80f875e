"""Settings of the Twilio provider (YAML ``providers: NAME: {type: twilio, ...}``).

Secrets are never written in the config: ``account_sid_env`` / ``auth_token_env`` (and
``webhook_key_env`` for SharedKey-signed webhooks) name the environment variables or
systemd credentials that hold them. Durations accept ``90``, ``"90s"``, ``"15m"``, ``"2h"``.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dialer.config.values import Duration, show
from providers.base import settings_issues

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TwilioSettingsError(ValueError):
    """A Twilio provider's settings are wrong; the message names provider and field.

    ``issues`` are the same problems as (location within the settings, message), which
    `dialer.config.loader.provider_issues` turns into FILE:LINE lines; no message quotes a
    whole input value."""

    def __init__(self, message: str, issues: list[tuple[tuple[str | int, ...], str]] | None = None):
        super().__init__(message)
        self.issues: list[tuple[tuple[str | int, ...], str]] = issues or []


def _http_url(value: str, *, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"{what} must be an absolute http(s) URL such as https://dialer.example.com, got {show(value)}"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"{what} must not carry a query or fragment, got {show(value)}")
    return value.rstrip("/")


class MachineDetection(BaseModel):
    """Answering-machine detection for client-first calls (Twilio ``MachineDetection``)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    mode: Literal["Enable", "DetectMessageEnd"] | None = Field(
        None, description="default: Enable, or DetectMessageEnd when a message is left"
    )
    timeout: Duration = Field(timedelta(seconds=30), description="MachineDetectionTimeout (3-59 s)")
    speech_threshold_ms: int | None = Field(None, ge=1000, le=6000)
    speech_end_threshold_ms: int | None = Field(None, ge=500, le=5000)
    silence_timeout_ms: int | None = Field(None, ge=2000, le=10000)
    on_machine: Literal["hangup", "message"] = "hangup"
    message: str | None = Field(None, description="text read (<Say>) to a machine when on_machine is message")
    message_url: str | None = Field(None, description="audio played (<Play>) to a machine when on_machine is message")
    language: str | None = Field(None, description="<Say language>, e.g. ru-RU")
    voice: str | None = Field(None, description="<Say voice>")

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, v: timedelta) -> timedelta:
        if not 3 <= v.total_seconds() <= 59:
            raise ValueError("must be between 3s and 59s (Twilio's MachineDetectionTimeout)")
        return v

    @model_validator(mode="after")
    def _message(self) -> MachineDetection:
        if self.on_machine == "message" and not (self.message or self.message_url):
            raise ValueError("on_machine: message needs `message` (text) or `message_url` (audio)")
        if self.message_url is not None:
            _http_url(self.message_url, what="message_url")
        return self

    @property
    def twilio_mode(self) -> str:
        if self.mode:
            return self.mode
        return "DetectMessageEnd" if self.on_machine == "message" else "Enable"


class TwilioSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = "twilio"

    # credentials (names of environment variables / systemd credentials, never values)
    account_sid_env: str = Field("TWILIO_ACCOUNT_SID", min_length=1)
    auth_token_env: str = Field("TWILIO_AUTH_TOKEN", min_length=1)
    webhook_key_env: str | None = Field(
        None, description="SharedKey secret, only for webhooks signed with X-Twilio-Webhooks-Signature-Settings"
    )

    # where things are
    api_base_url: str = Field("https://api.twilio.com", description="REST API base (Twilio or a compatible service)")
    public_base_url: str | None = Field(None, description="the URL Twilio reaches this worker's webhooks on")
    public_base_url_env: str | None = Field(None, description="or: the environment variable holding it (per host)")
    listen_host: str = Field("127.0.0.1", description="the webhook endpoint's bind address")
    listen_port: int = Field(8089, ge=0, le=65535)
    trusted_proxies: list[IPNetwork] = Field(
        default_factory=list, description="addresses whose X-Forwarded-Proto/Host are believed"
    )
    max_body_bytes: int = Field(16384, ge=1024, le=1_048_576, description="larger webhook bodies get 413")

    # calls
    cps: float = Field(1.0, gt=0, le=1000, description="calls created per second, at most (the account's CPS)")
    agent_ring_timeout: Duration = Field(timedelta(seconds=20), description="how long the agent's phone rings")
    default_talk_limit: Duration = Field(
        timedelta(minutes=20), description="talk cap when the campaign sets no talk.hard_limit"
    )
    machine_detection: MachineDetection = MachineDetection()

    # watchdog
    watchdog_slack: Duration = Field(timedelta(seconds=60), description="added to ring + talk cap before ending a call")
    poll_interval: Duration = Field(
        timedelta(seconds=60), description="fetch the call by SID when no callback arrived for this long"
    )
    final_grace: Duration = Field(
        timedelta(seconds=10), description="after the main leg ended, wait this long for the bridged leg's callbacks"
    )
    end_orphans: bool = Field(
        True, description="fetch() ends a call still live at Twilio that no worker follows (crash reconciliation)"
    )

    # REST client
    connect_timeout: Duration = timedelta(seconds=5)
    request_timeout: Duration = timedelta(seconds=15)
    max_retries: int = Field(4, ge=0, le=20, description="retries of POST /Calls after 429, refused connections, ...")
    backoff_initial: Duration = timedelta(seconds=0.5)
    backoff_max: Duration = timedelta(seconds=8)
    lookup_delay: Duration = Field(
        timedelta(seconds=2), description="after an ambiguous create, wait this long for callbacks before listing calls"
    )

    @field_validator("api_base_url")
    @classmethod
    def _api(cls, v: str) -> str:
        return _http_url(v, what="api_base_url")

    @field_validator("public_base_url")
    @classmethod
    def _public(cls, v: str | None) -> str | None:
        return None if v is None else _http_url(v, what="public_base_url")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [v]
        if isinstance(v, list):
            out = []
            for item in v:
                try:
                    out.append(ipaddress.ip_network(str(item), strict=False))
                except ValueError:
                    raise ValueError(f"{show(item)} is not an IP address or network such as 10.0.0.0/8") from None
            return out
        return v

    @model_validator(mode="after")
    def _checks(self) -> TwilioSettings:
        if self.public_base_url is None and self.public_base_url_env is None:
            raise ValueError(
                "public_base_url is required: the https URL Twilio calls this worker's webhooks on "
                "(or public_base_url_env naming a variable that holds it)"
            )
        if self.backoff_max < self.backoff_initial:
            raise ValueError("backoff_max must not be below backoff_initial")
        if self.request_timeout <= timedelta(0) or self.connect_timeout <= timedelta(0):
            raise ValueError("request_timeout and connect_timeout must be positive")
        if self.poll_interval < timedelta(seconds=0.01):
            raise ValueError("poll_interval must be positive")
        return self

    def resolved_public_base_url(self) -> str:
        if self.public_base_url is not None:
            return self.public_base_url
        assert self.public_base_url_env is not None
        value = os.environ.get(self.public_base_url_env)
        if not value:
            message = f"environment variable {self.public_base_url_env} is not set"
            raise TwilioSettingsError(f"public_base_url_env: {message}", [(("public_base_url_env",), message)])
        try:
            return _http_url(value, what=f"${self.public_base_url_env}")
        except ValueError as exc:
            raise TwilioSettingsError(f"public_base_url_env: {exc}", [(("public_base_url_env",), str(exc))]) from None


def parse_settings(name: str, settings: Mapping[str, Any]) -> TwilioSettings:
    """Validate, or raise TwilioSettingsError naming the provider and every bad field."""
    try:
        return TwilioSettings.model_validate(dict(settings))
    except ValidationError as exc:
        text, issues = settings_issues(exc, "twilio", name)
        raise TwilioSettingsError(text, issues) from None
