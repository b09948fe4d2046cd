"""Tigo cloud simulator: the Premium API v3 and the mobile app's API (`mapi`).

A real aiohttp server on loopback; both APIs on one port under two prefixes:
``{origin}/api2/api/v3`` (Premium, ``api2.tigoenergy.com/api/v3``) and
``{origin}/mapi`` (``mapi.tigoenergy.com``). Shapes follow
``/work/shared/api/tigo-cps.md`` part A and ``srp-tigo-generac-2.md`` §2.

The system: 24 TS4 optimizers in two strings (A1-A12 on MPPT 1, B1-B12 on
MPPT 2) of one inverter, behind one CCA, in Phoenix (``tz``: another zone,
the same local-time curves). Panel A5 is shaded: it
makes 40 % of the mean of A4 and A6. Every value derives from
``datetime.now(UTC)`` at request time (freezegun drives the clock).

Late minutes: minutes are uploaded in quarter-hour batches; a batch appears
0-15 min after its quarter-hour ends (so each minute is 15-30 min late), and
every fourth batch first appears with string B's last five minutes empty and is
completed ("revised") ``revise_after`` later. Before dawn and after dusk the
CCA sends nothing (empty windows); around sunrise and sunset it reports real
zeros.

Accounts: ``premium@example.com`` / ``premium-pass`` (Tigo EI Premium) and
``basic@example.com`` / ``basic-pass`` (free). Both reach the system through
``mapi``; on the Premium API the free account logs in but lists no system and
gets **402** on data routes. ``premium`` (a dict) revokes or grants Premium.

Fault switches: ``fail_next(status, count, path_contains)``, ``expire_tokens()``
(every issued token answers 401), ``token_ttl``, ``minute_limit`` (429 with
``Retry-After`` per account and minute), ``offline``, ``stale_summary`` (the
summary answers from 30 min earlier: a late window re-read), ``lag_extra``
(minutes added to every batch's delay).

Introspection: ``calls`` (method, path, query), ``panel_w(oid, local_naive)``
(truth), ``hour_wh(local_hour_start)`` (the array's energy in an hour, as
published once every batch is in), ``published(local_naive)``.
"""

from __future__ import annotations

import base64
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
import hashlib
import json
import math
import secrets
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

__all__ = ["BASIC", "EMPTY", "PREMIUM", "SYSTEM_ID", "TigoSimulator", "demo_entry"]

SYSTEM_ID = 174596
TZ = "America/Phoenix"
"""The default zone (`TigoSimulator.tz`); ``ZONE`` is its ZoneInfo."""
ZONE = ZoneInfo(TZ)
PREMIUM = ("premium@example.com", "premium-pass")
BASIC = ("basic@example.com", "basic-pass")
EMPTY = ("empty@example.com", "empty-pass")
"""A Premium account that owns no system."""
CCA_SERIAL = "04C05B800ACE"
RATED_W = 400.0
SHADED = "A5"
LIFETIME_BASE_WH = 40_918_712.0
_QH = timedelta(minutes=15)


def _labels() -> list[str]:
    return [f"{s}{n}" for s in "AB" for n in range(1, 13)]


OBJECT_IDS: dict[str, str] = {
    label: str(89287700 + (100 if label[0] == "B" else 0) + int(label[1:]))
    for label in _labels()
}
"""Layout label -> object id (the CSV `header=id` column name)."""
LABELS = {oid: label for label, oid in OBJECT_IDS.items()}
EQUIPMENT_ORDER = [OBJECT_IDS[f"B{n}"] for n in range(1, 13)] + [
    OBJECT_IDS[f"A{n}"] for n in range(12, 0, -1)
]
"""The app API's equipment order (indexes `d[]`): deliberately not the layout's."""


def _hash(*parts: object) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16)


@lru_cache(maxsize=4096)
def _sun(ordinal: int) -> tuple[float, float, float]:
    """Sunrise, sunset (local hours, Phoenix has no DST) and a day's weather factor."""
    doy = ordinal - date(date.fromordinal(ordinal).year, 1, 1).toordinal() + 1
    season = math.sin(2 * math.pi * (doy - 80) / 365.25)
    length = 12.0 + 2.0 * season
    sunrise = 12.3 - length / 2
    weather = 0.8 + 0.2 * ((_hash("weather", ordinal) % 1000) / 1000)
    return sunrise, sunrise + length, weather


def _factor(label: str) -> float:
    """Per-panel spread (orientation, soiling): a few percent."""
    return 1.0 - 0.004 * (int(label[1:]) - 1) - (0.02 if label[0] == "B" else 0.0)


@lru_cache(maxsize=262144)
def _panel_w(label: str, minute: datetime) -> float:
    """A panel's power (W) at a local naive minute."""
    if label == SHADED:
        neighbours = (_panel_w("A4", minute) + _panel_w("A6", minute)) / 2
        return round(0.4 * neighbours, 1)
    sunrise, sunset, weather = _sun(minute.toordinal())
    hour = minute.hour + minute.minute / 60
    if not sunrise < hour < sunset:
        return 0.0
    x = (hour - sunrise) / (sunset - sunrise)
    return round(
        RATED_W * 0.85 * weather * _factor(label) * math.sin(math.pi * x) ** 2, 1
    )


def _vin(label: str, watts: float) -> float:
    return (
        round(30.0 + 8.0 * min(watts / RATED_W, 1.0) + 0.1 * int(label[1:]), 1)
        if watts
        else 0.0
    )


def _reports(minute: datetime) -> bool:
    """The CCA reports between 20 min before sunrise and 20 min after sunset."""
    sunrise, sunset, _ = _sun(minute.toordinal())
    hour = minute.hour + minute.minute / 60
    return sunrise - 1 / 3 <= hour <= sunset + 1 / 3


@dataclass
class _Account:
    password: str
    premium: bool
    owns_system: bool = True


@dataclass
class _Token:
    user: str
    expires: datetime


@dataclass(eq=False)
class TigoSimulator:
    """Fake Tigo cloud (both APIs); see the module docstring."""

    minute_limit: int = 100
    token_ttl: timedelta = timedelta(hours=1)
    revise_after: timedelta = timedelta(minutes=10)
    calls: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    offline: bool = False
    stale_summary: bool = False
    lag_extra: timedelta = timedelta(0)
    control_state: str = "on"
    """The CCA's PV-Off state (`on` = producing)."""
    lists_without_premium: bool = False
    """A lapsed account still lists its systems on v3 (its data answers 402)."""
    extra_systems: list[dict[str, Any]] = field(default_factory=list)
    """More systems in the lists (their data routes answer 404)."""
    origin: str = ""
    tz: str = TZ
    """The system's IANA time zone: its local clock and the `timezone` it serves."""

    def __post_init__(self) -> None:
        """Accounts, tokens and the aiohttp application."""
        self.zone = ZoneInfo(self.tz)
        self.accounts = {
            PREMIUM[0]: _Account(PREMIUM[1], True),
            BASIC[0]: _Account(BASIC[1], False),
            EMPTY[0]: _Account(EMPTY[1], True, owns_system=False),
        }
        self._tokens: dict[str, _Token] = {}
        self._failures: list[list[Any]] = []
        self._window: dict[str, deque[datetime]] = defaultdict(deque)
        self._runner: web.AppRunner | None = None
        self._ref_ordinal = datetime.now(UTC).astimezone(self.zone).toordinal() - 3
        self.app = web.Application()
        self.app.router.add_route("*", "/api2/api/v3/{tail:.*}", self._premium)
        self.app.router.add_route("*", "/mapi/{tail:.*}", self._mapi)

    # -- lifecycle -------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen; return the Premium base URL (``mapi_url`` is the app API's)."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.origin = f"http://{host}:{self._runner.addresses[0][1]}"
        return self.premium_url

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def premium_url(self) -> str:
        """Base URL of the Premium API v3."""
        return f"{self.origin}/api2/api/v3"

    @property
    def mapi_url(self) -> str:
        """Base URL of the app API."""
        return f"{self.origin}/mapi"

    # -- switches and truth ----------------------------------------------------

    def fail_next(self, status: int, count: int = 1, path_contains: str = "") -> None:
        """Answer ``status`` to the next ``count`` matching authenticated requests."""
        self._failures.append([status, count, path_contains])

    def expire_tokens(self) -> None:
        """Every issued token is refused from now on."""
        self._tokens.clear()

    def set_premium(self, user: str, premium: bool) -> None:
        """Grant or revoke Tigo EI Premium."""
        self.accounts[user].premium = premium

    @staticmethod
    def panel_w(oid: str, minute: datetime) -> float:
        """True power of a panel (object id) at a local naive minute."""
        return _panel_w(LABELS[oid], minute)

    def published(
        self, minute: datetime, now: datetime | None = None
    ) -> dict[str, float | None] | None:
        """What the cloud holds for a local naive minute now (None: no row)."""
        if not _reports(minute):
            return None
        local_now = (
            (now or datetime.now(UTC)).astimezone(self.zone).replace(tzinfo=None)
        )
        batch = minute.replace(minute=minute.minute - minute.minute % 15, second=0)
        first = (
            batch + _QH + timedelta(minutes=_hash("lag", batch) % 16) + self.lag_extra
        )
        if local_now < first:
            return None
        values: dict[str, float | None] = {
            oid: _panel_w(label, minute) for label, oid in OBJECT_IDS.items()
        }
        revised = _hash("revise", batch) % 4 == 0
        if (
            revised
            and local_now < first + self.revise_after
            and minute >= batch + timedelta(minutes=10)
        ):
            for label, oid in OBJECT_IDS.items():
                if label[0] == "B":
                    values[oid] = None
        return values

    def hour_wh(self, start: datetime) -> float:
        """The array's energy (Wh) in a local naive hour, every batch in."""
        return round(
            sum(
                _panel_w(label, start + timedelta(minutes=m)) / 60
                for m in range(60)
                for label in OBJECT_IDS
                if _reports(start + timedelta(minutes=m))
            ),
            3,
        )

    def _rows(
        self, start: datetime, end: datetime
    ) -> list[tuple[datetime, dict[str, float | None]]]:
        rows = []
        minute = start.replace(second=0, microsecond=0)
        while minute <= end:
            if (values := self.published(minute)) is not None:
                rows.append((minute, values))
            minute += timedelta(minutes=1)
        return rows

    def _now_local(self) -> datetime:
        return datetime.now(UTC).astimezone(self.zone).replace(tzinfo=None)

    def _day_published(
        self, day: date, until: datetime
    ) -> list[tuple[datetime, dict[str, float | None]]]:
        start = datetime.combine(day, time())
        return self._rows(start, min(until, start + timedelta(hours=23, minutes=59)))

    @staticmethod
    def _energy(rows: list[tuple[datetime, dict[str, float | None]]]) -> float:
        return sum(v for _, row in rows for v in row.values() if v is not None) / 60

    @lru_cache(maxsize=64)  # noqa: B019 - one simulator per test
    def _day_total(self, ordinal: int) -> float:
        start = datetime.combine(date.fromordinal(ordinal), time())
        return sum(self.hour_wh(start + timedelta(hours=h)) for h in range(24))

    def summary(self) -> dict[str, Any]:
        """The `/data/summary` body now."""
        now = self._now_local() - (
            timedelta(minutes=30) if self.stale_summary else timedelta(0)
        )
        rows = self._day_published(now.date(), now)
        daily = self._energy(rows)
        before = sum(
            self._day_total(o) for o in range(self._ref_ordinal, now.toordinal())
        )
        newest, values = rows[-1] if rows else (None, {})
        power = sum(v for v in values.values() if v is not None)
        return {
            "lifetime_energy_dc": round(LIFETIME_BASE_WH + before + daily, 2),
            "ytd_energy_dc": round(4_114_728.35 + before + daily, 2),
            "daily_energy_dc": round(daily, 2),
            # The fixture's night quirk: 1 instead of 0 (tigo-cps.md A.5.5).
            "last_power_dc": round(power, 1) if power else 1,
            "updated_on": (newest or now)
            .replace(tzinfo=self.zone)
            .isoformat(timespec="milliseconds"),
        }

    # -- shared shapes -----------------------------------------------------------

    def _system_json(self) -> dict[str, Any]:
        return {
            "system_id": SYSTEM_ID,
            "external_id": None,
            "name": "Home Array",
            "city": "Phoenix",
            "state": "AZ",
            "country": "United States",
            "country_code": "US",
            "latitude": "33.45",
            "longitude": "-112.07",
            "timezone": self.tz,
            "power_rating": int(RATED_W * 24),
            "power_rating_ac": None,
            "created": "2024-05-02T10:11:12-07:00",
            "commissioned": "2024-06-01T00:00:00-07:00",
            "decommissioned": None,
            "status": "Active",
            "turn_on_date": "2024-06-01",
            "recent_alerts_count": 1,
            "has_monitored_modules": True,
        }

    def _layout_json(self) -> dict[str, Any]:
        def panels(string: str) -> list[dict[str, Any]]:
            return [
                {
                    "panel_id": 9000 + int(OBJECT_IDS[f"{string}{n}"]) % 1000,
                    "label": f"{string}{n}",
                    "short_label": n,
                    "serial": f"4-{_hash('serial', string, n):07X}",
                    "type": "TS4-A-O",
                    "source_id": 301,
                    "object_id": int(OBJECT_IDS[f"{string}{n}"]),
                    "panel_type_id": 7,
                }
                for n in range(1, 13)
            ]

        return {
            "system": {
                "system_id": SYSTEM_ID,
                "inverters": [
                    {
                        "inverter_id": 1,
                        "inverter_type_id": 3,
                        "label": "Inverter 1",
                        "object_id": 5001,
                        "source_id": 301,
                        "serial": "INV7700123",
                        "mppts": [
                            {
                                "mppt_id": m,
                                "label": f"MPPT {m}",
                                "strings": [
                                    {
                                        "string_id": 10 + m,
                                        "label": f"String {s}",
                                        "short_label": s,
                                        "object_id": 6010 + m,
                                        "panels": panels(s),
                                    }
                                ],
                            }
                            for m, s in ((1, "A"), (2, "B"))
                        ],
                    }
                ],
            }
        }

    def _source_json(self) -> dict[str, Any]:
        rows = self._rows(self._now_local() - timedelta(hours=3), self._now_local())
        checkin = (
            rows[-1][0] if rows else self._now_local() - timedelta(hours=1)
        ) + timedelta(minutes=7)
        return {
            "source_id": 301,
            "name": "Primary CCA",
            "serial": CCA_SERIAL,
            "gateway_count": 1,
            "control_state": self.control_state,
            "last_checkin": checkin.replace(tzinfo=self.zone).isoformat(),
            "timezone": self.tz,
            "sw_version": "RandevuConfig_04C05B9FA214.img",
            "system_id": SYSTEM_ID,
            "object_id": 4001,
            "panel_count": 24,
            "is_discovery_complete": True,
            "sets": [],
        }

    # -- request plumbing --------------------------------------------------------

    @staticmethod
    def _error(status: int, name: str, message: str) -> web.Response:
        return web.json_response(
            {"name": name, "message": message, "code": 0, "status": status},
            status=status,
        )

    def _issue(self, user: str) -> dict[str, Any]:
        token = secrets.token_urlsafe(48)
        expires = datetime.now(UTC) + self.token_ttl
        self._tokens[token] = _Token(user, expires)
        return {
            "user": {
                "user_id": 100000 + _hash(user) % 100000,
                "auth": token,
                "expires": expires.astimezone(self.zone).isoformat(timespec="seconds"),
                "user_type": "Premium" if self.accounts[user].premium else "Basic",
                "refresh_token": secrets.token_urlsafe(16),
                "user_agreement": True,
            }
        }

    def _bearer(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        token = self._tokens.get(header[7:])
        if token is None or token.expires <= datetime.now(UTC):
            return None
        return token.user

    def _gate(self, request: web.Request, user: str) -> web.Response | None:
        """Rate limit and injected failures for an authenticated request."""
        now = datetime.now(UTC)
        window = self._window[user]
        while window and now - window[0] >= timedelta(minutes=1):
            window.popleft()
        if len(window) >= self.minute_limit:
            response = self._error(429, "Too Many Requests", "Rate limit exceeded.")
            response.headers["Retry-After"] = "30"
            return response
        window.append(now)
        for failure in self._failures:
            status, count, needle = failure
            if count > 0 and needle in request.path:
                failure[1] -= 1
                if status == 429:
                    response = self._error(
                        429, "Too Many Requests", "Rate limit exceeded."
                    )
                    response.headers["Retry-After"] = "30"
                    return response
                return self._error(status, "Error", f"Simulated HTTP {status}")
        return None

    def _record(self, request: web.Request) -> None:
        self.calls.append((request.method, request.path, dict(request.query)))

    # -- Premium API v3 ------------------------------------------------------------

    async def _premium(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        if self.offline:
            raise web.HTTPServiceUnavailable
        path = "/" + request.match_info["tail"]
        if path == "/users/login":
            if request.method != "GET":
                return self._error(404, "Not Found", "Page not found.")
            return self._premium_login(request)
        user = self._bearer(request)
        if user is None:
            return self._error(
                401, "Unauthorized", "You are requesting with an invalid credential."
            )
        if (refused := self._gate(request, user)) is not None:
            return refused
        remaining = self.minute_limit - len(self._window[user])
        account = self.accounts[user]
        response = self._premium_route(
            path, request, account.premium, owns=account.owns_system
        )
        response.headers["X-Rate-Limit-Limit"] = str(self.minute_limit)
        response.headers["X-Rate-Limit-Remaining"] = str(max(remaining, 0))
        return response

    def _premium_login(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        try:
            user, _, password = (
                base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
            )
        except ValueError:
            user, password = "", ""
        account = self.accounts.get(user)
        if account is None or account.password != password:
            return self._error(
                401, "Unauthorized", "You are requesting with an invalid credential."
            )
        return web.json_response(self._issue(user))

    def _premium_route(
        self, path: str, request: web.Request, premium: bool, *, owns: bool = True
    ) -> web.Response:
        query = request.query
        meta = {"totalCount": 1, "pageCount": 1, "currentPage": 1, "perPage": 50}
        if path == "/systems":
            listed = premium or self.lists_without_premium
            systems = (
                [self._system_json(), *self.extra_systems] if listed and owns else []
            )
            return web.json_response(
                {
                    "systems": systems,
                    "_links": {},
                    "_meta": {**meta, "totalCount": len(systems)},
                }
            )
        sid = query.get("id") or query.get("system_id")
        if sid != str(SYSTEM_ID):
            return self._error(404, "Not Found", "Object not found.")
        if not premium:
            return self._error(
                402, "Payment Required", "This feature requires Tigo EI Premium."
            )
        if path == "/systems/view":
            return web.json_response({"system": self._system_json()})
        if path == "/systems/layout":
            return web.json_response(self._layout_json())
        if path == "/objects/system":
            objects = [
                {
                    "id": SYSTEM_ID,
                    "label": "Home Array",
                    "object_type_id": 1,
                    "parent_id": -1,
                    "children": [],
                }
            ]
            for label, oid in OBJECT_IDS.items():
                objects.append(
                    {
                        "id": int(oid),
                        "label": label,
                        "object_type_id": 2,
                        "parent_id": 6011 if label[0] == "A" else 6012,
                        "datasource": f"{CCA_SERIAL}.panels.{label}",
                        "children": [],
                        "ui": {
                            "X": 40 * int(label[1:]),
                            "Y": 0 if label[0] == "A" else 70,
                            "MP": 400,
                        },
                    }
                )
            return web.json_response({"objects": objects})
        if path == "/sources/system":
            return web.json_response({"sources": [self._source_json()]})
        if path == "/data/summary":
            return web.json_response({"summary": self.summary()})
        if path == "/alerts/system":
            return web.json_response({"alerts": [self._alert()], "_meta": meta})
        if path == "/data/aggregate":
            return self._aggregate(query)
        return self._error(404, "Not Found", "Page not found.")

    def _alert(self) -> dict[str, Any]:
        return {
            "alert_id": 88231,
            "system_id": SYSTEM_ID,
            "unique_id": 112,
            "title": "Low Power Production on PV Module",
            "message": f"Module {SHADED} produces much less than its neighbours",
            "description": "<p>Check module A5 for shading or soiling.</p>",
            "added": "2026-06-20T09:09:05-07:00",
            "generated": "2026-06-20T09:08:20-07:00",
            "archived": False,
        }

    def _aggregate(self, query: Any) -> web.Response:
        try:
            start = datetime.fromisoformat(query["start"])
            end = datetime.fromisoformat(query["end"])
        except KeyError, ValueError:
            return self._error(400, "Bad Request", "start and end are required.")
        if start.tzinfo is not None or end.tzinfo is not None:
            return self._error(
                400, "Bad Request", "Times are site-local without offset."
            )
        if query.get("level") not in ("min", "minute"):
            return self._error(400, "Bad Request", "Only minute data is simulated.")
        param = query.get("param", "Pin")
        by_key = query.get("header") == "key"
        labels = list(OBJECT_IDS)
        if param not in ("Pin", "Vin", "Iin", "RSSI"):
            labels = []  # "only a Datetime column" (seen live for some accounts)
        head = [
            f"{CCA_SERIAL}.panels.{label}_{param}" if by_key else OBJECT_IDS[label]
            for label in labels
        ]
        lines = [",".join(["Datetime", *head])]
        for minute, values in self._rows(start, end):
            cells = []
            for label in labels:
                watts = values[OBJECT_IDS[label]]
                if watts is None:
                    cells.append("")
                    continue
                vin = _vin(label, watts)
                value = {
                    "Pin": watts,
                    "Vin": vin,
                    "Iin": round(watts / vin, 2) if vin else 0.0,
                    "RSSI": 120 + _hash("rssi", label) % 28,
                }[param]
                cells.append(str(value))
            lines.append(",".join([minute.strftime("%Y/%m/%d %H:%M:%S"), *cells]))
        return web.Response(text="\n".join(lines) + "\n", content_type="text/csv")

    # -- mobile app API (mapi) -----------------------------------------------------------

    async def _mapi(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        if self.offline:
            raise web.HTTPServiceUnavailable
        path = "/" + request.match_info["tail"]
        if path == "/api/v3/user/login" and request.method == "POST":
            try:
                body = await request.json()
            except ValueError:
                return self._error(400, "Bad Request", "JSON expected.")
            account = self.accounts.get(str(body.get("username")))
            if (
                request.query.get("type") != "8"
                or account is None
                or account.password != body.get("password")
            ):
                return self._error(401, "Unauthorized", "Invalid username or password.")
            return web.json_response(self._issue(str(body["username"])))
        user = self._bearer(request)
        if user is None:
            return self._error(
                401, "Unauthorized", "You are requesting with an invalid credential."
            )
        if (refused := self._gate(request, user)) is not None:
            return refused
        body_or_response = self._mapi_route(path, request, self.accounts[user])
        if isinstance(body_or_response, web.Response):
            return body_or_response
        text = json.dumps(body_or_response, separators=(",", ":"))
        etag = f'"{hashlib.sha256(text.encode()).hexdigest()[:16]}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(
            text=text, content_type="application/json", headers={"ETag": etag}
        )

    def _mapi_route(self, path: str, request: web.Request, account: _Account) -> Any:
        query = request.query
        if path == "/api/v3/systems/query":
            owned = [self._system_json(), *self.extra_systems]
            return {"systems": owned if account.owns_system else []}
        sid = query.get("id") or query.get("system_id") or query.get("systemId")
        if path == f"/api/v3/systems/full/{SYSTEM_ID}":
            sid = str(SYSTEM_ID)
        if sid != str(SYSTEM_ID):
            return self._error(404, "Not Found", "Object not found.")
        if path == "/api/v3/systems/layout":
            return self._layout_json()
        if path == f"/api/v3/systems/full/{SYSTEM_ID}":
            layout = self._layout_json()["system"]["inverters"]
            return {"sources": [self._source_json()], "inverters": layout}
        if path == "/api/v4/equipments":
            return {
                "equipments": [
                    {"object_id": int(oid), "label": LABELS[oid], "type": "panel"}
                    for oid in EQUIPMENT_ORDER
                ]
            }
        if path == "/api/v4/system/summary/summary":
            return self._mapi_minutes(query)
        if path == "/api/v4/system/summary/aggenergy":
            return self._mapi_energy(query)
        return self._error(404, "Not Found", "Page not found.")

    def _mapi_minutes(self, query: Any) -> dict[str, Any]:
        day = date.fromisoformat(query.get("date", ""))
        rows = self._day_published(day, self._now_local())
        ok = query.get("temp") == "pin" and query.get("uid") == CCA_SERIAL
        data = [
            {
                "t": minute.strftime("%H:%M"),
                "d": [values[oid] for oid in EQUIPMENT_ORDER],
            }
            for minute, values in (rows if ok else [])
        ]
        last = rows[-1][0].strftime("%Y-%m-%d %H:%M:%S") if rows and ok else None
        return {
            "dataType": query.get("temp"),
            "dataset": [{"data": data}],
            "lastData": last,
        }

    def _mapi_energy(self, query: Any) -> dict[str, Any]:
        day = date.fromisoformat(query.get("date", ""))
        rows = self._day_published(day, self._now_local())
        per_panel = {
            oid: round(sum(v for _, row in rows if (v := row[oid]) is not None) / 60, 1)
            for oid in OBJECT_IDS.values()
        }
        last = rows[-1][0].strftime("%Y-%m-%d %H:%M:%S") if rows else None
        return {
            "dataset": per_panel,
            "datasetLastData": dict.fromkeys(per_panel, last),
            "dailyStats": {
                "total_agg_energy": round(sum(per_panel.values()), 1),
                "total_agg_reclaimed": round(0.03 * sum(per_panel.values()), 1),
            },
            "lastData": last,
        }


def demo_entry(host: str, port: int) -> dict[str, Any]:
    """The demo's Tigo entry: the Premium account's system."""
    return {
        "domain": "sungaze",
        "title": "Home Array",
        "unique_id": f"tigo_{SYSTEM_ID}",
        "data": {
            "vendor": "tigo",
            "account": "premium",
            "username": PREMIUM[0],
            "password": PREMIUM[1],
            "url": f"http://{host}:{port}/api2/api/v3",
            "site_id": str(SYSTEM_ID),
        },
        "options": {},
    }
