"""Preview mode (campaign ``dial_mode: preview``, issue 12): the agent sees the next
client's card first and presses Call or Skip (with a reason).

The dispatcher claims a client for a Ready agent exactly as for a progressive call, then
holds the claim instead of dialing (its lease is renewed by the worker's heartbeat while
held) and tells the agent's page ("preview" event, through the store like the screen pop).
Call dials the held claim through the normal call path; Skip gives the client back
(no call row, so no attempt is counted) and audits who skipped, when and why.

A preview nobody answers within ``PREVIEW_TIMEOUT`` goes back to the queue and the agent
is Paused ("preview timed out"): an agent away from the desk would otherwise be offered
client after client, each held from the other agents for the whole timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dialer.config.models import Agent, Campaign
from dialer.model import Claim

PREVIEW_TIMEOUT = timedelta(seconds=120)
# A skipped client comes back this much later (not at once: it would be the queue's first
# again and be offered straight back). Skipping counts no attempt.
SKIP_AGAIN_AFTER = timedelta(hours=1)
SKIP_REASONS = ("wrong person for this campaign", "called recently from my own phone", "needs preparation")
MAX_REASON = 500
TIMED_OUT = "preview timed out"


@dataclass(frozen=True)
class HeldPreview:
    """A claimed client shown to one agent, waiting for Call or Skip."""

    campaign: Campaign
    claim: Claim
    call_id: str  # the call id the agent was taken for (the call row gets it on Call)
    agent: Agent
    offered_at: datetime

    @property
    def client_id(self) -> str:
        return self.claim.client.id

    def expired(self, now: datetime) -> bool:
        return now - self.offered_at >= PREVIEW_TIMEOUT


class PreviewRefused(Exception):
    """Call or Skip cannot be done; the message is one line for the agent."""


def skip_reason(value: object) -> str:
    """The agent's reason, trimmed; refused when empty or too long."""
    reason = value.strip() if isinstance(value, str) else ""
    if not reason:
        raise PreviewRefused("a skip needs a reason")
    if len(reason) > MAX_REASON:
        raise PreviewRefused(f"the reason is longer than {MAX_REASON} characters")
    return reason


__all__ = [
    "PREVIEW_TIMEOUT",
    "SKIP_AGAIN_AFTER",
    "SKIP_REASONS",
    "TIMED_OUT",
    "HeldPreview",
    "PreviewRefused",
    "skip_reason",
]
