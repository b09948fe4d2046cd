"""CPS (Chint Power Systems) string inverters: what the Modbus and MQTT paths share.

CPS inverters are reached either over Modbus (`cps_modbus`) or through a
gateway that publishes Sungaze's MQTT schema (`cps_mqtt`). Both decode into a
transport-neutral `CpsFrame`; `CpsInverter` turns frames into devices,
readings and alerts, so the two transports expose identical entities.

`CpsBase` is what both transports' connectors share; the registry entry
`CpsConnector` (the package's `__init__`) dispatches on the entry's
`transport` ("modbus" or "mqtt"). The transports import this module, never the
package's entry, so there is no import loop.

Decisions where the notes (shared/api/tigo-cps.md Part B) leave a choice open:

* Work mode 0x4000 ("Check", start-up checks) is published as `starting`, as
  B.5 suggests; a remote-off inverter (holding 0x1000 = 0x5555) is `off`
  unless it reports a fault.
* While the inverter is not running or derating, AC/DC measurements are not
  trusted (B.8): AC and PV power are published as 0 W (nothing is converted),
  voltages, currents and frequency are left out (unknown).
* A grid frequency of exactly 0 Hz is "no value" (seen while running on a real
  unit, B.7).
* Fault texts exist only for some families (B.5): the 50/60 kW KTL texts are
  used for models rated 50-60 kW, the PVI warning texts for 14-36 kW; every
  other bit is reported as "<register> bit <n>". Which family a model belongs
  to is read from the kW figure in its model string (UNCONFIRMED heuristic).
* Lifetime energy: see `LifetimeStitcher`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
import hashlib
import logging
import re
from typing import Any, ClassVar, Final

from ...model import (
    Alert,
    Device,
    DeviceKind,
    Readings,
    Severity,
    Site,
    Value,
    plausible,
)
from ..base import Connector, RequestBudget

_LOGGER = logging.getLogger(__name__)

MANUFACTURER: Final = "CPS"

WORK_MODES: Final = {
    0x0800: "derating",
    0x1000: "running",
    0x2000: "standby",
    0x4000: "starting",
    0x8000: "fault",
}
PRODUCING: Final = frozenset({"running", "derating"})
REMOTE_ON: Final = 0xAAAA
REMOTE_OFF: Final = 0x5555

NIGHTLY_LIFETIME_FIRMWARE: Final = frozenset({1797, 2053, 1284})
"""Firmware (register 0x0005, decimal) known to add to lifetime energy only at night (B.8)."""

# Bit texts per register and family (B.5). Unlisted bits get a generic text.
_KTL_TEXTS: Final[Mapping[str, Mapping[int, str]]] = {
    "perm_fault": {
        0: "Bus sum voltage high",
        1: "3.3 V supply low",
        2: "Bus differential voltage high",
        3: "Relay fault",
        4: "Steady-state ground fault current (GFCI)",
        5: "Boost hardware over-current",
        6: "DC injection high",
        7: "Bus hardware over-voltage",
        8: "Inverter hardware over-current",
        9: "Driver source fault",
        12: "Power module fault",
        13: "Internal hardware fault",
        14: "Open-loop self-test failed",
        15: "Control board supply fault",
    },
    "warning": {
        0: "External fan fault",
        1: "Internal fan fault",
        2: "Communication error",
        3: "EEPROM fault",
        4: "DC-side surge protection fault",
        5: "Temperature sensor fault",
        7: "AC surge protection (MOV) fault",
    },
    "fault0": {
        0: "Bus sum voltage high",
        2: "Bus difference voltage high",
        3: "Bus soft-start timeout",
        4: "Inverter soft-start timeout",
        5: "PV over-voltage",
        6: "PV1 over-current",
        7: "Grid line voltage out of range",
        8: "Grid phase voltage out of range",
        9: "Inverter over-current",
        10: "Grid over-frequency",
        11: "Grid under-frequency",
        12: "Grid out of phase",
        13: "Grid relay fault",
        14: "Over-temperature",
        15: "Inverter current bias",
    },
}
_PVI_TEXTS: Final[Mapping[str, Mapping[int, str]]] = {
    "warning": {
        0: "External fan fault",
        1: "Internal fan fault",
        2: "Internal communication error",
        3: "DSP EEPROM fault",
        6: "Temperature sensor fault",
        9: "LCD EEPROM fault",
    },
}
_REGISTER_NAMES: Final = {
    "perm_fault": "Permanent fault",
    "warning": "Warning",
    "fault0": "Fault0",
    "fault1": "Fault1",
    "fault2": "Fault2",
    "fault3": "Fault3",
    "fault4": "Fault4",
}
_RATING: Final = re.compile(r"(\d{2,3})\s*K?TL", re.IGNORECASE)


def family_texts(model: str | None) -> Mapping[str, Mapping[int, str]]:
    """Return the fault texts of a model's family, from the kW rating in its name."""
    match = _RATING.search(model or "")
    if match is None:
        return {}
    rating = int(match[1])
    if 50 <= rating <= 60:
        return _KTL_TEXTS
    if 14 <= rating <= 36:
        return _PVI_TEXTS
    return {}


@dataclass(frozen=True, slots=True, kw_only=True)
class CpsFrame:
    """One inverter's measurement in engineering units (None = no value)."""

    serial: str
    as_of: datetime
    model: str | None = None
    firmware: int | None = None
    device_code: int | None = None
    ac_power_w: float | None = None
    energy_today_wh: float | None = None
    energy_lifetime_wh: float | None = None
    grid_voltages_v: tuple[float | None, ...] = ()
    """Line voltages Vab, Vbc, Vca."""
    grid_currents_a: tuple[float | None, ...] = ()
    """Phase currents Ia, Ib, Ic."""
    frequency_hz: float | None = None
    mppt: tuple[tuple[float | None, float | None], ...] = ()
    """(voltage V, current A) per MPPT, index 1 first."""
    temp_heatsink_c: float | None = None
    temp_internal_c: float | None = None
    temp_transformer_c: float | None = None
    work_mode_raw: int | None = None
    work_mode: str | None = None
    """Set by transports that send the state name instead of the raw code."""
    on_off_raw: int | None = None
    power_limit_pct: float | None = None
    bitfields: Mapping[str, int | None] = field(default_factory=dict)
    """perm_fault, warning, fault0..fault4 as raw 16-bit fields."""

    @property
    def mode(self) -> str | None:
        """The normalised work mode (see the module docstring)."""
        mode = self.work_mode
        if mode is None and self.work_mode_raw is not None:
            mode = WORK_MODES.get(self.work_mode_raw, "unknown")
        if self.on_off_raw == REMOTE_OFF and mode != "fault":
            return "off"
        return mode


@dataclass(slots=True)
class LifetimeStitcher:
    """Turns the CPS lifetime register into a counter that moves during the day.

    Lifetime energy has 1 kWh resolution, and some firmware adds the day's
    energy to it only at night (B.8), which would put a whole day's production
    into one night-time hour of the Energy dashboard. The published value is
    `max(lifetime, anchor + (today - today_at_anchor))`: the daily counter
    (0.1 kWh) carries the progress, and when the firmware finally adds the day
    the two agree, so nothing jumps. The anchor moves when the daily counter
    restarts.

    At the first reading, firmware known for the night-only behaviour that is
    producing cannot hold today's energy in the register yet, so the anchor is
    taken at today = 0 (a restart at noon keeps the morning). Should such an
    inverter's register move while it produces after all, it counts during
    the day: the anchor follows the register from then on.

    Within a session the value never decreases: rounding and the correction
    above are held flat until the register catches up. Only a drop below half
    the published value (a re-based or replaced meter) passes, for the sensor's
    counter guard to judge.
    """

    nightly: bool = False
    anchor_wh: float | None = None
    anchor_today_wh: float = 0.0
    last_today_wh: float | None = None
    last_lifetime_wh: float | None = None
    published_wh: float | None = None

    def update(
        self,
        lifetime_wh: float | None,
        today_wh: float | None,
        *,
        producing: bool = False,
    ) -> float | None:
        """Return the lifetime value to publish for one reading."""
        if lifetime_wh is None:
            return self.published_wh
        if self.published_wh is not None and lifetime_wh < self.published_wh / 2:
            self.anchor_wh = self.published_wh = self.last_today_wh = None
        candidate = lifetime_wh
        if today_wh is not None:
            if self.anchor_wh is None:
                self.anchor_wh = lifetime_wh
                self.anchor_today_wh = 0.0 if self.nightly and producing else today_wh
            elif self.last_today_wh is not None and today_wh < self.last_today_wh:
                self.anchor_wh = max(lifetime_wh, self.published_wh or 0.0)
                self.anchor_today_wh = today_wh
            elif (
                self.nightly
                and producing
                and self.last_lifetime_wh is not None
                and lifetime_wh > self.last_lifetime_wh
            ):
                self.nightly = False
                self.anchor_wh, self.anchor_today_wh = lifetime_wh, today_wh
            self.last_today_wh = today_wh
            candidate = max(
                lifetime_wh, self.anchor_wh + today_wh - self.anchor_today_wh
            )
        if self.published_wh is not None:
            candidate = max(candidate, self.published_wh)
        self.last_lifetime_wh = lifetime_wh
        self.published_wh = candidate
        return candidate

    def as_dict(self) -> dict[str, Any]:
        """State for diagnostics."""
        return {
            "night_only_firmware": self.nightly,
            "anchor_wh": self.anchor_wh,
            "anchor_today_wh": self.anchor_today_wh,
            "published_wh": self.published_wh,
        }


class CpsInverter:
    """What Sungaze knows about one inverter across updates."""

    def __init__(
        self, serial: str, site_id: str, name: str, *, unit_id: int | None = None
    ) -> None:
        """Start with no readings."""
        self.serial = serial
        self.site_id = site_id
        self.name = name
        self.unit_id = unit_id
        self.device: Device | None = None
        self.frame: CpsFrame | None = None
        self.stitcher = LifetimeStitcher()
        self.lifetime_wh: float | None = None
        self._since: dict[str, datetime] = {}
        self._seen_firmware = False
        self._absurd: set[str] = set()
        """Readings already logged as implausible."""

    def apply(self, frame: CpsFrame) -> tuple[Readings, tuple[Alert, ...]]:
        """Take a new frame; return the readings and open alerts it means."""
        if not self._seen_firmware and frame.firmware is not None:
            self._seen_firmware = True
            self.stitcher.nightly = frame.firmware in NIGHTLY_LIFETIME_FIRMWARE
        self.frame = frame
        self.device = Device(
            id=self.serial,
            kind=DeviceKind.INVERTER,
            name=self.name,
            site_id=self.site_id,
            manufacturer=MANUFACTURER,
            model=frame.model or (self.device.model if self.device else None),
            serial=self.serial,
            firmware=str(frame.firmware) if frame.firmware is not None else None,
        )
        self.lifetime_wh = self.stitcher.update(
            frame.energy_lifetime_wh,
            frame.energy_today_wh,
            producing=frame.mode in PRODUCING,
        )
        return Readings(values=self._values(frame), as_of=frame.as_of), self._alerts(
            frame
        )

    def asleep(self) -> Readings:
        """Readings while the inverter does not answer: only the lifetime counter is kept."""
        values: dict[str, Value] = {}
        if self.lifetime_wh is not None:
            values["production_energy_lifetime"] = self.lifetime_wh
        return Readings(values=values, as_of=self.frame.as_of if self.frame else None)

    def failed(self, code: int, text: str, now: datetime) -> tuple[Readings, Alert]:
        """Readings and alert while the inverter answers with a failure exception.

        The work mode shows `fault` and the problem sensor turns on; the
        lifetime counter is kept, other values are unknown.
        """
        readings = self.asleep()
        alert_code = f"modbus.0x{code:02X}"
        started = self._since.setdefault(alert_code, now)
        for other in [
            c for c in self._since if c.startswith("modbus.") and c != alert_code
        ]:
            del self._since[other]
        alert = Alert(
            id=f"{self.serial}_modbus_exception",
            device_id=self.serial,
            severity=Severity.WARNING if code in (0x05, 0x06) else Severity.CRITICAL,
            code=alert_code,
            message=f"The inverter reports {text}",
            started=started,
        )
        values = {**readings.values, "work_mode": "fault"}
        return Readings(values=values, as_of=readings.as_of), alert

    def _values(self, frame: CpsFrame) -> dict[str, Value]:
        mode = frame.mode
        values: dict[str, Value] = {
            "work_mode": mode,
            "production_energy_today": frame.energy_today_wh,
            "production_energy_lifetime": self.lifetime_wh,
            "temperature": frame.temp_heatsink_c,
            "internal_temperature": frame.temp_internal_c,
            "transformer_temperature": frame.temp_transformer_c,
        }
        mppts = [
            (i, v, a) for i, (v, a) in enumerate(frame.mppt, start=1) if v is not None
        ]
        if mode in PRODUCING:
            values["ac_power"] = frame.ac_power_w
            for index, volts in enumerate(frame.grid_voltages_v, start=1):
                values[f"grid_voltage_{index}"] = volts
            for index, amps in enumerate(frame.grid_currents_a, start=1):
                values[f"grid_current_{index}"] = amps
            values["ac_frequency"] = frame.frequency_hz
            dc_total: float | None = 0.0
            for index, volts, amps in mppts:
                values[f"pv_voltage_{index}"] = volts
                values[f"pv_current_{index}"] = amps
                power = round(volts * amps, 1) if amps is not None else None
                values[f"pv_power_{index}"] = power
                dc_total = (
                    dc_total + power
                    if dc_total is not None and power is not None
                    else None
                )
            if mppts:
                values["dc_power"] = dc_total
        elif mode is not None:
            values["ac_power"] = 0.0
            for index, _volts, _amps in mppts:
                values[f"pv_power_{index}"] = 0.0
            if mppts:
                values["dc_power"] = 0.0
        match = _RATING.search(frame.model or "")
        peak = int(match[1]) * 1000.0 if match else None
        absurd = sorted(
            key for key, value in values.items() if not plausible(key, value, peak)
        )
        if absurd and set(absurd) - self._absurd:
            # One line per update for every newly implausible reading.
            _LOGGER.warning(
                "CPS inverter %s sends implausible values, left unknown: %s",
                self.name,
                ", ".join(f"{key}={values[key]!r}" for key in absurd),
            )
        self._absurd.update(absurd)
        return {
            key: value
            for key, value in values.items()
            if value is not None and key not in absurd
        }

    def _alerts(self, frame: CpsFrame) -> tuple[Alert, ...]:
        texts = family_texts(
            frame.model or (self.device.model if self.device else None)
        )
        alerts: list[Alert] = []
        active: set[str] = set()
        for register, raw in frame.bitfields.items():
            if not raw:
                continue
            for bit in range(16):
                if not raw & (1 << bit):
                    continue
                code = f"{register}.{bit}"
                active.add(code)
                started = self._since.setdefault(code, frame.as_of)
                text = texts.get(register, {}).get(bit)
                label = f"{_REGISTER_NAMES.get(register, register)} bit {bit}"
                alerts.append(
                    Alert(
                        id=f"{self.serial}_{code}",
                        device_id=self.serial,
                        severity=Severity.WARNING
                        if register == "warning"
                        else Severity.CRITICAL,
                        code=code,
                        message=f"{text} ({label})" if text else label,
                        started=started,
                    )
                )
        for code in set(self._since) - active:
            del self._since[code]
        return tuple(alerts)

    def diagnostics(self) -> dict[str, Any]:
        """Raw state worth seeing when decoding goes wrong (no serial)."""
        frame = self.frame
        return {
            "unit_id": self.unit_id,
            "model": frame.model if frame else None,
            "firmware_raw": frame.firmware if frame else None,
            "device_code": f"0x{frame.device_code:04X}"
            if frame and frame.device_code is not None
            else None,
            "work_mode_raw": frame.work_mode_raw if frame else None,
            "on_off_raw": frame.on_off_raw if frame else None,
            "power_limit_pct": frame.power_limit_pct if frame else None,
            "bitfields": dict(frame.bitfields) if frame else {},
            "lifetime": self.stitcher.as_dict(),
        }


def found_inverter(serial: str, site_id: str, model: str | None) -> Device:
    """An inverter seen while checking a connection (before any update)."""
    return Device(
        id=serial,
        kind=DeviceKind.INVERTER,
        name=f"{model or 'CPS inverter'} {serial}",
        site_id=site_id,
        manufacturer=MANUFACTURER,
        model=model,
        serial=serial,
    )


def site_device(site: Site) -> Device:
    """The device that stands for a CPS site (the gateway or the RS-485 line)."""
    return Device(
        id=site.id,
        kind=DeviceKind.SITE,
        name=site.name,
        site_id=site.id,
        manufacturer=MANUFACTURER,
        model="Inverter group",
    )


def site_totals(readings: Sequence[Readings | None]) -> dict[str, Value]:
    """Sum the inverters' power and energy; a total is left out unless every inverter has it."""
    totals: dict[str, Value] = {}
    for source, target in (
        ("ac_power", "production_power"),
        ("production_energy_today", "production_energy_today"),
        ("production_energy_lifetime", "production_energy_lifetime"),
    ):
        parts = [r.values.get(source) if r is not None else None for r in readings]
        if parts and all(isinstance(p, float | int) for p in parts):
            totals[target] = float(sum(p for p in parts if isinstance(p, float | int)))
    return totals


class LogOnce:
    """Log each distinct problem once per connector, so a bad field cannot flood the log."""

    def __init__(self, logger: logging.Logger) -> None:
        """Start with nothing logged."""
        self._logger = logger
        self._seen: set[str] = set()

    def __call__(self, key: str, level: int, message: str, *args: object) -> None:
        """Log `message` the first time `key` is seen."""
        if key not in self._seen:
            self._seen.add(key)
            self._logger.log(level, message, *args)

    def reset(self, key: str) -> None:
        """Allow `key` to be logged again (the problem went away)."""
        self._seen.discard(key)


class CpsBase(Connector):
    """What both transports share as a connector: the vendor, budget and limiter key."""

    vendor: ClassVar[str] = "cps"
    budget: ClassVar[RequestBudget] = RequestBudget(concurrency=1)
    """No quota; one request at a time (RS-485 is half duplex)."""

    @classmethod
    def budget_key(cls, data: Mapping[str, Any]) -> str:
        """Entries reading through the same Modbus endpoint share one limiter.

        So two entries on one RS-485 gateway still send one request at a time.
        """
        if data.get("transport", "modbus") == "modbus":
            where = f"{data.get('host')}:{data.get('port')}"
        else:
            where = repr(sorted(data.items()))
        return f"cps_{hashlib.sha256(where.encode()).hexdigest()[:16]}"
