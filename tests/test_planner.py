"""The request planner: spend the quota where the sun is, never overspend."""

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.sungaze.connectors.base import (
    PollCost,
    RateLimitedError,
    RequestBudget,
    RequestLimiter,
)
from custom_components.sungaze.planner import (
    Daylight,
    daily_allowance,
    plan_interval,
)

BUDGET = RequestBudget(per_minute=10, per_month=2000, reserve=0.1)
COST = PollCost(
    per_poll=3,
    per_day=7,
    min_interval=timedelta(minutes=15),
    sun_aware=True,
    align=timedelta(minutes=15),
)
# Phoenix, 21 June: sunrise 05:19, sunset 19:41 local (UTC-7).
DAY = Daylight(
    sunrise=datetime(2026, 6, 21, 12, 19, tzinfo=UTC),
    sunset=datetime(2026, 6, 22, 2, 41, tzinfo=UTC),
    next_sunrise=datetime(2026, 6, 22, 12, 20, tzinfo=UTC),
)
NOON = datetime(2026, 6, 21, 19, 0, tzinfo=UTC)


def test_unlimited_vendor_polls_at_its_floor() -> None:
    """Without a quota the vendor's own cadence decides."""
    cost = PollCost(per_poll=2, min_interval=timedelta(seconds=60))
    limiter = RequestLimiter(RequestBudget())
    assert plan_interval(cost, RequestBudget(), limiter, NOON, None) == timedelta(
        seconds=60
    )
    assert daily_allowance(RequestBudget(), limiter, NOON) is None


def test_daylight_interval_spreads_the_month() -> None:
    """Mid-month, a fresh budget is spread evenly over the remaining days' daylight."""
    limiter = RequestLimiter(BUDGET)
    interval = plan_interval(COST, BUDGET, limiter, NOON, DAY)
    allowance = daily_allowance(BUDGET, limiter, NOON)
    # Never faster than an even 31-day rate, even with 10 days left and nothing used.
    assert allowance == pytest.approx(1800 / 31)
    assert timedelta(minutes=45) <= interval <= timedelta(minutes=75)
    # Aligned: the update lands 2 minutes after a quarter-hour closes.
    target = NOON + interval
    assert target.minute % 15 == 2
    assert target.second == 0


def test_busy_month_slows_down() -> None:
    """When most of the month is spent, updates space out (up to the cap)."""
    late = datetime(2026, 6, 25, 19, 0, tzinfo=UTC)
    limiter = RequestLimiter(BUDGET, month="2026-06", month_used=1750)
    assert daily_allowance(BUDGET, limiter, late) == pytest.approx(50 / 6)
    limiter = RequestLimiter(BUDGET, month="2026-06", month_used=1700)
    slow = plan_interval(COST, BUDGET, limiter, NOON, DAY)
    assert slow >= timedelta(hours=2)
    limiter.month_used = 2000
    assert plan_interval(COST, BUDGET, limiter, NOON, DAY) <= timedelta(
        hours=3, minutes=15
    )


def test_user_floor_is_respected() -> None:
    """The option sets the shortest interval."""
    limiter = RequestLimiter(BUDGET)
    assert plan_interval(
        COST, BUDGET, limiter, NOON, DAY, user_min=timedelta(minutes=90)
    ) >= timedelta(minutes=90)


def test_night_waits_for_sunrise() -> None:
    """Before dawn and after dusk a sun-aware entry sleeps until after sunrise."""
    limiter = RequestLimiter(BUDGET)
    before = datetime(2026, 6, 21, 10, 0, tzinfo=UTC)
    wake = before + plan_interval(COST, BUDGET, limiter, before, DAY)
    assert (
        DAY.sunrise + timedelta(minutes=20)
        <= wake
        <= DAY.sunrise + timedelta(minutes=35)
    )
    late = datetime(2026, 6, 22, 4, 0, tzinfo=UTC)
    wake = late + plan_interval(COST, BUDGET, limiter, late, DAY)
    assert (
        DAY.next_sunrise + timedelta(minutes=20)
        <= wake
        <= DAY.next_sunrise + timedelta(minutes=35)
    )


def test_last_update_of_the_day_is_after_sunset() -> None:
    """The update that would fall after dusk is pulled to just after sunset."""
    limiter = RequestLimiter(BUDGET, month="2026-06", month_used=1500)
    evening = DAY.sunset - timedelta(minutes=10)
    wake = evening + plan_interval(COST, BUDGET, limiter, evening, DAY)
    assert DAY.sunset < wake <= DAY.sunset + timedelta(hours=1)


async def test_limiter_refuses_before_sending() -> None:
    """An exhausted month is refused locally, with the time until it resets."""
    limiter = RequestLimiter(RequestBudget(per_month=2))
    async with limiter.slot():
        pass
    async with limiter.slot():
        pass
    with pytest.raises(RateLimitedError) as err:
        async with limiter.slot():
            pass
    assert err.value.period == "month"
    assert err.value.retry_after is not None
    assert limiter.month_left == 0


async def test_limiter_day_budget_and_block() -> None:
    """A daily budget and a vendor-imposed block both refuse locally."""
    limiter = RequestLimiter(RequestBudget(per_day=1))
    async with limiter.slot():
        pass
    assert limiter.day_left == 0
    with pytest.raises(RateLimitedError) as err:
        async with limiter.slot():
            pass
    assert err.value.period == "day"
    limiter = RequestLimiter(RequestBudget())
    limiter.block(30, "minute")
    with pytest.raises(RateLimitedError) as err:
        async with limiter.slot():
            pass
    assert err.value.period == "minute"
    assert 0 < (err.value.retry_after or 0) <= 30


def test_limiter_counters_round_trip() -> None:
    """Counters survive a restart; a new month starts from zero."""
    now = datetime.now(UTC)
    limiter = RequestLimiter(BUDGET, month=now.strftime("%Y-%m"), month_used=123)
    limiter.block(60, "minute")
    restored = RequestLimiter(BUDGET)
    restored.restore(limiter.as_dict())
    assert restored.month_used == 123
    assert restored.blocked_until == limiter.blocked_until
    stale = RequestLimiter(BUDGET)
    stale.restore(
        {"month": "1999-01", "month_used": 1999, "day": "1999-01-01", "day_used": 5}
    )
    assert stale.month_used == 0
    assert stale.month_left == 2000
