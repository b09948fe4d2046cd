"""Enphase Monitoring API v4 (Enlighten cloud), reached with OAuth 2.0.

Library choice: `pyenphase` (maintained, async, HA core's) talks to the local
IQ Gateway, not this cloud API. The v4 cloud clients found (`python_enlighten_api`
and similar scripts) are synchronous `requests` code without quota handling, and
no maintained async v4 client is published on PyPI. So this is a small
hand-written aiohttp client. OAuth itself is not hand-written: Home Assistant's
OAuth helper owns the grant, and this connector only asks a `TokenProvider` for
a valid access token.

Every call carries two credentials: `?key=` (the application's API key) and
`Authorization: Bearer` (the homeowner's access token). A 401 on a core endpoint
(`/systems`, `/summary`, `/devices`) asks the provider for a fresh token once and
retries once; a second 401 means the grant is gone. A 401 on any other endpoint
is how Enphase says "not in your plan" (the Watt plan answers 401, not 403, on
device-level data): that feature is dropped for the day with a note in the
snapshot, and never becomes a re-authentication. "API Key -Client mismatch" is
an auth failure without a refresh: the key belongs to another application.

Budget. The plan (options) sets the quota: Watt 10/minute and a hard 1,000 a
month; Kilowatt 50/minute and 50,000; Megawatt 100/minute and 300,000; Partner
300/minute and its 10,000 included hits (more is billed, so it is not planned
for). Calls are grouped by how fast their data moves:

* every update: `/summary` (production power, today, lifetime, status, last
  report) and, with a consumption meter or battery, `/latest_telemetry`
  (consumption, battery and derived grid power);
* the energy group: battery state of charge (`/telemetry/battery`) and the
  daily series `/battery_lifetime`, `/consumption_lifetime`,
  `/energy_import_lifetime`, `/energy_export_lifetime`, which give both today's
  running total (the last element, with `end_date` = today) and, summed, the
  lifetime counter;
* micro-inverters: `/systems/inverters_summary_by_envoy_or_site` (power and
  lifetime energy per micro; System Details access, so on every plan) and, on
  paid plans, `/devices/micros/telemetry` for fresher 5-minute power;
* events: `/open_events` and `/open_alarms`, names from `/systems/event_types`
  (fetched once, only when an unknown event type shows up);
* daily: `/systems` and `/devices` (inventory).

On Watt the energy group runs every 12 hours, the micro-inverters every 4 and
events once a day; the rest of the month's budget goes to the every-update
calls (a simulated June in Phoenix: a full system with meters and a battery
updates about 6 times a day, a PV-only one about 21 times); paid plans run
every group on every update. A gateway uploads every 15 minutes (every 6
hours on cellular), so a system whose next upload is not due yet costs
nothing: its last readings are kept. Groups that would not fit in the current minute window
(the setup burst, a new day's inventory) are postponed to a catch-up update
just after the window, rather than waited for.

History (first-setup backfill, `history.py`): the last 7 days hourly from
week-long telemetry windows (one request per endpoint), every older day as a
day total from the daily `*_lifetime` series (one request per series), for the
same counters the live readings carry.

UNCONFIRMED readings chosen here (see the research notes):

* `/summary.energy_lifetime` counts up to the day before `summary_date` (the
  spec's wording), so the running lifetime is `energy_lifetime + energy_today`.
  The connector checks this on live data: when, within one day, the lifetime
  grows exactly as much as today's energy, it switches to the other reading.
* A `*_lifetime` series requested with `end_date` = today ends with today's
  running total (the spec only documents the default end, yesterday).
* `/latest_telemetry` battery power is signed from `operational_mode`
  (Charging is negative, Discharging positive, per our convention), whatever
  the sign of `power`; the spec shows both signs.
* Consumption meters report the house load; grid power is then derived from
  the energy balance: grid = consumption - production - battery discharge.
* Telemetry asked with `start_date` and `granularity=week` covers 7 local
  days from that date's midnight (meter, battery, import/export; §4 lists
  `week` for meter and battery telemetry). Micro telemetry is asked per day.
* Open alarm severities 1-2 are critical, 3 a warning, 4 and above info; open
  events without an alarm are warnings.
"""

from .connector import EnphaseConnector
from .parse import DailySeries
from .plans import CONF_PLAN, DEFAULT_PLAN, PLANS, EnphasePlan
from .tables import DEFAULT_URL

__all__ = [
    "CONF_PLAN",
    "DEFAULT_PLAN",
    "DEFAULT_URL",
    "PLANS",
    "DailySeries",
    "EnphaseConnector",
    "EnphasePlan",
]
