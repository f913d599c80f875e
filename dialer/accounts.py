"""Accounts and API tokens: password hashing, token generation, login throttling and
role/scope checks (issue 12). The checks are pure functions; the throttle reads the
store's login failures so every worker counts the same attempts.

Passwords and tokens never reach a log: only their argon2 / SHA-256 digests are stored,
and a new token is shown once (by `dialer token add`).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from dialer.store.people import Account, ApiToken, PeopleStore, Role

_HASHER = PasswordHasher()
# A hash to verify against when the account does not exist: the answer takes as long as
# for a real account, so timing does not tell which names exist.
_DUMMY_HASH = _HASHER.hash("not a password of anyone")
TOKEN_PREFIX = "dlr_"
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


class AccountError(ValueError):
    """Bad input about an account or token: the message is one line for the person."""


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password is too short (at least {MIN_PASSWORD} characters)")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password is too long (at most {MAX_PASSWORD} characters)")


def hash_password(password: str) -> str:
    check_password_rules(password)
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; a missing account (None) costs the same time."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token() -> tuple[str, str, str]:
    """(token id, the secret token to show once, its digest to store)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return secrets.token_hex(4), token, token_digest(token)


def token_digest(token: str) -> str:
    """Tokens are long random strings: a plain SHA-256 is enough (no brute force to slow)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------- principals


@dataclass(frozen=True)
class Principal:
    """Who is asking: a logged-in person (page) or an API token. `campaigns` empty means
    every campaign (an unscoped supervisor); an agent is always scoped."""

    name: str
    role: Role
    campaigns: tuple[str, ...]
    via: str = "session"  # "session" or "token"

    @property
    def is_supervisor(self) -> bool:
        return self.role is Role.SUPERVISOR

    @property
    def is_agent(self) -> bool:
        return self.role is Role.AGENT


def principal_of_account(account: Account) -> Principal:
    return Principal(account.name, account.role, account.campaigns, "session")


def principal_of_token(token: ApiToken) -> Principal:
    return Principal(f"token:{token.id}", token.role, token.campaigns, "token")


def may_see_campaign(principal: Principal, campaign: str) -> bool:
    return not principal.campaigns or campaign in principal.campaigns


def visible_campaigns(principal: Principal, all_campaigns: Iterable[str]) -> list[str]:
    return [c for c in all_campaigns if may_see_campaign(principal, c)]


def may_manage_campaign(principal: Principal, campaign: str) -> bool:
    """Pause/resume, move a client, log an agent out: supervisors within their scope."""
    return principal.is_supervisor and may_see_campaign(principal, campaign)


def may_see_call(principal: Principal, campaign: str, agent: str | None) -> bool:
    """An agent sees their own calls (a token with the agent role: calls of its
    campaigns); a supervisor the calls of their campaigns."""
    if not may_see_campaign(principal, campaign):
        return False
    if principal.is_agent and principal.via == "session":
        return agent == principal.name
    return True


def may_dispose_call(principal: Principal, campaign: str, agent: str | None) -> bool:
    return may_see_call(principal, campaign, agent)


def may_see_client(principal: Principal, campaign: str | None, agents_of_calls: Sequence[str | None]) -> bool:
    """An agent sees clients they were connected to; a supervisor those of their campaigns."""
    if principal.is_agent and principal.via == "session":
        return principal.name in agents_of_calls
    if campaign is None:
        return not principal.campaigns
    return may_see_campaign(principal, campaign)


def may_set_presence(principal: Principal, agent: str) -> bool:
    """An agent sets their own state; a supervisor may log anyone out (checked by scope
    where the agent's campaigns are known)."""
    return principal.name == agent or principal.is_supervisor


# ---------------------------------------------------------------------------- throttling


@dataclass(frozen=True)
class Throttle:
    """After `max_failures` failed logins within `window`, of one account (from anywhere)
    or from one address (any account), logins are refused until the window passes."""

    max_failures: int = 5
    address_max_failures: int = 20
    window: timedelta = timedelta(minutes=15)

    async def blocked(self, people: PeopleStore, account: str, address: str, now: datetime) -> bool:
        by_account, by_address = await people.login_failures(account, address, now - self.window)
        return by_account >= self.max_failures or by_address >= self.address_max_failures

    async def failed(self, people: PeopleStore, account: str, address: str, now: datetime) -> None:
        await people.add_login_failure(account, address, now)

    async def succeeded(self, people: PeopleStore, account: str, address: str, now: datetime) -> None:
        await people.clear_login_failures(account, address, now - self.window)


async def authenticate(
    people: PeopleStore, throttle: Throttle, name: str, password: str, address: str, now: datetime
) -> Account | None:
    """The account when the name and password match, it is enabled and not throttled;
    else None (the caller says one thing: the name or password is wrong, or wait)."""
    account = await people.get_account(name)
    ok = verify_password(account.password_hash if account else None, password)
    if account is None or not ok or account.disabled:
        await throttle.failed(people, name, address, now)
        return None
    await throttle.succeeded(people, name, address, now)
    return account


async def principal_for_token(people: PeopleStore, token: str) -> Principal | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    found = await people.token_by_hash(token_digest(token))
    if found is None or found.revoked_at is not None:
        return None
    return principal_of_token(found)


__all__ = [
    "AccountError", "Principal", "Throttle", "authenticate", "check_password_rules", "hash_password",
    "may_dispose_call", "may_manage_campaign", "may_see_call", "may_see_campaign", "may_see_client",
    "may_set_presence", "new_token", "principal_for_token", "principal_of_account", "principal_of_token",
    "token_digest", "verify_password", "visible_campaigns",
]  # fmt: skip
