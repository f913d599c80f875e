"""The SQL file loader (dialer/store/sqlfiles.py) and the files it ships."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialer.store import sqlfiles
from dialer.store.schema import has_statements, split_statements
from dialer.store.sqlfiles import DIALECTS, SqlFileError, load_migrations, load_queries, parse_queries

ROLES = ("database", "queue", "calls", "plans", "pacing")


def test_queries_are_split_by_name_lines_with_their_comments() -> None:
    text = "-- a file header\n\n-- name: one\n-- why\nSELECT 1\n\n-- name: two\nSELECT 2;\n"
    assert parse_queries(text) == {"one": "-- why\nSELECT 1", "two": "SELECT 2;"}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("-- name: a\nSELECT 1\n-- name: a\nSELECT 2\n", "query 'a' defined twice"),
        ("-- name: a\n\n-- name: b\nSELECT 2\n", "query 'a' is empty"),
        ("SELECT 1\n", "no '-- name:' lines"),
    ],
)
def test_malformed_query_files_are_refused(text: str, error: str) -> None:
    with pytest.raises(SqlFileError, match=error):
        parse_queries(text, "x.sql")


def test_an_unknown_dialect_is_refused() -> None:
    with pytest.raises(SqlFileError, match="unknown SQL dialect 'mysql'"):
        load_queries("mysql", "queue")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_role_file_loads_and_is_read_only(dialect: str) -> None:
    for role in ROLES:
        queries = load_queries(dialect, role)
        assert queries and all(sql.strip() for sql in queries.values())
        with pytest.raises(TypeError):
            queries["x"] = "SELECT 1"  # type: ignore[index]


# Where the dialects differ by design: PostgreSQL writes a call start, an outcome, an import
# batch or a heartbeat in one statement (data-modifying CTEs) and takes advisory locks;
# SQLite runs several statements in one transaction in its own thread, and forms a plan
# through a temporary table.
DIALECT_ONLY = {
    "database": (set(), {"lock", "schema_exists", "schema_usable"}),
    "queue": (
        {"expire_call_leases", "insert_client", "next_dial_after_in_campaign", "reimport_client",
         "release_unstarted_leases", "set_schedule", "worker_seen"},
        {"claim_within_lines", "expire_leases", "heartbeat", "set_schedules", "upsert_clients"},
    ),
    "calls": (
        {"call_disposition", "disposition_client", "insert_call", "insert_event", "open_call", "outcome_client",
         "update_call"},
        {"lock_call_disposition", "record_disposition", "record_outcome", "start_call"},
    ),
    "plans": ({"clear_plan_fit", "create_plan_fit", "insert_plan_fit", "plan_exists"}, set()),
    "pacing": (set(), set()),
}  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
def test_the_dialects_answer_the_same_questions(role: str) -> None:
    """The same role files in both dialects, and the same queries but for DIALECT_ONLY."""
    sqlite, postgres = set(load_queries("sqlite", role)), set(load_queries("postgres", role))
    assert (sqlite - postgres, postgres - sqlite) == DIALECT_ONLY[role]


def _fake_dialect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, names: list[str]) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    for name in names:
        (folder / name).write_text("-- a step\nCREATE TABLE t (x int);\n", encoding="utf-8")
    monkeypatch.setattr(sqlfiles, "_dir", lambda dialect: tmp_path)
    load_migrations.cache_clear()


def test_migrations_are_numbered_in_order_and_other_files_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_dialect(tmp_path, monkeypatch, ["0002_second.sql", "0001_first.sql", "README.txt"])
    try:
        assert [(m.number, m.slug) for m in load_migrations("sqlite")] == [(1, "first"), (2, "second")]
    finally:
        load_migrations.cache_clear()


def test_a_gap_in_the_numbering_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dialect(tmp_path, monkeypatch, ["0001_first.sql", "0003_third.sql"])
    try:
        with pytest.raises(SqlFileError, match="expected 0002, found 0003"):
            load_migrations("sqlite")
    finally:
        load_migrations.cache_clear()


def test_sqlite_statements_keep_trigger_bodies_whole() -> None:
    script = (
        "-- a comment\nCREATE TABLE t (x int);\n"
        "CREATE TRIGGER no_update BEFORE UPDATE ON t\n    BEGIN SELECT RAISE(ABORT, 'no'); END;\n"
        "CREATE INDEX t_x ON t(x);\n"
    )
    assert split_statements(script) == [
        "CREATE TABLE t (x int);",
        "CREATE TRIGGER no_update BEFORE UPDATE ON t\n    BEGIN SELECT RAISE(ABORT, 'no'); END;",
        "CREATE INDEX t_x ON t(x);",
    ]
    assert has_statements(script) and not has_statements("-- only why\n--\n")
