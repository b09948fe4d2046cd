"""Config flow: pick a vendor, then that vendor's steps (see `flows/`).

A dispatcher only: it names no vendor. The menu lists every flow class in
`flows.FLOWS`; reauth and reconfigure go to `async_step_<vendor>_reauth` /
`async_step_<vendor>_reconfigure` when the vendor defines them (else to the
shared steps of `flows.base`); OAuth sign-ins are bound to the vendor's
servers and handed back to the vendor's class; options add the vendor's
`options_fields`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, override

from homeassistant.config_entries import ConfigEntry, ConfigFlowResult, OptionsFlow
from homeassistant.const import CONF_URL
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
)
import probatio

from .backfill import AUTO_DAYS as MAX_BACKFILL_DAYS, CONF_BACKFILL_DAYS
from .connectors import CONNECTORS
from .const import CONF_MIN_INTERVAL, CONF_VENDOR, DOMAIN
from .coordinator import SungazeConfigEntry, min_sustainable_minutes
from .flows import FLOWS, FLOWS_BY_VENDOR
from .flows.base import CONF_AUTH_IMPLEMENTATION, SungazeFlowBase


class SungazeConfigFlow(*FLOWS, SungazeFlowBase, domain=DOMAIN):  # type: ignore[misc]
    """Add one vendor account (or one site of it) to Home Assistant.

    API-key vendors are plain forms; OAuth vendors go through HA's OAuth flow
    with an application credential bound to the vendor's servers.
    """

    DOMAIN = DOMAIN
    VERSION = 1

    @property
    def vendor(self) -> str:  # type: ignore[override]
        """Refused: every vendor class is mixed in, so `self.vendor` would be any of them.

        Vendor code names its own class (`MyFlow.vendor`); shared code uses
        `self.flow_for(entry.data[CONF_VENDOR])`.
        """
        raise AttributeError(
            "self.vendor is ambiguous in the combined flow; name the vendor's class"
        )

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> SungazeOptionsFlow:
        """Return the options flow."""
        return SungazeOptionsFlow()

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Offer the vendors (and then the combinations) Sungaze can set up."""
        return self.async_show_menu(
            step_id="user",
            menu_options=sorted(
                FLOWS_BY_VENDOR, key=lambda v: (FLOWS_BY_VENDOR[v].menu_order, v)
            ),
        )

    @override
    async def async_step_auth(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Send the user to the vendor's consent page, bound to its servers."""
        if user_input is None:
            flow = FLOWS_BY_VENDOR[self._data[CONF_VENDOR]]
            self.flow_impl = flow.bind_oauth(
                self.hass, self.flow_impl, self._data.get(CONF_URL)
            )
        return await super().async_step_auth(user_input)

    @override
    async def async_oauth_create_entry(self, data: dict[str, Any]) -> ConfigFlowResult:
        """The vendor issued a token: its class finds what the token reaches."""
        flow = FLOWS_BY_VENDOR[self._data[CONF_VENDOR]]
        return await flow._async_oauth_granted(self, data)

    @override
    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """The vendor refused the stored credentials."""
        vendor_step = getattr(
            self, f"async_step_{entry_data[CONF_VENDOR]}_reauth", None
        )
        if vendor_step is not None:
            return await vendor_step()  # type: ignore[no-any-return]
        if CONF_AUTH_IMPLEMENTATION in entry_data:
            return await self.async_step_reauth_oauth()
        return await self.async_step_reauth_confirm()

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change how an entry reaches its vendor, when the vendor allows it."""
        entry = self._get_reconfigure_entry()
        vendor_step = getattr(
            self, f"async_step_{entry.data[CONF_VENDOR]}_reconfigure", None
        )
        if vendor_step is None:
            return self.async_abort(reason="reconfigure_unsupported")
        return await vendor_step(user_input)  # type: ignore[no-any-return]


class SungazeOptionsFlow(OptionsFlow):
    """How often to update, within what the vendor's quota sustains."""

    config_entry: SungazeConfigEntry

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the shortest interval between updates (and the vendor's options)."""
        errors: dict[str, str] = {}
        options: Mapping[str, Any] = self.config_entry.options
        floor = min_sustainable_minutes(self.hass, self.config_entry, user_input)
        flow = FLOWS_BY_VENDOR.get(self.config_entry.data[CONF_VENDOR])
        if user_input is not None:
            minutes = user_input.get(CONF_MIN_INTERVAL)
            if minutes is not None and minutes < floor:
                errors[CONF_MIN_INTERVAL] = "interval_too_short"
            else:
                return self.async_create_entry(
                    data=flow.options_from_input(self.config_entry, user_input)
                    if flow is not None
                    else user_input
                )
            options = user_input
        fields: dict[probatio.Marker, Any] = {}
        if flow is not None:
            fields.update(flow.options_fields(self.config_entry, options))
        if flow is None or flow.polls:
            fields[
                probatio.Optional(
                    CONF_MIN_INTERVAL,
                    description={"suggested_value": options.get(CONF_MIN_INTERVAL)},
                )
            ] = NumberSelector(
                NumberSelectorConfig(
                    min=1,
                    max=180,
                    step=1,
                    unit_of_measurement="min",
                    mode=NumberSelectorMode.BOX,
                )
            )
        # The loaded connector knows its kind (Tigo Premium keeps history, the
        # free kind does not); an unloaded entry answers for its vendor.
        coordinator = getattr(self.config_entry, "runtime_data", None)
        connector = (
            coordinator.connector
            if coordinator is not None
            else CONNECTORS[self.config_entry.data[CONF_VENDOR]]
        )
        if connector.history_requests_per_day:
            fields[
                probatio.Optional(
                    CONF_BACKFILL_DAYS,
                    # Left empty: as far back as the spare quota reaches in a week.
                    description={"suggested_value": options.get(CONF_BACKFILL_DAYS)},
                )
            ] = NumberSelector(
                NumberSelectorConfig(
                    min=0,
                    max=MAX_BACKFILL_DAYS,
                    step=1,
                    unit_of_measurement="d",
                    mode=NumberSelectorMode.BOX,
                )
            )
        return self.async_show_form(
            step_id="init",
            data_schema=probatio.Schema(fields),
            description_placeholders={"floor": str(floor)},
            errors=errors,
        )
