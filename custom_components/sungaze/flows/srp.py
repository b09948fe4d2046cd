"""SRP config flow: the My Account login, then one of its billing accounts.

One entry per billing account (unique id `srp_<9 digits>`); a second login
reaching an account already added aborts. When SRP will not list the login's
accounts, the account step takes a typed 9-digit number.
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
    SelectSelectorMode,
)
import probatio

from ..connectors.base import AccountInfo
from ..connectors.srp import ACCOUNT_RE, CONF_BILLING_ACCOUNT
from ..const import CONF_VENDOR
from .base import (
    PASSWORD_SELECTOR,
    SECTION_ADVANCED,
    URL_SELECTOR,
    USERNAME_SELECTOR,
    SungazeFlowBase,
    flatten,
    validate_input,
)

VENDOR = "srp"


def _login_schema(defaults: Mapping[str, Any]) -> probatio.Schema:
    """Username and password; the API address in a collapsed section (simulators)."""
    return probatio.Schema(
        {
            probatio.Required(
                CONF_USERNAME,
                description={"suggested_value": defaults.get(CONF_USERNAME)},
            ): USERNAME_SELECTOR,
            probatio.Required(CONF_PASSWORD): PASSWORD_SELECTOR,
            probatio.Required(SECTION_ADVANCED): section(
                probatio.Schema(
                    {
                        probatio.Optional(
                            CONF_URL,
                            description={"suggested_value": defaults.get(CONF_URL)},
                        ): URL_SELECTOR
                    }
                ),
                {"collapsed": True},
            ),
        }
    )


def _reaches(account: AccountInfo, billing_account: str) -> bool:
    """Whether a login reaches the entry's billing account (unknown list: trust it)."""
    return not account.sites or any(s.id == billing_account for s in account.sites)


class SrpFlow(SungazeFlowBase):
    """SRP (Salt River Project) My Account."""

    vendor = VENDOR
    reauth_key = CONF_PASSWORD

    async def async_step_srp(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the SRP My Account login and check it."""
        errors: dict[str, str] = {}
        if user_input is not None and not (errors := validate_input(user_input)):
            data = flatten({CONF_VENDOR: VENDOR}, user_input)
            if (account := await self._async_identify(data, errors)) is not None:
                self._data, self._account = data, account
                return await self.async_step_srp_account()
        return self.async_show_form(
            step_id="srp",
            data_schema=_login_schema(user_input or {}),
            errors=errors,
        )

    async def async_step_srp_account(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick one billing account of the login (or type it when SRP lists none)."""
        account = self._account
        if account is None:  # pragma: no cover - only after the login step
            return await self.async_step_srp()
        errors: dict[str, str] = {}
        configured = {entry.unique_id for entry in self._async_current_entries()}
        listed = {site.id: site.name for site in account.sites}
        free = [a for a in listed if f"{VENDOR}_{a}" not in configured]
        if listed and not free:
            return self.async_abort(reason="already_configured")
        chosen: str | None = None
        if user_input is not None:
            typed = str(user_input[CONF_BILLING_ACCOUNT]).strip().replace("-", "")
            if ACCOUNT_RE.match(typed):  # a typed one may not (a listed one does)
                chosen = typed
            else:
                errors[CONF_BILLING_ACCOUNT] = "invalid_account"
        elif len(listed) == 1:
            chosen = free[0]  # the login has one account: nothing to choose
        if chosen is not None:
            await self.async_set_unique_id(f"{VENDOR}_{chosen}")
            self._abort_if_unique_id_configured()
            alias = listed.get(chosen) or chosen
            return self.async_create_entry(
                title=f"SRP {alias}",
                data={**self._data, CONF_BILLING_ACCOUNT: chosen},
            )
        selector = SelectSelector(
            SelectSelectorConfig(
                options=[
                    SelectOptionDict(
                        value=a, label=a if listed[a] == a else f"{listed[a]} ({a})"
                    )
                    for a in free
                ],
                custom_value=not listed,
                mode=SelectSelectorMode.LIST if listed else SelectSelectorMode.DROPDOWN,
            )
        )
        return self.async_show_form(
            step_id="srp_account",
            data_schema=probatio.Schema(
                {probatio.Required(CONF_BILLING_ACCOUNT): selector}
            ),
            description_placeholders={"count": str(len(listed))},
            errors=errors,
        )

    async def async_step_srp_reauth(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """SRP refused the stored password: ask for it again."""
        account = self._get_reauth_entry().data[CONF_BILLING_ACCOUNT]
        return await self._async_password_reauth(
            "srp_reauth",
            user_input,
            check=self._async_identify,
            reaches=lambda found: _reaches(found, account),
            wrong="wrong_account",
        )

    async def async_step_srp_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the login (or API address) that reads this billing account."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None and not (errors := validate_input(user_input)):
            data = flatten(entry.data, user_input)
            if (account := await self._async_identify(data, errors)) is not None:
                if _reaches(account, entry.data[CONF_BILLING_ACCOUNT]):
                    return self.async_update_reload_and_abort(entry, data=data)
                errors["base"] = "wrong_account"
        return self.async_show_form(
            step_id="srp_reconfigure",
            data_schema=_login_schema(user_input or entry.data),
            description_placeholders={"title": entry.title},
            errors=errors,
        )
