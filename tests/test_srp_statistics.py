"""SRP hours as long-term statistics, read back from the recorder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
import json
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.statistics import (
    list_statistic_ids,
    statistics_during_period,
)
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.sungaze.connectors.srp import SITE_ZONE
from custom_components.sungaze.const import DOMAIN
from custom_components.sungaze.diagnostics import async_get_config_entry_diagnostics

from .simulators.srp import PASSWORD, USERNAME, SRPSimulator

FLAT = "123456789"
SOLAR = "987654321"
MORNING = datetime(2026, 6, 21, 7, 0, tzinfo=SITE_ZONE)
BACKFILL_START = datetime(2026, 5, 22, 0, 0, tzinfo=SITE_ZONE)


@pytest.fixture(autouse=True)
def mock_recorder_before_hass(async_setup_recorder_instance: Any) -> None:
    """Prepare the recorder's database before `hass` starts (it needs to be first)."""


@pytest.fixture
async def srp(socket_enabled: None) -> AsyncIterator[SRPSimulator]:
    """An SRP simulator on a free loopback port."""
    simulator = SRPSimulator()
    await simulator.start()
    yield simulator
    await simulator.stop()


def make_entry(srp: SRPSimulator, account: str = FLAT) -> MockConfigEntry:
    """An SRP entry for one billing account of the simulator."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"SRP {srp.account(account).nickname}",
        unique_id=f"srp_{account}",
        data={
            "vendor": "srp",
            "username": USERNAME,
            "password": PASSWORD,
            "url": srp.base_url,
            "billing_account": account,
        },
    )


async def setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await async_wait_recording_done(hass)


async def rows(hass: HomeAssistant, stat_id: str) -> list[dict[str, Any]]:
    """Every hourly row of one statistic, oldest first."""
    found = await hass.async_add_executor_job(
        statistics_during_period,
        hass,
        BACKFILL_START - timedelta(days=5),
        None,
        {stat_id},
        "hour",
        None,
        {"state", "sum"},
    )
    return found.get(stat_id, [])


def check_continuous(found: list[dict[str, Any]]) -> None:
    """Every row's sum is the previous sum plus its own state."""
    total = 0.0
    for row in found:
        total += row["state"]
        assert row["sum"] == pytest.approx(total, abs=1e-6)


def starts(found: list[dict[str, Any]]) -> list[datetime]:
    return [datetime.fromtimestamp(row["start"], SITE_ZONE) for row in found]


def hours(first: date, last: date) -> list[datetime]:
    out = []
    day = first
    while day <= last:
        out.extend(datetime.combine(day, time(h), SITE_ZONE) for h in range(24))
        day += timedelta(days=1)
    return out


async def next_update(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, to: datetime
) -> None:
    freezer.move_to(to)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    await async_wait_recording_done(hass)


async def test_backfill_exact_hours_and_sums(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    srp: SRPSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """30 days hourly: exact kWh and USD per hour, sums from 0, names with the alias."""
    freezer.move_to(MORNING)
    await setup(hass, make_entry(srp))
    usage = await rows(hass, "sungaze:srp_123456789_grid_consumption")
    cost = await rows(hass, "sungaze:srp_123456789_grid_cost")
    expected = hours(date(2026, 5, 22), date(2026, 6, 20))
    assert starts(usage) == expected
    assert starts(cost) == expected
    for row, money, start in zip(usage, cost, expected, strict=True):
        kwh, usd = srp.expected(FLAT, start)
        assert row["state"] == pytest.approx(kwh)
        assert money["state"] == pytest.approx(usd)
    check_continuous(usage)
    check_continuous(cost)
    assert usage[-1]["sum"] == pytest.approx(
        sum(srp.expected(FLAT, h)[0] for h in expected)
    )
    ids = {
        meta["statistic_id"]: meta
        for meta in await hass.async_add_executor_job(list_statistic_ids, hass)
    }
    consumption = ids["sungaze:srp_123456789_grid_consumption"]
    assert consumption["name"] == "SRP Home grid consumption"
    assert consumption["statistics_unit_of_measurement"] == "kWh"
    assert consumption["source"] == DOMAIN
    assert (
        ids["sungaze:srp_123456789_grid_cost"]["statistics_unit_of_measurement"]
        == "USD"
    )
    # A flat account without solar has no export statistic.
    assert "sungaze:srp_123456789_grid_export" not in ids


async def test_next_day_continues_the_sum(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    srp: SRPSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The next morning's hours append; the sum goes on without a jump or a dip."""
    freezer.move_to(MORNING)
    await setup(hass, make_entry(srp))
    before = await rows(hass, "sungaze:srp_123456789_grid_consumption")
    await next_update(hass, freezer, MORNING + timedelta(days=1))
    after = await rows(hass, "sungaze:srp_123456789_grid_consumption")
    assert starts(after) == hours(date(2026, 5, 22), date(2026, 6, 21))
    assert after[: len(before)] == before
    check_continuous(after)


async def test_unchanged_update_writes_nothing(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    srp: SRPSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The 10:15 update brings the same hours: nothing is written again."""
    freezer.move_to(MORNING)
    entry = make_entry(srp)
    await setup(hass, entry)
    window = dict(entry.runtime_data.importer.last_window)
    before = await rows(hass, "sungaze:srp_123456789_grid_consumption")
    requests = srp.requests["usage/hourlydetail"]
    await next_update(hass, freezer, datetime(2026, 6, 21, 10, 15, 1, tzinfo=SITE_ZONE))
    assert srp.requests["usage/hourlydetail"] == requests + 1
    assert entry.runtime_data.importer.last_window == window
    assert await rows(hass, "sungaze:srp_123456789_grid_consumption") == before


async def test_late_hour_appears_once(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    srp: SRPSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A last hour missing at 06:15 comes the next day: stored once, sum continuous."""
    late = datetime(2026, 6, 20, 23, tzinfo=SITE_ZONE)
    srp.late[late] = datetime(2026, 6, 21, 9, 0, tzinfo=SITE_ZONE)
    freezer.move_to(MORNING)
    await setup(hass, make_entry(srp))
    first = await rows(hass, "sungaze:srp_123456789_grid_consumption")
    assert starts(first)[-1] == late - timedelta(hours=1)
    # Not settled: the next update comes within two hours.
    await next_update(hass, freezer, MORNING + timedelta(hours=2, minutes=1))
    found = await rows(hass, "sungaze:srp_123456789_grid_consumption")
    assert starts(found)[-1] == late
    assert found[-1]["state"] == pytest.approx(srp.expected(FLAT, late)[0])
    assert len(set(starts(found))) == len(found)
    check_continuous(found)


async def test_corrected_hour_rewrites_from_there(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    srp: SRPSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An hour SRP first sent as 0 and later corrected: later sums shift, once."""
    hole = datetime(2026, 6, 20, 12, tzinfo=SITE_ZONE)
    srp.late[hole] = datetime(2026, 6, 22, 0, tzinfo=SITE_ZONE)
    freezer.move_to(MORNING)
    await setup(hass, make_entry(srp))
    first = await rows(hass, "sungaze:srp_123456789_grid_consumption")
    assert first[starts(first).index(hole)]["state"] == 0
    await next_update(hass, freezer, MORNING + timedelta(days=1))
    found = await rows(hass, "sungaze:srp_123456789_grid_consumption")
    assert found[starts(found).index(hole)]["state"] == pytest.approx(
        srp.expected(FLAT, hole)[0]
    )
    assert starts(found) == hours(date(2026, 5, 22), date(2026, 6, 21))
    check_continuous(found)


async def test_reload_writes_no_duplicates(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    srp: SRPSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A restart re-imports the 30 days: same rows, same sums, nothing doubled."""
    freezer.move_to(MORNING)
    entry = make_entry(srp)
    await setup(hass, entry)
    await next_update(hass, freezer, MORNING + timedelta(days=1))
    before = await rows(hass, "sungaze:srp_123456789_grid_cost")
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await async_wait_recording_done(hass)
    after = await rows(hass, "sungaze:srp_123456789_grid_cost")
    assert starts(after) == starts(before)
    for old, new in zip(before, after, strict=True):
        assert new["state"] == pytest.approx(old["state"])
        assert new["sum"] == pytest.approx(old["sum"])


async def test_solar_account_export_and_generation(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    srp: SRPSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Net metering: export and generation statistics, exact per hour."""
    freezer.move_to(MORNING)
    await setup(hass, make_entry(srp, SOLAR))
    export = await rows(hass, "sungaze:srp_987654321_grid_export")
    generation = await rows(hass, "sungaze:srp_987654321_solar_production")
    account = srp.account(SOLAR)
    assert len(export) == len(generation) == 720
    for row in export:
        start = datetime.fromtimestamp(row["start"], SITE_ZONE)
        assert row["state"] == pytest.approx(srp.flows(account, start)["received"])
    check_continuous(export)
    check_continuous(generation)
    assert export[-1]["sum"] > 0
    # A TOU plan also gets per-bucket statistics; the buckets add up to the total.
    cost = await rows(hass, "sungaze:srp_987654321_grid_cost")
    buckets = [
        await rows(hass, f"sungaze:srp_987654321_grid_cost_{slug}")
        for slug in ("on_peak", "off_peak", "shoulder", "super_off_peak")
    ]
    assert all(len(one) == 720 for one in buckets)
    assert sum(one[-1]["sum"] for one in buckets) == pytest.approx(cost[-1]["sum"])


async def test_diagnostics(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    srp: SRPSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Plan kind, TOU, last import window; no account number, login or password."""
    freezer.move_to(MORNING)
    entry = make_entry(srp, SOLAR)
    await setup(hass, entry)
    result = await async_get_config_entry_diagnostics(hass, entry)
    text = json.dumps(result)
    for secret in (SOLAR, USERNAME, PASSWORD, "Casita"):
        assert secret not in text
    assert result["entry"]["data"]["billing_account"] == "**REDACTED**"
    assert result["connector"]["plan"] == "time-of-use (bucketed)"
    assert result["connector"]["tou"] is True
    assert result["connector"]["rows_received"]["hourlyReceivedList"] == 31 * 24
    window = result["statistics_import"]["grid_consumption"]
    assert window == (
        "2026-05-22T00:00:00-07:00",
        "2026-06-20T23:00:00-07:00",
        720,
    )
