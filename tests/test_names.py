"""Names a user can tell apart, and the data age that does not flood the logbook."""

from datetime import timedelta

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sungaze.const import DOMAIN
from custom_components.sungaze.sensor import data_age


@pytest.mark.parametrize(
    ("minutes", "shown"),
    [
        (0, 0),
        (3.5, 0),
        (14.9, 10),
        (15, 15),
        (27, 15),
        (59, 45),
        (61, 60),
        (134, 120),
        (300, 300),
        (359, 300),
    ],
)
def test_data_age_is_coarser_as_it_grows(minutes: float, shown: int) -> None:
    """5-, then 15-, then 60-minute steps; never negative."""
    assert data_age(timedelta(minutes=minutes)) == shown
    assert data_age(timedelta(minutes=-3)) == 0


async def test_same_site_name_in_two_entries_gets_the_vendor(
    hass: HomeAssistant,
    device_registry: dr.DeviceRegistry,
    solaredge_entry: MockConfigEntry,
) -> None:
    """Another entry's device is called "Home" already: ours becomes "SolarEdge Home"."""
    other = MockConfigEntry(domain=DOMAIN, title="Home", unique_id="other")
    other.add_to_hass(hass)
    device_registry.async_get_or_create(
        config_entry_id=other.entry_id,
        identifiers={(DOMAIN, "other_home")},
        name="Home",
    )
    solaredge_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(solaredge_entry.entry_id)
    await hass.async_block_till_done()
    names = {
        device.name
        for device in dr.async_entries_for_config_entry(
            device_registry, solaredge_entry.entry_id
        )
    }
    assert "SolarEdge Home" in names
    assert "Home" not in names
    assert f"SolarEdge {solaredge_entry.title} connection" in names
    # The connection's status is its main entity, named like the device.
    assert hass.states.get("sensor.solaredge_home_connection").state == "ok"
    # A battery device's battery figures do not repeat the word.
    assert hass.states.get("sensor.battery_1_state_of_charge") is not None


@pytest.mark.usefixtures("current_request_with_host")
async def test_solaredge_callback_is_the_address_the_browser_uses(
    hass: HomeAssistant,
) -> None:
    """The redirect URL shown is the frontend's own base URL (HA's OAuth2 source)."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "solaredge"}
    )
    assert result["description_placeholders"]["callback"] == (
        "https://example.com/api/sungaze/solaredge/callback"
    )
