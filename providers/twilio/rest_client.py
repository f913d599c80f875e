"""The twilio SDK's async HTTP client, on httpx.

The SDK's own ``AsyncTwilioHttpClient`` is aiohttp-based: respx cannot mock it and it
leaks sessions. This one wraps one long-lived ``httpx.AsyncClient`` (closed by the
provider's ``close()``). httpx's network errors (``httpx.TransportError`` and its
subclasses) are deliberately not wrapped: the provider needs to tell a refused
connection (nothing sent, safe to retry) from a read timeout (the call may exist).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import structlog
from twilio.http import AsyncHttpClient
from twilio.http.response import Response

log = structlog.get_logger("providers.twilio.http")


class HttpxTwilioClient(AsyncHttpClient):  # type: ignore[misc]  # the SDK is untyped
    def __init__(self, client: httpx.AsyncClient, timeout: float | None = None):
        super().__init__(logger=logging.getLogger("twilio.http_client"), is_async=True, timeout=timeout)
        self.client = client

    async def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109  (the SDK's own signature)
        allow_redirects: bool = False,
    ) -> Response:
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        kwargs: dict[str, Any] = {
            "params": params or None,
            "data": data or None,
            "headers": headers,
            "auth": httpx.BasicAuth(*auth) if auth is not None else None,
            "follow_redirects": allow_redirects,
        }
        effective = timeout if timeout is not None else self.timeout
        if effective is not None:
            kwargs["timeout"] = effective
        response = await self.client.request(method.upper(), uri, **kwargs)
        log.debug("twilio_api", method=method.upper(), path=response.request.url.path, status=response.status_code)
        return Response(response.status_code, response.text, response.headers)

    async def close(self) -> None:
        await self.client.aclose()
