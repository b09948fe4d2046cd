"""Tigo in Home Assistant: devices per panel, late minutes as statistics, 402 repair."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import json
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import EVENT_STATE_CHANGED, EntityCategory
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from custom_components.sungaze.backfill import CONF_BACKFILL_DAYS
from custom_components.sungaze.const import DOMAIN
from custom_components.sungaze.sensor import data_age

from .simulators.tigo import BASIC, OBJECT_IDS, PREMIUM, SYSTEM_ID, ZONE, TigoSimulator

NOON = datetime(2026, 6, 21, 19, 0, tzinfo=UTC)
SID = str(SYSTEM_ID)
ENTRY_ID = "01TIGOENTRY000000000000000"
# Noon before any fixture runs (tokens and timers are minted at that time);
# recorder tests move there themselves (their database must come before hass).
AT_NOON = pytest.mark.freeze_time(NOON)


@pytest.fixture(autouse=True)
def _noon(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Noon before any fixture runs (tokens and timers are minted at that time)."""


def make_entry(sim: TigoSimulator, account: str = "premium") -> MockConfigEntry:
    """A Tigo entry on the simulator; no first-setup history (its tests ask for it)."""
    login = PREMIUM if account == "premium" else BASIC
    return MockConfigEntry(
        domain=DOMAIN,
        options={CONF_BACKFILL_DAYS: 0},
        entry_id=ENTRY_ID,
        title="Home Array",
        unique_id=f"tigo_{SYSTEM_ID}",
        data={
            "vendor": "tigo",
            "account": account,
            "username": login[0],
            "password": login[1],
            "url": sim.premium_url if account == "premium" else sim.mapi_url,
            "site_id": SID,
        },
    )


async def setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await hass.config.async_set_time_zone("America/Phoenix")
    hass.config.latitude, hass.config.longitude = 33.45, -112.07
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def tick(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta
) -> None:
    freezer.tick(delta)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


def entity_id(hass: HomeAssistant, device: str, key: str) -> str:
    found = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"tigo_{device}_{key}"
    )
    assert found is not None, (device, key)
    return found


def panel(label: str) -> str:
    return f"{SID}_panel_{OBJECT_IDS[label]}"


def value(hass: HomeAssistant, device: str, key: str) -> float:
    state = hass.states.get(entity_id(hass, device, key))
    assert state is not None
    return float(state.state)


@AT_NOON
async def test_premium_devices_and_entities(
    hass: HomeAssistant, tigo: TigoSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """System -> inverter -> string -> panel; panel power on, the rest off by default."""
    await setup(hass, make_entry(tigo))
    devices = dr.async_get(hass)

    def device(ident: str) -> dr.DeviceEntry:
        found = devices.async_get_device_by_identifier(
            (DOMAIN, f"tigo_{ident}"), ENTRY_ID
        )
        assert found is not None, ident
        return found

    site = device(SID)
    assert site.name == "Home Array"
    assert site.manufacturer == "Tigo"
    cca = device(f"{SID}_cca_301")
    assert cca.via_device_id == site.id
    assert cca.serial_number == "04C05B800ACE"
    inverter = device(f"{SID}_inverter_1")
    assert inverter.via_device_id == site.id
    string_a = device(f"{SID}_string_11")
    assert string_a.name == "String A"
    assert string_a.via_device_id == inverter.id
    a1 = device(panel("A1"))
    assert a1.name == "A1"
    assert a1.via_device_id == string_a.id
    assert a1.model == "TS4-A-O"
    panels = [
        d
        for d in dr.async_entries_for_config_entry(devices, ENTRY_ID)
        if d.model == "TS4-A-O"
    ]
    assert len(panels) == 24

    registry = er.async_get(hass)
    for label, _oid in OBJECT_IDS.items():
        state = hass.states.get(entity_id(hass, panel(label), "panel_power"))
        assert state is not None
        assert state.attributes["unit_of_measurement"] == "W"
        stamp = hass.states.get(entity_id(hass, panel(label), "last_report"))
        assert stamp is None  # fine-grained: disabled by default
    for key in ("input_voltage", "input_current", "rssi"):
        entry = registry.async_get(entity_id(hass, panel("A1"), key))
        assert entry is not None
        assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    rssi = registry.async_get(entity_id(hass, panel("A1"), "rssi"))
    assert rssi is not None
    assert rssi.entity_category is EntityCategory.DIAGNOSTIC
    assert rssi.original_device_class is None  # raw 0-255, not dBm
    summary = tigo.summary()
    # Wh from Tigo, shown in kWh.
    assert value(hass, SID, "production_energy_lifetime") == pytest.approx(
        summary["lifetime_energy_dc"] / 1000
    )
    assert value(hass, SID, "production_power") == summary["last_power_dc"]
    # The system's data age counts from Tigo's own last sample time.
    readings = hass.config_entries.async_get_entry(ENTRY_ID).runtime_data.data.readings
    assert readings[SID].as_of == datetime.fromisoformat(summary["updated_on"])
    as_of = hass.states.get(entity_id(hass, SID, "last_report"))
    assert as_of is not None
    assert float(as_of.state) == data_age(dt_util.utcnow() - readings[SID].as_of)
    problem = registry.async_get_entity_id(
        "binary_sensor", DOMAIN, f"tigo_{SID}_problem"
    )
    assert problem is not None
    problem_state = hass.states.get(problem)
    assert problem_state is not None
    assert problem_state.state == "on"
    # String power is the sum of its panels' newest values.
    string_w = value(hass, f"{SID}_string_11", "production_power")
    assert string_w == pytest.approx(
        sum(value(hass, panel(f"A{n}"), "panel_power") for n in range(1, 13)), abs=0.2
    )


@AT_NOON
async def test_exact_panel_values_and_shade(
    hass: HomeAssistant,
    tigo: TigoSimulator,
    freezer: FrozenDateTimeFactory,
    entity_registry_enabled_by_default: None,
) -> None:
    """Each panel shows the simulator's value at its own sample time."""
    await setup(hass, make_entry(tigo))
    readings = hass.config_entries.async_get_entry(ENTRY_ID).runtime_data.data.readings
    for label, oid in OBJECT_IDS.items():
        stamp = hass.states.get(entity_id(hass, panel(label), "last_report"))
        assert stamp is not None
        sampled = readings[panel(label)].as_of
        assert sampled is not None
        when = sampled.astimezone(ZONE).replace(tzinfo=None)
        assert NOON - sampled >= timedelta(minutes=15)
        assert float(stamp.state) >= 15  # the minutes arrive late, and show it
        assert value(hass, panel(label), "panel_power") == tigo.panel_w(oid, when), (
            label
        )
    a4, a5, a6 = (value(hass, panel(x), "panel_power") for x in ("A4", "A5", "A6"))
    assert a5 == pytest.approx(0.4 * (a4 + a6) / 2, abs=0.1)
    assert 30 < value(hass, panel("B2"), "input_voltage") < 40
    assert 120 <= value(hass, panel("B2"), "rssi") <= 147


@AT_NOON
async def test_energy_counter_never_dips_on_a_stale_reread(
    hass: HomeAssistant, tigo: TigoSimulator, freezer: FrozenDateTimeFactory
) -> None:
    await setup(hass, make_entry(tigo))
    lifetime = value(hass, SID, "production_energy_lifetime")
    today = value(hass, SID, "production_energy_today")
    await tick(hass, freezer, timedelta(minutes=20))
    higher = value(hass, SID, "production_energy_lifetime")
    assert higher > lifetime
    tigo.stale_summary = True  # the cloud answers from half an hour ago
    await tick(hass, freezer, timedelta(minutes=20))
    assert value(hass, SID, "production_energy_lifetime") == higher
    assert value(hass, SID, "production_energy_today") >= today
    tigo.stale_summary = False
    await tick(hass, freezer, timedelta(minutes=25))
    assert value(hass, SID, "production_energy_lifetime") > higher


@AT_NOON
async def test_lapsed_premium_raises_a_repair(
    hass: HomeAssistant,
    tigo: TigoSimulator,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """402 after setup: Premium values go unknown and a repair explains it."""
    entry = make_entry(tigo)
    await setup(hass, entry)
    tigo.set_premium(PREMIUM[0], False)
    await tick(hass, freezer, timedelta(minutes=20))
    issue = issue_registry.async_get_issue(DOMAIN, f"alert_no_api_access_{ENTRY_ID}")
    assert issue is not None
    assert issue.translation_key == "alert"
    assert "no API access" in (issue.translation_placeholders or {})["message"]
    power = hass.states.get(entity_id(hass, SID, "production_power"))
    assert power is not None
    assert power.state == "unknown"
    tigo.set_premium(PREMIUM[0], True)
    freezer.tick(timedelta(hours=6))
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert (
        issue_registry.async_get_issue(DOMAIN, f"alert_no_api_access_{ENTRY_ID}")
        is None
    )


async def _count_changes(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    minutes: int = 60,
    *,
    ages: bool = True,
) -> int:
    """State changes of sensors over `minutes` (`ages`: data-age sensors too)."""
    changes: list[str] = []

    def listen(event: Event[Any]) -> None:
        entity = event.data["entity_id"]
        if entity.split(".")[0] not in ("sensor", "binary_sensor"):
            return
        if ages or not entity.endswith(("_data_age", "_update_age")):
            changes.append(entity)

    unsub = hass.bus.async_listen(EVENT_STATE_CHANGED, listen)
    for _ in range(minutes):
        await tick(hass, freezer, timedelta(minutes=1))
    unsub()
    return len(changes)


@AT_NOON
async def test_recorder_load_per_hour(
    hass: HomeAssistant, tigo: TigoSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """A 24-panel Premium system writes about a hundred states an hour by day.

    Figures for the report: requests and state changes in one daylight hour.
    """
    await setup(hass, make_entry(tigo))
    await tick(hass, freezer, timedelta(minutes=3))  # 12:03: a quarter's first poll
    before = len(tigo.calls)
    changes = await _count_changes(hass, freezer, minutes=120) / 2
    requests = (len(tigo.calls) - before) / 2
    print(f"premium day: {requests} requests, {changes} state changes per hour")
    assert requests <= 8 * 4 + 1
    assert 24 * 3 <= changes <= 24 * 4 + 60


@AT_NOON
async def test_recorder_load_per_hour_free(
    hass: HomeAssistant, tigo: TigoSimulator, freezer: FrozenDateTimeFactory
) -> None:
    await setup(hass, make_entry(tigo, "app"))
    await tick(hass, freezer, timedelta(minutes=3))  # 12:03: a quarter's first poll
    before = len(tigo.calls)
    changes = await _count_changes(hass, freezer, minutes=120) / 2
    requests = (len(tigo.calls) - before) / 2
    print(f"app day: {requests} requests, {changes} state changes per hour")
    assert requests <= 2 * 4 + 2
    assert 24 * 3 <= changes <= 24 * 4 + 60


@AT_NOON
@pytest.mark.parametrize("kind", ["premium", "app"])
async def test_night_costs_nothing(
    hass: HomeAssistant, tigo: TigoSimulator, freezer: FrozenDateTimeFactory, kind: str
) -> None:
    """After dusk one last update, then nothing until after sunrise.

    Only the data-age sensors move (coarsely) as the last sample grows old.
    """
    freezer.move_to(datetime(2026, 6, 22, 5, 0, tzinfo=UTC))  # 22:00 local
    await setup(hass, make_entry(tigo, kind))
    a1 = hass.states.get(entity_id(hass, panel("A1"), "panel_power"))
    assert a1 is not None
    assert a1.state == "0.0"
    before = len(tigo.calls)
    ages = await _count_changes(hass, freezer, minutes=60)
    changes = await _count_changes(hass, freezer, minutes=60, ages=False)
    print(f"{kind} night: {len(tigo.calls) - before} requests, {ages} changes in 1 h")
    assert len(tigo.calls) == before
    assert changes == 0
    assert ages <= 5 * 6  # a few devices' ages, in 15-minute steps


@AT_NOON
async def test_layout_websocket_and_diagnostics(
    hass: HomeAssistant,
    tigo: TigoSimulator,
    freezer: FrozenDateTimeFactory,
    hass_ws_client: WebSocketGenerator,
    hass_client: ClientSessionGenerator,
) -> None:
    entry = make_entry(tigo)
    assert await async_setup_component(hass, "diagnostics", {})
    await setup(hass, entry)
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "sungaze/layout", "entry_id": ENTRY_ID})
    reply = await client.receive_json()
    assert reply["success"]
    layout = reply["result"]["layout"]
    assert len(layout["panels"]) == 24
    assert layout["panels"][OBJECT_IDS["A5"]]["label"] == "A5"
    assert layout["panels"][OBJECT_IDS["A5"]]["device"] == panel("A5")
    a5 = dr.async_get(hass).async_get(layout["panels"][OBJECT_IDS["A5"]]["device_id"])
    assert a5 is not None
    assert a5.name == "A5"
    inverter = layout["inverters"][0]
    assert [m["strings"][0]["label"] for m in inverter["mppts"]] == [
        "String A",
        "String B",
    ]
    await client.send_json_auto_id({"type": "sungaze/layout", "entry_id": "nope"})
    assert not (await client.receive_json())["success"]
    result = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(result)
    assert PREMIUM[1] not in text
    assert PREMIUM[0] not in text
    assert "04C05B800ACE" not in text
    assert len(result["layout"]["panels"]) == 24
    assert result["connector"]["account"] == "premium"
    # The layout is never a state attribute.
    for state in hass.states.async_all():
        assert "layout" not in state.attributes
    await hass.config_entries.async_unload(entry.entry_id)
    await client.send_json_auto_id({"type": "sungaze/layout", "entry_id": ENTRY_ID})
    assert not (await client.receive_json())["success"]
