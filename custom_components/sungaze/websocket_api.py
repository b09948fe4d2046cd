"""Websocket commands: data a card reads once, never recorded as state.

`sungaze/layout` returns an entry's physical layout (for Tigo: inverter ->
MPPT -> string -> panel, with labels and positions), as its connector knows it.
Every node naming a Sungaze device (`device`) also gets its device-registry id
(`device_id`), so a card can link a panel to its entities.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.components.websocket_api import async_register_command
from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.const import ERR_NOT_FOUND
from homeassistant.components.websocket_api.decorators import websocket_command
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.typing import VolDictType
import voluptuous as vol

from .const import DOMAIN

_REGISTERED = f"{DOMAIN}_websocket"


@callback
def async_register(hass: HomeAssistant) -> None:
    """Register the commands once per Home Assistant run."""
    if hass.data.get(_REGISTERED):
        return
    hass.data[_REGISTERED] = True
    async_register_command(hass, ws_layout)


# mypy sees voluptuous' markers as unrelated to `Marker` here (HA's own stubs).
LAYOUT_SCHEMA: VolDictType = {
    vol.Required("type"): f"{DOMAIN}/layout",  # type: ignore[dict-item]
    vol.Required("entry_id"): str,  # type: ignore[dict-item]
}


@websocket_command(LAYOUT_SCHEMA)
@callback
def ws_layout(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Answer an entry's layout (null when its vendor has none)."""
    entry = hass.config_entries.async_get_entry(msg["entry_id"])
    if entry is None or entry.domain != DOMAIN:
        connection.send_error(msg["id"], ERR_NOT_FOUND, "No such entry")
        return
    if entry.state is not ConfigEntryState.LOADED:
        connection.send_error(msg["id"], ERR_NOT_FOUND, "Entry not loaded")
        return
    coordinator = entry.runtime_data
    registry = dr.async_get(hass)

    def link(node: Any) -> Any:
        if isinstance(node, Mapping):
            linked = {key: link(value) for key, value in node.items()}
            if isinstance(device := node.get("device"), str):
                found = registry.async_get_device_by_identifier(
                    coordinator.device_identifier(device), entry.entry_id
                )
                linked["device_id"] = found.id if found else None
            return linked
        if isinstance(node, list):
            return [link(item) for item in node]
        return node

    layout = coordinator.connector.layout()
    connection.send_result(msg["id"], {"layout": link(layout)})
