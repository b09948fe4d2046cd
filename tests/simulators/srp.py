"""SRP My Account API simulator: a real aiohttp server.

Follows ``/work/shared/api/srp-tigo-generac-2.md`` §1 and
``eg4-srp-generac.md`` part B (B.8 checklist). Everything lives under
``/myaccountapi/api/``:

* ``POST login/authorize`` (form ``username``/``password``): 200
  ``{"message": "Log in successful.", ...}`` and a session cookie. A wrong
  password answers 401 (``bad_login = "401"``) or HTTP 200 with another message
  (``bad_login = "message"``): the notes leave the wire answer UNCONFIRMED.
* ``GET login/antiforgerytoken``: ``{"message": "Success"}`` and the
  URL-encoded ``xsrf-token`` cookie (``token_in_body``: the old server
  behaviour, ``xsrfToken`` in the body and no cookie).
* Data calls need the session cookie and ``x-xsrf-token`` equal to the
  session's token (400 otherwise, as ASP.NET's antiforgery filter does). A
  session idle for ``session_lifetime`` (or ended by ``expire_sessions``) is
  answered 401, or with the HTML login page (``expiry = "html"``) — how SRP
  answers is UNCONFIRMED.
* ``GET accounts/all?includeWater=`` lists ``billAccountList`` (``account``,
  ``accountWithLeadingZeros``, ``nickName``); ``list_accounts = False``
  answers 404.
* ``GET usage/hourlydetail?billaccount=&beginDate=MM-DD-YYYY&endDate=``:
  whole days, naive Phoenix timestamps, at most 31 days (earlier days are
  truncated). An hour is published once yesterday is complete (06:00 Phoenix)
  or, for today's earlier days, at once; unpublished hours and ``late`` hours
  are all-zero rows. A flat plan fills ``totalKwh``/``totalCost``; a TOU plan
  leaves them 0 and fills the four buckets. A net-metering account also fills
  ``hourlyConsumptionList``, ``hourlyReceivedList`` and
  ``hourlyGenerationList`` with the same row shape (UNCONFIRMED on the real
  API).

Fault switches: ``blocked`` (Cloudflare 403 HTML on every request),
``fail_status`` (e.g. 503 on every request), ``stall`` (seconds to wait before
answering: timeouts). ``requests`` counts the requests per path.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
import math
import secrets
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from aiohttp import web

PHOENIX = ZoneInfo("America/Phoenix")
PREFIX = "/myaccountapi/api"
USERNAME = "sunny@example.com"
PASSWORD = "desert-sun-7"  # the simulator's, not a real secret
COMPLETE_HOUR = 6
SESSION_COOKIE = "srp_session"
FLAT_RATE = 0.1203
TOU_RATES = {
    "onPeak": 0.2409,
    "offPeak": 0.0730,
    "shoulder": 0.1520,
    "superOffPeak": 0.0450,
}

CLOUDFLARE_PAGE = """<!DOCTYPE html>
<html lang="en-US"><head><title>Access Denied</title></head>
<body><h1>Access Denied</h1>
<p>You are not authorized to access this webpage.</p>
<p>Ray ID: 8f2c1a7b9d3e4f50 &bull; Your IP: 203.0.113.7</p>
<p>Performance &amp; security by Cloudflare</p></body></html>
"""
LOGIN_PAGE = """<!DOCTYPE html>
<html><head><title>SRP - My Account - Log in</title></head>
<body><form action="/power/login" method="post">
<input name="username"><input name="password" type="password"></form></body></html>
"""


@dataclass
class SimBillAccount:
    """One billing account of the login."""

    number: str
    nickname: str | None = None
    plan: str = "flat"
    """``flat`` (totals filled) or ``tou`` (totals 0, buckets filled)."""
    net_metering: bool = False
    base_kwh: float = 0.6


def default_accounts() -> list[SimBillAccount]:
    """A flat-plan home, a TOU home with solar net metering."""
    return [
        SimBillAccount("123456789", "Home"),
        SimBillAccount(
            "987654321", "Casita", plan="tou", net_metering=True, base_kwh=0.9
        ),
    ]


@dataclass
class _Session:
    token: str
    last_used: datetime


@dataclass
class SRPSimulator:
    """The SRP My Account API on a loopback port."""

    username: str = USERNAME
    password: str = PASSWORD
    accounts: list[SimBillAccount] = field(default_factory=default_accounts)
    bad_login: str = "401"
    expiry: str = "401"
    token_in_body: bool = False
    no_token: bool = False
    """Answer the token call without any token (cookie or body)."""
    list_accounts: bool = True
    blocked: bool = False
    fail_status: int | None = None
    stall: float = 0.0
    session_lifetime: timedelta = timedelta(minutes=30)
    late: dict[datetime, datetime] = field(default_factory=dict)
    """Hour start (aware) -> when it is published (later than usual)."""
    requests: Counter[str] = field(default_factory=Counter)
    base_url: str = ""

    def __post_init__(self) -> None:
        """Build the application."""
        self._sessions: dict[str, _Session] = {}
        self._runner: web.AppRunner | None = None
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._handle)

    # -- lifecycle -------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0 = any free port); return the API base URL."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.base_url = f"http://{host}:{self._runner.addresses[0][1]}{PREFIX}"
        return self.base_url

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- switches ----------------------------------------------------------------

    def expire_sessions(self) -> None:
        """End every session now (SRP's idle timeout, a server restart)."""
        self._sessions.clear()

    def account(self, number: str) -> SimBillAccount:
        """The billing account with this number."""
        return next(a for a in self.accounts if a.number == number)

    # -- the data model ------------------------------------------------------------

    @staticmethod
    def published_through(now: datetime) -> datetime:
        """Start of the newest published hour: yesterday's last after 06:00."""
        local = now.astimezone(PHOENIX)
        days = 1 if local.hour >= COMPLETE_HOUR else 2
        day = local.date() - timedelta(days=days)
        return datetime.combine(day, time(23), PHOENIX)

    def is_published(self, start: datetime, now: datetime) -> bool:
        """Whether SRP has filled in the hour starting at ``start``."""
        if start > self.published_through(now):
            return False
        appears = self.late.get(start)
        return appears is None or now >= appears

    @staticmethod
    def flows(account: SimBillAccount, start: datetime) -> dict[str, float]:
        """Load, generation, delivered and received kWh of one hour (0.1 kWh steps)."""
        local = start.astimezone(PHOENIX)
        h = local.hour + 0.5
        day = local.toordinal()
        evening = 1.6 * math.exp(-(((h - 19.0) / 2.0) ** 2))
        afternoon = 1.2 * math.exp(-(((h - 15.5) / 2.5) ** 2))
        wobble = 0.1 * ((day * 7 + local.hour * 3) % 5)
        load = account.base_kwh + evening + afternoon + wobble
        solar = 0.0
        if account.net_metering and 6 <= local.hour < 19:
            solar = (
                4.2 * math.sin(math.pi * (h - 6) / 13) ** 2 * (0.8 + 0.04 * (day % 6))
            )
        load, solar = round(load, 1), round(solar, 1)
        return {
            "load": load,
            "generation": solar,
            "delivered": round(max(load - solar, 0.0), 1),
            "received": round(max(solar - load, 0.0), 1),
        }

    @staticmethod
    def bucket(start: datetime) -> str:
        """TOU bucket of an hour (a simplified E-26-like calendar)."""
        local = start.astimezone(PHOENIX)
        weekday = local.weekday() < 5
        if weekday and 14 <= local.hour < 20:
            return "onPeak"
        if weekday and 6 <= local.hour < 9:
            return "shoulder"
        if 0 <= local.hour < 5:
            return "superOffPeak"
        return "offPeak"

    def expected(self, number: str, start: datetime) -> tuple[float, float]:
        """(kWh from the grid, cost USD) of a published hour, as the client must read it."""
        account = self.account(number)
        kwh = self.flows(account, start)["delivered"]
        rate = TOU_RATES[self.bucket(start)] if account.plan == "tou" else FLAT_RATE
        return kwh, round(kwh * rate, 2)

    def _usage_row(
        self, account: SimBillAccount, start: datetime, kwh: float, cost: float
    ) -> dict[str, Any]:
        stamp = start.astimezone(PHOENIX).replace(tzinfo=None).isoformat()
        row: dict[str, Any] = {"date": stamp, "hour": stamp}
        bucket = self.bucket(start)
        for name in ("onPeak", "offPeak", "shoulder", "superOffPeak"):
            tou = account.plan == "tou" and name == bucket
            row[f"{name}Kwh"] = kwh if tou else 0
        for name in ("onPeak", "offPeak", "shoulder", "superOffPeak"):
            tou = account.plan == "tou" and name == bucket
            row[f"{name}Cost"] = cost if tou else 0
        row["totalKwh"] = 0 if account.plan == "tou" else kwh
        row["totalCost"] = 0 if account.plan == "tou" else cost
        return row

    def hourly(
        self, account: SimBillAccount, begin: date, end: date, now: datetime
    ) -> dict[str, Any]:
        """The ``hourlydetail`` document for whole days ``begin``..``end``."""
        begin = max(begin, end - timedelta(days=31))
        oldest = now.astimezone(PHOENIX).date() - timedelta(days=35)
        lists: dict[str, list[dict[str, Any]]] = {
            "hourlyConsumptionList": [],
            "hourlyGenerationList": [],
            "hourlyReceivedList": [],
            "hourlyUsageList": [],
        }
        day = max(begin, oldest)
        while day <= end:
            for hour in range(24):
                start = datetime.combine(day, time(hour), PHOENIX)
                published = self.is_published(start, now)
                if published:
                    kwh, cost = self.expected(account.number, start)
                    flows = self.flows(account, start)
                else:
                    kwh, cost, flows = (
                        0.0,
                        0.0,
                        dict.fromkeys(("delivered", "received", "generation"), 0.0),
                    )
                lists["hourlyUsageList"].append(
                    self._usage_row(account, start, kwh, cost)
                )
                if account.net_metering:
                    for name, flow in (
                        ("hourlyConsumptionList", "delivered"),
                        ("hourlyReceivedList", "received"),
                        ("hourlyGenerationList", "generation"),
                    ):
                        lists[name].append(
                            self._usage_row(
                                SimBillAccount(account.number), start, flows[flow], 0.0
                            )
                        )
            day += timedelta(days=1)
        return {**lists, "demandList": []}

    # -- HTTP ------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path.removeprefix(PREFIX).strip("/").lower()
        self.requests[path] += 1
        if self.stall:
            await asyncio.sleep(self.stall)
        if self.blocked:
            return web.Response(
                status=403,
                text=CLOUDFLARE_PAGE,
                content_type="text/html",
                headers={"CF-RAY": "8f2c1a7b9d3e4f50-PHX"},
            )
        if self.fail_status:
            return web.Response(
                status=self.fail_status,
                text="<html><body>Service Unavailable</body></html>",
                content_type="text/html",
            )
        if path == "login/authorize" and request.method == "POST":
            return await self._login(request)
        if path == "login/antiforgerytoken" and request.method == "GET":
            return self._antiforgery(request)
        session = self._session(request)
        if session is None:
            if self.expiry == "html":
                return web.Response(text=LOGIN_PAGE, content_type="text/html")
            return web.json_response(
                {"message": "Authorization has been denied for this request."},
                status=401,
            )
        if request.headers.get("x-xsrf-token") != session.token:
            return web.json_response(
                {"message": "The antiforgery token is missing or invalid."}, status=400
            )
        if path == "accounts/all" and request.method == "GET":
            if not self.list_accounts:
                return web.json_response({"message": "Not found"}, status=404)
            return web.json_response(
                {
                    "billAccountList": [
                        {
                            "account": int(a.number),
                            "accountWithLeadingZeros": a.number,
                            "nickName": a.nickname,
                            "isActive": True,
                        }
                        for a in self.accounts
                    ]
                }
            )
        if path == "usage/hourlydetail" and request.method == "GET":
            return self._hourly(request)
        return web.json_response({"message": "Not found"}, status=404)

    async def _login(self, request: web.Request) -> web.Response:
        form = await request.post()
        if (
            form.get("username", "").strip().lower() != self.username.lower()
            or form.get("password") != self.password
        ):
            if self.bad_login == "message":
                return web.json_response(
                    {"message": "Invalid username or password.", "redirectUrl": ""}
                )
            return web.json_response(
                {"message": "Invalid username or password."}, status=401
            )
        sid = secrets.token_hex(16)
        self._sessions[sid] = _Session(token="", last_used=datetime.now(UTC))
        response = web.json_response(
            {
                "message": "Log in successful.",
                "username": self.username,
                "email": self.username,
                "isIrrigator": False,
                "redirectUrl": "",
            }
        )
        response.set_cookie(SESSION_COOKIE, sid, httponly=True, path="/")
        return response

    def _antiforgery(self, request: web.Request) -> web.Response:
        session = self._session(request)
        if session is None:
            return web.json_response(
                {"message": "Authorization has been denied for this request."},
                status=401,
            )
        # Characters that need URL-encoding, as ASP.NET tokens have.
        session.token = f"CfDJ8+{secrets.token_hex(8)}/{secrets.token_hex(4)}=="
        if self.no_token:
            return web.json_response({"message": "Success"})
        if self.token_in_body:
            return web.json_response({"message": "Success", "xsrfToken": session.token})
        response = web.json_response({"message": "Success"})
        response.set_cookie("xsrf-token", quote(session.token, safe=""), path="/")
        return response

    def _session(self, request: web.Request) -> _Session | None:
        sid = request.cookies.get(SESSION_COOKIE)
        session = self._sessions.get(sid or "")
        now = datetime.now(UTC)
        if session is None:
            return None
        if now - session.last_used > self.session_lifetime:
            del self._sessions[sid or ""]
            return None
        session.last_used = now
        return session

    def _hourly(self, request: web.Request) -> web.Response:
        query = request.query
        number = query.get("billaccount") or query.get("billAccount") or ""
        try:
            account = self.account(number)
            begin = _date(query["beginDate"])
            end = _date(query["endDate"])
        except StopIteration, KeyError, ValueError:
            return web.json_response({"message": "The request is invalid."}, status=400)
        return web.json_response(self.hourly(account, begin, end, datetime.now(UTC)))


def _date(text: str) -> date:
    """A ``MM-DD-YYYY`` query date."""
    month, day, year = (int(part) for part in text.split("-"))
    return date(year, month, day)


def demo_entry(host: str, port: int) -> dict[str, Any]:
    """The demo's SRP entry: the TOU account with solar net metering."""
    return {
        "domain": "sungaze",
        "title": "SRP Casita",
        "unique_id": "srp_987654321",
        "data": {
            "vendor": "srp",
            "username": USERNAME,
            "password": PASSWORD,
            "url": f"http://{host}:{port}{PREFIX}",
            "billing_account": "987654321",
        },
        "options": {},
    }
