"""Config flow: pick a vendor, prove the credentials, pick the site."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import voluptuous as vol

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_API_KEY, CONF_URL
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .connectors import CONNECTORS
from .connectors.base import (
    AccountInfo,
    ApiRetiredError,
    AuthFailedError,
    ConnectionFailedError,
    NoDataError,
    RateLimitedError,
    SungazeError,
)
from .config_flow_cps import CONF_TRANSPORT, CpsFlowMixin
from .const import CONF_MIN_INTERVAL, CONF_SITE_ID, CONF_VENDOR, DOMAIN, LOGGER
from .coordinator import SungazeConfigEntry, build_connector, min_sustainable_minutes
from .model import Site

_PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
_URL = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))


class SungazeConfigFlow(CpsFlowMixin, ConfigFlow, domain=DOMAIN):
    """Add one vendor account (or one site of it) to Home Assistant."""

    VERSION = 1

    def __init__(self) -> None:
        """Start with nothing chosen."""
        self._data: dict[str, Any] = {}
        self._sites: tuple[Site, ...] = ()

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> SungazeOptionsFlow:
        """Return the options flow."""
        return SungazeOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Offer the vendors Sungaze can talk to."""
        return self.async_show_menu(step_id="user", menu_options=sorted(CONNECTORS))

    async def _async_identify(
        self, data: Mapping[str, Any], errors: dict[str, str]
    ) -> AccountInfo | None:
        """Try the credentials; fill `errors` with the reason when they fail."""
        try:
            return await build_connector(self.hass, data).async_identify()
        except AuthFailedError:
            errors["base"] = "invalid_auth"
        except ApiRetiredError:
            errors["base"] = "api_retired"
        except RateLimitedError:
            errors["base"] = "rate_limited"
        except NoDataError:
            errors["base"] = "no_data"
        except ConnectionFailedError:
            errors["base"] = "cannot_connect"
        except SungazeError:
            LOGGER.exception("Unexpected answer while checking credentials")
            errors["base"] = "unknown"
        return None

    def _key_schema(self, defaults: Mapping[str, Any]) -> vol.Schema:
        fields: dict[Any, Any] = {vol.Required(CONF_API_KEY): _PASSWORD}
        if self.show_advanced_options:
            fields[vol.Optional(CONF_URL, description={"suggested_value": defaults.get(CONF_URL)})] = _URL
        return vol.Schema(fields)

    async def async_step_solaredge(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a SolarEdge V2 API key."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {CONF_VENDOR: "solaredge", **user_input}
            if (account := await self._async_identify(data, errors)) is not None:
                self._data = data
                self._sites = account.sites
                if len(account.sites) == 1:
                    return await self._async_create_site(account.sites[0])
                return await self.async_step_site()
        return self.async_show_form(
            step_id="solaredge", data_schema=self._key_schema({}), errors=errors
        )

    async def async_step_site(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick one of the account's sites."""
        if user_input is not None:
            site = next(s for s in self._sites if s.id == user_input[CONF_SITE_ID])
            return await self._async_create_site(site)
        configured = {entry.unique_id for entry in self._async_current_entries()}
        options = [
            SelectOptionDict(value=site.id, label=site.name)
            for site in self._sites
            if f"{self._data[CONF_VENDOR]}_{site.id}" not in configured
        ]
        if not options:
            return self.async_abort(reason="already_configured")
        return self.async_show_form(
            step_id="site",
            data_schema=vol.Schema(
                {vol.Required(CONF_SITE_ID): SelectSelector(SelectSelectorConfig(options=options))}
            ),
        )

    async def _async_create_site(self, site: Site) -> ConfigFlowResult:
        await self.async_set_unique_id(f"{self._data[CONF_VENDOR]}_{site.id}")
        self._abort_if_unique_id_configured()
        return self.async_create_entry(
            title=site.name, data={**self._data, CONF_SITE_ID: site.id}
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The vendor refused the stored credentials."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a new API key for the same site."""
        entry = self._get_reauth_entry()
        if entry.data[CONF_VENDOR] == "cps":
            return await self.async_step_reauth_cps(user_input)
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, **user_input}
            if (account := await self._async_identify(data, errors)) is not None:
                if any(site.id == entry.data[CONF_SITE_ID] for site in account.sites):
                    return self.async_update_reload_and_abort(entry, data_updates=user_input)
                errors["base"] = "wrong_site"
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_API_KEY): _PASSWORD}),
            description_placeholders={"title": entry.title},
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the key (or the API URL) of an existing site."""
        entry = self._get_reconfigure_entry()
        if entry.data[CONF_VENDOR] == "cps":
            return await self.async_reconfigure_cps(entry.data[CONF_TRANSPORT], user_input)
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, **user_input}
            if CONF_URL not in user_input:
                data.pop(CONF_URL, None)
            if (account := await self._async_identify(data, errors)) is not None:
                if any(site.id == entry.data[CONF_SITE_ID] for site in account.sites):
                    return self.async_update_reload_and_abort(entry, data=data)
                errors["base"] = "wrong_site"
        return self.async_show_form(
            step_id="reconfigure", data_schema=self._key_schema(entry.data), errors=errors
        )


class SungazeOptionsFlow(OptionsFlow):
    """How often to update, within what the vendor's quota sustains."""

    config_entry: SungazeConfigEntry

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the shortest interval between updates."""
        errors: dict[str, str] = {}
        floor = min_sustainable_minutes(self.hass, self.config_entry)
        if user_input is not None:
            minutes = user_input.get(CONF_MIN_INTERVAL)
            if minutes is not None and minutes < floor:
                errors[CONF_MIN_INTERVAL] = "interval_too_short"
            else:
                return self.async_create_entry(data=user_input)
        current = self.config_entry.options.get(CONF_MIN_INTERVAL)
        return self.async_show_form(
            step_id="init",
            data_schema=vol.Schema(
                {
                    vol.Optional(
                        CONF_MIN_INTERVAL, description={"suggested_value": current}
                    ): NumberSelector(
                        NumberSelectorConfig(
                            min=1, max=180, step=1, unit_of_measurement="min", mode=NumberSelectorMode.BOX
                        )
                    )
                }
            ),
            description_placeholders={"floor": str(floor)},
            errors=errors,
        )
