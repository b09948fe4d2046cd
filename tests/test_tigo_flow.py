"""Config-flow paths for Tigo (Premium and free accounts), against the simulator."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sungaze.const import DOMAIN

from .simulators.tigo import BASIC, EMPTY, PREMIUM, SYSTEM_ID, TigoSimulator

pytestmark = pytest.mark.freeze_time(datetime(2026, 6, 21, 19, 0, tzinfo=UTC))
SID = str(SYSTEM_ID)


async def start(hass: HomeAssistant) -> dict[str, Any]:
    """Open the flow and pick Tigo from the vendor menu."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert "tigo" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "tigo"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "tigo"
    return result


def form(
    sim: TigoSimulator, kind: str = "premium", login: tuple[str, str] = PREMIUM
) -> dict[str, Any]:
    url = sim.premium_url if kind == "premium" else sim.mapi_url
    return {
        "account": kind,
        "username": login[0],
        "password": login[1],
        "advanced": {"url": url},
    }


def suggested(result: dict[str, Any], key: str) -> Any:
    for marker in result["data_schema"].schema:
        if marker == key:
            return (marker.description or {}).get("suggested_value")
    raise KeyError(key)


def entry_for(
    sim: TigoSimulator, kind: str = "premium", **data: Any
) -> MockConfigEntry:
    login = PREMIUM if kind == "premium" else BASIC
    return MockConfigEntry(
        domain=DOMAIN,
        title="Home Array",
        unique_id=f"tigo_{SID}",
        data={
            "vendor": "tigo",
            "account": kind,
            "username": login[0],
            "password": login[1],
            "url": sim.premium_url if kind == "premium" else sim.mapi_url,
            "site_id": SID,
            **data,
        },
    )


async def test_premium_creates_one_entry_per_system(
    hass: HomeAssistant, tigo: TigoSimulator
) -> None:
    result = await start(hass)
    assert suggested(result, "account") == "premium"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(tigo)
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Home Array"
    assert result["data"] == {
        "vendor": "tigo",
        "account": "premium",
        "username": PREMIUM[0],
        "password": PREMIUM[1],
        "url": tigo.premium_url,
        "site_id": SID,
    }
    entry = result["result"]
    assert entry.unique_id == f"tigo_{SID}"
    assert entry.state is ConfigEntryState.LOADED
    # The same system again: nothing left to add.
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(tigo, "app", BASIC)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"password": "wrong"}, "invalid_auth"),
        ({"offline": True}, "cannot_connect"),
        ({"rate": True}, "rate_limited"),
    ],
)
async def test_errors(
    hass: HomeAssistant, tigo: TigoSimulator, change: dict[str, Any], error: str
) -> None:
    result = await start(hass)
    data = form(tigo)
    if change.get("offline"):
        tigo.offline = True
    elif change.get("rate"):
        tigo.fail_next(429, path_contains="/systems")
    else:
        data["password"] = change["password"]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], data)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    assert suggested(result, "password") is None  # never echoed back


async def test_no_api_access_offers_the_free_kind(
    hass: HomeAssistant, tigo: TigoSimulator
) -> None:
    """A Basic login on the Premium API: say so, switch the kind, then it works."""
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(tigo, "premium", BASIC)
    )
    assert result["errors"] == {"base": "tigo_no_api_access"}
    assert suggested(result, "account") == "app"
    assert suggested(result, "username") == BASIC[0]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(tigo, "app", BASIC)
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["account"] == "app"
    assert result["result"].state is ConfigEntryState.LOADED


async def test_free_account_without_systems(
    hass: HomeAssistant, tigo: TigoSimulator
) -> None:
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(tigo, "app", EMPTY)
    )
    assert result["errors"] == {"base": "tigo_no_systems"}


async def test_reauth(hass: HomeAssistant, tigo: TigoSimulator) -> None:
    entry = entry_for(tigo, password="old-password")
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress()
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]
    result = await hass.config_entries.flow.async_configure(flows[0]["flow_id"])
    assert result["step_id"] == "tigo_reauth"
    assert result["description_placeholders"]["username"] == PREMIUM[0]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"password": "still-wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"password": PREMIUM[1]}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["password"] == PREMIUM[1]
    assert entry.state is ConfigEntryState.LOADED


async def test_reauth_with_an_account_that_lost_the_system(
    hass: HomeAssistant, tigo: TigoSimulator
) -> None:
    entry = entry_for(tigo, "app")
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    tigo.accounts[BASIC[0]].owns_system = False
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"password": BASIC[1]}
    )
    assert result["errors"] == {"base": "tigo_no_systems"}


async def test_reconfigure_switches_to_the_free_kind(
    hass: HomeAssistant, tigo: TigoSimulator
) -> None:
    """The repair's way out: same system, now through the app API."""
    entry = entry_for(tigo)
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "tigo_reconfigure"
    assert suggested(result, "account") == "premium"
    assert suggested(result, "password") is None
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(tigo, "app", ("basic@example.com", "bad"))
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(tigo, "app", BASIC)
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["account"] == "app"
    assert entry.data["url"] == tigo.mapi_url
    assert entry.data["site_id"] == SID


async def test_reconfigure_refuses_another_system(
    hass: HomeAssistant, tigo: TigoSimulator
) -> None:
    entry = entry_for(tigo, site_id="999")
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(tigo)
    )
    assert result["errors"] == {"base": "tigo_wrong_system"}


async def test_several_systems_one_entry_each(
    hass: HomeAssistant, tigo: TigoSimulator
) -> None:
    tigo.extra_systems.append({"system_id": 2024, "name": "Barn", "timezone": "UTC"})
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(tigo)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "tigo_system"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"site_id": SID}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["site_id"] == SID
    # The next flow offers only the other system.
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(tigo)
    )
    options = result["data_schema"].schema["site_id"].config["options"]
    assert [o["value"] for o in options] == ["2024"]


async def test_reauth_refuses_another_system(
    hass: HomeAssistant, tigo: TigoSimulator
) -> None:
    entry = entry_for(tigo, site_id="999")
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"password": PREMIUM[1]}
    )
    assert result["errors"] == {"base": "tigo_wrong_system"}


async def test_listed_systems_without_data_access(
    hass: HomeAssistant, tigo: TigoSimulator
) -> None:
    """Systems listed but their data answers 402: still no API access."""
    tigo.lists_without_premium = True
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(tigo, "premium", BASIC)
    )
    assert result["errors"] == {"base": "tigo_no_api_access"}
