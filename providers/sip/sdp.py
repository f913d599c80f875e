"""SDP: what a peer offers or answers (address, port, codecs), and our own offer."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass
class Sdp:
    address: str
    port: int
    payloads: dict[int, str]  # payload type -> encoding name ("PCMU", "telephone-event", ...)
    direction: str = "sendrecv"

    def pt_for(self, name: str) -> int | None:
        for pt, n in self.payloads.items():
            if n.lower() == name.lower():
                return pt
        return None


_STATIC = {0: "PCMU", 3: "GSM", 8: "PCMA", 9: "G722", 13: "CN", 18: "G729"}


def parse_sdp(body: bytes | str) -> Sdp | None:
    """The first audio stream of an SDP body (pyVoIP's SDP parser trips over rtpmap lines
    for formats it has not seen in the m= line and over '=' inside values)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    session_c: str | None = None
    media_c: str | None = None
    direction = "sendrecv"
    port: int | None = None
    formats: list[int] = []
    names: dict[int, str] = {}
    in_audio = False
    seen_media = False
    for line in re.split(r"\r?\n", text):
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:].strip()
        if kind == "m":
            if seen_media and in_audio:
                break  # only the first audio stream
            seen_media = True
            parts = value.split()
            in_audio = len(parts) >= 4 and parts[0] == "audio"
            if in_audio:
                try:
                    port = int(parts[1].split("/")[0])
                    formats = [int(f) for f in parts[3:] if f.isdigit()]
                except ValueError:
                    return None
        elif kind == "c":
            addr = value.split()[-1].split("/")[0] if value.split() else ""
            if not seen_media:
                session_c = addr
            elif in_audio:
                media_c = addr
        elif kind == "a" and (in_audio or not seen_media):
            if value in ("sendrecv", "sendonly", "recvonly", "inactive"):
                direction = value
            elif value.startswith("rtpmap:") and in_audio:
                pt_text, _, enc = value[7:].partition(" ")
                if pt_text.isdigit():
                    names[int(pt_text)] = enc.split("/")[0]
    address = media_c or session_c
    if port is None or address is None:
        return None
    payloads = {pt: names.get(pt) or _STATIC.get(pt, f"pt{pt}") for pt in formats}
    return Sdp(address=address, port=port, payloads=payloads, direction=direction)


def build_sdp(ip: str, port: int, session: int, version: int, codecs: list[tuple[int, str]], dtmf_pt: int) -> str:
    pts = " ".join(str(pt) for pt, _ in codecs)
    lines = [
        "v=0",
        f"o=dialer {session} {version} IN IP4 {ip}",
        "s=dialer",
        f"c=IN IP4 {ip}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {pts} {dtmf_pt}",
        *(f"a=rtpmap:{pt} {name}/8000" for pt, name in codecs),
        f"a=rtpmap:{dtmf_pt} telephone-event/8000",
        f"a=fmtp:{dtmf_pt} 0-15",
        "a=ptime:20",
        "a=sendrecv",
    ]
    return "\r\n".join(lines) + "\r\n"
