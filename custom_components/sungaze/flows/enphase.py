"""Enphase config-flow steps: the application's API key, then an OAuth sign-in.

The user's own developer application: its client id and secret are an
application credential, its API key goes into the form. After consent the new
token lists the account's systems; one entry per Enlighten account (unique id
`enphase_<enl_uid>`) follows the chosen systems, and a system another entry
already follows is not offered again. Reauth signs in again (`reauth_oauth`,
the API key optional); reconfigure changes the API key or the systems; the
options choose the developer plan (it sets the request quota).

Token requests authenticate the client with HTTP Basic (Enphase's Spring token
endpoint refuses credentials in the body), parameters form-encoded.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, override

from homeassistant.components.application_credentials import AuthorizationServer
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntry, ConfigFlowResult
from homeassistant.const import CONF_API_KEY
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
)
import probatio
from yarl import URL

from ..connectors.enphase import CONF_PLAN, DEFAULT_PLAN, PLANS
from ..const import CONF_VENDOR
from ..model import Site
from ..oauth import VendorImplementation
from .base import (
    CONF_AUTH_IMPLEMENTATION,
    PASSWORD_SELECTOR,
    SungazeFlowBase,
    flatten,
    validate_input,
)

VENDOR = "enphase"
CONF_SYSTEM_IDS = "system_ids"
AUTHORIZE_URL = "https://api.enphaseenergy.com/oauth/authorize"
TOKEN_URL = "https://api.enphaseenergy.com/oauth/token"  # noqa: S105


class EnphaseImplementation(VendorImplementation):
    """Enphase: HTTP Basic client authentication, form-encoded parameters."""

    @classmethod
    @override
    def authorization_server(cls, url: str | None) -> AuthorizationServer:
        """Enphase's servers; `<origin>/oauth/...` beside an overridden API URL."""
        if not url:
            return AuthorizationServer(AUTHORIZE_URL, TOKEN_URL)
        origin = URL(url).origin()
        return AuthorizationServer(
            str(origin / "oauth" / "authorize"), str(origin / "oauth" / "token")
        )

    @override
    async def _token_request(self, data: dict[str, Any]) -> dict[str, Any]:
        form = {
            k: v for k, v in data.items() if k not in ("client_id", "client_secret")
        }
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode())
        return await self._post(
            data=form, headers={"Authorization": f"Basic {basic.decode()}"}
        )


def _systems_schema(sites: tuple[Site, ...], selected: list[str]) -> probatio.Schema:
    return probatio.Schema(
        {
            probatio.Required(CONF_SYSTEM_IDS, default=selected): SelectSelector(
                SelectSelectorConfig(
                    options=[
                        SelectOptionDict(value=site.id, label=site.name)
                        for site in sites
                    ],
                    multiple=True,
                )
            )
        }
    )


class EnphaseFlow(SungazeFlowBase):
    """Enphase: API key, sign-in, systems."""

    vendor = VENDOR
    oauth_implementation = EnphaseImplementation
    oauth_reauth_fields = (CONF_API_KEY,)
    credential_placeholders = {"enphase_portal": "https://developer-v4.enphase.com"}

    @classmethod
    @override
    def options_fields(
        cls, entry: ConfigEntry, options: Mapping[str, Any]
    ) -> dict[probatio.Marker, Any]:
        """The developer plan: it sets the request quota Sungaze plans with."""
        return {
            probatio.Required(
                CONF_PLAN, default=options.get(CONF_PLAN, DEFAULT_PLAN)
            ): SelectSelector(
                SelectSelectorConfig(options=list(PLANS), translation_key=CONF_PLAN)
            )
        }

    async def async_step_enphase(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the application's API key, then sign in with Enphase."""
        errors: dict[str, str] = {}
        if user_input is not None and not (errors := validate_input(user_input)):
            self._data = flatten({CONF_VENDOR: VENDOR}, user_input)
            return await self.async_step_pick_implementation()
        return self.async_show_form(
            step_id=VENDOR, data_schema=self._key_schema({}), errors=errors
        )

    @override
    async def _async_oauth_granted(self, data: dict[str, Any]) -> ConfigFlowResult:
        """List the systems the new token reaches; add them or renew the grant."""
        data = {**self._data, **data}
        reauth = self.source == SOURCE_REAUTH
        options = self._get_reauth_entry().options if reauth else {}
        errors: dict[str, str] = {}
        account = await self._async_identify(data, errors, options=options)
        if account is None:
            # The token is minutes old: a refusal means the key is another app's.
            reason = errors["base"]
            return self.async_abort(
                reason="invalid_api_key" if reason == "invalid_auth" else reason
            )
        reached = {site.id for site in account.sites}
        if reauth:
            entry = self._get_reauth_entry()
            if not set(entry.data[CONF_SYSTEM_IDS]) <= reached:
                return self.async_abort(reason="wrong_account")
            return self.async_update_reload_and_abort(
                entry,
                data_updates={
                    key: data[key]
                    for key in (CONF_API_KEY, CONF_AUTH_IMPLEMENTATION, "token")
                },
            )
        if not reached:
            return self.async_abort(reason="no_systems")
        owner = data["token"].get("enl_uid") or account.sites[0].id
        await self.async_set_unique_id(f"{VENDOR}_{owner}")
        self._abort_if_unique_id_configured()
        taken = {
            system
            for entry in self._async_current_entries()
            if entry.data.get(CONF_VENDOR) == VENDOR
            for system in entry.data.get(CONF_SYSTEM_IDS, ())
        }
        self._sites = tuple(site for site in account.sites if site.id not in taken)
        self._data = data
        if not self._sites:
            return self.async_abort(reason="already_configured")
        if len(self._sites) == 1:
            return self._async_create_systems(self._sites)
        return await self.async_step_enphase_systems()

    async def async_step_enphase_systems(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick which of the account's systems to add (all by default)."""
        errors: dict[str, str] = {}
        if user_input is not None:
            chosen = tuple(
                s for s in self._sites if s.id in user_input[CONF_SYSTEM_IDS]
            )
            if chosen:
                return self._async_create_systems(chosen)
            errors["base"] = "no_system"
        return self.async_show_form(
            step_id="enphase_systems",
            data_schema=_systems_schema(self._sites, [s.id for s in self._sites]),
            errors=errors,
        )

    def _async_create_systems(self, chosen: tuple[Site, ...]) -> ConfigFlowResult:
        return self.async_create_entry(
            title=", ".join(site.name for site in chosen),
            data={**self._data, CONF_SYSTEM_IDS: [site.id for site in chosen]},
        )

    async def async_step_enphase_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the API key or the systems of an Enphase grant."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        data = dict(entry.data)
        if user_input is not None:
            errors = validate_input(user_input)
            if user_input.get(CONF_API_KEY):
                data[CONF_API_KEY] = user_input[CONF_API_KEY]
        account = None
        if not errors:
            account = await self._async_identify(
                data,
                errors,
                options=entry.options,
                token=await EnphaseFlow.async_token_provider(self.hass, entry),
            )
        if errors.get("base") == "invalid_auth":
            errors["base"] = "invalid_api_key"
        if account is not None:
            self._sites = account.sites
        sites = self._sites or tuple(
            Site(id=system, name=system) for system in entry.data[CONF_SYSTEM_IDS]
        )
        if user_input is not None and account is not None:
            chosen = [s.id for s in sites if s.id in user_input[CONF_SYSTEM_IDS]]
            if chosen:
                return self.async_update_reload_and_abort(
                    entry,
                    title=", ".join(s.name for s in sites if s.id in chosen),
                    data={**data, CONF_SYSTEM_IDS: chosen},
                )
            errors["base"] = "no_system"
        return self.async_show_form(
            step_id="enphase_reconfigure",
            data_schema=probatio.Schema(
                {probatio.Optional(CONF_API_KEY): PASSWORD_SELECTOR}
            ).extend(_systems_schema(sites, entry.data[CONF_SYSTEM_IDS]).schema),
            errors=errors,
        )
