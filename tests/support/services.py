"""Outside services the tests need: skipped locally when missing, required in CI (CI=true)."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# PostgreSQL: tests work in fresh schemas of the server named by DIALER_TEST_PG_DSN.
PG_DSN = os.environ.get("DIALER_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
_pg_reachable: str | None = None  # "" = reachable, else why not


def require_service(available: bool, reason: str) -> None:
    """Skip locally when a service is missing; fail in CI where it must be there."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


async def pg_available() -> None:
    """require_service() for the PostgreSQL server (checked once per session)."""
    global _pg_reachable
    if _pg_reachable is None:
        try:
            import asyncpg

            con = await asyncpg.connect(PG_DSN, timeout=3)
            await con.close()
            _pg_reachable = ""
        except ImportError:
            _pg_reachable = "asyncpg is not installed (pip install -e .[test])"
        except Exception as exc:  # refused, timeout, auth, missing database
            _pg_reachable = f"PostgreSQL at {PG_DSN} unreachable: {type(exc).__name__}: {exc}"
    require_service(not _pg_reachable, _pg_reachable or "")
