"""Crash safety, short version: real `dialer run` processes killed with SIGKILL at
random moments (the long runs: `benchmarks/fault_harness.py`)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.fault_harness import run


def test_sqlite_worker_survives_sigkills(tmp_path: Path) -> None:
    report = run(tmp_path, kills=6, clients=60, fail_rate=0.1, seed=3, max_seconds=120)
    assert report.kills == 6
    assert report.calls > 0
    assert report.lost_clients == 0
    assert report.duplicate_attempts == 0
    assert report.overlapping_calls == 0
    assert report.open_calls == 0, "every started call has a final result"
    assert report.leases_held == 0
    assert report.unqueued_without_reason == 0
    assert report.exit_codes == [0]
