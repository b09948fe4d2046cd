"""Vendor connectors: plain client code with no Home Assistant imports."""

from __future__ import annotations

from .base import Connector
from .cps import CpsConnector
from .eg4 import EG4Connector
from .enphase import EnphaseConnector
from .generac import GeneracConnector
from .home import HomeConnector
from .solaredge import SolarEdgeConnector
from .srp import SrpConnector

CONNECTORS: dict[str, type[Connector]] = {
    # Abstract on purpose: its from_config builds the Modbus or the MQTT connector.
    CpsConnector.vendor: CpsConnector,  # type: ignore[type-abstract]
    EG4Connector.vendor: EG4Connector,
    EnphaseConnector.vendor: EnphaseConnector,
    GeneracConnector.vendor: GeneracConnector,
    HomeConnector.vendor: HomeConnector,
    SolarEdgeConnector.vendor: SolarEdgeConnector,
    SrpConnector.vendor: SrpConnector,
}
