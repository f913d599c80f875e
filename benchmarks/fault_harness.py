"""Crash safety, proven: kill workers with SIGKILL at random moments, restart them,
then check from the database that nothing was lost or doubled.

    python benchmarks/fault_harness.py --kills 100                       # SQLite, one worker
    python benchmarks/fault_harness.py --kills 100 --workers 3 \\
        --dsn postgresql://postgres@127.0.0.1:5432/test                  # PostgreSQL, three workers
    python benchmarks/fault_harness.py --kills 20 --fail-rate 0.1        # + provider errors on 10 % of dials

    python benchmarks/fault_harness.py --kills 12 --workers 3 --restart-delay 30 \
        --dsn postgresql://postgres@127.0.0.1:5432/test                  # dead workers stay down: leases expire

The workers run the real `dialer run` with a fast simulated provider on the real
clock. Victims are picked in turns (each round a shuffled order of the workers), so
every worker is killed as often. At the end every worker is stopped gracefully and the
checks run:
  - no client lost (every imported client is still there, queued or parked with a reason);
  - no client dialed twice for the same attempt (attempts unique, calls of one client
    never overlap in time);
  - every started call has a final result (no call left `dialing`);
  - every lease released;
  - no call cut by a crash recorded as an attempt of the client (`failed` "worker
    died"), every `interrupted` call applied as "not an attempt";
  - never more calls in progress per campaign than lines, computed from the call rows
    (started_at..ended_at overlaps).
And it reports: seconds until a dead worker's lines came back (measured by polling the
database after each kill), attempts counted vs interrupted, calls per worker and their
fairness (most / fewest calls).
Loops are bounded (kills, seconds); only loopback and local files are used.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

CONFIG = """
center:
  name: fault harness
  timezone: Europe/Samara
  shift: {{days: [mon-sun], start: "00:00", end: "24:00"}}
legal_window: {{start: "00:00", end: "24:00"}}
storage: {storage}
service: {{tick: 0.1s, drain_timeout: 10s, worker_id: {worker_id}}}
http: {{enabled: false}}
schedules:
  always: {{days: [mon-sun], start: "00:00", end: "24:00"}}
default_schedule: always
campaigns:
  - name: cold
    stages: [prospect, hot, customer]
    lines: {lines}
    window: {{days: [mon-sun], start: "00:00", end: "24:00"}}
    provider: sim
    caller_id: "+73412000001"
    connect_to: "queue:sales"
    ring_timeout: 30s
    talk: {{target_min: 3m, target_max: 5m}}
    allow_short_remaining: true
    retry:
      busy: {{delay: 2s, max_per_day: 1000, max_total: 1000}}
      no_answer: {{delay: 2s, max_per_day: 1000, max_total: 1000}}
      failed: {{delay: 2s, max_per_day: 1000, max_total: 1000}}
      machine: {{delay: 2s, max_per_day: 1000, max_total: 1000}}
    lifecycle: {{awaiting_disposition: 3s, no_need_recontact: 3s, refused_recontact: 3s, hot_followup: 3s,
                checkin: 3s, complaint_followup: 3s, terminated_cooldown: 3s, meeting_followup: 3s}}
providers:
  sim:
    type: simulated
    seed: {seed}
    real_time_scale: 400        # a 4-minute call lasts ~0.6 s
    fail_dial_rate: {fail_rate}
    dispositions:
      prospect: {{no_need: 60, interested: 30, callback: 10}}
      hot: {{interested: 50, contract_signed: 30, refused: 20}}
      customer: {{no_need: 80, complaint: 20}}
"""


@dataclass
class Report:
    clients: int = 0
    kills: int = 0
    restarts: int = 0
    calls: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    lost_clients: int = 0
    duplicate_attempts: int = 0
    overlapping_calls: int = 0
    open_calls: int = 0
    leases_held: int = 0
    unqueued_without_reason: int = 0
    rescued: int = 0
    exit_codes: list[int] = field(default_factory=list)
    lines: int = 0
    # seconds from each SIGKILL until the dead worker held no line any more (no live
    # lease, no unsettled call); None when the worker came back before that was seen
    lines_back_s: list[float] = field(default_factory=list)
    attempts_counted: int = 0  # calls that count against the client (retry policy, caps)
    interrupted: int = 0  # cut by a crash, nobody knows how they ended: not attempts
    canceled: int = 0  # never reached the provider (or shutdown): not attempts
    crash_failed: int = 0  # calls cut by a crash still recorded as failed attempts (must be 0)
    interrupted_as_attempts: int = 0  # interrupted calls applied as attempts (must be 0)
    max_in_progress: dict[str, int] = field(default_factory=dict)  # per campaign, from the call rows
    calls_per_worker: dict[str, int] = field(default_factory=dict)
    # from the moment every worker was up (its first heartbeat), before any kill: start-up
    # (one worker imports faster and takes every line first) is not a matter of sharing
    steady_calls_per_worker: dict[str, int] = field(default_factory=dict)
    uptime_s: dict[str, float] = field(default_factory=dict)
    all_up_at: datetime | None = None

    @property
    def fairness(self) -> float:
        """Most calls placed by one worker / fewest (1.0 = perfectly even), counted once
        every worker was up."""
        counts = list((self.steady_calls_per_worker or self.calls_per_worker).values())
        if not counts:
            return 1.0
        return max(counts) / min(counts) if min(counts) else float("inf")

    @property
    def fairness_per_uptime(self) -> float:
        """The same per second each worker was up (kills with a restart delay take workers
        down for different lengths of time)."""
        rates = [n / self.uptime_s[w] for w, n in self.calls_per_worker.items() if self.uptime_s.get(w)]
        if not rates:
            return 1.0
        return max(rates) / min(rates) if min(rates) else float("inf")

    @property
    def over_lines(self) -> int:
        return sum(max(0, n - self.lines) for n in self.max_in_progress.values())

    @property
    def ok(self) -> bool:
        return not (
            self.lost_clients or self.duplicate_attempts or self.overlapping_calls or self.open_calls
            or self.leases_held or self.unqueued_without_reason or any(self.exit_codes)
            or self.crash_failed or self.interrupted_as_attempts or self.over_lines
        )  # fmt: skip


class Worker:
    def __init__(self, workdir: Path, name: str, env: dict[str, str]):
        self.workdir = workdir
        self.name = name
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = (workdir / f"{name}.log").open("ab")
        self.uptime = 0.0  # seconds this worker ran, over all its lives
        self._since: float | None = None

    def _down(self) -> None:
        if self._since is not None:
            self.uptime += time.monotonic() - self._since
            self._since = None

    def start(self) -> None:
        self._since = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dialer.cli", "run", "--config", f"{self.name}.yaml"],
            cwd=self.workdir, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        self._down()

    def stop(self) -> int:
        if not self.proc:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self._down()
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            return -9

    def close(self) -> None:
        self.kill()
        self.log.close()


def write_config(workdir: Path, name: str, storage: str, lines: int, seed: int, fail_rate: float) -> None:
    text = CONFIG.format(storage=storage, worker_id=name, lines=lines, seed=seed, fail_rate=fail_rate)
    (workdir / f"{name}.yaml").write_text(text, encoding="utf-8")


def import_clients(workdir: Path, config: str, n: int, env: dict[str, str]) -> None:
    rows = ["id,name,phone,timezone"] + [f"f{i},Client {i},+7912666{i:04d},Europe/Moscow" for i in range(n)]
    (workdir / "clients.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "dialer.cli", "import", config, "clients.csv", "--no-progress"],
        cwd=workdir, env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def query(dsn: str | None, db: Path | None, sql: str) -> list[tuple[Any, ...]]:
    if dsn:
        import asyncio

        import asyncpg

        base, schema = _split_schema(dsn)

        async def go() -> list[tuple[Any, ...]]:
            conn = await asyncpg.connect(base, server_settings={"search_path": schema} if schema else None)
            try:
                return [tuple(r) for r in await conn.fetch(sql)]
            finally:
                await conn.close()

        return asyncio.run(go())
    assert db is not None
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def check(report: Report, dsn: str | None, db: Path | None) -> None:
    q = lambda sql: query(dsn, db, sql)  # noqa: E731
    report.calls = q("SELECT COUNT(*) FROM calls")[0][0]
    report.by_status = {s: n for s, n in q("SELECT status, COUNT(*) FROM calls GROUP BY status ORDER BY 1")}
    report.lost_clients = report.clients - q("SELECT COUNT(*) FROM clients WHERE id LIKE 'f%'")[0][0]
    report.duplicate_attempts = q(
        "SELECT COUNT(*) FROM (SELECT client_id, attempt FROM calls GROUP BY client_id, attempt HAVING COUNT(*) > 1) d"
    )[0][0]
    report.open_calls = q("SELECT COUNT(*) FROM calls WHERE status = 'dialing'")[0][0]
    report.leases_held = q("SELECT COUNT(*) FROM clients WHERE lease_owner IS NOT NULL")[0][0]
    report.unqueued_without_reason = q(
        "SELECT COUNT(*) FROM clients WHERE next_dial_at IS NULL AND stage <> 'dnc' "
        "AND CAST(invalid_number AS INTEGER) = 0"
    )[0][0]
    rows = q("SELECT client_id, attempt, started_at, ended_at FROM calls ORDER BY client_id, attempt")
    overlaps = 0
    prev: tuple[Any, ...] | None = None
    for row in rows:
        if prev is not None and prev[0] == row[0] and (prev[3] is None or str(prev[3]) > str(row[2])):
            overlaps += 1
        prev = row
    report.overlapping_calls = overlaps
    report.rescued = q("SELECT COUNT(*) FROM calls WHERE error LIKE 'worker died%'")[0][0]
    statuses = report.by_status
    report.interrupted = statuses.get("interrupted", 0)
    report.canceled = statuses.get("canceled", 0)
    report.attempts_counted = sum(n for st, n in statuses.items() if st not in ("interrupted", "canceled", "dialing"))
    report.crash_failed = q("SELECT COUNT(*) FROM calls WHERE status = 'failed' AND error LIKE 'worker died%'")[0][0]
    report.interrupted_as_attempts = q(
        "SELECT COUNT(*) FROM calls JOIN events ON events.call_id = calls.call_id "
        "WHERE calls.status = 'interrupted' AND events.kind <> 'interrupted'"
    )[0][0]
    report.max_in_progress = max_in_progress(
        q("SELECT campaign, started_at, ended_at FROM calls WHERE status <> 'dialing' AND ended_at IS NOT NULL")
    )
    report.calls_per_worker = {str(w): n for w, n in q("SELECT worker, COUNT(*) FROM calls GROUP BY worker ORDER BY 1")}
    if report.all_up_at is not None:
        since = report.all_up_at
        rows = q("SELECT worker, started_at FROM calls")
        steady: dict[str, int] = {}
        for worker, started in rows:
            if _instant(started) >= since:
                steady[str(worker)] = steady.get(str(worker), 0) + 1
        report.steady_calls_per_worker = dict(sorted(steady.items()))


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(str(value)).astimezone(UTC)


def max_in_progress(rows: list[tuple[Any, ...]]) -> dict[str, int]:
    """Per campaign, the most calls whose [started_at, ended_at) overlap, from the call
    rows alone (a call ending at the instant another starts does not overlap it)."""
    edges: dict[str, list[tuple[datetime, int]]] = {}
    for campaign, started, ended in rows:
        start, end = _instant(started), _instant(ended)
        edges.setdefault(campaign, []).extend([(start, 1), (max(start, end), -1)])
    peaks: dict[str, int] = {}
    for campaign, items in edges.items():
        level = peak = 0
        for _, delta in sorted(items):  # at one instant, ends (-1) before starts (+1)
            level += delta
            peak = max(peak, level)
        peaks[campaign] = peak
    return peaks


def wait_all_up(dsn: str | None, db: Path | None, workers: int, deadline: float) -> datetime | None:
    """When every worker has beaten once (it is up and dialing), or None at the deadline."""
    limit = min(deadline, time.monotonic() + 60)
    while time.monotonic() < limit:
        try:
            if query(dsn, db, "SELECT COUNT(*) FROM workers")[0][0] >= workers:
                return datetime.now(UTC)
        except Exception:
            pass  # the schema is not there yet
        time.sleep(0.1)
    return None


class LinesWatch:
    """After a SIGKILL: poll the database until the dead worker holds no line (no live
    lease, no call left unsettled) and record how many seconds that took."""

    def __init__(self, dsn: str | None, db: Path | None, report: Report):
        self.dsn, self.db, self.report = dsn, db, report
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    def _held(self, victim: str, ids: list[str]) -> int:
        quoted = ",".join("'" + i.replace("'", "''") + "'" for i in ids)
        if self.dsn:
            now = "now()"
        else:
            from dialer.store.sqlite import ts

            now = f"'{ts(datetime.now(UTC))}'"
        sql = (
            f"SELECT COUNT(*) FROM clients WHERE id IN ({quoted}) AND lease_owner = '{victim}' "
            f"AND (open_call_id IS NOT NULL OR lease_until > {now})"
        )
        return int(query(self.dsn, self.db, sql)[0][0])

    def killed(self, victim: str, at: float, limit: float = 120.0) -> None:
        ids = [r[0] for r in query(self.dsn, self.db, f"SELECT id FROM clients WHERE lease_owner = '{victim}'")]
        if not ids:
            return

        def watch() -> None:
            while not self._stop.is_set() and time.monotonic() - at < limit:
                try:
                    if self._held(victim, ids) == 0:
                        self.report.lines_back_s.append(round(time.monotonic() - at, 1))
                        return
                except Exception:
                    pass  # the database is busy: look again
                self._stop.wait(0.25)

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        self._threads.append(thread)

    def close(self) -> None:
        for t in self._threads:
            t.join(timeout=130)
        self._stop.set()


def run(
    workdir: Path,
    *,
    kills: int,
    workers: int = 1,
    clients: int = 200,
    dsn: str | None = None,
    fail_rate: float = 0.0,
    seed: int = 1,
    max_seconds: float = 900.0,
    lines: int = 6,
    restart_delay: float = 0.0,
    run_after: float = 2.0,
) -> Report:
    """`restart_delay`: a killed worker comes back only after this many seconds (the
    others must take its lines and calls over meanwhile); with 0 it restarts at once and
    settles its own calls. At least one worker stays up. `run_after`: seconds the workers
    keep running after the last kill (their calls are reconciled meanwhile)."""
    rng = random.Random(seed)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    db = workdir / "faults.db" if not dsn else None
    storage = json.dumps({"url": dsn}) if dsn else json.dumps({"path": str(db)})
    names = [f"w{i}" for i in range(workers)]
    for name in names:
        write_config(workdir, name, storage, lines, seed, fail_rate)
    import_clients(workdir, f"{names[0]}.yaml", clients, env)
    report = Report(clients=clients, lines=lines)
    pool = [Worker(workdir, name, env) for name in names]
    deadline = time.monotonic() + max_seconds
    down: dict[str, float] = {}  # worker -> when it comes back
    turns: list[Worker] = []
    watch = LinesWatch(dsn, db, report)
    try:
        for w in pool:
            w.start()
            report.restarts += 1
        report.all_up_at = wait_all_up(dsn, db, len(pool), deadline)
        while report.kills < kills and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.3, 2.0))
            for w in pool:
                if w.name in down and time.monotonic() >= down[w.name]:
                    del down[w.name]
                    w.start()
                    report.restarts += 1
            if not turns:
                turns = rng.sample(pool, len(pool))
            if turns[0].name in down or len(down) + 1 >= len(pool) > 1:
                continue  # its turn comes when it is back; one worker always stays up
            victim = turns.pop(0)
            victim.kill()
            killed_at = time.monotonic()
            report.kills += 1
            watch.killed(victim.name, killed_at)
            if restart_delay > 0:
                down[victim.name] = killed_at + restart_delay
            else:
                victim.start()
                report.restarts += 1
        while down and time.monotonic() < deadline + 120:
            time.sleep(0.2)
            for w in pool:
                if w.name in down and time.monotonic() >= down[w.name]:
                    del down[w.name]
                    w.start()
                    report.restarts += 1
        time.sleep(run_after)  # the last restarts reconcile their predecessors' calls
        report.exit_codes = [w.stop() for w in pool]
        report.uptime_s = {w.name: round(w.uptime, 1) for w in pool}
    finally:
        for w in pool:
            w.close()
        watch.close()
    check(report, dsn, db)
    return report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--dsn", default=None, help="postgresql:// DSN (a fresh schema is used and dropped)")
    ap.add_argument("--fail-rate", type=float, default=0.0, help="share of dials that raise a provider error")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-seconds", type=float, default=1200)
    ap.add_argument(
        "--restart-delay", type=float, default=0.0, help="seconds a killed worker stays down (0: restarted at once)"
    )
    ap.add_argument("--run-after", type=float, default=2.0, help="seconds to keep running after the last kill")
    args = ap.parse_args()
    dsn = args.dsn
    schema = None
    if dsn:
        dsn, schema = fresh_schema_dsn(dsn)
    with tempfile.TemporaryDirectory(prefix="dialer-faults-") as tmp:
        t0 = time.monotonic()
        report = run(
            Path(tmp), kills=args.kills, workers=args.workers, clients=args.clients, dsn=dsn,
            fail_rate=args.fail_rate, seed=args.seed, max_seconds=args.max_seconds,
            restart_delay=args.restart_delay, run_after=args.run_after,
        )  # fmt: skip
        elapsed = time.monotonic() - t0
    if schema and args.dsn:
        drop_schema(args.dsn, schema)
    store = "PostgreSQL" if dsn else "SQLite"
    print(
        f"fault harness on {store}: {args.workers} worker(s), {report.kills} SIGKILLs, {report.restarts} starts, "
        f"{elapsed:.0f} s"
    )
    print(f"  calls: {report.calls} {report.by_status}; reconciled after a kill: {report.rescued}")
    print(
        f"  clients lost: {report.lost_clients}; duplicate attempts: {report.duplicate_attempts}; "
        f"overlapping calls: {report.overlapping_calls}"
    )
    print(
        f"  calls without a final result: {report.open_calls}; leases held: {report.leases_held}; "
        f"unqueued without reason: {report.unqueued_without_reason}; exit codes {report.exit_codes}"
    )
    back = report.lines_back_s
    if back:
        print(
            f"  lines back after a kill: max {max(back):.1f} s, median {statistics.median(back):.1f} s "
            f"({len(back)} kills with lines held)"
        )
    print(
        f"  attempts counted: {report.attempts_counted}; interrupted: {report.interrupted}; "
        f"canceled: {report.canceled}; crash calls recorded failed: {report.crash_failed}; "
        f"interrupted applied as attempts: {report.interrupted_as_attempts}"
    )
    print(
        f"  max calls in progress (from the call rows) per campaign: {report.max_in_progress} on {report.lines} lines"
    )
    print(
        f"  calls per worker: {report.calls_per_worker} (once all were up: {report.steady_calls_per_worker}); "
        f"fairness (most / fewest, once all were up): {report.fairness:.2f}; "
        f"per second up {report.fairness_per_uptime:.2f} (up: {report.uptime_s} s)"
    )
    print("  OK" if report.ok else "  FAILED")
    return 0 if report.ok else 1


def _with_schema(dsn: str, schema: str) -> str:
    """The store reads `?schema=NAME` (its own parameter) and keeps to that schema."""
    sep = "&" if "?" in dsn else "?"
    return f"{dsn}{sep}schema={schema}"


def _split_schema(dsn: str) -> tuple[str, str | None]:
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(dsn)
    query = parse_qsl(parts.query)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


def fresh_schema_dsn(dsn: str) -> tuple[str, str]:
    schema = f"faults_{uuid.uuid4().hex[:8]}"
    return _with_schema(dsn, schema), schema


def drop_schema(dsn: str, schema: str) -> None:
    import asyncio

    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    asyncio.run(go())


if __name__ == "__main__":
    raise SystemExit(main())
