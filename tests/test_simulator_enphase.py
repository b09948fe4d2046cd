"""The Enphase simulator speaks Enphase's wire format (OAuth and API v4)."""

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import ClientSession
from freezegun.api import FrozenDateTimeFactory
import pytest

from .conftest import NOON
from .simulators.enphase import EnphaseSimulator, SimApp, SimSystem, cabin_system

REDIRECT = "https://example.com/auth/external/callback"


@pytest.fixture
async def session(socket_enabled: None) -> AsyncIterator[ClientSession]:
    """A plain aiohttp session."""
    async with ClientSession() as client:
        yield client


def _basic(app: SimApp, secret: str | None = None) -> dict[str, str]:
    raw = f"{app.client_id}:{secret or app.client_secret}".encode()
    return {"Authorization": f"Basic {base64.b64encode(raw).decode()}"}


async def _authorize(
    session: ClientSession, sim: EnphaseSimulator, **params: str
) -> dict[str, list[str]]:
    query = {
        "response_type": "code",
        "client_id": sim.app0.client_id,
        "redirect_uri": REDIRECT,
        "state": "opaque",
        **params,
    }
    response = await session.get(
        f"{sim.origin}/oauth/authorize", params=query, allow_redirects=False
    )
    assert response.status == 302
    location = response.headers["Location"]
    assert location.startswith(REDIRECT)
    return parse_qs(urlsplit(location).query)


async def _token(
    session: ClientSession,
    sim: EnphaseSimulator,
    data: dict[str, str],
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    response = await session.post(
        f"{sim.origin}/oauth/token",
        data=data,
        headers=_basic(sim.app0) if headers is None else headers,
    )
    return response.status, await response.json()


async def _api(
    session: ClientSession,
    sim: EnphaseSimulator,
    path: str,
    token: str,
    key: str | None = None,
    **params: str,
) -> tuple[int, Any]:
    response = await session.get(
        f"{sim.base_url}{path}",
        params={"key": key or sim.app0.api_key, **params},
        headers={"Authorization": f"Bearer {token}"},
    )
    return response.status, await response.json()


async def test_authorize_and_exchange(
    session: ClientSession, enphase: EnphaseSimulator
) -> None:
    """Consent redirects with code and state; the code is good once."""
    query = await _authorize(session, enphase)
    assert query["state"] == ["opaque"]
    code = query["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    status, body = await _token(session, enphase, form)
    assert status == 200
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86393
    assert body["enl_uid"] == enphase.owner
    assert body["access_token"].count(".") == 2  # JWT-shaped
    status, body = await _token(session, enphase, form)
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_authorize_refusals(
    session: ClientSession, enphase: EnphaseSimulator
) -> None:
    """A denial comes back as access_denied; a missing redirect URI is an error page."""
    enphase.deny_next()
    query = await _authorize(session, enphase)
    assert query["error"] == ["access_denied"]
    assert query["state"] == ["opaque"]
    assert "code" not in query
    response = await session.get(
        f"{enphase.origin}/oauth/authorize",
        params={"client_id": enphase.app0.client_id},
        allow_redirects=False,
    )
    assert response.status == 400
    assert "A redirect_uri must be supplied." in await response.text()


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({}, 401, "unauthorized"),
        ({"Authorization": "Basic !!!"}, 401, "unauthorized"),
        (None, 400, "invalid_grant"),
    ],
)
async def test_token_endpoint_client_auth(
    session: ClientSession,
    enphase: EnphaseSimulator,
    headers: dict[str, str] | None,
    status: int,
    error: str,
) -> None:
    """Basic client auth is required; a bad code is invalid_grant."""
    got, body = await _token(
        session,
        enphase,
        {"grant_type": "authorization_code", "code": "nope", "redirect_uri": REDIRECT},
        headers,
    )
    assert (got, body["error"]) == (status, error)


async def test_token_endpoint_wrong_secret_and_body_client(
    session: ClientSession, enphase: EnphaseSimulator
) -> None:
    """A wrong secret is refused with a Basic challenge; body credentials do not help."""
    response = await session.post(
        f"{enphase.origin}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        headers=_basic(enphase.app0, "wrong"),
    )
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith(
        'Basic realm="oauth2/client"'
    )
    assert (await response.json())["error_description"] == "Bad credentials"
    status, _ = await _token(
        session,
        enphase,
        {
            "grant_type": "refresh_token",
            "refresh_token": "x",
            "client_id": enphase.app0.client_id,
            "client_secret": enphase.app0.client_secret,
        },
        {},
    )
    assert status == 401


async def test_parameters_in_query_not_json(
    session: ClientSession, enphase: EnphaseSimulator
) -> None:
    """The documented query-string form works; a JSON body is not read."""
    code = (await _authorize(session, enphase))["code"][0]
    response = await session.post(
        f"{enphase.origin}/oauth/token",
        json={"grant_type": "authorization_code", "code": code},
        headers=_basic(enphase.app0),
    )
    assert response.status == 400
    assert (await response.json())["error_description"] == "Missing grant type"
    response = await session.post(
        f"{enphase.origin}/oauth/token",
        params={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "https://elsewhere.example/cb",
        },
        headers=_basic(enphase.app0),
    )
    assert (await response.json())["error_description"] == "Redirect URI mismatch."


async def test_refresh_rotates_and_kills_the_old_pair(
    session: ClientSession, enphase: EnphaseSimulator
) -> None:
    """Each refresh issues a new pair; the old refresh and access tokens die."""
    first = enphase.mint()
    status, second = await _token(
        session,
        enphase,
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
    )
    assert status == 200
    assert second["refresh_token"] != first["refresh_token"]
    assert enphase.valid_refresh_tokens() == {second["refresh_token"]}
    status, body = await _token(
        session,
        enphase,
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    assert (await _api(session, enphase, "/systems", first["access_token"]))[0] == 401
    assert (await _api(session, enphase, "/systems", second["access_token"]))[0] == 200


async def test_expired_refresh_token(
    session: ClientSession, enphase: EnphaseSimulator
) -> None:
    """A refresh token past its 30 days answers 401 invalid_token."""
    token = enphase.mint()
    enphase.expire_refresh_tokens()
    status, body = await _token(
        session,
        enphase,
        {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
    )
    assert (status, body["error"]) == (401, "invalid_token")


async def test_both_credentials_are_required(
    session: ClientSession, socket_enabled: None
) -> None:
    """No key, a wrong token, or a key of another application: all 401."""
    other = SimApp(client_id="other-client", client_secret="s2", api_key="other-key")
    sim = EnphaseSimulator(apps=[SimApp(), other])
    await sim.start()
    try:
        token = sim.mint()["access_token"]
        assert (await _api(session, sim, "/systems", "bogus"))[0] == 401
        status, body = await _api(session, sim, "/systems", token, key="other-key")
        assert status == 401
        assert body["details"] == "API Key -Client mismatch"
        response = await session.get(
            f"{sim.base_url}/systems", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status == 401
        assert sim.month_used() == 0
    finally:
        await sim.stop()


async def test_minute_and_month_limits(
    session: ClientSession, enphase: EnphaseSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """The eleventh call in a minute and the 1,001st in a month get the 429 body."""
    freezer.move_to(datetime(2026, 6, 21, 19, 0, 5, tzinfo=UTC))
    token = enphase.mint()["access_token"]
    for _ in range(10):
        assert (await _api(session, enphase, "/systems", token))[0] == 200
    status, body = await _api(session, enphase, "/systems", token)
    assert status == 429
    assert body["details"] == "Usage limit exceeded for plan Watt"
    assert (body["period"], body["limit"]) == ("minute", 10)
    assert body["period_end"] - body["period_start"] == 60
    assert body["period_end"] == int(NOON.timestamp()) + 60
    freezer.tick(timedelta(minutes=1))
    enphase._month[enphase.app0.client_id] = ("2026-06", 1000)
    status, body = await _api(session, enphase, "/systems", token)
    assert (status, body["period"], body["limit"]) == (429, "month", 1000)
    assert body["period_end"] == int(datetime(2026, 7, 1, tzinfo=UTC).timestamp())
    freezer.move_to(datetime(2026, 7, 1, 0, 0, 1, tzinfo=UTC))
    token = enphase.mint()["access_token"]  # the old one expired meanwhile
    assert (await _api(session, enphase, "/systems", token))[0] == 200


async def test_plan_gating(session: ClientSession, enphase: EnphaseSimulator) -> None:
    """Device-level data answers 401 on Watt and works on Kilowatt."""
    token = enphase.mint()["access_token"]
    path = "/systems/4123987/devices/micros/telemetry"
    status, body = await _api(session, enphase, path, token)
    assert (status, body["message"]) == (401, "Not Authorized")
    enphase.app0.plan = "kilowatt"
    status, body = await _api(session, enphase, path, token, size="20")
    assert status == 200
    assert body["total_devices"] == 16


async def test_systems_and_report_lag(
    session: ClientSession, enphase: EnphaseSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Energy fields are -1; uploads every 15 minutes; intervals end on the quarter."""
    freezer.move_to(NOON)
    token = enphase.mint()["access_token"]
    _, body = await _api(session, enphase, "/systems", token)
    system = body["systems"][0]
    assert (system["energy_lifetime"], system["energy_today"]) == (-1, -1)
    assert system["system_size"] == -1
    # Uploads at 02:20 past each quarter: at 19:00:00 the last one was 18:47:20.
    assert system["last_report_at"] == int((NOON - timedelta(seconds=760)).timestamp())
    _, battery = await _api(
        session,
        enphase,
        "/systems/4123987/telemetry/battery",
        token,
        start_at=str(int((NOON - timedelta(hours=1)).timestamp())),
    )
    ends = [i["end_at"] for i in battery["intervals"]]
    assert ends
    assert all(end % 900 == 0 for end in ends)
    assert max(ends) == int((NOON - timedelta(minutes=15)).timestamp())
    assert battery["last_reported_aggregate_soc"].endswith("%")


async def test_cellular_uploads_every_six_hours(
    session: ClientSession, socket_enabled: None, freezer: FrozenDateTimeFactory
) -> None:
    """A cellular gateway's data is hours old."""
    freezer.move_to(NOON)
    sim = EnphaseSimulator(systems=[SimSystem(), cabin_system()])
    await sim.start()
    try:
        token = sim.mint()["access_token"]
        _, summary = await _api(session, sim, "/systems/4123988/summary", token)
        age = NOON.timestamp() - summary["last_report_at"]
        assert 0 <= age < 6 * 3600
        assert summary["last_report_at"] % (6 * 3600) == 4200
    finally:
        await sim.stop()


async def test_lifetime_series(
    session: ClientSession, enphase: EnphaseSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Daily Wh per element; today is partial; a future date is a 422."""
    freezer.move_to(NOON)
    token = enphase.mint()["access_token"]
    status, body = await _api(
        session,
        enphase,
        "/systems/4123987/energy_import_lifetime",
        token,
        start_date="2026-06-19",
        end_date="2026-06-21",
    )
    assert status == 200
    assert body["start_date"] == "2026-06-19"
    assert len(body["import"]) == 3
    assert body["import"][-1] == enphase.truth()["import_today"]
    status, body = await _api(
        session,
        enphase,
        "/systems/4123987/consumption_lifetime",
        token,
        end_date="2026-06-22",
    )
    assert status == 422
    assert "future" in body["details"]
