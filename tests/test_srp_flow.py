"""Config-flow paths for SRP accounts, against the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sungaze.const import DOMAIN

from .simulators.srp import PASSWORD, USERNAME, SimBillAccount, SRPSimulator

FLAT = "123456789"
SOLAR = "987654321"


@pytest.fixture
async def srp(socket_enabled: None) -> AsyncIterator[SRPSimulator]:
    """An SRP simulator on a free loopback port."""
    simulator = SRPSimulator()
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture(autouse=True)
def _no_setup() -> AsyncIterator[None]:
    """Flows only: created entries are not set up against the simulator."""
    from unittest.mock import patch

    with (
        patch("custom_components.sungaze.async_setup_entry", return_value=True),
        patch("custom_components.sungaze.async_unload_entry", return_value=True),
    ):
        yield


def login(sim: SRPSimulator, **changes: Any) -> dict[str, Any]:
    return {
        "username": USERNAME,
        "password": PASSWORD,
        "advanced": {"url": sim.base_url},
        **changes,
    }


async def start(hass: HomeAssistant) -> dict[str, Any]:
    """Open the flow and pick SRP from the vendor menu."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert "srp" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "srp"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "srp"
    return result


def entry_for(sim: SRPSimulator, account: str = FLAT, **data: Any) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="SRP Home",
        unique_id=f"srp_{account}",
        data={
            "vendor": "srp",
            "username": USERNAME,
            "password": PASSWORD,
            "url": sim.base_url,
            "billing_account": account,
            **data,
        },
    )


async def test_pick_one_billing_account(hass: HomeAssistant, srp: SRPSimulator) -> None:
    """Login, list the billing accounts with nicknames, create one entry."""
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], login(srp, username=f" {USERNAME} ")
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "srp_account"
    selector = result["data_schema"].schema["billing_account"]
    assert [(o["value"], o["label"]) for o in selector.config["options"]] == [
        (FLAT, f"Home ({FLAT})"),
        (SOLAR, f"Casita ({SOLAR})"),
    ]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"billing_account": SOLAR}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "SRP Casita"
    assert result["data"] == {
        "vendor": "srp",
        "username": USERNAME,
        "password": PASSWORD,
        "url": srp.base_url,
        "billing_account": SOLAR,
    }
    assert result["result"].unique_id == f"srp_{SOLAR}"


async def test_one_account_is_chosen_for_you(
    hass: HomeAssistant, srp: SRPSimulator
) -> None:
    """A login with a single billing account skips the choice."""
    srp.accounts = [SimBillAccount(FLAT, None)]
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], login(srp)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"SRP {FLAT}"


async def test_configured_accounts_are_not_offered(
    hass: HomeAssistant, srp: SRPSimulator
) -> None:
    """One account added: only the other is offered; both added: abort."""
    entry_for(srp).add_to_hass(hass)
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], login(srp)
    )
    options = result["data_schema"].schema["billing_account"].config["options"]
    assert [o["value"] for o in options] == [SOLAR]

    entry_for(srp, SOLAR).add_to_hass(hass)
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], login(srp)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_account_typed_when_not_listed(
    hass: HomeAssistant, srp: SRPSimulator
) -> None:
    """SRP will not list accounts: a typed 9-digit number, checked for shape."""
    srp.list_accounts = False
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], login(srp)
    )
    assert result["step_id"] == "srp_account"
    assert result["data_schema"].schema["billing_account"].config["custom_value"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"billing_account": "12345"}
    )
    assert result["errors"] == {"billing_account": "invalid_account"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"billing_account": "123-456-789"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["billing_account"] == FLAT
    # The same number typed again is a duplicate.
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], login(srp)
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"billing_account": FLAT}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.parametrize(
    ("switch", "error"),
    [
        ({"password": "wrong"}, "invalid_auth"),
        ({"blocked": True}, "blocked"),
        ({"fail_status": 503}, "cannot_connect"),
    ],
)
async def test_errors_then_recovery(
    hass: HomeAssistant, srp: SRPSimulator, switch: dict[str, Any], error: str
) -> None:
    """Wrong password, Cloudflare block, server error: each its own message."""
    result = await start(hass)
    wrong = switch.pop("password", PASSWORD)
    for key, value in switch.items():
        setattr(srp, key, value)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], login(srp, password=wrong)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    srp.blocked, srp.fail_status = False, None
    if error != "blocked":  # a block holds for hours, even for the flow
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], login(srp)
        )
        assert result["step_id"] == "srp_account"


async def test_unreachable(hass: HomeAssistant, socket_enabled: None) -> None:
    """Nothing listening: cannot_connect."""
    sim = SRPSimulator()
    await sim.start()
    await sim.stop()
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], login(sim)
    )
    assert result["errors"] == {"base": "cannot_connect"}


async def test_reauth(hass: HomeAssistant, srp: SRPSimulator) -> None:
    """A new password is checked and stored; a wrong one shows invalid_auth."""
    entry = entry_for(srp, password="old-password")
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "srp_reauth"
    assert result["description_placeholders"]["username"] == USERNAME
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"password": "still-wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"password": PASSWORD}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["password"] == PASSWORD


async def test_reauth_other_login(hass: HomeAssistant, srp: SRPSimulator) -> None:
    """A login that does not reach the entry's billing account is refused."""
    entry = entry_for(srp, account="555555555")
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"password": PASSWORD}
    )
    assert result["errors"] == {"base": "wrong_account"}


async def test_reconfigure(hass: HomeAssistant, srp: SRPSimulator) -> None:
    """Change the login; it must still reach the billing account."""
    entry = entry_for(srp, username="old@example.com")
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "srp_reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], login(srp, password="wrong")
    )
    assert result["errors"] == {"base": "invalid_auth"}
    srp.accounts = [SimBillAccount(SOLAR)]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], login(srp)
    )
    assert result["errors"] == {"base": "wrong_account"}
    srp.accounts = [SimBillAccount(FLAT)]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], login(srp)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["username"] == USERNAME
