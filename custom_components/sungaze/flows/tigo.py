"""Tigo config-flow steps: account kind and login, then one system per entry.

Two access kinds (see `connectors/tigo`): Tigo EI Premium (the documented API
v3) and a free account through the Tigo app's undocumented API. A Premium login
that works but reaches no system (or only 402s) is an account without API
access: the form says so and switches to the free kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import ConfigFlowResult
from homeassistant.const import CONF_PASSWORD, CONF_URL, CONF_USERNAME
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
)
import probatio

from ..connectors.base import AccountInfo
from ..connectors.tigo import ACCOUNT_APP, ACCOUNT_KINDS, ACCOUNT_PREMIUM, CONF_ACCOUNT
from ..const import CONF_SITE_ID, CONF_VENDOR
from .base import (
    PASSWORD_SELECTOR,
    SECTION_ADVANCED,
    URL_SELECTOR,
    USERNAME_SELECTOR,
    SungazeFlowBase,
    flatten,
    validate_input,
)

VENDOR = "tigo"


class TigoFlow(SungazeFlowBase):
    """Add one Tigo system (Premium API or free account)."""

    vendor = VENDOR
    reauth_key = CONF_PASSWORD

    def _tigo_schema(self, defaults: Mapping[str, Any]) -> probatio.Schema:
        """Account kind, login, and the URL override in a collapsed section."""
        schema = probatio.Schema(
            {
                probatio.Required(CONF_ACCOUNT): SelectSelector(
                    SelectSelectorConfig(
                        options=list(ACCOUNT_KINDS), translation_key="tigo_account"
                    )
                ),
                probatio.Required(CONF_USERNAME): USERNAME_SELECTOR,
                probatio.Required(CONF_PASSWORD): PASSWORD_SELECTOR,
                probatio.Required(SECTION_ADVANCED): section(
                    probatio.Schema({probatio.Optional(CONF_URL): URL_SELECTOR}),
                    {"collapsed": True},
                ),
            }
        )
        suggested = {
            key: value for key, value in defaults.items() if key != CONF_PASSWORD
        }
        if CONF_URL in suggested:
            suggested[SECTION_ADVANCED] = {CONF_URL: suggested.pop(CONF_URL)}
        return self.add_suggested_values_to_schema(schema, suggested)

    async def _async_tigo_check(
        self, data: Mapping[str, Any], errors: dict[str, str]
    ) -> AccountInfo | None:
        """Identify; an account with no system is an error of its own kind."""
        account = await self._async_identify(data, errors)
        if account is not None and not account.sites:
            premium = data.get(CONF_ACCOUNT) == ACCOUNT_PREMIUM
            errors["base"] = "tigo_no_api_access" if premium else "tigo_no_systems"
            return None
        return account

    async def async_step_tigo(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the account kind and the Tigo login."""
        errors: dict[str, str] = {}
        defaults: dict[str, Any] = {CONF_ACCOUNT: ACCOUNT_PREMIUM}
        if user_input is not None and (errors := validate_input(user_input)):
            defaults = flatten({CONF_VENDOR: VENDOR}, user_input)
        elif user_input is not None:
            data = flatten({CONF_VENDOR: VENDOR}, user_input)
            if (account := await self._async_tigo_check(data, errors)) is not None:
                self._data, self._sites = data, account.sites
                return await self.async_step_tigo_system()
            defaults = dict(data)
            if errors["base"] == "tigo_no_api_access":
                # Offer the other kind: the same login works on the app's API.
                defaults[CONF_ACCOUNT] = ACCOUNT_APP
                defaults.pop(CONF_URL, None)
        return self.async_show_form(
            step_id="tigo", data_schema=self._tigo_schema(defaults), errors=errors
        )

    async def async_step_tigo_system(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick one of the account's systems (one entry per system)."""
        if user_input is not None:
            site = next(s for s in self._sites if s.id == user_input[CONF_SITE_ID])
            return await self._async_create_site(site)
        configured = {entry.unique_id for entry in self._async_current_entries()}
        free = [s for s in self._sites if f"{VENDOR}_{s.id}" not in configured]
        if not free:
            return self.async_abort(reason="already_configured")
        if len(self._sites) == 1:
            return await self._async_create_site(free[0])
        return self.async_show_form(
            step_id="tigo_system",
            data_schema=probatio.Schema(
                {
                    probatio.Required(CONF_SITE_ID): SelectSelector(
                        SelectSelectorConfig(
                            options=[
                                SelectOptionDict(value=s.id, label=s.name) for s in free
                            ]
                        )
                    )
                }
            ),
        )

    def _tigo_reaches(
        self, entry_data: Mapping[str, Any], account: AccountInfo
    ) -> bool:
        return any(site.id == entry_data[CONF_SITE_ID] for site in account.sites)

    async def async_step_tigo_reauth(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Tigo refused the stored login: ask for the password again."""
        data = self._get_reauth_entry().data
        return await self._async_password_reauth(
            "tigo_reauth",
            user_input,
            check=self._async_tigo_check,
            reaches=lambda found: self._tigo_reaches(data, found),
            wrong="tigo_wrong_system",
        )

    async def async_step_tigo_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the account kind or the login of an entry (same system)."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        defaults: Mapping[str, Any] = entry.data
        if user_input is not None and (errors := validate_input(user_input)):
            defaults = flatten(dict(entry.data), user_input)
        elif user_input is not None:
            data = flatten(
                {CONF_VENDOR: VENDOR, CONF_SITE_ID: entry.data[CONF_SITE_ID]},
                user_input,
            )
            if (account := await self._async_tigo_check(data, errors)) is not None:
                if self._tigo_reaches(entry.data, account):
                    return self.async_update_reload_and_abort(entry, data=data)
                errors["base"] = "tigo_wrong_system"
            defaults = data
        return self.async_show_form(
            step_id="tigo_reconfigure",
            data_schema=self._tigo_schema(defaults),
            description_placeholders={"title": entry.title},
            errors=errors,
        )
