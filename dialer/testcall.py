"""`dialer test-call --campaign C NUMBER`: one call through the campaign's provider,
printed as a timeline, so an operator can check the set-up (numbers, webhook URL,
reverse proxy, agent target) before a campaign runs.

The call is placed exactly as the dispatcher would (caller id, agent target, ring
timeout, talk cap, connect mode) but touches no store: no client row, no result
recorded. If the provider takes webhooks, its endpoint is started for the duration of
the call; when the address is taken (the daemon is running) the call is followed by
polling the provider instead, and the timeline says so.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import phonenumbers

from dialer.clock import Clock, SystemClock
from dialer.config.models import DialerConfig
from dialer.domain import CallStatus
from dialer.http import HttpServer, bind_address, create_app
from providers.base import (
    DialRequest,
    ProviderError,
    ProviderEvent,
    UnknownProviderType,
    WebhookProvider,
    create_provider,
)

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2
POLL_WITHOUT_WEBHOOKS = timedelta(seconds=3)


def _e164(number: str, region: str) -> str | None:
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


async def test_call(
    config: DialerConfig,
    campaign: str,
    number: str,
    out: Callable[[str], None],
    *,
    clock: Clock | None = None,
    serve_webhooks: bool = True,
) -> int:
    """Place one call and print its timeline through `out`. Exit code: 0 the call
    reached a final status (answered, busy, no answer, machine, or the agent did not
    pick up), 1 it failed or the provider could not place it, 2 usage errors."""
    clock = clock or SystemClock()
    try:
        camp = config.campaign(campaign)
    except KeyError:
        out(f"error: no campaign {campaign!r} (configured: {', '.join(c.name for c in config.campaigns)})")
        return EXIT_USAGE
    phone = _e164(number, config.center.phone_region)
    if phone is None:
        out(f"error: {number!r} is not a valid phone number (region {config.center.phone_region})")
        return EXIT_USAGE
    pconf = config.providers.get(camp.provider)
    if pconf is None:
        out(f"error: campaign {camp.name} uses provider {camp.provider!r}, which is not configured")
        return EXIT_USAGE
    try:
        provider = create_provider(camp.provider, pconf.type, pconf.settings, clock)
    except (UnknownProviderType, ValueError) as exc:
        out(f"error: provider {camp.provider}: {exc}")
        return EXIT_PROBLEM

    agent = camp.agents[0] if camp.agents else None
    target = agent.target if agent else (camp.connect_to or "")
    request = DialRequest(
        call_id=f"test-{uuid.uuid4().hex[:16]}",
        number=phone,
        caller_id=camp.caller_id,
        connect_to=target,
        ring_timeout=camp.ring_timeout,
        hard_limit=camp.talk.hard_limit,
        nudge_at=camp.talk.target_max,
        connect_mode=camp.connect_mode,
        campaign=camp.name,
        agent=agent.name if agent else camp.connect_to,
        context={"test_call": "1", "stage": "prospect"},
    )
    t0 = clock.now()

    def stamp(at: datetime) -> str:
        return f"{at.astimezone().strftime('%H:%M:%S')} +{max(0.0, (at - t0).total_seconds()):6.1f}s"

    def line(text: str, at: datetime | None = None) -> None:
        out(f"{stamp(at or clock.now())}  {text}")

    server: HttpServer | None = None
    try:
        if serve_webhooks and isinstance(provider, WebhookProvider):
            address = bind_address({camp.provider: provider}, config.http.bind_settings())
            if address is not None:
                server = HttpServer(create_app({camp.provider: provider}))
                try:
                    host, port = await server.start(*address)
                    public = getattr(provider, "public_base_url", None)
                    line(f"webhooks: listening on {host}:{port}" + (f", public URL {public}" if public else ""))
                except OSError as exc:
                    server = None
                    line(f"warning: {exc} (is `dialer run` running?); following the call by polling instead")
                    if hasattr(provider, "poll_interval"):
                        provider.poll_interval = POLL_WITHOUT_WEBHOOKS
        await provider.start()
        mode = "agent first" if request.connect_mode == "agent_first" else "client first"
        line(
            f"test call {request.call_id}: campaign {camp.name}, provider {camp.provider} ({pconf.type}), {mode}, "
            f"caller id {camp.caller_id}, agent {target} <-> client {phone}"
        )
        observe = getattr(provider, "observe", None)
        if callable(observe):
            observe(request.call_id, lambda text: line(f"  callback {text}"))

        def on_event(event: ProviderEvent) -> None:
            extra = f" {event.provider_call_id}" if event.kind == "created" and event.provider_call_id else ""
            line(f"{event.kind}{extra}", event.at)

        try:
            result = await provider.dial(request, on_event)
        except ProviderError as exc:
            line(f"provider error: {exc}")
            return EXIT_PROBLEM
        summary = f"result: {result.status.value}, ring {result.ring_s:.1f} s, talk {result.talk_s:.1f} s"
        if result.provider_call_id:
            summary += f", provider call id {result.provider_call_id}"
        line(summary, result.ended_at)
        if result.error:
            line(f"note: {result.error}", result.ended_at)
        if result.status is CallStatus.CANCELED and request.connect_mode == "agent_first":
            line("the agent leg did not connect: check the agent target and that the agent picks up")
        return EXIT_PROBLEM if result.status in (CallStatus.FAILED, CallStatus.INVALID_NUMBER) else EXIT_OK
    except asyncio.CancelledError:
        line("interrupted: the call was ended")
        raise
    except Exception as exc:  # missing secret, unreachable API, ...
        line(f"error: {type(exc).__name__}: {exc}")
        return EXIT_PROBLEM
    finally:
        await provider.close()
        if server is not None:
            await server.stop()
