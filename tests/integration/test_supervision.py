"""A supervisor's changes to one client (dialer/supervision.py over the store's
supervision role), on SQLite and PostgreSQL: search by id, phone and name; move the
next contact (refused in the past and outside the window, with the next opening);
do-not-call; both refused while a worker holds the client; both audited."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dialer.config import DialerConfig
from dialer.domain import Stage
from dialer.store.base import Store
from dialer.store.people import people_of
from dialer.supervision import ClientActionRefused, mark_do_not_call, move_next_contact, search_clients
from tests.support.dispatch import MORNING, client, load

MSK = ZoneInfo("Europe/Moscow")


@pytest.fixture
async def queue(any_store: Store, config: DialerConfig) -> Store:
    records = [
        client(1, name="Иванов Пётр Сергеевич", phone="+79120000001"),
        client(2, name="ООО Ромашка", phone="+79120000002"),
        client(3, name="Petrova Anna", phone="+79120000003", stage=Stage.HOT),
        client(4, name="ПЕТРОВ Илья", phone="+79120000004"),
    ]
    await load(any_store, config, records, MORNING)
    return any_store


async def test_search_by_id_phone_in_any_spelling_and_name(queue: Store, config: DialerConfig) -> None:
    async def ids(q: str, campaigns: tuple[str, ...] = ()) -> list[str]:
        return [c.id for c in await search_clients(queue, config, q, campaigns)]

    assert await ids("c2") == ["c2"]
    for spelling in ("+7 912 000-00-01", "8 (912) 000 00 01", "89120000001", "+79120000001"):
        assert await ids(spelling) == ["c1"], spelling
    assert await ids("петров") == ["c4"]  # case-insensitive, Cyrillic included
    assert await ids("ПЁТР") == ["c1"]
    assert await ids("ромашка") == ["c2"]
    assert await ids("petrova") == ["c3"]
    # scope: c3 is hot (the warm campaign); a cold-only supervisor does not find it
    assert await ids("petrova", ("cold",)) == []
    assert await ids("c3", ("cold",)) == []
    assert await ids("nobody") == []
    with pytest.raises(ClientActionRefused, match="enter a client id"):
        await search_clients(queue, config, "   ", ())


async def test_move_next_contact_inside_the_window_is_written_with_event_and_audit(
    queue: Store, config: DialerConfig
) -> None:
    now = MORNING  # 10:00 in Moscow, Tuesday
    at = datetime(2026, 12, 2, 11, 30, tzinfo=MSK)
    moved = await move_next_contact(queue, config, "c1", at, now, by="boss")
    c = await queue.get_client("c1")
    assert c is not None and c.due_at == at and c.next_dial_at == at
    assert moved.schedule.next_dial_at == at
    events = await queue.events_for("c1")
    assert events[0].kind == "next_contact_moved" and "boss" in events[0].reason
    audit = await people_of(queue).audit_since(now - timedelta(days=1))
    assert [(a.actor, a.action, a.subject) for a in audit][-1] == ("boss", "client_next_contact_moved", "c1")


async def test_move_is_refused_in_the_past_and_outside_the_window(queue: Store, config: DialerConfig) -> None:
    now = MORNING
    before = await queue.get_client("c1")
    with pytest.raises(ClientActionRefused, match="in the past"):
        await move_next_contact(queue, config, "c1", now - timedelta(minutes=5), now, by="boss")
    late = datetime(2026, 12, 2, 20, 0, tzinfo=MSK)  # after the cold window (09-18 client time)
    with pytest.raises(ClientActionRefused, match=r"outside client c1's window: the next opening is 2026-12-03 09:00"):
        await move_next_contact(queue, config, "c1", late, now, by="boss")
    with pytest.raises(ClientActionRefused, match="no client 'zz'"):
        await move_next_contact(queue, config, "zz", late, now, by="boss")
    assert await queue.get_client("c1") == before


async def test_do_not_call_and_busy_clients(queue: Store, config: DialerConfig) -> None:
    now = MORNING
    # the cold campaign's clients are claimed by a worker: neither change is written
    claimed = {c.client.id for c in await queue.claim("cold", now, 10, "w1", now + timedelta(minutes=5))}
    assert "c2" in claimed and "c3" not in claimed  # c3 is hot: the warm campaign's
    with pytest.raises(ClientActionRefused, match="being called right now"):
        await mark_do_not_call(queue, "c2", now, by="boss")
    with pytest.raises(ClientActionRefused, match="being called right now"):
        await move_next_contact(queue, config, "c2", datetime(2026, 12, 2, 11, 0, tzinfo=MSK), now, by="boss")
    await mark_do_not_call(queue, "c3", now, by="boss")
    c = await queue.get_client("c3")
    assert c is not None and c.state.stage is Stage.DNC and c.next_dial_at is None
    assert (await queue.events_for("c3"))[0].kind == "do_not_call"
    with pytest.raises(ClientActionRefused, match="already do-not-call"):
        await mark_do_not_call(queue, "c3", now, by="boss")
    with pytest.raises(ClientActionRefused, match="do-not-call"):
        await move_next_contact(queue, config, "c3", datetime(2026, 12, 2, 11, 0, tzinfo=MSK), now, by="boss")
    actions = [a.action for a in await people_of(queue).audit_since(now - timedelta(days=1))]
    assert actions.count("client_do_not_call") == 1
