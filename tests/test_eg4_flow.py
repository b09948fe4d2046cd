"""Config-flow paths for EG4 accounts, against the simulator."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sungaze.connectors.eg4 import DEFAULT_URL
from custom_components.sungaze.const import DOMAIN

from .conftest import EG4_PASSWORD, EG4_USERNAME
from .simulators.eg4 import EG4Simulator, SimAccount


async def start(hass: HomeAssistant) -> dict[str, Any]:
    """Open the flow and pick EG4 from the vendor menu."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert "eg4" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "eg4"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "eg4"
    return result


def credentials(sim: EG4Simulator, **changes: str) -> dict[str, str]:
    return {
        "username": EG4_USERNAME,
        "password": EG4_PASSWORD,
        "url": sim.base_url,
        **changes,
    }


async def test_full_flow_creates_one_entry_per_account(
    hass: HomeAssistant, eg4: EG4Simulator
) -> None:
    """Log in, see the stations and their inverters, keep a subset."""
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(eg4, username="SolarFan")
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "eg4_stations"
    listing = result["description_placeholders"]["stations"]
    assert "Home: 18KPV 4512670001, 18KPV 4512670002, GridBOSS 4524850002" in listing
    assert "Barn: 12000XP 5512340003" in listing
    schema = result["data_schema"].schema
    default = next(key for key in schema if key == "station_ids").default()
    assert default == ["31002", "31077"]  # all preselected

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"station_ids": ["31077"]}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "EG4 127.0.0.1"  # the portal, never the username
    assert result["data"] == {
        "vendor": "eg4",
        "username": "SolarFan",
        "password": EG4_PASSWORD,
        "url": eg4.base_url,
        "station_ids": ["31077"],
    }
    entry = result["result"]
    assert entry.unique_id == "eg4_solarfan"
    assert entry.state is ConfigEntryState.LOADED


async def test_portal_defaults_to_eg4(hass: HomeAssistant) -> None:
    """The portal select offers EG4 first, Luxpower's regional servers, or a typed URL."""
    result = await start(hass)
    schema = result["data_schema"].schema
    url = next(key for key in schema if key == "url")
    assert url.description == {"suggested_value": DEFAULT_URL}
    options = [option["value"] for option in schema[url].config["options"]]
    assert options[0] == DEFAULT_URL
    assert "https://eu.luxpowertek.com" in options
    assert "https://server.luxpowertek.com" in options
    assert schema[url].config["custom_value"] is True


async def test_bad_password_then_recovery(
    hass: HomeAssistant, eg4: EG4Simulator
) -> None:
    """A refused login shows invalid_auth and the form again; the right one goes on."""
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(eg4, password="wrong")
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(eg4)
    )
    assert result["step_id"] == "eg4_stations"


async def test_unreachable_host(hass: HomeAssistant, socket_enabled: None) -> None:
    """A portal that does not answer is cannot_connect."""
    sim = EG4Simulator()
    await sim.start()
    await sim.stop()
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(sim)
    )
    assert result["errors"] == {"base": "cannot_connect"}


async def test_account_without_stations(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    """A login that works but lists no station asks for another portal."""
    sim = EG4Simulator(SimAccount(plants=[]))
    await sim.start()
    try:
        result = await start(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], credentials(sim)
        )
    finally:
        await sim.stop()
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "no_stations"}


async def test_no_station_chosen(hass: HomeAssistant, eg4: EG4Simulator) -> None:
    """Unticking every station is refused."""
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(eg4)
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"station_ids": []}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"station_ids": "no_station_selected"}


async def test_duplicate_account(
    hass: HomeAssistant, eg4: EG4Simulator, eg4_entry: MockConfigEntry
) -> None:
    """The same account (any letter case) cannot be added twice."""
    eg4_entry.add_to_hass(hass)
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(eg4, username="SOLARFAN")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reauth_asks_for_the_password(
    hass: HomeAssistant, eg4: EG4Simulator, eg4_entry: MockConfigEntry
) -> None:
    """The portal refuses the stored password: reauth asks for a new one and reloads."""
    eg4_entry.add_to_hass(hass)
    eg4.account.password = "new-password-1"
    await hass.config_entries.async_setup(eg4_entry.entry_id)
    await hass.async_block_till_done()
    assert eg4_entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]
    flow_id = flows[0]["flow_id"]
    result = await hass.config_entries.flow.async_configure(flow_id)
    assert result["step_id"] == "reauth_confirm"
    assert list(result["data_schema"].schema) == ["password"]
    placeholders = result["description_placeholders"]
    assert (placeholders["title"], placeholders["vendor"]) == ("EG4 solarfan", "EG4")

    result = await hass.config_entries.flow.async_configure(
        flow_id, {"password": "wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"password": "new-password-1"}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert eg4_entry.data["password"] == "new-password-1"
    assert eg4_entry.state is ConfigEntryState.LOADED


async def test_reauth_of_solaredge_still_asks_for_the_api_key(
    hass: HomeAssistant,
) -> None:
    """The generalised reauth keeps asking SolarEdge entries for their API key."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Home",
        unique_id="solaredge_3012345",
        data={"vendor": "solaredge", "api_key": "old", "site_id": "3012345"},
    )
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    assert list(result["data_schema"].schema) == ["api_key"]
    assert result["description_placeholders"]["vendor"] == "SolarEdge"


async def test_reconfigure_changes_stations(
    hass: HomeAssistant, eg4: EG4Simulator, eg4_entry: MockConfigEntry
) -> None:
    """Reconfigure re-checks the account and lets the stations be changed."""
    eg4_entry.add_to_hass(hass)
    result = await eg4_entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "eg4"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(eg4)
    )
    assert result["step_id"] == "eg4_stations"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"station_ids": ["31002"]}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert eg4_entry.data["station_ids"] == ["31002"]


async def test_reconfigure_refuses_another_account(
    hass: HomeAssistant, eg4: EG4Simulator, eg4_entry: MockConfigEntry
) -> None:
    """Reconfigure cannot swap the entry over to a different account."""
    eg4_entry.add_to_hass(hass)
    eg4.account.username = "neighbour"
    result = await eg4_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(eg4, username="neighbour")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_account"
