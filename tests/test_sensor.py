"""Entity snapshots: what a SolarEdge site looks like in Home Assistant."""

from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
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
    entries = er.async_entries_for_config_entry(
        entity_registry, solaredge_entry.entry_id
    )
    assert entries
    assert {entry.domain for entry in entries} == {platform}
    for entry in sorted(entries, key=lambda e: e.entity_id):
        state = phoenix.states.get(entry.entity_id)
        assert state is not None, entry.entity_id
        assert _stable(entry, state, solaredge_entry.entry_id) == snapshot(
            name=entry.entity_id
        )


def _stable(entry: er.RegistryEntry, state: State, entry_id: str) -> dict[str, Any]:
    """What the user sees of an entity, without ids that change run to run."""
    return {
        "unique_id": entry.unique_id.replace(entry_id, "<entry_id>"),
        "translation_key": entry.translation_key,
        "original_name": entry.original_name,
        "device_class": entry.original_device_class,
        "entity_category": entry.entity_category,
        "unit": entry.unit_of_measurement,
        "capabilities": entry.capabilities,
        "options": dict(entry.options),
        "state": state.state,
        "attributes": dict(state.attributes),
    }


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
