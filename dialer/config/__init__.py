"""The dialer's configuration.

- `dialer.config.values`: value types (Duration, TimeOfDay, Days, ...) and `show`; pure.
- `dialer.config.models`: the pydantic models (`DialerConfig`, `Campaign`, ...); pure.
- `dialer.config.errors`: `ConfigIssue`, `ConfigError` (``FILE:LINE: field: message``).
- `dialer.config.loader`: YAML file -> `DialerConfig` with line numbers (`load_config`).

The rules, the engine and the providers import the models and values only; importing
them (or this package) never imports YAML or the loader. The loader's names are still
reachable from here (``from dialer.config import load_config``), imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dialer.config.errors import ConfigError, ConfigIssue
from dialer.config.models import (
    CALENDAR_DAYS,
    Agent,
    Campaign,
    Caps,
    Center,
    DialerConfig,
    Hours,
    Http,
    Lifecycle,
    ProviderConfig,
    Retry,
    RetryPolicy,
    Schedule,
    Service,
    Storage,
    Talk,
    Window,
    json_schema,
)
from dialer.config.values import DAY_NAMES, MAX_DURATION, Country, Days, Duration, TimeOfDay, Zone, is_secret_key, show

if TYPE_CHECKING:
    from dialer.config.loader import (
        MAX_ALIASES,
        MAX_CONFIG_BYTES,
        MAX_DEPTH,
        MAX_VALUES,
        line_of,
        load_config,
        parse_config,
        provider_issues,
    )

# Names of the loader, imported when first asked for (PEP 562) so that importing the
# models stays free of YAML.
_LOADER_NAMES = frozenset(
    {"MAX_ALIASES", "MAX_CONFIG_BYTES", "MAX_DEPTH", "MAX_VALUES", "line_of", "load_config", "parse_config",
     "provider_issues"}
)  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _LOADER_NAMES:
        return getattr(importlib.import_module("dialer.config.loader"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CALENDAR_DAYS",
    "DAY_NAMES",
    "MAX_ALIASES",
    "MAX_CONFIG_BYTES",
    "MAX_DEPTH",
    "MAX_DURATION",
    "MAX_VALUES",
    "Agent",
    "Campaign",
    "Caps",
    "Center",
    "ConfigError",
    "ConfigIssue",
    "Country",
    "Days",
    "DialerConfig",
    "Duration",
    "Hours",
    "Http",
    "Lifecycle",
    "ProviderConfig",
    "Retry",
    "RetryPolicy",
    "Schedule",
    "Service",
    "Storage",
    "Talk",
    "TimeOfDay",
    "Window",
    "Zone",
    "is_secret_key",
    "json_schema",
    "line_of",
    "load_config",
    "parse_config",
    "provider_issues",
    "show",
]
