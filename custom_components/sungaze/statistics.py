"""Import the hourly history a connector delivers into long-term statistics.

A connector puts complete hours into `Snapshot.series` (a utility's usage, an
optimizer array's late minutes). They become external statistics
`sungaze:<entry>_<key>` with a running sum, so the Energy dashboard can use them
directly. Re-imports are idempotent: only the hours from the first new or
changed one onward are written (the recorder replaces rows by start time), and
their sum continues from the stored row just before them, so a late hour
appears once and the sum stays continuous.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant
from homeassistant.util import slugify
from homeassistant.util.unit_conversion import EnergyConverter

from .const import DOMAIN, LOGGER
from .model import StatPoint, StatSeries

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry


def statistic_id(entry: ConfigEntry, key: str) -> str:
    """The external statistic id of one of an entry's series (stable)."""
    return f"{DOMAIN}:{slugify(f'{entry.unique_id or entry.entry_id}_{key}')}"


class SeriesImporter:
    """Imports one entry's series, remembering what it already wrote."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        """Track the hours imported for each series of this entry."""
        self._hass = hass
        self._entry = entry
        self._written: dict[str, dict[datetime, tuple[float, float]]] = {}
        """Per series: hour -> (value, sum) as this importer wrote it."""
        self.last_window: dict[str, tuple[str, str, int]] = {}
        """Per series: first and last hour of the last import, and rows written."""

    async def async_import(self, series: Iterable[StatSeries]) -> None:
        """Write what is new or changed in each series (needs the recorder)."""
        if "recorder" not in self._hass.config.components:
            LOGGER.debug("Recorder not loaded; history series not imported")
            return
        for one in series:
            await self._async_import_one(one)

    async def _async_import_one(self, series: StatSeries) -> None:
        # Imported lazily: the recorder is an optional (after-)dependency.
        from homeassistant.components.recorder.models import (
            StatisticData,
            StatisticMeanType,
            StatisticMetaData,
        )
        from homeassistant.components.recorder.statistics import (
            async_add_external_statistics,
            statistics_during_period,
        )
        from homeassistant.helpers.recorder import get_instance

        written = self._written.setdefault(series.key, {})
        points = _clean(series.points)
        index = next(
            (
                i
                for i, p in enumerate(points)
                if (known := written.get(p.start)) is None or known[0] != p.value
            ),
            None,
        )
        if index is None:
            return
        first = points[index].start
        todo = points[index:]
        stat_id = statistic_id(self._entry, series.key)
        if index and (previous := written.get(points[index - 1].start)) is not None:
            # The hour before is ours from this run: its sum is known, and a
            # database read could miss a write still queued in the recorder.
            total = previous[1]
        else:
            # The sum continues from the last stored hour before the first new one.
            before = await get_instance(self._hass).async_add_executor_job(
                statistics_during_period,
                self._hass,
                first - timedelta(days=366),
                first,
                {stat_id},
                "hour",
                None,
                {"sum"},
            )
            rows = before.get(stat_id) or []
            total = float(rows[-1].get("sum") or 0.0) if rows else 0.0
        data: list[StatisticData] = []
        sums: list[float] = []
        for point in todo:
            total += point.value
            sums.append(total)
            data.append(StatisticData(start=point.start, state=point.value, sum=total))
        metadata = StatisticMetaData(
            mean_type=StatisticMeanType.NONE,
            has_sum=True,
            name=f"{self._entry.title} {series.name}",
            source=DOMAIN,
            statistic_id=stat_id,
            unit_class=EnergyConverter.UNIT_CLASS if series.is_energy else None,
            unit_of_measurement=series.unit,
        )
        async_add_external_statistics(self._hass, metadata, data)
        for point, running in zip(todo, sums, strict=True):
            written[point.start] = (point.value, running)
        self.last_window[series.key] = (
            todo[0].start.isoformat(),
            todo[-1].start.isoformat(),
            len(todo),
        )


def _clean(points: Iterable[StatPoint]) -> list[StatPoint]:
    """Whole hours, sorted, the last word on each hour kept."""
    by_start: dict[datetime, StatPoint] = {}
    for point in points:
        start = point.start.replace(minute=0, second=0, microsecond=0)
        by_start[start] = StatPoint(start=start, value=point.value)
    return [by_start[start] for start in sorted(by_start)]
