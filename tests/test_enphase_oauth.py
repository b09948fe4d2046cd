"""Enphase in Home Assistant: the OAuth flow and the token's life, end to end.

The consent page and the token endpoint are the simulator's; HA's own callback
view receives the redirect, as it would from a browser.
"""

import asyncio
from collections.abc import Callable
from contextlib import suppress
from datetime import timedelta
import logging
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import ClientSession
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.application_credentials import (
    AuthorizationServer,
    ClientCredential,
    async_import_client_credential,
)
from homeassistant.config_entries import SOURCE_REAUTH, SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.sungaze.application_credentials import (
    async_get_auth_implementation,
    async_get_description_placeholders,
)
from custom_components.sungaze.const import DOMAIN
from custom_components.sungaze.flows import FLOWS_BY_VENDOR
from custom_components.sungaze.flows.enphase import EnphaseFlow, EnphaseImplementation
from custom_components.sungaze.flows.solaredge import SolarEdgeImplementation
from custom_components.sungaze.oauth import VendorImplementation

from .conftest import (
    ENPHASE_AUTH,
    ENPHASE_SYSTEM_ID,
    NOON,
    oauth_consent,
    tick as _tick,
)
from .simulators.enphase import (
    EnphaseSimulator,
    SimApp,
    SimSystem,
    cabin_system,
    demo_application_credential,
    demo_entry,
)

CALLBACK = "https://example.com/auth/external/callback"
POWER = "sensor.home_solar_power"
STATUS = "sensor.enphase_home_connection"

pytestmark = pytest.mark.usefixtures("current_request_with_host")


async def _start(
    hass: HomeAssistant, simulator: EnphaseSimulator, api_key: str | None = None
) -> FlowResult:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert "enphase" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "enphase"}
    )
    assert result["step_id"] == "enphase"
    return await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "api_key": api_key or simulator.app0.api_key,
            "advanced": {"url": simulator.base_url},
        },
    )


def _stored(hass_storage: dict[str, Any], entry_id: str) -> dict[str, Any]:
    """What is on disk for an entry."""
    entries = hass_storage["core.config_entries"]["data"]["entries"]
    return next(e for e in entries if e["entry_id"] == entry_id)["data"]


async def test_sign_in_creates_the_entry(
    phoenix: HomeAssistant,
    enphase: EnphaseSimulator,
    enphase_credential: str,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Menu, API key, consent, done: the entry has a live grant and data flows."""
    hass = phoenix
    freezer.move_to(NOON)
    result = await _start(hass, enphase)
    query = parse_qs(urlsplit(result["url"]).query)
    assert result["url"].startswith(f"{enphase.origin}/oauth/authorize?")
    assert query["client_id"] == [enphase.app0.client_id]
    assert query["redirect_uri"] == [CALLBACK]
    assert query["response_type"] == ["code"]
    result = await oauth_consent(hass, browser, hass_client_no_auth, result, CALLBACK)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.title == "Home"
    assert entry.unique_id == f"enphase_{enphase.owner}"
    assert entry.data["auth_implementation"] == ENPHASE_AUTH
    assert entry.data["system_ids"] == [ENPHASE_SYSTEM_ID]
    assert entry.data["api_key"] == enphase.app0.api_key
    assert entry.data["token"]["refresh_token"] in enphase.valid_refresh_tokens()
    assert enphase.token_requests == ["authorization_code"]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert float(hass.states.get(POWER).state) > 0


async def test_refused_consent_aborts(
    phoenix: HomeAssistant,
    enphase: EnphaseSimulator,
    enphase_credential: str,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """The owner says no: the flow ends, nothing is exchanged."""
    enphase.deny_next()
    result = await oauth_consent(
        phoenix, browser, hass_client_no_auth, await _start(phoenix, enphase), CALLBACK
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "user_rejected_authorize"
    assert enphase.token_requests == []


async def test_wrong_client_secret_aborts(
    phoenix: HomeAssistant,
    enphase: EnphaseSimulator,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A client secret the token endpoint refuses ends the flow as unauthorized."""
    hass = phoenix
    assert await async_setup_component(hass, "application_credentials", {})
    await async_import_client_credential(
        hass, DOMAIN, ClientCredential(enphase.app0.client_id, "not-the-secret")
    )
    result = await oauth_consent(
        hass, browser, hass_client_no_auth, await _start(hass, enphase), CALLBACK
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "oauth_unauthorized"
    assert hass.config_entries.async_entries(DOMAIN) == []


async def test_without_credentials_asks_for_them(
    phoenix: HomeAssistant, enphase: EnphaseSimulator
) -> None:
    """No application credential yet: HA's flow asks for one."""
    assert await async_setup_component(phoenix, "application_credentials", {})
    result = await _start(phoenix, enphase)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "missing_credentials"


async def test_api_key_of_another_application(
    phoenix: HomeAssistant,
    enphase: EnphaseSimulator,
    enphase_credential: str,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """The client signs in fine but the key is another app's: say so."""
    enphase.apps["other"] = SimApp(client_id="other", client_secret="x", api_key="k2")
    result = await oauth_consent(
        phoenix,
        browser,
        hass_client_no_auth,
        await _start(phoenix, enphase, "k2"),
        CALLBACK,
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "invalid_api_key"


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (lambda sim: sim.fail_next(500, path_contains="/systems"), "cannot_connect"),
        (lambda sim: sim.fail_next(429, path_contains="/systems"), "rate_limited"),
        (lambda sim: sim.malformed.add("systems"), "unknown"),
        (lambda sim: setattr(sim, "owner", "nobody"), "no_systems"),
    ],
)
async def test_listing_systems_fails(
    phoenix: HomeAssistant,
    enphase: EnphaseSimulator,
    enphase_credential: str,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
    fault: Callable[[EnphaseSimulator], None],
    reason: str,
) -> None:
    """Signed in, but the systems cannot be listed: say why."""
    fault(enphase)
    result = await oauth_consent(
        phoenix, browser, hass_client_no_auth, await _start(phoenix, enphase), CALLBACK
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason


async def test_same_account_twice_aborts(
    phoenix: HomeAssistant,
    enphase: EnphaseSimulator,
    enphase_credential: str,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """Signing in again with a configured account adds nothing."""
    MockConfigEntry(domain=DOMAIN, unique_id=f"enphase_{enphase.owner}").add_to_hass(
        phoenix
    )
    result = await oauth_consent(
        phoenix, browser, hass_client_no_auth, await _start(phoenix, enphase), CALLBACK
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_system_shared_with_another_account_is_not_added_twice(
    phoenix: HomeAssistant,
    enphase: EnphaseSimulator,
    enphase_credential: str,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A system another entry already follows is not offered again."""
    MockConfigEntry(
        domain=DOMAIN,
        unique_id="enphase_7654321",
        data={"vendor": "enphase", "system_ids": [ENPHASE_SYSTEM_ID]},
    ).add_to_hass(phoenix)
    result = await oauth_consent(
        phoenix, browser, hass_client_no_auth, await _start(phoenix, enphase), CALLBACK
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_several_systems_ask_which(
    phoenix: HomeAssistant,
    socket_enabled: None,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An account with two systems picks; none chosen is an error."""
    hass = phoenix
    freezer.move_to(NOON)
    sim = EnphaseSimulator(systems=[SimSystem(), cabin_system()])
    await sim.start()
    try:
        assert await async_setup_component(hass, "application_credentials", {})
        await async_import_client_credential(
            hass, DOMAIN, ClientCredential(sim.app0.client_id, sim.app0.client_secret)
        )
        result = await oauth_consent(
            hass, browser, hass_client_no_auth, await _start(hass, sim), CALLBACK
        )
        assert result["step_id"] == "enphase_systems"
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"system_ids": []}
        )
        assert result["errors"] == {"base": "no_system"}
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"system_ids": ["4123988"]}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["title"] == "Cabin"
        assert result["data"]["system_ids"] == ["4123988"]
        await hass.async_block_till_done()
        for entry in hass.config_entries.async_entries(DOMAIN):
            await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await sim.stop()


async def test_token_is_refreshed_before_it_expires_and_written_at_once(
    hass: HomeAssistant,
    init_enphase: MockConfigEntry,
    enphase: EnphaseSimulator,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """Minutes before expiry the token is refreshed, and is on disk right away."""
    entry = init_enphase
    old = dict(entry.data["token"])
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, "token": {**old, "expires_at": time.time() + 3600}}
    )
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED  # a token update is no reload
    await _tick(hass, freezer, timedelta(minutes=56))
    while "refresh_token" not in enphase.token_requests:
        await _tick(hass, freezer, entry.runtime_data.update_interval)
    new = entry.data["token"]
    assert new["refresh_token"] != old["refresh_token"]
    assert enphase.valid_refresh_tokens() == {new["refresh_token"]}
    assert new["expires_at"] > time.time() + 86000
    # HA's own save is delayed by a second; ours already happened.
    assert _stored(hass_storage, entry.entry_id)["token"] == new
    assert hass.states.get(STATUS).state == "ok"


async def test_restart_in_the_middle_of_a_refresh_keeps_the_grant(
    hass: HomeAssistant,
    init_enphase: MockConfigEntry,
    enphase: EnphaseSimulator,
    hass_storage: dict[str, Any],
    freezer: FrozenDateTimeFactory,
) -> None:
    """The update is cancelled after the server rotated: the new token still lands.

    The simulator holds its answer after storing the rotation, the moment at
    which a client that dies loses the grant. HA stopping cancels the update;
    the refresh carries on, and what is on disk works after a "restart".
    """
    entry = init_enphase
    old = entry.data["token"]["refresh_token"]
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, "token": {**entry.data["token"], "expires_at": 0}}
    )
    freezer.tick(timedelta(minutes=30))  # a new upload to fetch
    enphase.hold_tokens = asyncio.Event()
    enphase.token_request_seen.clear()
    update = hass.async_create_task(entry.runtime_data.async_refresh())
    await enphase.token_request_seen.wait()
    assert enphase.token_requests == ["refresh_token"]
    assert old not in enphase.valid_refresh_tokens()  # the old one is dead now
    update.cancel()
    with suppress(asyncio.CancelledError):
        await update
    # The next update waits for that refresh instead of spending the token again.
    second = hass.async_create_task(entry.runtime_data.async_refresh())
    await asyncio.sleep(0)
    enphase.hold_tokens.set()
    await second
    await hass.async_block_till_done()
    on_disk = _stored(hass_storage, entry.entry_id)
    assert on_disk["token"]["refresh_token"] in enphase.valid_refresh_tokens()
    assert enphase.token_requests.count("refresh_token") == 1
    # "Restart": an entry built from the disk alone sets up without a sign-in.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.config_entries.async_remove(entry.entry_id)
    revived = MockConfigEntry(
        domain=DOMAIN,
        title="Home",
        unique_id=entry.unique_id,
        data=on_disk,
        options={"plan": "watt"},
    )
    revived.add_to_hass(hass)
    assert await hass.config_entries.async_setup(revived.entry_id)
    await hass.async_block_till_done()
    assert revived.state is ConfigEntryState.LOADED
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert enphase.token_requests.count("refresh_token") == 1


async def test_dead_refresh_token_asks_to_sign_in_once(
    hass: HomeAssistant,
    init_enphase: MockConfigEntry,
    enphase: EnphaseSimulator,
    freezer: FrozenDateTimeFactory,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A refused refresh token: one reauth flow, no more token requests; sign-in fixes it."""
    caplog.set_level(logging.DEBUG)
    entry = init_enphase
    dead = dict(entry.data["token"])
    enphase.kill_grants()
    await _tick(hass, freezer, timedelta(days=1))
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == [SOURCE_REAUTH]
    assert enphase.token_requests.count("refresh_token") == 1
    for _ in range(3):
        await _tick(hass, freezer, timedelta(hours=3))
    assert len(hass.config_entries.flow.async_progress_by_handler(DOMAIN)) == 1
    assert enphase.token_requests.count("refresh_token") == 1
    # Even a reload does not try the dead token again.
    await hass.config_entries.async_reload(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert enphase.token_requests.count("refresh_token") == 1
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == [SOURCE_REAUTH]
    # The owner signs in again.
    result = await hass.config_entries.flow.async_configure(flows[0]["flow_id"], {})
    result = await oauth_consent(hass, browser, hass_client_no_auth, result, CALLBACK)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.data["token"]["refresh_token"] in enphase.valid_refresh_tokens()
    assert hass.states.get(STATUS).state == "ok"
    # Nothing secret reached the log, not even at debug level.
    secrets = (
        dead["refresh_token"],
        dead["access_token"],
        entry.data["token"]["refresh_token"],
        entry.data["token"]["access_token"],
        enphase.app0.api_key,
        enphase.app0.client_secret,
    )
    for secret in secrets:
        assert secret not in caplog.text


async def test_reauth_with_another_account_is_refused(
    hass: HomeAssistant,
    init_enphase: MockConfigEntry,
    enphase: EnphaseSimulator,
    freezer: FrozenDateTimeFactory,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """Signing in as someone who cannot see the entry's systems changes nothing."""
    freezer.tick(timedelta(minutes=1))  # past the setup's minute of requests
    result = await init_enphase.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_oauth"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"api_key": enphase.app0.api_key}
    )
    enphase.owner = "someone-else"
    result = await oauth_consent(hass, browser, hass_client_no_auth, result, CALLBACK)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_account"


async def test_token_endpoint_trouble_is_retried_not_reauth(
    hass: HomeAssistant,
    init_enphase: MockConfigEntry,
    enphase: EnphaseSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A 503 from the token endpoint makes the data unavailable for a while only."""
    enphase.token_fail_next(503)
    await _tick(hass, freezer, timedelta(days=1))
    assert hass.states.get(STATUS).state == "disconnected"
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    await _tick(hass, freezer, init_enphase.runtime_data.update_interval)
    assert hass.states.get(STATUS).state == "ok"
    assert enphase.token_requests.count("refresh_token") == 2


async def test_plan_gated_data_never_starts_reauth(
    phoenix: HomeAssistant,
    enphase: EnphaseSimulator,
    enphase_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Kilowatt chosen, Watt in reality: 401 and 429 are handled, no sign-in asked."""
    hass = phoenix
    freezer.move_to(NOON)
    enphase_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(enphase_entry, options={"plan": "kilowatt"})
    await hass.config_entries.async_setup(enphase_entry.entry_id)
    await hass.async_block_till_done()
    # Setup asked for more than Watt's 10 a minute: the 429 taught the limit.
    for _ in range(3):
        if enphase_entry.state is ConfigEntryState.LOADED:
            break
        await _tick(hass, freezer, timedelta(seconds=80))
    assert enphase_entry.state is ConfigEntryState.LOADED
    coordinator = enphase_entry.runtime_data
    assert coordinator.connector.limiter.budget.per_minute == 10
    for _ in range(4):  # catch-up updates until every group has run once
        await _tick(hass, freezer, coordinator.update_interval)
    notes = coordinator.data.notes
    assert "401 Not Authorized" in notes["devices/micros/telemetry"]
    assert "less than the Kilowatt plan" in notes["plan"]
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert hass.states.get(STATUS).state == "ok"


async def test_month_quota_gone_raises_a_repair_issue(
    hass: HomeAssistant,
    init_enphase: MockConfigEntry,
    enphase: EnphaseSimulator,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A month 429 stops the calls until the month ends, with a repair issue."""
    enphase._month[enphase.app0.client_id] = ("2026-06", 1000)
    await _tick(hass, freezer, init_enphase.runtime_data.update_interval)
    assert hass.states.get(STATUS).state == "quota_exhausted"
    assert issue_registry.async_get_issue(
        DOMAIN, f"quota_exhausted_{init_enphase.entry_id}"
    )
    sent = len(enphase.calls)
    await _tick(hass, freezer, timedelta(hours=6))
    assert len(enphase.calls) == sent


async def test_minute_429_waits_for_the_period_end(
    hass: HomeAssistant,
    init_enphase: MockConfigEntry,
    enphase: EnphaseSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """One 429: the entry waits for the minute to end, then carries on."""
    enphase.fail_next(429)
    await _tick(hass, freezer, init_enphase.runtime_data.update_interval)
    assert hass.states.get(STATUS).state == "rate_limited"
    await _tick(hass, freezer, timedelta(seconds=61))
    assert hass.states.get(STATUS).state == "ok"


async def test_options_choose_the_plan(
    hass: HomeAssistant,
    init_enphase: MockConfigEntry,
    enphase: EnphaseSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The plan in the options sets the budget and what interval is allowed."""
    result = await hass.config_entries.options.async_init(init_enphase.entry_id)
    watt_floor = int(result["description_placeholders"]["floor"])
    assert watt_floor >= 60
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"plan": "watt", "min_interval": 15}
    )
    assert result["errors"] == {"min_interval": "interval_too_short"}
    enphase.app0.plan = "kilowatt"  # the owner upgraded the application
    freezer.tick(timedelta(minutes=1))  # the reload's burst gets its own minute
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"plan": "kilowatt", "min_interval": 15}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    limiter = init_enphase.runtime_data.connector.limiter
    assert limiter.budget.per_month == 50_000
    assert (
        int(hass.states.get("sensor.enphase_home_connection_requests_left").state)
        > 40_000
    )


async def test_reconfigure_changes_systems(
    phoenix: HomeAssistant,
    socket_enabled: None,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Reconfigure lists the grant's systems with the stored token."""
    hass = phoenix
    freezer.move_to(NOON)
    sim = EnphaseSimulator(systems=[SimSystem(), cabin_system()])
    await sim.start()
    try:
        assert await async_setup_component(hass, "application_credentials", {})
        await async_import_client_credential(
            hass,
            DOMAIN,
            ClientCredential(sim.app0.client_id, sim.app0.client_secret),
            ENPHASE_AUTH,
        )
        entry = MockConfigEntry(
            domain=DOMAIN,
            title="Home",
            unique_id=f"enphase_{sim.owner}",
            data={
                "vendor": "enphase",
                "auth_implementation": ENPHASE_AUTH,
                "api_key": sim.app0.api_key,
                "system_ids": [ENPHASE_SYSTEM_ID],
                "url": sim.base_url,
                "token": sim.mint(),
            },
        )
        entry.add_to_hass(hass)
        result = await entry.start_reconfigure_flow(hass)
        assert result["step_id"] == "enphase_reconfigure"
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"system_ids": []}
        )
        assert result["errors"] == {"base": "no_system"}
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"api_key": "bad-key", "system_ids": ["4123988"]}
        )
        assert result["errors"] == {"base": "invalid_api_key"}
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"system_ids": [ENPHASE_SYSTEM_ID, "4123988"]}
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reconfigure_successful"
        assert entry.data["system_ids"] == [ENPHASE_SYSTEM_ID, "4123988"]
        assert entry.title == "Home, Cabin"
        await hass.async_block_till_done()
        for item in hass.config_entries.async_entries(DOMAIN):
            await hass.config_entries.async_unload(item.entry_id)
    finally:
        await sim.stop()


async def test_unreachable_token_endpoint_is_retried(
    hass: HomeAssistant,
    init_enphase: MockConfigEntry,
    enphase: EnphaseSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """No answer at all from the token endpoint: unavailable, no reauth."""
    enphase.offline = True
    await _tick(hass, freezer, timedelta(days=1))
    assert hass.states.get(STATUS).state == "disconnected"
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    enphase.offline = False
    await _tick(hass, freezer, init_enphase.runtime_data.update_interval)
    assert hass.states.get(STATUS).state == "ok"


def test_authorization_servers() -> None:
    """Vendor URLs by default; beside the API URL when it is overridden."""
    assert EnphaseImplementation.authorization_server(None) == AuthorizationServer(
        "https://api.enphaseenergy.com/oauth/authorize",
        "https://api.enphaseenergy.com/oauth/token",
    )
    assert EnphaseImplementation.authorization_server("http://127.0.0.1:9/api/v4") == (
        AuthorizationServer(
            "http://127.0.0.1:9/oauth/authorize", "http://127.0.0.1:9/oauth/token"
        )
    )
    assert SolarEdgeImplementation.authorization_server(None) == AuthorizationServer(
        "https://connect.solaredge.com/authorize",
        "https://monitoringapi.solaredge.com/v2/oauth2/token",
    )
    assert SolarEdgeImplementation.authorization_server("http://127.0.0.1:9/v2/") == (
        AuthorizationServer(
            "http://127.0.0.1:9/authorize", "http://127.0.0.1:9/v2/oauth2/token"
        )
    )
    with pytest.raises(NotImplementedError):
        VendorImplementation.authorization_server(None)


async def test_credentials_dialog_and_unbound_credential(hass: HomeAssistant) -> None:
    """The dialog names both portals; an unbound credential cannot sign in."""
    placeholders = await async_get_description_placeholders(hass)
    assert placeholders["redirect_url"] == "https://my.home-assistant.io/redirect/oauth"
    assert placeholders["solaredge_callback"] == "/api/sungaze/solaredge/callback"
    credential = await async_get_auth_implementation(
        hass, "x", ClientCredential("id", "secret")
    )
    with pytest.raises(NotImplementedError):
        await credential.async_generate_authorize_url("flow")
    bound = EnphaseFlow.bind_oauth(hass, credential, None)
    assert (bound.client_id, bound.domain) == ("id", "x")
    assert isinstance(bound, EnphaseImplementation)
    with pytest.raises(TypeError):
        EnphaseFlow.bind_oauth(hass, object(), None)  # type: ignore[arg-type]
    # A vendor without OAuth has nothing to bind to, nor tokens to provide.
    with pytest.raises(TypeError, match="eg4 does not use OAuth"):
        FLOWS_BY_VENDOR["eg4"].bind_oauth(hass, credential, None)
    with pytest.raises(TypeError, match="eg4 does not use OAuth"):
        await FLOWS_BY_VENDOR["eg4"].async_token_provider(
            hass, MockConfigEntry(domain=DOMAIN, data={})
        )


async def test_demo_entry_works(
    phoenix: HomeAssistant, socket_enabled: None, freezer: FrozenDateTimeFactory
) -> None:
    """What scripts/develop writes sets up against the demo simulator."""
    hass = phoenix
    freezer.move_to(NOON)
    sim = EnphaseSimulator(demo=True)
    await sim.start()
    try:
        port = int(urlsplit(sim.origin).port or 0)
        stored = demo_entry("127.0.0.1", port)
        credential = demo_application_credential()
        assert await async_setup_component(hass, "application_credentials", {})
        await async_import_client_credential(
            hass,
            DOMAIN,
            ClientCredential(credential["client_id"], credential["client_secret"]),
            credential["id"],
        )
        entry = MockConfigEntry(
            domain=DOMAIN,
            title=stored["title"],
            unique_id=stored["unique_id"],
            data=stored["data"],
            options=stored["options"],
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert float(hass.states.get(POWER).state) > 0
        # The demo grant survives the refresh, so a restart can reuse it.
        assert sim.token_requests == ["refresh_token"]
        assert "demo-refresh-token" in sim.valid_refresh_tokens()
        await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await sim.stop()
