"""Sensors: one per reading a device actually reports, plus diagnostics."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorExtraStoredData,
    SensorStateClass,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .coordinator import STATUSES, SungazeConfigEntry, SungazeCoordinator
from .entity import SungazeConnectionEntity, SungazeEntity
from .model import (
    CounterGuard,
    CounterKind,
    Device,
    DeviceKind,
    metric_index,
    metric_spec,
)

# Coordinator-driven: no per-entity polling to parallelise.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class SungazeSensorEntityDescription(SensorEntityDescription):
    """A reading's sensor, derived from the metric catalogue."""

    counter: CounterKind | None = None


@dataclass(frozen=True, kw_only=True)
class SungazeConnectionSensorEntityDescription(SensorEntityDescription):
    """A diagnostic sensor of the entry's connection."""

    value_fn: Callable[[SungazeCoordinator], StateType | datetime]
    exists_fn: Callable[[SungazeCoordinator], bool] = lambda _: True


@cache
def reading_description(key: str) -> SungazeSensorEntityDescription | None:
    """Build the description of one reading key from the catalogue."""
    if (spec := metric_spec(key)) is None:
        return None
    index = metric_index(key)
    return SungazeSensorEntityDescription(
        key=key,
        translation_key=f"{spec.key}_n" if index else spec.key,
        translation_placeholders={"index": index} if index else None,
        native_unit_of_measurement=spec.unit,
        device_class=SensorDeviceClass(spec.device_class)
        if spec.device_class
        else None,
        state_class=SensorStateClass(spec.state_class) if spec.state_class else None,
        suggested_unit_of_measurement=spec.suggested_unit,
        suggested_display_precision=spec.precision,
        entity_registry_enabled_default=not spec.technical,
        entity_category=EntityCategory.DIAGNOSTIC if spec.diagnostic else None,
        options=list(spec.options) if spec.options else None,
        counter=spec.counter,
    )


LAST_REPORT = SensorEntityDescription(
    key="last_report",
    translation_key="last_report",
    device_class=SensorDeviceClass.TIMESTAMP,
    entity_category=EntityCategory.DIAGNOSTIC,
)
# Per-panel hardware comes in dozens: its report times are off until wanted.
_FINE_GRAINED = {DeviceKind.MICROINVERTER, DeviceKind.OPTIMIZER}

CONNECTION_SENSORS: tuple[SungazeConnectionSensorEntityDescription, ...] = (
    SungazeConnectionSensorEntityDescription(
        key="status",
        translation_key="connection_status",
        device_class=SensorDeviceClass.ENUM,
        options=list(STATUSES),
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda coordinator: coordinator.status,
    ),
    SungazeConnectionSensorEntityDescription(
        key="last_update",
        translation_key="last_update",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda coordinator: coordinator.last_success,
    ),
    SungazeConnectionSensorEntityDescription(
        key="next_attempt",
        translation_key="next_attempt",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda coordinator: coordinator.next_attempt,
        exists_fn=lambda coordinator: not coordinator.connector.pushes,
    ),
    SungazeConnectionSensorEntityDescription(
        key="requests_month",
        translation_key="requests_month",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda coordinator: coordinator.connector.limiter.month_used,
        exists_fn=lambda coordinator: (
            coordinator.connector.limiter.budget.per_month is not None
        ),
    ),
    SungazeConnectionSensorEntityDescription(
        key="requests_left",
        translation_key="requests_left",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda coordinator: coordinator.budget_left(),
        exists_fn=lambda coordinator: coordinator.budget_left() is not None,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SungazeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create sensors for what the vendor reports, and add new ones as they appear."""
    coordinator = entry.runtime_data
    async_add_entities(
        SungazeConnectionSensor(coordinator, description)
        for description in CONNECTION_SENSORS
        if description.exists_fn(coordinator)
    )
    known: set[tuple[str, str]] = set()

    @callback
    def add_new(device_ids: Iterable[str] | None = None) -> None:
        """Add entities for new readings of the given devices (None: all)."""
        snapshot = coordinator.data
        new: list[SensorEntity] = []
        for device_id in snapshot.readings if device_ids is None else device_ids:
            readings = snapshot.readings.get(device_id)
            if readings is None or (device := snapshot.devices.get(device_id)) is None:
                continue
            if readings.as_of is not None and (device_id, LAST_REPORT.key) not in known:
                known.add((device_id, LAST_REPORT.key))
                new.append(
                    SungazeLastReportSensor(
                        coordinator,
                        device,
                        replace(
                            LAST_REPORT,
                            entity_registry_enabled_default=device.kind
                            not in _FINE_GRAINED,
                        ),
                    )
                )
            for key in readings.values:
                if (device_id, key) in known or (
                    desc := reading_description(key)
                ) is None:
                    continue
                known.add((device_id, key))
                cls = SungazeCounterSensor if desc.counter else SungazeSensor
                new.append(cls(coordinator, device, desc))
        if new:
            async_add_entities(new)

    @callback
    def on_update() -> None:
        """Look for new readings only on the devices that changed."""
        add_new(coordinator.changed)

    add_new()
    entry.async_on_unload(coordinator.async_add_listener(on_update))


class SungazeSensor(SungazeEntity, SensorEntity):
    """One reading of one device."""

    entity_description: SungazeSensorEntityDescription

    def __init__(
        self,
        coordinator: SungazeCoordinator,
        device: Device,
        description: SungazeSensorEntityDescription,
    ) -> None:
        """Bind the sensor to its device and reading."""
        super().__init__(coordinator, device, description.key)
        self.entity_description = description
        self._key = description.key
        self._options = description.options
        self._refresh()

    def _raw(self) -> StateType:
        readings = self.readings
        if readings is None or not readings.online:
            # A lost device's values are frozen, not fresh: unknown, never stale.
            return None
        value = readings.values.get(self._key)
        if self._options is not None and value not in self._options:
            return None
        return value

    def _refresh(self) -> None:
        """The reading as the vendor reported it, normalised."""
        self._attr_native_value = self._raw()

    def _state_key(self) -> object:
        return self._attr_native_value


@dataclass
class CounterStoredData(SensorExtraStoredData):
    """The published value, and the guard's state beyond it (a false reset's offset)."""

    guard: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        """Return what HA stores across restarts."""
        return {**super().as_dict(), "guard": self.guard}


class SungazeCounterSensor(SungazeSensor, RestoreSensor):
    """An energy counter that never goes backwards or spikes (Energy dashboard)."""

    _guard: CounterGuard | None = None
    _zone: tuple[str | None, tzinfo] | None = None
    _day_of: tuple[datetime | None, object] = (None, None)

    async def async_added_to_hass(self) -> None:
        """Seed the guard with the last published value, so restarts can't dip."""
        await super().async_added_to_hass()
        self._guard = CounterGuard(
            self.entity_description.counter or CounterKind.LIFETIME
        )
        last = await self.async_get_last_sensor_data()
        state = await self.async_get_last_state()
        if last is not None and isinstance(last.native_value, int | float) and state:
            self._guard.value = float(last.native_value)
            self._guard.as_of = state.last_updated
            self._guard.day = self._day(state.last_updated)
            stored = await self.async_get_last_extra_data()
            guard = stored.as_dict().get("guard") if stored else None
            if isinstance(guard, dict):
                self._guard.restore_extra(guard)
        self._update_guard()
        self._shown_key = self._state_key()

    def _day(self, moment: datetime) -> object:
        """The site-local day of `moment` (the site's zone, else HA's)."""
        if moment is self._day_of[0]:  # the same reading again: same day
            return self._day_of[1]
        snapshot = self.coordinator.data
        device = snapshot.devices.get(self.device_id) if snapshot else None
        site = snapshot.sites.get(device.site_id) if snapshot and device else None
        name = site.timezone if site else None
        if self._zone is None or self._zone[0] != name:
            try:
                zone: tzinfo = (
                    ZoneInfo(name) if name else dt_util.get_default_time_zone()
                )
            except ZoneInfoNotFoundError:
                zone = dt_util.get_default_time_zone()
            self._zone = (name, zone)
        day = moment.astimezone(self._zone[1]).date()
        self._day_of = (moment, day)
        return day

    def _update_guard(self) -> None:
        if (guard := self._guard) is None:
            return
        snapshot = self.coordinator.data
        readings = snapshot.readings.get(self.device_id)
        if readings is None or not readings.online:
            # A lost device's counter is unknown, not held (nor guessed).
            self._attr_native_value = None
            return
        raw = readings.values.get(self._key)
        as_of = readings.as_of or snapshot.fetched_at
        value = float(raw) if isinstance(raw, int | float) else None
        self._attr_native_value = guard.accept(value, as_of, self._day(as_of))

    def _refresh(self) -> None:
        self._update_guard()  # once the guard is seeded (added to HA)

    @property
    def extra_restore_state_data(self) -> CounterStoredData:
        """The value and the guard's offset, so a restart resumes the same series."""
        return CounterStoredData(
            self.native_value,
            self.native_unit_of_measurement,
            self._guard.extra() if self._guard else None,
        )


def _shown_time[T](value: T) -> T:
    """A time as a timestamp sensor shows it: whole seconds (else as it is)."""
    if isinstance(value, datetime):
        return value.replace(microsecond=0)
    return value


class SungazeLastReportSensor(SungazeEntity, SensorEntity):
    """When the vendor last measured this device (its own clock, not our fetch)."""

    def __init__(
        self,
        coordinator: SungazeCoordinator,
        device: Device,
        description: SensorEntityDescription,
    ) -> None:
        """Bind the sensor to its device."""
        super().__init__(coordinator, device, description.key)
        self.entity_description = description

    @property
    def native_value(self) -> datetime | None:
        """The vendor's data-as-of time."""
        readings = self.readings
        return readings.as_of if readings else None

    def _state_key(self) -> object:
        return _shown_time(self.native_value)


class SungazeConnectionSensor(SungazeConnectionEntity, SensorEntity):
    """Connection health and request budget; available even when updates fail.

    The state is written only when its value moved.
    """

    entity_description: SungazeConnectionSensorEntityDescription
    _shown: StateType | datetime = None

    def __init__(
        self,
        coordinator: SungazeCoordinator,
        description: SungazeConnectionSensorEntityDescription,
    ) -> None:
        """Bind the sensor to the entry's connection."""
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def available(self) -> bool:
        """Always: these sensors explain why the others are unavailable."""
        return True

    async def async_added_to_hass(self) -> None:
        """Remember the value written when added."""
        await super().async_added_to_hass()
        self._shown = _shown_time(self.native_value)

    @callback
    def _handle_coordinator_update(self) -> None:
        """Write the state only when the figure changed."""
        value = _shown_time(self.native_value)
        if value == self._shown:
            return
        self._shown = value
        self.async_write_ha_state()

    @property
    def native_value(self) -> StateType | datetime:
        """The connection's current figure."""
        return self.entity_description.value_fn(self.coordinator)
