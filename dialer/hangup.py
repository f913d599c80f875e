"""Hanging up a call from the agent desktop: the seam between a page and the provider.

A provider that lets the dialer end a call it placed implements `HangsUp` (the
simulated provider in ``agent: human`` mode does; SIP and Twilio do not yet). The
desk's Hang up button, after checking that the call is the agent's own, calls
``await hang_up(ctx.dispatcher(), call_id)``: the call's provider is looked up from the
call row, and the provider ends the call; its result is then recorded as every call's
is (answered, the real talk time, no disposition: the agent records it).

Only the worker that placed the call holds it: with several workers, a hang-up asked
on another worker answers `not_here` (the page can say "try again"; a shared signal
through the store would be needed to reach it).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from dialer.domain import CallStatus

if TYPE_CHECKING:
    from dialer.dispatcher import Dispatcher


@runtime_checkable
class HangsUp(Protocol):
    """A provider that can end one of its calls in progress on the dialer's request."""

    def hang_up(self, call_id: str) -> bool:
        """End the call (our call id); False when no such call is in progress here."""


class HangUpResult(StrEnum):
    HUNG_UP = "hung_up"  # the call ends now; its result is recorded in a moment
    UNKNOWN_CALL = "unknown_call"  # no call with this id
    ENDED = "ended"  # the call has ended already
    NOT_SUPPORTED = "not_supported"  # its provider cannot be told to hang up
    NOT_HERE = "not_here"  # in progress, but not on this worker

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    HangUpResult.HUNG_UP: "the call is ending",
    HangUpResult.UNKNOWN_CALL: "no such call",
    HangUpResult.ENDED: "the call has ended already",
    HangUpResult.NOT_SUPPORTED: "this call's provider cannot hang up from the page: hang up on your phone",
    HangUpResult.NOT_HERE: "the call is handled by another worker: hang up on your phone",
}


async def hang_up(dispatcher: Dispatcher, call_id: str) -> HangUpResult:
    """Ask the provider of call `call_id` to end it. Callers check who may hang it up."""
    call = await dispatcher.store.get_call(call_id)
    if call is None:
        return HangUpResult.UNKNOWN_CALL
    if call.status is not CallStatus.DIALING:
        return HangUpResult.ENDED
    if call.worker is not None and call.worker != dispatcher.owner:
        return HangUpResult.NOT_HERE
    provider: object = dispatcher.providers.get(call.provider)  # any provider may implement HangsUp
    if not isinstance(provider, HangsUp):
        return HangUpResult.NOT_SUPPORTED
    if provider.hang_up(call_id):
        return HangUpResult.HUNG_UP
    # Ours and in progress, yet the provider holds no such call: it plays the agent
    # itself (the simulated provider without `agent: human`), or the call just ended.
    return HangUpResult.NOT_SUPPORTED


__all__ = ["HangUpResult", "HangsUp", "hang_up"]
