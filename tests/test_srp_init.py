"""SRP entries in Home Assistant: sensors, polling plan, block repair, reauth."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.sungaze.connectors.base import (
    PollCost,
    RequestBudget,
    RequestLimiter,
)
from custom_components.sungaze.connectors.srp import SITE_ZONE
from custom_components.sungaze.const import DOMAIN
from custom_components.sungaze.coordinator import plan_interval
from custom_components.sungaze.energy import proposed_sources

from .simulators.srp import PASSWORD, USERNAME, SRPSimulator

SOLAR = "987654321"
MORNING = datetime(2026, 6, 21, 7, 0, tzinfo=SITE_ZONE)
ISSUE = "vendor_blocked_01SRPENTRY0000000000000000"


@pytest.fixture
async def srp(socket_enabled: None) -> AsyncIterator[SRPSimulator]:
    """An SRP simulator on a free loopback port."""
    simulator = SRPSimulator()
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
def entry(srp: SRPSimulator) -> MockConfigEntry:
    """The TOU account with solar net metering."""
    return MockConfigEntry(
        domain=DOMAIN,
        entry_id="01SRPENTRY0000000000000000",
        title="SRP Casita",
        unique_id=f"srp_{SOLAR}",
        data={
            "vendor": "srp",
            "username": USERNAME,
            "password": PASSWORD,
            "url": srp.base_url,
            "billing_account": SOLAR,
        },
    )


async def setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def at(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, when: datetime
) -> None:
    freezer.move_to(when)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_sensors(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Yesterday's and this month's usage, cost and export, and the data-as-of time."""
    freezer.move_to(MORNING)
    entry.add_to_hass(hass)
    with patch("custom_components.sungaze.PLATFORMS", [Platform.SENSOR]):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)
    cost = hass.states.get("sensor.srp_987654321_grid_cost_yesterday")
    assert cost is not None
    assert cost.attributes["unit_of_measurement"] == "USD"
    assert cost.attributes["device_class"] == "monetary"


async def test_polls_after_six_and_sleeps_when_settled(
    hass: HomeAssistant,
    srp: SRPSimulator,
    entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Set up at 05:00: wait for 06:15; complete then: next at 10:15, 18:15, 06:15."""
    freezer.move_to(datetime(2026, 6, 21, 5, 0, tzinfo=SITE_ZONE))
    await setup(hass, entry)
    coordinator = entry.runtime_data
    assert coordinator.update_interval == timedelta(hours=1, minutes=15)
    srp.requests.clear()
    await at(hass, freezer, datetime(2026, 6, 21, 6, 15, 1, tzinfo=SITE_ZONE))
    assert srp.requests["usage/hourlydetail"] == 1
    assert coordinator.connector.cost.settled
    assert coordinator.update_interval == timedelta(hours=3, minutes=59, seconds=59)
    for when in ((10, 15), (18, 15)):
        await at(hass, freezer, datetime(2026, 6, 21, *when, 1, tzinfo=SITE_ZONE))
    assert srp.requests["usage/hourlydetail"] == 3
    # 18:15 -> tomorrow 06:15: twelve hours of quiet.
    assert coordinator.update_interval == timedelta(hours=11, minutes=59, seconds=59)
    # A whole day: 4 data requests (one at setup) and one login per update.
    assert srp.requests["login/authorize"] == 3


async def test_not_settled_retries_every_two_hours(
    hass: HomeAssistant,
    srp: SRPSimulator,
    entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Yesterday incomplete after 06:00: try again in two hours, not at once."""
    srp.late[datetime(2026, 6, 20, 23, tzinfo=SITE_ZONE)] = datetime(
        2026, 6, 22, tzinfo=SITE_ZONE
    )
    freezer.move_to(MORNING)
    await setup(hass, entry)
    assert not entry.runtime_data.connector.cost.settled
    assert entry.runtime_data.update_interval == timedelta(hours=2)


async def test_failure_after_a_settled_day_retries_soon(
    hass: HomeAssistant,
    srp: SRPSimulator,
    entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A failed morning update does not keep yesterday's long sleep."""
    freezer.move_to(MORNING)
    await setup(hass, entry)
    coordinator = entry.runtime_data
    srp.fail_status = 503
    await at(hass, freezer, datetime(2026, 6, 22, 6, 15, 1, tzinfo=SITE_ZONE))
    assert coordinator.status == "disconnected"
    assert coordinator.update_interval == timedelta(hours=2)


async def test_cloudflare_block_raises_a_repair(
    hass: HomeAssistant,
    srp: SRPSimulator,
    entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Blocked after setup: a repair issue (not reauth), hours of back-off, then gone."""
    freezer.move_to(MORNING)
    await setup(hass, entry)
    srp.blocked = True
    await at(hass, freezer, datetime(2026, 6, 21, 10, 15, 1, tzinfo=SITE_ZONE))
    issue = issue_registry.async_get_issue(DOMAIN, ISSUE)
    assert issue is not None
    assert issue.translation_key == "vendor_blocked"
    assert issue.translation_placeholders["vendor"] == "SRP"
    assert issue.translation_placeholders["title"] == "SRP Casita"
    assert not hass.config_entries.flow.async_progress_by_handler(
        DOMAIN, match_context={"source": SOURCE_REAUTH}
    )
    assert entry.runtime_data.status == "disconnected"
    srp.blocked = False
    sent = sum(srp.requests.values())
    await at(hass, freezer, datetime(2026, 6, 21, 12, 15, 1, tzinfo=SITE_ZONE))
    assert sum(srp.requests.values()) == sent  # still backing off
    await at(hass, freezer, datetime(2026, 6, 21, 14, 30, tzinfo=SITE_ZONE))
    assert entry.runtime_data.status == "ok"
    assert issue_registry.async_get_issue(DOMAIN, ISSUE) is None


async def test_wrong_password_starts_reauth(
    hass: HomeAssistant,
    srp: SRPSimulator,
    entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A password changed at SRP: reauth, never a login loop."""
    freezer.move_to(MORNING)
    srp.password = "changed"
    await setup(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(
        DOMAIN, match_context={"source": SOURCE_REAUTH}
    )
    assert [flow["step_id"] for flow in flows] == ["srp_reauth"]
    assert srp.requests["login/authorize"] == 1


def test_planner_daily_times() -> None:
    """Before the first daily time: wait for it; settled: the next one; else floor."""
    limiter = RequestLimiter(RequestBudget(per_day=60))
    cost = PollCost(
        per_poll=1,
        min_interval=timedelta(hours=2),
        daily_at=(time(18, 15), time(6, 15)),
        timezone="America/Phoenix",
    )
    early = datetime(2026, 6, 21, 12, 0, tzinfo=UTC)  # 05:00 in Phoenix
    assert plan_interval(cost, limiter.budget, limiter, early, None) == timedelta(
        hours=1, minutes=15
    )
    noon = datetime(2026, 6, 21, 19, 0, tzinfo=UTC)
    assert plan_interval(cost, limiter.budget, limiter, noon, None) == timedelta(
        hours=2
    )
    evening = datetime(2026, 6, 22, 0, 45, tzinfo=UTC)  # 17:45: 18:15 comes first
    assert plan_interval(cost, limiter.budget, limiter, evening, None) == timedelta(
        minutes=30
    )
    settled = replace(cost, settled=True)
    assert plan_interval(settled, limiter.budget, limiter, noon, None) == timedelta(
        hours=6, minutes=15
    )
    unknown_zone = PollCost(per_poll=1, daily_at=(time(6),), timezone="Mars/Olympus")
    assert plan_interval(unknown_zone, limiter.budget, limiter, noon, None) > timedelta(
        0
    )


async def test_energy_dashboard_grid_source(
    hass: HomeAssistant, entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """The one-click offer: grid import with its cost, and export, from statistics."""
    freezer.move_to(MORNING)
    await setup(hass, entry)
    grid = next(s for s in proposed_sources(hass, entry) if s["type"] == "grid")
    assert grid["stat_energy_from"] == "sungaze:srp_987654321_grid_consumption"
    assert grid["stat_cost"] == "sungaze:srp_987654321_grid_cost"
    assert grid["stat_energy_to"] == "sungaze:srp_987654321_grid_export"
    assert grid["stat_compensation"] is None
    assert not [s for s in proposed_sources(hass, entry) if s["type"] == "solar"]
