"""What the store raises: one-line operator messages (no secrets) and the two races
the engine handles (a lease that moved on, a disposition recorded meanwhile)."""

from __future__ import annotations

from dialer.domain import Disposition


class LeaseLost(Exception):
    """The client's lease moved on (expired and rescued by someone else)."""


class StoreError(Exception):
    """The store cannot be used. The message is one line for the operator: it names
    the database (never its password) and the reason. `exit_code` is the CLI's."""

    exit_code = 3


class StoreUnreachable(StoreError):
    """The database cannot be reached or opened (server down, refused, timed out,
    authentication failed, file not readable). Often worth retrying later."""

    exit_code = 3


class AccessDenied(StoreError):
    """The database refuses this role what the command needs (a privilege): an operator
    must grant it; retrying alone does not help."""

    exit_code = 4


def denied_message(database: str, reason: object) -> str:
    return (
        f"{database}: {reason} (grant the dialer's role what it needs: CREATE to create or "
        "migrate the schema, USAGE on the schema and read/write on its tables)"
    )


class SchemaMismatch(StoreError):
    """The database is missing, has no dialer schema, or its schema is older or newer
    than this version knows: an operator must act (`dialer migrate`, or upgrade)."""

    exit_code = 4


def newer_schema_message(database: str, found: int, known: int) -> str:
    return (
        f"{database} has schema version {found}, newer than this dialer knows ({known}); "
        "upgrade dialer on this host (never migrate a newer database down)"
    )


class DispositionConflict(Exception):
    """The call's disposition is not the one the writer expected (another agent or a
    retry recorded one meanwhile): nothing was written."""

    def __init__(self, call_id: str, found: Disposition | None):
        super().__init__(f"call {call_id} has disposition {found.value if found else 'none'}")
        self.call_id = call_id
        self.found = found


__all__ = [
    "AccessDenied",
    "DispositionConflict",
    "LeaseLost",
    "SchemaMismatch",
    "StoreError",
    "StoreUnreachable",
    "denied_message",
    "newer_schema_message",
]
