"""Diagnostics: what an entry sees, with secrets and identities redacted."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import (
    CONF_ACCESS_TOKEN,
    CONF_API_KEY,
    CONF_HOST,
    CONF_PASSWORD,
    CONF_TOKEN,
    CONF_URL,
    CONF_USERNAME,
)
from homeassistant.core import HomeAssistant

from .const import CONF_SITE_ID
from .coordinator import SungazeConfigEntry

TO_REDACT = {
    CONF_ACCESS_TOKEN,
    CONF_API_KEY,
    CONF_HOST,
    CONF_PASSWORD,
    CONF_TOKEN,
    CONF_URL,
    CONF_USERNAME,
    CONF_SITE_ID,
    "client_secret",
    "refresh_token",
    "auth_implementation",
    "system_ids",
    "address",
    "station_ids",
    "serial",
    "title",
    "unique_id",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: SungazeConfigEntry
) -> dict[str, Any]:
    """Return the entry's state; device serials are replaced by stable aliases."""
    result: dict[str, Any] = {
        "entry": async_redact_data(entry.as_dict(), TO_REDACT),
    }
    coordinator = getattr(entry, "runtime_data", None)
    if coordinator is None:
        return result
    result["status"] = coordinator.status
    error = coordinator.last_exception
    result["last_exception"] = f"{error} ({error.__cause__!r})" if error else None
    result["update_interval"] = str(coordinator.update_interval)
    result["connector"] = async_redact_data(
        coordinator.connector.diagnostics(), TO_REDACT
    )
    if (layout := coordinator.connector.layout()) is not None:
        result["layout"] = async_redact_data(layout, TO_REDACT | {"name"})
    snapshot = coordinator.data
    if snapshot is None:
        return result
    alias: dict[str, str] = {}
    for device in snapshot.devices.values():
        alias[device.id] = f"{device.kind.value}_{len(alias) + 1}"
    result["snapshot"] = {
        "fetched_at": snapshot.fetched_at.isoformat(),
        "sites": [
            {
                "alias": alias.get(site.id, "site"),
                "timezone": site.timezone,
                "peak_power_w": site.peak_power_w,
            }
            for site in snapshot.sites.values()
        ],
        "devices": [
            {
                "alias": alias[device.id],
                "kind": device.kind.value,
                "manufacturer": device.manufacturer,
                "model": device.model,
                "firmware": device.firmware,
                "parent": alias.get(device.parent) if device.parent else None,
            }
            for device in snapshot.devices.values()
        ],
        "readings": {
            alias.get(device_id, "unknown"): {
                "as_of": readings.as_of.isoformat() if readings.as_of else None,
                "online": readings.online,
                "values": dict(readings.values),
            }
            for device_id, readings in snapshot.readings.items()
        },
        "alerts": [
            {
                "device": alias.get(alert.device_id, "unknown"),
                "severity": alert.severity.value,
                "code": alert.code,
                "message": alert.message,
                "active": alert.active,
            }
            for alert in snapshot.alerts
        ],
        "notes": dict(snapshot.notes),
    }
    return result
