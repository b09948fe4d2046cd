"""One-click Energy dashboard: what an entry's counters would add, and adding it.

After an entry is set up, Sungaze works out the Energy-dashboard sources its
counters make — solar production per device, one grid connection (import,
export, power for the "Now" view, cost where the vendor has it), each battery
(discharge, charge, power, state of charge) — and offers them through a fixable
repair issue. Confirming writes them through HA's energy manager, keeping every
source the user already has and never adding a statistic twice.

Sources come from the catalogue's metric keys, never from the vendor: a site
device's counters are preferred (they already sum the site), otherwise each
device that reports them. The grid is taken once per entry, from the topmost
device that measures it, so one meter is never counted twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from homeassistant.components.energy.data import (
    ENERGY_SOURCE_SCHEMA,
    EnergyPreferencesUpdate,
    async_get_manager,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN
from .coordinator import SungazeConfigEntry, SungazeCoordinator
from .model import Device, DeviceKind, Snapshot
from .statistics import statistic_id

ISSUE_PREFIX = "energy_offer_"
LISTENING: HassKey[bool] = HassKey(f"{DOMAIN}_energy_listener")
"""Whether offers follow changes of the Energy preferences (set up once)."""
# A lifetime counter is preferred; a daily one (total_increasing, reset at
# midnight) is a valid Energy source too when the vendor has nothing longer.
SOLAR = ("production_energy_lifetime", "production_energy_today")
GRID_IMPORT = ("grid_import_energy_lifetime", "grid_import_energy_today")
GRID_EXPORT = ("grid_export_energy_lifetime", "grid_export_energy_today")
DISCHARGE = ("battery_discharge_energy_lifetime", "battery_discharge_energy_today")
CHARGE = ("battery_charge_energy_lifetime", "battery_charge_energy_today")
_STAT_KEYS = (
    "stat_energy_from",
    "stat_energy_to",
    "stat_rate",
    "stat_soc",
    "stat_cost",
    "stat_compensation",
)
# Topmost first: the grid is read from the first of these that measures it.
_RANK = {
    DeviceKind.SITE: 0,
    DeviceKind.METER: 1,
    DeviceKind.GATEWAY: 2,
    DeviceKind.INVERTER: 3,
}


def issue_id(entry: SungazeConfigEntry) -> str:
    """The repair issue that offers an entry's sources."""
    return f"{ISSUE_PREFIX}{entry.entry_id}"


def proposed_sources(
    hass: HomeAssistant, entry: SungazeConfigEntry
) -> list[dict[str, Any]]:
    """Every Energy-dashboard source the entry's enabled sensors make."""
    coordinator = entry.runtime_data
    snapshot: Snapshot | None = coordinator.data
    if snapshot is None:
        return []
    find = _entity_finder(hass, coordinator)
    sources: list[dict[str, Any]] = []
    for device in _carriers(snapshot, SOLAR):
        if (energy := find(device, *SOLAR)) is None:
            continue
        solar: dict[str, Any] = {
            "type": "solar",
            "stat_energy_from": energy,
            "config_entry_solar_forecast": None,
            "name": _label(coordinator, device),
        }
        if power := find(device, "production_power"):
            solar["stat_rate"] = power
        sources.append(solar)
    if grid := _grid_source(coordinator, snapshot, find):
        sources.append(grid)
    for device in _carriers(snapshot, DISCHARGE):
        out = find(device, *DISCHARGE)
        into = find(device, *CHARGE)
        if out is None or into is None:
            continue
        battery: dict[str, Any] = {
            "type": "battery",
            "stat_energy_from": out,
            "stat_energy_to": into,
            "name": _label(coordinator, device),
        }
        if power := _near(snapshot, device, "battery_power", find):
            battery["power_config"] = {"stat_rate": power}
        if soc := _near(snapshot, device, "battery_state_of_charge", find):
            battery["stat_soc"] = soc
        sources.append(battery)
    return sources


def _grid_source(
    coordinator: SungazeCoordinator,
    snapshot: Snapshot,
    find: Any,
) -> dict[str, Any] | None:
    """One grid connection: sensors of the topmost meter, else imported history."""
    grid: dict[str, Any] = {
        "type": "grid",
        "stat_energy_from": None,
        "stat_energy_to": None,
        "stat_cost": None,
        "entity_energy_price": None,
        "number_energy_price": None,
        "stat_compensation": None,
        "entity_energy_price_export": None,
        "number_energy_price_export": None,
        "cost_adjustment_day": 0.0,
    }
    devices = sorted(
        (
            d
            for d in snapshot.devices.values()
            if find(d, *GRID_IMPORT) or find(d, *GRID_EXPORT)
        ),
        key=lambda d: _RANK.get(d.kind, 9),
    )
    if devices:
        device = devices[0]
        grid["stat_energy_from"] = find(device, *GRID_IMPORT)
        grid["stat_energy_to"] = find(device, *GRID_EXPORT)
        grid["name"] = _label(coordinator, device)
        if power := find(device, "grid_power"):
            grid["power_config"] = {"stat_rate": power}
    else:
        roles = {
            s.energy_role: statistic_id(coordinator.config_entry, s.key)
            for s in snapshot.series
            if s.energy_role
        }
        if "grid_import" not in roles and "grid_export" not in roles:
            return None
        grid["stat_energy_from"] = roles.get("grid_import")
        grid["stat_energy_to"] = roles.get("grid_export")
        grid["stat_cost"] = roles.get("grid_cost")
        grid["stat_compensation"] = roles.get("grid_compensation")
        grid["name"] = coordinator.connection_name
    return grid


def _near(snapshot: Snapshot, device: Device, key: str, find: Any) -> str | None:
    """The device's own sensor of `key`, else the one device's that has it.

    A site's battery counters pair with its battery's power and charge level;
    with several batteries nothing is guessed.
    """
    if own := find(device, key):
        return str(own)
    found = {e for d in snapshot.devices.values() if (e := find(d, key))}
    return found.pop() if len(found) == 1 else None


def _carriers(snapshot: Snapshot, keys: tuple[str, ...]) -> list[Device]:
    """Devices reporting one of `keys`: the site's own when it has them."""
    having = [
        snapshot.devices[device_id]
        for device_id, readings in snapshot.readings.items()
        if device_id in snapshot.devices and any(k in readings.values for k in keys)
    ]
    sites = [d for d in having if d.kind is DeviceKind.SITE]
    return sites or having


def _entity_finder(hass: HomeAssistant, coordinator: SungazeCoordinator) -> Any:
    registry = er.async_get(hass)

    def find(device: Device, *keys: str) -> str | None:
        """The enabled sensor of the first of `keys` the device has, if any."""
        for key in keys:
            entity_id = registry.async_get_entity_id(
                "sensor", DOMAIN, f"{coordinator.vendor}_{device.id}_{key}"
            )
            if entity_id is None:
                continue
            entity = registry.async_get(entity_id)
            if entity is not None and not entity.disabled:
                return entity_id
        return None

    return find


def _label(coordinator: SungazeCoordinator, device: Device) -> str:
    """A label that tells entries apart in the Energy dashboard."""
    if device.name.startswith(coordinator.vendor_name):
        return device.name
    return f"{device.name} ({coordinator.vendor_name})"


def _combined(entry: SungazeConfigEntry, other: SungazeConfigEntry) -> bool:
    """Whether one of the two entries combines the other (a home and a member)."""
    mine, theirs = entry.runtime_data.connector, other.runtime_data.connector
    return (mine.follows_members and mine.follows(other.entry_id)) or (
        theirs.follows_members and theirs.follows(entry.entry_id)
    )


def _used_stats(sources: Iterable[Mapping[str, Any]]) -> set[str]:
    used: set[str] = set()
    for source in sources:
        used.update(v for k in _STAT_KEYS if isinstance(v := source.get(k), str))
        power = source.get("power_config") or {}
        used.update(v for v in power.values() if isinstance(v, str))
    return used


async def async_missing_sources(
    hass: HomeAssistant, entry: SungazeConfigEntry
) -> list[dict[str, Any]]:
    """The proposed sources none of whose statistics the dashboard has yet.

    A whole home and its members measure the same energy: once the dashboard
    has the sources of one of them, the other offers nothing. A home has one
    grid connection, which two vendors often both measure (an inverter's meter
    and the utility's): once the dashboard has a grid source, no other entry's
    grid is offered, since the dashboard would add both up.
    """
    manager = await async_get_manager(hass)
    current = (manager.data or manager.default_preferences())["energy_sources"]
    used = _used_stats(current)
    for other in hass.config_entries.async_loaded_entries(DOMAIN):
        if (
            other.entry_id != entry.entry_id
            and _combined(entry, other)
            and _used_stats(proposed_sources(hass, other)) & used
        ):
            return []
    has_grid = any(source.get("type") == "grid" for source in current)
    return [
        source
        for source in proposed_sources(hass, entry)
        if not (_used_stats([source]) & used)
        and not (has_grid and source["type"] == "grid")
    ]


async def async_add_sources(hass: HomeAssistant, entry: SungazeConfigEntry) -> int:
    """Add the entry's missing sources to the Energy dashboard; how many were added."""
    missing = await async_missing_sources(hass, entry)
    if not missing:
        return 0
    manager = await async_get_manager(hass)
    current = list((manager.data or manager.default_preferences())["energy_sources"])
    sources = ENERGY_SOURCE_SCHEMA([*current, *missing])
    # HA's update type inherits required keys; the manager takes any subset.
    await manager.async_update(
        cast(EnergyPreferencesUpdate, {"energy_sources": sources})
    )
    return len(missing)


async def async_offer(hass: HomeAssistant, entry: SungazeConfigEntry) -> None:
    """Raise (or clear) the repair issue that offers the entry's sources.

    The offers are looked at again whenever the Energy preferences change, so
    sources the user added by hand clear the offer at once.
    """
    if LISTENING not in hass.data:
        hass.data[LISTENING] = True
        manager = await async_get_manager(hass)

        async def _prefs_changed() -> None:
            for other in hass.config_entries.async_loaded_entries(DOMAIN):
                await _async_offer_one(hass, other)

        manager.async_listen_updates(_prefs_changed)
    await _async_offer_one(hass, entry)


async def _async_offer_one(hass: HomeAssistant, entry: SungazeConfigEntry) -> None:
    if not await async_missing_sources(hass, entry):
        ir.async_delete_issue(hass, DOMAIN, issue_id(entry))
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(entry),
        is_fixable=True,
        is_persistent=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="energy_offer",
        translation_placeholders={"title": entry.title},
        data={"entry_id": entry.entry_id},
    )


def describe(sources: Iterable[Mapping[str, Any]]) -> str:
    """A short list of what will be added, for the confirmation form."""
    return "\n".join(
        f"- {source['type']}: {source.get('name', '')}" for source in sources
    )
