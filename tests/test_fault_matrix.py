"""Fault matrix per vendor through the simulators' switches (issue 9).

For each fault: what the entities show, what the connection sensor says, how
many requests the failing update made, that at most one reauth starts, and
that the entry recovers once the fault is gone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import json

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sungaze.const import DOMAIN
from custom_components.sungaze.coordinator import SungazeCoordinator

from .conftest import MQTT_PASSWORD, MQTT_USER
from .simulators.cps_modbus import PVI14TL_208, PVI36TL_480, CpsModbusSimulator
from .simulators.eg4 import EG4Simulator
from .simulators.mqtt import CpsGatewayPublisher, MosquittoBroker

NOON = datetime(2026, 6, 21, 19, 0, tzinfo=UTC)  # 12:00 in Phoenix
FOREVER = 1_000
INVERTER = "sensor.18kpv_4512670002"


def _status(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{entry.unique_id}_connection_status"
    )
    assert entity_id is not None
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def _reauths(hass: HomeAssistant) -> int:
    return sum(
        flow["context"]["source"] == "reauth"
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    )


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> SungazeCoordinator:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    coordinator: SungazeCoordinator = entry.runtime_data
    return coordinator


async def _refresh(hass: HomeAssistant, coordinator: SungazeCoordinator) -> None:
    """One update now (the planned interval and any back-off aside)."""
    await coordinator.async_refresh()
    await hass.async_block_till_done()


# -- EG4 ------------------------------------------------------------------------


@dataclass(frozen=True)
class EG4Fault:
    """One row: how to break the portal, and what the entry must show."""

    arm: Callable[[EG4Simulator], None]
    status: str
    requests: int
    reauth: bool = False
    wait: float = 0.0
    """Seconds to let pass before recovery (a Retry-After)."""
    repair: str | None = None
    """The repair issue the failures raise (cleared by the recovery)."""


EG4_FAULTS = {
    "401": EG4Fault(lambda s: s.fail_next(401, FOREVER), "auth_failed", 2, True),
    "403": EG4Fault(lambda s: s.fail_next(403, FOREVER), "disconnected", 1),
    "410": EG4Fault(
        lambda s: s.fail_next(410, FOREVER), "api_retired", 1, repair="api_retired"
    ),
    "429": EG4Fault(
        lambda s: s.fail_next(429, FOREVER),
        "rate_limited",
        1,
        wait=61,
        repair="quota_exhausted",
    ),
    "429+retry-after": EG4Fault(
        lambda s: s.fail_next(429, FOREVER, retry_after="300"),
        "rate_limited",
        1,
        wait=301,
        repair="quota_exhausted",
    ),
    "500": EG4Fault(lambda s: s.fail_next(500, FOREVER), "disconnected", 1),
    "502": EG4Fault(lambda s: s.fail_next(502, FOREVER), "disconnected", 1),
    "connection reset": EG4Fault(
        lambda s: s.fail_next("drop", FOREVER), "disconnected", 1
    ),
    "maintenance page": EG4Fault(
        lambda s: s.fail_next("html", FOREVER), "disconnected", 1
    ),
    "malformed JSON": EG4Fault(
        lambda s: s.fail_next("bad_json", FOREVER), "bad_payload", 1
    ),
    "session lost, portal down": EG4Fault(
        lambda s: (s.expire_sessions(), s.fail_next(502, FOREVER, "login")),
        "disconnected",
        2,
    ),
}


@pytest.mark.parametrize("fault", EG4_FAULTS.values(), ids=EG4_FAULTS.keys())
async def test_eg4_fault_matrix(
    phoenix: HomeAssistant,
    eg4: EG4Simulator,
    eg4_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    fault: EG4Fault,
) -> None:
    """Each portal fault: entities unavailable, few requests, <= 1 reauth, recovery."""
    freezer.move_to(NOON)
    coordinator = await _setup(phoenix, eg4_entry)
    power = f"{INVERTER}_solar_power"
    assert _state(phoenix, power) not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
    fault.arm(eg4)
    for attempt in range(3):
        freezer.tick(timedelta(seconds=61))
        before = len(eg4.calls)
        await _refresh(phoenix, coordinator)
        sent = len(eg4.calls) - before
        # A 429 blocks the limiter: later attempts inside its wait send nothing.
        assert sent <= fault.requests if attempt else sent == fault.requests
        assert _state(phoenix, power) == STATE_UNAVAILABLE
        assert _status(phoenix, eg4_entry) == fault.status
    assert _reauths(phoenix) == (1 if fault.reauth else 0)
    issues = ir.async_get(phoenix)
    if fault.repair is not None:
        assert issues.async_get_issue(DOMAIN, f"{fault.repair}_{eg4_entry.entry_id}"), (
            fault.repair
        )
    eg4.heal()
    freezer.tick(timedelta(seconds=fault.wait))
    await _refresh(phoenix, coordinator)
    assert _status(phoenix, eg4_entry) == "ok"
    assert _state(phoenix, power) not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
    faults = ("api_retired", "quota_exhausted", "vendor_failing")
    assert [
        issue.issue_id
        for issue in issues.issues.values()
        if issue.domain == DOMAIN and issue.issue_id.startswith(faults)
    ] == []


async def test_eg4_nulls_are_unknown_not_a_failure(
    phoenix: HomeAssistant,
    eg4: EG4Simulator,
    eg4_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Fields sent as null or "" make those readings unknown; the update succeeds."""
    freezer.move_to(NOON)
    coordinator = await _setup(phoenix, eg4_entry)
    eg4.pin("4512670002", "runtime", ppv=None, soc="", vBat=None)
    freezer.tick(timedelta(seconds=61))
    await _refresh(phoenix, coordinator)
    assert _status(phoenix, eg4_entry) == "ok"
    assert _state(phoenix, f"{INVERTER}_solar_power") == STATE_UNKNOWN
    assert _state(phoenix, f"{INVERTER}_battery_state_of_charge") == STATE_UNKNOWN
    assert _state(phoenix, f"{INVERTER}_grid_power") not in (
        STATE_UNAVAILABLE,
        STATE_UNKNOWN,
    )


# -- CPS over Modbus -------------------------------------------------------------

type StartSim = Callable[..., Awaitable[CpsModbusSimulator]]
SMALL, LARGE = PVI14TL_208.serial, PVI36TL_480.serial


def _modbus_entry(sim: CpsModbusSimulator) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="CPS inverters",
        unique_id=f"cps_{SMALL}",
        data={
            "vendor": "cps",
            "transport": "modbus",
            "host": sim.host,
            "port": sim.port,
            "unit_ids": [1, 2],
            "framing": sim.framing,
            "word_order": "high_first",
            "site_id": f"site_{SMALL}",
        },
    )


def _cps_entity(hass: HomeAssistant, domain: str, device: str, key: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(
        domain, DOMAIN, f"cps_{device}_{key}"
    )
    assert entity_id is not None, (domain, device, key)
    return entity_id


@dataclass(frozen=True)
class ModbusFault:
    """One row for the Modbus path."""

    arm: Callable[[CpsModbusSimulator], None]
    status: str
    power: str
    """What unit 1's AC power shows: "value", unknown or unavailable."""
    problem: str | None
    work_mode: str | None = None


MODBUS_FAULTS = {
    "device failure 0x04": ModbusFault(
        lambda s: setattr(s, "exception_units", {1}) or setattr(s, "exception", 0x04),
        "ok",
        STATE_UNKNOWN,
        STATE_ON,
        "fault",
    ),
    "busy 0x06": ModbusFault(
        lambda s: setattr(s, "exception_units", {1}) or setattr(s, "exception", 0x06),
        "ok",
        STATE_UNKNOWN,
        STATE_ON,
        "fault",
    ),
    "gateway target failed 0x0B": ModbusFault(
        lambda s: setattr(s, "exception_units", {1}) or setattr(s, "exception", 0x0B),
        "ok",
        STATE_UNKNOWN,
        STATE_ON,
        "fault",
    ),
    "illegal address 0x02": ModbusFault(
        lambda s: setattr(s, "exception", 0x02),
        "bad_payload",
        STATE_UNAVAILABLE,
        None,
    ),
    "dropped connection": ModbusFault(
        lambda s: setattr(s, "drop", 1), "ok", "value", STATE_OFF, "running"
    ),
    "blank registers": ModbusFault(
        lambda s: s.blank([0x1D, 0x16, 0x17]), "ok", STATE_UNKNOWN, STATE_OFF
    ),
}


@pytest.mark.parametrize("fault", MODBUS_FAULTS.values(), ids=MODBUS_FAULTS.keys())
async def test_cps_modbus_fault_matrix(
    phoenix: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cps_modbus: StartSim,
    fault: ModbusFault,
) -> None:
    """Each inverter or link fault: what the user sees, and recovery.

    Silence (a sleeping inverter) is in test_cps_modbus: the harness freezes
    the loop clock, so a Modbus timeout cannot run out here.
    """
    freezer.move_to(NOON)
    sim = await cps_modbus({1: PVI14TL_208, 2: PVI36TL_480})
    entry = _modbus_entry(sim)
    coordinator = await _setup(phoenix, entry)
    power = _cps_entity(phoenix, "sensor", SMALL, "ac_power")
    energy = _cps_entity(phoenix, "sensor", SMALL, "production_energy_lifetime")
    problem = _cps_entity(phoenix, "binary_sensor", SMALL, "problem")
    mode = _cps_entity(phoenix, "sensor", SMALL, "work_mode")
    lifetime = _state(phoenix, energy)
    fault.arm(sim)
    mark = len(sim.requests)
    await _refresh(phoenix, coordinator)
    # Two reads per inverter at most, one more to re-read after a dropped link.
    assert len(sim.requests) - mark <= 5
    assert _status(phoenix, entry) == fault.status
    shown = _state(phoenix, power)
    assert (shown == fault.power) or (
        fault.power == "value" and shown not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
    )
    if fault.problem is not None:
        assert _state(phoenix, problem) == fault.problem
        assert _state(phoenix, energy) == lifetime  # the counter is kept
    if fault.work_mode is not None:
        assert _state(phoenix, mode) == fault.work_mode
    assert _reauths(phoenix) == 0
    # The fault goes away.
    sim.exception, sim.swallow, sim.drop = None, 0, 0
    sim.model(1).blank.clear()
    freezer.tick(timedelta(minutes=1))
    await _refresh(phoenix, coordinator)
    assert _status(phoenix, entry) == "ok"
    assert _state(phoenix, power) not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
    assert _state(phoenix, problem) == STATE_OFF
    assert _state(phoenix, mode) == "running"


# -- CPS over MQTT -----------------------------------------------------------------


def _mqtt_entry(broker: MosquittoBroker) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="CPS gateway FLEX-00A1B2",
        unique_id="cps_FLEX-00A1B2",
        data={
            "vendor": "cps",
            "transport": "mqtt",
            "host": broker.host,
            "port": broker.port,
            "username": MQTT_USER,
            "password": MQTT_PASSWORD,
            "tls": False,
            "topic_prefix": "cps",
            "site_id": "FLEX-00A1B2",
        },
    )


MQTT_FAULTS: dict[str, Callable[[dict[str, object]], bytes]] = {
    "malformed JSON": lambda doc: b'{"schema": "cps-bridge/1", "ts": ',
    "other schema": lambda doc: json.dumps({**doc, "schema": "cps-bridge/9"}).encode(),
    "number as text": lambda doc: json.dumps(
        {**doc, "ac": {**doc["ac"], "p_w": "11200"}}  # type: ignore[dict-item]
    ).encode(),
    "nulls": lambda doc: json.dumps(
        {**doc, "ac": {**doc["ac"], "p_w": None}}  # type: ignore[dict-item]
    ).encode(),
    "absurd power": lambda doc: json.dumps(
        {**doc, "ac": {**doc["ac"], "p_w": 1e12}}  # type: ignore[dict-item]
    ).encode(),
}


@pytest.mark.parametrize("fault", MQTT_FAULTS.values(), ids=MQTT_FAULTS.keys())
async def test_cps_mqtt_fault_matrix(
    phoenix: HomeAssistant,
    cps_gateway: CpsGatewayPublisher,
    mosquitto: MosquittoBroker,
    fault: Callable[[dict[str, object]], bytes],
) -> None:
    """Each bad message: ignored or unknown, never a wrong value; good ones heal."""
    entry = _mqtt_entry(mosquitto)
    coordinator = await _setup(phoenix, entry)
    try:
        good = cps_gateway.document(1, datetime.now(UTC) + timedelta(seconds=1))
        await cps_gateway.async_publish(
            cps_gateway.topic(1, "telemetry"), json.dumps(good)
        )
        await _until(phoenix, coordinator, lambda: _value(coordinator) is not None)
        power = _cps_entity(phoenix, "sensor", SMALL, "ac_power")
        before = _state(phoenix, power)
        assert before not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
        bad = cps_gateway.document(1, datetime.now(UTC) + timedelta(seconds=2))
        await cps_gateway.async_publish(cps_gateway.topic(1, "telemetry"), fault(bad))
        marker = cps_gateway.document(1, datetime.now(UTC) + timedelta(seconds=3))
        marker.pop("ac")  # a message after the bad one, to know it was handled
        await cps_gateway.async_publish(
            cps_gateway.topic(1, "telemetry"), json.dumps(marker)
        )
        stamp = datetime.fromisoformat(marker["ts"])
        await _until(phoenix, coordinator, lambda: _as_of(coordinator) == stamp)
        assert _state(phoenix, power) in (STATE_UNKNOWN, before)
        assert _status(phoenix, entry) == "ok"
        assert _reauths(phoenix) == 0
        healed = cps_gateway.document(1, datetime.now(UTC) + timedelta(seconds=4))
        await cps_gateway.async_publish(
            cps_gateway.topic(1, "telemetry"), json.dumps(healed)
        )
        await _until(
            phoenix,
            coordinator,
            lambda: (
                _value(coordinator) is not None
                and _as_of(coordinator) == datetime.fromisoformat(healed["ts"])
            ),
        )
        assert _state(phoenix, power) not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
    finally:
        await phoenix.config_entries.async_unload(entry.entry_id)


def _value(coordinator: SungazeCoordinator) -> object:
    data = coordinator.data
    return data.value(SMALL, "ac_power") if data else None


def _as_of(coordinator: SungazeCoordinator) -> datetime | None:
    data = coordinator.data
    readings = data.readings.get(SMALL) if data else None
    return readings.as_of if readings else None


async def _until(
    hass: HomeAssistant, coordinator: SungazeCoordinator, check: Callable[[], bool]
) -> None:
    """Wait until a pushed snapshot passes `check` (the broker's thread delivers)."""
    done = hass.loop.create_future()

    def listener() -> None:
        if not done.done() and check():
            done.set_result(None)

    unsubscribe = coordinator.async_add_listener(listener)
    listener()
    try:
        async with asyncio.timeout(15):
            await done
    finally:
        unsubscribe()
    await hass.async_block_till_done()
