"""The daily plan: the clients due today per campaign, in call order, and what fits.

"Today" is the center's local date. Call order is the claim order: complaints, agreed
callbacks, hot, customers, cold prospects; within a class the client with the least
callable time left in its own day first (the stored slack key, see
dialer.scheduling), then the one due longest, then by id. So a Novosibirsk office
whose afternoon is nearly over is called before a Kaliningrad one whose afternoon is
still ahead, and no zone is starved while lines sit idle.

What fits is not lines x open minutes: it is a replay of the day. The forecast below
plays the dispatcher on the due clients, grouped (zone, schedule, class, dial moment:
clients the claim can tell apart only by id), with each call holding a line for the
campaign's ``expected_handle``: at every moment a line is free it takes the best
client open then, exactly as the claim does, and when a client's window passes
undialed it moves to its next window (as the dispatcher's housekeeping re-places it).
The plan's `fits` / `rolls_over` is what that day dials, and a simulated day whose
calls take ``expected_handle`` dials the same number (tests/integration/test_call_order.py).
This module is the pure part (no I/O): the day's bounds, the replay, which entries fit.
dialer.plans forms and previews the plan against the store; the plan itself is written
inside the database (a million-client queue never crosses into Python: only the group
counts do).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from dialer.config.models import Campaign, DialerConfig
from dialer.model import DueGroup, GroupKey, PlanEntry, QueuedClient
from dialer.scheduling import Scheduler

# The dispatcher re-places a client whose window passed at its next housekeeping, a few
# seconds later; the replay does it one second after the last start (the next window
# is the same whatever the exact moment, as long as it is before that window opens).
_REPLACE_AFTER = timedelta(seconds=1)


def day_bounds(config: DialerConfig, day: date) -> tuple[datetime, datetime]:
    """[start, end) of the center's local date as aware instants."""
    zone = ZoneInfo(config.center.timezone)
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone)
    return start, end


def center_today(config: DialerConfig, now: datetime) -> date:
    return now.astimezone(ZoneInfo(config.center.timezone)).date()


def lines_of(campaign: Campaign) -> int:
    """Concurrent calls the campaign can hold: its lines, and no more than its agents
    (client first, issue 13: all its lines, the pacer keeps more calls than agents)."""
    if campaign.agents and not campaign.dial_mode.client_first:
        return min(campaign.lines, len(campaign.agents))
    return campaign.lines


@dataclass
class _Member:
    """An original due group inside a pool, with how many of its clients are left."""

    key: GroupKey
    left: int


@dataclass
class _Pool:
    """Due clients the claim cannot tell apart (one GroupKey now), with the original
    groups they came from (a window that passed merges groups into the next one)."""

    timezone: str
    schedule: str | None
    priority: int
    next_dial_at: datetime
    closes: datetime  # last start in the current window
    slack_key: datetime
    members: list[_Member] = field(default_factory=list)  # first in, first taken
    count: int = 0

    def order(self) -> tuple[object, ...]:
        # The claim's ORDER BY (priority, slack_key, window_closes_at, next_dial_at, id);
        # two groups equal on all but id fall to zone and schedule here, to id in the
        # store (only groups of different schedules with the same slack and window).
        return (self.priority, self.slack_key, self.closes, self.next_dial_at, self.timezone, self.schedule or "")

    def take(self) -> GroupKey:
        head = self.members[0]
        head.left -= 1
        if not head.left:
            self.members.pop(0)
        self.count -= 1
        return head.key


_Add = Callable[[GroupKey, datetime, datetime, list[_Member], int], None]


def forecast_day(
    groups: Iterable[DueGroup],
    scheduler: Scheduler,
    campaign: Campaign,
    start: datetime,
    end: datetime,
) -> dict[GroupKey, int]:
    """How many clients of each due group the campaign's lines dial in [start, end),
    replaying the claims (see the module docstring). Pure: no I/O, time as arguments."""
    lines = lines_of(campaign)
    handle = campaign.handle_time
    if handle <= timedelta(0):
        handle = timedelta(seconds=1)
    pools: dict[GroupKey, _Pool] = {}

    def add(key: GroupKey, closes: datetime, slack: datetime, members: list[_Member], count: int) -> None:
        pool = pools.get(key)
        if pool is None:
            pools[key] = pool = _Pool(key[0], key[1], key[2], key[3], closes, slack)
        pool.members.extend(members)
        pool.count += count

    for g in groups:
        if g.count > 0:
            closes = g.window_closes_at or g.next_dial_at
            add(g.key, closes, g.slack_key or closes, [_Member(g.key, g.count)], g.count)

    dialed: dict[GroupKey, int] = {}
    free = [start] * lines  # when each line is free next
    heapq.heapify(free)
    while free:
        t = heapq.heappop(free)
        if t >= end:
            break
        _replace_passed(pools, scheduler, campaign, t, start, end, add)
        best: _Pool | None = None
        for pool in pools.values():
            if pool.count and pool.next_dial_at <= t < pool.closes and (best is None or pool.order() < best.order()):
                best = pool
        if best is not None:
            key = best.take()
            dialed[key] = dialed.get(key, 0) + 1
            if not best.count:
                del pools[(best.timezone, best.schedule, best.priority, best.next_dial_at)]
            heapq.heappush(free, t + handle)
            continue
        # Nothing open now: this line waits for the next client to open (all windows
        # that passed were moved on above, so every pool left opens later).
        nxt = min((p.next_dial_at for p in pools.values() if p.count and p.next_dial_at > t), default=None)
        if nxt is None:
            break
        heapq.heappush(free, nxt)
    return dialed


def _replace_passed(
    pools: dict[GroupKey, _Pool],
    scheduler: Scheduler,
    campaign: Campaign,
    t: datetime,
    start: datetime,
    end: datetime,
    add: _Add,
) -> None:
    """Move every pool whose window has passed by ``t`` to its next window, as the
    dispatcher's housekeeping does with the clients (merging with a group already there)."""
    for key in [k for k, p in pools.items() if p.closes <= t]:
        pool = pools.pop(key)
        found = scheduler.opening(campaign, pool.timezone, pool.schedule, max(pool.closes + _REPLACE_AFTER, start))
        if found is None or found[0] >= end:
            continue  # no window left today: the whole pool rolls over
        opens, last_start, slack = found
        add((pool.timezone, pool.schedule, pool.priority, opens), last_start, slack, pool.members, pool.count)


def mark_fits(clients: list[QueuedClient], dialed: Mapping[GroupKey, int]) -> list[PlanEntry]:
    """Clients in call order -> entries: in each group the first `dialed[key]` (by id,
    the order the claims take them in) fit."""
    seen: dict[GroupKey, int] = {}
    out: list[PlanEntry] = []
    for c in clients:
        key: GroupKey = (c.timezone, c.schedule, c.priority, c.next_dial_at)  # type: ignore[assignment]
        n = seen.get(key, 0)
        seen[key] = n + 1
        out.append(
            PlanEntry(
                client_id=c.id,
                priority=c.priority,
                next_dial_at=c.next_dial_at,  # type: ignore[arg-type]
                window_closes_at=c.window_closes_at,
                fits=n < dialed.get(key, 0),
            )
        )
    return out
