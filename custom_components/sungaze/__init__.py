"""Sungaze: a home's whole solar estate in Home Assistant."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant

from .coordinator import (
    SungazeConfigEntry,
    SungazeCoordinator,
    build_connector,
    shared_limiter,
)

PLATFORMS: list[Platform] = [Platform.BINARY_SENSOR, Platform.SENSOR]


async def async_setup_entry(hass: HomeAssistant, entry: SungazeConfigEntry) -> bool:
    """Connect to the vendor, fetch a first snapshot and create the entities."""
    budget_key, limiter = shared_limiter(hass, entry.data)
    connector = build_connector(hass, entry.data, limiter)
    coordinator = SungazeCoordinator(hass, entry, connector, budget_key)
    # Set before the first refresh so diagnostics work even when setup fails.
    entry.runtime_data = coordinator
    await coordinator.async_config_entry_first_refresh()
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    return True


async def _async_options_updated(
    hass: HomeAssistant, entry: SungazeConfigEntry
) -> None:
    """Re-plan with the new options."""
    await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: SungazeConfigEntry) -> bool:
    """Unload platforms and release the connector's connections."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.connector.async_close()
    return unloaded
