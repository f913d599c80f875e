"""`dialer user ...` and `dialer token ...`: the accounts and API tokens of the people at
the dialer (issue 12). Accounts live in the store, so every worker knows them.

Bad input is one line on stderr, a non-zero exit, and nothing changed. Passwords are
read from a hidden prompt (asked twice) or, for scripts, one line on stdin
(``--password-stdin``); they are never echoed, logged or passed as an argument.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import click

from dialer.accounts import AccountError, hash_password, new_token
from dialer.cli.common import load_or_exit, run_or_exit, with_store
from dialer.cli.options import config_option, db_option
from dialer.config.models import DialerConfig
from dialer.store.base import Store
from dialer.store.people import Account, AccountExists, ApiToken, PresenceState, Role, people_of

T = TypeVar("T")
ROLES = click.Choice([r.value for r in Role])


def _load(config_path: Path) -> DialerConfig:
    return load_or_exit(config_path)


def _run_with_store(
    config: DialerConfig, db: str | None, fn: Callable[[Store], Awaitable[T]], *, migrate: bool = False
) -> T:
    """The CLI's store handling (one line and exit 3/4 for a store it cannot use)."""
    return run_or_exit(with_store(config, db, fn, migrate=migrate))


def _actor() -> str:
    """Who ran the command, for the audit trail."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name (a container without a passwd entry)
        return "cli"


def check_scope(config: DialerConfig, name: str, role: Role, campaigns: tuple[str, ...]) -> tuple[str, ...]:
    """The campaigns an account is scoped to, checked against the config. An agent must
    be in the `agents:` list of each campaign (without --campaign: the campaigns that
    list them); a supervisor without --campaign sees every campaign."""
    known = {c.name: c for c in config.campaigns}
    unknown = [c for c in campaigns if c not in known]
    if unknown:
        raise AccountError(f"unknown campaign {unknown[0]!r} (known: {', '.join(sorted(known))})")
    if role is Role.SUPERVISOR:
        return tuple(dict.fromkeys(campaigns))
    listing = [c.name for c in config.campaigns if any(a.name == name for a in c.agents)]
    if not campaigns:
        if not listing:
            raise AccountError(
                f"agent {name!r} is in no campaign's agents: list; add {{name: {name}, target: ...}} "
                "to a campaign in the config first"
            )
        return tuple(listing)
    missing = [c for c in campaigns if c not in listing]
    if missing:
        raise AccountError(
            f"agent {name!r} is not in the agents: list of campaign {missing[0]!r}; "
            "add them there first (calls reach an agent through that list)"
        )
    return tuple(dict.fromkeys(campaigns))


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True, err=True)
    return password


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(1)


@click.group("user")
def user_group() -> None:
    """Accounts of agents and supervisors (log in to the worker's pages)."""


@user_group.command("add")
@config_option
@db_option
@click.argument("name", help="the account name (an agent's name is their name in the campaigns' agents: lists)")
@click.option("--role", type=ROLES, required=True, help="agent (their own calls) or supervisor (campaigns)")
@click.option(
    "--campaign", "campaigns", multiple=True, help="scope (repeat); agents: campaigns whose agents: list them"
)
@click.option("--password-stdin", is_flag=True, help="read the password from one line of stdin")
def user_add(
    config_path: Path, db: str | None, name: str, role: str, campaigns: tuple[str, ...], password_stdin: bool
) -> None:
    """Add an account (the password is asked for, never given as an argument)."""
    config = _load(config_path)
    if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum() or len(name) > 64:
        _fail(f"bad name {name!r}: letters, digits, '.', '-', '_' (at most 64)")
    try:
        scope = check_scope(config, name, Role(role), campaigns)
        password_hash = hash_password(_read_password(password_stdin))
    except AccountError as exc:
        _fail(str(exc))
        return
    account = Account(name, Role(role), scope, password_hash, False, datetime.now(UTC))

    async def go(store: Store) -> None:
        try:
            await people_of(store).add_account(account, actor=_actor())
        except AccountExists:
            _fail(f"account {name!r} exists (change its password with `dialer user passwd {name}`)")

    _run_with_store(config, db, go, migrate=True)
    where = ", ".join(scope) if scope else "every campaign"
    click.echo(f"{role} {name} added ({where})")


@user_group.command("passwd")
@config_option
@db_option
@click.argument("name", help="the account name (an agent's name is their name in the campaigns' agents: lists)")
@click.option("--password-stdin", is_flag=True, help="read the password from one line of stdin")
def user_passwd(config_path: Path, db: str | None, name: str, password_stdin: bool) -> None:
    """Set an account's password."""
    config = _load(config_path)

    async def go(store: Store) -> None:
        people = people_of(store)
        if await people.get_account(name) is None:
            _fail(f"no account {name!r}")
        try:
            password_hash = hash_password(_read_password(password_stdin))
        except AccountError as exc:
            _fail(str(exc))
            return
        await people.set_password(name, password_hash, datetime.now(UTC), actor=_actor())

    _run_with_store(config, db, go)
    click.echo(f"password of {name} changed")


@user_group.command("disable")
@config_option
@db_option
@click.argument("name", help="the account name (an agent's name is their name in the campaigns' agents: lists)")
def user_disable(config_path: Path, db: str | None, name: str) -> None:
    """Disable an account: it cannot log in, and an agent is logged out (no more calls)."""
    config = _load(config_path)

    async def go(store: Store) -> None:
        people = people_of(store)
        account = await people.get_account(name)
        if account is None:
            _fail(f"no account {name!r}")
            return
        now = datetime.now(UTC)
        await people.set_disabled(name, True, now, actor=_actor())
        if account.role is Role.AGENT:
            await people.set_presence(name, PresenceState.LOGGED_OUT, now, by=_actor())

    _run_with_store(config, db, go)
    click.echo(f"{name} disabled")


@user_group.command("list")
@config_option
@db_option
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True, help="output format"
)
def user_list(config_path: Path, db: str | None, fmt: str) -> None:
    """The accounts (never their password hashes)."""
    config = _load(config_path)

    async def go(store: Store) -> list[Account]:
        return await people_of(store).list_accounts()

    accounts = _run_with_store(config, db, go)
    rows = [
        {
            "name": a.name,
            "role": a.role.value,
            "campaigns": list(a.campaigns),
            "disabled": a.disabled,
            "created": a.created_at.isoformat(),
        }
        for a in accounts
    ]
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    click.echo(f"{'NAME':<20} {'ROLE':<11} {'STATUS':<9} CAMPAIGNS")
    for r in rows:
        scope = ", ".join(r["campaigns"]) or "(all)"  # type: ignore[arg-type]
        click.echo(f"{r['name']:<20} {r['role']:<11} {'disabled' if r['disabled'] else 'active':<9} {scope}")


@click.group("token")
def token_group() -> None:
    """API tokens for CRMs and scripts (Bearer tokens on /api/v1)."""


@token_group.command("add")
@config_option
@db_option
@click.option("--role", type=ROLES, required=True, help="agent (their own calls) or supervisor (campaigns)")
@click.option("--campaign", "campaigns", multiple=True, help="scope (repeat); none: every campaign")
@click.option("--label", default="", help="what the token is for (shown by `token list`)")
def token_add(config_path: Path, db: str | None, role: str, campaigns: tuple[str, ...], label: str) -> None:
    """Create a token and print it once (only its digest is stored)."""
    config = _load(config_path)
    known = {c.name for c in config.campaigns}
    unknown = [c for c in campaigns if c not in known]
    if unknown:
        _fail(f"unknown campaign {unknown[0]!r} (known: {', '.join(sorted(known))})")
    if len(label) > 200:
        _fail("the label is too long (at most 200 characters)")
    token_id, secret, digest = new_token()
    token = ApiToken(token_id, Role(role), tuple(dict.fromkeys(campaigns)), label, datetime.now(UTC))

    async def go(store: Store) -> None:
        await people_of(store).add_token(token, digest, actor=_actor())

    _run_with_store(config, db, go, migrate=True)
    click.echo(f"token {token_id} ({role}); keep it now, it is not shown again:", err=True)
    click.echo(secret)


@token_group.command("list")
@config_option
@db_option
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True, help="output format"
)
def token_list(config_path: Path, db: str | None, fmt: str) -> None:
    """The tokens (ids, scope, label; never the tokens themselves)."""
    config = _load(config_path)

    async def go(store: Store) -> list[ApiToken]:
        return await people_of(store).list_tokens()

    tokens = _run_with_store(config, db, go)
    rows = [
        {
            "id": t.id,
            "role": t.role.value,
            "campaigns": list(t.campaigns),
            "label": t.label,
            "created": t.created_at.isoformat(),
            "revoked": t.revoked_at.isoformat() if t.revoked_at else None,
        }
        for t in tokens
    ]
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    click.echo(f"{'ID':<10} {'ROLE':<11} {'STATUS':<8} {'CAMPAIGNS':<24} LABEL")
    for r in rows:
        scope = ", ".join(r["campaigns"]) or "(all)"  # type: ignore[arg-type]
        status = "revoked" if r["revoked"] else "active"
        click.echo(f"{r['id']:<10} {r['role']:<11} {status:<8} {scope:<24} {r['label']}")


@token_group.command("revoke")
@config_option
@db_option
@click.argument("token_id", help="the token's id, as `dialer token list` shows it")
def token_revoke(config_path: Path, db: str | None, token_id: str) -> None:
    """Revoke a token: it is refused from the next request on, by every worker."""
    config = _load(config_path)

    async def go(store: Store) -> bool:
        return await people_of(store).revoke_token(token_id, datetime.now(UTC), actor=_actor())

    if not _run_with_store(config, db, go):
        _fail(f"no active token {token_id!r} (see `dialer token list`)")
    click.echo(f"token {token_id} revoked")


__all__ = ["check_scope", "token_group", "user_group"]
