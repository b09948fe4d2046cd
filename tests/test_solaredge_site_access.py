"""SolarEdge V2 site access (homeowner OAuth 2.0), simulator to entities.

SolarEdge's consent page returns to the application's DEFAULT registered URL
with `code` and `site_id` but without `state`, so HA's own callback view cannot
resume the flow; Sungaze's `/api/sungaze/solaredge/callback` does.
"""

from datetime import timedelta
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import ClientSession
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH, SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.sungaze.connectors.base import AuthFailedError, RequestLimiter
from custom_components.sungaze.connectors.solaredge import SolarEdgeConnector
from custom_components.sungaze.const import DOMAIN

from .conftest import (
    NOON,
    SITE_ID,
    SOLAREDGE_KEY,
    add_application_credential,
    oauth_consent,
    tick as _tick,
)
from .simulators.solaredge import SimSite, SolarEdgeSimulator, second_site

AUTH = "sungaze_solaredge_app"
CALLBACK = "https://example.com/api/sungaze/solaredge/callback"
POWER = "sensor.home_solar_power"
STATUS = "sensor.solaredge_home_connection"


@pytest.fixture
async def credential(hass: HomeAssistant, solaredge: SolarEdgeSimulator) -> str:
    """The site-access application's client id and secret in HA."""
    app = solaredge.site_access.app
    return await add_application_credential(
        hass, app.client_id, app.client_secret, "SolarEdge app", AUTH
    )


@pytest.fixture
def site_access_entry(
    solaredge: SolarEdgeSimulator, credential: str, freezer: FrozenDateTimeFactory
) -> MockConfigEntry:
    """A site-access entry whose grant was just issued, at noon."""
    freezer.move_to(NOON)
    return MockConfigEntry(
        domain=DOMAIN,
        title="Home",
        unique_id=f"solaredge_{SITE_ID}",
        data={
            "vendor": "solaredge",
            "auth_implementation": credential,
            "site_id": SITE_ID,
            "url": solaredge.base_url,
            "token": solaredge.site_access.mint(),
        },
    )


async def _start(hass: HomeAssistant, simulator: SolarEdgeSimulator) -> FlowResult:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "solaredge"}
    )
    assert result["step_id"] == "solaredge"
    assert result["description_placeholders"]["callback"].endswith(
        "/api/sungaze/solaredge/callback"
    )
    return await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"mode": "site_access", "advanced": {"url": simulator.base_url}},
    )


# -- the simulator's site-access side -------------------------------------------


async def test_consent_and_token_endpoint(
    solaredge: SolarEdgeSimulator, browser: ClientSession
) -> None:
    """Code and site_id come back without state; JSON body; rotation kills the old."""
    app = solaredge.site_access.app
    response = await browser.get(
        f"{solaredge.origin}/authorize",
        params={"client_id": app.client_id, "state": "s", "external_id": "x"},
        allow_redirects=False,
    )
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query.keys() == {"code", "site_id", "external_id"}
    assert query["site_id"] == [SITE_ID]
    token_url = f"{solaredge.base_url}/oauth2/token"
    body = {
        "grant_type": "authorization_code",
        "code": query["code"][0],
        "client_id": app.client_id,
        "client_secret": app.client_secret,
    }
    response = await browser.post(token_url, json=body)
    first = await response.json()
    assert (response.status, first["expires_in"]) == (200, 7200)
    response = await browser.post(token_url, json=body)
    assert (await response.json())["error_description"] == "Invalid code"
    response = await browser.post(
        token_url,
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers={"Authorization": "Basic c2U6d3Jvbmc="},
    )
    assert response.status == 401
    assert (await response.json())["error"] == "invalid_client"
    response = await browser.post(
        token_url,
        json={
            **body,
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
        },
    )
    second = await response.json()
    assert solaredge.site_access.valid_refresh_tokens() == {second["refresh_token"]}
    assert solaredge.site_access.site_for(first["access_token"]) is None


async def test_consent_refusals(
    solaredge: SolarEdgeSimulator, browser: ClientSession
) -> None:
    """An unregistered redirect URI and a multi-site homeowner are refused."""
    app = solaredge.site_access.app
    response = await browser.get(
        f"{solaredge.origin}/authorize",
        params={"client_id": app.client_id, "redirect_uri": "https://evil.example/"},
        allow_redirects=False,
    )
    assert response.status == 400
    assert "does not match" in (await response.json())["error_description"]
    solaredge.site_access.owner_sites = [3012345, 3012346]
    response = await browser.get(
        f"{solaredge.origin}/authorize",
        params={"client_id": app.client_id},
        allow_redirects=False,
    )
    assert "Multi-site access is not supported" in await response.text()


async def test_token_reaches_its_site_only(
    browser: ClientSession, socket_enabled: None
) -> None:
    """A site-access token cannot list sites, nor read another one."""
    sim = SolarEdgeSimulator(sites=[SimSite(), second_site()])
    await sim.start()
    try:
        token = sim.site_access.mint()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        ok = await browser.get(f"{sim.base_url}/sites/{SITE_ID}", headers=headers)
        listing = await browser.get(f"{sim.base_url}/sites", headers=headers)
        other = await browser.get(f"{sim.base_url}/sites/3012346", headers=headers)
        assert (ok.status, listing.status, other.status) == (200, 401, 403)
    finally:
        await sim.stop()


# -- the connector with a token ----------------------------------------------------


class _Tokens:
    def __init__(self, simulator: SolarEdgeSimulator) -> None:
        self.simulator = simulator
        self.access = simulator.site_access.mint()["access_token"]
        self.refreshes = 0

    async def __call__(self, *, rejected: str | None = None) -> str:
        if rejected == self.access:
            self.refreshes += 1
            self.access = self.simulator.site_access.mint()["access_token"]
        return self.access


async def test_connector_with_a_token(
    solaredge: SolarEdgeSimulator,
    browser: ClientSession,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Identify reads the one site; a refused token is renewed once."""
    freezer.move_to(NOON)
    tokens = _Tokens(solaredge)
    client = SolarEdgeConnector(
        browser, token=tokens, site_id=SITE_ID, base_url=solaredge.base_url
    )
    account = await client.async_identify()
    assert [site.id for site in account.sites] == [SITE_ID]
    solaredge.site_access.access_tokens.clear()
    snapshot = await client.async_fetch()
    assert tokens.refreshes == 1
    assert snapshot.value(SITE_ID, "production_power")
    other = SolarEdgeConnector(
        browser, token=tokens, site_id="3012346", base_url=solaredge.base_url
    )
    with pytest.raises(AuthFailedError):
        await other.async_identify()
    with pytest.raises(ValueError, match="either"):
        SolarEdgeConnector(browser, base_url=solaredge.base_url)
    keyed = {"vendor": "solaredge", "api_key": SOLAREDGE_KEY}
    granted = {"vendor": "solaredge", "auth_implementation": AUTH}
    assert SolarEdgeConnector.budget_key(keyed) != SolarEdgeConnector.budget_key(
        granted
    )
    assert isinstance(client.limiter, RequestLimiter)


# -- Home Assistant ------------------------------------------------------------------


@pytest.mark.usefixtures("current_request_with_host")
@pytest.mark.parametrize("echo", [True, False])
async def test_sign_in_creates_the_entry(
    phoenix: HomeAssistant,
    solaredge: SolarEdgeSimulator,
    credential: str,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
    freezer: FrozenDateTimeFactory,
    echo: bool,
) -> None:
    """Sign in, approve, done; with or without SolarEdge echoing external_id."""
    hass = phoenix
    freezer.move_to(NOON)
    solaredge.site_access.echo_external_id = echo
    result = await _start(hass, solaredge)
    query = parse_qs(urlsplit(result["url"]).query)
    assert result["url"].startswith(f"{solaredge.origin}/authorize?")
    assert query["scope"] == ["SITE_DATA DEVICE_DATA"]
    assert query["access_duration"] == ["24"]
    assert "redirect_uri" not in query
    assert "response_type" not in query
    result = await oauth_consent(
        hass, browser, hass_client_no_auth, result, CALLBACK, state=False
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.title == "Home"
    assert entry.unique_id == f"solaredge_{SITE_ID}"
    assert entry.data["site_id"] == SITE_ID
    assert "api_key" not in entry.data
    assert entry.data["token"]["refresh_token"] in (
        solaredge.site_access.valid_refresh_tokens()
    )
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert float(hass.states.get(POWER).state) > 0


@pytest.mark.usefixtures("current_request_with_host")
async def test_callback_without_the_site_asks_for_it(
    phoenix: HomeAssistant,
    solaredge: SolarEdgeSimulator,
    credential: str,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """No site_id on the callback: the user names it, and it is checked."""
    hass = phoenix
    freezer.move_to(NOON)
    solaredge.site_access.send_site_id = False
    result = await oauth_consent(
        hass,
        browser,
        hass_client_no_auth,
        await _start(hass, solaredge),
        CALLBACK,
        state=False,
    )
    assert result["step_id"] == "solaredge_site_access"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"site_id": "3012346"}
    )
    assert result["errors"] == {"base": "site_not_approved"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"site_id": f" {SITE_ID} "}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["site_id"] == SITE_ID
    await hass.async_block_till_done()


@pytest.mark.usefixtures("current_request_with_host")
async def test_refused_consent_and_duplicate_site(
    phoenix: HomeAssistant,
    solaredge: SolarEdgeSimulator,
    solaredge_entry: MockConfigEntry,
    credential: str,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A refusal ends the flow; a site already added by key is not added twice."""
    hass = phoenix
    solaredge.site_access.deny_next()
    result = await oauth_consent(
        hass,
        browser,
        hass_client_no_auth,
        await _start(hass, solaredge),
        CALLBACK,
        state=False,
    )
    assert result["reason"] == "user_rejected_authorize"
    solaredge_entry.add_to_hass(hass)
    result = await oauth_consent(
        hass,
        browser,
        hass_client_no_auth,
        await _start(hass, solaredge),
        CALLBACK,
        state=False,
    )
    assert result["reason"] == "already_configured"


async def test_callback_for_no_sign_in(
    hass: HomeAssistant,
    solaredge: SolarEdgeSimulator,
    credential: str,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A callback nobody waits for (or a forged reference) is refused."""
    from custom_components.sungaze.flows.solaredge import async_register_callback_view

    async_register_callback_view(hass)
    client = await hass_client_no_auth()
    answer = await client.get(
        "/api/sungaze/solaredge/callback?code=x&site_id=1&external_id=flow.forged"
    )
    assert answer.status == 400
    answer = await client.get("/api/sungaze/solaredge/callback?code=x")
    assert answer.status == 400


@pytest.mark.usefixtures("current_request_with_host")
async def test_api_key_mode_needs_a_key(
    phoenix: HomeAssistant, solaredge: SolarEdgeSimulator
) -> None:
    """Choosing the key mode without a key says so."""
    result = await phoenix.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await phoenix.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "solaredge"}
    )
    result = await phoenix.config_entries.flow.async_configure(
        result["flow_id"], {"mode": "api_key", "advanced": {}}
    )
    assert result["errors"] == {"api_key": "api_key_required"}


def _stored(hass_storage: dict[str, Any], entry_id: str) -> dict[str, Any]:
    entries = hass_storage["core.config_entries"]["data"]["entries"]
    return next(e for e in entries if e["entry_id"] == entry_id)["data"]


async def test_two_hour_tokens_rotate_and_persist(
    phoenix: HomeAssistant,
    solaredge: SolarEdgeSimulator,
    site_access_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """Every two hours a new pair, on disk before it is used."""
    hass = phoenix
    site_access_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(site_access_entry.entry_id)
    await hass.async_block_till_done()
    first = site_access_entry.data["token"]["refresh_token"]
    await _tick(hass, freezer, timedelta(hours=2))
    while "refresh_token" not in solaredge.site_access.token_requests:
        await _tick(hass, freezer, site_access_entry.runtime_data.update_interval)
    token = site_access_entry.data["token"]
    assert token["refresh_token"] != first
    assert solaredge.site_access.valid_refresh_tokens() == {token["refresh_token"]}
    assert token["expires_at"] > time.time() + 7000
    assert _stored(hass_storage, site_access_entry.entry_id)["token"] == token
    assert hass.states.get(STATUS).state == "ok"


@pytest.mark.usefixtures("current_request_with_host")
async def test_revoked_grant_asks_to_sign_in_once(
    phoenix: HomeAssistant,
    solaredge: SolarEdgeSimulator,
    site_access_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A dead refresh token: one reauth flow; signing in again restores the entry."""
    hass = phoenix
    site_access_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(site_access_entry.entry_id)
    await hass.async_block_till_done()
    solaredge.site_access.kill_grants()
    await _tick(hass, freezer, timedelta(hours=3))
    await _tick(hass, freezer, timedelta(hours=3))
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == [SOURCE_REAUTH]
    assert solaredge.site_access.token_requests.count("refresh_token") == 1
    result = await hass.config_entries.flow.async_configure(flows[0]["flow_id"], {})
    result = await oauth_consent(
        hass, browser, hass_client_no_auth, result, CALLBACK, state=False
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert site_access_entry.state is ConfigEntryState.LOADED
    result = await site_access_entry.start_reconfigure_flow(hass)
    assert result["reason"] == "reconfigure_site_access"


@pytest.mark.usefixtures("current_request_with_host")
async def test_reauth_for_another_site_is_refused(
    phoenix: HomeAssistant,
    solaredge: SolarEdgeSimulator,
    site_access_entry: MockConfigEntry,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """Signing in for a different site changes nothing."""
    hass = phoenix
    site_access_entry.add_to_hass(hass)
    solaredge.sites[3012346] = second_site()
    solaredge.site_access.owner_sites = [3012346]
    result = await site_access_entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    result = await oauth_consent(
        hass, browser, hass_client_no_auth, result, CALLBACK, state=False
    )
    assert result["reason"] == "wrong_account"
