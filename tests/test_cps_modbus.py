"""CPS Modbus connector against the pymodbus simulator, over real loopback sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
import logging
import time

from freezegun.api import FrozenDateTimeFactory
import pytest

from custom_components.sungaze.connectors.base import (
    BadPayloadError,
    ConnectionFailedError,
)
from custom_components.sungaze.connectors.cps import CpsConnector, LifetimeStitcher
from custom_components.sungaze.connectors.cps.modbus import CpsModbusConnector
from custom_components.sungaze.model import CounterGuard, CounterKind, Severity

from .simulators.cps_modbus import (
    PVI14TL_208,
    PVI36TL_480,
    SCA60KTL,
    CpsModbusSimulator,
    InverterModel,
)

type StartSim = Callable[..., Awaitable[CpsModbusSimulator]]

NOON = "2026-06-21T19:00:00Z"  # 12:00 in Phoenix
NIGHT = "2026-06-22T05:00:00Z"  # 22:00 in Phoenix
FRAMINGS = ["tcp", "rtu_over_tcp"]


def _connector(
    sim: CpsModbusSimulator, units: list[int], **kw: object
) -> CpsModbusConnector:
    return CpsModbusConnector(
        host=sim.host,
        port=sim.port,
        unit_ids=units,
        framing=sim.framing,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_identify(cps_modbus: StartSim, framing: str) -> None:
    """Serial and model come from the dumps' identity registers."""
    sim = await cps_modbus({1: PVI14TL_208, 2: PVI36TL_480}, framing=framing)
    connector = _connector(sim, [1, 2])
    account = await connector.async_identify()
    await connector.async_close()
    assert account.unique_id == "11491338014"
    assert account.title == "CPS inverters (2)"
    assert [site.id for site in account.sites] == ["site_11491338014"]
    assert {r.function for r in sim.requests} == {4}


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_poll(
    cps_modbus: StartSim, freezer: FrozenDateTimeFactory, framing: str
) -> None:
    """Values are decoded and scaled; two requests per inverter; one connection."""
    freezer.move_to(NOON)
    sim = await cps_modbus(
        {1: PVI14TL_208, 2: PVI36TL_480, 3: SCA60KTL}, framing=framing
    )
    connector = _connector(sim, [1, 2, 3])
    snapshots = [await connector.async_fetch() for _ in range(3)]
    await connector.async_close()
    snapshot = snapshots[-1]

    small = snapshot.readings["11491338014"].values
    assert small["work_mode"] == "running"
    assert small["ac_power"] == 11200.0
    assert small["production_energy_today"] == 42700.0
    model = sim.model(1)
    assert (
        small["production_energy_lifetime"]
        == int(model.lifetime_kwh(datetime.now(UTC))) * 1000
    )
    assert (
        small["grid_voltage_1"],
        small["grid_voltage_2"],
        small["grid_voltage_3"],
    ) == (209.5, 210.6, 211.2)
    # Phase currents Ia, Ib, Ic (0x0022-0x0024, 0.1 A) beside the line voltages.
    regs = model.registers(datetime.now(UTC))
    assert tuple(small[f"grid_current_{n}"] for n in (1, 2, 3)) == tuple(
        round(regs[address] * 0.1, 1) for address in (0x22, 0x23, 0x24)
    )
    assert all(float(small[f"grid_current_{n}"]) > 0 for n in (1, 2, 3))
    assert small["ac_frequency"] == 59.9
    assert (small["pv_voltage_1"], small["pv_current_1"], small["pv_power_1"]) == (
        367.9,
        15.6,
        5739.2,
    )
    assert small["dc_power"] == pytest.approx(small["pv_power_1"] + small["pv_power_2"])
    # The dump's absent PV3 (0xFFFF) and transformer temperature (0x8000) stay absent.
    assert "pv_voltage_3" not in small
    assert "transformer_temperature" not in small
    assert snapshot.readings["11491338014"].as_of == datetime.now(UTC)
    # The 36 kW dump reads frequency 0: no value rather than 0 Hz.
    assert "ac_frequency" not in snapshot.readings["1013271644022"].values
    assert snapshot.readings["1016060000123"].values["pv_voltage_3"] == 636.5
    # Site totals of the three inverters.
    site = snapshot.readings["site_11491338014"].values
    assert site["production_power"] == 11200.0 + 28800.0 + 48000.0
    assert snapshot.devices["11491338014"].model == "PVI14TL-208"
    assert snapshot.devices["11491338014"].firmware == "1798"
    assert snapshot.devices["11491338014"].parent is None
    assert snapshot.devices["site_11491338014"].kind == "site"

    per_poll = len(sim.requests) // 3
    assert per_poll == 2 * 3
    assert sorted((r.function, r.address, r.count) for r in sim.requests[:2]) == [
        (3, 0x1000, 2),
        (4, 0, 59),
    ]
    assert sim.connections == 1


async def test_word_order(cps_modbus: StartSim, freezer: FrozenDateTimeFactory) -> None:
    """Low-word-first gateways: the option swaps the halves of lifetime and serial."""
    freezer.move_to(NOON)
    sim = await cps_modbus({1: PVI14TL_208}, low_first=True)
    right = _connector(sim, [1], word_order="low_first")
    wrong = _connector(sim, [1])
    assert (await right.async_identify()).unique_id == "11491338014"
    assert (await wrong.async_identify()).unique_id != "11491338014"
    values = (await right.async_fetch()).readings["11491338014"].values
    assert (
        values["production_energy_lifetime"]
        == int(sim.model(1).lifetime_kwh(datetime.now(UTC))) * 1000
    )
    await right.async_close()
    await wrong.async_close()


async def test_blank_registers(
    cps_modbus: StartSim,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """0xFFFF in unsigned registers is "no value": left out, logged once, the rest updates.

    Temperatures are signed: only 0x8000 is "no value" there (B.2), 0xFFFF is -0.1 °C.
    """
    freezer.move_to(NOON)
    sim = await cps_modbus({1: PVI14TL_208})
    sim.blank([0x1D, 0x1F, 0x2B, 0x2C])
    connector = _connector(sim, [1])
    for _ in range(3):
        values = (await connector.async_fetch()).readings["11491338014"].values
    await connector.async_close()
    assert "ac_power" not in values
    assert "grid_voltage_1" not in values
    assert "ac_frequency" not in values
    assert values["temperature"] == -0.1
    assert values["grid_voltage_2"] == 210.6
    assert values["production_energy_today"] == 42700.0
    assert caplog.text.count("no value (0xFFFF) for AC power") == 1


async def test_not_running(
    cps_modbus: StartSim, freezer: FrozenDateTimeFactory
) -> None:
    """At night only trustworthy values are published; power is zero."""
    freezer.move_to(NIGHT)
    sim = await cps_modbus({1: PVI14TL_208})
    connector = _connector(sim, [1])
    values = (await connector.async_fetch()).readings["11491338014"].values
    await connector.async_close()
    assert values["work_mode"] == "standby"
    assert values["ac_power"] == 0.0
    assert values["pv_power_1"] == values["pv_power_2"] == values["dc_power"] == 0.0
    assert not any(
        key.startswith(
            ("grid_voltage", "grid_current", "pv_voltage", "pv_current", "ac_frequency")
        )
        for key in values
    )
    assert values["production_energy_today"] > 0


async def test_faults_become_alerts(
    cps_modbus: StartSim, freezer: FrozenDateTimeFactory
) -> None:
    """Fault bits decode per family into alerts that stay stable while active."""
    freezer.move_to(NOON)
    sim = await cps_modbus({1: SCA60KTL, 2: PVI14TL_208})
    sim.set_fault("fault0", (1 << 10) | (1 << 7), unit=1)
    sim.set_fault("warning", 1 << 1, unit=1)
    sim.set_fault("fault1", 1 << 3, unit=2)
    connector = _connector(sim, [1, 2])
    first = await connector.async_fetch()
    freezer.tick(timedelta(minutes=1))
    second = await connector.async_fetch()
    assert first.alerts == second.alerts
    by_code = {(a.device_id, a.code): a for a in second.alerts}
    over = by_code[("1016060000123", "fault0.10")]
    assert over.message == "Grid over-frequency (Fault0 bit 10)"
    assert over.severity is Severity.CRITICAL
    assert over.started == datetime.fromisoformat(NOON)
    assert (
        by_code[("1016060000123", "fault0.7")].message
        == "Grid line voltage out of range (Fault0 bit 7)"
    )
    fan = by_code[("1016060000123", "warning.1")]
    assert (fan.message, fan.severity) == (
        "Internal fan fault (Warning bit 1)",
        Severity.WARNING,
    )
    # No text is known for this family's Fault1 bits: the bit itself is named.
    assert by_code[("11491338014", "fault1.3")].message == "Fault1 bit 3"
    assert second.value("1016060000123", "work_mode") == "fault"
    assert second.value("1016060000123", "ac_power") == 0.0

    sim.set_fault("fault0", 0, unit=1)
    sim.set_fault("warning", 0, unit=1)
    third = await connector.async_fetch()
    await connector.async_close()
    assert {a.device_id for a in third.alerts} == {"11491338014"}
    assert third.value("1016060000123", "work_mode") == "running"


async def test_remote_off_and_derating(
    cps_modbus: StartSim, freezer: FrozenDateTimeFactory
) -> None:
    """Holding 0x1000 = 0x5555 is "off"; a power limit shows as derating."""
    freezer.move_to(NOON)
    sim = await cps_modbus({1: PVI14TL_208})
    connector = _connector(sim, [1])
    sim.model(1).on_off = 0x5555
    assert (await connector.async_fetch()).value("11491338014", "work_mode") == "off"
    sim.model(1).on_off = 0xAAAA
    sim.model(1).limit_permille = 500
    snapshot = await connector.async_fetch()
    await connector.async_close()
    assert snapshot.value("11491338014", "work_mode") == "derating"
    assert snapshot.value("11491338014", "ac_power") == 7000.0
    assert connector.diagnostics()["units"][0]["power_limit_pct"] == 50.0


async def test_holding_refused(cps_modbus: StartSim) -> None:
    """An inverter without the holding pair is asked once, then only the core block."""
    sim = await cps_modbus({1: PVI14TL_208})
    sim.holding_refused = True
    connector = _connector(sim, [1])
    await connector.async_fetch()
    mark = len(sim.requests)
    await connector.async_fetch()
    await connector.async_close()
    assert [(r.function, r.count) for r in sim.requests_since(mark)] == [(4, 59)]


async def test_exceptions(cps_modbus: StartSim) -> None:
    """Illegal address means the map does not fit and fails the update."""
    sim = await cps_modbus({1: PVI14TL_208})
    connector = _connector(sim, [1])
    await connector.async_fetch()
    sim.exception = 0x02
    with pytest.raises(BadPayloadError):
        await connector.async_fetch()
    await connector.async_close()
    fresh = _connector(sim, [1])
    with pytest.raises(BadPayloadError):
        await fresh.async_identify()
    await fresh.async_close()


@pytest.mark.parametrize("code", [0x04, 0x06, 0x0B])
async def test_failure_exceptions_are_a_problem(
    cps_modbus: StartSim, caplog: pytest.LogCaptureFixture, code: int
) -> None:
    """Device failure, busy, gateway target failed: fault status, an alert, one log line."""
    sim = await cps_modbus({1: PVI14TL_208, 2: PVI36TL_480})
    connector = _connector(sim, [1, 2])
    lifetime = (await connector.async_fetch()).value(
        "11491338014", "production_energy_lifetime"
    )
    sim.exception, sim.exception_units = code, {1}
    snapshots = [await connector.async_fetch() for _ in range(3)]
    failed = snapshots[-1]
    assert dict(failed.readings["11491338014"].values) == {
        "production_energy_lifetime": lifetime,
        "work_mode": "fault",
    }
    [alert] = failed.active_alerts("11491338014")
    assert alert.code == f"modbus.0x{code:02X}"
    assert f"0x{code:02X}" in alert.message
    assert alert.started == snapshots[0].alerts[0].started
    assert failed.value("1013271644022", "work_mode") == "running"  # the other unit
    assert caplog.text.count("CPS unit 1 reports") == 1
    # Answers again: the alert closes, values return.
    sim.exception = None
    healed = await connector.async_fetch()
    await connector.async_close()
    assert healed.active_alerts("11491338014") == []
    assert healed.value("11491338014", "work_mode") == "running"


async def test_failure_before_any_answer_fails_identify_and_update(
    cps_modbus: StartSim,
) -> None:
    """Without a known inverter, a device failure fails the update, saying so."""
    sim = await cps_modbus({1: PVI14TL_208})
    sim.exception = 0x04
    connector = _connector(sim, [1])
    with pytest.raises(ConnectionFailedError, match="device failure"):
        await connector.async_identify()
    with pytest.raises(ConnectionFailedError, match="device failure"):
        await connector.async_fetch()
    await connector.async_close()


async def test_timeout_is_no_problem(cps_modbus: StartSim) -> None:
    """Silence (how a sleeping inverter answers at night) raises no alert, no fault."""
    sim = await cps_modbus({1: PVI14TL_208})
    connector = _connector(sim, [1], timeout=0.3)
    await connector.async_fetch()
    sim.swallow = 1
    night = await connector.async_fetch()
    await connector.async_close()
    assert night.alerts == ()
    assert "work_mode" not in night.readings["11491338014"].values


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_timeout_is_sleep(cps_modbus: StartSim, framing: str) -> None:
    """A unit that does not answer keeps its lifetime; a late answer cannot be mistaken."""
    sim = await cps_modbus({1: PVI14TL_208, 2: PVI36TL_480}, framing=framing)
    connector = _connector(sim, [1, 2], timeout=0.3)
    before = await connector.async_fetch()
    sim.swallow = 1
    during = await connector.async_fetch()
    after = await connector.async_fetch()
    await connector.async_close()
    assert dict(during.readings["11491338014"].values) == {
        "production_energy_lifetime": before.value(
            "11491338014", "production_energy_lifetime"
        )
    }
    assert during.readings["11491338014"].as_of == before.readings["11491338014"].as_of
    assert during.value("1013271644022", "work_mode") is not None
    assert "production_power" not in during.readings["site_11491338014"].values
    assert after.value("11491338014", "work_mode") is not None
    # The connection was closed after the timeout and opened again.
    assert sim.connections == 2


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_unknown_unit(cps_modbus: StartSim, framing: str) -> None:
    """A unit id nobody answers to fails the config flow's identification."""
    sim = await cps_modbus({1: PVI14TL_208}, framing=framing)
    connector = _connector(sim, [1, 9], timeout=0.3)
    with pytest.raises(ConnectionFailedError, match="Unit 9"):
        await connector.async_identify()
    await connector.async_close()


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_dropped_connection(cps_modbus: StartSim, framing: str) -> None:
    """A dropped connection is re-opened within the same update, without waiting for a timeout."""
    sim = await cps_modbus({1: PVI14TL_208}, framing=framing)
    connector = _connector(sim, [1], timeout=5)
    await connector.async_fetch()
    sim.drop = 1
    started = time.monotonic()
    snapshot = await connector.async_fetch()
    assert time.monotonic() - started < 2
    assert snapshot.value("11491338014", "work_mode") is not None
    assert connector.drops == 1
    assert sim.connections == 2
    # Dropped while idle: the next update simply reconnects.
    sim.drop_connections()
    await asyncio.sleep(0.05)
    assert (await connector.async_fetch()).value("11491338014", "work_mode") is not None
    await connector.async_close()
    assert sim.connections == 3


async def test_backoff(cps_modbus: StartSim) -> None:
    """While the gateway is away, reconnects back off and updates fail fast."""
    sim = await cps_modbus({1: PVI14TL_208})
    connector = _connector(sim, [1], backoff=(0.2, 0.8))
    await connector.async_fetch()
    await sim.stop()
    with pytest.raises(ConnectionFailedError):
        await connector.async_fetch()
    attempts = connector.connects
    with pytest.raises(ConnectionFailedError, match="next attempt"):
        await connector.async_fetch()
    assert connector.connects == attempts  # no attempt inside the back-off
    delays = []
    for _ in range(3):
        await asyncio.sleep(connector.diagnostics()["backoff_s"] + 0.02)
        with pytest.raises(ConnectionFailedError):
            await connector.async_fetch()
        delays.append(connector.diagnostics()["backoff_s"])
    assert delays == [0.4, 0.8, 0.8]
    await sim.restart()
    await asyncio.sleep(0.82)
    assert (await connector.async_fetch()).value("11491338014", "work_mode") is not None
    assert connector.diagnostics()["backoff_s"] == 0
    await connector.async_close()


async def test_slow_gateway_no_pile_up(cps_modbus: StartSim) -> None:
    """At ~700 ms a read, updates queue behind each other instead of overlapping."""
    sim = await cps_modbus({1: PVI14TL_208})
    sim.delay = 0.7
    connector = _connector(sim, [1])
    started = time.monotonic()
    results = await asyncio.gather(*(connector.async_fetch() for _ in range(2)))
    elapsed = time.monotonic() - started
    await connector.async_close()
    assert all(r.value("11491338014", "work_mode") for r in results)
    assert sim.max_in_flight == 1
    assert len(sim.requests) == 4
    assert 4 * 0.7 <= elapsed < 4 * 0.7 + 1.0
    assert sim.connections == 1


@pytest.mark.parametrize("night_only", [True, False])
async def test_lifetime_through_a_day(
    cps_modbus: StartSim, freezer: FrozenDateTimeFactory, night_only: bool
) -> None:
    """Lifetime moves with today's energy, never dips, and the night jump is no spike."""
    freezer.move_to("2026-06-21T12:00:00Z")  # 05:00 in Phoenix
    sim = await cps_modbus({1: InverterModel(PVI36TL_480, nightly_lifetime=night_only)})
    connector = _connector(sim, [1])
    guard = CounterGuard(CounterKind.LIFETIME, max_power_w=36_000)
    published: list[float] = []
    registers: list[float] = []
    for step in range(2 * 24 + 4):  # 26 hours in 30-minute steps
        snapshot = await connector.async_fetch()
        value = snapshot.value("1013271644022", "production_energy_lifetime")
        assert isinstance(value, float)
        now = datetime.now(UTC)
        assert guard.accept(value, now) == value, f"guard held {value} at step {step}"
        published.append(value)
        registers.append(int(sim.model(1).lifetime_kwh(now)) * 1000.0)
        freezer.tick(timedelta(minutes=30))
    await connector.async_close()
    assert published == sorted(published)
    steps = [b - a for a, b in pairwise(published)]
    # The largest half-hour step is the noon production, not the night jump.
    assert max(steps) <= 36_000 * 0.8 * 0.5 + 1000
    # At the end (next morning) the published value agrees with the register.
    assert published[-1] - registers[-1] < 1000 + 1
    jump = max(b - a for a, b in pairwise(registers))
    if night_only:
        assert jump > 200_000  # the register did jump by the whole day


async def test_lifetime_restart_at_noon(
    cps_modbus: StartSim, freezer: FrozenDateTimeFactory
) -> None:
    """A restart at noon with night-only firmware keeps the morning's energy."""
    freezer.move_to("2026-06-21T14:00:00Z")  # 07:00
    sim = await cps_modbus({1: PVI36TL_480})
    early = _connector(sim, [1])
    before = (await early.async_fetch()).value(
        "1013271644022", "production_energy_lifetime"
    )
    await early.async_close()
    freezer.move_to(NOON)
    late = _connector(sim, [1])
    snapshot = await late.async_fetch()
    await late.async_close()
    after = snapshot.value("1013271644022", "production_energy_lifetime")
    today = snapshot.value("1013271644022", "production_energy_today")
    assert isinstance(before, float)
    assert isinstance(after, float)
    assert isinstance(today, float)
    register = int(sim.model(1).lifetime_kwh(datetime.now(UTC))) * 1000.0
    assert after == register + today
    assert after > before


def test_stitcher_corrects_a_wrong_night_only_guess() -> None:
    """Firmware on the night-only list that counts during the day after all: held, then followed."""
    stitcher = LifetimeStitcher(nightly=True)
    # First reading at noon: assumed not to include today's 40 kWh yet.
    assert stitcher.update(1_000_000, 40_000, producing=True) == 1_040_000
    # The register moves while producing: the guess was wrong; no dip.
    assert stitcher.update(1_001_000, 41_000, producing=True) == 1_040_000
    assert stitcher.nightly is False
    assert stitcher.update(1_030_000, 70_000, producing=True) == 1_040_000
    assert stitcher.update(1_041_000, 81_000, producing=True) == 1_041_000
    # A meter re-based far below: passed on for the sensor's guard to judge.
    assert stitcher.update(100_000, 82_000, producing=True) == 100_000


async def test_diagnostics_without_serials(
    cps_modbus: StartSim, caplog: pytest.LogCaptureFixture
) -> None:
    """The connector's diagnostics name units, not serials."""
    caplog.set_level(logging.DEBUG)
    sim = await cps_modbus({1: PVI14TL_208})
    connector = _connector(sim, [1])
    await connector.async_fetch()
    diagnostics = connector.diagnostics()
    await connector.async_close()
    assert "11491338014" not in repr(diagnostics)
    assert diagnostics["units"][0]["device_code"] == "0x4032"
    assert diagnostics["requests_total"] == 2


def test_entries_on_one_gateway_share_a_limiter() -> None:
    """Two entries on one Modbus endpoint queue behind each other; MQTT entries do not."""
    modbus = {"vendor": "cps", "transport": "modbus", "host": "10.0.0.5", "port": 502}
    same = CpsConnector.budget_key({**modbus, "unit_ids": [1]})
    assert same == CpsConnector.budget_key({**modbus, "unit_ids": [2]})
    assert same != CpsConnector.budget_key({**modbus, "port": 503})
    mqtt = {"vendor": "cps", "transport": "mqtt", "host": "10.0.0.5", "port": 1883}
    assert CpsConnector.budget_key(
        {**mqtt, "topic_prefix": "a"}
    ) != CpsConnector.budget_key({**mqtt, "topic_prefix": "b"})
    assert CpsConnector.budget.concurrency == 1
