"""History from the first minute: a new entry's past hours imported at setup.

Vendors that keep history (`Connector.async_history`) give the energy of each
past hour of their lifetime counters. Sungaze imports it into the long-term
statistics of the counter's own sensor, before that sensor's first recorded
hour, so the Energy dashboard shows the past days at once.

Joining without a spike: the recorder's first compiled hour of a new sensor
starts its sum at 0, so the imported hours end at sum 0 and count backwards
(their sums are negative); the dashboard only reads differences, so the hour
before the first compiled one and that one join exactly. A series that already
has history in the window (an entry added again) is left alone.

Idempotent and resumable: it walks back one site-local day at a time from the
day of setup and records, in a Store, the next day to fetch and the sum each
series continues from. A restart or reload continues there; re-importing the
same hours writes the same rows. Quota: at most `DAYS_PER_RUN` days per run,
only while at least `KEEP_SHARE` of the vendor's day and month budgets and half
of its minute window are left (live updates, and a flow adding another site,
come first); otherwise it tries again later.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .connectors.base import RateLimitedError, SungazeError
from .const import DOMAIN, LOGGER
from .model import HistorySeries

if TYPE_CHECKING:
    from .coordinator import SungazeCoordinator

CONF_BACKFILL_DAYS = "backfill_days"
"""Option: how many past days to import at first setup."""
DEFAULT_DAYS = 7
DAYS_PER_RUN = 7
KEEP_SHARE = 0.25
"""Never spend the last quarter of a day or month budget on history."""
RETRY_AFTER = timedelta(hours=6)
RETRY_SOON = timedelta(minutes=5)
MINUTE_WAIT = timedelta(seconds=70)
"""After a vendor's minute window, when history would fill more than half of it."""


class Backfill:
    """The first-setup history import of one entry."""

    def __init__(self, hass: HomeAssistant, coordinator: SungazeCoordinator) -> None:
        """Prepare; nothing runs before `async_start`."""
        self.hass = hass
        self.coordinator = coordinator
        entry = coordinator.config_entry
        self.days = int(entry.options.get(CONF_BACKFILL_DAYS, DEFAULT_DAYS))
        self._store: Store[dict[str, Any]] = Store(
            hass, 1, f"{DOMAIN}.backfill.{entry.entry_id}"
        )
        self.state: dict[str, Any] = {}
        self.requests = 0
        self._unsub: CALLBACK_TYPE | None = None

    @property
    def wanted(self) -> bool:
        """Whether this entry's vendor keeps history and the recorder is there."""
        return (
            self.coordinator.connector.history_requests_per_day > 0
            and self.days > 0
            and "recorder" in self.hass.config.components
        )

    async def async_start(self) -> None:
        """Continue (or begin) the import in the background."""
        if not self.wanted:
            return
        self.state = await self._store.async_load() or {}
        entry = self.coordinator.config_entry
        entry.async_on_unload(self._cancel)
        entry.async_create_background_task(
            self.hass, self.async_run(), f"{DOMAIN} backfill {entry.title}"
        )

    @callback
    def _cancel(self) -> None:
        if self._unsub is not None:
            self._unsub()
            self._unsub = None

    def _zone(self) -> ZoneInfo:
        snapshot = self.coordinator.data
        names = [s.timezone for s in snapshot.sites.values() if s.timezone]
        try:
            return ZoneInfo(names[0] if names else self.hass.config.time_zone)
        except ZoneInfoNotFoundError:
            return ZoneInfo(self.hass.config.time_zone)

    def _later(self, delay: timedelta) -> None:
        @callback
        def _again(_now: datetime) -> None:
            self._unsub = None
            self.coordinator.config_entry.async_create_background_task(
                self.hass, self.async_run(), f"{DOMAIN} backfill"
            )

        self._cancel()
        self._unsub = async_call_later(self.hass, delay, _again)

    def _wait_for_quota(self, cost: int) -> timedelta | None:
        """How long to wait before spending `cost` requests on history (None: now).

        Half of a minute window stays free for live updates and for the user
        adding another site of the same account meanwhile.
        """
        limiter = self.coordinator.connector.limiter
        budget = limiter.budget
        for left, total in (
            (limiter.month_left, budget.per_month),
            (limiter.day_left, budget.per_day),
        ):
            if left is not None and total and left - cost < KEEP_SHARE * total:
                return RETRY_AFTER
        minute = limiter.minute_left()
        if (
            minute is not None
            and budget.per_minute
            and minute - cost < budget.per_minute // 2
        ):
            return MINUTE_WAIT
        return None

    async def async_run(self) -> None:
        """Import up to `DAYS_PER_RUN` more days; plan the next run if unfinished."""
        zone = self._zone()
        today = dt_util.now(zone).date()
        if "boundary" not in self.state:
            hour = dt_util.utcnow().replace(minute=0, second=0, microsecond=0)
            self.state = {
                "boundary": hour.isoformat(),
                "next_day": today.isoformat(),
                "anchors": {},
                "skip": [],
            }
        boundary = datetime.fromisoformat(self.state["boundary"])
        day = date.fromisoformat(self.state["next_day"])
        oldest = today - timedelta(days=self.days - 1)
        cost = self.coordinator.connector.history_requests_per_day
        for _ in range(DAYS_PER_RUN):
            if day < oldest:
                break
            if (wait := self._wait_for_quota(cost)) is not None:
                LOGGER.debug("History import waits %s for spare quota", wait)
                await self._async_save()
                self._later(wait)
                return
            try:
                series = await self.coordinator.connector.async_history(day)
            except RateLimitedError as err:
                # The live updates' minute window comes first: wait it out.
                await self._async_save()
                self._later(timedelta(seconds=max(err.retry_after or 60, 60)))
                return
            except SungazeError as err:
                LOGGER.info("History import paused: %s", err)
                await self._async_save()
                self._later(RETRY_SOON)
                return
            self.requests += cost
            for one in series:
                await self._async_import(one, boundary)
            day -= timedelta(days=1)
            self.state["next_day"] = day.isoformat()
        await self._async_save()
        if day >= oldest:
            self._later(RETRY_SOON)

    async def _async_save(self) -> None:
        await self._store.async_save(self.state)

    async def _async_import(self, series: HistorySeries, boundary: datetime) -> None:
        # Imported lazily: the recorder is an optional (after-)dependency.
        from homeassistant.components.recorder.models import (
            StatisticData,
            StatisticMeanType,
            StatisticMetaData,
        )
        from homeassistant.components.recorder.statistics import (
            async_import_statistics,
            statistics_during_period,
        )
        from homeassistant.helpers.recorder import get_instance
        from homeassistant.util.unit_conversion import EnergyConverter

        coordinator = self.coordinator
        entity_id = er.async_get(self.hass).async_get_entity_id(
            "sensor", DOMAIN, f"{coordinator.vendor}_{series.device_id}_{series.key}"
        )
        if entity_id is None or entity_id in self.state["skip"]:
            return
        anchors: dict[str, float] = self.state["anchors"]
        if entity_id not in anchors:
            # History already recorded before the boundary: never overwrite it.
            rows = await get_instance(self.hass).async_add_executor_job(
                statistics_during_period,
                self.hass,
                boundary - timedelta(days=self.days + 1),
                boundary,
                {entity_id},
                "hour",
                None,
                {"sum"},
            )
            if rows.get(entity_id):
                self.state["skip"].append(entity_id)
                return
            anchors[entity_id] = 0.0
        points = sorted(
            (p for p in series.points if p.start < boundary and p.value >= 0),
            key=lambda p: p.start,
        )
        if not points:
            return
        # In the sensor's own unit, as the recorder compiles it (kWh, say).
        state = self.hass.states.get(entity_id)
        unit = (
            str(state.attributes.get("unit_of_measurement") or "Wh") if state else "Wh"
        )
        scale = EnergyConverter.convert(1.0, "Wh", unit)
        # The newest imported hour ends at the anchor; older ones count back.
        total = anchors[entity_id]
        data: list[StatisticData] = []
        for point in reversed(points):
            data.append(StatisticData(start=point.start, sum=total))
            total -= point.value * scale
        anchors[entity_id] = total
        data.reverse()
        async_import_statistics(
            self.hass,
            StatisticMetaData(
                mean_type=StatisticMeanType.NONE,
                has_sum=True,
                name=None,
                source="recorder",
                statistic_id=entity_id,
                unit_class=EnergyConverter.UNIT_CLASS,
                unit_of_measurement=unit,
            ),
            data,
        )
