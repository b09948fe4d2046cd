"""Alert events: fired when a vendor alert opens and when it clears (SolarEdge)."""

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers.event import async_track_state_change_event
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .conftest import NOON, tick as _tick
from .simulators.solaredge import SolarEdgeSimulator

ALERT = "event.inverter_1_alert"


@pytest.fixture(autouse=True)
def _noon(freezer: FrozenDateTimeFactory) -> None:
    freezer.move_to(NOON)


async def test_alert_fires_on_open_and_clear(
    hass: HomeAssistant,
    init_solaredge: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """One event when the alert opens, one when it closes, none in between."""
    assert hass.states.get(ALERT).state == STATE_UNKNOWN
    fired: list[dict[str, object]] = []

    @callback
    def _record(event: Event) -> None:
        fired.append(dict(event.data["new_state"].attributes))

    async_track_state_change_event(hass, [ALERT], _record)
    alert = solaredge.add_alert(impact=8, alert_type="Isolation fault")
    await _tick(hass, freezer, timedelta(hours=3, minutes=15))
    assert [f["event_type"] for f in fired] == ["alert_started"]
    assert fired[0]["code"] == "Isolation fault"
    assert fired[0]["severity"] == "critical"
    # Still open at the next alert check: nothing new fires.
    await _tick(hass, freezer, timedelta(hours=3, minutes=15))
    assert len(fired) == 1
    solaredge.close_alert(alert["alertId"])
    await _tick(hass, freezer, timedelta(hours=3, minutes=15))
    assert [f["event_type"] for f in fired] == ["alert_started", "alert_cleared"]
    assert fired[1]["code"] == "Isolation fault"


async def test_open_alert_at_start_does_not_fire(
    hass: HomeAssistant,
    solaredge_entry: MockConfigEntry,
    solaredge: SolarEdgeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An alert already open at setup is known, not new; its clearing fires."""
    alert = solaredge.add_alert(impact=8, alert_type="Isolation fault")
    solaredge_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(solaredge_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(ALERT).state == STATE_UNKNOWN
    solaredge.close_alert(alert["alertId"])
    await _tick(hass, freezer, timedelta(hours=3, minutes=15))
    state = hass.states.get(ALERT)
    assert state.attributes["event_type"] == "alert_cleared"
