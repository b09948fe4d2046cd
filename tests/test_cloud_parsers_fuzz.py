"""Property-based tests: whatever a cloud endpoint answers, only typed errors escape.

Each example changes one endpoint's answer in the simulator (over real
sockets): either the real answer with a few values deep inside replaced by
random JSON, or a random document built from the vendor's own field names, or
text that is no JSON; then it runs a whole identify and two updates.
"""

from collections import deque
from collections.abc import AsyncIterator, Callable
import copy
from datetime import timedelta
from typing import Any

from aiohttp import ClientSession
from freezegun.api import FrozenDateTimeFactory
from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.sungaze.connectors.base import (
    RequestBudget,
    RequestLimiter,
    SungazeError,
)
from custom_components.sungaze.connectors.enphase import EnphaseConnector
from custom_components.sungaze.connectors.solaredge import SolarEdgeConnector

from .conftest import NOON, SITE_ID, SOLAREDGE_KEY
from .simulators.enphase import EnphaseSimulator
from .simulators.solaredge import SolarEdgeSimulator
from .test_enphase_connector import Tokens

SOLAREDGE_FIELDS = [
    "sites",
    "site",
    "siteId",
    "name",
    "peakPower",
    "installationDate",
    "location",
    "timezone",
    "production",
    "consumption",
    "total",
    "unit",
    "toGrid",
    "fromGrid",
    "toStorage",
    "fromStorage",
    "toSelfConsumption",
    "values",
    "value",
    "timestamp",
    "serialNumber",
    "type",
    "connectedTo",
    "model",
    "partNumber",
    "firmwareVersion",
    "meters",
    "storage",
    "importPower",
    "exportPower",
    "consumptionPower",
    "importEnergy",
    "exportEnergy",
    "chargePower",
    "dischargePower",
    "stateOfEnergy",
    "remainingEnergy",
    "alertId",
    "status",
    "impact",
    "component",
    "errorCodes",
    "category",
    "firstTrigger",
]
SOLAREDGE_ENDPOINTS = (
    "/sites",
    f"/sites/{SITE_ID}",
    "/overview",
    "/power",
    "/energy",
    "/devices",
    "/alerts",
    "/meters/telemetry",
    "/storage/telemetry",
)
ENPHASE_FIELDS = [
    "systems",
    "system_id",
    "name",
    "timezone",
    "connection_type",
    "devices",
    "gateways",
    "micros",
    "meters",
    "encharges",
    "acbs",
    "serial_number",
    "active",
    "state",
    "status",
    "config_type",
    "current_power",
    "energy_today",
    "energy_lifetime",
    "last_report_at",
    "size_w",
    "power",
    "operational_mode",
    "intervals",
    "soc",
    "percent",
    "start_date",
    "charge",
    "discharge",
    "consumption",
    "import",
    "export",
    "micro_inverters",
    "power_produced",
    "energy",
    "units",
    "envoy_serial_number",
    "total_devices",
    "powr",
    "end_at",
    "events",
    "alarms",
    "event_type_id",
    "severity",
    "period",
    "period_end",
    "limit",
    "details",
    "message",
]
ENPHASE_ENDPOINTS = (
    "/systems",
    "/devices",
    "/summary",
    "/latest_telemetry",
    "/telemetry/battery",
    "/battery_lifetime",
    "/consumption_lifetime",
    "/energy_import_lifetime",
    "/energy_export_lifetime",
    "/inverters_summary_by_envoy_or_site",
    "/devices/micros/telemetry",
    "/open_events",
    "/open_alarms",
)
UNITS = ["W", "KW", "WH", "KWH", "PERCENTAGE", "kW", "Wh", "??"]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(UNITS)
    | st.sampled_from(["2026-06-21T11:00:00-07:00", "2026-06-21", "1750528800", ""])
    | st.text(max_size=8)
)


def documents(fields: list[str]) -> st.SearchStrategy[Any]:
    """Random JSON built from the vendor's field names."""
    keys = st.sampled_from(fields) | st.text(max_size=5)
    return st.recursive(
        SCALARS,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=6)
        ),
        max_leaves=25,
    )


def answers(fields: list[str]) -> st.SearchStrategy[Any]:
    """A JSON document, or a body that is no JSON at all."""
    return documents(fields) | st.sampled_from(
        ["<html><body>Service Unavailable</body></html>", '{"sites": ', "null", ""]
    )


def mutations(
    fields: list[str],
) -> st.SearchStrategy[list[tuple[int, int, Any]]]:
    """One to three replacements: (place, reach, value), see `mutator`."""
    return st.lists(
        st.tuples(st.integers(0, 63), st.sampled_from([4, 16, 64]), documents(fields)),
        min_size=1,
        max_size=3,
    )


def mutator(changes: list[tuple[int, int, Any]]) -> Callable[[Any], Any]:
    """A function that replaces values in a real answer (drawn up front).

    Places are listed shallow first; `reach` limits the choice to the first 4,
    16 or 64 of them, so top-level shapes are hit as often as deep values.
    """

    def mutate(body: Any) -> Any:
        for where, reach, value in changes:
            places: list[tuple[Any, Any]] = [(None, None)]
            queue = deque([body])
            while queue:
                node = queue.popleft()
                if isinstance(node, dict):
                    items: Any = list(node.items())
                elif isinstance(node, list):
                    items = list(enumerate(node))
                else:
                    items = []
                for key, child in items:
                    places.append((node, key))
                    queue.append(child)
            parent, key = places[where % min(len(places), reach)]
            if parent is None:
                body = copy.deepcopy(value)
            else:
                parent[key] = copy.deepcopy(value)
        return body

    return mutate


FUZZ = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture
async def session(socket_enabled: None) -> AsyncIterator[ClientSession]:
    """A plain aiohttp session, as HA would inject."""
    async with ClientSession() as client:
        yield client


@pytest.mark.parametrize("endpoint", SOLAREDGE_ENDPOINTS)
@FUZZ
@given(
    replace=st.booleans(),
    body=answers(SOLAREDGE_FIELDS),
    changes=mutations(SOLAREDGE_FIELDS),
)
async def test_solaredge_answers_raise_only_typed_errors(
    session: ClientSession,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
    endpoint: str,
    replace: bool,
    body: Any,
    changes: list[tuple[int, int, Any]],
) -> None:
    """Any answer of any endpoint: a snapshot or a `SungazeError`, nothing else."""
    freezer.move_to(NOON)
    solaredge.minute_limit = 10**6
    solaredge.reset_month()
    solaredge.override, solaredge.transform = (
        ({endpoint: body}, {}) if replace else ({}, {endpoint: mutator(changes)})
    )
    client = SolarEdgeConnector(
        session,
        api_key=SOLAREDGE_KEY,
        site_id=SITE_ID,
        base_url=solaredge.base_url,
        limiter=RequestLimiter(RequestBudget()),
    )
    try:
        await client.async_identify()
    except SungazeError:
        pass
    try:
        await client.async_fetch()
        freezer.tick(timedelta(hours=4))  # the daily extras again, and alerts
        await client.async_fetch()
    except SungazeError:
        pass


@pytest.mark.parametrize("endpoint", ENPHASE_ENDPOINTS)
@FUZZ
@given(
    replace=st.booleans(),
    body=answers(ENPHASE_FIELDS),
    changes=mutations(ENPHASE_FIELDS),
)
async def test_enphase_answers_raise_only_typed_errors(
    session: ClientSession,
    enphase: EnphaseSimulator,
    freezer: FrozenDateTimeFactory,
    endpoint: str,
    replace: bool,
    body: Any,
    changes: list[tuple[int, int, Any]],
) -> None:
    """Any answer of any endpoint: a snapshot or a `SungazeError`, nothing else."""
    freezer.move_to(NOON)
    enphase.app0.plan = "megawatt"
    enphase.override, enphase.transform = (
        ({endpoint: body}, {}) if replace else ({}, {endpoint: mutator(changes)})
    )
    client = EnphaseConnector(
        session,
        api_key=enphase.app0.api_key,
        token=Tokens(enphase),
        plan="megawatt",
        base_url=enphase.base_url,
        limiter=RequestLimiter(RequestBudget()),
    )
    try:
        await client.async_identify()
    except SungazeError:
        pass
    try:
        await client.async_fetch()
        freezer.tick(timedelta(hours=1))
        await client.async_fetch()
    except SungazeError:
        pass
    freezer.tick(timedelta(minutes=1))  # a fresh minute window for the next example
