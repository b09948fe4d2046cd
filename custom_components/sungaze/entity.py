"""Base entities: one per vendor device, plus the entry's connection device."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .coordinator import SungazeCoordinator
from .model import Device, DeviceKind, Readings

# Fine-grained hardware: its entities start disabled (users opt in).
DISABLED_BY_DEFAULT = frozenset({DeviceKind.BATTERY_MODULE})


class SungazeEntity(CoordinatorEntity[SungazeCoordinator]):
    """An entity of one vendor device (a site is a device too)."""

    _attr_has_entity_name = True

    def __init__(
        self, coordinator: SungazeCoordinator, device: Device, key: str
    ) -> None:
        """Attach the entity to its device and derive a stable unique id."""
        super().__init__(coordinator)
        self.device_id = device.id
        self._attr_unique_id = f"{coordinator.vendor}_{device.id}_{key}"
        if device.kind in DISABLED_BY_DEFAULT:
            self._attr_entity_registry_enabled_default = False
        # The coordinator registers the device (parents first); this only links to it.
        self._attr_device_info = DeviceInfo(
            identifiers={coordinator.device_identifier(device.id)}
        )

    @property
    def readings(self) -> Readings | None:
        """This device's readings in the latest snapshot."""
        return self.coordinator.data.readings.get(self.device_id)

    @property
    def available(self) -> bool:
        """Unavailable when the update failed or the device left the snapshot."""
        return super().available and self.device_id in self.coordinator.data.devices


class SungazeConnectionEntity(CoordinatorEntity[SungazeCoordinator]):
    """A diagnostic entity of the entry's connection (the vendor account or link)."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: SungazeCoordinator, key: str) -> None:
        """Attach the entity to the entry's connection device."""
        super().__init__(coordinator)
        self._attr_unique_id = f"{coordinator.connection_id}_{key}"
        self._attr_device_info = DeviceInfo(identifiers={coordinator.entry_identifier})
