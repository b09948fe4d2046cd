"""Websocket commands: data a card reads once, never recorded as state.

`sungaze/layout` returns an entry's physical layout (for Tigo: inverter ->
MPPT -> string -> panel, with labels and positions), as its connector knows it.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components import websocket_api
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
import voluptuous as vol

from .const import DOMAIN

_REGISTERED = f"{DOMAIN}_websocket"


@callback
def async_register(hass: HomeAssistant) -> None:
    """Register the commands once per Home Assistant run."""
    if hass.data.get(_REGISTERED):
        return
    hass.data[_REGISTERED] = True
    websocket_api.async_register_command(hass, ws_layout)


@websocket_api.websocket_command(
    {vol.Required("type"): f"{DOMAIN}/layout", vol.Required("entry_id"): str}
)
@callback
def ws_layout(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    """Answer an entry's layout (null when its vendor has none)."""
    entry = hass.config_entries.async_get_entry(msg["entry_id"])
    if entry is None or entry.domain != DOMAIN:
        connection.send_error(msg["id"], websocket_api.ERR_NOT_FOUND, "No such entry")
        return
    if entry.state is not ConfigEntryState.LOADED:
        connection.send_error(msg["id"], websocket_api.ERR_NOT_FOUND, "Entry not loaded")
        return
    layout = entry.runtime_data.connector.layout()
    connection.send_result(msg["id"], {"layout": layout})
