"""`dialer run` as an operator runs it: a real process, sd_notify, SIGHUP, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CONFIG = """
center:
  name: test center
  timezone: Europe/Samara
  shift: {days: [mon-sun], start: "00:00", end: "24:00"}
legal_window: {start: "00:00", end: "24:00"}
storage: {path: dialer.db, reports_dir: reports}
service: {tick: 0.2s, drain_timeout: 20s, worker_id: test-worker}
http: {host: 127.0.0.1, port: 0}
schedules:
  always: {days: [mon-sun], start: "00:00", end: "24:00"}
default_schedule: always
campaigns:
  - name: cold
    stages: [prospect, hot, customer]
    lines: 3
    window: {days: [mon-sun], start: "00:00", end: "24:00"}
    provider: sim
    caller_id: "+73412000001"
    connect_to: "queue:sales"
    talk: {target_min: 3m, target_max: 5m}
    allow_short_remaining: true
providers:
  sim:
    type: simulated
    seed: 1
    real_time_scale: 200     # a 4-minute call takes ~1 s
"""

CLIENTS = "id,name,phone,timezone\n" + "".join(
    f"d{i},Client {i},+7912555{i:04d},Europe/Moscow\n" for i in range(8)
)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "dialer.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "clients.csv").write_text(CLIENTS, encoding="utf-8")
    return tmp_path


def dialer(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dialer.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    try:
        yield sock, path
    finally:
        sock.close()


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def count_calls(db: Path, where: str = "1=1") -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM calls WHERE {where}").fetchone()[0]


def test_daemon_ticks_reloads_and_drains(workdir: Path, notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    imported = dialer("import", "dialer.yaml", "clients.csv", cwd=workdir)
    assert imported.returncode == 0, imported.stderr
    assert "8 new" in imported.stdout

    env = {**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"}
    log = (workdir / "run.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dialer.cli", "run", "--config", "dialer.yaml"],
        cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        messages: list[str] = []

        def got(msg: str) -> bool:
            for _ in range(1000):  # drain what has arrived (watchdog pings pile up)
                try:
                    messages.append(sock.recv(4096).decode())
                except TimeoutError:
                    break
            return any(msg in m for m in messages)

        wait_for(lambda: got("READY=1"), 20, "READY=1")
        wait_for(lambda: got("WATCHDOG=1"), 10, "WATCHDOG=1")
        db = workdir / "dialer.db"
        wait_for(lambda: count_calls(db, "status <> 'dialing'") >= 3, 30, "calls recorded")

        # The operator's endpoints: health, readiness, Prometheus metrics (loopback).
        port = next(
            json.loads(line)["port"]
            for line in (workdir / "run.log").read_text().splitlines()
            if '"http_listening"' in line
        )
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        assert 'dialer_calls_started_total{campaign="cold"}' in metrics
        assert "# TYPE dialer_talk_seconds histogram" in metrics and "dialer_store_up 1.0" in metrics

        # A broken config on reload is refused; the old one stays in force.
        good = (workdir / "dialer.yaml").read_text()
        (workdir / "dialer.yaml").write_text(good.replace("lines: 3", "lines: -1"))
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload_rejected" in (workdir / "run.log").read_text(), 10, "reload_rejected in the log")
        assert proc.poll() is None
        (workdir / "dialer.yaml").write_text(good)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "config_reloaded" in (workdir / "run.log").read_text(), 10, "config_reloaded")

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert got("STOPPING=1")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
    # Every call that started has a final result; no lease is left behind.
    assert count_calls(workdir / "dialer.db", "status = 'dialing'") == 0
    with sqlite3.connect(workdir / "dialer.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM clients WHERE lease_owner IS NOT NULL").fetchone()[0] == 0
    lines = [json.loads(line) for line in (workdir / "run.log").read_text().splitlines() if line.startswith("{")]
    events = {line["event"] for line in lines}
    assert {"started", "call_started", "call_ended", "stopping", "stopped"} <= events


def test_run_refuses_a_bad_config(workdir: Path) -> None:
    (workdir / "dialer.yaml").write_text(CONFIG.replace("Europe/Samara", "Europe/Izhevsk"))
    result = dialer("run", "--config", "dialer.yaml", cwd=workdir)
    assert result.returncode == 1
    assert "dialer.yaml:4: center.timezone: unknown time zone 'Europe/Izhevsk'" in result.stderr
