"""Preparing a demo: its config, a fresh store, the clients and the accounts.

Everything lands in one folder: a fresh temporary one by default (removed when the demo
stops: the clients are generated for the hour it runs, so a later run starts afresh),
or next to ``--db PATH`` (``PATH.yaml``, ``PATH.clients.csv``, ``PATH.reports/``), which
is kept to look at afterwards with the other commands.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from dialer.accounts import hash_password
from dialer.config.loader import load_config
from dialer.config.models import DialerConfig
from dialer.demo import HOST, SECRET_ENV, TEMPLATE
from dialer.demo.clients import DemoZone, client_rows, daytime_zones, write_clients
from dialer.loading import load_clients
from dialer.store import store_for
from dialer.store.people import Account, Role, people_of

AGENT_NAMES = ("ivanova", "petrov", "sidorova", "kuznetsov", "smirnova", "popov")
SUPERVISOR = "boss"


class DemoError(Exception):
    """The demo cannot start as asked: one line for the person, nothing was changed."""


@dataclass(frozen=True)
class DemoPaths:
    config: Path
    db: Path
    clients: Path
    reports: Path

    @classmethod
    def beside(cls, db: Path) -> DemoPaths:
        return cls(
            config=db.with_name(db.name + ".yaml"),
            db=db,
            clients=db.with_name(db.name + ".clients.csv"),
            reports=db.with_name(db.name + ".reports"),
        )


@dataclass(frozen=True)
class Login:
    name: str
    role: Role
    password: str  # demo only: printed on the terminal, never logged


@dataclass(frozen=True)
class Prepared:
    config: DialerConfig
    paths: DemoPaths
    zones: list[DemoZone]
    logins: list[Login]
    clients: int


def demo_config(template: dict[str, Any], paths: DemoPaths, zone: str, agents: int, port: int, speed: float) -> str:
    """The demo's config as YAML text: the template with the center in `zone`, `agents`
    agents in every campaign, the port, the store and the provider's pace filled in; the
    pages on loopback with the demo's own session key variable, whatever the template says."""
    data = dict(template)
    data["center"] = {**data["center"], "timezone": zone}
    data["storage"] = {"path": str(paths.db), "reports_dir": str(paths.reports)}
    names = AGENT_NAMES[:agents]
    data["campaigns"] = [
        {**c, "agents": [{"name": n, "target": f"sip:{101 + i}@demo.local"} for i, n in enumerate(names)]}
        for c in data["campaigns"]
    ]
    data["http"] = {**data.get("http", {}), "host": HOST, "port": port}
    data["web"] = {**data.get("web", {}), "enabled": True, "host": HOST, "port": port, "session_secret_env": SECRET_ENV}
    data["providers"] = {
        name: {**p, "real_time_scale": speed} if p.get("type") == "simulated" else p
        for name, p in data["providers"].items()
    }
    head = "# Written by `dialer demo` from config/demo.yaml for this run; not for production.\n"
    return head + yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _password() -> str:
    return "demo-" + secrets.token_hex(4)


def write_files(
    paths: DemoPaths, now: datetime, *, agents: int, port: int, speed: float, template: Path = TEMPLATE
) -> tuple[DialerConfig, list[DemoZone]]:
    """Write the demo's config and client list (zones where it is daytime at `now`)."""
    if paths.db.exists():
        raise DemoError(f"{paths.db} exists: the demo makes a fresh store; remove it or choose another --db")
    try:
        raw = yaml.safe_load(template.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DemoError(f"cannot read the demo's config template {template}: {exc}") from None
    zones = daytime_zones(now)
    try:
        text = demo_config(raw, paths, zones[0].zone, agents, port, speed)
    except (KeyError, TypeError, AttributeError):
        raise DemoError(
            f"{template} is not a demo config like config/demo.yaml (center, campaigns, providers)"
        ) from None
    paths.config.write_text(text, encoding="utf-8")
    config = load_config(paths.config, check_providers=True)
    write_clients(paths.clients, client_rows(zones))
    return config, zones


async def prepare(
    paths: DemoPaths, now: datetime, *, agents: int, port: int, speed: float, template: Path = TEMPLATE
) -> Prepared:
    """Write the config and the client list, create and fill the store: the accounts
    with fresh random passwords (printed by the banner; demo only)."""
    config, zones = await asyncio.to_thread(
        write_files, paths, now, agents=agents, port=port, speed=speed, template=template
    )
    store = store_for(config, str(paths.db))
    await store.open(create=True)
    try:
        await store.migrate()
        summary, _ = await load_clients(config, paths.clients, store, now=now)
        if summary.rejected:
            raise DemoError(f"{summary.rejected} demo clients were rejected (see {summary.rejected_path})")
        logins = [Login(name, Role.AGENT, _password()) for name in AGENT_NAMES[:agents]]
        logins.append(Login(SUPERVISOR, Role.SUPERVISOR, _password()))
        people = people_of(store)
        every = tuple(c.name for c in config.campaigns)
        for login in logins:
            scope = every if login.role is Role.AGENT else ()
            account = Account(login.name, login.role, scope, hash_password(login.password), False, now)
            await people.add_account(account, actor="demo")
    finally:
        await store.close()
    return Prepared(config, paths, zones, logins, summary.imported)


__all__ = ["AGENT_NAMES", "DemoError", "DemoPaths", "Login", "Prepared", "demo_config", "prepare", "write_files"]
