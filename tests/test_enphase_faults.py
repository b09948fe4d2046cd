"""Enphase fault matrix in Home Assistant, through the simulator's switches.

Each fault hits a running entry's routine update (`/summary` is its first
call); we check entity states, the connection sensor, repairs, reauth flows,
the requests the failed update cost, and the recovery. The coordinator's
back-off between failed updates is not asserted here.
"""

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from aiohttp import ClientSession
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.sungaze.const import DOMAIN

from .conftest import tick as _tick
from .simulators.enphase import EnphaseSimulator

POWER = "sensor.home_solar_power"
LIFETIME = "sensor.home_solar_energy"
STATUS = "sensor.enphase_home_connection"


@pytest.fixture
async def owner_browser(socket_enabled: None) -> AsyncIterator[ClientSession]:
    """The owner's browser, for the consent page of a new sign-in."""
    async with ClientSession() as session:
        yield session


async def _sign_in_again(
    hass: HomeAssistant,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
    flow_id: str,
) -> FlowResult:
    """Approve the reauth on the simulator's consent page, follow it back to HA."""
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["type"] is FlowResultType.EXTERNAL_STEP
    response = await browser.get(result["url"], allow_redirects=False)
    location = urlsplit(response.headers["Location"])
    client = await hass_client_no_auth()
    answer = await client.get(f"{location.path}?{location.query}")
    assert answer.status == 200
    return await hass.config_entries.flow.async_configure(flow_id)


def _fault_issues(registry: ir.IssueRegistry) -> list[str]:
    """Repairs raised for a fault (HA's reauth issue and our offers aside)."""
    return [
        issue
        for domain, issue in registry.issues
        if domain == DOMAIN and issue.startswith(("api_retired", "quota_exhausted"))
    ]


@dataclass(frozen=True)
class Fault:
    """One row of the matrix."""

    name: str
    apply: Callable[[EnphaseSimulator], None]
    status: str
    reauth: bool = False
    issue: str | None = None
    requests: int = 1
    """Data requests the failed update sends."""
    next_day: bool = False
    """The fault is in the daily `/systems` list: it shows the next day."""


def _override(path: str, body: str) -> Callable[[EnphaseSimulator], None]:
    def apply(simulator: EnphaseSimulator) -> None:
        simulator.override[path] = body

    return apply


def _malformed(switch: str) -> Callable[[EnphaseSimulator], None]:
    def apply(simulator: EnphaseSimulator) -> None:
        simulator.malformed.add(switch)

    return apply


FAULTS = [
    # A refused token is renewed once; refused again, the grant is gone.
    Fault(
        "401",
        lambda s: s.fail_next(401, count=2, path_contains="/summary"),
        "auth_failed",
        reauth=True,
        requests=2,
    ),
    Fault(
        "403",
        lambda s: s.fail_next(403, path_contains="/summary"),
        "auth_failed",
        reauth=True,
    ),
    Fault(
        "410",
        lambda s: s.fail_next(410, path_contains="/summary"),
        "api_retired",
        issue="api_retired",
    ),
    Fault(
        "429 minute",
        lambda s: s.fail_next(429, path_contains="/summary"),
        "rate_limited",
    ),
    Fault(
        "429 without period",
        lambda s: (s.malformed.add("429"), s.fail_next(429, path_contains="/summary")),
        "rate_limited",
    ),
    Fault("500", lambda s: s.fail_next(500, path_contains="/summary"), "disconnected"),
    # A dropped connection never reaches the simulator's request counter.
    Fault("offline", lambda s: setattr(s, "offline", True), "disconnected", requests=0),
    Fault(
        "HTML",
        _override("/summary", "<html><body>Bad gateway</body></html>"),
        "bad_payload",
    ),
    Fault("malformed JSON", _override("/summary", '{"system_id": '), "bad_payload"),
    Fault("null", _override("/summary", "null"), "bad_payload"),
    Fault(
        "systems list without the system",
        _malformed("systems_missing"),
        "bad_payload",
        next_day=True,
    ),
    Fault(
        "systems list with null ids",
        _malformed("systems_null_id"),
        "bad_payload",
        next_day=True,
    ),
]


@pytest.mark.usefixtures("current_request_with_host")
@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
async def test_fault_matrix(
    hass: HomeAssistant,
    init_enphase: MockConfigEntry,
    enphase: EnphaseSimulator,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    owner_browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
    fault: Fault,
) -> None:
    """One fault: what the user sees, what it costs, and the recovery."""
    coordinator = init_enphase.runtime_data
    # The update after setup catches up on calls postponed for the minute limit.
    await _tick(hass, freezer, coordinator.update_interval)
    assert hass.states.get(STATUS).state == "ok"
    lifetime = float(hass.states.get(LIFETIME).state)
    fault.apply(enphase)
    sent = len(enphase.api_calls)
    await _tick(
        hass,
        freezer,
        timedelta(days=1) if fault.next_day else coordinator.update_interval,
    )
    failed_calls = enphase.api_calls[sent:]
    if fault.next_day:
        assert failed_calls == ["/api/v4/systems"]
    else:
        assert len(failed_calls) == fault.requests
    assert hass.states.get(STATUS).state == fault.status
    assert hass.states.get(POWER).state == STATE_UNAVAILABLE
    ours = _fault_issues(issue_registry)
    if fault.issue:
        assert ours == [f"{fault.issue}_{init_enphase.entry_id}"]
    else:
        assert not ours
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == (
        [SOURCE_REAUTH] if fault.reauth else []
    )
    # Where the fault lasts, a second failed update starts no second reauth.
    await _tick(hass, freezer, coordinator.update_interval)
    assert len(hass.config_entries.flow.async_progress_by_handler(DOMAIN)) <= 1

    # The fault ends: everything comes back (after an auth failure, once the
    # owner signs in again).
    enphase.offline = False
    enphase.malformed.clear()
    enphase.override.clear()
    if fault.reauth:
        (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        result = await _sign_in_again(
            hass, owner_browser, hass_client_no_auth, flow["flow_id"]
        )
        assert result["reason"] == "reauth_successful"
        await hass.async_block_till_done(wait_background_tasks=True)
    for _ in range(12):
        if hass.states.get(STATUS).state == "ok":
            break
        await _tick(hass, freezer, coordinator.update_interval)
    assert hass.states.get(STATUS).state == "ok"
    assert hass.states.get(POWER).state != STATE_UNAVAILABLE
    assert float(hass.states.get(LIFETIME).state) >= lifetime
    assert not _fault_issues(issue_registry)
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def _warm(
    hass: HomeAssistant, entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> timedelta:
    coordinator = entry.runtime_data
    await _tick(hass, freezer, coordinator.update_interval)
    assert hass.states.get(STATUS).state == "ok"
    interval: timedelta = coordinator.update_interval
    return interval


async def test_counter_glitch_never_reaches_the_energy_dashboard(
    hass: HomeAssistant,
    init_enphase: MockConfigEntry,
    enphase: EnphaseSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A summary whose lifetime drops to zero for an update lowers nothing."""
    interval = await _warm(hass, init_enphase, freezer)
    lifetime = float(hass.states.get(LIFETIME).state)
    enphase.transform["/summary"] = lambda body: {**body, "energy_lifetime": 0}
    await _tick(hass, freezer, interval)
    assert hass.states.get(STATUS).state == "ok"
    assert float(hass.states.get(LIFETIME).state) >= lifetime
    enphase.transform.clear()
    for _ in range(3):
        await _tick(hass, freezer, init_enphase.runtime_data.update_interval)
    assert float(hass.states.get(LIFETIME).state) > lifetime


async def test_gateway_clock_ahead_does_not_stop_updates(
    hass: HomeAssistant,
    init_enphase: MockConfigEntry,
    enphase: EnphaseSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A `last_report_at` 3 h ahead, then right again: summaries go on at once.

    Before: the future time became the upload reference, so no summary was
    asked for (and no counter moved) until the wrong clock's time had passed.
    """
    interval = await _warm(hass, init_enphase, freezer)
    enphase.transform["/summary"] = lambda body: {
        **body,
        "last_report_at": body["last_report_at"] + 3 * 3600,
    }
    await _tick(hass, freezer, interval)
    enphase.transform.clear()
    lifetime = float(hass.states.get(LIFETIME).state)
    sent = len(enphase.api_calls)
    await _tick(hass, freezer, max(interval, timedelta(minutes=20)))
    assert any(call.endswith("/summary") for call in enphase.api_calls[sent:])
    assert float(hass.states.get(LIFETIME).state) > lifetime
