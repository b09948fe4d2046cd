"""SolarEdge Monitoring API V2 ("SolarEdge ONE for developers").

Two ways in: Fleet access with an API key (`X-API-Key`), or homeowner "site
access" with an OAuth 2.0 bearer token bound to one site (HA's OAuth helper
owns the grant; a `TokenProvider` hands out valid tokens). A site-access token
cannot list `/sites`, so the site comes from the sign-in and is read with
`/sites/{id}`. A 401 with a token gets one fresh token and one retry.

Library choice: PyPI offers only `solaredge` <= 2.0.0, which speaks the retired
V1 API (HTTP 410 since 2026-11-03); no maintained async V2 client exists, so this
is a small hand-written aiohttp client.

Budget: the free tier has 2,000 credits a month (1 per call) and 10 calls a
minute; the monthly balance is not in any header, so it is counted locally.
A routine update costs 2 credits (overview + power), plus one with a battery
(storage telemetry) and one with a meter (meter telemetry: grid power, and the
house load where no consumption meter reports it): 4 for a battery + meter
site. Once per site-local day the site details, inventory, the YEAR energy
series and (with a meter) the YEAR meter energies are refreshed; alerts every
three hours. Those extras wait for a minute window with room (the first update
follows the config flow's calls) and catch up just after.

An inventory implies keys even before data comes (a site set up at night):
an inverter solar power, a meter grid and consumption power, a battery its
power and charge; they are reported as None (unknown) until values arrive.
Absurd values (`model.plausible`) become unknown and readings stamped in the
future are stamped now, with one log line per update.

A 429 with `retry-after` is the minute limit. Without it SolarEdge means "the
month's credits are gone", but a proxy or CDN answers the same; only when our
own count agrees is it the month, otherwise a short limit the coordinator
backs off from. A 403 on a required call means the credentials may not read
the site (`AuthFailedError`); on telemetry or alerts it is a diagnostics note.

Lifetime production: V2 has no lifetime field. It is derived as the sum of the
`/energy` YEAR buckets since installation (fetched once a day) minus today's
overview total at that moment, plus today's running overview total. The Energy
dashboard counter therefore rises with every overview and is re-based daily.
UNCONFIRMED: that the YEAR sum matches the portal's lifetime figure; the
alternative `resolution=TOTAL` is documented only in a migration guide.

A V1 key (32 upper-case letters/digits) refused by V2, or any 410, is reported
as a retired API so the user is told to create a V2 key.

UNCONFIRMED readings chosen here: alert `impact` is mapped to severity as 0-3
info, 4-6 warning, 7+ critical; battery charge/discharge today are the
overview's `production.toStorage` / `consumption.fromStorage` (PV-to-battery
and battery-to-load), the only daily storage totals in V2's basic tier.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
import hashlib
import logging
import re
from typing import Any, ClassVar, Final
from zoneinfo import ZoneInfo

import aiohttp

from ..model import (
    Alert,
    Device,
    DeviceKind,
    HistorySeries,
    Readings,
    Severity,
    Site,
    Snapshot,
    StatPoint,
    Value,
    as_float,
)
from .base import (
    AccountInfo,
    ApiRetiredError,
    AuthFailedError,
    BadPayloadError,
    PollCost,
    RateLimitedError,
    RequestBudget,
    RequestLimiter,
    TokenProvider,
)
from .http import HttpConnector, HttpResponse
from .parse import error_detail, iso_z, parse_iso, screen, site_device, zone

_LOGGER = logging.getLogger(__name__)

DEFAULT_URL: Final = "https://monitoringapi.solaredge.com/v2"

_POWER_SCALE: Final = {"W": 1.0, "KW": 1e3, "MW": 1e6}
_ENERGY_SCALE: Final = {"WH": 1.0, "KWH": 1e3, "MWH": 1e6, "GWH": 1e9}
_KINDS: Final = {
    "INVERTER": DeviceKind.INVERTER,
    "BATTERY": DeviceKind.BATTERY,
    "METER": DeviceKind.METER,
}
_ALERTS_EVERY: Final = timedelta(hours=3)
_QUARTER: Final = timedelta(minutes=15)
_MONTH_SLACK: Final = 0.02
"""Share of the month's credits our count may lag the vendor's (billed failures)."""
# V1 keys were 32 upper-case letters and digits; V2 refuses them with a 401.
# UNCONFIRMED that V2 keys never share this shape: only a refused key is judged.
_V1_KEY: Final = re.compile(r"[A-Z0-9]{32}")


def _scaled(
    block: Mapping[str, Any] | None, key: str, scales: Mapping[str, float]
) -> float | None:
    """Return a value of a block in W/Wh, honouring the block's own `unit`."""
    if not isinstance(block, Mapping):
        return None
    unit = str(block.get("unit") or "").upper()
    if (scale := scales.get(unit)) is None:
        return None
    return as_float(block.get(key), scale=scale)


def _last_point(
    series: object, scales: Mapping[str, float]
) -> tuple[float, datetime] | None:
    """Return the newest non-null value of a series and its bucket start."""
    if not isinstance(series, Mapping):
        return None
    unit = str(series.get("unit") or "").upper()
    values = series.get("values")
    if (scale := scales.get(unit)) is None or not isinstance(values, list):
        return None
    for point in reversed(values):
        if not isinstance(point, Mapping):
            continue
        value, stamp = (
            as_float(point.get("value"), scale=scale),
            parse_iso(point.get("timestamp")),
        )
        if value is not None and stamp is not None:
            return value, stamp
    return None


def _series_sum(series: object, scales: Mapping[str, float]) -> float | None:
    """Sum a series' non-null values in W/Wh; None when its shape is wrong."""
    if not isinstance(series, Mapping):
        return None
    unit = str(series.get("unit") or "").upper()
    values = series.get("values")
    if (scale := scales.get(unit)) is None or not isinstance(values, list):
        return None
    total = 0.0
    for point in values:
        value = as_float(point.get("value")) if isinstance(point, Mapping) else None
        total += (value or 0.0) * scale
    return total


class _Forbidden(Exception):
    """A 403 on an optional endpoint: a missing scope or tier; the caller notes it."""


class SolarEdgeConnector(HttpConnector):
    """One SolarEdge site reached with a V2 API key."""

    vendor: ClassVar[str] = "solaredge"
    budget: ClassVar[RequestBudget] = RequestBudget(
        per_minute=10, per_month=2000, concurrency=2, reserve=0.1
    )
    default_url: ClassVar[str | None] = DEFAULT_URL

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_key: str | None = None,
        token: TokenProvider | None = None,
        site_id: str | None = None,
        base_url: str | None = None,
        limiter: RequestLimiter | None = None,
    ) -> None:
        """Create a client for one API key or one site-access token."""
        super().__init__(session, base_url=base_url, limiter=limiter)
        if (api_key is None) == (token is None):
            raise ValueError("Give either an API key or a token provider")
        self._api_key = api_key or ""
        self._token = token
        self._access_token: str | None = None
        self.site_id = site_id
        self._site: Site | None = None
        self._install: date | None = None
        self._devices: dict[str, Device] = {}
        self._inventory_day: date | None = None
        self._lifetime_base: float | None = None
        self._lifetime_day: date | None = None
        self._grid_base: tuple[float, float] | None = None
        """Lifetime grid import and export (Wh) before today's overview totals."""
        self._grid_day: date | None = None
        self._alerts: tuple[Alert, ...] = ()
        self._alerts_at: datetime | None = None
        self._notes: dict[str, str] = {}
        self._postponed = False

    @classmethod
    def from_config(
        cls,
        session: aiohttp.ClientSession,
        data: Mapping[str, Any],
        limiter: RequestLimiter | None = None,
    ) -> SolarEdgeConnector:
        """Build from entry data: `api_key`, `site_id`, optional `url`."""
        site_id = data.get("site_id")
        return cls(
            session,
            api_key=str(data["api_key"]),
            site_id=str(site_id) if site_id is not None else None,
            base_url=data.get("url"),
            limiter=limiter,
        )

    @classmethod
    def from_oauth(
        cls,
        session: aiohttp.ClientSession,
        data: Mapping[str, Any],
        limiter: RequestLimiter | None,
        token: TokenProvider,
    ) -> SolarEdgeConnector:
        """Build a site-access client: `site_id`, optional `url`."""
        return cls(
            session,
            token=token,
            site_id=str(data["site_id"]),
            base_url=data.get("url"),
            limiter=limiter,
        )

    @classmethod
    def budget_key(cls, data: Mapping[str, Any]) -> str:
        """Credits belong to the application: its API key or its OAuth client."""
        owner = data.get("api_key") or data["auth_implementation"]
        digest = hashlib.sha256(str(owner).encode()).hexdigest()
        return f"{cls.vendor}_{digest[:16]}"

    def _has(self, kind: DeviceKind) -> bool:
        return any(d.kind is kind for d in self._devices.values())

    @property
    def cost(self) -> PollCost:
        """Overview and power every update, plus storage and meter telemetry.

        Daily: site details, inventory, the YEAR energy series (and with a meter
        the YEAR meter telemetry); alerts every three hours.
        """
        battery, meter = self._has(DeviceKind.BATTERY), self._has(DeviceKind.METER)
        return PollCost(
            per_poll=2 + int(battery) + int(meter),
            per_day=3 + int(meter) + int(timedelta(hours=12) / _ALERTS_EVERY),
            min_interval=timedelta(minutes=15),
            sun_aware=True,
            align=_QUARTER,
            catch_up=self._postponed,
        )

    # -- HTTP ------------------------------------------------------------------

    async def _auth_headers(
        self, *, rejected: bool = False
    ) -> Mapping[str, str] | None:
        """`X-API-Key`, or a bearer token (renewed once after a 401)."""
        if self._token is None:
            return None if rejected else {"X-API-Key": self._api_key}
        self._access_token = await self._token(
            rejected=self._access_token if rejected else None
        )
        return {"Authorization": f"Bearer {self._access_token}"}

    def _secrets(self) -> tuple[str, ...]:
        return (self._api_key, self._access_token or "")

    async def _get(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        optional: bool = False,
    ) -> Any:
        """GET one endpoint; map every failure to a typed error.

        A 403 on a required endpoint means the credentials may not read the
        site (`AuthFailedError`); on an optional one it is a missing scope or
        tier (`_Forbidden`, for the caller to note).
        """
        response = await self._request(
            "GET", path, params=params, headers={"Accept": "application/json"}
        )
        status = response.status
        if status == 429:
            self._rate_limited(response, path)
        if status == 401:
            if self._token is None and _V1_KEY.fullmatch(self._api_key):
                raise ApiRetiredError("A V1 API key was refused by the V2 API")
            raise AuthFailedError(
                _problem(response.text)
                or ("Token refused" if self._token else "API key refused")
            )
        if status == 403:
            detail = _problem(response.text) or "Forbidden"
            if optional:
                raise _Forbidden(detail)
            raise AuthFailedError(f"The credentials may not read this site: {detail}")
        self._raise_for_status(response, path)
        return response.json(path)

    def _rate_limited(self, response: HttpResponse, path: str) -> None:
        """A 429: the minute limit, unless our own count says the month is gone.

        SolarEdge documents a 429 without `retry-after` as "monthly credits
        exhausted", but a proxy or CDN answers the same; blocking until the end
        of the month on one such answer would take the entry out for weeks. So
        only our own count decides the month; otherwise it is a short limit and
        the coordinator backs off (growing, bounded) and probes.
        """
        left = self.limiter.month_left
        per_month = self.budget.per_month or 0
        if response.retry_after is None and left is not None:
            if left <= per_month * _MONTH_SLACK:
                self.limiter.month_used = max(self.limiter.month_used, per_month)
                raise RateLimitedError(
                    "SolarEdge monthly credits exhausted",
                    retry_after=None,
                    period="month",
                )
            self._log_once(
                "429",
                "SolarEdge answered 429 without retry-after while credits remain "
                "by our count: treating it as a short rate limit",
            )
        self._raise_for_status(response, path)

    async def async_identify(self) -> AccountInfo:
        """List the sites this key reaches (a token: its one site)."""
        if self._token is not None:
            if self.site_id is None:
                raise BadPayloadError("Site access needs the site id")
            site = self._parse_site(await self._get(f"/sites/{self.site_id}"))
            if site is None:
                raise BadPayloadError("Unexpected site details shape")
            return AccountInfo(unique_id=site.id, title=site.name, sites=(site,))
        payload = await self._get("/sites", {"sites-in-page": "1000"})
        try:
            items = payload["sites"]["site"]
        except (KeyError, TypeError) as err:
            raise BadPayloadError("Unexpected /sites shape") from err
        if not isinstance(items, list):
            raise BadPayloadError("Unexpected /sites shape")
        sites = tuple(
            site for item in items if (site := self._parse_site(item)) is not None
        )
        if not sites:
            raise BadPayloadError("The key reaches no site")
        first = sites[0]
        return AccountInfo(unique_id=first.id, title=first.name, sites=sites)

    @staticmethod
    def _parse_site(item: Any) -> Site | None:
        if not isinstance(item, Mapping) or item.get("siteId") is None:
            return None
        location = item.get("location")
        timezone = location.get("timezone") if isinstance(location, Mapping) else None
        peak = as_float(item.get("peakPower"), scale=1000)
        return Site(
            id=str(item["siteId"]),
            name=str(item.get("name") or item["siteId"]),
            timezone=timezone if isinstance(timezone, str) and timezone else None,
            peak_power_w=peak if peak is not None and peak > 0 else None,
        )

    def _zone(self) -> ZoneInfo:
        return zone(self._site.timezone if self._site else None)

    async def async_fetch(self) -> Snapshot:
        """Fetch the selected site: cheap data every update, the rest daily."""
        if self.site_id is None:
            raise BadPayloadError("No site selected")
        base = f"/sites/{self.site_id}"
        now = datetime.now(UTC)
        self._postponed = False
        today = now.astimezone(self._zone()).date()
        if self._site is None or self._inventory_day != today:
            await self._refresh_inventory(base)
            self._inventory_day = today = now.astimezone(self._zone()).date()
        values = self._site_values(await self._get(f"{base}/overview"))
        power = await self._get(
            f"{base}/power", {"resolution": "QUARTER_HOUR", "unit": "W"}
        )
        point = _last_point(power, _POWER_SCALE)
        if self._has(DeviceKind.INVERTER) or point is not None:
            # An inverter implies solar power: unknown (not absent) at night.
            values["production_power"] = point[0] if point else None
        stamps = [point[1]] if point else []
        readings: dict[str, Readings] = {}
        battery_points: list[tuple[float, datetime]] = []
        for device in self._devices.values():
            if device.kind is DeviceKind.BATTERY:
                readings[device.id], flow = await self._battery(base, device, now)
                if flow is not None:
                    battery_points.append(flow)
                else:
                    battery_points.clear()
                    break
        if self._has(DeviceKind.METER):
            stamps += await self._meter(base, now, values, point, battery_points)
        # Daily extras last, and only while the minute window has room: the
        # first update follows the config flow's calls within the same minute.
        if self._lifetime_day != today and self._spare():
            await self._rebase_lifetime(
                base, values.get("production_energy_today"), today
            )
        today_wh = values.get("production_energy_today")
        if self._lifetime_base is not None and isinstance(today_wh, float):
            values["production_energy_lifetime"] = self._lifetime_base + today_wh
        if self._has(DeviceKind.METER):
            await self._grid_lifetime(base, today, values)
        as_of = max(stamps) + _QUARTER if stamps else None
        readings[self.site_id] = Readings(values=values, as_of=as_of)
        self._screen(readings, now)
        if (
            self._alerts_at is None or now - self._alerts_at >= _ALERTS_EVERY
        ) and self._spare():
            self._alerts = await self._fetch_alerts(base)
            self._alerts_at = now
        site = self._site
        if site is None:  # pragma: no cover - set by the inventory refresh above
            raise BadPayloadError("Site details missing")
        return Snapshot(
            sites={site.id: site},
            devices={
                site.id: site_device(site, "SolarEdge", "Monitoring site"),
                **self._devices,
            },
            readings=readings,
            alerts=self._alerts,
            notes=dict(self._notes),
            fetched_at=now,
        )

    def _spare(self) -> bool:
        """Whether an optional call fits this minute; else catch up after it."""
        left = self.limiter.minute_left()
        if left is None or left >= 1:
            return True
        self._postponed = True
        return False

    def _screen(self, readings: dict[str, Readings], now: datetime) -> None:
        """Absurd values become unknown, future stamps now; one line per update."""
        peak = self._site.peak_power_w if self._site else None
        if faults := screen(readings, now, peak):
            _LOGGER.warning(
                "SolarEdge site %s sent implausible data, taken as unknown: %s",
                self.site_id,
                "; ".join(faults),
            )

    async def _refresh_inventory(self, base: str) -> None:
        details = await self._get(base)
        site = self._parse_site(details)
        if site is None:
            raise BadPayloadError("Unexpected site details shape")
        self._site = site
        if isinstance(details, Mapping) and (
            installed := parse_iso(details.get("installationDate"))
        ):
            self._install = installed.date()
        items = await self._get(f"{base}/devices", {"types": "INVERTER,BATTERY,METER"})
        if not isinstance(items, list):
            raise BadPayloadError("Unexpected /devices shape")
        items = [i for i in items if isinstance(i, Mapping) and i.get("serialNumber")]
        serials = {str(item["serialNumber"]) for item in items}
        devices: dict[str, Device] = {}
        for item in items:
            kind = _KINDS.get(str(item.get("type")), DeviceKind.OTHER)
            serial = str(item["serialNumber"])
            parent = item.get("connectedTo")
            devices[serial] = Device(
                id=serial,
                kind=kind,
                name=str(item.get("name") or f"{kind.value.title()} {serial}"),
                site_id=site.id,
                manufacturer=str(item.get("manufacturer") or "SolarEdge"),
                model=_text(item.get("model")) or _text(item.get("partNumber")),
                serial=serial,
                firmware=_text(item.get("firmwareVersion"))
                or _text(item.get("firmware")),
                parent=str(parent) if parent and str(parent) in serials else None,
            )
        self._devices = devices

    def _site_values(self, overview: Any) -> dict[str, Value]:
        if not isinstance(overview, Mapping):
            raise BadPayloadError("Unexpected overview shape")
        production, consumption = (
            overview.get("production"),
            overview.get("consumption"),
        )
        values: dict[str, Value] = {
            "production_energy_today": _scaled(production, "total", _ENERGY_SCALE),
            "consumption_energy_today": _scaled(consumption, "total", _ENERGY_SCALE),
            "self_consumption_energy_today": _scaled(
                production, "toSelfConsumption", _ENERGY_SCALE
            ),
            "grid_export_energy_today": _scaled(production, "toGrid", _ENERGY_SCALE),
            "grid_import_energy_today": _scaled(consumption, "fromGrid", _ENERGY_SCALE),
            "battery_charge_energy_today": _scaled(
                production, "toStorage", _ENERGY_SCALE
            ),
            "battery_discharge_energy_today": _scaled(
                consumption, "fromStorage", _ENERGY_SCALE
            ),
        }
        if values["production_energy_today"] is None:
            self._log_once(
                "overview", "SolarEdge overview has no usable production total"
            )
        values = {k: v for k, v in values.items() if v is not None}
        if self._site and self._site.peak_power_w is not None:
            values["peak_power"] = self._site.peak_power_w
        return values

    async def _rebase_lifetime(self, base: str, today: Value, day: date) -> None:
        series = await self._get(
            f"{base}/energy",
            {
                "resolution": "YEAR",
                "unit": "WH",
                "from": self._install_from(day),
                "to": iso_z(datetime.now(UTC)),
            },
        )
        total = _series_sum(series, _ENERGY_SCALE)
        if total is None:
            self._log_once(
                "energy", "SolarEdge YEAR energy series has an unexpected shape"
            )
            return
        if total <= 0:
            self._log_once(
                "energy", "SolarEdge YEAR energy series sums to zero; lifetime unknown"
            )
            return
        self._lifetime_base = total - (today if isinstance(today, float) else 0.0)
        self._lifetime_day = day

    history_requests_per_day: ClassVar[int] = 1

    @property
    def history_first_day(self) -> date | None:
        """The site's installation day: nothing was produced before it."""
        return self._install

    async def async_history(self, day: date) -> tuple[HistorySeries, ...]:
        """One site-local day of hourly production (one credit: 24 h at HOUR)."""
        if self.site_id is None:
            return ()
        zone = self._zone()
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        payload = await self._get(
            f"/sites/{self.site_id}/energy",
            {
                "resolution": "HOUR",
                "unit": "WH",
                "from": iso_z(start),
                "to": iso_z(start + timedelta(hours=24) - timedelta(seconds=1)),
            },
        )
        unit = (
            str(payload.get("unit") or "").upper()
            if isinstance(payload, Mapping)
            else ""
        )
        values = payload.get("values") if isinstance(payload, Mapping) else None
        if unit not in _ENERGY_SCALE or not isinstance(values, list):
            raise BadPayloadError(
                "SolarEdge HOUR energy series has an unexpected shape"
            )
        points: list[StatPoint] = []
        for item in values:
            if not isinstance(item, Mapping):
                continue
            when = parse_iso(item.get("timestamp"))
            value = as_float(item.get("value"))
            # The open (current) bucket is null: only complete hours are history.
            if when is not None and value is not None and value >= 0:
                points.append(
                    StatPoint(
                        start=when.astimezone(UTC), value=value * _ENERGY_SCALE[unit]
                    )
                )
        return (
            HistorySeries(
                device_id=str(self.site_id),
                key="production_energy_lifetime",
                points=tuple(points),
            ),
        )

    def _install_from(self, day: date) -> str:
        start = self._install.year if self._install else day.year - 30
        return iso_z(datetime(start, 1, 1, tzinfo=self._zone()))

    async def _battery(
        self, base: str, device: Device, now: datetime
    ) -> tuple[Readings, tuple[float, datetime] | None]:
        """The battery's readings, and its power point for the site balance."""
        # A battery implies power and charge: unknown (not absent) until data comes.
        values: dict[str, Value] = {
            "battery_power": None,
            "battery_state_of_charge": None,
        }
        try:
            payload = await self._get(
                f"{base}/storage/telemetry",
                {
                    "from": iso_z(now - timedelta(hours=1)),
                    "to": iso_z(now),
                    "resolution": "QUARTER_HOUR",
                },
                optional=True,
            )
        except _Forbidden:
            self._notes["storage_telemetry"] = "403: the key lacks DEVICE_DATA access"
            return Readings(values=values, as_of=None), None
        except BadPayloadError as err:
            self._log_once("storage", f"SolarEdge storage telemetry unreadable: {err}")
            return Readings(values=values, as_of=None), None
        series = _telemetry_for(payload, "storage", device.id)
        stamps: list[datetime] = []
        soc = _last_point(
            series.get("stateOfEnergy"), {"PERCENTAGE": 1.0, "PERCENTAGE_100": 1.0}
        )
        charge = _last_point(series.get("chargePower"), _POWER_SCALE)
        discharge = _last_point(series.get("dischargePower"), _POWER_SCALE)
        remaining = _last_point(series.get("remainingEnergy"), _ENERGY_SCALE)
        flow: tuple[float, datetime] | None = None
        if soc:
            values["battery_state_of_charge"] = soc[0]
            stamps.append(soc[1])
        if charge and discharge and charge[1] == discharge[1]:
            flow = (discharge[0] - charge[0], charge[1])
            values["battery_power"] = flow[0]
            stamps.append(charge[1])
        if remaining:
            values["battery_remaining_energy"] = remaining[0]
        if not stamps:
            self._log_once(
                "storage", "SolarEdge storage telemetry carried no usable values"
            )
        return Readings(
            values=values, as_of=max(stamps) + _QUARTER if stamps else None
        ), flow

    async def _meter(
        self,
        base: str,
        now: datetime,
        values: dict[str, Value],
        production: tuple[float, datetime] | None,
        battery: list[tuple[float, datetime]],
    ) -> list[datetime]:
        """Grid and consumption power from the meters.

        Import and export are separate positive series (notes §1.5.6); grid
        power is import minus export. Without a consumption meter the house
        load is the balance of one quarter-hour: production + import - export +
        battery discharge - charge (UNCONFIRMED that `/power` is PV only, as the
        notes document it).
        """
        values.setdefault("grid_power", None)
        values.setdefault("consumption_power", None)
        try:
            payload = await self._get(
                f"{base}/meters/telemetry",
                {
                    "from": iso_z(now - timedelta(hours=1)),
                    "to": iso_z(now),
                    "resolution": "QUARTER_HOUR",
                },
                optional=True,
            )
        except _Forbidden:
            self._notes["meter_telemetry"] = "403: the key lacks DEVICE_DATA access"
            return []
        except BadPayloadError as err:
            self._log_once("meter", f"SolarEdge meter telemetry unreadable: {err}")
            return []
        meters = _meter_series(payload)
        points = {
            name: _newest_sum(meters, name)
            for name in ("importPower", "exportPower", "consumptionPower")
        }
        imported, exported = points["importPower"], points["exportPower"]
        stamps: list[datetime] = []
        if imported and exported and imported[1] == exported[1]:
            at = imported[1]
            values["grid_power"] = imported[0] - exported[0]
            stamps.append(at)
            if points["consumptionPower"]:
                values["consumption_power"] = points["consumptionPower"][0]
            elif (
                production is not None
                and production[1] == at
                and all(flow[1] == at for flow in battery)
                and (battery or not self._has(DeviceKind.BATTERY))
            ):
                values["consumption_power"] = (
                    production[0]
                    + imported[0]
                    - exported[0]
                    + sum(flow[0] for flow in battery)
                )
        elif meters:
            self._log_once("meter", "SolarEdge meter telemetry has no grid power yet")
        return stamps

    async def _grid_lifetime(
        self, base: str, today: date, values: dict[str, Value]
    ) -> None:
        """Lifetime import/export: YEAR meter energies re-based once a day.

        Like production, the base is the sum of YEAR buckets since installation
        minus today's overview totals; between re-bases the counters follow
        the overview. UNCONFIRMED that meter telemetry accepts `YEAR` (the notes
        say the window limits of all telemetry endpoints leave YEAR unlimited);
        a refusal is noted and lifetime import/export stay absent.
        """
        imported = values.get("grid_import_energy_today")
        exported = values.get("grid_export_energy_today")
        if not isinstance(imported, float) or not isinstance(exported, float):
            return
        if self._grid_day != today and self._spare():
            self._grid_day = today  # one try a day, even when refused
            try:
                payload = await self._get(
                    f"{base}/meters/telemetry",
                    {
                        "resolution": "YEAR",
                        "from": self._install_from(today),
                        "to": iso_z(datetime.now(UTC)),
                    },
                    optional=True,
                )
            except _Forbidden, BadPayloadError:
                self._notes["meter_lifetime"] = "YEAR meter telemetry refused"
                self._log_once("meter_lifetime", "SolarEdge refused YEAR meter data")
                payload = None
            meters = _meter_series(payload)
            sums = [
                sum(
                    total
                    for series in meters
                    if (total := _series_sum(series.get(name), _ENERGY_SCALE))
                    is not None
                )
                for name in ("importEnergy", "exportEnergy")
            ]
            if meters and sums[0] + sums[1] > 0:
                self._grid_base = (sums[0] - imported, sums[1] - exported)
                self._notes.pop("meter_lifetime", None)
        if self._grid_base is not None:
            values["grid_import_energy_lifetime"] = self._grid_base[0] + imported
            values["grid_export_energy_lifetime"] = self._grid_base[1] + exported

    async def _fetch_alerts(self, base: str) -> tuple[Alert, ...]:
        try:
            items = await self._get(
                f"{base}/alerts", {"only-open": "true"}, optional=True
            )
        except _Forbidden, BadPayloadError:
            self._log_once("alerts", "SolarEdge alerts could not be read")
            return self._alerts
        if not isinstance(items, list):
            self._log_once("alerts", "SolarEdge alerts have an unexpected shape")
            return self._alerts
        alerts: list[Alert] = []
        for item in items:
            if (
                not isinstance(item, Mapping)
                or str(item.get("status", "OPEN")).upper() != "OPEN"
            ):
                continue
            component = item.get("component")
            if not isinstance(component, Mapping):
                component = {}
            serial = str(component.get("serialNumber") or "")
            impact = as_float(item.get("impact")) or 0
            codes = item.get("errorCodes")
            codes = codes if isinstance(codes, list) else []
            alerts.append(
                Alert(
                    id=str(item.get("alertId")),
                    device_id=serial if serial in self._devices else str(self.site_id),
                    severity=Severity.CRITICAL
                    if impact >= 7
                    else Severity.WARNING
                    if impact >= 4
                    else Severity.INFO,
                    code=str(item.get("type") or (codes[0] if codes else "")),
                    message=" ".join(
                        str(part)
                        for part in (
                            item.get("category"),
                            item.get("type"),
                            component.get("name"),
                        )
                        if part
                    ),
                    started=parse_iso(item.get("firstTrigger")),
                )
            )
        return tuple(alerts)

    def diagnostics(self) -> dict[str, Any]:
        """Return budget counters and why features are absent."""
        return {
            **super().diagnostics(),
            "lifetime_base_wh": self._lifetime_base,
            "grid_lifetime_base_wh": self._grid_base,
            "notes": dict(self._notes),
        }


def _text(raw: object) -> str | None:
    return str(raw) if isinstance(raw, str | int) and str(raw) else None


def _problem(body: str) -> str:
    return error_detail(body, "detail", "title", "message")


def _telemetry_for(payload: Any, envelope: str, serial: str) -> Mapping[str, Any]:
    """Find one device's metric series in a telemetry envelope.

    The storage envelope key is not captured (`storage` in the documented
    metric list; UNCONFIRMED), so any top-level mapping keyed by serial is used.
    """
    if not isinstance(payload, Mapping):
        return {}
    for value in (payload.get(envelope), *payload.values()):
        if isinstance(value, Mapping) and isinstance(value.get(serial), Mapping):
            found: Mapping[str, Any] = value[serial]
            return found
    return {}


def _meter_series(payload: Any) -> list[Mapping[str, Any]]:
    """Each meter's metric series from a `meters` telemetry envelope."""
    meters = payload.get("meters") if isinstance(payload, Mapping) else None
    if not isinstance(meters, Mapping):
        return []
    return [m for m in meters.values() if isinstance(m, Mapping)]


def _newest_sum(
    meters: list[Mapping[str, Any]], name: str
) -> tuple[float, datetime] | None:
    """The newest point of a metric summed over the meters that carry it."""
    points = [p for m in meters if (p := _last_point(m.get(name), _POWER_SCALE))]
    if not points:
        return None
    at = min(p[1] for p in points)
    if any(p[1] != at for p in points):
        return None  # meters disagree on the newest bucket: wait for the next
    return sum(p[0] for p in points), at
