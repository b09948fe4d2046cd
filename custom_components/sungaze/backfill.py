"""History from the first minute: a new entry's past days imported at setup.

Vendors that keep history (`Connector.async_history`) give the energy of each
past hour, or only of each past day, of their lifetime counters. Sungaze
imports it into the long-term statistics of the counter's own sensor, before
that sensor's first recorded hour, so the Energy dashboard shows the past at
once.

Joining without a spike: the recorder's first compiled hour of a new sensor
starts its sum at 0, so the imported hours end at sum 0 and count backwards
(their sums are negative); the dashboard only reads differences, so the hour
before the first compiled one and that one join exactly. A series that already
has history before setup (an entry added again) is left alone.

Daily figures: long-term statistics are hourly, so a day the vendor reports as
one total is spread over that day's hours. Energy that flows only while the sun
shines (production, grid export, battery charge) follows a half-sine from
sunrise to sunset at Home Assistant's location; other counters are spread
evenly over the day. Day, week, month and year totals are the vendor's exactly;
only the hour bars of such days are an estimate.

How far back: the `backfill_days` option (0 turns it off). Without it, as far
as the spare quota reaches within a week of setup, up to `AUTO_DAYS`, never
before the vendor's first day of history.

Idempotent and resumable: it walks back one site-local day at a time from the
day of setup and records, in a Store, the next day to fetch and the sum each
series continues from. A restart or reload continues there; re-importing the
same hours writes the same rows.

Quota: history spends only what the live plan leaves (`planner.history_spare`:
the period's budget less the live updates' even rate to its end, less half the
reserve) and never more than half of a vendor's minute window (live updates,
and a flow adding another site, come first); otherwise it tries again later.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
import math
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from homeassistant.const import SUN_EVENT_SUNRISE, SUN_EVENT_SUNSET
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.storage import Store
from homeassistant.helpers.sun import get_astral_event_date
from homeassistant.util import dt as dt_util

from .connectors.base import RateLimitedError, SungazeError
from .const import DOMAIN, LOGGER
from .model import HistorySeries
from .planner import history_spare

if TYPE_CHECKING:
    from .coordinator import SungazeCoordinator

CONF_BACKFILL_DAYS: Final = "backfill_days"
"""Option: how many past days to import at first setup (0: none; unset: auto)."""
AUTO_DAYS: Final = 366
"""Farthest the automatic reach goes back: a year, for year-on-year views, with a
bounded number of rows where no quota stops it (EG4: 24 counters, ~210k rows)."""
MAX_DAYS: Final = 730
"""Farthest the option may ask for."""
AUTO_PERIOD: Final = timedelta(days=7)
"""The automatic reach ends a week after the first run, wherever it got to."""
MAX_DAYS_PER_RUN: Final = 62
REQUESTS_PER_RUN: Final = 10
RETRY_AFTER: Final = timedelta(hours=6)
RETRY_SOON: Final = timedelta(minutes=5)
NEXT_RUN: Final = timedelta(minutes=1)
MINUTE_WAIT: Final = timedelta(seconds=70)
"""After a vendor's minute window, when history would fill more than half of it."""
SUNLIT_PREFIXES: Final = ("production_", "grid_export_", "battery_charge_")
"""Counters whose energy flows while the sun shines (spread over daylight)."""
STORE_VERSION: Final = 1


def day_hours(day: date, zone: ZoneInfo) -> list[datetime]:
    """UTC starts of the hours of a site-local day (23 or 25 across DST)."""
    start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    after = day + timedelta(days=1)
    end = datetime(after.year, after.month, after.day, tzinfo=zone).astimezone(UTC)
    hours = []
    while start < end:
        hours.append(start)
        start += timedelta(hours=1)
    return hours


def spread_day(
    total: float,
    hours: list[datetime],
    sun: tuple[datetime, datetime] | None,
) -> list[tuple[datetime, float]]:
    """A day's total spread over its hours: a half-sine over `sun`, else flat.

    The parts add up to `total`; an hour outside daylight gets nothing.
    """
    if not hours:
        return []
    weights = [1.0] * len(hours)
    if sun is not None and sun[1] > sun[0]:
        rise, length = sun[0], (sun[1] - sun[0]).total_seconds()

        def daylight(at: datetime) -> float:
            """The half-sine's integral from sunrise to `at` (0…1)."""
            x = min(max((at - rise).total_seconds() / length, 0.0), 1.0)
            return (1 - math.cos(math.pi * x)) / 2

        weights = [daylight(h + timedelta(hours=1)) - daylight(h) for h in hours]
    whole = sum(weights)
    if whole <= 0:
        weights, whole = [1.0] * len(hours), float(len(hours))
    return [(h, total * w / whole) for h, w in zip(hours, weights, strict=True) if w]


class Backfill:
    """The first-setup history import of one entry."""

    def __init__(self, hass: HomeAssistant, coordinator: SungazeCoordinator) -> None:
        """Prepare; nothing runs before `async_start`."""
        self.hass = hass
        self.coordinator = coordinator
        entry = coordinator.config_entry
        days = entry.options.get(CONF_BACKFILL_DAYS)
        self.days: int | None = None if days is None else int(days)
        self._store: Store[dict[str, Any]] = Store(
            hass, STORE_VERSION, f"{DOMAIN}.backfill.{entry.entry_id}"
        )
        self.state: dict[str, Any] = {}
        self.requests = 0
        """Requests this instance spent (since setup or reload)."""
        self._unsub: CALLBACK_TYPE | None = None
        self._suns: dict[date, tuple[datetime, datetime] | None] = {}

    @property
    def wanted(self) -> bool:
        """Whether this entry's vendor keeps history and the recorder is there."""
        return (
            self.coordinator.connector.history_requests_per_day > 0
            and self.days != 0
            and "recorder" in self.hass.config.components
        )

    @property
    def done(self) -> bool:
        """Whether the import reached its oldest day (or its week ran out)."""
        return bool(self.state.get("done"))

    async def async_start(self) -> None:
        """Continue (or begin) the import in the background."""
        if not self.wanted:
            return
        self.state = await self._store.async_load() or {}
        if self.done:
            return
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

        Only what the live plan leaves of a day or month budget, and half of a
        minute window (for live updates). While the user is in a Sungaze
        config flow (adding another site of the same account, say) a vendor
        with a minute window gets none: the flow's checks and the new entry's
        first update come first.
        """
        limiter = self.coordinator.connector.limiter
        budget = limiter.budget
        spare = history_spare(budget, limiter, dt_util.utcnow())
        if spare is not None and cost > spare:
            return RETRY_AFTER
        minute = limiter.minute_left()
        if minute is not None and budget.per_minute:
            if minute - cost < budget.per_minute // 2:
                return MINUTE_WAIT
            if self.hass.config_entries.flow.async_progress_by_handler(DOMAIN):
                return MINUTE_WAIT
        return None

    def _oldest(self, today: date) -> date:
        """The oldest day to import."""
        reach = AUTO_DAYS if self.days is None else self.days
        oldest = today - timedelta(days=reach - 1)
        first = self.coordinator.connector.history_first_day
        return max(oldest, first) if first is not None else oldest

    def _begin(self, today: date) -> None:
        hour = dt_util.utcnow().replace(minute=0, second=0, microsecond=0)
        self.state = {
            "boundary": hour.isoformat(),
            "started": dt_util.utcnow().isoformat(),
            "next_day": today.isoformat(),
            "anchors": {},
            "skip": [],
        }

    async def async_run(self) -> None:
        """Import a batch of older days; plan the next run if unfinished."""
        zone = self._zone()
        today = dt_util.now(zone).date()
        if "boundary" not in self.state:
            self._begin(today)
        boundary = datetime.fromisoformat(self.state["boundary"])
        started = datetime.fromisoformat(
            self.state.get("started", self.state["boundary"])
        )
        day = date.fromisoformat(self.state["next_day"])
        oldest = self._oldest(today)
        connector = self.coordinator.connector
        batch: defaultdict[tuple[str, str], list[tuple[datetime, float]]] = defaultdict(
            list
        )
        spent = 0
        wait: timedelta | None = NEXT_RUN
        for _ in range(MAX_DAYS_PER_RUN):
            if day < oldest:
                wait = None
                break
            if self.days is None and dt_util.utcnow() - started > AUTO_PERIOD:
                LOGGER.debug("History import stops: its week is over")
                day, wait = oldest - timedelta(days=1), None
                break
            cost = connector.history_cost(day)
            if cost and spent and spent + cost > REQUESTS_PER_RUN:
                break
            if cost and (wait := self._wait_for_quota(cost)) is not None:
                LOGGER.debug("History import waits %s for spare quota", wait)
                break
            try:
                series = await connector.async_history(day)
            except RateLimitedError as err:
                # The live updates' minute window comes first: wait it out.
                wait = timedelta(seconds=max(err.retry_after or 60, 60))
                break
            except SungazeError as err:
                LOGGER.info("History import paused: %s", err)
                wait = RETRY_SOON
                break
            wait = NEXT_RUN
            spent += cost
            self.requests += cost
            for one in series:
                batch[one.device_id, one.key].extend(
                    self._hours(one, day, zone, boundary)
                )
            day -= timedelta(days=1)
        # What was fetched is imported even when the run was cut short.
        imported = [
            await self._async_import(device_id, key, points, boundary)
            for (device_id, key), points in batch.items()
        ]
        if imported and not any(imported):
            # Every counter already has its past (an entry added again, say):
            # nothing more to fetch.
            LOGGER.debug("History import stops: the counters have history already")
            wait = None
        self.state["next_day"] = day.isoformat()
        if wait is None:
            self.state["done"] = True
        await self._async_save()
        if wait is not None:
            self._later(wait)

    def _hours(
        self, series: HistorySeries, day: date, zone: ZoneInfo, boundary: datetime
    ) -> Iterator[tuple[datetime, float]]:
        """The series' hours (start, Wh) before the boundary."""
        if series.day_total is not None:
            if series.day_total < 0:
                return
            hours = day_hours(day, zone)
            if not hours or hours[-1] + timedelta(hours=1) > boundary:
                return  # an open day is never history
            sun = self._sun(day) if series.key.startswith(SUNLIT_PREFIXES) else None
            yield from spread_day(series.day_total, hours, sun)
            return
        for point in series.points:
            if point.start < boundary and point.value >= 0:
                yield point.start.astimezone(UTC), point.value

    def _sun(self, day: date) -> tuple[datetime, datetime] | None:
        """Sunrise and sunset at HA's location that day, worked out once a day."""
        if day not in self._suns:
            rise = get_astral_event_date(self.hass, SUN_EVENT_SUNRISE, day)
            set_ = get_astral_event_date(self.hass, SUN_EVENT_SUNSET, day)
            self._suns[day] = (rise, set_) if rise and set_ else None
        return self._suns[day]

    async def _async_save(self) -> None:
        await self._store.async_save(self.state)

    async def _async_import(
        self,
        device_id: str,
        key: str,
        points: list[tuple[datetime, float]],
        boundary: datetime,
    ) -> bool:
        """Import one counter's hours; False when it is not ours to fill."""
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
            "sensor", DOMAIN, f"{coordinator.vendor}_{device_id}_{key}"
        )
        if entity_id is None or entity_id in self.state["skip"]:
            return False
        anchors: dict[str, float] = self.state["anchors"]
        if entity_id not in anchors:
            # History already recorded before the boundary (an entry added
            # again): never overwrite it. Monthly rows keep the check cheap.
            rows = await get_instance(self.hass).async_add_executor_job(
                statistics_during_period,
                self.hass,
                boundary - timedelta(days=AUTO_DAYS + 400),
                boundary,
                {entity_id},
                "month",
                None,
                {"sum"},
            )
            if rows.get(entity_id):
                self.state["skip"].append(entity_id)
                return False
            anchors[entity_id] = 0.0
        by_hour: dict[datetime, float] = {}
        for start, value in points:
            by_hour[start] = by_hour.get(start, 0.0) + value
        if not by_hour:
            return True
        # In the sensor's own unit, as the recorder compiles it (kWh, say).
        state = self.hass.states.get(entity_id)
        unit = (
            str(state.attributes.get("unit_of_measurement") or "Wh") if state else "Wh"
        )
        scale = EnergyConverter.convert(1.0, "Wh", unit)
        # The newest imported hour ends at the anchor; older ones count back.
        total = anchors[entity_id]
        data: list[StatisticData] = []
        for start in sorted(by_hour, reverse=True):
            data.append(StatisticData(start=start, sum=total))
            total -= by_hour[start] * scale
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
        return True


async def async_forget(hass: HomeAssistant, entry_id: str) -> None:
    """Drop a removed entry's import state."""
    await Store[dict[str, Any]](
        hass, STORE_VERSION, f"{DOMAIN}.backfill.{entry_id}"
    ).async_remove()
