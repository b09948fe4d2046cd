"""EG4 first-setup history: requests and wall time for a week and a year.

Drives the real connector against the simulator on loopback (default account:
three inverters on two stations, one GridBOSS) and walks back one day at a
time from today as the backfill does (`history_cost`, then `async_history`),
after a first live update (the backfill starts after the entry's first
refresh). Prints, per walk, the requests announced and sent (plant list +
month columns; a login only if the session expired), the series returned and
the wall time. The simulator computes its energy model on the fly, so its
time is part of the figure (a cold model costs most of it).

Usage: .venv/bin/python -m bench.eg4_history
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
import sys
import time
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import ClientSession, CookieJar

from custom_components.sungaze.connectors.eg4 import EG4Connector
from tests.simulators.eg4 import EG4Simulator, demo_entry


async def _walk(days: int) -> dict[str, float]:
    simulator = EG4Simulator()
    await simulator.start()
    try:
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
            connector = EG4Connector.from_config(
                session, demo_entry(simulator.base_url)
            )
            await connector.async_fetch()
            sent = len(simulator.calls)
            zone = ZoneInfo(simulator.account.plants[0].timezone)
            today = datetime.now(zone).date()
            announced = series = 0
            start = time.perf_counter()
            for back in range(days):
                day = today - timedelta(days=back)
                announced += connector.history_cost(day)
                series += len(await connector.async_history(day))
            wall = time.perf_counter() - start
            paths = [path for path, _ in simulator.calls[sent:]]
    finally:
        await simulator.stop()
    return {
        "announced": announced,
        "sent": len(paths),
        "months": sum(path.endswith("monthColumn") for path in paths),
        "series": series,
        "wall_s": wall,
    }


def main() -> None:
    """One line per walk."""
    print(
        f"{'days':>4} {'announced':>9} {'sent':>5} {'monthColumn':>11}"
        f" {'series':>6} {'wall s':>7}"
    )
    for days in (7, 365):
        r = asyncio.run(_walk(days))
        print(
            f"{days:>4} {r['announced']:>9.0f} {r['sent']:>5.0f} {r['months']:>11.0f}"
            f" {r['series']:>6.0f} {r['wall_s']:>7.3f}"
        )


if __name__ == "__main__":
    main()
