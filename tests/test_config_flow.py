"""Config flow: every path for SolarEdge, against the simulator."""

from collections.abc import Callable
from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sungaze.const import DOMAIN
from custom_components.sungaze.flows.base import flatten as _flatten

from .conftest import SITE_ID, SOLAREDGE_KEY
from .simulators.solaredge import SimSite, SolarEdgeSimulator, second_site

V1_KEY = "L4QLVQ1LOKCQX2193VSEICXW61NP6B1O"


async def _solaredge_form(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert "solaredge" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "solaredge"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "solaredge"
    return result["flow_id"]


async def test_single_site(
    phoenix: HomeAssistant, solaredge: SolarEdgeSimulator
) -> None:
    """A key that reaches one site creates that site's entry at once."""
    hass = phoenix
    flow_id = await _solaredge_form(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"api_key": SOLAREDGE_KEY, "advanced": {"url": solaredge.base_url}}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Home"
    assert result["result"].unique_id == f"solaredge_{SITE_ID}"
    assert result["data"] == {
        "vendor": "solaredge",
        "api_key": SOLAREDGE_KEY,
        "url": solaredge.base_url,
        "site_id": SITE_ID,
    }
    await hass.async_block_till_done()


def test_url_override_is_kept_only_when_given() -> None:
    """An emptied advanced URL removes the override; a given one replaces it."""
    base = {"vendor": "solaredge", "api_key": "old", "url": "http://127.0.0.1:1/v2"}
    assert _flatten(base, {"api_key": "new", "advanced": {}}) == {
        "vendor": "solaredge",
        "api_key": "new",
    }
    assert _flatten(base, {"api_key": "new", "advanced": {"url": "http://x/v2"}})[
        "url"
    ] == ("http://x/v2")


async def test_several_sites_ask_which(
    phoenix: HomeAssistant, socket_enabled: None
) -> None:
    """A key with two sites asks which; a configured site is not offered again."""
    hass = phoenix
    simulator = SolarEdgeSimulator(sites=[SimSite(), second_site()])
    await simulator.start()
    try:
        MockConfigEntry(domain=DOMAIN, unique_id="solaredge_3012345").add_to_hass(hass)
        flow_id = await _solaredge_form(hass)
        result = await hass.config_entries.flow.async_configure(
            flow_id, {"api_key": SOLAREDGE_KEY, "advanced": {"url": simulator.base_url}}
        )
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "site"
        options = result["data_schema"].schema["site_id"].config["options"]
        assert [option["value"] for option in options] == ["3012346"]
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"site_id": "3012346"}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["title"] == "Cabin"
        assert result["data"]["site_id"] == "3012346"
        await hass.async_block_till_done()
        # With both configured there is nothing left to add.
        flow_id = await _solaredge_form(hass)
        result = await hass.config_entries.flow.async_configure(
            flow_id, {"api_key": SOLAREDGE_KEY, "advanced": {"url": simulator.base_url}}
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "already_configured"
        await hass.async_block_till_done()
        for entry in hass.config_entries.async_entries(DOMAIN):
            await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await simulator.stop()


async def test_duplicate_site_aborts(
    phoenix: HomeAssistant,
    solaredge: SolarEdgeSimulator,
    solaredge_entry: MockConfigEntry,
) -> None:
    """Adding a site twice aborts."""
    solaredge_entry.add_to_hass(phoenix)
    flow_id = await _solaredge_form(phoenix)
    result = await phoenix.config_entries.flow.async_configure(
        flow_id, {"api_key": SOLAREDGE_KEY, "advanced": {"url": solaredge.base_url}}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


def _offline(simulator: SolarEdgeSimulator) -> None:
    simulator.offline = True


def _limited(simulator: SolarEdgeSimulator) -> None:
    simulator.fail_next(429)


def _garbled(simulator: SolarEdgeSimulator) -> None:
    simulator.fail_next(404, path_contains="/sites")


@pytest.mark.parametrize(
    ("key", "fault", "error"),
    [
        ("wrong-key", None, "invalid_auth"),
        (V1_KEY, None, "api_retired"),
        (SOLAREDGE_KEY, _offline, "cannot_connect"),
        (SOLAREDGE_KEY, _limited, "rate_limited"),
        (SOLAREDGE_KEY, _garbled, "unknown"),
    ],
)
async def test_errors_then_recovery(
    phoenix: HomeAssistant,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
    key: str,
    fault: Callable[[SolarEdgeSimulator], None] | None,
    error: str,
) -> None:
    """Each failure shows its error; the same flow then succeeds."""
    hass = phoenix
    if fault:
        fault(solaredge)
    flow_id = await _solaredge_form(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"api_key": key, "advanced": {"url": solaredge.base_url}}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    solaredge.offline = False
    solaredge.malformed.clear()
    # The failed attempt spent requests of the key's minute window (and a 429
    # asked to wait): the retry comes after that, as a user's would.
    freezer.tick(timedelta(minutes=2))
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"api_key": SOLAREDGE_KEY, "advanced": {"url": solaredge.base_url}}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_reauth(
    phoenix: HomeAssistant,
    solaredge: SolarEdgeSimulator,
    solaredge_entry: MockConfigEntry,
) -> None:
    """Reauth rejects a bad key, then stores the new one and reloads."""
    hass = phoenix
    solaredge_entry.add_to_hass(hass)
    solaredge.api_key = "NEW-KEY"
    result = await solaredge_entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"api_key": "still-wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"api_key": "NEW-KEY"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert solaredge_entry.data["api_key"] == "NEW-KEY"
    await hass.async_block_till_done()


async def test_reauth_with_another_accounts_key(
    phoenix: HomeAssistant, socket_enabled: None
) -> None:
    """A key that does not reach this entry's site is refused."""
    hass = phoenix
    simulator = SolarEdgeSimulator(api_key="OTHER", sites=[second_site()])
    await simulator.start()
    try:
        entry = MockConfigEntry(
            domain=DOMAIN,
            unique_id=f"solaredge_{SITE_ID}",
            data={
                "vendor": "solaredge",
                "api_key": "OLD",
                "site_id": SITE_ID,
                "url": simulator.base_url,
            },
        )
        entry.add_to_hass(hass)
        result = await entry.start_reauth_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"api_key": "OTHER"}
        )
        assert result["errors"] == {"base": "wrong_site"}
    finally:
        await simulator.stop()


async def test_reconfigure(
    phoenix: HomeAssistant,
    solaredge: SolarEdgeSimulator,
    solaredge_entry: MockConfigEntry,
) -> None:
    """Reconfigure checks the new key and keeps the site."""
    hass = phoenix
    solaredge_entry.add_to_hass(hass)
    solaredge.api_key = "ROTATED"
    result = await solaredge_entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "solaredge_reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"api_key": "bad", "advanced": {"url": solaredge.base_url}}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"api_key": "ROTATED", "advanced": {"url": solaredge.base_url}},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert solaredge_entry.data["api_key"] == "ROTATED"
    assert solaredge_entry.data["site_id"] == SITE_ID
    await hass.async_block_till_done()


async def test_reconfigure_to_another_site_is_refused(
    phoenix: HomeAssistant, socket_enabled: None
) -> None:
    """A key for a different site cannot be swapped in."""
    hass = phoenix
    simulator = SolarEdgeSimulator(api_key="OTHER", sites=[second_site()])
    await simulator.start()
    try:
        entry = MockConfigEntry(
            domain=DOMAIN,
            unique_id=f"solaredge_{SITE_ID}",
            data={"vendor": "solaredge", "api_key": "OLD", "site_id": SITE_ID},
        )
        entry.add_to_hass(hass)
        result = await entry.start_reconfigure_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {"api_key": "OTHER", "advanced": {"url": simulator.base_url}},
        )
        assert result["errors"] == {"base": "wrong_site"}
    finally:
        await simulator.stop()


async def test_options_refuse_unsustainable_interval(
    hass: HomeAssistant, init_solaredge: MockConfigEntry
) -> None:
    """The options refuse an interval the monthly quota cannot sustain."""
    result = await hass.config_entries.options.async_init(init_solaredge.entry_id)
    assert result["step_id"] == "init"
    floor = int(result["description_placeholders"]["floor"])
    assert 30 <= floor <= 90
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"min_interval": 5}
    )
    assert result["errors"] == {"min_interval": "interval_too_short"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"min_interval": floor}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_solaredge.options == {"min_interval": floor}


async def test_options_can_return_to_automatic(
    hass: HomeAssistant, init_solaredge: MockConfigEntry
) -> None:
    """Leaving the interval empty lets Sungaze plan on its own."""
    result = await hass.config_entries.options.async_init(init_solaredge.entry_id)
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_solaredge.options == {}
