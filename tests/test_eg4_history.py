"""EG4 first-setup history (month columns) against the WManage simulator, over real sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util.unit_conversion import EnergyConverter
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.sungaze.backfill import CONF_BACKFILL_DAYS
from custom_components.sungaze.connectors.base import ConnectionFailedError
from custom_components.sungaze.connectors.eg4 import EG4Connector
from custom_components.sungaze.connectors.eg4.history import create_date, month_column
from custom_components.sungaze.connectors.eg4.parse import Plant, utc_offset
from custom_components.sungaze.const import DOMAIN
from custom_components.sungaze.model import HistorySeries, Snapshot

from .conftest import EG4_PASSWORD, EG4_USERNAME, hourly_sums
from .simulators.eg4 import EG4Simulator, SimAccount, default_plants

INV1, INV2, BOSS, XP = "4512670001", "4512670002", "4524850002", "5512340003"
HOME, BARN = "31002", "31077"
NOON = datetime(2026, 6, 21, 19, 0, tzinfo=UTC)
"""12:00 in Phoenix (UTC-7 all year) on 2026-06-21."""
TODAY = date(2026, 6, 21)
KEYS = {
    "production_energy_lifetime",
    "consumption_energy_lifetime",
    "grid_import_energy_lifetime",
    "grid_export_energy_lifetime",
    "battery_charge_energy_lifetime",
    "battery_discharge_energy_lifetime",
}
MONTH = "monthColumn"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The test's own HTTP session, with its own (IP-friendly) cookie jar."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield http


def connect(sim: EG4Simulator, http: aiohttp.ClientSession) -> EG4Connector:
    return EG4Connector.from_config(
        http,
        {
            "username": EG4_USERNAME,
            "password": EG4_PASSWORD,
            "url": sim.base_url,
            "station_ids": [HOME, BARN],
        },
    )


def sent(sim: EG4Simulator, name: str, since: int = 0) -> list[dict[str, str]]:
    return [form for path, form in sim.calls[since:] if path.endswith("/" + name)]


def totals(series: tuple[HistorySeries, ...]) -> dict[tuple[str, str], float]:
    found: dict[tuple[str, str], float] = {}
    for one in series:
        assert not one.points
        assert one.day_total is not None
        assert (one.device_id, one.key) not in found
        found[(one.device_id, one.key)] = one.day_total
    return found


def midnight(day: date) -> datetime:
    """Phoenix's local midnight starting `day` (UTC-7, no DST)."""
    return datetime(day.year, day.month, day.day, 7, tzinfo=UTC)


def wh(snapshot: Snapshot, device: str, key: str) -> float:
    value = snapshot.value(device, key)
    assert isinstance(value, float)
    return value


async def lifetimes(
    connector: EG4Connector, freezer: FrozenDateTimeFactory, at: datetime
) -> Snapshot:
    """The live counters as the connector publishes them at `at`."""
    freezer.move_to(at)
    return await connector.async_fetch()


async def test_day_totals_are_what_the_live_counters_advanced(
    eg4: EG4Simulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """A past day's totals equal the live lifetime counters' rise over that day.

    The independent path: two live updates (runtime + energy endpoints, parsed
    as the sensors get them) at the local midnights around the day.
    """
    day = date(2026, 6, 19)
    connector = connect(eg4, session)
    before = await lifetimes(connector, freezer, midnight(day))
    after = await lifetimes(connector, freezer, midnight(day + timedelta(days=1)))
    freezer.move_to(NOON)

    found = totals(await connector.async_history(day))

    expected = {
        (device, key): wh(after, device, key) - wh(before, device, key)
        for device in (INV1, INV2, XP, HOME)
        for key in KEYS
    }
    assert found == expected
    assert all(wh > 0 for wh in found.values())
    # A station's counters cover its two inverters; a GridBOSS gets none.
    for key in KEYS:
        assert found[(HOME, key)] == found[(INV1, key)] + found[(INV2, key)]
    assert {device for device, _ in found} == {INV1, INV2, XP, HOME}
    assert len(sent(eg4, MONTH)) == 3
    assert sent(eg4, MONTH)[0] == {"serialNum": INV1, "year": "2026", "month": "6"}


async def test_strings_in_the_answer(
    eg4: EG4Simulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """Numbers sent as strings read the same."""
    freezer.move_to(NOON)
    plain = totals(await connect(eg4, session).async_history(date(2026, 6, 3)))
    eg4.stringly = True
    assert totals(await connect(eg4, session).async_history(date(2026, 6, 3))) == plain


async def test_today_is_open_and_the_plant_list_comes_once(
    eg4: EG4Simulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """Today gives nothing and asks no month; the first call learns the createDate."""
    freezer.move_to(NOON)
    connector = connect(eg4, session)
    await connector.async_fetch()
    start = len(eg4.calls)
    assert connector.history_first_day is None
    assert connector.history_cost(TODAY) == 1  # the plant list

    assert await connector.async_history(TODAY) == ()

    assert [path.rsplit("/", 1)[-1] for path, _ in eg4.calls[start:]] == ["viewer"]
    assert connector.history_first_day == date(2025, 5, 5)
    assert connector.history_cost(TODAY) == 0
    assert connector.history_cost(TODAY - timedelta(days=1)) == 3
    # A minute before local midnight the day is still open; at midnight it is not.
    freezer.move_to(midnight(TODAY + timedelta(days=1)) - timedelta(minutes=1))
    assert await connector.async_history(TODAY) == ()
    freezer.move_to(midnight(TODAY + timedelta(days=1)))
    assert {d for d, _ in totals(await connector.async_history(TODAY))} == {
        INV1,
        INV2,
        XP,
        HOME,
    }


async def test_a_month_is_fetched_once_per_inverter(
    eg4: EG4Simulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """One month column per inverter serves the month's other days for free."""
    freezer.move_to(NOON)
    connector = connect(eg4, session)
    await connector.async_history(TODAY)
    for number in range(20, 0, -1):
        await connector.async_history(date(2026, 6, number))
        assert connector.history_cost(date(2026, 6, number - 1 or 1)) == 0
    assert len(sent(eg4, MONTH)) == 3
    assert connector.history_cost(date(2026, 5, 31)) == 3
    await connector.async_history(date(2026, 5, 31))
    assert [(f["serialNum"], f["month"]) for f in sent(eg4, MONTH)[3:]] == [
        (INV1, "5"),
        (INV2, "5"),
        (XP, "5"),
    ]
    assert connector.diagnostics()["history_months_held"] == 6


async def test_the_current_month_is_asked_again_after_midnight(
    eg4: EG4Simulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """A held month whose day was still open when fetched is fetched again."""
    eg4.session_ttl = timedelta(days=2)  # no session renewal in the count
    freezer.move_to(NOON)
    connector = connect(eg4, session)
    await connector.async_history(date(2026, 6, 20))
    freezer.move_to(midnight(TODAY + timedelta(days=1)) + timedelta(hours=1))
    assert connector.history_cost(date(2026, 6, 20)) == 0
    assert connector.history_cost(TODAY) == 3
    assert len(await connector.async_history(TODAY)) == 4 * 6
    assert len(sent(eg4, MONTH)) == 6


@pytest.mark.parametrize(("days", "months"), [(7, 1), (365, 13)])
async def test_requests_for_a_week_and_a_year(
    eg4: EG4Simulator,
    session: aiohttp.ClientSession,
    freezer: FrozenDateTimeFactory,
    days: int,
    months: int,
) -> None:
    """Walking back as the backfill does: one request per inverter and month.

    `history_cost` announced exactly what was sent.
    """
    freezer.move_to(NOON)
    connector = connect(eg4, session)
    await connector.async_fetch()
    start = len(eg4.calls)
    announced = 0
    found = 0
    for back in range(days):
        day = TODAY - timedelta(days=back)
        announced += connector.history_cost(day)
        found += len(await connector.async_history(day))
    assert len(eg4.calls) - start == announced == 3 * months + 1
    assert len(sent(eg4, MONTH, start)) == 3 * months
    assert found == (days - 1) * 4 * 6
    assert connector.diagnostics()["history_months_held"] <= 36


async def test_days_before_the_plant_was_created(
    session: aiohttp.ClientSession,
    freezer: FrozenDateTimeFactory,
    socket_enabled: None,
) -> None:
    """Nothing before a plant's createDate; the oldest plant's date bounds the walk."""
    plants = default_plants()
    plants[0].created = date(2026, 6, 10)
    plants[1].created = date(2026, 6, 2)
    sim = EG4Simulator(SimAccount(plants=plants))
    await sim.start()
    try:
        freezer.move_to(NOON)
        connector = connect(sim, session)
        assert {
            d for d, _ in totals(await connector.async_history(date(2026, 6, 5)))
        } == {XP}
        assert connector.history_first_day == date(2026, 6, 2)
        assert connector.history_cost(date(2026, 6, 1)) == 0
        assert await connector.async_history(date(2026, 6, 1)) == ()
        assert [f["serialNum"] for f in sent(sim, MONTH)] == [XP]
    finally:
        await sim.stop()


async def test_installer_lists_plants_on_its_path(
    session: aiohttp.ClientSession,
    freezer: FrozenDateTimeFactory,
    socket_enabled: None,
) -> None:
    """INSTALLER / I_ASSISTANT accounts list plants on `/plant/list`."""
    sim = EG4Simulator(SimAccount(role="I_ASSISTANT"))
    await sim.start()
    try:
        freezer.move_to(NOON)
        connector = connect(sim, session)
        await connector.async_history(TODAY)
        assert [path for path, _ in sim.calls][-1] == "/WManage/web/config/plant/list"
        assert connector.history_first_day == date(2025, 5, 5)
    finally:
        await sim.stop()


async def test_blank_and_missing_fields_are_skipped(
    eg4: EG4Simulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """`""` and absent fields give no series, never a zero."""
    freezer.move_to(NOON)
    day = date(2026, 6, 12)
    full = totals(await connect(eg4, session).async_history(day))
    eg4.pin(INV1, "month", ePv2Day="", eChgDay="", eDisChgDay=None)
    eg4.pin(INV2, "month", eToUserDay=None)

    found = totals(await connect(eg4, session).async_history(day))

    ppv1 = eg4.month_column(INV1, "2026", "6")["data"][day.day - 1]["ePv1Day"]
    ppv3 = eg4.month_column(INV1, "2026", "6")["data"][day.day - 1]["ePv3Day"]
    assert found[(INV1, "production_energy_lifetime")] == (ppv1 + ppv3) * 100
    for device, key in [
        (INV1, "battery_charge_energy_lifetime"),
        (INV1, "battery_discharge_energy_lifetime"),
        (INV2, "grid_import_energy_lifetime"),
        (HOME, "battery_charge_energy_lifetime"),
        (HOME, "battery_discharge_energy_lifetime"),
        (HOME, "grid_import_energy_lifetime"),
    ]:
        assert (device, key) not in found
        assert (device, key) in full
    assert (
        found[(INV2, "grid_export_energy_lifetime")]
        == full[(INV2, "grid_export_energy_lifetime")]
    )


async def test_transient_failure_then_success(
    eg4: EG4Simulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """DATAFRAME_TIMEOUT is a connection failure; nothing is held, the next call asks again."""
    freezer.move_to(NOON)
    connector = connect(eg4, session)
    day = date(2026, 6, 20)
    await connector.async_history(TODAY)
    eg4.fail_next("dataframe_timeout", path_contains=MONTH)
    with pytest.raises(ConnectionFailedError, match="DATAFRAME_TIMEOUT"):
        await connector.async_history(day)
    assert connector.history_cost(day) >= 1
    assert len(await connector.async_history(day)) == 4 * 6
    assert connector.history_cost(day) == 0


async def test_expired_session_logs_in_again(
    eg4: EG4Simulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """The HTML login page on a month column: clear the jar, log in, retry once."""
    freezer.move_to(NOON)
    connector = connect(eg4, session)
    await connector.async_history(TODAY)
    logins = eg4.logins
    eg4.expire_sessions()

    assert len(await connector.async_history(date(2026, 6, 20))) == 4 * 6

    assert eg4.logins == logins + 1
    assert eg4.login_had_cookie[-1] is False
    assert connector.diagnostics()["session_renewals"] == 1


async def test_refused_month_is_held_empty(
    eg4: EG4Simulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """A refusal a fresh login does not cure: that inverter's month is empty, asked once."""
    freezer.move_to(NOON)
    connector = connect(eg4, session)
    await connector.async_history(TODAY)
    eg4.refuse = {INV1}

    found = totals(await connector.async_history(date(2026, 6, 20)))

    assert {d for d, _ in found} == {INV2, XP}  # no INV1, so no station total
    assert connector.history_cost(date(2026, 6, 19)) == 0
    assert {d for d, _ in totals(await connector.async_history(date(2026, 6, 19)))} == {
        INV2,
        XP,
    }
    assert connector.diagnostics()["notes"]["monthColumn"] == (
        "refused by the portal for a device"
    )


async def test_unexpected_shape_is_held_empty(
    eg4: EG4Simulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """An answer without the day list (the shape is UNCONFIRMED): no history, no retry."""
    freezer.move_to(NOON)
    connector = connect(eg4, session)
    eg4.pin(XP, "month_reply", data=None)

    found = totals(await connector.async_history(date(2026, 6, 20)))

    assert {d for d, _ in found} == {INV1, INV2, HOME}
    assert connector.history_cost(date(2026, 6, 19)) == 0
    assert connector.diagnostics()["notes"]["monthColumn"] == "unexpected answer shape"


async def test_plant_list_refused(
    eg4: EG4Simulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """Without the plant list the first day is unknown; history still comes."""
    freezer.move_to(NOON)
    connector = connect(eg4, session)
    assert connector.history_cost(TODAY) == 1  # not logged in yet: a guess
    eg4.fail_next("refused", count=2, path_contains="plant/list")

    assert len(await connector.async_history(date(2026, 6, 20))) == 4 * 6

    assert connector.history_first_day is None
    assert connector.history_cost(date(2026, 6, 19)) == 0  # not asked again


async def test_an_update_that_failed_does_not_stop_history(
    eg4: EG4Simulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """A live update's failure stops that update's requests, not the history's."""
    freezer.move_to(NOON)
    connector = connect(eg4, session)
    await connector.async_fetch()
    eg4.fail_next(502)
    with pytest.raises(ConnectionFailedError):
        await connector.async_fetch()
    assert len(await connector.async_history(date(2026, 6, 20))) == 4 * 6


async def test_portal_down(
    eg4: EG4Simulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """A maintenance page is a connection failure (the backfill retries later)."""
    freezer.move_to(NOON)
    connector = connect(eg4, session)
    await connector.async_history(TODAY)
    eg4.fail_next("html", path_contains=MONTH)
    with pytest.raises(ConnectionFailedError):
        await connector.async_history(date(2026, 6, 20))


def test_month_column_shapes() -> None:
    """An answer without a day list is no month; odd rows and values are skipped."""
    assert month_column({"success": True}) is None
    assert month_column({"data": {"day": 1}}) is None
    assert month_column(
        {
            "data": [
                "x",
                {"day": 0, "eChgDay": 1},
                {"day": 1.5, "eChgDay": 1},
                {"day": "2", "eChgDay": "3", "eToGridDay": -1, "eToUserDay": "n/a"},
            ]
        }
    ) == {2: {"battery_charge_energy_lifetime": 300.0}}


def test_create_date_and_offsets() -> None:
    """Plant dates with or without a time; offsets from the login tree."""
    assert create_date("2025-05-05") == date(2025, 5, 5)
    assert create_date("2025-05-05 19:55:50") == date(2025, 5, 5)
    assert create_date("yesterday") is None
    assert create_date(None) is None
    assert utc_offset({"timezoneHourOffset": -9, "timezoneMinuteOffset": 30}) == (
        timedelta(hours=-9, minutes=-30)
    )
    assert utc_offset({"timezoneHourOffset": 5, "timezoneMinuteOffset": 30}) == (
        timedelta(hours=5, minutes=30)
    )
    assert utc_offset({"timezoneHourOffset": "x"}) is None
    assert utc_offset({"timezoneHourOffset": 20}) is None


def test_open_day_without_an_offset() -> None:
    """Without the plant's offset a day is over once it is over everywhere (UTC-12)."""
    plant = Plant(id="1", name="x", units=[], groups={})
    end = datetime(2026, 6, 22, 12, tzinfo=UTC)
    assert EG4Connector._open(plant, date(2026, 6, 21), end - timedelta(seconds=1))
    assert not EG4Connector._open(plant, date(2026, 6, 21), end)


# -- through the backfill --------------------------------------------------------


@pytest.fixture
def mock_recorder_before_hass(async_test_recorder: object) -> None:
    """The recorder's database must exist before hass starts."""


def _day_energy(rows: list[dict[str, Any]], day: date) -> float:
    """A day's energy from hourly sums (each row's sum is at the end of its hour)."""
    start, end = (
        midnight(day).timestamp(),
        midnight(day + timedelta(days=1)).timestamp(),
    )
    before = [r["sum"] for r in rows if r["start"] < start][-1]
    last = [r["sum"] for r in rows if r["start"] < end][-1]
    return float(last - before)


async def test_backfill_imports_eg4_day_totals(
    recorder_mock: object,
    phoenix: HomeAssistant,
    eg4_entry: MockConfigEntry,
    eg4: EG4Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An EG4 entry's past week lands in its counters' statistics, ending at sum 0.

    Four requests: the plant list, then June's month column per inverter. A
    day's hours add up to the simulator's day total (its month column, which
    is what the live lifetime counter advanced that day); a station's to its
    inverters' sum. (A week, not the automatic reach: importing months of
    hours for 24 counters takes the recorder half a minute.)
    """
    hass = phoenix
    freezer.move_to(NOON)
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=eg4_entry.unique_id,
        title=eg4_entry.title,
        data=dict(eg4_entry.data),
        options={CONF_BACKFILL_DAYS: 7},
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await async_wait_recording_done(hass)

    backfill = entry.runtime_data.backfill
    assert backfill is not None
    assert backfill.done
    assert backfill.requests == 4
    assert [(f["serialNum"], f["month"]) for f in sent(eg4, MONTH)] == [
        (INV1, "6"),
        (INV2, "6"),
        (XP, "6"),
    ]
    registry = er.async_get(hass)
    day = date(2026, 6, 18)
    for device, key, fields in [
        (INV1, "production_energy_lifetime", ("ePv1Day", "ePv2Day", "ePv3Day")),
        (XP, "grid_import_energy_lifetime", ("eToUserDay",)),
        (HOME, "battery_charge_energy_lifetime", ("eChgDay",)),
    ]:
        entity_id = registry.async_get_entity_id(
            "sensor", DOMAIN, f"eg4_{device}_{key}"
        )
        assert entity_id is not None
        state = hass.states.get(entity_id)
        assert state is not None
        per_wh = EnergyConverter.convert(
            1.0, "Wh", state.attributes["unit_of_measurement"]
        )
        rows = await hourly_sums(hass, entity_id, NOON - timedelta(days=120))
        assert rows[-1]["sum"] == pytest.approx(0.0)
        # Yesterday's last hour with energy (sunlit counters end at sunset).
        last = midnight(TODAY) - timedelta(hours=1)
        assert (last - timedelta(hours=6)).timestamp() <= rows[-1]["start"]
        assert rows[-1]["start"] <= last.timestamp()
        assert rows[0]["start"] >= midnight(date(2026, 6, 15)).timestamp()
        sums = [row["sum"] for row in rows]
        assert sums == sorted(sums)  # never backwards
        serials = [INV1, INV2] if device == HOME else [device]
        truth = sum(
            eg4.month_column(serial, "2026", "6")["data"][day.day - 1][field]
            for serial in serials
            for field in fields
        )
        assert truth > 0
        assert _day_energy(rows, day) == pytest.approx(truth * 100 * per_wh)
