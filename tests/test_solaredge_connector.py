"""The SolarEdge V2 connector against the simulator, over real sockets."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from aiohttp import ClientSession
from astral import LocationInfo
from astral.sun import sun
from freezegun.api import FrozenDateTimeFactory
import pytest

from custom_components.sungaze.connectors.base import (
    ApiRetiredError,
    AuthFailedError,
    ConnectionFailedError,
    RateLimitedError,
    SungazeError,
)
from custom_components.sungaze.connectors.solaredge import SolarEdgeConnector
from custom_components.sungaze.coordinator import Daylight, plan_interval
from custom_components.sungaze.model import DeviceKind, Severity

from .conftest import SITE_ID, SOLAREDGE_KEY
from .simulators.solaredge import SimSite, SolarEdgeSimulator, second_site

NOON = datetime(2026, 6, 21, 19, 0, tzinfo=UTC)  # 12:00 in Phoenix
PHOENIX = LocationInfo("Phoenix", "US", "America/Phoenix", 33.45, -112.07)


@pytest.fixture
async def session(socket_enabled: None) -> AsyncIterator[ClientSession]:
    """A plain aiohttp session, as HA would inject."""
    async with ClientSession() as client:
        yield client


def connector(
    session: ClientSession, simulator: SolarEdgeSimulator, key: str = SOLAREDGE_KEY
) -> SolarEdgeConnector:
    """A connector for the simulator's default site."""
    return SolarEdgeConnector(
        session, api_key=key, site_id=SITE_ID, base_url=simulator.base_url
    )


async def test_identify_lists_sites(session: ClientSession) -> None:
    """A key reaching two sites lists both."""
    simulator = SolarEdgeSimulator(sites=[SimSite(), second_site()])
    await simulator.start()
    try:
        account = await connector(session, simulator).async_identify()
    finally:
        await simulator.stop()
    assert [site.id for site in account.sites] == ["3012345", "3012346"]
    assert account.sites[0].timezone == "America/Phoenix"
    assert account.sites[1].peak_power_w == 4200.0


async def test_fetch_matches_the_simulated_truth(
    session: ClientSession,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """At noon every site reading equals what the portal reports."""
    freezer.move_to(NOON)
    snapshot = await connector(session, solaredge).async_fetch()
    today = solaredge.today_wh()
    site = snapshot.readings[SITE_ID]
    assert site.values["production_power"] == pytest.approx(solaredge.current_power_w())
    assert site.values["production_energy_today"] == today["pv"]
    assert site.values["grid_import_energy_today"] == today["import"]
    assert site.values["grid_export_energy_today"] == today["export"]
    assert site.values["battery_charge_energy_today"] == today["charge"]
    assert site.values["production_energy_lifetime"] == pytest.approx(
        solaredge.lifetime_wh()
    )
    assert site.values["peak_power"] == 7600.0
    # The newest bucket ends no later than the upload lag allows.
    assert site.as_of is not None
    assert NOON - timedelta(minutes=45) <= site.as_of <= NOON - timedelta(minutes=15)
    kinds = {device.kind for device in snapshot.devices.values()}
    assert kinds == {
        DeviceKind.SITE,
        DeviceKind.INVERTER,
        DeviceKind.BATTERY,
        DeviceKind.METER,
    }
    battery = snapshot.readings["7F0A21C3-B1"]
    assert 0 <= battery.values["battery_state_of_charge"] <= 100
    assert "battery_power" in battery.values
    # Site, inventory, overview, power, storage, meter; production lifetime, meter
    # lifetime and alerts: nine credits, four of them routine.
    assert solaredge.credits_used == 9


async def test_lifetime_rises_and_rebases_daily(
    session: ClientSession,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Between daily re-bases the lifetime counter follows today's production."""
    client = connector(session, solaredge)
    freezer.move_to(NOON)
    first = (await client.async_fetch()).value(SITE_ID, "production_energy_lifetime")
    freezer.move_to(NOON + timedelta(hours=2))
    second = (await client.async_fetch()).value(SITE_ID, "production_energy_lifetime")
    assert isinstance(first, float)
    assert isinstance(second, float)
    assert second > first
    assert second == pytest.approx(solaredge.lifetime_wh())
    calls_before = len(solaredge.calls)
    freezer.move_to(NOON + timedelta(days=1))
    third = (await client.async_fetch()).value(SITE_ID, "production_energy_lifetime")
    assert third == pytest.approx(solaredge.lifetime_wh())
    energy_calls = [
        path for _, path in solaredge.calls[calls_before:] if path.endswith("/energy")
    ]
    assert len(energy_calls) == 1


async def test_bad_key_and_v1_key(
    session: ClientSession, solaredge: SolarEdgeSimulator
) -> None:
    """A wrong key fails auth; a V1-shaped key is reported as the retired API."""
    with pytest.raises(AuthFailedError):
        await connector(session, solaredge, "wrong-key").async_identify()
    with pytest.raises(ApiRetiredError):
        await connector(
            session, solaredge, "L4QLVQ1LOKCQX2193VSEICXW61NP6B1O"
        ).async_identify()


async def test_gone_is_retired(
    session: ClientSession, solaredge: SolarEdgeSimulator
) -> None:
    """HTTP 410 on any path means the API was retired."""
    solaredge.fail_next(410)
    with pytest.raises(ApiRetiredError):
        await connector(session, solaredge).async_identify()


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors(
    session: ClientSession, solaredge: SolarEdgeSimulator, status: int
) -> None:
    """Server errors are connection failures (retry later)."""
    solaredge.fail_next(status)
    with pytest.raises(ConnectionFailedError):
        await connector(session, solaredge).async_fetch()


async def test_offline(session: ClientSession, solaredge: SolarEdgeSimulator) -> None:
    """A dropped connection is a connection failure."""
    solaredge.offline = True
    with pytest.raises(ConnectionFailedError):
        await connector(session, solaredge).async_identify()


async def test_minute_limit_blocks_locally(
    session: ClientSession, solaredge: SolarEdgeSimulator
) -> None:
    """After a minute 429 we wait it out without sending anything."""
    client = connector(session, solaredge)
    solaredge.fail_next(429)
    with pytest.raises(RateLimitedError) as err:
        await client.async_identify()
    assert err.value.period == "minute"
    assert err.value.retry_after == 60
    sent = len(solaredge.calls)
    with pytest.raises(RateLimitedError):
        await client.async_identify()
    assert len(solaredge.calls) == sent


async def test_month_exhausted(session: ClientSession, socket_enabled: None) -> None:
    """A 429 without retry-after ends the month when our count agrees."""
    simulator = SolarEdgeSimulator(month_credits=3)
    await simulator.start()
    try:
        client = connector(session, simulator)
        for _ in range(3):
            await client.async_identify()
        client.limiter.month_used = 1990  # our count: the month is nearly spent
        with pytest.raises(RateLimitedError) as err:
            await client.async_identify()
        assert err.value.period == "month"
        sent = len(simulator.calls)
        with pytest.raises(RateLimitedError) as err:
            await client.async_identify()
        assert err.value.period == "month"
        assert len(simulator.calls) == sent
    finally:
        await simulator.stop()


async def test_stray_429_without_retry_after_is_short(
    session: ClientSession,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A 429 without retry-after while credits remain (a proxy) is a short limit.

    Before: the entry was blocked until the end of the month.
    """
    freezer.move_to(NOON)
    client = connector(session, solaredge)
    solaredge.fail_next(429, retry_after=None)
    with pytest.raises(RateLimitedError) as err:
        await client.async_fetch()
    assert err.value.period == "minute"
    assert err.value.retry_after is not None
    assert err.value.retry_after <= 60
    assert client.limiter.month_used < 10
    freezer.tick(timedelta(seconds=61))
    snapshot = await client.async_fetch()
    assert snapshot.value(SITE_ID, "production_power")


async def test_malformed_overview_keeps_the_rest(
    session: ClientSession,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A garbage overview field loses that value only, logged once."""
    freezer.move_to(NOON)
    solaredge.malformed.add("overview")
    client = connector(session, solaredge)
    snapshot = await client.async_fetch()
    freezer.tick(timedelta(minutes=15))
    await client.async_fetch()
    values = snapshot.readings[SITE_ID].values
    assert "production_energy_today" not in values
    assert values["production_power"] > 0
    assert caplog.text.count("no usable production total") == 1


async def test_lifetime_zero_is_not_published(
    session: ClientSession,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """YEAR buckets of 0 (a known portal failure) give no lifetime, not a zero."""
    freezer.move_to(NOON)
    solaredge.lifetime_zero = True
    snapshot = await connector(session, solaredge).async_fetch()
    assert "production_energy_lifetime" not in snapshot.readings[SITE_ID].values


async def test_alerts_map_to_devices(
    session: ClientSession,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An open inverter alert is attached to that inverter with its severity."""
    freezer.move_to(NOON)
    solaredge.add_alert(impact=7, alert_type="DC Isolation")
    solaredge.add_alert(impact=4, alert_type="Communication", serial="unknown-serial")
    snapshot = await connector(session, solaredge).async_fetch()
    inverter = snapshot.active_alerts("7E1234AB-9C")
    assert [(a.severity, a.code) for a in inverter] == [
        (Severity.CRITICAL, "DC Isolation")
    ]
    site = snapshot.active_alerts(SITE_ID)
    assert [(a.severity, a.code) for a in site] == [(Severity.WARNING, "Communication")]


def _daylight(moment: datetime) -> Daylight:
    local = moment.astimezone(PHOENIX.tzinfo).date()
    today = sun(PHOENIX.observer, date=local)
    tomorrow = sun(PHOENIX.observer, date=local + timedelta(days=1))
    return Daylight(
        sunrise=today["sunrise"],
        sunset=today["sunset"],
        next_sunrise=tomorrow["sunrise"],
    )


async def test_simulated_month_stays_within_free_tier(
    session: ClientSession,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A whole June, updated as the planner says, spends < 2,000 credits, no 429."""
    client = connector(session, solaredge)
    now = datetime(2026, 6, 1, 7, 5, tzinfo=UTC)  # just after midnight in Phoenix
    end = datetime(2026, 7, 1, 7, 0, tzinfo=UTC)
    daylight_waits: list[timedelta] = []
    polls = 0
    while now < end:
        freezer.move_to(now)
        try:
            await client.async_fetch()
        except SungazeError as err:  # a 429 from the simulator lands here
            pytest.fail(f"update failed on {now}: {err!r}")
        polls += 1
        daylight = _daylight(now)
        wait = plan_interval(client.cost, client.budget, client.limiter, now, daylight)
        if daylight.sunrise < now < daylight.sunset and now + wait < daylight.sunset:
            daylight_waits.append(wait)
        now += wait
    assert solaredge.credits_used <= 2000 * 0.9 + 10
    assert polls >= 30 * 12
    daylight_waits.sort()
    # Four credits a routine update (overview, power, storage, meter telemetry).
    assert client.cost.per_poll == 4
    assert daylight_waits[len(daylight_waits) // 2] <= timedelta(minutes=75)


async def test_site_without_access_is_an_auth_failure(
    session: ClientSession, solaredge: SolarEdgeSimulator
) -> None:
    """A 403 on the site itself means the key lost access to it."""
    solaredge.fail_next(403, path_contains=f"/sites/{SITE_ID}")
    with pytest.raises(AuthFailedError):
        await connector(session, solaredge).async_fetch()


async def test_storage_without_device_scope_is_noted(
    session: ClientSession,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A 403 on storage telemetry drops the battery values, says why, keeps the rest."""
    freezer.move_to(NOON)
    solaredge.fail_next(403, path_contains="/storage/telemetry")
    snapshot = await connector(session, solaredge).async_fetch()
    battery = snapshot.readings["7F0A21C3-B1"].values
    assert battery == {"battery_power": None, "battery_state_of_charge": None}
    assert "DEVICE_DATA" in snapshot.notes["storage_telemetry"]
    assert snapshot.readings[SITE_ID].values["production_power"] > 0


@pytest.mark.parametrize(
    ("endpoint", "missing"),
    [
        ("energy", ("production_energy_lifetime",)),
        ("power", ("production_power",)),
        ("telemetry", ("battery_power",)),
        ("alerts", ()),
    ],
)
async def test_malformed_endpoint_loses_only_its_values(
    session: ClientSession,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
    endpoint: str,
    missing: tuple[str, ...],
) -> None:
    """Garbage from one endpoint makes its values unknown, the rest updates."""
    freezer.move_to(NOON)
    solaredge.malformed.add(endpoint)
    snapshot = await connector(session, solaredge).async_fetch()
    values = {
        key
        for readings in snapshot.readings.values()
        for key, value in readings.values.items()
        if value is not None
    }
    assert "production_energy_today" in values
    for key in missing:
        assert key not in values


async def test_refused_alerts_keep_the_previous_list(
    session: ClientSession,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An alerts call that fails keeps what we knew instead of clearing it."""
    freezer.move_to(NOON)
    solaredge.add_alert()
    client = connector(session, solaredge)
    assert len((await client.async_fetch()).alerts) == 1
    solaredge.fail_next(404, path_contains="/alerts")
    freezer.move_to(NOON + timedelta(hours=4))
    assert len((await client.async_fetch()).alerts) == 1


async def test_inventory_shape_errors_are_bad_payloads(
    session: ClientSession, solaredge: SolarEdgeSimulator
) -> None:
    """A refused inventory call is reported, not guessed around."""
    solaredge.fail_next(400, path_contains="/devices")
    with pytest.raises(SungazeError):
        await connector(session, solaredge).async_fetch()


async def test_metered_site_reports_grid_and_consumption(
    session: ClientSession,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Grid power (+ import / - export), house load and lifetime grid counters.

    Before: a metered site had only today's import/export totals.
    """
    freezer.move_to(NOON)
    client = connector(session, solaredge)
    snapshot = await client.async_fetch()
    site = snapshot.readings[SITE_ID].values
    grid = solaredge.newest_flow_w("import") - solaredge.newest_flow_w("export")
    assert site["grid_power"] == pytest.approx(grid, abs=0.01)
    assert site["grid_power"] < 0  # exporting at noon
    assert site["consumption_power"] == pytest.approx(
        solaredge.newest_flow_w("load"), abs=0.05
    )
    assert site["grid_import_energy_lifetime"] == pytest.approx(
        solaredge.lifetime_flow_wh("import")
    )
    assert site["grid_export_energy_lifetime"] == pytest.approx(
        solaredge.lifetime_flow_wh("export")
    )
    # Routine updates: overview, power, storage and meter telemetry.
    freezer.tick(timedelta(minutes=30))
    before = solaredge.credits_used
    snapshot = await client.async_fetch()
    assert solaredge.credits_used - before == 4 == client.cost.per_poll
    site = snapshot.readings[SITE_ID].values
    assert site["grid_export_energy_lifetime"] == pytest.approx(
        solaredge.lifetime_flow_wh("export")
    )


async def test_meter_lifetime_refused_is_noted_once_a_day(
    session: ClientSession,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A refused YEAR meter window leaves the lifetime counters out, tried daily."""
    freezer.move_to(NOON)
    solaredge.fail_next(400, count=2, path_contains="/meters/telemetry")
    client = connector(session, solaredge)
    snapshot = await client.async_fetch()  # routine and YEAR meter calls: 400
    assert snapshot.value(SITE_ID, "grid_power") is None
    assert "grid_import_energy_lifetime" not in snapshot.readings[SITE_ID].values
    assert "meter_lifetime" in snapshot.notes
    freezer.tick(timedelta(minutes=30))
    calls = len(solaredge.calls)
    snapshot = await client.async_fetch()
    assert len(solaredge.calls) - calls == 4  # no second YEAR try today
    assert snapshot.value(SITE_ID, "grid_power") is not None


async def test_meter_without_device_scope_is_noted(
    session: ClientSession,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A 403 on meter telemetry is a diagnostics note; grid power stays unknown."""
    freezer.move_to(NOON)
    solaredge.fail_next(403, count=2, path_contains="/meters/telemetry")
    snapshot = await connector(session, solaredge).async_fetch()
    assert "DEVICE_DATA" in snapshot.notes["meter_telemetry"]
    assert snapshot.readings[SITE_ID].values["grid_power"] is None
    assert snapshot.value(SITE_ID, "production_power")


async def test_night_keys_exist_without_values(
    session: ClientSession,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """At night the inventory still implies solar, grid and battery keys (unknown).

    Before: a site set up at night had no solar power entity until sunrise.
    """
    freezer.move_to(datetime(2026, 6, 21, 8, 30, tzinfo=UTC))  # 01:30 in Phoenix
    snapshot = await connector(session, solaredge).async_fetch()
    site = snapshot.readings[SITE_ID].values
    assert site["production_power"] is None
    assert "grid_power" in site
    assert "consumption_power" in site
    battery = snapshot.readings["7F0A21C3-B1"].values
    assert "battery_power" in battery
    assert "battery_state_of_charge" in battery


async def test_forbidden_site_list_is_an_auth_failure(
    session: ClientSession, solaredge: SolarEdgeSimulator
) -> None:
    """A 403 while identifying is typed (the flow shows invalid_auth).

    Before: an untyped `_Forbidden` escaped and the flow said "unknown error".
    """
    solaredge.fail_next(403, path_contains="/sites")
    with pytest.raises(AuthFailedError, match="may not read"):
        await connector(session, solaredge).async_identify()


async def test_forbidden_alerts_keep_the_rest(
    session: ClientSession,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A 403 on the (optional) alerts endpoint is no auth failure."""
    freezer.move_to(NOON)
    solaredge.fail_next(403, path_contains="/alerts")
    snapshot = await connector(session, solaredge).async_fetch()
    assert snapshot.alerts == ()
    assert snapshot.value(SITE_ID, "production_power")


@pytest.mark.parametrize("absurd", [1e12, -5000.0])
async def test_absurd_power_is_unknown_with_one_log_line(
    session: ClientSession,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    absurd: float,
) -> None:
    """1e12 W or negative solar power is unknown, one warning per update.

    Before: accepted silently.
    """
    freezer.move_to(NOON)
    solaredge.power_override = absurd
    client = connector(session, solaredge)
    snapshot = await client.async_fetch()
    site = snapshot.readings[SITE_ID].values
    assert site["production_power"] is None
    assert site["production_energy_today"] is not None
    warnings = [r for r in caplog.records if "implausible" in r.getMessage()]
    assert len(warnings) == 1
    assert "production_power" in warnings[0].getMessage()
    solaredge.power_override = None
    freezer.tick(timedelta(minutes=30))
    snapshot = await client.async_fetch()
    assert snapshot.value(SITE_ID, "production_power")


async def test_vendor_clock_ahead_is_not_a_future_reference(
    session: ClientSession,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Readings stamped hours ahead are stamped now instead (counters keep moving)."""
    freezer.move_to(NOON)
    solaredge.clock_skew = timedelta(hours=3)
    snapshot = await connector(session, solaredge).async_fetch()
    for readings in snapshot.readings.values():
        assert readings.as_of is None or readings.as_of <= NOON
