"""Enphase answers into values: lenient readers and the per-system state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from ...model import Alert, Device, Readings, Site, Value, as_float
from .tables import KEEP_DAYS


def truthy(raw: object) -> bool:
    """`active` is a boolean in examples and a string in the schema."""
    if isinstance(raw, str):
        return raw.strip().lower() in ("true", "1", "yes")
    return bool(raw)


def quantity(raw: object, units: Mapping[str, float]) -> float | None:
    """A bare number, or `{value, units}` as in the inverter summary."""
    if isinstance(raw, Mapping):
        scale = units.get(str(raw.get("units") or "").upper())
        if scale is None:
            return None
        return as_float(raw.get("value"), scale=scale)
    return as_float(raw)


@dataclass(slots=True)
class DailySeries:
    """A `*_lifetime` daily Wh series kept as a lifetime counter cheaply.

    The first request fetches the whole history; afterwards only the last few
    days are re-fetched (late uploads can still change them) and older days are
    folded into `base`.
    """

    base: float = 0.0
    start: date | None = None

    def params(self, today: date) -> dict[str, str]:
        """Query parameters: from the first day still open to today."""
        params = {"end_date": today.isoformat()}
        if self.start is not None:
            params["start_date"] = self.start.isoformat()
        return params

    def update(
        self, first: date | None, values: Sequence[object], today: date
    ) -> tuple[float | None, float | None]:
        """Fold a response in; return today's running Wh and the lifetime Wh."""
        if first is None:
            if values:
                return None, None
            # Nothing produced ever: an empty history is a lifetime of 0.
            self.start = today - timedelta(days=KEEP_DAYS)
            return 0.0, self.base
        days = [as_float(v) for v in values]
        if any(v is None or v < 0 for v in days):
            return None, None
        clean = [v or 0.0 for v in days]
        if self.start is not None and first != self.start:
            # The history moved under us: fetch it whole next time.
            self.base, self.start = 0.0, None
            return None, None
        total = self.base + sum(clean)
        last_day = first + timedelta(days=len(clean) - 1)
        today_value = clean[-1] if clean and last_day == today else None
        keep_from = today - timedelta(days=KEEP_DAYS)
        folded = [
            v for i, v in enumerate(clean) if first + timedelta(days=i) < keep_from
        ]
        self.base += sum(folded)
        self.start = max(first, keep_from)
        return today_value, total


@dataclass(slots=True)
class System:
    """What the connector knows about one Enphase system between updates."""

    site: Site
    connection: str = ""
    devices: dict[str, Device] = field(default_factory=dict)
    gateways: list[str] = field(default_factory=list)
    has_production_meter: bool = False
    has_consumption_meter: bool = False
    has_battery: bool = False
    inventory_day: date | None = None
    values: dict[str, Value] = field(default_factory=dict)
    as_of: datetime | None = None
    micros: dict[str, Readings] = field(default_factory=dict)
    micro_gateway: dict[str, str] = field(default_factory=dict)
    ran: dict[str, datetime] = field(default_factory=dict)
    series: dict[str, DailySeries] = field(default_factory=dict)
    lifetime_includes_today: bool | None = None
    last_summary: tuple[date, float, float] | None = None
    alerts: tuple[Alert, ...] = ()

    @property
    def flows(self) -> bool:
        """Whether consumption, grid or battery power can be read."""
        return self.has_consumption_meter or self.has_battery


def last_soc(telemetry: Mapping[str, Any]) -> float | None:
    """The newest state of charge (%) in battery telemetry."""
    intervals = telemetry.get("intervals")
    if isinstance(intervals, list):
        for interval in reversed(intervals):
            soc = interval.get("soc") if isinstance(interval, Mapping) else None
            if (
                isinstance(soc, Mapping)
                and (percent := as_float(soc.get("percent"))) is not None
            ):
                return percent
    raw = telemetry.get("last_reported_aggregate_soc")
    return as_float(raw.rstrip("%")) if isinstance(raw, str) else None
