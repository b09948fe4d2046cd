"""The EG4 connector against the WManage simulator, over real sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
import logging

import aiohttp
from freezegun.api import FrozenDateTimeFactory
import pytest

from custom_components.sungaze.connectors.base import (
    AuthFailedError,
    ConnectionFailedError,
)
from custom_components.sungaze.connectors.eg4 import MODE_CODES, EG4Connector
from custom_components.sungaze.model import METRICS, Snapshot

from .conftest import EG4_PASSWORD, EG4_USERNAME
from .simulators.eg4 import EG4Simulator, SimAccount, SimInverter, default_plants

INV1, INV2, BOSS, XP = "4512670001", "4512670002", "4524850002", "5512340003"
HOME, BARN = "31002", "31077"
MODULE1 = f"{INV1}_Battery_ID_01"
# 12:00 in Phoenix (UTC-7 all year) on the June solstice.
NOON = datetime(2026, 6, 21, 19, 0, tzinfo=UTC)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The test's own HTTP session, with its own (IP-friendly) cookie jar."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield http


def connect(
    sim: EG4Simulator,
    http: aiohttp.ClientSession,
    *,
    password: str = EG4_PASSWORD,
    stations: list[str] | None = None,
) -> EG4Connector:
    return EG4Connector.from_config(
        http,
        {
            "username": EG4_USERNAME,
            "password": password,
            "url": sim.base_url,
            "station_ids": stations,
        },
    )


def paths(sim: EG4Simulator, since: int = 0) -> list[str]:
    return [path.rsplit("/", 1)[-1] for path, _ in sim.calls[since:]]


async def test_identify_lists_stations_and_devices(
    eg4: EG4Simulator, session: aiohttp.ClientSession
) -> None:
    """One login lists the stations and the devices of the login reply."""
    account = await EG4Connector.from_config(
        session, {"username": "SolarFan", "password": EG4_PASSWORD, "url": eg4.base_url}
    ).async_identify()

    assert account.unique_id == "solarfan"
    # Never the username (it would be in every log line): the portal, here.
    assert account.title == "EG4 127.0.0.1"
    assert "solarfan" not in account.title.lower()
    assert [(s.id, s.name) for s in account.sites] == [(HOME, "Home"), (BARN, "Barn")]
    assert [(d.id, d.kind.value, d.site_id) for d in account.devices] == [
        (INV1, "inverter", HOME),
        (INV2, "inverter", HOME),
        (BOSS, "meter", HOME),
        (XP, "inverter", BARN),
    ]
    assert eg4.calls == [
        (
            "/WManage/api/login",
            {"account": "SolarFan", "password": EG4_PASSWORD, "language": "ENGLISH"},
        )
    ]


@pytest.mark.parametrize("status", [200, 401])
async def test_wrong_password_is_auth_failure(
    eg4: EG4Simulator, session: aiohttp.ClientSession, status: int
) -> None:
    """`success:false` on login (or a 401) means the credentials are wrong."""
    eg4.bad_login_status = status
    with pytest.raises(AuthFailedError):
        await connect(eg4, session, password="wrong").async_identify()


async def test_unreachable_portal(
    session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    """A closed port is a connection failure, not an auth failure."""
    sim = EG4Simulator()
    await sim.start()
    url = sim.base_url
    await sim.stop()
    connector = EG4Connector.from_config(
        session, {"username": EG4_USERNAME, "password": EG4_PASSWORD, "url": url}
    )
    with pytest.raises(ConnectionFailedError):
        await connector.async_identify()


async def test_scaling_table_value_by_value(
    eg4: EG4Simulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """Raw fields from the notes' captures, converted by hand."""
    freezer.move_to(NOON)
    eg4.pin(
        INV1,
        "runtime",
        vpv1=3862, vpv2=3790, vpv3=0, ppv1=2710, ppv2=2520, ppv3=0, ppv=5230,
        vacr=2412, fac=5999, pToGrid=1260, pToUser=0, pinv=3130, prec=0,
        pCharge=2100, pDisCharge=0, soc=64, vBat=529, tBat=26, tinner=41,
        consumptionPower=1870, status=0x0C, serverTime="2026-06-21 18:58:20",
    )  # fmt: skip
    eg4.pin(
        INV1,
        "energy",
        todayYielding=184, totalYielding=142970, todayCharging=96, totalCharging=31726,
        todayDischarging=41, totalDischarging=27671, todayImport=22, totalImport=83802,
        todayExport=73, totalExport=53035, todayUsage=151, totalUsage=124538,
    )  # fmt: skip
    eg4.pin(INV1, "battery", currentText="39.7", currentType="charge")
    eg4.pin(
        MODULE1,
        "module",
        totalVoltage=5291, current=132, soc=63, soh=100, batMaxCellVoltage=3312,
        batMinCellVoltage=3307, batMaxCellTemp=260, cycleCnt=61,
        lastUpdateTime="2026-06-21 18:58:20",
    )  # fmt: skip
    eg4.pin(
        BOSS,
        "midbox",
        gridL1RmsVolt=1204, gridL2RmsVolt=1207, gridFreq=5998,
        gridL1ActivePower=-620, gridL2ActivePower=-640,
        loadL1ActivePower=900, loadL2ActivePower=970,
        eToGridTodayL1=36, eToGridTodayL2=37, eToGridTotalL1=26517, eToGridTotalL2=26518,
        eToUserTodayL1=11, eToUserTodayL2=11, eToUserTotalL1=41901, eToUserTotalL2=41901,
        eLoadTodayL1=75, eLoadTodayL2=76, eLoadTotalL1=62269, eLoadTotalL2=62269,
    )  # fmt: skip

    snapshot = await connect(eg4, session).async_fetch()

    inverter = snapshot.readings[INV1]
    assert inverter.as_of == datetime(2026, 6, 21, 18, 58, 20, tzinfo=UTC)
    assert dict(inverter.values) == {
        "pv_voltage_1": 386.2,  # 3862 x 0.1 V
        "pv_voltage_2": 379.0,
        "pv_power_1": 2710.0,
        "pv_power_2": 2520.0,  # string 3 reads 0 V: nothing connected, no entity
        "production_power": 5230.0,
        "grid_voltage_1": 241.2,
        "ac_frequency": 59.99,  # 5999 x 0.01 Hz
        "grid_power": -1260.0,  # pToUser 0 - pToGrid 1260: exporting
        "ac_power": 3130.0,  # pinv 3130 - prec 0
        "battery_power": -2100.0,  # pDisCharge 0 - pCharge 2100: charging
        "battery_state_of_charge": 64.0,
        "battery_voltage": 52.9,  # 529 x 0.1 V
        "battery_temperature": 26.0,
        "temperature": 41.0,
        "consumption_power": 1870.0,
        "operating_mode": "pv_charging_to_grid",  # 0x0C
        "battery_current": -39.7,  # "39.7" charging
        "production_energy_today": 18_400.0,  # 184 x 0.1 kWh
        "production_energy_lifetime": 14_297_000.0,
        "battery_charge_energy_today": 9_600.0,
        "battery_charge_energy_lifetime": 3_172_600.0,
        "battery_discharge_energy_today": 4_100.0,
        "battery_discharge_energy_lifetime": 2_767_100.0,
        "grid_import_energy_today": 2_200.0,
        "grid_import_energy_lifetime": 8_380_200.0,
        "grid_export_energy_today": 7_300.0,
        "grid_export_energy_lifetime": 5_303_500.0,
        "consumption_energy_today": 15_100.0,
        "consumption_energy_lifetime": 12_453_800.0,
    }
    module = snapshot.readings[MODULE1]
    assert module.as_of == datetime(2026, 6, 21, 18, 58, 20, tzinfo=UTC)
    assert dict(module.values) == {
        "battery_voltage": 52.91,  # 5291 x 0.01 V
        "battery_current": -13.2,  # 132 x 0.1 A, charging
        "battery_state_of_charge": 63.0,
        "battery_state_of_health": 100.0,
        "cell_voltage_max": 3.312,  # mV
        "cell_voltage_min": 3.307,
        "battery_temperature": 26.0,  # 260 x 0.1 degC
        "battery_cycles": 61.0,
    }
    assert snapshot.devices[MODULE1].parent == INV1
    box = snapshot.readings[BOSS].values
    assert dict(box) == {
        "grid_voltage_1": 120.4,
        "grid_voltage_2": 120.7,
        "ac_frequency": 59.98,
        "grid_power": -1260.0,  # -620 + -640
        "consumption_power": 1870.0,
        "grid_export_energy_today": 7_300.0,  # (36 + 37) x 0.1 kWh
        "grid_export_energy_lifetime": 5_303_500.0,
        "grid_import_energy_today": 2_200.0,
        "grid_import_energy_lifetime": 8_380_200.0,
        "consumption_energy_today": 15_100.0,
        "consumption_energy_lifetime": 12_453_800.0,
    }


async def test_numbers_as_strings_and_blanks(
    eg4: EG4Simulator,
    session: aiohttp.ClientSession,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Numbers sent as strings parse the same; "" is absent; garbage is logged once."""
    freezer.move_to(NOON)
    plain = await connect(eg4, session).async_fetch()
    eg4.stringly = True
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as other:
        stringly = await connect(eg4, other).async_fetch()
        assert stringly == plain
        assert isinstance(eg4.runtime(INV1)["soc"], int)  # the model is unchanged...
        eg4.pin(INV1, "runtime", tBat="", vBat="n/a")
        eg4.pin(MODULE1, "module", batMaxCellTemp="")
        connector = connect(eg4, other)
        with caplog.at_level(logging.WARNING):
            first = await connector.async_fetch()
            freezer.tick(timedelta(minutes=5))
            await connector.async_fetch()
    values = first.readings[INV1].values
    assert "battery_temperature" not in values
    assert "battery_voltage" not in values
    assert (
        values["battery_state_of_charge"]
        == plain.readings[INV1].values["battery_state_of_charge"]
    )
    assert "battery_temperature" not in first.readings[MODULE1].values
    assert first.readings[MODULE1].values["cell_voltage_max"] > 3
    assert caplog.text.count("vBat='n/a'") == 1


async def test_field_faults_log_one_line_per_update_and_kind(
    eg4: EG4Simulator,
    session: aiohttp.ClientSession,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Many garbled fields and absurd values: one line per kind, then silence."""
    freezer.move_to(NOON)
    for serial in (INV1, INV2, XP):
        eg4.pin(serial, "runtime", vBat="n/a", tinner="hot", soc="64 %", ppv=10**12)
        eg4.pin(serial, "energy", totalYielding="lots", todayYielding=-5)
    connector = connect(eg4, session)
    with caplog.at_level(logging.WARNING):
        first = await connector.async_fetch()
        for _ in range(2):
            freezer.tick(timedelta(minutes=1))
            await connector.async_fetch()
    lines = [r.getMessage() for r in caplog.records if ".eg4" in r.name]
    assert len(lines) == 2, lines
    assert any(line.startswith("EG4 fields not a number") for line in lines)
    assert any(line.startswith("EG4 fields implausible") for line in lines)
    values = first.readings[INV1].values
    for metric in (
        "production_power",  # 1e12 W
        "production_energy_today",  # negative energy
        "production_energy_lifetime",
        "battery_voltage",
        "temperature",
        "battery_state_of_charge",
    ):
        assert metric not in values


async def test_no_bms_temperature_sentinel(
    eg4: EG4Simulator, session: aiohttp.ClientSession
) -> None:
    """`tBat` 127 means there is no BMS reading, not 127 degC."""
    eg4.pin(INV1, "runtime", tBat=127)
    snapshot = await connect(eg4, session).async_fetch()
    assert "battery_temperature" not in snapshot.readings[INV1].values
    assert "battery_temperature" in snapshot.readings[INV2].values


async def test_requests_per_poll(
    eg4: EG4Simulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """First poll: login, overview, everything; then 8 a minute and batteries every 5."""
    freezer.move_to(NOON)
    connector = connect(eg4, session)
    await connector.async_fetch()
    assert sorted(paths(eg4)) == sorted(
        ["login", "list"]
        + ["getInverterRuntime", "getInverterEnergyInfo", "getBatteryInfo"] * 3
        + ["getMidboxRuntime", "getInverterEnergyInfoParallel"]
    )
    assert connector.cost.per_poll == 8
    assert connector.cost.min_interval == timedelta(seconds=60)
    assert not connector.cost.sun_aware
    freezer.tick(timedelta(seconds=60))
    before = len(eg4.calls)
    await connector.async_fetch()
    assert len(eg4.calls) - before == 8
    assert "getBatteryInfo" not in paths(eg4, before)
    freezer.tick(timedelta(minutes=4))
    before = len(eg4.calls)
    await connector.async_fetch()
    assert paths(eg4, before).count("getBatteryInfo") == 3
    assert connector.diagnostics()["requests_by_endpoint"]["getInverterRuntime"] == 9


async def test_session_expiry_recovered_without_reauth(
    eg4: EG4Simulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """An HTML login page mid-run: jar cleared, one login for all, each call retried once."""
    freezer.move_to(NOON)
    connector = connect(eg4, session)
    await connector.async_fetch()
    eg4.expire_sessions()
    freezer.tick(timedelta(seconds=60))
    snapshot = await connector.async_fetch()
    assert eg4.logins == 2
    assert eg4.login_had_cookie == [False, False]  # the stale cookie was dropped first
    assert snapshot.readings[INV1].online
    assert "production_power" in snapshot.readings[INV1].values
    # The portal's own session lifetime runs out (2 h): same recovery.
    freezer.tick(timedelta(hours=2, minutes=1))
    await connector.async_fetch()
    assert eg4.logins == 3
    diagnostics = connector.diagnostics()
    assert (diagnostics["logins"], diagnostics["session_renewals"]) == (3, 2)


async def test_success_false_relogs_in_once(
    eg4: EG4Simulator, session: aiohttp.ClientSession
) -> None:
    """`success:false` is taken as a lost session: one login, one retry."""
    connector = connect(eg4, session)
    await connector.async_fetch()
    eg4.fail_next("refused", path_contains="getInverterRuntime")
    snapshot = await connector.async_fetch()
    assert eg4.logins == 2
    assert INV1 in snapshot.readings


async def test_lasting_refusal_skips_device_without_login_storm(
    eg4: EG4Simulator, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """A refusal that survives a fresh login skips that device and is not re-tried by login."""
    eg4.refuse.add(XP)
    connector = connect(eg4, session)
    first = await connector.async_fetch()
    assert eg4.logins == 2
    assert XP not in first.readings
    assert XP in first.devices  # still known, just no data
    assert INV1 in first.readings
    second = await connector.async_fetch()
    assert eg4.logins == 2
    assert XP not in second.readings
    assert caplog.text.count("refused getInverterRuntime") == 1
    assert connector.diagnostics()["refused_endpoints"] == [
        "getBatteryInfo",
        "getInverterEnergyInfo",
        "getInverterRuntime",
    ]
    eg4.refuse.clear()
    third = await connector.async_fetch()
    assert XP in third.readings


@pytest.mark.parametrize("kind", ["dataframe_timeout", 502, "drop"])
async def test_transient_failures_are_connection_errors(
    eg4: EG4Simulator, session: aiohttp.ClientSession, kind: str | int
) -> None:
    """Device timeouts, 5xx and resets fail the update without a login."""
    connector = connect(eg4, session)
    await connector.async_fetch()
    eg4.fail_next(kind, path_contains="getInverterEnergyInfo")
    with pytest.raises(ConnectionFailedError):
        await connector.async_fetch()
    assert eg4.logins == 1
    await connector.async_fetch()


async def test_password_changed_mid_run(
    eg4: EG4Simulator, session: aiohttp.ClientSession
) -> None:
    """When the re-login is refused, the update fails as an auth failure (reauth)."""
    connector = connect(eg4, session)
    await connector.async_fetch()
    eg4.account.password = "changed"
    eg4.expire_sessions()
    with pytest.raises(AuthFailedError):
        await connector.async_fetch()


async def test_cookie_not_kept_fails_after_one_retry(
    eg4: EG4Simulator, socket_enabled: None
) -> None:
    """A jar that drops the session cookie cannot loop: one re-login, then an error."""
    async with aiohttp.ClientSession() as strict:  # refuses cookies of IP hosts
        connector = connect(eg4, strict)
        with pytest.raises(ConnectionFailedError, match="login page"):
            await connector.async_fetch()
    assert eg4.logins == 2


async def test_lost_device_goes_offline_with_last_report(
    eg4: EG4Simulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """`lost: true`: frozen values are marked offline with the last upload time."""
    freezer.move_to(NOON)
    connector = connect(eg4, session)
    before = await connector.async_fetch()
    eg4.lose(INV2)
    freezer.tick(timedelta(minutes=10))
    after = await connector.async_fetch()

    lost = after.readings[INV2]
    assert not lost.online
    assert lost.as_of == before.readings[INV2].as_of
    assert "battery_power" not in lost.values  # the portal omits live fields
    assert (
        lost.values["production_energy_lifetime"]
        == before.readings[INV2].values["production_energy_lifetime"]
    )
    assert not after.readings[f"{INV2}_Battery_ID_01"].online
    assert not after.readings[HOME].online  # the station totals include it
    assert after.readings[INV1].online
    assert after.readings[INV1].as_of > before.readings[INV1].as_of

    eg4.recover(INV2)
    freezer.tick(timedelta(minutes=5))
    back = await connector.async_fetch()
    assert back.readings[INV2].online
    assert back.readings[f"{INV2}_Battery_ID_01"].online


async def test_parallel_system_totals(
    eg4: EG4Simulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """A station with two inverters gets totals: powers summed, counters of the group."""
    freezer.move_to(NOON)
    snapshot = await connect(eg4, session).async_fetch()
    station, one, two = (snapshot.readings[key].values for key in (HOME, INV1, INV2))
    for metric in (
        "production_power",
        "battery_power",
        "grid_power",
        "consumption_power",
    ):
        assert station[metric] == one[metric] + two[metric], metric
    group = eg4.parallel_energy(INV1)
    assert station["production_energy_lifetime"] == group["totalYielding"] * 100
    assert station["grid_export_energy_today"] == group["todayExport"] * 100
    assert station["production_energy_lifetime"] == (
        one["production_energy_lifetime"] + two["production_energy_lifetime"]
    )
    assert snapshot.devices[HOME].kind.value == "site"
    assert BARN not in snapshot.readings  # one inverter: its own figures suffice
    assert BARN in snapshot.devices


async def test_selected_stations_only(
    eg4: EG4Simulator, session: aiohttp.ClientSession
) -> None:
    """Only the chosen stations are fetched."""
    snapshot = await connect(eg4, session, stations=[BARN]).async_fetch()
    assert set(snapshot.sites) == {BARN}
    assert set(snapshot.readings) == {XP}
    assert "getMidboxRuntime" not in paths(eg4)


async def test_no_chosen_station_left(
    eg4: EG4Simulator, session: aiohttp.ClientSession
) -> None:
    """Stations that left the account leave nothing to fetch: a payload error."""
    with pytest.raises(Exception, match="None of the chosen stations"):
        await connect(eg4, session, stations=["99999"]).async_fetch()


async def test_battery_charges_by_day_and_discharges_by_night(
    eg4: EG4Simulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """The day curve: charging in the morning, discharging in the evening."""
    connector = connect(eg4, session)
    freezer.move_to(datetime(2026, 6, 21, 16, 0, tzinfo=UTC))  # 09:00 local
    morning = (await connector.async_fetch()).readings[INV1].values
    freezer.move_to(datetime(2026, 6, 22, 5, 0, tzinfo=UTC))  # 22:00 local
    evening = (await connector.async_fetch()).readings[INV1].values
    assert morning["battery_power"] < 0 < evening["battery_power"]
    assert morning["production_power"] > 0 == evening["production_power"]
    assert morning["operating_mode"] == "pv_charging"
    assert evening["operating_mode"] == "battery_discharging"


async def test_counters_over_midnight(
    eg4: EG4Simulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """Today counters restart at plant-local midnight; lifetime counters carry on."""
    connector = connect(eg4, session)
    freezer.move_to(datetime(2026, 6, 22, 6, 58, tzinfo=UTC))  # 23:58 local
    late = (await connector.async_fetch()).readings[INV1].values
    freezer.move_to(datetime(2026, 6, 22, 7, 5, tzinfo=UTC))  # 00:05 local
    early = (await connector.async_fetch()).readings[INV1].values
    assert early["consumption_energy_today"] < late["consumption_energy_today"]
    assert early["consumption_energy_today"] <= 100
    for key, value in late.items():
        if key.endswith("_lifetime"):
            assert value <= early[key] <= value + 1000, key


async def test_module_rotation_is_carried(
    eg4: EG4Simulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """Modules missing from one battery answer stay for an hour, then go."""
    freezer.move_to(NOON)
    connector = connect(eg4, session)
    await connector.async_fetch()
    eg4.pin(INV1, "battery", batteryArray=eg4.battery(INV1)["batteryArray"][:2])
    freezer.tick(timedelta(minutes=5))
    carried = await connector.async_fetch()
    assert f"{INV1}_Battery_ID_03" in carried.readings
    freezer.tick(timedelta(minutes=61))
    gone = await connector.async_fetch()
    assert f"{INV1}_Battery_ID_03" not in gone.devices
    assert f"{INV1}_Battery_ID_02" in gone.devices


async def test_xp_bank_without_modules(
    eg4: EG4Simulator, session: aiohttp.ClientSession
) -> None:
    """XP units send the bank header only: a bank current, no module devices."""
    snapshot: Snapshot = await connect(eg4, session, stations=[BARN]).async_fetch()
    assert "battery_current" in snapshot.readings[XP].values
    assert [
        d for d in snapshot.devices.values() if d.kind.value == "battery_module"
    ] == []


async def test_empty_account(
    session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    """An account without stations identifies with no sites."""
    sim = EG4Simulator(SimAccount(plants=[]))
    await sim.start()
    try:
        account = await connect(sim, session).async_identify()
    finally:
        await sim.stop()
    assert account.sites == ()


@pytest.mark.parametrize("kind", ["login_page", 503])
async def test_portal_down_at_login(
    eg4: EG4Simulator, session: aiohttp.ClientSession, kind: str | int
) -> None:
    """A maintenance page or 5xx on login is a connection failure, not bad credentials."""
    eg4.fail_next(kind, path_contains="/login")
    with pytest.raises(ConnectionFailedError):
        await connect(eg4, session).async_identify()


async def test_firmware_variants(
    session: aiohttp.ClientSession,
    socket_enabled: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Three-phase voltages, load and battery fields under other names, unknown modes."""
    plants = default_plants()
    plants[1].inverters[0].phase = 3
    sim = EG4Simulator(SimAccount(plants=plants))
    sim.pin(XP, "runtime", vacr=2301, vacs=2298, vact=2305, status=0x99)
    sim.pin(
        XP, "runtime", consumptionPower=None, consumptionPower114=None, pLoad170=812
    )
    sim.pin(XP, "runtime", pCharge=None, pDisCharge=None, batPower=1500)
    await sim.start()
    try:
        with caplog.at_level(logging.WARNING):
            snapshot = await connect(sim, session, stations=[BARN]).async_fetch()
    finally:
        await sim.stop()
    values = snapshot.readings[XP].values
    assert (
        values["grid_voltage_1"],
        values["grid_voltage_2"],
        values["grid_voltage_3"],
    ) == (
        230.1,
        229.8,
        230.5,
    )
    assert values["consumption_power"] == 812.0
    assert values["battery_power"] == -1500.0  # batPower is + charge
    assert "operating_mode" not in values
    assert "Unknown EG4 operating mode 0x99" in caplog.text


async def test_parallel_groups_without_overview(
    eg4: EG4Simulator, session: aiohttp.ClientSession
) -> None:
    """If the overview list is refused, a station's single group takes all its inverters."""
    eg4.fail_next("refused", count=2, path_contains="inverterOverview")
    connector = connect(eg4, session)
    snapshot = await connector.async_fetch()
    assert "production_energy_lifetime" in snapshot.readings[HOME].values
    assert snapshot.notes == {
        "parallel_groups": "overview list unavailable; one group assumed"
    }
    assert "getInverterEnergyInfoParallel" in paths(eg4)


async def test_unknown_device_type_is_listed_not_polled(
    session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    """A device type these endpoints do not serve is shown but never asked for data."""
    plants = default_plants()
    plants[1].inverters.append(
        SimInverter(serial="9912340009", model="Meter", device_type=12, modules=0)
    )
    sim = EG4Simulator(SimAccount(plants=plants))
    await sim.start()
    try:
        snapshot = await connect(sim, session, stations=[BARN]).async_fetch()
    finally:
        await sim.stop()
    assert snapshot.devices["9912340009"].kind.value == "other"
    assert "9912340009" not in snapshot.readings
    assert all(form.get("serialNum") != "9912340009" for _, form in sim.calls)


def test_operating_modes_are_in_the_catalogue() -> None:
    """Every mode the connector emits is a state of the `operating_mode` metric."""
    options = METRICS["operating_mode"].options
    assert options is not None
    assert set(MODE_CODES.values()) <= set(options)


async def test_simulator_speaks_the_portal_wire_format(
    eg4: EG4Simulator, session: aiohttp.ClientSession
) -> None:
    """The simulator is strict where the portal is: form POSTs, a session, JSON errors."""
    base = eg4.base_url
    async with session.get(
        f"{base}/WManage/api/inverter/getInverterRuntime"
    ) as response:
        assert response.status == 405
    async with session.post(f"{base}/WManage/api/login", json={}) as response:
        assert response.status == 415
    async with session.post(
        f"{base}/WManage/web/config/plant/list/viewer", data={"page": "1"}
    ) as response:
        assert response.content_type == "text/html"  # no session: the login page
    async with session.post(
        f"{base}/WManage/api/login",
        data={"account": EG4_USERNAME, "password": EG4_PASSWORD},
    ) as response:
        assert response.cookies["JSESSIONID"]["path"] == "/WManage"
    async with session.post(
        f"{base}/WManage/web/config/plant/list/viewer", data={"page": "1"}
    ) as response:
        plants = await response.json()
    assert [row["address"] for row in plants["rows"]] == [
        "1 Example Rd",
        "7 Hay Loft Way",
    ]
    async with session.post(
        f"{base}/WManage/api/inverterOverview/list", data={"plantId": HOME}
    ) as response:
        rows = (await response.json())["rows"]
    assert [(row["serialNum"], row["parallelGroup"]) for row in rows] == [
        (INV1, "A"),
        (INV2, "A"),
        (BOSS, ""),
    ]
    assert rows[0]["soc"].endswith(" %")  # a string with a percent sign
    async with session.post(
        f"{base}/WManage/api/midbox/getMidboxRuntime", data={"serialNum": INV1}
    ) as response:
        assert await response.json() == {
            "success": False,
            "msg": "DEVICE_ERROR_UNSUPPORT_DEVICE_TYPE",
        }


@pytest.mark.parametrize(
    ("moment", "discharging"),
    [
        (datetime(2026, 6, 21, 16, 0, tzinfo=UTC), False),  # 09:00 local: charging
        (datetime(2026, 6, 22, 5, 0, tzinfo=UTC), True),  # 22:00 local: discharging
    ],
)
async def test_battery_current_sign_is_the_same_everywhere(
    eg4: EG4Simulator,
    session: aiohttp.ClientSession,
    freezer: FrozenDateTimeFactory,
    moment: datetime,
    discharging: bool,
) -> None:
    """+ discharge for battery power, the bank current and every module current."""
    freezer.move_to(moment)
    snapshot = await connect(eg4, session).async_fetch()
    inverter = snapshot.readings[INV1].values
    modules = [
        snapshot.readings[device.id].values
        for device in snapshot.devices.values()
        if device.parent == INV1
    ]
    assert modules
    signs = {
        float(inverter["battery_power"]) > 0,
        float(inverter["battery_current"]) > 0,
        *(float(module["battery_current"]) > 0 for module in modules),
    }
    assert signs == {discharging}


async def test_module_slot_label_is_not_a_serial(
    eg4: EG4Simulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """`batterySn: Battery_ID_01` names a slot under every inverter: no serial."""
    freezer.move_to(NOON)
    eg4.pin(f"{INV2}_Battery_ID_02", "module", batterySn="BAT2409123456")
    snapshot = await connect(eg4, session).async_fetch()
    assert snapshot.devices[MODULE1].serial is None
    assert snapshot.devices[f"{INV2}_Battery_ID_01"].serial is None
    assert snapshot.devices[f"{INV2}_Battery_ID_02"].serial == "BAT2409123456"
    assert snapshot.devices[MODULE1].model is None  # the portal sends "" here


async def test_title_names_the_only_station(
    session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    """An account with one station is titled by it (never by the username)."""
    sim = EG4Simulator(SimAccount(plants=default_plants()[:1]))
    await sim.start()
    try:
        account = await connect(sim, session).async_identify()
    finally:
        await sim.stop()
    assert account.title == "EG4 Home"


async def test_portal_busy_at_login_is_not_wrong_credentials(
    eg4: EG4Simulator, session: aiohttp.ClientSession
) -> None:
    """A transient `success:false` on the login is a connection problem."""
    eg4.fail_next("dataframe_timeout", path_contains="login")
    with pytest.raises(ConnectionFailedError, match="busy"):
        await connect(eg4, session).async_identify()


async def test_chosen_station_gone(
    eg4: EG4Simulator, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """A chosen station no longer on the account: the others still update, one line."""
    connector = connect(eg4, session, stations=[HOME, "99999"])
    first = await connector.async_fetch()
    await connector.async_fetch()
    assert HOME in first.sites
    assert caplog.text.count("no longer on the account") == 1
