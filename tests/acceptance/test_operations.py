"""Operating the dialer: which commands may create or migrate a database, what an
unreachable store looks like, `dialer status`, check-config's warnings, the import's
summary, --strict and defaulted-zone file, and simulations side by side."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import socket
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from dialer.cli import main
from dialer.config import load_config
from dialer.loading import load_clients
from dialer.store.base import Schedule
from dialer.store.sqlite import SqliteStore
from tests.support.paths import EXAMPLE_CLIENTS, EXAMPLE_CONFIG

READ_COMMANDS = [
    ["status"],
    ["plan", "--date", "2026-12-01"],
    ["report", "--date", "2026-12-01"],
    ["calls", "--date", "2026-12-01"],
    ["why", "C0001"],
    ["dispose", "some-call", "no_need"],
]


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def dialer(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dialer.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def set_schema_version(db: Path, version: int) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(version),))


def known_version() -> int:
    return SqliteStore.known_schema_version


# ---------------------------------------------------------------- create / migrate


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: c[0])
def test_read_commands_never_create_a_database(tmp_path: Path, command: list[str]) -> None:
    typo = tmp_path / "typo.db"
    code, out, err = cli(*command, "--config", str(EXAMPLE_CONFIG), "--db", str(typo))
    assert code == 4, (out, err)
    assert err.strip() == f"error: no SQLite database at {typo} (a typo? `dialer import` or `dialer migrate` creates it)"
    assert out == ""
    assert not typo.exists() and list(tmp_path.iterdir()) == []


def test_migrate_creates_then_read_commands_work(tmp_path: Path) -> None:
    db = tmp_path / "new" / "q.db"
    code, out, err = cli("migrate", "--config", str(EXAMPLE_CONFIG), "--db", str(db))
    assert code == 0, err
    assert f"schema version {known_version()} (was none)" in out
    code, out, _ = cli("migrate", "--config", str(EXAMPLE_CONFIG), "--db", str(db))
    assert code == 0 and "already current" in out
    code, out, err = cli("status", "--config", str(EXAMPLE_CONFIG), "--db", str(db), "--json")
    assert code == 0, err
    assert {r["campaign"] for r in json.loads(out)} == {"cold", "warm", "care"}


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: c[0])
def test_read_commands_refuse_an_older_or_newer_schema_and_change_nothing(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "q.db"
    assert cli("migrate", "--config", str(EXAMPLE_CONFIG), "--db", str(db))[0] == 0
    for version, says in ((known_version() - 1, "older"), (known_version() + 1, "newer")):
        set_schema_version(db, version)
        code, out, err = cli(*command, "--config", str(EXAMPLE_CONFIG), "--db", str(db))
        assert code == 4, (out, err)
        assert says in err and str(db) in err and len(err.strip().splitlines()) == 1
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(version)


def test_migrate_upgrades_an_older_schema_and_refuses_a_newer_one(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    assert cli("migrate", "--config", str(EXAMPLE_CONFIG), "--db", str(db))[0] == 0
    set_schema_version(db, known_version() + 1)
    for command in (["migrate", "--config", str(EXAMPLE_CONFIG)], ["import", str(EXAMPLE_CONFIG), str(EXAMPLE_CLIENTS)]):
        code, _, err = cli(*command, "--db", str(db))
        assert code == 4 and "newer than this dialer knows" in err and "Traceback" not in err


def test_run_refuses_a_newer_schema(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    assert cli("migrate", "--config", str(EXAMPLE_CONFIG), "--db", str(db))[0] == 0
    set_schema_version(db, known_version() + 1)
    result = dialer("run", "--config", str(EXAMPLE_CONFIG), "--db", str(db))
    assert result.returncode == 4, result.stdout + result.stderr
    [line] = [json.loads(x) for x in result.stdout.splitlines()]
    assert line["event"] == "store_unavailable" and "newer than this dialer knows" in line["error"]
    assert "Traceback" not in result.stderr and result.stderr.strip() == ""


# ---------------------------------------------------------------- unreachable store


@pytest.mark.parametrize("command", [*READ_COMMANDS, ["migrate"]], ids=lambda c: c[0])
def test_unreachable_postgresql_is_one_line_without_the_password(command: list[str]) -> None:
    pytest.importorskip("asyncpg")
    port = free_port()
    dsn = f"postgresql://dialer:s3cr3t-pw@127.0.0.1:{port}/dialer"
    code, out, err = cli(*command, "--config", str(EXAMPLE_CONFIG), "--db", dsn)
    assert code == 3, (out, err)
    [line] = err.strip().splitlines()
    assert line.startswith(f"error: cannot connect to PostgreSQL postgresql://dialer@127.0.0.1:{port}/dialer: ")
    assert "s3cr3t" not in out + err and "Traceback" not in out + err


def test_run_with_an_unreachable_postgresql_exits_3_with_one_log_line(tmp_path: Path) -> None:
    pytest.importorskip("asyncpg")
    port = free_port()
    result = dialer("run", "--config", str(EXAMPLE_CONFIG), "--db", f"postgresql://dialer:pw-xyz@127.0.0.1:{port}/d")
    assert result.returncode == 3
    [line] = [json.loads(x) for x in result.stdout.splitlines()]
    assert line["event"] == "store_unavailable" and f"127.0.0.1:{port}" in line["error"]
    assert "pw-xyz" not in result.stdout + result.stderr and "Traceback" not in result.stderr


def test_a_dsn_password_in_query_parameters_is_not_shown() -> None:
    from dialer.store.postgres import redact_dsn

    assert redact_dsn("postgresql://u:p@h:5/db?password=zz&sslmode=require") == (
        "postgresql://u@h:5/db?password=%2A%2A%2A&sslmode=require"
    )
    assert redact_dsn("postgresql://h/db") == "postgresql://h/db"


def test_an_unopenable_sqlite_file_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, out, err = cli("import", str(EXAMPLE_CONFIG), str(EXAMPLE_CLIENTS), "--db", str(blocker / "q.db"))
    assert code == 3 and err.startswith("error: cannot open SQLite database") and "Traceback" not in err


# ---------------------------------------------------------------- status

STATUS_CONFIG = """
center:
  name: c
  timezone: Europe/Moscow
  shift: {days: [mon-sun], start: "00:00", end: "24:00"}
legal_window: {start: "00:00", end: "24:00"}
storage: {path: q.db, reports_dir: reports}
schedules:
  always: {days: [mon-sun], start: "00:00", end: "24:00"}
default_schedule: always
campaigns:
  - name: cold
    stages: [prospect, hot, customer]
    lines: 4
    window: {days: [mon-sun], start: "00:00", end: "24:00"}
    provider: sim
    caller_id: "+73412000001"
    agents: [{name: a, target: "101"}, {name: b, target: "102"}, {name: c, target: "103"}]
providers:
  sim: {type: simulated}
"""


async def queue_for_status(db: Path, now: datetime) -> None:
    store = SqliteStore(db)
    await store.open()
    await store.migrate()
    from dialer.domain import ClientRecord

    await store.upsert_clients(
        [ClientRecord(id=i, name=i, phone="+79120000000", timezone="Europe/Moscow", country="RU") for i in "abcd"]
    )
    await store.clients_to_schedule(now, 10)
    h = timedelta(hours=1)
    await store.set_schedules(
        [
            Schedule("a", now - h, now + h, "due now", "cold"),  # due now: not an opening to come
            Schedule("b", now - 3 * h, now - 2 * h, "window passed", "cold"),  # stale, in the past
            Schedule("c", now + 5 * h, now + 6 * h, "closes first, opens later", "cold"),
            Schedule("d", now + 2 * h, now + 20 * h, "earliest opening", "cold"),
        ]
    )
    await store.close()


def test_status_shows_effective_lines_and_the_earliest_future_opening(tmp_path: Path) -> None:
    (tmp_path / "dialer.yaml").write_text(STATUS_CONFIG)
    now = datetime.now(UTC).replace(microsecond=0, second=0)
    asyncio.run(queue_for_status(tmp_path / "q.db", now))
    code, out, err = cli("status", "--config", str(tmp_path / "dialer.yaml"), "--json")
    assert code == 0, err
    [row] = json.loads(out)
    assert row["lines"] == 3 and row["lines_configured"] == 4 and row["agents"] == 3
    opening = datetime.fromisoformat(row["next_opening"])
    assert opening == now + timedelta(hours=2)
    code, out, _ = cli("status", "--config", str(tmp_path / "dialer.yaml"))
    assert "lines 0/3 (4 set, 3 agents)" in out


# ---------------------------------------------------------------- check-config


def test_check_config_warns_about_unwritable_reports_and_lines_over_agents(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file, not a folder")
    text = STATUS_CONFIG.replace("reports_dir: reports", "reports_dir: blocker/reports")
    (tmp_path / "dialer.yaml").write_text(text)
    code, out, err = cli("check-config", str(tmp_path / "dialer.yaml"))
    assert code == 0 and "ok" in out
    lines = err.strip().splitlines()
    reports_line = text.splitlines().index(next(x for x in text.splitlines() if "reports_dir" in x)) + 1
    lines_line = text.splitlines().index("    lines: 4") + 1
    assert lines == [
        f"{tmp_path / 'dialer.yaml'}:{reports_line}: storage.reports_dir: warning: {tmp_path / 'blocker'} is not a "
        f"folder, so {tmp_path / 'blocker' / 'reports'} cannot be created",
        f"{tmp_path / 'dialer.yaml'}:{lines_line}: campaigns.0.lines: warning: 4 lines but 3 agents: campaign 'cold' "
        "makes at most 3 calls at once (each call is connected to a free agent)",
    ]
    # Fixed: no warning at all.
    (tmp_path / "dialer.yaml").write_text(STATUS_CONFIG.replace("lines: 4", "lines: 3"))
    code, out, err = cli("check-config", str(tmp_path / "dialer.yaml"))
    assert code == 0 and err == ""


def test_reports_dir_under_etc_is_flagged_for_systemd() -> None:
    from dialer.daily import reports_dir_problem

    problem = reports_dir_problem(Path("/etc/dialer/reports"))
    assert problem is not None
    assert "/var/lib/dialer" in problem


# ---------------------------------------------------------------- import


def test_import_strict_and_the_placement_summary(tmp_path: Path) -> None:
    db = str(tmp_path / "q.db")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name,phone\n1,Ivan,+79120000001\n2,Petr,not a phone\n")
    code, out, err = cli("import", str(EXAMPLE_CONFIG), str(bad), "--db", db, "--no-progress", "--strict")
    assert code == 1 and "1 rows rejected (--strict)" in err and "1 new" in out
    code, out, err = cli("import", str(EXAMPLE_CONFIG), str(bad), "--db", db, "--no-progress")
    assert code == 0
    good = tmp_path / "good.csv"
    # Ivan moves zone (his place in the queue depends on it); Olga is new.
    good.write_text("id,name,phone,timezone\n1,Ivan,+79120000001,Asia/Yekaterinburg\n3,Olga,+79120000003,\n")
    code, out, err = cli("import", str(EXAMPLE_CONFIG), str(good), "--db", db, "--no-progress", "--strict")
    assert code == 0, err
    assert "1 new, 1 updated, 0 rejected" in out
    # The one updated client is re-placed; the new one was placed as it was written.
    # (An update that changes nothing the queue depends on re-places nobody.)
    assert "next dial moment recomputed for 1 changed clients" in out
    assert "re-placed" not in out and "window had passed" not in out


async def import_twice(tmp_path: Path) -> tuple[int, int, int]:
    config = load_config(EXAMPLE_CONFIG)
    store = SqliteStore(tmp_path / "q.db")
    await store.open()
    await store.migrate()
    try:
        t0 = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
        first, placed = await load_clients(config, EXAMPLE_CLIENTS, store, now=t0)
        assert placed.total == 0  # every new client was placed as it was written
        six = tmp_path / "six.csv"
        six.write_text("id,name,phone\n" + "".join(f"N{i},New {i},+7912000100{i}\n" for i in range(6)))
        summary, placed = await load_clients(config, six, store, now=t0 + timedelta(days=20))
        return summary.imported, placed.changed, placed.window_passed
    finally:
        await store.close()


def test_placement_counts_separate_changed_clients_from_passed_windows(tmp_path: Path) -> None:
    new, changed, passed = asyncio.run(import_twice(tmp_path))
    assert new == 6 and changed == 0
    assert passed > 0  # the earlier clients' windows passed in 20 days: moved, not "updated"


def test_defaulted_zones_are_listed_beside_the_rejects_and_can_be_reimported(tmp_path: Path) -> None:
    db = str(tmp_path / "q.db")
    src = tmp_path / "clients.csv"
    # Mobiles (+79...) say nothing about the zone; a Kamchatka landline does.
    src.write_text(
        "id,name,phone,timezone\n"
        "m1,Mobile One,+79120000001,\n"
        "m2,Mobile Two,+79120000002,\n"
        "k1,Kamchatka,+74152000001,\n"
        "z1,Zoned,+79120000003,Asia/Omsk\n"
    )
    code, out, err = cli("import", str(EXAMPLE_CONFIG), str(src), "--db", db, "--no-progress")
    assert code == 0, err
    defaulted = tmp_path / "clients.defaulted.csv"
    assert f"clients whose time zone was defaulted: {defaulted}" in out
    rows = list(csv.DictReader(io.StringIO(defaulted.read_text("utf-8-sig"))))
    assert [r["id"] for r in rows] == ["m1", "m2"]
    assert all(r["line"] and "defaulted to" in r["reason"] for r in rows)
    # The supervisor fills the zone in and imports that file: the zones come from it.
    for r in rows:
        r["timezone"] = "Asia/Yekaterinburg"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    defaulted.write_text(buf.getvalue(), encoding="utf-8")
    code, out, err = cli("import", str(EXAMPLE_CONFIG), str(defaulted), "--db", db, "--no-progress")
    assert code == 0, err
    assert "2 updated" in out and "2 from the file" in out
    with sqlite3.connect(db) as conn:
        assert dict(conn.execute("SELECT id, timezone FROM clients WHERE id IN ('m1','m2')").fetchall()) == {
            "m1": "Asia/Yekaterinburg", "m2": "Asia/Yekaterinburg",
        }  # fmt: skip
    # An import without defaulted zones leaves no stale list behind.
    src.write_text("id,name,phone,timezone\nz1,Zoned,+79120000003,Asia/Omsk\n")
    assert cli("import", str(EXAMPLE_CONFIG), str(src), "--db", db, "--no-progress")[0] == 0
    assert not (tmp_path / "clients.defaulted.csv").exists()


# ---------------------------------------------------------------- simulations side by side


def test_two_simulations_in_one_folder_keep_their_reports_apart(tmp_path: Path) -> None:
    few = tmp_path / "few.csv"
    few.write_text("".join(EXAMPLE_CLIENTS.read_text("utf-8").splitlines(keepends=True)[:13]), encoding="utf-8")
    for name, seed in (("a.db", "1"), ("b.db", "2")):
        code, out, err = cli(
            "simulate", "--config", str(EXAMPLE_CONFIG), "--clients", str(few), "--from", "2026-12-01",
            "--seed", seed, "--db", str(tmp_path / name),
        )  # fmt: skip
        assert code == 0, out + err
    a = sorted(p.name for p in (tmp_path / "a.db.reports").iterdir())
    b = sorted(p.name for p in (tmp_path / "b.db.reports").iterdir())
    assert a and a == b and "2026-12-01.cold.csv" in a
    assert (tmp_path / "a.db.reports" / "2026-12-01.cold.json").read_text() != "" and not (tmp_path / "reports").exists()


@pytest.mark.parametrize(
    ("dsn", "code", "says"),
    [
        ("postgresql://dialer:pw-9q@127.0.0.1:99999/d", 3, "cannot connect to PostgreSQL postgresql://dialer@127.0.0.1:99999/d"),
        ("postgresql://dialer:pw-9q@[::1/d", 4, "cannot read the PostgreSQL DSN"),
        ("mysql://dialer:pw-9q@db/d", 4, "unsupported database URL mysql://"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", [*READ_COMMANDS, ["migrate"]], ids=lambda c: c[0])
def test_an_unusable_database_url_is_one_line_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], dsn: str, code: int, says: str
) -> None:
    # A port over 65535 once reached the user as a traceback (OverflowError), a broken
    # IPv6 host as a bare "Invalid IPv6 URL", and mysql:// was taken for a SQLite path
    # that `migrate` then created (a folder "mysql:").
    pytest.importorskip("asyncpg")
    monkeypatch.chdir(tmp_path)
    got, out, err = cli(*command, "--config", str(EXAMPLE_CONFIG), "--db", dsn)
    assert got == code, (out, err)
    [line] = err.strip().splitlines()
    assert line.startswith("error: ") and says in line, line
    assert "pw-9q" not in out + err and "Traceback" not in out + err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("dsn", "code"), [("postgresql://u:pw-9q@127.0.0.1:99999/d", 3), ("postgresql://u:pw-9q@[::1/d", 4), ("mysql://u:pw-9q@h/d", 4)]
)  # fmt: skip
def test_run_with_an_unusable_database_url_is_one_log_line(tmp_path: Path, dsn: str, code: int) -> None:
    pytest.importorskip("asyncpg")
    result = dialer("run", "--config", str(EXAMPLE_CONFIG), "--db", dsn, cwd=tmp_path)
    assert result.returncode == code, result.stderr
    [line] = [json.loads(x) for x in result.stdout.splitlines()]
    assert line["event"] == "store_unavailable" and line["exit_code"] == code
    assert "pw-9q" not in result.stdout + result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_postgresql_role_without_privileges_is_one_line(tmp_path: Path) -> None:
    """A role that may not create the schema, or may not use an existing one, once got a
    traceback (InsufficientPrivilegeError) from migrate, import and run, and `status`
    said "no dialer schema; create it with dialer migrate", which fails the same way."""
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    from tests.support.services import PG_DSN, pg_available

    asyncio.run(pg_available())
    import asyncpg

    tag = uuid.uuid4().hex[:10]
    role, made, fresh = f"dialer_lim_{tag}", f"dialer_made_{tag}", f"dialer_new_{tag}"
    base = urlsplit(PG_DSN)
    limited = urlunsplit(base._replace(netloc=f"{role}@{base.hostname}:{base.port or 5432}", query=""))

    async def sql(*statements: str) -> None:
        con = await asyncpg.connect(PG_DSN)
        try:
            for statement in statements:
                await con.execute(statement)
        finally:
            await con.close()

    asyncio.run(sql(f'CREATE ROLE "{role}" LOGIN'))  # no CREATE on the database (PUBLIC never has it)
    try:
        code, out, err = cli("migrate", "--config", str(EXAMPLE_CONFIG), "--db", f"{PG_DSN}?schema={made}")
        assert code == 0, err

        def one_line(command: list[str], schema: str) -> str:
            code, out, err = cli(*command, "--config", str(EXAMPLE_CONFIG), "--db", f"{limited}?schema={schema}")
            assert code == 4 and "Traceback" not in out + err, (command, out, err)
            [line] = err.strip().splitlines()
            return line

        assert "permission denied for database" in one_line(["migrate"], fresh)
        code, out, err = cli("import", str(EXAMPLE_CONFIG), str(EXAMPLE_CLIENTS), "--db", f"{limited}?schema={fresh}")
        assert code == 4 and "Traceback" not in out + err and "permission denied for database" in err, (out, err)
        for command in (["status"], ["migrate"], ["why", "C0001"]):
            line = one_line(command, made)
            assert f"permission denied for schema {made}" in line and "no dialer schema" not in line
        asyncio.run(sql(f'GRANT USAGE ON SCHEMA "{made}" TO "{role}"'))
        assert "permission denied for table" in one_line(["status"], made)
        result = dialer("run", "--config", str(EXAMPLE_CONFIG), "--db", f"{limited}?schema={fresh}", cwd=tmp_path)
        assert result.returncode == 4 and "Traceback" not in result.stderr, result.stderr
        [line] = [json.loads(x) for x in result.stdout.splitlines()]
        assert line["event"] == "store_unavailable" and "permission denied" in line["error"]
    finally:
        asyncio.run(sql(f'DROP SCHEMA IF EXISTS "{made}" CASCADE', f'DROP SCHEMA IF EXISTS "{fresh}" CASCADE',
                        f'DROP OWNED BY "{role}"', f'DROP ROLE "{role}"'))  # fmt: skip


def test_check_config_warns_about_stages_and_empty_schedules(tmp_path: Path) -> None:
    """Valid configs that silently leave clients out: a stage worked twice (the second
    campaign only gets pinned clients), a stage nobody works, a schedule with no day."""
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    names = [c["name"] for c in data["campaigns"]]
    hot = next(i for i, c in enumerate(data["campaigns"]) if "hot" in c["stages"])
    data["campaigns"][hot]["stages"] = ["prospect"]
    first_schedule = next(iter(data["schedules"]))
    data["schedules"][first_schedule]["days"] = []
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    code, out, err = cli("check-config", str(path))
    assert code == 0 and "ok" in out, err
    warnings = err.strip().splitlines()
    assert any(f"campaigns.{hot}.stages: warning: stage 'prospect' is also worked by campaign {names[0]!r}" in w for w in warnings), warnings
    assert any("campaigns: warning: no campaign works stage 'hot'" in w for w in warnings), warnings
    assert any(f"schedules.{first_schedule}.days: warning: no working day" in w for w in warnings), warnings
    assert all(w.startswith(f"{path}:") for w in warnings)


def test_simulate_with_every_row_rejected_fails_and_a_huge_call_id_is_not_echoed(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name,phone\n1,A,not a phone\n2,B,\n", encoding="utf-8")
    code, out, err = cli("simulate", "--config", str(EXAMPLE_CONFIG), "--clients", str(bad), "--from", "2026-12-01")
    assert code == 1 and "no client of" in err and "2 rows rejected" in err and "nothing was simulated" in err
    db = str(tmp_path / "s.db")
    code, _, err = cli(
        "simulate", "--config", str(EXAMPLE_CONFIG), "--clients", str(EXAMPLE_CLIENTS), "--from", "2026-12-01",
        "--db", db,
    )  # fmt: skip
    assert code == 0, err
    code, out, err = cli("dispose", "--db", db, "x" * 100_000, "interested")
    assert code != 0 and "no call" in err and len(err) < 200, err[:300]
