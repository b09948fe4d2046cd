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
from .entity import SungazeEntity, async_add_per_device
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

    def make(device: Device) -> SungazeAlertEvent | None:
        if has_problem_sensor(coordinator, device):
            return SungazeAlertEvent(coordinator, device)
        return None

    async_add_per_device(entry, async_add_entities, make)


class SungazeAlertEvent(SungazeEntity, EventEntity):
    """Fires when one of the device's alerts opens or clears."""

    entity_description = ALERT

    def __init__(self, coordinator: SungazeCoordinator, device: Device) -> None:
        """Bind the entity to its device; alerts open now count as known."""
        super().__init__(coordinator, device, ALERT.key)
        self._open: dict[str, Alert] = self._active()

    def _active(self) -> dict[str, Alert]:
        return {a.id: a for a in self.coordinator.device_alerts(self.device_id)}

    def _state_key(self) -> object:
        return tuple(sorted(self._open))

    @callback
    def _handle_coordinator_update(self) -> None:
        """Fire for every alert that opened or cleared since the last update."""
        if self.coordinator.last_update_success:
            # A failed update says nothing about the alerts: keep what is open.
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
                self._shown_available = self.available
                self._shown_key = self._state_key()
                return
        super()._handle_coordinator_update()

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
