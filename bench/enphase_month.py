"""Simulate a month of Enphase updates per plan against the simulator.

    python -m bench.enphase_month [--days 30] [--plans watt,kilowatt,...]

For each plan the connector fetches whenever the planner says (HA's
`plan_interval`, sun times of Phoenix), against the simulator on a loopback
port with the clock driven by freezegun. Printed per plan and system:

* calls per day (mean and maximum; counted by the simulator, so every request
  the vendor would bill), and the month's total against the plan's quota;
* median data age in daylight: sampled every 5 minutes between sunrise and
  sunset, the age of the newest data Home Assistant shows (now minus the
  vendor's `last_report_at` of the last successful update);
* 429s seen (there should be none).

Two systems: "Home" (micro-inverters, production and consumption meters, an
IQ Battery: the expensive case) and "PV only" (micro-inverters and a
production meter).
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
import statistics
import sys
import time
from zoneinfo import ZoneInfo

from aiohttp import ClientSession
from astral import LocationInfo
from astral.sun import sun
from freezegun import freeze_time

from custom_components.sungaze.connectors.base import RateLimitedError, RequestLimiter
from custom_components.sungaze.connectors.enphase import PLANS, EnphaseConnector
from custom_components.sungaze.planner import Daylight, plan_interval
from tests.simulators.enphase import EnphaseSimulator, SimSystem

PHOENIX = LocationInfo("Phoenix", "US", "America/Phoenix", 33.45, -112.07)
ZONE = ZoneInfo("America/Phoenix")
START = datetime(2026, 6, 1, 7, 5, tzinfo=UTC)  # just after midnight in Phoenix


def _daylight(moment: datetime) -> Daylight:
    local = moment.astimezone(ZONE).date()
    today = sun(PHOENIX.observer, date=local)
    tomorrow = sun(PHOENIX.observer, date=local + timedelta(days=1))
    return Daylight(
        sunrise=today["sunrise"],
        sunset=today["sunset"],
        next_sunrise=tomorrow["sunrise"],
    )


class _Tokens:
    def __init__(self, sim: EnphaseSimulator) -> None:
        self.sim = sim
        self.token = sim.mint()

    async def __call__(self, *, rejected: str | None = None) -> str:
        if rejected or self.token["expires_at"] < time.time() + 300:
            self.token = self.sim.mint()
        return str(self.token["access_token"])


async def _month(plan: str, system: SimSystem, days: int) -> dict[str, float]:
    end = START + timedelta(days=days)
    with freeze_time(START) as clock:
        sim = EnphaseSimulator(systems=[system])
        sim.app0.plan = plan
        await sim.start()
        polls: list[tuple[datetime, datetime | None]] = []
        limited = 0
        try:
            async with ClientSession() as session:
                client = EnphaseConnector(
                    session,
                    api_key=sim.app0.api_key,
                    token=_Tokens(sim),
                    plan=plan,
                    base_url=sim.base_url,
                    limiter=RequestLimiter(PLANS[plan].budget),
                )
                now = START
                while now < end:
                    clock.move_to(now)
                    try:
                        snapshot = await client.async_fetch()
                        readings = snapshot.readings.get(str(system.system_id))
                        polls.append((now, readings.as_of if readings else None))
                    except RateLimitedError as err:
                        limited += 1
                        now += timedelta(seconds=err.retry_after or 60)
                        continue
                    now += plan_interval(
                        client.cost,
                        client.limiter.budget,
                        client.limiter,
                        now,
                        _daylight(now),
                    )
        finally:
            await sim.stop()
    per_day = Counter(
        datetime.fromisoformat(stamp).astimezone(ZONE).date()
        for stamp in sim.api_stamps
    )
    ages: list[float] = []
    day = START
    index = 0
    while day < end:
        light = _daylight(day)
        sample = max(light.sunrise, day)
        while sample < min(light.sunset, end):
            while index + 1 < len(polls) and polls[index + 1][0] <= sample:
                index += 1
            as_of = polls[index][1] if polls and polls[index][0] <= sample else None
            if as_of is not None:
                ages.append((sample - as_of).total_seconds() / 60)
            sample += timedelta(minutes=5)
        day += timedelta(days=1)
    counts = list(per_day.values())
    return {
        "calls": sum(counts),
        "per_day_mean": sum(counts) / days,
        "per_day_max": max(counts),
        "age_median_min": statistics.median(ages),
        "polls_per_day": len(polls) / days,
        "limited": limited,
    }


async def main(argv: list[str]) -> int:
    """Run the month for each plan and print a table."""
    parser = argparse.ArgumentParser(prog="python -m bench.enphase_month")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--plans", default=",".join(PLANS))
    args = parser.parse_args(argv)
    systems = {
        "Home (meters + battery)": SimSystem(),
        "PV only": SimSystem(
            name="PV only", battery_serial=None, consumption_meter=False
        ),
    }
    print(
        f"{'plan':<9} {'system':<24} {'calls/day':>9} {'max/day':>8} "
        f"{'month':>7} {'quota':>9} {'polls/day':>9} {'age (min)':>9} {'429':>4}"
    )
    for plan in args.plans.split(","):
        quota = PLANS[plan].budget.per_month
        for label, system in systems.items():
            started = time.perf_counter()
            result = await _month(plan, system, args.days)
            print(
                f"{plan:<9} {label:<24} {result['per_day_mean']:>9.1f} "
                f"{result['per_day_max']:>8} {result['calls']:>7} {quota:>9} "
                f"{result['polls_per_day']:>9.1f} {result['age_median_min']:>9.0f} "
                f"{result['limited']:>4}   ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
