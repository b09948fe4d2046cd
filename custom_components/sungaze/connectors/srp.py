"""SRP (Salt River Project) My Account: hourly grid usage, cost and solar export.

The first utility: its product is long-term statistics, not live values. SRP
publishes each hour's usage and cost the next morning (complete through
yesterday by about 06:00 Phoenix time), so the connector hands complete hours
to the coordinator as `StatSeries` and the importer writes them as external
statistics (consumption kWh, cost USD, and for net-metering accounts export
and generation kWh).

Our own aiohttp client (the `srpenergy` package is synchronous, logs in on every
fetch and re-derives TOU costs with 2015 rates), after
`shared/api/srp-tigo-generac-2.md` §1 and `eg4-srp-generac.md` part B:

- `POST login/authorize` (form `username`, `password`): success is HTTP 200
  with `message == "Log in successful."`; a 401 or another message is a refused
  password. Then `GET login/antiforgerytoken`: the token is the URL-encoded
  `xsrf-token` cookie (older servers: body field `xsrfToken`, the fallback).
  Data calls send it as `x-xsrf-token`, with the session cookies of the
  entry's own jar and the browser-like headers srpenergy 1.3.8 sends.
- The session lifetime is UNCONFIRMED: a session idle for `SESSION_IDLE` is
  not trusted (a fresh login instead of a wasted 401). An expired session met
  anyway (401, or an HTML page instead of JSON) is renewed with one login and
  one retry.
- A Cloudflare block (HTTP 403 HTML "Access Denied" with a Ray ID) is a
  `BlockedError`, never a refused password; the shared limiter then sends
  nothing to SRP for `BLOCK_BACKOFF` (the back-off survives reloads).
- `GET accounts/all?includeWater=true` lists the login's billing accounts
  (`billAccountList[].accountWithLeadingZeros`, from one unofficial public
  client: DOC). Nicknames (`nickName`) are UNCONFIRMED. When the list cannot
  be read, the config flow asks for the 9-digit number instead.
- `GET usage/hourlydetail?billaccount=&beginDate=MM-DD-YYYY&endDate=` returns
  whole days (≤ 31 per call). Rows carry Phoenix local time without offset
  (no DST) and are placed with `America/Phoenix` explicitly. On bucketed plans
  (TOU, EZ-3) `totalKwh`/`totalCost` are 0: the four buckets are summed
  (SRP's own numbers; no tariff math here), and each bucket used also gets
  its own kWh and cost statistics. Hours not in yet come back as
  all-zero rows at the end: they are dropped, never stored as zeros.

Net metering (UNCONFIRMED, no public sample): `hourlyReceivedList` (energy SRP
received from the customer: export), `hourlyGenerationList` (solar production)
and `hourlyConsumptionList` (energy delivered from the grid) are read with the
same row shape as `hourlyUsageList`. Grid consumption comes from
`hourlyConsumptionList` when it has rows (on a solar account the usage list
may be the whole home's), else from `hourlyUsageList`; cost always from the
usage list. A statistic whose list is empty is not created.

Requests: a login is 2 requests, a fetch 1 (the first one backfills 30 days
and the month so far in one call). Updates wait for 06:15, 10:15 and 18:15
Phoenix time once yesterday is complete; while it is not, every 2 hours.
A normal day costs 3 updates x 3 requests = 9 requests.

Not done: the daily history (`usage/dailyusagedetail`, ~12 months) has an
UNCONFIRMED shape, and daily rows would distort hourly views, so older history
is not imported. The rate plan's name (`accounts/getratemetadata`) has an
UNCONFIRMED shape: diagnostics show the plan kind read from the data instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
import hashlib
import re
from typing import Any, ClassVar, Final
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import aiohttp

from ..model import (
    Device,
    DeviceKind,
    Readings,
    Site,
    Snapshot,
    StatPoint,
    StatSeries,
    Value,
    as_float,
)
from .base import (
    AccountInfo,
    AuthFailedError,
    BadPayloadError,
    BlockedError,
    ConnectionFailedError,
    PollCost,
    RateLimitedError,
    RequestBudget,
    RequestLimiter,
)
from .http import HttpConnector, HttpResponse

DEFAULT_URL: Final = "https://myaccount.srpnet.com/myaccountapi/api"
CONF_BILLING_ACCOUNT: Final = "billing_account"
TIMEZONE: Final = "America/Phoenix"
SITE_ZONE: Final = ZoneInfo(TIMEZONE)
LOGIN_OK: Final = "Log in successful."
ACCOUNT_RE: Final = re.compile(r"^\d{9}$")

BACKFILL_DAYS: Final = 30
"""Hourly history SRP keeps (about 30 days): imported on the first fetch."""
REFETCH_DAYS: Final = 2
"""Later fetches start this many days before the last complete hour's day, so
a late or revised hour is imported again."""
KEEP_DAYS: Final = 40
SESSION_IDLE: Final = timedelta(minutes=20)
"""A session unused this long is not trusted (SRP's lifetime is UNCONFIRMED)."""
BLOCK_BACKOFF: Final = 4 * 3600.0
"""Seconds to leave SRP alone after a Cloudflare block."""
DAILY_AT: Final = (time(6, 15), time(10, 15), time(18, 15))
RETRY_EVERY: Final = timedelta(hours=2)

_BUCKETS: Final = ("onPeak", "offPeak", "shoulder", "superOffPeak")
_BUCKET_NAMES: Final = {
    "onPeak": ("on_peak", "on-peak"),
    "offPeak": ("off_peak", "off-peak"),
    "shoulder": ("shoulder", "shoulder"),
    "superOffPeak": ("super_off_peak", "super off-peak"),
}
_LISTS: Final = (
    "hourlyUsageList",
    "hourlyConsumptionList",
    "hourlyReceivedList",
    "hourlyGenerationList",
    "demandList",
)
_LOGIN: Final = "/login/authorize"
_XSRF: Final = "/login/antiforgerytoken"
_ACCOUNTS: Final = "/accounts/all"
_HOURLY: Final = "/usage/hourlydetail"
# What srpenergy 1.3.8 sends since its "add browser headers" commit.
BROWSER_HEADERS: Final = {
    "User-Agent": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
    ),
    "Accept": "application/json, text/plain, */*",
    "Accept-Language": "en-US,en;q=0.9",
}


@dataclass(frozen=True, slots=True)
class Hour:
    """One complete hour of an SRP list."""

    start: datetime
    kwh: float
    cost: float
    tou: bool
    """The row's totals were 0 and its buckets carried the values."""
    buckets: tuple[tuple[str, float, float], ...] = ()
    """On a bucketed row: (bucket, kWh, USD) of each bucket with a value."""


def parse_rows(rows: object, *, trim: bool = True) -> list[Hour]:
    """Parse one `hourly*List` leniently; trailing all-zero rows dropped (`trim`).

    A row without a readable hour is skipped. Negative values (none seen) are
    clamped to 0, as HA core does: statistics of energy used never go down.
    """
    if not isinstance(rows, list):
        return []
    hours: list[Hour] = []
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        start = parse_hour(row.get("hour") or row.get("date"))
        if start is None:
            continue
        kwh, kwh_tou = _total(row, "Kwh")
        cost, cost_tou = _total(row, "Cost")
        tou = kwh_tou or cost_tou
        hours.append(
            Hour(
                start=start,
                kwh=max(kwh, 0.0),
                cost=max(cost, 0.0),
                tou=tou,
                buckets=_buckets(row) if tou else (),
            )
        )
    hours.sort(key=lambda hour: hour.start)
    while trim and hours and hours[-1].kwh == 0 and hours[-1].cost == 0:
        hours.pop()  # not in yet: SRP pads the tail with zero rows
    return hours


def _total(row: Mapping[str, Any], suffix: str) -> tuple[float, bool]:
    """`total<suffix>`, or the sum of the four buckets when the total is 0."""
    total = as_float(row.get(f"total{suffix}")) or 0.0
    if total:
        return round(total, 4), False
    buckets = sum(as_float(row.get(f"{b}{suffix}")) or 0.0 for b in _BUCKETS)
    return round(buckets, 4), bool(buckets)


def _buckets(row: Mapping[str, Any]) -> tuple[tuple[str, float, float], ...]:
    found = []
    for bucket in _BUCKETS:
        kwh = max(as_float(row.get(f"{bucket}Kwh")) or 0.0, 0.0)
        cost = max(as_float(row.get(f"{bucket}Cost")) or 0.0, 0.0)
        if kwh or cost:
            found.append((bucket, round(kwh, 4), round(cost, 4)))
    return tuple(found)


def parse_hour(raw: object) -> datetime | None:
    """A row's hour: naive ISO in Phoenix time (an offset, if ever sent, is kept)."""
    if not isinstance(raw, str):
        return None
    try:
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=SITE_ZONE)
    return parsed.astimezone(SITE_ZONE).replace(minute=0, second=0, microsecond=0)


def blocked_page(response: HttpResponse) -> bool:
    """Whether an answer is Cloudflare's block page (403 HTML, Access Denied, Ray ID).

    Not the `CF-RAY` header: Cloudflare adds it to every answer it proxies.
    """
    if response.status != 403:
        return False
    text = response.text
    return "Access Denied" in text or "Ray ID" in text or _html(response)


def _html(response: HttpResponse) -> bool:
    return response.text.lstrip()[:1] == "<"


class SrpConnector(HttpConnector):
    """One SRP login and, once chosen, one of its billing accounts."""

    vendor: ClassVar[str] = "srp"
    # A politeness ceiling, not a vendor quota: a normal day needs about 9.
    budget: ClassVar[RequestBudget] = RequestBudget(per_day=60, concurrency=1)
    default_url: ClassVar[str | None] = DEFAULT_URL
    own_cookie_jar: ClassVar[bool] = True

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        username: str,
        password: str,
        billing_account: str | None = None,
        base_url: str | None = None,
        limiter: RequestLimiter | None = None,
    ) -> None:
        """Create a client for one login (and, for fetching, one billing account)."""
        super().__init__(session, base_url=base_url, limiter=limiter)
        self._username = username
        self._password = password
        self.billing_account = billing_account
        self._token: str | None = None
        self._last_used: datetime | None = None
        self._login_lock = asyncio.Lock()
        self._hours: dict[str, dict[datetime, Hour]] = {}
        self._failed = False
        self._window: tuple[str, str] | None = None
        self._counts: dict[str, int] = {}
        self.logins = 0
        self.relogins = 0

    @classmethod
    def from_config(
        cls,
        session: aiohttp.ClientSession,
        data: Mapping[str, Any],
        limiter: RequestLimiter | None = None,
    ) -> SrpConnector:
        """Build from entry data: `username`, `password`, `billing_account`, `url`."""
        account = data.get(CONF_BILLING_ACCOUNT)
        return cls(
            session,
            username=str(data["username"]),
            password=str(data["password"]),
            billing_account=str(account) if account else None,
            base_url=data.get("url"),
            limiter=limiter,
        )

    @classmethod
    def budget_key(cls, data: Mapping[str, Any]) -> str:
        """All billing accounts of one login share one limiter (one at a time)."""
        login = str(data.get("username", "")).strip().lower()
        return f"srp_{hashlib.sha256(login.encode()).hexdigest()[:16]}"

    def _secrets(self) -> tuple[str, ...]:
        return (self._password, self._token or "", self._username)

    @property
    def cost(self) -> PollCost:
        """One data request per update (a login adds 2), waiting for SRP's mornings."""
        return PollCost(
            per_poll=1,
            min_interval=RETRY_EVERY,
            daily_at=DAILY_AT,
            timezone=TIMEZONE,
            settled=self._settled(),
        )

    def _settled(self) -> bool:
        """Yesterday is complete and the last fetch worked: wait for the next morning."""
        if self._failed or (last := self.last_complete_hour) is None:
            return False
        yesterday_end = datetime.combine(
            datetime.now(SITE_ZONE).date(), time(0), SITE_ZONE
        )
        return last + timedelta(hours=1) >= yesterday_end

    # -- requests -------------------------------------------------------------

    async def _send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> HttpResponse:
        """Send with browser headers; a block in force stops us before sending."""
        try:
            response = await super()._send(
                method, url, headers={**BROWSER_HEADERS, **(headers or {})}, **kwargs
            )
        except RateLimitedError as err:
            if err.period == "blocked":
                raise BlockedError(
                    "SRP's site refused our requests earlier; waiting before trying again",
                    retry_after=err.retry_after,
                ) from err
            raise
        if blocked_page(response):
            self.limiter.block(BLOCK_BACKOFF, "blocked")
            raise BlockedError(
                "SRP's site refused the request (Cloudflare 403 Access Denied)",
                retry_after=BLOCK_BACKOFF,
            )
        self._last_used = datetime.now(UTC)
        return response

    async def _auth_headers(
        self, *, rejected: bool = False
    ) -> Mapping[str, str] | None:
        """The antiforgery header; logs in when there is no trusted session."""
        if rejected:
            self.relogins += 1
            await self._login(stale=self._token)
        elif self._token is None or (
            self._last_used is not None
            and datetime.now(UTC) - self._last_used > SESSION_IDLE
        ):
            await self._login(stale=self._token)
        if self._token is None:  # pragma: no cover - _login sets it or raises
            return None
        return {"x-xsrf-token": self._token}

    async def _login(self, stale: str | None) -> None:
        """Log in afresh (once for concurrent callers) and fetch the xsrf token."""
        async with self._login_lock:
            if self._token is not None and self._token != stale:
                return  # another caller logged in meanwhile
            self._token = None
            if self._session is not None:
                # Stale cookies of an expired session must not go with the login.
                self._session.cookie_jar.clear()
            self.logins += 1
            response = await self._send(
                "POST",
                _LOGIN,
                data={"username": self._username, "password": self._password},
            )
            if response.status in (400, 401, 403):
                raise AuthFailedError("SRP refused the username or password")
            self._raise_for_status(response, "login")
            body = response.json("login")
            message = body.get("message") if isinstance(body, Mapping) else None
            if message != LOGIN_OK:
                raise AuthFailedError("SRP refused the username or password")
            response = await self._send("GET", _XSRF)
            if response.status == 401:  # the password was just accepted
                raise ConnectionFailedError("SRP refused the session it just opened")
            self._raise_for_status(response, "antiforgery token")
            token = self._cookie("xsrf-token")
            if token is None and not _html(response):
                found = response.json("antiforgery token")
                if isinstance(found, Mapping) and isinstance(
                    found.get("xsrfToken"), str
                ):
                    token = found["xsrfToken"]
            if not token:
                raise BadPayloadError("SRP sent no antiforgery token")
            self._token = unquote(token)

    def _cookie(self, name: str) -> str | None:
        if self._session is None:  # pragma: no cover - HA always injects one
            return None
        for cookie in self._session.cookie_jar:
            if cookie.key.lower() == name:
                return cookie.value
        return None

    async def _get_data(self, path: str, params: Mapping[str, str], what: str) -> Any:
        """GET a data document; an HTML page instead of JSON is a lost session."""
        response = await self._request("GET", path, params=dict(params))
        if response.status == 200 and _html(response):
            headers = await self._auth_headers(rejected=True)
            response = await self._send(
                "GET", path, params=dict(params), headers=headers
            )
        if response.status == 401 or (response.status == 200 and _html(response)):
            # Refused right after a fresh login: not the password's fault.
            raise ConnectionFailedError(f"SRP refused {what} after a fresh login")
        self._raise_for_status(response, what)
        return response.json(what)

    # -- the contract -----------------------------------------------------------

    async def async_identify(self) -> AccountInfo:
        """Log in and list the billing accounts (none when SRP will not say)."""
        await self._auth_headers()
        sites: list[Site] = []
        try:
            body = await self._get_data(
                _ACCOUNTS, {"includeWater": "true"}, "billing accounts"
            )
        except BadPayloadError:
            body = None  # listing unavailable: the flow asks for the number
        for account, alias in _accounts(body):
            sites.append(Site(id=account, name=alias or account, timezone=TIMEZONE))
        return AccountInfo(
            unique_id=self._username.strip().lower(),
            title=f"SRP {self._username}",
            sites=tuple(sites),
        )

    async def async_fetch(self) -> Snapshot:
        """Fetch the hours since shortly before the last complete one (first: 30 days)."""
        account = self.billing_account
        if account is None:  # pragma: no cover - entries always name one
            raise BadPayloadError("No billing account chosen")
        today = datetime.now(SITE_ZONE).date()
        first = min(today.replace(day=1), today - timedelta(days=BACKFILL_DAYS))
        begin = first
        if (last := self.last_complete_hour) is not None:
            begin = max(first, last.date() - timedelta(days=REFETCH_DAYS))
        self._failed = True
        body = await self._get_data(
            _HOURLY,
            {
                "billaccount": account,
                "beginDate": begin.strftime("%m-%d-%Y"),
                "endDate": today.strftime("%m-%d-%Y"),
            },
            "hourly usage",
        )
        if not isinstance(body, Mapping) or not isinstance(
            body.get("hourlyUsageList"), list
        ):
            raise BadPayloadError("SRP hourly usage without hourlyUsageList")
        now = datetime.now(UTC)
        self._window = (begin.isoformat(), today.isoformat())
        # The usage list's zero tail says which hours are in; the other lists
        # follow it (their zeros, e.g. export at night, are genuine).
        usage = parse_rows(body.get("hourlyUsageList"))
        horizon = usage[-1].start if usage else None
        for name in _LISTS:
            raw = body.get(name)
            self._counts[name] = len(raw) if isinstance(raw, list) else 0
            if name == "demandList":
                continue
            cache = self._hours.setdefault(name, {})
            parsed = usage if name == "hourlyUsageList" else parse_rows(raw, trim=False)
            for hour in parsed:
                if (
                    horizon is not None
                    and hour.start <= horizon
                    and (hour.start + timedelta(hours=1) <= now)
                ):
                    cache[hour.start] = hour
            oldest = datetime.combine(
                today - timedelta(days=KEEP_DAYS), time(0), SITE_ZONE
            )
            for start in [s for s in cache if s < oldest]:
                del cache[start]
        self._failed = False
        return self._snapshot(account, today)

    # -- the model --------------------------------------------------------------

    @property
    def last_complete_hour(self) -> datetime | None:
        """Start of the newest hour SRP has filled in (Phoenix time)."""
        usage = self._hours.get("hourlyUsageList")
        return max(usage) if usage else None

    def _list(self, name: str) -> list[Hour]:
        cache = self._hours.get(name, {})
        return [cache[start] for start in sorted(cache)]

    @property
    def tou(self) -> bool:
        """Whether the plan reports per-bucket values (TOU, EZ-3...)."""
        return any(hour.tou for hour in self._list("hourlyUsageList"))

    def _snapshot(self, account: str, today: date) -> Snapshot:
        usage = self._list("hourlyUsageList")
        consumption = self._list("hourlyConsumptionList") or usage
        received = self._list("hourlyReceivedList")
        generation = self._list("hourlyGenerationList")
        series = [
            _series("grid_consumption", "grid consumption", "kWh", consumption, "kwh"),
            _series("grid_cost", "grid cost", "USD", usage, "cost"),
        ]
        if received:
            series.append(_series("grid_export", "grid export", "kWh", received, "kwh"))
        if generation:
            series.append(
                _series(
                    "solar_production", "solar production", "kWh", generation, "kwh"
                )
            )
        series.extend(_bucket_series(usage))
        yesterday = today - timedelta(days=1)
        values: dict[str, Value] = {
            "grid_usage_yesterday": _sum(consumption, "kwh", yesterday),
            "grid_cost_yesterday": _sum(usage, "cost", yesterday),
            "grid_usage_month": _sum(consumption, "kwh", today, month=True),
            "grid_cost_month": _sum(usage, "cost", today, month=True),
        }
        if received:
            values["grid_export_yesterday"] = _sum(received, "kwh", yesterday)
            values["grid_export_month"] = _sum(received, "kwh", today, month=True)
        last = self.last_complete_hour
        name = f"SRP {account}"
        site = Site(id=account, name=name, timezone=TIMEZONE)
        device = Device(
            id=account,
            kind=DeviceKind.SITE,
            name=name,
            site_id=account,
            manufacturer="SRP",
            model="Time-of-use plan" if self.tou else "Electric account",
        )
        return Snapshot(
            sites={account: site},
            devices={account: device},
            readings={
                account: Readings(
                    values=values,
                    as_of=(last + timedelta(hours=1)).astimezone(UTC) if last else None,
                )
            },
            series=tuple(one for one in series if one.points),
            notes={} if usage else {"usage": "SRP returned no complete hour yet"},
        )

    def diagnostics(self) -> dict[str, Any]:
        """Plan kind, window, list sizes, logins (no account number, no secret)."""
        last = self.last_complete_hour
        return {
            **super().diagnostics(),
            "plan": "time-of-use (bucketed)" if self.tou else "flat (totals)",
            "tou": self.tou,
            "last_window": self._window,
            "last_complete_hour": last.isoformat() if last else None,
            "rows_received": dict(self._counts),
            "hours_kept": {name: len(hours) for name, hours in self._hours.items()},
            "logins": self.logins,
            "relogins": self.relogins,
        }


def _accounts(body: object) -> Iterable[tuple[str, str | None]]:
    """(9-digit account, nickname) from `accounts/all`, leniently."""
    rows = body.get("billAccountList") if isinstance(body, Mapping) else None
    if not isinstance(rows, list):
        return []
    found: dict[str, str | None] = {}
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        raw = row.get("accountWithLeadingZeros") or row.get("account")
        if isinstance(raw, int) and not isinstance(raw, bool):
            raw = f"{raw:09d}"
        if not isinstance(raw, str) or not ACCOUNT_RE.match(raw.strip()):
            continue
        nickname = row.get("nickName") or row.get("nickname")
        found[raw.strip()] = (
            nickname.strip() if isinstance(nickname, str) and nickname.strip() else None
        )
    return list(found.items())


_ROLES: Final = {
    "grid_consumption": "grid_import",
    "grid_cost": "grid_cost",
    "grid_export": "grid_export",
    # Generation is UNCONFIRMED and an inverter entry may count it already.
    "solar_production": None,
}


def _series(
    key: str, name: str, unit: str, hours: list[Hour], field: str
) -> StatSeries:
    return StatSeries(
        key=key,
        name=name,
        unit=unit,
        energy_role=_ROLES[key],
        points=tuple(
            StatPoint(start=hour.start, value=getattr(hour, field)) for hour in hours
        ),
    )


def _bucket_series(usage: list[Hour]) -> list[StatSeries]:
    """Per-bucket kWh and cost of a bucketed plan, for each bucket ever used.

    SRP's own bucket figures (no tariff math here); an hour without a value in
    a bucket counts 0 in it. Read from the usage list, like the cost.
    """
    used = {bucket for hour in usage for bucket, _, _ in hour.buckets}
    series: list[StatSeries] = []
    for bucket in _BUCKETS:
        if bucket not in used:
            continue
        slug, label = _BUCKET_NAMES[bucket]
        values = [
            (
                hour.start,
                {b: (k, c) for b, k, c in hour.buckets}.get(bucket, (0.0, 0.0)),
            )
            for hour in usage
        ]
        for index, (key, name, unit) in enumerate(
            (
                (f"grid_consumption_{slug}", f"grid consumption {label}", "kWh"),
                (f"grid_cost_{slug}", f"grid cost {label}", "USD"),
            )
        ):
            series.append(
                StatSeries(
                    key=key,
                    name=name,
                    unit=unit,
                    points=tuple(
                        StatPoint(start=start, value=pair[index])
                        for start, pair in values
                    ),
                )
            )
    return series


def _sum(
    hours: list[Hour], field: str, day: date, *, month: bool = False
) -> float | None:
    """Sum of one local day's (or its month so far's) hours; None without any hour."""
    if month:
        chosen = [
            h for h in hours if (h.start.year, h.start.month) == (day.year, day.month)
        ]
        return round(sum(float(getattr(h, field)) for h in chosen), 2)
    chosen = [h for h in hours if h.start.date() == day]
    if not chosen:
        return None
    return round(sum(float(getattr(h, field)) for h in chosen), 2)
