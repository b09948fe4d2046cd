"""What an Enphase system looks like in Home Assistant: entities, devices, diagnostics."""

from datetime import timedelta
import json
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_ON, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.sungaze.const import DOMAIN

from .conftest import ENPHASE_SYSTEM_ID, NOON, tick as _tick
from .simulators.enphase import EnphaseSimulator

GATEWAY = "122233445566"
MICRO = "482233001100"


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("platform", [Platform.SENSOR, Platform.BINARY_SENSOR])
async def test_entities(
    phoenix: HomeAssistant,
    enphase: EnphaseSimulator,
    enphase_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    freezer: FrozenDateTimeFactory,
    platform: Platform,
) -> None:
    """Every entity of the system at noon, an hour after setup (events included)."""
    freezer.move_to(NOON)
    enphase.add_alarm(type_id=28, severity=2)
    enphase_entry.add_to_hass(phoenix)
    with patch("custom_components.sungaze.PLATFORMS", [platform]):
        assert await phoenix.config_entries.async_setup(enphase_entry.entry_id)
        await phoenix.async_block_till_done()
        await _tick(phoenix, freezer, enphase_entry.runtime_data.update_interval)
    entries = er.async_entries_for_config_entry(entity_registry, enphase_entry.entry_id)
    assert entries
    assert {entry.domain for entry in entries} == {platform}
    for entry in sorted(entries, key=lambda e: e.entity_id):
        if MICRO[:-2] in entry.entity_id and MICRO not in entry.entity_id:
            continue  # one micro stands for all sixteen
        state = phoenix.states.get(entry.entity_id)
        assert state is not None, entry.entity_id
        assert entry == snapshot(name=f"{entry.entity_id}-entry")
        assert state == snapshot(name=f"{entry.entity_id}-state")


async def test_micros_hang_off_the_gateway(
    hass: HomeAssistant,
    init_enphase: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """System → gateway → micro; per-micro power on, technical sensors off."""

    def device(serial: str) -> dr.DeviceEntry | None:
        return device_registry.async_get_device_by_identifier(
            (DOMAIN, f"enphase_{serial}"), init_enphase.entry_id
        )

    site, gateway = device(ENPHASE_SYSTEM_ID), device(GATEWAY)
    micro, battery = device(MICRO), device("492312001241")
    assert site is not None
    assert gateway is not None
    assert micro is not None
    assert battery is not None
    assert gateway.via_device_id == site.id
    assert micro.via_device_id == gateway.id
    assert battery.via_device_id == gateway.id
    assert gateway.sw_version == "D8.2.4264 (a1b2c3)"
    assert micro.model == "IQ7+"
    disabled = {
        key: entry.disabled_by
        for key in ("ac_power", "ac_energy", "data_age")
        if (entry := entity_registry.async_get(f"sensor.microinverter_{MICRO}_{key}"))
    }
    assert disabled == {
        "ac_power": None,
        "ac_energy": er.RegistryEntryDisabler.INTEGRATION,
        "data_age": er.RegistryEntryDisabler.INTEGRATION,
    }
    assert float(hass.states.get(f"sensor.microinverter_{MICRO}_ac_power").state) > 0
    lifetime = hass.states.get("sensor.home_solar_energy")
    assert lifetime.attributes["state_class"] == "total_increasing"
    assert lifetime.attributes["unit_of_measurement"] == "kWh"


async def test_micros_come_and_go_with_the_inventory(
    hass: HomeAssistant,
    init_enphase: MockConfigEntry,
    enphase: EnphaseSimulator,
    freezer: FrozenDateTimeFactory,
    device_registry: dr.DeviceRegistry,
) -> None:
    """A replaced micro leaves the registry; its successor appears under the gateway."""
    system = enphase.systems[int(ENPHASE_SYSTEM_ID)]
    system.micro_serials[-1] = "482233009999"
    await _tick(hass, freezer, timedelta(days=1))
    await _tick(hass, freezer, init_enphase.runtime_data.update_interval)
    identifiers = {
        ident
        for device in dr.async_entries_for_config_entry(
            device_registry, init_enphase.entry_id
        )
        for ident in device.identifiers
    }
    assert (DOMAIN, "enphase_482233001115") not in identifiers
    assert (DOMAIN, "enphase_482233009999") in identifiers
    assert (
        float(hass.states.get("sensor.microinverter_482233009999_ac_power").state) >= 0
    )


async def test_gateway_event_turns_its_problem_sensor_on(
    hass: HomeAssistant,
    init_enphase: MockConfigEntry,
    enphase: EnphaseSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An open "Gateway not reporting" event shows on the gateway's problem sensor."""
    problem = f"binary_sensor.gateway_{GATEWAY}_problem"
    assert hass.states.get(problem).state == "off"
    enphase.add_event(type_id=28)
    await _tick(hass, freezer, timedelta(days=1))
    # The new day's inventory filled the minute: events come with the catch-up.
    await _tick(hass, freezer, init_enphase.runtime_data.update_interval)
    state = hass.states.get(problem)
    assert state.state == STATE_ON
    assert state.attributes["alerts"][0]["message"] == "Gateway not reporting"


SECRETS_FROM_SIM = ("api_key", "client_secret")


async def test_diagnostics_are_redacted(
    hass: HomeAssistant,
    init_enphase: MockConfigEntry,
    enphase: EnphaseSimulator,
    hass_client: ClientSessionGenerator,
) -> None:
    """Tokens, key, client secret, serials and ids never appear; notes do."""
    result = await get_diagnostics_for_config_entry(hass, hass_client, init_enphase)
    text = json.dumps(result)
    token = init_enphase.data["token"]
    secrets = (
        enphase.app0.api_key,
        enphase.app0.client_secret,
        enphase.app0.client_id,
        token["access_token"],
        token["refresh_token"],
        ENPHASE_SYSTEM_ID,
        GATEWAY,
        MICRO,
        "492312001241",
        enphase.owner,
    )
    for secret in secrets:
        assert secret not in text, secret
    assert result["entry"]["data"]["token"] == "**REDACTED**"
    assert result["connector"]["plan"] == "watt"
    assert "Watt plan" in result["snapshot"]["notes"]["devices/micros/telemetry"]
    kinds = {device["kind"] for device in result["snapshot"]["devices"]}
    assert kinds == {"site", "gateway", "battery", "microinverter"}
