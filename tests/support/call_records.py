"""Finished calls written straight through the store's API (claim, start, outcome), for
tests of what people see (board, report, metrics) without running a dialing engine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dialer.domain import CallStatus, ClientRecord, ClientState
from dialer.model import CallStart, CallUpdate, ClientUpdate, Event, Schedule
from dialer.store.base import Store

_LIVE = (CallStatus.ANSWERED, CallStatus.ABANDONED)


@dataclass(frozen=True)
class Done:
    """One finished call: its status, agent (an abandoned call has none) and talk time."""

    status: CallStatus
    agent: str | None = None
    talk_s: float = 0.0


async def record_calls(store: Store, campaign: str, calls: Sequence[Done], now: datetime, prefix: str = "r") -> None:
    """Add one client per call (ids `{prefix}{i}`), claim it and record the call as
    ended at `now`: a live one answered `talk_s` before, after 20 s of ringing."""
    ids = [f"{prefix}{i}" for i in range(len(calls))]
    await store.upsert_clients(
        [ClientRecord(id=i, name=f"Client {i}", phone="+79120000000", timezone="Europe/Moscow", country="RU")
         for i in ids]
    )  # fmt: skip
    await store.set_schedules(
        [Schedule(i, now - timedelta(minutes=1), now + timedelta(hours=1), "t", campaign) for i in ids]
    )
    claims = {c.client.id: c for c in await store.claim(campaign, now, len(ids), "test", now + timedelta(minutes=5))}
    for n, (client_id, done) in enumerate(zip(ids, calls, strict=True)):
        claim = claims[client_id]
        started = now - timedelta(seconds=done.talk_s + 20)
        call_id = f"{prefix}-call-{n}"
        await store.start_call(
            CallStart(
                call_id=call_id, client_id=client_id, campaign=campaign, agent=done.agent, phone="+79120000000",
                client_tz="Europe/Moscow", attempt=1, started_at=started, local_day=started.date(),
                allowed_by="test", provider="simulated", lease_token=claim.lease_token,
            )
        )  # fmt: skip
        answered = now - timedelta(seconds=done.talk_s) if done.status in _LIVE else None
        later = now + timedelta(days=1)
        await store.record_outcome(
            call_id, client_id, claim.lease_token,
            CallUpdate(done.status, answered_at=answered, ended_at=now, ring_s=20, talk_s=done.talk_s),
            ClientUpdate(ClientState(), later, later, later + timedelta(hours=1), None, 4,
                         campaign, "test"),
            Event(done.status.value, "test"), now,
        )  # fmt: skip
