"""structlog set-up: JSON lines for the daemon, terse console lines for commands.

Secrets never reach a log: a processor masks any field whose name says it holds
one, and any value equal to a secret the process loaded (registered through
`register_secret`)."""

from __future__ import annotations

import enum
import logging
import re
import sys
from collections.abc import MutableMapping
from datetime import date, datetime, time, timedelta
from pathlib import PurePath
from typing import Any, TextIO

import structlog

_SECRET_KEY = re.compile(r"(token|password|passwd|secret|authorization|auth_token|api_key)", re.I)
_SECRETS: set[str] = set()
MASK = "***"


def register_secret(value: str | None) -> None:
    if value and len(value) >= 4:
        _SECRETS.add(value)


def _mask_text(text: str) -> str:
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if _SECRET_KEY.search(key) and not key.endswith("_env"):
            event[key] = MASK
        elif isinstance(value, str):
            event[key] = _mask_text(value)
    return event


def _plain(value: Any, depth: int = 0) -> Any:
    """A log value as JSON-friendly data: instants and dates in ISO 8601 (UTC instants
    end in Z), durations in seconds, paths and enums as text. Containers are walked
    (bounded depth: a log field is never a deep structure worth more)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None and value.utcoffset() == timedelta(0):
            return value.isoformat().replace("+00:00", "Z")
        return value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    if depth < 4:
        if isinstance(value, dict):
            return {k: _plain(v, depth + 1) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [_plain(v, depth + 1) for v in value]
    return value


def iso_values(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: see `_plain` (the JSON renderer would print a datetime's repr)."""
    for key, value in list(event.items()):
        event[key] = _plain(value)
    return event


class _ToStructlog(logging.Handler):
    """A stdlib handler that re-emits records (uvicorn's own messages) through
    structlog, so they are JSON lines like every other line of the daemon."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, Any] = {"logger": record.name, "message": record.getMessage()}
            if record.exc_info and record.exc_info[1] is not None:
                exc = record.exc_info[1]
                fields["error"] = f"{type(exc).__name__}: {exc}"
                fields["exc_info"] = record.exc_info
            structlog.get_logger(record.name).log(record.levelno, "http_server", **fields)
        except Exception:  # a log line must never take the server down
            self.handleError(record)


def route_stdlib_logger(name: str, level: int = logging.WARNING) -> None:
    """Send a third-party stdlib logger (and its children) through structlog only
    (no propagation to the root logger, whose last-resort handler prints raw text)."""
    logger = logging.getLogger(name)
    if not any(isinstance(h, _ToStructlog) for h in logger.handlers):
        logger.addHandler(_ToStructlog())
    logger.setLevel(level)
    logger.propagate = False


def configure(json: bool = True, level: int = logging.INFO, stream: TextIO | None = None) -> None:
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            iso_values,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stdout),
        cache_logger_on_first_use=False,
    )
