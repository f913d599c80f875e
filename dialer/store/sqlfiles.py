"""The store's SQL, read from ``.sql`` files beside this module.

Layout (one directory per dialect, the same file names in each)::

    dialer/store/sql/<dialect>/migrations/NNNN_slug.sql   one numbering for every dialect
    dialer/store/sql/<dialect>/<role>.sql                  named queries of one store role

A query file holds several statements, each introduced by a ``-- name: query_name`` line;
the text up to the next such line (comments included) is the query. Keeping the SQL in
files lets a reader diff the two dialects side by side and keeps Python free of long
string literals; parsing happens once per process (``functools.cache``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

DIALECTS = ("sqlite", "postgres")
_NAME = re.compile(r"^--\s*name:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$", re.MULTILINE)
_MIGRATION = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class SqlFileError(Exception):
    """A query or migration file is malformed: a packaging bug, not a user error."""


@dataclass(frozen=True)
class Migration:
    number: int
    slug: str
    sql: str


def _dir(dialect: str) -> resources.abc.Traversable:
    if dialect not in DIALECTS:
        raise SqlFileError(f"unknown SQL dialect {dialect!r} (known: {', '.join(DIALECTS)})")
    return resources.files("dialer.store") / "sql" / dialect


def parse_queries(text: str, source: str = "<string>") -> dict[str, str]:
    """Split a query file into ``{name: sql}``; duplicate names are an error."""
    found: dict[str, str] = {}
    marks = list(_NAME.finditer(text))
    if text[: marks[0].start() if marks else len(text)].strip("\n ").replace("--", "").strip() and not marks:
        raise SqlFileError(f"{source}: no '-- name:' lines")
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        name = mark.group(1)
        if name in found:
            raise SqlFileError(f"{source}: query {name!r} defined twice")
        body = text[mark.end() : end].strip()
        if not body:
            raise SqlFileError(f"{source}: query {name!r} is empty")
        found[name] = body
    return found


@functools.cache
def load_queries(dialect: str, role: str) -> Mapping[str, str]:
    """The named queries of ``sql/<dialect>/<role>.sql``, read-only."""
    path = _dir(dialect) / f"{role}.sql"
    return MappingProxyType(parse_queries(path.read_text(encoding="utf-8"), f"{dialect}/{role}.sql"))


@functools.cache
def load_migrations(dialect: str) -> tuple[Migration, ...]:
    """Every migration of a dialect in order; numbers run 1, 2, 3, ... without gaps."""
    folder = _dir(dialect) / "migrations"
    items: list[Migration] = []
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if match is None:
            continue
        items.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    items.sort(key=lambda m: m.number)
    for expected, migration in enumerate(items, start=1):
        if migration.number != expected:
            raise SqlFileError(f"{dialect} migrations: expected {expected:04d}, found {migration.number:04d}")
    return tuple(items)


__all__ = ["DIALECTS", "Migration", "SqlFileError", "load_migrations", "load_queries", "parse_queries"]
