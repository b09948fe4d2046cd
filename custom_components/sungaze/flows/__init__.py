"""Each vendor's config-flow steps, one module per vendor (see `base.py`)."""

from __future__ import annotations

from .base import SungazeFlowBase
from .home import HomeFlow
from .tigo import TigoFlow

FLOWS: tuple[type[SungazeFlowBase], ...] = (HomeFlow, TigoFlow)
"""Every vendor's flow class; `config_flow.SungazeConfigFlow` combines them."""

FLOWS_BY_VENDOR: dict[str, type[SungazeFlowBase]] = {f.vendor: f for f in FLOWS}
