"""Sensors: one per reading a device actually reports, plus diagnostics."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from functools import cache
import re
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
        entity_category=EntityCategory.DIAGNOSTIC if spec.diagnostic else None,
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


def data_age(age: timedelta) -> int:
    """Minutes, coarser as they grow, so that the state changes rarely.

    Steps of 5 minutes up to a quarter-hour, of 15 up to two hours, then of an
    hour: fresh data shows as fresh, late data as late, and a night without
    data costs a handful of recorder rows, not one a minute.
    """
    minutes = max(int(age.total_seconds() // 60), 0)
    for limit, step in ((15, 5), (120, 15)):
        if minutes < limit:
            return minutes - minutes % step
    return minutes - minutes % 60


class _AgeSensor(SensorEntity):
    """Shows how old a moment is, re-aged every minute between updates.

    The state is written only when the rounded age moves.
    """

    _attr_native_value: StateType | datetime = None
    _ages = True
    _shown_age: StateType | datetime = None

    def _moment(self) -> datetime | None:
        raise NotImplementedError

    async def async_added_to_hass(self) -> None:
        """Age the value between updates too: late data must show as late."""
        await super().async_added_to_hass()
        if self._ages:
            self._age()
            self._shown_age = self._attr_native_value
            self.async_on_remove(
                async_track_time_interval(self.hass, self._tick, AGE_REFRESH)
            )

    def _age(self) -> None:
        moment = self._moment()
        self._attr_native_value = (
            data_age(dt_util.utcnow() - moment) if moment else None
        )

    @callback
    def _tick(self, _now: datetime) -> None:
        self._age()
        if self._attr_native_value != self._shown_age:
            self._shown_age = self._attr_native_value
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

    def _moment(self) -> datetime | None:
        readings = self.readings
        return readings.as_of if readings else None

    def _refresh(self) -> None:
        self._age()

    def _state_key(self) -> object:
        self._shown_age = self._attr_native_value
        return self._attr_native_value


class SungazeConnectionSensor(SungazeConnectionEntity, _AgeSensor):
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
        self._ages = description.age
        if description.main:
            self._attr_name = None

    def _moment(self) -> datetime | None:
        value = self.entity_description.value_fn(self.coordinator)
        return value if isinstance(value, datetime) else None

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
        if self._ages:
            self._age()
        value = _shown_time(self.native_value)
        if value == self._shown:
            return
        self._shown = self._shown_age = value
        self.async_write_ha_state()

    @property
    def native_value(self) -> StateType | datetime:
        """The connection's current figure."""
        if self._ages:
            return self._attr_native_value
        return self.entity_description.value_fn(self.coordinator)
