"""Error paths of every vendor's flow not covered elsewhere, and the dispatcher."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from unittest.mock import patch
from urllib.parse import parse_qs, urlsplit

from aiohttp import ClientSession
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.network import NoURLAvailableError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.sungaze.config_flow import SungazeConfigFlow
from custom_components.sungaze.const import DOMAIN
from custom_components.sungaze.diagnostics import async_get_device_diagnostics
from custom_components.sungaze.flows import FLOWS_BY_VENDOR
from custom_components.sungaze.flows.base import SungazeFlowBase

from .conftest import (
    EG4_PASSWORD,
    EG4_USERNAME,
    SITE_ID,
    SOLAREDGE_KEY,
    add_application_credential,
    oauth_consent,
)
from .simulators.eg4 import EG4Simulator
from .simulators.solaredge import SolarEdgeSimulator

SE_CALLBACK = "https://example.com/api/sungaze/solaredge/callback"


async def test_menu_offers_every_flow(hass: HomeAssistant) -> None:
    """The menu is the flow registry, nothing else."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    vendors = [v for v, flow in FLOWS_BY_VENDOR.items() if flow.menu_order == 0]
    # Vendors alphabetically, then combinations (the whole home).
    assert result["menu_options"][: len(vendors)] == sorted(vendors)
    assert set(result["menu_options"]) == set(FLOWS_BY_VENDOR)
    for vendor, flow in FLOWS_BY_VENDOR.items():
        assert flow.vendor == vendor
        assert SungazeConfigFlow.flow_for(vendor) is flow
        assert callable(getattr(SungazeConfigFlow, f"async_step_{vendor}"))
    with pytest.raises(KeyError):
        SungazeConfigFlow.flow_for("nobody")
    with pytest.raises(NotImplementedError):
        await SungazeFlowBase._async_oauth_granted(SungazeConfigFlow(), {})


async def test_reconfigure_without_a_vendor_step(hass: HomeAssistant) -> None:
    """A vendor with no reconfigure step says so instead of failing."""
    entry = MockConfigEntry(domain=DOMAIN, data={"vendor": "no_such_vendor"})
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_unsupported"


async def test_device_diagnostics_before_setup(hass: HomeAssistant) -> None:
    """An entry not set up yet still gives its (redacted) data."""
    entry = MockConfigEntry(
        domain=DOMAIN, data={"vendor": "solaredge", "api_key": SOLAREDGE_KEY}
    )
    entry.add_to_hass(hass)
    result = await async_get_device_diagnostics(hass, entry, object())  # type: ignore[arg-type]
    assert result["entry"]["data"]["api_key"] == "**REDACTED**"
    assert "status" not in result


# -- SolarEdge ----------------------------------------------------------------------


def _offline(sim: SolarEdgeSimulator) -> None:
    sim.offline = True


def _limited(sim: SolarEdgeSimulator) -> None:
    sim.fail_next(429)


@pytest.mark.parametrize(
    ("fault", "error"), [(_offline, "cannot_connect"), (_limited, "rate_limited")]
)
async def test_solaredge_reauth_and_reconfigure_errors(
    phoenix: HomeAssistant,
    solaredge: SolarEdgeSimulator,
    solaredge_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    fault: Callable[[SolarEdgeSimulator], None],
    error: str,
) -> None:
    """A vendor fault during reauth or reconfigure is shown; the form stays."""
    hass = phoenix
    solaredge_entry.add_to_hass(hass)
    fault(solaredge)
    reauth = await solaredge_entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        reauth["flow_id"], {"api_key": SOLAREDGE_KEY}
    )
    assert result["step_id"] == "reauth_confirm"
    assert result["errors"] == {"base": error}
    reconfigure = await solaredge_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        reconfigure["flow_id"],
        {"api_key": SOLAREDGE_KEY, "advanced": {"url": solaredge.base_url}},
    )
    assert result["step_id"] == "solaredge_reconfigure"
    assert result["errors"] == {"base": error}
    # Once the vendor answers again (and its minute window has passed), both go on.
    solaredge.offline = False
    freezer.tick(timedelta(minutes=2))
    result = await hass.config_entries.flow.async_configure(
        reconfigure["flow_id"],
        {"api_key": SOLAREDGE_KEY, "advanced": {"url": solaredge.base_url}},
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()


@pytest.mark.usefixtures("current_request_with_host")
async def test_solaredge_site_access_errors(
    phoenix: HomeAssistant,
    solaredge: SolarEdgeSimulator,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The approved site cannot be read: the flow ends with the reason."""
    hass = phoenix
    app = solaredge.site_access.app
    await add_application_credential(
        hass, app.client_id, app.client_secret, "SolarEdge app", "se_app"
    )

    async def sign_in() -> dict[str, Any]:
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_USER}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"next_step_id": "solaredge"}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {"mode": "site_access", "advanced": {"url": solaredge.base_url}},
        )
        return dict(
            await oauth_consent(
                hass, browser, hass_client_no_auth, result, SE_CALLBACK, state=False
            )
        )

    solaredge.fail_next(500, count=3, path_contains=f"/sites/{SITE_ID}")
    result = await sign_in()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"
    # Without the site in the callback, the same fault is a form error.
    solaredge.site_access.send_site_id = False
    freezer.tick(timedelta(minutes=2))
    result = await sign_in()
    assert result["step_id"] == "solaredge_site_access"
    solaredge.fail_next(500, count=3, path_contains=f"/sites/{SITE_ID}")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"site_id": SITE_ID}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"site_id": "x" * 300}
    )
    assert result["errors"] == {"site_id": "too_long"}


# -- EG4 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error"),
    [(502, "cannot_connect"), ("drop", "cannot_connect"), ("refused", "invalid_auth")],
)
async def test_eg4_login_faults(
    hass: HomeAssistant, eg4: EG4Simulator, kind: str | int, error: str
) -> None:
    """Portal faults at login are told apart from a wrong password."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "eg4"}
    )
    eg4.fail_next(kind, path_contains="login")
    form = {"username": EG4_USERNAME, "password": EG4_PASSWORD, "url": eg4.base_url}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["errors"] == {"base": error}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["step_id"] == "eg4_stations"


async def test_eg4_reconfigure_wrong_password(
    hass: HomeAssistant, eg4: EG4Simulator, eg4_entry: MockConfigEntry
) -> None:
    """Reconfigure checks the password like the first setup."""
    eg4_entry.add_to_hass(hass)
    result = await eg4_entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "eg4"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"username": EG4_USERNAME, "password": "wrong", "url": eg4.base_url},
    )
    assert result["errors"] == {"base": "invalid_auth"}


async def test_solaredge_callback_address_without_a_url(hass: HomeAssistant) -> None:
    """With no address known, the form still says which path to register."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    # HA's test instance always knows an address; a real one may not.
    with patch(
        "custom_components.sungaze.flows.solaredge.get_url",
        side_effect=NoURLAvailableError,
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"next_step_id": "solaredge"}
        )
    assert result["description_placeholders"]["callback"] == (
        "https://<your Home Assistant address>/api/sungaze/solaredge/callback"
    )


@pytest.mark.usefixtures("current_request_with_host")
async def test_solaredge_callback_without_code_or_error(
    phoenix: HomeAssistant,
    solaredge: SolarEdgeSimulator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A callback for a waiting sign-in but with neither code nor error is refused."""
    hass = phoenix
    app = solaredge.site_access.app
    await add_application_credential(
        hass, app.client_id, app.client_secret, "SolarEdge app", "se_app"
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "solaredge"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"mode": "site_access", "advanced": {"url": solaredge.base_url}},
    )
    assert result["type"] is FlowResultType.EXTERNAL_STEP
    reference = parse_qs(urlsplit(result["url"]).query)["external_id"][0]
    client = await hass_client_no_auth()
    answer = await client.get(
        f"/api/sungaze/solaredge/callback?external_id={reference}"
    )
    assert answer.status == 400
    assert "Missing code or error" in await answer.text()


def test_vendor_is_not_read_through_the_combined_flow() -> None:
    """`self.vendor` in a vendor step would be whichever class comes first: refused."""
    with pytest.raises(AttributeError, match="ambiguous"):
        _ = SungazeConfigFlow().vendor
    assert SungazeConfigFlow.flow_for("home").vendor == "home"
