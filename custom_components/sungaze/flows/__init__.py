"""Each vendor's config-flow steps, one module per vendor (see `base.py`)."""

from __future__ import annotations

from .base import SungazeFlowBase
from .generac import GeneracFlow
from .home import HomeFlow

# HomeFlow first: its step reads `self.vendor`, which the first class in the
# combined flow decides.
FLOWS: tuple[type[SungazeFlowBase], ...] = (HomeFlow, GeneracFlow)
"""Every vendor's flow class; `config_flow.SungazeConfigFlow` combines them."""

FLOWS_BY_VENDOR: dict[str, type[SungazeFlowBase]] = {f.vendor: f for f in FLOWS}
