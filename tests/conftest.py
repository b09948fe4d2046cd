"""Fixtures shared by every Sungaze test."""

# Import ours before pytest-homeassistant-custom-component puts its own
# `custom_components` package first on the path.
import custom_components.sungaze  # noqa: F401  isort: skip

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from unittest.mock import PropertyMock, patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.sungaze.const import DOMAIN

from .simulators.solaredge import SolarEdgeSimulator

SOLAREDGE_KEY = "SIMULATED-KEY"
SITE_ID = "3012345"
NOON = datetime(2026, 6, 21, 19, 0, tzinfo=UTC)
"""Solar noon in Phoenix on the longest day: every simulated value is lively."""


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/sungaze."""


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Serialise registry entries and states the Home Assistant way (stable ids).

    The plugin's own override loses to syrupy's fixture here, so set it again.
    """
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture
def entity_registry_enabled_by_default() -> Iterator[None]:
    """Create entities that are disabled by default as enabled (for snapshots)."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        return_value=True,
        new_callable=PropertyMock,
    ):
        yield


@pytest.fixture
async def phoenix(hass: HomeAssistant) -> HomeAssistant:
    """Place the test home where the simulated sites are (Phoenix)."""
    await hass.config.async_set_time_zone("America/Phoenix")
    hass.config.latitude = 33.45
    hass.config.longitude = -112.07
    return hass


@pytest.fixture
async def solaredge(socket_enabled: None) -> AsyncIterator[SolarEdgeSimulator]:
    """A SolarEdge V2 simulator on a free loopback port."""
    simulator = SolarEdgeSimulator(api_key=SOLAREDGE_KEY)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
def solaredge_entry(solaredge: SolarEdgeSimulator) -> MockConfigEntry:
    """A SolarEdge entry pointing at the simulator."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Home",
        unique_id=f"solaredge_{SITE_ID}",
        data={
            "vendor": "solaredge",
            "api_key": SOLAREDGE_KEY,
            "site_id": SITE_ID,
            "url": solaredge.base_url,
        },
    )


@pytest.fixture
async def init_solaredge(
    phoenix: HomeAssistant,
    solaredge_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> MockConfigEntry:
    """Set up the SolarEdge entry against the simulator, at noon."""
    freezer.move_to(NOON)
    solaredge_entry.add_to_hass(phoenix)
    await phoenix.config_entries.async_setup(solaredge_entry.entry_id)
    await phoenix.async_block_till_done()
    return solaredge_entry


# --- EG4 / Luxpower ----------------------------------------------------------
from .simulators.eg4 import EG4Simulator  # noqa: E402  (appended section)

EG4_USERNAME = "solarfan"
EG4_PASSWORD = "sunny-days-42"


@pytest.fixture
async def eg4(socket_enabled: None) -> AsyncIterator[EG4Simulator]:
    """An EG4 monitor-portal simulator on a free loopback port."""
    simulator = EG4Simulator()
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
def eg4_entry(eg4: EG4Simulator) -> MockConfigEntry:
    """An EG4 account entry (both stations) pointing at the simulator."""
    return MockConfigEntry(
        domain=DOMAIN,
        entry_id="01EG4ENTRY0000000000000000",  # stable unique ids in snapshots
        title=f"EG4 {EG4_USERNAME}",
        unique_id=f"eg4_{EG4_USERNAME}",
        data={
            "vendor": "eg4",
            "username": EG4_USERNAME,
            "password": EG4_PASSWORD,
            "url": eg4.base_url,
            "station_ids": ["31002", "31077"],
        },
    )


# CPS (Chint): Modbus simulator, mosquitto broker and a gateway publishing to it.
from collections.abc import Awaitable, Callable  # noqa: E402
from typing import Any  # noqa: E402

from .simulators.cps_modbus import CpsModbusSimulator  # noqa: E402
from .simulators.mqtt import MOSQUITTO, CpsGatewayPublisher, MosquittoBroker  # noqa: E402

MQTT_USER = "gateway"
MQTT_PASSWORD = "gateway-secret"


@pytest.fixture
async def cps_modbus(
    socket_enabled: None,
) -> AsyncIterator[Callable[..., Awaitable[CpsModbusSimulator]]]:
    """Start CPS Modbus simulators on free loopback ports; all stop at the end."""
    started: list[CpsModbusSimulator] = []

    async def start(*args: Any, **kwargs: Any) -> CpsModbusSimulator:
        simulator = CpsModbusSimulator(*args, **kwargs)
        await simulator.start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        await simulator.stop()


@pytest.fixture
async def mosquitto(socket_enabled: None) -> AsyncIterator[MosquittoBroker]:
    """A real mosquitto on a free loopback port, with one user."""
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (scripts/setup installs it)")
    broker = MosquittoBroker(users={MQTT_USER: MQTT_PASSWORD})
    await broker.async_start()
    yield broker
    await broker.async_close()


@pytest.fixture
async def cps_gateway(mosquitto: MosquittoBroker) -> AsyncIterator[CpsGatewayPublisher]:
    """A CPS gateway publishing two simulated inverters to `mosquitto`."""
    publisher = CpsGatewayPublisher(
        mosquitto.host, mosquitto.port, username=MQTT_USER, password=MQTT_PASSWORD
    )
    await publisher.async_connect()
    yield publisher
    await publisher.async_disconnect()


# -- Enphase (OAuth) -------------------------------------------------------------

from homeassistant.components.application_credentials import (  # noqa: E402
    ClientCredential,
    async_import_client_credential,
)
from homeassistant.setup import async_setup_component  # noqa: E402

from .simulators.enphase import EnphaseSimulator  # noqa: E402

ENPHASE_SYSTEM_ID = "4123987"
ENPHASE_AUTH = "sungaze_enphase_app"
"""The application credential's id (the entries' `auth_implementation`)."""


@pytest.fixture
async def enphase(socket_enabled: None) -> AsyncIterator[EnphaseSimulator]:
    """An Enphase API v4 + OAuth simulator on a free loopback port."""
    simulator = EnphaseSimulator()
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def enphase_credential(hass: HomeAssistant, enphase: EnphaseSimulator) -> str:
    """The simulator application's client id and secret, as HA stores them."""
    app = enphase.app0
    return await add_application_credential(
        hass, app.client_id, app.client_secret, "Enphase app", ENPHASE_AUTH
    )


async def add_application_credential(
    hass: HomeAssistant, client_id: str, client_secret: str, name: str, auth_id: str
) -> str:
    """Store an OAuth client id and secret the way HA's Application Credentials does."""
    assert await async_setup_component(hass, "application_credentials", {})
    await async_import_client_credential(
        hass, DOMAIN, ClientCredential(client_id, client_secret, name), auth_id
    )
    return auth_id


@pytest.fixture
def enphase_entry(
    enphase: EnphaseSimulator, enphase_credential: str, freezer: FrozenDateTimeFactory
) -> MockConfigEntry:
    """An Enphase entry whose grant was just issued by the simulator, at noon."""
    freezer.move_to(NOON)
    return MockConfigEntry(
        domain=DOMAIN,
        title="Home",
        unique_id=f"enphase_{enphase.owner}",
        data={
            "vendor": "enphase",
            "auth_implementation": enphase_credential,
            "api_key": enphase.app0.api_key,
            "system_ids": [ENPHASE_SYSTEM_ID],
            "url": enphase.base_url,
            "token": enphase.mint(),
        },
        options={"plan": "watt"},
    )


@pytest.fixture
async def init_enphase(
    phoenix: HomeAssistant,
    enphase_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> MockConfigEntry:
    """Set up the Enphase entry against the simulator, at noon."""
    freezer.move_to(NOON)
    enphase_entry.add_to_hass(phoenix)
    await phoenix.config_entries.async_setup(enphase_entry.entry_id)
    await phoenix.async_block_till_done()
    return enphase_entry


# -- OAuth consent (Enphase, SolarEdge site access) ---------------------------------

from urllib.parse import parse_qs, urlsplit  # noqa: E402

from aiohttp import ClientSession  # noqa: E402
from homeassistant.data_entry_flow import FlowResult, FlowResultType  # noqa: E402
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator  # noqa: E402


@pytest.fixture
async def browser(socket_enabled: None) -> AsyncIterator[ClientSession]:
    """The user's browser, for a vendor's consent page."""
    async with ClientSession() as session:
        yield session


async def oauth_consent(
    hass: HomeAssistant,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
    result: FlowResult,
    callback: str,
    *,
    state: bool = True,
) -> FlowResult:
    """Approve on the vendor's consent page, follow its redirect to HA, resume.

    `callback` is where the vendor must send the browser back; `state` whether
    the redirect carries OAuth's `state` (SolarEdge's does not).
    """
    assert result["type"] is FlowResultType.EXTERNAL_STEP
    response = await browser.get(result["url"], allow_redirects=False)
    assert response.status == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == callback
    assert ("state" in parse_qs(location.query)) is state
    client = await hass_client_no_auth()
    answer = await client.get(f"{location.path}?{location.query}")
    assert answer.status == 200, await answer.text()
    return await hass.config_entries.flow.async_configure(result["flow_id"])


# -- Generac PWRcell ---------------------------------------------------------------

from custom_components.sungaze.connectors import generac as generac_connector  # noqa: E402

from .simulators.generac import GeneracSimulator  # noqa: E402


@pytest.fixture
async def generac(socket_enabled: None) -> AsyncIterator[GeneracSimulator]:
    """A Generac PWRcell cloud simulator (one home, one system) on a free port.

    Refusals and renewals the connector remembers per account are forgotten
    between tests.
    """
    generac_connector._REFUSED.clear()
    generac_connector._RENEWALS.clear()
    simulator = GeneracSimulator()
    await simulator.start()
    yield simulator
    await simulator.stop()
    generac_connector._REFUSED.clear()
    generac_connector._RENEWALS.clear()


# -- Tigo (Premium API v3 and the app API) ------------------------------------

from .simulators.tigo import TigoSimulator  # noqa: E402


@pytest.fixture
async def tigo(socket_enabled: None) -> AsyncIterator[TigoSimulator]:
    """A Tigo cloud simulator (both APIs) on a free loopback port."""
    simulator = TigoSimulator()
    await simulator.start()
    yield simulator
    await simulator.stop()


async def tick(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta
) -> None:
    """Move the clock past `delta` and let the refreshes it triggers finish.

    One second more: the coordinator adds sub-second jitter to its schedule;
    its refreshes run as background tasks.
    """
    freezer.tick(delta + timedelta(seconds=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def hourly_sums(
    hass: HomeAssistant, statistic_id: str, start: datetime
) -> list[dict[str, Any]]:
    """A statistic's hourly rows (start, sum) from `start` on, as the recorder has them."""
    from homeassistant.components.recorder.statistics import statistics_during_period
    from homeassistant.helpers.recorder import get_instance

    rows = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        start,
        None,
        {statistic_id},
        "hour",
        None,
        {"sum"},
    )
    return list(rows.get(statistic_id, []))
