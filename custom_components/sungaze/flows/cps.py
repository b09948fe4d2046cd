"""CPS (Chint) config-flow steps: inverters over Modbus, or a gateway's MQTT pushes.

`cps` offers the two transports; both forms test the connection and read the
inverters (or wait for the gateway's first message) before the entry is
created, named after the first inverter's serial (Modbus) or the gateway
(MQTT); unique id `cps_<first serial or gateway>`. An inverter another entry
already reads is refused (Modbus and MQTT would clash). Reconfigure keeps the
same device; reauth asks for the broker login again (MQTT).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import ConfigFlowResult
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
)
import probatio

from ..connectors.base import AccountInfo
from ..connectors.cps.modbus import FRAMINGS, WORD_ORDERS
from ..const import CONF_SITE_ID, CONF_VENDOR, DOMAIN
from .base import PASSWORD_SELECTOR as _PASSWORD, SungazeFlowBase, validate_input

VENDOR = "cps"
_TEXT = TextSelector()
_PORT = NumberSelector(
    NumberSelectorConfig(min=1, max=65535, step=1, mode=NumberSelectorMode.BOX)
)

CONF_TRANSPORT = "transport"
CONF_UNIT_IDS = "unit_ids"
CONF_FRAMING = "framing"
CONF_WORD_ORDER = "word_order"
CONF_TLS = "tls"
CONF_TOPIC_PREFIX = "topic_prefix"


def _parse_unit_ids(raw: str) -> list[int] | None:
    """Parse "1, 2 3" into [1, 2, 3]; None unless every id is a distinct 1-247."""
    parts = raw.replace(",", " ").split()
    try:
        ids = [int(part) for part in parts]
    except ValueError:
        return None
    if not ids or len(set(ids)) != len(ids) or not all(1 <= i <= 247 for i in ids):
        return None
    return ids


def _cps_modbus_schema() -> probatio.Schema:
    return probatio.Schema(
        {
            probatio.Required(CONF_HOST): _TEXT,
            probatio.Required(CONF_PORT, default=502): _PORT,
            probatio.Required(CONF_UNIT_IDS, default="1"): _TEXT,
            probatio.Required(CONF_FRAMING, default="rtu_over_tcp"): SelectSelector(
                SelectSelectorConfig(
                    options=list(FRAMINGS), translation_key=CONF_FRAMING
                )
            ),
            probatio.Required(CONF_WORD_ORDER, default="high_first"): SelectSelector(
                SelectSelectorConfig(
                    options=list(WORD_ORDERS), translation_key=CONF_WORD_ORDER
                )
            ),
        }
    )


def _cps_mqtt_schema() -> probatio.Schema:
    return probatio.Schema(
        {
            probatio.Required(CONF_HOST): _TEXT,
            probatio.Required(CONF_PORT, default=1883): _PORT,
            probatio.Optional(CONF_USERNAME): _TEXT,
            probatio.Optional(CONF_PASSWORD): _PASSWORD,
            probatio.Required(CONF_TLS, default=False): BooleanSelector(),
            probatio.Required(CONF_TOPIC_PREFIX, default="cps"): _TEXT,
        }
    )


def _cps_data(
    transport: str, user_input: Mapping[str, Any], errors: dict[str, str]
) -> dict[str, Any]:
    """Entry data of a CPS form; fills `errors` when a field is invalid."""
    data: dict[str, Any] = {
        CONF_VENDOR: VENDOR,
        CONF_TRANSPORT: transport,
        CONF_HOST: str(user_input[CONF_HOST]).strip(),
        CONF_PORT: int(user_input[CONF_PORT]),
    }
    if transport == "modbus":
        if (unit_ids := _parse_unit_ids(str(user_input[CONF_UNIT_IDS]))) is None:
            errors[CONF_UNIT_IDS] = "invalid_unit_ids"
        data[CONF_UNIT_IDS] = unit_ids
        data[CONF_FRAMING] = user_input[CONF_FRAMING]
        data[CONF_WORD_ORDER] = user_input[CONF_WORD_ORDER]
        return data
    prefix = str(user_input[CONF_TOPIC_PREFIX]).strip().strip("/")
    if not prefix or any(char in prefix for char in "+#"):
        errors[CONF_TOPIC_PREFIX] = "invalid_topic_prefix"
    for key in (CONF_USERNAME, CONF_PASSWORD):
        if user_input.get(key):
            data[key] = user_input[key]
    data[CONF_TLS] = bool(user_input[CONF_TLS])
    data[CONF_TOPIC_PREFIX] = prefix
    return data


def _cps_form_values(data: Mapping[str, Any]) -> dict[str, Any]:
    """Form values that reproduce an entry's data (the password is never shown)."""
    values = {
        k: v
        for k, v in data.items()
        if k not in (CONF_VENDOR, CONF_TRANSPORT, CONF_PASSWORD, CONF_SITE_ID)
    }
    if CONF_UNIT_IDS in values:
        values[CONF_UNIT_IDS] = ", ".join(str(unit) for unit in values[CONF_UNIT_IDS])
    return values


class CpsFlow(SungazeFlowBase):
    """CPS (Chint) inverters over Modbus or MQTT."""

    vendor = VENDOR

    async def async_step_cps(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """CPS inverters are read over Modbus or receive a gateway's MQTT pushes."""
        return self.async_show_menu(
            step_id="cps", menu_options=["cps_modbus", "cps_mqtt"]
        )

    async def async_step_cps_modbus(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the Modbus endpoint and unit ids; read the inverters before adding them."""
        return await self._async_cps_step("modbus", user_input)

    async def async_step_cps_mqtt(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the gateway's broker; wait for its first message before adding it."""
        return await self._async_cps_step("mqtt", user_input)

    async def _async_cps_step(
        self, transport: str, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        step_id = f"cps_{transport}"
        schema = _cps_modbus_schema() if transport == "modbus" else _cps_mqtt_schema()
        errors: dict[str, str] = {}
        if user_input is not None and not (errors := validate_input(user_input)):
            data = _cps_data(transport, user_input, errors)
            if (
                not errors
                and (account := await self._async_identify(data, errors)) is not None
            ):
                data[CONF_SITE_ID] = account.sites[0].id
                await self.async_set_unique_id(f"{VENDOR}_{account.unique_id}")
                self._abort_if_unique_id_configured(
                    updates={CONF_HOST: data[CONF_HOST], CONF_PORT: data[CONF_PORT]}
                )
                if taken := self._cps_configured_elsewhere(account):
                    # One inverter in two entries (Modbus and MQTT) would clash.
                    return self.async_abort(
                        reason="inverter_configured",
                        description_placeholders={"serial": taken},
                    )
                return self.async_create_entry(title=account.title, data=data)
        if user_input is not None:
            schema = self.add_suggested_values_to_schema(schema, user_input)
        return self.async_show_form(step_id=step_id, data_schema=schema, errors=errors)

    def _cps_configured_elsewhere(self, account: AccountInfo) -> str | None:
        """The serial of an inverter another entry already reads, if any."""
        registry = dr.async_get(self.hass)
        for device in account.devices:
            if registry.async_get_devices(identifiers={(DOMAIN, f"cps_{device.id}")}):
                return device.id
        return None

    async def async_step_cps_reauth(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The gateway's broker refused the stored username and password."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None and not (errors := validate_input(user_input)):
            data = {**entry.data, **user_input}
            if (account := await self._async_identify(data, errors)) is not None:
                await self.async_set_unique_id(f"{VENDOR}_{account.unique_id}")
                self._abort_if_unique_id_mismatch(reason="wrong_device")
                return self.async_update_reload_and_abort(
                    entry, data_updates=user_input
                )
        return self.async_show_form(
            step_id="cps_reauth",
            data_schema=self.add_suggested_values_to_schema(
                probatio.Schema(
                    {
                        probatio.Optional(CONF_USERNAME): _TEXT,
                        probatio.Optional(CONF_PASSWORD): _PASSWORD,
                    }
                ),
                {CONF_USERNAME: entry.data.get(CONF_USERNAME)},
            ),
            description_placeholders={"title": entry.title},
            errors=errors,
        )

    async def async_step_cps_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Reconfigure with the form of the entry's transport."""
        transport = self._get_reconfigure_entry().data[CONF_TRANSPORT]
        return await self._async_cps_reconfigure(transport, user_input)

    async def async_step_cps_modbus_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change how the Modbus inverters are reached."""
        return await self._async_cps_reconfigure("modbus", user_input)

    async def async_step_cps_mqtt_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the broker of the gateway."""
        return await self._async_cps_reconfigure("mqtt", user_input)

    async def _async_cps_reconfigure(
        self, transport: str, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        """Reconfigure a CPS entry of either transport."""
        entry = self._get_reconfigure_entry()
        schema = _cps_modbus_schema() if transport == "modbus" else _cps_mqtt_schema()
        errors: dict[str, str] = {}
        values: Mapping[str, Any] = _cps_form_values(entry.data)
        if user_input is not None:
            values = user_input
            errors = validate_input(user_input)
        if user_input is not None and not errors:
            data = _cps_data(transport, user_input, errors)
            if (
                transport == "mqtt"
                and CONF_PASSWORD not in data
                and CONF_PASSWORD in entry.data
            ):
                data[CONF_PASSWORD] = entry.data[CONF_PASSWORD]  # left empty: keep it
            if (
                not errors
                and (account := await self._async_identify(data, errors)) is not None
            ):
                await self.async_set_unique_id(f"{VENDOR}_{account.unique_id}")
                self._abort_if_unique_id_mismatch(reason="wrong_device")
                data[CONF_SITE_ID] = entry.data.get(CONF_SITE_ID, account.sites[0].id)
                return self.async_update_reload_and_abort(entry, data=data)
        return self.async_show_form(
            step_id=f"cps_{transport}_reconfigure",
            data_schema=self.add_suggested_values_to_schema(schema, values),
            errors=errors,
        )
