"""Setup, unload, failures, recovery, repairs and persistence (SolarEdge)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import device_registry as dr, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    mock_restore_cache_with_extra_data,
)

from custom_components.sungaze.connectors.base import RequestLimiter
from custom_components.sungaze.const import DOMAIN
from custom_components.sungaze.planner import plan_interval

from .conftest import NOON, tick as _tick
from .simulators.solaredge import SimSite, SolarEdgeSimulator, second_site

POWER = "sensor.home_solar_power"
LIFETIME = "sensor.home_solar_energy"
STATUS = "sensor.solaredge_home_connection"


@pytest.fixture(autouse=True)
def _noon(freezer: FrozenDateTimeFactory) -> None:
    freezer.move_to(NOON)


async def test_setup_and_unload(
    hass: HomeAssistant, init_solaredge: MockConfigEntry
) -> None:
    """The entry loads with live values and unloads cleanly."""
    assert init_solaredge.state is ConfigEntryState.LOADED
    assert float(hass.states.get(POWER).state) > 0
    assert hass.states.get(STATUS).state == "ok"
    assert await hass.config_entries.async_unload(init_solaredge.entry_id)
    assert init_solaredge.state is ConfigEntryState.NOT_LOADED


async def test_wrong_key_starts_reauth(
    phoenix: HomeAssistant, solaredge_entry: MockConfigEntry
) -> None:
    """A refused key at setup ends in a reauth flow, once."""
    hass = phoenix
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Home",
        unique_id=solaredge_entry.unique_id,
        data={**solaredge_entry.data, "api_key": "revoked"},
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == [SOURCE_REAUTH]
    assert flows[0]["context"]["entry_id"] == entry.entry_id


async def test_unreachable_at_setup_retries(
    phoenix: HomeAssistant,
    solaredge: SolarEdgeSimulator,
    solaredge_entry: MockConfigEntry,
) -> None:
    """An unreachable vendor at startup is retried, not an error."""
    solaredge.offline = True
    solaredge_entry.add_to_hass(phoenix)
    await phoenix.config_entries.async_setup(solaredge_entry.entry_id)
    assert solaredge_entry.state is ConfigEntryState.SETUP_RETRY


async def test_unavailable_then_recovers(
    hass: HomeAssistant,
    init_solaredge: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Entities go unavailable while the vendor is down, and come back."""
    coordinator = init_solaredge.runtime_data
    solaredge.offline = True
    await _tick(hass, freezer, coordinator.update_interval)
    assert hass.states.get(POWER).state == STATE_UNAVAILABLE
    assert hass.states.get(STATUS).state == "disconnected"
    assert "Could not reach the vendor" in caplog.text
    # A second, different failure still shows on the connection sensor.
    solaredge.offline = False
    solaredge.fail_next(410)
    await _tick(hass, freezer, coordinator.update_interval)
    assert hass.states.get(STATUS).state == "api_retired"
    await _tick(hass, freezer, coordinator.update_interval)
    assert float(hass.states.get(POWER).state) > 0
    assert hass.states.get(STATUS).state == "ok"


async def test_auth_failure_after_setup_starts_reauth(
    hass: HomeAssistant,
    init_solaredge: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A key revoked while running starts exactly one reauth flow."""
    solaredge.api_key = "rotated"
    coordinator = init_solaredge.runtime_data
    await _tick(hass, freezer, coordinator.update_interval)
    await _tick(hass, freezer, timedelta(hours=1))
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == [SOURCE_REAUTH]


async def test_api_retired_raises_a_repair_issue(
    hass: HomeAssistant,
    init_solaredge: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """HTTP 410 tells the user what to do, and the issue clears on recovery."""
    coordinator = init_solaredge.runtime_data
    solaredge.fail_next(410)
    await _tick(hass, freezer, coordinator.update_interval)
    issue = issue_registry.async_get_issue(
        DOMAIN, f"api_retired_{init_solaredge.entry_id}"
    )
    assert issue is not None
    assert issue.translation_placeholders["vendor"] == "SolarEdge"
    assert hass.states.get(STATUS).state == "api_retired"
    await _tick(hass, freezer, coordinator.update_interval)
    assert (
        issue_registry.async_get_issue(DOMAIN, f"api_retired_{init_solaredge.entry_id}")
        is None
    )


async def test_quota_exhausted_backs_off_with_a_repair_issue(
    hass: HomeAssistant,
    phoenix: HomeAssistant,
    solaredge_entry: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """When the month's credits run out we stop asking and say so.

    A 429 without retry-after ends the month only when our own count agrees
    (a stray one from a proxy is a short limit: see the connector tests).
    """
    solaredge.month_credits = 10
    solaredge_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(solaredge_entry.entry_id)
    await hass.async_block_till_done()
    coordinator = solaredge_entry.runtime_data
    coordinator.connector.limiter.month_used = 1995
    await _tick(hass, freezer, coordinator.update_interval)
    assert hass.states.get(STATUS).state == "quota_exhausted"
    assert (
        hass.states.get("sensor.solaredge_home_connection_requests_left").state == "0"
    )
    assert issue_registry.async_get_issue(
        DOMAIN, f"quota_exhausted_{solaredge_entry.entry_id}"
    )
    sent = len(solaredge.calls)
    await _tick(hass, freezer, timedelta(hours=2))
    assert len(solaredge.calls) == sent


async def test_minute_limits_raise_an_issue_when_repeated(
    hass: HomeAssistant,
    init_solaredge: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """One 429 is retried after its Retry-After; three in a row become a repair issue."""
    coordinator = init_solaredge.runtime_data
    issue_id = f"quota_exhausted_{init_solaredge.entry_id}"
    solaredge.fail_next(429, count=3)
    await _tick(hass, freezer, coordinator.update_interval)
    assert hass.states.get(STATUS).state == "rate_limited"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    # The vendor's Retry-After (60 s) first, then waits that grow.
    waits = [coordinator.update_interval]
    for _ in range(2):
        await _tick(hass, freezer, coordinator.update_interval)
        waits.append(coordinator.update_interval)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    assert waits[:2] == [timedelta(seconds=60), timedelta(minutes=2)]
    await _tick(hass, freezer, coordinator.update_interval)
    assert hass.states.get(STATUS).state == "ok"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_request_counters_survive_restart(
    hass: HomeAssistant,
    init_solaredge: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    hass_storage: dict[str, Any],
    freezer: FrozenDateTimeFactory,
) -> None:
    """The month's count is persisted so a restart cannot overspend."""
    used = int(
        hass.states.get("sensor.solaredge_home_connection_requests_this_month").state
    )
    assert used == solaredge.credits_used
    freezer.tick(
        timedelta(minutes=1)
    )  # the reload below must not wait for the minute window
    assert await hass.config_entries.async_unload(init_solaredge.entry_id)
    await hass.async_block_till_done()
    key = next(k for k in hass_storage if k.startswith(f"{DOMAIN}.budget.solaredge_"))
    stored = hass_storage[key]["data"]
    assert stored["month_used"] == used
    assert await hass.config_entries.async_setup(init_solaredge.entry_id)
    await hass.async_block_till_done()
    assert (
        int(
            hass.states.get(
                "sensor.solaredge_home_connection_requests_this_month"
            ).state
        )
        == solaredge.credits_used
    )
    assert solaredge.credits_used > used


async def test_lifetime_never_goes_below_restored_value(
    phoenix: HomeAssistant,
    solaredge_entry: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
) -> None:
    """After a restart a lower vendor total is held back, not written."""
    hass = phoenix
    truth = solaredge.lifetime_wh()
    higher = truth + 50_000
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(LIFETIME, str(higher / 1000)),
                {"native_value": float(higher), "native_unit_of_measurement": "Wh"},
            )
        ],
    )
    solaredge_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(solaredge_entry.entry_id)
    await hass.async_block_till_done()
    assert float(hass.states.get(LIFETIME).state) == pytest.approx(higher / 1000)


async def test_problem_sensor_follows_alerts(
    hass: HomeAssistant,
    init_solaredge: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An open inverter alert turns its problem sensor on, with the alert listed."""
    problem = "binary_sensor.inverter_1_problem"
    assert hass.states.get(problem).state == "off"
    alert = solaredge.add_alert(impact=8, alert_type="Isolation fault")
    await _tick(hass, freezer, timedelta(hours=3, minutes=15))
    state = hass.states.get(problem)
    assert state.state == STATE_ON
    assert state.attributes["alerts"][0]["code"] == "Isolation fault"
    assert state.attributes["alerts"][0]["severity"] == "critical"
    solaredge.close_alert(alert["alertId"])
    await _tick(hass, freezer, timedelta(hours=3, minutes=15))
    assert hass.states.get(problem).state == "off"


async def test_devices_follow_the_inventory(
    hass: HomeAssistant,
    init_solaredge: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Site → inverter/battery/meter; a removed battery leaves the registry."""
    devices = dr.async_entries_for_config_entry(
        device_registry, init_solaredge.entry_id
    )
    site = next(d for d in devices if (DOMAIN, "solaredge_3012345") in d.identifiers)
    account = device_registry.async_get(site.via_device_id)
    assert account.entry_type is dr.DeviceEntryType.SERVICE
    inverter = next(
        d for d in devices if (DOMAIN, "solaredge_7E1234AB-9C") in d.identifiers
    )
    battery = next(
        d for d in devices if (DOMAIN, "solaredge_7F0A21C3-B1") in d.identifiers
    )
    assert inverter.via_device_id == site.id
    assert (
        battery.via_device_id == inverter.id
    )  # the portal says it hangs off the inverter
    next(iter(solaredge.sites.values())).battery_serial = None
    await _tick(hass, freezer, timedelta(days=1))
    remaining = dr.async_entries_for_config_entry(
        device_registry, init_solaredge.entry_id
    )
    assert battery.id not in {device.id for device in remaining}
    assert site.id in {device.id for device in remaining}


async def test_night_saves_the_budget(
    hass: HomeAssistant,
    init_solaredge: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """After the dusk update nothing is fetched until after sunrise."""
    coordinator = init_solaredge.runtime_data
    freezer.move_to(datetime(2026, 6, 22, 4, 0, tzinfo=UTC))  # 21:00 in Phoenix
    await coordinator.async_refresh()
    assert coordinator.update_interval > timedelta(hours=7)
    sent = len(solaredge.calls)
    await _tick(hass, freezer, timedelta(hours=6))
    assert len(solaredge.calls) == sent


async def test_options_change_replans(
    hass: HomeAssistant, init_solaredge: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """A longer minimum interval from the options is honoured after reload."""
    freezer.tick(timedelta(minutes=1))
    hass.config_entries.async_update_entry(
        init_solaredge, options={"min_interval": 120}
    )
    await hass.async_block_till_done()
    assert init_solaredge.state is ConfigEntryState.LOADED
    assert init_solaredge.runtime_data.update_interval >= timedelta(minutes=120)


async def test_unreadable_answer_is_reported(
    hass: HomeAssistant,
    init_solaredge: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A refused data call marks the data unavailable and says why."""
    solaredge.fail_next(404, path_contains="/overview")
    await _tick(hass, freezer, init_solaredge.runtime_data.update_interval)
    assert hass.states.get(STATUS).state == "bad_payload"
    assert hass.states.get(POWER).state == STATE_UNAVAILABLE


async def test_reload_within_a_minute_paces_itself(
    hass: HomeAssistant,
    init_solaredge: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A quick reload does not earn a 429: setup waits for the minute window."""
    assert not await hass.config_entries.async_reload(init_solaredge.entry_id)
    assert init_solaredge.state is ConfigEntryState.SETUP_RETRY
    assert solaredge.credits_used == 10  # what the limiter allowed, none refused
    await _tick(hass, freezer, timedelta(seconds=80))
    assert init_solaredge.state is ConfigEntryState.LOADED


async def test_sites_sharing_a_key_share_its_quota(
    phoenix: HomeAssistant, socket_enabled: None, freezer: FrozenDateTimeFactory
) -> None:
    """Two sites behind one key plan with half the credits each."""
    hass = phoenix
    freezer.move_to(NOON)
    simulator = SolarEdgeSimulator(sites=[SimSite(), second_site()])
    await simulator.start()
    try:
        entries = []
        for site_id in ("3012345", "3012346"):
            entry = MockConfigEntry(
                domain=DOMAIN,
                unique_id=f"solaredge_{site_id}",
                data={
                    "vendor": "solaredge",
                    "api_key": "SIMULATED-KEY",
                    "site_id": site_id,
                    "url": simulator.base_url,
                },
            )
            entry.add_to_hass(hass)
            await hass.config_entries.async_setup(entry.entry_id)
            await hass.async_block_till_done()
            assert entry.state is ConfigEntryState.LOADED
            entries.append(entry)
            freezer.tick(timedelta(minutes=1))  # one setup's burst per minute window
        first, second = (entry.runtime_data for entry in entries)
        assert first.connector.limiter is second.connector.limiter
        assert first.connector.limiter.users == 2
        alone = plan_interval(
            first.connector.cost,
            first.connector.budget,
            RequestLimiter(first.connector.budget),
            NOON,
            None,
        )
        assert first.next_interval() > alone
        for entry in entries:
            await hass.config_entries.async_unload(entry.entry_id)
        assert first.connector.limiter.users == 0
    finally:
        await simulator.stop()


async def test_restart_keeps_a_false_reset_offset(
    phoenix: HomeAssistant,
    solaredge_entry: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A counter that had undone a false reset resumes its series after a restart.

    The guard published the vendor's total plus an offset; the offset is stored
    with the state, so after the restart the counter keeps rising from where it
    stood instead of freezing until the vendor catches up.
    """
    hass = phoenix
    truth = solaredge.lifetime_wh()
    shown = truth + 50_000
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(LIFETIME, str(shown / 1000)),
                {
                    "native_value": float(shown),
                    "native_unit_of_measurement": "Wh",
                    "guard": {"offset": 50_000.0, "previous": None},
                },
            )
        ],
    )
    solaredge_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(solaredge_entry.entry_id)
    await hass.async_block_till_done()
    start = float(hass.states.get(LIFETIME).state)
    assert start == pytest.approx(shown / 1000, abs=0.01)
    await _tick(hass, freezer, timedelta(hours=2))
    grown = solaredge.lifetime_wh() - truth
    assert grown > 0
    assert float(hass.states.get(LIFETIME).state) == pytest.approx(
        (shown + grown) / 1000, abs=0.05
    )
