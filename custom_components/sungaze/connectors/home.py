"""The whole home: one view across a home's Sungaze entries.

The Home makes no vendor request. The HA layer hands it every member entry's
newest snapshot (`member_update`), and it pushes one combined snapshot with a
single Home device:

- solar power and battery power: the members' sums (`site_total` per member,
  so a site device and its inverters are never both counted);
- grid power: from one member only, the grid meter — the one the user chose,
  else the first member (by title) that measures grid power — never summed,
  because two vendors often see the same meter;
- consumption: the grid member's measured consumption when it has a
  consumption meter and is the only member; otherwise derived from the
  balance (solar + grid + battery) and published as `derived_consumption_power`;
- battery state of charge: weighted by each battery's capacity when every
  battery's capacity is known (stored energy / state of charge), else the
  plain mean of the batteries;
- self-sufficiency and self-consumption (%), from the power balance;
- lifetime energies (solar, grid import/export, battery charge/discharge):
  the sum of each member's increase since it joined the Home. Each member's
  counter passes a `CounterGuard` first (glitches held back); a member that is
  unavailable keeps its last value, and one that leaves keeps what it added,
  so the totals never dip and never jump.

Underperformance: each day the Home records every member's solar energy per
kWp of peak power (the vendor's peak power, else the Home's options). A day
counts as sunny when the best member made at least `SUNNY_YIELD` kWh/kWp. A
member whose yield on `UNDERPERFORMING_DAYS` of the last `WINDOW_DAYS` sunny
days, including the latest, was below `UNDERPERFORMING_RATIO` of the median of
the others raises an alert with the figures; one cloudy or odd day never does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from statistics import median
from typing import Any, ClassVar, override
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp

from ..model import (
    Alert,
    CounterGuard,
    CounterKind,
    Device,
    DeviceKind,
    Readings,
    Severity,
    Site,
    Snapshot,
)
from .base import (
    AccountInfo,
    Connector,
    Member,
    PollCost,
    RequestBudget,
    RequestLimiter,
)

CONF_HOME_ID = "home_id"
CONF_MEMBERS = "members"
"""Option: entry ids of the members; absent means every Sungaze entry."""
CONF_GRID_MEMBER = "grid_member"
"""Option: entry id of the member that measures the grid; absent means automatic."""
CONF_PEAK_POWER = "peak_power"
"""Option: {entry id: kWp} for members whose vendor gives no peak power."""
CONF_TIME_ZONE = "time_zone"

LIFETIME_KEYS = (
    "production_energy_lifetime",
    "grid_import_energy_lifetime",
    "grid_export_energy_lifetime",
    "battery_charge_energy_lifetime",
    "battery_discharge_energy_lifetime",
)
_GRID_KEYS = frozenset({"grid_import_energy_lifetime", "grid_export_energy_lifetime"})
SUNNY_YIELD = 2.0
"""kWh per kWp the best array must make for a day to count (clear days give 4-7)."""
UNDERPERFORMING_RATIO = 0.8
UNDERPERFORMING_DAYS = 3
WINDOW_DAYS = 7
_KEEP_DAYS = 21
_MIN_SOC_FOR_CAPACITY = 5.0


_SUMMED = (
    "production_power",
    "battery_power",
    "grid_power",
    "consumption_power",
    "production_energy_today",
    *LIFETIME_KEYS,
)


@dataclass(frozen=True, slots=True)
class _Summary:
    """What the Home needs of one member snapshot, computed once per update."""

    totals: dict[str, float]
    """`site_total` of every summed key the member reports."""
    levels: tuple[tuple[float, float | None], ...]
    """Each battery's charge level (%) and capacity (Wh) when known."""
    fetched_at: datetime
    peak_kw: float | None


def _summarize(snapshot: Snapshot) -> _Summary:
    """One pass over a member's readings (what `site_total` gives, per key)."""
    sites: dict[str, float] = {}
    others: dict[str, float] = {}
    levels: list[tuple[float, float | None]] = []
    has_battery = any(d.kind is DeviceKind.BATTERY for d in snapshot.devices.values())
    for device_id, readings in snapshot.readings.items():
        if (device := snapshot.devices.get(device_id)) is None:
            continue
        values = readings.values
        into = sites if device.kind is DeviceKind.SITE else others
        for key in _SUMMED:
            if isinstance(value := values.get(key), int | float):
                into[key] = into.get(key, 0.0) + float(value)
        soc = values.get("battery_state_of_charge")
        if not isinstance(soc, int | float) or (
            device.kind is DeviceKind.SITE and has_battery
        ):
            continue  # a site's level repeats its batteries'
        stored = values.get("battery_remaining_energy")
        capacity = (
            float(stored) / (float(soc) / 100)
            if isinstance(stored, int | float) and soc >= _MIN_SOC_FOR_CAPACITY
            else None
        )
        levels.append((float(soc), capacity))
    peaks = [s.peak_power_w for s in snapshot.sites.values() if s.peak_power_w]
    return _Summary(
        totals={**others, **sites},
        levels=tuple(levels),
        fetched_at=snapshot.fetched_at,
        peak_kw=sum(peaks) / 1000 if peaks else None,
    )


class HomeConnector(Connector):
    """Combines member snapshots into one Home snapshot (no requests)."""

    vendor: ClassVar[str] = "home"
    pushes: ClassVar[bool] = True
    follows_members: ClassVar[bool] = True
    dirty: bool
    budget: ClassVar[RequestBudget] = RequestBudget()

    def __init__(
        self,
        *,
        home_id: str,
        name: str,
        members: tuple[str, ...] | None,
        grid_member: str | None,
        peak_power_kw: Mapping[str, float],
        time_zone: str | None,
        limiter: RequestLimiter | None = None,
    ) -> None:
        """Set up an empty Home; members arrive through `member_update`."""
        super().__init__(None, limiter=limiter)
        self.home_id = home_id
        self.name = name
        self.members = members
        self.grid_member = grid_member
        self.peak_power_kw = dict(peak_power_kw)
        self._tz: tzinfo = UTC
        try:
            if time_zone:
                self._tz = ZoneInfo(time_zone)
        except ZoneInfoNotFoundError:
            pass
        self._titles: dict[str, str] = {}
        self._latest: dict[str, _Summary] = {}
        self._loaded: set[str] = set()
        self._guards: dict[tuple[str, str], CounterGuard] = {}
        self._joined: dict[str, dict[str, float]] = {}
        self._base: dict[str, float] = dict.fromkeys(LIFETIME_KEYS, 0.0)
        self._published: set[str] = set()
        """Counters shown once stay shown, even when no member reports them now."""
        self._yields: dict[str, dict[str, float]] = {}
        """Per member: {local date: solar kWh that day (the day's highest reading)}."""
        self._on_snapshot: Callable[[Snapshot], None] | None = None
        self._snapshot: Snapshot | None = None
        self.dirty = False
        """True when `saved_state` changed since it was last taken."""

    @classmethod
    def from_config(
        cls,
        session: aiohttp.ClientSession,
        data: Mapping[str, Any],
        limiter: RequestLimiter | None = None,
    ) -> HomeConnector:
        """Build the Home from its entry (data and options merged)."""
        members = data.get(CONF_MEMBERS)
        return cls(
            home_id=str(data[CONF_HOME_ID]),
            name=str(data.get("name") or "Home"),
            members=tuple(members) if members else None,
            grid_member=(
                None
                if data.get(CONF_GRID_MEMBER) in (None, "", "auto")
                else str(data[CONF_GRID_MEMBER])
            ),
            peak_power_kw={
                str(k): float(v)
                for k, v in (data.get(CONF_PEAK_POWER) or {}).items()
                if isinstance(v, int | float) and v > 0
            },
            time_zone=data.get(CONF_TIME_ZONE),
            limiter=limiter,
        )

    @classmethod
    def budget_key(cls, data: Mapping[str, Any]) -> str:
        """A Home spends no vendor quota: a key of its own."""
        return f"home_{data[CONF_HOME_ID]}"

    @property
    def cost(self) -> PollCost:
        """Nothing: the Home is pushed by its members."""
        return PollCost(per_poll=0)

    async def async_identify(self) -> AccountInfo:
        """The Home itself."""
        site = Site(id=self.home_id, name=self.name, timezone=str(self._tz))
        return AccountInfo(unique_id=self.home_id, title=self.name, sites=(site,))

    async def async_fetch(self) -> Snapshot:
        """The newest combined snapshot (built now if none was pushed yet)."""
        if self._snapshot is None:
            self._snapshot = self._combine()
        return self._snapshot

    async def async_start(self, on_snapshot: Callable[[Snapshot], None]) -> None:
        """Push every changed combination to `on_snapshot`."""
        self._on_snapshot = on_snapshot

    @override
    def follows(self, entry_id: str) -> bool:
        """Whether an entry is one of the Home's members."""
        return self.members is None or entry_id in self.members

    def member_update(self, member: Member) -> None:
        """Take a member's newest snapshot (None: unloaded) and push the result."""
        if not self.follows(member.entry_id):
            return
        self._titles[member.entry_id] = member.title
        if member.snapshot is None:
            self._loaded.discard(member.entry_id)
        else:
            self._loaded.add(member.entry_id)
            summary = _summarize(member.snapshot)
            self._latest[member.entry_id] = summary
            self._take_counters(member.entry_id, summary)
        self._push()

    def member_removed(self, entry_id: str) -> None:
        """A member left for good: keep what it added, forget the rest."""
        joined = self._joined.pop(entry_id, {})
        for key, start in joined.items():
            guard = self._guards.pop((entry_id, key), None)
            if guard is not None and guard.value is not None:
                self._base[key] += guard.value - start
        self._latest.pop(entry_id, None)
        self._loaded.discard(entry_id)
        self._titles.pop(entry_id, None)
        self._yields.pop(entry_id, None)
        self.dirty = True
        self._push()

    def _push(self) -> None:
        snapshot = self._combine()
        if snapshot != self._snapshot:
            self._snapshot = snapshot
            if self._on_snapshot is not None:
                self._on_snapshot(snapshot)

    # -- counters -------------------------------------------------------------

    def _take_counters(self, entry_id: str, summary: _Summary) -> None:
        as_of = summary.fetched_at
        joined = self._joined.setdefault(entry_id, {})
        for key in LIFETIME_KEYS:
            if key in _GRID_KEYS and entry_id != self._grid_member():
                continue
            value = summary.totals.get(key)
            guard = self._guards.setdefault(
                (entry_id, key), CounterGuard(CounterKind.LIFETIME)
            )
            published = guard.accept(value, as_of)
            if published is not None and key not in joined:
                joined[key] = published
                self.dirty = True
        solar_today = summary.totals.get("production_energy_today")
        if solar_today is not None:
            day = as_of.astimezone(self._tz).date().isoformat()
            days = self._yields.setdefault(entry_id, {})
            if solar_today > days.get(day, -1.0):
                days[day] = solar_today
                self.dirty = True
            for old in sorted(days)[:-_KEEP_DAYS]:
                del days[old]

    def _lifetime(self, key: str) -> float:
        total = self._base[key]
        for entry_id, joined in self._joined.items():
            guard = self._guards.get((entry_id, key))
            if key in joined and guard is not None and guard.value is not None:
                total += guard.value - joined[key]
        return total

    # -- the combined snapshot --------------------------------------------------

    def _grid_member(self) -> str | None:
        if self.grid_member is not None:
            return self.grid_member
        measuring = [
            entry_id
            for entry_id, summary in self._latest.items()
            if "grid_power" in summary.totals
            or "grid_import_energy_lifetime" in summary.totals
        ]
        if not measuring:
            return None
        return min(measuring, key=lambda e: (self._titles.get(e, ""), e))

    def _combine(self) -> Snapshot:
        home = Device(
            id=self.home_id, kind=DeviceKind.SITE, name=self.name, site_id=self.home_id
        )
        site = Site(id=self.home_id, name=self.name, timezone=str(self._tz))
        latest = {e: s for e, s in self._latest.items() if e in self._loaded}
        values: dict[str, float | str | None] = {}
        solar = _sum(s.totals.get("production_power") for s in latest.values())
        battery = _sum(s.totals.get("battery_power") for s in latest.values())
        grid_member = self._grid_member()
        grid_summary = latest.get(grid_member) if grid_member else None
        grid = grid_summary.totals.get("grid_power") if grid_summary else None
        values["production_power"] = solar
        values["battery_power"] = battery
        values["grid_power"] = grid
        values["battery_state_of_charge"] = _weighted_soc(
            level for summary in latest.values() for level in summary.levels
        )
        measured = (
            grid_summary.totals.get("consumption_power") if grid_summary else None
        )
        if measured is not None and len(latest) == 1:
            values["consumption_power"] = measured
            consumption: float | None = measured
        else:
            consumption = None
            if grid is not None:
                consumption = max((solar or 0.0) + grid + (battery or 0.0), 0.0)
            values["derived_consumption_power"] = consumption
        values["self_sufficiency"] = _share(
            consumption, None if grid is None else max(grid, 0.0)
        )
        values["self_consumption"] = _share(
            solar, None if grid is None else max(-grid, 0.0)
        )
        for key in LIFETIME_KEYS:
            if key in self._published or any(key in j for j in self._joined.values()):
                self._published.add(key)
                values[key] = self._lifetime(key)
        as_of = max((s.fetched_at for s in latest.values()), default=None)
        return Snapshot(
            sites={site.id: site},
            devices={home.id: home},
            readings={home.id: Readings(values=values, as_of=as_of)},
            alerts=self._underperformance(),
            notes={
                "members": ", ".join(sorted(self._titles.values())) or "none yet",
                "grid_member": self._titles.get(grid_member or "", "none"),
            },
        )

    # -- underperformance -------------------------------------------------------

    def vendor_peak_kw(self, entry_id: str) -> float | None:
        """A member's peak power as its vendor gives it (kWp), if it does."""
        summary = self._latest.get(entry_id)
        return summary.peak_kw if summary is not None else None

    def _peak_kw(self, entry_id: str) -> float | None:
        if (option := self.peak_power_kw.get(entry_id)) is not None:
            return option
        return self.vendor_peak_kw(entry_id)

    def specific_yields(self) -> dict[str, dict[str, float]]:
        """Per completed local day: {member: kWh per kWp}."""
        today = datetime.now(self._tz).date().isoformat()
        days: dict[str, dict[str, float]] = {}
        for entry_id, per_day in self._yields.items():
            if (peak := self._peak_kw(entry_id)) is None:
                continue
            for day, wh in per_day.items():
                if day < today:
                    days.setdefault(day, {})[entry_id] = wh / 1000 / peak
        return days

    def _underperformance(self) -> tuple[Alert, ...]:
        days = self.specific_yields()
        sunny = [
            day
            for day in sorted(days)
            if len(days[day]) >= 2 and max(days[day].values()) >= SUNNY_YIELD
        ][-WINDOW_DAYS:]
        if not sunny:
            return ()
        alerts: list[Alert] = []
        for entry_id in sorted(self._yields):
            low: list[tuple[str, float, float]] = []
            for day in sunny:
                mine = days[day].get(entry_id)
                others = [v for e, v in days[day].items() if e != entry_id]
                if mine is None or not others:
                    continue
                typical = median(others)
                if mine < UNDERPERFORMING_RATIO * typical:
                    low.append((day, mine, typical))
            if len(low) < UNDERPERFORMING_DAYS or low[-1][0] != sunny[-1]:
                continue
            day, mine, typical = low[-1]
            title = self._titles.get(entry_id, entry_id)
            alerts.append(
                Alert(
                    id=f"underperformance_{entry_id}",
                    device_id=self.home_id,
                    severity=Severity.WARNING,
                    code="underperformance",
                    message=(
                        f"{title} made {mine:.2f} kWh/kWp on {day} against "
                        f"{typical:.2f} for the other arrays, below "
                        f"{UNDERPERFORMING_RATIO:.0%} on {len(low)} of the last "
                        f"{len(sunny)} sunny days"
                    ),
                    started=datetime.fromisoformat(low[0][0]).replace(tzinfo=self._tz),
                    repair=True,
                )
            )
        return tuple(alerts)

    # -- persistence ------------------------------------------------------------

    def saved_state(self) -> dict[str, Any]:
        """What must survive a restart: counter bases, join points, daily yields."""
        self.dirty = False
        return {
            "base": dict(self._base),
            "joined": {e: dict(j) for e, j in self._joined.items()},
            "last": {
                f"{e}|{k}": g.value
                for (e, k), g in self._guards.items()
                if g.value is not None
            },
            "yields": {e: dict(d) for e, d in self._yields.items()},
            "titles": dict(self._titles),
            "published": sorted(self._published),
        }

    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Load what `saved_state` returned before a restart."""
        for key, value in (state.get("base") or {}).items():
            if key in self._base and isinstance(value, int | float):
                self._base[key] = float(value)
        self._joined = {
            str(e): {str(k): float(v) for k, v in j.items()}
            for e, j in (state.get("joined") or {}).items()
        }
        for name, value in (state.get("last") or {}).items():
            entry_id, _, key = str(name).partition("|")
            guard = CounterGuard(CounterKind.LIFETIME)
            guard.accept(float(value), datetime.fromtimestamp(0, UTC))
            self._guards[(entry_id, key)] = guard
        self._yields = {
            str(e): {str(d): float(v) for d, v in days.items()}
            for e, days in (state.get("yields") or {}).items()
        }
        self._titles = {str(e): str(t) for e, t in (state.get("titles") or {}).items()}
        self._published = {
            str(k) for k in state.get("published") or () if k in self._base
        }
        # Members that left while HA was stopped (options changed) keep their share.
        if self.members is not None:
            for entry_id in [e for e in self._joined if e not in self.members]:
                self.member_removed(entry_id)


def _sum(values: Any) -> float | None:
    numbers = [v for v in values if v is not None]
    return sum(numbers) if numbers else None


def _share(whole: float | None, part: float | None) -> float | None:
    """(whole - part) / whole as a percentage, clamped to 0-100."""
    if whole is None or part is None or whole <= 0:
        return None
    return round(min(max((whole - part) / whole, 0.0), 1.0) * 100, 1)


def _weighted_soc(found: Iterable[tuple[float, float | None]]) -> float | None:
    """Every battery's charge level, weighted by capacity when all are known."""
    levels = list(found)
    if not levels:
        return None
    if all(capacity for _, capacity in levels):
        total = sum(capacity or 0.0 for _, capacity in levels)
        return round(
            sum(soc * (capacity or 0.0) for soc, capacity in levels) / total, 1
        )
    return round(sum(soc for soc, _ in levels) / len(levels), 1)
