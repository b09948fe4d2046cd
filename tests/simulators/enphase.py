"""Enphase Monitoring API v4 simulator, with its OAuth 2.0 authorization server.

A real aiohttp server on loopback. Shapes, quotas and errors follow
``/work/shared/api/enphase-solaredge.md`` §1-5 and §8 and
``/work/shared/api/solaredge-v2-and-enphase-oauth.md`` §2; where the notes
leave a choice open the resolution is written next to the code that makes it.

The house is the SolarEdge simulator's physical model (PV bell, house load,
a battery that charges from surplus and empties in the evening), so both
simulators tell the same story. Every answer derives from
``datetime.now(UTC)`` at request time: freezegun drives the clock.

Reporting: a gateway uploads every 15 minutes (``upload_offset`` seconds past
each quarter-hour), a ``cellular`` one every 6 hours; an upload carries the
intervals that ended before it. Everything the API says stops at the last
upload, as on the real cloud.

OAuth (Spring Security OAuth 2 behaviour, as the notes predict it):

* ``GET /oauth/authorize``: the "homeowner" (``owner``) approves at once and is
  redirected to ``redirect_uri?code=..&state=..``; ``deny_next()`` makes the
  next one answer ``error=access_denied``. Without ``redirect_uri`` the page
  says "OAuth Error: A redirect_uri must be supplied." Any redirect URI is
  accepted (no registration), and the code remembers it.
* ``POST /oauth/token``: client authentication by HTTP Basic only; parameters
  from the query string or a form body (a JSON body is not read). Codes are
  single-use and live 10 minutes; the exchange must repeat the redirect URI.
  Each refresh issues a new pair and invalidates the old refresh token and its
  access token. Error bodies: 401 ``unauthorized`` for missing or bad client
  credentials, 400 ``invalid_grant`` for a bad code or an unknown refresh
  token, 401 ``invalid_token`` for an expired refresh token.

Data calls need ``?key=`` and ``Authorization: Bearer``: 401 when either is
missing or wrong, 401 "API Key -Client mismatch" when they belong to different
applications, 401 on endpoints the application's plan lacks (the Watt plan has
no Device Level Monitoring). Per-application minute and calendar-month
counters answer 429 with the documented body (``period``, ``period_start``,
``period_end``, ``limit``; no ``Retry-After``). Every request that passed
authentication and the limits counts, failed ones included.

Introspection: ``calls`` (method, path, query), ``api_calls`` (data calls that
counted), ``token_requests`` (grant types), ``truth(system_id)`` (what the cloud
currently reports, for comparing integration state with), the token stores.

History: the telemetry endpoints (``production_micro`` 5-minute ``enwh``,
``production_meter`` ``wh_del``, ``consumption_meter`` ``enwh``,
``energy_import_telemetry``/``energy_export_telemetry`` ``wh_imported``/
``wh_exported``, ``battery`` charge/discharge) cut the same energy model into
intervals, so a day's intervals add up to that day's element of the
``*_lifetime`` series exactly, and the summary's lifetime is the sum of the
days before plus today. Windows follow notes §4 (see ``_window``).

Fault switches: ``offline`` (drop every connection), ``fail_next(status,
count, path_contains)``, ``token_fail_next(status, count)``, ``hold_tokens``
(an ``asyncio.Event``: token answers wait for it after the rotation has been
stored, the worst moment for a client to die), ``kill_grants()`` (refresh
tokens become unknown), ``expire_refresh_tokens()``, ``deny_next()``,
``lifetime_includes_today`` (the other reading of the summary's lifetime),
``battery_sign`` (sign of ``latest_telemetry`` battery power while charging),
``power_override`` (``/summary`` ``current_power`` becomes this number),
``override`` (path suffix -> body answered instead: a text as-is, else JSON),
``transform`` (path suffix -> function of the real body, answered instead),
``gateway_offline_since`` (uploads stop), ``watt_excludes`` (path suffixes
the Watt plan refuses with 401), ``malformed`` ``flat_grid`` (import/export
intervals as a flat list instead of the official nested arrays),
``SimSystem.production_meter`` (False: micro-inverter production only), ``add_event`` / ``add_alarm`` /
``close_events``, and the per-system inventory (micros can be added/removed).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
import json
import math
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from aiohttp import web

from .solaredge import _STEP_S, _day_bounds, _Model, _simulate_day

__all__ = [
    "DEMO_ACCESS_TOKEN",
    "DEMO_REFRESH_TOKEN",
    "EnphaseSimulator",
    "SimApp",
    "SimSystem",
    "cabin_system",
    "demo_entry",
]

_QH = 900
_FIVE = 300
_CODE_TTL = timedelta(minutes=10)
_PLANS = {
    "watt": (10, 1000),
    "kilowatt": (50, 50_000),
    "megawatt": (100, 300_000),
    "partner": (300, 1_500_000),
}
_SPANS = {"5mins": _FIVE, "15mins": _QH, "day": 86400, "week": 7 * 86400}
_MAX_WINDOW = timedelta(days=7)
_OLDEST = timedelta(days=730)
_DEVICE_LEVEL = ("/devices/micros/telemetry", "/devices/encharges/", "/live_data")
_NOT_AUTHORIZED = {
    "message": "Not Authorized",
    "details": "User is not authorized",
    "code": 401,
}
_EVENT_TYPES = (
    {
        "event_type_id": 28,
        "event_type_key": "envoy_no_report",
        "stateful": True,
        "event_name": "Gateway not reporting",
        "event_description": "The broadband Internet connection that the Enphase "
        "gateway uses to communicate to the Enphase servers is experiencing a "
        "problem.",
        "recommended_action": "Check that your gateway and Internet router are "
        "plugged in.",
    },
    {
        "event_type_id": 4781,
        "event_type_key": "acb_sleeping",
        "stateful": False,
        "event_name": "AC Battery Sleeping",
        "event_description": "AC Battery has entered the target state of charge band.",
        "recommended_action": "No action is required.",
    },
    {
        # Made-up id and key: the published examples show only the two above.
        "event_type_id": 1006,
        "event_type_key": "pcu_no_report",
        "stateful": True,
        "event_name": "Microinverter not reporting",
        "event_description": "A microinverter stopped reporting to the gateway.",
        "recommended_action": "Check the microinverter's AC connection.",
    },
)

# Demo credentials (scripts/develop): a grant that is never rotated away, so a
# demo restart with the same stored entry keeps working.
DEMO_CLIENT_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
DEMO_CLIENT_SECRET = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
DEMO_API_KEY = "4d6f636b4170694b6579466f7244656d6f"
DEMO_ACCESS_TOKEN = "demo-access-token"
DEMO_REFRESH_TOKEN = "demo-refresh-token"


@dataclass
class SimApp:
    """A developer application: three credentials and a plan."""

    client_id: str = DEMO_CLIENT_ID
    client_secret: str = DEMO_CLIENT_SECRET
    api_key: str = DEMO_API_KEY
    plan: str = "watt"


@dataclass
class SimSystem:
    """One simulated Enphase system (only fields the API exposes)."""

    system_id: int = 4123987
    name: str = "Home"
    timezone: str = "America/Phoenix"
    owner: str = "1234567"
    connection_type: str = "ethernet"
    peak_power_kw: float = 6.4
    operational: date = date(2025, 11, 3)
    city: str = "Phoenix"
    state: str = "AZ"
    postal_code: str = "85004"
    gateway_serial: str = "122233445566"
    micro_serials: list[str] = field(
        default_factory=lambda: [f"4822330011{n:02d}" for n in range(16)]
    )
    battery_serial: str | None = "492312001241"
    battery_capacity_kwh: float = 5.0
    consumption_meter: bool = True
    production_meter: bool = True
    """False: production comes from the micro-inverters only (no meter)."""
    upload_offset: int = 140
    """Seconds after each quarter-hour (or 6-hour mark) at which it uploads."""


def cabin_system() -> SimSystem:
    """A second system: cellular, PV only, another gateway, no battery."""
    return SimSystem(
        system_id=4123988,
        name="Cabin",
        connection_type="cellular",
        peak_power_kw=3.2,
        operational=date(2026, 2, 10),
        gateway_serial="122299887766",
        micro_serials=[f"4822990011{n:02d}" for n in range(8)],
        battery_serial=None,
        consumption_meter=False,
        upload_offset=4200,
    )


class _ApiError(Exception):
    def __init__(self, status: int, message: str, details: str) -> None:
        super().__init__(details)
        self.status = status
        self.body = {"message": message, "details": details, "code": status}


class _OAuthError(Exception):
    def __init__(
        self, status: int, error: str, description: str, basic: bool = False
    ) -> None:
        super().__init__(description)
        self.status = status
        self.body = {"error": error, "error_description": description}
        self.basic = basic


@dataclass
class _Grant:
    app: str  # client_id
    owner: str
    expires: datetime
    pair: str | None = None
    """For a refresh token: the access token issued with it."""


@lru_cache(maxsize=4096)
def _day_totals(model: _Model, ordinal: int) -> dict[str, int]:
    """Whole Wh of each flow over one local day."""
    day = _simulate_day(model, ordinal)
    return {
        key: round(values[day.steps]) - round(values[0])
        for key, values in day.cum.items()
    }


def _micro_weights(count: int) -> list[float]:
    """Deterministic shares of the array's output, summing to 1."""
    raw = [0.9 + 0.2 * ((n * 7919) % 13) / 12 for n in range(count)]
    total = sum(raw)
    return [w / total for w in raw]


def _jwtish(kind: str) -> str:
    """An opaque token shaped like Enphase's JWTs (header.payload.signature)."""
    header = base64.urlsafe_b64encode(b'{"alg":"RS256"}').rstrip(b"=").decode()
    payload = (
        base64.urlsafe_b64encode(
            json.dumps({"typ": kind, "jti": secrets.token_hex(8)}).encode()
        )
        .rstrip(b"=")
        .decode()
    )
    return f"{header}.{payload}.{secrets.token_urlsafe(24)}"


class EnphaseSimulator:
    """Fake ``https://api.enphaseenergy.com`` (OAuth server plus API v4)."""

    def __init__(
        self,
        *,
        apps: list[SimApp] | None = None,
        systems: list[SimSystem] | None = None,
        access_lifetime: timedelta = timedelta(seconds=86393),
        refresh_lifetime: timedelta = timedelta(days=30),
        demo: bool = False,
    ) -> None:
        """Build the application; call ``start()`` to listen."""
        self.apps: dict[str, SimApp] = {a.client_id: a for a in (apps or [SimApp()])}
        self.systems: dict[int, SimSystem] = {
            s.system_id: s for s in (systems or [SimSystem()])
        }
        self.access_lifetime = access_lifetime
        self.refresh_lifetime = refresh_lifetime
        self.owner = next(iter(self.systems.values())).owner
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        self.api_calls: list[str] = []
        self.api_stamps: list[str] = []
        self.token_requests: list[str] = []
        self.access_tokens: dict[str, _Grant] = {}
        self.refresh_tokens: dict[str, _Grant] = {}
        self.codes: dict[str, tuple[_Grant, str]] = {}
        self.offline = False
        self.hold_tokens: asyncio.Event | None = None
        self.token_request_seen = asyncio.Event()
        self.lifetime_includes_today = False
        self.battery_sign = -1
        self.power_override: float | None = None
        self.override: dict[str, Any] = {}
        self.transform: dict[str, Callable[[Any], Any]] = {}
        self.gateway_offline_since: datetime | None = None
        self.malformed: set[str] = set()
        self.minute_limit: int | None = None
        """Overrides the plan's per-minute limit (the bench times our own cost)."""
        self.watt_excludes: set[str] = set()
        """Path suffixes the Watt plan answers 401 to (e.g. the UNCONFIRMED
        reading that battery telemetry needs Kilowatt)."""
        self.events: list[dict[str, Any]] = []
        self.alarms: list[dict[str, Any]] = []
        self.base_url = ""
        self.origin = ""
        self._deny = 0
        self._failures: list[list[Any]] = []
        self._token_failures: list[list[int]] = []
        self._minute: dict[str, tuple[int, int]] = {}
        self._month: dict[str, tuple[str, int]] = {}
        self._demo = demo
        if demo:
            app = next(iter(self.apps.values()))
            far = datetime(2100, 1, 1, tzinfo=UTC)
            self.access_tokens[DEMO_ACCESS_TOKEN] = _Grant(
                app.client_id, self.owner, far
            )
            self.refresh_tokens[DEMO_REFRESH_TOKEN] = _Grant(
                app.client_id, self.owner, far
            )
        self._runner: web.AppRunner | None = None
        self.app = web.Application()
        self.app.router.add_route("GET", "/oauth/authorize", self._authorize)
        self.app.router.add_route("*", "/oauth/token", self._token)
        self.app.router.add_route("*", "/api/v4/{tail:.*}", self._api)

    # -- lifecycle -------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0 = any free port); return the API base URL."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound = self._runner.addresses[0][1]
        self.origin = f"http://{host}:{bound}"
        self.base_url = f"{self.origin}/api/v4"
        return self.base_url

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- switches and introspection --------------------------------------------

    @property
    def app0(self) -> SimApp:
        """The first (default) application."""
        return next(iter(self.apps.values()))

    def fail_next(self, status: int, count: int = 1, path_contains: str = "") -> None:
        """Answer ``status`` to the next ``count`` matching authenticated calls."""
        self._failures.append([status, count, path_contains])

    def token_fail_next(self, status: int, count: int = 1) -> None:
        """Answer ``status`` to the next ``count`` token requests."""
        self._token_failures.append([status, count])

    def deny_next(self) -> None:
        """The homeowner rejects the next authorization."""
        self._deny += 1

    def kill_grants(self) -> None:
        """Forget every refresh token (the owner revoked the application)."""
        self.refresh_tokens.clear()

    def expire_refresh_tokens(self) -> None:
        """Let every refresh token run out (30 days without a refresh)."""
        past = datetime.now(UTC) - timedelta(seconds=1)
        for grant in self.refresh_tokens.values():
            grant.expires = past

    def add_event(
        self,
        type_id: int = 28,
        serial: str | None = None,
        system_id: int | None = None,
    ) -> dict[str, Any]:
        """Open an event (on the gateway by default)."""
        system = self._system_or_first(system_id)
        event = {
            "system_id": system.system_id,
            "status": "open",
            "event_type_id": type_id,
            "event_start_time": int(datetime.now(UTC).timestamp()),
            "event_end_time": None,
            "serial_number": serial or system.gateway_serial,
        }
        self.events.append(event)
        return event

    def add_alarm(
        self,
        type_id: int = 28,
        severity: int = 2,
        serials: list[str] | None = None,
        system_id: int | None = None,
    ) -> dict[str, Any]:
        """Raise an alarm over one or more devices."""
        system = self._system_or_first(system_id)
        start = int(datetime.now(UTC).timestamp())
        alarm = {
            "system_id": system.system_id,
            "id": f"{system.system_id}.{type_id}.{start}000",
            "severity": severity,
            "events": [
                {"serial_number": s, "start_date": start, "end_date": None}
                for s in (serials or [system.gateway_serial])
            ],
            "event_type_id": type_id,
            "alarm_start_time": start,
        }
        self.alarms.append(alarm)
        return alarm

    def close_events(self) -> None:
        """Clear every open event and alarm."""
        now = int(datetime.now(UTC).timestamp())
        for event in self.events:
            event["status"], event["event_end_time"] = "Closed", now
        self.alarms.clear()

    def month_used(self, client_id: str | None = None) -> int:
        """Data calls counted this calendar month for an application."""
        month, used = self._month.get(client_id or self.app0.client_id, ("", 0))
        return used if month == datetime.now(UTC).strftime("%Y-%m") else 0

    def valid_refresh_tokens(self) -> set[str]:
        """Refresh tokens that would be accepted now."""
        now = datetime.now(UTC)
        return {t for t, g in self.refresh_tokens.items() if g.expires > now}

    def mint(
        self, owner: str | None = None, app: SimApp | None = None
    ) -> dict[str, Any]:
        """Issue a token pair as a completed sign-in would, with HA's `expires_at`."""
        body = self._issue(app or self.app0, owner or self.owner)
        expires = datetime.now(UTC) + timedelta(seconds=body["expires_in"])
        return {**body, "expires_at": expires.timestamp()}

    def authorize(self, redirect_uri: str, state: str = "s") -> str:
        """Mint a code the way the consent page would (for direct token tests)."""
        code = secrets.token_urlsafe(6)
        grant = _Grant(self.app0.client_id, self.owner, datetime.now(UTC) + _CODE_TTL)
        self.codes[code] = (grant, redirect_uri)
        return code

    # -- physics ---------------------------------------------------------------

    def _system_or_first(self, system_id: int | None) -> SimSystem:
        if system_id is None:
            return next(iter(self.systems.values()))
        return self.systems[system_id]

    @staticmethod
    def _model(system: SimSystem) -> _Model:
        battery = system.battery_capacity_kwh * 1000 if system.battery_serial else 0.0
        return _Model(
            system.timezone,
            float(system.peak_power_kw),
            system.operational.toordinal(),
            battery,
        )

    def last_upload(self, system: SimSystem, now: datetime | None = None) -> datetime:
        """When the gateway last uploaded (it stops while offline)."""
        now = now or datetime.now(UTC)
        if self.gateway_offline_since is not None:
            now = min(now, self.gateway_offline_since)
        every = 6 * 3600 if system.connection_type == "cellular" else _QH
        stamp = math.floor((now.timestamp() - system.upload_offset) / every) * every
        return datetime.fromtimestamp(stamp + system.upload_offset, UTC)

    def cutoff(self, system: SimSystem) -> datetime:
        """End of the newest interval the cloud has (the last upload's quarter)."""
        upload = self.last_upload(system)
        return datetime.fromtimestamp(upload.timestamp() // _QH * _QH, UTC)

    def _local_ord(self, system: SimSystem, moment: datetime) -> int:
        return moment.astimezone(ZoneInfo(system.timezone)).toordinal()

    def _flow_wh(
        self, system: SimSystem, key: str, start: datetime, end: datetime
    ) -> int:
        """Whole Wh of a flow over [start, end) (5-minute aligned, within a day)."""
        model = self._model(system)
        total = 0
        moment = start
        while moment < end:
            ordinal = self._local_ord(system, moment)
            day_start, day_end = _day_bounds(model.tz, ordinal)
            seg_end = min(end, day_end)
            if moment == day_start and seg_end == day_end:
                total += (
                    _day_totals(model, ordinal)[key]
                    if ordinal >= model.install_ord
                    else 0
                )
            elif ordinal >= model.install_ord:
                day = _simulate_day(model, ordinal)
                i = int((moment - day_start).total_seconds()) // _STEP_S
                j = int((seg_end - day_start).total_seconds()) // _STEP_S
                total += round(day.cum[key][j]) - round(day.cum[key][i])
            moment = seg_end
        return total

    def _day_wh(self, system: SimSystem, key: str, day: date) -> int:
        """One local day's Wh of a flow, as far as it has been uploaded."""
        model = self._model(system)
        start, end = _day_bounds(model.tz, day.toordinal())
        end = min(end, self.cutoff(system))
        if end <= start or day < system.operational:
            return 0
        return self._flow_wh(system, key, start, end)

    def _avg_w(self, system: SimSystem, key: str, end: datetime, minutes: int) -> float:
        start = end - timedelta(minutes=minutes)
        if start.astimezone(ZoneInfo(system.timezone)).date() < system.operational:
            return 0.0
        model = self._model(system)
        total = 0.0
        moment = start
        while moment < end:
            ordinal = self._local_ord(system, moment)
            day = _simulate_day(model, ordinal)
            i = int((moment - day.start).total_seconds()) // _STEP_S
            total += day.cum[key][i + 1] - day.cum[key][i]
            moment += timedelta(seconds=_STEP_S)
        return total * 60 / minutes

    def _soe(self, system: SimSystem, at: datetime) -> float:
        model = self._model(system)
        ordinal = self._local_ord(system, at - timedelta(seconds=1))
        day = _simulate_day(model, ordinal)
        step = int((at - day.start).total_seconds()) // _STEP_S
        return day.soe[min(step, day.steps)]

    def truth(self, system_id: int | None = None) -> dict[str, float]:
        """What the cloud reports now: today's and lifetime Wh, powers, SOC."""
        system = self._system_or_first(system_id)
        tz = ZoneInfo(system.timezone)
        cut = self.cutoff(system)
        today = datetime.now(UTC).astimezone(tz).date()
        out: dict[str, float] = {}
        for key, name in (
            ("pv", "production"),
            ("load", "consumption"),
            ("import", "import"),
            ("export", "export"),
            ("charge", "charge"),
            ("discharge", "discharge"),
        ):
            out[f"{name}_today"] = self._day_wh(system, key, today)
            out[f"{name}_lifetime"] = self._lifetime(system, key, today)
        out["production_power"] = self._avg_w(system, "pv", cut, 15)
        out["consumption_power"] = self._avg_w(system, "load", cut, 15)
        out["battery_power"] = self._avg_w(system, "discharge", cut, 15) - self._avg_w(
            system, "charge", cut, 15
        )
        out["grid_power"] = self._avg_w(system, "import", cut, 15) - self._avg_w(
            system, "export", cut, 15
        )
        if system.battery_serial:
            out["soc"] = round(
                self._soe(system, cut) / (system.battery_capacity_kwh * 10)
            )
        out["last_report"] = self.last_upload(system).timestamp()
        return out

    def _lifetime(self, system: SimSystem, key: str, today: date) -> int:
        days = (today - system.operational).days
        return sum(
            self._day_wh(system, key, system.operational + timedelta(days=n))
            for n in range(max(days, 0) + 1)
        )

    def micro_power(self, system_id: int | None = None) -> dict[str, float]:
        """Each micro's power as the inverter summary reports it."""
        system = self._system_or_first(system_id)
        total = self._avg_w(system, "pv", self.cutoff(system), 5)
        weights = _micro_weights(len(system.micro_serials))
        return {
            serial: round(total * w)
            for serial, w in zip(system.micro_serials, weights, strict=True)
        }

    # -- OAuth -----------------------------------------------------------------

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        self.calls.append((request.method, request.path, dict(request.query)))
        query = request.query
        redirect = query.get("redirect_uri")
        if not redirect:
            return web.Response(
                status=400,
                content_type="text/html",
                text="<h1>OAuth Error</h1><p>A redirect_uri must be supplied.</p>",
            )
        if query.get("client_id") not in self.apps:
            return web.Response(
                status=401,
                content_type="text/html",
                text="<h1>OAuth Error</h1><p>Bad client credentials</p>",
            )
        params: dict[str, str] = {}
        if self._deny:
            self._deny -= 1
            params["error"] = "access_denied"
            params["error_description"] = "User denied access"
        elif query.get("response_type", "code") != "code":
            params["error"] = "unsupported_response_type"
        else:
            code = secrets.token_urlsafe(6)
            grant = _Grant(
                query["client_id"], self.owner, datetime.now(UTC) + _CODE_TTL
            )
            self.codes[code] = (grant, redirect)
            params["code"] = code
        if "state" in query:
            params["state"] = query["state"]
        parts = urlsplit(redirect)
        merged = [*parse_qsl(parts.query), *params.items()]
        raise web.HTTPFound(urlunsplit(parts._replace(query=urlencode(merged))))

    async def _token(self, request: web.Request) -> web.StreamResponse:
        self.calls.append((request.method, request.path, dict(request.query)))
        if self.offline:
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable
        if request.method != "POST":
            return web.json_response(
                {
                    "error": "method_not_allowed",
                    "error_description": "Request method 'GET' not supported",
                },
                status=405,
            )
        params = dict(request.query)
        if request.content_type == "application/x-www-form-urlencoded":
            params.update((k, str(v)) for k, v in (await request.post()).items())
        self.token_requests.append(params.get("grant_type", ""))
        self.token_request_seen.set()
        for failure in self._token_failures:
            status, count = failure
            if count > 0:
                failure[1] -= 1
                self._token_failures = [f for f in self._token_failures if f[1] > 0]
                return web.json_response(
                    {"error": "server_error", "error_description": "Simulated failure"},
                    status=status,
                )
        try:
            app = self._client(request, params)
            body = self._grant(app, params)
        except _OAuthError as err:
            response = web.json_response(err.body, status=err.status)
            if err.basic:
                response.headers["WWW-Authenticate"] = (
                    'Basic realm="oauth2/client", error="unauthorized", '
                    f'error_description="{err.body["error_description"]}"'
                )
            return response
        if self.hold_tokens is not None:
            # The new pair is stored and the old one dead: a client that
            # vanishes now loses the grant unless it already persisted.
            await self.hold_tokens.wait()
        return web.json_response(body)

    def _client(self, request: web.Request, params: dict[str, str]) -> SimApp:
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            raise _OAuthError(
                401,
                "unauthorized",
                "Full authentication is required to access this resource",
                basic=True,
            )
        try:
            decoded = base64.b64decode(header[6:]).decode()
            client_id, _, secret = decoded.partition(":")
        except ValueError:
            raise _OAuthError(
                401, "unauthorized", "Bad credentials", basic=True
            ) from None
        app = self.apps.get(client_id)
        if app is None or not secrets.compare_digest(secret, app.client_secret):
            raise _OAuthError(401, "unauthorized", "Bad credentials", basic=True)
        if params.get("client_id", client_id) != client_id:
            raise _OAuthError(
                401,
                "invalid_client",
                "Given client ID does not match authenticated client",
            )
        return app

    def _grant(self, app: SimApp, params: dict[str, str]) -> dict[str, Any]:
        now = datetime.now(UTC)
        grant_type = params.get("grant_type")
        if not grant_type:
            raise _OAuthError(400, "invalid_request", "Missing grant type")
        if grant_type == "authorization_code":
            code = params.get("code", "")
            stored = self.codes.pop(code, None)  # single use, even when wrong
            if (
                stored is None
                or stored[0].app != app.client_id
                or stored[0].expires < now
            ):
                raise _OAuthError(
                    400, "invalid_grant", f"Invalid authorization code: {code}"
                )
            grant, redirect = stored
            if params.get("redirect_uri") != redirect:
                raise _OAuthError(400, "invalid_grant", "Redirect URI mismatch.")
            return self._issue(app, grant.owner)
        if grant_type == "refresh_token":
            token = params.get("refresh_token", "")
            grant = self.refresh_tokens.get(token)
            if grant is None or grant.app != app.client_id:
                raise _OAuthError(
                    400, "invalid_grant", f"Invalid refresh token: {token}"
                )
            if grant.expires <= now:
                del self.refresh_tokens[token]
                raise _OAuthError(
                    401, "invalid_token", f"Invalid refresh token (expired): {token}"
                )
            if not (self._demo and token == DEMO_REFRESH_TOKEN):
                # Rotation: the old refresh token and its access token die now.
                del self.refresh_tokens[token]
                self.access_tokens.pop(grant.pair or "", None)
            return self._issue(app, grant.owner)
        if grant_type == "password":
            raise _OAuthError(400, "invalid_grant", "Bad credentials")
        raise _OAuthError(
            400, "unsupported_grant_type", f"Unsupported grant type: {grant_type}"
        )

    def _issue(self, app: SimApp, owner: str) -> dict[str, Any]:
        now = datetime.now(UTC)
        access, refresh = _jwtish("access"), _jwtish("refresh")
        self.access_tokens[access] = _Grant(
            app.client_id, owner, now + self.access_lifetime
        )
        self.refresh_tokens[refresh] = _Grant(
            app.client_id, owner, now + self.refresh_lifetime, pair=access
        )
        return {
            "access_token": access,
            "token_type": "bearer",
            "refresh_token": refresh,
            "expires_in": int(self.access_lifetime.total_seconds()),
            "scope": "read write",
            "enl_uid": owner,
            "enl_cid": "",
            "enl_password_last_changed": "1700000000",
            "is_internal_app": False,
            "app_type": "system",
            "jti": secrets.token_hex(16),
        }

    # -- API -------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.calls.append((request.method, path, dict(request.query)))
        if self.offline:
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable
        now = datetime.now(UTC)
        app = next(
            (a for a in self.apps.values() if a.api_key == request.query.get("key")),
            None,
        )
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else None
        grant = self.access_tokens.get(token or "")
        if app is None or grant is None or grant.expires <= now:
            return web.json_response(_NOT_AUTHORIZED, status=401)
        if grant.app != app.client_id:
            return web.json_response(
                {
                    "message": "Not Authorized",
                    "details": "API Key -Client mismatch",
                    "code": 401,
                },
                status=401,
            )
        per_minute, per_month = _PLANS[app.plan]
        per_minute = self.minute_limit or per_minute
        minute = int(now.timestamp()) // 60 * 60
        m_start, m_used = self._minute.get(app.client_id, (minute, 0))
        if m_start != minute:
            m_start, m_used = minute, 0
        month = now.strftime("%Y-%m")
        mo, mo_used = self._month.get(app.client_id, (month, 0))
        if mo != month:
            mo, mo_used = month, 0
        if m_used >= per_minute:
            return self._too_many(app, "minute", m_start, m_start + 60, per_minute)
        if mo_used >= per_month:
            first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            nxt = (first + timedelta(days=32)).replace(day=1)
            return self._too_many(
                app, "month", int(first.timestamp()), int(nxt.timestamp()), per_month
            )
        self._minute[app.client_id] = (m_start, m_used + 1)
        self._month[app.client_id] = (mo, mo_used + 1)
        self.api_calls.append(path)
        self.api_stamps.append(now.isoformat())
        if app.plan == "watt" and (
            any(part in path for part in _DEVICE_LEVEL)
            or any(path.rstrip("/").endswith(tail) for tail in self.watt_excludes)
        ):
            return web.json_response(_NOT_AUTHORIZED, status=401)
        for failure in self._failures:
            status, count, needle = failure
            if count > 0 and needle in path:
                failure[1] -= 1
                self._failures = [f for f in self._failures if f[1] > 0]
                if status == 429:
                    if "429" in self.malformed:  # the spec's examples without period*
                        return web.json_response(
                            {
                                "message": "Too Many Requests",
                                "details": "Usage limit exceeded for plan Watt",
                                "code": 429,
                            },
                            status=429,
                        )
                    return self._too_many(
                        app, "minute", minute, minute + 60, per_minute
                    )
                return web.json_response(
                    {
                        "message": "Simulated failure",
                        "details": "unable to fetch data",
                        "code": status,
                    },
                    status=status,
                )
        for suffix, replacement in self.override.items():
            if path.rstrip("/").endswith(suffix):
                return (
                    web.Response(text=replacement, content_type="application/json")
                    if isinstance(replacement, str)
                    else web.json_response(replacement)
                )
        if request.method != "GET":
            return web.json_response(
                {"reason": "405", "message": ["Method not allowed"]}, status=405
            )
        try:
            body = self._route(
                path[len("/api/v4/") :].strip("/").split("/"), request, grant, now
            )
        except _ApiError as err:
            return web.json_response(err.body, status=err.status)
        if "json" in self.malformed:
            return web.Response(
                text="<html>Bad gateway</html>", content_type="text/html"
            )
        body = _garble(self.malformed, path, body)
        for suffix, transform in self.transform.items():
            if path.rstrip("/").endswith(suffix):
                body = transform(body)
        return web.json_response(body)

    def _too_many(
        self, app: SimApp, period: str, start: int, end: int, limit: int
    ) -> web.Response:
        return web.json_response(
            {
                "message": "Too Many Requests",
                "details": f"Usage limit exceeded for plan {app.plan.title()}",
                "code": 429,
                "period": period,
                "period_start": start,
                "period_end": end,
                "limit": limit,
            },
            status=429,
        )

    def _route(
        self, parts: list[str], request: web.Request, grant: _Grant, now: datetime
    ) -> Any:
        query = request.query
        if parts == ["systems"]:
            return self._systems(query, grant)
        if parts == ["systems", "inverters_summary_by_envoy_or_site"]:
            return self._inverters_summary(query, grant)
        if parts == ["systems", "event_types"]:
            return {"event_types": list(_EVENT_TYPES)}
        if len(parts) < 2 or parts[0] != "systems":
            raise _ApiError(404, "Not Found", "Resource not found")
        try:
            system = self.systems.get(int(parts[1]))
        except ValueError:
            system = None
        if system is None:
            raise _ApiError(
                404, "Not Found", f'System not found for {{:id=>"{parts[1]}"}}'
            )
        if system.owner != grant.owner:
            raise _ApiError(403, "Forbidden", "Not authorized to access this resource")
        tail = "/".join(parts[2:])
        handlers = {
            "": lambda: self._system_json(system),
            "summary": lambda: self._summary(system, query),
            "devices": lambda: self._devices(system),
            "latest_telemetry": lambda: self._latest(system),
            "telemetry/battery": lambda: self._battery(system, query, now),
            "telemetry/production_micro": lambda: self._production_micro(
                system, query, now
            ),
            "telemetry/production_meter": lambda: self._meter_telemetry(
                system, query, now, "pv", "wh_del"
            ),
            "telemetry/consumption_meter": lambda: (
                self._needs_meter(system)
                or self._meter_telemetry(system, query, now, "load", "enwh")
            ),
            "energy_import_telemetry": lambda: (
                self._needs_meter(system)
                or self._grid_telemetry(system, query, now, "import", "wh_imported")
            ),
            "energy_export_telemetry": lambda: (
                self._needs_meter(system)
                or self._grid_telemetry(system, query, now, "export", "wh_exported")
            ),
            "energy_lifetime": lambda: self._series(
                system, query, {"production": "pv"}
            ),
            "consumption_lifetime": lambda: (
                self._needs_meter(system)
                or self._series(system, query, {"consumption": "load"})
            ),
            "battery_lifetime": lambda: self._series(
                system, query, {"charge": "charge", "discharge": "discharge"}
            ),
            "energy_import_lifetime": lambda: (
                self._needs_meter(system)
                or self._series(system, query, {"import": "import"})
            ),
            "energy_export_lifetime": lambda: (
                self._needs_meter(system)
                or self._series(system, query, {"export": "export"})
            ),
            "open_events": lambda: {
                "system_id": system.system_id,
                "events": [
                    {k: v for k, v in e.items() if k != "system_id"}
                    for e in self.events
                    if e["system_id"] == system.system_id
                    and e["event_end_time"] is None
                ],
            },
            "open_alarms": lambda: {
                "system_id": system.system_id,
                "alarms": [
                    {k: v for k, v in a.items() if k != "system_id"}
                    for a in self.alarms
                    if a["system_id"] == system.system_id
                ],
            },
            "devices/micros/telemetry": lambda: self._micro_telemetry(
                system, query, now
            ),
        }
        handler = handlers.get(tail)
        if handler is None:
            raise _ApiError(404, "Not Found", "Resource not found")
        return handler()

    # -- endpoints ---------------------------------------------------------------

    def _system_json(self, system: SimSystem) -> dict[str, Any]:
        upload = self.last_upload(system)
        operational = datetime.combine(
            system.operational, time(), ZoneInfo(system.timezone)
        )
        return {
            "system_id": system.system_id,
            "name": system.name,
            "public_name": "Residential System",
            "timezone": system.timezone,
            "address": {
                "city": system.city,
                "state": system.state,
                "country": "US",
                "postal_code": system.postal_code,
            },
            "connection_type": system.connection_type,
            "energy_lifetime": -1,
            "energy_today": -1,
            "system_size": -1,
            "status": self._status(system),
            "last_report_at": int(upload.timestamp()),
            "last_energy_at": int(self.cutoff(system).timestamp()),
            "operational_at": int(operational.timestamp()),
            "attachment_type": "rack_mount",
            "interconnect_date": None,
        }

    def _status(self, system: SimSystem) -> str:
        if self.gateway_offline_since is not None and datetime.now(
            UTC
        ) - self.gateway_offline_since > timedelta(hours=1):
            return "comm"
        return "normal"

    def _systems(self, query: Any, grant: _Grant) -> dict[str, Any]:
        try:
            page = int(query.get("page", "1"))
            size = int(query.get("size", "10"))
        except ValueError:
            raise _ApiError(422, "Unprocessable Entity", "Invalid page") from None
        if page < 1 or not 1 <= size <= 100:
            raise _ApiError(422, "Unprocessable Entity", "Invalid page size")
        if query.get("sort_by", "id") not in ("id", "-id"):
            raise _ApiError(
                422,
                "Unprocessable Entity",
                "Invalid request because of 'The sorting parameter is not supported.'",
            )
        mine = sorted(
            (s for s in self.systems.values() if s.owner == grant.owner),
            key=lambda s: s.system_id,
            reverse=query.get("sort_by") == "-id",
        )
        chosen = mine[(page - 1) * size : page * size]
        return {
            "total": len(mine),
            "current_page": page,
            "size": size,
            "count": len(chosen),
            "items": "systems",
            "systems": [self._system_json(s) for s in chosen],
        }

    def _summary(self, system: SimSystem, query: Any) -> dict[str, Any]:
        tz = ZoneInfo(system.timezone)
        today = datetime.now(UTC).astimezone(tz).date()
        raw = query.get("summary_date")
        day = date.fromisoformat(raw) if raw else today
        if day > today:
            raise _ApiError(
                422,
                "Unprocessable Entity",
                "Invalid request because of 'Requested date is in the future'",
            )
        cut = self.cutoff(system)
        energy_today = self._day_wh(system, "pv", day)
        before = sum(
            self._day_wh(system, "pv", system.operational + timedelta(days=n))
            for n in range(max((day - system.operational).days, 0))
        )
        lifetime = before + (energy_today if self.lifetime_includes_today else 0)
        past = day < today
        last_energy = cut
        model = self._model(system)
        day_obj = _simulate_day(
            model, self._local_ord(system, cut - timedelta(seconds=1))
        )
        step = int((cut - day_obj.start).total_seconds()) // _STEP_S
        while step > 0 and day_obj.cum["pv"][step] - day_obj.cum["pv"][step - 1] <= 0:
            step -= 1
        last_energy = day_obj.start + timedelta(seconds=step * _STEP_S)
        body = {
            "system_id": system.system_id,
            "current_power": self.power_override
            if self.power_override is not None
            else 0
            if past
            else round(self._avg_w(system, "pv", cut, 5)),
            "energy_lifetime": lifetime,
            "energy_today": energy_today,
            "last_interval_end_at": int(last_energy.timestamp()),
            "last_report_at": int(self.last_upload(system).timestamp()),
            "modules": 0 if past else len(system.micro_serials),
            "operational_at": int(
                datetime.combine(system.operational, time(), tz).timestamp()
            ),
            "size_w": 0 if past else round(system.peak_power_kw * 1000),
            "nmi": None,
            "source": "meter",
            "status": self._status(system),
            "summary_date": day.isoformat(),
            "evse_power": [],
        }
        if system.battery_serial:
            body |= {
                "battery_charge_w": 3840,
                "battery_discharge_w": 3840,
                "battery_capacity_wh": round(system.battery_capacity_kwh * 1000),
            }
        return body

    def _devices(self, system: SimSystem) -> dict[str, Any]:
        report = int(self.last_upload(system).timestamp())
        devices: dict[str, list[dict[str, Any]]] = {
            "micros": [
                {
                    "id": 57389300 + n,
                    "last_report_at": report,
                    "name": f"Microinverter {serial}",
                    "serial_number": serial,
                    "part_number": "800-01731-r02",
                    "sku": "IQ7PLUS-72-M-US",
                    "model": "IQ7+",
                    "status": "normal",
                    "active": True,
                    "product_name": "IQ7+",
                }
                for n, serial in enumerate(system.micro_serials)
            ],
            "meters": [
                {
                    "id": 57387732,
                    "last_report_at": report,
                    "name": "production",
                    "serial_number": f"{system.gateway_serial}EIM1",
                    "part_number": "800-00655-r09",
                    "sku": None,
                    "model": "Envoy S",
                    "status": "normal" if system.production_meter else "disabled",
                    "active": True,
                    "state": "enabled" if system.production_meter else "disabled",
                    "config_type": "Production",
                    "config_phase": "single",
                    "product_name": "IQ Gateway",
                },
                {
                    "id": 57387733,
                    "last_report_at": report if system.consumption_meter else None,
                    "name": "consumption",
                    "serial_number": f"{system.gateway_serial}EIM2",
                    "part_number": "800-00655-r09",
                    "sku": None,
                    "model": "Envoy S",
                    "status": "normal" if system.consumption_meter else "disabled",
                    # `active` typed as a string in the schema: send it that way here.
                    "active": "true",
                    "state": "enabled" if system.consumption_meter else "disabled",
                    "config_type": "Net",
                    "product_name": "IQ Gateway",
                },
            ],
            "gateways": [
                {
                    "id": 101805630,
                    "last_report_at": report,
                    "name": f"Gateway {system.gateway_serial}",
                    "serial_number": system.gateway_serial,
                    "part_number": "800-00655-r09",
                    "emu_sw_version": "D8.2.4264 (a1b2c3)",
                    "sku": "X-IQ-AM1-240-3-ES",
                    "model": "IQ Envoy",
                    "status": "normal",
                    "active": True,
                    "product_name": "IQ Gateway",
                    **(
                        {
                            "cellular_modem": {
                                "imei": "352009112238477",
                                "part_num": "860-00157-r01",
                                "sku": "CELLMODEM-M1",
                                "plan_start_date": 1614796200,
                                "plan_end_date": 1772562600,
                            }
                        }
                        if system.connection_type == "cellular"
                        else {}
                    ),
                }
            ],
        }
        if system.battery_serial:
            devices["encharges"] = [
                {
                    "id": 1059640295,
                    "last_report_at": report,
                    "name": f"IQ Battery {system.battery_serial}",
                    "serial_number": system.battery_serial,
                    "part_number": "800-00562-r01",
                    "sku": "B03-A01-US00-1-3",
                    "model": "",
                    "status": "normal",
                    "active": True,
                    "product_name": "IQ Battery 5P",
                }
            ]
        total = sum(len(v) for v in devices.values())
        return {
            "system_id": system.system_id,
            "total_devices": total,
            "items": "devices",
            "devices": devices,
        }

    def _latest(self, system: SimSystem) -> dict[str, Any]:
        cut = self.cutoff(system)
        report = int(self.last_upload(system).timestamp())
        meters: list[dict[str, Any]] = [
            {
                "id": 1084690247,
                "name": "production",
                "channel": 1,
                "last_report_at": report,
                "power": round(self._avg_w(system, "pv", cut, 15)),
            },
            {
                "id": 1084690247,
                "name": "production",
                "channel": 2,
                "last_report_at": None,
                "power": None,
            },
        ]
        if system.consumption_meter:
            meters.append(
                {
                    "id": 1084690248,
                    "name": "consumption",
                    "channel": 1,
                    "last_report_at": report,
                    "power": round(self._avg_w(system, "load", cut, 15)),
                }
            )
        devices: dict[str, Any] = {"meters": meters}
        if system.battery_serial:
            charge = self._avg_w(system, "charge", cut, 15)
            discharge = self._avg_w(system, "discharge", cut, 15)
            if charge > 1:
                mode, power = "Charging", self.battery_sign * charge
            elif discharge > 1:
                mode, power = "Discharging", discharge
            else:
                mode, power = "Idle", 0.0
            devices["encharges"] = [
                {
                    "id": 1084690255,
                    "name": f"Encharge {system.battery_serial}",
                    "channel": 1,
                    "last_report_at": report,
                    "power": round(power),
                    "operational_mode": mode,
                }
            ]
        return {"system_id": system.system_id, "items": "devices", "devices": devices}

    def _window(
        self, system: SimSystem, query: Any, now: datetime, step: int
    ) -> tuple[datetime, datetime, dict[str, Any]]:
        """The interval window of a telemetry call, and the echoed range fields.

        Notes §4: ``start_at`` (epoch) or ``start_date`` (system-local date,
        midnight; default today); ``end_at`` = min(now, start + granularity);
        a window spans at most 7 days and starts within the last 2 years (422
        otherwise); a start before the first report moves to midnight of the
        first day; a start after the last upload answers no intervals. The
        response echoes whichever of ``start_at``/``start_date`` was sent.
        A ``start_date`` window of ``day``/``week`` runs to a local midnight
        (UNCONFIRMED across a DST change); ``end_date`` (UNCONFIRMED) is the
        local date of the last interval's end.
        """
        tz = ZoneInfo(system.timezone)
        granularity = query.get("granularity", "day")
        span = _SPANS.get(granularity)
        if span is None:
            raise _ApiError(
                422,
                "Unprocessable Entity",
                "Invalid request because of 'Invalid granularity'",
            )
        by_date = "start_at" not in query and "start_date" in query
        try:
            if "start_at" in query:
                start = datetime.fromtimestamp(int(query["start_at"]), UTC)
            else:
                first_day = (
                    date.fromisoformat(query["start_date"])
                    if by_date
                    else now.astimezone(tz).date()
                )
                start = datetime.combine(first_day, time(), tz).astimezone(UTC)
            limit: datetime | None = None
            if "end_at" in query:
                limit = datetime.fromtimestamp(int(query["end_at"]), UTC)
            elif "end_date" in query:
                limit = datetime.combine(
                    date.fromisoformat(query["end_date"]) + timedelta(days=1),
                    time(),
                    tz,
                ).astimezone(UTC)
        except ValueError, OverflowError, OSError:
            raise _ApiError(
                422,
                "Unprocessable Entity",
                "Invalid request because of 'Invalid date'",
            ) from None
        first = datetime.combine(system.operational, time(), tz).astimezone(UTC)
        cut = self.cutoff(system)
        if start < now - _OLDEST or (
            limit is not None and (limit < start or limit - start > _MAX_WINDOW)
        ):
            raise _ApiError(
                422,
                "Unprocessable Entity",
                "Invalid request because of 'Requested date range is invalid for "
                f"this system. {{:start_at=>{int(start.timestamp())}, :end_at=>"
                f"{int((limit or start).timestamp())}, :first_interval=>"
                f"{int(first.timestamp())}, :last_interval=>{int(cut.timestamp())}}}'",
            )
        start = max(start, first)
        start = datetime.fromtimestamp(math.ceil(start.timestamp() / step) * step, UTC)
        if by_date and granularity in ("day", "week"):
            days = 7 if granularity == "week" else 1
            local = start.astimezone(tz).date() + timedelta(days=days)
            stop = datetime.combine(local, time(), tz).astimezone(UTC)
        else:
            stop = start + timedelta(seconds=span)
        end = min(now, stop, cut, limit or stop)
        end = max(end, start)
        if by_date:
            last = end - timedelta(seconds=1) if end > start else start
            echo = {
                "start_date": start.astimezone(tz).date().isoformat(),
                "end_date": last.astimezone(tz).date().isoformat(),
            }
        else:
            echo = {
                "start_at": int(start.timestamp()),
                "end_at": int(end.timestamp()),
            }
        return start, end, {"granularity": granularity, **echo}

    def _meta(self, system: SimSystem) -> dict[str, Any]:
        tz = ZoneInfo(system.timezone)
        return {
            "status": self._status(system),
            "last_report_at": int(self.last_upload(system).timestamp()),
            "last_energy_at": int(self.cutoff(system).timestamp()),
            "operational_at": int(
                datetime.combine(system.operational, time(), tz).timestamp()
            ),
        }

    @staticmethod
    def _steps(start: datetime, end: datetime, step: int) -> list[datetime]:
        """Starts of the whole intervals of ``step`` seconds in [start, end)."""
        count = max(int((end - start).total_seconds()) // step, 0)
        return [start + timedelta(seconds=step * n) for n in range(count)]

    def _production_micro(
        self, system: SimSystem, query: Any, now: datetime
    ) -> dict[str, Any]:
        """§5.5: 5-minute ``enwh``/``powr`` of the whole array, with ``meta``."""
        start, end, echo = self._window(system, query, now, _FIVE)
        count = len(system.micro_serials)
        intervals = []
        for moment in self._steps(start, end, _FIVE):
            wh = self._flow_wh(system, "pv", moment, moment + timedelta(seconds=_FIVE))
            intervals.append(
                {
                    "end_at": int(moment.timestamp()) + _FIVE,
                    "devices_reporting": count,
                    "powr": wh * 12,
                    "enwh": wh,
                }
            )
        return {
            "system_id": system.system_id,
            "total_devices": count,
            **echo,
            "items": "intervals",
            "intervals": intervals,
            "meta": self._meta(system),
        }

    def _meter_telemetry(
        self, system: SimSystem, query: Any, now: datetime, flow: str, field: str
    ) -> dict[str, Any]:
        """§5.6/5.7: 15-minute meter intervals (``wh_del`` or ``enwh``)."""
        if flow == "pv" and not system.production_meter:
            raise _ApiError(
                422,
                "Unprocessable Entity",
                "Invalid request because of 'No production meter installed'",
            )
        start, end, echo = self._window(system, query, now, _QH)
        intervals = [
            {
                "end_at": int(moment.timestamp()) + _QH,
                "devices_reporting": 1,
                field: self._flow_wh(
                    system, flow, moment, moment + timedelta(seconds=_QH)
                ),
            }
            for moment in self._steps(start, end, _QH)
        ]
        body: dict[str, Any] = {
            "system_id": system.system_id,
            "total_devices": 1,
            **echo,
            "items": "intervals",
            "intervals": intervals,
        }
        if flow != "pv":  # the spec's production-meter example has no meta
            body["meta"] = self._meta(system)
        return body

    def _grid_telemetry(
        self, system: SimSystem, query: Any, now: datetime, flow: str, field: str
    ) -> dict[str, Any]:
        """§5.9: import/export quarter-hours, ``total_devices`` 0, with ``meta``.

        The official example nests ``intervals`` as an array of arrays; the
        grouping is not documented, so here one inner array per local day
        (``flat_grid`` switch: the unofficial flat list).
        """
        start, end, echo = self._window(system, query, now, _QH)
        tz = ZoneInfo(system.timezone)
        groups: dict[date, list[dict[str, Any]]] = {}
        for moment in self._steps(start, end, _QH):
            groups.setdefault(moment.astimezone(tz).date(), []).append(
                {
                    "end_at": int(moment.timestamp()) + _QH,
                    "devices_reporting": 1,
                    field: self._flow_wh(
                        system, flow, moment, moment + timedelta(seconds=_QH)
                    ),
                }
            )
        intervals: list[Any] = list(groups.values())
        if "flat_grid" in self.malformed:
            intervals = [i for group in intervals for i in group]
        return {
            "system_id": system.system_id,
            "total_devices": 0,
            **echo,
            "items": "intervals",
            "intervals": intervals,
            "meta": self._meta(system),
        }

    def _battery(self, system: SimSystem, query: Any, now: datetime) -> dict[str, Any]:
        if not system.battery_serial:
            return {
                "system_id": system.system_id,
                "granularity": "day",
                "total_devices": 0,
                "items": "intervals",
                "intervals": [],
            }
        start, end, echo = self._window(system, query, now, _QH)
        capacity = system.battery_capacity_kwh * 1000
        intervals = []
        for moment in self._steps(start, end, _QH):
            nxt = moment + timedelta(seconds=_QH)
            intervals.append(
                {
                    "end_at": int(nxt.timestamp()),
                    "charge": {
                        "enwh": self._flow_wh(system, "charge", moment, nxt),
                        "devices_reporting": 1,
                    },
                    "discharge": {
                        "enwh": self._flow_wh(system, "discharge", moment, nxt),
                        "devices_reporting": 1,
                    },
                    "soc": {
                        "percent": round(self._soe(system, nxt) / capacity * 100),
                        "devices_reporting": 1,
                    },
                }
            )
        cut = self.cutoff(system)
        return {
            "system_id": system.system_id,
            "total_devices": 1,
            **echo,
            "items": "intervals",
            "intervals": intervals,
            "last_reported_aggregate_soc": f"{round(self._soe(system, cut) / capacity * 100)}%",
        }

    def _needs_meter(self, system: SimSystem) -> None:
        if not system.consumption_meter:
            raise _ApiError(
                422,
                "Unprocessable Entity",
                "Invalid request because of 'No consumption meter installed'",
            )

    def _series(
        self, system: SimSystem, query: Any, arrays: dict[str, str]
    ) -> dict[str, Any]:
        tz = ZoneInfo(system.timezone)
        today = datetime.now(UTC).astimezone(tz).date()
        try:
            start = (
                date.fromisoformat(query["start_date"])
                if "start_date" in query
                else system.operational
            )
            end = (
                date.fromisoformat(query["end_date"])
                if "end_date" in query
                else (today if start == today else today - timedelta(days=1))
            )
        except ValueError:
            raise _ApiError(422, "Unprocessable Entity", "Invalid date") from None
        if start > today or end > today:
            raise _ApiError(
                422,
                "Unprocessable Entity",
                "Invalid request because of 'Requested date is in the future'",
            )
        start = max(start, system.operational)
        days = [
            start + timedelta(days=n) for n in range(max((end - start).days + 1, 0))
        ]
        body: dict[str, Any] = {
            "system_id": system.system_id,
            "start_date": start.isoformat() if days else None,
        }
        if "production" in arrays:
            body["meter_start_date"] = system.operational.isoformat()
        for array, key in arrays.items():
            body[array] = [self._day_wh(system, key, day) for day in days]
        body["meta"] = {
            "status": self._status(system),
            "last_report_at": int(self.last_upload(system).timestamp()),
            "last_energy_at": int(self.cutoff(system).timestamp()),
            "operational_at": int(
                datetime.combine(system.operational, time(), tz).timestamp()
            ),
        }
        return body

    def _inverters_summary(self, query: Any, grant: _Grant) -> list[dict[str, Any]]:
        if "site_id" not in query and "envoy_serial_number" not in query:
            raise _ApiError(
                422, "Unprocessable Entity", "Envoy serial number or Site id mandatory"
            )
        try:
            page = int(query.get("page", "1"))
            size = int(query.get("size", "10"))
        except ValueError:
            raise _ApiError(422, "Unprocessable Entity", "Invalid page") from None
        if page < 1 or not 1 <= size <= 100:
            raise _ApiError(422, "Unprocessable Entity", "Invalid page size")
        system = self.systems.get(int(query.get("site_id", "0") or 0))
        if system is None or system.owner != grant.owner:
            raise _ApiError(404, "Not Found", "Site not found")
        powers = self.micro_power(system.system_id)
        lifetime = self.truth(system.system_id)["production_lifetime"]
        weights = _micro_weights(len(system.micro_serials))
        report = int(self.last_upload(system).timestamp())
        micros = []
        for n, serial in enumerate(system.micro_serials):
            power: Any = {"value": powers[serial], "units": "W", "precision": 0}
            if n % 5 == 4:  # one example in the spec has a bare integer
                power = powers[serial]
            micros.append(
                {
                    "id": 1059689835 + n,
                    "serial_number": serial,
                    "model": "IQ7+",
                    "part_number": "800-01731-r02",
                    "sku": "IQ7PLUS-72-M-US",
                    "status": "normal",
                    "power_produced": power,
                    "proc_load": "521-00005-r00-v02.32.01",
                    "param_table": "549-00018-r00-v02.32.01",
                    "envoy_serial_number": system.gateway_serial,
                    "energy": {
                        "value": round(lifetime * weights[n]),
                        "units": "Wh",
                        "precision": 0,
                    },
                    "grid_profile": "57227c50e4d7973ae602c4e6",
                    "last_report_date": report,
                }
            )
        chosen = micros[(page - 1) * size : page * size]
        return [{"signal_strength": 5, "micro_inverters": chosen}] if chosen else []

    def _micro_telemetry(
        self, system: SimSystem, query: Any, now: datetime
    ) -> dict[str, Any]:
        try:
            page = int(query.get("page", "1"))
            size = int(query.get("size", "10"))
        except ValueError:
            raise _ApiError(422, "Unprocessable Entity", "Invalid page") from None
        if page < 1 or not 1 <= size <= 20:
            raise _ApiError(
                422, "Unprocessable Entity", "Page size is limited to a maximum of 20"
            )
        granularity = query.get("granularity", "day")
        span = {"5mins": _FIVE, "15mins": _QH, "day": 86400, "week": 7 * 86400}[
            granularity
        ]
        start = datetime.fromtimestamp(int(query.get("start_at", now.timestamp())), UTC)
        start = datetime.fromtimestamp(
            math.ceil(start.timestamp() / _FIVE) * _FIVE, UTC
        )
        end = min(now, start + timedelta(seconds=span), self.cutoff(system))
        weights = _micro_weights(len(system.micro_serials))
        serials = system.micro_serials[(page - 1) * size : page * size]
        devices = []
        for serial in serials:
            w = weights[system.micro_serials.index(serial)]
            intervals = []
            moment = start
            while moment + timedelta(seconds=_FIVE) <= end:
                nxt = moment + timedelta(seconds=_FIVE)
                wh = self._flow_wh(system, "pv", moment, nxt) * w
                intervals.append(
                    {
                        "end_at": int(nxt.timestamp()),
                        "powr": round(wh * 12),
                        "enwh": round(wh),
                    }
                )
                moment = nxt
            devices.append({"serial_number": serial, "intervals": intervals})
        return {
            "system_id": system.system_id,
            "total_devices": len(system.micro_serials),
            "page": page,
            "page_size": len(devices),
            "start_at": int(start.timestamp()),
            "end_at": int(end.timestamp()),
            "granularity": granularity,
            "items": "intervals",
            "devices": devices,
        }


def demo_entry(host: str, port: int) -> dict[str, Any]:
    """The demo's config entry: the Home system behind a pre-minted grant."""
    system = SimSystem()
    return {
        "domain": "sungaze",
        "title": system.name,
        "unique_id": f"enphase_{system.owner}",
        "data": {
            "vendor": "enphase",
            "auth_implementation": f"sungaze_{DEMO_CLIENT_ID}",
            "api_key": DEMO_API_KEY,
            "system_ids": [str(system.system_id)],
            "url": f"http://{host}:{port}/api/v4",
            "token": {
                "access_token": DEMO_ACCESS_TOKEN,
                "refresh_token": DEMO_REFRESH_TOKEN,
                "token_type": "bearer",
                "expires_in": 86393,
                # Expired on purpose: the first update refreshes through the
                # simulator's token endpoint, so the demo shows that path too.
                "expires_at": 0,
                "scope": "read write",
                "enl_uid": system.owner,
            },
        },
        "options": {"plan": "watt"},
    }


def demo_application_credential() -> dict[str, str]:
    """The application-credentials storage item the demo entry points at."""
    return {
        "id": f"sungaze_{DEMO_CLIENT_ID}",
        "domain": "sungaze",
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "name": "Enphase (simulator)",
    }


def _garble(malformed: set[str], path: str, body: Any) -> Any:
    """Apply the ``malformed`` switches: shapes and units other clients met."""
    if not malformed:
        return body
    if "systems" in malformed and path.endswith("/systems"):
        return {**body, "systems": "n/a"}
    if "systems_missing" in malformed and path.endswith("/systems"):
        return {**body, "systems": body["systems"][1:]}
    if "systems_null_id" in malformed and path.endswith("/systems"):
        return {
            **body,
            "systems": [{**item, "system_id": None} for item in body["systems"]],
        }
    if "devices" in malformed and path.endswith("/devices"):
        return {**body, "devices": []}
    if "summary" in malformed and path.endswith("/summary"):
        return []
    if "soc" in malformed and path.endswith("/telemetry/battery"):
        return {**body, "intervals": [{"end_at": 1, "soc": None}]}
    if "series" in malformed and path.endswith("_lifetime"):
        return {k: (["n/a"] if isinstance(v, list) else v) for k, v in body.items()}
    if "units" in malformed and path.endswith("inverters_summary_by_envoy_or_site"):
        for envoy in body:
            for micro in envoy["micro_inverters"]:
                power = micro["power_produced"]
                watts = power["value"] if isinstance(power, dict) else power
                micro["power_produced"] = {"value": watts / 1000, "units": "kW"}
                micro["energy"] = {"value": micro["energy"]["value"], "units": "??"}
    if "latest" in malformed and path.endswith("/latest_telemetry"):
        return {**body, "devices": {"meters": ["n/a", {"name": "x", "power": 5}]}}
    if "events" in malformed and path.endswith(("/open_events", "/open_alarms")):
        return {"system_id": body["system_id"], "events": "n/a", "alarms": None}
    return body
