"""Client-first campaigns sharing agents (issue 13): the campaigns one team works pace as one
pool, so together they place no more calls than the pool's Ready agents allow, and a
predictive simulation of a small list stays at or under its abandon cap."""

from __future__ import annotations

import asyncio
import csv
from datetime import date, timedelta
from pathlib import Path

from dialer.config import DialerConfig
from dialer.dispatcher import Dispatcher
from dialer.domain import CallStatus, Stage
from dialer.loading import load_clients
from dialer.pacing.modes import DialMode
from dialer.planning import day_bounds
from dialer.simulate import run_simulation
from dialer.simulate_setup import Overrides, apply_overrides
from dialer.store.base import Store
from dialer.store.people import PresenceState, people_of
from dialer.store.sqlite import SqliteStore
from dialer.web.settings import WebSettings
from tests.support.client_first_provider import ClientFirstProvider
from tests.support.clocks import FixedClock
from tests.support.dispatch import MORNING, client, load

MESSAGE = "This was Izhevsk call center; to opt out press 9."


def shared_team(config: DialerConfig, ratio: float = 2.0) -> DialerConfig:
    """cold (prospects) and warm (hot clients), both power, worked by the same two agents."""
    [cold] = [c for c in config.campaigns if c.name == "cold"]
    team = cold.agents[:2]
    settings: dict[str, object] = dict(
        dial_mode=DialMode.POWER, power_ratio=ratio, allow_abandon=True, information_message=MESSAGE, lines=10,
        wrap_up=timedelta(seconds=30), agents=team, caps=type(cold.caps)(),
    )  # fmt: skip
    campaigns = [c.model_copy(update=settings) for c in config.campaigns if c.name in ("cold", "warm")]
    return config.model_copy(update={"campaigns": campaigns, "web": WebSettings(enabled=True)})


async def test_two_power_campaigns_sharing_two_agents_place_ratio_times_two_calls(
    store: Store, config: DialerConfig
) -> None:
    config = shared_team(config)
    clock = FixedClock(MORNING)
    clients = [client(i, stage=Stage.PROSPECT) for i in range(1, 11)]
    clients += [client(i, stage=Stage.HOT) for i in range(11, 21)]
    await load(store, config, clients, MORNING)
    for name in ("ivanova", "petrov"):
        await people_of(store).set_presence(name, PresenceState.READY, MORNING, by=name)
    provider = ClientFirstProvider(clock)
    provider.hold = asyncio.Event()
    d = Dispatcher(store, {"simulated": provider}, config, clock)
    await d.step()
    for _ in range(400):  # bounded: the call tasks write their rows, then reach the provider
        if len(provider.requests) >= 4:
            break
        await asyncio.sleep(0.005)
    clock.set(MORNING + timedelta(seconds=1))
    await d.step()  # 4 calls ringing for the pool's 2 Ready agents x 2: nothing more, for either campaign
    await asyncio.sleep(0.05)
    by_campaign = sorted(r.campaign for _, r in provider.requests)
    # Each campaign alone would have placed 4 (each counting the same 2 Ready agents): 8 in all.
    assert len(by_campaign) == 4, by_campaign
    provider.hold.set()
    await d.wait_idle()
    rows = await store.calls_between(MORNING - timedelta(days=1), MORNING + timedelta(days=1))
    answered = [c for c in rows if c.status is CallStatus.ANSWERED]
    assert sorted(c.agent or "" for c in answered) == ["ivanova", "petrov"]  # one call per agent
    assert sum(c.status is CallStatus.ABANDONED for c in rows) == 2


def _clients_csv(path: Path, n: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "name", "phone", "timezone", "schedule", "stage"])
        for i in range(n):
            stage = "hot" if i % 4 == 0 else "prospect"
            w.writerow([f"p{i}", f"Client {i}", f"+7912{i:07d}", "Europe/Samara", "home", stage])


def test_predictive_simulation_of_campaigns_sharing_agents_stays_under_the_cap(
    tmp_path: Path, config: DialerConfig
) -> None:
    """A small list through the production engine, two predictive campaigns worked by one
    team of 3 agents (as `dialer simulate --agents 3`): each campaign's abandon rate of the
    day is at or under its 3 % cap."""
    day = date(2026, 12, 1)
    config, _ = apply_overrides(config, Overrides(dial_mode=DialMode.PREDICTIVE, agents=3, lines=12))
    config = config.model_copy(
        update={
            "campaigns": [c for c in config.campaigns if c.name in ("cold", "warm")],
            "storage": config.storage.model_copy(update={"reports_dir": tmp_path / "reports"}),
        }
    )
    clients = tmp_path / "clients.csv"
    _clients_csv(clients, 500)

    async def go() -> list[tuple[str, int, int]]:
        store = SqliteStore(tmp_path / "sim.db")
        await store.open()
        try:
            await store.migrate()
            await load_clients(config, clients, store, now=day_bounds(config, day)[0])
            [result] = await run_simulation(store, config, day, 1, seed=3)
            assert result.audit.violations == 0
            return [(r.campaign, r.reached + r.abandoned, r.abandoned) for r in result.rows if r.agent == "*"]
        finally:
            await store.close()

    rows = asyncio.run(go())
    assert {campaign for campaign, _, _ in rows} == {"cold", "warm"}
    assert sum(live for _, live, _ in rows) > 100  # the day did talk to people
    for campaign, live, abandoned in rows:
        assert abandoned <= 0.03 * live, (campaign, live, abandoned)
