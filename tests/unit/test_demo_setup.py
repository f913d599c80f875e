"""The demo's pieces that do not need a running worker: zones, clients, the config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import phonenumbers
import pytest
import yaml

from dialer import calendar
from dialer.config.loader import load_config
from dialer.demo import TEMPLATE
from dialer.demo.clients import EARLIEST, LATEST, client_rows, daytime_zones
from dialer.demo.setup import DemoPaths, demo_config
from dialer.scheduling import Scheduler


def test_there_is_daytime_somewhere_at_any_moment_of_a_year() -> None:
    # Weekends, nights and both DST switches included: the demo must dial at any hour.
    # Steps of 3 h 1 min pass through every minute of the hour, and every hour, over the year.
    at = datetime(2026, 1, 1, tzinfo=UTC)
    short = []
    while at.year == 2026:
        zones = daytime_zones(at)
        if len(zones) < 3 or not all(EARLIEST <= z.local.time() <= LATEST for z in zones):
            short.append(at)
        at += timedelta(minutes=181)
    assert short == []


def test_russian_zones_come_first_when_it_is_daytime_there() -> None:
    zones = daytime_zones(datetime(2026, 12, 3, 9, 0, tzinfo=UTC))  # Moscow 12:00
    assert zones[0].zone.startswith(("Europe/", "Asia/")) and "Europe/Moscow" in [z.zone for z in zones]


def test_clients_are_valid_and_unique() -> None:
    rows = client_rows(daytime_zones(datetime(2026, 12, 6, 3, 0, tzinfo=UTC)))  # a Sunday night in Moscow
    assert len({r["id"] for r in rows}) == len(rows) == len({r["phone"] for r in rows})
    for r in rows:
        assert phonenumbers.is_valid_number(phonenumbers.parse(r["phone"], "RU")), r["phone"]
    assert {r["stage"] for r in rows} == {"prospect", "hot", "customer"}
    assert any(r["complaint"] == "1" for r in rows)


@pytest.mark.parametrize("when", ["2026-12-06T03:00", "2026-12-05T17:30", "2026-07-01T12:00", "2026-03-29T01:15"])
@pytest.mark.parametrize("agents", [1, 2, 6])
def test_the_demo_config_opens_every_client_window_now(tmp_path: Path, when: str, agents: int) -> None:
    now = datetime.fromisoformat(when).replace(tzinfo=UTC)
    zones = daytime_zones(now)
    paths = DemoPaths.beside(tmp_path / "demo.db")
    text = demo_config(yaml.safe_load(TEMPLATE.read_text(encoding="utf-8")), paths, zones[0].zone, agents, 8123, 2.0)
    paths.config.write_text(text, encoding="utf-8")
    config = load_config(paths.config, check_providers=True)
    assert config.web.enabled and config.web.host == "127.0.0.1" and config.web.port == 8123
    assert all(len(c.agents) == agents and c.presence for c in config.campaigns)
    assert config.providers["demo"].settings["agent"] == "human"
    scheduler = Scheduler(config)
    for campaign in config.campaigns:
        for z in zones:
            status = calendar.status(scheduler.rules(campaign, z.zone, "demo"), now)
            assert status.open, (campaign.name, z.zone, now)
            assert status.closes_at is None or status.closes_at - now >= timedelta(hours=3)


async def test_a_template_that_is_not_a_demo_config_is_refused_and_no_store_is_made(tmp_path: Path) -> None:
    from dialer.demo.setup import DemoError, prepare

    template = tmp_path / "other.yaml"
    template.write_text("just: [a, list]\n", encoding="utf-8")
    paths = DemoPaths.beside(tmp_path / "demo.db")
    with pytest.raises(DemoError, match="is not a demo config like config/demo.yaml"):
        await prepare(paths, datetime.now(UTC), agents=2, port=8123, speed=1.0, template=template)
    assert not paths.db.exists() and not paths.config.exists()
