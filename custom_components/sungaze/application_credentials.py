"""OAuth 2.0 application credentials (HA's Application Credentials platform).

A Sungaze application credential (client id and secret, added under Settings >
Application credentials) is vendor-neutral: the same list serves every vendor
that signs in with OAuth. A config flow or a config entry binds it to one
vendor with that vendor's `oauth.VendorImplementation` (declared by its flow
class in `flows/`), which knows the vendor's servers and token-request quirks.

Imports: this module builds on `flows` (for the vendors' dialog texts), and
`flows` build on `oauth`; nothing imports this module back (no import loop).
"""

from __future__ import annotations

from typing import Any, override

from homeassistant.components.application_credentials import (
    AuthImplementation,
    AuthorizationServer,
    ClientCredential,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_entry_oauth2_flow

from .flows import FLOWS


class SungazeCredential(AuthImplementation):
    """A client id and secret not yet bound to a vendor (listing only)."""

    @override
    async def async_generate_authorize_url(self, flow_id: str) -> str:
        raise NotImplementedError("Bind the credential to a vendor first")

    @override
    async def _token_request(self, data: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError("Bind the credential to a vendor first")


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
    """Links and redirect URLs for the credentials dialog (from every OAuth vendor)."""
    placeholders = {"redirect_url": config_entry_oauth2_flow.MY_AUTH_CALLBACK_PATH}
    for flow in FLOWS:
        placeholders.update(flow.credential_placeholders)
    return placeholders
