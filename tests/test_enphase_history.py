"""Enphase first-setup history against the simulator, over real sockets."""

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import ClientSession
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import EnergyConverter
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.sungaze.connectors.base import (
    ConnectionFailedError,
    RateLimitedError,
    RequestLimiter,
)
from custom_components.sungaze.connectors.enphase import PLANS, EnphaseConnector
from custom_components.sungaze.connectors.enphase.history import (
    HOURLY_DAYS,
    PRODUCTION_METER,
    PRODUCTION_MICRO,
    complete_hours,
)
from custom_components.sungaze.const import DOMAIN
from custom_components.sungaze.model import HistorySeries

from .conftest import ENPHASE_SYSTEM_ID, NOON, hourly_sums, tick
from .simulators.enphase import EnphaseSimulator, SimSystem, cabin_system

PHOENIX = ZoneInfo("America/Phoenix")
TODAY = NOON.astimezone(PHOENIX).date()
HOME = ENPHASE_SYSTEM_ID
SERIES = {
    "production_energy_lifetime": ("energy_lifetime", "production"),
    "consumption_energy_lifetime": ("consumption_lifetime", "consumption"),
    "grid_import_energy_lifetime": ("energy_import_lifetime", "import"),
    "grid_export_energy_lifetime": ("energy_export_lifetime", "export"),
    "battery_charge_energy_lifetime": ("battery_lifetime", "charge"),
    "battery_discharge_energy_lifetime": ("battery_lifetime", "discharge"),
}


@pytest.fixture
async def session(socket_enabled: None) -> AsyncIterator[ClientSession]:
    """A plain aiohttp session, as HA would inject."""
    async with ClientSession() as client:
        yield client


Starter = Callable[..., Awaitable[EnphaseSimulator]]


@pytest.fixture
async def started(socket_enabled: None) -> AsyncIterator[Starter]:
    """Start simulators with these systems (the default Home otherwise); stopped after."""
    running: list[EnphaseSimulator] = []

    async def start(*systems: SimSystem) -> EnphaseSimulator:
        sim = EnphaseSimulator(systems=list(systems) or None)
        await sim.start()
        running.append(sim)
        return sim

    yield start
    for sim in running:
        await sim.stop()


def connector(
    session: ClientSession, sim: EnphaseSimulator, plan: str = "watt"
) -> EnphaseConnector:
    """A connector on the simulator's application, with its own token."""
    sim.app0.plan = plan
    token = sim.mint()["access_token"]

    async def tokens(*, rejected: str | None = None) -> str:
        return token

    return EnphaseConnector(
        session,
        api_key=sim.app0.api_key,
        token=tokens,
        base_url=sim.base_url,
        plan=plan,
        limiter=RequestLimiter(PLANS[plan].budget),
    )


async def history(
    client: EnphaseConnector, day: date, freezer: FrozenDateTimeFactory
) -> tuple[HistorySeries, ...]:
    """`async_history`, waiting out the minute as the backfill would."""
    for _ in range(5):
        try:
            return await client.async_history(day)
        except RateLimitedError as err:
            if err.period != "minute":
                raise
            freezer.tick(timedelta(seconds=max(err.retry_after or 60, 61)))
    raise AssertionError("history never finished")


async def daily(
    session: ClientSession, sim: EnphaseSimulator, name: str, array: str
) -> dict[date, int]:
    """A daily series read over HTTP without the connector (the independent path)."""
    async with session.get(
        f"{sim.base_url}/systems/{HOME}/{name}",
        params={"key": sim.app0.api_key, "end_date": TODAY.isoformat()},
        headers={"Authorization": f"Bearer {sim.mint()['access_token']}"},
    ) as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
    first = date.fromisoformat(body["start_date"])
    return {first + timedelta(days=n): v for n, v in enumerate(body[array])}


def by_key(found: tuple[HistorySeries, ...]) -> dict[str, HistorySeries]:
    """One series per key (a single system)."""
    out = {s.key: s for s in found}
    assert len(out) == len(found)
    assert {s.device_id for s in found} <= {HOME}
    return out


async def test_hours_sum_to_the_days_of_the_daily_series(
    session: ClientSession, freezer: FrozenDateTimeFactory, started: Starter
) -> None:
    """Each past day of the hourly range: 24 complete hours summing to the series."""
    freezer.move_to(NOON)
    sim = await started()
    client = connector(session, sim)
    truth = {k: await daily(session, sim, *v) for k, v in SERIES.items()}
    for back in range(1, HOURLY_DAYS):
        day = TODAY - timedelta(days=back)
        found = by_key(await history(client, day, freezer))
        assert set(found) == set(SERIES)
        for key, series in found.items():
            assert series.day_total is None
            assert len(series.points) == 24
            starts = [p.start for p in series.points]
            assert starts == sorted(starts)
            assert all(s.minute == 0 and s.tzinfo is UTC for s in starts)
            assert {s.astimezone(PHOENIX).date() for s in starts} == {day}
            assert sum(p.value for p in series.points) == truth[key][day], key
        assert sum(p.value for p in found["production_energy_lifetime"].points) > 0


async def test_today_counts_complete_hours_only(
    session: ClientSession, freezer: FrozenDateTimeFactory, started: Starter
) -> None:
    """Today's hours end by the last upload; the open hour is not counted."""
    freezer.move_to(NOON + timedelta(minutes=40))  # 12:40 local, upload at 12:32
    sim = await started()
    client = connector(session, sim)
    found = by_key(await history(client, TODAY, freezer))
    cutoff = sim.cutoff(sim.systems[int(HOME)])
    production = found["production_energy_lifetime"].points
    assert production[-1].start + timedelta(hours=1) <= cutoff
    assert production[-1].start.astimezone(PHOENIX).hour == 11
    assert len(production) == 12
    truth = sim.truth()
    # The day so far minus the half-hour of the open hour already uploaded.
    assert sum(p.value for p in production) < truth["production_today"]
    system = sim.systems[int(HOME)]
    noon = production[-1].start + timedelta(hours=1)
    assert sum(p.value for p in production) == truth["production_today"] - sim._flow_wh(
        system, "pv", noon, cutoff
    )
    assert all(s.day_total is None for s in found.values())


async def test_requests_per_week_and_cached_days(
    session: ClientSession, freezer: FrozenDateTimeFactory, started: Starter
) -> None:
    """A week costs one request per telemetry endpoint; older days one per series."""
    freezer.move_to(NOON)
    sim = await started()
    client = connector(session, sim, plan="kilowatt")
    await client.async_fetch()
    assert client.history_first_day == date(2025, 11, 3)
    sent, raw = len(sim.api_calls), len(sim.calls)
    costs = []
    for back in range(HOURLY_DAYS):
        day = TODAY - timedelta(days=back)
        costs.append(client.history_cost(day))
        await history(client, day, freezer)
    assert costs == [5, 0, 0, 0, 0, 0, 0]
    calls = sim.api_calls[sent:]
    assert len(calls) == 5
    assert {c.rsplit("/", 1)[-1] for c in calls} == {
        "production_meter",
        "consumption_meter",
        "energy_import_telemetry",
        "energy_export_telemetry",
        "battery",
    }
    queries = [q for _, p, q in sim.calls[raw:] if "telemetry" in p]
    assert {q.get("start_date") for q in queries} == {
        (TODAY - timedelta(days=6)).isoformat()
    }
    assert {q.get("granularity") for q in queries} == {"week"}
    # Before the hourly range: the five daily series once, then nothing.
    old = TODAY - timedelta(days=HOURLY_DAYS)
    assert client.history_cost(old) == 5
    truth = {k: await daily(session, sim, *v) for k, v in SERIES.items()}
    sent = len(sim.api_calls)
    for back in range(HOURLY_DAYS, 365):
        day = TODAY - timedelta(days=back)
        found = by_key(await history(client, day, freezer))
        if day < date(2025, 11, 3):
            assert found == {}
            continue
        assert set(found) == set(SERIES)
        for key, series in found.items():
            assert series.points == ()
            assert series.day_total == truth[key][day], (key, day)
    assert len(sim.api_calls) - sent == 5
    assert client.history_cost(old - timedelta(days=30)) == 0


async def test_lifetime_counter_is_days_plus_today(
    session: ClientSession, freezer: FrozenDateTimeFactory, started: Starter
) -> None:
    """The live counter equals the backfilled past days plus today's running total."""
    freezer.move_to(NOON)
    sim = await started(SimSystem(operational=TODAY - timedelta(days=20)))
    client = connector(session, sim, plan="kilowatt")
    snapshot = await client.async_fetch()
    live = snapshot.readings[HOME].values
    totals = dict.fromkeys(SERIES, 0.0)
    for back in range(1, 25):
        for series in await history(client, TODAY - timedelta(days=back), freezer):
            totals[series.key] += (
                series.day_total
                if series.day_total is not None
                else sum(p.value for p in series.points)
            )
    for key in SERIES:
        today_key = key.replace("_lifetime", "_today")
        assert totals[key] + live[today_key] == live[key], key


async def test_plan_refusal_falls_back_to_day_totals(
    session: ClientSession, freezer: FrozenDateTimeFactory, started: Starter
) -> None:
    """Battery telemetry refused (401 on Watt): its days come from the daily series."""
    freezer.move_to(NOON)
    sim = await started()
    sim.watt_excludes = {"telemetry/battery"}
    client = connector(session, sim)
    found = by_key(await history(client, TODAY, freezer))
    assert "battery_charge_energy_lifetime" not in found  # today is open
    assert found["production_energy_lifetime"].points
    yesterday = TODAY - timedelta(days=1)
    assert client.history_cost(yesterday) == 1  # the battery series
    found = by_key(await history(client, yesterday, freezer))
    truth = await daily(session, sim, "battery_lifetime", "charge")
    charge = found["battery_charge_energy_lifetime"]
    assert charge.points == ()
    assert charge.day_total == truth[yesterday]
    assert found["production_energy_lifetime"].points
    assert client.history_cost(yesterday - timedelta(days=1)) == 0
    # A series refused too: that counter's old days stay out, the rest come.
    sim.watt_excludes.add("energy_import_lifetime")
    freezer.tick(timedelta(seconds=61))
    old = by_key(await history(client, TODAY - timedelta(days=10), freezer))
    assert "grid_import_energy_lifetime" not in old
    assert old["production_energy_lifetime"].day_total
    assert old["battery_charge_energy_lifetime"].day_total
    freezer.tick(timedelta(seconds=61))
    notes = (await client.async_fetch()).notes
    assert "telemetry/battery" in notes


async def test_range_refusal_falls_back_and_errors_are_typed(
    session: ClientSession, freezer: FrozenDateTimeFactory, started: Starter
) -> None:
    """A 422 on one telemetry endpoint is a fallback; a 5xx a typed error."""
    freezer.move_to(NOON)
    sim = await started()
    client = connector(session, sim, plan="kilowatt")
    await client.async_fetch()
    sim.fail_next(500, path_contains="telemetry/production_meter")
    with pytest.raises(ConnectionFailedError):
        await client.async_history(TODAY)
    sim.fail_next(422, path_contains="energy_import_telemetry")
    yesterday = TODAY - timedelta(days=1)
    found = by_key(await history(client, yesterday, freezer))
    truth = await daily(session, sim, "energy_import_lifetime", "import")
    assert found["grid_import_energy_lifetime"].day_total == truth[yesterday]
    assert len(found["grid_export_energy_lifetime"].points) == 24


async def test_burst_is_capped_per_call(
    session: ClientSession, freezer: FrozenDateTimeFactory, started: Starter
) -> None:
    """Two systems need six requests: five now, the rest after the minute."""
    freezer.move_to(NOON)
    sim = await started(SimSystem(), cabin_system())
    client = connector(session, sim)
    await history(client, TODAY - timedelta(days=30), freezer)  # learns systems
    freezer.tick(timedelta(seconds=61))
    day = TODAY - timedelta(days=1)
    assert client.history_cost(day) == 5
    sent = len(sim.api_calls)
    with pytest.raises(RateLimitedError):
        await client.async_history(day)
    assert len(sim.api_calls) - sent == 5
    freezer.tick(timedelta(seconds=61))
    assert client.history_cost(day) == 1
    found = await client.async_history(day)
    assert {s.device_id for s in found} == {HOME, "4123988"}


async def test_micro_production_costs_a_request_a_day(
    session: ClientSession, freezer: FrozenDateTimeFactory, started: Starter
) -> None:
    """Without a production meter the 5-minute micro data, one day per request."""
    freezer.move_to(NOON)
    system = SimSystem(production_meter=False, consumption_meter=False)
    system.battery_serial = None
    sim = await started(system)
    client = connector(session, sim)
    await history(client, TODAY - timedelta(days=40), freezer)
    truth = await daily(session, sim, "energy_lifetime", "production")
    for back in (1, 2):
        day = TODAY - timedelta(days=back)
        assert client.history_cost(day) == 1
        (found,) = await history(client, day, freezer)
        assert len(found.points) == 24
        assert sum(p.value for p in found.points) == truth[day]
    micro = [q for _, p, q in sim.calls if p.endswith("production_micro")]
    assert [q["granularity"] for q in micro] == ["day", "day"]
    # One day refused: the rest of the range falls back to day totals.
    sim.fail_next(422, path_contains="production_micro")
    (found,) = await history(client, TODAY - timedelta(days=3), freezer)
    assert found.day_total == truth[TODAY - timedelta(days=3)]
    assert client.history_cost(TODAY - timedelta(days=4)) == 0
    (found,) = await history(client, TODAY - timedelta(days=4), freezer)
    assert found.day_total == truth[TODAY - timedelta(days=4)]


async def test_trailing_zeros_are_not_reported_days(
    session: ClientSession, freezer: FrozenDateTimeFactory, started: Starter
) -> None:
    """A gateway silent for ten days: its zero days are left out, older ones kept."""
    freezer.move_to(NOON)
    sim = await started()
    sim.gateway_offline_since = NOON - timedelta(days=10)
    client = connector(session, sim, plan="kilowatt")
    silent = TODAY - timedelta(days=8)
    assert await history(client, silent, freezer) == ()
    older = TODAY - timedelta(days=12)
    found = by_key(await history(client, older, freezer))
    assert found["production_energy_lifetime"].day_total
    # Within the hourly range nothing came: no hour is invented.
    assert await history(client, TODAY - timedelta(days=2), freezer) == ()


async def test_flat_and_nested_grid_intervals_agree(
    session: ClientSession, freezer: FrozenDateTimeFactory, started: Starter
) -> None:
    """The spec's nested import/export intervals and the flat list give the same hours."""
    freezer.move_to(NOON)
    day = TODAY - timedelta(days=3)
    results = []
    for malformed in (set(), {"flat_grid"}):
        sim = await started()
        sim.malformed = malformed
        client = connector(session, sim, plan="kilowatt")
        results.append(by_key(await history(client, day, freezer)))
    for key in ("grid_import_energy_lifetime", "grid_export_energy_lifetime"):
        assert results[0][key] == results[1][key]
        assert len(results[0][key].points) == 24


async def test_odd_answers_are_skipped_not_invented(
    session: ClientSession, freezer: FrozenDateTimeFactory, started: Starter
) -> None:
    """Garbled telemetry or series: that counter falls back or stays out."""
    freezer.move_to(NOON)
    sim = await started()
    client = connector(session, sim, plan="kilowatt")
    assert client.history_first_day is None
    assert client.history_cost(TODAY) == 5  # nothing known yet: the worst case
    assert await client.async_history(TODAY + timedelta(days=1)) == ()
    assert client.history_first_day == date(2025, 11, 3)
    assert await client.async_history(date(2025, 11, 2)) == ()
    sim.transform["telemetry/production_meter"] = lambda b: {
        **b,
        "intervals": "n/a",
    }
    sim.transform["energy_export_telemetry"] = lambda b: {
        **b,
        "intervals": [[{"wh_exported": 5}, "x"], {"end_at": "soon"}],
    }
    sim.transform["telemetry/battery"] = lambda b: {
        **b,
        "intervals": [{**i, "charge": "n/a"} for i in b["intervals"]],
    }
    sim.malformed = {"series"}
    yesterday = TODAY - timedelta(days=1)
    found = by_key(await client.async_history(yesterday))
    # Production refused, and its series unreadable: left out entirely.
    assert "production_energy_lifetime" not in found
    assert "grid_export_energy_lifetime" not in found
    assert "battery_charge_energy_lifetime" not in found
    assert len(found["battery_discharge_energy_lifetime"].points) == 24
    assert len(found["consumption_energy_lifetime"].points) == 24
    # Older days: every series garbled, so nothing at all.
    assert await client.async_history(TODAY - timedelta(days=20)) == ()


async def test_half_hour_zone_hours_belong_to_one_day(
    session: ClientSession, freezer: FrozenDateTimeFactory, started: Starter
) -> None:
    """UTC hours in a +09:30 zone: each counted once, on the day it starts."""
    freezer.move_to(NOON)
    zone = ZoneInfo("Australia/Adelaide")
    sim = await started(SimSystem(timezone="Australia/Adelaide"))
    client = connector(session, sim, plan="kilowatt")
    today = NOON.astimezone(zone).date()
    seen: list[datetime] = []
    for back in range(1, HOURLY_DAYS):
        day = today - timedelta(days=back)
        found = by_key(await history(client, day, freezer))
        points = found["production_energy_lifetime"].points
        assert all(p.start.minute == 0 for p in points)
        assert {p.start.astimezone(zone).date() for p in points} == {day}
        # Local xx:30 starts; the window's first half-hour is in no hour.
        assert len(points) == 24
        seen.extend(p.start for p in points)
    assert len(seen) == len(set(seen))
    system = sim.systems[int(HOME)]
    first, last = min(seen), max(seen) + timedelta(hours=1)
    total = 0.0
    for back in range(1, HOURLY_DAYS):
        for series in await client.async_history(today - timedelta(days=back)):
            if series.key == "production_energy_lifetime":
                total += sum(p.value for p in series.points)
    assert total == sim._flow_wh(system, "pv", first, last)


def test_late_micro_inverters_end_the_complete_hours() -> None:
    """Fewer devices reporting in the last hours: those hours wait."""
    now = datetime(2026, 6, 21, 20, 0, tzinfo=UTC)
    start = now - timedelta(hours=4)
    intervals = [
        {
            "end_at": int((start + timedelta(minutes=15 * (n + 1))).timestamp()),
            "devices_reporting": 1 if n < 8 else 0,
            "wh_del": 100,
        }
        for n in range(16)
    ]
    payload = {"total_devices": 1, "intervals": intervals}
    hours = complete_hours(PRODUCTION_METER, payload, start=start, stop=now, now=now)
    assert hours is not None
    assert sorted(hours["production_energy_lifetime"]) == [
        start,
        start + timedelta(hours=1),
    ]
    assert (
        complete_hours(
            PRODUCTION_METER, {"intervals": "n/a"}, start=start, stop=now, now=now
        )
        is None
    )


def test_uploads_complete_hours_whose_intervals_stopped() -> None:
    """Micro data stops at sunset: the last upload completes that hour."""
    sunset = datetime(2026, 6, 21, 18, 20, tzinfo=UTC)
    start = datetime(2026, 6, 21, 17, 0, tzinfo=UTC)
    now = datetime(2026, 6, 21, 20, 5, tzinfo=UTC)
    intervals = [
        {"end_at": int((start + timedelta(minutes=5 * (n + 1))).timestamp()), "enwh": 7}
        for n in range(16)  # 17:00 to 18:20
    ]
    assert intervals[-1]["end_at"] == int(sunset.timestamp())
    bare = complete_hours(
        PRODUCTION_MICRO, {"intervals": intervals}, start=start, stop=now, now=now
    )
    assert bare is not None
    assert list(bare["production_energy_lifetime"]) == [start]
    for reported, hours in ((now - timedelta(minutes=3), 2), (sunset, 1)):
        payload = {
            "intervals": intervals,
            "meta": {"last_report_at": int(reported.timestamp())},
        }
        found = complete_hours(
            PRODUCTION_MICRO, payload, start=start, stop=now, now=now
        )
        assert found is not None
        assert len(found["production_energy_lifetime"]) == hours
    assert sum(found["production_energy_lifetime"].values()) == 12 * 7


async def test_simulator_telemetry_rules(
    session: ClientSession, freezer: FrozenDateTimeFactory, started: Starter
) -> None:
    """422 for a window over 7 days, a start over 2 years back, a bad granularity."""
    freezer.move_to(NOON)
    sim = await started()
    headers = {"Authorization": f"Bearer {sim.mint()['access_token']}"}
    base = f"{sim.base_url}/systems/{HOME}"

    async def get(path: str, **params: str) -> tuple[int, Any]:
        async with session.get(
            f"{base}/{path}",
            params={"key": sim.app0.api_key, **params},
            headers=headers,
        ) as response:
            return response.status, await response.json()

    week_ago = (TODAY - timedelta(days=6)).isoformat()
    status, body = await get(
        "telemetry/production_meter", start_date=week_ago, granularity="week"
    )
    assert status == 200
    assert body["start_date"] == week_ago
    assert "start_at" not in body
    assert "meta" not in body
    assert len(body["intervals"]) == 6 * 96 + 11 * 4 + 3  # to 11:45 local
    status, body = await get(
        "telemetry/consumption_meter",
        start_at=str(int((NOON - timedelta(days=9)).timestamp())),
        end_at=str(int(NOON.timestamp())),
    )
    assert status == 422
    assert "Requested date range is invalid" in body["details"]
    status, body = await get(
        "energy_import_telemetry",
        start_at=str(int((NOON - timedelta(days=800)).timestamp())),
    )
    assert status == 422
    status, _ = await get("telemetry/battery", granularity="month")
    assert status == 422
    status, _ = await get("telemetry/production_micro", start_date="2026-13-01")
    assert status == 422
    # Before the first report: moved to the operational day's midnight.
    status, body = await get(
        "telemetry/production_micro", start_date="2025-10-01", granularity="day"
    )
    assert status == 200
    first = datetime.fromtimestamp(body["intervals"][0]["end_at"], UTC)
    assert first.astimezone(PHOENIX) == datetime(2025, 11, 3, 0, 5, tzinfo=PHOENIX)
    assert len(body["intervals"]) == 288
    # After the last upload: an empty list, not an error.
    status, body = await get(
        "energy_export_telemetry",
        start_at=str(int((NOON + timedelta(hours=3)).timestamp())),
    )
    assert status == 200
    assert body["intervals"] == []


# -- the backfill with an Enphase entry (recorder) ----------------------------------


@pytest.fixture
def mock_recorder_before_hass(async_test_recorder: object) -> None:
    """The recorder's database must exist before hass starts."""


async def test_backfill_imports_and_joins_for_enphase(
    recorder_mock: object,
    phoenix: HomeAssistant,
    enphase_entry: MockConfigEntry,
    enphase: EnphaseSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Every counter back to the first day: a week hourly, then day totals; sum 0."""
    hass = phoenix
    freezer.move_to(NOON)
    enphase_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(enphase_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    backfill = enphase_entry.runtime_data.backfill
    assert backfill is not None
    sent = len(enphase.api_calls)
    # Watt: 10 requests a minute, half kept for live updates: the import waits.
    for _ in range(12):
        await tick(hass, freezer, timedelta(seconds=60))
    await async_wait_recording_done(hass)
    assert backfill.done
    tails = [p.split(f"/systems/{HOME}/")[-1] for p in enphase.api_calls[sent:]]
    history_calls = [
        t for t in tails if "telemetry/" in t or t.endswith(("_telemetry", "_lifetime"))
    ]
    # A week of quarter-hours, then every older day from the daily series:
    # one request per endpoint (Watt's live energy group runs every 12 hours).
    assert sorted(history_calls) == sorted(
        [
            "telemetry/production_meter",
            "telemetry/consumption_meter",
            "energy_import_telemetry",
            "energy_export_telemetry",
            "telemetry/battery",
            *{name for name, _ in SERIES.values()},
        ]
    )

    registry = er.async_get(hass)
    session = async_get_clientsession(hass)
    boundary = NOON
    yesterday = (dt_util.as_local(boundary) - timedelta(days=1)).date()
    old = date(2026, 1, 15)
    first = dt_util.start_of_local_day(date(2025, 11, 3))
    for key, (name, array) in SERIES.items():
        entity_id = registry.async_get_entity_id(
            "sensor", DOMAIN, f"enphase_{HOME}_{key}"
        )
        assert entity_id is not None, key
        rows = await hourly_sums(hass, entity_id, first - timedelta(days=30))
        assert rows, key
        assert rows[-1]["start"] < boundary.timestamp()
        assert rows[-1]["sum"] == pytest.approx(0.0)
        sums = [row["sum"] for row in rows]
        assert sums == sorted(sums), key  # never backwards
        # Back to the system's first day, not before.
        assert first.timestamp() <= rows[0]["start"] < first.timestamp() + 86400
        state = hass.states.get(entity_id)
        assert state is not None
        scale = EnergyConverter.convert(
            1.0, "Wh", state.attributes["unit_of_measurement"]
        )
        truth = await daily(session, enphase, name, array)
        # Yesterday hour by hour, an old day spread from its total: both exact.
        for day in (yesterday, old):
            start = dt_util.start_of_local_day(day)
            end = start + timedelta(days=1)
            before = [r["sum"] for r in rows if r["start"] < start.timestamp()][-1]
            last = [r["sum"] for r in rows if r["start"] < end.timestamp()][-1]
            assert last - before == pytest.approx(truth[day] * scale), (key, day)
