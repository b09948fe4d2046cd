"""The HA adapter: back-off, writes only for what changed, device-registry sync."""

from copy import deepcopy
from dataclasses import replace
from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import (
    EVENT_STATE_CHANGED,
    EVENT_STATE_REPORTED,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sungaze.const import DOMAIN, FAILING_ISSUE_AFTER
from custom_components.sungaze.coordinator import merge_snapshot
from custom_components.sungaze.devices import DeviceSync
from custom_components.sungaze.model import (
    Alert,
    Device,
    DeviceKind,
    Readings,
    Severity,
    Site,
    Snapshot,
)
from custom_components.sungaze.planner import BACKOFF_MAX

from .conftest import NOON, tick as _tick
from .simulators.solaredge import SolarEdgeSimulator

POWER = "sensor.home_solar_power"
STATUS = "sensor.solaredge_home_connection"
NEXT = "sensor.solaredge_home_connection_next_attempt"
INVERTER = "7E1234AB-9C"


@pytest.fixture(autouse=True)
def _noon(freezer: FrozenDateTimeFactory) -> None:
    freezer.move_to(NOON)


class _Writes:
    """Counts state writes (changed or only reported) per entity."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.entities: list[str] = []
        hass.bus.async_listen(EVENT_STATE_CHANGED, self._seen)
        hass.bus.async_listen(
            EVENT_STATE_REPORTED, self._seen, event_filter=callback(lambda _: True)
        )

    @callback
    def _seen(self, event: Event) -> None:
        self.entities.append(event.data["entity_id"])


async def test_refused_updates_back_off_and_honour_retry_after(
    hass: HomeAssistant,
    init_solaredge: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """429s (Retry-After 60 s): 1, 2, 4 … minutes to a bound, one request each."""
    coordinator = init_solaredge.runtime_data
    solaredge.fail_next(429, count=9)
    waits: list[timedelta] = []
    for _ in range(9):
        sent = len(solaredge.calls)
        await _tick(hass, freezer, coordinator.update_interval)
        assert len(solaredge.calls) - sent == 1  # a failing update costs one request
        waits.append(coordinator.update_interval)
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 64, 120, 120)]
    assert timedelta(hours=2) == BACKOFF_MAX
    assert hass.states.get(STATUS).state == "rate_limited"
    assert dt_util.parse_datetime(hass.states.get(NEXT).state) == (
        coordinator.next_attempt.replace(microsecond=0)
    )
    assert issue_registry.async_get_issue(
        DOMAIN, f"vendor_failing_{init_solaredge.entry_id}"
    )
    await _tick(hass, freezer, coordinator.update_interval)
    assert hass.states.get(STATUS).state == "ok"
    assert hass.states.get(NEXT).state == STATE_UNKNOWN
    assert coordinator.failures == 0
    assert coordinator.update_interval < BACKOFF_MAX
    assert not issue_registry.async_get_issue(
        DOMAIN, f"vendor_failing_{init_solaredge.entry_id}"
    )


async def test_unreachable_vendor_never_polled_faster_than_planned(
    hass: HomeAssistant,
    init_solaredge: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Without a Retry-After, failures wait at least the plan; a repair after N."""
    coordinator = init_solaredge.runtime_data
    planned = coordinator.update_interval
    solaredge.offline = True
    for failures in range(1, FAILING_ISSUE_AFTER + 1):
        sent = len(solaredge.calls)
        await _tick(hass, freezer, coordinator.update_interval)
        # One request; aiohttp itself re-sends it once when the kept-alive
        # connection it reused turns out dropped.
        assert len(set(solaredge.calls[sent:])) == 1
        assert len(solaredge.calls) - sent <= 2
        assert coordinator.failures == failures
        # The plan itself moves with the sun and the quarter-hours.
        plan = min(planned, coordinator.next_interval())
        assert coordinator.update_interval >= plan - timedelta(minutes=15)
    assert hass.states.get(POWER).state == STATE_UNAVAILABLE
    assert hass.states.get(STATUS).state == "disconnected"
    issue = issue_registry.async_get_issue(
        DOMAIN, f"vendor_failing_{init_solaredge.entry_id}"
    )
    assert issue is not None
    assert issue.translation_placeholders["failures"] == str(FAILING_ISSUE_AFTER)
    solaredge.offline = False
    await _tick(hass, freezer, coordinator.update_interval)
    assert hass.states.get(STATUS).state == "ok"
    # Back with a number (by now the simulated sun may have set: 0 W is real).
    assert float(hass.states.get(POWER).state) >= 0
    assert (
        issue_registry.async_get_issue(
            DOMAIN, f"vendor_failing_{init_solaredge.entry_id}"
        )
        is None
    )


async def test_identical_snapshots_write_nothing(
    hass: HomeAssistant, init_solaredge: MockConfigEntry
) -> None:
    """Pushed or fetched, an update that changes nothing writes no state."""
    coordinator = init_solaredge.runtime_data
    writes = _Writes(hass)
    coordinator.async_push(deepcopy(coordinator.data))
    await hass.async_block_till_done()
    assert writes.entities == []
    same = deepcopy(coordinator.data)

    async def fetch() -> Snapshot:
        return same

    coordinator.connector.async_fetch = fetch  # the vendor answers the same
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert writes.entities == []


async def test_only_the_changed_device_is_written(
    hass: HomeAssistant, init_solaredge: MockConfigEntry
) -> None:
    """A new value on one device writes that entity only."""
    entities = er.async_get(hass)
    coordinator = init_solaredge.runtime_data
    writes = _Writes(hass)
    snapshot = coordinator.data
    battery = next(
        d.id for d in snapshot.devices.values() if d.kind is DeviceKind.BATTERY
    )
    readings = dict(snapshot.readings)
    values = dict(readings[battery].values)
    values["battery_state_of_charge"] = 12.0
    readings[battery] = replace(readings[battery], values=values)
    coordinator.async_push(replace(snapshot, readings=readings))
    await hass.async_block_till_done()
    device = dr.async_get(hass).async_get_device_by_identifier(
        coordinator.device_identifier(battery), init_solaredge.entry_id
    )
    assert device is not None
    written = {entities.async_get(entity_id).device_id for entity_id in writes.entities}
    assert written == {device.id}
    # Of that device, only the entity whose state changed.
    assert writes.entities == ["sensor.battery_1_state_of_charge"]
    assert hass.states.get("sensor.battery_1_state_of_charge").state == "12.0"


async def test_problem_sensor_follows_pushed_alerts(
    hass: HomeAssistant, init_solaredge: MockConfigEntry
) -> None:
    """An alert on one device changes that device's problem sensor only."""
    coordinator = init_solaredge.runtime_data
    writes = _Writes(hass)
    alert = Alert(
        id="1",
        device_id=INVERTER,
        severity=Severity.CRITICAL,
        code="Isolation fault",
        message="Isolation fault",
    )
    coordinator.async_push(replace(coordinator.data, alerts=(alert,)))
    await hass.async_block_till_done()
    assert sorted(writes.entities) == [
        "binary_sensor.inverter_1_problem",
        "event.inverter_1_alert",  # the alert started
    ]
    assert hass.states.get("binary_sensor.inverter_1_problem").state == "on"


def _snapshot(*device_ids: str, power: float = 1.0) -> Snapshot:
    devices = {
        "site": Device(id="site", kind=DeviceKind.SITE, name="Site", site_id="site"),
        **{
            d: Device(id=d, kind=DeviceKind.INVERTER, name=d, site_id="site")
            for d in device_ids
        },
    }
    return Snapshot(
        sites={"site": Site(id="site", name="Site")},
        devices=devices,
        readings={d: Readings(values={"ac_power": power}) for d in device_ids},
    )


def test_merge_keeps_unchanged_parts() -> None:
    """Equal parts are the previous objects; the changed devices are named."""
    first = _snapshot("a", "b")
    merged, changed = merge_snapshot(None, first)
    assert merged is first
    assert changed is None
    again, changed = merge_snapshot(first, _snapshot("a", "b"))
    assert changed == frozenset()
    assert again.readings is first.readings
    assert again.devices is first.devices
    assert again.sites is first.sites
    fewer, changed = merge_snapshot(first, _snapshot("a"))
    assert changed == {"b"}
    bumped, changed = merge_snapshot(first, _snapshot("a", "b", power=2.0))
    assert changed == {"a", "b"}
    assert bumped.devices is first.devices
    assert fewer.readings["a"] is first.readings["a"]


async def test_push_entries_keep_unreported_devices_for_a_cycle(
    hass: HomeAssistant, device_registry: dr.DeviceRegistry
) -> None:
    """A device missing from early pushes stays until a full cycle has passed."""
    entry = MockConfigEntry(domain=DOMAIN)
    entry.add_to_hass(hass)
    now = dt_util.utcnow()
    sync = DeviceSync(
        hass,
        entry,
        identifier=lambda device_id: (DOMAIN, device_id),
        connection=(DOMAIN, "connection"),
        connection_name="Link",
        manufacturer="Vendor",
        complete_after=now + timedelta(minutes=15),
    )
    sync.async_sync(_snapshot("a", "b").devices, now)

    def registered() -> set[str]:
        return {
            ident[1]
            for device in dr.async_entries_for_config_entry(
                device_registry, entry.entry_id
            )
            for ident in device.identifiers
        }

    assert registered() == {"connection", "site", "a", "b"}
    # Restarted: only "a" has reported so far.
    sync.async_sync(_snapshot("a").devices, now + timedelta(minutes=1))
    assert "b" in registered()
    sync.async_sync(_snapshot("a").devices, now + timedelta(minutes=16))
    assert registered() == {"connection", "site", "a"}
    # Back again: registered anew.
    sync.async_sync(_snapshot("a", "b").devices, now + timedelta(minutes=17))
    assert "b" in registered()


async def test_direct_data_names_the_changed_devices(
    hass: HomeAssistant, init_solaredge: MockConfigEntry
) -> None:
    """HA's own `async_set_updated_data` writes the changed entity too."""
    coordinator = init_solaredge.runtime_data
    writes = _Writes(hass)
    snapshot = coordinator.data
    readings = dict(snapshot.readings)
    site = next(d.id for d in snapshot.devices.values() if d.kind is DeviceKind.SITE)
    values = dict(readings[site].values)
    values["production_power"] = 1234.0
    readings[site] = replace(readings[site], values=values)
    coordinator.async_set_updated_data(replace(snapshot, readings=readings))
    await hass.async_block_till_done()
    assert writes.entities == [POWER]
    assert hass.states.get(POWER).state == "1234.0"


async def test_odd_readings_and_zones(
    hass: HomeAssistant, init_solaredge: MockConfigEntry
) -> None:
    """Odd inputs: an enum value outside its options, an unknown metric, a zone.

    The value is unknown; the metric makes no entity; a site zone the system
    lacks falls back to HA's for the counters' day.
    """
    coordinator = init_solaredge.runtime_data
    snapshot = coordinator.data
    site = next(d.id for d in snapshot.devices.values() if d.kind is DeviceKind.SITE)
    readings = dict(snapshot.readings)
    values = dict(readings[site].values)
    values["site_status"] = "on fire"
    values["no_such_metric"] = 1.0
    values["production_energy_lifetime"] = (
        float(values["production_energy_lifetime"]) + 10
    )
    as_of = readings[site].as_of or dt_util.utcnow()
    readings[site] = replace(
        readings[site], values=values, as_of=as_of + timedelta(seconds=1)
    )
    sites = {
        key: replace(value, timezone="Mars/Olympus_Mons")
        for key, value in snapshot.sites.items()
    }
    coordinator.async_push(replace(snapshot, readings=readings, sites=sites))
    await hass.async_block_till_done()
    entities = er.async_get(hass)
    status = entities.async_get_entity_id(
        "sensor", DOMAIN, f"solaredge_{site}_site_status"
    )
    assert status is not None
    assert hass.states.get(status).state == STATE_UNKNOWN
    assert not entities.async_get_entity_id(
        "sensor", DOMAIN, f"solaredge_{site}_no_such_metric"
    )
    assert float(hass.states.get("sensor.home_solar_energy").state) > 0


async def test_polar_day_polls_around_the_clock(
    hass: HomeAssistant,
    init_solaredge: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """No sunset at the North Cape in June: the sun-aware plan has no night."""
    hass.config.latitude = 71.17
    hass.config.longitude = 25.78
    coordinator = init_solaredge.runtime_data
    # 21:00 in Phoenix a day later: sun times are worked out once a day, so
    # these are the North Cape's (Phoenix would sleep until sunrise).
    freezer.move_to(NOON + timedelta(days=1, hours=2))
    assert coordinator.next_interval() <= timedelta(hours=3, minutes=15)


def test_device_tree_in_any_order(
    hass: HomeAssistant, device_registry: dr.DeviceRegistry
) -> None:
    """A child listed before its parent waits for it; an orphan is skipped."""
    entry = MockConfigEntry(domain=DOMAIN)
    entry.add_to_hass(hass)
    sync = DeviceSync(
        hass,
        entry,
        identifier=lambda device_id: (DOMAIN, device_id),
        connection=(DOMAIN, "connection"),
        connection_name="Link",
        manufacturer="Vendor",
    )
    devices = {
        "battery": Device(
            id="battery",
            kind=DeviceKind.BATTERY,
            name="Battery",
            site_id="site",
            parent="inverter",
        ),
        "orphan": Device(
            id="orphan",
            kind=DeviceKind.OTHER,
            name="Orphan",
            site_id="site",
            parent="missing",
        ),
        "inverter": Device(
            id="inverter", kind=DeviceKind.INVERTER, name="Inverter", site_id="site"
        ),
        "site": Device(id="site", kind=DeviceKind.SITE, name="Site", site_id="site"),
    }
    sync.async_sync(devices, dt_util.utcnow())
    battery = device_registry.async_get_device_by_identifier(
        (DOMAIN, "battery"), entry.entry_id
    )
    inverter = device_registry.async_get_device_by_identifier(
        (DOMAIN, "inverter"), entry.entry_id
    )
    assert battery is not None
    assert inverter is not None
    assert battery.via_device_id == inverter.id
    assert (
        device_registry.async_get_device_by_identifier(
            (DOMAIN, "orphan"), entry.entry_id
        )
        is None
    )
