"""Constants for Sungaze."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

DOMAIN: Final = "sungaze"
LOGGER = logging.getLogger(__package__)

CONF_VENDOR: Final = "vendor"
CONF_SITE_ID: Final = "site_id"
CONF_MIN_INTERVAL: Final = "min_interval"
"""Option: the shortest time between updates the user wants, in minutes."""

VENDORS: Final = ("eg4", "srp", "enphase", "solaredge", "generac", "tigo", "cps")
VENDOR_NAMES: Final = {
    "eg4": "EG4",
    "srp": "SRP",
    "enphase": "Enphase",
    "solaredge": "SolarEdge",
    "generac": "Generac PWRcell",
    "tigo": "Tigo",
    "cps": "CPS (Chint)",
    "home": "Sungaze",
}

MAX_INTERVAL: Final = timedelta(hours=3)
QUOTA_ISSUE_AFTER: Final = 3
"""Consecutive rate-limit refusals before a repair issue is raised."""
