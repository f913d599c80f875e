"""structlog set-up: one pipeline for the dialer's own lines and the libraries' ones.

Two renderings of the same events: JSON lines (the daemon under systemd, anything that
is not a terminal) and terse console lines (a person at a terminal). The libraries the
dialer runs on (uvicorn, APScheduler, asyncpg, twilio, httpx) log through the standard
`logging` module; their records go through the same processors (`ProcessorFormatter`), so
a library line has the same ISO 8601 timestamp, level and masking as the dialer's own, and
an event name that says where it comes from (``http_server``, ``scheduler``, ...) with the
library's text in ``message``.

Secrets never reach a log: a processor masks any field whose name says it holds one,
any value equal to a secret the process loaded (registered through `register_secret`)
and the password of any URL (``scheme://user:PASSWORD@host``), in library messages too.
"""

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
from structlog.typing import Processor

_SECRET_KEY = re.compile(r"(token|password|passwd|secret|authorization|auth_token|api_key)", re.I)
_URL_PASSWORD = re.compile(r"(://[^/:@\s]*:)[^@/\s]*@")
_SECRETS: set[str] = set()
MASK = "***"

# The libraries whose stdlib loggers are rendered by this pipeline, and the event name
# their lines carry (the library's own text is the line's `message`).
LIBRARY_EVENTS = {
    "uvicorn": "http_server",
    "apscheduler": "scheduler",
    "asyncpg": "database",
    "aiosqlite": "database",
    "twilio": "twilio_http",
    "httpx": "http_client",
    "httpcore": "http_client",
}
# Level names `--log-level` accepts.
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def register_secret(value: str | None) -> None:
    if value and len(value) >= 4:
        _SECRETS.add(value)


def _mask_text(text: str) -> str:
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, MASK)
    return _URL_PASSWORD.sub(rf"\1{MASK}@", text) if "://" in text else text


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
        if not key.startswith("_"):  # `_record`: the stdlib record of a library line
            event[key] = _plain(value)
    return event


def library_event(logger_name: str) -> str:
    """The event name of a library's line: by the logger's top-level package."""
    return LIBRARY_EVENTS.get(logger_name.partition(".")[0], "library")


def _library_fields(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A stdlib record as an event: the library's text is `message`, the logger's name
    `logger`, the event a stable name (`library_event`); an exception is also one line."""
    record = event.get("_record")
    if not isinstance(record, logging.LogRecord):
        return event
    event["message"] = event.pop("event", record.getMessage())
    event["logger"] = record.name
    event["event"] = library_event(record.name)
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        event["error"] = f"{type(exc).__name__}: {exc}"
    return event


class _CurrentStream:
    """sys.stdout or sys.stderr as it is when a line is written, not when logging was set
    up: a test runner or CliRunner swaps them, and a line must never go to a closed one."""

    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, text: str) -> int:
        stream: TextIO = getattr(sys, self.name)
        return stream.write(text)

    def flush(self) -> None:
        stream: TextIO = getattr(sys, self.name)
        stream.flush()


STDOUT: Any = _CurrentStream("stdout")
STDERR: Any = _CurrentStream("stderr")


class _PipelineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The root handler this module installs (told apart from anyone else's)."""


def _library_level(level: int) -> int:
    # Libraries speak at WARNING and above; at debug their INFO lines (requests, jobs)
    # are shown too, never their DEBUG (wire-level payloads).
    return logging.INFO if level <= logging.DEBUG else max(level, logging.WARNING)


def _shared_processors() -> list[Processor]:
    """What every line goes through before it is rendered, the dialer's and the libraries'."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        iso_values,
        redact,
    ]


def _pipeline_handler(renderer: Processor, shared: list[Processor], out: Any) -> _PipelineHandler:
    handler = _PipelineHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[_library_fields, *shared],
        )
    )
    return handler


def _install(handler: _PipelineHandler, level: int) -> None:
    """Make `handler` the root logger's pipeline handler (replacing an earlier one)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _PipelineHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def configure(json: bool = True, level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Render every log line (the dialer's and the libraries') as JSON or console text at
    `level` and above, to `stream` (default: standard output at the time of writing)."""
    out: Any = stream if stream is not None else STDOUT
    renderer: Processor = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    shared = _shared_processors()
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    _install(_pipeline_handler(renderer, shared, out), _library_level(level))
    for name in LIBRARY_EVENTS:
        route_stdlib_logger(name, logging.NOTSET)


def route_stdlib_logger(name: str, level: int = logging.WARNING) -> None:
    """Send a third-party stdlib logger (and its children) through this pipeline: it
    propagates to the root handler `configure` installs (one is installed if none is).
    `level` NOTSET follows the configured level."""
    root = logging.getLogger()
    if not any(isinstance(h, _PipelineHandler) for h in root.handlers):
        # Not configured (a library use, a test): JSON to standard output, as `configure`
        # does by default, rather than the last-resort handler's raw text on stderr.
        renderer = structlog.processors.JSONRenderer()
        _install(_pipeline_handler(renderer, _shared_processors(), STDOUT), root.level)
    logger = logging.getLogger(name)
    logger.setLevel(level)
    logger.propagate = True
