"""The store's interface: :class:`Store` (every role) and the errors it raises.

The store is the only place with SQL. Two implementations keep the same contract
(tests/integration/test_store_contract.py runs against each): ``sqlite.SqliteStore``
(embedded default, one worker) and ``postgres.PostgresStore`` (many workers). A small
in-process one is not provided on purpose: the SQLite store on a temp file is fast
enough for unit tests and is the real thing. The records they read and write are in
:mod:`dialer.model`; the roles callers depend on are in :mod:`dialer.store.roles`.

Order of the queue: claims and the daily plan order by (priority, slack_key,
window_closes_at, next_dial_at, id): within a class the client with the least callable
time left first; at equal slack the window that closes first, then the one due longest.
A write without a slack key stores window_closes_at (the order by closing window). An
outcome is written only while the lease token still matches, so a worker presumed dead
cannot overwrite a newer result.
"""

from __future__ import annotations

# The records moved to dialer.model; re-exported here so code written against the
# old layout (and the acceptance tests) keeps importing them from the store.
from dialer.model import (
    JOB_TAKEOVER,
    READINESS_REPORT_EVERY,
    READINESS_STALE,
    CallRecord,
    CallStart,
    CallUpdate,
    Claim,
    ClientUpdate,
    DueGroup,
    Event,
    EventRecord,
    GroupKey,
    Plan,
    PlanCounts,
    PlanEntry,
    ProviderReadiness,
    QueuedClient,
    Schedule,
)
from dialer.store.errors import (
    AccessDenied,
    DispositionConflict,
    LeaseLost,
    SchemaMismatch,
    StoreError,
    StoreUnreachable,
    denied_message,
    newer_schema_message,
)
from dialer.store.roles import CallLog, Database, Pacing, Plans, Queue


class Store(Database, Queue, CallLog, Plans, Pacing):
    """Everything the worker, the CLI and the reports need from the queue: every role."""


__all__ = [
    "AccessDenied",
    "CallRecord",
    "CallStart",
    "CallUpdate",
    "Claim",
    "ClientUpdate",
    "DispositionConflict",
    "DueGroup",
    "Event",
    "EventRecord",
    "GroupKey",
    "JOB_TAKEOVER",
    "LeaseLost",
    "Plan",
    "PlanCounts",
    "PlanEntry",
    "ProviderReadiness",
    "QueuedClient",
    "READINESS_REPORT_EVERY",
    "READINESS_STALE",
    "Schedule",
    "SchemaMismatch",
    "Store",
    "StoreError",
    "StoreUnreachable",
    "denied_message",
    "newer_schema_message",
]
