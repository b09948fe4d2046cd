"""The demo home is placed where the sun is up (tests/simulators/__main__.py)."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
import importlib
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from freezegun.api import FrozenDateTimeFactory
import pytest

from custom_components.sungaze.connectors import CONNECTORS
from custom_components.sungaze.connectors.base import Connector

from .simulators import generac, tigo
from .simulators.__main__ import VENDORS, Vendor, demo_place


@pytest.mark.parametrize("hour", range(24))
def test_the_demo_home_has_late_morning_at_any_hour(hour: int) -> None:
    """Whatever the UTC hour, local time is 10:30-11:30 and longitude matches."""
    now = datetime(2026, 11, 29, hour, 17, tzinfo=UTC)
    place = demo_place(now)
    local = now.astimezone(ZoneInfo(place.time_zone))
    assert 10.5 <= local.hour + local.minute / 60 <= 11.5
    assert place.longitude == 15.0 * place.utc_offset
    assert local.utcoffset() == timedelta(hours=place.utc_offset)


def test_a_restart_keeps_the_place_while_it_is_day_there() -> None:
    """The previous zone stays while it is 08:00-15:00 there, then the home moves."""
    noon_there = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)  # 12:00 at UTC-3
    assert demo_place(noon_there, keep="Etc/GMT+3").time_zone == "Etc/GMT+3"
    evening_there = datetime(2026, 11, 29, 19, 0, tzinfo=UTC)  # 16:00 at UTC-3
    assert demo_place(evening_there, keep="Etc/GMT+3").time_zone == "Etc/GMT+8"
    assert demo_place(noon_there, keep="America/Phoenix").time_zone == "Etc/GMT+4"


# -- the Tigo and Generac simulators follow the demo home ------------------------
# UTC moments when Phoenix (the simulators' own zone) is dark: the summer evening,
# a winter night and the winter small hours. The placed sites must still produce.
DARK_IN_PHOENIX = (
    datetime(2026, 6, 21, 3, 17, tzinfo=UTC),  # 20:17 in Phoenix, 11:17 at UTC+8
    datetime(2026, 11, 29, 8, 5, tzinfo=UTC),  # 01:05 in Phoenix, 11:05 at UTC+3
    datetime(2026, 12, 21, 12, 40, tzinfo=UTC),  # 05:40 in Phoenix, 10:40 at UTC-2
)


def _row(vendor: str) -> Vendor:
    return next(row for row in VENDORS if row.vendor == vendor)


async def _placed(vendor: str, zone: str) -> Any:
    """Start a vendor's simulator as scripts/develop does with `--tz zone`."""
    row = _row(vendor)
    assert row.place is not None, f"{vendor} has no place"
    module = importlib.import_module(f"tests.simulators.{row.module}")
    simulator = getattr(module, row.cls)(**{**row.kwargs, **row.place(zone)})
    await simulator.start()
    return simulator


def _demo_connector(
    vendor: str, session: aiohttp.ClientSession, port: int
) -> Connector:
    """The connector of the demo's config entry for a simulator on `port`."""
    module = importlib.import_module(f"tests.simulators.{_row(vendor).module}")
    data = module.demo_entry("127.0.0.1", port)["data"]
    return CONNECTORS[data["vendor"]].from_config(session, data)


@pytest.fixture
async def session(socket_enabled: None) -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP session (loopback only)."""
    async with aiohttp.ClientSession() as http:
        yield http


@pytest.mark.parametrize("now", DARK_IN_PHOENIX, ids=lambda t: t.strftime("%m%d%H"))
async def test_tigo_panels_produce_in_the_placed_late_morning(
    now: datetime, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """The placed system names the zone and its panels make power; Phoenix's is dark."""
    freezer.move_to(now)
    zone = demo_place(now).time_zone
    assert tigo.TigoSimulator().summary()["last_power_dc"] == 1  # the night quirk
    sim = await _placed("tigo", zone)
    try:
        port = int(sim.origin.rsplit(":", 1)[1])
        connector = _demo_connector("tigo", session, port)
        account = await connector.async_identify()
        assert [site.timezone for site in account.sites] == [zone]
        snapshot = await connector.async_fetch()
        sid = str(tigo.SYSTEM_ID)
        assert sim.summary()["last_power_dc"] > 100
        production = snapshot.value(sid, "production_power")
        assert isinstance(production, float)
        assert production > 100
        local_zone = ZoneInfo(zone)
        for oid in tigo.OBJECT_IDS.values():
            readings = snapshot.readings[f"{sid}_panel_{oid}"]
            assert readings.as_of is not None
            minute = readings.as_of.astimezone(local_zone).replace(tzinfo=None)
            # Read in the zone the system names, the minutes are the placed truth.
            watts = readings.values["panel_power"]
            assert isinstance(watts, float)
            assert watts == sim.panel_w(oid, minute)
            assert watts > 0
        served = [sim._source_json(), sim._system_json()]
        assert [body["timezone"] for body in served] == [zone, zone]
        checkin = datetime.fromisoformat(served[0]["last_checkin"])
        assert checkin.utcoffset() == now.astimezone(local_zone).utcoffset()
    finally:
        await sim.stop()


@pytest.mark.parametrize("now", DARK_IN_PHOENIX, ids=lambda t: t.strftime("%m%d%H"))
async def test_generac_home_produces_in_the_placed_late_morning(
    now: datetime, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """The placed home names the zone and its solar runs on that clock; Phoenix's is dark."""
    freezer.move_to(now)
    zone = demo_place(now).time_zone
    ts = now.timestamp()
    assert generac.powers(ts)["solar"] == 0.0  # the default home: Phoenix, dark
    assert 10.5 <= generac.local_hour(ts, zone) <= 11.5
    sim = await _placed("generac", zone)
    try:
        assert [home.timezone for home in sim.homes] == [zone]
        port = int(sim.base_url.rsplit(":", 1)[1])
        connector = _demo_connector("generac", session, port)
        account = await connector.async_identify()
        assert [site.timezone for site in account.sites] == [zone]
        snapshot = await connector.async_fetch()
        site = snapshot.readings[generac.HOME_ID]
        truth = generac.powers(int(ts), tz=zone)
        assert truth["solar"] > 4000
        assert site.values["production_power"] == pytest.approx(
            round(truth["solar"] / 1000, 3) * 1000
        )
        assert site.values["battery_state_of_charge"] == round(
            generac.soc(int(ts), zone), 1
        )
        sample = sim.sample(sim.homes[0], int(ts))
        assert sample["solar"]["powerKw"] > 4
        assert sample["system"][generac.SERIAL]["sysMode"] == "SELF_SUPPLY"
    finally:
        await sim.stop()


def test_generac_default_zone_keeps_phoenix_figures() -> None:
    """Without a zone the curves are Phoenix's (UTC-7), as the Generac tests expect."""
    noon = datetime(2026, 6, 21, 19, 0, tzinfo=UTC).timestamp()
    assert generac.local_hour(noon) == 12.0
    assert generac.local_hour(noon, "Etc/GMT-3") == 22.0
    assert generac.powers(noon) == generac.powers(noon + 3 * 3600, tz="Etc/GMT+10")
    assert generac.local(noon).hour == 12
    assert generac.local(noon, "Etc/GMT").hour == 19
