"""The whole home in HA: flow, combined values from two vendors, reload and removal."""

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sungaze.const import DOMAIN
from custom_components.sungaze.energy import async_add_sources, issue_id
from custom_components.sungaze.model import site_total

from .conftest import NOON, tick as _tick
from .simulators.eg4 import EG4Simulator
from .simulators.solaredge import SolarEdgeSimulator

SOLAR = "sensor.whole_home_solar_power"
GRID = "sensor.whole_home_grid_power"
LIFETIME = "sensor.whole_home_solar_energy"


@pytest.fixture(autouse=True)
def _noon(freezer: FrozenDateTimeFactory) -> None:
    freezer.move_to(NOON)


async def _add_home(hass: HomeAssistant, **form: object) -> str:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "home"}
    )
    assert result["step_id"] == "home"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": "Whole home", **form}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    return str(result["result"].entry_id)


def _expected(hass: HomeAssistant, key: str) -> float:
    total = 0.0
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        if entry.data["vendor"] != "home":
            total += site_total(entry.runtime_data.data, key) or 0.0
    return total


async def test_home_combines_two_vendors(
    hass: HomeAssistant,
    init_solaredge: MockConfigEntry,
    eg4: EG4Simulator,
    eg4_entry: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Solar adds up across vendors; the grid is the chosen member's only."""
    eg4_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(eg4_entry.entry_id)
    await hass.async_block_till_done()
    home_id = await _add_home(hass, grid_member=eg4_entry.entry_id)
    for s in hass.states.async_all():
        if "whole_home" in s.entity_id:
            print("STATE", s.entity_id, s.state)
    solar = float(hass.states.get(SOLAR).state)
    assert solar == pytest.approx(_expected(hass, "production_power"), abs=1)
    assert solar > 0
    grid = site_total(eg4_entry.runtime_data.data, "grid_power")
    assert grid is not None
    assert float(hass.states.get(GRID).state) == pytest.approx(grid, abs=1)

    # Counters start from where the members stood and only go up.
    start = float(hass.states.get(LIFETIME).state)
    await _tick(hass, freezer, timedelta(minutes=30))
    risen = float(hass.states.get(LIFETIME).state)
    assert risen >= start
    # A member reload and its removal never dip the combined counter.
    await hass.config_entries.async_reload(eg4_entry.entry_id)
    await hass.async_block_till_done()
    assert float(hass.states.get(LIFETIME).state) >= risen
    await hass.config_entries.async_remove(eg4_entry.entry_id)
    await hass.async_block_till_done()
    after = float(hass.states.get(LIFETIME).state)
    assert after >= risen
    solar_now = float(hass.states.get(SOLAR).state)
    assert solar_now == pytest.approx(_expected(hass, "production_power"), abs=1)

    # The Home survives its own reload with the same counter.
    await hass.config_entries.async_reload(home_id)
    await hass.async_block_till_done()
    assert float(hass.states.get(LIFETIME).state) >= after


async def test_home_needs_a_member(hass: HomeAssistant) -> None:
    """Without any vendor entry there is nothing to combine."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "home"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_members"


async def test_home_rejects_empty_selection(
    hass: HomeAssistant, init_solaredge: MockConfigEntry
) -> None:
    """Choosing no entry is refused in the form."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "home"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": "Whole home", "members": []}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"members": "no_member"}


async def test_underperformance_raises_a_repair(
    hass: HomeAssistant,
    hass_storage: dict[str, object],
    init_solaredge: MockConfigEntry,
    eg4_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Three sunny days of a shaded array: a problem, an event and a repair issue."""
    eg4_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(eg4_entry.entry_id)
    await hass.async_block_till_done()
    se, eg = init_solaredge.entry_id, eg4_entry.entry_id
    home = MockConfigEntry(
        domain=DOMAIN,
        title="Whole home",
        unique_id="home_h1",
        data={
            "vendor": "home",
            "home_id": "h1",
            "name": "Whole home",
            "time_zone": "America/Phoenix",
        },
        options={"peak_power": {se: 5.0, eg: 5.0}},
    )
    days = ["2026-06-17", "2026-06-18", "2026-06-19", "2026-06-20"]
    hass_storage[f"{DOMAIN}.state.{home.entry_id}"] = {
        "version": 1,
        "key": f"{DOMAIN}.state.{home.entry_id}",
        "data": {
            "yields": {
                se: dict.fromkeys(days, 30_000.0),
                eg: dict.fromkeys(days, 15_000.0),
            },
            "titles": {se: init_solaredge.title, eg: eg4_entry.title},
        },
    }
    home.add_to_hass(hass)
    await hass.config_entries.async_setup(home.entry_id)
    await hass.async_block_till_done()
    problem = hass.states.get("binary_sensor.whole_home_problem")
    assert problem.state == "on"
    message = problem.attributes["alerts"][0]["message"]
    assert message.startswith(f"{eg4_entry.title} made 3.00 kWh/kWp on 2026-06-20")
    issues = [
        i for (d, i) in ir.async_get(hass).issues if d == DOMAIN and "alert_" in i
    ]
    assert issues == [f"alert_underperformance_{eg}_{home.entry_id}"]


async def test_energy_offer_is_for_the_home_or_its_members(
    hass: HomeAssistant, init_solaredge: MockConfigEntry
) -> None:
    """Once a member's sources are on the dashboard, the Home offers none."""
    home_id = await _add_home(hass)
    home = hass.config_entries.async_get_entry(home_id)
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, issue_id(home)) is not None
    assert await async_add_sources(hass, init_solaredge) > 0
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, issue_id(home)) is None
    assert await async_add_sources(hass, home) == 0


async def test_array_sizes_in_the_home_options(
    hass: HomeAssistant, init_solaredge: MockConfigEntry, eg4_entry: MockConfigEntry
) -> None:
    """Each member's size and its source are listed; one is set, then cleared."""
    eg4_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(eg4_entry.entry_id)
    await hass.async_block_till_done()
    se, eg = init_solaredge.entry_id, eg4_entry.entry_id
    home_id = await _add_home(hass)
    home = hass.config_entries.async_get_entry(home_id)
    assert home is not None

    async def _submit(**form: object) -> dict:
        result = await hass.config_entries.options.async_init(home_id)
        assert result["type"] is FlowResultType.FORM
        labels = {
            o["value"]: o["label"]
            for o in result["data_schema"].schema["peak_member"].config["options"]
        }
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"members": [se, eg], "grid_member": "auto", **form}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        await hass.async_block_till_done()
        return labels

    labels = await _submit(peak_member=eg, peak_power=7.5)
    peak_w = init_solaredge.runtime_data.data.sites[
        next(iter(init_solaredge.runtime_data.data.sites))
    ].peak_power_w
    assert (
        labels[se] == f"{init_solaredge.title} ({peak_w / 1000:g} kWp, from the vendor)"
    )
    assert home.options["peak_power"] == {eg: 7.5}
    assert "members" not in home.options  # every entry: later ones too
    labels = await _submit()
    assert labels[eg] == f"{eg4_entry.title} (7.5 kWp, set here)"
    assert home.options["peak_power"] == {eg: 7.5}  # untouched without a choice
    await _submit(peak_member=eg, peak_power=0)
    assert "peak_power" not in home.options
