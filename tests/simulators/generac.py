"""Simulator of the Generac PWRcell cloud (`generac-api.neur.io`), per the vendor notes.

Endpoints (shared/api/srp-tigo-generac-2.md section 3, eg4-srp-generac.md C):

* `POST /sessions/v1/signin`: HTTP Basic app identity (required) + JSON
  `{email, password}` -> snake_case tokens, `expires_in` 3600,
  `authChallenge`/`challengeSession` (non-null when `challenge` is set).
  Bad password or unknown app: 401 `{"message": ...}`.
* `POST /sessions/v2/refresh/token`: `{userId, refreshToken}`, no
  Authorization -> new `access_token`/`id_token`; a new `refresh_token` only
  when `rotate` is on (the old one then dies). Missing fields: 400; an unknown
  or revoked refresh token: 400 `{"message": "Invalid Refresh Token"}`.
* `GET /live/v1/homes` and `GET /live/v2/homes/{homeId}/telemetry?fromIso=`:
  `Authorization: Bearer <id_token>` only (the access token is refused, to
  catch that mistake); an expired token gets 401.

The web-portal sign-in (pwrfleet PKCE) is not served; `portal_tokens()` hands
out what a user copies from the browser (camelCase), usable on the refresh
endpoint like the app's tokens.

The day is believable and a pure function of time (so tests know the exact
integral): a PV bell from 06:00 to 19:30 local (the home's `timezone`,
Phoenix by default), a household load with morning
and evening bumps, a battery charging by day and discharging in the evening
and night, the grid taking the rest (+ import). Telemetry holds one snapshot
per second since `fromIso` (inclusive), powers in kW rounded to the watt.

Fault switches: `override` (one odd answer of an endpoint), `empty_telemetry` (answer `[]` that many times), `dip_homes`
(next /homes has lifetime counters halved once), `fail_next` (statuses for the
next data requests; 429 carries Retry-After), `expire_tokens()`, `challenge`,
`rotate`, `hold_refresh` / `refresh_seen` (hold a refresh after it rotated).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
import json
import math
import secrets
import time
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

TZ = "America/Phoenix"
EMAIL = "owner@example.com"
PASSWORD = "pwrcell-owner-pw"
CLIENT_ID = "simulatedappclientid000000"  # the simulator's, not Generac's
CLIENT_SECRET = "simulated-app-client-secret"
USER_ID = "6f0c1b9e-2d3a-4c55-9a77-0d1e2f3a4b5c"
HOME_ID = "b1f3c2d4-0000-4a1b-9c2d-1234567890ab"
SERIAL = "0001000A1B2C"
DEMO_REFRESH_TOKEN = "demo-generac-refresh-token"
TOKEN_LIFETIME = 3600

SUNRISE_H, SUNSET_H = 6.0, 19.5


@dataclass
class SimSystem:
    """One PWRcell system: inverter, battery, PV links, Beacon."""

    serial: str = SERIAL
    pv_links: int = 2
    size: float = 1.0
    """Scale of this system's share of the home's power."""


@dataclass
class SimHome:
    """One home of the account; `timezone` (IANA) is also its simulated clock's."""

    home_id: str = HOME_ID
    address1: str = "42 Sunny Ln"
    city: str = "Mesa"
    timezone: str = TZ
    systems: list[SimSystem] = field(default_factory=lambda: [SimSystem()])

    @property
    def size(self) -> float:
        """The home's power scale: its systems together."""
        return sum(system.size for system in self.systems)


def _window(hour: float, start: float, end: float) -> float:
    """A smooth 0..1 bump over [start, end] hours (sin squared)."""
    if not start < hour < end:
        return 0.0
    return math.sin(math.pi * (hour - start) / (end - start)) ** 2


def local_hour(ts: float, tz: str = TZ) -> float:
    """Hours since local midnight in the zone `tz` (Phoenix: UTC-7, no DST)."""
    offset = datetime.fromtimestamp(ts, ZoneInfo(tz)).utcoffset()
    seconds = offset.total_seconds() if offset is not None else 0.0
    return ((ts + seconds) % 86400) / 3600


def powers(ts: float, size: float = 1.0, tz: str = TZ) -> dict[str, float]:
    """The home's powers in W at a moment: solar, consumption, battery, grid."""
    hour = local_hour(ts, tz)
    solar = 0.0
    if SUNRISE_H < hour < SUNSET_H:
        solar = (
            6400.0
            * math.sin(math.pi * (hour - SUNRISE_H) / (SUNSET_H - SUNRISE_H)) ** 1.5
        )
    consumption = (
        450.0
        + 900.0 * _window(hour, 6.0, 9.0)
        + 1800.0 * _window(hour, 17.0, 22.5)
        + 150.0 * math.sin(2 * math.pi * hour / 3.0) ** 2
    )
    # Charges from late morning to mid-afternoon, discharges evening and night.
    charge = 2400.0 * _window(hour, 8.5, 15.5)
    night = hour + 24 if hour < 3 else hour
    discharge = min(consumption, 2600.0) * _window(night, 17.0, 27.0)
    battery = discharge - charge  # + discharge
    grid = consumption - solar - battery  # + import
    return {
        "solar": solar * size,
        "consumption": consumption * size,
        "battery": battery * size,
        "grid": grid * size,
    }


def soc(ts: float, tz: str = TZ) -> float:
    """A plausible state of charge: full by mid-afternoon, low by dawn."""
    hour = local_hour(ts, tz)
    if hour < 3.0:
        return 22.0 - 10.0 * hour / 3.0
    if hour < 8.5:
        return 12.0
    if hour < 15.5:
        return 12.0 + 88.0 * (hour - 8.5) / 7.0
    if hour < 18.0:
        return 100.0
    return 100.0 - 78.0 * (hour - 18.0) / 6.0


def true_energy(
    start: float, end: float, size: float = 1.0, step: float = 0.25, tz: str = TZ
) -> dict[str, float]:
    """The exact energies (Wh) of the continuous curves, by fine midpoint sums."""
    totals = dict.fromkeys(("import", "export", "charge", "discharge"), 0.0)
    t = start + step / 2
    while t < end:
        p = powers(t, size, tz)
        totals["import"] += max(p["grid"], 0.0)
        totals["export"] += max(-p["grid"], 0.0)
        totals["discharge"] += max(p["battery"], 0.0)
        totals["charge"] += max(-p["battery"], 0.0)
        t += step
    return {key: value * step / 3600 for key, value in totals.items()}


def _daily_solar() -> float:
    """Wh of solar in one day at size 1 (for lifetime counters; any whole-hour zone)."""
    step = 60.0
    return sum(powers(t * step)["solar"] for t in range(1440)) * step / 3600


DAILY_SOLAR = _daily_solar()


def solar_since_midnight(ts: float, size: float, tz: str = TZ) -> float:
    """Wh produced since local midnight in `tz` (coarse, monotonic within a day)."""
    midnight = ts - local_hour(ts, tz) * 3600
    step = 60.0
    total, t = 0.0, midnight
    while t + step <= ts:
        total += powers(t + step / 2, size, tz)["solar"] * step / 3600
        t += step
    return total


def _now() -> float:
    return time.time()


class GeneracSimulator:
    """An aiohttp server speaking the PWRcell cloud's session and live APIs."""

    def __init__(
        self,
        *,
        homes: list[SimHome] | None = None,
        rotate: bool = True,
        demo: bool = False,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """One account with `homes` (default: one home with one system)."""
        self.homes = homes or [SimHome()]
        self.rotate = rotate and not demo
        # Read at call time, so a test's frozen clock applies.
        self.clock = clock or _now
        self.email, self.password = EMAIL, PASSWORD
        self.client_id, self.client_secret = CLIENT_ID, CLIENT_SECRET
        self.user_id = USER_ID
        self.refresh_tokens: set[str] = {DEMO_REFRESH_TOKEN} if demo else set()
        self.id_tokens: dict[str, float] = {}
        self.access_tokens: set[str] = set()
        self.challenge: str | None = None
        self.empty_telemetry = 0
        self.dip_homes = False
        self.fail_next: list[int] = []
        self.retry_after = "30"
        self.hold_refresh: asyncio.Event | None = None
        self.refresh_seen = asyncio.Event()
        self.requests: list[str] = []
        self.override: dict[str, tuple[int, Any]] = {}
        """Next answer (status, JSON body or raw text) of `signin`, `refresh`,
        `homes` or `telemetry`, used once: for odd payloads."""
        self.telemetry_from: list[str] = []
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self.app = web.Application()
        self.app.router.add_post("/sessions/v1/signin", self._signin)
        self.app.router.add_post("/sessions/v2/refresh/token", self._refresh)
        self.app.router.add_get("/live/v1/homes", self._homes)
        self.app.router.add_get("/live/v2/homes/{home}/telemetry", self._telemetry)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on `host:port` (0 = any free port); return the base URL."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.base_url = f"http://{host}:{self._runner.addresses[0][1]}"
        return self.base_url

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    # -- tokens ------------------------------------------------------------

    def _issue(self, *, refresh: bool) -> dict[str, Any]:
        id_token = f"id.{secrets.token_urlsafe(16)}"
        access = f"access.{secrets.token_urlsafe(16)}"
        self.id_tokens[id_token] = self.clock() + TOKEN_LIFETIME
        self.access_tokens.add(access)
        body: dict[str, Any] = {
            "access_token": access,
            "id_token": id_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
        }
        if refresh:
            token = f"rt.{secrets.token_urlsafe(24)}"
            self.refresh_tokens.add(token)
            body["refresh_token"] = token
        return body

    def portal_tokens(self) -> dict[str, Any]:
        """What the web portal's sign-in shows in the browser (camelCase)."""
        body = self._issue(refresh=True)
        return {
            "accessToken": body["access_token"],
            "idToken": body["id_token"],
            "refreshToken": body["refresh_token"],
            "tokenType": "Bearer",
            "expiresIn": TOKEN_LIFETIME,
            "userId": self.user_id,
        }

    def expire_tokens(self) -> None:
        """Every ID token expires now (a 401 mid-session)."""
        self.id_tokens = dict.fromkeys(self.id_tokens, 0.0)

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token dies (expired or revoked)."""
        self.refresh_tokens.clear()

    def _overridden(self, what: str) -> web.Response | None:
        if (answer := self.override.pop(what, None)) is None:
            return None
        status, body = answer
        if isinstance(body, str):
            return web.Response(status=status, text=body)
        return web.json_response(body, status=status)

    async def _signin(self, request: web.Request) -> web.Response:
        self.requests.append("signin")
        if (odd := self._overridden("signin")) is not None:
            return odd
        basic = request.headers.get("Authorization", "")
        expected = base64.b64encode(
            f"{self.client_id}:{self.client_secret}".encode()
        ).decode()
        if basic != f"Basic {expected}":
            return web.json_response({"message": "Unauthorized client"}, status=401)
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response({"message": "Bad request"}, status=400)
        if body.get("email") != self.email or body.get("password") != self.password:
            return web.json_response(
                {"message": "Incorrect username or password."}, status=401
            )
        if self.challenge:
            return web.json_response(
                {
                    "access_token": None,
                    "id_token": None,
                    "refresh_token": None,
                    "token_type": None,
                    "expires_in": None,
                    "user_id": self.user_id,
                    "authChallenge": self.challenge,
                    "challengeSession": secrets.token_urlsafe(12),
                }
            )
        return web.json_response(
            {
                **self._issue(refresh=True),
                "user_id": self.user_id,
                "authChallenge": None,
                "challengeSession": None,
            }
        )

    async def _refresh(self, request: web.Request) -> web.Response:
        self.requests.append("refresh")
        if (odd := self._overridden("refresh")) is not None:
            return odd
        if "Authorization" in request.headers:
            return web.json_response({"message": "Unexpected credentials"}, status=400)
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response({"message": "Bad request"}, status=400)
        user, token = body.get("userId"), body.get("refreshToken")
        if not user or not token:
            return web.json_response({"message": "Missing fields"}, status=400)
        if user != self.user_id or token not in self.refresh_tokens:
            return web.json_response({"message": "Invalid Refresh Token"}, status=400)
        answer = self._issue(refresh=self.rotate)
        if self.rotate:
            self.refresh_tokens.discard(token)  # the old one dies at once
        self.refresh_seen.set()
        if self.hold_refresh is not None:
            await self.hold_refresh.wait()
        return web.json_response(answer)

    # -- data --------------------------------------------------------------

    def _authorised(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ")
        expires = self.id_tokens.get(token)
        if not header.startswith("Bearer ") or expires is None:
            return web.json_response({"message": "Unauthorized"}, status=401)
        if expires <= self.clock():
            return web.json_response(
                {"message": "The incoming token has expired"}, status=401
            )
        if self.fail_next:
            status = self.fail_next.pop(0)
            headers = {"Retry-After": self.retry_after} if status == 429 else None
            return web.json_response(
                {"message": "simulated failure"}, status=status, headers=headers
            )
        return None

    async def _homes(self, request: web.Request) -> web.Response:
        self.requests.append("homes")
        if (refused := self._authorised(request)) is not None:
            return refused
        if (odd := self._overridden("homes")) is not None:
            return odd
        now = self.clock()
        factor = 0.5 if self.dip_homes else 1.0
        self.dip_homes = False
        return web.json_response([self._home(home, now, factor) for home in self.homes])

    def _home(self, home: SimHome, now: float, factor: float) -> dict[str, Any]:
        # Whole local days before today: today's part is `solar_since_midnight`
        # (a fractional count would add a day's solar twice and drop at midnight).
        midnight = now - local_hour(now, home.timezone) * 3600
        days = math.floor((midnight - 1.7e9) / 86400)
        systems = []
        for system in home.systems:
            p = powers(now, system.size, home.timezone)
            solar_total = days * DAILY_SOLAR * system.size + solar_since_midnight(
                now, system.size, home.timezone
            )
            devices: list[dict[str, Any]] = [
                {
                    "deviceType": "PVL",
                    "deviceStatus": {
                        "powerInWatts": round(p["solar"] / system.pv_links, 1),
                        "lifeTimeEnergyInWh": round(
                            factor * (1_000_000 * n + solar_total / system.pv_links), 1
                        ),
                    },
                }
                for n in range(system.pv_links)
            ]
            devices.append(
                {
                    "deviceType": "BATTERY",
                    "deviceStatus": {
                        "powerInWatts": round(p["battery"], 1),
                        "soc": round(soc(now, home.timezone), 1),
                        "lifeTimeEnergyInWh": round(
                            factor * (4_410_000 + days * 9000 * system.size), 1
                        ),
                        "temperatureInCelsius": 27.5,
                        "voltage": 381.4,
                    },
                }
            )
            devices.append(
                {
                    "deviceType": "INVERTER",
                    "deviceStatus": {
                        "powerInWatts": round(p["solar"] + p["battery"], 1),
                        "lifeTimeEnergyInWh": round(
                            factor * (15_020_000 + solar_total), 1
                        ),
                        "temperatureInCelsius": 43.0,
                        "voltage": 241.2,
                    },
                }
            )
            devices.append({"deviceType": "BEACON", "deviceStatus": {}})
            systems.append({"serialNumber": system.serial, "systemDevices": devices})
        return {
            "homeId": home.home_id,
            "address1": home.address1,
            "city": home.city,
            "state": "AZ",
            "timezone": home.timezone,
            "systems": systems,
        }

    def sample(self, home: SimHome, ts: int) -> dict[str, Any]:
        """One telemetry snapshot of a home at a whole second."""
        p = powers(ts, home.size, home.timezone)
        hour = local_hour(ts, home.timezone)
        charge = soc(ts, home.timezone)
        return {
            "date": str(ts),
            "solar": {"powerKw": round(p["solar"] / 1000, 3)},
            "grid": {"powerKw": round(p["grid"] / 1000, 3)},
            "consumption": {"powerKw": round(p["consumption"] / 1000, 3)},
            "generator": {"powerKw": 0.0},
            "battery": {
                "powerKw": round(p["battery"] / 1000, 3),
                "soC": round(charge, 1),
                "batteryBackupTimeInSeconds": int(charge * 540),
                "batteryState": "BATTERY_SOC_STATUS_LOW"
                if charge < 15
                else "BATTERY_SOC_STATUS_NOMINAL",
            },
            "system": {
                system.serial: {
                    "gridState": "GRID_CONNECTED",
                    "sysMode": "CLEAN_BACKUP" if 17 <= hour < 22 else "SELF_SUPPLY",
                    "inverterHeadRoomKw": round(
                        7.6 * system.size
                        - (p["solar"] + max(p["battery"], 0))
                        / 1000
                        * system.size
                        / home.size,
                        3,
                    ),
                }
                for system in home.systems
            },
        }

    async def _telemetry(self, request: web.Request) -> web.Response:
        self.requests.append("telemetry")
        if (refused := self._authorised(request)) is not None:
            return refused
        if (odd := self._overridden("telemetry")) is not None:
            return odd
        home = next(
            (h for h in self.homes if h.home_id == request.match_info["home"]), None
        )
        if home is None:
            return web.json_response({"message": "Not found"}, status=404)
        raw = request.query.get("fromIso", "")
        self.telemetry_from.append(raw)
        try:
            since = datetime.strptime(raw, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return web.json_response({"message": "Invalid fromIso"}, status=400)
        if self.empty_telemetry:
            self.empty_telemetry -= 1
            return web.json_response([])
        now = int(self.clock())
        start = max(int(since.timestamp()), now - 3 * 3600)
        return web.json_response(
            [self.sample(home, ts) for ts in range(start, now + 1)]
        )


def local(ts: float, tz: str = TZ) -> datetime:
    """A timestamp as local time in `tz`, Phoenix by default (for test messages)."""
    return datetime.fromtimestamp(ts, ZoneInfo(tz))


def demo_entry(host: str, port: int) -> dict[str, Any]:
    """The demo's entry: the refresh-token sign-in, with a token that never rotates."""
    return {
        "domain": "sungaze",
        "title": "42 Sunny Ln",
        "unique_id": f"generac_{HOME_ID}",
        "data": {
            "vendor": "generac",
            "auth_method": "refresh_token",
            "user_id": USER_ID,
            "refresh_token": DEMO_REFRESH_TOKEN,
            "site_id": HOME_ID,
            "url": f"http://{host}:{port}",
        },
        "options": {},
    }
