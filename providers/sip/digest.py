"""HTTP digest authentication for SIP (RFC 8760 / RFC 2617): 401 and 407 challenges,
qop=auth, opaque, MD5 and SHA-256."""

from __future__ import annotations

import hashlib
import uuid

from providers.sip.message import _AUTH_PARAM


def digest_authorization(
    challenge: str, method: str, uri: str, user: str, password: str, cnonce: str | None = None
) -> str:
    """The Authorization / Proxy-Authorization value answering one Digest challenge
    (RFC 2617 / 7616: MD5, MD5-sess, SHA-256; qop=auth or none)."""
    scheme, _, rest = challenge.strip().partition(" ")
    if scheme.lower() != "digest":
        raise ValueError(f"unsupported authentication scheme {scheme!r}")
    p = {k.lower(): v.strip('"') for k, v in _AUTH_PARAM.findall(rest)}
    realm, nonce = p.get("realm", ""), p.get("nonce", "")
    algorithm = p.get("algorithm", "MD5")
    base = algorithm.upper().removesuffix("-SESS")
    if base == "MD5":
        digest = hashlib.md5
    elif base in ("SHA-256", "SHA256"):
        digest = hashlib.sha256
    else:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")

    def h(text: str) -> str:
        return digest(text.encode()).hexdigest()

    cnonce = cnonce or uuid.uuid4().hex[:16]
    ha1 = h(f"{user}:{realm}:{password}")
    if algorithm.upper().endswith("-SESS"):
        ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}")
    qops = [q.strip() for q in p.get("qop", "").split(",") if q.strip()]
    parts = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    if qops:
        if "auth" not in qops:
            raise ValueError(f"unsupported qop {p['qop']!r} (only auth)")
        nc = "00000001"
        response = h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        parts += [f'response="{response}"', f"algorithm={algorithm}", "qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
    else:
        parts += [f'response="{h(f"{ha1}:{nonce}:{ha2}")}"', f"algorithm={algorithm}"]
    if "opaque" in p:
        parts.append(f'opaque="{p["opaque"]}"')
    return "Digest " + ", ".join(parts)
