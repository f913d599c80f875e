"""The SIP provider's pure parts, no peers: settings errors, outcome mapping, the SIP
message parser, SDP and digest (known answers), the G.711 codec."""

from __future__ import annotations

import pytest

from dialer.clock import SystemClock
from dialer.domain import CallStatus
from providers.base import create_provider
from providers.sip import SipProvider, map_final
from providers.sip.digest import digest_authorization
from providers.sip.media import G711, nudge_samples
from providers.sip.message import SipMessage, parse_name_addr, uri_hostport
from providers.sip.sdp import build_sdp, parse_sdp
from providers.sip.settings import SipSettingsError, parse_settings


def _errors(settings: dict) -> str:
    with pytest.raises(SipSettingsError) as info:
        parse_settings("pbx", settings)
    return str(info.value)


def test_settings_errors_name_the_field() -> None:
    text = _errors({"registrar": "pbx:50x", "rtp_ports": [10, 5], "codecs": ["G729"], "passwrd_env": "X"})
    assert "providers.pbx.registrar: 'pbx:50x': expected host or host:port" in text
    assert "providers.pbx.rtp_ports: must be [low, high]" in text
    assert "providers.pbx.codecs.0: Input should be 'PCMU' or 'PCMA'" in text
    assert "providers.pbx.passwrd_env: unknown setting for a sip provider" in text
    assert "register is true, so username, password_env must be set" in _errors({"registrar": "pbx.example.com"})
    assert "message_mode.enabled needs message_mode.prompt" in _errors(
        {"register": False, "domain": "d", "message_mode": {"enabled": True, "digits": {"1": "no_need"}}}
    )
    assert "'x' is not a DTMF digit" in _errors(
        {"register": False, "domain": "d", "message_mode": {"digits": {"x": "no_need"}}}
    )
    assert "Input should be 'no_need'" in _errors(
        {"register": False, "domain": "d", "message_mode": {"digits": {"1": "fine"}}}
    )
    assert "client_uri: must be a sip: URI template" in _errors(
        {"register": False, "domain": "d", "client_uri": "tel:{x}"}
    )


def test_prompt_must_be_8k_mono_16bit(tmp_path) -> None:
    import wave

    bad = tmp_path / "bad.wav"
    with wave.open(str(bad), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(b"\0" * 44100 * 4)
    text = _errors({"register": False, "domain": "d", "message_mode": {"prompt": str(bad)}})
    assert "it must be 8000 Hz mono 16-bit (convert: sox" in text
    assert "not found" in _errors(
        {"register": False, "domain": "d", "message_mode": {"prompt": str(tmp_path / "no.wav")}}
    )


def test_short_forms_and_defaults() -> None:
    s = parse_settings("pbx", {"registrar": "pbx.example.com", "username": "200", "password_env": "SIP_PASS"})
    assert (s.registrar.host, s.registrar.port) == ("pbx.example.com", 5060)
    assert s.uri_domain == "pbx.example.com" and s.codecs == ["PCMU"] and not s.message_mode.enabled
    trunk = parse_settings("trunk", {"register": False, "proxy": {"host": "10.0.0.1", "port": 5080}})
    assert trunk.uri_domain == "10.0.0.1:5080"


def test_registered_as_a_builtin_provider_type() -> None:
    p = create_provider("pbx", "sip", {"register": False, "domain": "pbx.local"}, SystemClock())
    assert isinstance(p, SipProvider)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (486, CallStatus.BUSY), (600, CallStatus.BUSY), (603, CallStatus.BUSY),
        (404, CallStatus.INVALID_NUMBER), (484, CallStatus.INVALID_NUMBER), (604, CallStatus.INVALID_NUMBER),
        (480, CallStatus.NO_ANSWER), (408, CallStatus.NO_ANSWER), (487, CallStatus.NO_ANSWER),
        (500, CallStatus.FAILED), (503, CallStatus.FAILED), (401, CallStatus.FAILED), (407, CallStatus.FAILED),
        (403, CallStatus.FAILED), (488, CallStatus.FAILED),
    ],
)  # fmt: skip
def test_outcome_mapping(code: int, status: CallStatus) -> None:
    assert map_final(code, "x") is status


def test_no_response_at_all_is_failed_not_no_answer() -> None:
    assert map_final(408, "no response", timeout=True) is CallStatus.FAILED


def test_parser_handles_what_pyvoip_does_not() -> None:
    raw = (
        b"SIP/2.0 299 Custom Thing\r\n"
        b"v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport=5060, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKdef\r\n"
        b"Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
        b"Record-Route: <sip:p3.example.com;lr>\r\n"
        b'f: "A, B" <sip:alice@example.com>;tag=123;x=1\r\n'
        b"t: <sip:bob@example.com>;tag=456\r\n"
        b"i: abc@host\r\n"
        b"CSeq: 7 INVITE\r\n"
        b"m: <sip:bob@10.0.0.9:5070>\r\n"
        b"c: application/sdp\r\n"
        b"l: 32\r\n\r\n"
        b"v=0\r\nc=IN IP4 1.2.3.4\r\n\r\nm=a"
    )
    m = SipMessage(raw)
    assert m.code == 299 and m.reason == "Custom Thing"
    assert m.call_id == "abc@host" and m.cseq == 7 and m.cseq_method == "INVITE"
    assert m.branch == "z9hG4bKabc" and len(m.fields["Via"]) == 2 and len(m.headers["Via"]) == 2
    assert m.fields["Record-Route"] == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>", "<sip:p3.example.com;lr>"]
    assert m.headers["From"]["tag"] == "123" and m.headers["From"]["caller"] == "A, B"  # pyVoIP: tag "123;x=1"
    assert m.headers["To"]["tag"] == "456"
    request = SipMessage(b"OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=b\r\nFrom: <sip:a@b>;tag=1\r\n"
                         b"To: <sip:x@y>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n")  # fmt: skip
    assert request.method == "OPTIONS"  # pyVoIP raises on anything but INVITE/ACK/BYE/CANCEL


def test_name_addr_and_uri() -> None:
    na = parse_name_addr('"Agent 7" <sip:107@pbx.local:5062;transport=udp>;tag=xyz;expires=60')
    assert (na["uri"], na["tag"], na["params"]["expires"], na["number"]) == (
        "sip:107@pbx.local:5062;transport=udp", "xyz", "60", "107")  # fmt: skip
    assert uri_hostport("sip:107@pbx.local:5062;transport=udp") == ("pbx.local", 5062)
    assert uri_hostport("<sip:10.0.0.1;lr>") == ("10.0.0.1", 5060)


def test_sdp_round_trip_and_media_level_connection() -> None:
    sdp = parse_sdp(build_sdp("10.1.1.1", 20000, 1, 1, [(0, "PCMU"), (8, "PCMA")], 101))
    assert sdp is not None and (sdp.address, sdp.port) == ("10.1.1.1", 20000)
    assert sdp.payloads == {0: "PCMU", 8: "PCMA", 101: "telephone-event"}
    other = parse_sdp(
        "v=0\r\nc=IN IP4 9.9.9.9\r\nm=audio 4000 RTP/AVP 8 96\r\n"
        "c=IN IP4 8.8.8.8\r\na=rtpmap:96 telephone-event/8000\r\n"
        "a=rtpmap:97 unused/8000\r\na=sendonly\r\nm=video 5000 RTP/AVP 31\r\n"
    )
    assert other is not None and (other.address, other.port, other.direction) == ("8.8.8.8", 4000, "sendonly")
    assert other.pt_for("telephone-event") == 96 and other.pt_for("PCMA") == 8 and other.pt_for("PCMU") is None


def test_digest_known_answers() -> None:
    # RFC 2617 section 3.5
    value = digest_authorization(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
        'opaque="5ccc069c403ebaf9f0171e9517f40e41"',
        "GET", "/dir/index.html", "Mufasa", "Circle Of Life", cnonce="0a4f113b",
    )  # fmt: skip
    assert 'response="6629fae49393a05397450978507c4ef1"' in value
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in value and "qop=auth" in value and "nc=00000001" in value
    # no qop (RFC 2069 style): response = MD5(HA1:nonce:HA2)
    import hashlib

    h = lambda s: hashlib.md5(s.encode()).hexdigest()  # noqa: E731
    plain = digest_authorization('Digest realm="r", nonce="n"', "INVITE", "sip:1@x", "u", "p")
    assert f'response="{h(h("u:r:p") + ":n:" + h("INVITE:sip:1@x"))}"' in plain
    with pytest.raises(ValueError, match="only auth"):
        digest_authorization('Digest realm="r", nonce="n", qop="auth-int"', "INVITE", "sip:1@x", "u", "p")


def test_g711_round_trip_and_nudge_level() -> None:
    for codec in ("PCMU", "PCMA"):
        samples = [0, 100, -100, 1000, -1000, 10000, -10000, 32767, -32768]
        back = G711.decode(codec, G711.encode(codec, samples))
        assert all(abs(a - b) <= max(16, abs(a) // 16) for a, b in zip(samples, back, strict=True)), (codec, back)
    nudge = nudge_samples(1000, 0.25, 0.15, 2, -20.0)
    assert len(nudge) == int(0.65 * 8000)
    assert max(abs(x) for x in nudge) <= 3300  # -20 dBFS: quiet
