"""The EG4 / Luxpower portal's tables: portals, endpoints, scales, mode codes.

Every EG4 scale (notes A.7-A.11) is in `SCALES`; quantities made of several
fields in `DERIVED`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
import re
from typing import Final

DEFAULT_URL: Final = "https://monitor.eg4electronics.com"
PORTALS: Final[Mapping[str, str]] = {
    DEFAULT_URL: "EG4 Electronics (monitor.eg4electronics.com)",
    "https://us.luxpowertek.com": "Luxpower US (us.luxpowertek.com)",
    "https://na.luxpowertek.com": "Luxpower North America (na.luxpowertek.com)",
    "https://eu.luxpowertek.com": "Luxpower Europe (eu.luxpowertek.com)",
    "https://sea.luxpowertek.com": "Luxpower South-East Asia (sea.luxpowertek.com)",
    "https://af.luxpowertek.com": "Luxpower Africa (af.luxpowertek.com)",
    "https://server.luxpowertek.com": "Luxpower global (server.luxpowertek.com)",
}
CONF_STATION_IDS: Final = "station_ids"
BATTERY_EVERY: Final = timedelta(minutes=5)
MODULE_GRACE: Final = timedelta(hours=1)

INVERTER: Final = 6
GRIDBOSS: Final = 9
HEADERS: Final = {
    "Accept": "application/json",
    "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
}
LOGIN_FORM: Final = re.compile(r"password|login", re.IGNORECASE)
"""What tells the portal's login page (its session-expired answer) from other pages."""
TRANSIENT: Final = ("DATAFRAME_TIMEOUT", "TIMEOUT", "BUSY", "COMMUNICATION_ERROR")
NO_BMS_TEMPERATURE: Final = 127.0
THREE_PHASE: Final = 3.0
PARALLEL_MIN: Final = 2
SLOT_LABEL: Final = re.compile(r"Battery_ID_\d+", re.IGNORECASE)
"""What the portal sends as a module's `batterySn`: a slot label, not a serial."""

LOGIN: Final = "/WManage/api/login"
OVERVIEW: Final = "/WManage/api/inverterOverview/list"
RUNTIME: Final = "/WManage/api/inverter/getInverterRuntime"
ENERGY: Final = "/WManage/api/inverter/getInverterEnergyInfo"
PARALLEL: Final = "/WManage/api/inverter/getInverterEnergyInfoParallel"
BATTERY: Final = "/WManage/api/battery/getBatteryInfo"
MIDBOX: Final = "/WManage/api/midbox/getMidboxRuntime"
MONTH_COLUMN: Final = "/WManage/api/inverterChart/monthColumn"
PLANTS_VIEWER: Final = "/WManage/web/config/plant/list/viewer"
PLANTS_INSTALLER: Final = "/WManage/web/config/plant/list"
INSTALLER_ROLES: Final = frozenset({"INSTALLER", "I_ASSISTANT"})
"""Roles that must list plants on the installer path (notes A.4)."""

# Every EG4 scale (notes A.7-A.11) in one table: vendor field -> (metric, factor
# to our unit). 0.1 V, 0.01 Hz, 0.1 kWh (x100 -> Wh), 0.01 V module totals, mV
# cells, 0.1 degC cells, 0.1 A module currents.
SCALES: Final[Mapping[str, Mapping[str, tuple[str, float]]]] = {
    "runtime": {
        "ppv": ("production_power", 1.0),
        **{f"ppv{n}": (f"pv_power_{n}", 1.0) for n in range(1, 7)},
        **{f"vpv{n}": (f"pv_voltage_{n}", 0.1) for n in range(1, 7)},
        "vacr": ("grid_voltage_1", 0.1),
        "fac": ("ac_frequency", 0.01),
        "soc": ("battery_state_of_charge", 1.0),
        "vBat": ("battery_voltage", 0.1),
        "tBat": ("battery_temperature", 1.0),
        "tinner": ("temperature", 1.0),
    },
    "runtime_three_phase": {
        "vacs": ("grid_voltage_2", 0.1),
        "vact": ("grid_voltage_3", 0.1),
    },
    "energy": {
        "todayYielding": ("production_energy_today", 100.0),
        "totalYielding": ("production_energy_lifetime", 100.0),
        "todayUsage": ("consumption_energy_today", 100.0),
        "totalUsage": ("consumption_energy_lifetime", 100.0),
        "todayImport": ("grid_import_energy_today", 100.0),
        "totalImport": ("grid_import_energy_lifetime", 100.0),
        "todayExport": ("grid_export_energy_today", 100.0),
        "totalExport": ("grid_export_energy_lifetime", 100.0),
        "todayCharging": ("battery_charge_energy_today", 100.0),
        "totalCharging": ("battery_charge_energy_lifetime", 100.0),
        "todayDischarging": ("battery_discharge_energy_today", 100.0),
        "totalDischarging": ("battery_discharge_energy_lifetime", 100.0),
    },
    "module": {
        "soc": ("battery_state_of_charge", 1.0),
        "soh": ("battery_state_of_health", 1.0),
        "totalVoltage": ("battery_voltage", 0.01),
        "current": ("battery_current", -0.1),  # + charging on the wire
        "batMaxCellVoltage": ("cell_voltage_max", 0.001),
        "batMinCellVoltage": ("cell_voltage_min", 0.001),
        "batMaxCellTemp": ("battery_temperature", 0.1),
        "cycleCnt": ("battery_cycles", 1.0),
    },
    "midbox": {
        "gridL1RmsVolt": ("grid_voltage_1", 0.1),
        "gridL2RmsVolt": ("grid_voltage_2", 0.1),
        "gridFreq": ("ac_frequency", 0.01),
    },
}
# Quantities made of several fields: metric -> (fields added, fields subtracted, factor).
DERIVED: Final[
    Mapping[str, Mapping[str, tuple[tuple[str, ...], tuple[str, ...], float]]]
] = {
    "runtime": {
        "grid_power": (("pToUser",), ("pToGrid",), 1.0),
        "battery_power": (("pDisCharge",), ("pCharge",), 1.0),
        "ac_power": (("pinv",), ("prec",), 1.0),
    },
    "midbox": {
        "grid_power": (("gridL1ActivePower", "gridL2ActivePower"), (), 1.0),
        "consumption_power": (("loadL1ActivePower", "loadL2ActivePower"), (), 1.0),
        "grid_export_energy_today": (("eToGridTodayL1", "eToGridTodayL2"), (), 100.0),
        "grid_export_energy_lifetime": (
            ("eToGridTotalL1", "eToGridTotalL2"),
            (),
            100.0,
        ),
        "grid_import_energy_today": (("eToUserTodayL1", "eToUserTodayL2"), (), 100.0),
        "grid_import_energy_lifetime": (
            ("eToUserTotalL1", "eToUserTotalL2"),
            (),
            100.0,
        ),
        "consumption_energy_today": (("eLoadTodayL1", "eLoadTodayL2"), (), 100.0),
        "consumption_energy_lifetime": (("eLoadTotalL1", "eLoadTotalL2"), (), 100.0),
    },
}
# Month column (daily history): lifetime metric -> the day fields adding up to
# its day's energy, 0.1 kWh (x100 -> Wh). Field names and the 0.1 kWh unit are
# UNCONFIRMED (see `history.py`); PV is the sum of the string inputs present.
MONTH_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "production_energy_lifetime": tuple(f"ePv{n}Day" for n in range(1, 7)),
    "battery_charge_energy_lifetime": ("eChgDay",),
    "battery_discharge_energy_lifetime": ("eDisChgDay",),
    "grid_export_energy_lifetime": ("eToGridDay",),
    "grid_import_energy_lifetime": ("eToUserDay",),
    "consumption_energy_lifetime": ("eConsumptionDay",),
}
MONTH_SCALE: Final = 100.0
MONTHS_KEPT: Final = 36
"""Month columns held in memory (inverter-months); the backfill walks back in order."""

# Firmware-dependent names of the house load, best first.
LOAD_FIELDS: Final = ("consumptionPower", "consumptionPower114", "pLoad170")
# Station totals: summed over inverters.
SUMMED: Final = (
    "production_power",
    "battery_power",
    "grid_power",
    "consumption_power",
)

MODE_CODES: Final[Mapping[int, str]] = {
    0x00: "standby",
    0x01: "fault",
    0x02: "firmware_update",
    0x04: "pv_to_grid",
    0x08: "pv_charging",
    0x0C: "pv_charging_to_grid",
    0x10: "battery_discharging",
    0x11: "standby",
    0x14: "pv_battery_discharging",
    0x20: "ac_charging",
    0x28: "pv_ac_charging",
    0x40: "off_grid_battery",
    0x60: "off_grid_ac_charging",
    0x80: "off_grid_pv",
    0x88: "off_grid_pv_charging",
    0xC0: "off_grid_pv_battery",
}
