"""Each vendor's config-flow steps, one module per vendor (see `base.py`)."""

from __future__ import annotations

from .base import SungazeFlowBase
<<<<<<< HEAD
from .srp import SrpFlow

FLOWS: tuple[type[SungazeFlowBase], ...] = (SrpFlow,)
=======
from .home import HomeFlow

FLOWS: tuple[type[SungazeFlowBase], ...] = (HomeFlow,)
>>>>>>> main
"""Every vendor's flow class; `config_flow.SungazeConfigFlow` combines them."""

FLOWS_BY_VENDOR: dict[str, type[SungazeFlowBase]] = {f.vendor: f for f in FLOWS}
