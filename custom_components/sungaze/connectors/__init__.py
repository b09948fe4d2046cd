"""Vendor connectors: plain client code with no Home Assistant imports."""

from __future__ import annotations

from .base import Connector
from .eg4 import EG4Connector
from .solaredge import SolarEdgeConnector

CONNECTORS: dict[str, type[Connector]] = {
    EG4Connector.vendor: EG4Connector,
    SolarEdgeConnector.vendor: SolarEdgeConnector,
}
