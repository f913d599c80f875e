"""The config's value types and the rules every part of it shares; pure (no YAML, no files).

Times of day are "HH:MM" strings, durations accept ``90``, ``"90s"``, ``"15m"``, ``"2h"``,
``"3d"`` (plain numbers are seconds), days are ``mon``..``sun`` or ranges like ``mon-fri``.
A message quotes at most a short cut of a value (`show`), never a secret: secret-named
keys and URL passwords are recognised here (`is_secret_key`, `secret_keys`) so that the
models refuse them and the loader reports them at their line.

Providers validate their own settings with these types (``Duration``, ``show``): this
module imports nothing of the loader, the store or the engine.
"""

from __future__ import annotations

import math
import re
import reprlib
from collections.abc import Mapping
from datetime import time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import BeforeValidator, PlainSerializer, ValidationInfo, WithJsonSchema

from dialer.domain import MAX_PERIOD_DAYS

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
URL_PASSWORD = re.compile(r"(://[^/:@\s]*:)[^@/\s]*@")


def show(value: Any, limit: int = 60) -> str:
    """A value as an error message may quote it: a bounded repr (never a whole 100 KB
    string or an alias-expanded structure), with the password of a URL masked."""
    text = _shown.repr(value)
    if len(text) > limit:
        text = text[: limit - 4] + "..." + text[-1]
    return URL_PASSWORD.sub(r"\1***@", text)


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
            span = range(i, j + 1) if i <= j else [*range(i, 7), *range(j + 1)]
            out.update(span)
        elif item in DAY_NAMES:
            out.add(DAY_NAMES.index(item))
        else:
            raise ValueError(
                f"unknown day {show(raw)}; days are {', '.join(DAY_NAMES)} "
                "(a campaign window also takes workdays, dayoffs)"
            )
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


def after_start(end: time, info: ValidationInfo) -> time:
    """Field-level check so the error points at the `end` line."""
    start = info.data.get("start")
    if isinstance(start, time) and end <= start:
        raise ValueError(f"end {fmt_time(end)} must be after start {fmt_time(start)}")
    return end


def fmt_time(t: time) -> str:
    return "24:00" if t == time.max else t.strftime("%H:%M")


def _fmt_duration(d: timedelta) -> str:
    return f"{int(d.total_seconds())}s"


TimeOfDay = Annotated[
    time,
    BeforeValidator(_parse_time),
    PlainSerializer(fmt_time, return_type=str),
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
DSN_PASSWORD = re.compile(r"://[^/@\s]*:[^/@\s]+@|(?:^|[?&;\s])(?:ssl)?password\s*=", re.IGNORECASE)


def is_secret_key(key: str) -> bool:
    """Does a setting's name say it holds a secret (and is not the *name* of a variable)?"""
    lowered = key.lower()
    if lowered.endswith("_env"):
        return False
    return any(p in lowered for p in _SECRET_PARTS) or bool(_SECRET_WORDS & set(re.split(r"[^a-z0-9]+", lowered)))


def secret_keys(settings: Mapping[Any, Any], depth: int = 0) -> list[tuple[str, ...]]:
    """Paths of secret-named keys, and of URLs with a password (https://user:PASSWORD@...),
    in provider settings, nested mappings included."""
    out: list[tuple[str, ...]] = []
    for key, value in settings.items():
        if isinstance(key, str) and is_secret_key(key):
            out.append((key,))
        elif isinstance(value, str) and URL_PASSWORD.search(value):
            out.append((str(key),))
        elif isinstance(value, Mapping) and depth < 8:
            out.extend((str(key), *sub) for sub in secret_keys(value, depth + 1))
    return out


def _secret_message(key: str) -> str:
    return f"secrets come from the environment; name the variable as {path_part(key)}_env"


def secret_error(path: tuple[str, ...], value: Any) -> str:
    if isinstance(value, str) and not is_secret_key(path[-1]):
        return f"a password in the URL: {_secret_message(path[-1])}"
    return _secret_message(path[-1])


def value_at(settings: Mapping[Any, Any], path: tuple[str, ...]) -> Any:
    value: Any = settings
    for key in path:
        value = next((v for k, v in value.items() if str(k) == key), None) if isinstance(value, Mapping) else None
    return value


_PLAIN_KEY = re.compile(r"[\w.\-+@/]{1,60}")


def path_part(part: Any) -> str:
    """A key of the error's path: as written when it is a plain word, else quoted (and
    cut), so a key with spaces or colons cannot be mistaken for the message."""
    if isinstance(part, int) or (isinstance(part, str) and _PLAIN_KEY.fullmatch(part)):
        return str(part)
    return show(part, 40)
