"""Crash safety, proven: kill workers with SIGKILL at random moments, restart them,
then check from the database that nothing was lost or doubled.

    python benchmarks/fault_harness.py --kills 100                       # SQLite, one worker
    python benchmarks/fault_harness.py --kills 100 --workers 3 \\
        --dsn postgresql://postgres@127.0.0.1:5432/test                  # PostgreSQL, three workers
    python benchmarks/fault_harness.py --kills 20 --fail-rate 0.1        # + provider errors on 10 % of dials

The workers run the real `dialer run` with a fast simulated provider on the real
clock. At the end every worker is stopped gracefully and the checks run:
  - no client lost (every imported client is still there, queued or parked with a reason);
  - no client dialed twice for the same attempt (attempts unique, calls of one client
    never overlap in time);
  - every started call has a final result (no call left `dialing`);
  - every lease released.
Loops are bounded (kills, seconds); only loopback and local files are used.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
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

    @property
    def ok(self) -> bool:
        return not (
            self.lost_clients or self.duplicate_attempts or self.overlapping_calls or self.open_calls
            or self.leases_held or self.unqueued_without_reason or any(self.exit_codes)
        )  # fmt: skip


class Worker:
    def __init__(self, workdir: Path, name: str, env: dict[str, str]):
        self.workdir = workdir
        self.name = name
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = (workdir / f"{name}.log").open("ab")

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dialer.cli", "run", "--config", f"{self.name}.yaml"],
            cwd=self.workdir, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> int:
        if not self.proc:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
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
) -> Report:
    rng = random.Random(seed)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    db = workdir / "faults.db" if not dsn else None
    storage = json.dumps({"url": dsn}) if dsn else json.dumps({"path": str(db)})
    names = [f"w{i}" for i in range(workers)]
    for name in names:
        write_config(workdir, name, storage, lines, seed, fail_rate)
    import_clients(workdir, f"{names[0]}.yaml", clients, env)
    report = Report(clients=clients)
    pool = [Worker(workdir, name, env) for name in names]
    deadline = time.monotonic() + max_seconds
    try:
        for w in pool:
            w.start()
            report.restarts += 1
        while report.kills < kills and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.3, 2.0))
            victim = rng.choice(pool)
            victim.kill()
            report.kills += 1
            victim.start()
            report.restarts += 1
        time.sleep(2.0)  # the last restarts reconcile their predecessors' calls
        report.exit_codes = [w.stop() for w in pool]
    finally:
        for w in pool:
            w.close()
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
        )  # fmt: skip
        elapsed = time.monotonic() - t0
    if schema and args.dsn:
        drop_schema(args.dsn, schema)
    store = "PostgreSQL" if dsn else "SQLite"
    print(f"fault harness on {store}: {args.workers} worker(s), {report.kills} SIGKILLs, {report.restarts} starts, "
          f"{elapsed:.0f} s")
    print(f"  calls: {report.calls} {report.by_status}; reconciled after a kill: {report.rescued}")
    print(f"  clients lost: {report.lost_clients}; duplicate attempts: {report.duplicate_attempts}; "
          f"overlapping calls: {report.overlapping_calls}")
    print(f"  calls without a final result: {report.open_calls}; leases held: {report.leases_held}; "
          f"unqueued without reason: {report.unqueued_without_reason}; exit codes {report.exit_codes}")
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
