"""What both Tigo access kinds share: the layout, the minute store, the snapshot.

Tigo optimizers report per-panel minutes to the cloud 10-40 minutes late,
sometimes backfilled or revised (notes: `tigo-cps.md` A.7). Both clients
(`premium.py`, the documented API v3; `mapi.py`, the mobile app's API for free
accounts) parse what they fetch into the same shapes, and this module turns
them into one `Snapshot`: the system, its CCA, inverters, strings and one
optimizer device per panel; the newest sample of each panel with its own time;
and the system's complete hours of energy, computed from the minute power, as a
history series so hours that arrive late still reach long-term statistics.

Timestamps from Tigo are naive and in the system's own time zone (never UTC).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
import hashlib
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp

from ...model import (
    Alert,
    Device,
    DeviceKind,
    Readings,
    Severity,
    Site,
    Snapshot,
    StatPoint,
    StatSeries,
    Value,
    as_float,
)
from ..base import BadPayloadError, RequestLimiter
from ..http import HttpConnector

CONF_ACCOUNT = "account"
ACCOUNT_PREMIUM = "premium"
"""Tigo EI Premium: the documented API v3."""
ACCOUNT_APP = "app"
"""A free (Basic) account through the mobile app's undocumented API."""
ACCOUNT_KINDS = (ACCOUNT_PREMIUM, ACCOUNT_APP)

MANUFACTURER = "Tigo"
CACHE_TTL = timedelta(hours=6)
"""Layout, objects and system details change rarely (drewcotten caches 6 h)."""
KEEP = timedelta(hours=30)
"""Minutes kept: today and the evening before, for late hours after midnight."""
RECENT = timedelta(minutes=30)
"""A panel's newest sample counts if it is this close to the array's newest."""
SETTLED = timedelta(minutes=45)
"""An hour this long gone is imported even if its last minute never came
(the lag is 10-40 min); a later revision re-imports it."""
SERIES_KEY = "production"

type Row = dict[str, float | None]
"""One minute: panel object id -> value (None: empty cell, no data)."""


def site_zone(name: str | None) -> tzinfo:
    """The system's zone; UTC when Tigo names none we know (logged by callers)."""
    try:
        return ZoneInfo(name) if name else UTC
    except ZoneInfoNotFoundError, ValueError:
        return UTC


def parse_local(raw: object, zone: tzinfo, day: str | None = None) -> datetime | None:
    """An aware time from Tigo's naive site-local text (several spellings).

    `YYYY/MM/DD HH:MM:SS[.fff]` (CSV), `YYYY-MM-DD HH:MM:SS` (app API) and,
    with `day`, a bare `HH:MM[:SS]` (app API minute rows, UNCONFIRMED format).
    An ISO time with an offset is taken as it is.
    """
    if not isinstance(raw, str) or not (text := raw.strip()):
        return None
    text = text.replace("/", "-")
    if day is not None and len(text) <= 8 and ":" in text:
        text = f"{day} {text}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=zone)
    return moment


@dataclass(slots=True)
class Panel:
    """One optimizer in the layout."""

    object_id: str
    label: str
    string_key: str | None = None
    serial: str | None = None
    model: str | None = None
    x: float | None = None
    y: float | None = None


@dataclass(slots=True)
class Layout:
    """The system's electrical tree: inverter -> MPPT -> string -> panel."""

    tree: list[dict[str, Any]] = field(default_factory=list)
    inverters: dict[str, str] = field(default_factory=dict)
    """Inverter key -> label."""
    strings: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    """String key -> (label, inverter key)."""
    panels: dict[str, Panel] = field(default_factory=dict)
    """Panel object id -> panel, in layout order."""


def _first(item: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if (value := item.get(key)) not in (None, ""):
            return value
    return None


def _list(item: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = item.get(key)
    return (
        [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []
    )


def parse_layout(payload: Any) -> Layout:
    """Read `/systems/layout` (both APIs): `system.inverters[].mppts[].strings[].panels[]`.

    The payload sits under `system`, `systems` (object or list) or bare
    (tigo-cps.md A.5 note); anything else gives an empty layout.
    """
    body = payload
    if isinstance(body, Mapping):
        body = body.get("system", body.get("systems", body))
    if isinstance(body, list):
        body = body[0] if body and isinstance(body[0], Mapping) else {}
    layout = Layout()
    if not isinstance(body, Mapping):
        return layout
    for i, inverter in enumerate(_list(body, "inverters"), start=1):
        inv_key = str(_first(inverter, "inverter_id", "object_id") or i)
        inv_label = str(inverter.get("label") or f"Inverter {i}")
        layout.inverters[inv_key] = inv_label
        inv_node: dict[str, Any] = {
            "id": inv_key,
            "label": inv_label,
            "serial": _first(inverter, "serial", "inverter_serial"),
            "mppts": [],
        }
        for j, mppt in enumerate(_list(inverter, "mppts"), start=1):
            mppt_node: dict[str, Any] = {
                "id": str(_first(mppt, "mppt_id") or f"{inv_key}.{j}"),
                "label": str(mppt.get("label") or f"MPPT {j}"),
                "strings": [],
            }
            for k, string in enumerate(_list(mppt, "strings"), start=1):
                str_key = str(
                    _first(string, "string_id", "object_id") or f"{inv_key}.{j}.{k}"
                )
                str_label = str(string.get("label") or f"String {k}")
                layout.strings[str_key] = (str_label, inv_key)
                str_node: dict[str, Any] = {
                    "id": str_key,
                    "label": str_label,
                    "short_label": string.get("short_label"),
                    "panels": [],
                }
                for panel in _list(string, "panels"):
                    if (object_id := _first(panel, "object_id", "panel_id")) is None:
                        continue
                    oid = str(object_id)
                    label = str(panel.get("label") or oid)
                    layout.panels[oid] = Panel(
                        object_id=oid,
                        label=label,
                        string_key=str_key,
                        serial=_first(panel, "serial"),
                        model=_first(panel, "type"),
                    )
                    str_node["panels"].append({"object_id": oid, "label": label})
                mppt_node["strings"].append(str_node)
            inv_node["mppts"].append(mppt_node)
        layout.tree.append(inv_node)
    return layout


@dataclass(slots=True)
class MinuteStore:
    """Per-minute, per-panel values of one parameter, keyed by aware minute.

    A re-read minute replaces the values it carries (Tigo revises and
    backfills); its empty cells never erase what an earlier read gave.
    """

    rows: dict[datetime, Row] = field(default_factory=dict)

    def merge(self, rows: Iterable[tuple[datetime, Row]]) -> None:
        """Add or revise minutes."""
        for moment, values in rows:
            known = self.rows.setdefault(moment, {})
            for oid, value in values.items():
                if value is not None or oid not in known:
                    known[oid] = value

    def prune(self, now: datetime) -> None:
        """Forget minutes older than `KEEP`."""
        for moment in [m for m in self.rows if now - m > KEEP]:
            del self.rows[moment]

    @property
    def newest(self) -> datetime | None:
        """The newest minute with at least one value."""
        filled = [
            m
            for m, row in self.rows.items()
            if any(v is not None for v in row.values())
        ]
        return max(filled) if filled else None

    def latest(
        self, oid: str, newest: datetime | None
    ) -> tuple[float, datetime] | None:
        """The panel's newest value, if recent enough next to the array's newest."""
        if newest is None:
            return None
        for moment in sorted(self.rows, reverse=True):
            if moment > newest:
                continue
            if newest - moment > RECENT:
                return None
            if (value := self.rows[moment].get(oid)) is not None:
                return value, moment
        return None

    def hourly_wh(self, now: datetime) -> tuple[StatPoint, ...]:
        """The array's energy per complete hour: minute power (W) / 60 summed.

        Hours are UTC hours, as in long-term statistics: a repeated local hour
        at the end of summer time stays two hours, and half-hour zones align.
        An hour is complete once its last minute arrived, or once it is long
        gone (`SETTLED`); hours without any sample (night) are left out. The
        current hour never counts.
        """
        newest = self.newest
        hours: dict[datetime, float] = {}
        for moment, row in self.rows.items():
            values = [v for v in row.values() if v is not None]
            if not values:
                continue
            start = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
            hours[start] = hours.get(start, 0.0) + sum(values) / 60.0
        points: list[StatPoint] = []
        for start in sorted(hours):
            end = start + timedelta(hours=1)
            last_minute = end - timedelta(minutes=1)
            done = (
                newest is not None and newest >= last_minute
            ) or now - end >= SETTLED
            if done and end <= now:
                points.append(StatPoint(start=start, value=round(hours[start], 3)))
        return tuple(points)


@dataclass(slots=True)
class SystemInfo:
    """The system object of `/systems` (v3) or `/systems/query` (app API)."""

    system_id: str
    name: str
    timezone: str | None = None
    power_rating: float | None = None

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> SystemInfo | None:
        """One system; None without an id."""
        if (system_id := _first(item, "system_id", "id")) is None:
            return None
        return cls(
            system_id=str(system_id),
            name=str(item.get("name") or f"Tigo {system_id}"),
            timezone=_first(item, "timezone", "time_zone"),
            power_rating=as_float(item.get("power_rating")),
        )

    @property
    def site(self) -> Site:
        """The system as a Sungaze site."""
        return Site(
            id=self.system_id,
            name=self.name,
            timezone=self.timezone,
            peak_power_w=self.power_rating,
        )


def systems_of(payload: Any) -> list[SystemInfo]:
    """The systems of a list answer (`systems`, or `data` in the app API)."""
    items: Any = payload
    if isinstance(payload, Mapping):
        items = payload.get("systems", payload.get("data", []))
    if not isinstance(items, list):
        return []
    return [
        s
        for item in items
        if isinstance(item, Mapping) and (s := SystemInfo.parse(item))
    ]


@dataclass(slots=True)
class Gateway:
    """A CCA (data source) of the system."""

    key: str
    name: str
    serial: str | None = None
    firmware: str | None = None
    last_checkin: datetime | None = None
    control_state: str | None = None
    """`on` normally; anything else is PV-Off (rapid shutdown) (tigo-cps.md A.5.4)."""


def parse_sources(payload: Any, zone: tzinfo) -> list[Gateway]:
    """`sources[]` of `/sources/system` (v3) or `/systems/full` (app API)."""
    items = payload.get("sources") if isinstance(payload, Mapping) else None
    gateways: list[Gateway] = []
    for i, item in enumerate(items if isinstance(items, list) else [], start=1):
        if not isinstance(item, Mapping):
            continue
        key = str(_first(item, "source_id", "serial") or i)
        gateways.append(
            Gateway(
                key=key,
                name=str(item.get("name") or "CCA"),
                serial=_first(item, "serial"),
                firmware=_first(item, "sw_version"),
                last_checkin=parse_local(item.get("last_checkin"), zone),
                control_state=_first(item, "control_state"),
            )
        )
    return gateways


@dataclass(slots=True)
class Fetched:
    """What one update read, before it becomes a snapshot."""

    system_power: float | None = None
    energy_today: float | None = None
    energy_lifetime: float | None = None
    system_as_of: datetime | None = None
    panel_energy: dict[str, float | None] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)


class TigoClient(HttpConnector):
    """One Tigo system: the shared half of both access kinds.

    Entries of one login share one request limiter.
    """

    vendor: ClassVar[str] = "tigo"
    kind: ClassVar[str] = ""
    default_url: ClassVar[str | None] = None

    def __init__(
        self,
        session: aiohttp.ClientSession | None,
        *,
        username: str,
        password: str,
        system_id: str | None = None,
        base_url: str | None = None,
        limiter: RequestLimiter | None = None,
    ) -> None:
        """Store the login and the system this entry follows."""
        super().__init__(session, base_url=base_url, limiter=limiter)
        self._username = username
        self._password = password
        self.system_id = system_id
        self._token: str | None = None
        self._token_expires: datetime | None = None
        self._system: SystemInfo | None = None
        self._layout: Layout | None = None
        self._layout_at: datetime | None = None
        self._gateways: list[Gateway] = []
        self._minutes: dict[str, MinuteStore] = {}
        """Parameter (Pin, Vin, ...) -> its minutes."""
        self._notes: dict[str, str] = {}

    @classmethod
    def from_config(
        cls,
        session: aiohttp.ClientSession,
        data: Mapping[str, Any],
        limiter: RequestLimiter | None = None,
    ) -> TigoClient:
        """Build this client (the package's `TigoConnector` picks the kind)."""
        return cls(
            session,
            username=str(data.get("username", "")),
            password=str(data.get("password", "")),
            system_id=str(data["site_id"]) if data.get("site_id") else None,
            base_url=data.get("url"),
            limiter=limiter,
        )

    @classmethod
    def budget_key(cls, data: Mapping[str, Any]) -> str:
        """One limiter per login (its systems share the account's minute cap)."""
        kind = data.get(CONF_ACCOUNT, ACCOUNT_PREMIUM)
        who = f"{kind}|{str(data.get('username', '')).strip().lower()}|{data.get('url', '')}"
        return f"tigo_{kind}_{hashlib.sha256(who.encode()).hexdigest()[:16]}"

    def _secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self._password, self._token) if s)

    async def _login(self) -> None:
        """Log in and store the bearer token (each kind has its own login)."""
        raise NotImplementedError

    async def _auth_headers(
        self, *, rejected: bool = False
    ) -> Mapping[str, str] | None:
        """The bearer token; a new login after a 401 or shortly before expiry."""
        now = datetime.now(UTC)
        if (
            rejected
            or self._token is None
            or (
                self._token_expires is not None
                and self._token_expires - now <= TOKEN_LEAD
            )
        ):
            await self._login()
        return {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}

    def _store_login(self, payload: Any) -> None:
        """Keep the token of a login answer; `BadPayloadError` without one."""
        if (found := parse_login(payload)) is None:
            raise BadPayloadError("Tigo login answer carries no token")
        self._token, self._token_expires = found

    # -- shared state ---------------------------------------------------------

    @property
    def zone(self) -> tzinfo:
        """The system's time zone (Tigo's timestamps are naive site-local)."""
        if self._system is None or not self._system.timezone:
            return UTC
        zone = site_zone(self._system.timezone)
        if zone is UTC and self._system.timezone not in ("UTC", "Etc/UTC"):
            self._log_once(
                "tz",
                f"Tigo names an unknown time zone {self._system.timezone!r}; using UTC",
            )
        return zone

    def _stale(self, at: datetime | None, now: datetime) -> bool:
        return at is None or now - at >= CACHE_TTL

    def store(self, param: str) -> MinuteStore:
        """The minute store of one parameter."""
        return self._minutes.setdefault(param, MinuteStore())

    def layout(self) -> Mapping[str, Any] | None:
        """The inverter -> MPPT -> string -> panel tree, with positions where known."""
        if self._layout is None or self._system is None:
            return None
        return {
            "system_id": self._system.system_id,
            "name": self._system.name,
            "inverters": self._layout.tree,
            "panels": {
                oid: {
                    "label": panel.label,
                    "device": self._panel_device_id(oid),
                    "string": panel.string_key,
                    "x": panel.x,
                    "y": panel.y,
                }
                for oid, panel in self._layout.panels.items()
            },
        }

    def diagnostics(self) -> dict[str, Any]:
        """Request counters, the account kind and the minute stores' extent."""
        return {
            **super().diagnostics(),
            "account": self.kind,
            "token_expires": self._token_expires.isoformat()
            if self._token_expires
            else None,
            "minutes": {
                param: {
                    "rows": len(store.rows),
                    "newest": n.isoformat() if (n := store.newest) else None,
                }
                for param, store in self._minutes.items()
            },
        }

    # -- snapshot -------------------------------------------------------------

    def _panel_device_id(self, oid: str) -> str:
        return f"{self.system_id}_panel_{oid}"

    def _build(
        self, fetched: Fetched, now: datetime, extra: Mapping[str, str] | None = None
    ) -> Snapshot:
        """Turn the stores and what was read into one snapshot."""
        system = self._system
        layout = self._layout or Layout()
        assert system is not None  # noqa: S101 - fetched before building
        sid = system.system_id
        devices: dict[str, Device] = {
            sid: Device(
                id=sid,
                kind=DeviceKind.SITE,
                name=system.name,
                site_id=sid,
                manufacturer=MANUFACTURER,
            )
        }
        readings: dict[str, Readings] = {}
        alerts = list(fetched.alerts)
        for gateway in self._gateways:
            gid = f"{sid}_cca_{gateway.key}"
            devices[gid] = Device(
                id=gid,
                kind=DeviceKind.GATEWAY,
                name=gateway.name,
                site_id=sid,
                manufacturer=MANUFACTURER,
                model="CCA",
                serial=gateway.serial,
                firmware=gateway.firmware,
            )
            if gateway.last_checkin is not None:
                readings[gid] = Readings(values={}, as_of=gateway.last_checkin)
            if gateway.control_state and gateway.control_state.lower() != "on":
                alerts.append(
                    Alert(
                        id=f"pv_off_{gateway.key}",
                        device_id=gid,
                        severity=Severity.WARNING,
                        code="pv_off",
                        message=f"PV-Off is active ({gateway.control_state}): "
                        "the optimizers hold the panels off",
                    )
                )
        for key, label in layout.inverters.items():
            devices[f"{sid}_inverter_{key}"] = Device(
                id=f"{sid}_inverter_{key}",
                kind=DeviceKind.INVERTER,
                name=label,
                site_id=sid,
                manufacturer=None,
            )
        for key, (label, inverter) in layout.strings.items():
            devices[f"{sid}_string_{key}"] = Device(
                id=f"{sid}_string_{key}",
                kind=DeviceKind.OTHER,
                name=label,
                site_id=sid,
                manufacturer=MANUFACTURER,
                model="String",
                parent=f"{sid}_inverter_{inverter}" if inverter else None,
            )
        pin = self.store("Pin")
        newest = pin.newest
        string_power: dict[str, list[float]] = {}
        for oid, panel in layout.panels.items():
            did = self._panel_device_id(oid)
            devices[did] = Device(
                id=did,
                kind=DeviceKind.OPTIMIZER,
                name=panel.label,
                site_id=sid,
                manufacturer=MANUFACTURER,
                model=panel.model,
                serial=panel.serial,
                parent=f"{sid}_string_{panel.string_key}" if panel.string_key else None,
            )
            values: dict[str, Value] = {}
            as_of: datetime | None = None
            if (power := pin.latest(oid, newest)) is not None:
                values["panel_power"], as_of = power
                if panel.string_key:
                    string_power.setdefault(panel.string_key, []).append(power[0])
            else:
                values["panel_power"] = None
            for param, key in (
                ("Vin", "input_voltage"),
                ("Iin", "input_current"),
                ("RSSI", "rssi"),
                ("Temp", "temperature"),
            ):
                if param in self._minutes:
                    store = self._minutes[param]
                    # Only as fresh as the power: never a stale voltage beside it.
                    got = store.latest(oid, newest or store.newest)
                    values[key] = got[0] if got else None
            if oid in fetched.panel_energy:
                values["panel_energy_today"] = fetched.panel_energy[oid]
            readings[did] = Readings(values=values, as_of=as_of)
        for key, powers in string_power.items():
            readings[f"{sid}_string_{key}"] = Readings(
                values={"production_power": round(sum(powers), 1)}, as_of=newest
            )
        site_values: dict[str, Value] = {}
        if fetched.system_power is not None or newest is not None:
            site_values["production_power"] = fetched.system_power
        if fetched.energy_today is not None:
            site_values["production_energy_today"] = fetched.energy_today
        if fetched.energy_lifetime is not None:
            site_values["production_energy_lifetime"] = fetched.energy_lifetime
        readings[sid] = Readings(
            values=site_values, as_of=fetched.system_as_of or newest
        )
        for store in self._minutes.values():
            store.prune(now)
        series: tuple[StatSeries, ...] = ()
        if points := pin.hourly_wh(now):
            series = (
                StatSeries(
                    key=SERIES_KEY,
                    name="solar production",
                    unit="Wh",
                    points=points,
                    energy_role="solar",
                ),
            )
        return Snapshot(
            sites={sid: system.site},
            devices=devices,
            readings=readings,
            alerts=tuple(alerts),
            notes={**self._notes, **(extra or {})},
            series=series,
        )


TOKEN_LEAD = timedelta(minutes=5)
"""Log in again this long before the token's `expires` (no refresh endpoint)."""


def parse_login(payload: Any) -> tuple[str, datetime | None] | None:
    """The bearer token and its expiry from a login answer.

    Accepted at the top level, under `user` or under `data`, as `auth` or
    `token` (variants observed by other clients, tigo-cps.md A.2).
    """
    if not isinstance(payload, Mapping):
        return None
    for holder in (payload.get("user"), payload.get("data"), payload):
        if not isinstance(holder, Mapping):
            continue
        token = holder.get("auth") or holder.get("token")
        if isinstance(token, str) and token:
            expires = parse_local(holder.get("expires"), UTC)
            return token, expires
    return None
