"""Keep an entry's devices in the device registry in step with its snapshots.

The registry is touched only when a snapshot's devices differ from the last
ones synced (the coordinator hands over the same mapping object when nothing
changed), so a routine update costs one identity check. Devices the vendor no
longer lists are removed, but only once the connector had the chance to report
every device: a polled snapshot is complete, a pushed one only after a full
reporting cycle (a gateway's inverters arrive one message at a time).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr

from .const import LOGGER
from .model import Device, DeviceKind

type Identifier = tuple[str, str]


class DeviceSync:
    """Registers an entry's devices (parents first) and removes stale ones."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        *,
        identifier: Callable[[str], Identifier],
        connection: Identifier,
        connection_name: str,
        manufacturer: str,
        with_vendor: Callable[[str], str] = lambda name: name,
        complete_after: datetime | None = None,
    ) -> None:
        """Sync `entry`'s devices; `complete_after`: when a pushed snapshot is whole.

        `identifier` maps a vendor device id to its registry identifier; the
        entry's own connection device (`connection`) is the root of the tree.
        """
        self._hass = hass
        self._entry_id = entry.entry_id
        self._identifier = identifier
        self._connection = connection
        self._connection_name = connection_name
        self._manufacturer = manufacturer
        self._with_vendor = with_vendor
        self._title = entry.title
        self._complete_after = complete_after
        self._synced: Mapping[str, Device] | None = None
        self._registered: dict[str, Device] = {}
        self._checked: frozenset[str] | None = None

    @callback
    def async_sync(self, devices: Mapping[str, Device], now: datetime) -> None:
        """Register new or changed devices; remove stale ones once complete."""
        if devices is self._synced:
            return
        self._synced = devices
        registry = dr.async_get(self._hass)
        if not self._registered:
            registry.async_get_or_create(
                config_entry_id=self._entry_id,
                identifiers={self._connection},
                name=self._connection_name,
                manufacturer=self._manufacturer,
                model="Sungaze connection",
                entry_type=dr.DeviceEntryType.SERVICE,
            )
        self._register(registry, devices)
        if self._complete_after is None or now >= self._complete_after:
            self._remove_stale(registry, devices)

    def _register(
        self, registry: dr.DeviceRegistry, devices: Mapping[str, Device]
    ) -> None:
        """Register changed devices, parents first, so `via_device_id` resolves."""
        pending = [d for d in devices.values() if self._registered.get(d.id) != d]
        while pending:
            deferred: list[Device] = []
            for device in pending:
                via = registry.async_get_device_by_identifier(
                    self._parent(device), self._entry_id
                )
                if via is None:
                    deferred.append(device)
                    continue
                registry.async_get_or_create(
                    config_entry_id=self._entry_id,
                    identifiers={self._identifier(device.id)},
                    name=self._distinct_name(registry, device),
                    manufacturer=device.manufacturer or self._manufacturer,
                    model=device.model,
                    serial_number=device.serial,
                    sw_version=device.firmware,
                    via_device_id=via.id,
                )
                self._registered[device.id] = device
            if len(deferred) == len(pending):  # parent missing from the snapshot
                for device in deferred:
                    LOGGER.debug("Device %s has no known parent", device.id)
                break
            pending = deferred

    def _distinct_name(self, registry: dr.DeviceRegistry, device: Device) -> str:
        """The device's name, unless a device of another entry has it already.

        Then the vendor's name leads it ("Enphase Home" next to EG4's "Home"),
        or failing that the entry's title follows it.
        """
        identifier = self._identifier(device.id)
        taken = {
            other.name
            for other in registry.devices
            if other.config_entry_id != self._entry_id
            and identifier not in other.identifiers
        }
        prefixed = self._with_vendor(device.name)
        for name in (
            device.name,
            prefixed,
            f"{device.name} ({self._title})",
            f"{prefixed} ({self._title})",
        ):
            if name not in taken:
                return name
        return f"{prefixed} ({self._title}, {device.id})"

    def _parent(self, device: Device) -> Identifier:
        if device.kind is DeviceKind.SITE:
            return self._connection
        return self._identifier(device.parent or device.site_id)

    def _remove_stale(
        self, registry: dr.DeviceRegistry, devices: Mapping[str, Device]
    ) -> None:
        """Remove devices the vendor no longer lists (hardware swapped or removed)."""
        ids = frozenset(devices)
        if ids == self._checked:
            return
        self._checked = ids
        known = {self._identifier(device_id) for device_id in ids}
        known.add(self._connection)
        for device in dr.async_entries_for_config_entry(registry, self._entry_id):
            if known.isdisjoint(device.identifiers):
                LOGGER.debug("Removing device %s: no longer reported", device.name)
                registry.async_remove_device(device.id)
        self._registered = {k: v for k, v in self._registered.items() if k in ids}
