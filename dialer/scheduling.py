"""Where a client goes in the queue: due moment + calendar -> next_dial_at.

Pure (no I/O): the store keeps the answer on the client row so that claiming is an
index range scan, not a calendar computation over the table. Besides the window
(``next_dial_at`` .. ``window_closes_at``) the row keeps the *slack key*: the opening
plus the callable time the client has left in its local day (see
:func:`dialer.calendar.callable_left`). While the client waits in that window, key -
now is exactly the callable time it has left, so claims ordering by the stored key take
the client with the least slack first without computing anything per row. Answers are cached per
(config, campaign, zone, schedule, start instant): at import a million clients share
a few hundred distinct keys.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from dialer import calendar
from dialer.config.models import Campaign, DialerConfig
from dialer.domain import ClientRecord, ClientState, Stage, initial_state
from dialer.model import WINDOW_HORIZON, QueuedClient, Schedule


class Scheduler:
    """Computes schedules for one config (build a new one on reload)."""

    def __init__(self, config: DialerConfig):
        self.config = config
        self._rules = lru_cache(maxsize=4096)(self._build_rules)
        self._opening = lru_cache(maxsize=65536)(self._compute_opening)
        self._campaigns: dict[tuple[Stage, str | None], Campaign | None] = {}
        self._zones: dict[str, bool] = {}
        self._placed: dict[tuple[object, ...], Schedule] = {}

    def _build_rules(self, campaign_name: str, zone: str, schedule_name: str | None) -> calendar.DialRules:
        campaign = self.config.campaign(campaign_name)
        sched_key, schedule = self.config.schedule_for(schedule_name, campaign)
        return calendar.rules_for(self.config, campaign, zone, schedule, schedule_name=sched_key)

    def rules(self, campaign: Campaign, zone: str, schedule_name: str | None) -> calendar.DialRules:
        return self._rules(campaign.name, zone, schedule_name)

    def _compute_opening(
        self, campaign_name: str, zone: str, schedule_name: str | None, start: datetime
    ) -> tuple[datetime, datetime, datetime] | None:
        rules = self._rules(campaign_name, zone, schedule_name)
        found = calendar.next_open(rules, start)
        if found is None:
            return None
        opens, last_start = found
        # A stored window ends within a day of opening (a 24/7 client's one long window is
        # cut, and renewed when it passes): so every client due now has a window closing
        # within a day, and the claim scans only those, never the whole queue.
        last_start = min(last_start, opens + WINDOW_HORIZON)
        # The slack key stays within [last_start, opens + a day]: a client open now has
        # a key after now and at most a day ahead, the claim's bounded index range.
        key = opens + calendar.callable_left(rules, opens)
        key = max(min(key, opens + WINDOW_HORIZON), last_start)
        return opens, last_start, key

    def opening(
        self, campaign: Campaign, zone: str, schedule_name: str | None, start: datetime
    ) -> tuple[datetime, datetime, datetime] | None:
        """(next dial moment, last start in that window, slack key) from ``start``: what
        :meth:`place` stores for a client due at ``start`` (the plan's forecast replays it)."""
        if start.microsecond:
            start = start.replace(microsecond=0)
        return self._opening(campaign.name, zone, schedule_name, start)

    def campaign_of(self, stage: Stage, pinned: str | None) -> Campaign | None:
        key = (stage, pinned)
        if key not in self._campaigns:
            self._campaigns[key] = self.config.campaign_for(stage, pinned)
        return self._campaigns[key]

    def _zone_ok(self, zone: str) -> bool:
        ok = self._zones.get(zone)
        if ok is None:
            try:
                ZoneInfo(zone)
                ok = True
            except Exception:
                ok = False
            self._zones[zone] = ok
        return ok

    def place(
        self,
        client_id: str,
        zone: str,
        schedule_name: str | None,
        state: ClientState,
        pinned_campaign: str | None,
        due_at: datetime | None,
        now: datetime,
        cap_until: datetime | None = None,
        never_reason: str | None = None,
    ) -> Schedule:
        """The client's next dial moment, or None with the reason it will not be dialed."""
        if state.stage is Stage.DNC:
            return Schedule(client_id, None, None, "do-not-call: never dialed")
        if state.invalid_number:
            return Schedule(client_id, None, None, "invalid/wrong number: fix the phone and re-import")
        if never_reason is not None:
            return Schedule(client_id, None, None, never_reason)
        campaign = self.campaign_of(state.stage, pinned_campaign)
        if campaign is None:
            why = (
                f"pinned campaign {pinned_campaign!r} is not configured"
                if pinned_campaign
                else f"no campaign works stage {state.stage.value}"
            )
            return Schedule(client_id, None, None, why)
        if schedule_name is not None and schedule_name not in self.config.schedules:
            return Schedule(client_id, None, None, f"unknown schedule {schedule_name!r}", campaign.name)
        if not self._zone_ok(zone):
            return Schedule(client_id, None, None, f"unknown time zone {zone!r}", campaign.name)
        start = max(now, due_at or now, cap_until or now)
        if start.microsecond:
            # Seconds are enough; dropping microseconds makes equal starts share a cache entry.
            start = start.replace(microsecond=0)
        found = self._opening(campaign.name, zone, schedule_name, start)
        if found is None:
            return Schedule(client_id, None, None, "no open window within 400 days", campaign.name)
        opens, last_start, key = found
        if cap_until is not None and cap_until > now and cap_until >= (due_at or now):
            why = f"contact cap reached until {_minute(cap_until)}"
        elif state.callback_at is not None and due_at is not None and due_at > now:
            why = f"agreed callback at {_minute(due_at)}"
        elif due_at is not None and due_at > now:
            why = f"due {_minute(due_at)}"
        else:
            why = "due now"
        if opens > start:
            why += f"; window opens {_minute(opens)}"
        return Schedule(client_id, opens, last_start, why, campaign.name, key)

    def place_record(self, record: ClientRecord, now: datetime) -> Schedule:
        """Where a client new to the queue goes (import: one pass, no re-read).

        Clients with the same zone, schedule, initial state and due moment go to the
        same place: an import of a million rows computes a few hundred of them."""
        key = (record.timezone, record.schedule, record.stage, record.do_not_call, record.complaint,
               record.campaign, record.next_contact, now)  # fmt: skip
        hit = self._placed.get(key)
        if hit is None:
            if len(self._placed) > 100_000:
                self._placed.clear()
            state = initial_state(record.stage, record.do_not_call, record.complaint)
            hit = self.place("", record.timezone, record.schedule, state, record.campaign,
                             record.next_contact, now)  # fmt: skip
            self._placed[key] = hit
        return Schedule(record.id, hit.next_dial_at, hit.window_closes_at, hit.reason, hit.campaign, hit.slack_key)

    def place_client(self, client: QueuedClient, now: datetime) -> Schedule:
        return self.place(
            client.id,
            client.timezone,
            client.schedule,
            client.state,
            client.campaign if client.campaign_pinned else None,
            client.due_at,
            now,
            client.cap_until,
        )


def _minute(instant: datetime) -> str:
    """'2026-12-01 06:00Z' (isoformat is much cheaper than strftime; this runs per client)."""
    text = instant.astimezone(UTC).isoformat()
    return f"{text[:10]} {text[11:16]}Z"


def local_midnight_after(instant: datetime, zone: ZoneInfo) -> datetime:
    """The next local midnight (as an aware instant) after `instant` in `zone`."""
    local = instant.astimezone(zone)
    next_day = (local + timedelta(days=1)).date()
    return datetime(next_day.year, next_day.month, next_day.day, tzinfo=zone)
