"""The Enphase connector: systems, planning and the snapshot (see the package notes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
import hashlib
import logging
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import aiohttp

from ...model import (
    Alert,
    Device,
    DeviceKind,
    HistorySeries,
    Readings,
    Severity,
    Site,
    Snapshot,
    Value,
    as_float,
)
from ..base import (
    AccountInfo,
    BadPayloadError,
    PollCost,
    RateLimitedError,
    RequestBudget,
    RequestLimiter,
    StaticToken,
    TokenProvider,
)
from ..parse import (
    FUTURE_SLACK,
    mappings,
    parse_date,
    parse_epoch,
    rows,
    screen,
    site_device,
    zone,
)
from .client import EnphaseClient, NotIncluded, Refused
from .history import (
    BATTERY,
    BATTERY_SERIES,
    CONSUMPTION,
    CONSUMPTION_SERIES,
    EXPORT,
    EXPORT_SERIES,
    HOURLY_DAYS,
    IMPORT,
    IMPORT_SERIES,
    PRODUCTION_METER,
    PRODUCTION_MICRO,
    PRODUCTION_SERIES,
    Series,
    Source,
    SystemHistory,
    complete_hours,
    day_points,
    read_series,
)
from .parse import DailySeries, System, last_soc, quantity, truthy
from .plans import CONF_PLAN, DEFAULT_PLAN, PLANS, runs
from .tables import (
    BATTERY_KEYS,
    CELLULAR_UPLOAD_EVERY,
    ENERGY_UNITS,
    KNOWN_EVENTS,
    MICROS_PAGE,
    POWER_UNITS,
    STATUSES,
    SUMMARY_PAGE,
    UPLOAD_EVERY,
    UPLOAD_GRACE,
)

_LOGGER = logging.getLogger(__name__)


class EnphaseConnector(EnphaseClient):
    """The Enphase systems one homeowner's grant reaches."""

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
        super().__init__(
            session,
            api_key=api_key,
            token=token,
            plan=plan,
            base_url=base_url,
            limiter=limiter,
        )
        self.system_ids = tuple(system_ids) if system_ids else None
        self._systems: dict[str, System] = {}
        self._systems_day: date | None = None
        self._event_names: dict[int, str] = dict(KNOWN_EVENTS)
        self._event_types_fetched = False
        self._gated: dict[str, date] = {}
        self._postponed = False
        self._operational: dict[str, date] = {}
        self._history: dict[str, SystemHistory] = {}

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
            System(
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
                uploads = int(timedelta(days=1) / CELLULAR_UPLOAD_EVERY)
                per_day += uploads * (fast + energy + micros)
            else:
                per_poll += fast
                if plan.energy_every:
                    per_day += energy * runs(plan.energy_every, active_hours)
                else:
                    per_poll += energy
                if plan.micros_every:
                    per_day += micros * runs(plan.micros_every, active_hours)
                else:
                    per_poll += micros
            per_day += self._group_calls(system, "events") * int(
                timedelta(days=1) / plan.events_every
            )
        flows = any(system.flows for system in systems)
        return PollCost(
            per_poll=max(per_poll, 1),
            per_day=per_day,
            min_interval=UPLOAD_EVERY,
            # Spend a small quota where the sun is; paid plans also follow
            # consumption and batteries through the night.
            sun_aware=plan.name == "watt" or not flows,
            catch_up=self._postponed,
        )

    async def _optional(
        self,
        system: System,
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
        except NotIncluded:
            self._gated[name] = today
            self._notes[name] = (
                "401 Not Authorized: not included in the application's Enphase "
                f"plan ({self.plan.name.title()} in the options); retried tomorrow"
            )
            self._log_once(name, f"Enphase {name} is not included in the plan")
        except Refused as err:
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
                "/systems", {"page": str(page), "size": str(SUMMARY_PAGE)}
            )
            items = payload.get("systems") if isinstance(payload, Mapping) else None
            if not isinstance(items, list):
                raise BadPayloadError("Unexpected /systems shape")
            for item in items:
                if isinstance(item, Mapping) and item.get("system_id") is not None:
                    site = Site(
                        id=str(item["system_id"]),
                        name=str(item.get("name") or item["system_id"]),
                        timezone=item.get("timezone") or None,
                    )
                    found.append((site, str(item.get("connection_type") or "").lower()))
                    if (at := parse_epoch(item.get("operational_at"))) is not None:
                        self._operational[site.id] = at.astimezone(
                            zone(site.timezone)
                        ).date()
            if len(items) < SUMMARY_PAGE:
                return found
            page += 1

    # -- fetching ------------------------------------------------------------

    def _zone(self, system: System) -> ZoneInfo:
        return zone(system.site.timezone)

    def _today(self, system: System) -> date:
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
        systems: dict[str, System] = {}
        for site, connection in listed:
            if wanted is not None and site.id not in wanted:
                continue
            known = self._systems.get(site.id)
            system = known or System(site=site)
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

    async def _fetch_system(self, system: System, now: datetime) -> None:
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

    def _upload_due(self, system: System, now: datetime) -> bool:
        """Whether the gateway can have uploaded since the last summary."""
        if not system.values or system.as_of is None:
            return True
        cadence = (
            CELLULAR_UPLOAD_EVERY if system.connection == "cellular" else UPLOAD_EVERY
        )
        return now >= system.as_of + cadence + UPLOAD_GRACE

    def _due(self, system: System, group: str, every: timedelta, now: datetime) -> bool:
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

    def _group_calls(self, system: System, group: str) -> int:
        """Requests one run of a group costs for this system."""
        if group == "energy":
            return 2 * int(system.has_battery) + 3 * int(system.has_consumption_meter)
        if group == "micros":
            micros = sum(
                d.kind is DeviceKind.MICROINVERTER for d in system.devices.values()
            )
            return 1 + (-(-micros // MICROS_PAGE) if self.plan.device_level else 0)
        return 2  # events: open events and open alarms

    async def _refresh_devices(self, system: System, base: str) -> None:
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
                and truthy(i.get("active", True))
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
        for key in BATTERY_KEYS:
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

    async def _fast(self, system: System, base: str, today: date) -> None:
        summary = await self._get(f"{base}/summary")
        if not isinstance(summary, Mapping):
            raise BadPayloadError("Unexpected /summary shape")
        values = system.values
        reported = parse_epoch(summary.get("last_report_at"))
        now = datetime.now(UTC)
        if reported is not None and reported > now + FUTURE_SLACK:
            # A gateway clock ahead: as the reference it would stop the upload
            # check (and the counters) for as long as the clock is wrong.
            self._log_once("future", "Enphase reports uploads from the future")
            reported = now
        energy_today = as_float(summary.get("energy_today"))
        energy_lifetime = as_float(summary.get("energy_lifetime"))
        values["production_power"] = as_float(summary.get("current_power"))
        values["production_energy_today"] = energy_today
        values["production_energy_lifetime"] = self._production_lifetime(
            system, today, energy_today, energy_lifetime
        )
        status = str(summary.get("status") or "").lower()
        values["site_status"] = STATUSES.get(status, "unknown")
        if status and status not in STATUSES:
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
        system: System,
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

    async def _latest(self, system: System, base: str) -> None:
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
        for key in BATTERY_KEYS:
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
        self, system: System, base: str, today: date, now: datetime
    ) -> None:
        if system.has_battery:
            telemetry = await self._optional(
                system,
                "telemetry/battery",
                f"{base}/telemetry/battery",
                {"start_at": str(int((now - timedelta(hours=1)).timestamp()))},
            )
            if isinstance(telemetry, Mapping):
                system.values["battery_state_of_charge"] = last_soc(telemetry)
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
        system: System,
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

    async def _micros(self, system: System, now: datetime) -> None:
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
                        power := quantity(unit.get("power_produced"), POWER_UNITS)
                    ) is not None:
                        values["ac_power"] = power
                    if (
                        energy := quantity(unit.get("energy"), ENERGY_UNITS)
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
        self, system: System, micros: dict[str, Readings], now: datetime
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
                    "size": str(MICROS_PAGE),
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
            if page * MICROS_PAGE >= total:
                self._notes.pop("devices/micros/telemetry", None)
                return
            page += 1

    def _relink_micros(self, system: System) -> None:
        """Hang each micro off the gateway it reports to, once that is known."""
        for serial, device in list(system.devices.items()):
            gateway = system.micro_gateway.get(serial)
            if (
                device.kind is DeviceKind.MICROINVERTER
                and gateway in system.devices
                and device.parent != gateway
            ):
                system.devices[serial] = replace(device, parent=gateway)

    async def _events(self, system: System, base: str) -> None:
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
    def _device_for(system: System, serial: str) -> str:
        return serial if serial in system.devices else system.site.id

    # -- history (first-setup backfill; see history.py) ----------------------

    history_requests_per_day: ClassVar[int] = 5
    """A full system's first day: five week-long telemetry windows (or, for
    the first day before the hourly range, the five daily series)."""

    @property
    def history_first_day(self) -> date | None:
        """The oldest system's operational day (or its series' first day)."""
        days = [
            self._history_state(system).first_day
            or self._operational.get(system.site.id)
            for system in self._systems.values()
        ]
        known = [d for d in days if d is not None]
        return min(known) if known else None

    def history_cost(self, day: date) -> int:
        """Requests the next `async_history(day)` sends (0 for cached days)."""
        if not self._systems:
            return min(self.history_requests_per_day, self._history_burst())
        needed = sum(
            len(self._history_needs(system, day)) for system in self._systems.values()
        )
        return min(needed, self._history_burst())

    def _history_burst(self) -> int:
        """Most requests one history call sends: half of a minute window.

        Live updates keep the other half; more waits for the next call.
        """
        return max(1, (self.limiter.budget.per_minute or 10) // 2)

    def _history_state(self, system: System) -> SystemHistory:
        state = self._history.setdefault(system.site.id, SystemHistory())
        window = self._today(system) - timedelta(days=HOURLY_DAYS - 1)
        if state.window != window:
            state.reset_window(window)
        return state

    @staticmethod
    def _history_plan(system: System) -> list[tuple[Source, Series]]:
        """The hourly source and daily series of each counter the system has."""
        production = PRODUCTION_METER if system.has_production_meter else None
        plan = [(production or PRODUCTION_MICRO, PRODUCTION_SERIES)]
        if system.has_consumption_meter:
            plan += [
                (CONSUMPTION, CONSUMPTION_SERIES),
                (IMPORT, IMPORT_SERIES),
                (EXPORT, EXPORT_SERIES),
            ]
        if system.has_battery:
            plan.append((BATTERY, BATTERY_SERIES))
        return plan

    def _history_first(self, system: System) -> date | None:
        state = self._history_state(system)
        return state.first_day or self._operational.get(system.site.id)

    def _history_needs(
        self, system: System, day: date
    ) -> list[tuple[Source | Series, date]]:
        """What must still be fetched to answer `day` for this system."""
        today = self._today(system)
        first = self._history_first(system)
        if day > today or (first is not None and day < first):
            return []
        state = self._history_state(system)
        needs: list[tuple[Source | Series, date]] = []
        hourly = day >= state.window
        for source, series in self._history_plan(system):
            tag = f"{source.name}@{day}" if source.granularity == "day" else source.name
            refused = any(k in state.refused for k in source.fields)
            if hourly and not refused and tag not in state.tried:
                start = day if source.granularity == "day" else state.window
                needs.append((source, start))
                continue
            daily = not hourly or refused
            if daily and day < today and series.name not in state.series_tried:
                needs.append((series, today))
        return needs

    async def async_history(self, day: date) -> tuple[HistorySeries, ...]:
        """That site-local day of every counter, for each selected system.

        Hours for the last `HOURLY_DAYS` days (telemetry), day totals before
        (daily series); see `history.py`. At most `_history_burst` requests
        per call: a call that needs more raises `RateLimitedError` for the
        next minute, keeping what it fetched.
        """
        sent = self.limiter.total
        if not self._systems:
            await self._refresh_systems()
            self._systems_day = datetime.now(UTC).date()
        out: list[HistorySeries] = []
        for system in self._systems.values():
            if system.inventory_day is None:
                await self._refresh_devices(system, f"/systems/{system.site.id}")
                system.inventory_day = self._today(system)
            while needs := self._history_needs(system, day):
                if self.limiter.total - sent >= self._history_burst():
                    raise RateLimitedError(
                        "Enphase history continues in the next minute",
                        retry_after=60.0,
                        period="minute",
                    )
                item, start = needs[0]
                if isinstance(item, Source):
                    await self._history_telemetry(system, item, start)
                else:
                    await self._history_series(system, item, start)
            out.extend(self._history_day(system, day))
        return tuple(out)

    async def _history_telemetry(
        self, system: System, source: Source, start: date
    ) -> None:
        """One telemetry window from local midnight of `start`; hours kept."""
        state = self._history_state(system)
        tag = f"{source.name}@{start}" if source.granularity == "day" else source.name
        payload = await self._optional(
            system,
            source.name,
            f"/systems/{system.site.id}/{source.name}",
            {"start_date": start.isoformat(), "granularity": source.granularity},
        )
        # Only an answer (or a refusal) settles it: a typed error retries later.
        state.tried.add(tag)
        tz = self._zone(system)
        begin = datetime.combine(start, datetime.min.time(), tz)
        days = 1 if source.granularity == "day" else HOURLY_DAYS
        stop = datetime.combine(start + timedelta(days=days), datetime.min.time(), tz)
        hours = (
            complete_hours(
                source, payload, start=begin, stop=stop, now=datetime.now(UTC)
            )
            if isinstance(payload, Mapping)
            else None
        )
        if hours is None:
            if payload is not None:
                self._log_once(
                    source.name, f"Enphase {source.name} has an unexpected shape"
                )
            state.refused.update(source.fields)
            return
        for key, found in hours.items():
            state.hours.setdefault(key, {}).update(found)

    async def _history_series(
        self, system: System, series: Series, today: date
    ) -> None:
        """A whole daily series from the first day to today."""
        state = self._history_state(system)
        params = {"end_date": today.isoformat()}
        if (first := self._history_first(system)) is not None:
            params["start_date"] = first.isoformat()
        payload = await self._optional(
            system, series.name, f"/systems/{system.site.id}/{series.name}", params
        )
        state.series_tried.add(series.name)
        if not isinstance(payload, Mapping):
            return
        start = parse_date(payload.get("start_date"))
        days, newest = read_series(series, start, payload)
        for key, found in days.items():
            state.days.setdefault(key, {}).update(found)
        if newest is not None and (
            state.reported_until is None or newest > state.reported_until
        ):
            state.reported_until = newest
        if series is PRODUCTION_SERIES and start is not None:
            state.first_day = start

    def _history_day(self, system: System, day: date) -> list[HistorySeries]:
        """The cached answer for one system and day."""
        today = self._today(system)
        first = self._history_first(system)
        if day > today or (first is not None and day < first):
            return []
        state = self._history_state(system)
        site = system.site.id
        out: list[HistorySeries] = []
        for source, _series in self._history_plan(system):
            for key in source.fields:
                if day >= state.window and key not in state.refused:
                    points = day_points(
                        state.hours.get(key, {}), day, self._zone(system)
                    )
                    if points:
                        out.append(
                            HistorySeries(device_id=site, key=key, points=points)
                        )
                    continue
                total = state.days.get(key, {}).get(day)
                reported = state.reported_until
                if (
                    day < today
                    and total is not None
                    and reported is not None
                    and day <= reported
                ):
                    out.append(HistorySeries(device_id=site, key=key, day_total=total))
        return out

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
