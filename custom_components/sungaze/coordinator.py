"""One coordinator per config entry: the HA adapter around a connector.

It fetches (or receives pushed) snapshots, translates connector errors for HA,
backs off while the vendor fails, keeps the device registry in step
(`devices.py`) and asks the planner (`planner.py`, HA-free) when to update
next. Between two snapshots it works out which devices changed, so entities of
unchanged devices write nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import (
    async_create_clientsession,
    async_get_clientsession,
)
from homeassistant.helpers.storage import Store
from homeassistant.helpers.sun import get_astral_event_date, get_astral_event_next
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from . import members
from .connectors import CONNECTORS
from .connectors.base import (
    ApiRetiredError,
    AuthFailedError,
    BadPayloadError,
    BlockedError,
    ConnectionFailedError,
    Connector,
    RateLimitedError,
    RequestLimiter,
    TokenProvider,
)
from .const import (
    BUDGETS,
    CONF_MIN_INTERVAL,
    CONF_VENDOR,
    DOMAIN,
    FAILING_ISSUE_AFTER,
    LIMITERS,
    LOGGER,
    QUOTA_ISSUE_AFTER,
    VENDOR_NAMES,
)
from .devices import DeviceSync
from .model import Alert, Snapshot
from .planner import (
    CATCH_UP,
    Daylight,
    backoff_delay,
    daily_allowance,
    plan_interval,
    steady_allowance,
    sustainable_minutes,
)
from .statistics import SeriesImporter

if TYPE_CHECKING:
    from .backfill import Backfill

__all__ = [
    # The planner's names, for modules that imported them from here.
    "CATCH_UP",
    "STATUSES",
    "Daylight",
    "SungazeConfigEntry",
    "SungazeCoordinator",
    "build_connector",
    "daily_allowance",
    "merge_snapshot",
    "min_sustainable_minutes",
    "plan_interval",
    "shared_limiter",
    "steady_allowance",
]

type SungazeConfigEntry = ConfigEntry[SungazeCoordinator]

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
_NO_ALERTS: tuple[Alert, ...] = ()


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
    limiters = hass.data.setdefault(LIMITERS, {})
    configured = hass.data.setdefault(BUDGETS, {})
    if key not in limiters:
        limiters[key] = RequestLimiter(budget)
    elif configured.get(key) != budget:
        # A new plan replaces whatever the connector learned from the vendor.
        limiters[key].budget = budget
    configured[key] = budget
    return key, limiters[key]


def min_sustainable_minutes(
    hass: HomeAssistant,
    entry: ConfigEntry,
    options: Mapping[str, Any] | None = None,
) -> int:
    """The shortest interval (minutes) the vendor's quota sustains all month.

    `options` (default: the entry's) may change the budget, as a paid plan does.
    """
    coordinator = getattr(entry, "runtime_data", None)
    cls = CONNECTORS[entry.data[CONF_VENDOR]]
    # Only the cost is needed: no connector of its own (no session) for that.
    connector = (
        coordinator.connector
        if coordinator
        else cls.from_config(async_get_clientsession(hass), entry.data)
    )
    budget = cls.budget_for(entry.data, entry.options if options is None else options)
    return sustainable_minutes(connector.cost, budget)


def _active_alerts(alerts: tuple[Alert, ...]) -> dict[str, tuple[Alert, ...]]:
    """Open alerts by device, in the vendor's order (one pass over the alerts)."""
    index: dict[str, list[Alert]] = {}
    for alert in alerts:
        if alert.active:
            index.setdefault(alert.device_id, []).append(alert)
    return {device_id: tuple(found) for device_id, found in index.items()}


def merge_snapshot(
    previous: Snapshot | None, new: Snapshot
) -> tuple[Snapshot, frozenset[str] | None]:
    """Return `new` sharing the unchanged parts of `previous`, and what changed.

    The second value names the devices whose description, readings or open
    alerts differ (None: everything, there being no previous snapshot). Parts
    equal to the previous ones are the previous objects, so comparing the two
    snapshots again (as HA's coordinator does) costs an identity check each.
    """
    if previous is None:
        return new, None
    changed: set[str] = set()
    readings = _merged(previous.readings, new.readings, changed)
    devices = _merged(previous.devices, new.devices, changed)
    alerts = previous.alerts
    if new.alerts != previous.alerts:
        alerts = new.alerts
        before, after = _active_alerts(previous.alerts), _active_alerts(new.alerts)
        changed.update(
            d for d in before.keys() | after.keys() if before.get(d) != after.get(d)
        )
    merged = replace(
        new,
        sites=previous.sites if new.sites == previous.sites else new.sites,
        devices=devices,
        readings=readings,
        alerts=alerts,
        notes=previous.notes if new.notes == previous.notes else new.notes,
    )
    return merged, frozenset(changed)


def _merged[T](
    previous: Mapping[str, T], new: Mapping[str, T], changed: set[str]
) -> Mapping[str, T]:
    """`new`, with the previous object kept for every equal entry."""
    if previous is new:
        return previous
    found = [key for key, value in new.items() if previous.get(key) != value]
    found.extend(key for key in previous if key not in new)
    if not found:
        return previous
    changed.update(found)
    return {
        key: value if key in changed else previous[key] for key, value in new.items()
    }


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
        self.failures = 0
        """Failed updates in a row (reset by a successful one)."""
        self.next_attempt: datetime | None = None
        """While backing off: when the next update is due."""
        self.changed: frozenset[str] | None = None
        """Devices changed by the update being announced (None: all of them)."""
        self._refusals = 0
        self._was_failing = False
        self._issues: set[str] = set()
        self._alerts_synced: tuple[Alert, ...] | None = None
        self._alerts: tuple[tuple[Alert, ...], dict[str, tuple[Alert, ...]]] | None = (
            None
        )
        self._daylight: tuple[date, Daylight | None] | None = None
        self._saved: tuple[object, ...] | None = None
        self.devices = DeviceSync(
            hass,
            entry,
            identifier=self.device_identifier,
            connection=self.entry_identifier,
            connection_name=self.connection_name,
            manufacturer=self.vendor_name,
            with_vendor=self.with_vendor,
            complete_after=dt_util.utcnow() + connector.report_cycle
            if connector.pushes
            else None,
        )
        self.importer = SeriesImporter(hass, entry)
        self.backfill: Backfill | None = None
        self._alert_issues: set[str] = set()
        self._state_store = members.state_store(hass, entry.entry_id)
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
        await members.async_restore(self, self._state_store)
        if self.connector.pushes:
            self.connector.on_link = self._async_link
            await self.connector.async_start(self.async_push)
        if self.connector.follows_members:
            await members.async_follow(self, self._state_store)

    def _release_limiter(self) -> None:
        self.connector.limiter.users -= 1

    def _save_budget(self) -> None:
        """Persist the counters when they matter and moved (not on every update)."""
        limiter = self.connector.limiter
        if limiter.budget.per_month is None and limiter.budget.per_day is None:
            # Counters that limit nothing need no disk write; a vendor's block does.
            counters: tuple[object, ...] = (limiter.blocked_until,)
        else:
            counters = (
                limiter.month,
                limiter.month_used,
                limiter.day,
                limiter.day_used,
                limiter.blocked_until,
            )
        if counters != self._saved:
            self._saved = counters
            self._store.async_delay_save(limiter.as_dict, 10)

    async def async_shutdown(self) -> None:
        """Persist the request counters now: a reload must not forget spent credits."""
        await super().async_shutdown()
        members.announce(self, None)
        await self._store.async_save(self.connector.limiter.as_dict())
        if self.connector.dirty and (state := self.connector.saved_state()):
            await self._state_store.async_save(dict(state))

    async def _async_update_data(self) -> Snapshot:
        """Fetch one snapshot, translating connector errors for HA."""
        previous = self.data if self.last_update_success else None
        try:
            snapshot = await self.connector.async_fetch()
        except AuthFailedError as err:
            self.status = "auth_failed"
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="auth_failed"
            ) from err
        except ApiRetiredError as err:
            self._failed("api_retired")
            self._raise_issue("api_retired")
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="api_retired",
                translation_placeholders={"vendor": self.vendor_name},
            ) from err
        except RateLimitedError as err:
            self._refusals += 1
            exhausted = err.period in ("day", "month")
            self._failed(
                "quota_exhausted" if exhausted else "rate_limited", err.retry_after
            )
            if exhausted or self._refusals >= QUOTA_ISSUE_AFTER:
                self._raise_issue("quota_exhausted")
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="rate_limited",
                translation_placeholders={
                    "period": err.period,
                    "retry": str(round(err.retry_after or 0)),
                },
            ) from err
        except BlockedError as err:
            # Bot protection, not credentials: a repair issue, and a long wait.
            self._failed("disconnected", err.retry_after)
            self._raise_issue("vendor_blocked")
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="vendor_blocked",
                translation_placeholders={"vendor": self.vendor_name},
            ) from err
        except ConnectionFailedError as err:
            self._failed("disconnected")
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="cannot_connect",
                translation_placeholders={"error": str(err)},
            ) from err
        except BadPayloadError as err:
            self._failed("bad_payload")
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="bad_payload",
                translation_placeholders={"error": str(err)},
            ) from err
        finally:
            self._save_budget()
        now = dt_util.utcnow()
        self._refusals = 0
        self.failures = 0
        self.next_attempt = None
        self.status = "ok"
        self.last_success = now
        if self._issues:
            for key in self._issues:
                ir.async_delete_issue(self.hass, DOMAIN, self._issue_id(key))
            self._issues.clear()
        if snapshot.series:
            await self.importer.async_import(snapshot.series)
        merged, self.changed = merge_snapshot(previous, snapshot)
        self.devices.async_sync(merged.devices, now)
        self._sync_alert_issues(merged)
        if not self.connector.pushes:
            self.update_interval = self.next_interval(now)
        return merged

    def _failed(self, status: str, retry_after: float | None = None) -> None:
        """Count a failed update and back off: later updates come ever more rarely.

        A vendor's Retry-After is honoured (a refusal that cost nothing may be
        retried as soon as it allows); any other failure never brings the next
        update forward of the plan.
        """
        self.status = status
        self.failures += 1
        wait = backoff_delay(self.failures, retry_after)
        if retry_after is None and not self.connector.pushes:
            wait = max(wait, self.next_interval())
        self.next_attempt = dt_util.utcnow() + wait
        if not self.connector.pushes:
            self.update_interval = wait
        if self.failures >= FAILING_ISSUE_AFTER:
            self._raise_issue("vendor_failing")

    @callback
    def _async_refresh_finished(self) -> None:
        """Show a changed status even when HA skips listeners.

        HA does not notify entities when a refresh fails after a failed one, but
        the connection sensors must still move, e.g. from rate_limited to
        quota_exhausted, or to a later next attempt.
        """
        if not self.last_update_success:
            self.changed = None
            if self._was_failing:
                self.async_update_listeners()
        self._was_failing = not self.last_update_success

    @callback
    def async_update_listeners(self) -> None:
        """Notify the entities, and the entries that follow this one.

        `changed` applies to this announcement only.
        """
        super().async_update_listeners()
        self.changed = frozenset()
        if self.data is not None and self.last_update_success:
            members.announce(self, self.data)
            members.save(self, self._state_store)

    def next_interval(self, now: datetime | None = None) -> timedelta:
        """Plan the wait until the next update from budget and sun."""
        now = now or dt_util.utcnow()
        cost = self.connector.cost
        daylight = self._daylight_at(now) if cost.sun_aware else None
        minutes = self.config_entry.options.get(CONF_MIN_INTERVAL)
        return plan_interval(
            cost,
            self.connector.limiter.budget,
            self.connector.limiter,
            now,
            daylight,
            timedelta(minutes=minutes) if minutes else None,
        )

    def _daylight_at(self, now: datetime) -> Daylight | None:
        """Today's sun times, computed once a day (astral is slow)."""
        today = dt_util.as_local(now).date()
        if self._daylight is not None and self._daylight[0] == today:
            return self._daylight[1]
        sunrise = get_astral_event_date(self.hass, "sunrise", today)
        sunset = get_astral_event_date(self.hass, "sunset", today)
        daylight: Daylight | None = None
        if sunrise is not None and sunset is not None:  # else polar: poll all day
            nxt = get_astral_event_next(self.hass, "sunrise", max(now, sunset))
            daylight = Daylight(sunrise=sunrise, sunset=sunset, next_sunrise=nxt)
        self._daylight = (today, daylight)
        return daylight

    @callback
    def async_push(self, snapshot: Snapshot) -> None:
        """Accept a snapshot pushed by the connector (MQTT and the like).

        A snapshot that changes nothing (a republished message) writes nothing.
        """
        now = dt_util.utcnow()
        if snapshot.series:
            self.config_entry.async_create_background_task(
                self.hass,
                self.importer.async_import(snapshot.series),
                f"{DOMAIN} import {self.config_entry.entry_id}",
            )
        previous = self.data if self.last_update_success else None
        merged, changed = merge_snapshot(previous, snapshot)
        quiet = (
            previous is not None
            and self.status == "ok"
            and not changed
            and merged.devices is previous.devices
            and merged.sites is previous.sites
            and merged.notes is previous.notes
        )
        self.status = "ok"
        self.last_success = now
        # Devices first, as for polled data: entities must find theirs named.
        self.devices.async_sync(merged.devices, now)
        self._sync_alert_issues(merged)
        if quiet:
            self.data = merged
            return
        self._announce(merged, changed)

    @callback
    def async_set_updated_data(self, data: Snapshot) -> None:
        """Take a snapshot from outside the update cycle, naming what changed."""
        previous = self.data if self.last_update_success else None
        self._announce(*merge_snapshot(previous, data))

    @callback
    def _announce(self, data: Snapshot, changed: frozenset[str] | None) -> None:
        self.changed = changed
        super().async_set_updated_data(data)

    @callback
    def _async_link(self, connected: bool) -> None:
        """Show a push link's state on the connection sensor.

        The values keep their last state (their last-report time ages) rather
        than flapping unavailable on every broker blip; the link itself shows.
        """
        self.status = "connecting" if connected else "disconnected"
        if self.data is not None:
            self.async_update_listeners()

    def _sync_alert_issues(self, snapshot: Snapshot) -> None:
        """Raise a repair issue per open alert that asks for one; clear closed ones.

        Alerts equal to the last ones synced are the same tuple (see
        `merge_snapshot`): nothing to do then.
        """
        if snapshot.alerts is self._alerts_synced:
            return
        self._alerts_synced = snapshot.alerts
        wanted = {
            self._issue_id(f"alert_{alert.id}"): alert
            for alert in snapshot.alerts
            if alert.repair and alert.active
        }
        for issue_id in self._alert_issues - wanted.keys():
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
        for issue_id, alert in wanted.items():
            if issue_id not in self._alert_issues:
                ir.async_create_issue(
                    self.hass,
                    DOMAIN,
                    issue_id,
                    is_fixable=False,
                    severity=ir.IssueSeverity.WARNING,
                    translation_key="alert",
                    translation_placeholders={
                        "title": self.config_entry.title,
                        "message": alert.message,
                    },
                )
        self._alert_issues = set(wanted)

    def device_alerts(self, device_id: str) -> tuple[Alert, ...]:
        """The open alerts of one device (indexed once per snapshot)."""
        alerts = self.data.alerts
        if self._alerts is None or self._alerts[0] is not alerts:
            self._alerts = (alerts, _active_alerts(alerts))
        return self._alerts[1].get(device_id, _NO_ALERTS)

    def _issue_id(self, key: str) -> str:
        return f"{key}_{self.config_entry.entry_id}"

    def _raise_issue(self, key: str) -> None:
        self._issues.add(key)
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
                "failures": str(self.failures),
            },
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
