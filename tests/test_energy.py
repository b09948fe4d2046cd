"""One-click Energy dashboard: the offer, the fix flow, and idempotence (SolarEdge)."""

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.energy.data import async_get_manager
from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sungaze.const import DOMAIN
from custom_components.sungaze.energy import async_add_sources, issue_id

from .conftest import NOON
from .simulators.solaredge import SolarEdgeSimulator

USER_SOLAR = {
    "type": "solar",
    "stat_energy_from": "sensor.neighbours_panels",
    "config_entry_solar_forecast": None,
}


@pytest.fixture(autouse=True)
def _noon(freezer: FrozenDateTimeFactory) -> None:
    freezer.move_to(NOON)


async def _fix(hass: HomeAssistant, entry: MockConfigEntry) -> dict:
    manager = repairs_flow_manager(hass)
    assert manager is not None
    result = await manager.async_init(DOMAIN, data={"issue_id": issue_id(entry)})
    return result


async def test_offer_and_fix(
    hass: HomeAssistant,
    solaredge_entry: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
) -> None:
    """Setup offers solar, grid and battery; the fix adds them and keeps the user's."""
    assert await async_setup_component(hass, "repairs", {})
    energy = await async_get_manager(hass)
    await energy.async_update({"energy_sources": [USER_SOLAR]})
    solaredge_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(solaredge_entry.entry_id)
    await hass.async_block_till_done()
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id(solaredge_entry))
    assert issue is not None
    assert issue.is_fixable

    result = await _fix(hass, solaredge_entry)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "confirm"
    listed = result["description_placeholders"]["sources"]
    assert "solar" in listed
    assert "grid" in listed
    assert "battery" in listed
    result = await repairs_flow_manager(hass).async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id(solaredge_entry)) is None

    sources = energy.data["energy_sources"]
    assert sources[0]["stat_energy_from"] == USER_SOLAR["stat_energy_from"]
    by_type = {s["type"]: s for s in sources[1:]}
    assert by_type["solar"]["stat_energy_from"] == "sensor.home_solar_energy"
    assert by_type["solar"]["stat_rate"] == "sensor.home_solar_power"
    grid = by_type["grid"]
    assert grid["stat_energy_from"].startswith("sensor.")
    assert grid["stat_energy_to"].startswith("sensor.")
    battery = by_type["battery"]
    assert battery["stat_soc"].startswith("sensor.")
    assert "(SolarEdge)" in by_type["solar"]["name"]

    # Idempotent: nothing is added twice, and the offer does not come back.
    assert await async_add_sources(hass, solaredge_entry) == 0
    assert len(energy.data["energy_sources"]) == len(sources)
    await hass.config_entries.async_reload(solaredge_entry.entry_id)
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id(solaredge_entry)) is None


async def test_fix_aborts_without_entry(
    hass: HomeAssistant, init_solaredge: MockConfigEntry
) -> None:
    """A fix started after the entry was unloaded says so."""
    assert await async_setup_component(hass, "repairs", {})
    await hass.config_entries.async_unload(init_solaredge.entry_id)
    result = await _fix(hass, init_solaredge)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "entry_not_loaded"


async def test_offer_clears_when_the_user_adds_the_sources(
    hass: HomeAssistant, init_solaredge: MockConfigEntry
) -> None:
    """Sources added by hand (or by another tool) clear the offer at once."""
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, issue_id(init_solaredge)) is not None
    assert await async_add_sources(hass, init_solaredge) > 0
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, issue_id(init_solaredge)) is None


async def test_a_grid_already_on_the_dashboard_is_not_offered_again(
    hass: HomeAssistant,
    solaredge_entry: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
) -> None:
    """One grid connection: another meter's grid would be added up with it."""
    assert await async_setup_component(hass, "repairs", {})
    energy = await async_get_manager(hass)
    utility_meter = {
        "type": "grid",
        "stat_energy_from": "sensor.utility_import",
        "stat_energy_to": "sensor.utility_export",
        "stat_cost": None,
        "entity_energy_price": None,
        "number_energy_price": None,
        "stat_compensation": None,
        "entity_energy_price_export": None,
        "number_energy_price_export": None,
        "cost_adjustment_day": 0.0,
    }
    await energy.async_update({"energy_sources": [utility_meter]})
    solaredge_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(solaredge_entry.entry_id)
    await hass.async_block_till_done()
    result = await _fix(hass, solaredge_entry)
    listed = result["description_placeholders"]["sources"]
    assert "solar" in listed
    assert "battery" in listed
    assert "grid" not in listed
    await repairs_flow_manager(hass).async_configure(result["flow_id"], {})
    grids = [s for s in energy.data["energy_sources"] if s["type"] == "grid"]
    assert [g["stat_energy_from"] for g in grids] == ["sensor.utility_import"]
