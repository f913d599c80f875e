"""Logged-in time rebuilt from the stored presence changes (issue 13), on both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dialer.reporting.occupancy import LoggedIn, logged_in_from_changes
from dialer.store.base import Store
from dialer.store.people import LOGGED_IN_STATES, PresenceState, people_of

DAY = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
END = DAY + timedelta(days=1)


def h(hours: float) -> datetime:
    return DAY + timedelta(hours=hours)


async def test_logged_in_stretches_of_a_day_from_presence_changes(real_store: Store) -> None:
    people = people_of(real_store)
    # ann: in since the evening before, paused for lunch (still logged in), out at 17:00.
    await people.set_presence("ann", PresenceState.READY, h(-3), by="ann")
    await people.set_presence("ann", PresenceState.PAUSED, h(12), by="ann", reason="lunch")
    await people.set_presence("ann", PresenceState.READY, h(13), by="ann")
    await people.set_presence("ann", PresenceState.LOGGED_OUT, h(17), by="ann")
    # bob: 9:00-11:00, a call and its wrap-up in between (the dispatcher's moves), then
    # logged out by a supervisor; back 14:00 until the next morning.
    await people.set_presence("bob", PresenceState.READY, h(9), by="bob")
    assert await people.take_agent(["bob"], h(10), campaign="cold", call_id="k1", by="w1") == "bob"
    await people.end_call("bob", "k1", h(10.1), h(10.2), by="w1")
    await people.set_presence("bob", PresenceState.LOGGED_OUT, h(11), by="boss")
    await people.set_presence("bob", PresenceState.READY, h(14), by="bob")
    await people.set_presence("bob", PresenceState.READY, h(15), by="bob")  # no change: not kept
    await people.set_presence("bob", PresenceState.LOGGED_OUT, h(26), by="bob")
    # cy: logged in two days before and never changed since; dee: never logged in.
    await people.set_presence("cy", PresenceState.PAUSED, h(-48), by="cy", reason="training")
    await people.set_presence("dee", PresenceState.LOGGED_OUT, h(8), by="boss")

    changes = await people.presence_changes(DAY)
    assert [(c.agent, c.at, c.was, c.state) for c in changes if c.agent == "bob"] == [
        ("bob", h(9), PresenceState.LOGGED_OUT, PresenceState.READY),
        ("bob", h(11), PresenceState.WRAP_UP, PresenceState.LOGGED_OUT),
        ("bob", h(14), PresenceState.LOGGED_OUT, PresenceState.READY),
        ("bob", h(26), PresenceState.READY, PresenceState.LOGGED_OUT),
    ]
    now = {p.agent: p.state in LOGGED_IN_STATES for p in await people.presence(h(27))}
    assert logged_in_from_changes(changes, now, DAY, END) == [
        LoggedIn("ann", DAY, h(17)),
        LoggedIn("bob", h(9), h(11)),
        LoggedIn("bob", h(14), END),
        LoggedIn("cy", DAY, END),
    ]
    # People's actions stay what audit_since lists: presence changes are not among them.
    assert [a.action for a in await people.audit_since(h(-72))] == []
