"""Tests for the SolarEdge V2 simulator, over a real loopback socket."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from freezegun import freeze_time
from multidict import CIMultiDictProxy
import pytest

from tests.simulators.solaredge import SimSite, SolarEdgeSimulator, second_site

KEY = "SIMULATED-KEY"
HEADERS = {"X-API-Key": KEY}
SITE = 3012345
NOON_ISH = "2026-06-21T13:07:00-07:00"  # Phoenix, sun up


@asynccontextmanager
async def running(**kwargs: Any) -> AsyncIterator[tuple[SolarEdgeSimulator, Any]]:
    """Start a simulator and yield it with a GET helper bound to a session."""
    sim = SolarEdgeSimulator(**kwargs)
    await sim.start()
    try:
        async with aiohttp.ClientSession() as session:

            async def get(
                path: str, headers: dict[str, str] | None = None, **params: str
            ) -> tuple[int, CIMultiDictProxy[str], Any]:
                url = path if path.startswith("http") else sim.base_url + path
                async with session.get(
                    url, headers=HEADERS if headers is None else headers, params=params
                ) as response:
                    body = await response.json(content_type=None)
                    return response.status, response.headers, body

            yield sim, get
    finally:
        await sim.stop()


def _numbers(series: dict[str, Any]) -> list[float]:
    return [v["value"] for v in series["values"] if v["value"] is not None]


async def test_auth_failures_and_problem_json(socket_enabled: None) -> None:
    """Bad, V1-style and missing keys are 401 problem+json and cost nothing."""
    async with running(sites=[SimSite(), second_site()]) as (sim, get):
        for headers in ({"X-API-Key": "wrong"}, {"X-API-Key": "V1-ABCDEF"}, {}):
            status, response_headers, body = await get("/sites", headers)
            assert status == 401
            assert response_headers["Content-Type"].startswith(
                "application/problem+json"
            )
            assert body["title"] == "Unauthorized - Authentication Failed"
            assert body["status"] == 401
            assert response_headers["via"] == "kong/3.7.1"
            assert "x-ratelimit-remaining-minute" in response_headers
        assert sim.credits_used == 0
        assert sim.calls == [("GET", "/v2/sites")] * 3

        status, _, body = await get(f"/sites/{SITE}/powerFlow")
        assert status == 404
        assert set(body) == {"type", "title", "status", "detail", "traceId"}
        assert body["detail"] == "Unknown endpoint"
        status, _, body = await get("/sites/999/overview")
        assert status == 403
        assert sim.credits_used == 2  # 4xx after auth are billed

        status, _, body = await get("/sites")
        assert status == 200
        assert body["sites"]["count"] == 2
        assert [s["siteId"] for s in body["sites"]["site"]] == [SITE, 3012346]


async def test_v1_paths_are_gone(socket_enabled: None) -> None:
    """The retired V1 API answers 410 whatever the key."""
    async with running() as (sim, get):
        root = sim.base_url.removesuffix("/v2")
        for path in (f"/site/{SITE}/overview", "/sites/list"):
            status, headers, _ = await get(f"{root}{path}", {}, api_key="OLD-KEY")
            assert status == 410
            assert headers["Content-Type"].startswith("application/problem+json")
        assert sim.credits_used == 0


async def test_minute_limit(socket_enabled: None) -> None:
    """The 11th call in a minute is a 429 with retry-after and remaining 0."""
    async with running() as (sim, get):
        for left in range(9, -1, -1):
            status, headers, _ = await get("/sites")
            assert status == 200
            assert headers["x-ratelimit-limit-minute"] == "10"
            assert headers["x-ratelimit-remaining-minute"] == str(left)
        status, headers, body = await get("/sites")
        assert status == 429
        assert headers["x-ratelimit-remaining-minute"] == "0"
        assert 0 < int(headers["retry-after"]) <= 60
        assert body == {"message": "API rate limit exceeded"}
        assert sim.credits_used == 10


async def test_month_limit(socket_enabled: None) -> None:
    """Exhausted month credits: 429, remaining-minute > 0, no retry-after."""
    async with running(month_credits=3) as (sim, get):
        for _ in range(3):
            assert (await get("/sites"))[0] == 200
        status, headers, body = await get("/sites")
        assert status == 429
        assert int(headers["x-ratelimit-remaining-minute"]) > 0
        assert "retry-after" not in headers
        assert body == {"message": "API rate limit exceeded"}
        assert sim.credits_used == 3
        sim.reset_month()
        assert (await get("/sites"))[0] == 200


async def test_overview_equals_sum_of_quarter_hours(socket_enabled: None) -> None:
    """Today's overview totals are the sums of today's quarter-hour buckets."""
    async with running(sites=[SimSite(), second_site()], minute_limit=100) as (_, get):
        with freeze_time(NOON_ISH, real_asyncio=True):
            _, _, overview = await get(f"/sites/{SITE}/overview")
            _, _, energy = await get(f"/sites/{SITE}/energy")
            _, _, meters = await get(f"/sites/{SITE}/meters/telemetry")
            _, _, storage = await get(f"/sites/{SITE}/storage/telemetry")
            _, _, cabin = await get("/sites/3012346/overview")

        assert energy["unit"] == "WH"
        assert energy["resolution"] == "QUARTER_HOUR"
        assert energy["period"]["from"] == "2026-06-21T00:00:00-07:00"
        # period.to carries nanoseconds, as captured
        assert len(energy["period"]["to"].split(".")[1].split("-")[0]) == 9
        production = overview["production"]
        consumption = overview["consumption"]
        assert production["unit"] == "WH"
        assert production["total"] > 10000
        assert production["total"] == sum(_numbers(energy))
        meter = meters["meters"]["M-GRID-01"]
        assert consumption["fromGrid"] == sum(_numbers(meter["importEnergy"]))
        assert production["toGrid"] == sum(_numbers(meter["exportEnergy"]))
        battery = storage["storage"]["7F0A21C3-B1"]
        assert production["toStorage"] == sum(_numbers(battery["chargeEnergy"]))
        assert consumption["total"] == pytest.approx(
            consumption["fromPv"]
            + consumption["fromStorage"]
            + consumption["fromGrid"],
            abs=2,
        )
        # No meter: only production is known.
        assert cabin["production"]["total"] > 0
        assert cabin["consumption"]["total"] is None
        assert cabin["production"]["toGrid"] is None


async def test_lifetime_is_monotonic(socket_enabled: None) -> None:
    """Summed YEAR buckets grow with time by exactly today's production."""
    params = {"resolution": "YEAR", "from": "2021-03-15T00:00:00", "unit": "WH"}

    async with running() as (sim, get):
        results = []
        for when in ("2026-06-21T09:00:00-07:00", NOON_ISH):
            with freeze_time(when, real_asyncio=True):
                _, _, years = await get(f"/sites/{SITE}/energy", **params)
                _, _, overview = await get(f"/sites/{SITE}/overview")
                assert sum(_numbers(years)) == sim.lifetime_wh()
            results.append((sum(_numbers(years)), overview["production"]["total"]))
        assert years["values"][0]["timestamp"] == "2021-01-01T00:00:00-07:00"
        assert years["values"][-1]["timestamp"] == "2026-01-01T00:00:00-07:00"
        (first, today_first), (second, today_second) = results
        assert second > first
        assert second - first == today_second - today_first

        with freeze_time(NOON_ISH, real_asyncio=True):
            _, _, default_unit = await get(
                f"/sites/{SITE}/energy", resolution="YEAR", **{"from": "2021-03-15"}
            )
            sim.lifetime_zero = True
            _, _, zero = await get(f"/sites/{SITE}/energy", **params)
        assert default_unit["unit"] == "KWH"
        assert sum(_numbers(default_unit)) * 1000 == pytest.approx(second)
        assert _numbers(zero) == [0.0] * 6


async def test_data_lag(socket_enabled: None) -> None:
    """Quarter-hours that ended less than lag_minutes ago are still null."""
    async with running() as (sim, get):
        with freeze_time("2026-06-21T12:07:00-07:00", real_asyncio=True):
            _, _, power = await get(f"/sites/{SITE}/power")
            _, _, details = await get(f"/sites/{SITE}")
            sim.lag_minutes = 60
            _, _, later = await get(f"/sites/{SITE}/power")

        def newest(series: dict[str, Any]) -> str:
            stamps = [
                v["timestamp"] for v in series["values"] if v["value"] is not None
            ]
            return stamps[-1][11:16]

        assert power["unit"] == "W"
        # now - 20 min = 11:47: the 11:30-11:45 bucket is the newest uploaded.
        assert newest(power) == "11:30"
        assert power["values"][-1]["timestamp"].startswith("2026-06-21T12:00")
        assert power["values"][-1]["value"] is None
        assert details["lastUpdateTime"] == "2026-06-21T11:45:00-07:00"
        assert newest(later) == "10:45"
        # The night before sunrise is null (inverter asleep), not 0.0.
        assert power["values"][0]["value"] is None


async def test_faults(socket_enabled: None) -> None:
    """fail_next and offline behave as documented."""
    async with running() as (sim, get):
        sim.fail_next(503, path_contains="overview")
        status, headers, body = await get(f"/sites/{SITE}/overview")
        assert status == 503
        assert headers["Content-Type"].startswith("application/problem+json")
        assert body["status"] == 503
        assert (await get(f"/sites/{SITE}/overview"))[0] == 200
        sim.offline = True
        with pytest.raises(aiohttp.ClientError):
            await get("/sites")
        sim.offline = False
        assert (await get("/sites"))[0] == 200
        sim.add_alert()
        _, _, alerts = await get(f"/sites/{SITE}/alerts", **{"only-open": "true"})
        assert alerts[0]["status"] == "OPEN"
        assert alerts[0]["component"]["serialNumber"] == "7E1234AB-9C"
