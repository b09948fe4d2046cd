"""The HA adapter's hot path and footprint, per vendor, against a bare-HA floor.

Runs a real (test-harness) Home Assistant with Sungaze against every vendor
simulator that exists (the rows of `tests/simulators/__main__.py`, so a new
vendor is measured as soon as its simulator has a demo entry) and measures:

- setup: wall time until the entry is LOADED (requests, parsing, entities);
- update cost per entity written, polled (`async_refresh` with the connector
  answering a prepared snapshot, so no HTTP is timed) and pushed
  (`async_push`), with every value changed; and the floor: bare HA
  `SensorEntity`s (power sensors, no integration code) writing a new state,
  as many as the update wrote. The ratio is ours / floor;
- writes on an unchanged update (the same snapshot again), both paths;
- recorder rows per hour: state changes of the entry's entities over a
  simulated hour against the simulator (polled vendors on their own
  schedule; the MQTT gateway publishing every `PUSH_EVERY`);
- memory per entity (tracemalloc over the setup of many SolarEdge sites).

Budgets are real in the hour (the planner decides the cadence) and unlimited
where only our code is timed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from copy import deepcopy
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
import gc
import importlib
import re
import tempfile
import time
import tracemalloc
from types import ModuleType
from typing import Any
from unittest.mock import patch

from aiohttp.resolver import ThreadedResolver
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory, StepTickTimeFactory
from homeassistant import loader
from homeassistant.components.application_credentials import (
    ClientCredential,
    async_import_client_credential,
)
from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorStateClass,
)
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er, frame
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockEntityPlatform,
    async_test_home_assistant,
)

from custom_components.sungaze.connectors import CONNECTORS
from custom_components.sungaze.connectors.base import RequestBudget
from custom_components.sungaze.const import DOMAIN
from custom_components.sungaze.model import Readings, Snapshot
from tests.simulators.solaredge import SimSite, SolarEdgeSimulator

NOON = datetime(2026, 6, 21, 19, 0, tzinfo=UTC)
"""Solar noon in Phoenix on the longest day."""
HOST = "127.0.0.1"
PUSH_EVERY = timedelta(seconds=10)
"""How often the simulated MQTT gateway publishes each inverter."""
SIMS = importlib.import_module("tests.simulators.__main__")

type Clock = FrozenDateTimeFactory | StepTickTimeFactory


@dataclass(slots=True)
class Cost:
    """One update path's cost per entity written, ours and the floor's."""

    ours_us: float
    floor_us: float
    written: int

    @property
    def ratio(self) -> float:
        """Ours / floor."""
        return self.ours_us / self.floor_us if self.floor_us else float("nan")


@dataclass(slots=True)
class VendorFigures:
    """Everything measured for one vendor's demo entry."""

    vendor: str
    entities: int
    setup_ms: float
    polled: Cost
    pushed: Cost
    unchanged_polled: list[str]
    unchanged_pushed: list[str]
    first_rewrites: list[str]
    """Entities the first refresh after setup wrote again with the same state."""
    rows_per_hour: float
    rows_by_kind: dict[str, int]
    """State changes in the simulated window, by entity kind (not per hour)."""


@dataclass(slots=True)
class ScaleFigures:
    """The hot path at a size (SolarEdge sites)."""

    sites: int
    entities: int
    polled: Cost
    pushed: Cost
    memory_kib_per_entity: float


def _resolver(_hass: HomeAssistant) -> ThreadedResolver:
    resolver = ThreadedResolver()
    resolver.real_close = resolver.close  # type: ignore[attr-defined]  # harness expects it
    return resolver


@contextmanager
def plain_dns() -> Iterator[None]:
    """Resolve plainly: the test harness has no network integration."""
    with patch(
        "homeassistant.helpers.aiohttp_client._async_make_resolver",
        side_effect=_resolver,
    ):
        yield


def _frozen_utcnow() -> datetime:
    return datetime.now(UTC)


@contextmanager
def at_noon() -> Iterator[Clock]:
    """Noon in Phoenix, ticking: for setups and the simulated hour.

    Costs are timed outside it: freezegun's clock would slow every timestamp
    HA takes, ours and the floor's alike, and blur the ratio.
    """
    noon = _Noon()
    try:
        yield noon.clock
    finally:
        noon.thaw()


@contextmanager
def unlimited_budgets() -> Iterator[None]:
    """Every vendor unlimited: where only our code is timed, no pacing."""
    with patch.multiple(
        "custom_components.sungaze.connectors.base.Connector",
        budget_for=classmethod(lambda cls, data, options: RequestBudget()),
    ):
        patches = [
            patch.object(
                cls,
                "budget_for",
                classmethod(lambda cls, data, options: RequestBudget()),
            )
            for cls in CONNECTORS.values()
            if "budget_for" in vars(cls)
        ]
        for p in patches:
            p.start()
        try:
            yield
        finally:
            for p in patches:
                p.stop()


@asynccontextmanager
async def _fresh_hass() -> AsyncIterator[HomeAssistant]:
    # Outside pytest the harness writes its stores to disk: a temporary config
    # directory keeps one run's limiter and registries out of the next.
    with tempfile.TemporaryDirectory(prefix="sungaze-bench-") as config_dir:
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            yield hass


async def _new_hass() -> Any:
    """A test-harness HA in its own config directory (an async context manager)."""
    return _fresh_hass()


async def _prepare(hass: HomeAssistant) -> None:
    hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
    frame.async_setup(hass)  # HA's usage reports (as in a running HA)
    await hass.config.async_set_time_zone("America/Phoenix")
    hass.config.latitude = 33.45
    hass.config.longitude = -112.07


class _Noon:
    """`at_noon` that can end half-way through a block."""

    def __init__(self) -> None:
        self._freezer = freeze_time(NOON, real_asyncio=True, tick=True, ignore=["paho"])
        self.clock: Clock = self._freezer.start()
        # HA bound its utcnow to the real datetime at import: follow the freezer.
        self._utcnow = patch.object(dt_util, "utcnow", _frozen_utcnow)
        self._utcnow.start()
        self._frozen = True

    def thaw(self) -> None:
        """Back to the real clock (once)."""
        if self._frozen:
            self._frozen = False
            self._utcnow.stop()
            self._freezer.stop()


class Writes:
    """Counts state writes (changed or only reported) of one set of entries."""

    def __init__(self, hass: HomeAssistant, entry_ids: set[str]) -> None:
        """Listen to state events of the entries' entities."""
        self._registry = er.async_get(hass)
        self._entry_ids = entry_ids
        self.changed: list[str] = []
        self.reported: list[str] = []
        hass.bus.async_listen(EVENT_STATE_CHANGED, self._changed)
        hass.bus.async_listen(
            EVENT_STATE_REPORTED, self._reported, event_filter=callback(lambda _: True)
        )

    def _ours(self, entity_id: str) -> bool:
        entry = self._registry.async_get(entity_id)
        return entry is not None and entry.config_entry_id in self._entry_ids

    @callback
    def _changed(self, event: Event) -> None:
        if self._ours(event.data["entity_id"]) and event.data.get("old_state"):
            self.changed.append(event.data["entity_id"])

    @callback
    def _reported(self, event: Event) -> None:
        if self._ours(event.data["entity_id"]):
            self.reported.append(event.data["entity_id"])

    def take(self) -> list[str]:
        """Every write since the last call (changed and reported)."""
        found = self.changed + self.reported
        self.changed, self.reported = [], []
        return found


class FloorSensor(SensorEntity):
    """A bare HA sensor: what any integration pays to write a state."""

    _attr_should_poll = False
    _attr_device_class = SensorDeviceClass.POWER
    _attr_native_unit_of_measurement = "W"
    _attr_state_class = SensorStateClass.MEASUREMENT

    def __init__(self, index: int) -> None:
        """Name and register it."""
        self._attr_name = f"Floor {index}"
        self._attr_unique_id = f"floor_{index}"
        self._attr_native_value = 0.0


class Floor:
    """`count` bare sensors on a platform of their own."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Create the platform; entities come with `ensure`."""
        self._hass = hass
        self._platform = MockEntityPlatform(
            hass, domain="sensor", platform_name="floor"
        )
        self.entities: list[FloorSensor] = []

    async def ensure(self, count: int) -> None:
        """Have at least `count` entities."""
        if count > len(self.entities):
            new = [FloorSensor(i) for i in range(len(self.entities), count)]
            await self._platform.async_add_entities(new)
            self.entities.extend(new)

    async def update(self, count: int, times: int, value: float) -> float:
        """Write new states on `count` entities, `times` over; the seconds taken."""
        await self.ensure(count)
        await self._hass.async_block_till_done()
        gc.collect()
        gc.disable()
        try:
            start = time.process_time()
            for n in range(times):
                for entity in self.entities[:count]:
                    entity._attr_native_value = value + n
                    entity.async_write_ha_state()
            await self._hass.async_block_till_done()
            return time.process_time() - start
        finally:
            gc.enable()


def bumped(snapshot: Snapshot, step: int) -> Snapshot:
    """The same snapshot with every numeric value nudged, so every state changes."""
    readings = {
        device_id: Readings(
            values={
                k: (
                    v + step
                    if isinstance(v, float) and ("lifetime" in k or "energy" in k)
                    else v + step * 0.5
                    if isinstance(v, float)
                    else v
                )
                for k, v in r.values.items()
            },
            as_of=_real(r.as_of),
            online=r.online,
        )
        for device_id, r in snapshot.readings.items()
    }
    return replace(snapshot, readings=readings)


def _real(moment: datetime | None) -> datetime | None:
    """A plain datetime for one made under freezegun (whose maths is slow)."""
    if moment is None:
        return None
    return datetime.fromtimestamp(moment.timestamp(), UTC)


async def _serve(coordinators: list[Any], snapshots: list[list[Snapshot]]) -> None:
    """Have each connector answer its next fetches with the given snapshots."""
    for coordinator, answers in zip(coordinators, snapshots, strict=True):
        queue = iter(answers)

        async def fetch(queue: Iterator[Snapshot] = queue) -> Snapshot:
            return next(queue)

        coordinator.connector.async_fetch = fetch


BATCH = 10
"""Updates timed back to back in one round (with the collector paused)."""


async def measure_paths(
    hass: HomeAssistant,
    coordinators: list[Any],
    writes: Writes,
    floor: Floor,
    rounds: int,
) -> tuple[Cost, Cost]:
    """Polled and pushed cost per entity written, each beside the floor.

    Each round times `BATCH` updates of every coordinator (every value
    changed each time), then the floor writing as many states; the fastest
    round of each counts. Times are this process's CPU time: on a shared
    machine, wall time mostly measures the neighbours.
    """
    costs: list[Cost] = []
    step = 0
    for path in ("polled", "pushed"):
        ours: list[float] = []
        floors: list[float] = []
        written = 0
        for _ in range(rounds):
            batches = [
                [bumped(c.data, step + i + 1) for i in range(BATCH)]
                for c in coordinators
            ]
            step += BATCH
            if path == "polled":
                await _serve(coordinators, batches)
            await hass.async_block_till_done()
            writes.take()
            gc.collect()
            gc.disable()
            try:
                start = time.process_time()
                for i in range(BATCH):
                    if path == "polled":
                        for coordinator in coordinators:
                            await coordinator.async_refresh()
                    else:
                        for coordinator, batch in zip(
                            coordinators, batches, strict=True
                        ):
                            coordinator.async_push(batch[i])
                await hass.async_block_till_done()
                elapsed = time.process_time() - start
            finally:
                gc.enable()
            written = len(writes.take())
            if not written:
                continue
            ours.append(elapsed / written)
            per_update = round(written / BATCH)
            floors.append(await floor.update(per_update, BATCH, float(step)) / written)
        costs.append(
            Cost(
                ours_us=min(ours) * 1e6 if ours else float("nan"),
                floor_us=min(floors) * 1e6 if floors else float("nan"),
                written=round(written / BATCH),
            )
        )
    return costs[0], costs[1]


async def unchanged_writes(
    hass: HomeAssistant, coordinators: list[Any], writes: Writes
) -> tuple[list[str], list[str]]:
    """Entities written when the same snapshot comes again, polled and pushed."""
    await _serve(coordinators, [[deepcopy(c.data)] for c in coordinators])
    writes.take()
    for coordinator in coordinators:
        await coordinator.async_refresh()
    await hass.async_block_till_done()
    polled = writes.take()
    for coordinator in coordinators:
        coordinator.async_push(deepcopy(coordinator.data))
    await hass.async_block_till_done()
    return polled, writes.take()


def _kind(hass: HomeAssistant, entity_id: str) -> str:
    """A short label of what an entity is, for the rows table."""
    entry = er.async_get(hass).async_get(entity_id)
    key = None
    if entry is not None:
        key = entry.translation_key or entry.original_device_class
    return re.sub(r"_\d+$", "_n", key or entity_id)


async def _start(row: Any, module: ModuleType) -> tuple[Any, dict[str, Any]] | None:
    """Start a vendor's simulator on a free port; its demo entry, or None."""
    kwargs = dict(row.kwargs)
    if row.cls == "CpsMqttDemo":
        kwargs["interval"] = 10**6  # the bench publishes on the simulated clock
    simulator = getattr(module, row.cls)(**kwargs)
    url = await simulator.start(HOST)
    port = int(re.findall(r":(\d+)", url)[-1])
    entry = SIMS._entry_for(row, module, port)
    if entry is None:
        await simulator.stop()
        return None
    return simulator, entry


async def _credentials(hass: HomeAssistant, module: ModuleType) -> None:
    hook: Callable[[], dict[str, str]] | None = getattr(
        module, "demo_application_credential", None
    )
    if hook is None:
        return
    credential = hook()
    if not await async_setup_component(hass, "application_credentials", {}):
        raise RuntimeError("application_credentials did not set up")
    await async_import_client_credential(
        hass,
        DOMAIN,
        ClientCredential(
            credential["client_id"], credential["client_secret"], credential["name"]
        ),
        credential["id"],
    )


async def _simulate_hour(
    hass: HomeAssistant,
    clock: Clock,
    simulator: Any,
    coordinator: Any,
    minutes: int,
) -> timedelta:
    """Let time pass on the simulated clock, the vendor doing its part.

    A polled entry updates when its coordinator plans to (its interval, or a
    back-off), for `minutes` or three of its intervals, whichever is longer;
    the gateway of a push entry publishes every `PUSH_EVERY`. Returns the
    time simulated.
    """
    publisher = getattr(simulator, "publisher", None)
    window = timedelta(minutes=minutes)
    if publisher is None:
        window = max(window, 3 * coordinator.update_interval)
    end = datetime.now(UTC) + window
    while True:
        step = PUSH_EVERY if publisher is not None else coordinator.update_interval
        if datetime.now(UTC) + step > end:
            return window
        clock.tick(step)
        if publisher is None:
            await coordinator.async_refresh()
        else:
            connector = coordinator.connector
            expected = connector.messages + len(publisher.models)
            stamp = datetime.now(UTC).replace(microsecond=0)
            await asyncio.to_thread(publisher.publish_telemetry, stamp)
            for _ in range(400):
                if connector.messages >= expected:
                    break
                await asyncio.sleep(0.005)
        await hass.async_block_till_done()


@dataclass
class DemoRun:
    """A vendor's demo entry in a fresh harness HA, its simulator and the noon clock."""

    hass: HomeAssistant
    entry: MockConfigEntry
    simulator: Any
    noon: _Noon


@asynccontextmanager
async def demo_run(
    row: Any, module: ModuleType, options: dict[str, Any] | None = None
) -> AsyncIterator[DemoRun | None]:
    """The vendor's simulator and its demo entry (added, not set up); None without one.

    Afterwards the entry is unloaded, HA stopped, the simulator stopped and the
    clock thawed.
    """
    noon = _Noon()  # the simulator's first data is at noon too
    simulator = None
    try:
        started = await _start(row, module)
        if started is None:
            yield None
            return
        simulator, config = started
        async with await _new_hass() as hass:
            await _prepare(hass)
            await _credentials(hass, module)
            entry = MockConfigEntry(
                domain=config["domain"],
                title=config["title"],
                unique_id=config["unique_id"],
                data=config["data"],
                options={**config.get("options", {}), **(options or {})},
            )
            entry.add_to_hass(hass)
            yield DemoRun(hass, entry, simulator, noon)
            await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_block_till_done()
            await hass.async_stop(force=True)
    finally:
        noon.thaw()
        if simulator is not None:
            await simulator.stop()


async def vendor_run(
    row: Any, module: ModuleType, *, rounds: int, minutes: int
) -> VendorFigures | None:
    """Measure one vendor's demo entry; None when it has none."""
    async with demo_run(row, module) as run:
        if run is None:
            return None
        hass, entry, simulator, noon = run.hass, run.entry, run.simulator, run.noon
        clock = noon.clock
        start = time.perf_counter()
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        setup = time.perf_counter() - start
        if entry.state is not ConfigEntryState.LOADED:
            raise RuntimeError(f"{row.vendor}: setup failed ({entry.state})")
        coordinator = entry.runtime_data
        writes = Writes(hass, {entry.entry_id})
        # The first refresh after setup: a state written again unchanged
        # is a wasted write (HA reports it, the recorder skips it).
        await coordinator.async_refresh()
        await hass.async_block_till_done()
        first_rewrites = list(writes.reported)
        writes.take()
        # The hour first, on the vendor's real budget and schedule.
        window = await _simulate_hour(hass, clock, simulator, coordinator, minutes)
        hour = writes.changed  # a recorder row per state change
        writes.take()
        noon.thaw()  # costs are timed on the real clock (see `at_noon`)
        kinds: dict[str, int] = {}
        for entity_id in hour:
            kind = _kind(hass, entity_id)
            kinds[kind] = kinds.get(kind, 0) + 1
        entities = len(
            [
                e
                for e in er.async_entries_for_config_entry(
                    er.async_get(hass), entry.entry_id
                )
                if hass.states.get(e.entity_id) is not None
            ]
        )
        with unlimited_budgets():
            unchanged = await unchanged_writes(hass, [coordinator], writes)
            floor = Floor(hass)
            polled, pushed = await measure_paths(
                hass, [coordinator], writes, floor, rounds
            )
    return VendorFigures(
        vendor=row.vendor,
        entities=entities,
        setup_ms=setup * 1000,
        polled=polled,
        pushed=pushed,
        unchanged_polled=unchanged[0],
        unchanged_pushed=unchanged[1],
        first_rewrites=first_rewrites,
        rows_per_hour=len(hour) * timedelta(hours=1) / window,
        rows_by_kind=dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
    )


async def vendor_runs(
    rounds: int, minutes: int, only: set[str] | None = None
) -> list[VendorFigures]:
    """Every vendor whose simulator and demo entry exist."""
    figures = []
    with plain_dns():
        for row in SIMS.VENDORS:
            if only and row.vendor not in only:
                continue
            module = SIMS._load(row)
            if module is None:
                continue
            try:
                found = await vendor_run(row, module, rounds=rounds, minutes=minutes)
            except FileNotFoundError as err:  # mosquitto missing
                print(f"  {row.vendor}: skipped ({err})")
                continue
            if found is not None:
                figures.append(found)
    return figures


async def scale_run(sites: int, rounds: int) -> ScaleFigures:
    """SolarEdge sites, one entry each, behind one key: cost and memory at a size."""
    key = "BENCH-KEY"
    simulator = SolarEdgeSimulator(
        api_key=key,
        sites=[
            SimSite(
                site_id=4000000 + n,
                name=f"Site {n}",
                inverters=[f"7E{n:06X}-01"],
                battery_serial=f"7F{n:06X}-B1",
                meter_serial=f"M-{n:06X}",
            )
            for n in range(sites)
        ],
        month_credits=10**9,
        minute_limit=10**9,
    )
    await simulator.start()
    try:
        with plain_dns(), unlimited_budgets():
            async with await _new_hass() as hass:
                await _prepare(hass)
                entries = []
                gc.collect()
                tracemalloc.start()
                base = 0
                first = 0
                with at_noon():
                    for site in simulator.sites.values():
                        if len(entries) == 1:
                            # The first site also loads the platforms: count
                            # what every further one adds.
                            gc.collect()
                            base = tracemalloc.get_traced_memory()[0]
                            first = len(hass.states.async_all())
                        entry = MockConfigEntry(
                            domain=DOMAIN,
                            title=site.name,
                            unique_id=f"solaredge_{site.site_id}",
                            data={
                                "vendor": "solaredge",
                                "api_key": key,
                                "site_id": str(site.site_id),
                                "url": simulator.base_url,
                            },
                        )
                        entry.add_to_hass(hass)
                        await hass.config_entries.async_setup(entry.entry_id)
                        await hass.async_block_till_done()
                        if entry.state is not ConfigEntryState.LOADED:
                            raise RuntimeError(f"setup failed: {entry.state}")
                        entries.append(entry)
                gc.collect()
                memory = tracemalloc.get_traced_memory()[0] - base
                tracemalloc.stop()
                entities = len(hass.states.async_all())
                added = entities - first if base else 0
                coordinators = [entry.runtime_data for entry in entries]
                writes = Writes(hass, {entry.entry_id for entry in entries})
                floor = Floor(hass)
                polled, pushed = await measure_paths(
                    hass, coordinators, writes, floor, rounds
                )
                for entry in entries:
                    await hass.config_entries.async_unload(entry.entry_id)
                await hass.async_stop(force=True)
    finally:
        await simulator.stop()
    return ScaleFigures(
        sites=sites,
        entities=entities,
        polled=polled,
        pushed=pushed,
        memory_kib_per_entity=memory / 1024 / added if added else float("nan"),
    )
