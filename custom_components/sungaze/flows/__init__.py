"""Each vendor's config-flow steps, one module per vendor (see `base.py`)."""

from __future__ import annotations

from .base import SungazeFlowBase
from .cps import CpsFlow
from .eg4 import EG4Flow
from .enphase import EnphaseFlow
from .generac import GeneracFlow
from .home import HomeFlow
from .solaredge import SolarEdgeFlow
from .srp import SrpFlow

FLOWS: tuple[type[SungazeFlowBase], ...] = (
    CpsFlow,
    EG4Flow,
    EnphaseFlow,
    GeneracFlow,
    SolarEdgeFlow,
    SrpFlow,
    HomeFlow,
)
"""Every vendor's flow class; `config_flow.SungazeConfigFlow` combines them."""

FLOWS_BY_VENDOR: dict[str, type[SungazeFlowBase]] = {f.vendor: f for f in FLOWS}
