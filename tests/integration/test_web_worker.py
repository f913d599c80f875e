"""The web layer inside a real worker (`dialer run` with `web: {enabled: true}`): a held
campaign places no calls and /metrics says so; an agent logs in over HTTP, goes Ready
and gets calls; a supervisor's pause stops new calls while calls in flight finish."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

CONFIG = """
center:
  name: test center
  timezone: Europe/Samara
  shift: {days: [mon-sun], start: "00:00", end: "24:00"}
legal_window: {start: "00:00", end: "24:00"}
storage: {path: dialer.db, reports_dir: reports}
service: {tick: 0.2s, drain_timeout: 20s, worker_id: web-worker}
http: {host: 127.0.0.1, port: 0}
web: {enabled: true}
schedules:
  always: {days: [mon-sun], start: "00:00", end: "24:00"}
default_schedule: always
campaigns:
  - name: cold
    stages: [prospect, hot, customer]
    lines: 2
    window: {days: [mon-sun], start: "00:00", end: "24:00"}
    provider: sim
    caller_id: "+73412000001"
    agents: [{name: anna, target: "sip:101@pbx"}, {name: boris, target: "sip:102@pbx"}]
    wrap_up: 1s
    talk: {target_min: 3m, target_max: 5m}
    allow_short_remaining: true
providers:
  sim:
    type: simulated
    seed: 3
    answer_rate: 1.0
    busy_rate: 0
    machine_rate: 0
    failed_rate: 0
    invalid_rate: 0
    real_time_scale: 200
"""

CLIENTS = "id,name,phone,timezone\n" + "".join(f"w{i},Client {i},+7912555{i:04d},Europe/Moscow\n" for i in range(40))
PASSWORD = "a long enough password"


def dialer(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dialer.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=60, input=stdin
    )


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def count(db: Path, where: str = "1=1") -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM calls WHERE {where}").fetchone()[0])


def port_of(log: Path) -> int | None:
    for line in log.read_text().splitlines():
        if '"http_listening"' in line:
            return int(json.loads(line)["port"])
    return None


def test_presence_and_pause_in_a_running_worker(tmp_path: Path) -> None:
    (tmp_path / "dialer.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "clients.csv").write_text(CLIENTS, encoding="utf-8")
    assert dialer("import", "dialer.yaml", "clients.csv", cwd=tmp_path).returncode == 0
    for name, role in (("anna", "agent"), ("boss", "supervisor")):
        added = dialer(
            "user",
            "add",
            name,
            "--role",
            role,
            "--password-stdin",
            "--config",
            "dialer.yaml",
            cwd=tmp_path,
            stdin=PASSWORD + "\n",
        )
        assert added.returncode == 0, added.stderr
    token = dialer("token", "add", "--role", "supervisor", "--config", "dialer.yaml", cwd=tmp_path).stdout.strip()
    env = {**os.environ, "DIALER_SESSION_SECRET": "k" * 48}
    log_path = tmp_path / "run.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dialer.cli", "run", "--config", "dialer.yaml"],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    db = tmp_path / "dialer.db"
    try:
        wait_for(lambda: port_of(log_path) is not None, 20, "http_listening")
        base = f"http://127.0.0.1:{port_of(log_path)}"
        # Nobody is Ready: no call, and the worker says why.
        time.sleep(1.0)
        assert count(db) == 0
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        assert 'dialer_campaign_held{campaign="cold"} 1.0' in metrics
        with httpx.Client(base_url=base, timeout=5) as anna:
            page = anna.get("/login").text
            token_field = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert token_field is not None
            r = anna.post("/login", data={"csrf_token": token_field.group(1), "name": "anna", "password": PASSWORD})
            assert r.status_code == 303
            home = anna.get("/").text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', home)
            assert csrf is not None
            assert anna.post("/presence", data={"csrf_token": csrf.group(1), "state": "ready"}).status_code == 303
            wait_for(lambda: count(db, "agent = 'anna' AND status <> 'dialing'") >= 2, 30, "calls to anna")
            assert count(db, "agent = 'boris'") == 0  # never logged in: never offered a call
        sup = {"Authorization": f"Bearer {token}"}
        assert httpx.post(f"{base}/api/v1/campaigns/cold/pause", headers=sup, timeout=5).status_code == 200
        time.sleep(0.5)  # one tick: every claim after this sees the pause
        started = count(db)
        time.sleep(2.0)
        assert count(db) == started  # no new call
        wait_for(lambda: count(db, "status = 'dialing'") == 0, 20, "calls in flight to finish")
        assert 'dialer_campaign_held{campaign="cold"} 1.0' in httpx.get(f"{base}/metrics", timeout=5).text
        status = dialer("status", "--config", "dialer.yaml", cwd=tmp_path).stdout
        assert "HELD: paused by a supervisor" in status
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, log_path.read_text()[-2000:]
    assert "dlr_" not in log_path.read_text() and PASSWORD not in log_path.read_text()
