"""`dialer why CLIENT_ID`: one screen on why a client is (not) being dialed."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from dialer import calendar
from dialer.config.models import DialerConfig
from dialer.domain import Priority, Stage
from dialer.live_pacing import mode_summary
from dialer.model import QueuedClient
from dialer.pacing.modes import ABANDON_REDIAL_BLOCK
from dialer.planning import center_today
from dialer.presence import campaign_hold
from dialer.scheduling import Scheduler
from dialer.store.roles import ClientHistory


def _fmt(instant: datetime | None, zone: ZoneInfo) -> str:
    if instant is None:
        return "-"
    local = instant.astimezone(zone)
    return f"{instant:%Y-%m-%d %H:%M}Z ({local:%a %d %b %H:%M} client time)"


def _verdict(client: QueuedClient, at: datetime, status: calendar.WindowStatus | None) -> str:
    s = client.state
    if s.stage is Stage.DNC:
        return "NOT DIALED, EVER: do-not-call"
    if s.invalid_number:
        return "NOT DIALED: wrong/invalid number (fix the phone and re-import)"
    if client.open_call_id:
        return f"IN A CALL NOW (call {client.open_call_id})"
    if client.lease_until and client.lease_until > at:
        return f"CLAIMED by worker {client.lease_owner} until {client.lease_until:%H:%M:%S}Z"
    if client.next_dial_at is None:
        return f"NOT QUEUED: {client.schedule_reason or 'not scheduled yet'}"
    # The cap is the reason only while it holds the client back: a client whose next
    # dial moment lies beyond the cap's reopening waits for that moment, not the cap.
    if client.cap_until and client.cap_until > at and client.cap_until >= client.next_dial_at:
        return f"WAITING: contact cap reached until {client.cap_until:%Y-%m-%d %H:%M}Z"
    if client.next_dial_at > at:
        return "WAITING for its next dial moment"
    if status is not None and not status.open:
        return "DUE, but its window is closed now"
    return "DUE NOW: will be dialed as soon as a line is free"


async def explain(store: ClientHistory, config: DialerConfig, client_id: str, at: datetime) -> str | None:
    client = await store.get_client(client_id)
    if client is None:
        return None
    zone = ZoneInfo(client.timezone)
    s = client.state
    lines = [
        f"client {client.id}: {client.name}, {client.phone}, {client.timezone}, {client.country}",
        f"  schedule {client.schedule or '(campaign default)'}, campaign {client.campaign or '-'}"
        f"{' (pinned)' if client.campaign_pinned else ''}",
        f"  stage {s.stage.value}, class {Priority(client.priority).name.lower()}, "
        f"complaint {'yes' if s.complaint else 'no'}, "
        f"hot calls {s.hot_calls}, attempts today {s.attempts_today} / total {s.attempts_total}",
    ]
    status: calendar.WindowStatus | None = None
    rules: calendar.DialRules | None = None
    scheduler = Scheduler(config)
    campaign = scheduler.campaign_of(s.stage, client.campaign if client.campaign_pinned else None)
    if campaign is not None and s.stage is not Stage.DNC:
        rules = scheduler.rules(campaign, client.timezone, client.schedule)
        status = calendar.status(rules, at)
    lines.append("")
    lines.append(f"at {_fmt(at, zone)}: {_verdict(client, at, status)}")
    lines.append(f"  due (lifecycle):   {_fmt(client.due_at, zone)}")
    if s.callback_at:
        lines.append(f"  agreed callback:   {_fmt(s.callback_at, zone)}")
    lines.append(f"  next dial moment:  {_fmt(client.next_dial_at, zone)}")
    lines.append(f"  window closes:     {_fmt(client.window_closes_at, zone)} (last start)")
    lines.append(f"  because:           {client.schedule_reason or '-'}")
    if client.cap_until:
        lines.append(f"  caps reopen:       {_fmt(client.cap_until, zone)}")
    if client.lease_owner:
        lines.append(f"  lease:             {client.lease_owner} until {_fmt(client.lease_until, zone)}")
    if status is not None and campaign is not None:
        if status.open:
            lines.append(f"  window now:        open ({status.allowed_by}), last start {_fmt(status.last_start, zone)}")
        else:
            lines.append(f"  window now:        closed: {'; '.join(status.reasons)}")
            lines.append(f"  window next opens: {_fmt(status.next_open, zone)}")
    if rules is not None:
        # Which calendar decided about today: weekday names, or a production calendar
        # (the schedule's, the center's) with its moved working days and days off.
        for i, text in enumerate(calendar.day_rules(rules, at)):
            lines.append(f"  {'days today:' if i == 0 else '':<19}{text}")
    if campaign is not None and (held := await campaign_hold(store, config, campaign, at)):  # issue 12
        lines.append(f"  campaign held:     {campaign.name} places no calls: {held}")
    if campaign is not None:  # issue 13
        lines.append(f"  pacing:            {campaign.name}: {(await mode_summary(store, campaign, at)).line()}")
        block = timedelta(seconds=ABANDON_REDIAL_BLOCK)
        last = (await store.abandoned_since([client.id], at - block)).get(client.id)
        if last is not None and campaign.dial_mode.client_first:
            lines.append(
                f"  abandoned:         {_fmt(last, zone)}: dialed only with an agent reserved until "
                f"{_fmt(last + block, zone)}"
            )
    day = center_today(config, at)
    if campaign is not None:
        place = await store.plan_position(campaign.name, day, client.id)
        if place is not None:
            pos, size, fits = place
            verdict = "fits" if fits else "beyond capacity: rolls over"
            lines.append(f"  today's plan:      position {pos} of {size} in {campaign.name} ({verdict})")
        elif await store.get_plan(campaign.name, day, limit=0) is None:
            lines.append(f"  today's plan:      not formed yet for {campaign.name} on {day}")
        else:
            lines.append(f"  today's plan:      not in {campaign.name}'s plan for {day}")
    calls = await store.client_calls(client.id, limit=5)
    if calls:
        lines.append("")
        lines.append("last calls:")
        for c in calls:
            extra = f" {c.disposition.value}" if c.disposition else ""
            lines.append(
                f"  {c.started_at:%Y-%m-%d %H:%M}Z #{c.attempt} {c.campaign} {c.status.value}{extra} "
                f"talk {c.talk_s:.0f}s  [{c.call_id}]"
            )
    events = await store.events_for(client.id, limit=5)
    if events:
        lines.append("")
        lines.append("last events:")
        for e in events:
            lines.append(f"  {e.at:%Y-%m-%d %H:%M}Z {e.kind}: {e.reason}")
    return "\n".join(lines)
