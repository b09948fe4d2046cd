"""Generac PWRcell in Home Assistant: entities, token rotation, derived counters."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from datetime import timedelta
import json
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.sungaze.const import DOMAIN

from .conftest import NOON
from .simulators.generac import (
    DEMO_REFRESH_TOKEN,
    HOME_ID,
    SERIAL,
    USER_ID,
    GeneracSimulator,
    demo_entry,
    powers,
    true_energy,
)


def _stored(hass_storage: dict[str, Any], entry_id: str) -> dict[str, Any]:
    """What is on disk for an entry."""
    entries = hass_storage["core.config_entries"]["data"]["entries"]
    return next(e for e in entries if e["entry_id"] == entry_id)["data"]


def _entity(hass: HomeAssistant, device_id: str, key: str) -> str:
    registry = er.async_get(hass)
    entity_id = registry.async_get_entity_id(
        "sensor", DOMAIN, f"generac_{device_id}_{key}"
    )
    assert entity_id is not None, (device_id, key)
    return entity_id


def _value(hass: HomeAssistant, device_id: str, key: str) -> float:
    state = hass.states.get(_entity(hass, device_id, key))
    assert state is not None
    return float(state.state)


async def _tick(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta
) -> None:
    freezer.tick(delta)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


@pytest.fixture
def entry(generac: GeneracSimulator) -> MockConfigEntry:
    """A refresh-token entry pointing at the simulator."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="42 Sunny Ln",
        unique_id=f"generac_{HOME_ID}",
        data={
            "vendor": "generac",
            "auth_method": "refresh_token",
            "user_id": USER_ID,
            "refresh_token": generac.portal_tokens()["refreshToken"],
            "site_id": HOME_ID,
            "url": generac.base_url,
        },
    )


@pytest.fixture
async def loaded(
    phoenix: HomeAssistant, entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> MockConfigEntry:
    """The entry set up at noon."""
    freezer.move_to(NOON)
    entry.add_to_hass(phoenix)
    assert await phoenix.config_entries.async_setup(entry.entry_id)
    await phoenix.async_block_till_done()
    return entry


async def test_entities_and_devices(
    hass: HomeAssistant, loaded: MockConfigEntry
) -> None:
    """Site powers (W, signs as the Energy dashboard wants) and the device tree."""
    p = powers(NOON.timestamp())
    assert _value(hass, HOME_ID, "production_power") == pytest.approx(p["solar"], abs=1)
    assert _value(hass, HOME_ID, "grid_power") == pytest.approx(p["grid"], abs=1)
    assert _value(hass, HOME_ID, "battery_power") == pytest.approx(p["battery"], abs=1)
    state = hass.states.get(_entity(hass, SERIAL, "system_mode"))
    assert state is not None
    assert state.state == "self_supply"
    state = hass.states.get(_entity(hass, HOME_ID, "grid_import_energy_lifetime"))
    assert state is not None
    assert state.attributes["state_class"] == "total_increasing"
    devices = dr.async_get(hass)
    entry_id = loaded.entry_id
    inverter = devices.async_get_device_by_identifier(
        (DOMAIN, f"generac_{SERIAL}"), entry_id
    )
    battery = devices.async_get_device_by_identifier(
        (DOMAIN, f"generac_{SERIAL}_battery_1"), entry_id
    )
    home = devices.async_get_device_by_identifier(
        (DOMAIN, f"generac_{HOME_ID}"), entry_id
    )
    assert inverter is not None
    assert battery is not None
    assert home is not None
    assert battery.via_device_id == inverter.id
    assert inverter.via_device_id == home.id
    assert inverter.serial_number == SERIAL
    assert loaded.runtime_data.update_interval == timedelta(minutes=2)


async def test_empty_telemetry_and_lifetime_dips(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    generac: GeneracSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """`[]` keeps values available; a one-poll lifetime dip is held back."""
    power = _entity(hass, HOME_ID, "production_power")
    before = hass.states.get(power)
    lifetime = _value(hass, f"{SERIAL}_pvl_1", "production_energy_lifetime")
    generac.empty_telemetry = 1
    generac.dip_homes = True
    await _tick(hass, freezer, timedelta(minutes=2))
    after = hass.states.get(power)
    assert before is not None
    assert after is not None
    assert after.state == before.state != STATE_UNAVAILABLE
    assert _value(hass, f"{SERIAL}_pvl_1", "production_energy_lifetime") == lifetime
    await _tick(hass, freezer, timedelta(minutes=2))
    assert _value(hass, f"{SERIAL}_pvl_1", "production_energy_lifetime") > lifetime


async def test_rotated_token_is_on_disk_before_use_even_when_cancelled(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    generac: GeneracSimulator,
    hass_storage: dict[str, Any],
    freezer: FrozenDateTimeFactory,
) -> None:
    """The update is cancelled after Generac rotated: the new token still lands.

    The simulator holds its answer after killing the old token, the moment at
    which a client that dies loses the sign-in. The next update waits for that
    refresh instead of spending the dead token; a "restart" from disk works.
    """
    entry = loaded
    old = entry.data["refresh_token"]
    generac.expire_tokens()
    generac.hold_refresh = asyncio.Event()
    generac.refresh_seen.clear()
    update = hass.async_create_task(entry.runtime_data.async_refresh())
    await generac.refresh_seen.wait()
    assert old not in generac.refresh_tokens  # the old one is dead now
    update.cancel()
    with suppress(asyncio.CancelledError):
        await update
    second = hass.async_create_task(entry.runtime_data.async_refresh())
    await asyncio.sleep(0)
    generac.hold_refresh.set()
    await second
    await hass.async_block_till_done()
    on_disk = _stored(hass_storage, entry.entry_id)
    assert on_disk["refresh_token"] in generac.refresh_tokens
    assert entry.data["refresh_token"] == on_disk["refresh_token"]
    assert generac.requests.count("refresh") == 2  # setup + this one, never twice
    assert entry.runtime_data.last_update_success
    # "Restart": an entry built from the disk alone sets up without a sign-in.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.config_entries.async_remove(entry.entry_id)
    revived = MockConfigEntry(
        domain=DOMAIN, title="42 Sunny Ln", unique_id=entry.unique_id, data=on_disk
    )
    revived.add_to_hass(hass)
    assert await hass.config_entries.async_setup(revived.entry_id)
    await hass.async_block_till_done()
    assert revived.state is ConfigEntryState.LOADED
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def test_derived_counters_survive_a_reload(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    generac: GeneracSimulator,
    hass_storage: dict[str, Any],
    freezer: FrozenDateTimeFactory,
) -> None:
    """Unload saves the integrator; after 10 minutes down nothing is lost or doubled."""
    entry = loaded
    start = NOON.timestamp() - 90  # the first answer's first sample
    for _ in range(5):
        await _tick(hass, freezer, timedelta(minutes=2))
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    saved = hass_storage[f"sungaze.state.{entry.entry_id}"]["data"]
    assert saved["home_id"] == HOME_ID
    assert saved["last_ts"] == NOON.timestamp() + 600
    freezer.tick(timedelta(minutes=10))
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    for _ in range(3):
        await _tick(hass, freezer, timedelta(minutes=2))
    end = NOON.timestamp() + 600 + 600 + 360
    truth = true_energy(start, end)
    # Shown in kWh (the suggested unit).
    exported = 1000 * _value(hass, HOME_ID, "grid_export_energy_lifetime")
    charged = 1000 * _value(hass, HOME_ID, "battery_charge_energy_lifetime")
    assert exported == pytest.approx(truth["export"], rel=1e-4)
    assert charged == pytest.approx(truth["charge"], rel=1e-4)
    # Removing the entry removes what was kept for it.
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert f"sungaze.state.{entry.entry_id}" not in hass_storage


async def test_one_reauth_and_no_secret_in_logs_or_diagnostics(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    generac: GeneracSimulator,
    freezer: FrozenDateTimeFactory,
    hass_client: ClientSessionGenerator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A revoked token: one reauth, one refused refresh, even across a reload."""
    caplog.set_level(logging.DEBUG)
    entry = loaded
    token = entry.data["refresh_token"]
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics)
    for secret in (token, USER_ID, HOME_ID, generac.base_url):
        assert secret not in text
    assert diagnostics["connector"]["auth_method"] == "refresh_token"
    generac.revoke_refresh_tokens()
    generac.expire_tokens()
    for _ in range(5):
        await _tick(hass, freezer, timedelta(minutes=30))
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len(flows) == 1
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert generac.requests.count("refresh") == 2  # setup, then the refused one
    assert len(hass.config_entries.flow.async_progress_by_handler(DOMAIN)) == 1
    assert token not in caplog.text


async def test_demo_entry_works(
    phoenix: HomeAssistant, socket_enabled: None, freezer: FrozenDateTimeFactory
) -> None:
    """What scripts/develop writes sets up against the demo simulator, restart after restart."""
    hass = phoenix
    freezer.move_to(NOON)
    sim = GeneracSimulator(demo=True)
    await sim.start()
    try:
        port = int(sim.base_url.rsplit(":", 1)[1])
        stored = demo_entry("127.0.0.1", port)
        entry = MockConfigEntry(
            domain=DOMAIN,
            title=stored["title"],
            unique_id=stored["unique_id"],
            data=stored["data"],
            options=stored["options"],
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert _value(hass, HOME_ID, "production_power") > 0
        assert entry.data["refresh_token"] == DEMO_REFRESH_TOKEN  # never rotates
        await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await sim.stop()


async def test_options_may_go_slower_not_faster(
    hass: HomeAssistant, loaded: MockConfigEntry
) -> None:
    """The 2-minute floor holds in the options; a slower interval is used."""
    result = await hass.config_entries.options.async_init(loaded.entry_id)
    assert result["description_placeholders"] == {"floor": "2"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"min_interval": 1}
    )
    assert result["errors"] == {"min_interval": "interval_too_short"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"min_interval": 5}
    )
    await hass.async_block_till_done()
    assert loaded.options == {"min_interval": 5}
    assert loaded.runtime_data.update_interval == timedelta(minutes=5)


async def test_requests_per_hour(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    generac: GeneracSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Steady state: 2 requests every 2 minutes and one token refresh an hour."""
    generac.requests.clear()
    for _ in range(30):
        await _tick(hass, freezer, timedelta(minutes=2))
    assert generac.requests.count("homes") == 30
    assert generac.requests.count("telemetry") == 30
    assert generac.requests.count("refresh") == 1
    assert len(generac.requests) == 61
