"""The Enphase v4 connector against the simulator, over real sockets."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from aiohttp import ClientSession
from astral import LocationInfo
from astral.sun import sun
from freezegun.api import FrozenDateTimeFactory
import pytest

from custom_components.sungaze.connectors.base import (
    AuthFailedError,
    BadPayloadError,
    ConnectionFailedError,
    RateLimitedError,
    RequestLimiter,
    SungazeError,
)
from custom_components.sungaze.connectors.enphase import (
    PLANS,
    DailySeries,
    EnphaseConnector,
)
from custom_components.sungaze.coordinator import Daylight, plan_interval
from custom_components.sungaze.model import DeviceKind, Severity

from .conftest import ENPHASE_SYSTEM_ID, NOON
from .simulators.enphase import EnphaseSimulator, SimSystem, cabin_system

PHOENIX = LocationInfo("Phoenix", "US", "America/Phoenix", 33.45, -112.07)
HOME = ENPHASE_SYSTEM_ID


class Tokens:
    """The HA side's part, reduced to what the connector sees: fresh tokens."""

    def __init__(self, simulator: EnphaseSimulator) -> None:
        self.simulator = simulator
        self.access = simulator.mint()["access_token"]
        self.refreshes = 0

    async def __call__(self, *, rejected: str | None = None) -> str:
        if rejected is not None and rejected == self.access:
            self.refreshes += 1
            self.access = self.simulator.mint()["access_token"]
        return self.access


@pytest.fixture
async def session(socket_enabled: None) -> AsyncIterator[ClientSession]:
    """A plain aiohttp session, as HA would inject."""
    async with ClientSession() as client:
        yield client


def connector(
    session: ClientSession,
    simulator: EnphaseSimulator,
    plan: str = "watt",
    tokens: Tokens | None = None,
    systems: list[str] | None = None,
) -> EnphaseConnector:
    """A connector for the simulator's application, which gets the same plan."""
    if plan != "watt":
        simulator.app0.plan = plan
    return EnphaseConnector(
        session,
        api_key=simulator.app0.api_key,
        token=tokens or Tokens(simulator),
        system_ids=systems,
        plan=plan,
        base_url=simulator.base_url,
        limiter=RequestLimiter(PLANS[plan].budget),
    )


async def test_identify_lists_systems(
    session: ClientSession, socket_enabled: None
) -> None:
    """The grant's systems, with their time zones."""
    sim = EnphaseSimulator(systems=[SimSystem(), cabin_system()])
    await sim.start()
    try:
        account = await connector(session, sim).async_identify()
    finally:
        await sim.stop()
    assert [site.id for site in account.sites] == [HOME, "4123988"]
    assert account.sites[0].timezone == "America/Phoenix"


async def test_fetch_matches_the_simulated_truth(
    session: ClientSession, enphase: EnphaseSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """At noon every reading equals what the cloud reports, in W, Wh and %."""
    freezer.move_to(NOON)
    client = connector(session, enphase)
    snapshot = await client.async_fetch()
    truth = enphase.truth()
    site = snapshot.readings[HOME].values
    assert site["production_power"] == round(truth["production_power"])
    assert site["production_energy_today"] == truth["production_today"]
    assert site["production_energy_lifetime"] == truth["production_lifetime"]
    assert site["consumption_power"] == round(truth["consumption_power"])
    assert site["battery_power"] == pytest.approx(truth["battery_power"], abs=1)
    assert site["grid_power"] == pytest.approx(truth["grid_power"], abs=2)
    assert site["grid_power"] < 0  # exporting the noon surplus
    assert site["battery_state_of_charge"] == truth["soc"]
    for ours, theirs in (
        ("consumption_energy", "consumption"),
        ("grid_import_energy", "import"),
        ("grid_export_energy", "export"),
        ("battery_charge_energy", "charge"),
        ("battery_discharge_energy", "discharge"),
    ):
        assert site[f"{ours}_today"] == truth[f"{theirs}_today"], ours
        assert site[f"{ours}_lifetime"] == truth[f"{theirs}_lifetime"], ours
    assert site["site_status"] == "normal"
    assert snapshot.readings[HOME].as_of == datetime.fromtimestamp(
        truth["last_report"], UTC
    )
    kinds = sorted(d.kind.value for d in snapshot.devices.values())
    assert kinds == ["battery", "gateway", *["microinverter"] * 16, "site"]
    micro = snapshot.devices["482233001100"]
    assert micro.parent == "122233445566"
    powers = enphase.micro_power()
    assert (
        snapshot.readings["482233001100"].values["ac_power"] == powers["482233001100"]
    )
    assert "ac_energy_lifetime" in snapshot.readings["482233001100"].values
    assert "Watt plan" in snapshot.notes["devices/micros/telemetry"]
    # Setup costs the whole minute's allowance; events wait for the next update.
    assert len(enphase.api_calls) == 10
    assert not any("open_events" in path for path in enphase.api_calls)


async def test_battery_sign_comes_from_the_mode(
    session: ClientSession, enphase: EnphaseSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Whatever sign the cloud gives a charging battery, charging is negative."""
    freezer.move_to(NOON - timedelta(hours=2))  # 10:00, charging
    for sign in (1, -1):
        enphase.battery_sign = sign
        snapshot = await connector(session, enphase).async_fetch()
        power = snapshot.value(HOME, "battery_power")
        assert isinstance(power, float)
        assert power < 0
        assert power == pytest.approx(enphase.truth()["battery_power"], abs=1)
        freezer.tick(timedelta(minutes=1))


async def test_counters_run_through_midnight(
    session: ClientSession, enphase: EnphaseSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Lifetime counters stay equal to the cloud's across days; today restarts."""
    client = connector(session, enphase, plan="kilowatt")
    for moment in (
        NOON,
        NOON + timedelta(hours=6),
        NOON + timedelta(days=1),
        NOON + timedelta(days=4, hours=2),
    ):
        freezer.move_to(moment)
        snapshot = await client.async_fetch()
        truth = enphase.truth()
        site = snapshot.readings[HOME].values
        assert site["grid_import_energy_lifetime"] == truth["import_lifetime"]
        assert site["production_energy_lifetime"] == truth["production_lifetime"]
        assert site["consumption_energy_today"] == truth["consumption_today"]
    # The first update fetches the whole history, later ones from the oldest
    # day still kept open (two days before the previous update's day).
    recent = [
        query
        for _, path, query in enphase.calls
        if path.endswith("/energy_import_lifetime")
    ]
    assert "start_date" not in recent[0]
    assert recent[-1] == {
        "start_date": "2026-06-20",
        "end_date": "2026-06-25",
        "key": enphase.app0.api_key,
    }


async def test_summary_lifetime_reading_is_checked(
    session: ClientSession, enphase: EnphaseSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """If the summary's lifetime already includes today, that is noticed."""
    enphase.lifetime_includes_today = True
    client = connector(session, enphase, plan="kilowatt")
    freezer.move_to(NOON)
    await client.async_fetch()
    freezer.move_to(NOON + timedelta(hours=1))
    snapshot = await client.async_fetch()
    assert (
        snapshot.value(HOME, "production_energy_lifetime")
        == (enphase.truth()["production_lifetime"])
    )
    assert client.diagnostics()["systems"][0]["lifetime_includes_today"] is True


def test_daily_series_folds_old_days() -> None:
    """Old days go into the base; a restarted series must start where asked."""
    series = DailySeries()
    today = NOON.date()
    first = today - timedelta(days=4)
    assert series.params(today) == {"end_date": "2026-06-21"}
    assert series.update(first, [100, 200, 300, 400, 50], today) == (50, 1050)
    assert series.params(today)["start_date"] == "2026-06-19"
    assert series.update(today - timedelta(days=2), [300, 400, 70], today) == (
        70,
        1070,
    )
    assert series.update(today, [None], today) == (None, None)  # junk: skipped
    assert series.params(today)["start_date"] == "2026-06-19"
    assert series.update(first, [1, 2], today) == (None, None)  # moved history
    assert series.params(today) == {"end_date": "2026-06-21"}  # refetch it whole
    empty = DailySeries()
    assert empty.update(None, [], today) == (0.0, 0.0)


async def test_plan_gated_endpoint_is_a_note_not_an_auth_failure(
    session: ClientSession, enphase: EnphaseSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Kilowatt in the options, Watt in reality: device data is dropped for the day."""
    freezer.move_to(NOON)
    tokens = Tokens(enphase)
    client = EnphaseConnector(
        session,
        api_key=enphase.app0.api_key,
        token=tokens,
        plan="kilowatt",
        base_url=enphase.base_url,
        # What the app really allows, so the misconfiguration costs no 429.
        limiter=RequestLimiter(PLANS["watt"].budget),
    )
    await client.async_fetch()  # the setup burst postpones the micros
    freezer.tick(timedelta(minutes=20))
    snapshot = await client.async_fetch()
    assert "401 Not Authorized" in snapshot.notes["devices/micros/telemetry"]
    assert snapshot.value("482233001100", "ac_power") is not None
    assert tokens.refreshes == 0
    freezer.tick(timedelta(minutes=20))
    before = sum("micros/telemetry" in p for p in enphase.api_calls)
    assert before == 1
    await client.async_fetch()
    assert sum("micros/telemetry" in p for p in enphase.api_calls) == before
    assert tokens.refreshes == 0


async def test_paid_plan_reads_device_level_power(
    session: ClientSession, enphase: EnphaseSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """On Kilowatt each micro's power comes from 5-minute device telemetry."""
    freezer.move_to(NOON)
    snapshot = await connector(session, enphase, plan="kilowatt").async_fetch()
    micro = snapshot.readings["482233001100"]
    assert micro.values["ac_power"] > 0
    assert micro.as_of is not None
    assert micro.as_of.timestamp() % 300 == 0
    assert "devices/micros/telemetry" not in snapshot.notes
    assert sum("micros/telemetry" in p for p in enphase.api_calls) == 1


async def test_refused_token_is_refreshed_once(
    session: ClientSession, enphase: EnphaseSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """A 401 on a core call gets one fresh token and one retry."""
    freezer.move_to(NOON)
    tokens = Tokens(enphase)
    client = connector(session, enphase, tokens=tokens)
    enphase.access_tokens.clear()  # revoked early
    await client.async_identify()
    assert tokens.refreshes == 1


async def test_token_refused_twice_is_an_auth_failure(
    session: ClientSession, enphase: EnphaseSimulator
) -> None:
    """When even a fresh token is refused the grant is gone."""

    async def refused(*, rejected: str | None = None) -> str:
        return "never-valid"

    client = EnphaseConnector(
        session,
        api_key=enphase.app0.api_key,
        token=refused,
        base_url=enphase.base_url,
    )
    with pytest.raises(AuthFailedError):
        await client.async_identify()


async def test_key_of_another_application(
    session: ClientSession, enphase: EnphaseSimulator
) -> None:
    """An API key from another application is an auth failure, no refresh."""
    tokens = Tokens(enphase)
    enphase.apps["x"] = type(enphase.app0)(
        client_id="x", client_secret="y", api_key="k2"
    )
    client = EnphaseConnector(
        session, api_key="k2", token=tokens, base_url=enphase.base_url
    )
    with pytest.raises(AuthFailedError, match="another application"):
        await client.async_identify()
    assert tokens.refreshes == 0


async def test_minute_429_blocks_until_period_end(
    session: ClientSession, enphase: EnphaseSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """A 429 pauses exactly until the period the body names ends."""
    freezer.move_to(NOON + timedelta(seconds=20))
    client = connector(session, enphase)
    enphase.fail_next(429)
    with pytest.raises(RateLimitedError) as err:
        await client.async_identify()
    assert err.value.period == "minute"
    assert err.value.retry_after == pytest.approx(40)
    sent = len(enphase.calls)
    freezer.tick(timedelta(seconds=39))
    with pytest.raises(RateLimitedError):
        await client.async_identify()
    assert len(enphase.calls) == sent
    freezer.tick(timedelta(seconds=2))
    await client.async_identify()


async def test_month_429_stops_until_next_month(
    session: ClientSession, enphase: EnphaseSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """The month's quota gone: refused locally until the calendar month turns."""
    freezer.move_to(NOON)
    client = connector(session, enphase)
    enphase._month[enphase.app0.client_id] = ("2026-06", 1000)
    with pytest.raises(RateLimitedError) as err:
        await client.async_identify()
    assert err.value.period == "month"
    assert client.limiter.month_left == 0
    sent = len(enphase.calls)
    freezer.tick(timedelta(days=2))
    with pytest.raises(RateLimitedError):
        await client.async_identify()
    assert len(enphase.calls) == sent


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors(
    session: ClientSession, enphase: EnphaseSimulator, status: int
) -> None:
    """Server errors are connection failures (retry later)."""
    enphase.fail_next(status)
    with pytest.raises(ConnectionFailedError):
        await connector(session, enphase).async_fetch()


async def test_offline(session: ClientSession, enphase: EnphaseSimulator) -> None:
    """A dropped connection is a connection failure, and says no secret."""
    enphase.offline = True
    with pytest.raises(ConnectionFailedError) as err:
        await connector(session, enphase).async_identify()
    assert enphase.app0.api_key not in str(err.value)


async def test_refused_optional_call_keeps_the_rest(
    session: ClientSession, enphase: EnphaseSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """A 422 on one series drops that series only, with a note."""
    freezer.move_to(NOON)
    enphase.fail_next(422, path_contains="energy_export_lifetime")
    snapshot = await connector(session, enphase).async_fetch()
    values = snapshot.readings[HOME].values
    assert "grid_export_energy_lifetime" not in values
    assert "grid_import_energy_lifetime" in values
    assert snapshot.notes["energy_export_lifetime"].startswith("refused: 422")


async def test_cellular_system_costs_nothing_between_uploads(
    session: ClientSession, socket_enabled: None, freezer: FrozenDateTimeFactory
) -> None:
    """A gateway that uploads every 6 hours is not asked again before it did."""
    freezer.move_to(NOON)
    sim = EnphaseSimulator(systems=[cabin_system()])
    await sim.start()
    try:
        client = connector(session, sim)
        first = await client.async_fetch()
        assert first.readings["4123988"].values["production_power"] >= 0
        assert "consumption_power" not in first.readings["4123988"].values
        assert client.cost.per_poll == 1  # nothing but its day's share
        sent = len(sim.api_calls)
        freezer.tick(timedelta(minutes=5))  # its next upload is at 19:10
        again = await client.async_fetch()
        assert len(sim.api_calls) == sent
        assert again.readings == first.readings
        freezer.move_to(datetime.fromtimestamp(sim.truth()["last_report"], UTC))
        freezer.tick(timedelta(hours=6, minutes=3))
        await client.async_fetch()
        assert len(sim.api_calls) > sent
    finally:
        await sim.stop()


async def test_events_and_alarms_become_alerts(
    session: ClientSession, enphase: EnphaseSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Open events and alarms land on their device with a name and severity."""
    freezer.move_to(NOON)
    enphase.add_event(type_id=1006, serial="482233001103")
    enphase.add_alarm(type_id=28, severity=2)
    client = connector(session, enphase, plan="kilowatt")
    snapshot = await client.async_fetch()
    by_device = {a.device_id: a for a in snapshot.alerts}
    assert by_device["482233001103"].message == "Microinverter not reporting"
    assert by_device["482233001103"].severity is Severity.WARNING
    assert by_device["122233445566"].severity is Severity.CRITICAL
    assert by_device["122233445566"].message == "Gateway not reporting"
    assert sum(p.endswith("/event_types") for p in enphase.api_calls) == 1
    enphase.close_events()
    freezer.tick(timedelta(hours=1, minutes=1))
    assert (await client.async_fetch()).alerts == ()
    assert sum(p.endswith("/event_types") for p in enphase.api_calls) == 1


async def test_micros_follow_the_inventory(
    session: ClientSession, enphase: EnphaseSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """A removed micro leaves the snapshot at the next day's inventory."""
    freezer.move_to(NOON)
    client = connector(session, enphase, plan="kilowatt")
    assert "482233001115" in (await client.async_fetch()).devices
    enphase.systems[4123987].micro_serials.pop()
    freezer.tick(timedelta(days=1))
    snapshot = await client.async_fetch()
    assert "482233001115" not in snapshot.devices
    assert "482233001115" not in snapshot.readings
    assert (
        sum(d.kind is DeviceKind.MICROINVERTER for d in snapshot.devices.values()) == 15
    )


async def test_system_missing_from_the_list_is_no_auth_failure(
    session: ClientSession, enphase: EnphaseSimulator
) -> None:
    """A selected system absent from /systems is a bad payload, not a reauth.

    Before: it raised `AuthFailedError`, so a garbled list started a reauth.
    """
    with pytest.raises(BadPayloadError):
        await connector(session, enphase, systems=["999"]).async_fetch()


@pytest.mark.parametrize("switch", ["systems_missing", "systems_null_id"])
async def test_garbled_system_list_recovers(
    session: ClientSession,
    enphase: EnphaseSimulator,
    freezer: FrozenDateTimeFactory,
    switch: str,
) -> None:
    """A garbled /systems list fails that update only; the next good one recovers."""
    freezer.move_to(NOON)
    client = connector(session, enphase, systems=[HOME])
    enphase.malformed.add(switch)
    with pytest.raises(BadPayloadError):
        await client.async_fetch()
    enphase.malformed.clear()
    freezer.tick(timedelta(minutes=15))
    snapshot = await client.async_fetch()
    assert snapshot.value(HOME, "production_power") is not None


def _daylight(moment: datetime) -> Daylight:
    local = moment.astimezone(PHOENIX.tzinfo).date()
    today = sun(PHOENIX.observer, date=local)
    tomorrow = sun(PHOENIX.observer, date=local + timedelta(days=1))
    return Daylight(
        sunrise=today["sunrise"],
        sunset=today["sunset"],
        next_sunrise=tomorrow["sunrise"],
    )


async def test_simulated_month_on_watt_stays_under_1000(
    session: ClientSession, enphase: EnphaseSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """A whole June on the free plan, as the planner schedules it: no 429."""
    client = connector(session, enphase)
    now = datetime(2026, 6, 1, 7, 5, tzinfo=UTC)
    end = datetime(2026, 7, 1, 7, 0, tzinfo=UTC)
    polls = 0
    while now < end:
        freezer.move_to(now)
        try:
            await client.async_fetch()
        except SungazeError as err:
            pytest.fail(f"update failed on {now}: {err!r}")
        polls += 1
        wait = plan_interval(
            client.cost, client.limiter.budget, client.limiter, now, _daylight(now)
        )
        now += wait
    assert enphase.month_used() <= 1000 * 0.9 + 10
    assert enphase.month_used() == client.limiter.month_used
    assert polls >= 30 * 5


@pytest.mark.parametrize("switch", ["json", "systems", "devices", "summary"])
async def test_unreadable_core_answers(
    session: ClientSession, enphase: EnphaseSimulator, switch: str
) -> None:
    """Garbage where the system itself is described is a bad payload."""
    enphase.malformed.add(switch)
    with pytest.raises(BadPayloadError):
        await connector(session, enphase).async_fetch()


async def test_odd_optional_answers_lose_only_their_values(
    session: ClientSession, enphase: EnphaseSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Odd units, shapes and junk in optional data: read what can be read."""
    freezer.move_to(NOON)
    enphase.malformed |= {"soc", "series", "units", "latest", "events"}
    enphase.add_event()
    snapshot = await connector(session, enphase, plan="megawatt").async_fetch()
    site = snapshot.readings[HOME].values
    assert site["battery_state_of_charge"] == enphase.truth()["soc"]
    assert "grid_import_energy_lifetime" not in site
    assert "consumption_power" not in site
    assert site["production_energy_today"] == enphase.truth()["production_today"]
    assert snapshot.alerts == ()
    enphase.app0.plan = "watt"  # and back: the summary's kW figures are scaled
    freezer.tick(timedelta(minutes=1))
    snapshot = await connector(session, enphase).async_fetch()
    micro = snapshot.readings["482233001100"].values
    assert micro["ac_power"] == pytest.approx(enphase.micro_power()["482233001100"])
    assert "ac_energy_lifetime" not in micro


async def test_429_without_period_waits_a_minute(
    session: ClientSession, enphase: EnphaseSimulator
) -> None:
    """The spec's shorter 429 body: back off 60 s."""
    enphase.malformed.add("429")
    enphase.fail_next(429)
    with pytest.raises(RateLimitedError) as err:
        await connector(session, enphase).async_identify()
    assert (err.value.period, err.value.retry_after) == ("minute", 60)


@pytest.mark.parametrize(
    ("status", "path", "error"),
    [
        (403, "/summary", AuthFailedError),
        (404, "/devices", BadPayloadError),
    ],
)
async def test_refused_core_calls(
    session: ClientSession,
    enphase: EnphaseSimulator,
    status: int,
    path: str,
    error: type[Exception],
) -> None:
    """No access to the system is an auth failure; a refused call a bad payload."""
    enphase.fail_next(status, path_contains=path)
    with pytest.raises(error):
        await connector(session, enphase).async_fetch()


async def test_stored_token_without_refresh(
    session: ClientSession, enphase: EnphaseSimulator
) -> None:
    """Built from entry data alone, a refused token cannot be renewed."""
    client = EnphaseConnector.from_config(
        session,
        {
            "api_key": enphase.app0.api_key,
            "url": enphase.base_url,
            "token": {"access_token": "expired"},
        },
    )
    with pytest.raises(AuthFailedError):
        await client.async_identify()
    assert client.plan.name == "watt"


@pytest.mark.parametrize("absurd", [1e12, -5000.0])
async def test_absurd_power_is_unknown_with_one_log_line(
    session: ClientSession,
    enphase: EnphaseSimulator,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    absurd: float,
) -> None:
    """1e12 W or negative production is unknown, one warning per update.

    Before: accepted silently. (A PV-only system: production power comes from
    the summary alone.)
    """
    freezer.move_to(NOON)
    enphase.systems[4123987] = cabin_like_home()
    enphase.power_override = absurd
    client = connector(session, enphase)
    snapshot = await client.async_fetch()
    assert snapshot.value(HOME, "production_power") is None
    assert snapshot.value(HOME, "production_energy_today") is not None
    warnings = [r for r in caplog.records if "implausible" in r.getMessage()]
    assert len(warnings) == 1
    enphase.power_override = None
    freezer.tick(timedelta(minutes=20))
    assert (await client.async_fetch()).value(HOME, "production_power") is not None


def cabin_like_home() -> SimSystem:
    """The home system without meters or battery (summary-only power)."""
    return SimSystem(battery_serial=None, consumption_meter=False)
