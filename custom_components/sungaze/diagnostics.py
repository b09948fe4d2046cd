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
from homeassistant.helpers.device_registry import DeviceEntry

from .const import CONF_SITE_ID
from .coordinator import SungazeConfigEntry, SungazeCoordinator
from .model import Snapshot

TO_REDACT = {
    CONF_ACCESS_TOKEN,
    CONF_API_KEY,
    CONF_HOST,
    CONF_PASSWORD,
    CONF_TOKEN,
    CONF_URL,
    CONF_USERNAME,
    CONF_SITE_ID,
    "client_id",
    "client_secret",
    "email",
    "refresh_token",
    "user_id",
    "auth_implementation",
    "system_ids",
    "address",
    "station_ids",
    "billing_account",
    "serial",
    "title",
    "unique_id",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: SungazeConfigEntry
) -> dict[str, Any]:
    """Return the entry's state; device serials are replaced by stable aliases."""
    result = _entry_diagnostics(entry)
    coordinator: SungazeCoordinator | None = getattr(entry, "runtime_data", None)
    if coordinator is not None and coordinator.data is not None:
        result["snapshot"] = _snapshot_diagnostics(coordinator.data)
    return result


async def async_get_device_diagnostics(
    hass: HomeAssistant, entry: SungazeConfigEntry, device: DeviceEntry
) -> dict[str, Any]:
    """Return one device's part of the entry's state, redacted the same way.

    The entry's connection device gets the entry's state without the snapshot;
    a vendor device gets its own description, readings and alerts.
    """
    result = _entry_diagnostics(entry)
    coordinator: SungazeCoordinator | None = getattr(entry, "runtime_data", None)
    if coordinator is None or coordinator.data is None:
        return result
    snapshot = coordinator.data
    if coordinator.entry_identifier in device.identifiers:
        result["device"] = {"kind": "connection"}
        return result
    device_id = next(
        (
            known
            for known in snapshot.devices
            if coordinator.device_identifier(known) in device.identifiers
        ),
        None,
    )
    full = _snapshot_diagnostics(snapshot)
    alias = _aliases(snapshot).get(device_id) if device_id is not None else None
    result["fetched_at"] = full["fetched_at"]
    result["device"] = next(
        (d for d in full["devices"] if d["alias"] == alias),
        {"alias": None, "note": "not in the latest snapshot"},
    )
    result["readings"] = full["readings"].get(alias) if alias else None
    result["alerts"] = [a for a in full["alerts"] if alias and a["device"] == alias]
    return result


def _entry_diagnostics(entry: SungazeConfigEntry) -> dict[str, Any]:
    """The entry (redacted) and its coordinator's state."""
    result: dict[str, Any] = {
        "entry": async_redact_data(entry.as_dict(), TO_REDACT),
    }
    coordinator: SungazeCoordinator | None = getattr(entry, "runtime_data", None)
    if coordinator is None:
        return result
    result["status"] = coordinator.status
    error = coordinator.last_exception
    result["last_exception"] = f"{error} ({error.__cause__!r})" if error else None
    result["update_interval"] = str(coordinator.update_interval)
    result["connector"] = async_redact_data(
        coordinator.connector.diagnostics(), TO_REDACT
    )
    if coordinator.importer.last_window:
        # Per history series: first and last hour of its last import, rows written.
        result["statistics_import"] = dict(coordinator.importer.last_window)
    return result


def _aliases(snapshot: Snapshot) -> dict[str, str]:
    """Stable aliases (`<kind>_<n>`) for the snapshot's device ids."""
    alias: dict[str, str] = {}
    for device in snapshot.devices.values():
        alias[device.id] = f"{device.kind.value}_{len(alias) + 1}"
    return alias


def _snapshot_diagnostics(snapshot: Snapshot) -> dict[str, Any]:
    """The snapshot with every device id replaced by its alias."""
    alias = _aliases(snapshot)
    return {
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
