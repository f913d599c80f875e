"""People and sessions for the supervisor console's tests (HTTP and browser): accounts
with one password, a web config, the CSRF token of a page, a login over httpx."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx

from dialer.accounts import hash_password, new_token
from dialer.config import DialerConfig
from dialer.store.base import Store
from dialer.store.people import Account, ApiToken, Role, people_of
from dialer.web.settings import WebSettings

SECRET = "c" * 40
PASSWORD = "correct horse battery"
# name -> (role, campaigns): an unscoped supervisor, one scoped to warm, two cold agents
PEOPLE: dict[str, tuple[Role, tuple[str, ...]]] = {
    "boss": (Role.SUPERVISOR, ()),
    "warmboss": (Role.SUPERVISOR, ("warm",)),
    "ivanova": (Role.AGENT, ("cold",)),
    "petrov": (Role.AGENT, ("cold",)),
}


def web_config(config: DialerConfig, **web: object) -> DialerConfig:
    return config.model_copy(update={"web": WebSettings(enabled=True, **web)})  # type: ignore[arg-type]


async def add_people(store: Store) -> dict[str, str]:
    """The accounts of PEOPLE, and API tokens: 'boss' (unscoped), 'warm' (supervisor of
    warm), 'agent'. Returns label -> token."""
    people = people_of(store)
    now = datetime.now(UTC)
    for name, (role, campaigns) in PEOPLE.items():
        await people.add_account(Account(name, role, campaigns, hash_password(PASSWORD), False, now), actor="test")
    tokens = {}
    for label, role, campaigns in [
        ("boss", Role.SUPERVISOR, ()),
        ("warm", Role.SUPERVISOR, ("warm",)),
        ("agent", Role.AGENT, ("cold",)),
    ]:
        token_id, secret, digest = new_token()
        await people.add_token(ApiToken(token_id, role, campaigns, label, now), digest, actor="test")
        tokens[label] = secret
    return tokens


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page) or re.search(
        r'name="csrf-token" content="([^"]+)"', page
    )
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


async def login(c: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    page = await c.get("/login")
    r = await c.post("/login", data={"csrf_token": csrf_of(page.text), "name": name, "password": password})
    assert r.status_code == 303, r.text
    return r
