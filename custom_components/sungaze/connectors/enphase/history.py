"""Enphase first-setup history: telemetry hours and lifetime-series days.

What is backfilled is what the live connector counts, on the same device (the
system) and key: `production_energy_lifetime` always; with a consumption meter
`consumption_energy_lifetime`, `grid_import_energy_lifetime` and
`grid_export_energy_lifetime`; with a battery `battery_charge_energy_lifetime`
and `battery_discharge_energy_lifetime`.

Hourly range: today and the `HOURLY_DAYS - 1` days before it. Meter, battery,
consumption and import/export telemetry accept `granularity=week` (notes §4:
up to 672 quarter-hours), so one request per endpoint covers the whole range
(at most 5 requests for a full system, under half of the Watt plan's minute);
the other days of the window are then free (`history_cost` 0). Seven days
because a window spans at most 7 days: each further week would cost the same
5 requests again, a year about 265 of the Watt plan's 1,000 a month, while
`/energy_lifetime` and its siblings give every older day's Wh in one request
per series whatever the length (notes §5.10). The backfill's default is 7
days, so a default backfill is hourly throughout.

Production comes from the production meter's 15-minute `wh_del` when the
system has one (the merged `/energy_lifetime` series is meter data then), else
from the micro-inverters' 5-minute `enwh`, whose granularities stop at `day`
in the notes (§4: `week` is listed for meter and battery telemetry only), so
one request per day there.

Complete hours only: an hour counts once it lies inside the requested window
and ends by the newest data (the newest interval's end, or one interval before
the last upload in `meta.last_report_at`, for data that stops at night) and by
now. Intervals of the
last `LATE_DEVICES` in which fewer devices reported than exist end the
complete part (late micro-inverters). An hour without any interval is left
out, never sent as zero. Hours are UTC hours assigned to the site-local day in
which they start; in a half-hour time zone an hour crossing midnight belongs to
the earlier day, and the window's edge hours are dropped.

Older days: one `day_total` per key from the daily series. Trailing zeros mean
"not reported yet" (notes §5.10): a day counts only up to the newest day that
is non-zero in any of the system's series (the house always consumes and the
sun always rises, so zeros before that are real zeros).

Plan gating: every endpoint used is in the Watt plan's Site Level Production
and Consumption Monitoring (notes §3.1), except that one source puts battery
telemetry in Kilowatt (UNCONFIRMED). A refused telemetry endpoint (401 "not in
your plan", or a 422 for the range) falls back to the day totals of its series
for the complete days; a refused series leaves its key out of those days. A
refusal is never an error; network, quota and payload errors are the typed
errors of `connectors/base.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from ...model import StatPoint, as_float

HOURLY_DAYS: Final = 7
LATE_DEVICES: Final = timedelta(hours=3)
"""SolarNetwork waits this long for late micro-inverters (notes §5.5)."""
_HOUR = 3600


@dataclass(frozen=True, slots=True)
class Source:
    """A telemetry endpoint that feeds hourly history."""

    name: str
    """Path below the system, also the feature name for plan gating."""
    step: int
    """Seconds per interval."""
    granularity: str
    fields: Mapping[str, tuple[tuple[str, ...], ...]]
    """Metric key -> paths to its Wh in an interval (first present wins)."""


@dataclass(frozen=True, slots=True)
class Series:
    """A daily lifetime series (one Wh per day from `start_date`)."""

    name: str
    arrays: Mapping[str, str]
    """Array name -> metric key."""


PRODUCTION_METER: Final = Source(
    "telemetry/production_meter",
    900,
    "week",
    {"production_energy_lifetime": (("wh_del",),)},
)
PRODUCTION_MICRO: Final = Source(
    "telemetry/production_micro",
    300,
    "day",
    {"production_energy_lifetime": (("enwh",),)},
)
CONSUMPTION: Final = Source(
    "telemetry/consumption_meter",
    900,
    "week",
    {"consumption_energy_lifetime": (("enwh",),)},
)
IMPORT: Final = Source(
    "energy_import_telemetry",
    900,
    "week",
    # The spec's import schema names the field wh_exported (notes §5.9).
    {"grid_import_energy_lifetime": (("wh_imported",), ("wh_exported",))},
)
EXPORT: Final = Source(
    "energy_export_telemetry",
    900,
    "week",
    {"grid_export_energy_lifetime": (("wh_exported",),)},
)
BATTERY: Final = Source(
    "telemetry/battery",
    900,
    "week",
    {
        "battery_charge_energy_lifetime": (("charge", "enwh"),),
        "battery_discharge_energy_lifetime": (("discharge", "enwh"),),
    },
)
PRODUCTION_SERIES: Final = Series(
    "energy_lifetime", {"production": "production_energy_lifetime"}
)
CONSUMPTION_SERIES: Final = Series(
    "consumption_lifetime", {"consumption": "consumption_energy_lifetime"}
)
IMPORT_SERIES: Final = Series(
    "energy_import_lifetime", {"import": "grid_import_energy_lifetime"}
)
EXPORT_SERIES: Final = Series(
    "energy_export_lifetime", {"export": "grid_export_energy_lifetime"}
)
BATTERY_SERIES: Final = Series(
    "battery_lifetime",
    {
        "charge": "battery_charge_energy_lifetime",
        "discharge": "battery_discharge_energy_lifetime",
    },
)


@dataclass(slots=True)
class SystemHistory:
    """What one system's backfill has fetched so far (kept until restart)."""

    window: date = date.min
    """First local day of the hourly range the cached hours belong to."""
    hours: dict[str, dict[datetime, float]] = field(default_factory=dict)
    """Key -> complete UTC hour start -> Wh."""
    tried: set[str] = field(default_factory=set)
    """Telemetry fetched (or refused) for this window; `name@day` for daily ones."""
    refused: set[str] = field(default_factory=set)
    """Keys whose hourly source was refused: day totals instead."""
    days: dict[str, dict[date, float]] = field(default_factory=dict)
    series_tried: set[str] = field(default_factory=set)
    reported_until: date | None = None
    first_day: date | None = None

    def reset_window(self, window: date) -> None:
        """Start a new hourly range (the local day changed)."""
        self.window = window
        self.hours.clear()
        self.tried.clear()
        self.refused.clear()


def _lookup(interval: Mapping[str, Any], path: tuple[str, ...]) -> float | None:
    value: Any = interval
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return as_float(value)


def flatten(raw: object) -> list[Mapping[str, Any]]:
    """Intervals as a flat list: the official examples nest arrays (§5.9)."""
    out: list[Mapping[str, Any]] = []
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, Mapping):
                out.append(item)
            elif isinstance(item, list):
                out.extend(flatten(item))
    return out


def complete_hours(
    source: Source,
    payload: Mapping[str, Any],
    *,
    start: datetime,
    stop: datetime,
    now: datetime,
) -> dict[str, dict[datetime, float]] | None:
    """Wh per complete UTC hour and key; None when the answer has no intervals list.

    `start`/`stop` bound the requested window: hours reaching outside it are
    partial and left out.
    """
    raw = payload.get("intervals")
    if not isinstance(raw, list):
        return None
    intervals = flatten(raw)
    total_devices = as_float(payload.get("total_devices")) or 0
    sums: dict[str, dict[int, float]] = {key: {} for key in source.fields}
    newest: float | None = None
    late_from: float | None = None
    for interval in intervals:
        end = as_float(interval.get("end_at"))
        if end is None:
            continue
        begin = end - source.step
        newest = end if newest is None else max(newest, end)
        reporting = as_float(interval.get("devices_reporting"))
        if (
            total_devices > 0
            and reporting is not None
            and reporting < total_devices
            and end > (now - LATE_DEVICES).timestamp()
        ):
            late_from = begin if late_from is None else min(late_from, begin)
        hour = int(begin // _HOUR * _HOUR)
        for key, paths in source.fields.items():
            value = next(
                (v for p in paths if (v := _lookup(interval, p)) is not None), None
            )
            if value is not None and value >= 0:
                sums[key][hour] = sums[key].get(hour, 0.0) + value
    if newest is None:
        return {key: {} for key in source.fields}
    meta = payload.get("meta")
    covered = newest
    if isinstance(meta, Mapping):
        reported = as_float(meta.get("last_report_at"))
        if reported is not None:
            # Intervals stop at night (micro data); whether an upload carries
            # the interval ending at its own time is not documented: one
            # interval of margin.
            covered = max(
                covered, (reported - source.step) // source.step * source.step
            )
    covered = min(covered, now.timestamp(), stop.timestamp())
    if late_from is not None:
        covered = min(covered, late_from)
    first = start.timestamp()
    return {
        key: {
            datetime.fromtimestamp(hour, UTC): wh
            for hour, wh in hours.items()
            if hour >= first and hour + _HOUR <= covered
        }
        for key, hours in sums.items()
    }


def day_points(
    hours: Mapping[datetime, float], day: date, zone: Any
) -> tuple[StatPoint, ...]:
    """The hours that start on that site-local day, oldest first."""
    return tuple(
        StatPoint(start=hour, value=wh)
        for hour, wh in sorted(hours.items())
        if hour.astimezone(zone).date() == day
    )


def read_series(
    series: Series, first: date | None, payload: Mapping[str, Any]
) -> tuple[dict[str, dict[date, float]], date | None]:
    """Each array's Wh by day, and the newest day that is non-zero in any."""
    days: dict[str, dict[date, float]] = {}
    newest: date | None = None
    for array, key in series.arrays.items():
        raw = payload.get(array)
        values: Sequence[object] = raw if isinstance(raw, list) else []
        found: dict[date, float] = {}
        if first is not None:
            for n, item in enumerate(values):
                value = as_float(item)
                if value is None or value < 0:
                    continue
                day = first + timedelta(days=n)
                found[day] = value
                if value > 0 and (newest is None or day > newest):
                    newest = day
        days[key] = found
    return days, newest
