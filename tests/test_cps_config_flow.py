"""Config flow for CPS: Modbus and MQTT paths against the simulators."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sungaze.connectors.cps import mqtt as cps_mqtt
from custom_components.sungaze.const import DOMAIN

from .conftest import MQTT_PASSWORD, MQTT_USER
from .simulators.cps_modbus import PVI14TL_208, PVI36TL_480, CpsModbusSimulator
from .simulators.mqtt import CpsGatewayPublisher, MosquittoBroker, free_port

type StartSim = Callable[..., Awaitable[CpsModbusSimulator]]


@pytest.fixture(autouse=True)
def short_mqtt_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wait one second, not fifteen, for a gateway that never publishes."""
    monkeypatch.setattr(cps_mqtt, "IDENTIFY_TIMEOUT", 1.0)


async def _form(hass: HomeAssistant, transport: str) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert "cps" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "cps"}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["cps_modbus", "cps_mqtt"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": f"cps_{transport}"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == f"cps_{transport}"
    return dict(result)


def _modbus_input(sim: CpsModbusSimulator, **changes: Any) -> dict[str, Any]:
    return {
        "host": sim.host,
        "port": sim.port,
        "unit_ids": "1, 2",
        "framing": sim.framing,
        "word_order": "high_first",
        **changes,
    }


def _mqtt_input(broker: MosquittoBroker, **changes: Any) -> dict[str, Any]:
    return {
        "host": broker.host,
        "port": broker.port,
        "username": MQTT_USER,
        "password": MQTT_PASSWORD,
        "tls": False,
        "topic_prefix": "cps",
        **changes,
    }


@pytest.mark.parametrize("framing", ["tcp", "rtu_over_tcp"])
async def test_modbus_creates_entry(
    hass: HomeAssistant, cps_modbus: StartSim, framing: str
) -> None:
    """Reading the inverters names the entry; the first serial is the unique id."""
    sim = await cps_modbus({1: PVI14TL_208, 2: PVI36TL_480}, framing=framing)
    form = await _form(hass, "modbus")
    result = await hass.config_entries.flow.async_configure(
        form["flow_id"], _modbus_input(sim)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "CPS inverters (2)"
    assert result["data"] == {
        "vendor": "cps",
        "transport": "modbus",
        "host": "127.0.0.1",
        "port": sim.port,
        "unit_ids": [1, 2],
        "framing": framing,
        "word_order": "high_first",
        "site_id": "site_11491338014",
    }
    entry = result["result"]
    assert entry.unique_id == "cps_11491338014"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_modbus_errors_then_success(
    hass: HomeAssistant, cps_modbus: StartSim
) -> None:
    """Bad unit ids, an unreachable port and a device that is not a CPS are reported; then it works."""
    sim = await cps_modbus({1: PVI14TL_208})
    form = await _form(hass, "modbus")
    flow_id = form["flow_id"]
    for bad in ("0", "1, 1", "one", "300", ""):
        result = await hass.config_entries.flow.async_configure(
            flow_id, _modbus_input(sim, unit_ids=bad)
        )
        assert result["errors"] == {"unit_ids": "invalid_unit_ids"}, bad
    result = await hass.config_entries.flow.async_configure(
        flow_id, _modbus_input(sim, unit_ids="1", port=free_port())
    )
    assert result["errors"] == {"base": "cannot_connect"}
    sim.exception = 0x02
    result = await hass.config_entries.flow.async_configure(
        flow_id, _modbus_input(sim, unit_ids="1")
    )
    assert result["errors"] == {"base": "unknown"}
    sim.exception = None
    result = await hass.config_entries.flow.async_configure(
        flow_id, _modbus_input(sim, unit_ids="1")
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "CPS PVI14TL-208"
    await hass.config_entries.async_unload(result["result"].entry_id)


async def test_modbus_silent_unit(hass: HomeAssistant, cps_modbus: StartSim) -> None:
    """A unit id nobody answers to cannot be added."""
    sim = await cps_modbus({1: PVI14TL_208})
    form = await _form(hass, "modbus")
    result = await hass.config_entries.flow.async_configure(
        form["flow_id"], _modbus_input(sim, unit_ids="1, 7")
    )
    assert result["errors"] == {"base": "cannot_connect"}


async def test_modbus_known_inverter_moves(
    hass: HomeAssistant, cps_modbus: StartSim
) -> None:
    """Adding an inverter again aborts, and takes over its new address."""
    sim = await cps_modbus({1: PVI14TL_208})
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="cps_11491338014",
        data={
            "vendor": "cps",
            "transport": "modbus",
            "host": "192.0.2.1",
            "port": 502,
            "unit_ids": [1],
        },
    )
    entry.add_to_hass(hass)
    form = await _form(hass, "modbus")
    result = await hass.config_entries.flow.async_configure(
        form["flow_id"], _modbus_input(sim, unit_ids="1")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert (entry.data["host"], entry.data["port"]) == ("127.0.0.1", sim.port)


async def test_mqtt_creates_entry(
    hass: HomeAssistant, cps_gateway: CpsGatewayPublisher, mosquitto: MosquittoBroker
) -> None:
    """The gateway's first message names the entry after the gateway."""
    form = await _form(hass, "mqtt")
    result = await hass.config_entries.flow.async_configure(
        form["flow_id"], _mqtt_input(mosquitto, topic_prefix="/cps/")
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "CPS gateway FLEX-00A1B2"
    assert result["data"] == {
        "vendor": "cps",
        "transport": "mqtt",
        "host": "127.0.0.1",
        "port": mosquitto.port,
        "username": MQTT_USER,
        "password": MQTT_PASSWORD,
        "tls": False,
        "topic_prefix": "cps",
        "site_id": "FLEX-00A1B2",
    }
    entry = result["result"]
    assert entry.unique_id == "cps_FLEX-00A1B2"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_mqtt_errors(
    hass: HomeAssistant, cps_gateway: CpsGatewayPublisher, mosquitto: MosquittoBroker
) -> None:
    """Refused login, silent prefix, unreachable broker and wildcards are told apart."""
    form = await _form(hass, "mqtt")
    flow_id = form["flow_id"]
    cases = [
        ({"password": "wrong"}, {"base": "invalid_auth"}),
        ({"topic_prefix": "nothing-here"}, {"base": "no_data"}),
        ({"port": free_port()}, {"base": "cannot_connect"}),
        ({"topic_prefix": "cps/+"}, {"topic_prefix": "invalid_topic_prefix"}),
    ]
    for changes, errors in cases:
        result = await hass.config_entries.flow.async_configure(
            flow_id, _mqtt_input(mosquitto, **changes)
        )
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == errors, changes
    result = await hass.config_entries.flow.async_configure(
        flow_id, _mqtt_input(mosquitto)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.config_entries.async_unload(result["result"].entry_id)


async def test_reconfigure_modbus(hass: HomeAssistant, cps_modbus: StartSim) -> None:
    """The gateway got a new address: same inverter, entry updated; another inverter is refused."""
    old = await cps_modbus({1: PVI14TL_208})
    moved = await cps_modbus({1: PVI14TL_208}, framing="rtu_over_tcp")
    other = await cps_modbus({1: PVI36TL_480})
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="cps_11491338014",
        data={
            "vendor": "cps",
            "transport": "modbus",
            "host": old.host,
            "port": old.port,
            "unit_ids": [1],
            "framing": "tcp",
            "word_order": "high_first",
            "site_id": "site_11491338014",
        },
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "cps_modbus_reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _modbus_input(other, unit_ids="1")
    )
    assert result["reason"] == "wrong_device"
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _modbus_input(moved, unit_ids="1")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data["port"] == moved.port
    assert entry.data["framing"] == "rtu_over_tcp"
    assert entry.data["site_id"] == "site_11491338014"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_reconfigure_mqtt_keeps_password(
    hass: HomeAssistant, cps_gateway: CpsGatewayPublisher, mosquitto: MosquittoBroker
) -> None:
    """An empty password field keeps the stored one."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="cps_FLEX-00A1B2",
        data={
            **_mqtt_input(mosquitto, port=1),
            "vendor": "cps",
            "transport": "mqtt",
            "site_id": "FLEX-00A1B2",
        },
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "cps_mqtt_reconfigure"
    changes = _mqtt_input(mosquitto)
    del changes["password"]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], changes)
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data["port"] == mosquitto.port
    assert entry.data["password"] == MQTT_PASSWORD
    await hass.config_entries.async_unload(entry.entry_id)


async def test_reauth_mqtt(
    hass: HomeAssistant, cps_gateway: CpsGatewayPublisher, mosquitto: MosquittoBroker
) -> None:
    """The broker refused the stored login: a new one is checked before it is stored."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="cps_FLEX-00A1B2",
        data={
            **_mqtt_input(mosquitto, password="old"),
            "vendor": "cps",
            "transport": "mqtt",
            "site_id": "FLEX-00A1B2",
        },
    )
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "cps_reauth"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"username": MQTT_USER, "password": "still-wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"username": MQTT_USER, "password": MQTT_PASSWORD}
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data["password"] == MQTT_PASSWORD
    await hass.config_entries.async_unload(entry.entry_id)


def test_translations_cover_the_cps_steps() -> None:
    """Every CPS step, field, error and option has English text, in both string files."""
    import json
    from pathlib import Path

    from custom_components.sungaze.flows import cps as cps_flow

    root = Path(cps_flow.__file__).parents[1]
    strings = json.loads((root / "strings.json").read_text())
    english = json.loads((root / "translations" / "en.json").read_text())
    fields = {
        "cps_modbus": cps_flow._cps_modbus_schema(),
        "cps_mqtt": cps_flow._cps_mqtt_schema(),
        "cps_modbus_reconfigure": cps_flow._cps_modbus_schema(),
        "cps_mqtt_reconfigure": cps_flow._cps_mqtt_schema(),
    }
    for texts in (strings, english):
        steps = texts["config"]["step"]
        assert set(steps["cps"]["menu_options"]) == {"cps_modbus", "cps_mqtt"}
        assert "cps" in steps["user"]["menu_options"]
        for step, schema in fields.items():
            keys = {str(key) for key in schema.schema}
            assert set(steps[step]["data"]) == keys, step
            assert set(steps[step]["data_description"]) == keys, step
        assert set(steps["cps_reauth"]["data"]) == {"username", "password"}
        for error in (
            "no_data",
            "invalid_unit_ids",
            "invalid_topic_prefix",
            "cannot_connect",
            "invalid_auth",
        ):
            assert error in texts["config"]["error"]
        assert "wrong_device" in texts["config"]["abort"]
        assert set(texts["selector"]["framing"]["options"]) == {"tcp", "rtu_over_tcp"}
        assert set(texts["selector"]["word_order"]["options"]) == {
            "high_first",
            "low_first",
        }
        sensors = texts["entity"]["sensor"]
        assert {"internal_temperature", "transformer_temperature"} <= set(sensors)
    assert "[%key:" not in json.dumps(english)


async def test_inverter_in_another_entry_is_refused(
    hass: HomeAssistant,
    cps_modbus: StartSim,
    cps_gateway: CpsGatewayPublisher,
    mosquitto: MosquittoBroker,
) -> None:
    """Inverters already read over Modbus cannot be added again through MQTT."""
    sim = await cps_modbus({1: PVI14TL_208, 2: PVI36TL_480})
    form = await _form(hass, "modbus")
    result = await hass.config_entries.flow.async_configure(
        form["flow_id"], _modbus_input(sim)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    form = await _form(hass, "mqtt")
    result = await hass.config_entries.flow.async_configure(
        form["flow_id"], _mqtt_input(mosquitto)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "inverter_configured"
    assert result["description_placeholders"]["serial"] in {
        PVI14TL_208.serial,
        PVI36TL_480.serial,
    }
    for entry in hass.config_entries.async_entries(DOMAIN):
        await hass.config_entries.async_unload(entry.entry_id)
