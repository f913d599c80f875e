"""Placing clients in the queue: every new, changed or stale client gets its next dial
moment (the calendar's answer, see dialer.scheduling) written back to the store.

`schedule_pending` has two callers: the import places what it changed until nothing is
left; the dispatcher's housekeeping places one bounded batch every few seconds.

`Placement` is the requeueing after a call or a disposition: the client's new row
under the campaign that will work its new stage, with that campaign's contact caps and
lifecycle periods. The dispatcher (call results) and dialer.dispositions (an agent's
disposition from the CLI, the API or a page) share it; neither needs the other.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple, Protocol
from zoneinfo import ZoneInfo

from dialer.clock import Clock
from dialer.config.models import Campaign, DialerConfig, Lifecycle
from dialer.domain import Stage, priority_of
from dialer.lifecycle import Transition
from dialer.model import ClientUpdate, QueuedClient
from dialer.outcomes import caps_reopen_at
from dialer.scheduling import Scheduler
from dialer.store.roles import CallLog, Queue


class Placed(NamedTuple):
    """Clients placed in the queue, by why they needed it."""

    changed: int  # updated by the file (or otherwise marked as needing a new placement)
    window_passed: int  # already queued, whose window closed without a call: moved to the next one

    @property
    def total(self) -> int:
        return self.changed + self.window_passed

    def lines(self) -> list[str]:
        out = []
        if self.changed:
            out.append(f"next dial moment recomputed for {self.changed:,} changed clients")
        if self.window_passed:
            out.append(
                f"{self.window_passed:,} queued clients whose window had passed without a call "
                "were moved to their next window"
            )
        return out


async def schedule_pending(
    store: Queue, scheduler: Scheduler, now: datetime, batch: int = 5000, *, max_batches: int | None = None
) -> Placed:
    """Place every client that needs it, `batch` at a time; with `max_batches`, stop
    after that many batches (the rest is placed on a later call)."""
    changed = passed = batches = 0
    while max_batches is None or batches < max_batches:
        clients = await store.clients_to_schedule(now, batch)
        if not clients:
            break
        batches += 1
        await store.set_schedules([scheduler.place_client(c, now) for c in clients])
        marked = sum(1 for c in clients if c.needs_schedule)
        changed += marked
        passed += len(clients) - marked
    return Placed(changed, passed)


class PlacementStore(Queue, CallLog, Protocol):
    """What requeueing reads: the queue and each client's past contacts (caps)."""


class Placement:
    """Where a client goes after a call or a disposition (see the module docstring)."""

    def __init__(
        self, store: PlacementStore, clock: Clock, config: DialerConfig, scheduler: Scheduler | None = None
    ) -> None:
        self.store = store
        self.clock = clock
        self.config = config
        self.scheduler = scheduler or Scheduler(config)

    @property
    def placement(self) -> Placement:
        """Itself: a Placement is what dialer.dispositions.dispose needs (`Placing`)."""
        return self

    def periods_for(self, client: QueuedClient, calling: Campaign) -> dict[Stage, Lifecycle]:
        """Per stage, the lifecycle of the campaign that works this client at that stage
        (its pinned campaign, else the first working the stage; the calling campaign
        where none does): the next contact after a disposition is computed with the
        periods of the campaign that will work the client's new stage."""
        pinned = client.campaign if client.campaign_pinned else None
        return {
            stage: (self.scheduler.campaign_of(stage, pinned) or calling).lifecycle
            for stage in (Stage.PROSPECT, Stage.HOT, Stage.CUSTOMER)
        }

    async def client_update(
        self,
        client: QueuedClient,
        transition: Transition,
        calling: Campaign,
        now: datetime,
        answered_now: datetime | None,
        not_attempt: datetime | None = None,
    ) -> ClientUpdate:
        """The client row after `transition`: its place in the queue and its contact cap,
        both under the campaign that will work its new stage. `answered_now` is the start
        of a conversation being recorded (not yet counted by the store)."""
        state = transition.state
        pinned = client.campaign if client.campaign_pinned else None
        # Caps protect the person: the campaign that calls next counts every contact,
        # whichever campaign made it.
        working = self.scheduler.campaign_of(state.stage, pinned) or calling
        cap_until = await self.cap_until(client.id, client.timezone, working, now, answered_now, not_attempt)
        never = None if transition.due_at is not None else transition.reason
        schedule = self.scheduler.place(
            client.id, client.timezone, client.schedule, state, pinned, transition.due_at, now, cap_until,
            never_reason=never,
        )  # fmt: skip
        return ClientUpdate(
            state=state,
            due_at=transition.due_at,
            next_dial_at=schedule.next_dial_at,
            window_closes_at=schedule.window_closes_at,
            slack_key=schedule.slack_key,
            cap_until=cap_until,
            priority=int(priority_of(state)),
            campaign=schedule.campaign,
            reason=f"{transition.reason}; {schedule.reason}",
        )

    async def cap_until(
        self,
        client_id: str,
        zone_name: str,
        campaign: Campaign,
        now: datetime,
        answered_now: datetime | None,
        not_attempt: datetime | None = None,
    ) -> datetime | None:
        """When `campaign`'s caps let the client be contacted again, counting all of the
        client's calls (every campaign's), or None if no cap is reached."""
        caps = campaign.caps
        if not (caps.per_day or caps.per_week or caps.per_month):
            return None
        conversations = caps.count == "conversations"
        contacts = await self.store.contact_times(client_id, now - timedelta(days=32), conversations)
        # The call being recorded is still 'dialing' in the store, so a conversation
        # count misses it: add it. (An attempt count already includes it, even when the
        # dialer itself cut it: take that one out.)
        if conversations and answered_now is not None and answered_now not in contacts:
            contacts.append(answered_now)
        if not conversations and not_attempt is not None:
            # (A store may keep whole seconds only.)
            same = next((c for c in contacts if abs((c - not_attempt).total_seconds()) < 1), None)
            if same is not None:
                contacts.remove(same)
        return caps_reopen_at(contacts, caps, ZoneInfo(zone_name), now)

    def campaign_of_call(self, name: str) -> Campaign:
        """The campaign that made a call (by the name on its row)."""
        try:
            return self.config.campaign(name)
        except KeyError:
            # Campaign removed by a reload while its call was in flight: keep its rules
            # from the first campaign working the stage rather than lose the outcome.
            return self.config.campaigns[0]


__all__ = ["Placed", "Placement", "PlacementStore", "schedule_pending"]
