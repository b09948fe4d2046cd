"""The Tigo connectors (Premium v3 and the app API) against the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import aiohttp
from freezegun.api import FrozenDateTimeFactory
import pytest

from custom_components.sungaze.connectors.base import (
    AuthFailedError,
    ConnectionFailedError,
    RateLimitedError,
)
from custom_components.sungaze.connectors.tigo import TigoClient, TigoConnector
from custom_components.sungaze.connectors.tigo.common import (
    MinuteStore,
    parse_layout,
    parse_local,
    parse_login,
    site_zone,
    systems_of,
)
from custom_components.sungaze.connectors.tigo.mapi import (
    TigoAppConnector,
    equipment_order,
    parse_minutes,
)
from custom_components.sungaze.connectors.tigo.premium import (
    TigoPremiumConnector,
    parse_csv,
)
from custom_components.sungaze.model import DeviceKind

from .simulators.tigo import BASIC, OBJECT_IDS, PREMIUM, SYSTEM_ID, ZONE, TigoSimulator

# 12:00 in Phoenix (UTC-7 all year) on the June solstice.
NOON = datetime(2026, 6, 21, 19, 0, tzinfo=UTC)
SID = str(SYSTEM_ID)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The test's own HTTP session."""
    async with aiohttp.ClientSession() as http:
        yield http


def connect(
    sim: TigoSimulator,
    http: aiohttp.ClientSession,
    account: str = "premium",
    login: tuple[str, str] = PREMIUM,
) -> TigoClient:
    return TigoConnector.from_config(
        http,
        {
            "account": account,
            "username": login[0],
            "password": login[1],
            "url": sim.premium_url if account == "premium" else sim.mapi_url,
            "site_id": SID,
        },
    )


def newest_published(sim: TigoSimulator, at: datetime) -> datetime:
    minute = at.astimezone(ZONE).replace(tzinfo=None, second=0, microsecond=0)
    while sim.published(minute, at) is None or any(
        v is None for v in (sim.published(minute, at) or {}).values()
    ):
        minute -= timedelta(minutes=1)
    return minute


async def test_premium_identify_and_fetch(
    tigo: TigoSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """Per-panel values are the newest published minute, exactly; the tree is complete."""
    freezer.move_to(NOON)
    connector = connect(tigo, session)
    assert isinstance(connector, TigoPremiumConnector)
    account = await connector.async_identify()
    assert [s.id for s in account.sites] == [SID]
    assert account.sites[0].timezone == "America/Phoenix"
    snapshot = await connector.async_fetch()
    devices = snapshot.devices
    kinds = sorted(d.kind.value for d in devices.values())
    assert kinds.count("optimizer") == 24
    assert kinds.count("gateway") == 1
    assert kinds.count("inverter") == 1
    a1 = devices[f"{SID}_panel_{OBJECT_IDS['A1']}"]
    assert a1.name == "A1"
    assert a1.kind is DeviceKind.OPTIMIZER
    assert a1.parent == f"{SID}_string_11"
    assert devices[f"{SID}_string_11"].parent == f"{SID}_inverter_1"
    assert devices[f"{SID}_string_11"].name == "String A"
    newest = newest_published(tigo, NOON)
    # The newest row may still wait for its revision: take each panel's newest value.
    for label, oid in OBJECT_IDS.items():
        readings = snapshot.readings[f"{SID}_panel_{oid}"]
        assert readings.as_of is not None
        when = readings.as_of.astimezone(ZONE).replace(tzinfo=None)
        assert when >= newest
        assert readings.values["panel_power"] == tigo.panel_w(oid, when), label
        assert readings.values["input_voltage"] is not None
        assert readings.values["rssi"] is not None
        assert "temperature" not in readings.values  # Temp gives nothing here
    a4, a5, a6 = (
        snapshot.value(f"{SID}_panel_{OBJECT_IDS[x]}", "panel_power")
        for x in ("A4", "A5", "A6")
    )
    assert isinstance(a4, float)
    assert isinstance(a5, float)
    assert isinstance(a6, float)
    assert a5 == pytest.approx(0.4 * (a4 + a6) / 2, abs=0.1)
    site = snapshot.readings[SID]
    summary = tigo.summary()
    assert site.values["production_energy_lifetime"] == summary["lifetime_energy_dc"]
    assert site.values["production_energy_today"] == summary["daily_energy_dc"]
    assert site.values["production_power"] == summary["last_power_dc"]
    assert site.as_of == datetime.fromisoformat(summary["updated_on"])
    assert [a.code for a in snapshot.alerts] == ["112"]
    assert not any(a.repair for a in snapshot.alerts)
    assert snapshot.series[0].energy_role == "solar"
    # Complete hours of today, from dawn to the hour before the newest minutes.
    (series,) = snapshot.series
    starts = [p.start.astimezone(ZONE).hour for p in series.points]
    assert starts[0] == 4
    assert starts[-1] == 10
    for point in series.points:
        hour = point.start.astimezone(ZONE).replace(tzinfo=None)
        assert point.value == pytest.approx(tigo.hour_wh(hour), abs=0.01)
    layout = connector.layout()
    assert layout is not None
    assert layout["panels"][OBJECT_IDS["B3"]]["label"] == "B3"
    assert layout["panels"][OBJECT_IDS["B3"]]["x"] == 120
    strings = layout["inverters"][0]["mppts"][1]["strings"]
    assert strings[0]["label"] == "String B"
    assert connector.diagnostics()["account"] == "premium"


async def test_premium_polls_a_trailing_window(
    tigo: TigoSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """After the first day-long read, Pin is re-read over a trailing window only."""
    freezer.move_to(NOON)
    connector = connect(tigo, session)
    await connector.async_fetch()
    first = [
        q for _, p, q in tigo.calls if p.endswith("aggregate") and q["param"] == "Pin"
    ]
    assert first[0]["start"] == "2026-06-21T00:00:00"
    freezer.tick(timedelta(minutes=15))
    before = len(tigo.calls)
    snapshot = await connector.async_fetch()
    paths = [p.rsplit("/", 1)[-1] for _, p, _ in tigo.calls[before:]]
    # Layout and system are cached; login is not repeated.
    assert paths == [
        "system",
        "summary",
        "aggregate",
        "aggregate",
        "aggregate",
        "aggregate",
        "system",
    ]
    pin = next(q for _, p, q in tigo.calls[before:] if p.endswith("aggregate"))
    assert pin["start"] > "2026-06-21T08:00:00"
    assert snapshot.series[0].points[-1].start.astimezone(ZONE).hour == 11
    assert connector.cost.per_poll == 8


async def test_premium_relogin_on_401_and_before_expiry(
    tigo: TigoSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(NOON)
    connector = connect(tigo, session)
    await connector.async_fetch()
    logins = lambda: sum(1 for _, p, _ in tigo.calls if p.endswith("login"))  # noqa: E731
    assert logins() == 1
    tigo.expire_tokens()
    await connector.async_fetch()
    assert logins() == 2
    freezer.tick(timedelta(minutes=56))  # 4 min before expiry: log in first
    await connector.async_fetch()
    assert logins() == 3


async def test_premium_errors(
    tigo: TigoSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(NOON)
    with pytest.raises(AuthFailedError):
        await connect(tigo, session, login=(PREMIUM[0], "wrong")).async_identify()
    connector = connect(tigo, session)
    await connector.async_fetch()
    tigo.fail_next(503, path_contains="summary")
    with pytest.raises(ConnectionFailedError):
        await connector.async_fetch()
    tigo.fail_next(429, path_contains="summary")
    with pytest.raises(RateLimitedError) as err:
        await connector.async_fetch()
    assert err.value.retry_after == 30
    assert connector.limiter.blocked_until is not None


async def test_premium_rate_limit_reset_header(
    tigo: TigoSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """A 429 without Retry-After waits for X-Rate-Limit-Reset (else 15 s)."""
    from custom_components.sungaze.connectors.http import HttpResponse

    connector = connect(tigo, session)
    assert isinstance(connector, TigoPremiumConnector)
    reply = HttpResponse(
        status=429, text="", headers={"X-Rate-Limit-Reset": "42"}, url="x"
    )
    with pytest.raises(RateLimitedError) as err:
        connector._check(reply, "summary")
    assert err.value.retry_after == 42
    reply = HttpResponse(status=429, text="", headers={}, url="x")
    with pytest.raises(RateLimitedError) as err:
        connector._check(reply, "summary")
    assert err.value.retry_after == 15


async def test_free_account_on_premium_api(
    tigo: TigoSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """A Basic login works on v3 but lists nothing; data routes answer 402."""
    freezer.move_to(NOON)
    connector = connect(tigo, session, login=BASIC)
    account = await connector.async_identify()
    assert account.sites == ()
    snapshot = await connector.async_fetch()
    (alert,) = snapshot.alerts
    assert alert.repair
    assert alert.code == "402"
    assert alert.device_id == SID
    assert "Reconfigure" in alert.message
    assert "402" in snapshot.notes["summary"]
    assert snapshot.readings[SID].values == {}
    assert not snapshot.series
    # Gated routes are not asked again for hours.
    before = len(tigo.calls)
    await connector.async_fetch()
    assert [p.rsplit("/", 1)[-1] for _, p, _ in tigo.calls[before:]] == []


async def test_app_api_free_account(
    tigo: TigoSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """The app API: equipment order indexes the minutes; ETags save bodies."""
    freezer.move_to(NOON)
    connector = connect(tigo, session, account="app", login=BASIC)
    assert isinstance(connector, TigoAppConnector)
    account = await connector.async_identify()
    assert [s.id for s in account.sites] == [SID]
    snapshot = await connector.async_fetch()
    for oid in OBJECT_IDS.values():
        readings = snapshot.readings[f"{SID}_panel_{oid}"]
        assert readings.as_of is not None
        when = readings.as_of.astimezone(ZONE).replace(tzinfo=None)
        assert readings.values["panel_power"] == tigo.panel_w(oid, when)
        assert "input_voltage" not in readings.values
        assert isinstance(readings.values["panel_energy_today"], float)
    energy = tigo._mapi_energy({"date": "2026-06-21"})
    site = snapshot.readings[SID].values
    assert site["production_energy_today"] == energy["dailyStats"]["total_agg_energy"]
    assert "production_energy_lifetime" not in site
    panels = [
        snapshot.value(f"{SID}_panel_{oid}", "panel_power")
        for oid in OBJECT_IDS.values()
    ]
    assert site["production_power"] == pytest.approx(
        sum(p for p in panels if isinstance(p, float)), abs=0.2
    )
    assert snapshot.alerts == ()
    (series,) = snapshot.series
    for point in series.points:
        hour = point.start.astimezone(ZONE).replace(tzinfo=None)
        assert point.value == pytest.approx(tigo.hour_wh(hour), abs=0.01)
    # Nothing new a minute later: both data requests answer 304.
    freezer.tick(timedelta(seconds=30))
    before = len(tigo.calls)
    again = await connector.async_fetch()
    assert len(tigo.calls) - before == 2
    assert again.readings == snapshot.readings
    assert connector.cost.per_poll == 2


async def test_app_api_errors(
    tigo: TigoSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(NOON)
    with pytest.raises(AuthFailedError):
        await connect(tigo, session, "app", (BASIC[0], "nope")).async_identify()
    connector = connect(tigo, session, "app", BASIC)
    await connector.async_fetch()
    tigo.fail_next(503, path_contains="aggenergy")
    with pytest.raises(ConnectionFailedError):
        await connector.async_fetch()
    tigo.expire_tokens()
    await connector.async_fetch()  # one new login, then on
    tigo.fail_next(429, path_contains="summary/summary")
    with pytest.raises(RateLimitedError):
        await connector.async_fetch()


async def test_night_is_quiet(
    tigo: TigoSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """Nothing came: unknown, no error; otherwise the last real zeros at dusk."""
    freezer.move_to(datetime(2026, 6, 21, 10, 0, tzinfo=UTC))  # 03:00 local
    tigo.lag_extra = timedelta(days=2)  # the CCA has sent nothing for days
    snapshot = await connect(tigo, session).async_fetch()
    a1 = snapshot.readings[f"{SID}_panel_{OBJECT_IDS['A1']}"]
    assert a1.values["panel_power"] is None
    assert a1.as_of is None
    assert not snapshot.series
    tigo.lag_extra = timedelta(0)
    for kind, login in (("premium", PREMIUM), ("app", BASIC)):
        # Started at night: yesterday's dusk zeros, with their time.
        snapshot = await connect(tigo, session, kind, login).async_fetch()
        a1 = snapshot.readings[f"{SID}_panel_{OBJECT_IDS['A1']}"]
        assert a1.values["panel_power"] == 0.0, kind
        assert a1.as_of is not None
        assert a1.as_of > datetime(2026, 6, 20, 19, tzinfo=ZONE)
        assert snapshot.readings[SID].values["production_power"] == 0.0
    freezer.move_to(datetime(2026, 6, 22, 5, 0, tzinfo=UTC))  # 22:00 local
    late = await connect(tigo, session).async_fetch()
    a1 = late.readings[f"{SID}_panel_{OBJECT_IDS['A1']}"]
    assert a1.values["panel_power"] == 0.0
    assert a1.as_of is not None
    assert a1.as_of.astimezone(ZONE).hour == 19
    assert late.readings[SID].values["production_power"] == 0.0


def test_parsers() -> None:
    """Spellings and shapes the notes say to tolerate."""
    zone = site_zone("America/Phoenix")
    assert site_zone("Mars/Olympus") is UTC
    assert site_zone(None) is UTC
    assert parse_local("2026/03/01 12:05:00.250", zone) == datetime(
        2026, 3, 1, 12, 5, 0, 250000, tzinfo=zone
    )
    assert parse_local("12:07", zone, "2026-03-01") == datetime(
        2026, 3, 1, 12, 7, tzinfo=zone
    )
    assert parse_local("", zone) is None
    assert parse_local("nonsense", zone) is None
    assert parse_login({"data": {"token": "t"}}) == ("t", None)
    assert (
        parse_login({"auth": "x", "expires": "2026-01-01T00:00:00-07:00"}) is not None
    )
    assert parse_login([]) is None
    assert parse_login({"user": {}}) is None
    now = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    text = (
        "DATETIME,1,2\n2026/03/01 12:05:00,301.2,\nDatetime,1,2\n"
        "bad,1,2\n2026/03/01 12:06:00,300.8,298.0\n2026/03/01 13:30:00,1,1\n"
    )
    rows = parse_csv(text, zone, now)
    assert [r[1] for r in rows] == [{"1": 301.2, "2": None}, {"1": 300.8, "2": 298.0}]
    assert parse_csv("Datetime\n2026/03/01 12:05:00\n", zone, now) == [
        (datetime(2026, 3, 1, 12, 5, tzinfo=zone), {})
    ]
    assert (
        systems_of({"data": [{"id": 7, "name": "X"}, {"name": "no id"}]})[0].system_id
        == "7"
    )
    assert systems_of({"systems": "nope"}) == []
    layout = parse_layout(
        {
            "systems": [
                {
                    "inverters": [
                        {
                            "mppts": [
                                {
                                    "strings": [
                                        {
                                            "panels": [
                                                {"object_id": 5},
                                                {"label": "none"},
                                            ]
                                        }
                                    ]
                                }
                            ]
                        }
                    ]
                }
            ]
        }
    )
    assert list(layout.panels) == ["5"]
    assert layout.inverters == {"1": "Inverter 1"}
    assert parse_layout("junk").panels == {}
    assert equipment_order([{"id": 3}, {"objectId": 4}, "x"]) == ["3", "4"]
    minutes = parse_minutes(
        {
            "dataset": [
                {
                    "order": [9],
                    "data": [
                        {"t": "10:00", "d": ["-"]},
                        {"t": "x", "d": [1]},
                        {"d": 1},
                    ],
                }
            ]
        },
        [],
        zone,
        "2026-03-01",
    )
    assert minutes == [(datetime(2026, 3, 1, 10, 0, tzinfo=zone), {"9": None})]
    assert parse_minutes({"dataset": []}, [], zone, "2026-03-01") == []


def test_minute_store_keeps_values_over_empty_rereads() -> None:
    """A revision fills cells; an empty re-read never erases them."""
    store = MinuteStore()
    t = datetime(2026, 6, 21, 12, 0, tzinfo=UTC)
    store.merge([(t, {"a": 10.0, "b": None})])
    store.merge([(t, {"a": None, "b": 20.0})])
    assert store.rows[t] == {"a": 10.0, "b": 20.0}
    assert store.latest("a", t - timedelta(hours=1)) is None
    store.prune(t + timedelta(days=2))
    assert store.rows == {}


async def test_premium_history_of_a_past_day(
    tigo: TigoSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """One CSV per past day gives its hours for the first-setup backfill."""
    freezer.move_to(NOON)
    connector = connect(tigo, session)
    assert await connector.async_history(date(2026, 6, 20)) == ()  # not set up yet
    await connector.async_fetch()
    before = len(tigo.calls)
    (series,) = await connector.async_history(date(2026, 6, 20))
    assert len(tigo.calls) - before == connector.history_requests_per_day == 1
    assert series.key == "production_energy_lifetime"
    assert series.device_id == SID
    hours = [p.start.astimezone(ZONE).hour for p in series.points]
    assert hours == list(range(4, 20))
    for point in series.points:
        local = point.start.astimezone(ZONE).replace(tzinfo=None)
        assert point.value == pytest.approx(tigo.hour_wh(local), abs=0.01)
    app = connect(tigo, session, "app", BASIC)
    assert app.history_requests_per_day == 0


async def test_pv_off_is_a_cca_problem(
    tigo: TigoSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(NOON)
    tigo.control_state = "off"
    snapshot = await connect(tigo, session, "app", BASIC).async_fetch()
    (alert,) = snapshot.alerts
    assert alert.code == "pv_off"
    assert alert.device_id == f"{SID}_cca_301"


async def test_lapsed_premium_drops_the_panel_values(
    tigo: TigoSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """After a 402 the last values are not kept as if they were current."""
    freezer.move_to(NOON)
    connector = connect(tigo, session)
    await connector.async_fetch()
    tigo.set_premium(PREMIUM[0], False)
    freezer.tick(timedelta(minutes=15))
    snapshot = await connector.async_fetch()
    a1 = snapshot.readings[f"{SID}_panel_{OBJECT_IDS['A1']}"]
    assert a1.values["panel_power"] is None
    assert a1.as_of is None
    assert "input_voltage" not in a1.values
    assert any(alert.repair for alert in snapshot.alerts)


def test_each_kind_has_its_budget() -> None:
    """The shared limiter gets the kind's minute cap, not an unlimited default."""
    premium = TigoConnector.budget_for({"account": "premium"}, {})
    app = TigoConnector.budget_for({"account": "app"}, {})
    assert premium.per_minute == 50
    assert app.per_minute == 20
    key = TigoConnector.budget_key
    assert key({"account": "app", "username": "A@x"}) == key(
        {"account": "app", "username": "a@x ", "site_id": "2"}
    )


def test_hours_survive_the_end_of_summer_time() -> None:
    """Denver's repeated 01:00 on 1 November 2026 gives two hours, not one."""
    zone = site_zone("America/Denver")
    store = MinuteStore()
    first = datetime(2026, 11, 1, 7, 0, tzinfo=UTC)  # 01:00 MDT
    rows = [(first + timedelta(minutes=m), {"a": 60.0}) for m in range(120)]
    store.merge(rows)
    assert {m.astimezone(zone).hour for m, _ in rows} == {1}
    points = store.hourly_wh(first + timedelta(hours=3))
    assert [(p.start, p.value) for p in points] == [
        (first, 60.0),
        (first + timedelta(hours=1), 60.0),
    ]


async def test_revised_hours_are_sent_again(
    tigo: TigoSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """An hour first seen with empty cells is corrected when Tigo fills them."""
    freezer.move_to(datetime(2026, 6, 21, 15, 0, tzinfo=UTC))  # 08:00 local
    connector = connect(tigo, session)
    seen: dict[datetime, list[float]] = {}
    for _ in range(48):  # four hours of five-minute looks
        snapshot = await connector.async_fetch()
        for point in snapshot.series[0].points if snapshot.series else ():
            values = seen.setdefault(point.start, [])
            if not values or values[-1] != point.value:
                values.append(point.value)
        freezer.tick(timedelta(minutes=5))
    revised = [start for start, values in seen.items() if len(values) > 1]
    assert revised  # some hour was first imported short, then again
    for start in revised:
        local = start.astimezone(ZONE).replace(tzinfo=None)
        assert seen[start][0] < seen[start][-1]
        assert seen[start][-1] == pytest.approx(tigo.hour_wh(local), abs=0.01)
