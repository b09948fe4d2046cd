"""EG4 Electronics / Luxpower cloud monitor ("WManage"), monitor-account login.

Library choice: `pylxpweb` (0.9.40, async aiohttp + pydantic, takes an injected
session and base URL, its pins fit HA 2026.10.4's constraints) was weighed and
not used. It sends its own requests with its own cache, back-off sleeps (up to
60 s inside a call) and login retries, so they cannot pass through our
`RequestLimiter`; every login also lists plants and devices (3 requests); it
re-logs in without clearing the cookie jar (the cause of eg4_web_monitor #34)
and not on `success:false`; its `LoginResponse` model requires some thirty
fields, the kind of strictness that broke logins before (eg4_web_monitor
#256/#258); it is 54k lines (local Modbus, dongle, CLI) marked Alpha, classified
for Python 3.12/3.13 only. This client is small and hand-written instead.

Session: `POST /WManage/api/login` (form `account`, `password`,
`language=ENGLISH`) sets a `JSESSIONID` cookie, kept in the session's own jar
(`own_cookie_jar`, so entries cannot clobber each other, eg4_web_monitor #535).
The login reply holds the whole plant -> inverter tree. A data call answered
with the HTML login page, a 401 or `success:false` means the session is gone:
the jar is cleared (stale cookies made re-login fail), one login is made for
all concurrent callers, and the call is retried once. A login refused is an
auth failure (reauth); a refusal that survives a fresh login is remembered per
endpoint and device, so it cannot cause a login every poll.

Requests: per poll, per inverter, runtime + energy (2); per GridBOSS 1; per
parallel group of two or more inverters 1 (the group's energy counters). The
battery bank and its modules change slowly and are read every 5 minutes. Two
inverters in parallel plus a GridBOSS: 6 a minute and 2 every 5 minutes, about
9,200 a day; logins come on top, one per portal session (~2 h). At most 3
requests are in flight per account (eg4_web_monitor's self-limit, #533).

Readings per inverter (runtime + energy): PV power per string and total, AC
output, grid power (+ import), load, battery power (+ discharge), SOC, battery
voltage/temperature (`tBat` 127 means "no BMS"), the bank current from the
battery endpoint, operating mode, frequency, grid voltage, inner temperature,
and today/lifetime counters (0.1 kWh). Battery modules are their own devices;
modules missing from one answer (>4 packs rotate) are carried for an hour. A
station with two or more inverters gets system totals: powers summed over its
inverters, counters from the parallel-group endpoint (standalone inverters'
own counters added).

Lost devices: `lost: true` means the portal mirrors frozen values (and omits
live fields); the readings are published offline with their last upload time.

UNCONFIRMED readings chosen here: `serverTime` and a module's `lastUpdateTime`
are the upload time in UTC (captures show `deviceTime` exactly the plant's
offset away); a module's `current` is + while charging (the only capture shows
a positive value with the bank charging), published + discharge like battery
power; the GridBOSS legs' active power is + import (pylxpweb's register
definition); a station's grid and load powers are the sums over its inverters;
a module's temperature is its warmest cell. The portal gives time zones only
as offsets ("GMT -8"), so daily counters use Home Assistant's time zone.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
import json
import logging
import re
from typing import Any, ClassVar, Final
from urllib.parse import urlsplit

import aiohttp

from ..model import Device, DeviceKind, Readings, Site, Snapshot, Value, as_float
from .base import (
    AccountInfo,
    AuthFailedError,
    BadPayloadError,
    ConnectionFailedError,
    Connector,
    PollCost,
    RequestBudget,
    RequestLimiter,
    SungazeError,
)

_LOGGER = logging.getLogger(__name__)

DEFAULT_URL: Final = "https://monitor.eg4electronics.com"
PORTALS: Final[Mapping[str, str]] = {
    DEFAULT_URL: "EG4 Electronics (monitor.eg4electronics.com)",
    "https://us.luxpowertek.com": "Luxpower US (us.luxpowertek.com)",
    "https://na.luxpowertek.com": "Luxpower North America (na.luxpowertek.com)",
    "https://eu.luxpowertek.com": "Luxpower Europe (eu.luxpowertek.com)",
    "https://sea.luxpowertek.com": "Luxpower South-East Asia (sea.luxpowertek.com)",
    "https://af.luxpowertek.com": "Luxpower Africa (af.luxpowertek.com)",
    "https://server.luxpowertek.com": "Luxpower global (server.luxpowertek.com)",
}
CONF_STATION_IDS: Final = "station_ids"
REQUEST_TIMEOUT: Final = 30
BATTERY_EVERY: Final = timedelta(minutes=5)
MODULE_GRACE: Final = timedelta(hours=1)

_INVERTER: Final = 6
_GRIDBOSS: Final = 9
_HEADERS: Final = {
    "Accept": "application/json",
    "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
}
_TRANSIENT: Final = ("DATAFRAME_TIMEOUT", "TIMEOUT", "BUSY", "COMMUNICATION_ERROR")
_NO_BMS_TEMPERATURE: Final = 127.0
_THREE_PHASE: Final = 3.0
_PARALLEL_MIN: Final = 2
_SLOT_LABEL: Final = re.compile(r"Battery_ID_\d+", re.IGNORECASE)
"""What the portal sends as a module's `batterySn`: a slot label, not a serial."""

_LOGIN: Final = "/WManage/api/login"
_OVERVIEW: Final = "/WManage/api/inverterOverview/list"
_RUNTIME: Final = "/WManage/api/inverter/getInverterRuntime"
_ENERGY: Final = "/WManage/api/inverter/getInverterEnergyInfo"
_PARALLEL: Final = "/WManage/api/inverter/getInverterEnergyInfoParallel"
_BATTERY: Final = "/WManage/api/battery/getBatteryInfo"
_MIDBOX: Final = "/WManage/api/midbox/getMidboxRuntime"

# Every EG4 scale (notes A.7-A.11) in one table: vendor field -> (metric, factor
# to our unit). 0.1 V, 0.01 Hz, 0.1 kWh (x100 -> Wh), 0.01 V module totals, mV
# cells, 0.1 degC cells, 0.1 A module currents.
SCALES: Final[Mapping[str, Mapping[str, tuple[str, float]]]] = {
    "runtime": {
        "ppv": ("production_power", 1.0),
        **{f"ppv{n}": (f"pv_power_{n}", 1.0) for n in range(1, 7)},
        **{f"vpv{n}": (f"pv_voltage_{n}", 0.1) for n in range(1, 7)},
        "vacr": ("grid_voltage_1", 0.1),
        "fac": ("ac_frequency", 0.01),
        "soc": ("battery_state_of_charge", 1.0),
        "vBat": ("battery_voltage", 0.1),
        "tBat": ("battery_temperature", 1.0),
        "tinner": ("temperature", 1.0),
    },
    "runtime_three_phase": {
        "vacs": ("grid_voltage_2", 0.1),
        "vact": ("grid_voltage_3", 0.1),
    },
    "energy": {
        "todayYielding": ("production_energy_today", 100.0),
        "totalYielding": ("production_energy_lifetime", 100.0),
        "todayUsage": ("consumption_energy_today", 100.0),
        "totalUsage": ("consumption_energy_lifetime", 100.0),
        "todayImport": ("grid_import_energy_today", 100.0),
        "totalImport": ("grid_import_energy_lifetime", 100.0),
        "todayExport": ("grid_export_energy_today", 100.0),
        "totalExport": ("grid_export_energy_lifetime", 100.0),
        "todayCharging": ("battery_charge_energy_today", 100.0),
        "totalCharging": ("battery_charge_energy_lifetime", 100.0),
        "todayDischarging": ("battery_discharge_energy_today", 100.0),
        "totalDischarging": ("battery_discharge_energy_lifetime", 100.0),
    },
    "module": {
        "soc": ("battery_state_of_charge", 1.0),
        "soh": ("battery_state_of_health", 1.0),
        "totalVoltage": ("battery_voltage", 0.01),
        "current": ("battery_current", -0.1),  # + charging on the wire
        "batMaxCellVoltage": ("cell_voltage_max", 0.001),
        "batMinCellVoltage": ("cell_voltage_min", 0.001),
        "batMaxCellTemp": ("battery_temperature", 0.1),
        "cycleCnt": ("battery_cycles", 1.0),
    },
    "midbox": {
        "gridL1RmsVolt": ("grid_voltage_1", 0.1),
        "gridL2RmsVolt": ("grid_voltage_2", 0.1),
        "gridFreq": ("ac_frequency", 0.01),
    },
}
# Quantities made of several fields: metric -> (fields added, fields subtracted, factor).
DERIVED: Final[
    Mapping[str, Mapping[str, tuple[tuple[str, ...], tuple[str, ...], float]]]
] = {
    "runtime": {
        "grid_power": (("pToUser",), ("pToGrid",), 1.0),
        "battery_power": (("pDisCharge",), ("pCharge",), 1.0),
        "ac_power": (("pinv",), ("prec",), 1.0),
    },
    "midbox": {
        "grid_power": (("gridL1ActivePower", "gridL2ActivePower"), (), 1.0),
        "consumption_power": (("loadL1ActivePower", "loadL2ActivePower"), (), 1.0),
        "grid_export_energy_today": (("eToGridTodayL1", "eToGridTodayL2"), (), 100.0),
        "grid_export_energy_lifetime": (
            ("eToGridTotalL1", "eToGridTotalL2"),
            (),
            100.0,
        ),
        "grid_import_energy_today": (("eToUserTodayL1", "eToUserTodayL2"), (), 100.0),
        "grid_import_energy_lifetime": (
            ("eToUserTotalL1", "eToUserTotalL2"),
            (),
            100.0,
        ),
        "consumption_energy_today": (("eLoadTodayL1", "eLoadTodayL2"), (), 100.0),
        "consumption_energy_lifetime": (("eLoadTotalL1", "eLoadTotalL2"), (), 100.0),
    },
}
# Firmware-dependent names of the house load, best first.
_LOAD_FIELDS: Final = ("consumptionPower", "consumptionPower114", "pLoad170")
# Station totals: summed over inverters.
_SUMMED: Final = (
    "production_power",
    "battery_power",
    "grid_power",
    "consumption_power",
)

MODE_CODES: Final[Mapping[int, str]] = {
    0x00: "standby",
    0x01: "fault",
    0x02: "firmware_update",
    0x04: "pv_to_grid",
    0x08: "pv_charging",
    0x0C: "pv_charging_to_grid",
    0x10: "battery_discharging",
    0x11: "standby",
    0x14: "pv_battery_discharging",
    0x20: "ac_charging",
    0x28: "pv_ac_charging",
    0x40: "off_grid_battery",
    0x60: "off_grid_ac_charging",
    0x80: "off_grid_pv",
    0x88: "off_grid_pv_charging",
    0xC0: "off_grid_pv_battery",
}


@dataclass(frozen=True, slots=True)
class _Unit:
    """An inverter or GridBOSS from the login tree."""

    serial: str
    plant_id: str
    device_type: int
    model: str | None
    three_phase: bool


@dataclass(slots=True)
class _Plant:
    id: str
    name: str
    units: list[_Unit]
    groups: dict[str, str]
    """Parallel group -> the serial the portal names first in it."""
    members: dict[str, str] | None = None
    """Inverter serial -> its parallel group (overview list); None: not asked yet."""

    @property
    def inverters(self) -> list[_Unit]:
        return [unit for unit in self.units if unit.device_type == _INVERTER]


@dataclass(slots=True)
class _Bank:
    """The last battery answer of one inverter."""

    fetched: datetime
    current: float | None
    modules: dict[str, tuple[Device, Readings, datetime]]


class _Refused(BadPayloadError):
    """`success:false` that a fresh login did not cure."""


class EG4Connector(Connector):
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
        super().__init__(session, base_url=base_url, limiter=limiter)
        self._username = username
        self._password = password
        self.station_ids = (
            None if station_ids is None else [str(s) for s in station_ids]
        )
        self._brand = "EG4 Electronics"
        self._plants: dict[str, _Plant] = {}
        self._generation = 0
        self._login_lock = asyncio.Lock()
        self._refused: set[tuple[str, str]] = set()
        self._banks: dict[str, _Bank] = {}
        self._strings: dict[str, set[int]] = {}
        self._firmware: dict[str, str] = {}
        self._notes: dict[str, str] = {}
        self._requests: Counter[str] = Counter()
        self._logins = 0
        self._relogins = 0

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

    @property
    def cost(self) -> PollCost:
        """Runtime + energy per inverter, GridBOSS and group extras; battery every 5 min."""
        plants = self._selected() if self._plants else []
        inverters = sum(len(plant.inverters) for plant in plants) or 1
        extras = sum(
            sum(unit.device_type == _GRIDBOSS for unit in plant.units)
            + len(_groups(plant))
            for plant in plants
        )
        return PollCost(
            per_poll=2 * inverters + extras,
            per_day=inverters * int(timedelta(days=1) / BATTERY_EVERY),
            min_interval=timedelta(seconds=60),
            sun_aware=False,  # batteries and loads matter at night too
        )

    # -- HTTP -----------------------------------------------------------------

    async def _post(self, path: str, form: Mapping[str, str]) -> tuple[int, Any]:
        """POST one form through the budget; return the status and the JSON (None if not JSON)."""
        if self._session is None:  # pragma: no cover - HA always injects one
            raise ConnectionFailedError("No HTTP session")
        self._requests[path.rsplit("/", 1)[-1]] += 1
        async with self.limiter.slot():
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    response = await self._session.post(
                        f"{self.base_url}{path}", data=dict(form), headers=_HEADERS
                    )
                    async with response:
                        body = await response.text()
            except (TimeoutError, aiohttp.ClientError) as err:
                raise ConnectionFailedError(f"EG4 portal unreachable: {err!r}") from err
        status = response.status
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise ConnectionFailedError(f"EG4 portal server error {status}")
        if status not in (HTTPStatus.OK, HTTPStatus.UNAUTHORIZED):
            raise BadPayloadError(f"EG4 portal refused {path}: HTTP {status}")
        try:
            return status, json.loads(body)
        except ValueError:
            return status, None

    async def _call(self, path: str, **form: str) -> Mapping[str, Any]:
        """One data call; a lost session is renewed once and the call retried once."""
        key = (path, form.get("serialNum", form.get("plantId", "")))
        for retry in (False, True):
            generation = self._generation
            status, payload = await self._post(path, form)
            if status == HTTPStatus.UNAUTHORIZED or not isinstance(payload, Mapping):
                if retry:
                    raise ConnectionFailedError(
                        "The EG4 portal still answers with its login page after a fresh "
                        "login (is the session cookie kept?)"
                    )
                await self._renew(generation)
                continue
            if payload.get("success", True) is not False:
                self._refused.discard(key)
                return payload
            message = str(payload.get("msg") or payload.get("message") or "")
            if any(word in message.upper() for word in _TRANSIENT):
                raise ConnectionFailedError(
                    f"EG4 device did not answer in time: {message}"
                )
            if retry or key in self._refused:
                self._refused.add(key)
                raise _Refused(
                    f"EG4 portal refused {path.rsplit('/', 1)[-1]}: {message}"
                )
            await self._renew(generation)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _renew(self, generation: int) -> None:
        """Log in again, once for every caller that saw the same session die."""
        async with self._login_lock:
            if generation != self._generation:
                return  # another caller already renewed it
            self._relogins += 1
            _LOGGER.debug("EG4 session expired; logging in again")
            await self._login()

    async def _login(self) -> None:
        """Clear the jar and log in; keep the plant tree of the reply."""
        if self._session is not None and (host := urlsplit(self.base_url).hostname):
            # Stale cookies sent with the login made re-authentication fail.
            self._session.cookie_jar.clear_domain(host)
        status, payload = await self._post(
            _LOGIN,
            {
                "account": self._username,
                "password": self._password,
                "language": "ENGLISH",
            },
        )
        if status == HTTPStatus.UNAUTHORIZED:
            raise AuthFailedError("EG4 portal refused the credentials")
        if not isinstance(payload, Mapping):
            raise ConnectionFailedError(
                "EG4 portal answered the login with a web page (maintenance?)"
            )
        if payload.get("success") is not True:
            message = str(payload.get("msg") or payload.get("message") or "")
            if any(word in message.upper() for word in _TRANSIENT):
                raise ConnectionFailedError(f"EG4 portal busy: {message}")
            raise AuthFailedError("EG4 portal refused the credentials")
        self._plants = self._parse_tree(payload)
        if "eg4" not in str(payload.get("platform") or "EG4").lower():
            self._brand = "Luxpower"
        self._generation += 1
        self._logins += 1

    def _parse_tree(self, payload: Mapping[str, Any]) -> dict[str, _Plant]:
        plants: dict[str, _Plant] = {}
        for item in _list(payload.get("plants")):
            if (plant_id := item.get("plantId")) is None:
                continue
            units = [
                _Unit(
                    serial=str(unit["serialNum"]),
                    plant_id=str(plant_id),
                    device_type=int(as_float(unit.get("deviceType")) or 0),
                    model=_text(
                        unit.get("deviceTypeText4APP") or unit.get("deviceTypeText")
                    ),
                    three_phase=as_float(unit.get("phase")) == _THREE_PHASE,
                )
                for unit in _list(item.get("inverters"))
                if unit.get("serialNum")
            ]
            groups = {
                str(group["parallelGroup"]): str(
                    group.get("parallelFirstDeviceSn") or ""
                )
                for group in _list(item.get("parallelGroups"))
                if group.get("parallelGroup")
            }
            old = self._plants.get(str(plant_id))
            plants[str(plant_id)] = _Plant(
                id=str(plant_id),
                name=str(item.get("name") or plant_id),
                units=units,
                groups=groups,
                members=old.members if old and old.groups == groups else None,
            )
        return plants

    # -- identify -------------------------------------------------------------

    async def async_identify(self) -> AccountInfo:
        """Log in; list the stations and the inverters the login reply names."""
        async with self._login_lock:
            await self._login()
        sites = tuple(
            Site(id=plant.id, name=plant.name) for plant in self._plants.values()
        )
        devices = tuple(
            self._unit_device(unit)
            for plant in self._plants.values()
            for unit in plant.units
        )
        return AccountInfo(
            unique_id=self._username.lower(),
            title=f"{self._brand.split()[0]} {self._username}",
            sites=sites,
            devices=devices,
        )

    # -- fetch ----------------------------------------------------------------

    def _selected(self) -> list[_Plant]:
        if self.station_ids is None:
            return list(self._plants.values())
        return [self._plants[sid] for sid in self.station_ids if sid in self._plants]

    async def async_fetch(self) -> Snapshot:
        """Fetch every chosen station: runtime and energy now, batteries every 5 min."""
        if self._generation == 0:
            async with self._login_lock:
                if self._generation == 0:
                    await self._login()
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
        results = dict(
            zip(calls, await self._gather(list(calls.values())), strict=True)
        )
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
                manufacturer=self._brand,
                model="Station",
            )
            for unit in plant.units:
                devices[unit.serial] = self._unit_device(unit)
                if unit.device_type == _GRIDBOSS:
                    if (
                        box := self._midbox(results[("midbox", unit.serial)])
                    ) is not None:
                        readings[unit.serial] = box
                    continue
                if unit.device_type != _INVERTER:
                    continue  # a kind of device these endpoints do not serve
                if ("battery", unit.serial) in results:
                    self._battery(unit, results[("battery", unit.serial)], now)
                inverter = self._inverter(
                    unit,
                    results[("runtime", unit.serial)],
                    results[("energy", unit.serial)],
                )
                if inverter is not None:
                    readings[unit.serial] = inverter
                bank = self._banks.get(unit.serial)
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
            if (totals := self._station(plant, readings, results)) is not None:
                readings[plant.id] = totals
        return Snapshot(
            sites=sites,
            devices=devices,
            readings=readings,
            notes=dict(self._notes),
            fetched_at=now,
        )

    def _plan(self, plants: list[_Plant], now: datetime) -> dict[tuple[str, str], Any]:
        """The requests of one update, keyed by (what, whose)."""
        calls: dict[tuple[str, str], Any] = {}
        for plant in plants:
            for unit in plant.units:
                if unit.device_type == _GRIDBOSS:
                    calls[("midbox", unit.serial)] = self._optional(
                        _MIDBOX, unit.serial
                    )
                elif unit.device_type == _INVERTER:
                    calls[("runtime", unit.serial)] = self._optional(
                        _RUNTIME, unit.serial
                    )
                    calls[("energy", unit.serial)] = self._optional(
                        _ENERGY, unit.serial
                    )
                    bank = self._banks.get(unit.serial)
                    if bank is None or now - bank.fetched >= BATTERY_EVERY:
                        calls[("battery", unit.serial)] = self._optional(
                            _BATTERY, unit.serial
                        )
            for group, members in _groups(plant).items():
                first = plant.groups.get(group)
                calls[("parallel", plant.id + group)] = self._optional(
                    _PARALLEL, first if first in members else members[0]
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
        except _Refused as err:
            self._log_once(f"refused{path}", f"{err}; skipping that device's data")
            self._notes[path.rsplit("/", 1)[-1]] = "refused by the portal for a device"
            return None

    async def _membership(self, plant: _Plant) -> None:
        """Learn which inverters form each parallel group (overview list)."""
        try:
            payload = await self._call(
                _OVERVIEW,
                page="1",
                rows="100",
                plantId=plant.id,
                searchText="",
                statusText="all",
            )
        except _Refused:
            payload = {}
        members = {
            str(row["serialNum"]): str(row.get("parallelGroup") or "")
            for row in _list(payload.get("rows"))
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

    def _unit_device(self, unit: _Unit) -> Device:
        kind = (
            DeviceKind.INVERTER if unit.device_type == _INVERTER else DeviceKind.OTHER
        )
        model = unit.model
        if unit.device_type == _GRIDBOSS:
            kind, model = DeviceKind.METER, "GridBOSS"
        name = f"{model or 'Inverter'} {unit.serial}"
        return Device(
            id=unit.serial,
            kind=kind,
            name=name,
            site_id=unit.plant_id,
            manufacturer=self._brand,
            model=model,
            serial=unit.serial,
            firmware=self._firmware.get(unit.serial),
        )

    # -- parsing --------------------------------------------------------------

    def _scaled(
        self, table: str, payload: Mapping[str, Any], values: dict[str, Value]
    ) -> None:
        """Apply one scale table (and its derived quantities) to a payload."""
        for wire, (metric, factor) in SCALES[table].items():
            if (value := self._number(payload, wire)) is not None:
                values[metric] = _scale(value, factor)
        for metric, (plus, minus, factor) in DERIVED.get(table, {}).items():
            added = [self._number(payload, wire) for wire in plus]
            taken = [self._number(payload, wire) for wire in minus]
            if None not in added and None not in taken:
                values[metric] = _scale(_sum(added) - _sum(taken), factor)

    def _number(self, payload: Mapping[str, Any], wire: str) -> float | None:
        """A field as a number; `""`/missing is absent, anything else unparseable is logged once."""
        raw = payload.get(wire)
        value = as_float(raw)
        if value is None and raw not in (None, ""):
            self._log_once(
                f"field:{wire}", f"EG4 field {wire} is not a number: {raw!r}"
            )
        return value

    def _inverter(
        self,
        unit: _Unit,
        runtime: Mapping[str, Any] | None,
        energy: Mapping[str, Any] | None,
    ) -> Readings | None:
        if runtime is None:
            return None
        values: dict[str, Value] = {}
        self._scaled("runtime", runtime, values)
        if unit.three_phase:
            self._scaled("runtime_three_phase", runtime, values)
        if values.get("battery_temperature") == _NO_BMS_TEMPERATURE:
            del values["battery_temperature"]
        seen = self._strings.setdefault(unit.serial, set())
        for n in range(1, 7):
            if (volts := values.get(f"pv_voltage_{n}")) is not None and float(
                volts
            ) > 0:
                seen.add(n)
            if n not in seen:  # an input nothing is connected to: no phantom entities
                values.pop(f"pv_voltage_{n}", None)
                values.pop(f"pv_power_{n}", None)
        for wire in _LOAD_FIELDS:
            if (load := self._number(runtime, wire)) is not None:
                values["consumption_power"] = load
                break
        if (
            "battery_power" not in values
            and (net := self._number(runtime, "batPower")) is not None
        ):
            values["battery_power"] = -net  # batPower is + charge
        if (code := self._number(runtime, "status")) is not None:
            if (mode := MODE_CODES.get(int(code))) is not None:
                values["operating_mode"] = mode
            else:
                self._log_once(
                    f"mode:{int(code)}", f"Unknown EG4 operating mode {int(code):#x}"
                )
        if (
            bank := self._banks.get(unit.serial)
        ) is not None and bank.current is not None:
            values["battery_current"] = bank.current
        if energy is not None:
            self._scaled("energy", energy, values)
        if fw := _text(runtime.get("fwCode")):
            self._firmware[unit.serial] = fw
        return Readings(
            values=values,
            as_of=_parse_time(runtime.get("serverTime")),
            online=runtime.get("lost") is not True,
        )

    def _battery(
        self, unit: _Unit, payload: Mapping[str, Any] | None, now: datetime
    ) -> None:
        """Keep the bank current and the modules of one battery answer."""
        old = self._banks.get(unit.serial)
        modules = dict(old.modules) if old else {}
        current: float | None = None
        if payload is not None:
            magnitude = self._number(payload, "currentText")
            direction = str(payload.get("currentType") or "").lower()
            if magnitude is not None and direction in ("charge", "discharge"):
                current = -magnitude if direction == "charge" else magnitude
            elif magnitude == 0:
                current = 0.0
            for module in _list(payload.get("batteryArray")):
                if (parsed := self._module(unit, module)) is not None:
                    modules[parsed[0].id] = (*parsed, now)
        for key in [
            k for k, (_, _, seen) in modules.items() if now - seen > MODULE_GRACE
        ]:
            del modules[key]  # rotated out (>4 packs) for too long, or removed
        self._banks[unit.serial] = _Bank(fetched=now, current=current, modules=modules)

    @staticmethod
    def _module_serial(item: Mapping[str, Any]) -> str | None:
        """The module's serial, unless it is the portal's positional label.

        The portal's sample answers `batterySn: "Battery_ID_01"` (the same under
        every inverter): a slot, not a serial; shown as none. Whether some
        batteries report a real serial here is UNCONFIRMED.
        """
        serial = _text(item.get("batterySn"))
        if serial is None or _SLOT_LABEL.fullmatch(serial):
            return None
        return serial

    def _module(
        self, unit: _Unit, item: Mapping[str, Any]
    ) -> tuple[Device, Readings] | None:
        key = _text(item.get("batteryKey"))
        if key is None:
            return None
        index = as_float(item.get("batIndex"))
        number = int(index) + 1 if index is not None else key.rsplit("_", 1)[-1]
        values: dict[str, Value] = {}
        self._scaled("module", item, values)
        device = Device(
            id=key,
            kind=DeviceKind.BATTERY_MODULE,
            name=f"{unit.serial} battery {number}",
            site_id=unit.plant_id,
            manufacturer=self._brand,
            model=_text(item.get("batBmsModelText"))
            or _text(item.get("batteryTypeText")),
            serial=self._module_serial(item),
            firmware=_text(item.get("fwVersionText")),
            parent=unit.serial,
        )
        readings = Readings(
            values=values,
            as_of=_parse_time(item.get("lastUpdateTime")),
            online=item.get("lost") is not True,
        )
        return device, readings

    def _midbox(self, payload: Mapping[str, Any] | None) -> Readings | None:
        if payload is None:
            return None
        data = payload.get("midboxData")
        if not isinstance(data, Mapping):
            self._log_once("midbox", "EG4 GridBOSS answer has no midboxData")
            return None
        values: dict[str, Value] = {}
        self._scaled("midbox", data, values)
        if fw := _text(payload.get("fwCode")):
            self._firmware[str(payload.get("serialNum"))] = fw
        return Readings(
            values=values,
            as_of=_parse_time(data.get("serverTime")),
            online=payload.get("lost") is not True,
        )

    def _station(
        self,
        plant: _Plant,
        readings: Mapping[str, Readings],
        results: Mapping[tuple[str, str], Any],
    ) -> Readings | None:
        """System totals of a station with two or more inverters."""
        units = [readings.get(unit.serial) for unit in plant.inverters]
        if len(units) < _PARALLEL_MIN or any(r is None for r in units):
            return None
        members = [r for r in units if r is not None]
        values: dict[str, Value] = {}
        for metric in _SUMMED:
            parts = [r.values.get(metric) for r in members]
            if all(isinstance(p, float) for p in parts):
                values[metric] = sum(float(p) for p in parts if p is not None)
        grouped = _groups(plant)
        counters: list[dict[str, Value]] = []
        for group in grouped:
            parallel: dict[str, Value] = {}
            if (payload := results.get(("parallel", plant.id + group))) is not None:
                self._scaled("energy", payload, parallel)
            counters.append(parallel)
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

    def diagnostics(self) -> dict[str, Any]:
        """Request counters by endpoint, session renewals and notes; no identities."""
        return {
            **super().diagnostics(),
            "requests_by_endpoint": dict(sorted(self._requests.items())),
            "logins": self._logins,
            "session_renewals": self._relogins,
            "stations": len(self._selected()) if self._plants else 0,
            "battery_banks": len(self._banks),
            "battery_modules": sum(len(bank.modules) for bank in self._banks.values()),
            "refused_endpoints": sorted(
                {path.rsplit("/", 1)[-1] for path, _ in self._refused}
            ),
            "notes": dict(self._notes),
        }


def _groups(plant: _Plant) -> dict[str, list[str]]:
    """Parallel groups of two or more inverters: group -> member serials."""
    found: dict[str, list[str]] = {}
    for unit in plant.inverters:
        if group := (plant.members or {}).get(unit.serial):
            found.setdefault(group, []).append(unit.serial)
    return {
        group: serials
        for group, serials in found.items()
        if len(serials) >= _PARALLEL_MIN
    }


def _scale(value: float, factor: float) -> float:
    """Apply a scale; rounding drops float noise (0.1 * 3 = 0.30000000000000004).

    Adding 0.0 turns a negated zero (-0.0) into 0.0.
    """
    return round(value * factor, 6) + 0.0


def _sum(parts: list[float | None]) -> float:
    return sum(part for part in parts if part is not None)


def _list(raw: object) -> list[Mapping[str, Any]]:
    return (
        [item for item in raw if isinstance(item, Mapping)]
        if isinstance(raw, list)
        else []
    )


def _text(raw: object) -> str | None:
    return str(raw).strip() or None if raw not in (None, "") else None


def _parse_time(raw: object) -> datetime | None:
    """`YYYY-MM-DD HH:MM:SS` in UTC (INFERRED from the captures)."""
    if not isinstance(raw, str):
        return None
    try:
        return datetime.strptime(raw.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
