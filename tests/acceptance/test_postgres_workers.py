"""Many workers, one queue on the real PostgreSQL server (127.0.0.1:5432, database test):
SIGKILLs spread over three workers, and the database going away mid-day."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.fault_harness import drop_schema, fresh_schema_dsn, query, run, write_config
from dialer.dispatcher import LEASE
from tests.acceptance.test_crash_safety import assert_crash_safe
from tests.support.services import require_service
from tests.support.tcp_proxy import CuttableProxy

PG = os.environ.get("DIALER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def pg_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    require_service(pg_available(), "PostgreSQL is not listening on 127.0.0.1:5432")
    dsn, schema = fresh_schema_dsn(PG)
    try:
        yield dsn
    finally:
        drop_schema(PG, schema)


def test_three_workers_survive_sigkills(tmp_path: Path, pg_dsn: str) -> None:
    """Killed workers stay down for a while: the others take their lines and calls over
    once the short leases run out (not after a call's worth of lease)."""
    report = run(
        tmp_path, kills=4, workers=3, clients=90, dsn=pg_dsn, fail_rate=0.1, seed=5, max_seconds=180,
        restart_delay=LEASE.total_seconds() + 10,
    )  # fmt: skip
    assert report.kills == 4
    assert_crash_safe(report, workers=3)
    assert report.lines_back_s, "no kill caught a worker holding lines"
    # Lease (20 s) + one housekeeping round, measured from the SIGKILL.
    assert max(report.lines_back_s) <= LEASE.total_seconds() + 12, report.lines_back_s


def test_three_workers_share_the_lines(tmp_path: Path, pg_dsn: str) -> None:
    report = run(tmp_path, kills=0, workers=3, clients=90, dsn=pg_dsn, seed=6, run_after=40)
    assert_crash_safe(report, workers=3)
    # The lines go to whichever worker asks first; on a loaded 2-core CI box (the rest of the
    # suite runs alongside) one process wins more races than the others: 1.5 failed at 1.51
    # and 1.53 there while a starved or stuck worker shows 3 and more.
    assert report.fairness <= 2.0, (report.steady_calls_per_worker, report.calls_per_worker)


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_database_outage_pauses_and_resumes(tmp_path: Path, pg_dsn: str) -> None:
    proxy = CuttableProxy("127.0.0.1", 5432)
    port = proxy.start()
    try:
        through_proxy = pg_dsn.replace("127.0.0.1:5432", f"127.0.0.1:{port}")
        write_config(tmp_path, "w0", json.dumps({"url": through_proxy}), lines=4, seed=2, fail_rate=0.0)
        rows = ["id,name,phone,timezone"] + [f"f{i},C{i},+7912777{i:04d},Europe/Moscow" for i in range(40)]
        (tmp_path / "clients.csv").write_text("\n".join(rows) + "\n")
        cmd = [sys.executable, "-m", "dialer.cli"]
        subprocess.run([*cmd, "import", "w0.yaml", "clients.csv"], cwd=tmp_path, check=True, timeout=60)
        log_path = tmp_path / "w0.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen([*cmd, "run", "--config", "w0.yaml"], cwd=tmp_path, stdout=log,
                                    stderr=subprocess.STDOUT)  # fmt: skip
            try:
                calls = lambda: query(pg_dsn, None, "SELECT COUNT(*) FROM calls WHERE status <> 'dialing'")[0][0]  # noqa: E731
                wait_for(lambda: calls() >= 3, 30, "first calls")
                proxy.cut()
                wait_for(lambda: "tick_paused" in log_path.read_text(), 20, "the worker to pause")
                # The database stays away (30 s in the scenario: DIALER_OUTAGE_SECONDS=30);
                # the worker must neither die nor spin.
                outage = float(os.environ.get("DIALER_OUTAGE_SECONDS", "5"))
                time.sleep(outage)
                assert proc.poll() is None, "the worker died while the database was away"
                paused = log_path.read_text().count("tick_paused")
                assert paused < 8 + outage / 10, f"{paused} pause lines in {outage:.0f} s: back-off is not working"
                before = calls()
                proxy.restore()
                wait_for(lambda: "tick_resumed" in log_path.read_text(), 60, "the worker to resume")
                wait_for(lambda: calls() > before, 30, "calls after the outage")
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=60) == 0
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)
        assert query(pg_dsn, None, "SELECT COUNT(*) FROM calls WHERE status = 'dialing'")[0][0] == 0
        assert query(pg_dsn, None, "SELECT COUNT(*) FROM clients WHERE lease_owner IS NOT NULL")[0][0] == 0
    finally:
        proxy.stop()
