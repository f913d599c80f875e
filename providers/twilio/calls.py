"""The calls one Twilio provider follows: by our call id and by Twilio SID, plus the
recently finished ones (a late callback for one of those is expected, not alarming)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import structlog

from providers.twilio.state import CallState

log = structlog.get_logger("providers.twilio")

RECENT = 2000  # finished call ids and SIDs remembered


class CallBook:
    def __init__(self, recent: int = RECENT):
        self._calls: dict[str, CallState] = {}
        self._by_sid: dict[str, str] = {}  # SID (either leg) -> our call id
        self._recent: OrderedDict[str, None] = OrderedDict()  # finished call ids and SIDs
        self._recent_max = recent
        self._observers: dict[str, Callable[[str], None]] = {}

    def get(self, call_id: str) -> CallState | None:
        return self._calls.get(call_id)

    def add(self, state: CallState) -> None:
        self._calls[state.call_id] = state

    def adopt(self, state: CallState, sid: str) -> None:
        """`sid` is the call's REST (parent) leg."""
        if state.parent.sid is None:
            state.parent.sid = sid
        self._by_sid[sid] = state.call_id

    def note_sid(self, sid: str, call_id: str) -> None:
        """A SID (a child leg's) that belongs to one of our calls."""
        self._by_sid.setdefault(sid, call_id)

    def following(self, sid: str) -> bool:
        """A live call of ours has this SID."""
        return sid in self._by_sid

    def finished(self, key: str) -> bool:
        """A call id or SID of a call that ended recently."""
        return key in self._recent

    def forget(self, state: CallState) -> None:
        self._calls.pop(state.call_id, None)
        self._observers.pop(state.call_id, None)
        for key in (state.call_id, state.parent.sid, state.child.sid):
            if key:
                self._recent[key] = None
                self._by_sid.pop(key, None)
        while len(self._recent) > self._recent_max:
            self._recent.popitem(last=False)

    def observe(self, call_id: str, fn: Callable[[str], None]) -> None:
        """Receive a human-readable line for each callback of one call (test-call)."""
        self._observers[call_id] = fn

    def tell(self, state: CallState, line: str) -> None:
        fn = self._observers.get(state.call_id)
        if fn is not None:
            try:
                fn(line)
            except Exception:  # an observer must not break the webhook
                log.exception("twilio_observer_failed", call_id=state.call_id)
