"""Accounts (issue 12): hashing, tokens, and the role/scope checks (pure functions)."""

from __future__ import annotations

import asyncio

import pytest

from dialer.accounts import (
    AccountError,
    Principal,
    hash_password,
    may_dispose_call,
    may_manage_campaign,
    may_see_call,
    may_see_client,
    new_token,
    token_digest,
    verify_password,
    visible_campaigns,
)
from dialer.store.people import Role
from dialer.web.notify import Notifier

AGENT = Principal("ivanova", Role.AGENT, ("cold",))
OTHER_AGENT = Principal("petrov", Role.AGENT, ("cold",))
BOSS = Principal("boss", Role.SUPERVISOR, ())
WARM_BOSS = Principal("lead", Role.SUPERVISOR, ("warm",))
AGENT_TOKEN = Principal("token:ab12", Role.AGENT, ("cold",), via="token")


def test_passwords_are_hashed_and_checked() -> None:
    hashed = hash_password("a long password")
    assert hashed.startswith("$argon2") and "a long password" not in hashed
    assert verify_password(hashed, "a long password")
    assert not verify_password(hashed, "a long passwore")
    assert not verify_password(None, "a long password")  # no account: False, same cost
    assert not verify_password("garbage", "a long password")
    with pytest.raises(AccountError, match="too short"):
        hash_password("short")


def test_tokens_are_random_and_stored_as_digests() -> None:
    (id1, t1, d1), (id2, t2, d2) = new_token(), new_token()
    assert t1 != t2 and id1 != id2 and t1.startswith("dlr_") and len(t1) > 40
    assert d1 == token_digest(t1) and t1 not in d1 and d1 != d2


def test_calls_and_clients_by_role_and_scope() -> None:
    assert may_see_call(AGENT, "cold", "ivanova") and may_dispose_call(AGENT, "cold", "ivanova")
    assert not may_dispose_call(OTHER_AGENT, "cold", "ivanova")
    assert not may_see_call(AGENT, "warm", "ivanova")  # outside the scope
    assert may_dispose_call(BOSS, "warm", "anyone") and not may_dispose_call(WARM_BOSS, "cold", "ivanova")
    assert may_dispose_call(AGENT_TOKEN, "cold", "ivanova")  # a CRM token of the campaign
    assert may_see_client(AGENT, "cold", ["petrov", "ivanova"]) and not may_see_client(AGENT, "cold", ["petrov"])
    assert may_see_client(BOSS, None, []) and not may_see_client(WARM_BOSS, None, [])
    assert may_see_client(WARM_BOSS, "warm", []) and not may_see_client(WARM_BOSS, "cold", [])


def test_campaign_management_is_for_supervisors_in_scope() -> None:
    assert may_manage_campaign(BOSS, "cold") and may_manage_campaign(WARM_BOSS, "warm")
    assert not may_manage_campaign(WARM_BOSS, "cold") and not may_manage_campaign(AGENT, "cold")
    assert visible_campaigns(WARM_BOSS, ["cold", "warm", "care"]) == ["warm"]
    assert visible_campaigns(BOSS, ["cold", "warm"]) == ["cold", "warm"]


async def test_notifier_delivers_by_topic_and_forgets_gone_pages() -> None:
    notifier = Notifier()
    got: list[tuple[str, dict[str, object]]] = []

    async def page() -> None:
        async for event in notifier.subscribe(["presence"]):
            got.append((event.topic, event.data))
            if len(got) == 2:
                return

    task = asyncio.create_task(page())
    await asyncio.sleep(0)
    notifier.publish("campaign", {"campaign": "cold"})
    notifier.publish("presence", {"agent": "a"})
    notifier.publish("presence", {"agent": "b"})
    await asyncio.wait_for(task, 2)
    assert got == [("presence", {"agent": "a"}), ("presence", {"agent": "b"})]
    assert notifier.subscribers == 0
