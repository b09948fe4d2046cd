"""Constants for Sungaze."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from homeassistant.util.hass_dict import HassKey

if TYPE_CHECKING:
    from .connectors.base import RequestBudget, RequestLimiter

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

QUOTA_ISSUE_AFTER: Final = 3
"""Consecutive rate-limit refusals before a repair issue is raised."""
FAILING_ISSUE_AFTER: Final = 6
"""Consecutive failed updates (backing off meanwhile) before a repair issue."""

# What lives in hass.data for as long as HA runs (beyond one entry's setup).
LIMITERS: HassKey[dict[str, RequestLimiter]] = HassKey(DOMAIN)
"""The shared request limiter of each quota (credential), by budget key."""
BUDGETS: HassKey[dict[str, RequestBudget]] = HassKey(f"{DOMAIN}_budgets")
"""The budget each shared limiter was last configured with."""
