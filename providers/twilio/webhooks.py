"""Twilio webhook plumbing: the exact public URL, signature checks, TwiML.

The HTTP app (dialer/http.py) hands the provider a `providers.base.WebhookRequest`
(header names lower-cased); nothing here imports the worker's HTTP layer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Dial, VoiceResponse

from providers.base import ProviderError, WebhookRequest

try:  # twilio >= 9.x with SharedKey-signed webhooks
    from twilio.request_validator import SIGNATURE_SETTINGS_HEADER, get_signature_algorithm
except ImportError:  # pragma: no cover - older SDKs sign with the auth token only
    SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
    get_signature_algorithm = None

SIGNATURE_HEADER = "X-Twilio-Signature"
WEBHOOK_ROOT = "/webhooks"  # dialer/http.py routes /webhooks/{provider}/{kind}
KINDS = ("status", "twiml", "dial")
STATUS_EVENTS = "initiated ringing answered completed"
HANGUP = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup /></Response>'

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def webhook_url(public_base: str, provider: str, kind: str, **query: str) -> str:
    path = f"{public_base}{WEBHOOK_ROOT}/{provider}/{kind}"
    return f"{path}?{urlencode(query)}" if query else path


def _first(value: str | None) -> str | None:
    if not value:
        return None
    first = value.split(",")[0].strip()
    return first or None


def _trusted(host: str | None, proxies: Sequence[IPNetwork]) -> bool:
    if not host or not proxies:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in net for net in proxies)


def public_url(public_base: str, request: WebhookRequest, trusted_proxies: Sequence[IPNetwork]) -> str:
    """The URL Twilio called: scheme and host of ``public_base_url`` (or, from a trusted
    proxy only, of X-Forwarded-Proto / X-Forwarded-Host), its path prefix, then the
    request's own path and exact query string."""
    base = urlsplit(public_base)
    scheme, netloc = base.scheme, base.netloc
    if _trusted(request.client_host, trusted_proxies):
        proto = _first(request.headers.get("x-forwarded-proto"))
        host = _first(request.headers.get("x-forwarded-host"))
        if proto in ("http", "https"):
            scheme = proto
        if host:
            netloc = host
    url = f"{scheme}://{netloc}{base.path.rstrip('/')}{request.path}"
    return f"{url}?{request.query_string}" if request.query_string else url


class FormParams(Mapping[str, str]):
    """A POST form that keeps repeated keys: ``form[key]`` is the last value (as a
    plain dict of the pairs would have it), ``getlist(key)`` every value in order, which
    is what RequestValidator signs."""

    def __init__(self, pairs: Sequence[tuple[str, str]]):
        self._lists: dict[str, list[str]] = {}
        for key, value in pairs:
            self._lists.setdefault(key, []).append(value)

    def __getitem__(self, key: str) -> str:
        return self._lists[key][-1]

    def __iter__(self) -> Iterator[str]:
        return iter(self._lists)

    def __len__(self) -> int:
        return len(self._lists)

    def getlist(self, key: str) -> list[str]:
        return list(self._lists.get(key, []))


def form_params(body: bytes) -> FormParams:
    """The POST form, keeping repeated keys (RequestValidator signs every value)."""
    text = body.decode("utf-8", errors="strict")
    return FormParams(parse_qsl(text, keep_blank_values=True))


@dataclass(frozen=True)
class Signer:
    """Checks X-Twilio-Signature with the account's auth token, or with the SharedKey
    secret when Twilio says (X-Twilio-Webhooks-Signature-Settings) it used one."""

    token: str
    shared_key: str | None = None

    def valid(self, url: str, params: FormParams, headers: Mapping[str, str]) -> bool:
        """`headers` as in WebhookRequest: names lower-cased."""
        signature = headers.get(SIGNATURE_HEADER.lower())
        if not signature:
            return False
        settings = headers.get(SIGNATURE_SETTINGS_HEADER.lower())
        if settings:
            if self.shared_key is None or get_signature_algorithm is None:
                return False
            algorithm = get_signature_algorithm(settings)
            return bool(RequestValidator(self.shared_key).validate(url, params, signature, algorithm))
        return bool(RequestValidator(self.token).validate(url, params, signature))


# ------------------------------------------------------------------ targets and TwiML


@dataclass(frozen=True)
class Target:
    kind: Literal["number", "sip", "client"]
    value: str

    @property
    def rest_to(self) -> str:
        """What POST /Calls accepts as `To`."""
        return f"client:{self.value}" if self.kind == "client" else self.value

    def add_to(self, dial: Dial, **attrs: Any) -> None:
        if self.kind == "sip":
            dial.sip(self.value, **attrs)
        elif self.kind == "client":
            dial.client(self.value, **attrs)
        else:
            dial.number(self.value, **attrs)


def parse_target(value: str) -> Target:
    """An agent target as Twilio can dial it: +E.164, sip:..., client:NAME."""
    v = value.strip()
    lowered = v.lower()
    if lowered.startswith(("sip:", "sips:")):
        return Target("sip", v)
    if lowered.startswith("client:"):
        name = v.split(":", 1)[1]
        if name:
            return Target("client", name)
    elif v.startswith("+") and v[1:].isdigit() and 8 <= len(v) <= 16:
        return Target("number", v)
    raise ProviderError(
        f"Twilio cannot dial the agent target {value!r}: use a +E.164 number, a sip: URI or client:NAME"
    )


def bridge_twiml(
    target: Target,
    *,
    caller_id: str,
    timeout_s: int,
    time_limit_s: int,
    action_url: str,
    status_url: str,
) -> str:
    """<Dial> the other party: the hard talk cap as timeLimit, per-leg status callbacks,
    <Dial action> for DialCallStatus/DialCallDuration."""
    response = VoiceResponse()
    dial = response.dial(
        caller_id=caller_id,
        timeout=timeout_s,
        time_limit=time_limit_s,
        answer_on_bridge=True,
        action=action_url,
        method="POST",
    )
    target.add_to(
        dial,
        status_callback=status_url,
        status_callback_event=STATUS_EVENTS,
        status_callback_method="POST",
    )
    return str(response)


def machine_twiml(message: str | None, message_url: str | None, language: str | None, voice: str | None) -> str:
    response = VoiceResponse()
    if message_url:
        response.play(message_url)
    elif message:
        kwargs = {k: v for k, v in (("language", language), ("voice", voice)) if v}
        response.say(message, **kwargs)
    response.hangup()
    return str(response)


def information_twiml(message: str, language: str | None, voice: str | None) -> str:
    """What a client hears when no agent came free at the answer (client-first pacing): the
    campaign's information message (who called, how to opt out) read by <Say>, then
    <Hangup/>. Without a message (check-config refuses that) only the hang-up."""
    return machine_twiml(message or None, None, language, voice)
