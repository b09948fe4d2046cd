"""Base entities: one per vendor device, plus the entry's connection device."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .coordinator import SungazeConfigEntry, SungazeCoordinator
from .model import Device, DeviceKind, Readings

# Fine-grained hardware: its entities start disabled (users opt in).
DISABLED_BY_DEFAULT = frozenset({DeviceKind.BATTERY_MODULE})


def async_add_per_device(
    entry: SungazeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    make: Callable[[Device], Entity | None],
) -> None:
    """Add one entity per device that `make` gives one for, as devices appear.

    Only the devices an update changed are looked at again.
    """
    coordinator = entry.runtime_data
    known: set[str] = set()

    @callback
    def add_new(device_ids: Iterable[str] | None = None) -> None:
        snapshot = coordinator.data
        new: list[Entity] = []
        for device_id in snapshot.devices if device_ids is None else device_ids:
            if (
                device_id in known
                or (device := snapshot.devices.get(device_id)) is None
            ):
                continue
            if (entity := make(device)) is not None:
                known.add(device_id)
                new.append(entity)
        if new:
            async_add_entities(new)

    @callback
    def on_update() -> None:
        add_new(coordinator.changed)

    add_new()
    entry.async_on_unload(coordinator.async_add_listener(on_update))


class SungazeEntity(CoordinatorEntity[SungazeCoordinator]):
    """An entity of one vendor device (a site is a device too).

    It writes its state only when it changed: the coordinator names the
    devices an update changed, and of those, an entity whose state key
    (`_state_key`) and availability are as last written writes nothing.
    """

    _attr_has_entity_name = True
    _shown_available: bool | None = None
    _shown_key: object = None

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

    async def async_added_to_hass(self) -> None:
        """Remember the availability of the state written when added."""
        await super().async_added_to_hass()
        self._shown_available = self.available
        self._shown_key = self._state_key()

    @property
    def readings(self) -> Readings | None:
        """This device's readings in the latest snapshot."""
        return self.coordinator.data.readings.get(self.device_id)

    @property
    def available(self) -> bool:
        """Unavailable when the update failed or the device left the snapshot."""
        coordinator = self.coordinator
        return (
            coordinator.last_update_success
            and self.device_id in coordinator.data.devices
        )

    @callback
    def _handle_coordinator_update(self) -> None:
        """Write the state if it changed (value or availability)."""
        changed = self.coordinator.changed
        available = self.available
        same = available is self._shown_available
        if same and changed is not None and self.device_id not in changed:
            return
        self._refresh()
        key = self._state_key()
        if same and key == self._shown_key:
            return
        self._shown_available = available
        self._shown_key = key
        self.async_write_ha_state()

    def _refresh(self) -> None:
        """Take the new data in before the state is compared (subclasses)."""

    def _state_key(self) -> object:
        """What the written state depends on, besides availability.

        Every entity class says it: an update that leaves it equal writes nothing.
        """
        raise NotImplementedError


class SungazeConnectionEntity(CoordinatorEntity[SungazeCoordinator]):
    """A diagnostic entity of the entry's connection (the vendor account or link)."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: SungazeCoordinator, key: str) -> None:
        """Attach the entity to the entry's connection device."""
        super().__init__(coordinator)
        self._attr_unique_id = f"{coordinator.connection_id}_{key}"
        self._attr_device_info = DeviceInfo(identifiers={coordinator.entry_identifier})
