"""Problem binary sensors: one per device that can raise alerts."""

from __future__ import annotations

from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import SungazeConfigEntry, SungazeCoordinator
from .entity import SungazeEntity, async_add_per_device
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

    def make(device: Device) -> SungazeProblemSensor | None:
        if has_problem_sensor(coordinator, device):
            return SungazeProblemSensor(coordinator, device)
        return None

    async_add_per_device(entry, async_add_entities, make)


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
