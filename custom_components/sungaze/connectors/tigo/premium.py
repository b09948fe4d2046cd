"""Tigo EI Premium: the documented cloud API v3 (`api2.tigoenergy.com/api/v3`).

Follows `/work/shared/api/tigo-cps.md` part A and `srp-tigo-generac-2.md` §2.1:

- `GET /users/login` with HTTP Basic -> `user.auth` as a bearer token; no
  refresh endpoint, so a new login on a 401 or 5 minutes before `expires`.
- `/systems`, `/systems/view`, `/systems/layout`, `/objects/system` (positions),
  `/sources/system` (CCA), `/data/summary` (Wh, W), `/alerts/system`, and
  `/data/aggregate` CSV: one parameter per call, `header=id` (columns are the
  panels' object ids), naive site-local `YYYY/MM/DD HH:MM:SS` timestamps,
  empty cells for missing minutes, rows in the future dropped.
- Without Premium the login works but a route answers **402** (observed on
  `/sources/{id}`) or no system is listed: such routes are dropped (retried
  every few hours) and the entry asks, through a repair issue, to switch to the
  free kind.

UNCONFIRMED here: the 100 requests/minute cap (we stay at 50), the
`X-Rate-Limit-Reset` header, the `Temp` parameter (asked once; dropped when it
gives nothing), `last_power_dc` reading 1 instead of 0 at night (1 is taken as
0), which routes a lapsed subscription answers 402 on, and that the alert
`unique_id` is a type code.
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta, tzinfo
import io
from typing import Any, ClassVar

import aiohttp

from ...model import Alert, HistorySeries, Severity, Snapshot, as_float
from ..base import (
    AccountInfo,
    AuthFailedError,
    PollCost,
    RateLimitedError,
    RequestBudget,
)
from ..http import HttpResponse, parse_retry_after
from .common import (
    ACCOUNT_PREMIUM,
    CACHE_TTL,
    Fetched,
    MinuteStore,
    Row,
    SystemInfo,
    TigoClient,
    parse_layout,
    parse_local,
    parse_sources,
    systems_of,
)

DEFAULT_URL = "https://api2.tigoenergy.com/api/v3"
WINDOW = timedelta(hours=3)
"""Trailing window re-read each update: catches backfills and revisions, and
is wide enough that Tigo does not answer it empty (tigo-cps.md A.7)."""
TECH_WINDOW = timedelta(minutes=30)
"""The other parameters are shown, not imported: their newest minutes suffice."""
FUTURE = timedelta(minutes=5)
TECHNICAL = ("Vin", "Iin", "RSSI", "Temp")
ESSENTIAL = ("summary", "Pin")
"""Routes without which the entry shows nothing: a 402 on them raises the repair."""


def parse_csv(text: str, zone: tzinfo, now: datetime) -> list[tuple[datetime, Row]]:
    """Rows of an aggregate CSV (`header=id`): aware minute -> object id -> value.

    Repeated header lines are skipped; rows more than 5 minutes in the future
    (seen live) are dropped; empty cells are None.
    """
    header: list[str] | None = None
    rows: list[tuple[datetime, Row]] = []
    for cells in csv.reader(io.StringIO(text)):
        if not cells:
            continue
        if cells[0].strip().lower() == "datetime":
            header = [cell.strip() for cell in cells]
            continue
        if header is None or (moment := parse_local(cells[0], zone)) is None:
            continue
        if moment - now > FUTURE:
            continue
        rows.append(
            (
                moment,
                {
                    header[i]: as_float(cells[i])
                    for i in range(1, min(len(header), len(cells)))
                },
            )
        )
    return rows


def _local(moment: datetime, zone: tzinfo) -> str:
    """A query time: naive site-local wall clock (never UTC)."""
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


class TigoPremiumConnector(TigoClient):
    """A Tigo system through the Premium API v3."""

    kind: ClassVar[str] = ACCOUNT_PREMIUM
    default_url: ClassVar[str | None] = DEFAULT_URL
    # 100/min per account is DOC only (UNCONFIRMED): stay well under it.
    budget: ClassVar[RequestBudget] = RequestBudget(per_minute=50, concurrency=1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Start with every route allowed."""
        super().__init__(*args, **kwargs)
        self._gated: dict[str, datetime] = {}
        """Route -> when it answered 402 (retried after `CACHE_TTL`)."""
        self._temp_works: bool | None = None
        self._objects_at: datetime | None = None

    @property
    def cost(self) -> PollCost:
        """Summary, CCA, alerts and the four panel parameters, each quarter-hour.

        Minutes land 10-40 min late in batches: polling faster only re-reads
        the same minutes. Aligned to quarter-hours, after sunset nothing moves.
        """
        return PollCost(
            per_poll=8,
            min_interval=timedelta(minutes=10),
            sun_aware=True,
            align=timedelta(minutes=15),
            align_delay=timedelta(minutes=3),
        )

    async def _login(self) -> None:
        response = await self._send(
            "GET",
            "/users/login",
            headers={
                "Accept": "application/json",
                "Authorization": aiohttp.encode_basic_auth(
                    self._username, self._password
                ),
            },
        )
        if response.status in (401, 403):
            raise AuthFailedError("Tigo refused the login")
        self._check(response, "login")
        self._store_login(response.json("login"))

    def _check(self, response: HttpResponse, what: str) -> None:
        """Typed errors; a 429 without Retry-After waits for X-Rate-Limit-Reset."""
        if response.status == 429 and response.retry_after is None:
            wait = parse_retry_after(response.headers.get("X-Rate-Limit-Reset")) or 15.0
            self.limiter.block(wait, "minute")
            raise RateLimitedError("Tigo rate limit", retry_after=wait, period="minute")
        self._raise_for_status(response, what)

    async def _get(
        self, path: str, what: str, params: dict[str, Any]
    ) -> HttpResponse | None:
        """GET a route; None when it is gated (402, no Premium) or absent (404)."""
        now = datetime.now(UTC)
        if (since := self._gated.get(what)) is not None and now - since < CACHE_TTL:
            return None
        response = await self._request("GET", path, params=params)
        if response.status == 402:
            self._gated[what] = now
            self._notes[what] = "402: needs Tigo EI Premium"
            self._log_once(f"402_{what}", f"Tigo answers 402 (no Premium) on {path}")
            return None
        if response.status == 404:
            self._notes[what] = "404: not offered for this system"
            return None
        self._check(response, what)
        self._gated.pop(what, None)
        self._notes.pop(what, None)
        return response

    async def _json(self, path: str, what: str, **params: Any) -> Any:
        response = await self._get(path, what, params)
        return None if response is None else response.json(what)

    async def async_identify(self) -> AccountInfo:
        """Log in and list the systems; none listed (or 402) means no API access."""
        await self._login()
        payload = await self._json("/systems", "systems", page=1, limit=100)
        systems = systems_of(payload) if payload is not None else []
        if systems:
            # Some accounts list their systems but get 402 on the data: probe one.
            probe = await self._get(
                "/data/summary", "probe", {"system_id": systems[0].system_id}
            )
            self._gated.pop("probe", None)
            if probe is None:
                systems = []
        return AccountInfo(
            unique_id=self._username.strip().lower(),
            title=self._username,
            sites=tuple(system.site for system in systems),
        )

    async def async_fetch(self) -> Snapshot:
        """One update of the system (see `cost` for what it reads)."""
        now = datetime.now(UTC)
        sid = self.system_id
        if self._system is None or self._stale(self._layout_at, now):
            view = await self._json("/systems/view", "system", id=sid)
            item = view.get("system") if isinstance(view, dict) else None
            if isinstance(item, dict) and (system := SystemInfo.parse(item)):
                self._system = system
            elif self._system is None:
                self._system = SystemInfo(system_id=str(sid), name=f"Tigo {sid}")
            layout = await self._json("/systems/layout", "layout", id=sid)
            if layout is not None:
                self._layout = parse_layout(layout)
            self._layout_at = now
            await self._positions(now)
        zone = self.zone
        sources = await self._json("/sources/system", "sources", system_id=sid)
        if sources is not None:
            self._gateways = parse_sources(sources, zone)
        fetched = Fetched()
        summary = await self._json("/data/summary", "summary", system_id=sid)
        if isinstance(summary, dict) and isinstance(
            body := summary.get("summary"), dict
        ):
            power = as_float(body.get("last_power_dc"))
            fetched.system_power = 0.0 if power == 1 else power
            fetched.energy_today = as_float(body.get("daily_energy_dc"))
            fetched.energy_lifetime = as_float(body.get("lifetime_energy_dc"))
            fetched.system_as_of = parse_local(body.get("updated_on"), zone)
        pin = self.store("Pin")
        newest = pin.newest
        midnight = now.astimezone(zone).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        # First read: the whole day, or since yesterday afternoon before noon, so
        # a start at night shows the last real values (dusk zeros), not unknown.
        first = min(midnight, now - timedelta(hours=12))
        start = min(newest - WINDOW, now - WINDOW) if newest else first
        await self._minutes_of("Pin", start, now, zone)
        newest = pin.newest or now
        for param in TECHNICAL:
            if param == "Temp" and self._temp_works is False:
                continue
            got = await self._minutes_of(param, newest - TECH_WINDOW, now, zone)
            if param == "Temp" and self._temp_works is None and got:
                # Not a documented parameter: decided on the first rows (not on
                # an empty night window); kept only if it gave values.
                self._temp_works = any(
                    v is not None for _, row in got for v in row.values()
                )
                if not self._temp_works:
                    self._minutes.pop("Temp", None)
                    self._notes["Temp"] = "no module temperature from this account"
        alerts = await self._json(
            "/alerts/system", "alerts", system_id=sid, language="EN"
        )
        fetched.alerts = self._alerts(alerts, zone)
        if any(what in self._gated for what in ESSENTIAL):
            fetched.alerts.append(self._no_access_alert())
        return self._build(fetched, now)

    async def _minutes_of(
        self, param: str, start: datetime, end: datetime, zone: tzinfo
    ) -> list[tuple[datetime, Row]] | None:
        response = await self._get(
            "/data/aggregate",
            param,
            {
                "system_id": self.system_id,
                "start": _local(start, zone),
                "end": _local(end, zone),
                "level": "min",
                "param": param,
                "header": "id",
            },
        )
        if response is None:
            if param in self._gated:  # no Premium: its values go, not frozen
                self._minutes.pop(param, None)
            return None
        if "json" in response.headers.get("Content-Type", ""):
            self._log_once(f"json_{param}", f"Tigo answered JSON, not CSV, for {param}")
            return None
        rows = parse_csv(response.text, zone, end)
        self.store(param).merge(rows)
        return rows

    async def _positions(self, now: datetime) -> None:
        """Panel positions on the layout canvas (`/objects/system`, `ui.X/Y`)."""
        if self._layout is None or not self._stale(self._objects_at, now):
            return
        self._objects_at = now
        objects = await self._json(
            "/objects/system", "objects", system_id=self.system_id
        )
        items = objects.get("objects") if isinstance(objects, dict) else None
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict) or not isinstance(ui := item.get("ui"), dict):
                continue
            if (panel := self._layout.panels.get(str(item.get("id")))) is not None:
                panel.x, panel.y = as_float(ui.get("X")), as_float(ui.get("Y"))

    history_requests_per_day: ClassVar[int] = 1

    async def async_history(self, day: date) -> tuple[HistorySeries, ...]:
        """A past site-local day's hourly production, from its minutes (one CSV).

        Imported before the lifetime counter's first recorded hour, so the
        Energy dashboard shows the days before setup.
        """
        if self._system is None or self.system_id is None:
            return ()
        zone = self.zone
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        end = start + timedelta(days=1) - timedelta(seconds=1)
        response = await self._get(
            "/data/aggregate",
            "history",
            {
                "system_id": self.system_id,
                "start": _local(start, zone),
                "end": _local(end, zone),
                "level": "min",
                "param": "Pin",
                "header": "id",
            },
        )
        if response is None:
            return ()
        now = datetime.now(UTC)
        store = MinuteStore()
        store.merge(parse_csv(response.text, zone, now))
        if not (points := store.hourly_wh(now)):
            return ()
        return (
            HistorySeries(
                device_id=self.system_id,
                key="production_energy_lifetime",
                points=points,
            ),
        )

    def _no_access_alert(self) -> Alert:
        """Premium lapsed (402): a problem on the system that asks for a repair."""
        return Alert(
            id="no_api_access",
            device_id=str(self.system_id),
            severity=Severity.WARNING,
            code="402",
            message=(
                "Tigo answers that this account has no API access (Tigo EI Premium),"
                " so the Premium values are no longer shown. Renew Premium, or use"
                " Reconfigure on this entry and choose the free account kind (the"
                " Tigo app's API)."
            ),
            started=min(
                (self._gated[what] for what in ESSENTIAL if what in self._gated),
                default=None,
            ),
            repair=True,
        )

    def _alerts(self, payload: Any, zone: tzinfo) -> list[Alert]:
        """Open (not archived) alerts of the system, on the system device."""
        items: Any = None
        if isinstance(payload, dict):
            items = payload.get("alerts", payload.get("Alerts", payload.get("alert")))
        alerts: list[Alert] = []
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict) or item.get("archived"):
                continue
            title = str(item.get("title") or "Tigo alert")
            message = str(item.get("message") or "")
            alerts.append(
                Alert(
                    id=str(item.get("alert_id")),
                    device_id=str(self.system_id),
                    severity=Severity.WARNING,
                    code=str(item.get("unique_id") or item.get("alert_id")),
                    message=f"{title}: {message}" if message else title,
                    started=parse_local(
                        item.get("generated") or item.get("added"), zone
                    ),
                )
            )
        return alerts
