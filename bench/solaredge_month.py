"""Simulate a month of SolarEdge updates as the planner schedules them.

Drives the real connector against the simulator with a frozen clock that jumps
to each planned update, for a June and a December in Phoenix, with and without
a battery, and prints credits spent, updates per day, the median daylight
interval and the median data age (vendor's newest measurement vs. now) in
daylight.

Usage: .venv/bin/python bench/solaredge_month.py
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
import statistics
import sys

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import ClientSession
from astral import LocationInfo
from astral.sun import sun
from freezegun import freeze_time

from custom_components.sungaze.connectors.solaredge import SolarEdgeConnector
from custom_components.sungaze.planner import Daylight, plan_interval
from tests.simulators.solaredge import SimSite, SolarEdgeSimulator

PHOENIX = LocationInfo("Phoenix", "US", "America/Phoenix", 33.45, -112.07)


def _daylight(moment: datetime) -> Daylight:
    local = moment.astimezone(PHOENIX.tzinfo).date()
    today = sun(PHOENIX.observer, date=local)
    tomorrow = sun(PHOENIX.observer, date=local + timedelta(days=1))
    return Daylight(
        sunrise=today["sunrise"],
        sunset=today["sunset"],
        next_sunrise=tomorrow["sunrise"],
    )


async def _month(start: datetime, end: datetime, battery: bool) -> dict[str, float]:
    site = SimSite() if battery else SimSite(battery_serial=None)
    simulator = SolarEdgeSimulator(sites=[site])
    now = start
    waits: list[float] = []
    ages: list[float] = []
    updates = 0
    with freeze_time(now) as clock:
        await simulator.start()
        async with ClientSession() as session:
            client = SolarEdgeConnector(
                session,
                api_key="SIMULATED-KEY",
                site_id=str(site.site_id),
                base_url=simulator.base_url,
            )
            while now < end:
                clock.move_to(now)
                snapshot = await client.async_fetch()
                updates += 1
                daylight = _daylight(now)
                wait = plan_interval(
                    client.cost, client.budget, client.limiter, now, daylight
                )
                if daylight.sunrise + timedelta(hours=1) < now < daylight.sunset:
                    as_of = snapshot.readings[str(site.site_id)].as_of
                    if as_of is not None:
                        ages.append((now - as_of).total_seconds() / 60)
                    if now + wait < daylight.sunset:
                        waits.append(wait.total_seconds() / 60)
                now += wait
        await simulator.stop()
    days = (end - start).days
    return {
        "credits": simulator.credits_used,
        "per_day": simulator.credits_used / days,
        "updates_per_day": updates / days,
        "interval_min": statistics.median(waits),
        "age_min": statistics.median(ages),
    }


def main() -> None:
    """Print one line per month and battery configuration."""
    print(
        f"{'month':<9} {'battery':<7} {'credits':>7} {'credits/day':>11}"
        f" {'updates/day':>11} {'daylight interval min':>21} {'data age min':>12}"
    )
    for label, start, end in (
        (
            "June",
            datetime(2026, 6, 1, 7, 5, tzinfo=UTC),
            datetime(2026, 7, 1, 7, tzinfo=UTC),
        ),
        (
            "December",
            datetime(2026, 12, 1, 7, 5, tzinfo=UTC),
            datetime(2027, 1, 1, 7, tzinfo=UTC),
        ),
    ):
        for battery in (True, False):
            r = asyncio.run(_month(start, end, battery))
            print(
                f"{label:<9} {'yes' if battery else 'no':<7} {r['credits']:>7.0f}"
                f" {r['per_day']:>11.1f} {r['updates_per_day']:>11.1f}"
                f" {r['interval_min']:>21.0f} {r['age_min']:>12.0f}"
            )


if __name__ == "__main__":
    main()
