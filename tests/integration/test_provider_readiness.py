"""A provider that is not ready (not registered, credentials refused, API unreachable)
never uses up clients' attempts: its campaigns claim nothing while it is not ready, a
dial that finds it not ready is recorded `canceled` (not an attempt), and the board
(`dialer status`), /metrics and the log show the campaign blocked."""

from __future__ import annotations

import asyncio
import json
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer.cli import main
from dialer.config.models import DialerConfig
from dialer.dispatcher import Dispatcher
from dialer.domain import CallStatus
from dialer.metrics import DialerMetrics
from dialer.readiness import CHECK_EVERY_NOT_READY
from dialer.store.sqlite import SqliteStore
from providers.base import CallResult, DialRequest, EventSink, ProviderEvent, ProviderNotReady
from tests.support.clocks import FixedClock
from tests.support.dispatch import MORNING, client, load
from tests.support.paths import EXAMPLE_CONFIG

REFUSED = "not registered with pbx.local:5060: 403 Forbidden (credentials rejected)"


class FlakyProvider:
    """Ready or not as the test says; `dial_not_ready` makes a dial find it not ready
    although its last check passed (it went away in between)."""

    name = "simulated"

    def __init__(self, clock: FixedClock):
        self.clock = clock
        self.ready = True
        self.dial_not_ready = False
        self.checks = 0
        self.dialed: list[DialRequest] = []

    async def start(self) -> None: ...
    async def close(self) -> None: ...

    async def check(self) -> None:
        self.checks += 1
        if not self.ready:
            raise ProviderNotReady(REFUSED)

    async def fetch(self, provider_call_id: str) -> CallResult | None:
        return None

    async def dial(self, request: DialRequest, on_event: EventSink | None = None) -> CallResult:
        if self.dial_not_ready or not self.ready:
            raise ProviderNotReady(REFUSED)
        now = self.clock.now()
        self.dialed.append(request)
        if on_event:
            on_event(ProviderEvent("created", request.call_id, now, f"P-{request.call_id}"))
        return CallResult(status=CallStatus.BUSY, dialed_at=now, ended_at=now, provider_call_id=f"P-{request.call_id}")


async def step(d: Dispatcher) -> None:
    await d.step()
    await d.wait_idle()


async def test_not_ready_provider_claims_nothing_and_shows_blocked(store: SqliteStore, config: DialerConfig) -> None:
    clock = FixedClock(MORNING)
    provider = FlakyProvider(clock)
    provider.ready = False
    await load(store, config, [client(i) for i in range(1, 6)], MORNING)
    d = Dispatcher(store, {"simulated": provider}, config, clock, owner="w1")
    d.metrics.prom = DialerMetrics()
    for _ in range(4):  # a minute of ticks
        await step(d)
        clock.set(clock.now() + timedelta(seconds=15))
    assert provider.dialed == [] and provider.checks >= 4
    assert await store.calls_between(MORNING - timedelta(days=1), MORNING + timedelta(days=1)) == []
    for i in range(1, 6):
        c = await store.get_client(f"c{i}")
        assert c is not None and c.lease_owner is None and c.state.attempts_total == 0
        assert c.next_dial_at is not None and c.next_dial_at <= MORNING  # still due: nothing was used up
    # Every campaign on the provider is blocked, with the provider's own words.
    assert set(d.blocked) == {c.name for c in config.campaigns} and REFUSED in d.blocked["cold"]
    text = d.metrics.prom.render().decode()
    assert 'dialer_campaign_blocked{campaign="cold"} 1.0' in text
    assert 'dialer_provider_ready{provider="simulated"} 0.0' in text
    # `dialer status` on any host: the finding is in the store.
    reports = await store.readiness_reports(clock.now() - timedelta(minutes=3))
    assert [(r.owner, r.provider, r.ready, r.reason) for r in reports] == [("w1", "simulated", False, REFUSED)]

    # The provider comes back: the next checks see it, the clients are dialed.
    provider.ready = True
    await step(d)  # the background check runs (and passes)
    await step(d)
    assert len(provider.dialed) == 5
    assert d.blocked == {}
    assert 'dialer_campaign_blocked{campaign="cold"} 0.0' in d.metrics.prom.render().decode()
    [report] = await store.readiness_reports(clock.now() - timedelta(minutes=1))
    assert report.ready and report.reason is None


async def test_a_dial_that_finds_the_provider_not_ready_is_not_an_attempt(
    store: SqliteStore, config: DialerConfig
) -> None:
    clock = FixedClock(MORNING)
    provider = FlakyProvider(clock)
    provider.dial_not_ready = True  # its check still passed a moment ago
    await load(store, config, [client(1)], MORNING)
    d = Dispatcher(store, {"simulated": provider}, config, clock)
    await step(d)
    [call] = await store.client_calls("c1")
    assert call.status is CallStatus.CANCELED
    assert call.error is not None and call.error.startswith("provider not ready:") and REFUSED in call.error
    c = await store.get_client("c1")
    assert c is not None and c.state.attempts_total == 0 and c.state.attempts_today == 0
    # ...and the campaign stops claiming at once, until a check passes again.
    provider.ready = False
    for _ in range(3):
        clock.set(clock.now() + CHECK_EVERY_NOT_READY)
        await step(d)
    assert len(await store.client_calls("c1")) == 1 and "cold" in d.blocked
    provider.ready, provider.dial_not_ready = True, False
    clock.set(clock.now() + CHECK_EVERY_NOT_READY)
    await step(d)
    await step(d)
    calls = await store.client_calls("c1")
    assert [x.status for x in sorted(calls, key=lambda x: x.attempt)] == [CallStatus.CANCELED, CallStatus.BUSY]
    c = await store.get_client("c1")
    assert c is not None and c.state.attempts_total == 1  # only the real attempt counts


def test_status_shows_the_blocked_campaign(tmp_path: Path, config: DialerConfig) -> None:
    db = tmp_path / "q.db"

    async def scenario() -> None:
        store = SqliteStore(db)
        await store.open()
        await store.migrate()
        clock = FixedClock(datetime.now().astimezone())
        provider = FlakyProvider(clock)
        provider.ready = False
        d = Dispatcher(store, {"simulated": provider}, config, clock, owner="host-a")
        await step(d)
        await store.close()

    asyncio.run(scenario())
    result = CliRunner().invoke(main, ["status", "--config", str(EXAMPLE_CONFIG), "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["campaign"]: r for r in json.loads(result.output)}
    assert rows["cold"]["blocked"] == [
        {"worker": "host-a", "provider": "simulated", "reason": REFUSED, "since": rows["cold"]["blocked"][0]["since"],
         "checked_at": rows["cold"]["blocked"][0]["checked_at"]}
    ]  # fmt: skip
    result = CliRunner().invoke(main, ["status", "--config", str(EXAMPLE_CONFIG), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "BLOCKED: provider simulated not ready on worker host-a since" in result.output
    assert REFUSED in result.output


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ready=st.lists(st.booleans(), min_size=1, max_size=12),
    went_away=st.lists(st.booleans(), min_size=12, max_size=12),
    n=st.integers(1, 8),
)
def test_attempts_count_only_calls_the_provider_placed(
    config: DialerConfig, ready: list[bool], went_away: list[bool], n: int
) -> None:
    """Property: whatever the provider's readiness does from tick to tick (and even if
    it goes away between its check and a dial), the clients' attempts are exactly the
    calls it placed, every other call row is `canceled` "provider not ready", and no
    call is claimed in a tick whose check found the provider not ready."""

    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStore(Path(tmp) / "p.db")
            await store.open()
            await store.migrate()
            clock = FixedClock(MORNING)
            await load(store, config, [client(i) for i in range(1, n + 1)], MORNING)
            provider = FlakyProvider(clock)
            d = Dispatcher(store, {"simulated": provider}, config, clock)
            window = (MORNING - timedelta(days=1), MORNING + timedelta(days=2))
            for tick, is_ready in enumerate(ready):
                provider.ready = is_ready
                provider.dial_not_ready = went_away[tick]
                known = d.readiness.ready("simulated")  # what the worker knew when the tick began
                before = len(await store.calls_between(*window))
                await step(d)
                if known is False and not is_ready:
                    # Known not ready, and still not: no client was claimed, no call row written.
                    assert len(await store.calls_between(*window)) == before
                # Next tick: time for another check, and for busy retries to fall due.
                clock.set(clock.now() + timedelta(minutes=31))
            calls = await store.calls_between(*window)
            placed = [c for c in calls if c.status is CallStatus.BUSY]
            assert len(placed) == len(provider.dialed)
            assert all(c.status is CallStatus.CANCELED and (c.error or "").startswith("provider not ready")
                       for c in calls if c.status is not CallStatus.BUSY)  # fmt: skip
            total = 0
            for i in range(1, n + 1):
                c = await store.get_client(f"c{i}")
                assert c is not None
                total += c.state.attempts_total
            assert total == len(placed)
            await store.close()

    asyncio.run(scenario())
