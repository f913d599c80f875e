"""One outbound INVITE and the dialog it creates."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from providers.sip.transactions import Timer

Sink = Callable[[str, dict[str, Any]], None]  # (kind, info): what the leg reports


@dataclass(eq=False)
class Leg:
    """One outbound INVITE and the dialog it creates (state owned by the UA thread)."""

    call_id: str
    uri: str
    dest: tuple[str, int]
    from_hdr: str  # without tag
    to_hdr: str
    sdp: str
    sink: Sink
    extra: list[str] = field(default_factory=list)
    local_tag: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    cseq: int = field(default_factory=lambda: random.randint(1, 9999))
    branch: str = ""
    invite: bytes = b""
    state: str = "new"  # calling, proceeding, confirmed, terminating, terminated
    got_response: bool = False
    remote_tag: str = ""
    remote_target: str = ""
    route_set: list[str] = field(default_factory=list)
    ack: bytes | None = None
    ack_dest: tuple[str, int] | None = None
    auth: dict[str, str] = field(default_factory=dict)  # header name -> value
    challenged: set[int] = field(default_factory=set)
    cancel_wanted: bool = False
    cancel_sent: bool = False
    interval: float = 0.5
    timers: list[Timer] = field(default_factory=list)
    sdp_version: int = 1
    reinvite_reply: tuple[str, bytes] | None = None
    reported_end: bool = False
