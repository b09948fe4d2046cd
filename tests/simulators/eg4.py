"""EG4 / Luxpower cloud monitor ("WManage") simulator: a real aiohttp server.

Paths, form fields, shapes, scales and quirks follow
``/work/shared/api/eg4-srp-generac.md`` part A (A.2-A.17). Where the notes leave
a choice open, the resolution is written next to the code that makes it.

Every value derives from ``datetime.now(UTC)`` at request time, so freezegun
controls the simulated clock, and is deterministic:

* The dongle uploads on a fixed grid (``upload_period``, 100 s by default, the
  period seen in a pcap); the portal mirrors the last upload, so values and
  ``serverTime`` change only when a new upload lands.
* PV is a sin² bell between sunrise and sunset (longer days in summer) with a
  per-day "weather" factor; the house load is a base load with morning, lunch
  and evening bumps, shared between the inverters of a plant.
* Each battery starts the local day at 70 %, covers the load until sunrise,
  charges from PV surplus by day, and after sunset follows the load so that it
  is back at 70 % at midnight. Every day is therefore independent and cached.
* Energy counters integrate the model in 5-minute steps, interpolated within a
  step, and are reported in whole 0.1 kWh like the portal: ``today*`` reset at
  plant-local midnight, ``total*`` never decrease and match today's increments.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
import hashlib
import itertools
import json
import math
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

__all__ = [
    "EG4Simulator",
    "SimAccount",
    "SimInverter",
    "SimPlant",
    "default_plants",
    "demo_entry",
    "serve",
]

_STEP_S = 300
_MIDNIGHT_SOC = 0.7
_REF = date(2026, 1, 1)
"""Lifetime counters are anchored here: ``base_wh`` is their value at this midnight."""
_FLOWS = ("pv", "load", "charge", "discharge", "import", "export")
_ENERGY_FIELDS = {
    "Yielding": "pv",
    "Charging": "charge",
    "Discharging": "discharge",
    "Import": "import",
    "Export": "export",
    "Usage": "load",
}
# Live fields the portal omits for a lost dongle (eg4_web_monitor #256, notes A.12).
_LOST_OMITTED = (
    "status",
    "ppv",
    "soc",
    "vBat",
    "pCharge",
    "pDisCharge",
    "batPower",
    "pinv",
    "prec",
    "peps",
)
_LOGIN_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Monitor - Login</title></head>
<body><form id="loginForm" action="/WManage/web/login" method="post">
<input type="text" name="account"><input type="password" name="password">
<button type="submit">Login</button></form></body></html>
"""
_MAINTENANCE_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Maintenance</title></head>
<body><h1>The monitor is being upgraded</h1><p>Please come back later.</p></body></html>
"""
_ERROR_PAGE = """<!DOCTYPE html>
<html><head><title>{status} {reason}</title></head>
<body><center><h1>{status} {reason}</h1></center><hr><center>nginx</center></body></html>
"""


@dataclass
class SimInverter:
    """One inverter (deviceType 6) or GridBOSS (deviceType 9) of a plant."""

    serial: str
    model: str = "18KPV"
    device_type: int = 6
    sub_device_type: int = 164
    fw_code: str = "fAAB-2122"
    phase: int = 1
    pv_peak_w: float = 9000.0
    string_shares: tuple[float, ...] = (0.55, 0.45, 0.0)
    """Share of PV per MPPT input; 0.0 is an input with nothing connected."""
    load_share: float = 1.0
    modules: int = 3
    module_ah: int = 100
    report_modules: bool = True
    """False mimics XP units: bank header only, ``totalNumber: 0``."""
    max_rate_w: float = 6000.0
    base_wh: dict[str, float] = field(
        default_factory=lambda: {
            "pv": 14_297_000.0,
            "load": 12_453_800.0,
            "charge": 3_172_600.0,
            "discharge": 2_767_100.0,
            "import": 8_380_200.0,
            "export": 5_303_500.0,
        }
    )
    base_cycles: int = 61
    parallel_group: str = ""


@dataclass
class SimPlant:
    """One station (plant) of the account."""

    plant_id: int
    name: str
    address: str
    inverters: list[SimInverter]
    timezone: str = "America/Phoenix"
    nominal_power_w: int = 19000
    created: date = date(2025, 5, 5)
    """The plant list's ``createDate``; the month column has zeros before it."""


def default_plants() -> list[SimPlant]:
    """Home: two 18kPV in parallel plus a GridBOSS; Barn: one XP without modules."""
    home = SimPlant(
        plant_id=31002,
        name="Home",
        address="1 Example Rd",
        inverters=[
            SimInverter(
                serial="4512670001",
                pv_peak_w=9000.0,
                load_share=0.6,
                modules=3,
                parallel_group="A",
            ),
            SimInverter(
                serial="4512670002",
                pv_peak_w=7000.0,
                string_shares=(0.5, 0.5, 0.0),
                load_share=0.4,
                modules=2,
                base_wh={
                    "pv": 11_020_400.0,
                    "load": 8_301_200.0,
                    "charge": 2_110_900.0,
                    "discharge": 1_840_300.0,
                    "import": 5_587_000.0,
                    "export": 3_535_600.0,
                },
                base_cycles=58,
                parallel_group="A",
            ),
            SimInverter(
                serial="4524850002",
                model="Grid Boss",
                device_type=9,
                sub_device_type=-1,
                fw_code="IAAB-1300",
                modules=0,
            ),
        ],
    )
    barn = SimPlant(
        plant_id=31077,
        name="Barn",
        address="7 Hay Loft Way",
        nominal_power_w=8000,
        inverters=[
            SimInverter(
                serial="5512340003",
                model="12000XP",
                sub_device_type=0,
                fw_code="eAAB-1811",
                pv_peak_w=6000.0,
                string_shares=(0.5, 0.5),
                modules=2,
                report_modules=False,
                base_wh={
                    "pv": 4_102_300.0,
                    "load": 3_010_000.0,
                    "charge": 901_000.0,
                    "discharge": 800_500.0,
                    "import": 1_200_700.0,
                    "export": 2_000_100.0,
                },
                base_cycles=12,
            )
        ],
    )
    return [home, barn]


@dataclass
class SimAccount:
    """The monitor account the simulator knows."""

    username: str = "solarfan"
    password: str = "sunny-days-42"
    user_id: int = 48213
    role: str = "VIEWER"
    real_name: str = "Pat Example"
    email: str = "pat@example.com"
    address: str = "42 Private Lane"
    phone: str = "555-0100"
    plants: list[SimPlant] = field(default_factory=default_plants)


# --------------------------------------------------------------------------
# Physical model (pure, cached)
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Params:
    zone: str
    pv_peak_w: float
    load_share: float
    capacity_wh: float
    max_rate_w: float


@dataclass(frozen=True, slots=True)
class _Day:
    start: datetime  # local midnight, as UTC
    steps: int
    sunrise: float  # hours after local midnight
    sunset: float
    peak_w: float
    charge_w: tuple[float, ...]  # battery charge power of each step
    discharge_w: tuple[float, ...]
    soe: tuple[float, ...]  # stored Wh at each step edge
    cum: dict[str, tuple[float, ...]]  # Wh since midnight at each step edge


def _weather(ordinal: int) -> float:
    """Deterministic per-day cloudiness factor in [0.8, 1.0)."""
    return 0.8 + 0.2 * (((ordinal * 2654435761) & 0xFFFFFFFF) / 2**32)


def _sun(ordinal: int) -> tuple[float, float, float]:
    """Sunrise, sunset (hours after local midnight) and the day's peak factor."""
    doy = date.fromordinal(ordinal).timetuple().tm_yday
    season = math.sin(2 * math.pi * (doy - 80) / 365.25)
    length = 12.0 + 2.2 * season
    noon = 12.5  # Phoenix: solar noon is about 12:28 MST
    return (
        noon - length / 2,
        noon + length / 2,
        (0.74 + 0.12 * season) * _weather(ordinal),
    )


def _pv(params: _Params, sun: tuple[float, float, float], hour: float) -> float:
    sunrise, sunset, factor = sun
    if not sunrise < hour < sunset:
        return 0.0
    return (
        params.pv_peak_w
        * factor
        * math.sin(math.pi * (hour - sunrise) / (sunset - sunrise)) ** 2
    )


def _load(params: _Params, hour: float) -> float:
    def bump(mean: float, width: float) -> float:
        return math.exp(-(((hour - mean) / width) ** 2) / 2)

    house = 550 + 900 * bump(7.0, 0.8) + 700 * bump(12.5, 1.0) + 2200 * bump(19.0, 1.5)
    return house * params.load_share


def _local_midnight(ordinal: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(
        date.fromordinal(ordinal), datetime.min.time(), zone
    ).astimezone(UTC)


@lru_cache(maxsize=4096)
def _day(params: _Params, ordinal: int) -> _Day:
    """Simulate one local day in 5-minute steps."""
    zone = ZoneInfo(params.zone)
    start = _local_midnight(ordinal, zone)
    steps = round(
        (_local_midnight(ordinal + 1, zone) - start).total_seconds() / _STEP_S
    )
    sun = _sun(ordinal)
    hours = _STEP_S / 3600
    capacity = params.capacity_wh
    midnight, reserve = _MIDNIGHT_SOC * capacity, 0.1 * capacity
    soe = [midnight]
    charge: list[float] = []
    discharge: list[float] = []
    loads = [_load(params, (step + 0.5) * hours) for step in range(steps)]
    share: float | None = None
    flows: dict[str, list[float]] = {key: [0.0] for key in _FLOWS}
    for step in range(steps):
        hour = (step + 0.5) * hours
        pv, load = _pv(params, sun, hour), loads[step]
        level = soe[-1]
        if capacity <= 0:
            chg = dis = 0.0
        elif hour < sun[1]:
            net = pv - load
            chg = max(min(net, params.max_rate_w, (capacity - level) / hours), 0.0)
            dis = max(min(-net, params.max_rate_w, (level - reserve) / hours), 0.0)
        else:
            if share is None:
                # After sunset the battery follows the load so that it is back
                # at its midnight level exactly at midnight (more than the load:
                # the rest goes to the grid; short of it after a dull day: the
                # grid tops it up, an "AC charging" evening).
                share = (level - midnight) / (sum(loads[step:]) * hours)
            chg, dis = max(-share * load, 0.0), max(share * load, 0.0)
        grid = load - pv + chg - dis
        charge.append(chg)
        discharge.append(dis)
        soe.append(level + (chg - dis) * hours)
        for key, watts in (
            ("pv", pv),
            ("load", load),
            ("charge", chg),
            ("discharge", dis),
            ("import", max(grid, 0.0)),
            ("export", max(-grid, 0.0)),
        ):
            flows[key].append(flows[key][-1] + watts * hours)
    return _Day(
        start=start,
        steps=steps,
        sunrise=sun[0],
        sunset=sun[1],
        peak_w=params.pv_peak_w * sun[2],
        charge_w=tuple(charge),
        discharge_w=tuple(discharge),
        soe=tuple(soe),
        cum={key: tuple(values) for key, values in flows.items()},
    )


_PREFIX: dict[tuple[_Params, int], dict[str, float]] = {}


def _prefix(params: _Params, ordinal: int) -> dict[str, float]:
    """Wh of each flow from ``_REF`` to the start of day ``ordinal`` (negative before)."""
    ref = _REF.toordinal()
    if ordinal == ref:
        return dict.fromkeys(_FLOWS, 0.0)
    if (cached := _PREFIX.get((params, ordinal))) is not None:
        return cached
    step = 1 if ordinal > ref else -1
    # Walk from the nearest cached day (or the anchor) without deep recursion.
    known = ref
    for candidate in range(ordinal - step, ref, -step):
        if (params, candidate) in _PREFIX:
            known = candidate
            break
    totals = dict(_PREFIX.get((params, known), dict.fromkeys(_FLOWS, 0.0)))
    for day in range(known, ordinal, step):
        which = day if step > 0 else day - 1
        sim = _day(params, which)
        for key in _FLOWS:
            totals[key] += step * sim.cum[key][-1]
        _PREFIX[(params, day + step)] = dict(totals)
    return totals


@dataclass(frozen=True, slots=True)
class _State:
    """What one inverter's dongle last uploaded."""

    at: datetime
    local: datetime
    day_ordinal: int
    pv_w: float
    load_w: float
    charge_w: float
    discharge_w: float
    soe_wh: float
    today_wh: dict[str, float]
    total_wh: dict[str, float]

    @property
    def grid_w(self) -> float:
        return self.load_w - self.pv_w + self.charge_w - self.discharge_w


def _state(inv: SimInverter, zone: str, at: datetime) -> _State:
    params = _params(inv, zone)
    local = at.astimezone(ZoneInfo(zone))
    ordinal = local.date().toordinal()
    sim = _day(params, ordinal)
    elapsed = (at - sim.start).total_seconds()
    step = min(int(elapsed // _STEP_S), sim.steps - 1)
    frac = (elapsed - step * _STEP_S) / _STEP_S
    hour = elapsed / 3600
    today = {
        key: sim.cum[key][step] + frac * (sim.cum[key][step + 1] - sim.cum[key][step])
        for key in _FLOWS
    }
    prefix = _prefix(params, ordinal)
    return _State(
        at=at,
        local=local,
        day_ordinal=ordinal,
        pv_w=_pv(params, _sun(ordinal), hour),
        load_w=_load(params, hour),
        charge_w=sim.charge_w[step],
        discharge_w=sim.discharge_w[step],
        soe_wh=sim.soe[step] + frac * (sim.soe[step + 1] - sim.soe[step]),
        today_wh=today,
        total_wh={key: inv.base_wh[key] + prefix[key] + today[key] for key in _FLOWS},
    )


def _params(inv: SimInverter, zone: str) -> _Params:
    return _Params(
        zone=zone,
        pv_peak_w=inv.pv_peak_w,
        load_share=inv.load_share,
        capacity_wh=inv.modules * inv.module_ah * 51.2,
        max_rate_w=inv.max_rate_w,
    )


def _tenths(wh: float) -> int:
    """Wh to the portal's whole 0.1 kWh (truncated, so counters never run ahead)."""
    return int(wh // 100)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _status_code(state: _State) -> int:
    """Operating-mode code (notes A.10) for what the inverter is doing."""
    pv, chg, dis = state.pv_w > 1, state.charge_w > 1, state.discharge_w > 1
    export = state.grid_w < -1
    if pv and chg:
        return 0x0C if export else 0x08
    if pv and dis:
        return 0x14
    if pv:
        return 0x04
    if dis:
        return 0x10
    if chg:
        return 0x20
    return 0x00


def _stringify(value: Any) -> Any:
    """Send every number as a string, as some firmware/portal paths do."""
    if isinstance(value, dict):
        return {key: _stringify(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_stringify(item) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


class EG4Simulator:
    """Fake ``https://monitor.eg4electronics.com`` for one monitor account.

    Introspection:
        ``calls``: ``(path, form)`` of every request, in order.
        ``logins``: successful logins. ``login_had_cookie``: for each login
        request, whether it still carried a ``JSESSIONID`` (a client should
        clear its jar first).
        ``runtime(serial)``, ``energy(serial)``, ``battery(serial)``,
        ``midbox(serial)``, ``parallel_energy(serial)``,
        ``month_column(serial, year, month)``: the payload the portal would
        send now.

    Fault switches:
        ``session_ttl``: sessions expire this long after login (2 h).
        ``expire_sessions()``: every session ends now; data paths then answer
        HTTP 200 with the HTML login page.
        ``bad_login_status``: 200 (default: ``success:false`` + ``msg``) or 401.
        ``fail_next(kind, count=1, path_contains="")``: the next ``count``
        logins or authenticated requests whose path contains ``path_contains`` fail:
        ``"dataframe_timeout"`` (``success:false``, transient),
        ``"refused"`` (``success:false`` with a generic message),
        ``"login_page"`` (HTML login page though the session is valid),
        an int status (an nginx error page; ``retry_after`` adds that header,
        e.g. to a 429 or 503), ``"html"`` (HTTP 200 with a maintenance page that
        is not the login form), ``"bad_json"`` (HTTP 200, truncated JSON), or
        ``"drop"`` (connection reset).
        ``heal()``: forget pending failures.
        ``refuse``: serials whose data endpoints always answer ``success:false``.
        ``lose(serial, at=None)`` / ``recover(serial)``: the dongle stops
        uploading; the portal keeps the frozen values with ``lost: true`` and
        omits the live fields.
        ``stringly = True``: every number is sent as a string.
        ``pin(serial, endpoint, **fields)``: force raw fields of one endpoint
        (``runtime``, ``energy``, ``battery``, ``module``, ``midbox``,
        ``month``: every day of a month column, ``month_reply``: the month
        column's top level); a value of None removes the field.
        ``counter_drop``: 0.1 kWh units subtracted from every lifetime counter
        (a glitch the integration must not publish).
        ``counter_glitch = True``: every lifetime counter reads today's figure
        (a near-zero glitch).
        ``clock_skew``: added to every timestamp the portal sends (its clock
        runs fast or slow).
        ``offline = True``: every request gets its connection aborted.
    """

    def __init__(
        self, account: SimAccount | None = None, *, upload_period: int = 100
    ) -> None:
        """Build the application; call ``start()`` to listen."""
        self.account = account or SimAccount()
        self.upload_period = upload_period
        self.session_ttl = timedelta(hours=2)
        self.bad_login_status = 200
        self.refuse: set[str] = set()
        self.stringly = False
        self.counter_drop = 0
        self.counter_glitch = False
        self.clock_skew = timedelta()
        self.offline = False
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.logins = 0
        self.login_had_cookie: list[bool] = []
        self.base_url = ""
        self._sessions: dict[str, datetime] = {}
        self._lost: dict[str, datetime] = {}
        self._pins: dict[tuple[str, str], dict[str, Any]] = {}
        self._failures: list[list[Any]] = []
        self._tokens = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._handle)

    # -- lifecycle -----------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0 = any free port); return the base URL."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.base_url = f"http://{host}:{self._runner.addresses[0][1]}"
        return self.base_url

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- switches ------------------------------------------------------------

    def expire_sessions(self) -> None:
        """End every session now."""
        self._sessions.clear()

    def fail_next(
        self,
        kind: str | int,
        count: int = 1,
        path_contains: str = "",
        *,
        retry_after: str | None = None,
    ) -> None:
        """Make the next matching requests fail (see the class docstring)."""
        self._failures.append([kind, count, path_contains, retry_after])

    def heal(self) -> None:
        """Forget every pending ``fail_next`` failure."""
        self._failures.clear()

    def lose(self, serial: str, at: datetime | None = None) -> None:
        """The dongle of ``serial`` stops uploading (at ``at``, default now)."""
        self._lost[serial] = self._sample(at or datetime.now(UTC))

    def recover(self, serial: str) -> None:
        """The dongle of ``serial`` uploads again."""
        self._lost.pop(serial, None)

    def pin(self, serial: str, endpoint: str, **fields: Any) -> None:
        """Force raw fields of one endpoint of one device."""
        self._pins.setdefault((serial, endpoint), {}).update(fields)

    # -- the model, as the portal shows it ------------------------------------

    def _sample(self, now: datetime) -> datetime:
        """When the last upload before ``now`` landed."""
        seconds = math.floor(now.timestamp() / self.upload_period) * self.upload_period
        return datetime.fromtimestamp(seconds, UTC)

    def _find(self, serial: str) -> tuple[SimPlant, SimInverter] | None:
        for plant in self.account.plants:
            for inv in plant.inverters:
                if inv.serial == serial:
                    return plant, inv
        return None

    def _upload_time(self, serial: str) -> datetime:
        return self._lost.get(serial) or self._sample(datetime.now(UTC))

    def _apply_pins(
        self, serial: str, endpoint: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        for key, value in self._pins.get((serial, endpoint), {}).items():
            if value is None:
                payload.pop(key, None)
            else:
                payload[key] = value
        return payload

    def _energy_fields(
        self, today: dict[str, float], total: dict[str, float]
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for name, flow in _ENERGY_FIELDS.items():
            day, life = _tenths(today[flow]), _tenths(total[flow]) - self.counter_drop
            if self.counter_glitch:
                life = day  # the portal briefly sends today's figure as the total
            fields[f"today{name}"] = day
            fields[f"today{name}Text"] = f"{day / 10:.1f}"
            fields[f"total{name}"] = life
            fields[f"total{name}Text"] = f"{life / 10:.1f}"
        return fields

    def runtime(self, serial: str) -> dict[str, Any]:
        """``getInverterRuntime`` as the portal would answer now (notes A.7)."""
        plant, inv = self._require(serial, 6)
        at = self._upload_time(serial)
        s = _state(inv, plant.timezone, at)
        capacity = inv.modules * inv.module_ah * 51.2
        soc = round(100 * s.soe_wh / capacity) if capacity else 0
        strings: dict[str, Any] = {}
        for index, share in enumerate(inv.string_shares, start=1):
            power = round(s.pv_w * share)
            volts = (
                3600 + round(300 * s.pv_w / inv.pv_peak_w) + 20 * index
                if power > 0
                else 0
            )
            strings[f"vpv{index}"] = volts
            strings[f"ppv{index}"] = power
        ppv = sum(strings[f"ppv{n}"] for n in range(1, len(inv.string_shares) + 1))
        charge, discharge = round(s.charge_w), round(s.discharge_w)
        inverter_out = round(max(s.pv_w + s.discharge_w - s.charge_w, 0.0))
        rectifier = round(max(s.charge_w - s.pv_w - s.discharge_w, 0.0))
        wobble = round(15 * math.sin(at.timestamp() / 900))
        payload: dict[str, Any] = {
            "success": True,
            "serialNum": serial,
            "fwCode": inv.fw_code,
            "powerRatingText": "12kW",
            "lost": serial in self._lost,
            "hasRuntimeData": True,
            "statusText": "offline" if serial in self._lost else "normal",
            "status": _status_code(s),
            "model": 624320,
            "modelText": "0x986C0",
            "serverTime": _stamp(at + self.clock_skew),
            "deviceTime": _stamp(s.local + self.clock_skew),
            **strings,
            "ppv": ppv,
            "vacr": 2405 + wobble,
            "vacs": 256,
            "vact": 0,
            "fac": 5999 + wobble % 3 - 1,
            "pf": "1",
            "vepsr": 2402 + wobble,
            "vepss": 2560,
            "vepst": 64,
            "feps": 5999,
            "seps": 0,
            "peps": 0,
            "pToGrid": round(max(-s.grid_w, 0.0)),
            "pToUser": round(max(s.grid_w, 0.0)),
            "pinv": inverter_out,
            "prec": rectifier,
            "tinner": 33 + round(s.pv_w / 1000),
            "tradiator1": 35 + round(s.pv_w / 700),
            "tradiator2": 34 + round(s.pv_w / 800),
            "tBat": 24 + round((s.charge_w + s.discharge_w) / 1500),
            "vBus1": 3703,
            "vBus2": 3228,
            "pCharge": charge,
            "pDisCharge": discharge,
            "batPower": charge - discharge,
            "batteryColor": "green",
            "soc": soc,
            "vBat": round(480 + 0.6 * soc),
            "batShared": False,
            "isParallelEnabled": bool(inv.parallel_group),
            "batteryType": "LITHIUM",
            "batParallelNum": str(inv.modules),
            "batCapacity": str(inv.modules * inv.module_ah),
            "maxChgCurr": 6000,
            "maxDischgCurr": 6000,
            "maxChgCurrValue": 600,
            "maxDischgCurrValue": 600,
            "bmsCharge": True,
            "bmsDischarge": True,
            "bmsForceCharge": False,
            "acCouplePower": 0,
            "genVolt": 0,
            "genFreq": 0,
            "genPower": 0,
            "genDryContact": "OFF",
            "consumptionPower114": round(s.load_w),
            "consumptionPower": round(s.load_w),
            "pEpsL1N": 0,
            "pEpsL2N": 0,
            "haspEpsLNValue": True,
            "directions": {
                "inverterArrowDir": "fromInverter" if inverter_out else "toInverter"
            },
            "hasUnclosedQuickChargeTask": False,
            "hasUnclosedQuickDischargeTask": False,
            "remainTime": 0,
        }
        if serial in self._lost:
            for key in _LOST_OMITTED:
                payload.pop(key, None)
        return self._apply_pins(serial, "runtime", payload)

    def energy(self, serial: str) -> dict[str, Any]:
        """``getInverterEnergyInfo`` as the portal would answer now (notes A.8)."""
        plant, inv = self._require(serial, 6)
        s = _state(inv, plant.timezone, self._upload_time(serial))
        capacity = inv.modules * inv.module_ah * 51.2
        payload = {
            "success": True,
            "serialNum": serial,
            "fwCode": inv.fw_code,
            "powerRatingText": "12kW",
            "lost": serial in self._lost,
            "hasRuntimeData": True,
            "soc": round(100 * s.soe_wh / capacity) if capacity else 0,
            **self._energy_fields(s.today_wh, s.total_wh),
            "todayIncomeText": "--",
            "totalIncomeText": "--",
            "totalYieldingUnit": "MWh",
        }
        return self._apply_pins(serial, "energy", payload)

    def parallel_energy(self, serial: str) -> dict[str, Any]:
        """``getInverterEnergyInfoParallel``: the energy fields summed over the group."""
        plant, inv = self._require(serial, 6)
        members = [
            member
            for member in plant.inverters
            if member.device_type == 6
            and (
                member is inv
                or (inv.parallel_group and member.parallel_group == inv.parallel_group)
            )
        ]
        payload: dict[str, Any] = {"success": True, "serialNum": serial, "lost": False}
        for member in members:
            for key, value in self.energy(member.serial).items():
                if (key.startswith(("today", "total"))) and isinstance(value, int):
                    payload[key] = payload.get(key, 0) + value
                    payload[f"{key}Text"] = f"{payload[key] / 10:.1f}"
        return payload

    def month_column(self, serial: str, year: str, month: str) -> dict[str, Any]:
        """``inverterChart/monthColumn``: each day's energy of one month, 0.1 kWh.

        The shape is UNCONFIRMED (notes A.4 give none; see the connector's
        ``history.py``). One element per day from the 1st to today
        (plant-local); later days are absent. A past day's figures are what
        the live lifetime counters advanced over it (their 0.1 kWh at the next
        local midnight minus at this one), so history and live counters join
        exactly; today's are the ``today*`` figures so far (the open day a
        client must skip). Days before the plant's ``created`` date are zeros.
        ``eInvDay`` is a day-level approximation and ``eRecDay``, ``eEpsDay``,
        ``eGenDay`` are 0 (not modelled). ``pin(serial, "month", ...)`` applies
        to every day's element, ``pin(serial, "month_reply", ...)`` to the top.
        """
        plant, inv = self._require(serial, 6)
        try:
            first = date(int(year), int(month), 1)
        except ValueError as err:
            raise _Refusal("PARAM_ERROR") from err  # UNCONFIRMED message text
        params = _params(inv, plant.timezone)
        now = datetime.now(UTC)
        today = now.astimezone(ZoneInfo(plant.timezone)).date()
        rows: list[dict[str, Any]] = []
        day = first
        while day.month == first.month and day <= today:
            if day < plant.created:
                tenths = dict.fromkeys(_FLOWS, 0)
            elif day == today:
                s = _state(inv, plant.timezone, self._sample(now))
                tenths = {key: _tenths(s.today_wh[key]) for key in _FLOWS}
            else:
                start = _prefix(params, day.toordinal())
                end = _prefix(params, day.toordinal() + 1)
                tenths = {
                    key: _tenths(inv.base_wh[key] + end[key])
                    - _tenths(inv.base_wh[key] + start[key])
                    for key in _FLOWS
                }
            rows.append(
                self._apply_pins(serial, "month", self._column_day(inv, day, tenths))
            )
            day += timedelta(days=1)
        return self._apply_pins(serial, "month_reply", {"success": True, "data": rows})

    @staticmethod
    def _column_day(
        inv: SimInverter, day: date, tenths: dict[str, int]
    ) -> dict[str, Any]:
        """One day's element; PV split over the inputs by their shares."""
        shares = [*inv.string_shares, 0.0, 0.0, 0.0][:3]
        pv = tenths["pv"]
        strings = [int(pv * share) for share in shares]
        last = max((i for i, share in enumerate(shares) if share > 0), default=0)
        strings[last] += pv - sum(strings)
        return {
            "day": day.day,
            **{f"ePv{n}Day": value for n, value in enumerate(strings, start=1)},
            "eInvDay": max(pv + tenths["discharge"] - tenths["charge"], 0),
            "eRecDay": 0,
            "eChgDay": tenths["charge"],
            "eDisChgDay": tenths["discharge"],
            "eEpsDay": 0,
            "eToGridDay": tenths["export"],
            "eToUserDay": tenths["import"],
            "eGenDay": 0,
            "eConsumptionDay": tenths["load"],
        }

    def battery(self, serial: str) -> dict[str, Any]:
        """``getBatteryInfo`` as the portal would answer now (notes A.9)."""
        plant, inv = self._require(serial, 6)
        if serial in self._lost:
            return {
                "success": True,
                "serialNum": serial,
                "lost": True,
                "totalNumber": 0,
                "fullCapacity": 0,
                "remainCapacity": 0,
                "capacityPercent": 0,
                "currentType": "unknown",
                "currentText": "",
                "totalVoltageText": "",
                "globalMaxCellVoltage": "",
                "hasCellExtremes": False,
            }
        at = self._upload_time(serial)
        s = _state(inv, plant.timezone, at)
        capacity = inv.modules * inv.module_ah * 51.2
        soc = round(100 * s.soe_wh / capacity)
        volts = (480 + 0.6 * soc) / 10
        net = s.charge_w - s.discharge_w
        amps = net / volts
        full = inv.modules * inv.module_ah
        kind = "charge" if net > 1 else "discharge" if net < -1 else "unknown"
        payload: dict[str, Any] = {
            "success": True,
            "serialNum": serial,
            "lost": False,
            "hasRuntimeData": True,
            "statusText": "normal",
            "batStatus": {"charge": "Charging", "discharge": "Discharging"}.get(
                kind, "Idle"
            ),
            "ppv": round(s.pv_w),
            "pCharge": round(s.charge_w),
            "pDisCharge": round(s.discharge_w),
            "batPower": round(net),
            "soc": soc,
            "vBat": round(volts * 10),
            "maxBatteryCharge": full,
            "currentBatteryCharge": round(full * soc / 100, 1),
            "remainCapacity": round(full * soc / 100),
            "fullCapacity": full,
            "capacityPercent": soc,
            "totalNumber": inv.modules if inv.report_modules else 0,
            "currentText": f"{abs(amps):.1f}",
            "currentType": kind,
            "totalVoltageText": f"{volts:.1f}",
        }
        if inv.report_modules:
            payload["batteryArray"] = [
                self._module(inv, index, soc=soc, volts=volts, amps=amps, s=s)
                for index in range(inv.modules)
            ]
        return self._apply_pins(serial, "battery", payload)

    def _module(
        self,
        inv: SimInverter,
        index: int,
        *,
        soc: int,
        volts: float,
        amps: float,
        s: _State,
    ) -> dict[str, Any]:
        days = s.day_ordinal - _REF.toordinal()
        own_soc = max(0, min(100, soc + index - (inv.modules - 1) // 2))
        cell = 3150 + 2 * own_soc
        warm = round(10 * abs(amps) / inv.modules / 10)
        key = f"Battery_ID_{index + 1:02d}"
        module = {
            "batteryKey": f"{inv.serial}_{key}",
            "batterySn": key,
            "batteryType": "BATT_default",
            "batteryTypeText": "",
            "lastUpdateTime": _stamp(s.at + self.clock_skew),
            "batIndex": index,
            "batBmsModelText": "",
            "lost": False,
            "totalVoltage": round(volts * 100) + index,
            # UNCONFIRMED sign: the capture shows a positive current while charging.
            "current": round(10 * amps / inv.modules),
            "soc": own_soc,
            "soh": 100 - index % 2,
            "currentRemainCapacity": round(inv.module_ah * own_soc / 100),
            "currentFullCapacity": inv.module_ah,
            "currentCapacityPercent": own_soc,
            "maxBatteryCharge": inv.modules * inv.module_ah,
            "batMaxCellTemp": 250 + warm + index * 5,
            "batMinCellTemp": 240 + warm + index * 5,
            "batMaxCellVoltage": cell + 4 + index,
            "batMinCellVoltage": cell - 1,
            "batMaxCellNumTemp": 2,
            "batMinCellNumTemp": 0,
            "batMaxCellNumVolt": 11,
            "batMinCellNumVolt": 4,
            "batChargeMaxCur": 2000,
            "batChargeVoltRef": 560,
            "cycleCnt": inv.base_cycles + index + int(days * 0.85),
            "fwVersionText": "2.17",
            "chgCapacity": "",
            "disChgCapacity": "",
            "ambientTemp": "",
            "mosTemp": "",
            "noticeInfo": "",
        }
        return self._apply_pins(module["batteryKey"], "module", module)

    def midbox(self, serial: str) -> dict[str, Any]:
        """``getMidboxRuntime`` of a GridBOSS (notes A.11): the plant's grid and load."""
        plant, box = self._require(serial, 9)
        at = self._upload_time(serial)
        members = [inv for inv in plant.inverters if inv.device_type == 6]
        states = [_state(inv, plant.timezone, at) for inv in members]
        grid = sum(s.grid_w for s in states)
        load = sum(s.load_w for s in states)
        leg_v = 1204 + round(8 * math.sin(at.timestamp() / 700))
        data: dict[str, Any] = {
            "status": 1,
            "serverTime": _stamp(at + self.clock_skew),
            "deviceTime": _stamp(
                at.astimezone(ZoneInfo(plant.timezone)) + self.clock_skew
            ),
            "gridRmsVolt": 2 * leg_v,
            "upsRmsVolt": 2 * leg_v - 4,
            "genRmsVolt": 0,
            "gridL1RmsVolt": leg_v,
            "gridL2RmsVolt": leg_v + 3,
            "upsL1RmsVolt": leg_v - 2,
            "upsL2RmsVolt": leg_v - 1,
            "genL1RmsVolt": 0,
            "genL2RmsVolt": 0,
            "gridL1RmsCurr": round(100 * abs(grid) / 2 / (leg_v / 10)),
            "gridL2RmsCurr": round(100 * abs(grid) / 2 / (leg_v / 10)),
            "loadL1RmsCurr": round(100 * load / 2 / (leg_v / 10)),
            "loadL2RmsCurr": round(100 * load / 2 / (leg_v / 10)),
            "upsL1RmsCurr": 0,
            "upsL2RmsCurr": 0,
            "genL1RmsCurr": 0,
            "genL2RmsCurr": 0,
            # Signed, + import / - export (pylxpweb register definition).
            "gridL1ActivePower": round(grid / 2),
            "gridL2ActivePower": round(grid) - round(grid / 2),
            "loadL1ActivePower": round(load / 2),
            "loadL2ActivePower": round(load) - round(load / 2),
            "upsL1ActivePower": 0,
            "upsL2ActivePower": 0,
            "genL1ActivePower": 0,
            "genL2ActivePower": 0,
            "smartPort1Status": 0,
            "smartPort2Status": 0,
            "smartPort3Status": 0,
            "smartPort4Status": 0,
            "gridFreq": 5998 + round(math.sin(at.timestamp() / 500)),
            "phaseLockFreq": 5998,
            "genFreq": 0,
            "hybridPower": round(sum(s.pv_w for s in states)),
            "smartLoadPower": 0,
        }
        for name, flow in (
            ("ToGrid", "export"),
            ("ToUser", "import"),
            ("Load", "load"),
        ):
            today = sum(s.today_wh[flow] for s in states)
            total = sum(s.total_wh[flow] for s in states)
            data[f"e{name}TodayL1"] = _tenths(today / 2)
            data[f"e{name}TodayL2"] = _tenths(today / 2)
            data[f"e{name}TotalL1"] = _tenths(total / 2) - self.counter_drop
            data[f"e{name}TotalL2"] = _tenths(total / 2) - self.counter_drop
            if self.counter_glitch:
                data[f"e{name}TotalL1"] = data[f"e{name}TodayL1"]
                data[f"e{name}TotalL2"] = data[f"e{name}TodayL2"]
        lost = serial in self._lost
        payload = {
            "success": True,
            "serialNum": serial,
            "datalogSn": "BA" + serial[-8:],
            "fwCode": box.fw_code,
            "lost": lost,
            "statusText": "offline" if lost else "normal",
            "midboxData": self._apply_pins(serial, "midbox", data),
            "deviceDataType": "PARALLEL",
            "deviceData": self.runtime(members[0].serial) if members else {},
        }
        return payload

    def _require(self, serial: str, device_type: int) -> tuple[SimPlant, SimInverter]:
        found = self._find(serial)
        if found is None:
            raise _Refusal("DEVICE_ERROR_NOT_EXIST")  # UNCONFIRMED message text
        if found[1].device_type != device_type:
            raise _Refusal("DEVICE_ERROR_UNSUPPORT_DEVICE_TYPE")
        if serial in self.refuse:
            raise _Refusal("DEVICE_ERROR_SERVER_REFUSED")  # UNCONFIRMED message text
        return found

    def _login_reply(self) -> dict[str, Any]:
        plants = []
        for plant in self.account.plants:
            offset = datetime.now(ZoneInfo(plant.timezone)).utcoffset() or timedelta(0)
            hours = int(offset.total_seconds() // 3600)
            inverters = []
            for inv in plant.inverters:
                item: dict[str, Any] = {
                    "serialNum": inv.serial,
                    "deviceType": inv.device_type,
                    "subDeviceType": inv.sub_device_type,
                    "deviceTypeText4APP": inv.model,
                    "deviceTypeText": inv.model,
                    "standard": inv.fw_code[:4],
                    "withbatteryData": inv.device_type == 6,
                }
                if inv.device_type == 9:
                    item |= {
                        "parallelMidboxSn": inv.serial,
                        "parallelMidboxLost": inv.serial in self._lost,
                    }
                else:
                    item |= {
                        "phase": inv.phase,
                        "lost": inv.serial in self._lost,
                        "dtc": 1,
                        "powerRating": 6,
                        "batteryType": "LITHIUM",
                        "slaveVersion": 33,
                        "fwVersion": 34,
                        "allowExport2Grid": True,
                        "protocolVersion": 5,
                    }
                inverters.append(item)
            groups = sorted(
                {inv.parallel_group for inv in plant.inverters if inv.parallel_group}
            )
            plants.append(
                {
                    "plantId": plant.plant_id,
                    "name": plant.name,
                    "timezoneHourOffset": hours,
                    "timezoneMinuteOffset": 0,
                    "inverters": inverters,
                    "parallelGroups": [
                        {
                            "parallelGroup": group,
                            "parallelFirstDeviceSn": next(
                                inv.serial
                                for inv in plant.inverters
                                if inv.parallel_group == group
                            ),
                        }
                        for group in groups
                    ],
                }
            )
        account = self.account
        first = account.plants[0] if account.plants else None
        return {
            "success": True,
            "userId": account.user_id,
            "parentUserId": 812,
            "username": account.username,
            "readonly": False,
            "role": account.role,
            "realName": account.real_name,
            "email": account.email,
            "telNumber": account.phone,
            "address": account.address,
            "timezone": "WEST7",
            "timezoneText": "GMT -7",
            "language": "ENGLISH",
            "platform": "EG4",
            "tempUnit": "F",
            # A parallel-group visit record: most fields missing (eg4_web_monitor #258).
            "userVisitRecord": {"plantId": first.plant_id, "serialNum": "Parallel_A"}
            if first
            else {},
            "plants": plants,
            "clusterId": 100,
            "userCreateDate": "2025-05-05 19:55:50",
        }

    def _plant_rows(self) -> list[dict[str, Any]]:
        rows = []
        for plant in self.account.plants:
            rows.append(
                {
                    "id": plant.plant_id,
                    "plantId": plant.plant_id,
                    "name": plant.name,
                    "nominalPower": plant.nominal_power_w,
                    "country": "United States of America",
                    "currentTimezoneWithMinute": -700,
                    "timezone": "GMT -7",
                    "daylightSavingTime": False,
                    "createDate": plant.created.isoformat(),
                    "noticeFault": False,
                    "noticeWarn": False,
                    "noticeEmail": "",
                    "noticeEmail2": "",
                    "contactPerson": "",
                    "contactPhone": "",
                    "address": plant.address,
                }
            )
        return rows

    def _overview(self, plant_id: int) -> list[dict[str, Any]]:
        rows = []
        for plant in self.account.plants:
            if plant_id not in (-1, plant.plant_id):
                continue
            index = itertools.count(1)
            for inv in plant.inverters:
                row: dict[str, Any] = {
                    "serialNum": inv.serial,
                    "statusText": "offline" if inv.serial in self._lost else "normal",
                    "deviceType": inv.device_type,
                    "deviceTypeText": inv.model,
                    "phase": inv.phase,
                    "plantId": plant.plant_id,
                    "plantName": plant.name,
                    "parallelGroup": inv.parallel_group,
                    "parallelIndex": str(next(index)) if inv.parallel_group else "",
                    "parallelInfo": f"{inv.parallel_group}, Parallel"
                    if inv.parallel_group
                    else "",
                    "parallelModel": "PARALLEL" if inv.parallel_group else "",
                    "endUser": self.account.username,
                }
                if inv.device_type == 6:
                    run, energy = self.runtime(inv.serial), self.energy(inv.serial)
                    row |= {
                        "ppv": run.get("ppv", 0),
                        "ppvText": f"{run.get('ppv', 0)} W",
                        "pCharge": run.get("pCharge", 0),
                        "pDisCharge": run.get("pDisCharge", 0),
                        "pConsumption": run.get("consumptionPower", 0),
                        "soc": f"{run.get('soc', 0)} %",
                        "vBat": run.get("vBat", 0),
                        "totalYielding": energy["totalYielding"],
                        "totalDischarging": energy["totalDischarging"],
                        "totalExport": energy["totalExport"],
                        "totalUsage": energy["totalUsage"],
                    }
                else:  # GridBOSS rows carry zeros / empty strings for every metric
                    row |= {
                        "ppv": 0,
                        "ppvText": "",
                        "pCharge": 0,
                        "pDisCharge": 0,
                        "soc": "",
                        "vBat": 0,
                    }
                rows.append(row)
        return rows

    # -- HTTP -----------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.offline:
            return self._drop(request)
        path = request.path
        if request.method != "POST":
            return self._page(405)
        if request.content_type != "application/x-www-form-urlencoded":
            return self._page(415)
        form = {key: str(value) for key, value in (await request.post()).items()}
        self.calls.append((path, form))
        if path == "/WManage/api/login":
            return self._failure(request, path) or self._login(request, form)
        token = request.cookies.get("JSESSIONID")
        expires = self._sessions.get(token or "")
        if expires is None or datetime.now(UTC) >= expires:
            self._sessions.pop(token or "", None)
            return self._login_page()
        if (failure := self._failure(request, path)) is not None:
            return failure
        try:
            payload = self._route(path, form)
        except _Refusal as err:
            payload = {"success": False, "msg": str(err)}
        if payload is None:
            return self._page(404)
        return web.json_response(_stringify(payload) if self.stringly else payload)

    def _route(self, path: str, form: dict[str, str]) -> dict[str, Any] | None:
        serial = form.get("serialNum", "")
        if path in (
            "/WManage/web/config/plant/list/viewer",
            "/WManage/web/config/plant/list",
        ):
            rows = self._plant_rows()
            return {"total": len(rows), "rows": rows}
        if path == "/WManage/api/inverterOverview/list":
            rows = self._overview(int(form.get("plantId", "-1") or -1))
            return {"success": True, "total": len(rows), "rows": rows}
        if path == "/WManage/api/inverterChart/monthColumn":
            return self.month_column(
                serial, form.get("year", ""), form.get("month", "")
            )
        handlers = {
            "/WManage/api/inverter/getInverterRuntime": self.runtime,
            "/WManage/api/inverter/getInverterEnergyInfo": self.energy,
            "/WManage/api/inverter/getInverterEnergyInfoParallel": self.parallel_energy,
            "/WManage/api/battery/getBatteryInfo": self.battery,
            "/WManage/api/midbox/getMidboxRuntime": self.midbox,
        }
        if (handler := handlers.get(path)) is None:
            return None
        return handler(serial)

    def _login(self, request: web.Request, form: dict[str, str]) -> web.StreamResponse:
        self.login_had_cookie.append("JSESSIONID" in request.cookies)
        account = self.account
        if (
            form.get("account", "").lower() != account.username.lower()
            or form.get("password") != account.password
        ):
            if self.bad_login_status == 401:
                return web.json_response(
                    {"success": False, "message": "Invalid credentials"}, status=401
                )
            # UNCONFIRMED wire form of a wrong password (notes A.2.4).
            return web.json_response(
                {"success": False, "msg": "Incorrect account or password"}
            )
        token = (
            hashlib.sha256(f"eg4-session-{next(self._tokens)}".encode())
            .hexdigest()[:32]
            .upper()
        )
        self._sessions[token] = datetime.now(UTC) + self.session_ttl
        self.logins += 1
        response = web.json_response(self._login_reply())
        response.set_cookie("JSESSIONID", token, path="/WManage", httponly=True)
        return response

    def _failure(self, request: web.Request, path: str) -> web.StreamResponse | None:
        for failure in self._failures:
            kind, count, needle, retry_after = failure
            if count <= 0 or needle not in path:
                continue
            failure[1] -= 1
            if kind == "dataframe_timeout":
                return web.json_response({"success": False, "msg": "DATAFRAME_TIMEOUT"})
            if kind == "refused":
                return web.json_response({"success": False, "msg": "Operation failed"})
            if kind == "login_page":
                return self._login_page()
            if kind == "drop":
                return self._drop(request)
            if kind == "html":
                return web.Response(
                    text=_MAINTENANCE_PAGE, content_type="text/html", charset="utf-8"
                )
            if kind == "bad_json":
                return web.Response(
                    text='{"success": true, "serialNum": "45126',
                    content_type="application/json",
                )
            page = self._page(int(kind))
            if retry_after is not None:
                page.headers["Retry-After"] = retry_after
            return page
        return None

    @staticmethod
    def _drop(request: web.Request) -> web.StreamResponse:
        """Reset the connection without an answer."""
        if request.transport is not None:
            request.transport.close()
        raise web.HTTPServiceUnavailable  # never reaches the closed socket

    @staticmethod
    def _login_page() -> web.Response:
        return web.Response(text=_LOGIN_PAGE, content_type="text/html", charset="utf-8")

    @staticmethod
    def _page(status: int) -> web.Response:
        reason = {
            403: "Forbidden",
            404: "Not Found",
            429: "Too Many Requests",
            405: "Method Not Allowed",
            415: "Unsupported Media Type",
        }.get(status, "Bad Gateway" if status == 502 else "Error")
        return web.Response(
            status=status,
            text=_ERROR_PAGE.format(status=status, reason=reason),
            content_type="text/html",
        )


class _Refusal(Exception):
    """A data endpoint refusing a serial: HTTP 200 with ``success:false``."""


# --------------------------------------------------------------------------
# Standalone use (scripts/develop)
# --------------------------------------------------------------------------

DEMO_PORT = 8764


def demo_entry(base_url: str) -> dict[str, Any]:
    """Config-entry data for the default account with both stations."""
    account = SimAccount()
    return {
        "vendor": "eg4",
        "username": account.username,
        "password": account.password,
        "url": base_url,
        "station_ids": [str(plant.plant_id) for plant in account.plants],
    }


async def serve(host: str = "127.0.0.1", port: int = DEMO_PORT) -> None:
    """Run the simulator until cancelled: ``python -m tests.simulators.eg4``."""
    simulator = EG4Simulator()
    url = await simulator.start(host, port)
    print(f"EG4 simulator on {url}; entry data:")
    print(json.dumps(demo_entry(url), indent=2))
    try:
        await asyncio.Event().wait()
    finally:
        await simulator.stop()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEMO_PORT)
    arguments = parser.parse_args()
    asyncio.run(serve(arguments.host, arguments.port))
