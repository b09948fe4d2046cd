"""The SRP client against the simulator: login, hours, TOU, late hours, faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta

import aiohttp
from freezegun.api import FrozenDateTimeFactory
import pytest

from custom_components.sungaze.connectors.base import (
    AuthFailedError,
    BadPayloadError,
    BlockedError,
    ConnectionFailedError,
    RequestLimiter,
)
from custom_components.sungaze.connectors.http import HttpResponse
from custom_components.sungaze.connectors.srp import (
    SITE_ZONE,
    SrpConnector,
    _accounts,
    blocked_page,
    parse_hour,
    parse_rows,
)
from custom_components.sungaze.model import Snapshot, StatSeries

from .simulators.srp import PASSWORD, USERNAME, SRPSimulator

FLAT = "123456789"
SOLAR = "987654321"
MORNING = datetime(2026, 6, 21, 7, 0, tzinfo=SITE_ZONE)
"""07:00 in Phoenix: yesterday (20 June) is complete."""


@pytest.fixture
async def srp(socket_enabled: None) -> AsyncIterator[SRPSimulator]:
    """An SRP simulator on a free loopback port."""
    simulator = SRPSimulator()
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A session with a jar of its own, as the coordinator builds for SRP."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        yield s


def client(
    srp: SRPSimulator,
    session: aiohttp.ClientSession,
    account: str | None = FLAT,
    password: str = PASSWORD,
) -> SrpConnector:
    return SrpConnector.from_config(
        session,
        {
            "username": USERNAME,
            "password": password,
            "billing_account": account,
            "url": srp.base_url,
        },
        RequestLimiter(SrpConnector.budget),
    )


def series(snapshot: Snapshot, key: str) -> StatSeries:
    return next(one for one in snapshot.series if one.key == key)


def hours(first: date, last: date) -> list[datetime]:
    out = []
    day = first
    while day <= last:
        out.extend(datetime.combine(day, time(h), SITE_ZONE) for h in range(24))
        day += timedelta(days=1)
    return out


async def test_identify_lists_billing_accounts(
    srp: SRPSimulator, session: aiohttp.ClientSession
) -> None:
    """Login, antiforgery token, account list: 3 requests, nicknames as names."""
    connector = client(srp, session, account=None)
    account = await connector.async_identify()
    assert account.unique_id == USERNAME
    assert [(s.id, s.name) for s in account.sites] == [
        (FLAT, "Home"),
        (SOLAR, "Casita"),
    ]
    assert sum(srp.requests.values()) == 3
    assert connector.limiter.total == 3


async def test_backfill_exact_hours(
    srp: SRPSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """The first fetch imports 30 days hourly, exact, through yesterday 23:00."""
    freezer.move_to(MORNING)
    connector = client(srp, session)
    snapshot = await connector.async_fetch()
    assert srp.requests == {
        "login/authorize": 1,
        "login/antiforgerytoken": 1,
        "usage/hourlydetail": 1,
    }
    usage = series(snapshot, "grid_consumption")
    cost = series(snapshot, "grid_cost")
    expected = hours(date(2026, 5, 22), date(2026, 6, 20))
    assert [p.start for p in usage.points] == expected
    assert len(expected) == 720
    for point, money in zip(usage.points, cost.points, strict=True):
        assert (point.value, money.value) == srp.expected(FLAT, point.start)
    assert usage.unit == "kWh"
    assert cost.unit == "USD"
    assert {one.key for one in snapshot.series} == {"grid_consumption", "grid_cost"}
    readings = snapshot.readings[FLAT]
    assert readings.as_of == datetime(2026, 6, 21, 0, 0, tzinfo=SITE_ZONE)
    yesterday = [h for h in expected if h.date() == date(2026, 6, 20)]
    month = [h for h in expected if h.month == 6]
    assert readings.values["grid_usage_yesterday"] == round(
        sum(srp.expected(FLAT, h)[0] for h in yesterday), 2
    )
    assert readings.values["grid_cost_yesterday"] == round(
        sum(srp.expected(FLAT, h)[1] for h in yesterday), 2
    )
    assert readings.values["grid_usage_month"] == round(
        sum(srp.expected(FLAT, h)[0] for h in month), 2
    )
    assert readings.values["grid_cost_month"] == round(
        sum(srp.expected(FLAT, h)[1] for h in month), 2
    )
    assert "grid_export_month" not in readings.values
    assert connector.cost.settled
    diagnostics = connector.diagnostics()
    assert diagnostics["plan"] == "flat (totals)"
    assert diagnostics["last_window"] == ("2026-05-22", "2026-06-21")
    assert FLAT not in str(diagnostics)


async def test_tou_buckets_summed(
    srp: SRPSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """On a TOU plan totals are 0: the four buckets give the hour's kWh and cost."""
    freezer.move_to(MORNING)
    connector = client(srp, session, account=SOLAR)
    snapshot = await connector.async_fetch()
    usage = series(snapshot, "grid_consumption")
    cost = series(snapshot, "grid_cost")
    buckets = set()
    for point, money in zip(usage.points, cost.points, strict=True):
        assert (point.value, money.value) == srp.expected(SOLAR, point.start)
        buckets.add(srp.bucket(point.start))
    assert buckets == {"onPeak", "offPeak", "shoulder", "superOffPeak"}
    assert sum(p.value for p in cost.points) > 0
    assert connector.tou
    assert connector.diagnostics()["plan"] == "time-of-use (bucketed)"
    # Per-bucket statistics: SRP's bucket figures, 0 in the hours of other buckets.
    slugs = {
        "onPeak": ("on_peak", "on-peak"),
        "offPeak": ("off_peak", "off-peak"),
        "shoulder": ("shoulder", "shoulder"),
        "superOffPeak": ("super_off_peak", "super off-peak"),
    }
    for bucket, (slug, label) in slugs.items():
        kwh = series(snapshot, f"grid_consumption_{slug}")
        usd = series(snapshot, f"grid_cost_{slug}")
        assert kwh.name == f"grid consumption {label}"
        assert kwh.energy_role is None
        for point, money in zip(kwh.points, usd.points, strict=True):
            mine = srp.bucket(point.start) == bucket
            want = srp.expected(SOLAR, point.start) if mine else (0.0, 0.0)
            assert (point.value, money.value) == want
    total = sum(
        p.value
        for slug, _ in slugs.values()
        for p in series(snapshot, f"grid_cost_{slug}").points
    )
    assert total == pytest.approx(sum(p.value for p in cost.points))


async def test_net_metering_export_and_generation(
    srp: SRPSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """A solar account: export (received) and generation series, export sensors."""
    freezer.move_to(MORNING)
    snapshot = await client(srp, session, account=SOLAR).async_fetch()
    account = srp.account(SOLAR)
    export = series(snapshot, "grid_export")
    generation = series(snapshot, "solar_production")
    consumption = series(snapshot, "grid_consumption")
    for point in export.points:
        assert point.value == srp.flows(account, point.start)["received"]
    for point in generation.points:
        assert point.value == srp.flows(account, point.start)["generation"]
    for point in consumption.points:
        assert point.value == srp.flows(account, point.start)["delivered"]
    assert sum(p.value for p in export.points) > 0
    values = snapshot.readings[SOLAR].values
    yesterday = [p for p in export.points if p.start.date() == date(2026, 6, 20)]
    assert values["grid_export_yesterday"] == round(sum(p.value for p in yesterday), 2)
    assert values["grid_export_month"] > values["grid_export_yesterday"]


async def test_before_six_yesterday_is_not_in(
    srp: SRPSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """At 05:00 yesterday's hours are zero rows: left out, not stored as zeros."""
    freezer.move_to(datetime(2026, 6, 21, 5, 0, tzinfo=SITE_ZONE))
    connector = client(srp, session)
    snapshot = await connector.async_fetch()
    usage = series(snapshot, "grid_consumption")
    assert usage.points[-1].start == datetime(2026, 6, 19, 23, tzinfo=SITE_ZONE)
    assert all(p.start.date() != date(2026, 6, 20) for p in usage.points)
    assert snapshot.readings[FLAT].values["grid_usage_yesterday"] is None
    assert not connector.cost.settled


async def test_late_hour_arrives_next_day(
    srp: SRPSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """A missing last hour appears the next day, with a short refetch window."""
    late = datetime(2026, 6, 20, 23, tzinfo=SITE_ZONE)
    srp.late[late] = datetime(2026, 6, 22, 0, tzinfo=SITE_ZONE)
    freezer.move_to(MORNING)
    connector = client(srp, session)
    first = series(await connector.async_fetch(), "grid_consumption")
    assert first.points[-1].start == late - timedelta(hours=1)
    assert not connector.cost.settled  # yesterday incomplete: try again later
    freezer.move_to(MORNING + timedelta(days=1))
    second = series(await connector.async_fetch(), "grid_consumption")
    by_start = {p.start: p.value for p in second.points}
    assert by_start[late] == srp.expected(FLAT, late)[0]
    assert second.points[-1].start == datetime(2026, 6, 21, 23, tzinfo=SITE_ZONE)
    # The refetch window starts two days before the last complete hour's day.
    assert connector.diagnostics()["last_window"] == ("2026-06-18", "2026-06-22")
    # Hours kept from the backfill stay in the series (month-to-date needs them).
    assert second.points[0].start == first.points[0].start


async def test_expired_session_one_login_one_retry(
    srp: SRPSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """SRP ended the session: a 401, one login (2 requests) and one retry."""
    freezer.move_to(MORNING)
    connector = client(srp, session)
    await connector.async_fetch()
    srp.expire_sessions()
    srp.requests.clear()
    freezer.tick(timedelta(minutes=5))
    await connector.async_fetch()
    assert srp.requests == {
        "usage/hourlydetail": 2,
        "login/authorize": 1,
        "login/antiforgerytoken": 1,
    }
    assert (connector.logins, connector.relogins) == (2, 1)


async def test_expired_session_as_login_page(
    srp: SRPSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """An HTML login page instead of JSON is a lost session too."""
    srp.expiry = "html"
    freezer.move_to(MORNING)
    connector = client(srp, session)
    await connector.async_fetch()
    srp.expire_sessions()
    srp.requests.clear()
    snapshot = await connector.async_fetch()
    assert series(snapshot, "grid_consumption").points
    assert srp.requests["usage/hourlydetail"] == 2
    assert srp.requests["login/authorize"] == 1


async def test_refused_after_fresh_login(
    srp: SRPSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """A data call refused right after a fresh login is not a password problem."""
    srp.session_lifetime = timedelta(seconds=-1)  # every session dies at once
    freezer.move_to(MORNING)
    connector = client(srp, session)
    with pytest.raises(ConnectionFailedError):
        await connector.async_fetch()
    assert srp.requests["login/authorize"] == 1  # the token call already failed


async def test_idle_session_logs_in_first(
    srp: SRPSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """Hours later the session is not trusted: a fresh login, no wasted 401."""
    freezer.move_to(MORNING)
    connector = client(srp, session)
    await connector.async_fetch()
    srp.requests.clear()
    freezer.tick(timedelta(hours=3))
    await connector.async_fetch()
    assert srp.requests == {
        "login/authorize": 1,
        "login/antiforgerytoken": 1,
        "usage/hourlydetail": 1,
    }


async def test_token_in_body_fallback(
    srp: SRPSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """Older servers put the token in the body (`xsrfToken`): still works."""
    srp.token_in_body = True
    freezer.move_to(MORNING)
    snapshot = await client(srp, session).async_fetch()
    assert series(snapshot, "grid_consumption").points


@pytest.mark.parametrize("mode", ["401", "message"])
async def test_wrong_password(
    srp: SRPSimulator, session: aiohttp.ClientSession, mode: str
) -> None:
    """A 401 or a 200 with another message: refused credentials, one attempt."""
    srp.bad_login = mode
    with pytest.raises(AuthFailedError):
        await client(srp, session, password="wrong").async_identify()
    assert srp.requests == {"login/authorize": 1}


async def test_cloudflare_block_backs_off(
    srp: SRPSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """A 403 Access Denied page is BlockedError; nothing is sent for hours after."""
    freezer.move_to(MORNING)
    srp.blocked = True
    connector = client(srp, session)
    with pytest.raises(BlockedError) as err:
        await connector.async_fetch()
    assert err.value.retry_after == 4 * 3600
    srp.blocked = False
    sent = sum(srp.requests.values())
    with pytest.raises(BlockedError):
        await connector.async_fetch()
    assert sum(srp.requests.values()) == sent
    freezer.tick(timedelta(hours=4, seconds=1))
    assert (await connector.async_fetch()).series


async def test_server_error_and_timeout(
    srp: SRPSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """A 5xx is a connection failure, not an auth failure."""
    freezer.move_to(MORNING)
    srp.fail_status = 503
    connector = client(srp, session)
    with pytest.raises(ConnectionFailedError) as err:
        await connector.async_fetch()
    assert not isinstance(err.value, BlockedError)
    assert not connector.cost.settled


async def test_timeout(srp: SRPSimulator, session: aiohttp.ClientSession) -> None:
    """A stalled answer is a connection failure (real clock: no freezer here)."""
    srp.stall = 1.0
    connector = client(srp, session)
    connector.request_timeout = 0.2
    with pytest.raises(ConnectionFailedError):
        await connector.async_identify()


async def test_no_account_listing(
    srp: SRPSimulator, session: aiohttp.ClientSession
) -> None:
    """When SRP will not list the accounts, identify still succeeds (type it)."""
    srp.list_accounts = False
    account = await client(srp, session, account=None).async_identify()
    assert account.sites == ()


def test_parse_rows_leniently() -> None:
    """Bad rows skipped, a genuine zero hour kept, the zero tail dropped."""
    rows = [
        {"hour": "2026-06-20T01:00:00", "totalKwh": 0, "totalCost": 0},
        {"hour": "2026-06-20T00:00:00", "totalKwh": "1.2", "totalCost": 0.14},
        {"hour": "not a time", "totalKwh": 1},
        "junk",
        {"date": "2026-06-20T02:00:00-07:00", "offPeakKwh": 0.4, "offPeakCost": 0.03},
        {"hour": "2026-06-20T03:00:00", "totalKwh": 0, "totalCost": 0},
        {"hour": "2026-06-20T04:00:00", "totalKwh": None, "totalCost": None},
    ]
    parsed = parse_rows(rows)
    assert [(h.start.hour, h.kwh, h.cost, h.tou) for h in parsed] == [
        (0, 1.2, 0.14, False),
        (1, 0.0, 0.0, False),
        (2, 0.4, 0.03, True),
    ]
    assert parse_rows(None) == []
    assert parse_hour(17) is None
    aware = parse_hour("2026-06-20T09:00:00+00:00")
    assert aware == datetime(2026, 6, 20, 9, tzinfo=UTC)
    assert aware is not None
    assert aware.utcoffset() == timedelta(hours=-7)


async def test_no_token_at_all(
    srp: SRPSimulator, session: aiohttp.ClientSession
) -> None:
    """No xsrf cookie and no body field: an unreadable answer, not a password error."""
    srp.no_token = True
    with pytest.raises(BadPayloadError):
        await client(srp, session).async_identify()


async def test_old_hours_are_forgotten(
    srp: SRPSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """Kept hours stop at 40 days; the month so far is always among them."""
    freezer.move_to(MORNING)
    connector = client(srp, session)
    await connector.async_fetch()
    freezer.move_to(MORNING + timedelta(days=15))
    snapshot = await connector.async_fetch()
    usage = series(snapshot, "grid_consumption")
    assert usage.points[0].start == datetime(2026, 5, 27, tzinfo=SITE_ZONE)
    assert usage.points[-1].start == datetime(2026, 7, 5, 23, tzinfo=SITE_ZONE)
    july = [p for p in usage.points if p.start.month == 7]
    assert snapshot.readings[FLAT].values["grid_usage_month"] == round(
        sum(p.value for p in july), 2
    )


def test_account_list_leniently() -> None:
    """Numbers as text or int (zero-padded), junk skipped, blank nicknames ignored."""
    body = {
        "billAccountList": [
            {"accountWithLeadingZeros": "012345678", "nickName": " Cabin "},
            {"account": 12345678, "nickName": "dup"},
            {"account": 42},
            {"accountWithLeadingZeros": "12-34"},
            "junk",
            {"account": True},
            {"accountWithLeadingZeros": "999999999", "nickName": "  "},
        ]
    }
    assert list(_accounts(body)) == [
        ("012345678", "dup"),
        ("000000042", None),
        ("999999999", None),
    ]
    assert list(_accounts({"billAccountList": "nope"})) == []
    assert list(_accounts(None)) == []


def test_blocked_page() -> None:
    """Only a 403 HTML page (Access Denied / Ray ID) is a block, not any 403."""

    def answer(status: int, text: str) -> HttpResponse:
        return HttpResponse(
            status=status, text=text, headers={"CF-RAY": "1-PHX"}, url="x"
        )

    assert blocked_page(answer(403, "<html><title>Access Denied</title></html>"))
    assert blocked_page(answer(403, "error code: 1020 Ray ID: 8f2c"))
    assert blocked_page(answer(403, "<!DOCTYPE html><title>Just a moment...</title>"))
    assert not blocked_page(answer(403, '{"message": "Forbidden"}'))
    assert not blocked_page(answer(200, "<html>Access Denied</html>"))
