"""The virtual clock's bookkeeping the simulation driver relies on: which tasks are
parked (`asleep`), a future that completes when one parks, and waking in time order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from dialer.clock import VirtualClock

T0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_asleep_holds_exactly_the_parked_tasks_until_their_instant() -> None:
    clock = VirtualClock(T0)
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    short = asyncio.create_task(sleeper("short", 5))
    long = asyncio.create_task(sleeper("long", 60))
    await _settle()
    assert clock.asleep == {short, long}
    assert clock.next_wake() == T0 + timedelta(seconds=5)

    clock.advance_to(T0 + timedelta(seconds=5))
    # Woken at once (before the task even runs): the driver must not take it for parked.
    assert clock.asleep == {long}
    await _settle()
    assert woke == ["short"] and short.done()
    assert clock.next_wake() == T0 + timedelta(seconds=60)

    clock.advance_to(T0 + timedelta(minutes=2))
    await _settle()
    assert woke == ["short", "long"] and not clock.asleep and clock.next_wake() is None
    assert clock.now() == T0 + timedelta(minutes=2)


async def test_a_cancelled_sleeper_leaves_asleep() -> None:
    clock = VirtualClock(T0)
    task = asyncio.create_task(clock.sleep(30))
    await _settle()
    assert clock.asleep == {task}
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not clock.asleep
    assert clock.next_wake() is None


async def test_parked_completes_when_a_task_next_parks() -> None:
    clock = VirtualClock(T0)
    parked = clock.parked()
    assert clock.parked() is parked  # the same future until something parks
    await _settle()
    assert not parked.done()
    task = asyncio.create_task(clock.sleep(1))
    await _settle()
    assert parked.done()
    assert clock.parked() is not parked  # a fresh one for the next wait
    clock.advance_to(T0 + timedelta(seconds=1))
    await task


async def test_time_never_goes_back() -> None:
    clock = VirtualClock(T0)
    clock.advance_to(T0 - timedelta(hours=1))
    assert clock.now() == T0
    with pytest.raises(ValueError):
        VirtualClock(datetime(2026, 12, 1, 6, 0))
