"""Vendor connectors: plain client code with no Home Assistant imports."""

from __future__ import annotations

from .base import Connector
from .enphase import EnphaseConnector
from .solaredge import SolarEdgeConnector

CONNECTORS: dict[str, type[Connector]] = {
    EnphaseConnector.vendor: EnphaseConnector,
    SolarEdgeConnector.vendor: SolarEdgeConnector,
}
