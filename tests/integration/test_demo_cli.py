"""`dialer demo` as a newcomer runs it: a subprocess on a loopback port, the banner's
accounts, login over HTTP, Ready -> a call within seconds, SIGTERM -> a clean stop."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

READY_WITHIN = 30.0  # seconds; the demo is usually ready in about a second
STOP_WITHIN = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def count(db: Path, where: str = "1 = 1") -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM calls WHERE {where}").fetchone()[0])


def start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], Path]:
    out = tmp_path / "demo.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dialer.cli", "demo", *args],
            cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    return proc, out


def stop(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(STOP_WITHIN)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        raise AssertionError("dialer demo did not stop within the bound after SIGTERM") from None


def test_demo_serves_logins_and_calls_a_ready_agent(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "demo.db"
    began = time.monotonic()
    proc, out = start(tmp_path, "--port", str(port), "--db", str(db), "--speed", "4")
    try:
        wait_for(lambda: "dialer demo is ready" in out.read_text() or proc.poll() is not None, READY_WITHIN, "banner")
        banner = out.read_text()
        assert proc.poll() is None, banner
        ready_in = time.monotonic() - began
        base = f"http://127.0.0.1:{port}"
        assert f"{base}/" in banner
        accounts = dict(re.findall(r"^\s+(\w+)\s+(demo-[0-9a-f]{8})\s", banner, re.MULTILINE))
        assert set(accounts) == {"ivanova", "petrov", "boss"}, banner
        assert "Traceback" not in banner
        assert httpx.get(f"{base}/healthz", timeout=5).text.strip() == "ok"
        assert httpx.get(f"{base}/login", timeout=5).status_code == 200
        time.sleep(1.5)
        assert count(db) == 0, "nobody is Ready: no call"
        with httpx.Client(base_url=base, timeout=5) as browser:
            page = browser.get("/login").text
            login_token = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert login_token is not None
            wrong = browser.post(
                "/login", data={"csrf_token": login_token.group(1), "name": "ivanova", "password": "nope-nope"}
            )
            assert wrong.status_code == 401
            page = browser.get("/login").text
            login_token = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert login_token is not None
            form = {"csrf_token": login_token.group(1), "name": "ivanova", "password": accounts["ivanova"]}
            assert browser.post("/login", data=form).status_code == 303
            home = browser.get("/").text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', home)
            assert csrf is not None
            pressed = time.monotonic()
            assert browser.post("/presence", data={"csrf_token": csrf.group(1), "state": "ready"}).status_code == 303
            wait_for(lambda: count(db, "agent = 'ivanova'") >= 1, 10, "a call to ivanova")
            assert time.monotonic() - pressed < 10
            assert count(db, "agent = 'petrov'") == 0, "petrov never logged in: never offered a call"
            # The desk's Hang up: CSRF checked, then the provider (playing no agent) ends the call.
            with sqlite3.connect(db) as conn:
                (call_id,) = conn.execute("SELECT call_id FROM calls WHERE agent = 'ivanova'").fetchone()
            hang_up = f"/desk/calls/{call_id}/hangup"
            assert browser.post(hang_up, data={}).status_code == 403
            assert count(db, f"call_id = '{call_id}' AND status = 'dialing'") == 1, "a refused hang-up changes nothing"
            ended = browser.post(hang_up, data={"csrf_token": csrf.group(1)})
            if ended.status_code == 409:  # a failed dial (2 % in the demo) ends by itself within 2 s
                assert ended.json()["result"] == "ended" and count(db, f"call_id = '{call_id}' AND status = 'failed'")
            else:
                assert ended.status_code == 200 and ended.json()["result"] == "hung_up", ended.text
            wait_for(lambda: count(db, f"call_id = '{call_id}' AND status != 'dialing'") == 1, 10, "the call ended")
            again = browser.post(hang_up, data={"csrf_token": csrf.group(1)})
            assert again.status_code == 409 and again.json()["error"] == "the call has ended already"
        assert ready_in < READY_WITHIN
    finally:
        code = stop(proc)
    text = out.read_text()
    assert code == 0, text
    assert "Traceback" not in text and "dialer demo stopped." in text
    # A stop hangs up the calls in progress: none is left without a final result.
    assert count(db, "status = 'dialing'") == 0
    assert (tmp_path / "demo.db.yaml").exists()  # --db keeps the demo's files beside it


def test_sigint_before_anyone_logs_in_stops_cleanly_and_removes_the_temp_folder(tmp_path: Path) -> None:
    port = free_port()
    proc, out = start(tmp_path, "--port", str(port))
    try:
        wait_for(lambda: "dialer demo is ready" in out.read_text() or proc.poll() is not None, READY_WITHIN, "banner")
        assert "temporary folder" in out.read_text()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(STOP_WITHIN)
    finally:
        stop(proc)
    text = out.read_text()
    assert code == 0 and "Traceback" not in text, text
    assert "dialer demo stopped." in text


def test_bad_input_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    taken = tmp_path / "taken.db"
    taken.write_text("")
    proc, out = start(tmp_path, "--port", str(free_port()), "--db", str(taken))
    assert proc.wait(STOP_WITHIN) == 1
    assert out.read_text().strip().splitlines() == [
        f"Error: {taken} exists: the demo makes a fresh store; remove it or choose another --db"
    ]
    assert taken.read_text() == ""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc, out = start(tmp_path, "--port", str(port))
        assert proc.wait(STOP_WITHIN) == 1
    assert "is in use: choose another with --port N" in out.read_text()
    assert len(out.read_text().strip().splitlines()) == 1
    proc, out = start(tmp_path, "--agents", "9")
    assert proc.wait(STOP_WITHIN) == 2 and "--agents" in out.read_text()
