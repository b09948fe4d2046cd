"""SolarEdge config-flow steps: a V2 API key (Fleet access) or site access (OAuth).

* API key: the key form, then the site (one site: at once; several: a choice).
  Unique id `solaredge_<site id>`. Reconfigure changes the key of the same site;
  reauth is the shared `reauth_confirm` (the API key again).
* Site access: the homeowner signs in on SolarEdge's consent page with the
  user's own developer application. SolarEdge returns to the application's
  DEFAULT registered redirect URL without `state`, so Sungaze serves its own
  callback (`SolarEdgeCallbackView`) and finds the flow from `external_id`.
  The new token is checked against the approved site before the entry is made;
  reauth signs in again (the shared `reauth_oauth`); reconfigure has nothing to
  change (the grant names its one site).

Token requests post a JSON body with the client credentials (research note
§1.3.2: five independent clients use connect.solaredge.com for consent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import hashlib
import hmac
import secrets
import time
from typing import Any, override

from aiohttp import web
from homeassistant.components.application_credentials import AuthorizationServer
from homeassistant.config_entries import SOURCE_REAUTH, ConfigFlowResult
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import http
from homeassistant.helpers.config_entry_oauth2_flow import HEADER_FRONTEND_BASE
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.helpers.network import NoURLAvailableError, get_url
from homeassistant.helpers.selector import SelectSelector, SelectSelectorConfig
from homeassistant.util.hass_dict import HassKey
import probatio
from yarl import URL

from ..connectors.base import StaticToken
from ..const import CONF_SITE_ID, CONF_VENDOR, DOMAIN
from ..oauth import VendorImplementation
from .base import (
    CONF_AUTH_IMPLEMENTATION,
    PASSWORD_SELECTOR,
    SECTION_ADVANCED,
    SungazeFlowBase,
    flatten,
    validate_input,
)

VENDOR = "solaredge"
CONF_MODE = "mode"
MODE_API_KEY = "api_key"
MODE_SITE_ACCESS = "site_access"

AUTHORIZE_URL = "https://connect.solaredge.com/authorize"
TOKEN_URL = "https://monitoringapi.solaredge.com/v2/oauth2/token"  # noqa: S105
SCOPE = "SITE_DATA DEVICE_DATA"
ACCESS_MONTHS = "24"
CALLBACK_PATH = f"/api/{DOMAIN}/solaredge/callback"
PENDING_SIGN_IN = 600
"""Seconds a sign-in may take before its callback is refused."""

_SIGNING: HassKey[_SignIns] = HassKey(f"{DOMAIN}_solaredge_sign_ins")


class SolarEdgeImplementation(VendorImplementation):
    """SolarEdge site access: JSON token body; the callback carries no `state`."""

    @classmethod
    @override
    def authorization_server(cls, url: str | None) -> AuthorizationServer:
        """Consent on connect.solaredge.com; beside an overridden API URL in tests."""
        if not url:
            return AuthorizationServer(AUTHORIZE_URL, TOKEN_URL)
        return AuthorizationServer(
            str(URL(url).origin() / "authorize"), f"{url.rstrip('/')}/oauth2/token"
        )

    @override
    async def async_generate_authorize_url(self, flow_id: str) -> str:
        """The consent page returns to the app's DEFAULT registered redirect URL.

        No `redirect_uri` is sent (SolarEdge refuses unexpected ones and always
        uses the DEFAULT one) and no `response_type` (the production client that
        works does not send it). `external_id` comes back on the callback and
        carries the signed flow id; `state` is sent too, in case it ever does.
        """
        reference = sign_flow_id(self.hass, flow_id)
        return str(
            URL(self.authorize_url).with_query(
                {
                    "client_id": self.client_id,
                    "scope": SCOPE,
                    "access_duration": ACCESS_MONTHS,
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


class SolarEdgeFlow(SungazeFlowBase):
    """SolarEdge: a V2 API key, or a homeowner's sign-in (site access)."""

    vendor = VENDOR
    oauth_implementation = SolarEdgeImplementation
    credential_placeholders = {
        "solaredge_portal": "https://developer.solaredge.com",
        "solaredge_callback": CALLBACK_PATH,
    }

    async def async_step_solaredge(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """SolarEdge: a V2 API key (Fleet access) or a homeowner's sign-in."""
        errors: dict[str, str] = {}
        if user_input is not None and not (errors := validate_input(user_input)):
            mode = user_input.get(CONF_MODE, MODE_API_KEY)
            form = {k: v for k, v in user_input.items() if k != CONF_MODE}
            if mode == MODE_SITE_ACCESS:
                form.pop(CONF_API_KEY, None)
                self._data = flatten({CONF_VENDOR: VENDOR}, form)
                await SolarEdgeFlow._async_oauth_prepare(self)
                return await self.async_step_pick_implementation()
            if not form.get(CONF_API_KEY):
                errors[CONF_API_KEY] = "api_key_required"
            else:
                data = flatten({CONF_VENDOR: VENDOR}, form)
                if (account := await self._async_identify(data, errors)) is not None:
                    self._data = data
                    self._sites = account.sites
                    if len(account.sites) == 1:
                        return await self._async_create_site(account.sites[0])
                    return await self.async_step_site()
        schema = self._key_schema({})
        return self.async_show_form(
            step_id=VENDOR,
            data_schema=probatio.Schema(
                {
                    probatio.Required(CONF_MODE, default=MODE_API_KEY): SelectSelector(
                        SelectSelectorConfig(
                            options=[MODE_API_KEY, MODE_SITE_ACCESS],
                            translation_key="solaredge_mode",
                        )
                    ),
                    probatio.Optional(CONF_API_KEY): PASSWORD_SELECTOR,
                    probatio.Required(SECTION_ADVANCED): schema.schema[
                        probatio.Required(SECTION_ADVANCED)
                    ],
                }
            ),
            description_placeholders={"callback": self._callback_url()},
            errors=errors,
        )

    def _callback_url(self) -> str:
        """Where SolarEdge must send the homeowner back (to register as DEFAULT).

        The address the user's browser reaches Home Assistant at, as the frontend
        states it (the same source as HA's own OAuth2 redirect URI,
        `config_entry_oauth2_flow.async_get_redirect_uri`); else HA's configured
        external or internal URL.
        """
        request = http.current_request.get()
        if request is not None and (base := request.headers.get(HEADER_FRONTEND_BASE)):
            return f"{base.rstrip('/')}{CALLBACK_PATH}"
        try:
            base = get_url(self.hass, prefer_external=True)
        except NoURLAvailableError:
            base = "https://<your Home Assistant address>"
        return f"{base}{CALLBACK_PATH}"

    @override
    async def _async_oauth_prepare(self) -> None:
        """Serve the callback SolarEdge's consent page returns to."""
        async_register_callback_view(self.hass)

    @override
    async def _async_oauth_granted(self, data: dict[str, Any]) -> ConfigFlowResult:
        """Check the approved site with the new token; ask for it if unnamed."""
        self._data = {**self._data, **data}
        site_id = self.external_data.get("site_id")
        if self.source == SOURCE_REAUTH:
            site_id = site_id or self._get_reauth_entry().data[CONF_SITE_ID]
        if not site_id:  # the callback did not name the site: ask
            return await self.async_step_solaredge_site_access()
        errors: dict[str, str] = {}
        result = await self._async_site_access(str(site_id), errors)
        return result or self.async_abort(reason=errors["base"])

    async def async_step_solaredge_site_access(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask which site was approved, when SolarEdge did not say."""
        errors: dict[str, str] = {}
        if user_input is not None and not (errors := validate_input(user_input)):
            site_id = str(user_input[CONF_SITE_ID])
            if (result := await self._async_site_access(site_id, errors)) is not None:
                return result
        return self.async_show_form(
            step_id="solaredge_site_access",
            data_schema=probatio.Schema({probatio.Required(CONF_SITE_ID): str}),
            errors=errors,
        )

    async def _async_site_access(
        self, site_id: str, errors: dict[str, str]
    ) -> ConfigFlowResult | None:
        """Check the approved site with the new token; create or update the entry."""
        data = {**self._data, CONF_SITE_ID: site_id}
        account = await self._async_identify(
            data, errors, token=StaticToken(data["token"]["access_token"])
        )
        if account is None:
            if errors["base"] == "invalid_auth":
                errors["base"] = "site_not_approved"
            return None
        site = account.sites[0]
        if self.source == SOURCE_REAUTH:
            entry = self._get_reauth_entry()
            if site.id != entry.data[CONF_SITE_ID]:
                return self.async_abort(reason="wrong_account")
            return self.async_update_reload_and_abort(
                entry,
                data_updates={
                    key: data[key] for key in (CONF_AUTH_IMPLEMENTATION, "token")
                },
            )
        await self.async_set_unique_id(f"{VENDOR}_{site.id}")
        self._abort_if_unique_id_configured()
        return self.async_create_entry(title=site.name, data=data)

    async def async_step_solaredge_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the key (or the API URL) of a site; a sign-in has nothing to change."""
        if CONF_AUTH_IMPLEMENTATION in self._get_reconfigure_entry().data:
            return self.async_abort(reason="reconfigure_site_access")
        return await self._async_reconfigure_key("solaredge_reconfigure", user_input)


# -- the sign-in callback -----------------------------------------------------------


@dataclass(slots=True)
class _SignIns:
    """Flows waiting for a SolarEdge callback, and the key that signs their ids."""

    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    pending: dict[str, float] = field(default_factory=dict)
    view: bool = False


def _sign_ins(hass: HomeAssistant) -> _SignIns:
    return hass.data.setdefault(_SIGNING, _SignIns())


def sign_flow_id(hass: HomeAssistant, flow_id: str) -> str:
    """An opaque, signed reference to a flow, sent as SolarEdge's `external_id`."""
    sign_ins = _sign_ins(hass)
    sign_ins.pending[flow_id] = time.monotonic()
    digest = hmac.new(sign_ins.key, flow_id.encode(), hashlib.sha256).hexdigest()
    return f"{flow_id}.{digest[:32]}"


def _flow_for(hass: HomeAssistant, reference: str | None) -> str | None:
    """The flow a callback belongs to: its signed reference, else the only one."""
    sign_ins = _sign_ins(hass)
    now = time.monotonic()
    for flow_id, started in list(sign_ins.pending.items()):
        if now - started > PENDING_SIGN_IN:
            del sign_ins.pending[flow_id]
    if reference:
        flow_id, _, digest = reference.rpartition(".")
        expected = hmac.new(sign_ins.key, flow_id.encode(), hashlib.sha256).hexdigest()
        if flow_id in sign_ins.pending and hmac.compare_digest(digest, expected[:32]):
            return flow_id
        return None
    if len(sign_ins.pending) == 1:
        # Neither external_id nor state came back: only one sign-in can be meant.
        return next(iter(sign_ins.pending))
    return None


@callback
def async_register_callback_view(hass: HomeAssistant) -> None:
    """Serve the SolarEdge callback (once per HA run)."""
    sign_ins = _sign_ins(hass)
    if not sign_ins.view:
        hass.http.register_view(SolarEdgeCallbackView())
        sign_ins.view = True


class SolarEdgeCallbackView(HomeAssistantView):
    """Where SolarEdge's consent page sends the homeowner back.

    HA's own `/auth/external/callback` needs `state`, which SolarEdge does not
    return; this view finds the flow from `external_id` (echoed by SolarEdge)
    or, failing that, takes the single sign-in started in the last 10 minutes.
    It also keeps `site_id`, which HA's view would drop.
    """

    requires_auth = False
    url = CALLBACK_PATH
    name = f"api:{DOMAIN}:solaredge:callback"

    async def get(self, request: web.Request) -> web.Response:
        """Resume the waiting config flow with the code (or the refusal)."""
        hass = request.app[KEY_HASS]
        query = request.query
        flow_id = _flow_for(hass, query.get("external_id") or query.get("state"))
        if flow_id is None:
            return web.Response(
                status=400,
                text="No Sungaze sign-in is waiting for this answer. "
                "Start adding SolarEdge again in Home Assistant.",
            )
        user_input: dict[str, Any] = {"state": {"flow_id": flow_id}}
        if "code" in query:
            user_input["code"] = query["code"]
            if "site_id" in query:
                user_input["site_id"] = query["site_id"]
        elif "error" in query:
            user_input["error"] = query["error"]
        else:
            return web.Response(status=400, text="Missing code or error parameter")
        _sign_ins(hass).pending.pop(flow_id, None)
        await hass.config_entries.flow.async_configure(
            flow_id=flow_id, user_input=user_input
        )
        return web.Response(
            headers={"content-type": "text/html"},
            text="<script>window.close()</script>Signed in; you can close this tab.",
        )
