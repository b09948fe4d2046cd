"""EG4 daily history: the portal's month column, parsed; no I/O here.

`POST /WManage/api/inverterChart/monthColumn` (form `serialNum`, `year`,
`month`) is listed in the notes (A.4, DOC) without a response shape. The shape
read here is UNCONFIRMED, from a public write-up of the endpoint:
`{"success": true, "data": [{"day": 29, "ePv1Day": 0, "ePv2Day": 0,
"ePv3Day": 18, "eInvDay": 23, "eRecDay": 22, "eChgDay": 25, "eDisChgDay": 11,
"eEpsDay": 0, "eToGridDay": 41, "eToUserDay": 338, "eGenDay": 109,
"eConsumptionDay": 407}, ...]}`, one element per day of the month. That
write-up says kWh; the sizes (407 kWh of consumption a day) and every other
portal energy field (notes A.6-A.8) say 0.1 kWh, so the values are taken as
0.1 kWh (UNCONFIRMED).

Mapping onto the lifetime counters the live readings carry (`tables.SCALES`
energy): `ePv{n}Day` summed over the inputs present -> production (Yielding),
`eChgDay`/`eDisChgDay` -> battery charge/discharge, `eToGridDay` -> grid export,
`eToUserDay` -> grid import, `eConsumptionDay` -> consumption (Usage). A field
absent or `""` is skipped, never taken as 0; `eInvDay`, `eRecDay`, `eEpsDay` and
`eGenDay` feed no counter the connector exposes and are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from ...model import as_float
from .tables import MONTH_FIELDS, MONTH_SCALE

type Month = dict[int, dict[str, float]]
"""Day of the month -> lifetime metric -> Wh of that day."""


def month_column(payload: Mapping[str, Any]) -> Month | None:
    """The days of one month-column answer; None when the shape is not the expected one."""
    rows = payload.get("data")
    if not isinstance(rows, list):
        return None
    days: Month = {}
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        number = as_float(row.get("day"))
        if number is None or not 1 <= number <= 31 or number != int(number):
            continue
        figures: dict[str, float] = {}
        for metric, wires in MONTH_FIELDS.items():
            parts = [as_float(row.get(wire)) for wire in wires]
            present = [part for part in parts if part is not None]
            if present and all(part >= 0 for part in present):
                figures[metric] = round(sum(present) * MONTH_SCALE, 6)
        days[int(number)] = figures
    return days


def create_date(raw: object) -> date | None:
    """A plant's `createDate` (`YYYY-MM-DD`, maybe with a time); None if unreadable."""
    if not isinstance(raw, str):
        return None
    try:
        return date.fromisoformat(raw.strip()[:10])
    except ValueError:
        return None
