"""Sungaze: a home's whole solar estate in Home Assistant.

The HA adapter is imported when an entry is set up (HA has imported it by then
with the preloaded config flow), so the HA-free parts of the package (model,
connectors, planner) import without Home Assistant.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from homeassistant.core import Event, HomeAssistant

    from .coordinator import SungazeConfigEntry

PLATFORMS: list[str] = ["binary_sensor", "event", "sensor"]


async def async_setup_entry(hass: HomeAssistant, entry: SungazeConfigEntry) -> bool:
    """Connect to the vendor, fetch a first snapshot and create the entities."""
    from homeassistant.const import EVENT_HOMEASSISTANT_STOP

    from .backfill import Backfill
    from .const import CONF_VENDOR
    from .coordinator import SungazeCoordinator, build_connector, shared_limiter
    from .energy import async_offer as async_offer_energy
    from .flows import FLOWS_BY_VENDOR
    from .flows.base import CONF_AUTH_IMPLEMENTATION
    from .oauth import async_store_credentials
    from .websocket_api import async_register as async_register_websocket

    async_register_websocket(hass)
    budget_key, limiter = shared_limiter(hass, entry.data, entry.options)
    token = (
        await FLOWS_BY_VENDOR[entry.data[CONF_VENDOR]].async_token_provider(hass, entry)
        if CONF_AUTH_IMPLEMENTATION in entry.data
        else None
    )
    # Connectors read their settings from one mapping: the data, then the options.
    connector = build_connector(hass, {**entry.data, **entry.options}, limiter, token)
    connector.on_credentials = partial(async_store_credentials, hass, entry)
    coordinator = SungazeCoordinator(hass, entry, connector, budget_key)
    # Set before the first refresh so diagnostics work even when setup fails.
    entry.runtime_data = coordinator
    await coordinator.async_config_entry_first_refresh()
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    await async_offer_energy(hass, entry)
    coordinator.backfill = Backfill(hass, coordinator)
    await coordinator.backfill.async_start()
    options = dict(entry.options)

    async def _async_entry_updated(
        hass: HomeAssistant, entry: SungazeConfigEntry
    ) -> None:
        """Re-plan with new options (a refreshed token alone changes nothing)."""
        if dict(entry.options) != options:
            await hass.config_entries.async_reload(entry.entry_id)

    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))

    async def _async_close(event: Event) -> None:
        """Close a push link cleanly when HA stops (the broker sees a goodbye).

        HTTP sessions are HA's: it closes them itself after the stop.
        """
        await connector.async_close()

    if connector.pushes:
        # Not listen_once: the unload after the stop would remove it again.
        entry.async_on_unload(
            hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, _async_close)
        )
    return True


async def async_unload_entry(hass: HomeAssistant, entry: SungazeConfigEntry) -> bool:
    """Unload platforms and release the connector's connections."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.connector.async_close()
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: SungazeConfigEntry) -> None:
    """Forget what was kept for the entry beyond its setups."""
    from .backfill import async_forget as async_forget_history
    from .members import announce_removed, state_store
    from .oauth import async_forget_tokens

    announce_removed(hass, entry.entry_id)
    async_forget_tokens(hass, entry.entry_id)
    # Derived counters and the like belong to the entry: gone with it.
    await state_store(hass, entry.entry_id).async_remove()
    await async_forget_history(hass, entry.entry_id)
