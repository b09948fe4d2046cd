"""Parsing helpers every connector shares: times, lists, periods, the site device.

Vendor payloads are untrusted: each helper takes `object` and returns a typed
value or None, never raises on a wrong shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
import json
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..model import Device, DeviceKind, Readings, Site, as_float, plausible

FUTURE_SLACK: Final = timedelta(minutes=5)
"""A reading stamped further ahead than this comes from a skewed vendor clock."""


def parse_iso(raw: object) -> datetime | None:
    """An ISO-8601 time with an offset, in UTC; None when naive or not a time."""
    if not isinstance(raw, str):
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None


def parse_date(raw: object) -> date | None:
    """The date of a `YYYY-MM-DD...` text; None otherwise."""
    if not isinstance(raw, str):
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        return None


def parse_epoch(raw: object) -> datetime | None:
    """A positive Unix time in seconds, as aware UTC; None otherwise."""
    value = as_float(raw)
    if value is None or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except OverflowError, OSError, ValueError:
        return None


def iso_z(moment: datetime) -> str:
    """A time as UTC ISO-8601 with `Z` and whole seconds (what vendors accept)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def mappings(raw: object) -> list[Mapping[str, Any]]:
    """The mapping items of a list; [] when `raw` is not a list."""
    return [r for r in raw if isinstance(r, Mapping)] if isinstance(raw, list) else []


def rows(payload: object, key: str) -> list[Mapping[str, Any]]:
    """The mapping items of `payload[key]`; [] on any other shape."""
    return mappings(payload.get(key)) if isinstance(payload, Mapping) else []


def zone(name: object) -> ZoneInfo:
    """The IANA zone of that name, UTC when unknown or missing."""
    try:
        return ZoneInfo(name) if isinstance(name, str) and name else ZoneInfo("UTC")
    except ZoneInfoNotFoundError, ValueError:
        return ZoneInfo("UTC")


def next_month(now: datetime) -> datetime:
    """Midnight starting the month after `now`, in `now`'s zone."""
    return (now.replace(day=28) + timedelta(days=4)).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )


def next_day(now: datetime) -> datetime:
    """Midnight starting the day after `now`, in `now`'s zone."""
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def error_detail(body: str, *keys: str) -> str:
    """The first non-empty of `keys` in a JSON error body, else the body's start."""
    try:
        payload = json.loads(body)
    except ValueError:
        return body[:200]
    if isinstance(payload, Mapping):
        for key in keys:
            if payload.get(key):
                return str(payload[key])
    return ""


def site_device(site: Site, manufacturer: str, model: str) -> Device:
    """The device that stands for a whole site (the root of its device tree)."""
    return Device(
        id=site.id,
        kind=DeviceKind.SITE,
        name=site.name,
        site_id=site.id,
        manufacturer=manufacturer,
        model=model,
    )


def screen(
    readings: dict[str, Readings], now: datetime, site_peak_w: float | None = None
) -> list[str]:
    """Make absurd values unknown and future stamps `now`; return what was wrong.

    The caller logs the returned faults in one line per update (a fault that
    touches every value must not log a line per value). A reading stamped in
    the future would become the counters' reference and freeze them for as long
    as the vendor's clock is ahead.
    """
    faults: list[str] = []
    for device_id, reading in list(readings.items()):
        bad = {k for k, v in reading.values.items() if not plausible(k, v, site_peak_w)}
        as_of = reading.as_of
        if as_of is not None and as_of > now + FUTURE_SLACK:
            faults.append(f"{device_id} stamped {as_of.isoformat()}")
            as_of = now
        if bad:
            faults.append(f"{device_id} {', '.join(sorted(bad))}")
        if bad or as_of is not reading.as_of:
            readings[device_id] = Readings(
                values={k: None if k in bad else v for k, v in reading.values.items()},
                as_of=as_of,
                online=reading.online,
            )
    return faults
