"""Settings of the SIP provider (YAML ``providers: NAME: {type: sip, ...}``).

Secrets are never written in the config: ``password_env`` names the environment
variable (or systemd credential) that holds the SIP password. Durations accept ``90``,
``"90s"``, ``"1.5s"``, ``"15m"``. Every error names the provider and the field, e.g.
``providers.pbx.rtp_ports: ...``. The README's "SIP provider (PBX or trunk)" section has a full example.
"""

from __future__ import annotations

import ipaddress
import re
import wave
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dialer.config.values import Duration, show
from dialer.domain import Disposition
from providers.base import settings_issues

_HOST = re.compile(r"^[A-Za-z0-9.\-]+$")


class SipSettingsError(ValueError):
    """A SIP provider's settings are wrong; the message names provider and field.

    ``issues`` are the same problems as (location within the settings, message), which
    `dialer.config.loader.provider_issues` turns into FILE:LINE lines; no message quotes a
    whole input value."""

    def __init__(self, message: str, issues: list[tuple[tuple[str | int, ...], str]] | None = None):
        super().__init__(message)
        self.issues: list[tuple[tuple[str | int, ...], str]] = issues or []


class HostPort(BaseModel):
    """``{host: pbx.example.com, port: 5060}`` or the short form ``"pbx.example.com:5060"``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    host: str
    port: int = Field(5060, ge=1, le=65535)

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        v = v.strip()
        if not v or not _HOST.match(v):
            raise ValueError(f"{show(v)} is not a host name or IPv4 address")
        return v

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def _host_port(value: Any) -> Any:
    if isinstance(value, str):
        host, sep, port = value.rpartition(":")
        if not sep:
            return {"host": value}
        if not port.isdigit():
            raise ValueError(f"{show(value)}: expected host or host:port, e.g. pbx.example.com:5060")
        return {"host": host, "port": int(port)}
    return value


class Nudge(BaseModel):
    """The wrap-up tone the agent alone hears when talk time reaches the guideline's maximum."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    frequency_hz: int = Field(1000, ge=200, le=3400)
    beep: Duration = Field(timedelta(seconds=0.25), description="length of one beep")
    gap: Duration = Field(timedelta(seconds=0.15), description="silence between beeps")
    beeps: int = Field(2, ge=1, le=5)
    level_dbfs: float = Field(-20.0, ge=-50, le=-3, description="quiet: well below speech level")

    @field_validator("beep", "gap")
    @classmethod
    def _short(cls, v: timedelta) -> timedelta:
        if not timedelta(seconds=0.02) <= v <= timedelta(seconds=2):
            raise ValueError("must be between 0.02s and 2s")
        return v


class MessageMode(BaseModel):
    """Customer check-ins: play a prompt to the client, read one DTMF digit (RFC 2833),
    record the disposition it maps to. Off by default; never for advertising robocalls."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    prompt: Path | None = Field(None, description="WAV, 8000 Hz, mono, 16-bit PCM")
    digits: dict[str, Disposition] = Field(default_factory=dict, description='e.g. {"1": no_need, "2": complaint}')
    timeout: Duration = Field(timedelta(seconds=10), description="wait this long for a digit after the prompt")
    repeat: int = Field(1, ge=1, le=3, description="play the prompt this many times while no digit came")
    callback_after: Duration = Field(
        timedelta(hours=2), description="disposition_at for digits mapped to callback / meeting_set"
    )

    @field_validator("digits")
    @classmethod
    def _digits(cls, v: dict[str, Disposition]) -> dict[str, Disposition]:
        for key in v:
            if key not in "0123456789*#" or len(key) != 1:
                raise ValueError(f"{show(key)} is not a DTMF digit (0-9, * or #)")
        return v

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, v: Path | None) -> Path | None:
        if v is None:
            return v
        check_prompt(v)
        return v

    @model_validator(mode="after")
    def _complete(self) -> MessageMode:
        if self.enabled:
            if self.prompt is None:
                raise ValueError("message_mode.enabled needs message_mode.prompt (a WAV file)")
            if not self.digits:
                raise ValueError("message_mode.enabled needs message_mode.digits (digit -> disposition)")
        return self


def check_prompt(path: Path) -> tuple[int, int]:
    """Raise ValueError unless ``path`` is an 8 kHz mono 16-bit PCM WAV; return (frames, rate)."""
    try:
        found = path.is_file()
    except OSError:  # a name too long for the file system, ...
        found = False
    if not found:
        raise ValueError(f"prompt file {show(str(path))} not found")
    try:
        with wave.open(str(path), "rb") as w:
            rate, channels, width, frames = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"prompt {show(str(path))} is not a PCM WAV file ({exc})") from None
    if (rate, channels, width) != (8000, 1, 2):
        raise ValueError(
            f"prompt {show(str(path))} is {rate} Hz, {channels} channel(s), {8 * width}-bit; it must be 8000 Hz mono "
            "16-bit (convert: sox in.wav -r 8000 -c 1 -b 16 out.wav)"
        )
    if frames < 160:
        raise ValueError(f"prompt {show(str(path))} is shorter than 20 ms")
    return frames, rate


class SipSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    type: str = "sip"

    # where the PBX / trunk is
    registrar: HostPort | None = Field(None, description="REGISTER goes here (the PBX); needed when register is true")
    proxy: HostPort | None = Field(None, description="outbound proxy: every INVITE is sent here (default: registrar)")
    domain: str | None = Field(None, description="host part of URIs built from extensions and numbers")
    client_uri: str = Field(
        "sip:{number}@{domain}",
        description="the client's URI; {number} is E.164 with '+', {digits} without it, {domain} as above",
    )

    # account
    username: str | None = Field(None, description="SIP user (extension) of the dialer")
    auth_username: str | None = Field(None, description="digest user name when it differs from username")
    password_env: str | None = Field(None, description="environment variable holding the SIP password")
    register_: bool = Field(True, alias="register", description="false for an IP trunk that authenticates by address")
    register_expiry: Duration = Field(timedelta(seconds=300), description="Expires asked for in REGISTER")
    register_backoff_initial: Duration = timedelta(seconds=2)
    register_backoff_max: Duration = timedelta(seconds=60)
    register_wait: Duration = Field(
        timedelta(seconds=5), description="start() and dial() wait at most this long for a registration"
    )

    # local side
    bind_ip: str = Field("0.0.0.0", description="local address of the SIP socket")
    bind_port: int = Field(5060, ge=0, le=65535, description="local SIP port (0: any free port)")
    public_ip: str | None = Field(None, description="address written in Via/Contact/SDP (default: the local one)")
    rtp_ports: tuple[int, int] = Field((10000, 20000), description="RTP port range [low, high], both inclusive")
    symmetric_rtp: bool = Field(False, description="send media back to where it comes from (peers behind NAT)")

    # media
    codecs: list[Literal["PCMU", "PCMA"]] = Field(["PCMU"], min_length=1, description="offered, in order")
    dtmf_payload_type: int = Field(101, ge=96, le=127)
    nudge: Nudge = Nudge()
    message_mode: MessageMode = MessageMode()

    # timeouts
    t1: Duration = Field(timedelta(seconds=0.5), description="SIP timer T1 (UDP retransmissions start at T1)")
    no_response_timeout: Duration = Field(
        timedelta(seconds=8), description="INVITE with no response at all: give up (failed) after this"
    )
    agent_ring_timeout: Duration = Field(timedelta(seconds=20), description="how long the agent's phone rings")
    cancel_timeout: Duration = Field(timedelta(seconds=4), description="wait this long for 487 after CANCEL")
    bye_timeout: Duration = Field(timedelta(seconds=4), description="stop retransmitting an unanswered BYE after this")
    default_talk_limit: Duration = Field(
        timedelta(minutes=30), description="hang up after this talk time when the campaign sets no hard_limit"
    )
    user_agent: str = "dialer-sip"

    @field_validator("registrar", "proxy", mode="before")
    @classmethod
    def _hp(cls, v: Any) -> Any:
        return _host_port(v)

    @field_validator("bind_ip", "public_ip")
    @classmethod
    def _ip(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            if ipaddress.ip_address(v).version != 4:
                raise ValueError
        except ValueError:
            raise ValueError(f"{show(v)} is not an IPv4 address (IPv6 is not supported)") from None
        return v

    @field_validator("rtp_ports")
    @classmethod
    def _rtp(cls, v: tuple[int, int]) -> tuple[int, int]:
        lo, hi = v
        if not 1024 <= lo <= hi <= 65535:
            raise ValueError("must be [low, high] with 1024 <= low <= high <= 65535")
        if (hi - lo) // 2 + 1 < 2:
            raise ValueError("needs room for at least 2 RTP ports (one call: agent and client leg)")
        return v

    @field_validator("codecs")
    @classmethod
    def _codecs(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("lists a codec twice")
        return v

    @field_validator("client_uri")
    @classmethod
    def _template(cls, v: str) -> str:
        if not v.startswith("sip:") or ("{number}" not in v and "{digits}" not in v):
            raise ValueError("must be a sip: URI template with {number} or {digits}, e.g. sip:{number}@{domain}")
        try:
            v.format(number="+1", digits="1", domain="d")
        except (KeyError, IndexError, ValueError):
            raise ValueError("may only use {number}, {digits} and {domain}") from None
        return v

    @model_validator(mode="after")
    def _checks(self) -> SipSettings:
        if self.register_:
            missing = [f for f in ("registrar", "username", "password_env") if getattr(self, f) is None]
            if missing:
                raise ValueError(
                    f"register is true, so {', '.join(missing)} must be set (or register: false for an IP trunk)"
                )
        if self.password_env is not None and self.username is None:
            raise ValueError("password_env is set but username is not")
        if self.domain is None and self.registrar is None and self.proxy is None and "{domain}" in self.client_uri:
            raise ValueError("client_uri uses {domain}: set domain, registrar or proxy")
        if self.register_backoff_max < self.register_backoff_initial:
            raise ValueError("register_backoff_max must not be below register_backoff_initial")
        if self.register_expiry < timedelta(seconds=1):
            raise ValueError("register_expiry must be at least 1s")
        for name in ("t1", "no_response_timeout", "agent_ring_timeout", "cancel_timeout", "bye_timeout",
                     "register_wait", "register_backoff_initial", "default_talk_limit"):  # fmt: skip
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be positive")
        return self

    # ------------------------------------------------------------ derived

    @property
    def send_to(self) -> HostPort | None:
        """Where INVITEs go when not to the URI's own host: the proxy, else the registrar."""
        return self.proxy or self.registrar

    @property
    def uri_domain(self) -> str:
        if self.domain:
            return self.domain
        hp = self.send_to
        if hp is None:
            raise SipSettingsError("no domain, registrar or proxy to build a SIP URI with")
        return hp.host if hp.port == 5060 else f"{hp.host}:{hp.port}"


def parse_settings(name: str, settings: Mapping[str, Any]) -> SipSettings:
    """Validate, or raise SipSettingsError naming the provider and every bad field."""
    try:
        return SipSettings.model_validate(dict(settings))
    except ValidationError as exc:
        text, issues = settings_issues(exc, "sip", name)
        raise SipSettingsError(text, issues) from None
