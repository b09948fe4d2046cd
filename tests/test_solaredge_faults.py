"""SolarEdge fault matrix in Home Assistant, through the simulator's switches.

Each fault hits a running entry's routine update; we check what the user sees
(entity states, the connection sensor, repairs, reauth flows), how many
requests the failed update cost, and that everything recovers once the fault
is gone. The coordinator's back-off between failed updates is not asserted
here (it is the coordinator's), only the requests per failed update.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH, SOURCE_USER
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sungaze.const import DOMAIN

from .conftest import SOLAREDGE_KEY, tick as _tick
from .simulators.solaredge import SolarEdgeSimulator

POWER = "sensor.home_solar_power"
GRID = "sensor.home_grid_power"
LIFETIME = "sensor.home_solar_energy"
STATUS = "sensor.solaredge_home_connection"
FAULT_ISSUES = ("api_retired", "quota_exhausted")
HTML = "<html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>"


@dataclass(frozen=True)
class Fault:
    """One row of the matrix."""

    name: str
    apply: Callable[[SolarEdgeSimulator], None]
    status: str
    """The connection sensor during the fault."""
    available: bool = False
    """Whether the data entities stay available (the update itself succeeds)."""
    reauth: bool = False
    issue: str | None = None
    requests: int = 1
    """Requests the failed update sends (the routine overview fails first)."""


def _rotate_key(sim: SolarEdgeSimulator) -> None:
    sim.api_key = "rotated"


FAULTS = [
    Fault("401", _rotate_key, "auth_failed", reauth=True),
    Fault(
        "403",
        lambda s: s.fail_next(403, count=9, path_contains="/overview"),
        "auth_failed",
        reauth=True,
    ),
    Fault("410", lambda s: s.fail_next(410), "api_retired", issue="api_retired"),
    Fault(
        "429 + Retry-After",
        lambda s: s.fail_next(429, retry_after="120"),
        "rate_limited",
    ),
    Fault(
        "429 without Retry-After",
        lambda s: s.fail_next(429, retry_after=None),
        "rate_limited",
    ),
    Fault("500", lambda s: s.fail_next(500), "disconnected"),
    Fault("503", lambda s: s.fail_next(503), "disconnected"),
    # aiohttp resends once on a kept-alive connection the server dropped.
    Fault("offline", lambda s: setattr(s, "offline", True), "disconnected", requests=2),
    Fault(
        "HTML",
        lambda s: s.fail_next(200, body=HTML, content_type="text/html"),
        "bad_payload",
    ),
    Fault(
        "malformed JSON", lambda s: s.fail_next(200, body='{"siteId": '), "bad_payload"
    ),
    Fault("null body", lambda s: s.fail_next(200, body="null"), "bad_payload"),
    Fault(
        "null values",
        lambda s: s.override.update({"/power": {"unit": "W", "values": None}}),
        "ok",
        available=True,
        requests=4,
    ),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
async def test_fault_matrix(
    hass: HomeAssistant,
    init_solaredge: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    fault: Fault,
) -> None:
    """One fault: what the user sees, what it costs, and the recovery."""
    coordinator = init_solaredge.runtime_data
    assert hass.states.get(STATUS).state == "ok"
    lifetime = float(hass.states.get(LIFETIME).state)
    fault.apply(solaredge)
    sent = len(solaredge.calls)
    await _tick(hass, freezer, coordinator.update_interval)
    assert len(solaredge.calls) - sent == fault.requests
    assert hass.states.get(STATUS).state == fault.status
    power = hass.states.get(POWER).state
    if fault.available:
        assert power == STATE_UNKNOWN  # the null series: unknown, not a zero
    else:
        assert power == STATE_UNAVAILABLE
    if fault.issue:
        assert issue_registry.async_get_issue(
            DOMAIN, f"{fault.issue}_{init_solaredge.entry_id}"
        )
    else:
        assert not _our_issues(issue_registry)
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len(flows) == int(fault.reauth)
    if fault.reauth:
        assert flows[0]["context"]["source"] == SOURCE_REAUTH

    # A second failing update (where the fault lasts) starts no second reauth.
    await _tick(hass, freezer, coordinator.update_interval)
    assert len(hass.config_entries.flow.async_progress_by_handler(DOMAIN)) <= 1

    # The fault ends: data, status and repairs come back by themselves (after
    # an auth failure, once the user confirms the key in the reauth flow).
    solaredge.api_key = SOLAREDGE_KEY
    solaredge.clear_faults()
    solaredge.reset_month()
    if fault.reauth:
        (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        result = await hass.config_entries.flow.async_configure(
            flow["flow_id"], {"api_key": SOLAREDGE_KEY}
        )
        assert result["reason"] == "reauth_successful"
        await hass.async_block_till_done(wait_background_tasks=True)
    for _ in range(12):
        await _tick(hass, freezer, max(coordinator.update_interval, timedelta(0)))
        if hass.states.get(STATUS).state == "ok":
            break
    assert hass.states.get(STATUS).state == "ok"
    assert float(hass.states.get(POWER).state) > 0
    assert float(hass.states.get(LIFETIME).state) >= lifetime
    assert not _our_issues(issue_registry)


def _our_issues(registry: ir.IssueRegistry) -> list[str]:
    """Repairs raised for a fault (HA's reauth issue and our offers aside)."""
    return [
        issue
        for domain, issue in registry.issues
        if domain == DOMAIN and issue.startswith(FAULT_ISSUES)
    ]


async def test_counter_glitch_never_reaches_the_energy_dashboard(
    hass: HomeAssistant,
    init_solaredge: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Today's total dropping to zero for an update never lowers the lifetime."""
    coordinator = init_solaredge.runtime_data
    lifetime = float(hass.states.get(LIFETIME).state)
    solaredge.override["/overview"] = {
        "siteId": 3012345,
        "production": {"total": 0.0, "unit": "WH"},
        "consumption": {"total": None, "unit": "WH"},
    }
    await _tick(hass, freezer, coordinator.update_interval)
    assert float(hass.states.get(LIFETIME).state) >= lifetime
    solaredge.override.clear()
    await _tick(hass, freezer, coordinator.update_interval)
    assert float(hass.states.get(LIFETIME).state) > lifetime


async def test_clock_skew_does_not_freeze_counters(
    hass: HomeAssistant,
    init_solaredge: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A vendor clock 3 h fast, then fixed: the counter moves on at once."""
    coordinator = init_solaredge.runtime_data
    solaredge.clock_skew = timedelta(hours=3)
    await _tick(hass, freezer, coordinator.update_interval)
    skewed = float(hass.states.get(LIFETIME).state)
    solaredge.clock_skew = timedelta(0)
    await _tick(hass, freezer, timedelta(minutes=30))
    await _tick(hass, freezer, coordinator.update_interval)
    assert float(hass.states.get(LIFETIME).state) > skewed


async def test_site_set_up_at_night_has_its_entities(
    phoenix: HomeAssistant,
    solaredge_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Solar power exists (unknown) at night; grid power from the meter too.

    Before: no solar power entity until the first daylight value.
    """
    freezer.move_to(datetime(2026, 6, 21, 8, 30, tzinfo=UTC))  # 01:30 in Phoenix
    solaredge_entry.add_to_hass(phoenix)
    await phoenix.config_entries.async_setup(solaredge_entry.entry_id)
    await phoenix.async_block_till_done()
    assert phoenix.states.get(POWER).state == STATE_UNKNOWN
    assert phoenix.states.get(GRID) is not None
    assert phoenix.states.get("sensor.battery_1_power") is not None


async def test_forbidden_key_shows_invalid_auth(
    phoenix: HomeAssistant, solaredge: SolarEdgeSimulator
) -> None:
    """A key that may not read the site is `invalid_auth` in the flow.

    Before: an untyped 403 error ended in "unknown error".
    """
    solaredge.fail_next(403, path_contains="/sites")
    result = await phoenix.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await phoenix.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "solaredge"}
    )
    result = await phoenix.config_entries.flow.async_configure(
        result["flow_id"],
        {"api_key": SOLAREDGE_KEY, "advanced": {"url": solaredge.base_url}},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
