"""The request planner: when to update next, from quota, sun and failures.

Beside the `RequestLimiter` (which refuses a request that would overspend),
the planner decides how long to wait between updates so the budget lasts to
the end of its period, and how far to back off while a vendor keeps failing.
Plain Python (no Home Assistant imports): benches and tests use it directly,
the coordinator feeds it the sun times and the entry's options.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import math
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .model import next_day, next_month

if TYPE_CHECKING:  # types only: connectors may import the month helper below
    from .connectors.base import PollCost, RequestBudget, RequestLimiter

MAX_INTERVAL: Final = timedelta(hours=3)
"""Longest wait between two routine updates."""
CATCH_UP: Final = timedelta(seconds=65)
"""Wait before the calls postponed for a vendor's minute limit."""
MIN_WAIT: Final = timedelta(seconds=30)
BACKOFF_BASE: Final = timedelta(minutes=1)
"""First wait after a failed update; it doubles with each further failure."""
BACKOFF_MAX: Final = timedelta(hours=2)
"""Longest wait while a vendor keeps failing (it is probed at least this often)."""
WORST_DAYLIGHT_HOURS: Final = 16
"""Summer daylight the monthly quota is sized for (sun-aware vendors)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Daylight:
    """Today's sun times, and the next sunrise, as aware datetimes."""

    sunrise: datetime
    sunset: datetime
    next_sunrise: datetime


next_month_start = next_month
"""Midnight at the start of the month after `now` (same time zone)."""


def steady_allowance(budget: RequestBudget, users: int = 1) -> float | None:
    """Requests a day one user may spend at an even rate, keeping the reserve.

    The vendor's month may start on any day (SolarEdge: the billing
    anniversary), so the monthly budget is spread over 31 days.
    """
    allowances: list[float] = []
    if budget.per_month is not None:
        allowances.append(budget.per_month * (1 - budget.reserve) / 31 / users)
    if budget.per_day is not None:
        allowances.append(budget.per_day * (1 - budget.reserve) / users)
    return min(allowances) if allowances else None


def history_spare(
    budget: RequestBudget, limiter: RequestLimiter, now: datetime
) -> float | None:
    """Requests a history import may still spend without slowing live updates.

    Per limited period (UTC day, UTC month): what is left, less what the live
    plan needs at its even rate until the period ends, less half the reserve
    (the other half stays for restarts and refreshes). The planner spends a
    month's budget evenly, so this is what it will leave unspent. None: the
    vendor limits neither days nor months.
    """
    spare: list[float] = []
    now = now.astimezone(UTC)
    if budget.per_month is not None and (left := limiter.month_left) is not None:
        days = (next_month(now) - now) / timedelta(days=1)
        rate = budget.per_month * (1 - budget.reserve) / 31
        spare.append(left - rate * days - budget.per_month * budget.reserve / 2)
    if budget.per_day is not None and (left := limiter.day_left) is not None:
        share = (next_day(now) - now) / timedelta(days=1)
        need = budget.per_day * (1 - budget.reserve) * share
        spare.append(left - need - budget.per_day * budget.reserve / 2)
    return max(min(spare), 0.0) if spare else None


def daily_allowance(
    budget: RequestBudget, limiter: RequestLimiter, now: datetime
) -> float | None:
    """Requests we may spend today so the budget lasts to the end of its period."""
    users = max(limiter.users, 1)
    steady = steady_allowance(budget, users)
    if steady is None or budget.per_month is None:
        return steady
    days_left = (next_month_start(now).date() - now.date()).days
    left = (budget.per_month * (1 - budget.reserve) - limiter.month_used) / users
    # Never faster than the steady rate, slower when the month ran hot.
    return min(max(left, 0) / max(days_left, 1), steady)


def plan_interval(
    cost: PollCost,
    budget: RequestBudget,
    limiter: RequestLimiter,
    now: datetime,
    daylight: Daylight | None,
    user_min: timedelta | None = None,
) -> timedelta:
    """Return the wait until the next update.

    The day's allowance (what is left of the month spread over its remaining
    days, less a reserve) minus fixed daily costs gives the number of routine
    updates; they are spread over the hours in which the data moves (daylight
    for production-only vendors). At night a sun-aware entry sleeps until just
    after sunrise, having made one last update after sunset for the day's totals.
    """
    if cost.catch_up:  # the postponed calls fit once the minute window has passed
        return CATCH_UP
    floor = max(cost.min_interval, user_min or timedelta(0))
    active = timedelta(days=1)
    if cost.sun_aware and daylight is not None:
        active = daylight.sunset - daylight.sunrise + timedelta(hours=1)
    interval = floor
    if (allowance := daily_allowance(budget, limiter, now)) is not None:
        polls = max((allowance - cost.per_day) / max(cost.per_poll, 1), 1.0)
        interval = max(floor, active / polls)
    interval = min(interval, MAX_INTERVAL)
    target = now + interval
    if cost.sun_aware and daylight is not None:
        dawn = daylight.sunrise + timedelta(minutes=20)
        dusk = daylight.sunset + timedelta(minutes=45)
        if now < dawn - timedelta(minutes=20):
            target = dawn
        elif now >= dusk:
            target = daylight.next_sunrise + timedelta(minutes=20)
        elif target > dusk:
            target = dusk
    if cost.daily_at:
        moment, before_first = next_daily(cost, now)
        if cost.settled or before_first:
            return max(moment - now, MIN_WAIT)
        target = min(target, moment)
    if cost.align is not None:
        step = cost.align.total_seconds()
        since_midnight = (
            target - target.replace(hour=0, minute=0, second=0, microsecond=0)
        ).total_seconds()
        delay = cost.align_delay.total_seconds()
        aligned = math.ceil((since_midnight - delay) / step) * step + delay
        target += timedelta(seconds=aligned - since_midnight)
    return max(target - now, MIN_WAIT)


def next_daily(cost: PollCost, now: datetime) -> tuple[datetime, bool]:
    """The next of the cost's daily times after `now`, and whether today's first is ahead.

    Before today's first time the day's data is not in yet: wait for it. The
    times are local to `cost.timezone` (default: the zone `now` carries).
    """
    zone = now.tzinfo or UTC
    try:
        if cost.timezone:
            zone = ZoneInfo(cost.timezone)
    except ZoneInfoNotFoundError:
        pass
    local = now.astimezone(zone)
    times = sorted(cost.daily_at)
    moments = [
        datetime.combine(local.date() + timedelta(days=shift), at, zone)
        for shift in (0, 1)
        for at in times
    ]
    upcoming = next(moment for moment in moments if moment > local)
    return upcoming, local < moments[0]


def sustainable_minutes(cost: PollCost, budget: RequestBudget) -> int:
    """The shortest interval (minutes) a quota sustains all month, for one user.

    Planned for the worst case: a 31-day month and, for daylight-only vendors,
    16 hours of summer daylight.
    """
    floor = cost.min_interval.total_seconds() / 60
    if (allowance := steady_allowance(budget)) is not None:
        polls = max((allowance - cost.per_day) / max(cost.per_poll, 1), 1.0)
        active_minutes = (WORST_DAYLIGHT_HOURS if cost.sun_aware else 24) * 60
        floor = max(floor, active_minutes / polls)
    return math.ceil(floor)


def backoff_delay(failures: int, retry_after: float | None = None) -> timedelta:
    """How long to wait after `failures` failed updates in a row (0: none).

    1, 2, 4 … minutes, bounded by `BACKOFF_MAX`, so a failing vendor is probed
    ever more rarely but never given up on; a vendor's Retry-After (capped at
    the same bound: a stray header must not take the entry out for weeks) is a
    floor.
    """
    if failures <= 0 and retry_after is None:
        return timedelta(0)
    exponent = min(max(failures - 1, 0), 16)  # 2**16 minutes is far past the bound
    wait = min(BACKOFF_BASE * (1 << exponent), BACKOFF_MAX)
    if retry_after is not None:
        wait = max(wait, min(timedelta(seconds=retry_after), BACKOFF_MAX))
    return wait
