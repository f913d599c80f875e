"""One log pipeline: the libraries' stdlib lines (uvicorn, APScheduler, asyncpg, twilio,
httpx) come out like the dialer's own, as JSON or console text, with ISO 8601 timestamps
and without secrets; `--log-format` / `--log-level` choose."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
from click.testing import CliRunner

from dialer import logging as dlog
from dialer.cli import main
from tests.support.paths import EXAMPLE_CONFIG


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    yield
    dlog.configure(json=False, level=logging.WARNING)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def recent_iso_utc(stamp: str) -> bool:
    at = datetime.fromisoformat(stamp)
    return (
        at.tzinfo is not None and at.utcoffset() == timedelta(0) and abs(datetime.now(UTC) - at) < timedelta(minutes=5)
    )


@pytest.mark.parametrize(
    ("logger", "event"),
    [
        ("uvicorn.error", "http_server"),
        ("apscheduler.scheduler", "scheduler"),
        ("asyncpg.pool", "database"),
        ("twilio.http_client", "twilio_http"),
        ("httpx", "http_client"),
    ],
)
def test_a_library_line_is_json_with_an_iso_timestamp(logger: str, event: str) -> None:
    out = io.StringIO()
    dlog.configure(json=True, level=logging.INFO, stream=out)
    logging.getLogger(logger).warning("Run time of job %r was missed by %d s", "plan", 3)
    [line] = json_lines(out.getvalue())
    assert line["event"] == event and line["logger"] == logger and line["level"] == "warning"
    assert line["message"] == "Run time of job 'plan' was missed by 3 s"
    assert line["timestamp"].endswith("Z") and recent_iso_utc(line["timestamp"])


def test_the_dialers_own_line_and_a_library_line_share_the_pipeline() -> None:
    out = io.StringIO()
    dlog.configure(json=True, level=logging.INFO, stream=out)
    structlog.get_logger("dialer").info("call_started", at=datetime(2026, 12, 3, 9, 30, tzinfo=UTC))
    logging.getLogger("uvicorn.error").error("Exception in ASGI application", exc_info=ValueError("boom"))
    own, library = json_lines(out.getvalue())
    assert own["event"] == "call_started" and own["at"] == "2026-12-03T09:30:00Z"
    assert set(own) >= {"timestamp", "level"} and set(library) >= {"timestamp", "level"}
    assert library["level"] == "error" and library["error"] == "ValueError: boom"


def test_console_format_renders_library_lines_as_text() -> None:
    out = io.StringIO()
    dlog.configure(json=False, level=logging.INFO, stream=out)
    logging.getLogger("apscheduler.scheduler").warning("Scheduler started")
    [line] = out.getvalue().splitlines()
    assert not line.startswith("{")
    stamp, _, rest = line.partition(" ")
    assert recent_iso_utc(stamp)
    assert "warning" in rest and "scheduler" in rest and "Scheduler started" in rest


def test_levels_filter_library_lines() -> None:
    out = io.StringIO()
    dlog.configure(json=True, level=logging.WARNING, stream=out)
    logging.getLogger("httpx").info("HTTP Request: POST https://api.example/")
    logging.getLogger("apscheduler").debug("Looking for jobs to run")
    structlog.get_logger().info("not shown")
    assert out.getvalue() == ""
    dlog.configure(json=True, level=logging.DEBUG, stream=out)
    logging.getLogger("httpx").info("HTTP Request: POST https://api.example/")
    logging.getLogger("httpx").debug("wire bytes")  # a library's DEBUG stays out even at debug
    [line] = json_lines(out.getvalue())
    assert line["message"] == "HTTP Request: POST https://api.example/"


def test_secrets_in_library_lines_are_masked() -> None:
    out = io.StringIO()
    dlog.configure(json=True, level=logging.INFO, stream=out)
    dlog.register_secret("tw-auth-token-123")
    logging.getLogger("twilio.http_client").warning("auth tw-auth-token-123 rejected")
    logging.getLogger("asyncpg").warning("cannot connect to postgresql://dialer:pg-pw-77@127.0.0.1/d")
    text = out.getvalue()
    assert "tw-auth-token-123" not in text and "pg-pw-77" not in text
    first, second = json_lines(text)
    assert first["message"] == "auth *** rejected"
    assert second["message"] == "cannot connect to postgresql://dialer:***@127.0.0.1/d"


# ---------------------------------------------------------------- the command line


@pytest.mark.parametrize(("fmt", "is_json"), [("json", True), ("console", False)])
def test_log_format_option_sets_the_pipeline(fmt: str, is_json: bool, capsys: pytest.CaptureFixture[str]) -> None:
    result = CliRunner().invoke(main, ["--log-format", fmt, "--log-level", "info", "config-schema"])
    assert result.exit_code == 0
    capsys.readouterr()
    # The command configured logging to standard error as it is when a line is written.
    logging.getLogger("uvicorn.error").warning("Invalid HTTP request received.")
    structlog.get_logger().info("import_done", rows=3)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    if is_json:
        library, own = (json.loads(line) for line in err)
        assert library["event"] == "http_server" and recent_iso_utc(library["timestamp"])
        assert own["event"] == "import_done" and own["rows"] == 3
    else:
        assert not any(line.startswith("{") for line in err)
        assert "Invalid HTTP request received." in err[0] and "import_done" in err[1]


def test_log_format_defaults_to_json_when_stderr_is_not_a_terminal() -> None:
    # No --log-format: standard error is a pipe here (as under systemd), so lines are JSON.
    code = (
        "import logging, sys\n"
        "from dialer.cli import main\n"
        "try:\n"
        f"    main(['--log-level', 'info', 'check-config', '--config', {str(EXAMPLE_CONFIG)!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        "logging.getLogger('apscheduler.scheduler').warning('Scheduler started')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    [line] = json_lines(done.stderr)
    assert line["event"] == "scheduler" and line["message"] == "Scheduler started"


def test_an_unknown_log_format_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["--log-format", "xml", "config-schema"])
    assert result.exit_code == 2 and "'xml' is not one of 'console', 'json'" in result.output
