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
A routine update costs 2 credits (overview + power), 3 with a battery (storage
telemetry). Once per site-local day the site details, inventory and the YEAR
energy series are refreshed; alerts every three hours.

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

import asyncio
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
import hashlib
import json
import re
from typing import Any, ClassVar, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
    ConnectionFailedError,
    Connector,
    PollCost,
    RateLimitedError,
    RequestBudget,
    RequestLimiter,
    TokenProvider,
)

DEFAULT_URL: Final = "https://monitoringapi.solaredge.com/v2"
REQUEST_TIMEOUT: Final = 30

_POWER_SCALE: Final = {"W": 1.0, "KW": 1e3, "MW": 1e6}
_ENERGY_SCALE: Final = {"WH": 1.0, "KWH": 1e3, "MWH": 1e6, "GWH": 1e9}
_KINDS: Final = {
    "INVERTER": DeviceKind.INVERTER,
    "BATTERY": DeviceKind.BATTERY,
    "METER": DeviceKind.METER,
}
_ALERTS_EVERY: Final = timedelta(hours=3)
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


def _parse_time(raw: object) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None


def _last_point(
    series: Mapping[str, Any] | None, scales: Mapping[str, float]
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
            _parse_time(point.get("timestamp")),
        )
        if value is not None and stamp is not None:
            return value, stamp
    return None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SolarEdgeConnector(Connector):
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
        self.site_id = site_id
        self._site: Site | None = None
        self._install: date | None = None
        self._devices: dict[str, Device] = {}
        self._inventory_day: date | None = None
        self._lifetime_base: float | None = None
        self._lifetime_day: date | None = None
        self._alerts: tuple[Alert, ...] = ()
        self._alerts_at: datetime | None = None
        self._notes: dict[str, str] = {}

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

    @property
    def cost(self) -> PollCost:
        """Two credits an update, three with a battery; four daily extras."""
        battery = any(d.kind is DeviceKind.BATTERY for d in self._devices.values())
        return PollCost(
            per_poll=3 if battery else 2,
            per_day=3 + int(timedelta(hours=12) / _ALERTS_EVERY),
            min_interval=timedelta(minutes=15),
            sun_aware=True,
            align=timedelta(minutes=15),
        )

    async def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """GET one endpoint through the budget; map every failure to a typed error."""
        token = await self._token() if self._token else None
        status, body, headers = await self._request(path, params, token)
        if status == 401 and token is not None and self._token is not None:
            # Expired early or revoked: one fresh token, one retry.
            token = await self._token(rejected=token)
            status, body, headers = await self._request(path, params, token)
        if status == 429:
            retry = as_float(headers.get("retry-after"))
            if retry is None:  # no retry-after: the month's credits are gone
                self.limiter.month_used = max(
                    self.limiter.month_used, self.budget.per_month or 0
                )
                raise RateLimitedError(
                    "SolarEdge monthly credits exhausted",
                    retry_after=None,
                    period="month",
                )
            self.limiter.block(retry, "minute")
            raise RateLimitedError(
                "SolarEdge per-minute limit", retry_after=retry, period="minute"
            )
        if status == 410:
            raise ApiRetiredError("SolarEdge answered 410 Gone")
        if status == 401:
            if token is None and _V1_KEY.fullmatch(self._api_key):
                raise ApiRetiredError("A V1 API key was refused by the V2 API")
            raise AuthFailedError(
                _problem(body) or ("Token refused" if token else "API key refused")
            )
        if status == 403:
            raise _Forbidden(_problem(body) or "Forbidden")
        if status >= 500:
            raise ConnectionFailedError(f"SolarEdge server error {status}")
        if status >= 400:
            raise BadPayloadError(
                f"SolarEdge refused {path}: {status} {_problem(body)}"
            )
        try:
            return json.loads(body)
        except ValueError as err:
            raise BadPayloadError(f"SolarEdge sent non-JSON for {path}") from err

    async def _request(
        self, path: str, params: Mapping[str, str] | None, token: str | None
    ) -> tuple[int, str, Mapping[str, str]]:
        if self._session is None:  # pragma: no cover - HA always injects one
            raise ConnectionFailedError("No HTTP session")
        auth = (
            {"Authorization": f"Bearer {token}"}
            if token is not None
            else {"X-API-Key": self._api_key}
        )
        async with self.limiter.slot():
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    response = await self._session.get(
                        f"{self.base_url}{path}",
                        params=params,
                        headers={**auth, "Accept": "application/json"},
                    )
                    async with response:
                        return response.status, await response.text(), response.headers
            except (TimeoutError, aiohttp.ClientError) as err:
                raise ConnectionFailedError(f"SolarEdge unreachable: {err!r}") from err

    async def async_identify(self) -> AccountInfo:
        """List the sites this key reaches (a token: its one site)."""
        if self._token is not None:
            if self.site_id is None:
                raise BadPayloadError("Site access needs the site id")
            try:
                details = await self._get(f"/sites/{self.site_id}")
            except _Forbidden as err:
                raise AuthFailedError(f"No access to site: {err}") from err
            site = self._parse_site(details)
            if site is None:
                raise BadPayloadError("Unexpected site details shape")
            return AccountInfo(unique_id=site.id, title=site.name, sites=(site,))
        payload = await self._get("/sites", {"sites-in-page": "1000"})
        try:
            items = payload["sites"]["site"]
        except (KeyError, TypeError) as err:
            raise BadPayloadError("Unexpected /sites shape") from err
        sites = tuple(
            site for item in items if (site := self._parse_site(item)) is not None
        )
        if not sites:
            raise BadPayloadError("The key reaches no site")
        first = sites[0]
        return AccountInfo(unique_id=first.id, title=first.name, sites=sites)

    def _parse_site(self, item: Any) -> Site | None:
        if not isinstance(item, Mapping) or item.get("siteId") is None:
            return None
        location = (
            item.get("location") if isinstance(item.get("location"), Mapping) else {}
        )
        peak = as_float(item.get("peakPower"), scale=1000)
        return Site(
            id=str(item["siteId"]),
            name=str(item.get("name") or item["siteId"]),
            timezone=location.get("timezone")
            if isinstance(location, Mapping)
            else None,
            peak_power_w=peak,
        )

    def _zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(
                self._site.timezone if self._site and self._site.timezone else "UTC"
            )
        except ZoneInfoNotFoundError:
            return ZoneInfo("UTC")

    async def async_fetch(self) -> Snapshot:
        """Fetch the selected site: cheap data every update, the rest daily."""
        if self.site_id is None:
            raise BadPayloadError("No site selected")
        base = f"/sites/{self.site_id}"
        now = datetime.now(UTC)
        today = now.astimezone(self._zone()).date()
        try:
            if self._site is None or self._inventory_day != today:
                await self._refresh_inventory(base)
                self._inventory_day = now.astimezone(self._zone()).date()
                today = self._inventory_day
            overview = await self._get(f"{base}/overview")
            power = await self._get(
                f"{base}/power", {"resolution": "QUARTER_HOUR", "unit": "W"}
            )
            values = self._site_values(overview, power)
            if self._lifetime_day != today:
                await self._rebase_lifetime(
                    base, values.get("production_energy_today"), today
                )
            readings = {self.site_id: self._site_readings(values, power, overview)}
            for device in self._devices.values():
                if device.kind is DeviceKind.BATTERY:
                    readings[device.id] = await self._battery(base, device, now)
            if self._alerts_at is None or now - self._alerts_at >= _ALERTS_EVERY:
                self._alerts = await self._fetch_alerts(base)
                self._alerts_at = now
        except _Forbidden as err:
            raise AuthFailedError(f"No access to site: {err}") from err
        site = self._site
        if site is None:  # pragma: no cover - set by the inventory refresh above
            raise BadPayloadError("Site details missing")
        return Snapshot(
            sites={site.id: site},
            devices={site.id: _site_device(site), **self._devices},
            readings=readings,
            alerts=self._alerts,
            notes=dict(self._notes),
            fetched_at=now,
        )

    async def _refresh_inventory(self, base: str) -> None:
        details = await self._get(base)
        site = self._parse_site(details)
        if site is None:
            raise BadPayloadError("Unexpected site details shape")
        self._site = site
        if isinstance(details, Mapping) and (
            installed := _parse_time(details.get("installationDate"))
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
                model=item.get("model") or item.get("partNumber"),
                serial=serial,
                firmware=item.get("firmwareVersion") or item.get("firmware"),
                parent=str(parent) if parent and str(parent) in serials else None,
            )
        self._devices = devices

    def _site_values(self, overview: Any, power: Any) -> dict[str, Value]:
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
        point = _last_point(power if isinstance(power, Mapping) else None, _POWER_SCALE)
        values["production_power"] = point[0] if point else None
        if self._site and self._site.peak_power_w is not None:
            values["peak_power"] = self._site.peak_power_w
        return values

    def _site_readings(
        self, values: dict[str, Value], power: Any, overview: Any
    ) -> Readings:
        today = values.get("production_energy_today")
        if self._lifetime_base is not None and isinstance(today, float):
            values["production_energy_lifetime"] = self._lifetime_base + today
        point = _last_point(power if isinstance(power, Mapping) else None, _POWER_SCALE)
        # A quarter-hour bucket is labelled by its start; it was measured until its end.
        as_of = point[1] + timedelta(minutes=15) if point else None
        return Readings(
            values={k: v for k, v in values.items() if v is not None}, as_of=as_of
        )

    async def _rebase_lifetime(self, base: str, today: Value, day: date) -> None:
        start = date(self._install.year if self._install else day.year - 30, 1, 1)
        zone = self._zone()
        series = await self._get(
            f"{base}/energy",
            {
                "resolution": "YEAR",
                "unit": "WH",
                "from": _iso(datetime(start.year, 1, 1, tzinfo=zone)),
                "to": _iso(datetime.now(UTC)),
            },
        )
        total = 0.0
        unit = (
            str(series.get("unit") or "").upper() if isinstance(series, Mapping) else ""
        )
        points = series.get("values") if isinstance(series, Mapping) else None
        if unit not in _ENERGY_SCALE or not isinstance(points, list):
            self._log_once(
                "energy", "SolarEdge YEAR energy series has an unexpected shape"
            )
            return
        for point in points:
            value = as_float(point.get("value") if isinstance(point, Mapping) else None)
            total += (value or 0.0) * _ENERGY_SCALE[unit]
        if total <= 0:
            self._log_once(
                "energy", "SolarEdge YEAR energy series sums to zero; lifetime unknown"
            )
            return
        self._lifetime_base = total - (today if isinstance(today, float) else 0.0)
        self._lifetime_day = day

    history_requests_per_day: ClassVar[int] = 1

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
                "from": _iso(start),
                "to": _iso(start + timedelta(hours=24) - timedelta(seconds=1)),
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
            when = _parse_time(item.get("timestamp"))
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

    async def _battery(self, base: str, device: Device, now: datetime) -> Readings:
        try:
            payload = await self._get(
                f"{base}/storage/telemetry",
                {
                    "from": _iso(now - timedelta(hours=1)),
                    "to": _iso(now),
                    "resolution": "QUARTER_HOUR",
                },
            )
        except _Forbidden:
            self._notes["storage_telemetry"] = "403: the key lacks DEVICE_DATA access"
            return Readings(values={}, as_of=None)
        series = _telemetry_for(payload, device.id)
        values: dict[str, Value] = {}
        stamps: list[datetime] = []
        soc = _last_point(
            series.get("stateOfEnergy"), {"PERCENTAGE": 1.0, "PERCENTAGE_100": 1.0}
        )
        charge = _last_point(series.get("chargePower"), _POWER_SCALE)
        discharge = _last_point(series.get("dischargePower"), _POWER_SCALE)
        remaining = _last_point(series.get("remainingEnergy"), _ENERGY_SCALE)
        if soc:
            values["battery_state_of_charge"] = soc[0]
            stamps.append(soc[1])
        if charge and discharge:
            values["battery_power"] = discharge[0] - charge[0]
            stamps.append(charge[1])
        if remaining:
            values["battery_remaining_energy"] = remaining[0]
        if not values:
            self._log_once(
                "storage", "SolarEdge storage telemetry carried no usable values"
            )
        return Readings(
            values=values, as_of=max(stamps) + timedelta(minutes=15) if stamps else None
        )

    async def _fetch_alerts(self, base: str) -> tuple[Alert, ...]:
        try:
            items = await self._get(f"{base}/alerts", {"only-open": "true"})
        except BadPayloadError:
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
            component = (
                item.get("component")
                if isinstance(item.get("component"), Mapping)
                else {}
            )
            serial = (
                str(component.get("serialNumber") or "")
                if isinstance(component, Mapping)
                else ""
            )
            impact = as_float(item.get("impact")) or 0
            codes = item.get("errorCodes") or []
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
                            component.get("name")
                            if isinstance(component, Mapping)
                            else None,
                        )
                        if part
                    ),
                    started=_parse_time(item.get("firstTrigger")),
                )
            )
        return tuple(alerts)

    def diagnostics(self) -> dict[str, Any]:
        """Return budget counters and why features are absent."""
        return {
            **super().diagnostics(),
            "lifetime_base_wh": self._lifetime_base,
            "notes": dict(self._notes),
        }


class _Forbidden(Exception):
    """A 403: no access to this site or a missing scope; the caller decides."""


def _site_device(site: Site) -> Device:
    return Device(
        id=site.id,
        kind=DeviceKind.SITE,
        name=site.name,
        site_id=site.id,
        manufacturer="SolarEdge",
        model="Monitoring site",
    )


def _problem(body: str) -> str:
    try:
        payload = json.loads(body)
    except ValueError:
        return body[:200]
    if isinstance(payload, Mapping):
        return str(
            payload.get("detail")
            or payload.get("title")
            or payload.get("message")
            or ""
        )
    return ""


def _telemetry_for(payload: Any, serial: str) -> Mapping[str, Any]:
    """Find one device's metric series in a telemetry envelope.

    The envelope key for storage is not captured (`storage` in the documented
    metric list; UNCONFIRMED), so any top-level mapping keyed by serial is used.
    """
    if not isinstance(payload, Mapping):
        return {}
    for value in payload.values():
        if isinstance(value, Mapping) and isinstance(value.get(serial), Mapping):
            found: Mapping[str, Any] = value[serial]
            return found
    return {}
