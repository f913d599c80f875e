"""The week-of-use scenario: the example list is worked for two simulated days, then the
same file is imported again (as a supervisor does after a CRM export): nothing the calls
did is undone; a row the CRM really changed is taken."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

from dialer.config import load_config
from dialer.loading import load_clients, schedule_pending
from dialer.planning import day_bounds
from dialer.scheduling import Scheduler
from dialer.simulate import run_simulation
from dialer.store.base import QueuedClient
from dialer.store.sqlite import SqliteStore
from tests.support.caps import cap_breaches
from tests.support.paths import EXAMPLE_CLIENTS, EXAMPLE_CONFIG

FIRST = date(2026, 12, 1)


def queue_view(c: QueuedClient) -> tuple[object, ...]:
    return (c.state, c.due_at, c.next_dial_at, c.window_closes_at, c.cap_until, c.campaign, c.priority)


async def test_reimporting_the_original_list_after_two_days_undoes_nothing(tmp_path: Path) -> None:
    config = load_config(EXAMPLE_CONFIG)
    rows = list(csv.DictReader(io.StringIO(EXAMPLE_CLIENTS.read_text("utf-8-sig"))))
    ids = [r["id"] for r in rows]
    store = SqliteStore(tmp_path / "q.db")
    await store.open()
    await store.migrate()
    try:
        start, _ = day_bounds(config, FIRST)
        await load_clients(config, EXAMPLE_CLIENTS, store, now=start)
        await run_simulation(store, config, FIRST, 2, seed=7)
        _, now = day_bounds(config, date(2026, 12, 2))
        calls = await store.calls_between(start, now)
        assert cap_breaches(calls, config) == []
        # Windows that passed overnight are settled first (the worker does that anyway).
        await schedule_pending(store, Scheduler(config), now)
        before = {i: await store.get_client(i) for i in ids}
        moved = [r["id"] for r in rows if r["stage"] and before[r["id"]].state.stage.value != r["stage"]]  # type: ignore[union-attr]
        assert moved, "the simulation moved no client off its imported stage: the test would prove nothing"

        summary, _ = await load_clients(config, EXAMPLE_CLIENTS, store, now=now)
        assert summary.updated == len(ids)
        after = {i: await store.get_client(i) for i in ids}
        assert {i: queue_view(c) for i, c in after.items()} == {i: queue_view(c) for i, c in before.items()}  # type: ignore[arg-type]

        # The CRM changed one row's stage: that client takes it, nobody else moves.
        target = next(r for r in rows if r["id"] in moved and before[r["id"]].state.stage.value != "dnc")  # type: ignore[union-attr]
        new_stage = next(s for s in ("prospect", "hot", "customer") if s != target["stage"])
        edited = tmp_path / "clients.csv"
        with edited.open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            for r in rows:
                writer.writerow({**r, "stage": new_stage} if r is target else r)
        await load_clients(config, edited, store, now=now)
        for i in ids:
            c = await store.get_client(i)
            assert c is not None
            if i == target["id"]:
                assert c.state.stage.value == new_stage
            else:
                assert queue_view(c) == queue_view(before[i])  # type: ignore[arg-type]
    finally:
        await store.close()
