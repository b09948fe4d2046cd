"""Enphase constants: cadences, page sizes, units and the status table."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

DEFAULT_URL: Final = "https://api.enphaseenergy.com/api/v4"
UPLOAD_EVERY: Final = timedelta(minutes=15)
CELLULAR_UPLOAD_EVERY: Final = timedelta(hours=6)
UPLOAD_GRACE: Final = timedelta(minutes=2)
SUMMARY_PAGE: Final = 100
MICROS_PAGE: Final = 20
KEEP_DAYS: Final = 2
"""Days a lifetime series keeps re-fetching, for late (cellular) uploads."""
KNOWN_EVENTS: Final = {28: "Gateway not reporting"}
POWER_UNITS: Final = {"W": 1.0, "KW": 1e3, "MW": 1e6}
ENERGY_UNITS: Final = {"WH": 1.0, "KWH": 1e3, "MWH": 1e6}
STATUSES: Final = {
    "normal": "normal",
    "storage_idle": "normal",
    "comm": "offline",
    "no_data": "offline",
    "retired": "offline",
    "deactivated": "offline",
    "not_monitored": "offline",
    "unused": "offline",
    "disabled": "offline",
    "power": "error",
    "micro": "warning",
    "meter": "warning",
    "meter_issue": "warning",
    "battery": "warning",
    "encharge": "warning",
    "encharge_issue": "warning",
    "enpower": "warning",
    "enpower_issue": "warning",
    "rma": "warning",
}
BATTERY_KEYS: Final = ("encharges", "acbs")
CORE: Final = "core"
