"""Problem binary sensors: one per device that can raise alerts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import SungazeConfigEntry, SungazeCoordinator
from .entity import SungazeEntity
from .model import Device, DeviceKind

PARALLEL_UPDATES = 0

MAX_LISTED_ALERTS = 10

PROBLEM = BinarySensorEntityDescription(
    key="problem",
    device_class=BinarySensorDeviceClass.PROBLEM,
)
# Fine-grained hardware gets a problem sensor only once it actually raises an alert.
_ALWAYS = {
    DeviceKind.SITE,
    DeviceKind.INVERTER,
    DeviceKind.BATTERY,
    DeviceKind.GATEWAY,
    DeviceKind.METER,
    DeviceKind.EV_CHARGER,
}


def has_problem_sensor(coordinator: SungazeCoordinator, device: Device) -> bool:
    """Whether a device gets alert entities (always, or once it raised one)."""
    return device.kind in _ALWAYS or bool(coordinator.device_alerts(device.id))


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SungazeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create a problem sensor per device, adding devices as they appear."""
    coordinator = entry.runtime_data
    known: set[str] = set()

    @callback
    def add_new(device_ids: Iterable[str] | None = None) -> None:
        """Add problem sensors for the given devices (None: all) that need one."""
        snapshot = coordinator.data
        new = [
            SungazeProblemSensor(coordinator, device)
            for device_id in (snapshot.devices if device_ids is None else device_ids)
            if device_id not in known
            and (device := snapshot.devices.get(device_id)) is not None
            and has_problem_sensor(coordinator, device)
        ]
        known.update(entity.device_id for entity in new)
        if new:
            async_add_entities(new)

    @callback
    def on_update() -> None:
        """Look only at the devices that changed."""
        add_new(coordinator.changed)

    add_new()
    entry.async_on_unload(coordinator.async_add_listener(on_update))


class SungazeProblemSensor(SungazeEntity, BinarySensorEntity):
    """On while the device has an open alert or fault."""

    entity_description = PROBLEM

    def __init__(self, coordinator: SungazeCoordinator, device: Device) -> None:
        """Bind the sensor to its device."""
        super().__init__(coordinator, device, PROBLEM.key)

    def _state_key(self) -> object:
        return self.coordinator.device_alerts(self.device_id)[:MAX_LISTED_ALERTS]

    @property
    def is_on(self) -> bool:
        """Whether any alert of this device is open."""
        return bool(self.coordinator.device_alerts(self.device_id))

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The open alerts in readable form (a short, bounded list)."""
        alerts = self.coordinator.device_alerts(self.device_id)
        return {
            "alerts": [
                {
                    "code": alert.code,
                    "severity": alert.severity.value,
                    "message": alert.message,
                    "started": alert.started.isoformat() if alert.started else None,
                }
                for alert in alerts[:MAX_LISTED_ALERTS]
            ]
        }
