"""The store role "people" (issue 12): the same contract on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dialer.store.base import Store
from dialer.store.people import (
    Account,
    AccountExists,
    ApiToken,
    PresenceState,
    Role,
    people_of,
)
from tests.support.services import pg_available
from tests.support.stores import pg_throwaway_store, two_workers_on_postgres

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def account(name: str, role: Role = Role.AGENT, campaigns: tuple[str, ...] = ("cold",)) -> Account:
    return Account(name, role, campaigns, "$argon2id$fake", False, NOW)


async def test_accounts_round_trip_and_names_are_unique(real_store: Store) -> None:
    people = people_of(real_store)
    await people.add_account(account("ivanova"), actor="cli")
    await people.add_account(account("boss", Role.SUPERVISOR, ()), actor="cli")
    with pytest.raises(AccountExists):
        await people.add_account(account("ivanova", Role.SUPERVISOR), actor="cli")
    got = await people.get_account("ivanova")
    assert got == account("ivanova")
    assert [a.name for a in await people.list_accounts()] == ["boss", "ivanova"]
    assert await people.get_account("nobody") is None
    assert await people.set_password("ivanova", "$argon2id$new", NOW, actor="cli")
    assert await people.set_disabled("ivanova", True, NOW, actor="cli")
    assert not await people.set_disabled("nobody", True, NOW, actor="cli")
    got = await people.get_account("ivanova")
    assert got is not None and got.disabled and got.password_hash == "$argon2id$new"
    actions = [(r.action, r.subject) for r in await people.audit_since(NOW - timedelta(days=1))]
    assert actions == [
        ("account_added", "ivanova"),
        ("account_added", "boss"),
        ("password_set", "ivanova"),
        ("account_disabled", "ivanova"),
    ]


async def test_tokens_are_found_by_hash_and_revoked_once(real_store: Store) -> None:
    people = people_of(real_store)
    token = ApiToken("t1", Role.SUPERVISOR, ("cold", "warm"), "crm", NOW)
    await people.add_token(token, "hash-1", actor="cli")
    assert await people.token_by_hash("hash-1") == token
    assert await people.token_by_hash("hash-2") is None
    assert await people.revoke_token("t1", NOW, actor="cli")
    assert not await people.revoke_token("t1", NOW, actor="cli")
    found = await people.token_by_hash("hash-1")
    assert found is not None and found.revoked_at == NOW
    assert [t.id for t in await people.list_tokens()] == ["t1"]


async def test_presence_take_end_and_wrap_up_runs_out(real_store: Store) -> None:
    people = people_of(real_store)
    assert [p.state for p in await people.presence(NOW, ["a"])] == [PresenceState.LOGGED_OUT]
    assert await people.take_agent(["a"], NOW, campaign="cold", call_id="c0", by="w1") is None
    await people.set_presence("a", PresenceState.READY, NOW, by="a")
    await people.set_presence("b", PresenceState.READY, NOW + timedelta(seconds=1), by="b")
    await people.set_presence("c", PresenceState.PAUSED, NOW, by="c", reason="lunch")
    assert await people.ready_agents(["a", "b", "c"], NOW + timedelta(seconds=2)) == ["a", "b"]
    # The longest waiting first; an agent on a call is not taken twice.
    assert await people.take_agent(["a", "b", "c"], NOW, campaign="cold", call_id="c1", by="w1") == "a"
    assert await people.take_agent(["a", "c"], NOW, campaign="cold", call_id="c2", by="w2") is None
    await people.end_call("a", "c1", NOW + timedelta(seconds=60), NOW + timedelta(seconds=90), by="w1")
    (a,) = await people.presence(NOW + timedelta(seconds=61), ["a"])
    assert a.state is PresenceState.WRAP_UP and a.wrap_up_until == NOW + timedelta(seconds=90)
    assert await people.extend_wrap_up("a", NOW + timedelta(seconds=120), NOW + timedelta(seconds=70), by="a")
    assert await people.ready_agents(["a"], NOW + timedelta(seconds=100)) == []
    (a,) = await people.presence(NOW + timedelta(seconds=121), ["a"])
    assert a.state is PresenceState.READY
    assert await people.take_agent(["a"], NOW + timedelta(seconds=121), campaign="cold", call_id="c3", by="w2") == "a"
    # Ready asked mid-call (another tab): still on the call, never taken twice.
    await people.set_presence("a", PresenceState.PAUSED, NOW + timedelta(seconds=122), by="a", reason="break")
    await people.set_presence("a", PresenceState.READY, NOW + timedelta(seconds=123), by="a")
    (a,) = await people.presence(NOW + timedelta(seconds=124), ["a"])
    assert a.state is PresenceState.ON_CALL and a.call_id == "c3"
    assert await people.take_agent(["a"], NOW + timedelta(seconds=124), campaign="cold", call_id="c4", by="w1") is None
    # Logged out mid-call: the call's end leaves them out (never offered a call again).
    await people.set_presence("a", PresenceState.LOGGED_OUT, NOW + timedelta(seconds=130), by="a")
    await people.end_call("a", "c3", NOW + timedelta(seconds=140), NOW + timedelta(seconds=170), by="w2")
    (a,) = await people.presence(NOW + timedelta(seconds=200), ["a"])
    assert a.state is PresenceState.LOGGED_OUT
    # A worker that died mid-call never ends it: logging out (and in) frees the agent.
    assert await people.take_agent(["b"], NOW, campaign="cold", call_id="lost", by="dead") == "b"
    await people.set_presence("b", PresenceState.READY, NOW + timedelta(seconds=300), by="b")
    assert await people.ready_agents(["b"], NOW + timedelta(seconds=301)) == []
    await people.set_presence("b", PresenceState.LOGGED_OUT, NOW + timedelta(seconds=302), by="boss")
    await people.set_presence("b", PresenceState.READY, NOW + timedelta(seconds=303), by="b")
    assert await people.ready_agents(["b"], NOW + timedelta(seconds=304)) == ["b"]
    (c,) = await people.presence(NOW, ["c"])
    assert c.state is PresenceState.PAUSED and c.reason == "lunch"


async def test_two_workers_never_take_the_same_agent(real_store: Store) -> None:
    people = people_of(real_store)
    names = [f"a{i}" for i in range(5)]
    for name in names:
        await people.set_presence(name, PresenceState.READY, NOW, by=name)
    taken = await asyncio.gather(
        *(people.take_agent(names, NOW, campaign="cold", call_id=f"c{i}", by="w") for i in range(8))
    )
    got = [t for t in taken if t is not None]
    assert sorted(got) == names


async def test_campaign_pause_is_stored_and_audited(real_store: Store) -> None:
    people = people_of(real_store)
    assert await people.paused_campaigns() == set()
    await people.set_campaign_paused("cold", True, NOW, by="boss")
    await people.set_campaign_paused("warm", True, NOW, by="boss")
    await people.set_campaign_paused("warm", False, NOW + timedelta(minutes=1), by="boss")
    assert await people.paused_campaigns() == {"cold"}
    pauses = {p.campaign: p for p in await people.campaign_pauses()}
    assert pauses["warm"].paused is False and pauses["warm"].by == "boss"
    actions = [r.action for r in await people.audit_since(NOW)]
    assert actions == ["campaign_paused", "campaign_paused", "campaign_resumed"]


async def test_login_failures_count_per_account_and_address(real_store: Store) -> None:
    people = people_of(real_store)
    for i in range(3):
        await people.add_login_failure("ivanova", "10.0.0.1", NOW + timedelta(seconds=i))
    await people.add_login_failure("petrov", "10.0.0.1", NOW)
    await people.add_login_failure("ivanova", "10.0.0.2", NOW - timedelta(hours=2))
    assert await people.login_failures("ivanova", "10.0.0.1", NOW - timedelta(minutes=15)) == (3, 4)
    await people.clear_login_failures("ivanova", "10.0.0.1", NOW - timedelta(hours=1))
    assert await people.login_failures("ivanova", "10.0.0.2", NOW - timedelta(days=1)) == (0, 0)
    assert await people.login_failures("petrov", "10.0.0.1", NOW - timedelta(minutes=15)) == (1, 1)


async def test_pause_seen_by_a_second_worker_on_postgres() -> None:
    """Two stores on one PostgreSQL schema (two workers): a pause through one is read by the other."""
    async with two_workers_on_postgres() as (first, second):
        await people_of(first).set_campaign_paused("cold", True, NOW, by="boss")
        assert await people_of(second).paused_campaigns() == {"cold"}


async def test_page_events_reach_every_worker_on_postgres() -> None:
    """A page event sent through one worker's store is delivered to another's listener."""
    await pg_available()
    first = pg_throwaway_store()
    await first.open()
    await first.migrate()
    from dialer.store.postgres import PostgresStore

    assert isinstance(first, PostgresStore)
    second = PostgresStore(first.dsn, schema=first.schema)
    await second.open()
    got: list[tuple[str, dict[str, object]]] = []
    arrived = asyncio.Event()

    def deliver(topic: str, data: dict[str, object]) -> None:
        got.append((topic, data))
        arrived.set()

    stop = await people_of(second).listen(deliver)
    try:
        assert people_of(first).shared_events
        await people_of(first).notify("presence", {"agent": "ivanova", "state": "ready"})
        await asyncio.wait_for(arrived.wait(), 5)
        assert got == [("presence", {"agent": "ivanova", "state": "ready"})]
    finally:
        await stop()
        await second.close()
        await first.close()


async def test_sqlite_keeps_page_events_in_process(tmp_path: Path) -> None:
    from dialer.store.sqlite import SqliteStore

    real_store = SqliteStore(tmp_path / "one.db")
    await real_store.open()
    await real_store.migrate()
    try:
        people = people_of(real_store)
        assert not people.shared_events
        stop = await people.listen(lambda topic, data: None)
        await people.notify("presence", {})
        await stop()
    finally:
        await real_store.close()


async def test_the_audit_trail_is_append_only(real_store: Store) -> None:
    await people_of(real_store).audit("boss", "client_moved", "c1", {"to": "2026-12-02"}, NOW)
    from dialer.store.sqlite import SqliteStore

    if isinstance(real_store, SqliteStore):
        with pytest.raises(Exception, match="append-only"):
            await real_store.db.execute("UPDATE audit SET actor = 'someone else'")
        with pytest.raises(Exception, match="append-only"):
            await real_store.db.execute("DELETE FROM audit")
    else:
        pool = real_store.pool  # type: ignore[attr-defined]
        with pytest.raises(Exception, match="append-only"):
            await pool.execute("UPDATE audit SET actor = 'someone else'")
        with pytest.raises(Exception, match="append-only"):
            await pool.execute("DELETE FROM audit")
    [record] = await people_of(real_store).audit_since(NOW)
    assert (record.actor, record.action, record.data) == ("boss", "client_moved", {"to": "2026-12-02"})
