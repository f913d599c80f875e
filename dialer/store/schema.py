"""Schema versions: one migration numbering for every dialect, and how older databases
are read.

Adding a migration: put ``NNNN_slug.sql`` (the next number) in
``dialer/store/sql/sqlite/migrations/`` AND ``dialer/store/sql/postgres/migrations/``.
A change that does not apply to one dialect still gets its file there, holding only a
comment that says why (the numbers stay aligned). Never edit a released file. Each store
applies every file after the stored version, in order, in one transaction, and stores
the new number; ``known_schema_version`` is the number of files.

Before the numbering was shared (meta key ``numbering`` absent), each store counted its
own migrations: SQLite's numbers are today's, PostgreSQL's are two less (its first
migration held SQLite's first three). ``unified_version`` maps them; the store writes
the marker with the next migration it applies (or at once when none is due).
"""

from __future__ import annotations

from collections.abc import Mapping

from dialer.store.sqlfiles import load_migrations

# meta keys: the schema version (one numbering) and the marker that it is that numbering.
VERSION_KEY = "schema_version"
NUMBERING_KEY = "numbering"
NUMBERING = "shared"

# Old per-store number -> shared number: the shared one is this much higher.
_LEGACY_OFFSET: Mapping[str, int] = {"sqlite": 0, "postgres": 2}


def known_version(dialect: str) -> int:
    """The schema version this code knows: the number of the dialect's migrations."""
    return len(load_migrations(dialect))


def unified_version(dialect: str, stored: int, numbering: str | None) -> int:
    """The shared-numbering version of what a database's meta table says."""
    if stored <= 0 or numbering == NUMBERING:
        return stored
    return stored + _LEGACY_OFFSET[dialect]


def has_statements(script: str) -> bool:
    """False for a migration that is only comments (a change of the other dialect)."""
    return any(line.strip() and not line.strip().startswith("--") for line in script.splitlines())


def split_statements(script: str) -> list[str]:
    """Split a SQLite migration into statements (sqlite3 runs one at a time inside our
    transaction; executescript would commit it), keeping trigger bodies (BEGIN ... END;) whole."""
    statements: list[str] = []
    current: list[str] = []
    in_trigger = False
    for line in script.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        current.append(line)
        if stripped.upper().startswith("CREATE TRIGGER"):
            in_trigger = True
        if stripped.endswith(";") and (not in_trigger or stripped.upper().endswith("END;")):
            statements.append("\n".join(current))
            current = []
            in_trigger = False
    if current:
        statements.append("\n".join(current))
    return statements


__all__ = [
    "NUMBERING",
    "NUMBERING_KEY",
    "VERSION_KEY",
    "has_statements",
    "known_version",
    "split_statements",
    "unified_version",
]
