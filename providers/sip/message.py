"""SIP messages: header parsing (compact forms, repeated headers, parameters) and
`SipMessage`, pyVoIP's message class with a tolerant parser."""

from __future__ import annotations

import re
from typing import Any

from providers.sip.pyvoip import pv_sip
from providers.sip.sdp import Sdp, parse_sdp

_COMPACT = {
    "i": "Call-ID", "f": "From", "t": "To", "v": "Via", "m": "Contact", "l": "Content-Length",
    "c": "Content-Type", "k": "Supported", "e": "Content-Encoding", "o": "Event", "r": "Refer-To",
}  # fmt: skip
_CANON = {
    n.lower(): n
    for n in (
        "Call-ID", "CSeq", "WWW-Authenticate", "Proxy-Authenticate", "Authorization", "Proxy-Authorization",
        "Record-Route", "Route", "Via", "From", "To", "Contact", "Content-Type", "Content-Length", "Max-Forwards",
        "Min-Expires", "Expires", "Reason", "Allow", "Supported", "User-Agent", "Server", "Require",
    )
}  # fmt: skip
_MULTI = {"Via", "Record-Route", "Route", "Contact", "Allow", "Supported"}
_PARAM = re.compile(r'\s*;\s*([^=;\s]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^;\s]*))?')
_AUTH_PARAM = re.compile(r'([\w-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]+)')


def _canon(name: str) -> str:
    low = name.strip().lower()
    if low in _COMPACT:
        return _COMPACT[low]
    return _CANON.get(low) or "-".join(p.capitalize() for p in low.split("-"))


def split_commas(value: str) -> list[str]:
    """Split a header value on commas outside quotes and <...>."""
    out: list[str] = []
    cur: list[str] = []
    quoted, depth = False, 0
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth = max(0, depth - 1)
        if ch == "," and not quoted and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def params(text: str) -> dict[str, str]:
    return {m.group(1).lower(): (m.group(2) or "").strip('"') for m in _PARAM.finditer(text)}


def parse_name_addr(value: str) -> dict[str, Any]:
    """`"Name" <sip:u@h:p;x>;tag=1;y` -> pyVoIP's From/To dict, plus `uri` and `params`.

    (pyVoIP splits on ';tag=' and keeps whatever follows the tag as the tag.)"""
    v = value.strip()
    if "<" in v and ">" in v:
        lt = v.index("<")
        gt = v.index(">", lt)
        display, uri, rest, raw = v[:lt].strip().strip('"'), v[lt + 1 : gt], v[gt + 1 :], v[: gt + 1]
    else:
        display = ""
        uri, sep, rest = v.partition(";")
        rest = ";" + rest if sep else ""
        raw = uri
    p = params(rest)
    hostpart = uri.split(":", 1)[1] if ":" in uri else uri
    hostpart = hostpart.split(";", 1)[0]
    user, _, host = hostpart.rpartition("@")
    return {
        "raw": raw, "tag": p.get("tag", ""), "address": hostpart, "number": user or None,
        "caller": display, "host": host, "uri": uri, "params": p,
    }  # fmt: skip


def uri_hostport(uri: str) -> tuple[str, int]:
    """`sip:user@host:port;params` -> (host, port); 5060 when absent."""
    u = uri.strip().strip("<>")
    if ":" in u and u.split(":", 1)[0].lower() in ("sip", "sips"):
        u = u.split(":", 1)[1]
    u = u.split(";", 1)[0].split("?", 1)[0]
    hp = u.rpartition("@")[2]
    host, sep, port = hp.partition(":")
    return host, int(port) if sep and port.isdigit() else 5060


class SipMessage(pv_sip.SIPMessage):
    """pyVoIP's SIPMessage with a tolerant parser.

    pyVoIP only knows INVITE/ACK/BYE/CANCEL, keeps the first of repeated headers (so
    loses Record-Route sets), has no compact header forms, raises on status codes not in
    its enum and on bodies containing a blank line. The pyVoIP ``headers`` dict keeps its
    layout (Via list, From/To dicts, CSeq {check, method}); ``fields`` has every raw
    value of every header, in order.
    """

    def parse(self, data: bytes) -> None:
        self.fields: dict[str, list[str]] = {}
        self.code = 0
        self.reason = ""
        self.method = ""
        self.uri = ""
        self.sdp: Sdp | None = None
        head, sep, body = data.partition(b"\r\n\r\n")
        if not sep:
            head, _, body = data.partition(b"\n\n")
        lines = re.split(r"\r?\n", head.decode("utf-8", "replace"))
        start = lines[0].strip()
        self.heading = start.encode()
        parts = start.split(" ", 2)
        if parts[0] == "SIP/2.0" and len(parts) >= 2 and parts[1].isdigit():
            self.type = pv_sip.SIPMessageType.RESPONSE
            self.code = int(parts[1])
            self.reason = parts[2] if len(parts) > 2 else ""
            try:
                self.status = pv_sip.SIPStatus(self.code)
            except ValueError:
                self.status = pv_sip.SIPStatus({1: 100, 2: 200, 3: 300, 4: 400, 5: 500}.get(self.code // 100, 600))
        elif len(parts) == 3 and parts[2] == "SIP/2.0" and parts[0].isupper():
            self.type = pv_sip.SIPMessageType.MESSAGE
            self.method, self.uri = parts[0], parts[1]
        else:
            raise pv_sip.SIPParseError(f"not a SIP message: {start[:80]!r}")
        self.version = "SIP/2.0"
        folded: list[str] = []
        for line in lines[1:]:
            if not line:
                continue
            if line[0] in " \t" and folded:
                folded[-1] += " " + line.strip()
            else:
                folded.append(line)
        for line in folded:
            name, colon, value = line.partition(":")
            if not colon:
                continue
            canon = _canon(name)
            values = split_commas(value.strip()) if canon in _MULTI else [value.strip()]
            self.fields.setdefault(canon, []).extend(values)
        for required in ("Via", "From", "To", "Call-ID", "CSeq"):
            if required not in self.fields:
                raise pv_sip.SIPParseError(f"missing {required} header")
        self.headers = {"Via": []}
        self.parse_header("Via", self.fields["Via"])  # type: ignore[arg-type]  # pyVoIP's Via parser takes the list
        self.parse_header("CSeq", self.fields["CSeq"][0])  # pyVoIP's: {"check": "1", "method": "INVITE"}
        for name, values in self.fields.items():
            if name in ("Via", "CSeq"):
                continue
            if name in ("From", "To"):
                self.headers[name] = parse_name_addr(values[0])
            elif name == "Content-Length":
                self.headers[name] = int(values[0]) if values[0].isdigit() else 0
            else:
                self.headers[name] = values[0]
        try:
            self.cseq = int(self.headers["CSeq"]["check"])
        except (KeyError, ValueError):
            raise pv_sip.SIPParseError("bad CSeq") from None
        self.cseq_method = self.headers["CSeq"]["method"]
        if not self.method and self.type == pv_sip.SIPMessageType.MESSAGE:
            self.method = self.cseq_method
        length = self.headers.get("Content-Length")
        self.raw_body = body[:length] if isinstance(length, int) and length <= len(body) else body
        if self.raw_body and "application/sdp" in self.headers.get("Content-Type", "").lower():
            self.sdp = parse_sdp(self.raw_body)

    # helpers

    @property
    def call_id(self) -> str:
        return str(self.headers["Call-ID"])

    @property
    def branch(self) -> str:
        return params(";" + self.fields["Via"][0].partition(";")[2]).get("branch", "")

    def first(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None
