"""Free (Basic) Tigo accounts through the mobile app's API (`mapi.tigoenergy.com`).

UNDOCUMENTED: this is the JSON service family the Tigo app uses, read from
public clients (`srp-tigo-generac-2.md` §2.2); Tigo may change it with any app
release. Everything Tigo-app-specific lives in this one module.

- `POST /api/v3/user/login?type=8` with `{"username", "password"}` -> the same
  `user.auth` bearer token as v3; 401/403 = wrong credentials.
- `/api/v3/systems/query` (systems), `/api/v3/systems/layout?id=` (the v3 tree),
  `/api/v3/systems/full/{id}` (sources: the CCA whose serial is the `uid` of
  the minute data), `/api/v4/equipments?systemId=` (its order indexes the
  minute rows' `d[]` arrays), `/api/v4/system/summary/summary?temp=pin`
  (per-minute per-panel power of one day) and `/api/v4/system/summary/aggenergy`
  (per-panel energy today, Wh, and the day's total).
- Conditional requests (`If-None-Match` with the last ETag) instead of the
  app's `_=<ms>` cache buster; 304 keeps what we have; 429 and 503 are
  transient (retried by the coordinator's back-off).
- Basic accounts get panel power and energy only: no voltage, current,
  temperature or RSSI (tigosolar-local#31), no lifetime energy, no alerts.

UNCONFIRMED: rate limits (we send at most 20 a minute), the equipment list's
shape (`equipments`/`data`/a bare list; ids as `object_id`, `objectId` or `id`),
the minute rows' `t` format (a bare `HH:MM[:SS]` of `date`, or a full
`YYYY-MM-DD HH:MM:SS`), the `uid` being the CCA serial, whether the app's
own headers (`origin: capacitor://localhost`, `x-app-version`) are needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, ClassVar

from ...model import Snapshot, as_float
from ..base import AccountInfo, AuthFailedError, PollCost, RequestBudget
from ..http import HttpResponse
from .common import (
    ACCOUNT_APP,
    Fetched,
    Row,
    SystemInfo,
    TigoClient,
    parse_layout,
    parse_local,
    parse_sources,
    systems_of,
)

DEFAULT_URL = "https://mapi.tigoenergy.com"


def equipment_order(payload: Any) -> list[str]:
    """Object ids in the order of the minute rows' `d[]` arrays."""
    items: Any = payload
    if isinstance(payload, Mapping):
        items = payload.get("equipments", payload.get("data", []))
    order: list[str] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping):
            oid = item.get("object_id", item.get("objectId", item.get("id")))
            if oid is not None:
                order.append(str(oid))
    return order


def parse_minutes(
    payload: Any, order: list[str], zone: tzinfo, day: str
) -> list[tuple[datetime, Row]]:
    """Minute rows of `summary/summary`: `dataset[0].data[] = {t, d[]}`."""
    dataset = payload.get("dataset") if isinstance(payload, Mapping) else None
    block = dataset[0] if isinstance(dataset, list) and dataset else None
    if not isinstance(block, Mapping):
        return []
    if isinstance(block.get("order"), list):  # one client reads the order here
        order = [str(oid) for oid in block["order"]]
    rows: list[tuple[datetime, Row]] = []
    for item in block.get("data") or []:
        if not isinstance(item, Mapping) or not isinstance(d := item.get("d"), list):
            continue
        if (moment := parse_local(item.get("t"), zone, day)) is None:
            continue
        rows.append(
            (moment, {oid: as_float(v) for oid, v in zip(order, d, strict=False)})
        )
    return rows


class TigoAppConnector(TigoClient):
    """A Tigo system through the app's (undocumented) API: free accounts."""

    kind: ClassVar[str] = ACCOUNT_APP
    default_url: ClassVar[str | None] = DEFAULT_URL
    budget: ClassVar[RequestBudget] = RequestBudget(per_minute=20, concurrency=1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Start with no cached answers."""
        super().__init__(*args, **kwargs)
        self._order: list[str] = []
        self._cca: str | None = None
        self._etags: dict[str, tuple[str, Any]] = {}
        """Route -> (ETag, parsed body) for conditional requests."""
        self._energy: Fetched = Fetched()
        self._looked_back = False

    @property
    def cost(self) -> PollCost:
        """Two requests (minute power, energy) each quarter-hour by day, none at night.

        The app API is undocumented and its limits unknown: gentle on purpose.
        Minutes land 10-40 min late in batches, so polling faster only re-reads
        them (and writes more states); aligned like the Premium client.
        """
        return PollCost(
            per_poll=2,
            min_interval=timedelta(minutes=10),
            sun_aware=True,
            align=timedelta(minutes=15),
            align_delay=timedelta(minutes=3),
        )

    async def _login(self) -> None:
        response = await self._send(
            "POST",
            "/api/v3/user/login",
            params={"type": "8"},
            json={"username": self._username, "password": self._password},
            headers={"Accept": "application/json"},
        )
        if response.status in (401, 403):
            raise AuthFailedError("Tigo refused the login")
        self._raise_for_status(response, "login")
        self._store_login(response.json("login"))

    async def _cached(self, path: str, what: str, **params: Any) -> tuple[Any, bool]:
        """GET with If-None-Match; (body, changed). 304 gives the cached body."""
        etag, body = self._etags.get(what, ("", None))
        headers = {"If-None-Match": etag} if etag else None
        response: HttpResponse = await self._request(
            "GET", path, params=params, headers=headers
        )
        if response.status == 304 and body is not None:
            return body, False
        self._raise_for_status(response, what)
        parsed = response.json(what)
        if tag := response.headers.get("ETag"):
            self._etags[what] = (tag, parsed)
        return parsed, True

    async def async_identify(self) -> AccountInfo:
        """Log in and list the account's systems."""
        await self._login()
        payload = await self._get_json(
            "/api/v3/systems/query",
            "systems",
            params={"limit": 100, "page": 1, "sort": "-id"},
        )
        return AccountInfo(
            unique_id=self._username.strip().lower(),
            title=self._username,
            sites=tuple(system.site for system in systems_of(payload)),
        )

    async def _discover(self, now: datetime) -> None:
        """System, layout, CCA and equipment order (cached for hours)."""
        sid = self.system_id
        systems = await self._get_json(
            "/api/v3/systems/query",
            "systems",
            params={"limit": 100, "page": 1, "sort": "-id"},
        )
        self._system = next(
            (s for s in systems_of(systems) if s.system_id == sid),
            self._system or SystemInfo(system_id=str(sid), name=f"Tigo {sid}"),
        )
        self._layout = parse_layout(
            await self._get_json("/api/v3/systems/layout", "layout", params={"id": sid})
        )
        full = await self._get_json(
            f"/api/v3/systems/full/{sid}", "full", params={"system_id": sid}
        )
        self._gateways = parse_sources(full, self.zone)
        self._cca = next((g.serial or g.key for g in self._gateways), None)
        self._order = equipment_order(
            await self._get_json(
                "/api/v4/equipments", "equipments", params={"systemId": sid}
            )
        )
        self._layout_at = now

    async def async_fetch(self) -> Snapshot:
        """Today's minute power (whole day, conditional) and today's energy."""
        now = datetime.now(UTC)
        if self._system is None or self._stale(self._layout_at, now):
            await self._discover(now)
        zone = self.zone
        day = now.astimezone(zone).date().isoformat()
        if self._cca is None:
            self._notes["summary"] = "no CCA listed: no minute data"
        else:
            await self._minutes_of(day, zone)
            if self.store("Pin").newest is None and not self._looked_back:
                # Started before today's first minute: yesterday's last real
                # values (dusk zeros) rather than unknown until sunrise.
                self._looked_back = True
                yesterday = (
                    now.astimezone(zone).date() - timedelta(days=1)
                ).isoformat()
                await self._minutes_of(yesterday, zone)
        energy, changed = await self._cached(
            "/api/v4/system/summary/aggenergy",
            f"energy-{day}",
            system_id=self.system_id,
            date=day,
            temp="energy",
            resourceId=f"data-{day}-energy",
        )
        if changed or self._energy.energy_today is None:
            self._energy = self._parse_energy(energy, zone)
        pin = self.store("Pin")
        fetched = Fetched(
            energy_today=self._energy.energy_today,
            panel_energy=dict(self._energy.panel_energy),
            system_as_of=pin.newest or self._energy.system_as_of,
        )
        if (newest := pin.newest) is not None and self._layout is not None:
            latest = [pin.latest(oid, newest) for oid in self._layout.panels]
            # Each panel's newest value, as the strings sum them: a panel whose
            # last minutes are still missing counts with its previous one.
            powers = [got[0] for got in latest if got is not None]
            fetched.system_power = round(sum(powers), 1) if powers else None
        # Old days' conditional answers are never asked again.
        self._etags = {k: v for k, v in self._etags.items() if k.endswith(day)}
        return self._build(fetched, now)

    async def _minutes_of(self, day: str, zone: tzinfo) -> None:
        """One site-local day of per-minute panel power (conditional request)."""
        body, changed = await self._cached(
            "/api/v4/system/summary/summary",
            f"pin-{day}",
            system_id=self.system_id,
            date=day,
            temp="pin",
            uid=self._cca,
            resourceId=f"data-{day}-pin-{self._cca}",
        )
        if changed:
            self.store("Pin").merge(parse_minutes(body, self._order, zone, day))

    @staticmethod
    def _parse_energy(payload: Any, zone: tzinfo) -> Fetched:
        """`aggenergy`: per-panel Wh today, the day's total and its last sample."""
        fetched = Fetched()
        if not isinstance(payload, Mapping):
            return fetched
        dataset = payload.get("dataset")
        if isinstance(dataset, Mapping):
            fetched.panel_energy = {str(k): as_float(v) for k, v in dataset.items()}
        stats = payload.get("dailyStats")
        if isinstance(stats, Mapping):
            fetched.energy_today = as_float(stats.get("total_agg_energy"))
        fetched.system_as_of = parse_local(payload.get("lastData"), zone)
        return fetched
