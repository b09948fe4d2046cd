"""Vendor connectors: plain client code with no Home Assistant imports."""

from __future__ import annotations

from .base import Connector
from .cps import CpsConnector
from .solaredge import SolarEdgeConnector

CONNECTORS: dict[str, type[Connector]] = {
    # Abstract on purpose: its from_config builds the Modbus or the MQTT connector.
    CpsConnector.vendor: CpsConnector,  # type: ignore[type-abstract]
    SolarEdgeConnector.vendor: SolarEdgeConnector,
}
