"""EG4 entities set up through Home Assistant against the simulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import json
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.sungaze.const import DOMAIN
from custom_components.sungaze.diagnostics import async_get_config_entry_diagnostics

from .conftest import EG4_PASSWORD, EG4_USERNAME
from .simulators.eg4 import EG4Simulator

NOON = datetime(2026, 6, 21, 19, 0, tzinfo=UTC)  # 12:00 in Phoenix
MORNING = datetime(2026, 6, 21, 16, 30, tzinfo=UTC)  # 09:30: batteries charging
INVERTER = "sensor.18kpv_4512670002"
STATION = "sensor.home"


async def setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


async def next_update(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Let the coordinator's planned update (60 s) run."""
    freezer.tick(timedelta(seconds=61))
    async_fire_time_changed(hass)
    # The coordinator refreshes in a background task.
    await hass.async_block_till_done(wait_background_tasks=True)


def number(hass: HomeAssistant, entity_id: str) -> float:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return float(state.state)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities(
    phoenix: HomeAssistant,
    eg4_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Every sensor of the Home station (parallel pair, GridBOSS, modules) at 09:30."""
    freezer.move_to(MORNING)
    eg4_entry.add_to_hass(phoenix)
    phoenix.config_entries.async_update_entry(
        eg4_entry, data={**eg4_entry.data, "station_ids": ["31002"]}
    )
    with patch("custom_components.sungaze.PLATFORMS", [Platform.SENSOR]):
        assert await phoenix.config_entries.async_setup(eg4_entry.entry_id)
        await phoenix.async_block_till_done()
    await snapshot_platform(phoenix, entity_registry, snapshot, eg4_entry.entry_id)


async def test_battery_modules_disabled_by_default(
    phoenix: HomeAssistant,
    eg4_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Module entities start disabled; the inverter's battery figures do not."""
    await setup(phoenix, eg4_entry)
    module = entity_registry.async_get("sensor.4512670001_battery_1_state_of_charge")
    assert module is not None
    assert module.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    # "Battery_ID_01" is the slot's label under every inverter, not a serial.
    device = dr.async_get(phoenix).async_get(module.device_id or "")
    assert device is not None
    assert device.serial_number is None
    inverter = entity_registry.async_get(f"{INVERTER}_battery_state_of_charge")
    assert inverter is not None
    assert inverter.disabled_by is None


async def test_counter_guard_holds_a_lifetime_drop(
    phoenix: HomeAssistant,
    eg4: EG4Simulator,
    eg4_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A portal glitch that lowers lifetime counters is not published."""
    freezer.move_to(NOON)
    await setup(phoenix, eg4_entry)
    solar, station = f"{INVERTER}_solar_energy", f"{STATION}_solar_energy"
    before, station_before = number(phoenix, solar), number(phoenix, station)
    assert before == eg4.energy("4512670002")["totalYielding"] * 100 / 1000  # kWh shown

    eg4.counter_drop = 50  # 5 kWh lower for a while
    await next_update(phoenix, freezer)
    raw = eg4_entry.runtime_data.data.value("4512670002", "production_energy_lifetime")
    assert isinstance(raw, float)
    assert raw < before * 1000  # the drop did reach the coordinator...
    assert number(phoenix, solar) == before  # ...and was not published
    assert number(phoenix, station) == station_before

    eg4.counter_drop = 0
    await next_update(phoenix, freezer)
    assert number(phoenix, solar) >= before
    assert number(phoenix, station) >= station_before


async def test_near_zero_glitch_is_not_a_new_meter(
    phoenix: HomeAssistant,
    eg4: EG4Simulator,
    eg4_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Eight updates of near-zero lifetime counters, then the real ones (issue 9).

    Nothing is published during the glitch, the real values flow at once
    afterwards, and the whole episode logs one warning line, not one per counter.
    """
    freezer.move_to(NOON)
    await setup(phoenix, eg4_entry)
    solar, station = f"{INVERTER}_solar_energy", f"{STATION}_solar_energy"
    before, station_before = number(phoenix, solar), number(phoenix, station)
    caplog.clear()
    eg4.counter_glitch = True
    for _ in range(8):
        await next_update(phoenix, freezer)
        assert number(phoenix, solar) == before
        assert number(phoenix, station) == station_before
    warnings = [
        r
        for r in caplog.records
        if r.name.endswith("model") and r.levelname == "WARNING"
    ]
    assert len(warnings) == 1
    assert "Energy counters went backwards" in warnings[0].getMessage()
    eg4.counter_glitch = False
    await next_update(phoenix, freezer)
    real = eg4.energy("4512670002")["totalYielding"] * 100 / 1000
    assert number(phoenix, solar) == real >= before


async def test_vendor_clock_fast_does_not_freeze_counters(
    phoenix: HomeAssistant,
    eg4: EG4Simulator,
    eg4_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The portal stamps data 3 h ahead for a while; once fixed, counters move on."""
    freezer.move_to(NOON)
    eg4.clock_skew = timedelta(hours=3)
    await setup(phoenix, eg4_entry)
    solar = f"{INVERTER}_solar_energy"
    for _ in range(3):
        await next_update(phoenix, freezer)
    skewed = number(phoenix, solar)
    eg4.clock_skew = timedelta()
    for _ in range(4):
        await next_update(phoenix, freezer)
    real = eg4.energy("4512670002")["totalYielding"] * 100 / 1000
    assert number(phoenix, solar) == real > skewed


async def test_lost_inverter_is_unknown_with_last_report(
    phoenix: HomeAssistant,
    eg4: EG4Simulator,
    eg4_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A lost dongle: values unknown (not frozen), its data age grows."""
    freezer.move_to(NOON)
    await setup(phoenix, eg4_entry)
    last_report = phoenix.states.get(f"{INVERTER}_data_age")
    assert last_report is not None
    eg4.lose("4512670002")
    freezer.tick(timedelta(minutes=10))
    await next_update(phoenix, freezer)

    for key in (
        "battery_power",
        "solar_power",
        "battery_state_of_charge",
        "solar_energy",
    ):
        state = phoenix.states.get(f"{INVERTER}_{key}")
        assert state is not None
        assert state.state == STATE_UNKNOWN, key
    after = phoenix.states.get(f"{INVERTER}_data_age")
    assert after is not None
    assert float(after.state) >= float(last_report.state) + 10
    assert phoenix.states.get(f"{STATION}_solar_power").state == STATE_UNKNOWN
    assert (
        phoenix.states.get("sensor.18kpv_4512670001_solar_power").state != STATE_UNKNOWN
    )


async def test_session_expiry_mid_run_needs_no_reauth(
    phoenix: HomeAssistant,
    eg4: EG4Simulator,
    eg4_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The portal drops the session: the next update logs in again by itself."""
    freezer.move_to(NOON)
    await setup(phoenix, eg4_entry)
    eg4.expire_sessions()
    await next_update(phoenix, freezer)
    assert eg4.logins == 2
    assert eg4_entry.state is ConfigEntryState.LOADED
    assert not phoenix.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert phoenix.states.get(f"{INVERTER}_solar_power").state not in (
        "unknown",
        "unavailable",
    )
    assert phoenix.states.get(f"sensor.eg4_{EG4_USERNAME}_connection").state == "ok"


async def test_password_changed_mid_run_starts_reauth(
    phoenix: HomeAssistant,
    eg4: EG4Simulator,
    eg4_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A refused re-login is a wrong password: Home Assistant asks for a new one."""
    freezer.move_to(NOON)
    await setup(phoenix, eg4_entry)
    eg4.account.password = "changed-by-owner"
    eg4.expire_sessions()
    await next_update(phoenix, freezer)
    flows = phoenix.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]


async def test_diagnostics_redact_identities(
    phoenix: HomeAssistant,
    eg4: EG4Simulator,
    eg4_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """No serial, station name or id, address or credential reaches diagnostics."""
    freezer.move_to(NOON)
    await setup(phoenix, eg4_entry)
    diagnostics = await async_get_config_entry_diagnostics(phoenix, eg4_entry)
    text = json.dumps(diagnostics, default=str)

    secrets = [EG4_USERNAME, EG4_PASSWORD, eg4.account.email, eg4.account.address]
    for plant in eg4.account.plants:
        secrets += [plant.name, plant.address, f'"{plant.plant_id}"']
        secrets += [inverter.serial for inverter in plant.inverters]
    secrets.append("Battery_ID_01")
    leaks = [secret for secret in secrets if secret in text]
    assert leaks == []
    # ...while still saying what matters.
    assert diagnostics["status"] == "ok"
    assert diagnostics["connector"]["requests_by_endpoint"]["getInverterRuntime"] == 3
    readings = diagnostics["snapshot"]["readings"]
    assert any(r["values"].get("operating_mode") for r in readings.values())
    assert sum(r["online"] for r in readings.values()) == len(readings)


async def test_own_session_is_closed_on_unload(
    phoenix: HomeAssistant,
    eg4_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The entry's cookie-jar session does not outlive the entry (reloads leak none).

    It is detached, as HA's session helper asks: closing it would warn.
    """
    await setup(phoenix, eg4_entry)
    session = eg4_entry.runtime_data.connector._session
    assert session is not None
    assert not session.closed
    assert await phoenix.config_entries.async_unload(eg4_entry.entry_id)
    assert session.closed
    assert "closes the Home Assistant aiohttp session" not in caplog.text
