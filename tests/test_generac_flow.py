"""Config-flow paths for Generac PWRcell, against the simulator."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH, SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.sungaze.const import DOMAIN

from .conftest import NOON
from .simulators.generac import (
    CLIENT_ID,
    CLIENT_SECRET,
    EMAIL,
    HOME_ID,
    PASSWORD,
    USER_ID,
    GeneracSimulator,
    SimHome,
)

SECOND_HOME = "c2e4d3f5-1111-4b2c-8d3e-234567890bcd"


async def start(hass: HomeAssistant) -> dict[str, Any]:
    """Open the flow and pick Generac from the vendor menu."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert "generac" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "generac"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "generac"
    return result


def token_form(sim: GeneracSimulator, **changes: Any) -> dict[str, Any]:
    """The default form: what the user copied from the web portal."""
    portal = sim.portal_tokens()
    return {
        "user_id": portal["userId"],
        "refresh_token": f' "{portal["refreshToken"]}" ',  # pasted with quotes
        "advanced": {"url": sim.base_url},
        **changes,
    }


def password_form(sim: GeneracSimulator, **changes: Any) -> dict[str, Any]:
    """The Advanced section: email, password and the app identity."""
    return {
        "advanced": {
            "email": EMAIL,
            "password": PASSWORD,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "url": sim.base_url,
            **changes,
        }
    }


def token_entry(sim: GeneracSimulator) -> MockConfigEntry:
    """An entry set up with a web-portal refresh token."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="42 Sunny Ln",
        unique_id=f"generac_{HOME_ID}",
        data={
            "vendor": "generac",
            "auth_method": "refresh_token",
            "user_id": USER_ID,
            "refresh_token": sim.portal_tokens()["refreshToken"],
            "site_id": HOME_ID,
            "url": sim.base_url,
        },
    )


async def test_refresh_token_creates_the_entry(
    hass: HomeAssistant, generac: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """The default way: the rotated refresh token is stored, not the pasted one."""
    freezer.move_to(NOON)
    result = await start(hass)
    form = token_form(generac)
    pasted = form["refresh_token"].strip(' "')
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "42 Sunny Ln"
    entry = result["result"]
    assert entry.unique_id == f"generac_{HOME_ID}"
    data = dict(entry.data)
    token = data.pop("refresh_token")
    assert data == {
        "vendor": "generac",
        "auth_method": "refresh_token",
        "user_id": USER_ID,
        "site_id": HOME_ID,
        "url": generac.base_url,
    }
    assert token != pasted
    assert token in generac.refresh_tokens
    assert entry.state is ConfigEntryState.LOADED
    assert generac.requests.count("signin") == 0


async def test_password_creates_the_entry(
    hass: HomeAssistant, generac: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """The Advanced way: the app identity is the user's; the sign-in's token is kept."""
    freezer.move_to(NOON)
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], password_form(generac)
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    data = result["result"].data
    assert data["auth_method"] == "password"
    assert data["user_id"] == USER_ID
    assert data["refresh_token"] in generac.refresh_tokens
    assert (data["email"], data["client_id"], data["client_secret"]) == (
        EMAIL,
        CLIENT_ID,
        CLIENT_SECRET,
    )
    assert generac.requests.count("signin") == 1  # the setup refreshed instead


@pytest.mark.parametrize(
    ("form", "field", "error"),
    [
        ({"advanced": {}}, "base", "sign_in_required"),
        ({"refresh_token": "abc", "advanced": {}}, "user_id", "user_id_required"),
        (
            {"advanced": {"email": EMAIL, "password": PASSWORD}},
            "base",
            "app_identity_required",
        ),
    ],
)
async def test_incomplete_forms(
    hass: HomeAssistant,
    generac: GeneracSimulator,
    form: dict[str, Any],
    field: str,
    error: str,
) -> None:
    """Each sign-in way must be complete; nothing is sent otherwise."""
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: error}
    assert generac.requests == []


async def test_refused_credentials(
    hass: HomeAssistant, generac: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """A dead refresh token, a wrong password, a wrong app identity: invalid_auth."""
    freezer.move_to(NOON)
    result = await start(hass)
    for form in (
        token_form(generac, refresh_token="not-a-token"),
        password_form(generac, password="wrong"),
        password_form(generac, client_secret="not-the-app"),
    ):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {"base": "invalid_auth"}
    # Then the right ones work in the same flow.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], password_form(generac)
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_auth_challenge_asks_to_finish_with_generac(
    hass: HomeAssistant, generac: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """MFA / new password: a clear error, one sign-in each time, no loop."""
    freezer.move_to(NOON)
    generac.challenge = "NEW_PASSWORD_REQUIRED"
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], password_form(generac)
    )
    assert result["errors"] == {"base": "auth_challenge"}
    assert generac.requests == ["signin"]
    generac.challenge = None  # the owner finished signing in with Generac
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], password_form(generac)
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_cannot_connect(
    hass: HomeAssistant, generac: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Generac unreachable or failing: cannot_connect, and the pasted token survives."""
    freezer.move_to(NOON)
    result = await start(hass)
    form = token_form(generac)
    generac.fail_next = [503]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["errors"] == {"base": "cannot_connect"}
    # The refresh had already rotated the pasted token: the retry uses the new one.
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await generac.stop()
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], password_form(generac)
    )
    assert result["errors"] == {"base": "cannot_connect"}


async def test_same_home_twice_aborts(
    hass: HomeAssistant, generac: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """One entry per home."""
    freezer.move_to(NOON)
    token_entry(generac).add_to_hass(hass)
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], token_form(generac)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_several_homes_ask_which(
    hass: HomeAssistant, generac: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Two homes: pick one; the next flow offers only the other; then abort."""
    freezer.move_to(NOON)
    generac.homes.append(SimHome(home_id=SECOND_HOME, address1="7 Cabin Rd"))
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], token_form(generac)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "site"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"site_id": SECOND_HOME}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "7 Cabin Rd"
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], token_form(generac)
    )
    options = result["data_schema"].schema["site_id"].config["options"]
    assert [o["value"] for o in options] == [HOME_ID]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"site_id": HOME_ID}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], token_form(generac)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def _refused(
    hass: HomeAssistant,
    generac: GeneracSimulator,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
) -> dict[str, Any]:
    """Set the entry up, kill its refresh token, wait for the one reauth flow."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    generac.revoke_refresh_tokens()
    generac.expire_tokens()
    for _ in range(4):
        freezer.tick(timedelta(minutes=5))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == [SOURCE_REAUTH]
    assert generac.requests.count("refresh") == 2  # setup, then the refused one
    return flows[0]


async def test_reauth_with_a_new_refresh_token(
    hass: HomeAssistant, generac: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """A refused token: one reauth asking for a token again; a token of another home is refused."""
    freezer.move_to(NOON)
    entry = token_entry(generac)
    flow = await _refused(hass, generac, freezer, entry)
    result = await hass.config_entries.flow.async_configure(flow["flow_id"])
    assert result["step_id"] == "generac_reauth"
    assert set(result["data_schema"].schema) == {"user_id", "refresh_token"}
    generac.homes[0] = SimHome(home_id=SECOND_HOME)
    portal = generac.portal_tokens()
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"],
        {"user_id": USER_ID, "refresh_token": portal["refreshToken"]},
    )
    assert result["errors"] == {"base": "wrong_site"}
    generac.homes[0] = SimHome()
    portal = generac.portal_tokens()
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"],
        {"user_id": USER_ID, "refresh_token": portal["refreshToken"]},
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.state is ConfigEntryState.LOADED
    assert entry.data["refresh_token"] in generac.refresh_tokens


async def test_reauth_of_a_password_entry_asks_for_the_password(
    hass: HomeAssistant, generac: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Set up with a password: the reauth asks for email and password again."""
    freezer.move_to(NOON)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="42 Sunny Ln",
        unique_id=f"generac_{HOME_ID}",
        data={
            "vendor": "generac",
            "auth_method": "password",
            "email": EMAIL,
            "password": "old-password",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "user_id": USER_ID,
            "refresh_token": generac.portal_tokens()["refreshToken"],
            "site_id": HOME_ID,
            "url": generac.base_url,
        },
    )
    flow = await _refused(hass, generac, freezer, entry)
    assert generac.requests.count("signin") == 1  # the old password, once
    result = await hass.config_entries.flow.async_configure(flow["flow_id"])
    assert result["step_id"] == "generac_reauth"
    assert set(result["data_schema"].schema) == {"email", "password", "advanced"}
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"email": EMAIL, "password": PASSWORD, "advanced": {}}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["password"] == PASSWORD
    assert entry.data["client_secret"] == CLIENT_SECRET  # kept from the entry
    assert entry.state is ConfigEntryState.LOADED


async def test_reconfigure_switches_to_the_password(
    hass: HomeAssistant, generac: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Reconfigure changes the sign-in way; the home must stay the same."""
    freezer.move_to(NOON)
    entry = token_entry(generac)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "generac_reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"advanced": {"url": generac.base_url}}
    )
    assert result["errors"] == {"base": "sign_in_required"}
    generac.homes[0] = SimHome(home_id=SECOND_HOME)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], password_form(generac)
    )
    assert result["errors"] == {"base": "wrong_site"}
    generac.homes[0] = SimHome()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], password_form(generac)
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["auth_method"] == "password"
    assert entry.data["site_id"] == HOME_ID
    assert entry.state is ConfigEntryState.LOADED


async def test_input_is_checked_before_anything_is_sent(
    hass: HomeAssistant, generac: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """A long token is fine, control characters and metadata URLs are not."""
    freezer.move_to(NOON)
    result = await start(hass)
    for form, errors in (
        (
            token_form(generac, refresh_token="a\x00b"),
            {"refresh_token": "control_characters"},
        ),
        (token_form(generac, refresh_token="x" * 9000), {"refresh_token": "too_long"}),
        (
            token_form(generac, advanced={"url": "http://169.254.169.254/"}),
            {"base": "url_not_allowed"},
        ),
    ):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
        assert result["errors"] == errors
    assert generac.requests == []
    long_token = "y" * 2000  # Cognito refresh tokens are long
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], token_form(generac, refresh_token=long_token)
    )
    assert result["errors"] == {"base": "invalid_auth"}
    assert generac.requests == ["refresh"]
