"""Enphase developer plans: quotas and how Sungaze spends each."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
import math
from typing import Final

from ..base import RequestBudget

CONF_PLAN: Final = "plan"
"""Option: the Enphase developer plan of the application."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EnphasePlan:
    """What an Enphase developer plan allows, and how Sungaze spends it."""

    name: str
    budget: RequestBudget
    device_level: bool
    """Device Level Monitoring (per-micro telemetry) is included."""
    energy_every: timedelta
    micros_every: timedelta
    events_every: timedelta


EVERY_UPDATE: Final = timedelta(0)
PLANS: Final[Mapping[str, EnphasePlan]] = {
    plan.name: plan
    for plan in (
        EnphasePlan(
            name="watt",
            budget=RequestBudget(per_minute=10, per_month=1000, reserve=0.1),
            device_level=False,
            energy_every=timedelta(hours=12),
            micros_every=timedelta(hours=4),
            events_every=timedelta(hours=24),
        ),
        EnphasePlan(
            name="kilowatt",
            budget=RequestBudget(per_minute=50, per_month=50_000, reserve=0.1),
            device_level=True,
            energy_every=EVERY_UPDATE,
            micros_every=EVERY_UPDATE,
            events_every=timedelta(hours=1),
        ),
        EnphasePlan(
            name="megawatt",
            budget=RequestBudget(per_minute=100, per_month=300_000, reserve=0.1),
            device_level=True,
            energy_every=EVERY_UPDATE,
            micros_every=EVERY_UPDATE,
            events_every=timedelta(hours=1),
        ),
        EnphasePlan(
            name="partner",
            budget=RequestBudget(per_minute=300, per_month=10_000, reserve=0.1),
            device_level=True,
            energy_every=EVERY_UPDATE,
            micros_every=EVERY_UPDATE,
            events_every=timedelta(hours=1),
        ),
    )
}
DEFAULT_PLAN: Final = "watt"


def runs(every: timedelta, active_hours: int) -> int:
    """Runs of a group in a day's active hours: the first update's, then each period."""
    return math.floor(timedelta(hours=active_hours) / every) + 1
