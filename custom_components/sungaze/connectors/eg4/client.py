"""The EG4 / Luxpower portal's session: login, one retry after a lost session.

Session: `POST /WManage/api/login` (form `account`, `password`,
`language=ENGLISH`) sets a `JSESSIONID` cookie, kept in the session's own jar
(`own_cookie_jar`, so entries cannot clobber each other, eg4_web_monitor #535).
A data call answered with the HTML login page, a 401 or `success:false` means
the session is gone: the jar is cleared (stale cookies made re-login fail), one
login is made for all concurrent callers, and the call is retried once. A login
refused is an auth failure (reauth); a refusal that survives a fresh login is
remembered per endpoint and device, so it cannot cause a login every poll.

Failures (issue 9): every request goes through the shared HTTP core
(`HttpConnector`: limiter, timeout, typed errors, Retry-After). 403 is a
connection problem (a firewall), never wrong credentials; another web page
than the login form (maintenance) is "not now", not a lost session; a 429
blocks the account's limiter for its Retry-After. Within one update the first
failure stops every request not yet sent (`begin_update`), so a failing
portal costs the request that failed, plus one login when the session had
expired.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from contextvars import ContextVar
from http import HTTPStatus
import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ..base import (
    AuthFailedError,
    BadPayloadError,
    ConnectionFailedError,
    RateLimitedError,
    RequestLimiter,
    SungazeError,
)
from ..http import HttpConnector, HttpResponse
from .tables import HEADERS, LOGIN, LOGIN_FORM, TRANSIENT

_LOGGER = logging.getLogger(__name__)

HISTORY: ContextVar[bool] = ContextVar("eg4_history", default=False)
"""Set while history calls run: they are no part of a live update, so that
update's failure does not stop them (and theirs does not stop it)."""


class Refused(BadPayloadError):
    """`success:false` that a fresh login did not cure."""


def is_html(text: str) -> bool:
    """Whether a body is a web page rather than JSON."""
    return text.lstrip()[:1] == "<"


class EG4Session(HttpConnector):
    """The portal session of one account; subclasses keep the login tree."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        username: str,
        password: str,
        base_url: str | None = None,
        limiter: RequestLimiter | None = None,
    ) -> None:
        """Hold the credentials; nothing is sent until the first call."""
        super().__init__(session, base_url=base_url, limiter=limiter)
        self._username = username
        self._password = password
        self._generation = 0
        self._login_lock = asyncio.Lock()
        self._refused: set[tuple[str, str]] = set()
        self._requests: Counter[str] = Counter()
        self._logins = 0
        self._relogins = 0
        self._abort: SungazeError | None = None
        """The failure that ended this update's sending (see `_post`)."""

    def _logged_in(self, payload: Mapping[str, Any]) -> None:
        """Take the login reply (the plant tree)."""

    def begin_update(self) -> None:
        """Start an update: forget the last update's failure."""
        self._abort = None

    async def _ensure_login(self) -> None:
        """Log in unless a session exists."""
        if self._generation == 0:
            async with self._login_lock:
                if self._generation == 0:
                    await self._login()

    async def _post(self, path: str, form: Mapping[str, str]) -> HttpResponse:
        """POST one form through the shared request core (limiter, timeout, errors).

        Within one update, the first failure is remembered and every call not
        yet sent fails with it instead of sending: a failing portal costs the
        request that failed, not one per device.
        """
        name = path.rsplit("/", 1)[-1]
        try:
            response = await self._send("POST", path, data=dict(form), headers=HEADERS)
        except RateLimitedError:
            raise  # the limiter refused: nothing was sent
        except SungazeError as err:
            if err is not self._abort:
                self._requests[name] += 1  # sent, then the transport failed
            raise
        self._requests[name] += 1
        self._check_status(response, path)
        return response

    def _before_send(self, method: str, url: str) -> None:
        """Send nothing more once this update has failed."""
        if self._abort is not None and not HISTORY.get():
            raise self._abort

    def _check_status(self, response: HttpResponse, path: str) -> None:
        """Statuses other than 200 and 401 (the session signal) are typed errors.

        403 is the portal's (or its firewall's) refusal to serve us: a
        connection problem to back off from, not a payload to parse and not
        wrong credentials (a new login would be refused alike).
        """
        what = path.rsplit("/", 1)[-1]
        if response.status == HTTPStatus.FORBIDDEN:
            raise ConnectionFailedError(f"EG4 portal denied {what} (HTTP 403)")
        if response.status not in (HTTPStatus.OK, HTTPStatus.UNAUTHORIZED):
            self._raise_for_status(response, what)
            raise BadPayloadError(
                f"EG4 portal answered {what} with HTTP {response.status}"
            )

    @staticmethod
    def _session_lost(response: HttpResponse) -> bool:
        """A 401 or the HTML login form instead of JSON: the session is gone."""
        return response.status == HTTPStatus.UNAUTHORIZED or (
            is_html(response.text) and LOGIN_FORM.search(response.text) is not None
        )

    @staticmethod
    def _unavailable(response: HttpResponse, what: str) -> None:
        """Another web page (maintenance, a proxy's) means "not now", not a session loss."""
        if is_html(response.text):
            raise ConnectionFailedError(
                f"EG4 portal answered {what} with a web page (maintenance?)"
            )

    async def _call(self, path: str, **form: str) -> Mapping[str, Any]:
        """One data call; any failure but a device's refusal ends the update's sending."""
        try:
            return await self._call_renewing(path, form)
        except Refused:
            raise
        except SungazeError as err:
            if self._abort is None:
                self._abort = err
            raise

    async def _call_renewing(
        self, path: str, form: Mapping[str, str]
    ) -> Mapping[str, Any]:
        """One data call; a lost session is renewed once and the call retried once."""
        key = (path, form.get("serialNum", form.get("plantId", "")))
        what = path.rsplit("/", 1)[-1]
        for retry in (False, True):
            generation = self._generation
            response = await self._post(path, form)
            if self._session_lost(response):
                if retry:
                    raise ConnectionFailedError(
                        "The EG4 portal still answers with its login page after a "
                        "fresh login (is the session cookie kept?)"
                    )
                await self._renew(generation)
                continue
            self._unavailable(response, what)
            payload = response.json(f"EG4 {what}")
            if not isinstance(payload, Mapping):
                raise BadPayloadError(f"EG4 {what} is not a JSON object")
            if payload.get("success", True) is not False:
                self._refused.discard(key)
                return payload
            message = str(payload.get("msg") or payload.get("message") or "")
            if any(word in message.upper() for word in TRANSIENT):
                raise ConnectionFailedError(
                    f"EG4 device did not answer in time: {message}"
                )
            if retry or key in self._refused:
                self._refused.add(key)
                raise Refused(f"EG4 portal refused {what}: {message}")
            await self._renew(generation)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _renew(self, generation: int) -> None:
        """Log in again, once for every caller that saw the same session die."""
        async with self._login_lock:
            if generation != self._generation:
                return  # another caller already renewed it
            self._relogins += 1
            _LOGGER.debug("EG4 session expired; logging in again")
            await self._login()

    async def _login(self) -> None:
        """Clear the jar and log in; keep the plant tree of the reply."""
        if self._session is not None and (host := urlsplit(self.base_url).hostname):
            # Stale cookies sent with the login made re-authentication fail.
            self._session.cookie_jar.clear_domain(host)
        response = await self._post(
            LOGIN,
            {
                "account": self._username,
                "password": self._password,
                "language": "ENGLISH",
            },
        )
        if response.status == HTTPStatus.UNAUTHORIZED:
            raise AuthFailedError("EG4 portal refused the credentials")
        self._unavailable(response, "the login")
        payload = response.json("EG4 login")
        if not isinstance(payload, Mapping):
            raise BadPayloadError("EG4 login reply is not a JSON object")
        if payload.get("success") is not True:
            message = str(payload.get("msg") or payload.get("message") or "")
            if any(word in message.upper() for word in TRANSIENT):
                raise ConnectionFailedError(f"EG4 portal busy: {message}")
            raise AuthFailedError("EG4 portal refused the credentials")
        self._logged_in(payload)
        self._generation += 1
        self._logins += 1
