"""Crash safety, short version: real `dialer run` processes killed with SIGKILL at
random moments (the long runs: `benchmarks/fault_harness.py`)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.fault_harness import Report, run


def assert_crash_safe(report: Report, workers: int) -> None:
    assert report.calls > 0
    assert report.lost_clients == 0
    assert report.duplicate_attempts == 0
    assert report.overlapping_calls == 0
    assert report.open_calls == 0, "every started call has a final result"
    assert report.leases_held == 0
    assert report.unqueued_without_reason == 0
    assert report.exit_codes == [0] * workers
    # Calls cut by the dialer's own crash are not the client's attempts.
    assert report.crash_failed == 0, "a call cut by a crash was recorded as a failed attempt"
    assert report.interrupted_as_attempts == 0
    # The call rows never show more calls in progress than the campaign has lines.
    assert report.max_in_progress and max(report.max_in_progress.values()) <= report.lines, report.max_in_progress


def test_sqlite_worker_survives_sigkills(tmp_path: Path) -> None:
    report = run(tmp_path, kills=6, clients=60, fail_rate=0.1, seed=3, max_seconds=120)
    assert report.kills == 6
    assert_crash_safe(report, workers=1)
    assert report.interrupted > 0, "SIGKILLs during calls leave calls nobody can settle: interrupted"


def test_sqlite_workers_share_the_lines(tmp_path: Path) -> None:
    """Three workers on one SQLite file, no kills: each places its share of the calls."""
    report = run(tmp_path, kills=0, workers=3, clients=90, seed=4, run_after=40)
    assert_crash_safe(report, workers=3)
    # The lines go to whichever worker asks first; on a loaded 2-core CI box (the rest of the
    # suite runs alongside) one process wins more races than the others: 1.5 failed at 1.51
    # and 1.53 there while a starved or stuck worker shows 3 and more.
    assert report.fairness <= 2.0, (report.steady_calls_per_worker, report.calls_per_worker)
