"""Tigo's late minutes as long-term statistics, read back from the recorder."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder, get_instance
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.sungaze.backfill import CONF_BACKFILL_DAYS
from custom_components.sungaze.const import DOMAIN

from .simulators.tigo import OBJECT_IDS, ZONE, TigoSimulator
from .test_tigo_init import (
    ENTRY_ID,
    NOON,
    SID,
    entity_id,
    make_entry,
    panel,
    setup,
    tick,
    value,
)


@pytest.fixture(autouse=True)
def mock_recorder_before_hass(async_setup_recorder_instance: Any) -> None:
    """Prepare the recorder's database before `hass` starts (it needs to be first)."""


async def test_late_minutes_become_statistics(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    tigo: TigoSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Hours completed late (and revised) land in long-term statistics, exactly."""
    freezer.move_to(NOON)
    await setup(hass, make_entry(tigo))
    for _ in range(12):  # three hours of quarter-hour updates
        await tick(hass, freezer, timedelta(minutes=15))
        # Updates are minutes apart: each import is committed before the next.
        await async_wait_recording_done(hass)
    stat_id = f"{DOMAIN}:tigo_{SID}_production"
    start = datetime(2026, 6, 21, 0, 0, tzinfo=ZONE)
    stats = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        start,
        start + timedelta(days=1),
        {stat_id},
        "hour",
        None,
        {"state", "sum"},
    )
    rows = stats[stat_id]
    hours = [datetime.fromtimestamp(r["start"], ZONE).hour for r in rows]
    assert hours == list(range(4, 14))  # dawn to 13:00; 14:00 is still open
    total = 0.0
    for row in rows:
        local = datetime.fromtimestamp(row["start"], ZONE).replace(tzinfo=None)
        assert row["state"] == pytest.approx(tigo.hour_wh(local), abs=0.01)
        total += tigo.hour_wh(local)
        assert row["sum"] == pytest.approx(total, abs=0.05)
    coordinator = hass.config_entries.async_get_entry(ENTRY_ID).runtime_data  # type: ignore[union-attr]
    assert coordinator.importer.last_window["production"][2] >= 1


async def test_free_account_end_to_end(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    tigo: TigoSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The app API: panel power, energy today, statistics; no lifetime, no alerts."""
    freezer.move_to(NOON)
    await setup(hass, make_entry(tigo, "app"))
    for label, _oid in OBJECT_IDS.items():
        state = hass.states.get(entity_id(hass, panel(label), "panel_power"))
        assert state is not None
        assert float(state.state) > 0
    energy = tigo._mapi_energy({"date": "2026-06-21"})
    assert value(hass, SID, "production_energy_today") == pytest.approx(
        energy["dailyStats"]["total_agg_energy"] / 1000  # Wh, shown in kWh
    )
    registry = er.async_get(hass)
    assert (
        registry.async_get_entity_id(
            "sensor", DOMAIN, f"tigo_{SID}_production_energy_lifetime"
        )
        is None
    )
    daily = registry.async_get(entity_id(hass, panel("A1"), "panel_energy_today"))
    assert daily is not None
    assert daily.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert (
        registry.async_get_entity_id("sensor", DOMAIN, f"tigo_{panel('A1')}_rssi")
        is None
    )
    await tick(hass, freezer, timedelta(minutes=20))
    await async_wait_recording_done(hass)
    stat_id = f"{DOMAIN}:tigo_{SID}_production"
    stats = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        NOON - timedelta(hours=12),
        NOON + timedelta(hours=1),
        {stat_id},
        "hour",
        None,
        {"state"},
    )
    rows = stats[stat_id]
    hours = [datetime.fromtimestamp(r["start"], ZONE).hour for r in rows]
    assert hours == list(range(4, 4 + len(hours)))
    assert hours[-1] == 11  # 11:59 had arrived by 12:10
    for row in rows:
        local = datetime.fromtimestamp(row["start"], ZONE).replace(tzinfo=None)
        assert row["state"] == pytest.approx(tigo.hour_wh(local), abs=0.01)


async def test_first_setup_backfills_past_days(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    tigo: TigoSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Premium: seven past days of the lifetime counter, one CSV each, ending at sum 0."""
    freezer.move_to(NOON)
    entry = make_entry(tigo)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options={CONF_BACKFILL_DAYS: 7})
    await hass.config.async_set_time_zone("America/Phoenix")
    hass.config.latitude, hass.config.longitude = 33.45, -112.07
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    for _ in range(3):
        await tick(hass, freezer, timedelta(seconds=61))
    await async_wait_recording_done(hass)
    backfill = entry.runtime_data.backfill
    assert backfill is not None
    assert backfill.requests == 7
    lifetime = entity_id(hass, SID, "production_energy_lifetime")
    rows = (
        await get_instance(hass).async_add_executor_job(
            statistics_during_period,
            hass,
            NOON - timedelta(days=8),
            NOON,
            {lifetime},
            "hour",
            None,
            {"state", "sum"},
        )
    )[lifetime]
    days = {datetime.fromtimestamp(r["start"], ZONE).date() for r in rows}
    assert len(days) == 7
    assert rows[-1]["sum"] == pytest.approx(0.0, abs=1e-6)
    # Hourly differences are the simulator's hours (Wh, the sensor shows kWh).
    last = datetime.fromtimestamp(rows[-1]["start"], ZONE).replace(tzinfo=None)
    assert rows[-1]["sum"] - rows[-2]["sum"] == pytest.approx(
        tigo.hour_wh(last) / 1000, abs=1e-3
    )
