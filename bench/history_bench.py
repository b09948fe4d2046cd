"""First-setup history: requests and time per vendor for 7 days and for a year.

    .venv/bin/python -m bench.history_bench [--smoke]

For every vendor whose demo entry keeps history (`history_requests_per_day`
> 0), its simulator starts on a loopback port and its demo entry is set up
in a test-harness Home Assistant at noon in Phoenix. A fresh entry (a reload
between the two runs, so no cache carries over) then walks back the way the
backfill does (`history_cost`, `async_history`, day by day from today) and
turns each day into hourly rows (`Backfill._hours`, the spreading of daily
figures included). Printed per vendor and reach:

* requests sent (counted by the shared limiter, so every request the vendor
  would see) and hourly rows produced;
* wall time of the fetching and spreading with the pacing switched off (the
  simulators answer at loopback speed, so this is our own cost);
* calendar time the vendor's quota imposes on top: half of a per-minute window
  per minute, and what `planner.history_spare` leaves of a month budget
  (about half the reserve a month when the live plan runs at its even rate).

The recorder's write of the rows is not timed here (tests/test_backfill.py
proves the rows); `--smoke` walks 2 and 7 days.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
import inspect
import math
from pathlib import Path
import sys
import time
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import custom_components.sungaze  # noqa: F401  isort: skip

from homeassistant.config_entries import ConfigEntryState
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bench.hotpath import SIMS, demo_run, plain_dns, unlimited_budgets
from custom_components.sungaze.backfill import CONF_BACKFILL_DAYS, Backfill
from custom_components.sungaze.connectors import CONNECTORS
from custom_components.sungaze.connectors.base import RateLimitedError, RequestBudget


def _calendar(budget: RequestBudget, requests: int) -> str:
    """What the vendor's quota adds to the wall time, as text."""
    if requests == 0:
        return "none"
    parts = []
    if budget.per_month is not None:
        per_month = budget.per_month * budget.reserve / 2
        months = requests / per_month
        if months > 0.05:
            parts.append(f"~{months:.1f} month(s) of spare credits")
    if budget.per_day is not None:
        days = requests / (budget.per_day * budget.reserve / 2)
        parts.append(f"~{days:.1f} day(s) of spare daily budget")
    if budget.per_minute:
        minutes = math.ceil(requests / max(budget.per_minute // 2, 1))
        parts.append(f"≥ {minutes} min of half minute windows")
    return "; ".join(parts) or "none (no published limit)"


async def _walk(
    hass: Any, entry: MockConfigEntry, days: int, clock: Any
) -> tuple[int, int, float]:
    """Requests, hourly rows and seconds for `days` days back from today."""
    coordinator = entry.runtime_data
    connector = coordinator.connector
    backfill = Backfill(hass, coordinator)
    zone = ZoneInfo(
        next(
            (s.timezone for s in coordinator.data.sites.values() if s.timezone),
            hass.config.time_zone,
        )
    )
    boundary = dt_util.utcnow().replace(minute=0, second=0, microsecond=0)
    today = dt_util.now(zone).date()
    first = connector.history_first_day
    before = connector.limiter.total
    rows = refused = 0
    start = time.perf_counter()
    for back in range(days):
        day = today - timedelta(days=back)
        if first is not None and day < first:
            break
        connector.history_cost(day)
        for _attempt in range(3):
            try:
                found = await connector.async_history(day)
                break
            except RateLimitedError as err:
                # The vendor's own minute window: its wait is calendar time
                # (counted in the quota column), not ours.
                pause = timedelta(seconds=(err.retry_after or 60) + 1)
                clock.tick(pause)
                refused += 1  # sent, refused, not billed: not a history request
        else:
            raise RuntimeError("the vendor kept refusing")
        for series in found:
            rows += sum(1 for _ in backfill._hours(series, day, zone, boundary))
    seconds = time.perf_counter() - start
    return connector.limiter.total - before - refused, rows, seconds


async def _vendor(row: Any, module: Any, reaches: list[int]) -> list[str]:
    lines: list[str] = []
    async with demo_run(row, module, {CONF_BACKFILL_DAYS: 0}) as run:
        if run is None:
            return lines
        hass, entry, clock = run.hass, run.entry, run.noon.clock
        if hasattr(run.simulator, "minute_limit"):
            # Our own cost is timed: the vendor's minute window is calendar
            # time, added in the quota column.
            run.simulator.minute_limit = 10**6
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        if entry.state is not ConfigEntryState.LOADED:
            raise RuntimeError(
                f"{row.vendor}: setup failed ({entry.state}, {entry.reason})"
            )
        connector = entry.runtime_data.connector
        if connector.history_requests_per_day == 0:
            reaches = []  # this kind keeps no history (Tigo's free kind)
            lines.append(f"  {row.vendor:<10} keeps no history")
        budget = connector.limiter.budget
        with unlimited_budgets():
            for days in reaches:
                # Past the vendor's minute window the setup used.
                clock.tick(timedelta(seconds=61))
                await hass.config_entries.async_reload(entry.entry_id)
                await hass.async_block_till_done()
                if entry.state is not ConfigEntryState.LOADED:
                    raise RuntimeError(
                        f"{row.vendor}: reload failed ({entry.state}, {entry.reason})"
                    )
                requests, rows, seconds = await _walk(hass, entry, days, clock)
                lines.append(
                    f"  {row.vendor:<10} {days:>4} d {requests:>5} req"
                    f" {rows:>7} rows {seconds * 1000:>8.0f} ms"
                    f"   quota: {_calendar(budget, requests)}"
                )
    return lines


async def run(smoke: bool) -> list[str]:
    """Every vendor with history in the demo; the printed lines."""
    reaches = [2, 7] if smoke else [7, 365]
    lines = ["First-setup history (fetch + spread, pacing off; quota time on top):"]
    with plain_dns():
        for row in SIMS.VENDORS:
            kind = CONNECTORS.get(row.vendor)
            if kind is None or (
                # A dispatcher (Tigo, CPS) is asked once its entry is set up.
                kind.history_requests_per_day == 0 and not inspect.isabstract(kind)
            ):
                continue
            module = SIMS._load(row)
            if module is not None:
                lines += await _vendor(row, module, reaches)
    return lines


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="2 and 7 days only")
    args = parser.parse_args()
    print("\n".join(asyncio.run(run(args.smoke))))


if __name__ == "__main__":
    main()
