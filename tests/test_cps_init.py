"""CPS entries in Home Assistant: entities, alerts, counters, push, diagnostics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
import re
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    EVENT_HOMEASSISTANT_STOP,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.sungaze.const import DOMAIN
from custom_components.sungaze.coordinator import SungazeCoordinator
from custom_components.sungaze.diagnostics import async_get_config_entry_diagnostics
from custom_components.sungaze.model import Snapshot

from .conftest import MQTT_PASSWORD, MQTT_USER
from .simulators.cps_modbus import (
    PVI14TL_208,
    PVI36TL_480,
    SCA60KTL,
    CpsModbusSimulator,
    InverterModel,
)
from .simulators.mqtt import CpsGatewayPublisher, MosquittoBroker

type StartSim = Callable[..., Awaitable[CpsModbusSimulator]]

NOON = "2026-06-21T19:00:00Z"  # 12:00 in Phoenix
BIG = SCA60KTL.serial
SMALL = PVI14TL_208.serial


def _modbus_entry(sim: CpsModbusSimulator, units: list[int]) -> MockConfigEntry:
    first = sim.model(units[0]).profile.serial
    return MockConfigEntry(
        domain=DOMAIN,
        entry_id="01CPSMODBVS0000000000000000",
        title="CPS inverters",
        unique_id=f"cps_{first}",
        data={
            "vendor": "cps",
            "transport": "modbus",
            "host": sim.host,
            "port": sim.port,
            "unit_ids": units,
            "framing": sim.framing,
            "word_order": "high_first",
            "site_id": f"site_{first}",
        },
    )


def _mqtt_entry(broker: MosquittoBroker) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        entry_id="01CPSMQTT000000000000000000",
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


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> SungazeCoordinator:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    coordinator: SungazeCoordinator = entry.runtime_data
    return coordinator


async def _pushed(
    coordinator: SungazeCoordinator, check: Callable[[Snapshot], bool]
) -> None:
    """Wait (without a clock: time is frozen) until a pushed snapshot passes `check`."""
    done = coordinator.hass.loop.create_future()

    def listener() -> None:
        if not done.done() and coordinator.data is not None and check(coordinator.data):
            done.set_result(None)

    unsubscribe = coordinator.async_add_listener(listener)
    listener()
    await done
    unsubscribe()
    await coordinator.hass.async_block_till_done()


def _entity(hass: HomeAssistant, domain: str, device: str, key: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(
        domain, DOMAIN, f"cps_{device}_{key}"
    )
    assert entity_id is not None, f"no {domain} for {device} {key}"
    return entity_id


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("platform", [Platform.SENSOR, Platform.BINARY_SENSOR])
async def test_modbus_entities(
    phoenix: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cps_modbus: StartSim,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    platform: Platform,
) -> None:
    """Two inverters behind one RTU gateway, one with a grid fault."""
    freezer.move_to(NOON)
    sim = await cps_modbus({1: SCA60KTL, 2: PVI14TL_208}, framing="rtu_over_tcp")
    sim.set_fault("fault0", 1 << 10, unit=1)
    entry = _modbus_entry(sim, [1, 2])
    with patch("custom_components.sungaze.PLATFORMS", [platform]):
        await _setup(phoenix, entry)
    await snapshot_platform(phoenix, entity_registry, snapshot, entry.entry_id)
    devices = dr.async_entries_for_config_entry(dr.async_get(phoenix), entry.entry_id)
    by_name = {device.name: device for device in devices}
    assert by_name["CPS SCA60KTL-DO/US-480 (unit 1)"].serial_number == BIG
    assert (
        by_name["CPS SCA60KTL-DO/US-480 (unit 1)"].via_device_id
        == by_name["CPS inverters (2)"].id
    )
    await phoenix.config_entries.async_unload(entry.entry_id)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("platform", [Platform.SENSOR, Platform.BINARY_SENSOR])
@pytest.mark.freeze_time(NOON, ignore=["paho"])
async def test_mqtt_entities(
    phoenix: HomeAssistant,
    mosquitto: MosquittoBroker,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    platform: Platform,
) -> None:
    """The same inverters pushed by a gateway give the same entities."""
    now = datetime.now(UTC)
    gateway = CpsGatewayPublisher(
        mosquitto.host,
        mosquitto.port,
        models={1: InverterModel(SCA60KTL), 2: InverterModel(PVI14TL_208)},
        username=MQTT_USER,
        password=MQTT_PASSWORD,
        clock=lambda: now,
    )
    gateway.models[1].faults["fault0"] = 1 << 10
    await gateway.async_connect()
    entry = _mqtt_entry(mosquitto)
    try:
        with patch("custom_components.sungaze.PLATFORMS", [platform]):
            coordinator = await _setup(phoenix, entry)
        assert coordinator.update_interval is None
        await gateway.async_publish_telemetry()
        await _pushed(coordinator, lambda s: "temperature" in s.readings[SMALL].values)
        await snapshot_platform(phoenix, entity_registry, snapshot, entry.entry_id)
    finally:
        await phoenix.config_entries.async_unload(entry.entry_id)
        await gateway.async_disconnect()


async def test_fault_list(
    phoenix: HomeAssistant, freezer: FrozenDateTimeFactory, cps_modbus: StartSim
) -> None:
    """Fault bits switch the problem sensor on and list readable faults; clearing them switches it off."""
    freezer.move_to(NOON)
    sim = await cps_modbus({1: SCA60KTL})
    sim.set_fault("fault0", (1 << 10) | (1 << 14))
    sim.set_fault("warning", 1 << 0)
    entry = _modbus_entry(sim, [1])
    coordinator = await _setup(phoenix, entry)
    problem = _entity(phoenix, "binary_sensor", BIG, "problem")
    state = phoenix.states.get(problem)
    assert state is not None
    assert state.state == STATE_ON
    assert [
        (a["code"], a["severity"], a["message"]) for a in state.attributes["alerts"]
    ] == [
        ("warning.0", "warning", "External fan fault (Warning bit 0)"),
        ("fault0.10", "critical", "Grid over-frequency (Fault0 bit 10)"),
        ("fault0.14", "critical", "Over-temperature (Fault0 bit 14)"),
    ]
    assert (
        phoenix.states.get(_entity(phoenix, "sensor", BIG, "work_mode")).state
        == "fault"
    )
    sim.set_fault("fault0", 0)
    sim.set_fault("warning", 0)
    await coordinator.async_refresh()
    await phoenix.async_block_till_done()
    assert phoenix.states.get(problem).state == STATE_OFF
    assert (
        phoenix.states.get(_entity(phoenix, "sensor", BIG, "work_mode")).state
        == "running"
    )
    await phoenix.config_entries.async_unload(entry.entry_id)


async def test_lifetime_counter_over_a_day(
    phoenix: HomeAssistant, freezer: FrozenDateTimeFactory, cps_modbus: StartSim
) -> None:
    """Night-only firmware: the Energy-dashboard counter rises smoothly and never dips."""
    freezer.move_to("2026-06-21T12:30:00Z")  # 05:30 in Phoenix
    sim = await cps_modbus({1: PVI36TL_480})
    entry = _modbus_entry(sim, [1])
    coordinator = await _setup(phoenix, entry)
    entity_id = _entity(
        phoenix, "sensor", PVI36TL_480.serial, "production_energy_lifetime"
    )
    values: list[float] = []
    registers: list[float] = []
    for _ in range(48):  # a day in 30-minute updates
        freezer.tick(timedelta(minutes=30))
        await coordinator.async_refresh()
        await phoenix.async_block_till_done()
        state = phoenix.states.get(entity_id)
        assert state is not None
        assert state.attributes["unit_of_measurement"] == "kWh"
        values.append(round(float(state.state) * 1000))
        registers.append(int(sim.model(1).lifetime_kwh(datetime.now(UTC))) * 1000.0)
    await phoenix.config_entries.async_unload(entry.entry_id)
    assert values == sorted(values)
    assert max(b - a for a, b in pairwise(registers)) > 200_000
    assert max(b - a for a, b in pairwise(values)) < 36_000 * 0.8 * 0.5 + 1000
    assert values[-1] - registers[-1] <= 1000


async def test_gateway_lost_and_back(
    phoenix: HomeAssistant, freezer: FrozenDateTimeFactory, cps_modbus: StartSim
) -> None:
    """A gateway that goes away makes the entities unavailable until it is back."""
    sim = await cps_modbus({1: PVI14TL_208})
    entry = _modbus_entry(sim, [1])
    coordinator = await _setup(phoenix, entry)
    power = _entity(phoenix, "sensor", SMALL, "ac_power")
    status = er.async_get(phoenix).async_get_entity_id(
        "sensor", DOMAIN, f"{entry.unique_id}_connection_status"
    )
    assert status is not None
    assert phoenix.states.get(power).state not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
    await sim.stop()
    await coordinator.async_refresh()
    await phoenix.async_block_till_done()
    assert phoenix.states.get(power).state == STATE_UNAVAILABLE
    assert phoenix.states.get(status).state == "disconnected"
    await sim.restart()
    await coordinator.async_refresh()  # inside the back-off: not even tried
    assert sim.connections == 1
    freezer.tick(timedelta(seconds=2))
    await coordinator.async_refresh()
    await phoenix.async_block_till_done()
    assert phoenix.states.get(power).state not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
    assert phoenix.states.get(status).state == "ok"
    await phoenix.config_entries.async_unload(entry.entry_id)


@pytest.mark.freeze_time(NOON, ignore=["paho"])
async def test_push_updates(phoenix: HomeAssistant, mosquitto: MosquittoBroker) -> None:
    """Pushed telemetry updates the sensors without any polling; the gateway's will marks them unknown."""
    clock = [datetime.now(UTC)]
    gateway = CpsGatewayPublisher(
        mosquitto.host,
        mosquitto.port,
        models={1: InverterModel(PVI14TL_208)},
        username=MQTT_USER,
        password=MQTT_PASSWORD,
        clock=lambda: clock[0],
    )
    await gateway.async_connect()
    entry = _mqtt_entry(mosquitto)
    try:
        coordinator = await _setup(phoenix, entry)
        await gateway.async_publish_telemetry()
        await _pushed(coordinator, lambda s: "ac_power" in s.readings[SMALL].values)
        power = _entity(phoenix, "sensor", SMALL, "ac_power")
        report = _entity(phoenix, "sensor", SMALL, "last_report")
        assert phoenix.states.get(power).state == "11200.0"
        clock[0] += timedelta(hours=3)  # 15:00: less sun
        await gateway.async_publish_telemetry()
        await _pushed(coordinator, lambda s: s.readings[SMALL].as_of == clock[0])
        assert phoenix.states.get(power).state == "7900.0"
        assert phoenix.states.get(report).state == "0"  # data age: fresh
        await gateway.async_disconnect(clean=False)
        await _pushed(coordinator, lambda s: not s.readings[SMALL].online)
        assert phoenix.states.get(power).state == STATE_UNKNOWN
    finally:
        await phoenix.config_entries.async_unload(entry.entry_id)
        await gateway.async_disconnect()
    assert entry.state is ConfigEntryState.NOT_LOADED


async def test_diagnostics(
    phoenix: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cps_modbus: StartSim,
    snapshot: SnapshotAssertion,
) -> None:
    """Diagnostics show registers and link state, never the host or serials."""
    freezer.move_to(NOON)
    sim = await cps_modbus({1: SCA60KTL, 2: PVI14TL_208})
    sim.set_fault("fault0", 1 << 10, unit=1)
    entry = _modbus_entry(sim, [1, 2])
    await _setup(phoenix, entry)
    diagnostics = await async_get_config_entry_diagnostics(phoenix, entry)
    await phoenix.config_entries.async_unload(entry.entry_id)
    assert diagnostics == snapshot(
        exclude=props("entry_id", "port", "created_at", "modified_at")
    )
    text = repr(diagnostics)
    assert BIG not in text
    assert SMALL not in text
    assert "127.0.0.1" not in text


@pytest.mark.freeze_time(NOON, ignore=["paho"])
async def test_mqtt_diagnostics_hide_credentials(
    phoenix: HomeAssistant, mosquitto: MosquittoBroker
) -> None:
    """The broker login never reaches diagnostics."""
    now = datetime.now(UTC)
    gateway = CpsGatewayPublisher(
        mosquitto.host,
        mosquitto.port,
        username=MQTT_USER,
        password=MQTT_PASSWORD,
        clock=lambda: now,
    )
    await gateway.async_connect()
    entry = _mqtt_entry(mosquitto)
    try:
        await _setup(phoenix, entry)
        diagnostics = await async_get_config_entry_diagnostics(phoenix, entry)
    finally:
        await phoenix.config_entries.async_unload(entry.entry_id)
        await gateway.async_disconnect()
    text = repr(diagnostics)
    assert MQTT_PASSWORD not in text
    assert diagnostics["entry"]["data"]["username"] == "**REDACTED**"
    assert "FLEX-00A1B2" not in text
    assert diagnostics["connector"]["connected"] is True
    assert diagnostics["connector"]["rejected"] == {}


async def test_mqtt_login_refused_starts_reauth(
    phoenix: HomeAssistant, cps_gateway: CpsGatewayPublisher, mosquitto: MosquittoBroker
) -> None:
    """A broker that refuses the stored login asks the user for a new one."""
    stored = _mqtt_entry(mosquitto)
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=stored.unique_id,
        data={**stored.data, "password": "expired"},
    )
    entry.add_to_hass(phoenix)
    assert not await phoenix.config_entries.async_setup(entry.entry_id)
    await phoenix.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = phoenix.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]
    assert flows[0]["step_id"] == "cps_reauth"


async def test_broker_outage_shows_on_the_connection_sensor(
    phoenix: HomeAssistant, mosquitto: MosquittoBroker
) -> None:
    """A lost broker reads "disconnected"; the next message after it is back, "ok"."""
    gateway = CpsGatewayPublisher(
        mosquitto.host,
        mosquitto.port,
        models={1: InverterModel(SCA60KTL)},
        username=MQTT_USER,
        password=MQTT_PASSWORD,
    )
    await gateway.async_connect()
    entry = _mqtt_entry(mosquitto)
    try:
        coordinator = await _setup(phoenix, entry)
        status = er.async_get(phoenix).async_get_entity_id(
            "sensor", DOMAIN, f"{entry.unique_id}_connection_status"
        )
        assert status is not None
        assert phoenix.states.get(status).state == "ok"
        seen: list[str] = []
        async_track_state_change_event(
            phoenix, status, lambda event: seen.append(event.data["new_state"].state)
        )
        await mosquitto.async_restart()
        await _eventually(lambda: "disconnected" in seen)
        await asyncio.to_thread(gateway.wait_connected)
        await _eventually(lambda: coordinator.connector.connected)
        stamp = datetime.now(UTC) + timedelta(minutes=1)
        await gateway.async_publish_telemetry(stamp)
        await _pushed(coordinator, lambda s: s.readings[BIG].as_of == stamp)
        assert phoenix.states.get(status).state == "ok"
        assert seen[0] == "disconnected"
    finally:
        await phoenix.config_entries.async_unload(entry.entry_id)
        await gateway.async_disconnect()


async def _eventually(check: Callable[[], bool], tries: int = 200) -> None:
    """Poll a condition the broker's thread makes true (no clock: time may be frozen)."""
    for _ in range(tries):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_ha_stop_closes_the_broker_link_cleanly(
    phoenix: HomeAssistant, mosquitto: MosquittoBroker
) -> None:
    """On HA stop (not only on unload) the MQTT client says goodbye to the broker."""
    gateway = CpsGatewayPublisher(
        mosquitto.host,
        mosquitto.port,
        models={1: InverterModel(SCA60KTL)},
        username=MQTT_USER,
        password=MQTT_PASSWORD,
    )
    await gateway.async_connect()
    entry = _mqtt_entry(mosquitto)
    try:
        coordinator = await _setup(phoenix, entry)
        assert coordinator.connector.connected
        phoenix.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
        await phoenix.async_block_till_done()
        assert not coordinator.connector.connected
        # mosquitto: "disconnected." after a DISCONNECT packet (clean), else
        # "closed its connection" or a socket error.
        goodbye = re.compile(r"Client sungaze-\S+ (disconnected\.|closed its|Socket)")
        await _eventually(lambda: goodbye.search(mosquitto.log()) is not None)
        found = goodbye.search(mosquitto.log())
        assert found is not None
        assert found.group(1) == "disconnected."
    finally:
        await phoenix.config_entries.async_unload(entry.entry_id)
        await gateway.async_disconnect()
