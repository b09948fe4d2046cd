"""EG4 / Luxpower config-flow steps: the monitor account, its portal, its stations.

One entry per account (unique id `eg4_<account>`) covering the chosen stations.
The portal is a choice of the known regional servers, or a typed URL (another
server, a simulator). Reauth asks for the password again (the shared
`reauth_confirm`); reconfigure shows the account form again, then the stations,
and refuses another account.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigFlowResult
from homeassistant.const import CONF_PASSWORD, CONF_URL, CONF_USERNAME
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
import probatio

from ..connectors.eg4 import CONF_STATION_IDS, DEFAULT_URL, PORTALS
from ..const import CONF_VENDOR
from .base import PASSWORD_SELECTOR, USERNAME_SELECTOR, SungazeFlowBase, validate_input

VENDOR = "eg4"


class EG4Flow(SungazeFlowBase):
    """EG4 / Luxpower monitor account."""

    vendor = VENDOR
    reauth_key = CONF_PASSWORD

    async def async_step_eg4(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the EG4 / Luxpower monitor account and the portal it lives on."""
        errors: dict[str, str] = {}
        reconfigure = self.source == SOURCE_RECONFIGURE
        defaults: Mapping[str, Any] = (
            self._get_reconfigure_entry().data
            if reconfigure
            else {CONF_URL: DEFAULT_URL}
        )
        if user_input is not None and not (errors := validate_input(user_input)):
            data = {CONF_VENDOR: VENDOR, **user_input}
            if (account := await self._async_identify(data, errors)) is not None:
                await self.async_set_unique_id(f"{VENDOR}_{account.unique_id}")
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
        schema = probatio.Schema(
            {
                probatio.Required(CONF_USERNAME): USERNAME_SELECTOR,
                probatio.Required(CONF_PASSWORD): PASSWORD_SELECTOR,
                probatio.Required(CONF_URL): portal,
            }
        )
        suggested = {**defaults, **(user_input or {})}
        suggested.pop(CONF_PASSWORD, None)
        return self.async_show_form(
            step_id=VENDOR,
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
        )

    async def async_step_eg4_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The account form again (same account), then the stations."""
        return await self.async_step_eg4(user_input)

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
            data_schema=probatio.Schema(
                {
                    probatio.Required(CONF_STATION_IDS, default=chosen): SelectSelector(
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
