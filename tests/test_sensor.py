"""Entity snapshots: what a SolarEdge site looks like in Home Assistant."""

from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from .conftest import NOON
from .simulators.solaredge import SolarEdgeSimulator


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("platform", [Platform.SENSOR, Platform.BINARY_SENSOR])
async def test_entities(
    phoenix: HomeAssistant,
    solaredge: SolarEdgeSimulator,
    solaredge_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    freezer: FrozenDateTimeFactory,
    platform: Platform,
) -> None:
    """Every entity of a site at noon, with units, classes and states."""
    freezer.move_to(NOON)
    solaredge.add_alert(impact=5, alert_type="Grid voltage out of range")
    solaredge_entry.add_to_hass(phoenix)
    with patch("custom_components.sungaze.PLATFORMS", [platform]):
        assert await phoenix.config_entries.async_setup(solaredge_entry.entry_id)
        await phoenix.async_block_till_done()
    await snapshot_platform(
        phoenix, entity_registry, snapshot, solaredge_entry.entry_id
    )


async def test_technical_sensors_disabled_by_default(
    hass: HomeAssistant,
    init_solaredge: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Fine-grained sensors are off until the user wants them; main ones are on."""
    peak = entity_registry.async_get("sensor.home_peak_power")
    assert peak is not None
    assert peak.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    power = entity_registry.async_get("sensor.home_solar_power")
    assert power is not None
    assert power.disabled_by is None


async def test_energy_sensors_are_dashboard_ready(
    hass: HomeAssistant, init_solaredge: MockConfigEntry
) -> None:
    """The lifetime counter is a total_increasing energy sensor in kWh."""
    state = hass.states.get("sensor.home_solar_energy")
    assert state.attributes["device_class"] == "energy"
    assert state.attributes["state_class"] == "total_increasing"
    assert state.attributes["unit_of_measurement"] == "kWh"
