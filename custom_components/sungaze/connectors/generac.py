"""Generac PWRcell through the Generac app's cloud (`generac-api.neur.io`).

Sign-in, two ways, and Sungaze ships no vendor secret for either:

* **Refresh token** (default): the user id and refresh token of a web-portal
  sign-in (pwrfleet.generac.com), pasted by the user. Only
  `POST /sessions/v2/refresh/token` (`{"userId", "refreshToken"}`, no
  Authorization header) and the data endpoints are called.
* **Email and password** with the app identity the user supplies (HTTP Basic
  client id/secret on `POST /sessions/v1/signin`). The refresh token it yields
  is used as above; the password signs in again only when a refresh is refused.

Data calls carry `Authorization: Bearer <id_token>` (the ID token, not the
access token) and the app's headers. ID tokens live `expires_in` (3600 s) and
are renewed 300 s early. A rotated refresh token is handed to
`on_credentials` (which stores it durably) before the new ID token is used;
the renewal runs shielded, so a cancelled update cannot lose it, and a second
connector of the same account (a reload) waits for it instead of spending the
old token again. A refused refresh token or password is remembered (as a
digest) and never sent again: one re-authentication, no hammering. Not
covered: Home Assistant stopping in the split second between Generac's
rotation and the write (the renewal is the connector's own task, which HA
does not wait for at shutdown).

Each update: `GET /live/v1/homes` (devices, per-device power, lifetime Wh,
temperature, voltage) and `GET /live/v2/homes/{id}/telemetry?fromIso=` (the
per-second snapshots since the last one seen). Powers are kW (x1000 -> W);
grid is + import, battery + discharge (Sungaze's conventions, no flip).
`[]` means nothing new: the last values stay, with their sample time.

Derived counters: the API has no grid or battery energy. Grid import/export
and battery charge/discharge energy are integrated from the telemetry samples
(trapezoid over the vendor's sample times; a gap longer than `MAX_GAP` is not
bridged). The integrator's state (totals, last sample) is exposed through
`saved_state()` / `restore_state()` so a restart continues where it stopped: the
first fetch asks for the samples since the last one integrated (at most
`MAX_BACKFILL` back), so nothing is lost and nothing counted twice.

Cadence: no published limit. Generac asked MobileLink integrations (a sibling
service) to poll less (30 s -> 120 s), so updates are every 120 s at the
fastest: 2 requests each, plus one token refresh an hour, about 61 requests
an hour. 429 honours Retry-After (the shared limiter holds every request
meanwhile); the coordinator backs off while Generac keeps failing.

No first-setup history (`history_requests_per_day` stays 0): the notes name
no history endpoint. `telemetry?fromIso=` is a live feed of per-second
snapshots that clients ask for the last ~90 s; a past day of it would be up
to 86,400 snapshots, and how far back it reaches is unconfirmed. The lifetime
Wh of `/homes` has no per-day breakdown. So Generac entries start their
statistics at setup, and the Energy dashboard says so by showing no past.

UNCONFIRMED (no public capture):
* whether web-portal (pwrfleet PKCE) tokens work on `/live/*` (a refusal
  there after a fresh ID token asks for re-authentication);
* the refresh token's lifetime (Cognito's default is 30 days) and whether a
  refresh rotates it (handled both ways);
* the wrong-password answer: 400/401/403 on sign-in or refresh are taken as
  refusals, the body's `message` only logged; a non-null `authChallenge`
  (MFA, new password) is reported as "finish signing in with Generac first";
* a per-device serial in `systemDevices` (`serialNumber` is read if present;
  otherwise devices are named by type and the system's serial);
* the meaning of the battery's `lifeTimeEnergyInWh` (kept as the battery's
  own lifetime energy), the full `batteryState` and `sysMode` value lists,
  and how far back `fromIso` may reach.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import hashlib
import time
from typing import Any, ClassVar, Final

import aiohttp

from ..model import (
    METRICS,
    Device,
    DeviceKind,
    Readings,
    Site,
    Snapshot,
    Value,
    as_float,
)
from .base import (
    AccountInfo,
    AuthFailedError,
    BadPayloadError,
    ConnectionFailedError,
    PollCost,
    RequestBudget,
    RequestLimiter,
)
from .http import HttpConnector, HttpResponse

DEFAULT_URL: Final = "https://generac-api.neur.io"
MANUFACTURER: Final = "Generac"

CONF_AUTH_METHOD: Final = "auth_method"
AUTH_REFRESH_TOKEN: Final = "refresh_token"  # noqa: S105 - a key name, not a secret
AUTH_PASSWORD: Final = "password"  # noqa: S105 - a key name, not a secret
CONF_USER_ID: Final = "user_id"
CONF_REFRESH_TOKEN: Final = "refresh_token"  # noqa: S105 - a key name, not a secret
CONF_EMAIL: Final = "email"
CONF_PASSWORD: Final = "password"  # noqa: S105 - a key name, not a secret
CONF_CLIENT_ID: Final = "client_id"
CONF_CLIENT_SECRET: Final = "client_secret"  # noqa: S105 - a key name, not a secret
CONF_SITE_ID: Final = "site_id"
CONF_URL: Final = "url"

SIGN_IN: Final = "/sessions/v1/signin"
REFRESH: Final = "/sessions/v2/refresh/token"
HOMES: Final = "/live/v1/homes"
TELEMETRY: Final = "/live/v2/homes/{home}/telemetry"

APP_HEADERS: Final = {
    "user-agent": "GeneracHome/38904 CFNetwork/3860.400.51 Darwin/25.3.0",
    "mobileappversion": "1.30.0",
    "mobileappbuildnumber": "38904",
    "accept": "application/json, text/plain, */*",
    "accept-language": "en-US,en;q=0.9",
}
"""The app's headers, as both public clients send them (no secret)."""

REFRESH_MARGIN: Final = 300.0
"""Seconds before expiry at which the ID token is renewed."""
MIN_INTERVAL: Final = timedelta(seconds=120)
FIRST_WINDOW: Final = timedelta(seconds=90)
"""Telemetry asked for when nothing was integrated yet (as the app does)."""
MAX_BACKFILL: Final = timedelta(hours=1)
"""How far back a fetch asks for missed samples (after a restart or an outage)."""
MAX_GAP: Final = 300.0
"""Seconds between two samples beyond which the integral does not bridge."""
REFUSED: Final = frozenset({400, 401, 403})

_KINDS: Final = {
    "INVERTER": DeviceKind.INVERTER,
    "BATTERY": DeviceKind.BATTERY,
    "PVL": DeviceKind.OPTIMIZER,
    "BEACON": DeviceKind.GATEWAY,
}
_NAMES: Final = {
    "INVERTER": "Inverter",
    "BATTERY": "Battery",
    "PVL": "PV link",
    "BEACON": "Beacon",
}
BATTERY_STATES: Final = METRICS["battery_soc_status"].options or ()
GRID_STATES: Final = METRICS["grid_state"].options or ()
SYSTEM_MODES: Final = METRICS["system_mode"].options or ()
"""The first three are in captures; the others are PWRcell FAQ modes (UNCONFIRMED spelling)."""
COUNTERS: Final = (
    "grid_import_energy_lifetime",
    "grid_export_energy_lifetime",
    "battery_charge_energy_lifetime",
    "battery_discharge_energy_lifetime",
)


class SignInChallengeError(AuthFailedError):
    """Generac wants more than a password (MFA, a new password) first."""


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


_REFUSED: set[str] = set()
"""Digests of refresh tokens and passwords Generac refused: never sent again."""


@dataclass(slots=True)
class _Tokens:
    user_id: str
    refresh_token: str
    id_token: str
    expires_at: float


@dataclass(slots=True)
class _Renewal:
    """A renewal in flight (or just done) for one account, shared by its connectors."""

    refresh_token: str
    task: asyncio.Task[_Tokens]
    starter: int
    """id() of the connector whose `on_credentials` the renewal calls."""


_RENEWALS: dict[str, _Renewal] = {}


@dataclass(slots=True)
class Integrator:
    """Energy from power samples: trapezoid over sample times, split by sign."""

    totals: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(COUNTERS, 0.0)
    )
    last_ts: int | None = None
    last_grid: float | None = None
    last_battery: float | None = None

    def add(self, ts: int, grid_w: float | None, battery_w: float | None) -> None:
        """Integrate up to one more sample (grid + import, battery + discharge, W)."""
        if self.last_ts is not None and ts <= self.last_ts:
            return
        dt = None if self.last_ts is None else ts - self.last_ts
        if dt is not None and dt <= MAX_GAP:
            self._step(dt, self.last_grid, grid_w, "grid_import", "grid_export")
            self._step(
                dt, self.last_battery, battery_w, "battery_discharge", "battery_charge"
            )
        self.last_ts, self.last_grid, self.last_battery = ts, grid_w, battery_w

    def _step(
        self, dt: float, before: float | None, now: float | None, pos: str, neg: str
    ) -> None:
        if before is None or now is None:
            return
        hours = dt / 3600
        self.totals[f"{pos}_energy_lifetime"] += (
            (max(before, 0.0) + max(now, 0.0)) / 2 * hours
        )
        self.totals[f"{neg}_energy_lifetime"] += (
            (max(-before, 0.0) + max(-now, 0.0)) / 2 * hours
        )

    def as_dict(self) -> dict[str, Any]:
        """The state to persist."""
        return {
            "totals": dict(self.totals),
            "last_ts": self.last_ts,
            "last_grid": self.last_grid,
            "last_battery": self.last_battery,
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        """Continue from a persisted state."""
        totals = data.get("totals") or {}
        for key in COUNTERS:
            if (value := as_float(totals.get(key))) is not None and value >= 0:
                self.totals[key] = value
        last = data.get("last_ts")
        self.last_ts = int(last) if isinstance(last, int | float) else None
        self.last_grid = as_float(data.get("last_grid"))
        self.last_battery = as_float(data.get("last_battery"))


def _kw(block: object, key: str = "powerKw") -> float | None:
    if not isinstance(block, Mapping):
        return None
    return as_float(block.get(key), scale=1000.0)


def _enum(raw: object, prefix: str, allowed: tuple[str, ...]) -> str | None:
    if not isinstance(raw, str):
        return None
    value = raw.removeprefix(prefix).lower()
    return value if value in allowed else None


class GeneracConnector(HttpConnector):
    """One PWRcell home (`site_id`) of one Generac account."""

    vendor: ClassVar[str] = "generac"
    default_url: ClassVar[str | None] = DEFAULT_URL
    # No published limit: a safety net against our own loops only.
    budget: ClassVar[RequestBudget] = RequestBudget(per_minute=12)

    def __init__(
        self,
        session: aiohttp.ClientSession | None,
        *,
        user_id: str = "",
        refresh_token: str = "",
        email: str = "",
        password: str = "",
        client_id: str = "",
        client_secret: str = "",
        home_id: str | None = None,
        base_url: str | None = None,
        limiter: RequestLimiter | None = None,
    ) -> None:
        """Keep the credentials; no request is sent yet."""
        super().__init__(session, base_url=base_url, limiter=limiter)
        self._user_id = user_id
        self._refresh_token = refresh_token
        self._email = email
        self._password = password
        self._client_id = client_id
        self._client_secret = client_secret
        self._id_token = ""
        self._expires_at = 0.0
        self.home_id = home_id
        self.challenged = False
        """The last sign-in was answered with an `authChallenge`."""
        self._integrator = Integrator()
        self._site_values: dict[str, Value] = {}
        self._site_as_of: datetime | None = None
        self._systems: dict[str, dict[str, Value]] = {}

    @classmethod
    def from_config(
        cls,
        session: aiohttp.ClientSession,
        data: Mapping[str, Any],
        limiter: RequestLimiter | None = None,
    ) -> GeneracConnector:
        """Build from entry data (refresh-token or password sign-in)."""
        return cls(
            session,
            user_id=str(data.get(CONF_USER_ID) or ""),
            refresh_token=str(data.get(CONF_REFRESH_TOKEN) or ""),
            email=str(data.get(CONF_EMAIL) or ""),
            password=str(data.get(CONF_PASSWORD) or ""),
            client_id=str(data.get(CONF_CLIENT_ID) or ""),
            client_secret=str(data.get(CONF_CLIENT_SECRET) or ""),
            home_id=data.get(CONF_SITE_ID),
            base_url=data.get(CONF_URL),
            limiter=limiter,
        )

    @classmethod
    def budget_key(cls, data: Mapping[str, Any]) -> str:
        """One quota per Generac account, whatever its token currently is."""
        who = data.get(CONF_USER_ID) or data.get(CONF_EMAIL) or ""
        return f"{cls.vendor}_{_digest(str(who))[:16]}"

    @property
    def cost(self) -> PollCost:
        """Homes + telemetry each update; a token refresh an hour."""
        return PollCost(per_poll=2, per_day=24, min_interval=MIN_INTERVAL)

    @property
    def credentials(self) -> dict[str, str]:
        """What to store for the next start: the user id and current refresh token."""
        return {CONF_USER_ID: self._user_id, CONF_REFRESH_TOKEN: self._refresh_token}

    def _secrets(self) -> tuple[str, ...]:
        return (
            self._refresh_token,
            self._id_token,
            self._password,
            self._client_secret,
        )

    # -- authentication ----------------------------------------------------

    async def _auth_headers(
        self, *, rejected: bool = False
    ) -> Mapping[str, str] | None:
        """The ID token as bearer; renewed when near expiry or refused."""
        if (
            rejected
            or not self._id_token
            or self._expires_at < (time.time() + REFRESH_MARGIN)
        ):
            await self._renew()
        return {**APP_HEADERS, "Authorization": f"Bearer {self._id_token}"}

    async def _renew(self) -> None:
        """Get a fresh ID token, once per account even across connectors."""
        key = self._user_id or _digest(self._email)
        loop = asyncio.get_running_loop()
        renewal = _RENEWALS.get(key)
        if (
            renewal is None
            or renewal.task.get_loop() is not loop
            or renewal.refresh_token != self._refresh_token
            or (renewal.task.done() and not self._fresh(renewal.task))
        ):
            task = loop.create_task(self._async_renew(self._refresh_token))
            task.add_done_callback(_retrieve)
            renewal = _RENEWALS[key] = _Renewal(self._refresh_token, task, id(self))
        tokens = await asyncio.shield(renewal.task)
        if (
            renewal.starter != id(self)
            and tokens.refresh_token != self._refresh_token
            and self.on_credentials is not None
        ):
            # Another entry of this account renewed with our token: keep its successor.
            await self.on_credentials(
                {CONF_USER_ID: tokens.user_id, CONF_REFRESH_TOKEN: tokens.refresh_token}
            )
        self._user_id, self._refresh_token = tokens.user_id, tokens.refresh_token
        self._id_token, self._expires_at = tokens.id_token, tokens.expires_at

    def _fresh(self, task: asyncio.Task[_Tokens]) -> bool:
        """A finished renewal another connector started whose token is still good."""
        if task.cancelled() or task.exception() is not None:
            return False
        tokens = task.result()
        return tokens.id_token != self._id_token and tokens.expires_at > (
            time.time() + REFRESH_MARGIN
        )

    async def _async_renew(self, refresh_token: str) -> _Tokens:
        """Refresh (or sign in again); store a new refresh token before returning."""
        tokens: _Tokens | None = None
        if refresh_token and self._user_id:
            if _digest(self._user_id, refresh_token) in _REFUSED:
                if not self._can_sign_in():
                    raise AuthFailedError(
                        "Generac refused this refresh token; sign in again"
                    )
            else:
                tokens = await self._refresh(refresh_token)
        if tokens is None:
            if not self._can_sign_in():
                raise AuthFailedError("No refresh token and no password to sign in")
            tokens = await self._sign_in()
        if tokens.refresh_token != refresh_token and self.on_credentials is not None:
            # On disk before anything uses it: the old one may be dead already.
            await self.on_credentials(
                {CONF_USER_ID: tokens.user_id, CONF_REFRESH_TOKEN: tokens.refresh_token}
            )
        return tokens

    def _password_digest(self) -> str:
        return _digest(
            self._email, self._password, self._client_id, self._client_secret
        )

    def _can_sign_in(self) -> bool:
        return bool(
            self._email and self._password and self._password_digest() not in _REFUSED
        )

    async def _refresh(self, refresh_token: str) -> _Tokens | None:
        """Refresh the ID token; None when the refresh token is refused."""
        response = await self._send(
            "POST",
            REFRESH,
            headers={**APP_HEADERS, "content-type": "application/json"},
            json={"userId": self._user_id, "refreshToken": refresh_token},
        )
        if response.status in REFUSED:
            _REFUSED.add(_digest(self._user_id, refresh_token))
            self._log_refusal("refresh", response)
            return None
        self._raise_for_status(response, "token refresh")
        return self._tokens(response.json("token refresh"), refresh_token)

    async def _sign_in(self) -> _Tokens:
        """Sign in with email, password and the user's app identity."""
        basic = base64.b64encode(
            f"{self._client_id}:{self._client_secret}".encode()
        ).decode()
        response = await self._send(
            "POST",
            SIGN_IN,
            headers={
                **APP_HEADERS,
                "content-type": "application/json",
                "Authorization": f"Basic {basic}",
            },
            json={"email": self._email, "password": self._password},
        )
        if response.status in REFUSED:
            _REFUSED.add(self._password_digest())
            self._log_refusal("sign-in", response)
            raise AuthFailedError("Generac refused the sign-in")
        self._raise_for_status(response, "sign-in")
        body = response.json("sign-in")
        if isinstance(body, Mapping) and body.get("authChallenge"):
            self.challenged = True
            raise SignInChallengeError(
                f"Generac asks for {body.get('authChallenge')} before signing in"
            )
        return self._tokens(body, "")

    def _tokens(self, body: Any, refresh_token: str) -> _Tokens:
        if not isinstance(body, Mapping) or not isinstance(body.get("id_token"), str):
            raise BadPayloadError("Generac's token answer has no id_token")
        user_id = str(body.get("user_id") or self._user_id)
        new = body.get("refresh_token")
        lifetime = as_float(body.get("expires_in")) or 3600.0
        return _Tokens(
            user_id=user_id,
            refresh_token=new if isinstance(new, str) and new else refresh_token,
            id_token=body["id_token"],
            expires_at=time.time() + lifetime,
        )

    def _log_refusal(self, what: str, response: HttpResponse) -> None:
        try:
            body = response.json(what)
        except BadPayloadError:
            body = {}
        message = ""
        if isinstance(body, Mapping):
            for key in ("message", "error", "errorMessage", "detail"):
                if isinstance(body.get(key), str):
                    message = body[key]
                    break
        self._log_once(
            f"refused_{what}",
            self._scrub(
                f"Generac refused the {what} (HTTP {response.status}): {message}"
            ),
        )

    # -- data --------------------------------------------------------------

    async def _homes(self) -> list[Mapping[str, Any]]:
        body = await self._get_json(HOMES, "homes")
        if not isinstance(body, list):
            raise BadPayloadError("Generac's homes answer is not a list")
        homes = [h for h in body if isinstance(h, Mapping) and h.get("homeId")]
        if not homes:
            raise ConnectionFailedError("Generac listed no home for this account")
        return homes

    async def async_identify(self) -> AccountInfo:
        """Sign in (or refresh) and list the account's homes."""
        homes = await self._homes()
        sites = tuple(_site(home) for home in homes)
        devices = tuple(d for home in homes for d, _ in _devices(home))
        return AccountInfo(
            unique_id=self._user_id,
            title=f"Generac {sites[0].name}",
            sites=sites,
            devices=devices,
        )

    async def async_fetch(self) -> Snapshot:
        """Homes (devices, lifetimes) and the telemetry since the last sample."""
        homes = await self._homes()
        home = next((h for h in homes if str(h["homeId"]) == self.home_id), None)
        if home is None:
            raise BadPayloadError("Generac no longer lists this home")
        samples = await self._telemetry(str(home["homeId"]))
        site = _site(home)
        self._take(samples)
        devices: dict[str, Device] = {
            site.id: Device(
                id=site.id,
                kind=DeviceKind.SITE,
                name=site.name,
                site_id=site.id,
                manufacturer=MANUFACTURER,
            )
        }
        readings: dict[str, Readings] = {}
        production: list[float | None] = []
        for device, status in _devices(home):
            devices[device.id] = device
            values = _device_values(device.kind, status)
            as_of = None
            if device.kind is DeviceKind.INVERTER and device.serial in self._systems:
                values.update(self._systems[device.serial])
                as_of = self._site_as_of
            if device.kind is DeviceKind.OPTIMIZER:
                production.append(as_float(values.get("production_energy_lifetime")))
            if values:
                readings[device.id] = Readings(values=values, as_of=as_of)
        site_values: dict[str, Value] = {**self._site_values}
        site_values.update(
            {key: round(value, 3) for key, value in self._integrator.totals.items()}
        )
        if production and None not in production:
            site_values["production_energy_lifetime"] = sum(
                p for p in production if p is not None
            )
        readings[site.id] = Readings(values=site_values, as_of=self._site_as_of)
        return Snapshot(sites={site.id: site}, devices=devices, readings=readings)

    async def _telemetry(self, home_id: str) -> list[tuple[int, Mapping[str, Any]]]:
        now = datetime.now(UTC)
        since = now - FIRST_WINDOW
        if (last := self._integrator.last_ts) is not None:
            since = max(datetime.fromtimestamp(last, UTC), now - MAX_BACKFILL)
        body = await self._get_json(
            TELEMETRY.format(home=home_id),
            "telemetry",
            params={"fromIso": since.strftime("%Y-%m-%dT%H:%M:%SZ")},
        )
        if not isinstance(body, list):
            raise BadPayloadError("Generac's telemetry answer is not a list")
        samples = [
            (ts, s)
            for s in body
            if isinstance(s, Mapping) and (ts := _ts(s)) is not None
        ]
        samples.sort(key=lambda pair: pair[0])
        return samples

    def _take(self, samples: list[tuple[int, Mapping[str, Any]]]) -> None:
        """Integrate new samples; the newest gives the current values."""
        newest: Mapping[str, Any] | None = None
        newest_ts = 0
        for ts, sample in samples:
            if self._integrator.last_ts is not None and ts <= self._integrator.last_ts:
                continue
            self._integrator.add(
                ts, _kw(sample.get("grid")), _kw(sample.get("battery"))
            )
            newest, newest_ts = sample, ts
            self.dirty = True
        if newest is None:
            return  # `[]` or only old samples: nothing new, keep what we have
        self._site_as_of = datetime.fromtimestamp(newest_ts, UTC)
        battery = newest.get("battery")
        battery = battery if isinstance(battery, Mapping) else {}
        state = battery.get("batteryState")
        if (
            isinstance(state, str)
            and not state.endswith("UNSPECIFIED")
            and _enum(state, "BATTERY_SOC_STATUS_", BATTERY_STATES) is None
        ):
            self._log_once(f"state_{state}", f"Unknown Generac battery state {state}")
        values: dict[str, Value] = {
            "production_power": _kw(newest.get("solar")),
            "grid_power": _kw(newest.get("grid")),
            "consumption_power": _kw(newest.get("consumption")),
            "generator_power": _kw(newest.get("generator")),
            "battery_power": _kw(battery),
            "battery_state_of_charge": as_float(battery.get("soC")),
            "battery_backup_time": as_float(battery.get("batteryBackupTimeInSeconds")),
            "battery_soc_status": _enum(state, "BATTERY_SOC_STATUS_", BATTERY_STATES),
        }
        self._site_values = {k: v for k, v in values.items() if v is not None}
        systems = newest.get("system")
        self._systems = {}
        for serial, system in systems.items() if isinstance(systems, Mapping) else ():
            if not isinstance(system, Mapping):
                continue
            mode = system.get("sysMode")
            if _enum(mode, "", SYSTEM_MODES) is None and isinstance(mode, str):
                self._log_once(f"mode_{mode}", f"Unknown Generac system mode {mode}")
            found: dict[str, Value] = {
                "grid_state": _enum(system.get("gridState"), "GRID_", GRID_STATES),
                "system_mode": _enum(mode, "", SYSTEM_MODES),
                "inverter_headroom": _kw(system, "inverterHeadRoomKw"),
            }
            self._systems[str(serial)] = {
                k: v for k, v in found.items() if v is not None
            }

    def saved_state(self) -> dict[str, Any]:
        """The derived counters' integrator, to persist across restarts."""
        self.dirty = False
        return {"home_id": self.home_id, **self._integrator.as_dict()}

    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Continue the derived counters from a persisted state of this home."""
        if state.get("home_id") == self.home_id:
            self._integrator.restore(state)

    def diagnostics(self) -> dict[str, Any]:
        """Request counters, token expiry and the integrator (no secrets)."""
        return {
            **super().diagnostics(),
            "auth_method": AUTH_PASSWORD if self._password else AUTH_REFRESH_TOKEN,
            "id_token_expires_in": round(self._expires_at - time.time())
            if self._id_token
            else None,
            "integrator": self._integrator.as_dict(),
        }


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Consume a renewal's outcome even when every waiter was cancelled."""
    if not task.cancelled():
        task.exception()


def _ts(sample: Mapping[str, Any]) -> int | None:
    value = as_float(sample.get("date"))
    return None if value is None else int(value)


def _site(home: Mapping[str, Any]) -> Site:
    name = str(home.get("address1") or home.get("city") or "Home")
    return Site(
        id=str(home["homeId"]),
        name=name,
        timezone=home.get("timezone")
        if isinstance(home.get("timezone"), str)
        else None,
    )


def _devices(home: Mapping[str, Any]) -> list[tuple[Device, Mapping[str, Any]]]:
    """Each system (as its inverter) and the devices under it, with their status."""
    site_id = str(home["homeId"])
    found: list[tuple[Device, Mapping[str, Any]]] = []
    systems = home.get("systems")
    for system in systems if isinstance(systems, list) else ():
        if not isinstance(system, Mapping) or not system.get("serialNumber"):
            continue
        serial = str(system["serialNumber"])
        listed = system.get("systemDevices")
        listed = (
            [d for d in listed if isinstance(d, Mapping)]
            if isinstance(listed, list)
            else []
        )
        inverter: Mapping[str, Any] = next(
            (d for d in listed if d.get("deviceType") == "INVERTER"), {}
        )
        found.append(
            (
                Device(
                    id=serial,
                    kind=DeviceKind.INVERTER,
                    name=f"PWRcell inverter {serial}",
                    site_id=site_id,
                    manufacturer=MANUFACTURER,
                    model="PWRcell",
                    serial=serial,
                ),
                _status(inverter),
            )
        )
        counts: dict[str, int] = {}
        for listed_device in listed:
            kind_name = str(listed_device.get("deviceType") or "")
            if kind_name == "INVERTER" or kind_name not in _KINDS:
                continue
            counts[kind_name] = counts.get(kind_name, 0) + 1
            own = listed_device.get("serialNumber")
            number = counts[kind_name]
            if isinstance(own, str) and own:
                device_id, label = own, f"{_NAMES[kind_name]} {own}"
            else:
                device_id = f"{serial}_{kind_name.lower()}_{number}"
                suffix = f" {number}" if kind_name == "PVL" else ""
                label = f"{_NAMES[kind_name]}{suffix} {serial}"
            found.append(
                (
                    Device(
                        id=device_id,
                        kind=_KINDS[kind_name],
                        name=label,
                        site_id=site_id,
                        manufacturer=MANUFACTURER,
                        model=f"PWRcell {_NAMES[kind_name]}",
                        serial=own if isinstance(own, str) and own else None,
                        parent=serial,
                    ),
                    _status(listed_device),
                )
            )
    return found


def _status(device: Mapping[str, Any]) -> Mapping[str, Any]:
    status = device.get("deviceStatus")
    return status if isinstance(status, Mapping) else {}


def _device_values(kind: DeviceKind, status: Mapping[str, Any]) -> dict[str, Value]:
    """A device's `deviceStatus` as readings (W, Wh, %, degC, V)."""
    power = as_float(status.get("powerInWatts"))
    lifetime = as_float(status.get("lifeTimeEnergyInWh"))
    temperature = as_float(status.get("temperatureInCelsius"))
    voltage = as_float(status.get("voltage"))
    values: dict[str, Value]
    if kind is DeviceKind.BATTERY:
        values = {
            "battery_power": power,
            "battery_state_of_charge": as_float(status.get("soc")),
            "battery_energy_lifetime": lifetime,
            "battery_temperature": temperature,
            "battery_voltage": voltage,
        }
    elif kind is DeviceKind.OPTIMIZER:
        values = {
            "production_power": power,
            "production_energy_lifetime": lifetime,
            "temperature": temperature,
            "pv_voltage": voltage,
        }
    elif kind is DeviceKind.INVERTER:
        values = {
            "ac_power": power,
            "ac_energy_lifetime": lifetime,
            "temperature": temperature,
            "ac_voltage": voltage,
        }
    else:
        values = {}
    return {key: value for key, value in values.items() if value is not None}
