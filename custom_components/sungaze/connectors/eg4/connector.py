"""The EG4 connector: which requests an update makes, and the snapshot it builds.

Requests: per poll, per inverter, runtime + energy (2); per GridBOSS 1; per
parallel group of two or more inverters 1 (the group's energy counters). The
battery bank and its modules change slowly and are read every 5 minutes. Two
inverters in parallel plus a GridBOSS: 6 a minute and 2 every 5 minutes, about
9,200 a day; logins come on top, one per portal session (~2 h). At most 3
requests are in flight per account (eg4_web_monitor's self-limit, #533). The
first data call of an update goes alone, so a failing portal costs one request.

History (first-setup backfill): one month column per inverter and month
(`history.py`), held in memory, serves every past day of that month; the plant
list is asked once for the plants' `createDate`. A station with two or more
inverters gets its counters' days as the sum of its inverters' days (its live
counters are the parallel-group aggregate plus standalone inverters, INFERRED
to be that sum; no extra request). A GridBOSS gets none: its counters are its
own CT measurements and the month column is documented for inverters only.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp

from ...model import Device, DeviceKind, HistorySeries, Readings, Site, Snapshot
from ..base import (
    AccountInfo,
    AuthFailedError,
    BadPayloadError,
    ConnectionFailedError,
    PollCost,
    RequestBudget,
    RequestLimiter,
    SungazeError,
)
from .client import HISTORY, EG4Session, Refused
from .history import Month, create_date, month_column
from .parse import Parser, Plant, as_list, groups
from .tables import (
    BATTERY,
    BATTERY_EVERY,
    CONF_STATION_IDS,
    DEFAULT_URL,
    ENERGY,
    GRIDBOSS,
    INSTALLER_ROLES,
    INVERTER,
    MIDBOX,
    MONTH_COLUMN,
    MONTHS_KEPT,
    OVERVIEW,
    PARALLEL,
    PARALLEL_MIN,
    PLANTS_INSTALLER,
    PLANTS_VIEWER,
    RUNTIME,
)

type Call = Callable[[], Awaitable[Any]]

LATEST_OFFSET = timedelta(hours=-12)
"""Without a plant's offset, a day counts as over once it is over everywhere."""


@dataclass(frozen=True, slots=True)
class _Held:
    """One inverter's month column and when it was fetched."""

    fetched: datetime
    days: Month


class EG4Connector(EG4Session):
    """One EG4 / Luxpower monitor account and its chosen stations."""

    vendor: ClassVar[str] = "eg4"
    budget: ClassVar[RequestBudget] = RequestBudget(concurrency=3)
    default_url: ClassVar[str | None] = DEFAULT_URL
    own_cookie_jar: ClassVar[bool] = True

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        username: str,
        password: str,
        station_ids: Iterable[str] | None = None,
        base_url: str | None = None,
        limiter: RequestLimiter | None = None,
    ) -> None:
        """Create a client for one account (and, for fetching, some stations)."""
        super().__init__(
            session,
            username=username,
            password=password,
            base_url=base_url,
            limiter=limiter,
        )
        self.station_ids = (
            None if station_ids is None else [str(s) for s in station_ids]
        )
        self.parser = Parser()
        self._plants: dict[str, Plant] = {}
        self._notes: dict[str, str] = {}
        self._role = ""
        self._months: OrderedDict[tuple[str, int, int], _Held] = OrderedDict()
        self._dates_asked = False

    @classmethod
    def from_config(
        cls,
        session: aiohttp.ClientSession,
        data: Mapping[str, Any],
        limiter: RequestLimiter | None = None,
    ) -> EG4Connector:
        """Build from entry data: `username`, `password`, `url`, `station_ids`."""
        stations = data.get(CONF_STATION_IDS)
        return cls(
            session,
            username=str(data["username"]),
            password=str(data["password"]),
            station_ids=stations,
            base_url=data.get("url"),
            limiter=limiter,
        )

    def _logged_in(self, payload: Mapping[str, Any]) -> None:
        self._plants = self.parser.tree(payload, self._plants)
        self._role = str(payload.get("role") or "").upper()

    @property
    def cost(self) -> PollCost:
        """Runtime + energy per inverter, GridBOSS and group extras; battery every 5 min."""
        plants = self._selected() if self._plants else []
        inverters = sum(len(plant.inverters) for plant in plants) or 1
        extras = sum(
            sum(unit.device_type == GRIDBOSS for unit in plant.units)
            + len(groups(plant))
            for plant in plants
        )
        return PollCost(
            per_poll=2 * inverters + extras,
            per_day=inverters * int(timedelta(days=1) / BATTERY_EVERY),
            min_interval=timedelta(seconds=60),
            sun_aware=False,  # batteries and loads matter at night too
        )

    # -- identify -------------------------------------------------------------

    async def async_identify(self) -> AccountInfo:
        """Log in; list the stations and the inverters the login reply names.

        The title names the station (or the portal), never the username: the
        title is in every log line of the entry.
        """
        self.begin_update()
        async with self._login_lock:
            await self._login()
        sites = tuple(
            Site(id=plant.id, name=plant.name) for plant in self._plants.values()
        )
        devices = tuple(
            self.parser.unit_device(unit)
            for plant in self._plants.values()
            for unit in plant.units
        )
        return AccountInfo(
            unique_id=self._username.lower(),
            title=self._title(),
            sites=sites,
            devices=devices,
        )

    def _title(self) -> str:
        brand = self.parser.brand.split()[0]
        names = [plant.name for plant in self._plants.values()]
        if len(names) == 1:
            return f"{brand} {names[0]}"
        return f"{brand} {urlsplit(self.base_url).hostname or self.base_url}"

    # -- fetch ----------------------------------------------------------------

    def _selected(self) -> list[Plant]:
        if self.station_ids is None:
            return list(self._plants.values())
        return [self._plants[sid] for sid in self.station_ids if sid in self._plants]

    async def async_fetch(self) -> Snapshot:
        """Fetch every chosen station: runtime and energy now, batteries every 5 min.

        The first data call goes alone: when the portal fails, the update ends
        after that one request (plus one login when the session had expired).
        """
        self.begin_update()
        await self._ensure_login()
        plants = self._selected()
        if not plants:
            raise BadPayloadError(
                "None of the chosen stations is on this account any more"
            )
        if self.station_ids is not None and len(plants) < len(self.station_ids):
            self._log_once(
                "station_gone", "A chosen EG4 station is no longer on the account"
            )
        await self._gather(
            [self._membership(p) for p in plants if p.groups and p.members is None]
        )
        now = datetime.now(UTC)
        calls = self._plan(plants, now)
        pending = list(calls.values())
        first = await self._gather([call() for call in pending[:1]])
        rest = await self._gather([call() for call in pending[1:]])
        results = dict(zip(calls, first + rest, strict=True))
        snapshot = self._snapshot(plants, results, now)
        self.parser.log_faults()
        return snapshot

    def _snapshot(
        self,
        plants: list[Plant],
        results: Mapping[tuple[str, str], Any],
        now: datetime,
    ) -> Snapshot:
        parser = self.parser
        sites: dict[str, Site] = {}
        devices: dict[str, Device] = {}
        readings: dict[str, Readings] = {}
        for plant in plants:
            sites[plant.id] = Site(id=plant.id, name=plant.name)
            devices[plant.id] = Device(
                id=plant.id,
                kind=DeviceKind.SITE,
                name=plant.name,
                site_id=plant.id,
                manufacturer=parser.brand,
                model="Station",
            )
            for unit in plant.units:
                devices[unit.serial] = parser.unit_device(unit)
                if unit.device_type == GRIDBOSS:
                    box = parser.midbox(results[("midbox", unit.serial)])
                    if box is not None:
                        readings[unit.serial] = box
                    continue
                if unit.device_type != INVERTER:
                    continue  # a kind of device these endpoints do not serve
                if ("battery", unit.serial) in results:
                    parser.battery(unit, results[("battery", unit.serial)], now)
                inverter = parser.inverter(
                    unit,
                    results[("runtime", unit.serial)],
                    results[("energy", unit.serial)],
                )
                if inverter is not None:
                    readings[unit.serial] = inverter
                bank = parser.banks.get(unit.serial)
                for module_id, (device, module, _) in (
                    bank.modules if bank else {}
                ).items():
                    devices[module_id] = device
                    if inverter is not None:
                        # A lost dongle freezes its modules' figures too.
                        readings[module_id] = (
                            module
                            if inverter.online
                            else Readings(
                                values=module.values, as_of=module.as_of, online=False
                            )
                        )
            parallel = {
                group: results.get(("parallel", plant.id + group))
                for group in groups(plant)
            }
            if (totals := parser.station(plant, readings, parallel)) is not None:
                readings[plant.id] = totals
        return Snapshot(
            sites=sites,
            devices=devices,
            readings=readings,
            notes=dict(self._notes),
            fetched_at=now,
        )

    def _plan(self, plants: list[Plant], now: datetime) -> dict[tuple[str, str], Call]:
        """The requests of one update, keyed by (what, whose)."""
        calls: dict[tuple[str, str], Call] = {}
        for plant in plants:
            for unit in plant.units:
                if unit.device_type == GRIDBOSS:
                    calls[("midbox", unit.serial)] = partial(
                        self._optional, MIDBOX, unit.serial
                    )
                elif unit.device_type == INVERTER:
                    calls[("runtime", unit.serial)] = partial(
                        self._optional, RUNTIME, unit.serial
                    )
                    calls[("energy", unit.serial)] = partial(
                        self._optional, ENERGY, unit.serial
                    )
                    bank = self.parser.banks.get(unit.serial)
                    if bank is None or now - bank.fetched >= BATTERY_EVERY:
                        calls[("battery", unit.serial)] = partial(
                            self._optional, BATTERY, unit.serial
                        )
            for group, members in groups(plant).items():
                first = plant.groups.get(group)
                calls[("parallel", plant.id + group)] = partial(
                    self._optional, PARALLEL, first if first in members else members[0]
                )
        return calls

    async def _gather(self, calls: list[Any]) -> list[Any]:
        """Run calls concurrently (the limiter bounds them); raise the gravest error."""
        results = await asyncio.gather(*calls, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        for kind in (
            AuthFailedError,
            ConnectionFailedError,
            SungazeError,
            BaseException,
        ):
            for error in errors:
                if isinstance(error, kind):
                    raise error
        return results

    async def _optional(self, path: str, serial: str) -> Mapping[str, Any] | None:
        """One device's data; a lasting refusal skips the device instead of failing the poll."""
        try:
            return await self._call(path, serialNum=serial)
        except Refused as err:
            self._log_once(f"refused{path}", f"{err}; skipping that device's data")
            self._notes[path.rsplit("/", 1)[-1]] = "refused by the portal for a device"
            return None

    async def _membership(self, plant: Plant) -> None:
        """Learn which inverters form each parallel group (overview list)."""
        try:
            payload = await self._call(
                OVERVIEW,
                page="1",
                rows="100",
                plantId=plant.id,
                searchText="",
                statusText="all",
            )
        except Refused:
            payload = {}
        members = {
            str(row["serialNum"]): str(row.get("parallelGroup") or "")
            for row in as_list(payload.get("rows"))
            if row.get("serialNum")
        }
        if not members and len(plant.groups) == 1:
            # Without the list, a station with one group is taken to be that group.
            self._notes["parallel_groups"] = (
                "overview list unavailable; one group assumed"
            )
            group = next(iter(plant.groups))
            members = {unit.serial: group for unit in plant.inverters}
        plant.members = members

    # -- history ----------------------------------------------------------------

    history_requests_per_day: ClassVar[int] = 1
    """One month column per inverter serves its month: see `history_cost`."""

    @staticmethod
    def _open(plant: Plant, day: date, now: datetime) -> bool:
        """Whether the plant-local `day` had not ended at `now`."""
        offset = plant.offset if plant.offset is not None else LATEST_OFFSET
        return now < datetime.combine(day + timedelta(days=1), time(), UTC) - offset

    def _wanted(self, day: date, now: datetime) -> list[Plant]:
        """The chosen plants whose `day` is complete and not before their creation."""
        return [
            plant
            for plant in (self._selected() if self._plants else [])
            if not (plant.created and day < plant.created)
            and not self._open(plant, day, now)
        ]

    def _held(self, plant: Plant, serial: str, day: date) -> Month | None:
        """The month column holding `day` complete, if fetched already."""
        held = self._months.get((serial, day.year, day.month))
        if held is None or self._open(plant, day, held.fetched):
            return None  # never fetched, or `day` was still open then
        return held.days

    def history_cost(self, day: date) -> int:
        """Requests `async_history(day)` sends now: months not held, the plant list once."""
        if not self._plants:
            return self.history_requests_per_day
        now = datetime.now(UTC)
        return int(not self._dates_asked) + sum(
            self._held(plant, unit.serial, day) is None
            for plant in self._wanted(day, now)
            for unit in plant.inverters
        )

    @property
    def history_first_day(self) -> date | None:
        """The oldest chosen plant's `createDate`, once the plant list told it."""
        dates = [plant.created for plant in self._selected()] if self._plants else []
        if not dates or None in dates:
            return None
        return min(d for d in dates if d is not None)

    async def async_history(self, day: date) -> tuple[HistorySeries, ...]:
        """Each inverter's (and station's) counters' energy of one complete plant-local day.

        A day still open (today) or before the plant's creation gives nothing.
        """
        token = HISTORY.set(True)
        try:
            await self._ensure_login()
            if not self._dates_asked:
                await self._plant_dates()
            now = datetime.now(UTC)
            series: list[HistorySeries] = []
            for plant in self._wanted(day, now):
                serials = [unit.serial for unit in plant.inverters]
                months = await self._gather(
                    [self._month(plant, serial, day, now) for serial in serials]
                )
                figures = {
                    serial: month[day.day]
                    for serial, month in zip(serials, months, strict=True)
                    if day.day in month
                }
                series += [
                    HistorySeries(device_id=serial, key=key, day_total=wh)
                    for serial, values in figures.items()
                    for key, wh in values.items()
                ]
                if len(serials) >= PARALLEL_MIN and len(figures) == len(serials):
                    # The station's counters cover all its inverters.
                    keys = set.intersection(*(set(v) for v in figures.values()))
                    series += [
                        HistorySeries(
                            device_id=plant.id,
                            key=key,
                            day_total=round(sum(v[key] for v in figures.values()), 6),
                        )
                        for key in sorted(keys)
                    ]
            return tuple(series)
        finally:
            HISTORY.reset(token)

    async def _month(
        self, plant: Plant, serial: str, day: date, now: datetime
    ) -> Month:
        """One inverter's month column holding `day` (fetched once, then held)."""
        if (days := self._held(plant, serial, day)) is not None:
            self._months.move_to_end((serial, day.year, day.month))
            return days
        form = {"serialNum": serial, "year": str(day.year), "month": str(day.month)}
        try:
            payload = await self._call_renewing(MONTH_COLUMN, form)
        except Refused as err:
            # Held empty: a refusal must not cost a request on every later day.
            self._log_once("refused_month", f"{err}; no history for that inverter")
            self._notes["monthColumn"] = "refused by the portal for a device"
            parsed: Month | None = {}
        else:
            parsed = month_column(payload)
        if parsed is None:
            self._log_once(
                "month_shape", "EG4 month column has an unexpected shape; no history"
            )
            self._notes["monthColumn"] = "unexpected answer shape"
            parsed = {}
        self._months[(serial, day.year, day.month)] = _Held(fetched=now, days=parsed)
        while len(self._months) > MONTHS_KEPT:
            self._months.popitem(last=False)
        return parsed

    async def _plant_dates(self) -> None:
        """Learn the plants' `createDate` from the plant list (once)."""
        path = PLANTS_INSTALLER if self._role in INSTALLER_ROLES else PLANTS_VIEWER
        try:
            payload = await self._call_renewing(
                path,
                {
                    "sort": "createDate",
                    "order": "desc",
                    "searchText": "",
                    "page": "1",
                    "rows": str(max(20, len(self._plants))),
                },
            )
        except Refused:
            payload = {}
        for row in as_list(payload.get("rows")):
            plant = self._plants.get(str(row.get("plantId") or row.get("id") or ""))
            if plant is not None:
                plant.created = create_date(row.get("createDate"))
        self._dates_asked = True

    def diagnostics(self) -> dict[str, Any]:
        """Request counters by endpoint, session renewals and notes; no identities."""
        banks = self.parser.banks
        return {
            **super().diagnostics(),
            "requests_by_endpoint": dict(sorted(self._requests.items())),
            "logins": self._logins,
            "session_renewals": self._relogins,
            "stations": len(self._selected()) if self._plants else 0,
            "battery_banks": len(banks),
            "battery_modules": sum(len(bank.modules) for bank in banks.values()),
            "history_months_held": len(self._months),
            "refused_endpoints": sorted(
                {path.rsplit("/", 1)[-1] for path, _ in self._refused}
            ),
            "notes": dict(self._notes),
        }
