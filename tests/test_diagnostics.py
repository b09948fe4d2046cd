"""Diagnostics: useful, and free of secrets and identities."""

import json

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from .conftest import SITE_ID, SOLAREDGE_KEY
from .simulators.solaredge import SolarEdgeSimulator

SECRETS = (
    SOLAREDGE_KEY,
    SITE_ID,
    "7E1234AB-9C",
    "7F0A21C3-B1",
    "M-GRID-01",
    "1 Main St",
)


async def test_diagnostics_are_redacted(
    hass: HomeAssistant,
    init_solaredge: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    """Keys, site ids, serials and addresses never appear; the data does."""
    result = await get_diagnostics_for_config_entry(hass, hass_client, init_solaredge)
    text = json.dumps(result)
    for secret in SECRETS:
        assert secret not in text
    assert result["status"] == "ok"
    assert result["entry"]["data"]["api_key"] == "**REDACTED**"
    kinds = sorted(device["kind"] for device in result["snapshot"]["devices"])
    assert kinds == ["battery", "inverter", "meter", "site"]
    assert result["snapshot"]["readings"]["site_1"]["values"]["production_power"] > 0
    assert result["connector"]["month_used"] > 0


async def test_diagnostics_after_failed_setup(
    phoenix: HomeAssistant,
    hass_client: ClientSessionGenerator,
    solaredge: SolarEdgeSimulator,
    solaredge_entry: MockConfigEntry,
) -> None:
    """Diagnostics explain a failed setup instead of being unavailable."""
    solaredge.offline = True
    solaredge_entry.add_to_hass(phoenix)
    await phoenix.config_entries.async_setup(solaredge_entry.entry_id)
    result = await get_diagnostics_for_config_entry(
        phoenix, hass_client, solaredge_entry
    )
    assert result["status"] == "disconnected"
    assert "unreachable" in result["last_exception"]
    assert "snapshot" not in result
    assert SOLAREDGE_KEY not in json.dumps(result)
