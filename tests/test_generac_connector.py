"""The Generac PWRcell connector against the simulator, over real sockets."""

from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from itertools import pairwise
import logging
from typing import Any

from aiohttp import ClientSession
from freezegun.api import FrozenDateTimeFactory
import pytest

from custom_components.sungaze.connectors import generac as generac_module
from custom_components.sungaze.connectors.base import (
    AuthFailedError,
    BadPayloadError,
    ConnectionFailedError,
    RateLimitedError,
)
from custom_components.sungaze.connectors.generac import (
    MAX_GAP,
    GeneracConnector,
    SignInChallengeError,
)
from custom_components.sungaze.model import DeviceKind, Snapshot

from .simulators.generac import (
    CLIENT_ID,
    CLIENT_SECRET,
    DAILY_SOLAR,
    EMAIL,
    HOME_ID,
    PASSWORD,
    SERIAL,
    USER_ID,
    GeneracSimulator,
    SimHome,
    SimSystem,
    powers,
    soc,
    true_energy,
)

# 2026-06-21 12:00 in Phoenix (UTC-7): sun high, battery charging, exporting.
NOON = datetime(2026, 6, 21, 19, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 6, 21, 7, 0, tzinfo=UTC)  # 00:00 local
COUNTERS = (
    "grid_import_energy_lifetime",
    "grid_export_energy_lifetime",
    "battery_charge_energy_lifetime",
    "battery_discharge_energy_lifetime",
)
TRUTH_KEYS = dict(
    zip(COUNTERS, ("import", "export", "charge", "discharge"), strict=True)
)


@pytest.fixture(autouse=True)
def forget_accounts() -> Iterator[None]:
    """Each test starts with no remembered refusal or renewal."""
    generac_module._REFUSED.clear()
    generac_module._RENEWALS.clear()
    yield
    generac_module._REFUSED.clear()
    generac_module._RENEWALS.clear()


@pytest.fixture
async def session(socket_enabled: None) -> AsyncIterator[ClientSession]:
    """A plain aiohttp session, as HA would inject."""
    async with ClientSession() as client:
        yield client


@pytest.fixture
async def sim(socket_enabled: None) -> AsyncIterator[GeneracSimulator]:
    """A PWRcell cloud with one home of one system."""
    simulator = GeneracSimulator()
    await simulator.start()
    yield simulator
    await simulator.stop()


class Stored:
    """What the HA side stored through `on_credentials`, and when."""

    def __init__(self, sim: GeneracSimulator) -> None:
        """Watch one simulator."""
        self.sim = sim
        self.calls: list[tuple[dict[str, Any], int]] = []

    async def __call__(self, updates: Mapping[str, Any]) -> None:
        """Record the update and how many requests the simulator had seen."""
        self.calls.append((dict(updates), len(self.sim.requests)))


def by_token(
    session: ClientSession, sim: GeneracSimulator, home_id: str | None = HOME_ID
) -> GeneracConnector:
    """A connector signed in with a web-portal refresh token."""
    portal = sim.portal_tokens()
    return GeneracConnector(
        session,
        user_id=portal["userId"],
        refresh_token=portal["refreshToken"],
        home_id=home_id,
        base_url=sim.base_url,
    )


def by_password(
    session: ClientSession,
    sim: GeneracSimulator,
    *,
    password: str = PASSWORD,
    client_secret: str = CLIENT_SECRET,
) -> GeneracConnector:
    """A connector signing in with email, password and the app identity."""
    return GeneracConnector(
        session,
        email=EMAIL,
        password=password,
        client_id=CLIENT_ID,
        client_secret=client_secret,
        home_id=HOME_ID,
        base_url=sim.base_url,
    )


def kw(value: float) -> float:
    """A power as the simulator sends it (kW, 3 decimals), back in W."""
    return round(value / 1000, 3) * 1000


async def test_refresh_token_sign_in_lists_the_home(
    session: ClientSession, sim: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """A pasted refresh token: refresh, then /homes; the rotated token is stored first."""
    freezer.move_to(NOON)
    connector = by_token(session, sim, home_id=None)
    pasted = connector.credentials["refresh_token"]
    stored = Stored(sim)
    connector.on_credentials = stored
    account = await connector.async_identify()
    assert account.unique_id == USER_ID
    assert [(s.id, s.name, s.timezone) for s in account.sites] == [
        (HOME_ID, "42 Sunny Ln", "America/Phoenix")
    ]
    assert sim.requests == ["refresh", "homes"]
    # Stored before the new token was used for anything (the homes call).
    [(updates, seen)] = stored.calls
    assert seen == 1
    assert updates == {
        "user_id": USER_ID,
        "refresh_token": connector.credentials["refresh_token"],
    }
    assert updates["refresh_token"] != pasted
    assert sim.refresh_tokens == {updates["refresh_token"]}


async def test_refresh_without_a_new_refresh_token_keeps_the_old(
    session: ClientSession, freezer: FrozenDateTimeFactory, socket_enabled: None
) -> None:
    """No rotation: nothing to store, the pasted token stays in use."""
    freezer.move_to(NOON)
    sim = GeneracSimulator(rotate=False)
    await sim.start()
    try:
        connector = by_token(session, sim)
        pasted = connector.credentials["refresh_token"]
        stored = Stored(sim)
        connector.on_credentials = stored
        await connector.async_fetch()
        assert stored.calls == []
        assert connector.credentials["refresh_token"] == pasted
    finally:
        await sim.stop()


async def test_password_sign_in_needs_the_app_identity(
    session: ClientSession, sim: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Basic app identity + email/password; the refresh token is then stored."""
    freezer.move_to(NOON)
    wrong = by_password(session, sim, client_secret="not-the-app")
    with pytest.raises(AuthFailedError) as refused:
        await wrong.async_identify()
    assert not isinstance(refused.value, SignInChallengeError)
    assert "not-the-app" not in str(refused.value)
    connector = by_password(session, sim)
    stored = Stored(sim)
    connector.on_credentials = stored
    account = await connector.async_identify()
    assert account.unique_id == USER_ID
    assert sim.requests == ["signin", "signin", "homes"]
    [(updates, seen)] = stored.calls
    assert seen == 2
    assert updates["user_id"] == USER_ID
    assert updates["refresh_token"] in sim.refresh_tokens


async def test_wrong_password_is_refused_once_then_never_sent(
    session: ClientSession, sim: GeneracSimulator
) -> None:
    """A refused password is not tried again by any connector of that account."""
    for _ in range(2):
        with pytest.raises(AuthFailedError):
            await by_password(session, sim, password="wrong").async_identify()
    assert sim.requests == ["signin"]


async def test_auth_challenge_is_reported_not_looped(
    session: ClientSession, sim: GeneracSimulator
) -> None:
    """MFA or a new password: a distinct error, and the flag for the flow."""
    sim.challenge = "SOFTWARE_TOKEN_MFA"
    connector = by_password(session, sim)
    with pytest.raises(SignInChallengeError):
        await connector.async_identify()
    assert connector.challenged
    assert sim.requests == ["signin"]


async def test_refused_refresh_token_fails_auth_once(
    session: ClientSession, sim: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """A dead refresh token: AuthFailed, and it is never sent again."""
    freezer.move_to(NOON)
    connector = by_token(session, sim)
    sim.revoke_refresh_tokens()
    with pytest.raises(AuthFailedError):
        await connector.async_fetch()
    with pytest.raises(AuthFailedError):
        await connector.async_fetch()
    again = GeneracConnector.from_config(
        session,
        {
            "user_id": USER_ID,
            "refresh_token": connector.credentials["refresh_token"],
            "site_id": HOME_ID,
            "url": sim.base_url,
        },
    )
    with pytest.raises(AuthFailedError):
        await again.async_fetch()
    assert sim.requests == ["refresh"]


async def test_password_entry_signs_in_again_when_the_refresh_is_refused(
    session: ClientSession, sim: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Password entries fall back to a sign-in; token entries cannot."""
    freezer.move_to(NOON)
    first = by_password(session, sim)
    await first.async_identify()
    sim.revoke_refresh_tokens()
    connector = GeneracConnector.from_config(
        session,
        {
            "email": EMAIL,
            "password": PASSWORD,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            **first.credentials,
            "site_id": HOME_ID,
            "url": sim.base_url,
        },
    )
    await connector.async_fetch()
    assert sim.requests[-4:] == ["refresh", "signin", "homes", "telemetry"]


async def test_noon_values_and_signs(
    session: ClientSession, sim: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Powers in W (from kW), grid + import (exporting at noon), battery + discharge (charging)."""
    freezer.move_to(NOON)
    now = int(NOON.timestamp())
    snapshot = await by_token(session, sim).async_fetch()
    p = powers(now)
    site = snapshot.readings[HOME_ID]
    assert site.as_of == NOON
    assert site.values["production_power"] == pytest.approx(kw(p["solar"]))
    assert site.values["grid_power"] == pytest.approx(kw(p["grid"]))
    assert site.values["grid_power"] < -2000  # exporting
    assert site.values["battery_power"] == pytest.approx(kw(p["battery"]))
    assert site.values["battery_power"] < -2000  # charging
    assert site.values["consumption_power"] == pytest.approx(kw(p["consumption"]))
    assert site.values["generator_power"] == 0.0
    assert site.values["battery_state_of_charge"] == round(soc(now), 1)
    assert site.values["battery_backup_time"] == int(soc(now) * 540)
    assert site.values["battery_soc_status"] == "nominal"
    inverter = snapshot.readings[SERIAL]
    assert inverter.as_of == NOON
    assert inverter.values["grid_state"] == "connected"
    assert inverter.values["system_mode"] == "self_supply"
    assert inverter.values["inverter_headroom"] == pytest.approx(
        7600 - p["solar"], abs=1
    )
    assert inverter.values["temperature"] == 43.0
    assert inverter.values["ac_voltage"] == 241.2
    battery = snapshot.readings[f"{SERIAL}_battery_1"]
    assert battery.values["battery_power"] == pytest.approx(round(p["battery"], 1))
    assert battery.values["battery_voltage"] == 381.4
    assert battery.values["battery_temperature"] == 27.5
    links = [snapshot.readings[f"{SERIAL}_pvl_{n}"] for n in (1, 2)]
    assert [r.values["production_power"] for r in links] == [
        round(p["solar"] / 2, 1)
    ] * 2
    assert site.values["production_energy_lifetime"] == pytest.approx(
        sum(r.values["production_energy_lifetime"] for r in links)  # type: ignore[misc]
    )
    # The first poll asks for the last 90 s; one sample a second, none counted twice.
    assert sim.telemetry_from == ["2026-06-21T18:58:30Z"]


async def test_night_signs(
    session: ClientSession, sim: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """At 21:00 the battery discharges (+) and the grid imports (+)."""
    moment = MIDNIGHT + timedelta(hours=21)
    freezer.move_to(moment)
    site = (await by_token(session, sim).async_fetch()).readings[HOME_ID]
    p = powers(moment.timestamp())
    assert site.values["battery_power"] == pytest.approx(kw(p["battery"]))
    assert site.values["battery_power"] > 500
    assert site.values["grid_power"] > 0
    assert site.values["production_power"] == 0.0


async def test_device_tree(
    session: ClientSession, freezer: FrozenDateTimeFactory, socket_enabled: None
) -> None:
    """A home with two systems: each inverter carries its battery, PV links, Beacon."""
    freezer.move_to(NOON)
    sim = GeneracSimulator(
        homes=[
            SimHome(systems=[SimSystem(), SimSystem(serial="0001000B9Z9Z", pv_links=3)])
        ]
    )
    await sim.start()
    try:
        snapshot = await by_token(session, sim).async_fetch()
    finally:
        await sim.stop()
    tree = {
        d.id: (d.kind, d.name, d.parent, d.serial) for d in snapshot.devices.values()
    }
    assert tree == {
        HOME_ID: (DeviceKind.SITE, "42 Sunny Ln", None, None),
        SERIAL: (DeviceKind.INVERTER, f"PWRcell inverter {SERIAL}", None, SERIAL),
        f"{SERIAL}_pvl_1": (DeviceKind.OPTIMIZER, f"PV link 1 {SERIAL}", SERIAL, None),
        f"{SERIAL}_pvl_2": (DeviceKind.OPTIMIZER, f"PV link 2 {SERIAL}", SERIAL, None),
        f"{SERIAL}_battery_1": (DeviceKind.BATTERY, f"Battery {SERIAL}", SERIAL, None),
        f"{SERIAL}_beacon_1": (DeviceKind.GATEWAY, f"Beacon {SERIAL}", SERIAL, None),
        "0001000B9Z9Z": (
            DeviceKind.INVERTER,
            "PWRcell inverter 0001000B9Z9Z",
            None,
            "0001000B9Z9Z",
        ),
        **{
            f"0001000B9Z9Z_pvl_{n}": (
                DeviceKind.OPTIMIZER,
                f"PV link {n} 0001000B9Z9Z",
                "0001000B9Z9Z",
                None,
            )
            for n in (1, 2, 3)
        },
        "0001000B9Z9Z_battery_1": (
            DeviceKind.BATTERY,
            "Battery 0001000B9Z9Z",
            "0001000B9Z9Z",
            None,
        ),
        "0001000B9Z9Z_beacon_1": (
            DeviceKind.GATEWAY,
            "Beacon 0001000B9Z9Z",
            "0001000B9Z9Z",
            None,
        ),
    }
    # Each system has its own mode and headroom; the home's powers add up.
    assert snapshot.readings["0001000B9Z9Z"].values["system_mode"] == "self_supply"
    site = snapshot.readings[HOME_ID].values
    assert site["production_power"] == pytest.approx(
        kw(powers(NOON.timestamp(), 2.0)["solar"])
    )


async def test_empty_telemetry_keeps_the_last_values_and_their_time(
    session: ClientSession, sim: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """`[]` is "nothing new": values and their sample time stay."""
    freezer.move_to(NOON)
    connector = by_token(session, sim)
    first = await connector.async_fetch()
    sim.empty_telemetry = 1
    freezer.tick(timedelta(minutes=2))
    second = await connector.async_fetch()
    telemetry = {
        k: v
        for k, v in first.readings[HOME_ID].values.items()
        if k != "production_energy_lifetime"  # from /homes, which moved on
    }
    assert telemetry.items() <= second.readings[HOME_ID].values.items()
    assert second.readings[HOME_ID].as_of == NOON
    assert second.readings[SERIAL].as_of == NOON
    # The next answer carries the missed samples: nothing lost.
    freezer.tick(timedelta(minutes=2))
    third = await connector.async_fetch()
    assert sim.telemetry_from[-1] == "2026-06-21T19:00:00Z"
    assert third.readings[HOME_ID].as_of == NOON + timedelta(minutes=4)


async def test_expired_id_token_is_renewed_once(
    session: ClientSession, sim: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """A 401 on a data call: one refresh, one retry."""
    freezer.move_to(NOON)
    connector = by_token(session, sim)
    await connector.async_fetch()
    sim.expire_tokens()
    sim.requests.clear()
    await connector.async_fetch()
    assert sim.requests == ["homes", "refresh", "homes", "telemetry"]


async def test_id_token_is_renewed_before_it_expires(
    session: ClientSession, sim: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """55 minutes after a refresh the next update refreshes first (no 401)."""
    freezer.move_to(NOON)
    connector = by_token(session, sim)
    await connector.async_fetch()
    freezer.tick(timedelta(minutes=54))
    sim.requests.clear()
    await connector.async_fetch()
    assert sim.requests == ["homes", "telemetry"]
    freezer.tick(timedelta(minutes=2))
    sim.requests.clear()
    await connector.async_fetch()
    assert sim.requests == ["refresh", "homes", "telemetry"]


async def test_rate_limit_and_server_errors(
    session: ClientSession, sim: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """429 holds every request for its Retry-After; 5xx is a connection failure."""
    freezer.move_to(NOON)
    connector = by_token(session, sim)
    await connector.async_fetch()
    sim.fail_next = [429]
    with pytest.raises(RateLimitedError) as limited:
        await connector.async_fetch()
    assert limited.value.retry_after == 30
    sent = len(sim.requests)
    freezer.tick(timedelta(seconds=20))
    with pytest.raises(RateLimitedError):
        await connector.async_fetch()
    assert len(sim.requests) == sent  # nothing sent while Generac asked to wait
    freezer.tick(timedelta(seconds=11))
    sim.fail_next = [503]
    with pytest.raises(ConnectionFailedError):
        await connector.async_fetch()
    snapshot = await connector.async_fetch()
    assert snapshot.readings[HOME_ID].as_of == NOON + timedelta(seconds=31)


async def test_home_gone_and_bad_answers(
    session: ClientSession, sim: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """A home no longer listed is a bad payload, an empty account a failure."""
    freezer.move_to(NOON)
    with pytest.raises(BadPayloadError):
        await by_token(session, sim, home_id="another").async_fetch()
    sim.homes = []
    with pytest.raises(ConnectionFailedError):
        await by_token(session, sim).async_identify()


def _totals(snapshot: Snapshot) -> dict[str, float]:
    values = snapshot.readings[HOME_ID].values
    return {key: float(values[key]) for key in COUNTERS}  # type: ignore[arg-type]


async def test_derived_counters_match_a_simulated_day(
    session: ClientSession,
    sim: GeneracSimulator,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A whole day at 2-minute updates, one restart: within 0.01 % of the truth.

    The restart (saved_state() -> restore_state() on a new connector, 10 minutes
    down) must neither lose nor count twice.
    """
    caplog.set_level(logging.INFO)
    freezer.move_to(MIDNIGHT)
    connector = by_token(session, sim)
    first = await connector.async_fetch()
    start = MIDNIGHT - timedelta(seconds=90)  # the first answer's first sample
    end = MIDNIGHT + timedelta(days=1)
    now = MIDNIGHT
    previous = _totals(first)
    while now < end:
        if now == MIDNIGHT + timedelta(hours=20):
            saved = connector.saved_state()
            connector = GeneracConnector.from_config(
                session,
                {**connector.credentials, "site_id": HOME_ID, "url": sim.base_url},
            )
            assert saved is not None
            connector.restore_state(saved)
            freezer.tick(timedelta(minutes=10))
            now += timedelta(minutes=10)
        freezer.tick(timedelta(minutes=2))
        now += timedelta(minutes=2)
        snapshot = await connector.async_fetch()
        totals = _totals(snapshot)
        assert all(totals[k] >= previous[k] for k in COUNTERS)  # monotonic
        previous = totals
    truth = true_energy(start.timestamp(), end.timestamp())
    for key, name in TRUTH_KEYS.items():
        error = abs(previous[key] - truth[name]) / truth[name]
        logging.getLogger(__name__).info(
            "%s: derived %.1f Wh, truth %.1f Wh, error %.4f %%",
            key,
            previous[key],
            truth[name],
            100 * error,
        )
        assert error < 1e-4, (key, previous[key], truth[name])


async def test_gaps_longer_than_the_limit_are_not_bridged(
    session: ClientSession, sim: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Down for 2 h: the hour beyond the backfill is missing, not guessed."""
    freezer.move_to(NOON)
    connector = by_token(session, sim)
    first = _totals(await connector.async_fetch())
    last = int(NOON.timestamp())
    freezer.tick(timedelta(hours=2))
    after = _totals(await connector.async_fetch())
    truth = true_energy(last + 3600, last + 7200)
    missed = true_energy(last, last + 3600)
    assert MAX_GAP < 3600
    assert after["grid_export_energy_lifetime"] - first[
        "grid_export_energy_lifetime"
    ] == pytest.approx(truth["export"], rel=1e-3)
    assert missed["export"] > 1000  # the skipped hour mattered


async def test_state_of_another_home_is_ignored(
    session: ClientSession, sim: GeneracSimulator
) -> None:
    """A persisted integrator belongs to its home only."""
    connector = by_token(session, sim)
    connector.restore_state({"home_id": "another", "totals": {COUNTERS[0]: 5.0}})
    assert connector.saved_state() == {
        "home_id": HOME_ID,
        "totals": dict.fromkeys(COUNTERS, 0.0),
        "last_ts": None,
        "last_grid": None,
        "last_battery": None,
    }
    diagnostics = connector.diagnostics()
    assert diagnostics["auth_method"] == "refresh_token"
    assert connector.credentials["refresh_token"] not in str(diagnostics)
    assert diagnostics["id_token_expires_in"] is None


async def test_odd_answers(
    session: ClientSession,
    sim: GeneracSimulator,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Odd payloads are typed errors or skipped fields, never crashes or zeros."""
    freezer.move_to(NOON)
    now = int(NOON.timestamp())
    sim.override["refresh"] = (200, {"access_token": "only-access"})
    with pytest.raises(BadPayloadError):
        await by_token(session, sim).async_identify()
    sim.override["refresh"] = (400, "<html>Bad request</html>")
    with pytest.raises(AuthFailedError):
        await by_token(session, sim).async_identify()
    assert "Generac refused the refresh (HTTP 400)" in caplog.text
    connector = by_token(session, sim)
    sim.override["homes"] = (200, {"homes": []})
    with pytest.raises(BadPayloadError):
        await connector.async_fetch()
    sim.override["telemetry"] = (200, {"samples": []})
    with pytest.raises(BadPayloadError):
        await connector.async_fetch()
    home = sim._home(sim.homes[0], now, 1.0)
    home["systems"][0]["systemDevices"].extend(
        [
            {"deviceType": "PVL", "serialNumber": "PVL-77", "deviceStatus": None},
            {"deviceType": "GENERATOR", "deviceStatus": {}},
            "not a device",
        ]
    )
    home["systems"].append({"systemDevices": []})  # no serial: skipped
    sim.override["homes"] = (200, [home])
    sample = sim.sample(sim.homes[0], now)
    sample["grid"] = None
    sample["battery"]["batteryState"] = "BATTERY_SOC_STATUS_CRITICAL"
    sample["system"][SERIAL]["sysMode"] = "VACATION"
    sample["system"]["broken"] = "not a system"
    older = sim.sample(sim.homes[0], now - 1)
    sim.override["telemetry"] = (200, [sample, older, {"date": "soon"}])
    snapshot = await connector.async_fetch()
    assert snapshot.devices["PVL-77"].name == "PV link PVL-77"
    assert snapshot.devices["PVL-77"].serial == "PVL-77"
    assert "PVL-77" not in snapshot.readings  # no status, no readings
    assert "production_energy_lifetime" not in snapshot.readings[HOME_ID].values
    site = snapshot.readings[HOME_ID].values
    assert "grid_power" not in site
    assert "battery_soc_status" not in site
    assert "system_mode" not in snapshot.readings[SERIAL].values
    assert site["grid_import_energy_lifetime"] == 0.0  # a missing grid power is no zero
    assert "Unknown Generac battery state BATTERY_SOC_STATUS_CRITICAL" in caplog.text
    assert "Unknown Generac system mode VACATION" in caplog.text


async def test_two_connectors_of_one_token_renew_once(
    session: ClientSession, sim: GeneracSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Two entries holding the same refresh token: one refresh, both store its successor."""
    freezer.move_to(NOON)
    first = by_token(session, sim)
    data = {**first.credentials, "site_id": HOME_ID, "url": sim.base_url}
    second = GeneracConnector.from_config(session, data)
    stored_first, stored_second = Stored(sim), Stored(sim)
    first.on_credentials, second.on_credentials = stored_first, stored_second
    await first.async_fetch()
    await second.async_fetch()
    assert sim.requests.count("refresh") == 1
    new = first.credentials["refresh_token"]
    assert second.credentials["refresh_token"] == new
    assert [c[0]["refresh_token"] for c in stored_first.calls] == [new]
    assert [c[0]["refresh_token"] for c in stored_second.calls] == [new]


def test_simulator_lifetime_counters_rise_through_midnight() -> None:
    """The simulator's own lifetime Wh never drop: a day adds one day of solar."""
    sim = GeneracSimulator()
    home = sim.homes[0]

    def pvl_total(ts: float) -> float:
        systems = sim._home(home, ts, 1.0)["systems"]
        return sum(
            d["deviceStatus"]["lifeTimeEnergyInWh"]
            for s in systems
            for d in s["systemDevices"]
            if d["deviceType"] == "PVL"
        )

    midnight = datetime(2026, 6, 21, 7, tzinfo=UTC).timestamp()  # Phoenix 00:00
    samples = [pvl_total(midnight + m * 60) for m in range(-90, 24 * 60 + 90, 15)]
    assert all(b >= a for a, b in pairwise(samples))
    day = pvl_total(midnight + 86_400) - pvl_total(midnight)
    size = sum(s.size for s in home.systems)
    assert day == pytest.approx(DAILY_SOLAR * size, rel=0.01)
