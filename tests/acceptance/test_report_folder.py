"""A reports folder that cannot be written (a path under a file; a read-only /etc under
ProtectSystem=strict) must not stop the worker: the failing report is logged and
retried, dialing goes on."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from dialer.config import load_config
from dialer.daily import REPORT, DailyJobs
from dialer.store.base import JOB_TAKEOVER
from dialer.store.sqlite import SqliteStore
from tests.acceptance.test_daemon import CONFIG, count_calls, dialer, notify_socket, wait_for, workdir  # noqa: F401
from tests.support.paths import EXAMPLE_CONFIG


async def test_failing_report_is_logged_and_retried_until_it_can_be_written(
    store: SqliteStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the reports folder should be")
    config = load_config(EXAMPLE_CONFIG)
    config = config.model_copy(update={"storage": config.storage.model_copy(update={"reports_dir": blocker / "r"})})
    jobs = DailyJobs("w1")
    day = date(2026, 12, 1)
    evening = datetime(2026, 12, 1, 19, 0, tzinfo=UTC)  # 23:00 in Samara: plans and reports are due

    ran = await jobs.run_due(store, config, evening)  # no exception: the plans ran, the reports did not
    assert {(r.job, r.day) for r in ran} == {("plan", day)}
    assert not blocker.with_name("r").exists()
    # Fixed by the operator; the failed runs are retried once their claim lapses.
    blocker.unlink()
    assert await jobs.run_due(store, config, evening + timedelta(minutes=5)) == []
    later = evening + JOB_TAKEOVER + timedelta(seconds=2)
    ran = await jobs.run_due(store, config, later)
    assert {(r.job, r.campaign) for r in ran} == {(REPORT, c.name) for c in config.campaigns}
    assert {p.name for p in (blocker / "r").iterdir()} == {
        f"2026-12-01.{c.name}.{ext}" for c in config.campaigns for ext in ("csv", "json")
    }


def test_daemon_with_an_unwritable_reports_folder_gets_ready_and_dials(
    workdir: Path, notify_socket: tuple[socket.socket, str]  # noqa: F811
) -> None:
    sock, path = notify_socket
    (workdir / "blocker").write_text("not a folder")
    config = CONFIG.replace("reports_dir: reports", "reports_dir: blocker/reports").replace(
        "    allow_short_remaining: true\n",
        '    allow_short_remaining: true\n    plan_at: "00:00"\n    report_at: "00:00"\n',
    )
    (workdir / "dialer.yaml").write_text(config, encoding="utf-8")
    assert dialer("import", "dialer.yaml", "clients.csv", cwd=workdir).returncode == 0
    log = (workdir / "run.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dialer.cli", "run", "--config", "dialer.yaml"],
        cwd=workdir, env={**os.environ, "NOTIFY_SOCKET": path}, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        messages: list[str] = []

        def got(msg: str) -> bool:
            for _ in range(100):
                try:
                    messages.append(sock.recv(4096).decode())
                except TimeoutError:
                    break
            return any(msg in m for m in messages)

        wait_for(lambda: got("READY=1"), 20, "READY=1")
        wait_for(lambda: count_calls(workdir / "dialer.db", "status <> 'dialing'") >= 2, 30, "calls recorded")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
    text = (workdir / "run.log").read_text()
    lines = [json.loads(x) for x in text.splitlines()]  # JSON lines only: no raw traceback
    # The report's failure is one line with the reason, not a traceback.
    assert not [x for x in lines if "blocker" in x.get("exception", "")]
    failed = [x for x in lines if x["event"] == "daily_job_failed"]
    assert failed and all(x["job"] == "report" and "blocker" in x["error"] for x in failed)
    assert sum(1 for x in lines if x["event"] == "http_listening") == 1
