"""Client-first pacing (power/predictive, issue 13) on SIP: asking the engine for an agent
at the answer, and the information message a client hears when there is none.

SIP has no answering-machine detection: every 200 OK of the client is a live answer
(a machine included) and reaches the engine's AgentAtAnswer.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from datetime import datetime
from pathlib import Path

import structlog

from providers.base import AgentAtAnswer, AgentLeg
from providers.sip.media import load_wav
from providers.sip.settings import check_prompt

log = structlog.get_logger("providers.sip")

# The engine answers within abandon_after (2 s). This only bounds a misbehaving engine:
# past it the client is treated as abandoned and hears the information message.
DECISION_BUDGET = 10.0


async def ask_agent(ask: AgentAtAnswer, at: datetime, call_id: str) -> AgentLeg | None:
    """The engine's agent for a call answered live at `at`, or None (abandon). Bounded;
    an engine error counts as "no agent" (logged), never as a failed call."""
    try:
        return await asyncio.wait_for(ask(at), DECISION_BUDGET)
    except TimeoutError:
        log.error("sip_agent_at_answer_timeout", call_id=call_id, budget_s=DECISION_BUDGET)
    except Exception:
        log.exception("sip_agent_at_answer_failed", call_id=call_id)
    return None


class InformationAudio:
    """The campaigns' information messages (8 kHz mono 16-bit PCM WAV files) as linear
    samples, read once per path. Loaded when a paced call is dialed, so nothing is read
    from disk between the client's answer and the message."""

    def __init__(self) -> None:
        self._samples: dict[str, list[int] | None] = {}

    async def load(self, path: str | None, executor: Executor | None) -> list[int] | None:
        """The samples, or None (no file configured, or unreadable: logged once; the call
        is then hung up without a message rather than not placed)."""
        if not path:
            return None
        if path in self._samples:
            return self._samples[path]
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(executor, check_prompt, Path(path))
            samples: list[int] | None = await loop.run_in_executor(executor, load_wav, Path(path))
        except (OSError, ValueError) as exc:
            log.error("sip_information_audio_unusable", path=path, error=str(exc))
            samples = None
        self._samples[path] = samples
        return samples
