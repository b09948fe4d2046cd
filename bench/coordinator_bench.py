"""Measure setup and one coordinator update for 1, 10 and 100 SolarEdge sites.

Runs a real (test-harness) Home Assistant with Sungaze against the SolarEdge
simulator on loopback and prints:

- setup: wall time per config entry until it is LOADED (HTTP + parse + entities);
- fetch: one `async_fetch` per site (HTTP round trips + parse + normalise);
- write: pushing a changed snapshot through every coordinator until all
  entity states are written (the HA side of an update), and per entity.

Usage: .venv/bin/python bench/coordinator_bench.py [--sites 1 10 100] [--rounds 5]
(`python -m bench` prints these figures and more, against a bare-HA floor.)
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
import statistics
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import custom_components.sungaze  # noqa: F401  isort: skip
from unittest.mock import patch

from aiohttp.resolver import ThreadedResolver
from freezegun import freeze_time
from homeassistant import loader
from homeassistant.config_entries import ConfigEntryState
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from bench.hotpath import unlimited_budgets
from custom_components.sungaze.const import DOMAIN
from custom_components.sungaze.model import Readings, Snapshot
from tests.simulators.solaredge import SimSite, SolarEdgeSimulator

NOON = datetime(2026, 6, 21, 19, 0, tzinfo=UTC)
KEY = "BENCH-KEY"


def _resolver() -> ThreadedResolver:
    resolver = ThreadedResolver()
    resolver.real_close = resolver.close  # type: ignore[attr-defined]  # harness expects it
    return resolver


def _bumped(snapshot: Snapshot, step: int) -> Snapshot:
    """The same snapshot with every numeric value nudged, so every state changes."""
    readings = {
        device_id: Readings(
            values={
                k: (
                    v + step
                    if isinstance(v, float) and "lifetime" in k
                    else v + step * 0.5
                    if isinstance(v, float)
                    else v
                )
                for k, v in r.values.items()
            },
            as_of=r.as_of,
            online=r.online,
        )
        for device_id, r in snapshot.readings.items()
    }
    return replace(snapshot, readings=readings)


async def _run(count: int, rounds: int) -> dict[str, float]:
    sites = [
        SimSite(
            site_id=4000000 + n,
            name=f"Site {n}",
            inverters=[f"7E{n:06X}-01"],
            battery_serial=f"7F{n:06X}-B1",
            meter_serial=f"M-{n:06X}",
        )
        for n in range(count)
    ]
    simulator = SolarEdgeSimulator(
        api_key=KEY, sites=sites, month_credits=10**9, minute_limit=10**9
    )
    await simulator.start()
    try:
        async with async_test_home_assistant() as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
            await hass.config.async_set_time_zone("America/Phoenix")
            setups: list[float] = []
            entries = []
            for site in sites:
                entry = MockConfigEntry(
                    domain=DOMAIN,
                    title=site.name,
                    unique_id=f"solaredge_{site.site_id}",
                    data={
                        "vendor": "solaredge",
                        "api_key": KEY,
                        "site_id": str(site.site_id),
                        "url": simulator.base_url,
                    },
                )
                entry.add_to_hass(hass)
                start = time.perf_counter()
                await hass.config_entries.async_setup(entry.entry_id)
                await hass.async_block_till_done()
                setups.append(time.perf_counter() - start)
                if entry.state is not ConfigEntryState.LOADED:
                    raise SystemExit(f"setup failed: {entry.state}")
                entries.append(entry)
            coordinators = [entry.runtime_data for entry in entries]
            entities = len(hass.states.async_all())

            fetches: list[float] = []
            writes: list[float] = []
            for step in range(1, rounds + 1):
                start = time.perf_counter()
                snapshots = [await c.connector.async_fetch() for c in coordinators]
                fetches.append(time.perf_counter() - start)
                start = time.perf_counter()
                for coordinator, snapshot in zip(coordinators, snapshots, strict=True):
                    coordinator.async_set_updated_data(_bumped(snapshot, step))
                await hass.async_block_till_done()
                writes.append(time.perf_counter() - start)
            for entry in entries:
                await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_stop(force=True)
    finally:
        await simulator.stop()
    write = statistics.median(writes)
    return {
        "sites": count,
        "entities": entities,
        "setup_ms_median": statistics.median(setups) * 1000,
        "setup_ms_total": sum(setups) * 1000,
        "fetch_ms": statistics.median(fetches) * 1000,
        "write_ms": write * 1000,
        "write_us_per_entity": write * 1e6 / max(entities, 1),
    }


def main() -> None:
    """Run the bench and print one line per site count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(
        f"{'sites':>5} {'entities':>8} {'setup/entry ms':>15} {'setup total ms':>15}"
        f" {'fetch all ms':>13} {'write all ms':>13} {'write µs/entity':>16}"
    )
    # The test harness has no network/zeroconf integration: resolve plainly.
    # The bench measures our code, not the vendor's quota: every budget is
    # unlimited (a limiter planted in hass.data would get SolarEdge's budget
    # back from the shared-limiter lookup).
    with (
        freeze_time(NOON, real_asyncio=True, tick=True),
        patch(
            "homeassistant.helpers.aiohttp_client._async_make_resolver",
            side_effect=lambda _hass: _resolver(),
        ),
        unlimited_budgets(),
    ):
        for count in args.sites:
            r = asyncio.run(_run(count, args.rounds))
            print(
                f"{r['sites']:>5} {r['entities']:>8} {r['setup_ms_median']:>15.1f}"
                f" {r['setup_ms_total']:>15.1f} {r['fetch_ms']:>13.1f}"
                f" {r['write_ms']:>13.1f} {r['write_us_per_entity']:>16.1f}"
            )


if __name__ == "__main__":
    main()
