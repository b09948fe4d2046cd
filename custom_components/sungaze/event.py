"""Alert events: one event entity per device that can raise alerts.

It fires `alert_started` when a vendor alert or fault opens and
`alert_cleared` when it closes (or leaves the vendor's list), with the vendor's
code, severity and message, so automations can trigger on a new fault without
polling the problem sensor. Alerts already open when the entity starts (after
a restart or reload) are taken as known and do not fire again.
"""

from __future__ import annotations

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .binary_sensor import has_problem_sensor
from .coordinator import SungazeConfigEntry, SungazeCoordinator
from .entity import SungazeEntity
from .model import Alert, Device

PARALLEL_UPDATES = 0

ALERT_STARTED = "alert_started"
ALERT_CLEARED = "alert_cleared"

ALERT = EventEntityDescription(
    key="alert",
    translation_key="alert",
    event_types=[ALERT_STARTED, ALERT_CLEARED],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SungazeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create an alert event entity per device, adding devices as they appear."""
    coordinator = entry.runtime_data
    known: set[str] = set()

    @callback
    def add_new() -> None:
        snapshot = coordinator.data
        if snapshot is None:
            return
        alerted = {alert.device_id for alert in snapshot.alerts}
        new = [
            SungazeAlertEvent(coordinator, device)
            for device in snapshot.devices.values()
            if device.id not in known and has_problem_sensor(device, alerted)
        ]
        known.update(entity.device_id for entity in new)
        if new:
            async_add_entities(new)

    add_new()
    entry.async_on_unload(coordinator.async_add_listener(add_new))


class SungazeAlertEvent(SungazeEntity, EventEntity):
    """Fires when one of the device's alerts opens or clears."""

    entity_description = ALERT

    def __init__(self, coordinator: SungazeCoordinator, device: Device) -> None:
        """Bind the entity to its device; alerts open now count as known."""
        super().__init__(coordinator, device, ALERT.key)
        self._open: dict[str, Alert] = self._active()

    def _active(self) -> dict[str, Alert]:
        snapshot = self.coordinator.data
        if snapshot is None:  # pragma: no cover - entities exist only with data
            return {}
        return {alert.id: alert for alert in snapshot.active_alerts(self.device_id)}

    @callback
    def _handle_coordinator_update(self) -> None:
        """Fire for every alert that opened or cleared since the last update."""
        if not self.coordinator.last_update_success:
            # A failed update says nothing about the alerts: keep what is open.
            super()._handle_coordinator_update()
            return
        active = self._active()
        fired = False
        for alert_id, alert in active.items():
            if alert_id not in self._open:
                self._fire(ALERT_STARTED, alert)
                fired = True
        for alert_id, alert in self._open.items():
            if alert_id not in active:
                self._fire(ALERT_CLEARED, alert)
                fired = True
        self._open = active
        if fired:
            self.async_write_ha_state()

    def _fire(self, event_type: str, alert: Alert) -> None:
        self._trigger_event(
            event_type,
            {
                "code": alert.code,
                "severity": alert.severity.value,
                "message": alert.message,
                "started": alert.started.isoformat() if alert.started else None,
            },
        )
