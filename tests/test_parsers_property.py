"""Property-based tests of the EG4 and CPS parsers (issue 9).

Random input raises only the typed errors, and whatever is published is a
plausible reading.

Inputs start from what the simulators send and have parts replaced by random
JSON (or registers by random words), so the parsers' real paths are reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
import json
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.sungaze.connectors.base import SungazeError
from custom_components.sungaze.connectors.cps import CpsFrame, CpsInverter
from custom_components.sungaze.connectors.cps.modbus import BLOCK_COUNT, decode_block
from custom_components.sungaze.connectors.cps.mqtt import SchemaError, parse_message
from custom_components.sungaze.connectors.eg4 import EG4Connector
from custom_components.sungaze.connectors.eg4.parse import Parser
from custom_components.sungaze.connectors.http import HttpResponse
from custom_components.sungaze.model import Readings, Value, plausible

from .simulators.cps_modbus import PVI14TL_208, SCA60KTL, InverterModel
from .simulators.eg4 import EG4Simulator
from .simulators.mqtt import document

NOON = datetime(2026, 6, 21, 19, 0, tzinfo=UTC)
SETTINGS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _mutate(
    payload: Mapping[str, Any], draw: st.DrawFn, *, depth: int = 0
) -> dict[str, Any]:
    """Replace, drop or add random keys of a payload (and of nested objects)."""
    out: dict[str, Any] = {}
    for key, value in payload.items():
        action = draw(st.sampled_from(["keep", "keep", "keep", "drop", "random"]))
        if action == "drop":
            continue
        if action == "random":
            out[key] = draw(json_values)
        elif isinstance(value, Mapping) and depth < 3:
            out[key] = _mutate(value, draw, depth=depth + 1)
        elif isinstance(value, list) and depth < 3:
            out[key] = [
                _mutate(item, draw, depth=depth + 1)
                if isinstance(item, Mapping)
                else item
                for item in value
            ]
        else:
            out[key] = value
    out.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2)))
    return out


@st.composite
def mutated(draw: st.DrawFn, payload: Mapping[str, Any]) -> dict[str, Any]:
    return _mutate(payload, draw)


def _assert_plausible(values: Mapping[str, Value]) -> None:
    for key, value in values.items():
        assert value is None or isinstance(value, float | int | str), (key, value)
        assert plausible(key, value), (key, value)


# -- EG4 ----------------------------------------------------------------------

_SIM = EG4Simulator()
_LOGIN = _SIM._login_reply()
_PAYLOADS = {
    "runtime": _SIM.runtime("4512670001"),
    "energy": _SIM.energy("4512670001"),
    "battery": _SIM.battery("4512670001"),
    "midbox": _SIM.midbox("4524850002"),
}


def _eg4() -> EG4Connector:
    return EG4Connector(None, username="u", password="p")  # type: ignore[arg-type]


@SETTINGS
@given(
    login=mutated(_LOGIN),
    runtime=mutated(_PAYLOADS["runtime"]),
    energy=mutated(_PAYLOADS["energy"]),
    battery=mutated(_PAYLOADS["battery"]),
    midbox=mutated(_PAYLOADS["midbox"]),
)
def test_eg4_parsers_never_raise(
    login: dict[str, Any],
    runtime: dict[str, Any],
    energy: dict[str, Any],
    battery: dict[str, Any],
    midbox: dict[str, Any],
) -> None:
    """Garbled login tree and data answers: parsed or skipped, never a crash."""
    parser = Parser()
    plants = parser.tree(login, {})
    for plant in plants.values():
        readings: dict[str, Readings] = {}
        for unit in plant.units:
            parser.battery(unit, battery, NOON)
            if (inverter := parser.inverter(unit, runtime, energy)) is not None:
                _assert_plausible(inverter.values)
                readings[unit.serial] = inverter
            if (box := parser.midbox(midbox)) is not None:
                _assert_plausible(box.values)
            parser.unit_device(unit)
        parallel = dict.fromkeys(plant.groups, energy)
        if (totals := parser.station(plant, readings, parallel)) is not None:
            _assert_plausible(totals.values)
        for bank in parser.banks.values():
            for _device, module, _seen in bank.modules.values():
                _assert_plausible(module.values)
    parser.log_faults()


@SETTINGS
@given(
    status=st.sampled_from([200, 200, 200, 204, 302, 401, 403, 404, 410, 429, 502]),
    body=st.one_of(
        st.text(max_size=60),
        json_values.map(json.dumps),
        mutated({"success": False, "msg": "DATAFRAME_TIMEOUT"}).map(json.dumps),
        st.just("<html><form><input type=password></form></html>"),
    ),
    retry_after=st.one_of(st.none(), st.text(max_size=30)),
)
def test_eg4_answer_handling_raises_only_typed_errors(
    status: int, body: str, retry_after: str | None
) -> None:
    """Any status and body: a mapping, a session-lost verdict, or a typed error."""
    connector = _eg4()
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    response = HttpResponse(status=status, text=body, headers=headers, url="x")
    try:
        connector._check_status(response, "/WManage/api/x")
        if connector._session_lost(response):
            return
        connector._unavailable(response, "x")
        response.json("x")
    except SungazeError:
        pass


# -- CPS Modbus -----------------------------------------------------------------

_WORDS = st.integers(min_value=0, max_value=0xFFFF)


@SETTINGS
@given(
    regs=st.lists(_WORDS, min_size=BLOCK_COUNT, max_size=BLOCK_COUNT),
    holding=st.one_of(st.none(), st.lists(_WORDS, min_size=2, max_size=2)),
    low_first=st.booleans(),
)
def test_cps_register_block_never_raises(
    regs: list[int], holding: list[int] | None, low_first: bool
) -> None:
    """Any 59 registers decode to a frame whose readings are plausible."""
    frame = decode_block(regs, low_first=low_first, as_of=NOON, holding=holding)
    inverter = CpsInverter(frame.serial or "x", "site", "CPS")
    for step in range(2):
        readings, alerts = inverter.apply(
            CpsFrame(
                **{
                    **{f: getattr(frame, f) for f in frame.__dataclass_fields__},
                    "as_of": NOON + timedelta(minutes=step),
                }
            )
        )
        _assert_plausible(readings.values)
        assert all(alert.device_id == inverter.serial for alert in alerts)


@SETTINGS
@given(
    mutations=st.dictionaries(
        st.integers(min_value=0, max_value=BLOCK_COUNT - 1), _WORDS, max_size=12
    )
)
def test_cps_real_block_with_random_words(mutations: dict[int, int]) -> None:
    """A real dump with random words written over parts of it."""
    regs = InverterModel(SCA60KTL).registers(NOON)[:BLOCK_COUNT]
    for address, word in mutations.items():
        regs[address] = word
    frame = decode_block(regs, low_first=False, as_of=NOON)
    readings, _ = CpsInverter(frame.serial or "x", "site", "CPS").apply(frame)
    _assert_plausible(readings.values)


# -- CPS MQTT -------------------------------------------------------------------

_DOC = document("FLEX-1", 1, InverterModel(PVI14TL_208), NOON)
_SERIAL = _DOC["inverter"]["sn"]
_TOPIC = f"cps/FLEX-1/{_SERIAL}/telemetry"


@SETTINGS
@given(
    doc=mutated(_DOC),
    topic=st.sampled_from(
        [_TOPIC, "cps/FLEX-1/status", "cps/FLEX-1/x/state", "other/topic"]
    ),
)
def test_cps_mqtt_messages_raise_only_schema_errors(
    doc: dict[str, Any], topic: str
) -> None:
    """A garbled cps-bridge/1 document is a SchemaError or a plausible frame."""
    payload = json.dumps(doc).encode() if "status" not in topic else b"online"
    try:
        message = parse_message("cps", topic, payload)
    except SchemaError:
        return
    if message.serial is None or message.ts is None:
        return
    frame = CpsFrame(serial=message.serial, as_of=message.ts, **message.fields)
    readings, _ = CpsInverter(message.serial, "FLEX-1", "CPS").apply(frame)
    _assert_plausible(readings.values)


@SETTINGS
@given(payload=st.binary(max_size=200))
def test_cps_mqtt_random_bytes(payload: bytes) -> None:
    """Random bytes on a telemetry topic: a SchemaError, nothing else."""
    with pytest.raises(SchemaError):
        parse_message("cps", _TOPIC, payload)
