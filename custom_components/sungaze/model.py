"""The normalised Sungaze model shared by every vendor connector.

Connectors parse vendor payloads into these types; the coordinator holds one
`Snapshot` per update; entities read it. Nothing here imports Home Assistant, so
units and classes are plain strings equal to HA's enum values.

Sign conventions follow HA's Energy dashboard: grid power is + import / - export,
battery power is + discharge / - charge. All timestamps are aware UTC.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
import logging
import math
import re
from typing import Any, Final

_LOGGER = logging.getLogger(__name__)


class DeviceKind(StrEnum):
    """What a device is; decides its place in the device tree."""

    SITE = "site"
    INVERTER = "inverter"
    MICROINVERTER = "microinverter"
    OPTIMIZER = "optimizer"
    BATTERY = "battery"
    BATTERY_MODULE = "battery_module"
    METER = "meter"
    GATEWAY = "gateway"
    EV_CHARGER = "ev_charger"
    OTHER = "other"


class Severity(StrEnum):
    """How serious an alert is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class CounterKind(StrEnum):
    """How an energy counter may legitimately move."""

    LIFETIME = "lifetime"
    """Never decreases; feeds the Energy dashboard."""
    DAILY = "daily"
    """Resets once a day at the site's local midnight."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricSpec:
    """How a canonical metric is measured and shown."""

    key: str
    unit: str | None
    device_class: str | None
    state_class: str | None
    counter: CounterKind | None = None
    precision: int | None = None
    suggested_unit: str | None = None
    indexed: bool = False
    """True when readings carry an index suffix, e.g. `pv_power_2`."""
    technical: bool = False
    """Fine-grained metric: entity disabled by default."""
    options: tuple[str, ...] | None = None
    """Allowed states of an enum metric."""
    diagnostic: bool = False
    """Shown under the device's diagnostics (link quality and the like)."""


def _m(
    key: str, unit: str | None, device_class: str | None, **kw: object
) -> MetricSpec:
    state_class = kw.pop("state_class", "measurement" if unit else None)
    return MetricSpec(
        key=key,
        unit=unit,
        device_class=device_class,
        state_class=state_class,  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


_POWER: Final = {"precision": 0}
_ENERGY_LIFETIME: Final = {
    "state_class": "total_increasing",
    "counter": CounterKind.LIFETIME,
    "suggested_unit": "kWh",
    "precision": 2,
}
_ENERGY_DAILY: Final = {
    "state_class": "total_increasing",
    "counter": CounterKind.DAILY,
    "suggested_unit": "kWh",
    "precision": 2,
}

WORK_MODES: Final = (
    "standby",
    "starting",
    "running",
    "derating",
    "fault",
    "off",
    "checking",
    "unknown",
)
SITE_STATUSES: Final = ("normal", "warning", "error", "offline", "unknown")
OPERATING_MODES: Final = (
    "standby",
    "fault",
    "firmware_update",
    "pv_to_grid",
    "pv_charging",
    "pv_charging_to_grid",
    "battery_discharging",
    "pv_battery_discharging",
    "ac_charging",
    "pv_ac_charging",
    "off_grid_battery",
    "off_grid_ac_charging",
    "off_grid_pv",
    "off_grid_pv_charging",
    "off_grid_pv_battery",
)
"""Where a hybrid inverter sends its power (EG4/Luxpower report it as a code)."""

METRICS: Final[Mapping[str, MetricSpec]] = {
    spec.key: spec
    for spec in (
        # Production / consumption / grid / battery: site or device level.
        _m("production_power", "W", "power", **_POWER),
        _m("production_energy_today", "Wh", "energy", **_ENERGY_DAILY),
        _m("production_energy_lifetime", "Wh", "energy", **_ENERGY_LIFETIME),
        _m("consumption_power", "W", "power", **_POWER),
        _m("consumption_energy_today", "Wh", "energy", **_ENERGY_DAILY),
        _m("consumption_energy_lifetime", "Wh", "energy", **_ENERGY_LIFETIME),
        _m("self_consumption_energy_today", "Wh", "energy", **_ENERGY_DAILY),
        _m("grid_power", "W", "power", **_POWER),
        _m("grid_import_energy_today", "Wh", "energy", **_ENERGY_DAILY),
        _m("grid_import_energy_lifetime", "Wh", "energy", **_ENERGY_LIFETIME),
        _m("grid_export_energy_today", "Wh", "energy", **_ENERGY_DAILY),
        _m("grid_export_energy_lifetime", "Wh", "energy", **_ENERGY_LIFETIME),
        _m("battery_power", "W", "power", **_POWER),
        _m("battery_state_of_charge", "%", "battery", precision=0),
        _m("battery_charge_energy_today", "Wh", "energy", **_ENERGY_DAILY),
        _m("battery_charge_energy_lifetime", "Wh", "energy", **_ENERGY_LIFETIME),
        _m("battery_discharge_energy_today", "Wh", "energy", **_ENERGY_DAILY),
        _m("battery_discharge_energy_lifetime", "Wh", "energy", **_ENERGY_LIFETIME),
        _m("battery_remaining_energy", "Wh", "energy_storage", suggested_unit="kWh"),
        _m("battery_voltage", "V", "voltage", precision=1, technical=True),
        _m("battery_current", "A", "current", precision=1, technical=True),
        _m("battery_temperature", "°C", "temperature", precision=1),
        _m("battery_state_of_health", "%", None, precision=0, technical=True),
        _m(
            "battery_cycles", None, None, state_class="total_increasing", technical=True
        ),
        _m("cell_voltage_min", "V", "voltage", precision=3, technical=True),
        _m("cell_voltage_max", "V", "voltage", precision=3, technical=True),
        # Inverter AC / DC side.
        _m("ac_power", "W", "power", **_POWER),
        _m("ac_voltage", "V", "voltage", precision=1, technical=True),
        _m("ac_current", "A", "current", precision=2, technical=True),
        _m("ac_frequency", "Hz", "frequency", precision=2, technical=True),
        _m("ac_energy_lifetime", "Wh", "energy", **_ENERGY_LIFETIME, technical=True),
        _m("grid_voltage", "V", "voltage", precision=1, indexed=True, technical=True),
        _m("grid_current", "A", "current", precision=1, indexed=True, technical=True),
        _m("pv_power", "W", "power", precision=0, indexed=True),
        _m("pv_voltage", "V", "voltage", precision=1, indexed=True, technical=True),
        _m("pv_current", "A", "current", precision=2, indexed=True, technical=True),
        _m("dc_power", "W", "power", precision=0, technical=True),
        _m("temperature", "°C", "temperature", precision=1, technical=True),
        _m("internal_temperature", "°C", "temperature", precision=1, technical=True),
        _m("transformer_temperature", "°C", "temperature", precision=1, technical=True),
        _m("peak_power", "W", "power", state_class=None, technical=True),
        _m("work_mode", None, "enum", state_class=None, options=WORK_MODES),
        _m("site_status", None, "enum", state_class=None, options=SITE_STATUSES),
        _m("operating_mode", None, "enum", state_class=None, options=OPERATING_MODES),
        # Whole home (combined across entries).
        _m("derived_consumption_power", "W", "power", **_POWER),
        _m("self_sufficiency", "%", None, precision=0),
        _m("self_consumption", "%", None, precision=0),
        # Generac
        _m("generator_power", "W", "power", **_POWER),
        _m(
            "battery_backup_time",
            "s",
            "duration",
            precision=1,
            suggested_unit="h",
        ),
        _m(
            "battery_soc_status",
            None,
            "enum",
            state_class=None,
            options=("low", "nominal"),  # the full list is unknown
        ),
        _m(
            "grid_state",
            None,
            "enum",
            state_class=None,
            options=("connected", "disconnected"),
        ),
        _m(
            "system_mode",
            None,
            "enum",
            state_class=None,
            options=(
                "self_supply",
                "clean_backup",
                "priority_backup",
                "sell",
                "zero_import",
                "safety",
            ),
        ),
        _m("inverter_headroom", "W", "power", **_POWER, technical=True),
        _m(
            "battery_energy_lifetime",
            "Wh",
            "energy",
            **_ENERGY_LIFETIME,
            technical=True,
        ),
        # SRP: a utility account's settled figures (for cards and automations).
        # No state class: they step once a day; the Energy dashboard uses the
        # hourly external statistics instead.
        _m("grid_usage_yesterday", "kWh", "energy", state_class=None, precision=1),
        _m("grid_cost_yesterday", "USD", "monetary", state_class=None, precision=2),
        _m("grid_usage_month", "kWh", "energy", state_class=None, precision=1),
        _m("grid_cost_month", "USD", "monetary", state_class=None, precision=2),
        _m("grid_export_yesterday", "kWh", "energy", state_class=None, precision=1),
        _m("grid_export_month", "kWh", "energy", state_class=None, precision=1),
        # Tigo: per-panel optimizer (TS4) readings.
        _m("panel_power", "W", "power", **_POWER),
        _m("panel_energy_today", "Wh", "energy", **_ENERGY_DAILY, technical=True),
        _m("input_voltage", "V", "voltage", precision=1, technical=True),
        _m("input_current", "A", "current", precision=2, technical=True),
        # Tigo's RSSI is a raw 0-255 link figure (higher is better), not dBm.
        _m(
            "rssi",
            None,
            None,
            state_class="measurement",
            precision=0,
            technical=True,
            diagnostic=True,
        ),
    )
}

_INDEXED: Final = re.compile(r"^(?P<base>[a-z_]+?)_(?P<index>\d+)$")


def metric_spec(key: str) -> MetricSpec | None:
    """Return the spec of a reading key, resolving indexed keys like `pv_power_2`."""
    if (spec := METRICS.get(key)) is not None:
        return spec
    if (match := _INDEXED.match(key)) and (spec := METRICS.get(match["base"])):
        return spec if spec.indexed else None
    return None


def metric_index(key: str) -> str | None:
    """Return the index suffix of an indexed reading key, else None."""
    match = _INDEXED.match(key)
    if match and key not in METRICS:
        return match["index"]
    return None


type Value = float | str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Site:
    """A place with panels: the root of the device tree."""

    id: str
    name: str
    timezone: str | None = None
    peak_power_w: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Device:
    """One piece of hardware (or the site itself, kind SITE)."""

    id: str
    kind: DeviceKind
    name: str
    site_id: str
    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    parent: str | None = None
    """Device id this one hangs off; None means directly under the site."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Readings:
    """What one device reported, and when the vendor says it was measured."""

    values: Mapping[str, Value]
    as_of: datetime | None = None
    online: bool = True
    """False when the vendor marks the device lost/offline: values are stale."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """A vendor alert or fault, attached to a device."""

    id: str
    device_id: str
    severity: Severity
    code: str
    message: str
    started: datetime | None = None
    ended: datetime | None = None
    repair: bool = False
    """Also raise a repair issue while it is open (the user should act on it)."""

    @property
    def active(self) -> bool:
        """Whether the alert is still open."""
        return self.ended is None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatPoint:
    """One complete hour of a history series."""

    start: datetime
    """Aware start of the hour."""
    value: float
    """The amount in that hour (not cumulative), in the series' unit."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StatSeries:
    """Hourly history a vendor delivers late or in bulk, for long-term statistics.

    The recorder cannot take late entity states, so hours a vendor reports
    after they are gone (a utility's usage, late optimizer minutes) are imported
    as external statistics `sungaze:<entry>_<key>`. `points` holds complete
    hours only, sorted, each at most once; an hour the vendor has not filled in
    yet is left out, never sent as zero.
    """

    key: str
    """Stable id within the entry, e.g. `grid_consumption`."""
    name: str
    """What the statistic measures, appended to the entry's title."""
    unit: str
    """`kWh` or `Wh` for energy, an ISO 4217 code for money."""
    points: tuple[StatPoint, ...]
    energy_role: str | None = None
    """Its place in the Energy dashboard: `grid_import`, `grid_export`,
    `grid_cost`, `grid_compensation` or `solar`; None when it has none."""

    @property
    def is_energy(self) -> bool:
        """Whether the unit is an energy unit (else a currency)."""
        return self.unit in ("Wh", "kWh", "MWh")


@dataclass(frozen=True, slots=True, kw_only=True)
class HistorySeries:
    """One past site-local day of one device's energy counter, for a backfill.

    Either `points`, the energy of each complete hour (Wh, not cumulative),
    or, for a vendor that keeps only daily figures, `day_total`: the day's
    energy (Wh), which the backfill spreads over that day's hours (see
    `backfill.py`: a daylight shape for solar-linked counters, flat for the
    rest). Imported into the long-term statistics of the counter's own
    sensor, before its first recorded hour.
    """

    device_id: str
    key: str
    """A lifetime energy metric key, e.g. `production_energy_lifetime`."""
    points: tuple[StatPoint, ...] = ()
    day_total: float | None = None
    """Wh of the whole site-local day, when the vendor gives no hours."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """Everything one update produced.

    `fetched_at` is excluded from equality so that an update that brought nothing
    new compares equal to the previous one (the coordinator then skips writes).
    """

    sites: Mapping[str, Site]
    devices: Mapping[str, Device]
    readings: Mapping[str, Readings]
    alerts: tuple[Alert, ...] = ()
    notes: Mapping[str, str] = field(default_factory=dict)
    """Why a feature is absent (e.g. plan-gated endpoint), for diagnostics."""
    series: tuple[StatSeries, ...] = ()
    """History to import into long-term statistics (see `StatSeries`)."""
    fetched_at: datetime = field(
        default_factory=lambda: datetime.now(UTC), compare=False
    )

    def value(self, device_id: str, key: str) -> Value:
        """Return one reading, or None when it is absent."""
        if (readings := self.readings.get(device_id)) is None:
            return None
        return readings.values.get(key)

    def active_alerts(self, device_id: str) -> list[Alert]:
        """Return the open alerts of one device."""
        return [a for a in self.alerts if a.device_id == device_id and a.active]


def site_total(snapshot: Snapshot, key: str) -> float | None:
    """One value of a whole entry: its site devices' if they report it, else the sum.

    A site device already sums its site, so adding its inverters would count
    twice; without one, every device reporting `key` is added. None when no
    device reports a number for it.
    """
    sites: list[float] = []
    others: list[float] = []
    for device_id, readings in snapshot.readings.items():
        value = readings.values.get(key)
        if (
            not isinstance(value, int | float)
            or (device := snapshot.devices.get(device_id)) is None
        ):
            continue
        (sites if device.kind is DeviceKind.SITE else others).append(float(value))
    if sites:
        return sum(sites)
    return sum(others) if others else None


def next_month(now: datetime) -> datetime:
    """Midnight starting the month after `now`, in `now`'s zone."""
    return (now.replace(day=28) + timedelta(days=4)).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )


def next_day(now: datetime) -> datetime:
    """Midnight starting the day after `now`, in `now`'s zone."""
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def as_float(raw: object, *, scale: float = 1.0) -> float | None:
    """Parse a vendor number leniently: numbers, numeric strings; else None.

    Vendors send numbers as strings, empty strings, nulls and NaN; all of those
    that are not a finite number become None (unknown), never 0.
    """
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            return None
    else:
        return None
    if not math.isfinite(value):
        return None
    return value * scale


_MAX_POWER_W: Final = 1e8
"""No site we read moves more than 100 MW: anything larger is a unit mix-up."""
_MAX_ENERGY_WH: Final = 1e13
_NON_NEGATIVE: Final = frozenset(
    {"production_power", "consumption_power", "pv_power", "dc_power", "peak_power"}
)
_FROM_PANELS: Final = frozenset({"production_power", "pv_power", "dc_power"})
_NEGATIVE_SLACK_W: Final = 50.0
"""Meters idle at night read a few watts below zero; that is noise, not a fault."""
_RANGES: Final[Mapping[str, tuple[float, float]]] = {
    "%": (0.0, 100.5),
    "°C": (-60.0, 150.0),
    "V": (0.0, 2000.0),
    "Hz": (40.0, 70.0),
}


def plausible(key: str, value: object, site_peak_w: float | None = None) -> bool:
    """Whether a reading can be true; a value outside the metric's bounds is a fault.

    Power is bounded by the site's size where known (production at most twice
    the panels' peak, anything else at most twenty times it), else by 100 MW;
    production and consumption power are never (much) negative; energy is never
    negative; percentages, temperatures, voltages and frequencies have physical
    ranges. Texts and unknown keys are always plausible.
    """
    if not isinstance(value, int | float) or isinstance(value, bool):
        return True
    if not math.isfinite(value):
        return False
    if (spec := metric_spec(key)) is None or spec.unit is None:
        return True
    if spec.unit == "W":
        floor = -_NEGATIVE_SLACK_W if spec.key in _NON_NEGATIVE else -_MAX_POWER_W
        ceiling = _MAX_POWER_W
        if site_peak_w and site_peak_w > 0 and spec.key != "peak_power":
            ceiling = site_peak_w * (2 if spec.key in _FROM_PANELS else 20) + 1000
            floor = max(floor, -ceiling)
        return floor <= value <= ceiling
    if spec.unit == "Wh":
        return 0.0 <= value <= _MAX_ENERGY_WH
    if (bounds := _RANGES.get(spec.unit)) is not None:
        return bounds[0] <= value <= bounds[1]
    return True


RESET_FRACTION: Final = 0.1
"""A held-back series must start below this share of the last good value to be a reset."""
FUTURE_TOLERANCE: Final = timedelta(minutes=5)
"""Readings stamped further ahead of our clock than this are dated now instead."""
SETTLE: Final = timedelta(minutes=30)
"""How long a restarted series must rise before it is taken for a new meter."""
PREVIOUS_MEMORY: Final = timedelta(days=7)
"""How long the series before an accepted reset is recognised when it comes back."""
_SLACK_WH: Final = 1000.0
"""Fixed slack for vendor rounding of coarse counters (0.1-1 kWh steps)."""


class _CounterLog:
    """Folds counter faults into one log line per update and kind.

    Every counter sensor is judged in the same event-loop pass of an update,
    so the lines are written when that pass ends. Outside an event loop
    (plain unit tests) each report is written at once.
    """

    def __init__(self) -> None:
        self._pending: dict[tuple[int, str], list[str]] = {}

    def report(self, level: int, kind: str, detail: str) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            _LOGGER.log(level, "Energy counter %s: %s", kind, detail)
            return
        if not self._pending:
            loop.call_soon(self.flush)
        self._pending.setdefault((level, kind), []).append(detail)

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for (level, kind), details in pending.items():
            more = f" and {len(details) - 3} more" if len(details) > 3 else ""
            _LOGGER.log(
                level,
                "Energy counter%s %s: %s%s",
                "s" if len(details) > 1 else "",
                kind,
                ", ".join(details[:3]),
                more,
            )


COUNTER_LOG: Final = _CounterLog()


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class CounterGuard:
    """Keeps an energy counter from going backwards, spiking or freezing.

    HA's statistics treat any decrease of a `total_increasing` sensor as a meter
    reset and count the next value again, so one bad poll can add megawatt-hours
    to the Energy dashboard. The rules:

    * A value below the published one, or rising faster than `max_power_w`
      allows since the last accepted reading, is held back: the last good
      value stays. When the vendor's series comes back (at or above the
      published value, at a plausible rate) it flows again; a glitch in
      between, however long, is then simply forgotten (nothing double counted).
    * A series that restarted near zero (below `RESET_FRACTION` of the
      published value), never went down, rose, and did so over at least
      `confirm` readings and `settle` time is a new meter: it is published
      (HA starts a new cycle). A run of zeros never qualifies, and a short
      glitch (minutes) cannot settle; a real replacement settles within the
      first half hour of production.
    * Should the series from before an accepted reset come back (within
      `PREVIOUS_MEMORY`), the reset was false: the guard returns to the old
      series, publishing the energy it gained since its last good reading on
      top of the new cycle, so nothing is counted twice (`offset`).
    * A reading stamped more than `FUTURE_TOLERANCE` ahead of our clock is
      dated now: a vendor clock running hours fast must not become the
      reference that later, correct readings look "late" against.
    * Faults are logged once per episode and counter, folded into one line per
      update and kind across all counters (`COUNTER_LOG`).

    `value`, `as_of` and `day` are what the sensor restores after a restart;
    `extra()` / `restore_extra()` carry the rest (the offset after a false
    reset was undone, the series before an accepted reset) for a sensor that
    stores them with its state.
    """

    kind: CounterKind
    max_power_w: float = 100_000.0
    """Fastest plausible rate of change; larger jumps are unit mix-ups or spikes."""
    confirm: int = 6
    settle: timedelta = SETTLE
    value: float | None = None
    as_of: datetime | None = None
    day: object = None
    offset: float = 0.0
    """Published minus vendor value of the current series."""
    clock: Callable[[], datetime] = _utcnow
    _pending: list[tuple[float, datetime]] = field(default_factory=list)
    _previous: tuple[float, datetime] | None = None
    """Vendor value and time of the series before an accepted reset."""
    _warned: bool = False

    def accept(
        self, new: float | None, as_of: datetime, day: object = None
    ) -> float | None:
        """Return the value to publish for a new raw reading.

        `day` names the site-local day of `as_of`; a daily counter may restart
        only when it changes.
        """
        if new is None:
            return self.value
        now = self.clock()
        if as_of > now + FUTURE_TOLERANCE:
            self._report(logging.WARNING, "stamped in the future; dated now", as_of)
            as_of = now
        if self.value is None or self.as_of is None:
            return self._take(new, as_of, day)
        if as_of < self.as_of:
            return self.value  # late data from before what is already published
        if self.kind is CounterKind.DAILY and day != self.day:
            self.offset, self._previous = 0.0, None
            if new - 0.0 > self._allowance(self.as_of, as_of):
                return self._hold(new, as_of, "jumped implausibly")
            return self._take(new, as_of, day)
        if (returned := self._returned(new, as_of)) is not None:
            return self._take(returned, as_of, day)
        candidate = new + self.offset
        if candidate < self.value:
            return self._hold(new, as_of, "went backwards", day)
        if candidate - self.value > self._allowance(self.as_of, as_of):
            return self._hold(new, as_of, "jumped implausibly")
        return self._take(candidate, as_of, day)

    def _allowance(self, since: datetime, until: datetime) -> float:
        hours = max((until - since).total_seconds(), 0.0) / 3600
        return self.max_power_w * hours + _SLACK_WH

    def _returned(self, new: float, as_of: datetime) -> float | None:
        """The value to publish if `new` continues the series before a reset."""
        if self._previous is None:
            return None
        raw, since = self._previous
        if as_of - since > PREVIOUS_MEMORY:
            self._previous = None
            return None
        if not raw <= new <= raw + self._allowance(since, as_of):
            return None
        self._previous = None
        # The new cycle already counted `value`; go on with the old series' gain.
        self.offset = -raw
        self._report(
            logging.WARNING,
            "came back to its series from before a reset; counting on from there",
            new,
        )
        return max(new + self.offset, self.value or 0.0)

    def _take(self, new: float, as_of: datetime, day: object) -> float:
        if self._warned:
            self._report(logging.INFO, "plausible again", new)
        self.value, self.as_of, self.day = new, as_of, day
        self._pending.clear()
        self._warned = False
        return new

    def _hold(
        self, new: float, as_of: datetime, why: str, day: object = None
    ) -> float | None:
        if (
            why == "went backwards"
            and self.value is not None
            and self.as_of is not None
            and self._restarted(new, as_of)
        ):
            self._previous = (self.value - self.offset, self.as_of)
            self.offset = 0.0
            self._report(
                logging.WARNING,
                "restarted near zero and rose steadily; accepting it as a reset meter",
                new,
            )
            self._warned = False
            return self._take(new, as_of, day)
        if not self._warned:
            self._report(
                logging.WARNING,
                f"{why}; keeping the last good value",
                f"{self.value} -> {new}",
            )
            self._warned = True
        return self.value

    def _restarted(self, new: float, as_of: datetime) -> bool:
        """Track a held series; True once it looks like a new meter (see the rules)."""
        pending = self._pending
        if pending and (new < pending[-1][0] or as_of <= pending[-1][1]):
            pending.clear()
        pending.append((new, as_of))
        first, start = pending[0]
        published = (self.value or 0.0) - self.offset
        return (
            first <= RESET_FRACTION * published
            and len(pending) >= self.confirm
            and new > first
            and as_of - start >= self.settle
        )

    def extra(self) -> dict[str, Any]:
        """JSON-ready state beyond `value`, `as_of` and `day`, to store across restarts."""
        previous = self._previous
        return {
            "offset": self.offset,
            "previous": [previous[0], previous[1].isoformat()] if previous else None,
        }

    def restore_extra(self, data: Mapping[str, Any]) -> None:
        """Load what `extra` returned; anything malformed is ignored."""
        offset = as_float(data.get("offset"))
        self.offset = offset if offset is not None else 0.0
        self._previous = None
        previous = data.get("previous")
        if not isinstance(previous, list) or len(previous) != 2:
            return
        raw = as_float(previous[0])
        try:
            since = datetime.fromisoformat(str(previous[1]))
        except ValueError:
            return
        if raw is not None and since.tzinfo is not None:
            self._previous = (raw, since)

    @staticmethod
    def _report(level: int, kind: str, detail: object) -> None:
        COUNTER_LOG.report(level, kind, str(detail))
