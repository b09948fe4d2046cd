"""CPS (Chint Power Systems) string inverters, over Modbus or MQTT.

`common` holds what both transports share (frames, the inverter model, the
connector base); `modbus` and `mqtt` are the transports and import only
`common`. This module is the registry entry: `CpsConnector.from_config` builds
the transport an entry names. The old modules `connectors.cps_modbus` and
`connectors.cps_mqtt` became `cps.modbus` and `cps.mqtt`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from ..base import Connector, RequestLimiter
from .common import (
    MANUFACTURER,
    NIGHTLY_LIFETIME_FIRMWARE,
    PRODUCING,
    REMOTE_OFF,
    REMOTE_ON,
    WORK_MODES,
    CpsBase,
    CpsFrame,
    CpsInverter,
    LifetimeStitcher,
    LogOnce,
    family_texts,
    found_inverter,
    site_device,
    site_totals,
)
from .modbus import CpsModbusConnector
from .mqtt import CpsMqttConnector

__all__ = [
    "MANUFACTURER",
    "NIGHTLY_LIFETIME_FIRMWARE",
    "PRODUCING",
    "REMOTE_OFF",
    "REMOTE_ON",
    "WORK_MODES",
    "CpsBase",
    "CpsConnector",
    "CpsFrame",
    "CpsInverter",
    "CpsModbusConnector",
    "CpsMqttConnector",
    "LifetimeStitcher",
    "LogOnce",
    "family_texts",
    "found_inverter",
    "site_device",
    "site_totals",
]

_TRANSPORTS: dict[str, type[CpsModbusConnector] | type[CpsMqttConnector]] = {
    "modbus": CpsModbusConnector,
    "mqtt": CpsMqttConnector,
}


class CpsConnector(CpsBase):
    """Registry entry for CPS: builds the Modbus or the MQTT connector."""

    @classmethod
    def from_config(
        cls,
        session: aiohttp.ClientSession,
        data: Mapping[str, Any],
        limiter: RequestLimiter | None = None,
    ) -> Connector:
        """Dispatch on `data["transport"]`; neither transport uses the HTTP session."""
        transport = data.get("transport", "modbus")
        if (builder := _TRANSPORTS.get(transport)) is None:
            raise ValueError(f"Unknown CPS transport {transport!r}")
        return builder.from_config(session, data, limiter)
