"""EG4 Electronics / Luxpower cloud monitor ("WManage"), monitor-account login.

Library choice: `pylxpweb` (0.9.40, async aiohttp + pydantic, takes an injected
session and base URL, its pins fit HA 2026.10.4's constraints) was weighed and
not used. It sends its own requests with its own cache, back-off sleeps (up to
60 s inside a call) and login retries, so they cannot pass through our
`RequestLimiter`; every login also lists plants and devices (3 requests); it
re-logs in without clearing the cookie jar (the cause of eg4_web_monitor #34)
and not on `success:false`; its `LoginResponse` model requires some thirty
fields, the kind of strictness that broke logins before (eg4_web_monitor
#256/#258); it is 54k lines (local Modbus, dongle, CLI) marked Alpha, classified
for Python 3.12/3.13 only. This client is small and hand-written instead.

Layout: `tables` (portals, endpoints, scales, mode codes), `client` (the
portal session and its failure handling), `parse` (answers into the model),
`history` (the daily month column, for the first-setup backfill),
`connector` (which requests an update makes; the snapshot; the history).

History days are the plant's days (the portal's); the backfill spreads them
over Home Assistant's local day of the same date, which is the same day when
Home Assistant's time zone is the plant's (the portal names no zone).

Readings per inverter (runtime + energy): PV power per string and total, AC
output, grid power (+ import), load, battery power (+ discharge), SOC, battery
voltage/temperature (`tBat` 127 means "no BMS"), the bank current from the
battery endpoint, operating mode, frequency, grid voltage, inner temperature,
and today/lifetime counters (0.1 kWh). Battery modules are their own devices;
modules missing from one answer (>4 packs rotate) are carried for an hour. A
station with two or more inverters gets system totals: powers summed over its
inverters, counters from the parallel-group endpoint (standalone inverters'
own counters added).

Lost devices: `lost: true` means the portal mirrors frozen values (and omits
live fields); the readings are published offline with their last upload time.

UNCONFIRMED readings chosen here: `serverTime` and a module's `lastUpdateTime`
are the upload time in UTC (captures show `deviceTime` exactly the plant's
offset away); a module's `current` is + while charging (the only capture shows
a positive value with the bank charging), published + discharge like battery
power; the GridBOSS legs' active power is + import (pylxpweb's register
definition); a station's grid and load powers are the sums over its inverters;
a module's temperature is its warmest cell. The portal gives time zones only
as offsets ("GMT -8"), so daily counters use Home Assistant's time zone.
"""

from __future__ import annotations

from .connector import EG4Connector
from .tables import CONF_STATION_IDS, DEFAULT_URL, DERIVED, MODE_CODES, PORTALS, SCALES

__all__ = [
    "CONF_STATION_IDS",
    "DEFAULT_URL",
    "DERIVED",
    "MODE_CODES",
    "PORTALS",
    "SCALES",
    "EG4Connector",
]
