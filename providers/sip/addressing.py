"""Where SIP requests go: the agent's and the client's request URIs, and the next hop
(``send_to`` when set, else the URI's host), with host names resolved once."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket

from providers.base import ProviderError
from providers.sip.message import uri_hostport
from providers.sip.settings import SipSettings, SipSettingsError


class Addresses:
    def __init__(self, settings: SipSettings):
        self.settings = settings
        self._dns: dict[str, str] = {}

    def uri_domain(self, fallback: str) -> str:
        """The domain of our URIs: the settings' (domain, registrar, proxy), else `fallback`."""
        try:
            return self.settings.uri_domain
        except SipSettingsError:
            return fallback

    async def resolve(self, host: str) -> str:
        """An IPv4 address for `host` (names are looked up once, then cached)."""
        try:
            ipaddress.IPv4Address(host)
            return host
        except ValueError:
            pass
        cached = self._dns.get(host)
        if cached is not None:
            return cached
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, None, family=socket.AF_INET, type=socket.SOCK_DGRAM)
        except OSError as exc:
            raise ProviderError(f"cannot resolve {host}: {exc}") from None
        ip = str(infos[0][4][0])
        self._dns[host] = ip
        return ip

    def agent_uri(self, target: str, domain: str) -> str:
        """The agent's URI: a SIP URI as given, or an extension at our domain."""
        t = target.strip()
        if t.startswith(("sip:", "sips:")):
            return "sip:" + t.split(":", 1)[1]
        if re.fullmatch(r"\+?[0-9A-Za-z_.\-*#]+", t):
            return f"sip:{t}@{domain}"
        raise ProviderError(f"connect_to {target!r} is neither a SIP URI (sip:...) nor an extension")

    def client_uri(self, number: str, domain: str) -> str:
        """The client's URI from the settings' ``client_uri`` template."""
        digits = number.lstrip("+")
        return self.settings.client_uri.format(number=number, digits=digits, domain=domain)

    async def next_hop(self, uri: str) -> tuple[str, int]:
        """Where a request for `uri` is sent: ``send_to`` (proxy/trunk) if set, else the URI's host."""
        hp = self.settings.send_to
        if hp is not None:
            return await self.resolve(hp.host), hp.port
        host, port = uri_hostport(uri)
        return await self.resolve(host), port
