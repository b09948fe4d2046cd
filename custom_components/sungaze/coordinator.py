"""One coordinator per config entry: polls (or receives pushes) and plans its budget."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
import math
from typing import Any

import aiohttp
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.aiohttp_client import (
    async_create_clientsession,
    async_get_clientsession,
)
from homeassistant.helpers.storage import Store
from homeassistant.helpers.sun import get_astral_event_date, get_astral_event_next
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .connectors import CONNECTORS
from .connectors.base import (
    ApiRetiredError,
    AuthFailedError,
    BadPayloadError,
    ConnectionFailedError,
    Connector,
    PollCost,
    RateLimitedError,
    RequestBudget,
    RequestLimiter,
    TokenProvider,
)
from .const import (
    CONF_MIN_INTERVAL,
    CONF_VENDOR,
    DOMAIN,
    LOGGER,
    MAX_INTERVAL,
    QUOTA_ISSUE_AFTER,
    VENDOR_NAMES,
)
from .model import Device, DeviceKind, Snapshot

type SungazeConfigEntry = ConfigEntry[SungazeCoordinator]

CATCH_UP = timedelta(seconds=65)
_CONFIGURED = f"{DOMAIN}_budgets"
"""hass.data key: the budget each shared limiter was configured with."""

STATUSES = (
    "ok",
    "connecting",
    "disconnected",
    "auth_failed",
    "rate_limited",
    "quota_exhausted",
    "bad_payload",
    "api_retired",
)


def build_connector(
    hass: HomeAssistant,
    data: Mapping[str, Any],
    limiter: RequestLimiter | None = None,
    token: TokenProvider | None = None,
) -> Connector:
    """Build the entry's connector on HA's shared HTTP session (or one of its own).

    OAuth entries pass the token provider that refreshes and stores their token.
    """
    cls = CONNECTORS[data[CONF_VENDOR]]
    if cls.own_cookie_jar:
        # unsafe: also keep cookies of hosts given as IP addresses.
        session = async_create_clientsession(
            hass, cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
    else:
        session = async_get_clientsession(hass)
    if token is not None:
        return cls.from_oauth(session, data, limiter, token)
    return cls.from_config(session, data, limiter)


def shared_limiter(
    hass: HomeAssistant,
    data: Mapping[str, Any],
    options: Mapping[str, Any] | None = None,
) -> tuple[str, RequestLimiter]:
    """Return the limiter of the quota these credentials spend, and its key.

    It lives as long as HA runs, so reloads keep the minute window, and entries
    sharing one credential share it. Its budget follows the options (a paid
    plan chosen there takes effect at the next setup).
    """
    cls = CONNECTORS[data[CONF_VENDOR]]
    key = cls.budget_key(data)
    budget = cls.budget_for(data, options or {})
    limiters: dict[str, RequestLimiter] = hass.data.setdefault(DOMAIN, {})
    configured: dict[str, RequestBudget] = hass.data.setdefault(_CONFIGURED, {})
    if key not in limiters:
        limiters[key] = RequestLimiter(budget)
    elif configured.get(key) != budget:
        # A new plan replaces whatever the connector learned from the vendor.
        limiters[key].budget = budget
    configured[key] = budget
    return key, limiters[key]


@dataclass(frozen=True, slots=True, kw_only=True)
class Daylight:
    """Today's sun times, and the next sunrise, as aware datetimes."""

    sunrise: datetime
    sunset: datetime
    next_sunrise: datetime


def steady_allowance(budget: RequestBudget, users: int = 1) -> float | None:
    """Requests a day one user may spend at an even rate, keeping the reserve.

    The vendor's month may start on any day (SolarEdge: the billing
    anniversary), so the monthly budget is spread over 31 days.
    """
    allowances: list[float] = []
    if budget.per_month is not None:
        allowances.append(budget.per_month * (1 - budget.reserve) / 31 / users)
    if budget.per_day is not None:
        allowances.append(budget.per_day * (1 - budget.reserve) / users)
    return min(allowances) if allowances else None


def daily_allowance(
    budget: RequestBudget, limiter: RequestLimiter, now: datetime
) -> float | None:
    """Requests we may spend today so the budget lasts to the end of its period."""
    users = max(limiter.users, 1)
    steady = steady_allowance(budget, users)
    if steady is None or budget.per_month is None:
        return steady
    month_end = (now.replace(day=28) + timedelta(days=4)).replace(day=1)
    days_left = (month_end.date() - now.date()).days
    left = (budget.per_month * (1 - budget.reserve) - limiter.month_used) / users
    # Never faster than the steady rate, slower when the month ran hot.
    return min(max(left, 0) / max(days_left, 1), steady)


def plan_interval(
    cost: PollCost,
    budget: RequestBudget,
    limiter: RequestLimiter,
    now: datetime,
    daylight: Daylight | None,
    user_min: timedelta | None = None,
) -> timedelta:
    """Return the wait until the next update.

    The day's allowance (what is left of the month spread over its remaining
    days, less a reserve) minus fixed daily costs gives the number of routine
    updates; they are spread over the hours in which the data moves (daylight
    for production-only vendors). At night a sun-aware entry sleeps until just
    after sunrise, having made one last update after sunset for the day's totals.
    """
    if cost.catch_up:  # the postponed calls fit once the minute window has passed
        return CATCH_UP
    floor = max(cost.min_interval, user_min or timedelta(0))
    active = timedelta(days=1)
    if cost.sun_aware and daylight is not None:
        active = daylight.sunset - daylight.sunrise + timedelta(hours=1)
    interval = floor
    if (allowance := daily_allowance(budget, limiter, now)) is not None:
        polls = max((allowance - cost.per_day) / max(cost.per_poll, 1), 1.0)
        interval = max(floor, active / polls)
    interval = min(interval, MAX_INTERVAL)
    target = now + interval
    if cost.sun_aware and daylight is not None:
        dawn = daylight.sunrise + timedelta(minutes=20)
        dusk = daylight.sunset + timedelta(minutes=45)
        if now < dawn - timedelta(minutes=20):
            target = dawn
        elif now >= dusk:
            target = daylight.next_sunrise + timedelta(minutes=20)
        elif target > dusk:
            target = dusk
    if cost.align is not None:
        step = cost.align.total_seconds()
        since_midnight = (
            target - target.replace(hour=0, minute=0, second=0, microsecond=0)
        ).total_seconds()
        delay = cost.align_delay.total_seconds()
        aligned = math.ceil((since_midnight - delay) / step) * step + delay
        target += timedelta(seconds=aligned - since_midnight)
    return max(target - now, timedelta(seconds=30))


def min_sustainable_minutes(
    hass: HomeAssistant,
    entry: ConfigEntry,
    options: Mapping[str, Any] | None = None,
) -> int:
    """The shortest interval (minutes) the vendor's quota sustains all month.

    Planned for the worst case: a 31-day month and, for daylight-only vendors,
    16 hours of summer daylight. `options` (default: the entry's) may change
    the budget, as a paid plan does.
    """
    coordinator = getattr(entry, "runtime_data", None)
    cls = CONNECTORS[entry.data[CONF_VENDOR]]
    # Only the cost is needed: no connector of its own (no session) for that.
    connector = (
        coordinator.connector
        if coordinator
        else cls.from_config(async_get_clientsession(hass), entry.data)
    )
    cost = connector.cost
    budget = cls.budget_for(entry.data, entry.options if options is None else options)
    floor = cost.min_interval.total_seconds() / 60
    if (allowance := steady_allowance(budget)) is not None:
        polls = max((allowance - cost.per_day) / max(cost.per_poll, 1), 1.0)
        active_minutes = (16 if cost.sun_aware else 24) * 60
        floor = max(floor, active_minutes / polls)
    return math.ceil(floor)


class SungazeCoordinator(DataUpdateCoordinator[Snapshot]):
    """Holds the latest snapshot of one vendor account or device."""

    config_entry: SungazeConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: SungazeConfigEntry,
        connector: Connector,
        budget_key: str,
    ) -> None:
        """Set up the coordinator for one entry."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {entry.title}",
            update_interval=None if connector.pushes else connector.cost.min_interval,
            always_update=False,
        )
        self.connector = connector
        self.vendor: str = entry.data[CONF_VENDOR]
        self.status = "connecting"
        self.last_success: datetime | None = None
        self._refusals = 0
        self._shown_status = self.status
        self._was_failing = False
        self._registered: dict[str, Device] = {}
        self._store: Store[dict[str, Any]] = Store(
            hass, 1, f"{DOMAIN}.budget.{budget_key}"
        )

    @property
    def vendor_name(self) -> str:
        """The vendor's display name."""
        return VENDOR_NAMES[self.vendor]

    def with_vendor(self, name: str) -> str:
        """`name` led by the vendor's name, without repeating its first word.

        Two vendors' sites may share a name ("Home"): the vendor tells them apart.
        """
        vendor = self.vendor_name
        if name.startswith(vendor):
            return name
        first, _, rest = name.partition(" ")
        if first.casefold() == vendor.split()[0].casefold():
            return f"{vendor} {rest}".strip()
        return f"{vendor} {name}"

    @property
    def connection_name(self) -> str:
        """Name of the entry's connection device: vendor, entry title, "connection"."""
        # Never the name of a site or gateway device titled like the entry.
        return f"{self.with_vendor(self.config_entry.title)} connection"

    async def _async_setup(self) -> None:
        """Restore the request counters so restarts cannot overspend the quota."""
        limiter = self.connector.limiter
        limiter.users += 1
        self.config_entry.async_on_unload(self._release_limiter)
        # Only the first user loads the counters; later ones share live state.
        if (
            limiter.users == 1
            and not limiter.month
            and (stored := await self._store.async_load())
        ):
            limiter.restore(stored)
        if self.connector.pushes:
            self.connector.on_link = self._async_link
            await self.connector.async_start(self.async_push)

    def _release_limiter(self) -> None:
        self.connector.limiter.users -= 1

    def _save_budget(self) -> None:
        self._store.async_delay_save(self.connector.limiter.as_dict, 10)

    async def async_shutdown(self) -> None:
        """Persist the request counters now: a reload must not forget spent credits."""
        await super().async_shutdown()
        await self._store.async_save(self.connector.limiter.as_dict())

    async def _async_update_data(self) -> Snapshot:
        """Fetch one snapshot, translating connector errors for HA."""
        try:
            snapshot = await self.connector.async_fetch()
        except AuthFailedError as err:
            self.status = "auth_failed"
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="auth_failed"
            ) from err
        except ApiRetiredError as err:
            self.status = "api_retired"
            self._raise_issue("api_retired")
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="api_retired",
                translation_placeholders={"vendor": self.vendor_name},
            ) from err
        except RateLimitedError as err:
            self._refusals += 1
            exhausted = err.period in ("day", "month")
            self.status = "quota_exhausted" if exhausted else "rate_limited"
            if exhausted or self._refusals >= QUOTA_ISSUE_AFTER:
                self._raise_issue("quota_exhausted")
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="rate_limited",
                translation_placeholders={
                    "period": err.period,
                    "retry": str(round(err.retry_after or 0)),
                },
                retry_after=err.retry_after,
            ) from err
        except ConnectionFailedError as err:
            self.status = "disconnected"
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="cannot_connect",
                translation_placeholders={"error": str(err)},
            ) from err
        except BadPayloadError as err:
            self.status = "bad_payload"
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="bad_payload",
                translation_placeholders={"error": str(err)},
            ) from err
        finally:
            self._save_budget()
        self._refusals = 0
        self.status = "ok"
        self.last_success = dt_util.utcnow()
        ir.async_delete_issue(self.hass, DOMAIN, self._issue_id("quota_exhausted"))
        ir.async_delete_issue(self.hass, DOMAIN, self._issue_id("api_retired"))
        self._register_devices(snapshot)
        self._remove_stale_devices(snapshot)
        if not self.connector.pushes:
            self.update_interval = self.next_interval()
        return snapshot

    @callback
    def _async_refresh_finished(self) -> None:
        """Show a changed status even when HA skips listeners.

        HA does not notify entities when a refresh fails after a failed one, but
        the connection sensor must still move, e.g. from rate_limited to
        quota_exhausted.
        """
        if (
            self.status != self._shown_status
            and self._was_failing
            and not self.last_update_success
        ):
            self.async_update_listeners()
        self._shown_status = self.status
        self._was_failing = not self.last_update_success

    def next_interval(self) -> timedelta:
        """Plan the wait until the next update from budget and sun."""
        now = dt_util.utcnow()
        cost = self.connector.cost
        daylight = self._daylight(now) if cost.sun_aware else None
        minutes = self.config_entry.options.get(CONF_MIN_INTERVAL)
        return plan_interval(
            cost,
            self.connector.limiter.budget,
            self.connector.limiter,
            now,
            daylight,
            timedelta(minutes=minutes) if minutes else None,
        )

    def _daylight(self, now: datetime) -> Daylight | None:
        today = dt_util.as_local(now).date()
        sunrise = get_astral_event_date(self.hass, "sunrise", today)
        sunset = get_astral_event_date(self.hass, "sunset", today)
        if sunrise is None or sunset is None:  # polar day or night: poll all day
            return None
        nxt = get_astral_event_next(self.hass, "sunrise", max(now, sunset))
        return Daylight(sunrise=sunrise, sunset=sunset, next_sunrise=nxt)

    @callback
    def async_push(self, snapshot: Snapshot) -> None:
        """Accept a snapshot pushed by the connector (MQTT and the like)."""
        self.status = "ok"
        self.last_success = dt_util.utcnow()
        # Devices first, as for polled data: entities must find theirs named.
        self._register_devices(snapshot)
        self._remove_stale_devices(snapshot)
        self.async_set_updated_data(snapshot)

    @callback
    def _async_link(self, connected: bool) -> None:
        """Show a push link's state on the connection sensor.

        The values keep their last state (their last-report time ages) rather
        than flapping unavailable on every broker blip; the link itself shows.
        """
        self.status = "connecting" if connected else "disconnected"
        if self.data is not None:
            self.async_update_listeners()

    def _issue_id(self, key: str) -> str:
        return f"{key}_{self.config_entry.entry_id}"

    def _raise_issue(self, key: str) -> None:
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self._issue_id(key),
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=key,
            translation_placeholders={
                "vendor": self.vendor_name,
                "title": self.config_entry.title,
                "used": str(self.connector.limiter.month_used),
            },
        )

    def _register_devices(self, snapshot: Snapshot) -> None:
        """Register new or changed devices, parents first, so `via_device_id` resolves."""
        registry = dr.async_get(self.hass)
        entry_id = self.config_entry.entry_id
        if not self._registered:
            registry.async_get_or_create(
                config_entry_id=entry_id,
                identifiers={self.entry_identifier},
                name=self.connection_name,
                manufacturer=self.vendor_name,
                model="Sungaze connection",
                entry_type=dr.DeviceEntryType.SERVICE,
            )
        pending = [
            d for d in snapshot.devices.values() if self._registered.get(d.id) != d
        ]
        while pending:
            deferred: list[Device] = []
            for device in pending:
                parent = self._parent_identifier(device)
                if (
                    via := registry.async_get_device_by_identifier(parent, entry_id)
                ) is None:
                    deferred.append(device)
                    continue
                registry.async_get_or_create(
                    config_entry_id=entry_id,
                    identifiers={self.device_identifier(device.id)},
                    name=self._distinct_name(registry, device),
                    manufacturer=device.manufacturer or self.vendor_name,
                    model=device.model,
                    serial_number=device.serial,
                    sw_version=device.firmware,
                    via_device_id=via.id,
                )
                self._registered[device.id] = device
            if len(deferred) == len(pending):  # parent missing from the snapshot
                for device in deferred:
                    LOGGER.debug("Device %s has no known parent", device.id)
                break
            pending = deferred

    def _distinct_name(self, registry: dr.DeviceRegistry, device: Device) -> str:
        """The device's name, unless a device of another entry has it already.

        Then the vendor's name leads it ("Enphase Home" next to EG4's "Home"),
        or failing that the entry's title follows it.
        """
        identifier = self.device_identifier(device.id)
        taken = {
            other.name
            for other in registry.devices
            if other.config_entry_id != self.config_entry.entry_id
            and identifier not in other.identifiers
        }
        prefixed = self.with_vendor(device.name)
        title = self.config_entry.title
        for name in (
            device.name,
            prefixed,
            f"{device.name} ({title})",
            f"{prefixed} ({title})",
        ):
            if name not in taken:
                return name
        return f"{prefixed} ({title}, {device.id})"

    def _parent_identifier(self, device: Device) -> tuple[str, str]:
        if device.kind is DeviceKind.SITE:
            return self.entry_identifier
        return self.device_identifier(device.parent or device.site_id)

    def _remove_stale_devices(self, snapshot: Snapshot) -> None:
        """Detach devices the vendor no longer lists (hardware swapped or removed)."""
        registry = dr.async_get(self.hass)
        known = {self.device_identifier(device_id) for device_id in snapshot.devices}
        known.add(self.entry_identifier)
        for device in dr.async_entries_for_config_entry(
            registry, self.config_entry.entry_id
        ):
            if not any(ident in known for ident in device.identifiers):
                registry.async_update_device(
                    device.id, remove_config_entry_id=self.config_entry.entry_id
                )

    @property
    def connection_id(self) -> str:
        """Stable id of the entry's connection (vendor account or link)."""
        entry = self.config_entry
        return f"{entry.unique_id or entry.entry_id}_connection"

    @property
    def entry_identifier(self) -> tuple[str, str]:
        """Device-registry identifier of the entry's own (connection) device."""
        return (DOMAIN, self.connection_id)

    def device_identifier(self, device_id: str) -> tuple[str, str]:
        """Device-registry identifier of one vendor device."""
        return (DOMAIN, f"{self.vendor}_{device_id}")

    def budget_left(self) -> int | None:
        """Requests left in the tightest period, for the diagnostic sensor."""
        limiter = self.connector.limiter
        lefts = [x for x in (limiter.month_left, limiter.day_left) if x is not None]
        return min(lefts) if lefts else None
