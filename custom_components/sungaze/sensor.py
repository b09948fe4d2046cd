"""Sensors: one per reading a device actually reports, plus diagnostics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_track_time_interval
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
    main: bool = False
    """The device's main entity: named like the device ("SolarEdge Home connection")."""
    age: bool = False
    """`value_fn` gives a moment; the sensor shows its age (see `data_age`)."""


# On a device whose name says "battery", battery metrics drop that word
# ("Battery 1 State of charge", not "Battery 1 Battery state of charge").
_BATTERY_WORD = re.compile(r"\bbattery\b", re.IGNORECASE)
_BATTERY_METRIC = "battery_"


def _names_battery(device: Device) -> bool:
    return bool(_BATTERY_WORD.search(device.name))


@cache
def reading_description(
    key: str, on_battery: bool = False
) -> SungazeSensorEntityDescription | None:
    """Build the description of one reading key from the catalogue."""
    if (spec := metric_spec(key)) is None:
        return None
    index = metric_index(key)
    translation_key = f"{spec.key}_n" if index else spec.key
    if on_battery and spec.key.startswith(_BATTERY_METRIC):
        translation_key = f"{translation_key}_own"
    return SungazeSensorEntityDescription(
        key=key,
        translation_key=translation_key,
        translation_placeholders={"index": index} if index else None,
        native_unit_of_measurement=spec.unit,
        device_class=SensorDeviceClass(spec.device_class)
        if spec.device_class
        else None,
        state_class=SensorStateClass(spec.state_class) if spec.state_class else None,
        suggested_unit_of_measurement=spec.suggested_unit,
        suggested_display_precision=spec.precision,
        entity_registry_enabled_default=not spec.technical,
        options=list(spec.options) if spec.options else None,
        counter=spec.counter,
    )


# How old the vendor's latest measurement of a device is. Not a timestamp of it:
# that changes with every sample (every 10-30 s for some vendors) and a
# timestamp sensor's every change is a logbook entry. A duration with a unit is
# "continuous" for the logbook (not listed there) and, rounded, changes only
# when the data gets late. The key stays "last_report" (existing entity ids).
LAST_REPORT = SensorEntityDescription(
    key="last_report",
    translation_key="data_age",
    device_class=SensorDeviceClass.DURATION,
    native_unit_of_measurement=UnitOfTime.MINUTES,
    state_class=SensorStateClass.MEASUREMENT,
    suggested_display_precision=0,
    entity_category=EntityCategory.DIAGNOSTIC,
)
AGE_REFRESH = timedelta(minutes=1)
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
        main=True,
    ),
    # An age, not a timestamp, for the reason given at LAST_REPORT.
    SungazeConnectionSensorEntityDescription(
        key="last_update",
        translation_key="update_age",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MINUTES,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda coordinator: coordinator.last_success,
        age=True,
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
    def add_new() -> None:
        snapshot = coordinator.data
        if snapshot is None:
            return
        new: list[SensorEntity] = []
        for device_id, readings in snapshot.readings.items():
            if (device := snapshot.devices.get(device_id)) is None:
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
            on_battery = _names_battery(device)
            for key in readings.values:
                if (device_id, key) in known or (
                    desc := reading_description(key, on_battery)
                ) is None:
                    continue
                known.add((device_id, key))
                cls = SungazeCounterSensor if desc.counter else SungazeSensor
                new.append(cls(coordinator, device, desc))
        if new:
            async_add_entities(new)

    add_new()
    entry.async_on_unload(coordinator.async_add_listener(add_new))


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

    def _raw(self) -> StateType:
        readings = self.readings
        if readings is None or not readings.online:
            # A lost device's values are frozen, not fresh: unknown, never stale.
            return None
        value = readings.values.get(self.entity_description.key)
        options = self.entity_description.options
        if options is not None and value not in options:
            return None
        return value

    @property
    def native_value(self) -> StateType:
        """The reading as the vendor reported it, normalised."""
        return self._raw()


class SungazeCounterSensor(SungazeSensor, RestoreSensor):
    """An energy counter that never goes backwards or spikes (Energy dashboard)."""

    _guard: CounterGuard

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
        self._update_guard()

    def _day(self, moment: datetime) -> object:
        snapshot = self.coordinator.data
        device = snapshot.devices.get(self.device_id) if snapshot else None
        site = snapshot.sites.get(device.site_id) if snapshot and device else None
        try:
            zone = (
                ZoneInfo(site.timezone)
                if site and site.timezone
                else dt_util.get_default_time_zone()
            )
        except ZoneInfoNotFoundError:
            zone = dt_util.get_default_time_zone()
        return moment.astimezone(zone).date()

    def _update_guard(self) -> None:
        raw = self._raw()
        readings = self.readings
        as_of = (
            readings.as_of if readings else None
        ) or self.coordinator.data.fetched_at
        value = float(raw) if isinstance(raw, int | float) else None
        if value is None and (readings is None or not readings.online):
            self._attr_native_value = None
            return
        self._attr_native_value = self._guard.accept(value, as_of, self._day(as_of))

    @callback
    def _handle_coordinator_update(self) -> None:
        self._update_guard()
        super()._handle_coordinator_update()

    @property
    def native_value(self) -> StateType:
        """The guarded counter value."""
        return self._attr_native_value  # type: ignore[return-value]


def data_age(age: timedelta) -> int:
    """Minutes, coarser as they grow, so that the state changes rarely.

    Whole minutes up to 15, then steps of 5 up to an hour, then of 15 minutes.
    """
    minutes = max(int(age.total_seconds() // 60), 0)
    for limit, step in ((15, 1), (60, 5)):
        if minutes < limit:
            return minutes - minutes % step
    return minutes - minutes % 15


class _AgeSensor(SensorEntity):
    """Shows how old a moment is, re-aged every minute between updates."""

    _attr_native_value: StateType | datetime
    _ages = True

    def _moment(self) -> datetime | None:
        raise NotImplementedError

    async def async_added_to_hass(self) -> None:
        """Age the value between updates too: late data must show as late."""
        await super().async_added_to_hass()
        if self._ages:
            self._refresh()
            self.async_on_remove(
                async_track_time_interval(self.hass, self._tick, AGE_REFRESH)
            )

    def _refresh(self) -> bool:
        moment = self._moment()
        value = data_age(dt_util.utcnow() - moment) if moment else None
        changed = value != self._attr_native_value
        self._attr_native_value = value
        return changed

    @callback
    def _tick(self, _now: datetime) -> None:
        if self._refresh():
            self.async_write_ha_state()


class SungazeLastReportSensor(SungazeEntity, _AgeSensor):
    """How old the vendor's latest measurement of this device is (its clock)."""

    def __init__(
        self,
        coordinator: SungazeCoordinator,
        device: Device,
        description: SensorEntityDescription,
    ) -> None:
        """Bind the sensor to its device."""
        super().__init__(coordinator, device, description.key)
        self.entity_description = description
        self._attr_native_value = None

    def _moment(self) -> datetime | None:
        readings = self.readings
        return readings.as_of if readings else None

    @callback
    def _handle_coordinator_update(self) -> None:
        self._refresh()
        super()._handle_coordinator_update()


class SungazeConnectionSensor(SungazeConnectionEntity, _AgeSensor):
    """Connection health and request budget; available even when updates fail."""

    entity_description: SungazeConnectionSensorEntityDescription

    def __init__(
        self,
        coordinator: SungazeCoordinator,
        description: SungazeConnectionSensorEntityDescription,
    ) -> None:
        """Bind the sensor to the entry's connection."""
        super().__init__(coordinator, description.key)
        self.entity_description = description
        self._ages = description.age
        self._attr_native_value = None
        if description.main:
            self._attr_name = None

    def _moment(self) -> datetime | None:
        value = self.entity_description.value_fn(self.coordinator)
        return value if isinstance(value, datetime) else None

    @callback
    def _handle_coordinator_update(self) -> None:
        if self._ages:
            self._refresh()
        super()._handle_coordinator_update()

    @property
    def available(self) -> bool:
        """Always: these sensors explain why the others are unavailable."""
        return True

    @property
    def native_value(self) -> StateType | datetime:
        """The connection's current figure."""
        if self._ages:
            return self._attr_native_value
        return self.entity_description.value_fn(self.coordinator)
