"""The contract every vendor connector implements, and its shared machinery.

A connector is plain aiohttp/pymodbus/paho code with no Home Assistant imports.
It identifies the account, discovers sites and devices, and fetches one
`Snapshot` per update. It spends requests only through a `RequestLimiter`, which
enforces the vendor's budget before a request is sent, so our own planning can
never earn a 429.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
import hashlib
import logging
from typing import Any, ClassVar, Protocol

import aiohttp

from ..model import Device, HistorySeries, Site, Snapshot, next_day, next_month

MAX_PACING_WAIT = 5.0
"""Longest wait (s) for the minute window inside one update."""


class SungazeError(Exception):
    """Base of every connector error."""


class AuthFailedError(SungazeError):
    """The credentials were refused; the user must re-authenticate."""


class RateLimitedError(SungazeError):
    """The vendor (or our own budget) refuses more requests for a while."""

    def __init__(self, message: str, *, retry_after: float | None, period: str) -> None:
        """Store when to try again and which period ran out (minute/day/month)."""
        super().__init__(message)
        self.retry_after = retry_after
        self.period = period


class ConnectionFailedError(SungazeError):
    """The vendor could not be reached or answered with a server error."""


class BlockedError(ConnectionFailedError):
    """The vendor's bot protection (e.g. a Cloudflare 403 page) refused us.

    Not a credentials problem: the same request may pass later or from another
    address. `retry_after` is how long the connector backs off (seconds).
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        """Store how long to leave the vendor alone."""
        super().__init__(message)
        self.retry_after = retry_after


class NoDataError(ConnectionFailedError):
    """Reachable, but the device or gateway has sent nothing to read yet."""


class BadPayloadError(SungazeError):
    """The vendor answered something we cannot understand."""


class ApiRetiredError(SungazeError):
    """The vendor retired this API (HTTP 410 or a legacy credential)."""


class TokenProvider(Protocol):
    """Hands out a valid OAuth access token (the HA side refreshes and stores it).

    `rejected` is an access token the vendor just refused with a 401: the
    provider refreshes unless that token was already replaced, so concurrent
    refusals cost one refresh. Failures are raised as `AuthFailedError` (the
    grant is dead) or `ConnectionFailedError` (try again later).
    """

    async def __call__(self, *, rejected: str | None = None) -> str:
        """Return an access token that is valid for a while."""
        ...


class StaticToken:
    """A token provider for an access token just issued (a config flow's)."""

    def __init__(self, access_token: str) -> None:
        """Hand out this token until the vendor refuses it."""
        self._access_token = access_token

    async def __call__(self, *, rejected: str | None = None) -> str:
        """Return the token; it cannot be renewed once refused."""
        if rejected is not None and rejected == self._access_token:
            raise AuthFailedError("The access token was refused")
        return self._access_token


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestBudget:
    """What a vendor allows. None means unlimited."""

    per_minute: int | None = None
    per_day: int | None = None
    per_month: int | None = None
    concurrency: int = 1
    reserve: float = 0.1
    """Share of the day/month budget kept back for restarts and user refreshes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PollCost:
    """Requests one update costs, for the planner."""

    per_poll: int
    """Requests of a routine update."""
    per_day: int = 0
    """Extra requests spread over a day (inventory, lifetime, alerts)."""
    min_interval: timedelta = timedelta(seconds=60)
    """The vendor's data does not change faster than this."""
    sun_aware: bool = False
    """Production-only data: poll in daylight, save the budget at night."""
    align: timedelta | None = None
    """Vendor data lands in buckets of this size; poll just after one closes."""
    align_delay: timedelta = timedelta(minutes=2)
    """How long after a bucket closes its data is usually there."""
    catch_up: bool = False
    """Calls were postponed for the minute limit: update again once it allows."""
    daily_at: tuple[time, ...] = ()
    """Local times (in `timezone`) when the vendor's new data is usually in,
    e.g. a utility's yesterday by 06:00: updates wait for them."""
    timezone: str | None = None
    """IANA zone of `daily_at` (default: the zone of the planner's clock, UTC)."""
    settled: bool = False
    """Everything the vendor publishes before the next `daily_at` is already in:
    sleep until then instead of polling every `min_interval`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountInfo:
    """Who the credentials belong to and which sites they reach."""

    unique_id: str
    title: str
    sites: tuple[Site, ...]
    devices: tuple[Device, ...] = ()
    """Devices found while identifying, for the config flow to show."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """Another entry's newest snapshot, handed to a connector that follows members."""

    entry_id: str
    title: str
    snapshot: Snapshot | None
    """None while the member is not loaded (its last values are kept)."""


@dataclass(slots=True)
class RequestLimiter:
    """Enforces a `RequestBudget` before each request is sent.

    Minute windows are waited out (short); an exhausted day or month raises
    `RateLimitedError` at once instead of sending a request that would earn a
    429. The day and month counters are plain data so the coordinator can
    persist them across restarts.
    """

    budget: RequestBudget
    month_used: int = 0
    day_used: int = 0
    month: str = ""
    day: str = ""
    total: int = 0
    users: int = 0
    """Config entries sharing this budget (sites behind one API key)."""
    blocked_until: datetime | None = None
    _blocked_period: str = "minute"
    _recent: deque[float] = field(default_factory=deque)
    _semaphore: asyncio.Semaphore | None = None

    def _roll(self, now: datetime) -> None:
        month, day = now.strftime("%Y-%m"), now.strftime("%Y-%m-%d")
        if month != self.month:
            self.month, self.month_used = month, 0
        if day != self.day:
            self.day, self.day_used = day, 0

    @property
    def month_left(self) -> int | None:
        """Requests left this calendar month (UTC), if the vendor limits months."""
        self._roll(datetime.now(UTC))
        if self.budget.per_month is None:
            return None
        return max(self.budget.per_month - self.month_used, 0)

    @property
    def day_left(self) -> int | None:
        """Requests left today (UTC), if the vendor limits days."""
        self._roll(datetime.now(UTC))
        if self.budget.per_day is None:
            return None
        return max(self.budget.per_day - self.day_used, 0)

    def minute_left(self) -> int | None:
        """Requests that fit in the current minute window, if minutes are limited.

        Lets a connector postpone optional calls to the next update instead of
        waiting for (or being refused by) the minute limit.
        """
        if self.budget.per_minute is None:
            return None
        now = datetime.now(UTC).timestamp()
        recent = sum(1 for sent in self._recent if 0 <= now - sent < 60)
        return max(self.budget.per_minute - recent, 0)

    def block(self, seconds: float, period: str) -> None:
        """Stop sending for a while (after a vendor 429)."""
        self.blocked_until = datetime.now(UTC) + timedelta(seconds=seconds)
        self._blocked_period = period

    def _check(self, now: datetime) -> None:
        if self.blocked_until is not None:
            if now < self.blocked_until:
                raise RateLimitedError(
                    "Waiting for the vendor's rate limit to reset",
                    retry_after=(self.blocked_until - now).total_seconds(),
                    period=self._blocked_period,
                )
            self.blocked_until = None
        if (
            self.budget.per_month is not None
            and self.month_used >= self.budget.per_month
        ):
            raise RateLimitedError(
                "Monthly request budget used up",
                retry_after=(next_month(now) - now).total_seconds(),
                period="month",
            )
        if self.budget.per_day is not None and self.day_used >= self.budget.per_day:
            raise RateLimitedError(
                "Daily request budget used up",
                retry_after=(next_day(now) - now).total_seconds(),
                period="day",
            )

    @asynccontextmanager
    async def slot(
        self, check: Callable[[], None] | None = None
    ) -> AsyncIterator[None]:
        """Hold a request slot: budget checked and counted, concurrency bounded.

        `check` runs once the slot is held, before anything is counted: what it
        raises is raised with nothing sent and nothing spent.
        """
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.budget.concurrency)
        async with self._semaphore:
            if check is not None:
                check()
            now = datetime.now(UTC)
            self._roll(now)
            self._check(now)
            if self.budget.per_minute is not None:
                await self._pace(self.budget.per_minute)
            self.month_used += 1
            self.day_used += 1
            self.total += 1
            yield

    async def _pace(self, per_minute: int) -> None:
        """Keep under the minute limit: wait briefly, or refuse with the wait.

        Wall-clock seconds (not the loop clock) so the window survives reloads
        and follows time in tests; long waits are refused, never slept, so an
        update or a setup never hangs on our own pacing.
        """
        for attempt in range(2):
            now = datetime.now(UTC).timestamp()
            while self._recent and now - self._recent[0] >= 60:
                self._recent.popleft()
            if len(self._recent) < per_minute:
                self._recent.append(now)
                return
            wait = 60 - (now - self._recent[0]) + 0.05
            if attempt or wait > MAX_PACING_WAIT:
                raise RateLimitedError(
                    "Pacing requests to the vendor's minute limit",
                    retry_after=wait,
                    period="minute",
                )
            await asyncio.sleep(wait)

    def as_dict(self) -> dict[str, Any]:
        """Return the persistent counters."""
        data: dict[str, Any] = {
            "month": self.month,
            "month_used": self.month_used,
            "day": self.day,
            "day_used": self.day_used,
            "blocked_until": self.blocked_until.isoformat()
            if self.blocked_until
            else None,
        }
        if self.blocked_until is not None:
            data["blocked_period"] = self._blocked_period
        return data

    def restore(self, data: Mapping[str, Any]) -> None:
        """Load counters saved by `as_dict`; stale periods roll over on use."""
        self.month = str(data.get("month", ""))
        self.month_used = int(data.get("month_used", 0))
        self.day = str(data.get("day", ""))
        self.day_used = int(data.get("day_used", 0))
        if blocked := data.get("blocked_until"):
            self.blocked_until = datetime.fromisoformat(blocked)
            self._blocked_period = str(data.get("blocked_period") or "minute")
        self._roll(datetime.now(UTC))


class Connector(ABC):
    """One vendor account (or local device) as seen by Sungaze."""

    vendor: ClassVar[str]
    budget: ClassVar[RequestBudget] = RequestBudget()
    default_url: ClassVar[str | None] = None
    pushes: ClassVar[bool] = False
    """True for vendors that push data (MQTT): no polling, `async_start` instead."""
    report_cycle: ClassVar[timedelta] = timedelta(minutes=15)
    """Push vendors: time until every device has reported once; devices missing
    from pushed snapshots are taken as removed only after it."""
    on_link: Callable[[bool], None] | None = None
    """Push vendors call it (in the event loop) when their link goes up or down."""
    on_credentials: Callable[[Mapping[str, Any]], Awaitable[None]] | None = None
    """Set by the HA side: stores new credentials (a rotated refresh token) in
    the entry and writes them to disk; connectors await it before using them."""
    follows_members: ClassVar[bool] = False
    """True for a connector fed by other entries' snapshots (the whole home):
    the HA layer calls `member_update`/`member_removed` instead of polling."""
    dirty: bool = False
    """True when `saved_state` has changed and should be stored."""
    own_cookie_jar: ClassVar[bool] = False
    """True when the vendor's session lives in a cookie: the entry gets an HTTP
    session with a jar of its own, so two entries cannot clobber each other."""

    def __init__(
        self,
        session: aiohttp.ClientSession | None,
        *,
        base_url: str | None = None,
        limiter: RequestLimiter | None = None,
    ) -> None:
        """Store the injected session, base URL and request limiter."""
        self._session = session
        self.base_url = (base_url or self.default_url or "").rstrip("/")
        self.limiter = limiter or RequestLimiter(self.budget)
        self._warned: set[str] = set()

    @classmethod
    @abstractmethod
    def from_config(
        cls,
        session: aiohttp.ClientSession,
        data: Mapping[str, Any],
        limiter: RequestLimiter | None = None,
    ) -> Connector:
        """Build a connector from config-entry data (HA's standard key names)."""

    @classmethod
    def from_oauth(
        cls,
        session: aiohttp.ClientSession,
        data: Mapping[str, Any],
        limiter: RequestLimiter | None,
        token: TokenProvider,
    ) -> Connector:
        """Build a connector that authenticates with an OAuth access token."""
        raise NotImplementedError(f"{cls.vendor} has no OAuth access")

    @classmethod
    def budget_for(
        cls, data: Mapping[str, Any], options: Mapping[str, Any]
    ) -> RequestBudget:
        """The quota these credentials have (default: the vendor's one budget).

        Vendors whose quota depends on a paid plan read it from the options.
        """
        return cls.budget

    @classmethod
    def budget_key(cls, data: Mapping[str, Any]) -> str:
        """Identify whose quota requests count against (default: the whole config).

        Entries with the same key share one limiter, so two sites behind one API
        key cannot each spend the key's whole quota.
        """
        digest = hashlib.sha256(repr(sorted(data.items())).encode()).hexdigest()
        return f"{cls.vendor}_{digest[:16]}"

    @property
    @abstractmethod
    def cost(self) -> PollCost:
        """What one update costs, so the planner can space updates."""

    @abstractmethod
    async def async_identify(self) -> AccountInfo:
        """Check the credentials and list the sites they reach."""

    @abstractmethod
    async def async_fetch(self) -> Snapshot:
        """Fetch one snapshot of every selected site."""

    def _log_once(self, key: str, message: str) -> None:
        """Log a vendor oddity once per connector, not on every update."""
        if key not in self._warned:
            self._warned.add(key)
            logging.getLogger(type(self).__module__).warning(message)

    async def async_start(self, on_snapshot: Callable[[Snapshot], None]) -> None:
        """Start receiving pushed snapshots; `on_snapshot` runs in the event loop."""
        raise NotImplementedError

    async def async_close(self) -> None:
        """Release what the connector owns: its own cookie-jar session, if any.

        The session is detached, not closed: its connection pool is shared
        with the rest of Home Assistant (HA's session helper hands out
        sessions on one connector and warns when one is closed).
        """
        if self.own_cookie_jar and self._session is not None:
            self._session.detach()

    history_requests_per_day: ClassVar[int] = 0
    """Most requests one past day of history costs; 0: the vendor keeps no history."""

    def history_cost(self, day: date) -> int:
        """Requests `async_history(day)` will send now (0 if already fetched).

        A vendor answering a month or a lifetime at once keeps the answer and
        serves the other days of it for free.
        """
        return self.history_requests_per_day

    @property
    def history_first_day(self) -> date | None:
        """The oldest site-local day the vendor can have history for, if known."""
        return None

    async def async_history(self, day: date) -> tuple[HistorySeries, ...]:
        """That one past site-local day's energy, for the first-setup backfill.

        Only that day: hourly `points`, or a `day_total` where the vendor keeps
        daily figures only. Empty when the vendor has nothing for the day.
        """
        raise NotImplementedError

    def follows(self, entry_id: str) -> bool:
        """Whether this connector combines that entry (`follows_members` only)."""
        return False

    def member_update(self, member: Member) -> None:
        """Take a member entry's newest snapshot (`follows_members` connectors)."""
        raise NotImplementedError

    def member_removed(self, entry_id: str) -> None:
        """A member entry was removed for good (`follows_members` connectors)."""
        raise NotImplementedError

    def saved_state(self) -> Mapping[str, Any] | None:
        """State that must survive a restart (e.g. derived counters); None: nothing."""
        return None

    def restore_state(self, state: Mapping[str, Any]) -> None:  # noqa: B027
        """Load what `saved_state` returned before the restart (default: nothing)."""

    def layout(self) -> Mapping[str, Any] | None:
        """The physical layout (e.g. inverter, string, panel tree) for a card, if known.

        Served once on request (websocket `sungaze/layout`, diagnostics), never as
        a recorded attribute.
        """
        return None

    def diagnostics(self) -> dict[str, Any]:
        """Return connector state worth showing in diagnostics (no secrets)."""
        return {"requests_total": self.limiter.total, **self.limiter.as_dict()}
