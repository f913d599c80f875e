"""The `web:` section of the config: the pages and the API the worker serves to people.

Defined here (not in dialer/config.py) so the web layer owns its settings; the
top-level config model has one field of this type. It must not import dialer.config
(which imports it), hence its own small duration reader.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _parse_duration(value: Any) -> Any:
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a duration like 30s, 5m, 12h or 1d")
        return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    return value


def _fmt_duration(value: timedelta) -> str:
    return f"{int(value.total_seconds())}s"


Duration = Annotated[timedelta, BeforeValidator(_parse_duration), PlainSerializer(_fmt_duration, return_type=str)]


class WebSettings(BaseModel):
    """People at the dialer: login pages, agent presence, the /api/v1 JSON API."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        False,
        description="serve the login page, pages and /api/v1 on the worker's HTTP endpoint; campaigns with "
        "agents: then call only agents who are Ready (logged in)",
    )
    host: str | None = Field(None, description="listen address for browsers (default: the http section's)")
    port: int | None = Field(None, ge=0, le=65535, description="listen port (default: the http section's)")
    public_url: str | None = Field(
        None, description="the URL browsers use (https://... behind a TLS proxy: cookies are then Secure)"
    )
    trusted_proxies: list[str] = Field(
        default_factory=list, description="addresses/networks of reverse proxies whose X-Forwarded-For is believed"
    )
    session_ttl: Duration = Field(timedelta(hours=12), description="a login lasts this long")
    session_secret_env: str = Field(
        "DIALER_SESSION_SECRET", description="environment variable / systemd credential holding the cookie key"
    )
    max_wrap_up: Duration = Field(timedelta(minutes=5), description="an agent may extend wrap-up up to this in all")
    edit_period: Duration = Field(
        timedelta(minutes=30), description="an agent may correct a disposition this long after the call ended"
    )
    pause_reasons: list[str] = Field(
        default_factory=lambda: ["break", "lunch", "training", "technical"],
        description="reasons an agent may pause for",
    )
    login_max_failures: int = Field(5, ge=1, description="failed logins of one account before it waits")
    login_address_max_failures: int = Field(20, ge=1, description="failed logins from one address before it waits")
    login_cooldown: Duration = Field(timedelta(minutes=15), description="how long failures count (the wait)")

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return value

    @property
    def secure_cookies(self) -> bool:
        return bool(self.public_url and self.public_url.startswith("https://"))

    def proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(p, strict=False) for p in self.trusted_proxies]


__all__ = ["Duration", "WebSettings"]
