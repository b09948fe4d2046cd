"""EG4 under portal faults: what one failed update costs, and recovery (issue 9)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
from freezegun.api import FrozenDateTimeFactory
import pytest

from custom_components.sungaze.connectors.base import (
    ApiRetiredError,
    AuthFailedError,
    BadPayloadError,
    ConnectionFailedError,
    RateLimitedError,
    SungazeError,
)
from custom_components.sungaze.connectors.eg4 import EG4Connector
from custom_components.sungaze.connectors.http import DEFAULT_RETRY_AFTER

from .conftest import EG4_PASSWORD, EG4_USERNAME
from .simulators.eg4 import EG4Simulator

NOON = datetime(2026, 6, 21, 19, 0, tzinfo=UTC)
FOREVER = 1_000


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The test's own HTTP session, with its own (IP-friendly) cookie jar."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield http


@pytest.fixture
async def running(
    eg4: EG4Simulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> EG4Connector:
    """A connector after one good update (logged in, parallel groups known)."""
    freezer.move_to(NOON)
    connector = EG4Connector.from_config(
        session,
        {"username": EG4_USERNAME, "password": EG4_PASSWORD, "url": eg4.base_url},
    )
    await connector.async_fetch()
    freezer.tick(timedelta(seconds=60))
    return connector


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        (500, ConnectionFailedError),
        (502, ConnectionFailedError),
        (503, ConnectionFailedError),
        (400, BadPayloadError),
        (404, BadPayloadError),
        (403, ConnectionFailedError),
        (410, ApiRetiredError),
        (429, RateLimitedError),
        ("html", ConnectionFailedError),
        ("bad_json", BadPayloadError),
        ("drop", ConnectionFailedError),
        ("dataframe_timeout", ConnectionFailedError),
    ],
)
async def test_a_failing_portal_costs_one_request(
    eg4: EG4Simulator,
    running: EG4Connector,
    freezer: FrozenDateTimeFactory,
    kind: str | int,
    error: type[SungazeError],
) -> None:
    """Every request fails: the update ends after the one that failed, no login."""
    eg4.fail_next(kind, count=FOREVER)
    before = len(eg4.calls)
    with pytest.raises(error) as caught:
        await running.async_fetch()
    assert len(eg4.calls) - before == 1
    assert eg4.logins == 1
    assert not isinstance(caught.value, AuthFailedError)
    # Recovery: the portal is back, the next update is whole.
    eg4.heal()
    freezer.tick(timedelta(seconds=DEFAULT_RETRY_AFTER + 1))
    snapshot = await running.async_fetch()
    assert "production_power" in snapshot.readings["4512670001"].values


async def test_expired_session_with_portal_down_costs_one_login(
    eg4: EG4Simulator, running: EG4Connector
) -> None:
    """The session expired and the portal is in maintenance: data call + one login."""
    eg4.expire_sessions()
    eg4.fail_next("html", count=FOREVER, path_contains="login")
    before = len(eg4.calls)
    with pytest.raises(ConnectionFailedError, match="web page"):
        await running.async_fetch()
    assert [path.rsplit("/", 1)[-1] for path, _ in eg4.calls[before:]] == [
        "getInverterRuntime",
        "login",
    ]


async def test_login_page_that_persists_costs_one_relogin(
    eg4: EG4Simulator, running: EG4Connector
) -> None:
    """The login page after a good login (cookie lost): request, login, one retry."""
    eg4.fail_next("login_page", count=FOREVER, path_contains="Inverter")
    before = len(eg4.calls)
    with pytest.raises(ConnectionFailedError, match="login page"):
        await running.async_fetch()
    assert [path.rsplit("/", 1)[-1] for path, _ in eg4.calls[before:]] == [
        "getInverterRuntime",
        "login",
        "getInverterRuntime",
    ]
    assert eg4.logins == 2


async def test_failure_after_the_first_call_stops_the_rest(
    eg4: EG4Simulator, running: EG4Connector
) -> None:
    """Energy calls fail: runtime went first, the failing call ends the sending."""
    eg4.fail_next(502, count=FOREVER, path_contains="getInverterEnergyInfo")
    before, spent = len(eg4.calls), running.limiter.total
    with pytest.raises(ConnectionFailedError):
        await running.async_fetch()
    sent = len(eg4.calls) - before
    # Requests stopped in the limiter's slot were neither sent nor counted.
    assert running.limiter.total - spent == sent
    # The probe, then at most the requests already in flight (3 at a time).
    assert 2 <= sent <= 4
    assert sent < running.cost.per_poll


@pytest.mark.parametrize(
    ("header", "wait"), [(None, DEFAULT_RETRY_AFTER), ("120", 120.0)]
)
async def test_429_honours_retry_after(
    eg4: EG4Simulator,
    running: EG4Connector,
    freezer: FrozenDateTimeFactory,
    header: str | None,
    wait: float,
) -> None:
    """A 429 blocks the account's limiter for the Retry-After (or a default)."""
    eg4.fail_next(429, retry_after=header)
    with pytest.raises(RateLimitedError) as caught:
        await running.async_fetch()
    assert caught.value.retry_after == pytest.approx(wait)
    assert caught.value.period == "minute"
    before = len(eg4.calls)
    freezer.tick(timedelta(seconds=wait - 5))
    with pytest.raises(RateLimitedError):
        await running.async_fetch()
    assert len(eg4.calls) == before  # nothing sent while blocked
    freezer.tick(timedelta(seconds=10))
    await running.async_fetch()
    assert len(eg4.calls) > before


async def test_http_date_retry_after(eg4: EG4Simulator, running: EG4Connector) -> None:
    """Retry-After as an HTTP date is honoured too."""
    eg4.fail_next(429, retry_after="Sun, 21 Jun 2026 19:06:00 GMT")
    with pytest.raises(RateLimitedError) as caught:
        await running.async_fetch()
    assert caught.value.retry_after == pytest.approx(300.0)


@pytest.mark.parametrize("kind", [403, 429, 502, "html"])
async def test_login_faults_are_not_wrong_credentials(
    eg4: EG4Simulator, session: aiohttp.ClientSession, kind: str | int
) -> None:
    """A login refused by a firewall, a limit or maintenance never starts reauth."""
    eg4.fail_next(kind, path_contains="login")
    connector = EG4Connector.from_config(
        session,
        {"username": EG4_USERNAME, "password": EG4_PASSWORD, "url": eg4.base_url},
    )
    with pytest.raises(SungazeError) as caught:
        await connector.async_identify()
    assert not isinstance(caught.value, AuthFailedError)
    assert len(eg4.calls) == 1
