"""The request planner: spend the quota where the sun is, never overspend."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
import subprocess
import sys

import pytest

from custom_components.sungaze.connectors.base import (
    PollCost,
    RateLimitedError,
    RequestBudget,
    RequestLimiter,
)
from custom_components.sungaze.planner import (
    BACKOFF_MAX,
    CATCH_UP,
    MIN_WAIT,
    Daylight,
    backoff_delay,
    daily_allowance,
    history_spare,
    next_month_start,
    plan_interval,
    steady_allowance,
    sustainable_minutes,
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


def test_planner_imports_without_home_assistant() -> None:
    """The planner (and the limiter beside it) load without Home Assistant."""
    code = (
        "import sys\n"
        "import custom_components.sungaze.planner\n"
        "import custom_components.sungaze.connectors.base\n"
        "print(sorted(m for m in sys.modules if m.startswith('homeassistant')))\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(  # noqa: S603  (our own interpreter and code)
        [sys.executable, "-c", code],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"


def test_next_month_start() -> None:
    """One month-end rule for every month length, December included."""
    assert next_month_start(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == datetime(
        2027, 1, 1, tzinfo=UTC
    )
    assert next_month_start(datetime(2026, 2, 3, 5, tzinfo=UTC)) == datetime(
        2026, 3, 1, tzinfo=UTC
    )


def test_steady_allowance_takes_the_tighter_period() -> None:
    """A daily cap tighter than the month's share wins; users split it."""
    budget = RequestBudget(per_day=30, per_month=3100, reserve=0.0)
    assert steady_allowance(budget) == pytest.approx(30)
    assert steady_allowance(budget, users=2) == pytest.approx(15)
    assert steady_allowance(RequestBudget()) is None


def test_sustainable_minutes() -> None:
    """The shortest interval the quota sustains all month, for the worst month."""
    # 1800 usable credits / 31 days = 58/day; less 7 fixed = 51 / 3 = 17 polls
    # over 16 hours of daylight: one every 57 minutes.
    assert sustainable_minutes(COST, BUDGET) == 57
    round_the_clock = PollCost(per_poll=1, min_interval=timedelta(minutes=5))
    assert sustainable_minutes(round_the_clock, RequestBudget(per_day=1440)) == 5
    assert sustainable_minutes(round_the_clock, RequestBudget()) == 5


def test_catch_up_and_shortest_wait() -> None:
    """Postponed calls come back after the minute window; no wait is under 30 s."""
    limiter = RequestLimiter(RequestBudget())
    cost = PollCost(per_poll=1, min_interval=timedelta(seconds=5), catch_up=True)
    assert plan_interval(cost, RequestBudget(), limiter, NOON, None) == CATCH_UP
    cost = PollCost(per_poll=1, min_interval=timedelta(seconds=5))
    assert plan_interval(cost, RequestBudget(), limiter, NOON, None) == MIN_WAIT


def test_backoff_grows_and_is_bounded() -> None:
    """1, 2, 4 … minutes up to two hours; Retry-After is a floor, itself bounded."""
    waits = [backoff_delay(n) for n in range(1, 12)]
    assert waits[:4] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert all(a <= b for a, b in pairwise(waits))
    assert waits[-1] == BACKOFF_MAX == timedelta(hours=2)
    assert backoff_delay(10_000) == BACKOFF_MAX
    assert backoff_delay(0) == timedelta(0)
    assert backoff_delay(1, retry_after=300) == timedelta(minutes=5)
    assert backoff_delay(5, retry_after=30) == timedelta(minutes=16)
    # A stray month-long Retry-After must not take the entry out for weeks.
    assert backoff_delay(1, retry_after=20 * 86400) == BACKOFF_MAX


def test_history_spare_leaves_the_live_plan_whole() -> None:
    """History gets what the even rate leaves to the period's end, less half the reserve."""
    budget = RequestBudget(per_month=2000, reserve=0.1)
    now = datetime.now(UTC)  # the limiter counts in the current month and day
    month, day = now.strftime("%Y-%m"), now.strftime("%Y-%m-%d")
    days_left = (next_month_start(now) - now) / timedelta(days=1)
    # With the live plan on its even rate, about 100 (half the reserve) is left.
    used = round(2000 - 1800 / 31 * days_left - 200)
    even = RequestLimiter(budget, month=month, month_used=used)
    assert history_spare(budget, even, now) == pytest.approx(100.0, abs=1)
    # A fresh month early on: 2000 - 1800 - 100 (less for the days already gone).
    fresh = RequestLimiter(budget, month=month, month_used=0)
    assert history_spare(budget, fresh, now) == pytest.approx(
        2000 - 1800 / 31 * days_left - 100
    )
    # A month that ran hot leaves nothing (never negative).
    hot = RequestLimiter(budget, month=month, month_used=1990)
    assert history_spare(budget, hot, now) == 0.0
    # A day budget: what is left less the rest of the day at its even rate.
    daily = RequestBudget(per_day=60, reserve=0.1)
    limiter = RequestLimiter(daily, day=day, day_used=20)
    share = (
        (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        - now
    ) / timedelta(days=1)
    assert history_spare(daily, limiter, now) == pytest.approx(
        max(40 - 54 * share - 3, 0)
    )
    # No day or month limit: no bound from periods.
    assert history_spare(RequestBudget(per_minute=10), fresh, now) is None
