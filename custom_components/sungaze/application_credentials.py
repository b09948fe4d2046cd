"""OAuth 2.0 application credentials for the vendors that need them.

A Sungaze application credential (client id and secret, added under Settings >
Application credentials) is vendor-neutral: the same list serves Enphase and
SolarEdge site access. A config flow or a config entry binds it to one vendor
with `bind_implementation`, which returns that vendor's implementation:

* Enphase authenticates the client with HTTP Basic (its Spring token endpoint
  refuses credentials in the body), parameters form-encoded.
* SolarEdge site access posts a JSON body with the client credentials, and its
  consent page does not send `state` back; the flow id travels in
  `external_id`, which SolarEdge echoes (see `oauth.SolarEdgeCallbackView`).

Both map token-endpoint failures the way HA's helper does: 429 and 5xx are
transient, other 4xx mean the grant is dead (re-authentication).

Where the vendor lives: the vendor's own URLs, unless the entry overrides the
API URL (the collapsed "Advanced" section, meant for the simulators). Then the
authorization server is derived from that URL the way the real hosts are laid
out: Enphase `<origin>/oauth/authorize` and `<origin>/oauth/token`; SolarEdge
`<API URL>/oauth2/token` and `<origin>/authorize`.
"""

from __future__ import annotations

import base64
from http import HTTPStatus
import logging
from typing import Any, NoReturn, cast, override

import aiohttp
from homeassistant.components.application_credentials import (
    AuthImplementation,
    AuthorizationServer,
    ClientCredential,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import (
    OAuth2TokenRequestConnectionError,
    OAuth2TokenRequestError,
    OAuth2TokenRequestReauthError,
    OAuth2TokenRequestTransientError,
)
from homeassistant.helpers import config_entry_oauth2_flow
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from yarl import URL

from .const import DOMAIN

_LOGGER = logging.getLogger(__name__)

ENPHASE_AUTHORIZE_URL = "https://api.enphaseenergy.com/oauth/authorize"
ENPHASE_TOKEN_URL = "https://api.enphaseenergy.com/oauth/token"  # noqa: S105
# Five independent clients use connect.solaredge.com (one a merged production
# PR); the `/v2/authorize` URL seen once was a guess. Research note §1.3.2.
SOLAREDGE_AUTHORIZE_URL = "https://connect.solaredge.com/authorize"
SOLAREDGE_TOKEN_URL = "https://monitoringapi.solaredge.com/v2/oauth2/token"  # noqa: S105
SOLAREDGE_SCOPE = "SITE_DATA DEVICE_DATA"
SOLAREDGE_ACCESS_MONTHS = "24"
SOLAREDGE_CALLBACK_PATH = f"/api/{DOMAIN}/solaredge/callback"


def authorization_server(vendor: str, url: str | None) -> AuthorizationServer:
    """The vendor's authorization server, or the one beside an overridden API URL."""
    if vendor == "enphase":
        if not url:
            return AuthorizationServer(ENPHASE_AUTHORIZE_URL, ENPHASE_TOKEN_URL)
        origin = URL(url).origin()
        return AuthorizationServer(
            str(origin / "oauth" / "authorize"), str(origin / "oauth" / "token")
        )
    if vendor == "solaredge":
        if not url:
            return AuthorizationServer(SOLAREDGE_AUTHORIZE_URL, SOLAREDGE_TOKEN_URL)
        return AuthorizationServer(
            str(URL(url).origin() / "authorize"), f"{url.rstrip('/')}/oauth2/token"
        )
    raise ValueError(f"{vendor} does not use OAuth")


def _raise_token_error(err: aiohttp.ClientError, domain: str) -> NoReturn:
    """Re-raise a failed token request as HA's matching OAuth2 token error."""
    if not isinstance(err, aiohttp.ClientResponseError):
        raise OAuth2TokenRequestConnectionError(domain=domain) from err
    kwargs: dict[str, Any] = {
        "request_info": err.request_info,
        "history": err.history,
        "status": err.status,
        "message": err.message,
        "headers": err.headers,
        "domain": domain,
    }
    if err.status == HTTPStatus.TOO_MANY_REQUESTS or err.status >= 500:
        raise OAuth2TokenRequestTransientError(**kwargs) from err
    if 400 <= err.status < 500:
        raise OAuth2TokenRequestReauthError(**kwargs) from err
    raise OAuth2TokenRequestError(**kwargs) from err


class SungazeCredential(AuthImplementation):
    """A client id and secret not yet bound to a vendor (listing only)."""

    @override
    async def async_generate_authorize_url(self, flow_id: str) -> str:
        raise NotImplementedError("Bind the credential to a vendor first")

    @override
    async def _token_request(self, data: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError("Bind the credential to a vendor first")


class _VendorImplementation(AuthImplementation):
    """Shared token-request plumbing: post, check, map failures."""

    async def _post(self, **kwargs: Any) -> dict[str, Any]:
        session = async_get_clientsession(self.hass)
        try:
            response = await session.post(self.token_url, **kwargs)
            async with response:
                if response.status >= 400:
                    # The body names the OAuth error; never log it (it can echo
                    # the refresh token, as Spring's invalid_grant does).
                    _LOGGER.debug(
                        "Token request to %s failed with %s",
                        URL(self.token_url).origin(),
                        response.status,
                    )
                response.raise_for_status()
                return cast(dict[str, Any], await response.json(content_type=None))
        except aiohttp.ClientError as err:
            _raise_token_error(err, DOMAIN)


class EnphaseImplementation(_VendorImplementation):
    """Enphase: HTTP Basic client authentication, form-encoded parameters."""

    @override
    async def _token_request(self, data: dict[str, Any]) -> dict[str, Any]:
        form = {
            k: v for k, v in data.items() if k not in ("client_id", "client_secret")
        }
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode())
        return await self._post(
            data=form, headers={"Authorization": f"Basic {basic.decode()}"}
        )


class SolarEdgeImplementation(_VendorImplementation):
    """SolarEdge site access: JSON token body; the callback carries no `state`."""

    @override
    async def async_generate_authorize_url(self, flow_id: str) -> str:
        """The consent page returns to the app's DEFAULT registered redirect URL.

        No `redirect_uri` is sent (SolarEdge refuses unexpected ones and always
        uses the DEFAULT one) and no `response_type` (the production client that
        works does not send it). `external_id` comes back on the callback and
        carries the signed flow id; `state` is sent too, in case it ever does.
        """
        from .oauth import sign_flow_id

        reference = sign_flow_id(self.hass, flow_id)
        return str(
            URL(self.authorize_url).with_query(
                {
                    "client_id": self.client_id,
                    "scope": SOLAREDGE_SCOPE,
                    "access_duration": SOLAREDGE_ACCESS_MONTHS,
                    "external_id": reference,
                    "state": reference,
                }
            )
        )

    @override
    async def async_resolve_external_data(self, external_data: Any) -> dict[str, Any]:
        """Exchange the code; the redirect URI is the registered one (not sent)."""
        return await self._token_request(
            {"grant_type": "authorization_code", "code": external_data["code"]}
        )

    @override
    async def _token_request(self, data: dict[str, Any]) -> dict[str, Any]:
        return await self._post(
            json={
                **data,
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            }
        )


_VENDORS: dict[str, type[_VendorImplementation]] = {
    "enphase": EnphaseImplementation,
    "solaredge": SolarEdgeImplementation,
}


def bind_implementation(
    hass: HomeAssistant,
    credential: config_entry_oauth2_flow.AbstractOAuth2Implementation,
    vendor: str,
    url: str | None,
) -> _VendorImplementation:
    """The credential's implementation for one vendor (and its URLs)."""
    if not isinstance(credential, config_entry_oauth2_flow.LocalOAuth2Implementation):
        raise TypeError(f"Unexpected OAuth implementation {credential!r}")
    return _VENDORS[vendor](
        hass,
        credential.domain,
        ClientCredential(
            credential.client_id, credential.client_secret, credential.name
        ),
        authorization_server(vendor, url),
    )


async def async_get_auth_implementation(
    hass: HomeAssistant, auth_domain: str, credential: ClientCredential
) -> config_entry_oauth2_flow.AbstractOAuth2Implementation:
    """Each stored credential, unbound until a flow or an entry picks a vendor."""
    return SungazeCredential(
        hass,
        auth_domain,
        credential,
        AuthorizationServer(authorize_url="", token_url=""),
    )


async def async_get_description_placeholders(hass: HomeAssistant) -> dict[str, str]:
    """Links and redirect URLs for the credentials dialog."""
    return {
        "enphase_portal": "https://developer-v4.enphase.com",
        "solaredge_portal": "https://developer.solaredge.com",
        "redirect_url": config_entry_oauth2_flow.MY_AUTH_CALLBACK_PATH,
        "solaredge_callback": SOLAREDGE_CALLBACK_PATH,
    }
