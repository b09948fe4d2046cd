"""SolarEdge V2 "site access": the OAuth 2.0 side of the SolarEdge simulator.

Behaviour from ``/work/shared/api/solaredge-v2-and-enphase-oauth.md`` §1.3 (Kong
3.7.1's ``oauth2`` plugin in front of SolarEdge Connect):

* ``GET /authorize`` (SolarEdge Connect's consent page): the homeowner of
  ``owner_sites`` approves and is sent to the application's DEFAULT
  registered redirect URL with ``code`` and ``site_id`` (plus ``external_id``
  when the request had one) and **without** ``state``, as captured live. A
  ``redirect_uri`` that is not registered is refused; a homeowner with several
  sites is refused ("Multi-site access is not supported yet by this service").
* ``POST /v2/oauth2/token``: parameters from the query string, a form or a JSON
  body; client credentials from the parameters or HTTP Basic. Codes live 300 s
  and are single-use; ``redirect_uri`` is optional but must be registered.
  Access tokens last 7,200 s; every refresh issues a new pair and deletes the
  old one (``reuse_refresh_token=false``). Errors are Kong's, word for word:
  ``invalid_client``, ``invalid_request`` "Invalid code" / "Invalid
  refresh_token", ``unsupported_grant_type``.
* A token is bound to the site it was granted for; the account-wide ``/sites``
  and ``/alerts`` accept only an API key.

Fault switches: ``deny_next()``, ``token_fail_next(status)``, ``hold_tokens``
(an ``asyncio.Event`` awaited after a rotation is stored), ``kill_grants()``,
``echo_external_id`` and ``send_site_id`` (set False: a callback without them).
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import json
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiohttp import web

__all__ = ["SiteAccessServer", "SiteApp"]

_CODE_TTL = timedelta(seconds=300)
_INVALID_REDIRECT = (
    "Invalid redirect_uri that does not match with any redirect_uri created "
    "with the application"
)


@dataclass
class SiteApp:
    """A site-access application in the SolarEdge developer console."""

    client_id: str = "se-site-access-client"
    client_secret: str = "se-site-access-secret"
    redirect_urls: list[str] = field(
        default_factory=lambda: ["https://example.com/api/sungaze/solaredge/callback"]
    )
    """Registered redirect URLs; the first is the DEFAULT one."""


@dataclass
class _Grant:
    client_id: str
    site_id: int
    expires: datetime
    pair: str | None = None


class _KongError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.body = {"error": error, "error_description": description}


class SiteAccessServer:
    """SolarEdge Connect's consent page and Kong's token endpoint."""

    def __init__(self, owner_sites: list[int], app: SiteApp | None = None) -> None:
        """Serve one application for a homeowner owning ``owner_sites``."""
        self.app = app or SiteApp()
        self.owner_sites = owner_sites
        self.access_lifetime = timedelta(seconds=7200)
        self.refresh_lifetime = timedelta(days=30)
        self.access_tokens: dict[str, _Grant] = {}
        self.refresh_tokens: dict[str, _Grant] = {}
        self.codes: dict[str, _Grant] = {}
        self.token_requests: list[str] = []
        self.hold_tokens: asyncio.Event | None = None
        self.echo_external_id = True
        self.send_site_id = True
        self._deny = 0
        self._token_failures: list[int] = []

    # -- switches ----------------------------------------------------------------

    def deny_next(self) -> None:
        """The homeowner declines the next consent."""
        self._deny += 1

    def token_fail_next(self, status: int) -> None:
        """The next token request fails with ``status``."""
        self._token_failures.append(status)

    def kill_grants(self) -> None:
        """Revoke every grant (refresh tokens become unknown)."""
        self.refresh_tokens.clear()

    def mint(self, site_id: int | None = None) -> dict[str, Any]:
        """A token pair as a completed consent would give, with HA's `expires_at`."""
        body = self._issue(self.app.client_id, site_id or self.owner_sites[0])
        expires = datetime.now(UTC) + timedelta(seconds=body["expires_in"])
        return {**body, "expires_at": expires.timestamp()}

    def site_for(self, token: str) -> int | None:
        """The site a valid access token was granted for."""
        grant = self.access_tokens.get(token)
        if grant is None or grant.expires <= datetime.now(UTC):
            return None
        return grant.site_id

    def valid_refresh_tokens(self) -> set[str]:
        """Refresh tokens that would be accepted now."""
        now = datetime.now(UTC)
        return {t for t, g in self.refresh_tokens.items() if g.expires > now}

    # -- consent page --------------------------------------------------------------

    async def authorize(self, request: web.Request) -> web.StreamResponse:
        """SolarEdge Connect: sign in as the homeowner and approve."""
        query = request.query
        if query.get("client_id") != self.app.client_id:
            return web.json_response(
                {"error": "invalid_request", "error_description": "Invalid client_id"},
                status=400,
            )
        redirect = query.get("redirect_uri")
        if redirect is not None and redirect not in self.app.redirect_urls:
            return web.json_response(
                {"error": "invalid_request", "error_description": _INVALID_REDIRECT},
                status=400,
            )
        if len(self.owner_sites) != 1:
            return web.Response(
                status=400,
                content_type="text/html",
                text="user is associated to multiple SolarEdge sites. Multi-site "
                "access is not supported yet by this service.",
            )
        params: dict[str, str] = {}
        if self._deny:
            self._deny -= 1
            params["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(12)
            self.codes[code] = _Grant(
                self.app.client_id,
                self.owner_sites[0],
                datetime.now(UTC) + _CODE_TTL,
            )
            params["code"] = code
            if self.send_site_id:
                params["site_id"] = str(self.owner_sites[0])
        if "external_id" in query and self.echo_external_id:
            params["external_id"] = query["external_id"]
        # Captured live: the callback carries no `state`, whatever was sent.
        target = urlsplit(self.app.redirect_urls[0])
        merged = [*parse_qsl(target.query), *params.items()]
        raise web.HTTPFound(urlunsplit(target._replace(query=urlencode(merged))))

    # -- token endpoint --------------------------------------------------------------

    async def token(self, request: web.Request) -> web.StreamResponse:
        """Kong's ``/oauth2/token``: form, JSON or query; body or Basic credentials."""
        if request.method != "POST":
            return web.json_response(
                {
                    "error": "invalid_method",
                    "error_description": "The HTTP method GET is invalid for the token endpoint",
                },
                status=405,
            )
        params: dict[str, str] = dict(request.query)
        if request.content_type == "application/json":
            try:
                body = json.loads(await request.text())
            except ValueError:
                body = {}
            if isinstance(body, dict):
                params.update({k: str(v) for k, v in body.items()})
        elif request.content_type == "application/x-www-form-urlencoded":
            params.update((k, str(v)) for k, v in (await request.post()).items())
        self.token_requests.append(params.get("grant_type", ""))
        if self._token_failures:
            status = self._token_failures.pop(0)
            return web.json_response(
                {"message": "An unexpected error occurred"}, status=status
            )
        try:
            answer = self._grant(request, params)
        except _KongError as err:
            response = web.json_response(err.body, status=err.status)
            if err.status == 401:
                response.headers["WWW-Authenticate"] = 'Basic realm="OAuth2.0"'
            return response
        if self.hold_tokens is not None:
            await self.hold_tokens.wait()
        return web.json_response(answer)

    def _client(self, request: web.Request, params: dict[str, str]) -> str:
        client_id, secret = params.get("client_id"), params.get("client_secret")
        basic = False
        header = request.headers.get("Authorization", "")
        if client_id is None and header.lower().startswith("basic "):
            basic = True
            try:
                raw = base64.b64decode(header[6:]).decode()
            except ValueError:
                raw = ":"
            client_id, _, secret = raw.partition(":")
        if client_id != self.app.client_id or secret != self.app.client_secret:
            raise _KongError(
                401 if basic else 400, "invalid_client", "Invalid client authentication"
            )
        return client_id

    def _grant(self, request: web.Request, params: dict[str, str]) -> dict[str, Any]:
        grant_type = params.get("grant_type")
        if grant_type not in ("authorization_code", "refresh_token"):
            raise _KongError(400, "unsupported_grant_type", "Invalid grant_type")
        client_id = self._client(request, params)
        redirect = params.get("redirect_uri")
        if redirect is not None and redirect not in self.app.redirect_urls:
            raise _KongError(400, "invalid_request", _INVALID_REDIRECT)
        now = datetime.now(UTC)
        if grant_type == "authorization_code":
            code = self.codes.pop(params.get("code", ""), None)
            if code is None or code.expires <= now:
                raise _KongError(400, "invalid_request", "Invalid code")
            return self._issue(client_id, code.site_id)
        old = self.refresh_tokens.pop(params.get("refresh_token", ""), None)
        if old is None or old.expires <= now:
            raise _KongError(400, "invalid_request", "Invalid refresh_token")
        self.access_tokens.pop(old.pair or "", None)
        return self._issue(client_id, old.site_id)

    def _issue(self, client_id: str, site_id: int) -> dict[str, Any]:
        now = datetime.now(UTC)
        access, refresh = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
        self.access_tokens[access] = _Grant(
            client_id, site_id, now + self.access_lifetime
        )
        self.refresh_tokens[refresh] = _Grant(
            client_id, site_id, now + self.refresh_lifetime, pair=access
        )
        return {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": int(self.access_lifetime.total_seconds()),
            "refresh_token": refresh,
        }
