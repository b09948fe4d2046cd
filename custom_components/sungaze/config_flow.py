"""Config flow: pick a vendor, prove the credentials, pick the site."""

from __future__ import annotations

from collections.abc import Mapping
import logging
from typing import Any

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_API_KEY, CONF_PASSWORD, CONF_URL, CONF_USERNAME
from homeassistant.core import callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers import config_entry_oauth2_flow, http
from homeassistant.helpers.config_entry_oauth2_flow import HEADER_FRONTEND_BASE
from homeassistant.helpers.network import NoURLAvailableError, get_url
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

from .application_credentials import SOLAREDGE_CALLBACK_PATH, bind_implementation
from .config_flow_cps import CONF_TRANSPORT, CpsFlowMixin
from .connectors import CONNECTORS
from .connectors.base import (
    AccountInfo,
    ApiRetiredError,
    AuthFailedError,
    ConnectionFailedError,
    Connector,
    NoDataError,
    RateLimitedError,
    StaticToken,
    SungazeError,
)
from .connectors.eg4 import CONF_STATION_IDS, DEFAULT_URL as EG4_DEFAULT_URL, PORTALS
from .connectors.enphase import CONF_PLAN, DEFAULT_PLAN, PLANS
from .const import (
    CONF_MIN_INTERVAL,
    CONF_SITE_ID,
    CONF_VENDOR,
    DOMAIN,
    LOGGER,
    VENDOR_NAMES,
)
from .coordinator import (
    SungazeConfigEntry,
    build_connector,
    min_sustainable_minutes,
    shared_limiter,
)
from .model import Site
from .oauth import async_register_callback_view, async_token_provider

SECTION_ADVANCED = "advanced"
CONF_MODE = "mode"
MODE_API_KEY = "api_key"
MODE_SITE_ACCESS = "site_access"
CONF_SYSTEM_IDS = "system_ids"
CONF_AUTH_IMPLEMENTATION = "auth_implementation"
_PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
_URL = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
_USERNAME = TextSelector(
    TextSelectorConfig(type=TextSelectorType.TEXT, autocomplete="username")
)

SECRETS: dict[str, str] = {"eg4": CONF_PASSWORD}
"""The credential a reauth asks for, by vendor; an API key unless listed."""


class SungazeConfigFlow(
    CpsFlowMixin, config_entry_oauth2_flow.AbstractOAuth2FlowHandler, domain=DOMAIN
):
    """Add one vendor account (or one site of it) to Home Assistant.

    API-key vendors are plain forms; OAuth vendors (Enphase) go through HA's
    OAuth flow with an application credential bound to the vendor's servers.
    """

    DOMAIN = DOMAIN
    VERSION = 1

    def __init__(self) -> None:
        """Start with nothing chosen."""
        super().__init__()
        self._data: dict[str, Any] = {}
        self._sites: tuple[Site, ...] = ()
        self._account: AccountInfo | None = None

    @property
    def logger(self) -> logging.Logger:
        """The logger HA's OAuth flow reports to."""
        return LOGGER

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
        return await self._async_identify_with(build_connector(self.hass, data), errors)

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
        """SolarEdge: a V2 API key (Fleet access) or a homeowner's sign-in."""
        errors: dict[str, str] = {}
        if user_input is not None:
            mode = user_input.get(CONF_MODE, MODE_API_KEY)
            form = {k: v for k, v in user_input.items() if k != CONF_MODE}
            if mode == MODE_SITE_ACCESS:
                form.pop(CONF_API_KEY, None)
                self._data = _flatten({CONF_VENDOR: "solaredge"}, form)
                async_register_callback_view(self.hass)
                return await self.async_step_pick_implementation()
            if not form.get(CONF_API_KEY):
                errors[CONF_API_KEY] = "api_key_required"
            else:
                data = _flatten({CONF_VENDOR: "solaredge"}, form)
                if (account := await self._async_identify(data, errors)) is not None:
                    self._data = data
                    self._sites = account.sites
                    if len(account.sites) == 1:
                        return await self._async_create_site(account.sites[0])
                    return await self.async_step_site()
        schema = self._key_schema({})
        return self.async_show_form(
            step_id="solaredge",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_MODE, default=MODE_API_KEY): SelectSelector(
                        SelectSelectorConfig(
                            options=[MODE_API_KEY, MODE_SITE_ACCESS],
                            translation_key="solaredge_mode",
                        )
                    ),
                    vol.Optional(CONF_API_KEY): _PASSWORD,
                    vol.Required(SECTION_ADVANCED): schema.schema[
                        vol.Required(SECTION_ADVANCED)
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
            return f"{base.rstrip('/')}{SOLAREDGE_CALLBACK_PATH}"
        try:
            base = get_url(self.hass, prefer_external=True)
        except NoURLAvailableError:
            base = "https://<your Home Assistant address>"
        return f"{base}{SOLAREDGE_CALLBACK_PATH}"

    async def async_step_enphase(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the application's API key, then sign in with Enphase."""
        if user_input is not None:
            self._data = _flatten({CONF_VENDOR: "enphase"}, user_input)
            return await self.async_step_pick_implementation()
        return self.async_show_form(step_id="enphase", data_schema=self._key_schema({}))

    async def async_step_auth(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Send the user to the vendor's consent page, bound to its servers."""
        if user_input is None:
            self.flow_impl = bind_implementation(
                self.hass,
                self.flow_impl,
                self._data[CONF_VENDOR],
                self._data.get(CONF_URL),
            )
        return await super().async_step_auth(user_input)

    async def async_oauth_create_entry(self, data: dict[str, Any]) -> ConfigFlowResult:
        """The vendor issued a token: find what it reaches."""
        if self._data[CONF_VENDOR] == "enphase":
            return await self._async_enphase_grant({**self._data, **data})
        self._data = {**self._data, **data}
        site_id = self.external_data.get("site_id")
        if self.source == SOURCE_REAUTH:
            site_id = site_id or self._get_reauth_entry().data[CONF_SITE_ID]
        if not site_id:  # the callback did not name the site: ask
            return await self.async_step_site_access_site()
        errors: dict[str, str] = {}
        result = await self._async_site_access(str(site_id), errors)
        return result or self.async_abort(reason=errors["base"])

    async def async_step_site_access_site(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask which site was approved, when SolarEdge did not say."""
        errors: dict[str, str] = {}
        if user_input is not None:
            site_id = str(user_input[CONF_SITE_ID]).strip()
            if (result := await self._async_site_access(site_id, errors)) is not None:
                return result
        return self.async_show_form(
            step_id="site_access_site",
            data_schema=vol.Schema({vol.Required(CONF_SITE_ID): str}),
            errors=errors,
        )

    async def _async_site_access(
        self, site_id: str, errors: dict[str, str]
    ) -> ConfigFlowResult | None:
        """Check the approved site with the new token; create or update the entry."""
        data = {**self._data, CONF_SITE_ID: site_id}
        _, limiter = shared_limiter(self.hass, data)
        connector = build_connector(
            self.hass, data, limiter, StaticToken(data["token"]["access_token"])
        )
        account = await self._async_identify_with(connector, errors)
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
        await self.async_set_unique_id(f"solaredge_{site.id}")
        self._abort_if_unique_id_configured()
        return self.async_create_entry(title=site.name, data=data)

    async def _async_enphase_grant(self, data: dict[str, Any]) -> ConfigFlowResult:
        reauth = self.source == SOURCE_REAUTH
        options = self._get_reauth_entry().options if reauth else {}
        _, limiter = shared_limiter(self.hass, data, options)
        try:
            account = await build_connector(self.hass, data, limiter).async_identify()
        except AuthFailedError:
            # The token is minutes old: a refusal means the key is another app's.
            return self.async_abort(reason="invalid_api_key")
        except RateLimitedError:
            return self.async_abort(reason="rate_limited")
        except ConnectionFailedError:
            return self.async_abort(reason="cannot_connect")
        except SungazeError:
            LOGGER.exception("Unexpected answer while listing Enphase systems")
            return self.async_abort(reason="unknown")
        reached = {site.id for site in account.sites}
        if not reached and not reauth:
            return self.async_abort(reason="no_systems")
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
        owner = data["token"].get("enl_uid") or account.sites[0].id
        await self.async_set_unique_id(f"enphase_{owner}")
        self._abort_if_unique_id_configured()
        taken = {
            system
            for entry in self._async_current_entries()
            if entry.data.get(CONF_VENDOR) == "enphase"
            for system in entry.data.get(CONF_SYSTEM_IDS, ())
        }
        self._sites = tuple(site for site in account.sites if site.id not in taken)
        self._data = data
        if not self._sites:
            return self.async_abort(reason="already_configured")
        if len(self._sites) == 1:
            return self._async_create_systems(self._sites)
        return await self.async_step_systems()

    async def async_step_systems(
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
            step_id="systems",
            data_schema=_systems_schema(self._sites, [s.id for s in self._sites]),
            errors=errors,
        )

    def _async_create_systems(self, chosen: tuple[Site, ...]) -> ConfigFlowResult:
        return self.async_create_entry(
            title=", ".join(site.name for site in chosen),
            data={**self._data, CONF_SYSTEM_IDS: [site.id for site in chosen]},
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
        if CONF_AUTH_IMPLEMENTATION in entry_data:
            return await self.async_step_reauth_oauth()
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_oauth(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Sign in with the vendor again (the grant expired or was revoked)."""
        entry = self._get_reauth_entry()
        if user_input is None:
            keyed = entry.data[CONF_VENDOR] == "enphase"
            return self.async_show_form(
                step_id="reauth_oauth",
                data_schema=vol.Schema(
                    {vol.Optional(CONF_API_KEY): _PASSWORD} if keyed else {}
                ),
                description_placeholders={
                    "title": entry.title,
                    "vendor": VENDOR_NAMES[entry.data[CONF_VENDOR]],
                },
            )
        self._data = {
            key: entry.data[key]
            for key in (CONF_VENDOR, CONF_API_KEY, CONF_URL)
            if key in entry.data
        }
        if user_input.get(CONF_API_KEY):
            self._data[CONF_API_KEY] = user_input[CONF_API_KEY]
        if entry.data[CONF_VENDOR] == "solaredge":
            async_register_callback_view(self.hass)
        return await self.async_step_pick_implementation(
            {"implementation": entry.data[CONF_AUTH_IMPLEMENTATION]}
        )

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
        if entry.data.get(CONF_VENDOR) == "enphase":
            return await self.async_step_reconfigure_enphase(user_input)
        if CONF_AUTH_IMPLEMENTATION in entry.data:
            # A site-access grant names its one site: nothing to change here.
            return self.async_abort(reason="reconfigure_site_access")
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

    async def async_step_reconfigure_enphase(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the API key or the systems of an Enphase grant."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        data = dict(entry.data)
        if user_input is not None and user_input.get(CONF_API_KEY):
            data[CONF_API_KEY] = user_input[CONF_API_KEY]
        _, limiter = shared_limiter(self.hass, data, entry.options)
        connector = build_connector(
            self.hass, data, limiter, await async_token_provider(self.hass, entry)
        )
        account = await self._async_identify_with(connector, errors)
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
            step_id="reconfigure_enphase",
            data_schema=vol.Schema({vol.Optional(CONF_API_KEY): _PASSWORD}).extend(
                _systems_schema(sites, entry.data[CONF_SYSTEM_IDS]).schema
            ),
            errors=errors,
        )

    async def _async_identify_with(
        self, connector: Connector, errors: dict[str, str]
    ) -> AccountInfo | None:
        """Try a connector; fill `errors` with the reason when it fails."""
        try:
            return await connector.async_identify()
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
        finally:
            # Only a check: release what it opened (sessions, broker links).
            await connector.async_close()
        return None


def _systems_schema(sites: tuple[Site, ...], selected: list[str]) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_SYSTEM_IDS, default=selected): SelectSelector(
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
        """Ask for the shortest interval between updates (and Enphase's plan)."""
        errors: dict[str, str] = {}
        options = self.config_entry.options
        floor = min_sustainable_minutes(self.hass, self.config_entry, user_input)
        if user_input is not None:
            minutes = user_input.get(CONF_MIN_INTERVAL)
            if minutes is not None and minutes < floor:
                errors[CONF_MIN_INTERVAL] = "interval_too_short"
            else:
                return self.async_create_entry(data=user_input)
            options = user_input
        current = options.get(CONF_MIN_INTERVAL)
        plan: dict[vol.Marker, Any] = {}
        if self.config_entry.data.get(CONF_VENDOR) == "enphase":
            plan[
                vol.Required(CONF_PLAN, default=options.get(CONF_PLAN, DEFAULT_PLAN))
            ] = SelectSelector(
                SelectSelectorConfig(options=list(PLANS), translation_key=CONF_PLAN)
            )
        return self.async_show_form(
            step_id="init",
            data_schema=vol.Schema(
                {
                    **plan,
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
                    ),
                }
            ),
            description_placeholders={"floor": str(floor)},
            errors=errors,
        )
