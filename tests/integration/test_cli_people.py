"""`dialer user ...`, `dialer token ...` and the held-campaign lines of `status` / `why`
(issue 12), through the real command on a SQLite file."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dialer.accounts import principal_for_token, verify_password
from dialer.cli import main
from dialer.store.people import people_of
from dialer.store.sqlite import SqliteStore

EXAMPLE = Path(__file__).parents[2] / "config"


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLE / "clients.csv", tmp_path / "clients.csv")
    text = (EXAMPLE / "dialer.yaml").read_text(encoding="utf-8").replace("../var/", "var/")
    (tmp_path / "dialer.yaml").write_text(text + "\nweb: {enabled: true}\n", encoding="utf-8")
    return tmp_path / "dialer.yaml"


def run(cfg: Path, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, [*args, "--config", str(cfg)], input=stdin)


def db(cfg: Path) -> Path:
    return cfg.parent / "var" / "dialer.db"


async def _with_people(path: Path, fn):  # type: ignore[no-untyped-def]
    store = SqliteStore(path)
    await store.open()
    try:
        return await fn(people_of(store))
    finally:
        await store.close()


def people_call(cfg: Path, fn):  # type: ignore[no-untyped-def]
    return asyncio.run(_with_people(db(cfg), fn))


def test_user_commands_and_refusals_change_nothing(cfg: Path) -> None:
    r = run(cfg, "user", "add", "ivanova", "--role", "agent", "--password-stdin", stdin="a good password\n")
    assert r.exit_code == 0 and "agent ivanova added (cold)" in r.output
    account = people_call(cfg, lambda p: p.get_account("ivanova"))
    assert verify_password(account.password_hash, "a good password")
    assert "a good password" not in account.password_hash
    refusals = [
        (("user", "add", "ivanova", "--role", "agent", "--password-stdin"), "exists"),
        (("user", "add", "ghost", "--role", "agent", "--password-stdin"), "in no campaign's agents: list"),
        (
            ("user", "add", "ivanova2", "--role", "agent", "--campaign", "warm", "--password-stdin"),
            "not in the agents: list",
        ),
        (
            ("user", "add", "petrov", "--role", "agent", "--campaign", "warm", "--password-stdin"),
            "not in the agents: list",
        ),
        (
            ("user", "add", "boss", "--role", "supervisor", "--campaign", "nope", "--password-stdin"),
            "unknown campaign 'nope'",
        ),
        (("user", "add", "boss", "--role", "king", "--password-stdin"), "Invalid value"),
        (("user", "passwd", "nobody", "--password-stdin"), "no account 'nobody'"),
        (("user", "disable", "nobody"), "no account 'nobody'"),
    ]
    for args, message in refusals:
        r = run(cfg, *args, stdin="a good password\n")
        assert r.exit_code != 0 and message in r.output, (args, r.output)
    r = run(cfg, "user", "add", "petrov", "--role", "agent", "--password-stdin", stdin="short\n")
    assert r.exit_code == 1 and "too short" in r.output
    assert [a.name for a in people_call(cfg, lambda p: p.list_accounts())] == ["ivanova"]
    assert run(cfg, "user", "passwd", "ivanova", "--password-stdin", stdin="another password\n").exit_code == 0
    assert run(cfg, "user", "disable", "ivanova").exit_code == 0
    rows = json.loads(run(cfg, "user", "list", "--format", "json").output)
    assert rows[0]["name"] == "ivanova" and rows[0]["disabled"] is True and "hash" not in json.dumps(rows)
    assert "disabled" in run(cfg, "user", "list").output


def test_token_is_shown_once_stored_hashed_and_revocable(cfg: Path) -> None:
    r = CliRunner().invoke(main, ["token", "add", "--role", "supervisor", "--label", "crm", "--config", str(cfg)])
    assert r.exit_code == 0
    token = r.stdout.strip()
    assert token.startswith("dlr_")
    listed = json.loads(run(cfg, "token", "list", "--format", "json").output)
    assert len(listed) == 1 and listed[0]["label"] == "crm" and token not in json.dumps(listed)
    assert people_call(cfg, lambda p: principal_for_token(p, token)) is not None
    assert run(cfg, "token", "add", "--role", "agent", "--campaign", "nope").exit_code == 1
    assert run(cfg, "token", "revoke", "nope").exit_code == 1
    assert run(cfg, "token", "revoke", listed[0]["id"]).exit_code == 0
    assert people_call(cfg, lambda p: principal_for_token(p, token)) is None


def test_status_and_why_say_when_a_campaign_is_held(cfg: Path) -> None:
    imported = CliRunner().invoke(main, ["import", str(cfg), str(cfg.parent / "clients.csv"), "--no-progress"])
    assert imported.exit_code == 0, imported.output
    out = run(cfg, "status").output
    assert "HELD: no agent ready (6 logged out of 6 agents): places no calls" in out
    people_call(cfg, lambda p: p.set_campaign_paused("care", True, datetime.now(UTC), by="boss"))
    rows = {r["campaign"]: r for r in json.loads(run(cfg, "status", "--json").output)}
    assert rows["care"]["held"] == "paused by a supervisor" and rows["warm"]["held"].startswith("no agent ready")
    calls = json.loads(run(cfg, "status", "--json").output)
    assert all("held" in r for r in calls)
    client_id = (cfg.parent / "clients.csv").read_text(encoding="utf-8").splitlines()[1].split(",")[0]
    why = run(cfg, "why", client_id).output
    assert "campaign care" in why and "campaign held:     care places no calls: paused by a supervisor" in why
