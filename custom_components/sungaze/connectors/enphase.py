"""Enphase Monitoring API v4 (Enlighten cloud), reached with OAuth 2.0.

Library choice: `pyenphase` (maintained, async, HA core's) talks to the local
IQ Gateway, not this cloud API. The v4 cloud clients found (`python_enlighten_api`
and similar scripts) are synchronous `requests` code without quota handling, and
no maintained async v4 client is published on PyPI. So this is a small
hand-written aiohttp client. OAuth itself is not hand-written: Home Assistant's
OAuth helper owns the grant, and this connector only asks a `TokenProvider` for
a valid access token.

Every call carries two credentials: `?key=` (the application's API key) and
`Authorization: Bearer` (the homeowner's access token). A 401 on a core endpoint
(`/systems`, `/summary`, `/devices`) asks the provider for a fresh token once and
retries once; a second 401 means the grant is gone. A 401 on any other endpoint
is how Enphase says "not in your plan" (the Watt plan answers 401, not 403, on
device-level data): that feature is dropped for the day with a note in the
snapshot, and never becomes a re-authentication. "API Key -Client mismatch" is
an auth failure without a refresh: the key belongs to another application.

Budget. The plan (options) sets the quota: Watt 10/minute and a hard 1,000 a
month; Kilowatt 50/minute and 50,000; Megawatt 100/minute and 300,000; Partner
300/minute and its 10,000 included hits (more is billed, so it is not planned
for). Calls are grouped by how fast their data moves:

* every update: `/summary` (production power, today, lifetime, status, last
  report) and, with a consumption meter or battery, `/latest_telemetry`
  (consumption, battery and derived grid power);
* the energy group: battery state of charge (`/telemetry/battery`) and the
  daily series `/battery_lifetime`, `/consumption_lifetime`,
  `/energy_import_lifetime`, `/energy_export_lifetime`, which give both today's
  running total (the last element, with `end_date` = today) and, summed, the
  lifetime counter;
* micro-inverters: `/systems/inverters_summary_by_envoy_or_site` (power and
  lifetime energy per micro; System Details access, so on every plan) and, on
  paid plans, `/devices/micros/telemetry` for fresher 5-minute power;
* events: `/open_events` and `/open_alarms`, names from `/systems/event_types`
  (fetched once, only when an unknown event type shows up);
* daily: `/systems` and `/devices` (inventory).

On Watt the energy group runs every 12 hours, the micro-inverters every 4 and
events once a day; the rest of the month's budget goes to the every-update
calls (a simulated June in Phoenix: a full system with meters and a battery
updates about 6 times a day, a PV-only one about 21 times); paid plans run
every group on every update. A gateway uploads every 15 minutes (every 6
hours on cellular), so a system whose next upload is not due yet costs
nothing: its last readings are kept. Groups that would not fit in the current minute window
(the setup burst, a new day's inventory) are postponed to a catch-up update
just after the window, rather than waited for.

UNCONFIRMED readings chosen here (see the research notes):

* `/summary.energy_lifetime` counts up to the day before `summary_date` (the
  spec's wording), so the running lifetime is `energy_lifetime + energy_today`.
  The connector checks this on live data: when, within one day, the lifetime
  grows exactly as much as today's energy, it switches to the other reading.
* A `*_lifetime` series requested with `end_date` = today ends with today's
  running total (the spec only documents the default end, yesterday).
* `/latest_telemetry` battery power is signed from `operational_mode`
  (Charging is negative, Discharging positive, per our convention), whatever
  the sign of `power`; the spec shows both signs.
* Consumption meters report the house load; grid power is then derived from
  the energy balance: grid = consumption - production - battery discharge.
* Open alarm severities 1-2 are critical, 3 a warning, 4 and above info; open
  events without an alarm are warnings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
import hashlib
import json
import logging
import math
import re
from typing import Any, ClassVar, Final
from zoneinfo import ZoneInfo

import aiohttp

from ..model import (
    Alert,
    Device,
    DeviceKind,
    Readings,
    Severity,
    Site,
    Snapshot,
    Value,
    as_float,
)
from .base import (
    AccountInfo,
    AuthFailedError,
    BadPayloadError,
    PollCost,
    RateLimitedError,
    RequestBudget,
    RequestLimiter,
    StaticToken,
    TokenProvider,
)
from .http import HttpConnector, HttpResponse
from .parse import (
    error_detail,
    mappings,
    next_month,
    parse_date,
    parse_epoch,
    rows,
    screen,
    site_device,
    zone,
)

_LOGGER = logging.getLogger(__name__)

DEFAULT_URL: Final = "https://api.enphaseenergy.com/api/v4"
CONF_PLAN: Final = "plan"
"""Option: the Enphase developer plan of the application."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EnphasePlan:
    """What an Enphase developer plan allows, and how Sungaze spends it."""

    name: str
    budget: RequestBudget
    device_level: bool
    """Device Level Monitoring (per-micro telemetry) is included."""
    energy_every: timedelta
    micros_every: timedelta
    events_every: timedelta


_EVERY_UPDATE: Final = timedelta(0)
PLANS: Final[Mapping[str, EnphasePlan]] = {
    plan.name: plan
    for plan in (
        EnphasePlan(
            name="watt",
            budget=RequestBudget(per_minute=10, per_month=1000, reserve=0.1),
            device_level=False,
            energy_every=timedelta(hours=12),
            micros_every=timedelta(hours=4),
            events_every=timedelta(hours=24),
        ),
        EnphasePlan(
            name="kilowatt",
            budget=RequestBudget(per_minute=50, per_month=50_000, reserve=0.1),
            device_level=True,
            energy_every=_EVERY_UPDATE,
            micros_every=_EVERY_UPDATE,
            events_every=timedelta(hours=1),
        ),
        EnphasePlan(
            name="megawatt",
            budget=RequestBudget(per_minute=100, per_month=300_000, reserve=0.1),
            device_level=True,
            energy_every=_EVERY_UPDATE,
            micros_every=_EVERY_UPDATE,
            events_every=timedelta(hours=1),
        ),
        EnphasePlan(
            name="partner",
            budget=RequestBudget(per_minute=300, per_month=10_000, reserve=0.1),
            device_level=True,
            energy_every=_EVERY_UPDATE,
            micros_every=_EVERY_UPDATE,
            events_every=timedelta(hours=1),
        ),
    )
}
DEFAULT_PLAN: Final = "watt"

_UPLOAD_EVERY: Final = timedelta(minutes=15)
_CELLULAR_UPLOAD_EVERY: Final = timedelta(hours=6)
_UPLOAD_GRACE: Final = timedelta(minutes=2)
_SUMMARY_PAGE: Final = 100
_MICROS_PAGE: Final = 20
_KEEP_DAYS: Final = 2
"""Days a lifetime series keeps re-fetching, for late (cellular) uploads."""
_KNOWN_EVENTS: Final = {28: "Gateway not reporting"}
_POWER_UNITS: Final = {"W": 1.0, "KW": 1e3, "MW": 1e6}
_ENERGY_UNITS: Final = {"WH": 1.0, "KWH": 1e3, "MWH": 1e6}
_STATUSES: Final = {
    "normal": "normal",
    "storage_idle": "normal",
    "comm": "offline",
    "no_data": "offline",
    "retired": "offline",
    "deactivated": "offline",
    "not_monitored": "offline",
    "unused": "offline",
    "disabled": "offline",
    "power": "error",
    "micro": "warning",
    "meter": "warning",
    "meter_issue": "warning",
    "battery": "warning",
    "encharge": "warning",
    "encharge_issue": "warning",
    "enpower": "warning",
    "enpower_issue": "warning",
    "rma": "warning",
}
_BATTERY_KEYS: Final = ("encharges", "acbs")
_CORE: Final = "core"


class _NotIncluded(Exception):
    """A 401 on an optional endpoint: the plan does not include it."""


class _Refused(Exception):
    """Another 4xx on an optional endpoint: skip the feature, keep the rest."""


def _truthy(raw: object) -> bool:
    """`active` is a boolean in examples and a string in the schema."""
    if isinstance(raw, str):
        return raw.strip().lower() in ("true", "1", "yes")
    return bool(raw)


def _quantity(raw: object, units: Mapping[str, float]) -> float | None:
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
            self.start = today - timedelta(days=_KEEP_DAYS)
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
        keep_from = today - timedelta(days=_KEEP_DAYS)
        folded = [
            v for i, v in enumerate(clean) if first + timedelta(days=i) < keep_from
        ]
        self.base += sum(folded)
        self.start = max(first, keep_from)
        return today_value, total


@dataclass(slots=True)
class _System:
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


class EnphaseConnector(HttpConnector):
    """The Enphase systems one homeowner's grant reaches."""

    vendor: ClassVar[str] = "enphase"
    budget: ClassVar[RequestBudget] = PLANS[DEFAULT_PLAN].budget
    default_url: ClassVar[str | None] = DEFAULT_URL

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_key: str,
        token: TokenProvider,
        system_ids: Sequence[str] | None = None,
        plan: str = DEFAULT_PLAN,
        base_url: str | None = None,
        limiter: RequestLimiter | None = None,
    ) -> None:
        """Create a client for one application key and one homeowner grant."""
        self.plan = PLANS.get(plan, PLANS[DEFAULT_PLAN])
        super().__init__(
            session,
            base_url=base_url,
            limiter=limiter or RequestLimiter(self.plan.budget),
        )
        self._api_key = api_key
        self._token = token
        self.system_ids = tuple(system_ids) if system_ids else None
        self._systems: dict[str, _System] = {}
        self._systems_day: date | None = None
        self._event_names: dict[int, str] = dict(_KNOWN_EVENTS)
        self._event_types_fetched = False
        self._gated: dict[str, date] = {}
        self._postponed = False
        self._notes: dict[str, str] = {}
        self._access_token: str | None = None

    @classmethod
    def from_config(
        cls,
        session: aiohttp.ClientSession,
        data: Mapping[str, Any],
        limiter: RequestLimiter | None = None,
    ) -> EnphaseConnector:
        """Build from entry data with the stored access token (no refresh)."""
        token = data.get("token") or {}
        return cls.from_oauth(
            session, data, limiter, StaticToken(str(token.get("access_token", "")))
        )

    @classmethod
    def from_oauth(
        cls,
        session: aiohttp.ClientSession,
        data: Mapping[str, Any],
        limiter: RequestLimiter | None,
        token: TokenProvider,
    ) -> EnphaseConnector:
        """Build from entry data: `api_key`, `system_ids`, `plan`, optional `url`."""
        systems = data.get("system_ids")
        return cls(
            session,
            api_key=str(data["api_key"]),
            token=token,
            system_ids=[str(s) for s in systems] if systems else None,
            plan=str(data.get(CONF_PLAN, DEFAULT_PLAN)),
            base_url=data.get("url"),
            limiter=limiter,
        )

    @classmethod
    def budget_for(
        cls, data: Mapping[str, Any], options: Mapping[str, Any]
    ) -> RequestBudget:
        """The budget of the plan chosen in the options (Watt by default)."""
        return PLANS.get(
            str(options.get(CONF_PLAN, DEFAULT_PLAN)), PLANS["watt"]
        ).budget

    @classmethod
    def budget_key(cls, data: Mapping[str, Any]) -> str:
        """Quotas are counted per application, whose API key this is."""
        digest = hashlib.sha256(str(data["api_key"]).encode()).hexdigest()
        return f"{cls.vendor}_{digest[:16]}"

    # -- planning ------------------------------------------------------------

    @property
    def cost(self) -> PollCost:
        """Every-update calls per poll; the slower groups spread over a day."""
        systems = list(self._systems.values()) or [
            _System(
                site=Site(id="?", name="?"),
                has_production_meter=True,
                has_consumption_meter=True,
                has_battery=True,
            )
        ]
        per_poll = 0
        per_day = 1  # the daily /systems list
        active_hours = 16  # worst case: a long summer day
        plan = self.plan
        for system in systems:
            fast = 1 + int(system.flows)
            energy = self._group_calls(system, "energy")
            micros = self._group_calls(system, "micros")
            per_day += 1  # /devices
            if system.connection == "cellular":
                uploads = int(timedelta(days=1) / _CELLULAR_UPLOAD_EVERY)
                per_day += uploads * (fast + energy + micros)
            else:
                per_poll += fast
                if plan.energy_every:
                    per_day += energy * _runs(plan.energy_every, active_hours)
                else:
                    per_poll += energy
                if plan.micros_every:
                    per_day += micros * _runs(plan.micros_every, active_hours)
                else:
                    per_poll += micros
            per_day += self._group_calls(system, "events") * int(
                timedelta(days=1) / plan.events_every
            )
        flows = any(system.flows for system in systems)
        return PollCost(
            per_poll=max(per_poll, 1),
            per_day=per_day,
            min_interval=_UPLOAD_EVERY,
            # Spend a small quota where the sun is; paid plans also follow
            # consumption and batteries through the night.
            sun_aware=plan.name == "watt" or not flows,
            catch_up=self._postponed,
        )

    # -- HTTP ----------------------------------------------------------------

    async def _auth_headers(
        self, *, rejected: bool = False
    ) -> Mapping[str, str] | None:
        """The homeowner's bearer token; a fresh one after a 401."""
        self._access_token = await self._token(
            rejected=self._access_token if rejected else None
        )
        return {"Authorization": f"Bearer {self._access_token}"}

    def _secrets(self) -> tuple[str, ...]:
        """The API key travels as a query parameter: keep it out of every error."""
        return (self._api_key, self._access_token or "")

    def _may_renew(self, response: HttpResponse) -> bool:
        """A key/client mismatch is no expired token: no refresh helps."""
        return "mismatch" not in _detail(response.text).lower()

    async def _get(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        optional: bool = False,
    ) -> Any:
        """GET one endpoint through the budget; map every failure to a typed error.

        A 401 on a core endpoint gets one fresh token and one retry; on an
        optional one it means "not in the plan" (`_NotIncluded`), never auth.
        """
        response = await self._request(
            "GET",
            path,
            params={**(params or {}), "key": self._api_key},
            headers={"Accept": "application/json"},
            renew=not optional,
        )
        status, body = response.status, response.text
        if status == 401:
            detail = _detail(body)
            if "mismatch" in detail.lower():
                raise AuthFailedError(
                    "The API key belongs to another application than the OAuth client"
                )
            if optional:
                raise _NotIncluded(detail or "Not Authorized")
            raise AuthFailedError(f"Enphase refused the access token: {detail}")
        if status == 429:
            self._rate_limited(body)
        if 400 <= status < 500 and status != 410:
            detail = _detail(body)
            if optional:
                raise _Refused(f"{status} {detail}")
            if status == 403:
                raise AuthFailedError(f"No access to this system: {detail}")
            raise BadPayloadError(f"Enphase refused {path}: {status} {detail}")
        self._raise_for_status(response, path)
        return response.json(path)

    def _rate_limited(self, body: str) -> None:
        """A 429: block the limiter until the period the body names ends."""
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        if not isinstance(payload, Mapping):
            payload = {}
        period = str(payload.get("period") or "minute")
        if period not in ("minute", "month"):
            period = "minute"
        now = datetime.now(UTC)
        if (end := parse_epoch(payload.get("period_end"))) is not None:
            wait = (end - now).total_seconds()
        elif period == "month":
            wait = (next_month(now) - now).total_seconds()
        else:
            wait = 60.0
        wait = max(wait, 1.0)
        self._learn(payload, period)
        self.limiter.block(wait, period)
        if period == "month":
            self.limiter.month_used = max(
                self.limiter.month_used, self.limiter.budget.per_month or 0
            )
        raise RateLimitedError(
            f"Enphase {period} limit reached ({_detail(body)})",
            retry_after=wait,
            period=period,
        )

    def _learn(self, payload: Mapping[str, Any], period: str) -> None:
        """Believe the 429 over the options: its `limit` and plan are the truth.

        An application on Watt configured as Kilowatt would otherwise earn a 429
        at every setup; with the limit lowered the next one paces itself.
        """
        limit = as_float(payload.get("limit"))
        budget = self.limiter.budget
        field_name = "per_minute" if period == "minute" else "per_month"
        current = getattr(budget, field_name)
        if limit is not None and limit >= 1 and (current is None or limit < current):
            self.limiter.budget = replace(budget, **{field_name: int(limit)})
        match = re.search(r"plan (\w+)", str(payload.get("details") or ""))
        if match and match[1].lower() != self.plan.name:
            self._notes["plan"] = (
                f"Enphase says the application is on the {match[1]} plan, but "
                f"the options say {self.plan.name.title()}: change the options"
            )
            self._log_once("plan", self._notes["plan"])

    async def _optional(
        self,
        system: _System,
        name: str,
        path: str,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """Call an optional endpoint; None when the plan or the system lacks it."""
        today = self._today(system)
        if self._gated.get(name) == today:
            return None
        try:
            return await self._get(path, params, optional=True)
        except _NotIncluded:
            self._gated[name] = today
            self._notes[name] = (
                "401 Not Authorized: not included in the application's Enphase "
                f"plan ({self.plan.name.title()} in the options); retried tomorrow"
            )
            self._log_once(name, f"Enphase {name} is not included in the plan")
        except _Refused as err:
            self._notes[name] = f"refused: {err}"
            self._log_once(name, f"Enphase refused {name}: {err}")
        return None

    # -- account -------------------------------------------------------------

    async def async_identify(self) -> AccountInfo:
        """List the systems the grant reaches."""
        sites = tuple(site for site, _ in await self._list_systems())
        if not sites:  # a valid answer: this login owns no system
            return AccountInfo(unique_id="", title="", sites=())
        return AccountInfo(unique_id=sites[0].id, title=sites[0].name, sites=sites)

    async def _list_systems(self) -> list[tuple[Site, str]]:
        found: list[tuple[Site, str]] = []
        page = 1
        while True:
            payload = await self._get(
                "/systems", {"page": str(page), "size": str(_SUMMARY_PAGE)}
            )
            items = payload.get("systems") if isinstance(payload, Mapping) else None
            if not isinstance(items, list):
                raise BadPayloadError("Unexpected /systems shape")
            for item in items:
                if isinstance(item, Mapping) and item.get("system_id") is not None:
                    found.append(
                        (
                            Site(
                                id=str(item["system_id"]),
                                name=str(item.get("name") or item["system_id"]),
                                timezone=item.get("timezone") or None,
                            ),
                            str(item.get("connection_type") or "").lower(),
                        )
                    )
            if len(items) < _SUMMARY_PAGE:
                return found
            page += 1

    # -- fetching ------------------------------------------------------------

    def _zone(self, system: _System) -> ZoneInfo:
        return zone(system.site.timezone)

    def _today(self, system: _System) -> date:
        return datetime.now(UTC).astimezone(self._zone(system)).date()

    async def async_fetch(self) -> Snapshot:
        """Fetch every selected system: cheap data each update, the rest as due."""
        now = datetime.now(UTC)
        self._postponed = False
        if not self._systems or self._systems_day != now.date():
            await self._refresh_systems()
            self._systems_day = now.date()
        sites: dict[str, Site] = {}
        devices: dict[str, Device] = {}
        readings: dict[str, Readings] = {}
        alerts: list[Alert] = []
        for system in self._systems.values():
            await self._fetch_system(system, now)
            site = system.site
            sites[site.id] = site
            devices[site.id] = site_device(site, "Enphase", "Enlighten system")
            devices.update(system.devices)
            values = {k: v for k, v in system.values.items() if v is not None}
            if values:
                readings[site.id] = Readings(values=values, as_of=system.as_of)
            readings.update(
                (serial, micro)
                for serial, micro in system.micros.items()
                if serial in system.devices
            )
            alerts.extend(system.alerts)
            system_readings = {
                k: v for k, v in readings.items() if k == site.id or k in system.devices
            }
            if faults := screen(system_readings, now, site.peak_power_w):
                readings.update(system_readings)
                _LOGGER.warning(
                    "Enphase system %s sent implausible data, taken as unknown: %s",
                    site.id,
                    "; ".join(faults),
                )
        self._check_budget()
        return Snapshot(
            sites=sites,
            devices=devices,
            readings=readings,
            alerts=tuple(alerts),
            notes=dict(self._notes),
            fetched_at=now,
        )

    def _check_budget(self) -> None:
        """Say so when Enphase enforces less than the plan in the options."""
        enforced, planned = self.limiter.budget, self.plan.budget
        if "plan" not in self._notes and (
            (enforced.per_minute or 0) < (planned.per_minute or 0)
            or (enforced.per_month or 0) < (planned.per_month or 0)
        ):
            self._notes["plan"] = (
                f"Enphase enforces {enforced.per_minute} requests a minute and "
                f"{enforced.per_month} a month, less than the "
                f"{self.plan.name.title()} plan in the options: check the options"
            )

    async def _refresh_systems(self) -> None:
        listed = await self._list_systems()
        wanted = set(self.system_ids) if self.system_ids else None
        systems: dict[str, _System] = {}
        for site, connection in listed:
            if wanted is not None and site.id not in wanted:
                continue
            known = self._systems.get(site.id)
            system = known or _System(site=site)
            system.site = replace(site, peak_power_w=system.site.peak_power_w)
            system.connection = connection
            systems[site.id] = system
        if wanted is not None and (missing := wanted - set(systems)):
            # Only the token endpoint or a 401 says the grant is gone; a list
            # without the system (or with a null id) is garbage for this update.
            raise BadPayloadError(
                f"/systems does not list {len(missing)} selected system(s)"
            )
        self._systems = systems

    async def _fetch_system(self, system: _System, now: datetime) -> None:
        today = self._today(system)
        base = f"/systems/{system.site.id}"
        if system.inventory_day != today:
            await self._refresh_devices(system, base)
            system.inventory_day = today
        if self._upload_due(system, now):
            await self._fast(system, base, today)
            if self._due(system, "energy", self.plan.energy_every, now):
                await self._energy(system, base, today, now)
                system.ran["energy"] = now
            if self._due(system, "micros", self.plan.micros_every, now):
                await self._micros(system, now)
                system.ran["micros"] = now
        if self._due(system, "events", self.plan.events_every, now):
            await self._events(system, base)
            system.ran["events"] = now

    def _upload_due(self, system: _System, now: datetime) -> bool:
        """Whether the gateway can have uploaded since the last summary."""
        if not system.values or system.as_of is None:
            return True
        cadence = (
            _CELLULAR_UPLOAD_EVERY if system.connection == "cellular" else _UPLOAD_EVERY
        )
        return now >= system.as_of + cadence + _UPLOAD_GRACE

    def _due(
        self, system: _System, group: str, every: timedelta, now: datetime
    ) -> bool:
        """Whether a group is due, and fits in this minute's remaining calls."""
        last = system.ran.get(group)
        if last is not None and now - last < every:
            return False
        left = self.limiter.minute_left()
        if left is not None and left < self._group_calls(system, group):
            _LOGGER.debug("Postponing Enphase %s to the next update", group)
            self._postponed = True
            return False
        return True

    def _group_calls(self, system: _System, group: str) -> int:
        """Requests one run of a group costs for this system."""
        if group == "energy":
            return 2 * int(system.has_battery) + 3 * int(system.has_consumption_meter)
        if group == "micros":
            micros = sum(
                d.kind is DeviceKind.MICROINVERTER for d in system.devices.values()
            )
            return 1 + (-(-micros // _MICROS_PAGE) if self.plan.device_level else 0)
        return 2  # events: open events and open alarms

    async def _refresh_devices(self, system: _System, base: str) -> None:
        payload = await self._get(f"{base}/devices")
        groups = payload.get("devices") if isinstance(payload, Mapping) else None
        if not isinstance(groups, Mapping):
            raise BadPayloadError("Unexpected /devices shape")
        site_id = system.site.id
        devices: dict[str, Device] = {}
        gateways: list[str] = []

        def items(key: str) -> list[Mapping[str, Any]]:
            raw = groups.get(key)
            if not isinstance(raw, list):
                return []
            return [
                i
                for i in raw
                if isinstance(i, Mapping)
                and i.get("serial_number")
                and _truthy(i.get("active", True))
            ]

        for item in items("gateways"):
            serial = str(item["serial_number"])
            gateways.append(serial)
            devices[serial] = Device(
                id=serial,
                kind=DeviceKind.GATEWAY,
                name=str(item.get("name") or f"Gateway {serial}"),
                site_id=site_id,
                manufacturer="Enphase",
                model=item.get("product_name") or item.get("model") or None,
                serial=serial,
                firmware=item.get("emu_sw_version") or None,
            )
        gateway = gateways[0] if gateways else None
        for key in _BATTERY_KEYS:
            for item in items(key):
                serial = str(item["serial_number"])
                devices[serial] = Device(
                    id=serial,
                    kind=DeviceKind.BATTERY,
                    name=str(item.get("name") or f"Battery {serial}"),
                    site_id=site_id,
                    manufacturer="Enphase",
                    model=item.get("product_name") or item.get("sku") or None,
                    serial=serial,
                    parent=gateway,
                )
        for item in items("micros"):
            serial = str(item["serial_number"])
            devices[serial] = Device(
                id=serial,
                kind=DeviceKind.MICROINVERTER,
                name=str(item.get("name") or f"Microinverter {serial}"),
                site_id=site_id,
                manufacturer="Enphase",
                model=item.get("model") or item.get("product_name") or None,
                serial=serial,
                parent=system.micro_gateway.get(serial, gateway),
            )
        meters = items("meters")
        enabled = [
            m
            for m in meters
            if str(m.get("state") or m.get("status") or "").lower()
            not in ("disabled", "retired")
        ]
        system.has_production_meter = any(
            str(m.get("config_type") or m.get("name")).lower() == "production"
            for m in enabled
        )
        system.has_consumption_meter = any(
            str(m.get("config_type") or m.get("name")).lower()
            in ("net", "total", "consumption")
            for m in enabled
        )
        system.has_battery = any(d.kind is DeviceKind.BATTERY for d in devices.values())
        system.devices = devices
        system.gateways = gateways
        system.micros = {k: v for k, v in system.micros.items() if k in devices}

    async def _fast(self, system: _System, base: str, today: date) -> None:
        summary = await self._get(f"{base}/summary")
        if not isinstance(summary, Mapping):
            raise BadPayloadError("Unexpected /summary shape")
        values = system.values
        reported = parse_epoch(summary.get("last_report_at"))
        energy_today = as_float(summary.get("energy_today"))
        energy_lifetime = as_float(summary.get("energy_lifetime"))
        values["production_power"] = as_float(summary.get("current_power"))
        values["production_energy_today"] = energy_today
        values["production_energy_lifetime"] = self._production_lifetime(
            system, today, energy_today, energy_lifetime
        )
        status = str(summary.get("status") or "").lower()
        values["site_status"] = _STATUSES.get(status, "unknown")
        if status and status not in _STATUSES:
            self._log_once(f"status_{status}", f"Unknown Enphase status {status!r}")
        if (size := as_float(summary.get("size_w"))) and size > 0:
            values["peak_power"] = size
            if system.site.peak_power_w != size:
                system.site = replace(system.site, peak_power_w=size)
        if reported is not None:
            system.as_of = reported
        if system.flows:
            await self._latest(system, base)

    def _production_lifetime(
        self,
        system: _System,
        day: date,
        today_wh: float | None,
        lifetime_wh: float | None,
    ) -> float | None:
        """Running lifetime production from `/summary` (see the module notes)."""
        if today_wh is None or lifetime_wh is None or lifetime_wh < 0:
            return None
        previous = system.last_summary
        if previous and previous[0] == day and today_wh > previous[1]:
            grew, lifetime_grew = today_wh - previous[1], lifetime_wh - previous[2]
            if (
                abs(lifetime_grew - grew) < 0.5
                and system.lifetime_includes_today is not True
            ):
                system.lifetime_includes_today = True
                _LOGGER.info("Enphase summary lifetime already includes today")
            elif abs(lifetime_grew) < 0.5:
                system.lifetime_includes_today = False
        system.last_summary = (day, today_wh, lifetime_wh)
        if system.lifetime_includes_today:
            return lifetime_wh
        return lifetime_wh + today_wh

    async def _latest(self, system: _System, base: str) -> None:
        payload = await self._optional(
            system, "latest_telemetry", f"{base}/latest_telemetry"
        )
        groups = payload.get("devices") if isinstance(payload, Mapping) else None
        if not isinstance(groups, Mapping):
            return
        production: list[float] = []
        consumption: list[float] = []
        meters = groups.get("meters")
        for meter in meters if isinstance(meters, list) else []:
            if not isinstance(meter, Mapping):
                continue
            power = as_float(meter.get("power"))
            if power is None:  # a channel silent for 7 days
                continue
            name = str(meter.get("name") or "").lower()
            if name == "production":
                production.append(power)
            elif name == "consumption":
                consumption.append(power)
        battery: list[float] = []
        for key in _BATTERY_KEYS:
            units = groups.get(key)
            for unit in units if isinstance(units, list) else []:
                if not isinstance(unit, Mapping):
                    continue
                if (power := as_float(unit.get("power"))) is None:
                    continue
                mode = str(unit.get("operational_mode") or "").lower()
                if mode == "charging":
                    power = -abs(power)
                elif mode == "discharging":
                    power = abs(power)
                battery.append(power)
        values = system.values
        if production:
            values["production_power"] = sum(production)
        if battery:
            values["battery_power"] = sum(battery)
        if consumption:
            values["consumption_power"] = sum(consumption)
            pv = values.get("production_power")
            if isinstance(pv, float):
                values["grid_power"] = (
                    sum(consumption) - pv - (sum(battery) if battery else 0.0)
                )

    async def _energy(
        self, system: _System, base: str, today: date, now: datetime
    ) -> None:
        if system.has_battery:
            telemetry = await self._optional(
                system,
                "telemetry/battery",
                f"{base}/telemetry/battery",
                {"start_at": str(int((now - timedelta(hours=1)).timestamp()))},
            )
            if isinstance(telemetry, Mapping):
                system.values["battery_state_of_charge"] = _soc(telemetry)
            await self._series(
                system,
                "battery_lifetime",
                base,
                today,
                {
                    "charge": "battery_charge_energy",
                    "discharge": "battery_discharge_energy",
                },
            )
        if system.has_consumption_meter:
            for name, array, key in (
                ("consumption_lifetime", "consumption", "consumption_energy"),
                ("energy_import_lifetime", "import", "grid_import_energy"),
                ("energy_export_lifetime", "export", "grid_export_energy"),
            ):
                await self._series(system, name, base, today, {array: key})

    async def _series(
        self,
        system: _System,
        name: str,
        base: str,
        today: date,
        arrays: Mapping[str, str],
    ) -> None:
        """Update the `<key>_today` / `<key>_lifetime` values from one series call."""
        trackers = {
            array: system.series.setdefault(f"{name}.{array}", DailySeries())
            for array in arrays
        }
        first_tracker = next(iter(trackers.values()))
        payload = await self._optional(
            system, name, f"{base}/{name}", first_tracker.params(today)
        )
        if not isinstance(payload, Mapping):
            return
        first = parse_date(payload.get("start_date"))
        for array, key in arrays.items():
            raw = payload.get(array)
            if not isinstance(raw, list):
                self._log_once(name, f"Enphase {name} has no {array!r} series")
                continue
            today_wh, lifetime = trackers[array].update(first, raw, today)
            if lifetime is None:
                self._log_once(name, f"Enphase {name} has an unexpected shape")
                continue
            system.values[f"{key}_today"] = today_wh
            system.values[f"{key}_lifetime"] = lifetime

    async def _micros(self, system: _System, now: datetime) -> None:
        micros: dict[str, Readings] = {}
        page = 1
        while True:
            payload = await self._optional(
                system,
                "inverters_summary",
                "/systems/inverters_summary_by_envoy_or_site",
                {"site_id": system.site.id, "page": str(page), "size": "100"},
            )
            if not isinstance(payload, list):
                break
            count = 0
            for envoy in payload:
                units = (
                    envoy.get("micro_inverters") if isinstance(envoy, Mapping) else None
                )
                for unit in units if isinstance(units, list) else []:
                    if not isinstance(unit, Mapping) or not unit.get("serial_number"):
                        continue
                    count += 1
                    serial = str(unit["serial_number"])
                    if envoy_serial := unit.get("envoy_serial_number"):
                        system.micro_gateway[serial] = str(envoy_serial)
                    values: dict[str, Value] = {}
                    if (
                        power := _quantity(unit.get("power_produced"), _POWER_UNITS)
                    ) is not None:
                        values["ac_power"] = power
                    if (
                        energy := _quantity(unit.get("energy"), _ENERGY_UNITS)
                    ) is not None:
                        values["ac_energy_lifetime"] = energy
                    micros[serial] = Readings(
                        values=values, as_of=parse_epoch(unit.get("last_report_date"))
                    )
            if count < 100:
                break
            page += 1
        if self.plan.device_level:
            await self._micro_telemetry(system, micros, now)
        else:
            self._notes["devices/micros/telemetry"] = (
                "not requested: Device Level Monitoring is not in the Watt plan; "
                "micro power comes from the inverter summary"
            )
        if micros:
            system.micros = micros
            self._relink_micros(system)

    async def _micro_telemetry(
        self, system: _System, micros: dict[str, Readings], now: datetime
    ) -> None:
        """Fresher 5-minute power per micro (Kilowatt and up)."""
        # The last upload can be up to half an hour behind: ask for the last hour.
        start = int(now.timestamp()) // 300 * 300 - 3600
        page = 1
        while True:
            payload = await self._optional(
                system,
                "devices/micros/telemetry",
                f"/systems/{system.site.id}/devices/micros/telemetry",
                {
                    "start_at": str(start),
                    "granularity": "day",
                    "page": str(page),
                    "size": str(_MICROS_PAGE),
                },
            )
            units = payload.get("devices") if isinstance(payload, Mapping) else None
            if not isinstance(units, list):
                return
            for unit in units:
                if not isinstance(unit, Mapping) or not unit.get("serial_number"):
                    continue
                intervals = unit.get("intervals")
                last = (
                    intervals[-1]
                    if isinstance(intervals, list)
                    and intervals
                    and isinstance(intervals[-1], Mapping)
                    else None
                )
                if last is None or (power := as_float(last.get("powr"))) is None:
                    continue
                serial = str(unit["serial_number"])
                known = micros.get(serial)
                micros[serial] = Readings(
                    values={**(known.values if known else {}), "ac_power": power},
                    as_of=parse_epoch(last.get("end_at")),
                )
            total = as_float(payload.get("total_devices")) or 0
            if page * _MICROS_PAGE >= total:
                self._notes.pop("devices/micros/telemetry", None)
                return
            page += 1

    def _relink_micros(self, system: _System) -> None:
        """Hang each micro off the gateway it reports to, once that is known."""
        for serial, device in list(system.devices.items()):
            gateway = system.micro_gateway.get(serial)
            if (
                device.kind is DeviceKind.MICROINVERTER
                and gateway in system.devices
                and device.parent != gateway
            ):
                system.devices[serial] = replace(device, parent=gateway)

    async def _events(self, system: _System, base: str) -> None:
        events = await self._optional(system, "open_events", f"{base}/open_events")
        alarms = await self._optional(system, "open_alarms", f"{base}/open_alarms")
        if events is None and alarms is None:
            return
        event_rows = rows(events, "events")
        alarm_rows = rows(alarms, "alarms")
        unknown = {
            int(t)
            for row in (*event_rows, *alarm_rows)
            if (t := as_float(row.get("event_type_id"))) is not None
            and int(t) not in self._event_names
        }
        if unknown and not self._event_types_fetched:
            self._event_types_fetched = True
            types = await self._optional(system, "event_types", "/systems/event_types")
            for row in rows(types, "event_types"):
                if (t := as_float(row.get("event_type_id"))) is not None:
                    self._event_names[int(t)] = str(
                        row.get("event_name") or row.get("event_type_key") or int(t)
                    )
        alerts: list[Alert] = []
        covered: set[tuple[int, str]] = set()
        for alarm in alarm_rows:
            type_id = int(as_float(alarm.get("event_type_id")) or 0)
            severity = int(as_float(alarm.get("severity")) or 4)
            serials = [
                str(e.get("serial_number"))
                for e in mappings(alarm.get("events"))
                if e.get("serial_number")
            ] or [system.site.id]
            for serial in serials:
                covered.add((type_id, serial))
                alerts.append(
                    Alert(
                        id=f"alarm-{alarm.get('id')}-{serial}",
                        device_id=self._device_for(system, serial),
                        severity=Severity.CRITICAL
                        if severity <= 2
                        else Severity.WARNING
                        if severity == 3
                        else Severity.INFO,
                        code=str(type_id),
                        message=self._event_name(type_id),
                        started=parse_epoch(alarm.get("alarm_start_time")),
                    )
                )
        for event in event_rows:
            if event.get("event_end_time"):
                continue
            type_id = int(as_float(event.get("event_type_id")) or 0)
            serial = str(event.get("serial_number") or system.site.id)
            if (type_id, serial) in covered:
                continue
            alerts.append(
                Alert(
                    id=f"event-{type_id}-{serial}-{event.get('event_start_time')}",
                    device_id=self._device_for(system, serial),
                    severity=Severity.WARNING,
                    code=str(type_id),
                    message=self._event_name(type_id),
                    started=parse_epoch(event.get("event_start_time")),
                )
            )
        system.alerts = tuple(alerts)

    def _event_name(self, type_id: int) -> str:
        return self._event_names.get(type_id, f"Enphase event {type_id}")

    @staticmethod
    def _device_for(system: _System, serial: str) -> str:
        return serial if serial in system.devices else system.site.id

    def diagnostics(self) -> dict[str, Any]:
        """Budget counters, the plan, and why features are absent."""
        return {
            **super().diagnostics(),
            "plan": self.plan.name,
            "notes": dict(self._notes),
            "systems": [
                {
                    "connection": system.connection,
                    "production_meter": system.has_production_meter,
                    "consumption_meter": system.has_consumption_meter,
                    "battery": system.has_battery,
                    "lifetime_includes_today": system.lifetime_includes_today,
                    "last_runs": {k: v.isoformat() for k, v in system.ran.items()},
                }
                for system in self._systems.values()
            ],
        }


def _runs(every: timedelta, active_hours: int) -> int:
    """Runs of a group in a day's active hours: the first update's, then each period."""
    return math.floor(timedelta(hours=active_hours) / every) + 1


def _detail(body: str) -> str:
    return error_detail(body, "details", "message")


def _soc(telemetry: Mapping[str, Any]) -> float | None:
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
