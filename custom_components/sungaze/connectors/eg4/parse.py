"""EG4 / Luxpower portal answers into the normalised model.

`Parser` keeps what parsing learns across updates (PV inputs seen connected,
firmware, battery banks and their modules) and gathers field faults during an
update, logged once per update and kind by `log_faults`. No I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
import logging
from typing import Any

from ...model import Device, DeviceKind, Readings, Value, as_float, plausible
from .tables import (
    DERIVED,
    GRIDBOSS,
    INVERTER,
    LOAD_FIELDS,
    MODE_CODES,
    MODULE_GRACE,
    NO_BMS_TEMPERATURE,
    PARALLEL_MIN,
    SCALES,
    SLOT_LABEL,
    SUMMED,
    THREE_PHASE,
)

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Unit:
    """An inverter or GridBOSS from the login tree."""

    serial: str
    plant_id: str
    device_type: int
    model: str | None
    three_phase: bool


@dataclass(slots=True)
class Plant:
    """A station from the login tree."""

    id: str
    name: str
    units: list[Unit]
    groups: dict[str, str]
    """Parallel group -> the serial the portal names first in it."""
    members: dict[str, str] | None = None
    """Inverter serial -> its parallel group (overview list); None: not asked yet."""
    offset: timedelta | None = None
    """The plant's current UTC offset (login tree), which its days follow."""
    created: date | None = None
    """The plant's `createDate` (plant list), asked for the history only."""

    @property
    def inverters(self) -> list[Unit]:
        """The plant's inverters (not its GridBOSS)."""
        return [unit for unit in self.units if unit.device_type == INVERTER]


@dataclass(slots=True)
class Bank:
    """The last battery answer of one inverter."""

    fetched: datetime
    current: float | None
    modules: dict[str, tuple[Device, Readings, datetime]]


class Parser:
    """Turns portal answers into devices and readings."""

    def __init__(self) -> None:
        """Start knowing nothing."""
        self.brand = "EG4 Electronics"
        self.banks: dict[str, Bank] = {}
        self._strings: dict[str, set[int]] = {}
        self._firmware: dict[str, str] = {}
        self._faults: dict[str, dict[str, str]] = {}
        """Fault kind -> field -> raw value, gathered during one update."""
        self._said: set[tuple[str, str]] = set()
        self._warned: set[str] = set()

    # -- the login tree ----------------------------------------------------------

    def tree(
        self, payload: Mapping[str, Any], known: Mapping[str, Plant]
    ) -> dict[str, Plant]:
        """The plants of a login reply; known parallel membership is kept."""
        if "eg4" not in str(payload.get("platform") or "EG4").lower():
            self.brand = "Luxpower"
        plants: dict[str, Plant] = {}
        for item in as_list(payload.get("plants")):
            if (plant_id := item.get("plantId")) is None:
                continue
            units = [
                Unit(
                    serial=str(unit["serialNum"]),
                    plant_id=str(plant_id),
                    device_type=int(as_float(unit.get("deviceType")) or 0),
                    model=text(
                        unit.get("deviceTypeText4APP") or unit.get("deviceTypeText")
                    ),
                    three_phase=as_float(unit.get("phase")) == THREE_PHASE,
                )
                for unit in as_list(item.get("inverters"))
                if unit.get("serialNum")
            ]
            groups = {
                str(group["parallelGroup"]): str(
                    group.get("parallelFirstDeviceSn") or ""
                )
                for group in as_list(item.get("parallelGroups"))
                if group.get("parallelGroup")
            }
            old = known.get(str(plant_id))
            plants[str(plant_id)] = Plant(
                id=str(plant_id),
                name=str(item.get("name") or plant_id),
                units=units,
                groups=groups,
                members=old.members if old and old.groups == groups else None,
                offset=utc_offset(item),
                created=old.created if old else None,
            )
        return plants

    def unit_device(self, unit: Unit) -> Device:
        """The device of an inverter or GridBOSS."""
        kind = DeviceKind.INVERTER if unit.device_type == INVERTER else DeviceKind.OTHER
        model = unit.model
        if unit.device_type == GRIDBOSS:
            kind, model = DeviceKind.METER, "GridBOSS"
        return Device(
            id=unit.serial,
            kind=kind,
            name=f"{model or 'Inverter'} {unit.serial}",
            site_id=unit.plant_id,
            manufacturer=self.brand,
            model=model,
            serial=unit.serial,
            firmware=self._firmware.get(unit.serial),
        )

    # -- fields ------------------------------------------------------------------

    def scaled(
        self, table: str, payload: Mapping[str, Any], values: dict[str, Value]
    ) -> None:
        """Apply one scale table (and its derived quantities) to a payload."""
        for wire, (metric, factor) in SCALES[table].items():
            if (value := self.number(payload, wire)) is not None:
                self.keep(values, metric, scale(value, factor), wire)
        for metric, (plus, minus, factor) in DERIVED.get(table, {}).items():
            added = [self.number(payload, wire) for wire in plus]
            taken = [self.number(payload, wire) for wire in minus]
            if None not in added and None not in taken:
                total = _sum(added) - _sum(taken)
                self.keep(values, metric, scale(total, factor), metric)

    def keep(
        self, values: dict[str, Value], metric: str, value: float, wire: str
    ) -> None:
        """Store a value, or note it as implausible (unknown) for this update's log."""
        if plausible(metric, value):
            values[metric] = value
        else:
            self._faults.setdefault("implausible", {})[wire] = repr(value)

    def number(self, payload: Mapping[str, Any], wire: str) -> float | None:
        """A field as a number; `""`/missing is absent, anything else unparseable is noted."""
        raw = payload.get(wire)
        value = as_float(raw)
        if value is None and raw not in (None, ""):
            self._faults.setdefault("not a number", {})[wire] = repr(raw)[:40]
        return value

    def log_faults(self) -> None:
        """One line per fault kind for this update, naming fields not named before."""
        for kind, fields in self._faults.items():
            new = {
                wire: raw
                for wire, raw in fields.items()
                if (kind, wire) not in self._said
            }
            if new:
                self._said.update((kind, wire) for wire in new)
                _LOGGER.warning(
                    "EG4 fields %s, left unknown: %s",
                    kind,
                    ", ".join(f"{wire}={raw}" for wire, raw in sorted(new.items())),
                )
        self._faults.clear()

    def _log_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            _LOGGER.warning(message)

    # -- answers -------------------------------------------------------------------

    def inverter(
        self,
        unit: Unit,
        runtime: Mapping[str, Any] | None,
        energy: Mapping[str, Any] | None,
    ) -> Readings | None:
        """An inverter's readings from its runtime and energy answers."""
        if runtime is None:
            return None
        values: dict[str, Value] = {}
        self.scaled("runtime", runtime, values)
        if unit.three_phase:
            self.scaled("runtime_three_phase", runtime, values)
        if values.get("battery_temperature") == NO_BMS_TEMPERATURE:
            del values["battery_temperature"]
        seen = self._strings.setdefault(unit.serial, set())
        for n in range(1, 7):
            volts = values.get(f"pv_voltage_{n}")
            if volts is not None and float(volts) > 0:
                seen.add(n)
            if n not in seen:  # an input nothing is connected to: no phantom entities
                values.pop(f"pv_voltage_{n}", None)
                values.pop(f"pv_power_{n}", None)
        for wire in LOAD_FIELDS:
            if (load := self.number(runtime, wire)) is not None:
                self.keep(values, "consumption_power", load, wire)
                break
        if (
            "battery_power" not in values
            and (net := self.number(runtime, "batPower")) is not None
        ):
            self.keep(values, "battery_power", -net, "batPower")  # batPower is + charge
        if (code := self.number(runtime, "status")) is not None:
            if (mode := MODE_CODES.get(int(code))) is not None:
                values["operating_mode"] = mode
            else:
                self._log_once(
                    f"mode:{int(code)}", f"Unknown EG4 operating mode {int(code):#x}"
                )
        bank = self.banks.get(unit.serial)
        if bank is not None and bank.current is not None:
            values["battery_current"] = bank.current
        if energy is not None:
            self.scaled("energy", energy, values)
        if fw := text(runtime.get("fwCode")):
            self._firmware[unit.serial] = fw
        return Readings(
            values=values,
            as_of=parse_time(runtime.get("serverTime")),
            online=runtime.get("lost") is not True,
        )

    def battery(
        self, unit: Unit, payload: Mapping[str, Any] | None, now: datetime
    ) -> None:
        """Keep the bank current (+ discharge) and the modules of one battery answer."""
        old = self.banks.get(unit.serial)
        modules = dict(old.modules) if old else {}
        current: float | None = None
        if payload is not None:
            magnitude = self.number(payload, "currentText")
            direction = str(payload.get("currentType") or "").lower()
            if magnitude is not None and direction in ("charge", "discharge"):
                current = -magnitude if direction == "charge" else magnitude
            elif magnitude == 0:
                current = 0.0
            for module in as_list(payload.get("batteryArray")):
                if (parsed := self.module(unit, module)) is not None:
                    modules[parsed[0].id] = (*parsed, now)
        for key in [
            k for k, (_, _, seen) in modules.items() if now - seen > MODULE_GRACE
        ]:
            del modules[key]  # rotated out (>4 packs) for too long, or removed
        self.banks[unit.serial] = Bank(fetched=now, current=current, modules=modules)

    def module(
        self, unit: Unit, item: Mapping[str, Any]
    ) -> tuple[Device, Readings] | None:
        """One battery module's device and readings."""
        key = text(item.get("batteryKey"))
        if key is None:
            return None
        index = as_float(item.get("batIndex"))
        number = int(index) + 1 if index is not None else key.rsplit("_", 1)[-1]
        values: dict[str, Value] = {}
        self.scaled("module", item, values)
        device = Device(
            id=key,
            kind=DeviceKind.BATTERY_MODULE,
            name=f"{unit.serial} battery {number}",
            site_id=unit.plant_id,
            manufacturer=self.brand,
            model=text(item.get("batBmsModelText"))
            or text(item.get("batteryTypeText")),
            serial=module_serial(item),
            firmware=text(item.get("fwVersionText")),
            parent=unit.serial,
        )
        readings = Readings(
            values=values,
            as_of=parse_time(item.get("lastUpdateTime")),
            online=item.get("lost") is not True,
        )
        return device, readings

    def midbox(self, payload: Mapping[str, Any] | None) -> Readings | None:
        """A GridBOSS's readings."""
        if payload is None:
            return None
        data = payload.get("midboxData")
        if not isinstance(data, Mapping):
            self._log_once("midbox", "EG4 GridBOSS answer has no midboxData")
            return None
        values: dict[str, Value] = {}
        self.scaled("midbox", data, values)
        if fw := text(payload.get("fwCode")):
            self._firmware[str(payload.get("serialNum"))] = fw
        return Readings(
            values=values,
            as_of=parse_time(data.get("serverTime")),
            online=payload.get("lost") is not True,
        )

    def station(
        self,
        plant: Plant,
        readings: Mapping[str, Readings],
        parallel: Mapping[str, Mapping[str, Any] | None],
    ) -> Readings | None:
        """System totals of a station with two or more inverters.

        `parallel` maps each parallel group to its energy answer.
        """
        units = [readings.get(unit.serial) for unit in plant.inverters]
        if len(units) < PARALLEL_MIN or any(r is None for r in units):
            return None
        members = [r for r in units if r is not None]
        values: dict[str, Value] = {}
        for metric in SUMMED:
            parts = [r.values.get(metric) for r in members]
            if all(isinstance(p, float) for p in parts):
                values[metric] = sum(float(p) for p in parts if p is not None)
        grouped = groups(plant)
        counters: list[dict[str, Value]] = []
        for group in grouped:
            totals: dict[str, Value] = {}
            if (payload := parallel.get(group)) is not None:
                self.scaled("energy", payload, totals)
            counters.append(totals)
        in_group = {serial for serials in grouped.values() for serial in serials}
        counters += [
            dict(readings[unit.serial].values)
            for unit in plant.inverters
            if unit.serial not in in_group
        ]
        for metric, _ in SCALES["energy"].values():
            parts = [c.get(metric) for c in counters]
            if parts and all(isinstance(p, float) for p in parts):
                values[metric] = sum(float(p) for p in parts if p is not None)
        stamps = [r.as_of for r in members if r.as_of is not None]
        return Readings(
            values=values,
            as_of=max(stamps) if stamps else None,
            online=all(r.online for r in members),
        )


def groups(plant: Plant) -> dict[str, list[str]]:
    """Parallel groups of two or more inverters: group -> member serials."""
    found: dict[str, list[str]] = {}
    for unit in plant.inverters:
        if group := (plant.members or {}).get(unit.serial):
            found.setdefault(group, []).append(unit.serial)
    return {
        group: serials
        for group, serials in found.items()
        if len(serials) >= PARALLEL_MIN
    }


def utc_offset(item: Mapping[str, Any]) -> timedelta | None:
    """A plant's `timezoneHourOffset`/`timezoneMinuteOffset` (login tree), if sane.

    The minutes' sign for offsets such as -9:30 is UNCONFIRMED: they are taken
    to lie on the hours' side whatever their sign.
    """
    hours = as_float(item.get("timezoneHourOffset"))
    if hours is None or not -14 <= hours <= 14:  # the world's zones
        return None
    minutes = abs(as_float(item.get("timezoneMinuteOffset")) or 0.0)
    return timedelta(hours=hours, minutes=-minutes if hours < 0 else minutes)


def module_serial(item: Mapping[str, Any]) -> str | None:
    """A module's serial, unless it is the portal's positional label.

    The portal's sample answers `batterySn: "Battery_ID_01"` (the same under
    every inverter): a slot, not a serial; shown as none. Whether some
    batteries report a real serial here is UNCONFIRMED.
    """
    serial = text(item.get("batterySn"))
    if serial is None or SLOT_LABEL.fullmatch(serial):
        return None
    return serial


def scale(value: float, factor: float) -> float:
    """Apply a scale; rounding drops float noise (0.1 * 3 = 0.30000000000000004).

    Adding 0.0 turns a negated zero (-0.0) into 0.0.
    """
    return round(value * factor, 6) + 0.0


def _sum(parts: list[float | None]) -> float:
    return sum(part for part in parts if part is not None)


def as_list(raw: object) -> list[Mapping[str, Any]]:
    """The objects of a JSON list (anything else: none)."""
    return (
        [item for item in raw if isinstance(item, Mapping)]
        if isinstance(raw, list)
        else []
    )


def text(raw: object) -> str | None:
    """A field as stripped text; blank is None."""
    return str(raw).strip() or None if raw not in (None, "") else None


def parse_time(raw: object) -> datetime | None:
    """`YYYY-MM-DD HH:MM:SS` in UTC (INFERRED from the captures)."""
    if not isinstance(raw, str):
        return None
    try:
        return datetime.strptime(raw.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
