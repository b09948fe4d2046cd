"""One request core for the cloud connectors.

Every HTTP request to a vendor goes through `HttpConnector._request`: a slot of
the shared `RequestLimiter` (budget checked and counted, concurrency bounded),
a timeout, transport errors mapped to `ConnectionFailedError` (with secrets
scrubbed from the message), and one retry with fresh credentials after a 401.
`_raise_for_status` maps the usual statuses to typed errors; a vendor handles
its own quirks (optional endpoints, a 429 body naming the period, a login page
instead of JSON) before calling it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import partial
import json
import math
from typing import Any, ClassVar

import aiohttp

from .base import (
    ApiRetiredError,
    AuthFailedError,
    BadPayloadError,
    ConnectionFailedError,
    Connector,
    RateLimitedError,
)

REQUEST_TIMEOUT = 30.0
"""Seconds one request may take, connection included."""
DEFAULT_RETRY_AFTER = 60.0
"""Wait after a 429 that names no time (seconds); growing waits are the coordinator's."""
MAX_RETRY_AFTER = 6 * 3600.0
"""A Retry-After longer than this is capped: a stray header must not block for days."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """What a vendor answered: status, body text and headers."""

    status: int
    text: str
    headers: Mapping[str, str]
    url: str

    def json(self, what: str) -> Any:
        """The body as JSON; `BadPayloadError` naming `what` when it is not."""
        try:
            return json.loads(self.text)
        except ValueError as err:
            raise BadPayloadError(f"Non-JSON answer for {what}") from err

    @property
    def retry_after(self) -> float | None:
        """The Retry-After header in seconds (delta or HTTP date), if any."""
        return parse_retry_after(self.headers.get("Retry-After"))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or an HTTP date)."""
    if value is None or not (value := value.strip()):
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except TypeError, ValueError, IndexError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class HttpConnector(Connector):
    """A connector that speaks HTTP through the one request core.

    Subclasses supply authentication by overriding `_auth_headers` (called
    with `rejected=True` after a 401 to renew credentials; return None when
    they cannot be renewed) and `_secrets` (strings never to appear in errors).
    """

    request_timeout: ClassVar[float] = REQUEST_TIMEOUT

    async def _auth_headers(
        self, *, rejected: bool = False
    ) -> Mapping[str, str] | None:
        """Headers that authenticate a request; None after a 401 means "give up"."""
        return None if rejected else {}

    def _before_send(self, method: str, url: str) -> None:
        """Called once the limiter slot is held; raise to send (and spend) nothing.

        Lets a connector stop an update's queued requests once one has failed
        (a failing vendor then costs one request, not one per device).
        """

    def _secrets(self) -> tuple[str, ...]:
        """Values (keys, tokens) scrubbed from every error message."""
        return ()

    def _scrub(self, text: str) -> str:
        """Remove every secret from a text meant for a log or an error."""
        for secret in self._secrets():
            if secret:
                text = text.replace(secret, "**")
        return text

    async def _send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> HttpResponse:
        """Send one request through the limiter; transport errors are typed."""
        if self._session is None:  # pragma: no cover - HA always injects one
            raise ConnectionFailedError("No HTTP session")
        if not url.startswith(("http://", "https://")):
            url = f"{self.base_url}{url}"
        async with self.limiter.slot(partial(self._before_send, method, url)):
            try:
                async with asyncio.timeout(self.request_timeout):
                    response = await self._session.request(
                        method, url, headers=dict(headers or {}), **kwargs
                    )
                    async with response:
                        return HttpResponse(
                            status=response.status,
                            text=await response.text(errors="replace"),
                            headers=response.headers,
                            url=url,
                        )
            except (TimeoutError, aiohttp.ClientError) as err:
                raise ConnectionFailedError(
                    self._scrub(f"{self.vendor} unreachable: {err!r}")
                ) from err

    def _may_renew(self, response: HttpResponse) -> bool:
        """Whether a 401 is worth fresh credentials (not when it names another cause)."""
        return True

    async def _request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        renew: bool = True,
        **kwargs: Any,
    ) -> HttpResponse:
        """Send an authenticated request; after a 401, renew once and retry once.

        `renew=False` leaves a 401 to the caller (a vendor whose 401 on an
        optional endpoint means "not in your plan", not "expired").
        """
        auth = await self._auth_headers()
        response = await self._send(
            method, url, headers={**(auth or {}), **(headers or {})}, **kwargs
        )
        if response.status == 401 and auth and renew and self._may_renew(response):
            renewed = await self._auth_headers(rejected=True)
            if renewed is not None:
                response = await self._send(
                    method, url, headers={**renewed, **(headers or {})}, **kwargs
                )
        return response

    def _raise_for_status(self, response: HttpResponse, what: str) -> None:
        """Map a failed status to a typed error (2xx and 3xx pass).

        429 blocks the shared limiter for the Retry-After (or a default) so no
        other entry on the same quota sends meanwhile.
        """
        status = response.status
        if status < 400:
            return
        if status == 429:
            wait = response.retry_after
            if wait is None:
                wait = DEFAULT_RETRY_AFTER
            self.limiter.block(wait, "minute")
            raise RateLimitedError(
                f"{self.vendor} rate limit on {what}", retry_after=wait, period="minute"
            )
        if status == 410:
            raise ApiRetiredError(f"{self.vendor} retired {what} (HTTP 410)")
        if status == 401:
            raise AuthFailedError(f"{self.vendor} refused the credentials for {what}")
        if status >= 500:
            raise ConnectionFailedError(
                f"{self.vendor} server error {status} on {what}"
            )
        raise BadPayloadError(f"{self.vendor} refused {what}: HTTP {status}")

    async def _get_json(self, url: str, what: str | None = None, **kwargs: Any) -> Any:
        """GET a JSON document, every failure typed."""
        response = await self._request("GET", url, **kwargs)
        self._raise_for_status(response, what or url)
        return response.json(what or url)
