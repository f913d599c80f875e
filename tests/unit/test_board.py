"""The live board's card (dialer/web/board.py), pure: what it says about lines, agents,
holds, the next opening, plan progress and the provider."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from dialer.config import DialerConfig
from dialer.model import AbandonCounts, ProviderReadiness
from dialer.reporting.data import build_day_report
from dialer.store.people import CampaignPause, Presence, PresenceState
from dialer.web.board import CampaignCard, campaign_card, provider_line
from dialer.web.settings import WebSettings

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _presence(agent: str, state: PresenceState, minutes: int, **kw: object) -> Presence:
    return Presence(agent, state, kw.get("reason"), NOW - timedelta(minutes=minutes), None,  # type: ignore[arg-type]
                    kw.get("call_id"), "cold", agent)  # type: ignore[arg-type]  # fmt: skip


def _card(config: DialerConfig, presence: list[Presence], **kw: object) -> CampaignCard:
    config = config.model_copy(update={"web": WebSettings(enabled=True)})
    cold = config.campaign("cold")
    report = build_day_report(config, date(2026, 12, 1), [], [], {"cold": (120, 0)}, campaign="cold", generated_at=NOW)
    args: dict[str, object] = dict(
        stats={"due_now": 0, "queued": 30}, lines_in_use=2, presence=presence, pause=None, report=report,
        next_opening=NOW + timedelta(hours=1), readiness=[],
    )  # fmt: skip
    args.update(kw)
    return campaign_card(cold, config, NOW, **args)  # type: ignore[arg-type]


def test_agents_by_state_and_for_how_long(config: DialerConfig) -> None:
    card = _card(
        config,
        [
            _presence("petrov", PresenceState.PAUSED, 5, reason="lunch"),
            _presence("ivanova", PresenceState.ON_CALL, 2, call_id="abc"),
            _presence("sidorova", PresenceState.READY, 1),
            _presence("popov", PresenceState.LOGGED_OUT, 60, call_id="old"),
        ],
    )
    assert [(a.name, a.state, a.for_s) for a in card.agents] == [
        ("ivanova", "on_call", 120), ("sidorova", "ready", 60), ("petrov", "paused", 300),
        ("popov", "logged_out", 3600),
    ]  # fmt: skip
    assert card.agents[0].call_id == "abc" and card.agents[3].call_id is None  # a stale call id is not shown
    assert card.agent_counts == {"on_call": 1, "ready": 1, "wrap_up": 0, "paused": 1, "logged_out": 1}
    assert card.held is None and card.lines == config.campaign("cold").lines and card.lines_in_use == 2
    assert card.plan == {"planned": 120, "dialed": 0, "reached": 0, "meetings": 0, "contracts": 0}
    assert card.adherence is None and card.band == "3-5 min"
    assert card.next_opening == (NOW + timedelta(hours=1)).isoformat()


def test_held_only_when_paused_or_nobody_works(config: DialerConfig) -> None:
    busy = [_presence("ivanova", PresenceState.ON_CALL, 1), _presence("petrov", PresenceState.WRAP_UP, 1)]
    assert _card(config, busy).held is None  # all busy is the board working, not a hold
    away = [
        _presence("ivanova", PresenceState.PAUSED, 1, reason="lunch"),
        _presence("petrov", PresenceState.LOGGED_OUT, 1),
    ]
    held = _card(config, away).held
    assert held is not None and held.startswith("no agent ready")
    pause = CampaignPause("cold", True, "boss", NOW)
    card = _card(config, busy, pause=pause)
    assert card.paused and card.paused_by == "boss" and card.held == "paused by a supervisor"
    resumed = CampaignPause("cold", False, "boss", NOW)
    assert not _card(config, busy, pause=resumed).paused


def test_next_opening_is_now_when_clients_are_due(config: DialerConfig) -> None:
    assert _card(config, [], stats={"due_now": 4, "queued": 9}).next_opening is None
    assert _card(config, [], next_opening=None).next_opening is None


def test_provider_readiness_across_workers() -> None:
    def report(owner: str, ready: bool, reason: str | None = None) -> ProviderReadiness:
        return ProviderReadiness(owner, "sip", ready, reason, NOW, NOW)

    assert provider_line("sip", []).ready is None
    line = provider_line("sip", [report("w1", False, "registrar down"), report("w2", True)])
    assert line.ready is True and line.text == "1 of 2 workers ready"
    line = provider_line("sip", [report("w1", False, "registrar down"), report("w2", False, "no route")])
    assert line.ready is False and line.text == "no route; registrar down"
    assert provider_line("other", [report("w1", True)]).ready is None


def test_abandon_rate_against_the_cap(config: DialerConfig) -> None:
    # issue 13: the rolling window's rate, amber from 80 % of the cap, red above it.
    def card(abandoned: int, live: int) -> CampaignCard:
        return _card(config, [], abandon=AbandonCounts(live, abandoned))

    assert (card(0, 0).abandon_rate, card(0, 0).abandon_level) == (None, "ok")
    assert (card(2, 100).abandon_rate, card(2, 100).abandon_level) == (0.02, "ok")
    assert card(5, 200).abandon_level == "near"  # 2.5 % of a 3 % cap
    over = card(4, 100)
    assert (over.abandon_level, over.abandoned_window, over.live_window, over.max_abandon_rate) == (
        "over",
        4,
        100,
        0.03,
    )
    assert (over.dial_mode, over.abandon_window) == ("progressive", "24h")
