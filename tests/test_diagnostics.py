"""Diagnostics: useful, and free of secrets and identities."""

import json
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
    get_diagnostics_for_device,
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


async def test_device_diagnostics_are_redacted(
    hass: HomeAssistant,
    init_solaredge: MockConfigEntry,
    hass_client: ClientSessionGenerator,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Each device shows its own readings, as redacted as the entry's."""
    devices = dr.async_entries_for_config_entry(
        device_registry, init_solaredge.entry_id
    )
    by_kind: dict[str, dict[str, Any]] = {}
    for device in devices:
        result = await get_diagnostics_for_device(
            hass, hass_client, init_solaredge, device
        )
        text = json.dumps(result)
        for secret in SECRETS:
            assert secret not in text
        assert result["entry"]["data"]["api_key"] == "**REDACTED**"
        assert "snapshot" not in result
        by_kind[result["device"]["kind"]] = result
    assert set(by_kind) == {"connection", "site", "inverter", "meter", "battery"}
    inverter = by_kind["inverter"]
    assert inverter["device"]["manufacturer"] == "SolarEdge"
    assert inverter["readings"] is None  # SolarEdge reports power per site
    assert by_kind["site"]["readings"]["values"]["production_power"] > 0
    assert by_kind["connection"]["status"] == "ok"
    assert "readings" not in by_kind["connection"]


async def test_device_diagnostics_of_a_device_gone(
    hass: HomeAssistant,
    init_solaredge: MockConfigEntry,
    hass_client: ClientSessionGenerator,
    device_registry: dr.DeviceRegistry,
) -> None:
    """A registry device the snapshot no longer has says so."""
    device = device_registry.async_get_or_create(
        config_entry_id=init_solaredge.entry_id,
        identifiers={("sungaze", "solaredge_GONE-1")},
    )
    result = await get_diagnostics_for_device(hass, hass_client, init_solaredge, device)
    assert result["device"] == {"alias": None, "note": "not in the latest snapshot"}
    assert result["readings"] is None
    assert result["alerts"] == []


async def test_device_diagnostics_after_failed_setup(
    phoenix: HomeAssistant,
    hass_client: ClientSessionGenerator,
    solaredge: SolarEdgeSimulator,
    solaredge_entry: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Before any data, a device's diagnostics are the entry's state."""
    solaredge.offline = True
    solaredge_entry.add_to_hass(phoenix)
    await phoenix.config_entries.async_setup(solaredge_entry.entry_id)
    device = device_registry.async_get_or_create(
        config_entry_id=solaredge_entry.entry_id,
        identifiers={("sungaze", "solaredge_7E1234AB-9C")},
    )
    result = await get_diagnostics_for_device(
        phoenix, hass_client, solaredge_entry, device
    )
    assert result["status"] == "disconnected"
    assert "device" not in result
    assert SOLAREDGE_KEY not in json.dumps(result)
