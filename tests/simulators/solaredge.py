"""SolarEdge Monitoring API V2 simulator: a real aiohttp server on loopback.

Shapes, headers, quotas and errors follow the research notes in
``/work/shared/api/solaredge-v2-and-enphase-oauth.md`` §1 and
``/work/shared/api/enphase-solaredge.md`` §7/§8. Where the notes leave a
choice open, the resolution is written next to the code that makes it.

Every value is derived from ``datetime.now(UTC)`` at request time, so
freezegun controls the simulated clock. The model is deterministic:

* PV follows a sin² bell between sunrise and sunset (solar time, ~06:00 to
  ~18:00, longer days in summer), scaled by the peak power, a seasonal factor
  and a fixed per-day "weather" factor derived from the date.
* The house load is a base load plus morning, lunch and evening bumps
  (wall-clock time).
* The battery charges from PV surplus and, after the last surplus of the day,
  discharges into the evening load; it is sized each day so it is back at its
  10 % reserve by midnight, which makes every day independent and cacheable.
* The grid meter sees whatever is left: import = deficit - discharge,
  export = surplus - charge.

Energy values are whole Wh. A bucket's value is the difference of the rounded
running total at its two ends (like a register), so any set of adjacent
buckets sums exactly to the total over the same span: overview == sum of
quarter-hours, YEAR buckets == sum of days, meter telemetry == overview.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
import hashlib
import itertools
import math
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from .solaredge_oauth import SiteAccessServer

__all__ = ["SimSite", "SolarEdgeSimulator", "second_site"]

PROBLEM_TYPE = "https://se-api.stoplight.io/docs/monitoring"
PROBLEM_JSON = "application/problem+json"

_STEP_S = 300  # simulation step: 5 minutes
_STEPS_PER_HOUR = 12
_QH_S = 900
_MINUTE = timedelta(seconds=60)
_RESOLUTIONS = ("QUARTER_HOUR", "HOUR", "DAY", "WEEK", "MONTH", "YEAR", "TOTAL")
_FINE = ("QUARTER_HOUR", "HOUR")
# Documented window limits: 12 h at QUARTER_HOUR, 24 h at HOUR, one month at DAY.
_LIMITS = {
    "QUARTER_HOUR": timedelta(hours=12),
    "HOUR": timedelta(hours=24),
    "DAY": timedelta(days=31),
}
# Telemetry: a live client fetches a whole day at QUARTER_HOUR without a 400,
# so the telemetry endpoints allow 24 h there (notes §1.4 disagreement).
_TELEMETRY_LIMITS = {**_LIMITS, "QUARTER_HOUR": timedelta(hours=24)}
_ENERGY_UNITS = {"WH": 1.0, "KWH": 1e3, "MWH": 1e6, "GWH": 1e9}
_POWER_UNITS = {"W": 1.0, "KW": 1e3, "MW": 1e6}
_DEVICE_TYPES = (
    "INVERTER",
    "BATTERY",
    "BATTERY_MODULE",
    "OPTIMIZER",
    "METER",
    "EV_CHARGER",
    "BUI",
    "GATEWAY",
)
_V1_PREFIXES = ("/site/", "/sites/list", "/equipment/", "/accounts/", "/version/")
_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    410: "Gone",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class SimSite:
    """One simulated site and its devices (only fields the API exposes)."""

    site_id: int = 3012345
    name: str = "Home"
    timezone: str = "America/Phoenix"
    peak_power_kw: float = 7.6
    installation_date: date = date(2021, 3, 15)
    account_id: int = 42
    address: str = "1 Main St"
    city: str = "Phoenix"
    state: str = "AZ"
    zip: str = "85004"
    country: str = "United States"
    activation_status: str = "ACTIVE"
    note: str = ""
    inverters: list[str] = field(default_factory=lambda: ["7E1234AB-9C"])
    connected_optimizers: int = 20
    battery_serial: str | None = "7F0A21C3-B1"
    battery_capacity_kwh: float = 9.7  # usable capacity
    meter_serial: str | None = "M-GRID-01"
    # UNCONFIRMED enum: the doc-based fixture shows "PRODUCTION"; a grid
    # import/export meter is V1's "Feed In" meter.
    meter_type: str = "FEED_IN"


def second_site() -> SimSite:
    """A second site for multi-site tests: two inverters, no battery, no meter."""
    return SimSite(
        site_id=3012346,
        name="Cabin",
        timezone="Europe/Berlin",
        peak_power_kw=4.2,
        installation_date=date(2023, 6, 1),
        address="Seestrasse 5",
        city="Konstanz",
        state="BW",
        zip="78464",
        country="Germany",
        inverters=["7E5678CD-12", "7E5678CD-13"],
        connected_optimizers=8,
        battery_serial=None,
        meter_serial=None,
    )


@dataclass(frozen=True, slots=True)
class _Fault:
    retry_after: str | None
    body: str | None
    content_type: str
    delay: float


class _ApiError(Exception):
    """An application error answered as problem+json."""

    def __init__(self, status: int, detail: str, title: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or _REASONS.get(status, "Error")


# --------------------------------------------------------------------------
# Physical model (pure, cached)
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Model:
    tz: str
    peak_kw: float
    install_ord: int
    battery_wh: float  # usable capacity, 0 without a battery


@dataclass(frozen=True, slots=True)
class _Day:
    start: datetime  # local midnight, in UTC
    steps: int  # 5-minute steps in this local day (276/288/300 around DST)
    cum: dict[str, list[float]]  # running Wh since midnight at each step edge
    soe: list[float]  # stored Wh at each step edge
    awake: tuple[int, int]  # steps during which the inverter reports


def _weather(ordinal: int) -> float:
    """Deterministic per-day cloudiness factor in [0.78, 1.0)."""
    return 0.78 + 0.22 * (((ordinal * 2654435761) & 0xFFFFFFFF) / 2**32)


@lru_cache(maxsize=16384)
def _sun(peak_kw: float, ordinal: int) -> tuple[float, float, float]:
    """Sunrise and sunset (solar hours) and the peak PV power (W) of a day."""
    doy = ordinal - date(date.fromordinal(ordinal).year, 1, 1).toordinal() + 1
    season = math.sin(2 * math.pi * (doy - 80) / 365.25)
    length = 12.0 + 2.0 * season
    sunrise = 12.0 - length / 2
    peak_w = peak_kw * 1000.0 * (0.68 + 0.12 * season) * _weather(ordinal)
    return sunrise, sunrise + length, peak_w


def _pv_full(sun: tuple[float, float, float]) -> float:
    sunrise, sunset, peak_w = sun
    return peak_w * (sunset - sunrise) / 2


def _pv_cum(sun: tuple[float, float, float], hour: float) -> float:
    """PV Wh produced from solar midnight to ``hour`` (closed-form sin² integral)."""
    sunrise, sunset, peak_w = sun
    if hour <= sunrise:
        return 0.0
    if hour >= sunset:
        # Same expression as the day total, so both paths round identically.
        return _pv_full(sun)
    length = sunset - sunrise
    x = (hour - sunrise) / length
    return peak_w * length * (x / 2 - math.sin(2 * math.pi * x) / (4 * math.pi))


def _bump(hour: float, start: float, end: float) -> float:
    if start < hour < end:
        return math.sin(math.pi * (hour - start) / (end - start)) ** 2
    return 0.0


def _load_w(hour: float) -> float:
    """House load (W) at a wall-clock hour."""
    return (
        320.0
        + 700.0 * _bump(hour, 6.0, 9.0)
        + 400.0 * _bump(hour, 11.5, 13.5)
        + 1500.0 * _bump(hour, 17.0, 22.5)
    )


@lru_cache(maxsize=4096)
def _day_bounds(tz_name: str, ordinal: int) -> tuple[datetime, datetime]:
    tz = ZoneInfo(tz_name)
    start = datetime.combine(date.fromordinal(ordinal), time(), tz)
    end = datetime.combine(date.fromordinal(ordinal + 1), time(), tz)
    return start.astimezone(UTC), end.astimezone(UTC)


@lru_cache(maxsize=65536)
def _pv_day_wh(peak_kw: float, install_ord: int, ordinal: int, div: int) -> int:
    if ordinal < install_ord:
        return 0
    return round(_pv_full(_sun(peak_kw, ordinal)) / div)


@lru_cache(maxsize=4096)
def _pv_range_wh(
    peak_kw: float, install_ord: int, first: int, stop: int, div: int
) -> int:
    return sum(_pv_day_wh(peak_kw, install_ord, o, div) for o in range(first, stop))


def _day_flow_wh(model: _Model, series: str, ordinal: int, div: int) -> int:
    """Whole Wh of a flow over one whole local day (long meter windows stay fast)."""
    return _day_totals(model, ordinal, div)[series]


@lru_cache(maxsize=65536)
def _day_totals(model: _Model, ordinal: int, div: int) -> dict[str, int]:
    day = _simulate_day(model, ordinal)
    return {
        name: round(values[day.steps] / div) - round(values[0] / div)
        for name, values in day.cum.items()
    }


@lru_cache(maxsize=512)
def _simulate_day(model: _Model, ordinal: int) -> _Day:
    """Simulate one local day in 5-minute steps."""
    tz = ZoneInfo(model.tz)
    start, end = _day_bounds(model.tz, ordinal)
    steps = int((end - start).total_seconds()) // _STEP_S
    local_midnight = start.astimezone(tz)
    # Solar time runs on the zone's standard offset, so summer time moves
    # solar noon to 13:00 on the wall clock.
    dst = local_midnight.dst()
    h0 = -(dst.total_seconds() / 3600 if dst else 0.0)
    installed = ordinal >= model.install_ord
    sun = _sun(model.peak_kw, ordinal)
    if installed:
        pv_cum = [_pv_cum(sun, h0 + i / _STEPS_PER_HOUR) for i in range(steps + 1)]
    else:
        pv_cum = [0.0] * (steps + 1)
    pv = [pv_cum[i + 1] - pv_cum[i] for i in range(steps)]

    if steps == 24 * _STEPS_PER_HOUR:
        walls = [(i + 0.5) / _STEPS_PER_HOUR for i in range(steps)]
    else:  # DST change: read the wall clock per step
        walls = []
        for i in range(steps):
            loc = (start + timedelta(seconds=(i + 0.5) * _STEP_S)).astimezone(tz)
            walls.append(loc.hour + loc.minute / 60 + loc.second / 3600)
    load = [_load_w(h) / _STEPS_PER_HOUR for h in walls]

    max_step = 5000.0 / _STEPS_PER_HOUR  # 5 kW battery inverter
    floor = 0.1 * model.battery_wh
    last_surplus = max((i for i in range(steps) if pv[i] > load[i]), default=-1)
    evening_need = sum(
        min(load[i] - pv[i], max_step)
        for i in range(last_surplus + 1, steps)
        if load[i] > pv[i]
    )
    # Store only what the evening will use, so the battery is at its reserve at
    # midnight and the next day starts from the same state.
    budget = min(model.battery_wh - floor, evening_need) if model.battery_wh else 0.0
    soe = floor
    charged = 0.0
    rows: dict[str, list[float]] = {
        k: [] for k in ("self", "charge", "discharge", "import", "export")
    }
    soe_edges = [soe]
    for i in range(steps):
        direct = min(pv[i], load[i])
        surplus = pv[i] - direct
        deficit = load[i] - direct
        charge = min(surplus, max_step, budget - charged) if budget > 0 else 0.0
        charge = max(charge, 0.0)
        discharge = 0.0
        if i > last_surplus and deficit > 0:
            discharge = max(min(deficit, max_step, soe - floor), 0.0)
        charged += charge
        soe += charge - discharge
        soe_edges.append(soe)
        rows["self"].append(direct)
        rows["charge"].append(charge)
        rows["discharge"].append(discharge)
        rows["import"].append(deficit - discharge)
        rows["export"].append(surplus - charge)

    cum = {"pv": pv_cum, "load": list(itertools.accumulate(load, initial=0.0))}
    for key, values in rows.items():
        cum[key] = list(itertools.accumulate(values, initial=0.0))

    if installed:
        sunrise, sunset, _ = sun
        # The inverter wakes ~30 min before sunrise and sleeps ~30 min after
        # sunset; outside that it reports nothing (null), inside 0.0 is possible.
        first = max(0, math.floor((sunrise - 0.5 - h0) * _STEPS_PER_HOUR))
        last = min(steps, math.ceil((sunset + 0.5 - h0) * _STEPS_PER_HOUR))
        awake = (first, last)
    else:
        awake = (0, 0)
    return _Day(start, steps, cum, soe_edges, awake)


# --------------------------------------------------------------------------
# Time helpers
# --------------------------------------------------------------------------


def _floor_qh(moment: datetime) -> datetime:
    return datetime.fromtimestamp(math.floor(moment.timestamp() / _QH_S) * _QH_S, UTC)


def _ceil_qh(moment: datetime) -> datetime:
    return datetime.fromtimestamp(math.ceil(moment.timestamp() / _QH_S) * _QH_S, UTC)


def _iso(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).isoformat()


def _iso_ns(moment: datetime, tz: ZoneInfo, extra: int) -> str:
    """Site-local ISO with nine fractional digits, as the default ``period.to``."""
    local = moment.astimezone(tz)
    text = local.isoformat(timespec="seconds")
    return f"{text[:19]}.{local.microsecond:06d}{extra % 1000:03d}{text[19:]}"


def _zulu(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hex32(seed: str) -> str:
    return hashlib.md5(seed.encode(), usedforsecurity=False).hexdigest()


# --------------------------------------------------------------------------
# The simulator
# --------------------------------------------------------------------------


class SolarEdgeSimulator:
    """Fake ``https://monitoringapi.solaredge.com/v2`` (Fleet Access, API key).

    Counters and introspection:
        ``calls``: ``(method, path)`` of every request, in order, rejected ones too.
        ``credits_used``: month credits consumed; one per call that passed auth
        and the rate limits (4xx after auth included, 429s excluded).
        ``reset_month()``: start a new billing cycle.
        ``lifetime_wh()``, ``today_wh()``, ``current_power_w()``: the truth the
        API currently reports, for comparing integration state against.

    Fault switches:
        ``fail_next(status, count=1, path_contains="")``: the next ``count``
        authenticated requests whose path and query contain ``path_contains`` answer
        ``status``; problem+json for 4xx/5xx, the gateway's minute-limit 429
        (``retry-after: 60``, no credit charged) for 429.
        ``offline = True``: every request gets its connection aborted.
        ``malformed``: endpoint names (``site`` = ``/sites`` and
        ``/sites/{id}``, ``overview``, ``power``, ``energy``, ``devices``,
        ``alerts``, ``telemetry``) whose responses carry a garbage or missing
        field for as long as the name stays in the set.
        ``lag_minutes``: quarter-hours that ended less than this long ago are
        not uploaded yet (null; excluded from every total).
        ``lifetime_zero = True``: ``YEAR`` and ``TOTAL`` buckets report 0.0.
        ``overview_units``: force a block's unit, e.g. ``{"consumption": "KWH"}``.
        Without it a block switches to ``KWH`` once its total exceeds 100 000 Wh.
        ``add_alert(...)`` / ``close_alert(id)``: manage site alerts.
        ``power_override``: the newest non-null ``/power`` value and meter
        ``importPower`` value become this number (1e12, -5000: absurd values).
        ``clock_skew``: every series timestamp is shifted by this much.
        ``override``: path suffix -> body answered instead (a text as-is, else
        JSON), after authentication and quota (fuzzing, nulls, HTML pages).
        ``transform``: path suffix -> function of the real body, answered instead.

    Site access (OAuth 2.0, homeowners): ``site_access`` serves ``/authorize``
    and ``/v2/oauth2/token`` (see ``solaredge_oauth``); its bearer tokens reach
    their own site's endpoints, never ``/sites`` or ``/alerts``.
    """

    def __init__(
        self,
        *,
        api_key: str = "SIMULATED-KEY",
        sites: list[SimSite] | None = None,
        month_credits: int = 2000,
        minute_limit: int = 10,
    ) -> None:
        """Build the application; call ``start()`` to listen."""
        self.api_key = api_key
        self.sites: dict[int, SimSite] = {s.site_id: s for s in (sites or [SimSite()])}
        if any(not site.inverters for site in self.sites.values()):
            raise ValueError("every simulated site needs at least one inverter")
        self.month_credits = month_credits
        self.minute_limit = minute_limit
        self.calls: list[tuple[str, str]] = []
        self.credits_used = 0
        self.offline = False
        self.malformed: set[str] = set()
        self.lag_minutes = 20
        self.lifetime_zero = False
        self.overview_units: dict[str, str] = {}
        self.power_override: float | None = None
        self.override: dict[str, Any] = {}
        self.transform: dict[str, Callable[[Any], Any]] = {}
        self.clock_skew = timedelta(0)
        self.base_url = ""
        self._failures: list[list[Any]] = []
        self.queries: list[str] = []
        """Every API request's path and query (`calls` holds paths only)."""
        self._window: deque[datetime] = deque()
        self._alerts: list[dict[str, Any]] = []
        self._next_alert_id = 112957209
        self._seq = 0
        self._runner: web.AppRunner | None = None
        self.origin = ""
        # Site access (OAuth 2.0): the homeowner owns the first site.
        self.site_access = SiteAccessServer([next(iter(self.sites))])
        self.app = web.Application()
        self.app.router.add_route("GET", "/authorize", self._authorize)
        self.app.router.add_route("*", "/v2/oauth2/token", self._token)
        self.app.router.add_route("*", "/{tail:.*}", self._handle)

    # -- lifecycle -----------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0 = any free port); return the base URL."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        tcp = web.TCPSite(self._runner, host, port)
        await tcp.start()
        bound = self._runner.addresses[0][1]
        self.origin = f"http://{host}:{bound}"
        self.base_url = f"{self.origin}/v2"
        return self.base_url

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- switches and introspection -----------------------------------------

    def reset_month(self) -> None:
        """Start a new billing cycle."""
        self.credits_used = 0

    def clear_faults(self) -> None:
        """Switch every fault off (the vendor is healthy again)."""
        self._failures.clear()
        self.offline = False
        self.malformed.clear()
        self.override.clear()
        self.transform.clear()
        self.power_override = None
        self.clock_skew = timedelta(0)

    def fail_next(
        self,
        status: int,
        count: int = 1,
        path_contains: str = "",
        *,
        retry_after: str | None = "60",
        body: str | None = None,
        content_type: str = "application/json",
        delay: float = 0.0,
    ) -> None:
        """Answer ``status`` to the next ``count`` matching authenticated requests.

        ``retry_after=None`` sends a 429 without the header (what SolarEdge
        documents for exhausted monthly credits, and what a proxy may send);
        ``body`` replaces the answer (an HTML page, broken JSON, ``null``);
        ``delay`` holds the answer back first (a hanging gateway).
        """
        self._failures.append(
            [
                status,
                count,
                path_contains,
                _Fault(retry_after, body, content_type, delay),
            ]
        )

    def add_alert(
        self,
        site_id: int | None = None,
        *,
        category: str = "EQUIPMENT",
        alert_type: str = "DC Isolation",
        impact: int = 7,
        serial: str | None = None,
        component_name: str | None = None,
        error_codes: list[int] | None = None,
        first_trigger: datetime | None = None,
    ) -> dict[str, Any]:
        """Inject an OPEN alert (on the first inverter by default); return it."""
        site = (
            self.sites[site_id]
            if site_id is not None
            else next(iter(self.sites.values()))
        )
        when = first_trigger or datetime.now(UTC)
        alert = {
            "alertId": self._next_alert_id,
            "siteId": site.site_id,
            "category": category,
            "type": alert_type,
            "impact": impact,
            "status": "OPEN",
            "firstTrigger": _zulu(when),
            "lastTrigger": _zulu(when),
            "component": {
                "name": component_name or "Inverter 1",
                "serialNumber": serial or site.inverters[0],
            },
            "errorCodes": list(error_codes or []),
        }
        self._next_alert_id += 1
        self._alerts.append(alert)
        return alert

    def close_alert(self, alert_id: int) -> None:
        """Mark an alert closed (the closed status name is UNCONFIRMED)."""
        for alert in self._alerts:
            if alert["alertId"] == alert_id:
                alert["status"] = "CLOSED"

    def lifetime_wh(self, site_id: int | None = None) -> int:
        """Lifetime production (Wh) as the YEAR buckets report it now."""
        site = self._site_or_first(site_id)
        model = self._model(site)
        start = _day_bounds(model.tz, model.install_ord)[0]
        return self._series_wh(model, "pv", start, max(start, self._cutoff()))

    def today_wh(self, site_id: int | None = None) -> dict[str, int]:
        """Today's uploaded totals (Wh) by flow, as the overview reports them."""
        site = self._site_or_first(site_id)
        model = self._model(site)
        now = datetime.now(UTC)
        lo = max(
            self._midnight(model, now), _day_bounds(model.tz, model.install_ord)[0]
        )
        hi = self._cutoff()
        keys = ("pv", "load", "self", "charge", "discharge", "import", "export")
        return {k: self._series_wh(model, k, lo, hi) if hi > lo else 0 for k in keys}

    def lifetime_flow_wh(self, flow: str, site_id: int | None = None) -> int:
        """Lifetime Wh of a flow (``import``, ``export``...) up to the upload cutoff."""
        site = self._site_or_first(site_id)
        model = self._model(site)
        start = _day_bounds(model.tz, model.install_ord)[0]
        return self._series_wh(model, flow, start, max(start, self._cutoff()))

    def newest_flow_w(self, flow: str, site_id: int | None = None) -> float:
        """Average W of a flow over the newest uploaded quarter-hour."""
        site = self._site_or_first(site_id)
        model = self._model(site)
        end = self._cutoff()
        return round(
            self._series_exact(model, flow, end - timedelta(seconds=_QH_S), end) * 4,
            3,
        )

    def current_power_w(self, site_id: int | None = None) -> float | None:
        """The newest non-null ``/power`` quarter-hour value (W), if any today."""
        site = self._site_or_first(site_id)
        model = self._model(site)
        now = datetime.now(UTC)
        start = self._midnight(model, now)
        for b_start, b_end in reversed(
            self._buckets(model, "QUARTER_HOUR", start, now)
        ):
            value = self._power_value(model, b_start, b_end)
            if value is not None:
                return round(value, 3)
        return None

    # -- model helpers --------------------------------------------------------

    def _site_or_first(self, site_id: int | None) -> SimSite:
        return (
            self.sites[site_id]
            if site_id is not None
            else next(iter(self.sites.values()))
        )

    @staticmethod
    def _model(site: SimSite) -> _Model:
        battery = site.battery_capacity_kwh * 1000 if site.battery_serial else 0.0
        return _Model(
            site.timezone,
            float(site.peak_power_kw),
            site.installation_date.toordinal(),
            battery,
        )

    def _cutoff(self) -> datetime:
        """End of the newest uploaded quarter-hour."""
        return _floor_qh(datetime.now(UTC) - timedelta(minutes=self.lag_minutes))

    @staticmethod
    def _local_ord(model: _Model, moment: datetime) -> int:
        return moment.astimezone(ZoneInfo(model.tz)).toordinal()

    def _midnight(self, model: _Model, moment: datetime) -> datetime:
        return _day_bounds(model.tz, self._local_ord(model, moment))[0]

    def _install_start(self, model: _Model) -> datetime:
        return _day_bounds(model.tz, model.install_ord)[0]

    def _day_at(self, model: _Model, moment: datetime) -> tuple[_Day, int]:
        day = _simulate_day(model, self._local_ord(model, moment))
        return day, int((moment - day.start).total_seconds()) // _STEP_S

    def _series_wh(
        self, model: _Model, series: str, start: datetime, end: datetime, div: int = 1
    ) -> int:
        """Whole Wh of a flow over [start, end) (5-minute aligned instants)."""
        total = 0
        moment = start
        while moment < end:
            ordinal = self._local_ord(model, moment)
            day_start, day_end = _day_bounds(model.tz, ordinal)
            if series == "pv" and moment == day_start and end >= day_end:
                # Whole days of PV come from the closed form: long YEAR windows
                # stay fast and equal the per-step path exactly.
                stop = self._local_ord(model, end)
                total += _pv_range_wh(
                    model.peak_kw, model.install_ord, ordinal, stop, div
                )
                moment = _day_bounds(model.tz, stop)[0]
                continue
            seg_end = min(end, day_end)
            if moment == day_start and seg_end == day_end:
                total += _day_flow_wh(model, series, ordinal, div)
                moment = seg_end
                continue
            day = _simulate_day(model, ordinal)
            i = int((moment - day_start).total_seconds()) // _STEP_S
            j = int((seg_end - day_start).total_seconds()) // _STEP_S
            values = day.cum[series]
            total += round(values[j] / div) - round(values[i] / div)
            moment = seg_end
        return total

    def _series_exact(
        self, model: _Model, series: str, start: datetime, end: datetime
    ) -> float:
        total = 0.0
        moment = start
        while moment < end:
            ordinal = self._local_ord(model, moment)
            day_start, day_end = _day_bounds(model.tz, ordinal)
            seg_end = min(end, day_end)
            day = _simulate_day(model, ordinal)
            i = int((moment - day_start).total_seconds()) // _STEP_S
            j = int((seg_end - day_start).total_seconds()) // _STEP_S
            total += day.cum[series][j] - day.cum[series][i]
            moment = seg_end
        return total

    def _awake(self, model: _Model, start: datetime, end: datetime) -> bool:
        day, i = self._day_at(model, start)
        j = min(day.steps, int((end - day.start).total_seconds()) // _STEP_S)
        return j > day.awake[0] and i < day.awake[1]

    def _buckets(
        self, model: _Model, resolution: str, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime]]:
        """Buckets (UTC start, end) covering [start, end), aligned in site time."""
        tz = ZoneInfo(model.tz)
        out: list[tuple[datetime, datetime]] = []
        if resolution in _FINE:
            if resolution == "QUARTER_HOUR":
                moment, step = _floor_qh(start), timedelta(seconds=_QH_S)
            else:
                local = start.astimezone(tz).replace(minute=0, second=0, microsecond=0)
                moment, step = local.astimezone(UTC), timedelta(hours=1)
            while moment < end:
                out.append((moment, moment + step))
                moment += step
            return out
        if resolution == "TOTAL":
            return [(start, _ceil_qh(end))]
        day = start.astimezone(tz).date()
        if resolution == "WEEK":
            day -= timedelta(days=day.weekday())
        elif resolution == "MONTH":
            day = day.replace(day=1)
        elif resolution == "YEAR":
            day = day.replace(month=1, day=1)
        while (moment := _day_bounds(model.tz, day.toordinal())[0]) < end:
            if resolution == "DAY":
                following = day + timedelta(days=1)
            elif resolution == "WEEK":
                following = day + timedelta(days=7)
            elif resolution == "MONTH":
                following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
            else:
                following = date(day.year + 1, 1, 1)
            out.append((moment, _day_bounds(model.tz, following.toordinal())[0]))
            day = following
        return out

    def _power_value(
        self, model: _Model, start: datetime, end: datetime
    ) -> float | None:
        if end > self._cutoff() or start < self._install_start(model):
            return None
        if not self._awake(model, start, end):
            return None
        hours = (end - start).total_seconds() / 3600
        return self._series_exact(model, "pv", start, end) / hours

    # -- request plumbing -----------------------------------------------------

    def _headers(self, remaining: int) -> dict[str, str]:
        self._seq += 1
        return {
            "x-ratelimit-limit-minute": str(self.minute_limit),
            "x-ratelimit-remaining-minute": str(max(remaining, 0)),
            "via": "kong/3.7.1",
            "x-kong-request-id": _hex32(f"request-{self._seq}"),
            "x-kong-upstream-latency": "42",
            "x-kong-proxy-latency": "1",
            "cache-control": "no-cache, no-store, max-age=0, must-revalidate",
            "access-control-allow-origin": "*",
        }

    def _problem(
        self, status: int, detail: str, title: str | None = None
    ) -> web.Response:
        body = {
            "type": PROBLEM_TYPE,
            "title": title or _REASONS.get(status, "Error"),
            "status": status,
            "detail": detail,
            "traceId": _hex32(f"trace-{self._seq}-{len(self.calls)}"),
        }
        return web.json_response(body, status=status, content_type=PROBLEM_JSON)

    def _minute_remaining(self, now: datetime) -> int:
        # Entries "from the future" mean a test moved the clock back: drop them.
        self._window = deque(
            t for t in self._window if timedelta(0) <= now - t < _MINUTE
        )
        return self.minute_limit - len(self._window)

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        self.calls.append((request.method, request.path))
        return await self.site_access.authorize(request)

    async def _token(self, request: web.Request) -> web.StreamResponse:
        self.calls.append((request.method, request.path))
        if self.offline:
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable
        return await self.site_access.token(request)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.calls.append((request.method, path))
        self.queries.append(request.path_qs)
        if self.offline:
            # Simulate an unreachable cloud: drop the connection, send nothing.
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable
        now = datetime.now(UTC)
        remaining = self._minute_remaining(now)

        def finish(response: web.Response, left: int | None = None) -> web.Response:
            response.headers.update(self._headers(remaining if left is None else left))
            return response

        if not path.startswith("/v2/") and path != "/v2":
            if path.startswith(_V1_PREFIXES) or "api_key" in request.query:
                return finish(
                    self._problem(410, "Monitoring API V1 has been retired", "Gone")
                )
            return finish(self._problem(404, "Unknown endpoint"))

        key = request.headers.get("X-API-Key")
        authorization = request.headers.get("Authorization", "")
        token_site = (
            self.site_access.site_for(authorization[7:])
            if key is None and authorization.lower().startswith("bearer ")
            else None
        )
        if (
            key is None
            and authorization.lower().startswith("bearer ")
            and token_site is None
        ):
            # Kong's oauth2 plugin answers an unknown bearer token itself.
            response = web.json_response(
                {
                    "error": "invalid_token",
                    "error_description": "The access token is invalid or has expired",
                },
                status=401,
            )
            response.headers["WWW-Authenticate"] = (
                'Bearer realm="service" error="invalid_token" '
                'error_description="The access token is invalid or has expired"'
            )
            return finish(response)
        if token_site is None and (key != self.api_key or key.startswith("V1-")):
            detail = "Missing API key" if key is None else "Invalid API key"
            return finish(
                self._problem(401, detail, "Unauthorized - Authentication Failed")
            )

        if remaining <= 0:
            retry = 60 - (now - self._window[0]).total_seconds()
            response = web.json_response(
                {"message": "API rate limit exceeded"}, status=429
            )
            response.headers["retry-after"] = str(max(1, math.ceil(retry)))
            return finish(response, 0)
        if self.credits_used >= self.month_credits:
            # Monthly credits gone: remaining-minute stays > 0 and no retry-after.
            response = web.json_response(
                {"message": "API rate limit exceeded"}, status=429
            )
            return finish(response)

        self._window.append(now)
        self.credits_used += 1
        remaining -= 1

        for failure in self._failures:
            status, count, needle, fault = failure
            if count > 0 and needle in request.path_qs:
                failure[1] -= 1
                self._failures = [f for f in self._failures if f[1] > 0]
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.body is not None:
                    return finish(
                        web.Response(
                            status=status,
                            text=fault.body,
                            content_type=fault.content_type,
                        )
                    )
                if status == 429:
                    self._window.pop()
                    self.credits_used -= 1
                    response = web.json_response(
                        {"message": "API rate limit exceeded"}, status=429
                    )
                    if fault.retry_after is not None:
                        response.headers["retry-after"] = fault.retry_after
                    return finish(response, 0)
                return finish(self._problem(status, "Simulated failure"))

        for suffix, replacement in self.override.items():
            if path.rstrip("/").endswith(suffix):
                return finish(
                    web.Response(text=replacement, content_type="application/json")
                    if isinstance(replacement, str)
                    else web.json_response(replacement)
                )
        if request.method != "GET":
            return finish(self._problem(405, "Method not allowed"))
        parts = path[3:].rstrip("/").split("/")[1:]
        if token_site is not None:
            # A site-access token reaches its own site only, and no account list.
            if parts in (["sites"], ["alerts"]):
                return finish(
                    self._problem(
                        401,
                        "This operation requires an API key",
                        "Unauthorized - Authentication Failed",
                    )
                )
            if len(parts) >= 2 and parts[1] != str(token_site):
                return finish(self._problem(403, f"No access to site {parts[1]}"))
        try:
            body = self._route(parts, request, now)
        except _ApiError as err:
            return finish(self._problem(err.status, err.detail, err.title))
        if self.clock_skew:
            _skew(body, self.clock_skew)
        for suffix, transform in self.transform.items():
            if path.rstrip("/").endswith(suffix):
                body = transform(body)
        return finish(web.json_response(body))

    def _route(self, parts: list[str], request: web.Request, now: datetime) -> Any:
        if parts == ["sites"]:
            return self._sites(request)
        if parts == ["alerts"]:
            return self._alerts_for(None, request)
        if len(parts) < 2 or parts[0] != "sites":
            raise _ApiError(404, "Unknown endpoint")
        tail = parts[2:]
        handlers = {
            (): self._site_details,
            ("overview",): self._overview,
            ("energy",): self._energy,
            ("power",): self._power,
            ("devices",): self._devices,
            ("alerts",): lambda s, r, n: self._alerts_for(s, r),
            ("inverters", "telemetry"): self._inverter_telemetry,
            ("meters", "telemetry"): self._meter_telemetry,
            ("storage", "telemetry"): self._storage_telemetry,
            ("power-flow",): self._power_flow,
        }
        handler = handlers.get(tuple(tail))
        if handler is None:
            raise _ApiError(404, "Unknown endpoint")
        try:
            site_id = int(parts[1])
        except ValueError:
            raise _ApiError(400, f"Invalid site id: {parts[1]}") from None
        site = self.sites.get(site_id)
        if site is None:
            raise _ApiError(403, f"No access to site {site_id}")
        return handler(site, request, now)

    # -- parameter parsing -----------------------------------------------------

    @staticmethod
    def _parse_time(raw: str, tz: ZoneInfo, name: str) -> datetime:
        # Accepted: "...Z", an explicit offset, or no offset (= site local).
        # A "+" that was not URL-encoded arrives as a space and is rejected.
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            raise _ApiError(400, f"Invalid '{name}' date-time: {raw}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        return parsed.astimezone(UTC)

    def _period(
        self,
        request: web.Request,
        model: _Model,
        now: datetime,
        limits: dict[str, timedelta] | None = None,
        resolution: str = "",
    ) -> tuple[datetime, datetime, dict[str, str]]:
        """Parse from/to; default window is site-local midnight to now."""
        tz = ZoneInfo(model.tz)
        raw_from = request.query.get("from")
        raw_to = request.query.get("to")
        end = self._parse_time(raw_to, tz, "to") if raw_to else now
        start = (
            self._parse_time(raw_from, tz, "from")
            if raw_from
            else self._midnight(model, end)
        )
        if start >= end:
            raise _ApiError(400, "'from' must be before 'to'")
        explicit = raw_from is not None or raw_to is not None
        # The captured default window (midnight to 17:05 at QUARTER_HOUR) was not
        # rejected, so the documented limits apply to explicit windows only.
        limit = (limits or {}).get(resolution)
        if explicit and limit is not None and end - start > limit:
            raise _ApiError(
                400,
                f"Time range exceeds the maximum of {_limit_text(limit)} "
                f"for resolution {resolution}",
            )
        period = {
            "from": _iso(start, tz),
            "to": _iso(end, tz) if raw_to else _iso_ns(end, tz, self._seq * 7919),
        }
        return start, end, period

    @staticmethod
    def _resolution(
        request: web.Request, allowed: tuple[str, ...], default: str
    ) -> str:
        value = request.query.get("resolution", default)
        if value not in allowed:
            raise _ApiError(400, f"Invalid resolution: {value}")
        return value

    @staticmethod
    def _unit(request: web.Request, units: dict[str, float], default: str) -> str:
        value = request.query.get("unit", default)
        if value not in units:
            raise _ApiError(400, f"Invalid unit: {value}")
        return value

    # -- endpoints --------------------------------------------------------------

    def _site_json(self, site: SimSite, *, details: bool) -> dict[str, Any]:
        tz = ZoneInfo(site.timezone)
        installed = datetime.combine(site.installation_date, time(), tz)
        location = {
            "address": site.address,
            "city": site.city,
            "state": site.state,
            "zip": site.zip,
            "country": site.country,
            "timezone": site.timezone,
        }
        if not details:
            return {
                "siteId": site.site_id,
                "name": site.name,
                "peakPower": site.peak_power_kw,
                "installationDate": installed.isoformat(),
                "location": location,
                "activationStatus": site.activation_status,
                "note": site.note,
            }
        return {
            "siteId": site.site_id,
            "name": site.name,
            "accountId": site.account_id,
            "peakPower": site.peak_power_kw,
            "installationDate": installed.isoformat(),
            "lastUpdateTime": _iso(max(self._cutoff(), installed), tz),
            "location": location,
            "activationStatus": site.activation_status,
        }

    def _sites(self, request: web.Request) -> dict[str, Any]:
        try:
            page = int(request.query.get("page", "1"))
            size = int(request.query.get("sites-in-page", "100"))
        except ValueError:
            raise _ApiError(400, "Invalid paging parameters") from None
        if page < 1 or not 1 <= size <= 1000:
            raise _ApiError(400, "Invalid paging parameters")
        everything = list(self.sites.values())
        chosen = everything[(page - 1) * size : page * size]
        items = [self._site_json(s, details=False) for s in chosen]
        if "site" in self.malformed and items:
            items[0]["peakPower"] = "n/a"
        return {"sites": {"count": len(everything), "site": items}}

    def _site_details(self, site: SimSite, request: web.Request, now: datetime) -> Any:
        body = self._site_json(site, details=True)
        if "site" in self.malformed:
            del body["location"]["timezone"]
            body["lastUpdateTime"] = "not-a-date"
        return body

    def _overview(self, site: SimSite, request: web.Request, now: datetime) -> Any:
        model = self._model(site)
        explicit = "from" in request.query or "to" in request.query
        start, end, _ = self._period(request, model, now)
        lo = max(_floor_qh(start), self._install_start(model))
        hi = min(_ceil_qh(end), self._cutoff())

        def wh(series: str) -> int:
            return self._series_wh(model, series, lo, hi) if hi > lo else 0

        metered = site.meter_serial is not None
        production = {
            "total": wh("pv"),
            "toSelfConsumption": wh("self") if metered else None,
            "toStorage": wh("charge") if metered else None,
            "toGrid": wh("export") if metered else None,
        }
        consumption = {
            "total": wh("load") if metered else None,
            "fromPv": wh("self") if metered else None,
            "fromStorage": wh("discharge") if metered else None,
            "fromGrid": wh("import") if metered else None,
        }
        body: dict[str, Any] = {
            "siteId": site.site_id,
            "production": self._block("production", production),
            "consumption": self._block("consumption", consumption),
        }
        if explicit:
            pv_kwh = production["total"] / 1000
            body["performance"] = {
                "specificYield": round(pv_kwh / site.peak_power_kw, 3),
                "performanceRatio": round(
                    0.95 * _weather(self._local_ord(model, lo)), 3
                ),
            }
        if "overview" in self.malformed:
            body["production"]["total"] = "n/a"
            del body["consumption"]["unit"]
        return body

    def _block(self, name: str, values: dict[str, int | None]) -> dict[str, Any]:
        total = values["total"]
        unit = self.overview_units.get(name)
        if unit is None:
            unit = "KWH" if total is not None and total > 100000 else "WH"
        scale = _ENERGY_UNITS[unit]
        block: dict[str, Any] = {}
        for key, value in values.items():
            block[key] = None if value is None else round(value / scale, 3)
            if key == "total":
                block["unit"] = unit
        return block

    def _energy(self, site: SimSite, request: web.Request, now: datetime) -> Any:
        model = self._model(site)
        resolution = self._resolution(request, _RESOLUTIONS, "QUARTER_HOUR")
        # The API picks a unit per response; coarse sums come in KWH unless the
        # caller forces one with unit=.
        default_unit = "KWH" if resolution in ("MONTH", "YEAR", "TOTAL") else "WH"
        unit = self._unit(request, _ENERGY_UNITS, default_unit)
        start, end, period = self._period(request, model, now, _LIMITS, resolution)
        tz = ZoneInfo(model.tz)
        cutoff = self._cutoff()
        scale = _ENERGY_UNITS[unit]
        lo_bound = max(_floor_qh(start), self._install_start(model))
        hi_bound = min(_ceil_qh(end), cutoff)
        values = []
        for b_start, b_end in self._buckets(model, resolution, start, end):
            value: float | None
            if resolution in _FINE:
                if (
                    b_end > cutoff
                    or b_start < lo_bound
                    or not self._awake(model, b_start, b_end)
                ):
                    value = None
                else:
                    value = float(self._series_wh(model, "pv", b_start, b_end))
            else:
                lo, hi = max(b_start, lo_bound), min(b_end, hi_bound)
                value = float(self._series_wh(model, "pv", lo, hi)) if hi > lo else None
                if (
                    value is not None
                    and self.lifetime_zero
                    and resolution in ("YEAR", "TOTAL")
                ):
                    value = 0.0
            if value is not None and scale != 1.0:
                value = round(value / scale, 6)
            values.append({"timestamp": _iso(b_start, tz), "value": value})
        body = {
            "period": period,
            "unit": unit,
            "resolution": resolution,
            "values": values,
        }
        if "energy" in self.malformed:
            _garble_series(body)
        return body

    def _power(self, site: SimSite, request: web.Request, now: datetime) -> Any:
        model = self._model(site)
        resolution = self._resolution(request, _FINE, "QUARTER_HOUR")
        unit = self._unit(request, _POWER_UNITS, "W")
        start, end, period = self._period(request, model, now, _LIMITS, resolution)
        tz = ZoneInfo(model.tz)
        scale = _POWER_UNITS[unit]
        values = []
        for b_start, b_end in self._buckets(model, resolution, start, end):
            value = self._power_value(model, b_start, b_end)
            if value is not None:
                value = round(value / scale, 3 if scale == 1.0 else 6)
            values.append({"timestamp": _iso(b_start, tz), "value": value})
        body = {
            "period": period,
            "unit": unit,
            "resolution": resolution,
            "values": values,
        }
        if "power" in self.malformed:
            _garble_series(body)
        if self.power_override is not None:
            _override_last(body, self.power_override)
        return body

    def _devices(self, site: SimSite, request: web.Request, now: datetime) -> Any:
        wanted: set[str] = set()
        for raw in request.query.getall("types", []):
            for item in raw.split(","):
                if item.strip():
                    wanted.add(item.strip().upper())
        unknown = wanted - set(_DEVICE_TYPES)
        if unknown:
            raise _ApiError(400, f"Invalid device type: {sorted(unknown)[0]}")
        wanted = wanted or {"INVERTER"}
        tz = ZoneInfo(site.timezone)
        created = datetime.combine(
            site.installation_date, time(13, 20, 57), tz
        ).isoformat()
        main = site.inverters[0]
        items: list[dict[str, Any]] = []
        if "INVERTER" in wanted:
            part = f"SE{round(site.peak_power_kw * 1000 / len(site.inverters) / 100) * 100}H"
            items.extend(
                {
                    "type": "INVERTER",
                    "serialNumber": serial,
                    "manufacturer": "SolarEdge",
                    "partNumber": f"{part}-US000BNU4",
                    "createdAt": created,
                    "firmwareVersion": "4.25.13",
                    "connectedTo": None,
                    "active": True,
                    "nameplate": 0,
                    "name": f"Inverter {n}",
                    "form": None,
                    "communicationType": "ETHERNET",
                    "firmware": "4.25.13.1.100.2061.2.100.1751",
                    "connectedOptimizers": site.connected_optimizers,
                }
                for n, serial in enumerate(site.inverters, start=1)
            )
        if "METER" in wanted and site.meter_serial:
            items.append(
                {
                    "type": "METER",
                    "serialNumber": site.meter_serial,
                    "manufacturer": "SolarEdge",
                    "partNumber": "SE-MTR240-0-000-S2",
                    "createdAt": created,
                    "firmwareVersion": "1.0.28",
                    "connectedTo": main,
                    "active": True,
                    "nameplate": 0,
                    "name": "Meter 1",
                    "form": None,
                    "communicationType": None,
                    "firmware": "1.0.28",
                    "meterType": site.meter_type,
                }
            )
        if "BATTERY" in wanted and site.battery_serial:
            items.append(
                {
                    "type": "BATTERY",
                    "serialNumber": site.battery_serial,
                    "manufacturer": "SolarEdge",
                    "partNumber": "BAT-10K1PS0B-01",
                    "createdAt": created,
                    "firmwareVersion": "2.1.3",
                    "connectedTo": main,
                    "active": True,
                    "nameplate": 0,
                    "name": "Battery 1",
                    "form": None,
                    "communicationType": None,
                    "firmware": "2.1.3.0",
                }
            )
        if "devices" in self.malformed and items:
            del items[0]["serialNumber"]
            items[0]["type"] = "???"
        return items

    def _alerts_for(self, site: SimSite | None, request: web.Request) -> Any:
        only_open = request.query.get("only-open", "false").lower() == "true"
        try:
            size = int(request.query.get("alerts-in-page", "100"))
            page = int(request.query.get("page", "1"))
        except ValueError:
            raise _ApiError(400, "Invalid paging parameters") from None
        if page < 1 or not 1 <= size <= 100:
            raise _ApiError(400, "Invalid paging parameters")
        chosen = [
            dict(a)
            for a in self._alerts
            if (site is None or a["siteId"] == site.site_id)
            and (not only_open or a["status"] == "OPEN")
        ][(page - 1) * size : page * size]
        if "alerts" in self.malformed:
            return {"alerts": chosen}
        return chosen

    def _power_flow(self, site: SimSite, request: web.Request, now: datetime) -> Any:
        raise _ApiError(403, "Power flow requires an Advanced Monitoring plan")

    def _telemetry_setup(
        self,
        site: SimSite,
        request: web.Request,
        now: datetime,
        coarse: tuple[str, ...] = (),
    ) -> tuple[_Model, str, dict[str, str], list[tuple[datetime, datetime]], datetime]:
        model = self._model(site)
        resolution = self._resolution(
            request, ("QUARTER_HOUR", "HOUR", "DAY", *coarse), "QUARTER_HOUR"
        )
        start, end, period = self._period(
            request, model, now, _TELEMETRY_LIMITS, resolution
        )
        buckets = self._buckets(model, resolution, start, end)
        return model, resolution, period, buckets, self._cutoff()

    def _inverter_telemetry(
        self, site: SimSite, request: web.Request, now: datetime
    ) -> Any:
        model, resolution, _, buckets, cutoff = self._telemetry_setup(
            site, request, now
        )
        tz = ZoneInfo(model.tz)
        count = len(site.inverters)
        nominal_v, nominal_hz = (
            (240.0, 60.0) if site.timezone.startswith("America/") else (230.0, 50.0)
        )
        power, energy, volts, amps, hertz = [], [], [], [], []
        for b_start, b_end in buckets:
            ok = (
                b_end <= cutoff
                and b_start >= self._install_start(model)
                and (resolution == "DAY" or self._awake(model, b_start, b_end))
            )
            stamp, end_stamp = _iso(b_start, tz), _iso(b_end, tz)
            wh = (
                float(self._series_wh(model, "pv", b_start, b_end, count))
                if ok
                else None
            )
            energy.append({"timestamp": stamp, "value": wh})
            if resolution == "DAY":
                continue
            hours = (b_end - b_start).total_seconds() / 3600
            watts = (
                round(
                    self._series_exact(model, "pv", b_start, b_end) / count / hours, 3
                )
                if ok
                else None
            )
            phase = 2 * math.pi * b_end.timestamp() / 86400
            voltage = round(
                nominal_v + 2.0 * math.sin(phase) + 0.4 * math.sin(7 * phase), 1
            )
            frequency = round(nominal_hz + 0.02 * math.sin(3 * phase), 2)
            power.append({"timestamp": stamp, "value": watts})
            # Voltage, current and frequency are stamped at the bucket's end.
            volts.append({"timestamp": end_stamp, "value": voltage if ok else None})
            amps.append(
                {
                    "timestamp": end_stamp,
                    "value": round(watts / voltage, 2) if ok else None,
                }
            )
            hertz.append({"timestamp": end_stamp, "value": frequency if ok else None})
        metrics: dict[str, Any] = {
            "energy": {"unit": "WH", "resolution": resolution, "values": energy},
        }
        if resolution != "DAY":
            metrics = {
                "power": {"unit": "W", "resolution": resolution, "values": power},
                **metrics,
                "voltage": {"unit": "VOLT", "values": volts},
                "current": {"unit": "AMPERE", "values": amps},
                "frequency": {"unit": "HERTZ", "values": hertz},
            }
        devices = {serial: _copy_metrics(metrics) for serial in site.inverters}
        body = {"inverters": devices}
        if "telemetry" in self.malformed and devices:
            _garble_telemetry(devices)
        return body

    def _flow_series(
        self,
        model: _Model,
        buckets: list[tuple[datetime, datetime]],
        cutoff: datetime,
        series: str,
        *,
        power: bool,
    ) -> list[dict[str, Any]]:
        tz = ZoneInfo(model.tz)
        install = self._install_start(model)
        out = []
        for b_start, b_end in buckets:
            value: float | None = None
            if b_end <= cutoff and b_start >= install:
                if power:
                    hours = (b_end - b_start).total_seconds() / 3600
                    value = round(
                        self._series_exact(model, series, b_start, b_end) / hours, 3
                    )
                else:
                    value = float(self._series_wh(model, series, b_start, b_end))
            out.append({"timestamp": _iso(b_start, tz), "value": value})
        return out

    def _coarse_series(
        self,
        model: _Model,
        buckets: list[tuple[datetime, datetime]],
        cutoff: datetime,
        series: str,
    ) -> list[dict[str, Any]]:
        """Whole-Wh sums of long buckets, clipped to installation and upload lag."""
        tz = ZoneInfo(model.tz)
        lo_bound = self._install_start(model)
        out = []
        for b_start, b_end in buckets:
            lo, hi = max(b_start, lo_bound), min(b_end, cutoff)
            value = float(self._series_wh(model, series, lo, hi)) if hi > lo else None
            out.append({"timestamp": _iso(b_start, tz), "value": value})
        return out

    def _meter_telemetry(
        self, site: SimSite, request: web.Request, now: datetime
    ) -> Any:
        # UNCONFIRMED: meter energies at MONTH/YEAR (the notes leave YEAR windows
        # unlimited on every telemetry endpoint); powers appear only at fine
        # resolutions, as at DAY.
        model, resolution, period, buckets, cutoff = self._telemetry_setup(
            site, request, now, ("MONTH", "YEAR")
        )
        meters: dict[str, Any] = {}
        if site.meter_serial and resolution in ("MONTH", "YEAR"):
            meters[site.meter_serial] = {
                f"{flow}Energy": {
                    "unit": "WH",
                    "values": self._coarse_series(model, buckets, cutoff, flow),
                }
                for flow in ("import", "export")
            }
        elif site.meter_serial:
            metrics = {
                "importEnergy": {
                    "unit": "WH",
                    "values": self._flow_series(
                        model, buckets, cutoff, "import", power=False
                    ),
                },
                "exportEnergy": {
                    "unit": "WH",
                    "values": self._flow_series(
                        model, buckets, cutoff, "export", power=False
                    ),
                },
            }
            if resolution != "DAY":
                metrics["importPower"] = {
                    "unit": "W",
                    "values": self._flow_series(
                        model, buckets, cutoff, "import", power=True
                    ),
                }
                metrics["exportPower"] = {
                    "unit": "W",
                    "values": self._flow_series(
                        model, buckets, cutoff, "export", power=True
                    ),
                }
            if self.power_override is not None and resolution != "DAY":
                _override_last(metrics["importPower"], self.power_override)
            meters[site.meter_serial] = metrics
        if "telemetry" in self.malformed and meters:
            _garble_telemetry(meters)
        return {"period": period, "resolution": resolution, "meters": meters}

    def _storage_telemetry(
        self, site: SimSite, request: web.Request, now: datetime
    ) -> Any:
        model, resolution, period, buckets, cutoff = self._telemetry_setup(
            site, request, now
        )
        storage: dict[str, Any] = {}
        if site.battery_serial:
            metrics: dict[str, Any] = {}
            if resolution != "DAY":
                metrics["chargePower"] = {
                    "unit": "W",
                    "values": self._flow_series(
                        model, buckets, cutoff, "charge", power=True
                    ),
                }
                metrics["dischargePower"] = {
                    "unit": "W",
                    "values": self._flow_series(
                        model, buckets, cutoff, "discharge", power=True
                    ),
                }
            metrics["chargeEnergy"] = {
                "unit": "WH",
                "values": self._flow_series(
                    model, buckets, cutoff, "charge", power=False
                ),
            }
            metrics["dischargeEnergy"] = {
                "unit": "WH",
                "values": self._flow_series(
                    model, buckets, cutoff, "discharge", power=False
                ),
            }
            if resolution != "DAY":
                tz = ZoneInfo(model.tz)
                install = self._install_start(model)
                soe_values, remaining_values = [], []
                for b_start, b_end in buckets:
                    stored = None
                    if b_end <= cutoff and b_start >= install:
                        # The newest reading inside the bucket, stamped with its start.
                        day, step = self._day_at(
                            model, b_end - timedelta(seconds=_STEP_S)
                        )
                        stored = day.soe[step + 1]
                    stamp = _iso(b_start, tz)
                    soe_values.append(
                        {
                            "timestamp": stamp,
                            "value": None
                            if stored is None
                            else round(stored / model.battery_wh * 100, 1),
                        }
                    )
                    remaining_values.append(
                        {
                            "timestamp": stamp,
                            "value": None
                            if stored is None
                            else round(stored / 1000, 2),
                        }
                    )
                metrics["stateOfEnergy"] = {"unit": "PERCENTAGE", "values": soe_values}
                metrics["remainingEnergy"] = {"unit": "KWH", "values": remaining_values}
            storage[site.battery_serial] = metrics
        if "telemetry" in self.malformed and storage:
            _garble_telemetry(storage)
        return {"period": period, "resolution": resolution, "storage": storage}


def _limit_text(limit: timedelta) -> str:
    hours = int(limit.total_seconds() // 3600)
    return f"{hours} hours" if hours <= 24 else f"{hours // 24} days"


def _copy_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {**series, "values": [dict(v) for v in series["values"]]}
        for name, series in metrics.items()
    }


def _garble_series(body: dict[str, Any]) -> None:
    body.pop("unit", None)
    for item in reversed(body["values"]):
        if item["value"] is not None:
            item["value"] = "garbage"
            break


def _skew(body: Any, skew: timedelta) -> None:
    """Shift every series timestamp, as a vendor with a wrong clock would."""
    if isinstance(body, dict):
        for key, value in body.items():
            if key == "timestamp" and isinstance(value, str):
                body[key] = (datetime.fromisoformat(value) + skew).isoformat()
            else:
                _skew(value, skew)
    elif isinstance(body, list):
        for item in body:
            _skew(item, skew)


def _override_last(body: dict[str, Any], value: float) -> None:
    for item in reversed(body["values"]):
        if item["value"] is not None:
            item["value"] = value
            break


def _garble_telemetry(devices: dict[str, Any]) -> None:
    metrics = next(iter(devices.values()))
    first = next(iter(metrics.values()))
    del first["values"]
