"""History from the first minute: SolarEdge's past hours imported at first setup."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)

from custom_components.sungaze.backfill import CONF_BACKFILL_DAYS, day_hours, spread_day
from custom_components.sungaze.const import DOMAIN

from .conftest import NOON, SITE_ID, SOLAREDGE_KEY, hourly_sums, tick as _tick
from .simulators.solaredge import SolarEdgeSimulator

LIFETIME = "sensor.home_solar_energy"


@pytest.fixture
def mock_recorder_before_hass(async_test_recorder: object) -> None:
    """The recorder's database must exist before hass starts."""


@pytest.fixture(autouse=True)
def _noon(freezer: FrozenDateTimeFactory) -> None:
    freezer.move_to(NOON)


async def _setup(
    hass: HomeAssistant, entry: MockConfigEntry, days: int | None = None
) -> None:
    """Set the entry up, asking for `days` of history (None: the automatic reach)."""
    entry.add_to_hass(hass)
    if days is not None:
        hass.config_entries.async_update_entry(
            entry, options={CONF_BACKFILL_DAYS: days}
        )
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


async def _daily_wh(solaredge: SolarEdgeSimulator, day: str) -> float:
    """The simulator's own DAY bucket, read over HTTP (an independent path)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{solaredge.base_url}/sites/{SITE_ID}/energy",
            params={
                "resolution": "DAY",
                "unit": "WH",
                "from": f"{day}T00:00:00",
                "to": f"{day}T23:59:59",
            },
            headers={"X-API-Key": SOLAREDGE_KEY},
        ) as response,
    ):
        payload = await response.json()
    return float(payload["values"][0]["value"])


async def test_backfill_imports_and_joins(
    recorder_mock: object,
    phoenix: HomeAssistant,
    solaredge_entry: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Seven past days land hourly, end at sum 0, and the first compiled hour joins."""
    hass = phoenix
    await _setup(hass, solaredge_entry, days=7)
    backfill = solaredge_entry.runtime_data.backfill
    assert backfill is not None
    # SolarEdge allows 10 requests a minute: the import waits for the window.
    for _ in range(5):
        freezer.tick(timedelta(seconds=61))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
    await async_wait_recording_done(hass)
    assert backfill.requests == 7
    assert len([q for q in solaredge.queries if "resolution=HOUR" in q]) == 7

    boundary = NOON
    rows = await hourly_sums(hass, LIFETIME, boundary - timedelta(days=8))
    assert rows
    assert rows[-1]["start"] < boundary.timestamp()
    assert rows[-1]["sum"] == pytest.approx(0.0)
    assert all(row["sum"] <= 0 for row in rows)
    sums = [row["sum"] for row in rows]
    assert sums == sorted(sums)  # never backwards

    # Yesterday's hours add up to the simulator's own daily total (kWh).
    local = dt_util.as_local(boundary)
    yesterday = (local - timedelta(days=1)).date()
    start = dt_util.start_of_local_day(yesterday)
    end = start + timedelta(days=1)
    # Night hours have no bucket: take the last row before each edge.
    before = [r["sum"] for r in rows if r["start"] < start.timestamp()][-1]
    last = [r["sum"] for r in rows if r["start"] < end.timestamp()][-1]
    truth = await _daily_wh(solaredge, yesterday.isoformat()) / 1000
    assert last - before == pytest.approx(truth, rel=0.01)

    # The recorder's first own hour continues from 0: no spike at the join.
    freezer.tick(timedelta(hours=1, minutes=5))
    await hass.async_block_till_done(wait_background_tasks=True)
    for minutes in range(0, 60, 5):  # the last 5-minute run compiles the hour
        do_adhoc_statistics(hass, start=boundary + timedelta(minutes=minutes))
    await async_wait_recording_done(hass)
    rows = await hourly_sums(hass, LIFETIME, boundary - timedelta(hours=2))
    joined = {row["start"]: row["sum"] for row in rows}
    # The newest imported hour (the simulator's upload lag leaves the last
    # one open at setup) carries sum 0; the first compiled hour starts there.
    imported = [v for k, v in joined.items() if k < boundary.timestamp()]
    assert imported[-1] == pytest.approx(0.0)
    assert 0 <= joined[boundary.timestamp()] < 10  # one hour of one roof, in kWh

    # Idempotent: a reload fetches no more history and changes no row.
    queries = len(solaredge.queries)
    await hass.config_entries.async_reload(solaredge_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await async_wait_recording_done(hass)
    assert not [q for q in solaredge.queries[queries:] if "resolution=HOUR" in q]
    assert solaredge_entry.runtime_data.backfill.requests == 0
    again = await hourly_sums(hass, LIFETIME, boundary - timedelta(days=8))
    assert [r["sum"] for r in again][: len(sums)] == sums


async def test_backfill_can_be_switched_off(
    recorder_mock: object,
    phoenix: HomeAssistant,
    solaredge: SolarEdgeSimulator,
    solaredge_entry: MockConfigEntry,
) -> None:
    """With 0 days in the options nothing is fetched."""
    await _setup(phoenix, solaredge_entry, days=0)
    assert solaredge_entry.runtime_data.backfill.requests == 0


async def test_auto_reach_spends_only_spare_quota(
    recorder_mock: object,
    phoenix: HomeAssistant,
    solaredge_entry: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Without the option, history takes only what the live plan leaves, for a week."""
    hass = phoenix
    # The first half hour of a month: the live plan needs almost all of it.
    freezer.move_to("2026-07-01T00:30:00+00:00")
    await _setup(hass, solaredge_entry)
    for _ in range(40):
        freezer.tick(timedelta(seconds=61))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
    backfill = solaredge_entry.runtime_data.backfill
    limiter = solaredge_entry.runtime_data.connector.limiter
    budget = limiter.budget
    assert budget.per_month == 2000
    days_left = (
        datetime.fromisoformat("2026-08-01T00:00:00+00:00") - dt_util.utcnow()
    ) / timedelta(days=1)
    live_need = budget.per_month * (1 - budget.reserve) / 31 * days_left
    # It stopped for quota, long before a year, and left the live plan whole.
    assert 50 < backfill.requests < 120
    assert limiter.month_left >= live_need + budget.per_month * budget.reserve / 2 - 4
    assert not backfill.done
    # A week later the automatic reach ends where it got to.
    queries = len(solaredge.queries)
    freezer.tick(timedelta(days=8))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    history = [q for q in solaredge.queries[queries:] if "resolution=HOUR" in q]
    assert not history  # the week was over when its next run came
    freezer.tick(timedelta(seconds=61))  # the live catch-up's minute window
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    await hass.config_entries.async_reload(solaredge_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert solaredge_entry.state.name == "LOADED", solaredge_entry.reason
    assert solaredge_entry.runtime_data.backfill.done
    assert solaredge_entry.runtime_data.backfill.requests == 0
    assert not [q for q in solaredge.queries[queries:] if "resolution=HOUR" in q]


def test_spread_day_follows_the_sun() -> None:
    """A day's total lands in daylight hours, sums exactly, and flat without a sun."""
    zone = ZoneInfo("America/Phoenix")
    hours = day_hours(date(2026, 6, 1), zone)
    assert len(hours) == 24
    rise = datetime(2026, 6, 1, 5, 20, tzinfo=zone)
    set_ = datetime(2026, 6, 1, 19, 40, tzinfo=zone)
    parts = spread_day(12_000.0, hours, (rise, set_))
    assert sum(v for _, v in parts) == pytest.approx(12_000.0)
    assert all(rise - timedelta(hours=1) < h < set_ for h, _ in parts)
    best = max(parts, key=lambda p: p[1])[0].astimezone(zone)
    assert best.hour in (11, 12)  # solar noon, half-way between rise and set
    flat = spread_day(2_400.0, hours, None)
    assert [v for _, v in flat] == pytest.approx([100.0] * 24)


def test_day_hours_across_daylight_saving() -> None:
    """Site-local days of 23 and 25 hours keep every hour once."""
    zone = ZoneInfo("Europe/Berlin")
    assert len(day_hours(date(2026, 3, 29), zone)) == 23
    autumn = day_hours(date(2026, 10, 25), zone)
    assert len(autumn) == 25
    assert len(set(autumn)) == 25
    assert spread_day(0.0, [], None) == []


async def test_backfill_pauses_on_failures_and_resumes(
    recorder_mock: object,
    phoenix: HomeAssistant,
    solaredge_entry: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A vendor error pauses it 5 min, a 429 for its Retry-After; nothing is lost."""
    hass = phoenix
    solaredge.fail_next(500, 1, "resolution=HOUR")
    solaredge.fail_next(429, 1, "resolution=HOUR", retry_after="30")
    await _setup(hass, solaredge_entry, days=3)
    backfill = solaredge_entry.runtime_data.backfill
    # Setup filled half the minute window: the import waits 70 s, then the 500
    # pauses it for 5 minutes, then the 429 for at least a minute.
    await _tick(hass, freezer, timedelta(seconds=70))
    assert len([q for q in solaredge.queries if "resolution=HOUR" in q]) == 1
    await _tick(hass, freezer, timedelta(minutes=4))
    assert len([q for q in solaredge.queries if "resolution=HOUR" in q]) == 1
    assert backfill.requests == 0
    for _ in range(4):
        await _tick(hass, freezer, timedelta(seconds=61))
    await async_wait_recording_done(hass)
    assert backfill.done
    assert backfill.requests == 3
    # Today asked three times (500, 429, then answered), then two older days.
    hours = [q for q in solaredge.queries if "resolution=HOUR" in q]
    assert len(hours) == 5
    assert hours[0] == hours[1] == hours[2]
    assert len(set(hours)) == 3
    rows = await hourly_sums(hass, LIFETIME, NOON - timedelta(days=4))
    assert rows[-1]["sum"] == pytest.approx(0.0)
    assert (
        len(
            {
                dt_util.as_local(dt_util.utc_from_timestamp(r["start"])).date()
                for r in rows
            }
        )
        == 3
    )


async def test_entry_added_again_keeps_its_history(
    recorder_mock: object,
    hass_storage: dict[str, object],
    phoenix: HomeAssistant,
    solaredge_entry: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Removed and added again: the counter's statistics are left as they were."""
    hass = phoenix
    await _setup(hass, solaredge_entry, days=2)
    await _tick(hass, freezer, timedelta(seconds=70))  # after setup's minute window
    await async_wait_recording_done(hass)
    assert solaredge_entry.runtime_data.backfill.done
    before = await hourly_sums(hass, LIFETIME, NOON - timedelta(days=3))
    assert before
    assert f"sungaze.backfill.{solaredge_entry.entry_id}" in hass_storage
    await hass.config_entries.async_remove(solaredge_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert f"sungaze.backfill.{solaredge_entry.entry_id}" not in hass_storage
    await _tick(hass, freezer, timedelta(minutes=2))  # the vendor's minute window
    again = MockConfigEntry(
        domain=solaredge_entry.domain,
        unique_id=solaredge_entry.unique_id,
        title=solaredge_entry.title,
        data=dict(solaredge_entry.data),
    )
    await _setup(hass, again, days=30)
    await _tick(hass, freezer, timedelta(seconds=70))
    await async_wait_recording_done(hass)
    backfill = again.runtime_data.backfill
    assert backfill.done  # one run found the history and stopped
    assert backfill.requests <= 10
    assert await hourly_sums(hass, LIFETIME, NOON - timedelta(days=3)) == before


async def test_backfill_waits_while_a_flow_adds_a_site(
    recorder_mock: object,
    phoenix: HomeAssistant,
    solaredge_entry: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An open Sungaze flow keeps the vendor's minute window for itself."""
    hass = phoenix
    await _setup(hass, solaredge_entry, days=3)
    flow = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    for _ in range(3):
        await _tick(hass, freezer, timedelta(seconds=70))
    assert not [q for q in solaredge.queries if "resolution=HOUR" in q]
    hass.config_entries.flow.async_abort(flow["flow_id"])
    await _tick(hass, freezer, timedelta(seconds=70))
    assert len([q for q in solaredge.queries if "resolution=HOUR" in q]) == 3
