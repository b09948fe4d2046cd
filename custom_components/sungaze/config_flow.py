"""Config flow: pick a vendor, prove the credentials, pick the site."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_API_KEY, CONF_PASSWORD, CONF_URL, CONF_USERNAME
from homeassistant.core import callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import voluptuous as vol

from .config_flow_cps import CONF_TRANSPORT, CpsFlowMixin
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
from .connectors.eg4 import CONF_STATION_IDS, DEFAULT_URL as EG4_DEFAULT_URL, PORTALS
from .const import (
    CONF_MIN_INTERVAL,
    CONF_SITE_ID,
    CONF_VENDOR,
    DOMAIN,
    LOGGER,
    VENDOR_NAMES,
)
from .coordinator import SungazeConfigEntry, build_connector, min_sustainable_minutes
from .model import Site

SECTION_ADVANCED = "advanced"
_PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
_URL = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
_USERNAME = TextSelector(
    TextSelectorConfig(type=TextSelectorType.TEXT, autocomplete="username")
)

SECRETS: dict[str, str] = {"eg4": CONF_PASSWORD}
"""The credential a reauth asks for, by vendor; an API key unless listed."""


class SungazeConfigFlow(CpsFlowMixin, ConfigFlow, domain=DOMAIN):
    """Add one vendor account (or one site of it) to Home Assistant."""

    VERSION = 1

    def __init__(self) -> None:
        """Start with nothing chosen."""
        self._data: dict[str, Any] = {}
        self._sites: tuple[Site, ...] = ()
        self._account: AccountInfo | None = None

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> SungazeOptionsFlow:
        """Return the options flow."""
        return SungazeOptionsFlow()

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
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

    @staticmethod
    def _key_schema(defaults: Mapping[str, Any]) -> vol.Schema:
        """The API key, and the API URL override in a collapsed section."""
        return vol.Schema(
            {
                vol.Required(CONF_API_KEY): _PASSWORD,
                vol.Required(SECTION_ADVANCED): section(
                    vol.Schema(
                        {
                            vol.Optional(
                                CONF_URL,
                                description={"suggested_value": defaults.get(CONF_URL)},
                            ): _URL
                        }
                    ),
                    {"collapsed": True},
                ),
            }
        )

    async def async_step_solaredge(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a SolarEdge V2 API key."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _flatten({CONF_VENDOR: "solaredge"}, user_input)
            if (account := await self._async_identify(data, errors)) is not None:
                self._data = data
                self._sites = account.sites
                if len(account.sites) == 1:
                    return await self._async_create_site(account.sites[0])
                return await self.async_step_site()
        return self.async_show_form(
            step_id="solaredge", data_schema=self._key_schema({}), errors=errors
        )

    async def async_step_eg4(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the EG4 / Luxpower monitor account and the portal it lives on."""
        errors: dict[str, str] = {}
        reconfigure = self.source == SOURCE_RECONFIGURE
        defaults: Mapping[str, Any] = (
            self._get_reconfigure_entry().data
            if reconfigure
            else {CONF_URL: EG4_DEFAULT_URL}
        )
        if user_input is not None:
            data = {CONF_VENDOR: "eg4", **user_input}
            if (account := await self._async_identify(data, errors)) is not None:
                await self.async_set_unique_id(f"eg4_{account.unique_id}")
                if reconfigure:
                    self._abort_if_unique_id_mismatch(reason="wrong_account")
                else:
                    self._abort_if_unique_id_configured()
                if account.sites:
                    self._data, self._account = data, account
                    return await self.async_step_eg4_stations()
                errors["base"] = "no_stations"
        # A typed URL is accepted too (another regional server, a simulator):
        # HA 2026.10 has no advanced mode any more (`show_advanced_options` is
        # deprecated and always true).
        portal = SelectSelector(
            SelectSelectorConfig(
                options=[
                    SelectOptionDict(value=url, label=label)
                    for url, label in PORTALS.items()
                ],
                custom_value=True,
                mode=SelectSelectorMode.DROPDOWN,
            )
        )
        schema = vol.Schema(
            {
                vol.Required(CONF_USERNAME): _USERNAME,
                vol.Required(CONF_PASSWORD): _PASSWORD,
                vol.Required(CONF_URL): portal,
            }
        )
        suggested = {**defaults, **(user_input or {})}
        suggested.pop(CONF_PASSWORD, None)
        return self.async_show_form(
            step_id="eg4",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
        )

    async def async_step_eg4_stations(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick the account's stations to add (all of them by default)."""
        if (
            account := self._account
        ) is None:  # pragma: no cover - only after the eg4 step
            return await self.async_step_eg4()
        errors: dict[str, str] = {}
        if user_input is not None:
            if chosen := [str(station) for station in user_input[CONF_STATION_IDS]]:
                data = {**self._data, CONF_STATION_IDS: chosen}
                if self.source == SOURCE_RECONFIGURE:
                    return self.async_update_reload_and_abort(
                        self._get_reconfigure_entry(), data=data
                    )
                return self.async_create_entry(title=account.title, data=data)
            errors[CONF_STATION_IDS] = "no_station_selected"
        ids = [site.id for site in account.sites]
        chosen = ids
        if self.source == SOURCE_RECONFIGURE:
            current = self._get_reconfigure_entry().data.get(CONF_STATION_IDS, ids)
            chosen = [sid for sid in ids if sid in current] or ids
        found = "\n".join(
            f"- {site.name}: "
            + (
                ", ".join(d.name for d in account.devices if d.site_id == site.id)
                or "-"
            )
            for site in account.sites
        )
        return self.async_show_form(
            step_id="eg4_stations",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_STATION_IDS, default=chosen): SelectSelector(
                        SelectSelectorConfig(
                            options=[
                                SelectOptionDict(value=site.id, label=site.name)
                                for site in account.sites
                            ],
                            multiple=True,
                            mode=SelectSelectorMode.LIST,
                        )
                    )
                }
            ),
            description_placeholders={"stations": found},
            errors=errors,
        )

    async def async_step_site(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
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
                {
                    vol.Required(CONF_SITE_ID): SelectSelector(
                        SelectSelectorConfig(options=options)
                    )
                }
            ),
        )

    async def _async_create_site(self, site: Site) -> ConfigFlowResult:
        await self.async_set_unique_id(f"{self._data[CONF_VENDOR]}_{site.id}")
        self._abort_if_unique_id_configured()
        return self.async_create_entry(
            title=site.name, data={**self._data, CONF_SITE_ID: site.id}
        )

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """The vendor refused the stored credentials."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask again for the secret the vendor refused (API key or password)."""
        entry = self._get_reauth_entry()
        if entry.data[CONF_VENDOR] == "cps":
            return await self.async_step_reauth_cps(user_input)
        vendor = entry.data[CONF_VENDOR]
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, **user_input}
            if (account := await self._async_identify(data, errors)) is not None:
                if _same_account(entry, account):
                    return self.async_update_reload_and_abort(
                        entry, data_updates=user_input
                    )
                errors["base"] = (
                    "wrong_site" if CONF_SITE_ID in entry.data else "wrong_account"
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema(
                {vol.Required(SECRETS.get(vendor, CONF_API_KEY)): _PASSWORD}
            ),
            description_placeholders={
                "title": entry.title,
                "vendor": VENDOR_NAMES[vendor],
            },
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the key (or the API URL) of an existing site."""
        entry = self._get_reconfigure_entry()
        if entry.data[CONF_VENDOR] == "eg4":
            return await self.async_step_eg4()
        if entry.data[CONF_VENDOR] == "cps":
            return await self.async_reconfigure_cps(
                entry.data[CONF_TRANSPORT], user_input
            )
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _flatten(entry.data, user_input)
            if (account := await self._async_identify(data, errors)) is not None:
                if _same_account(entry, account):
                    return self.async_update_reload_and_abort(entry, data=data)
                errors["base"] = "wrong_site"
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self._key_schema(entry.data),
            errors=errors,
        )


def _flatten(base: Mapping[str, Any], user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Merge a form into entry data; an emptied URL override is removed."""
    data = {**base, **user_input}
    advanced = data.pop(SECTION_ADVANCED, {})
    data.pop(CONF_URL, None)
    if url := advanced.get(CONF_URL):
        data[CONF_URL] = url
    return data


def _same_account(entry: ConfigEntry, account: AccountInfo) -> bool:
    """Whether re-entered credentials still reach the entry's site or account."""
    if CONF_SITE_ID in entry.data:
        return any(site.id == entry.data[CONF_SITE_ID] for site in account.sites)
    return entry.unique_id == f"{entry.data[CONF_VENDOR]}_{account.unique_id}"


class SungazeOptionsFlow(OptionsFlow):
    """How often to update, within what the vendor's quota sustains."""

    config_entry: SungazeConfigEntry

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
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
                            min=1,
                            max=180,
                            step=1,
                            unit_of_measurement="min",
                            mode=NumberSelectorMode.BOX,
                        )
                    )
                }
            ),
            description_placeholders={"floor": str(floor)},
            errors=errors,
        )
