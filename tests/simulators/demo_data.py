"""Fill a running demo Home Assistant: Energy preferences and a week of history.

    python -m tests.simulators.demo_data --url http://127.0.0.1:8123 --config config

Run by ``scripts/develop`` once Home Assistant listens; talks to it only through
its public APIs (the login flow, then the websocket API), as a user's script
would. It

1. logs in as the demo user and waits until Home Assistant runs and answers
   ``get_services`` (the call the frontend needs to finish loading);
2. waits for the Sungaze entries and their energy counters;
3. writes Energy preferences, unless some exist already: solar from every entry,
   a grid connection and a battery from the entries that have them. Per entry
   and counter, the topmost device reporting it is used (a station total, not its
   inverters too), so nothing is counted twice;
4. imports hourly statistics of those counters (``recorder/import_statistics``)
   for the hours before Home Assistant first recorded them, back to local
   midnight ``DAYS`` days ago, so that the dashboard has bars at once.

The imported hours follow the simulators' physical model (the SolarEdge
simulator's day: PV bell, house load, battery, grid), scaled per counter to its
own today's total, and their ``sum`` is chosen so that the hour Home Assistant
compiles first continues it without a jump: Home Assistant starts a sensor's
sum at 0 at its first recorded state ``v0``, so an imported hour ending at ``t``
gets ``sum = C(t) - v0`` (negative: before the start) and ``state = C(t)``.
Nothing is imported for a counter that already has hourly statistics from before
its first recorded state (a second run).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
import itertools
import json
import sys
import time
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from .solaredge import _day_bounds, _Model, _simulate_day

DAYS = 8
USERNAME, PASSWORD = "demo", "sungaze"
# Lifetime counter -> the simulator model's flow and the daily counter beside it.
FLOWS = {
    "production_energy_lifetime": "pv",
    "grid_import_energy_lifetime": "import",
    "grid_export_energy_lifetime": "export",
    "battery_charge_energy_lifetime": "charge",
    "battery_discharge_energy_lifetime": "discharge",
}
_MODEL_PEAK_KW = 7.6
_MODEL_BATTERY_WH = 9700.0


def _say(message: str) -> None:
    print(f"demo-data: {message}", flush=True)


class DemoError(Exception):
    """The demo cannot be filled (the message says why)."""


class Client:
    """A minimal websocket API client (one request at a time)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Wrap an authenticated websocket."""
        self._ws = ws
        self._ids = itertools.count(1)

    async def call(self, kind: str, **data: Any) -> Any:
        """Send one command; return its result or raise DemoError."""
        msg_id = next(self._ids)
        await self._ws.send_json({"id": msg_id, "type": kind, **data})
        while True:
            msg = await self._ws.receive_json(timeout=120)
            if msg.get("id") != msg_id or msg.get("type") != "result":
                continue
            if not msg.get("success"):
                raise DemoError(f"{kind}: {msg.get('error')}")
            return msg.get("result")


async def _login(session: aiohttp.ClientSession, url: str) -> str:
    """The demo user's access token, through Home Assistant's login flow."""
    client_id = f"{url}/"
    async with session.post(
        f"{url}/auth/login_flow",
        json={
            "client_id": client_id,
            "handler": ["homeassistant", None],
            "redirect_uri": client_id,
        },
    ) as resp:
        flow = await resp.json()
    async with session.post(
        f"{url}/auth/login_flow/{flow['flow_id']}",
        json={"client_id": client_id, "username": USERNAME, "password": PASSWORD},
    ) as resp:
        step = await resp.json()
    if step.get("type") != "create_entry":
        raise DemoError(f"the login {USERNAME!r} was refused: {step.get('errors')}")
    async with session.post(
        f"{url}/auth/token",
        data={
            "grant_type": "authorization_code",
            "code": step["result"],
            "client_id": client_id,
        },
    ) as resp:
        token: str = (await resp.json())["access_token"]
    return token


async def _connect(session: aiohttp.ClientSession, url: str, deadline: float) -> Client:
    while True:
        try:
            token = await _login(session, url)
            ws = await session.ws_connect(f"{url}/api/websocket", max_msg_size=0)
            await ws.receive_json()  # auth_required
            await ws.send_json({"type": "auth", "access_token": token})
            if (await ws.receive_json()).get("type") != "auth_ok":
                raise DemoError("websocket authentication failed")
            return Client(ws)
        except aiohttp.ClientError, KeyError, json.JSONDecodeError, TimeoutError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)


async def _until(deadline: float, what: str, check: Any) -> Any:
    while True:
        if result := await check():
            return result
        if time.monotonic() > deadline:
            raise DemoError(f"timed out waiting for {what}")
        await asyncio.sleep(1)


@dataclass
class Counter:
    """One lifetime energy counter chosen for the Energy dashboard."""

    entity_id: str
    key: str
    entry_id: str
    device_id: str
    unit: str
    today: float | None  # its daily sibling's value, in the same unit


def _metric_key(unique_id: str) -> str | None:
    if unique_id.startswith("home_"):
        return None  # the Whole home combines the others: counting it would double
    for key in (*FLOWS, *(k.replace("_lifetime", "_today") for k in FLOWS)):
        if unique_id.endswith(f"_{key}"):
            return key
    for key in ("production_power", "battery_state_of_charge"):
        if unique_id.endswith(f"_{key}"):
            return key
    return None


def _topmost(
    entities: list[dict[str, Any]], parents: dict[str, str | None]
) -> list[dict[str, Any]]:
    """Entities whose device has no ancestor with an entity of the same key."""
    by_key: dict[tuple[str, str], set[str]] = {}
    for ent in entities:
        by_key.setdefault((ent["config_entry_id"], ent["_key"]), set()).add(
            ent["device_id"]
        )
    chosen = []
    for ent in entities:
        devices = by_key[(ent["config_entry_id"], ent["_key"])]
        parent, seen = parents.get(ent["device_id"]), set()
        while parent and parent not in seen:
            if parent in devices:
                break
            seen.add(parent)
            parent = parents.get(parent)
        else:
            chosen.append(ent)
    return chosen


def _number(state: dict[str, Any] | None) -> float | None:
    try:
        return float(state["state"]) if state else None
    except ValueError:
        return None


async def _counters(client: Client, deadline: float) -> tuple[list[Counter], dict]:
    """The lifetime counters to chart, once they all have a value."""

    async def loaded() -> list[dict[str, Any]] | None:
        entries = await client.call("config_entries/get", domain="sungaze")
        if entries and all(e["state"] != "setup_in_progress" for e in entries):
            return [e for e in entries if e["state"] == "loaded"] or None
        return None

    entries = await _until(deadline, "the Sungaze entries", loaded)
    entry_ids = {e["entry_id"] for e in entries}
    devices = await client.call("config/device_registry/list")
    parents = {d["id"]: d.get("via_device_id") for d in devices}
    names = {d["id"]: d.get("name_by_user") or d.get("name") for d in devices}

    async def counters() -> tuple[list[Counter], dict[str, Any]] | None:
        registry = await client.call("config/entity_registry/list")
        states = {s["entity_id"]: s for s in await client.call("get_states")}
        ours = []
        for ent in registry:
            if (
                ent.get("platform") != "sungaze"
                or ent.get("config_entry_id") not in entry_ids
                or ent.get("disabled_by")
                or not ent.get("device_id")
                or (key := _metric_key(ent.get("unique_id", ""))) is None
            ):
                continue
            ours.append({**ent, "_key": key})
        lifetime = [e for e in ours if e["_key"] in FLOWS]
        if not lifetime or any(
            _number(states.get(e["entity_id"])) is None for e in lifetime
        ):
            return None
        siblings = {(e["device_id"], e["_key"]): e["entity_id"] for e in ours}
        chosen = []
        for ent in _topmost(lifetime, parents):
            state = states[ent["entity_id"]]
            today_id = siblings.get(
                (ent["device_id"], ent["_key"].replace("_lifetime", "_today"))
            )
            today_state = states.get(today_id) if today_id else None
            today = _number(today_state)
            unit = state["attributes"].get("unit_of_measurement") or "kWh"
            if today is not None and today_state:
                today = _to_unit(
                    today, today_state["attributes"].get("unit_of_measurement"), unit
                )
            chosen.append(
                Counter(
                    ent["entity_id"],
                    ent["_key"],
                    ent["config_entry_id"],
                    ent["device_id"],
                    unit,
                    today,
                )
            )
        extras = {
            "names": names,
            "entry_titles": {e["entry_id"]: e["title"] for e in entries},
            "siblings": siblings,
        }
        return chosen, extras

    result: tuple[list[Counter], dict[str, Any]] = await _until(
        deadline, "the energy counters' first values", counters
    )
    return result


_WH = {"Wh": 1.0, "kWh": 1e3, "MWh": 1e6, "GWh": 1e9}


def _to_unit(value: float, unit: str | None, wanted: str) -> float:
    return value * _WH.get(unit or wanted, 1.0) / _WH.get(wanted, 1.0)


def _preferences(counters: list[Counter], extras: dict[str, Any]) -> dict[str, Any]:
    """Energy preferences: solar per entry, a grid and a battery per entry having them."""
    names, titles, siblings = (
        extras["names"],
        extras["entry_titles"],
        extras["siblings"],
    )
    sources: list[dict[str, Any]] = []
    by_entry: dict[str, dict[str, list[Counter]]] = {}
    for counter in counters:
        by_entry.setdefault(counter.entry_id, {}).setdefault(counter.key, []).append(
            counter
        )

    def label(counter: Counter) -> str:
        return str(names.get(counter.device_id) or titles.get(counter.entry_id))

    for entry_id, keys in by_entry.items():
        for counter in keys.get("production_energy_lifetime", []):
            source = {
                "type": "solar",
                "stat_energy_from": counter.entity_id,
                "config_entry_solar_forecast": None,
                "name": label(counter),
            }
            if rate := siblings.get((counter.device_id, "production_power")):
                source["stat_rate"] = rate
            sources.append(source)
        imports = keys.get("grid_import_energy_lifetime", [])
        exports = keys.get("grid_export_energy_lifetime", [])
        for index in range(max(len(imports), len(exports))):
            grid: dict[str, Any] = {
                "type": "grid",
                "stat_energy_from": imports[index].entity_id
                if index < len(imports)
                else None,
                "stat_energy_to": exports[index].entity_id
                if index < len(exports)
                else None,
                "cost_adjustment_day": 0,
                "name": label((imports or exports)[index]),
            }
            sources.append(grid)
        charges = keys.get("battery_charge_energy_lifetime", [])
        discharges = {
            c.device_id: c for c in keys.get("battery_discharge_energy_lifetime", [])
        }
        for charge in charges:
            if (discharge := discharges.get(charge.device_id)) is None:
                continue
            battery = {
                "type": "battery",
                "stat_energy_from": discharge.entity_id,
                "stat_energy_to": charge.entity_id,
                "name": label(charge),
            }
            if soc := siblings.get((charge.device_id, "battery_state_of_charge")):
                battery["stat_soc"] = soc
            sources.append(battery)
        del entry_id
    return {"energy_sources": sources, "device_consumption": []}


class Shape:
    """Cumulative Wh of one flow of the simulators' model, at any moment."""

    def __init__(self, tz: str, flow: str) -> None:
        """Model a house in time zone `tz`."""
        self.model = _Model(
            tz, _MODEL_PEAK_KW, date(2021, 3, 15).toordinal(), _MODEL_BATTERY_WH
        )
        self.tz = tz
        self.flow = flow
        # A fixed origin, before any hour imported.
        self.origin = datetime.now(UTC).date().toordinal() - DAYS - 3

    def at(self, moment: datetime) -> float:
        """Wh of the flow from a fixed origin to `moment`."""
        ordinal = moment.astimezone(ZoneInfo(self.tz)).date().toordinal()
        day = _simulate_day(self.model, ordinal)
        before = sum(
            _simulate_day(self.model, o).cum[self.flow][-1]
            for o in range(self.origin, ordinal)
        )
        cum = day.cum[self.flow]
        position = (moment - day.start).total_seconds() / 300
        index = min(int(position), day.steps - 1)
        fraction = position - index
        return before + cum[index] + (cum[index + 1] - cum[index]) * fraction

    def since_midnight(self, moment: datetime) -> float:
        """Wh of the flow since local midnight."""
        ordinal = moment.astimezone(ZoneInfo(self.tz)).date().toordinal()
        return self.at(moment) - self.at(_day_bounds(self.tz, ordinal)[0])


async def _first_state(client: Client, entity_id: str) -> tuple[datetime, float] | None:
    start = (datetime.now(UTC) - timedelta(days=DAYS + 2)).isoformat()
    history = await client.call(
        "history/history_during_period",
        start_time=start,
        entity_ids=[entity_id],
        minimal_response=True,
        no_attributes=True,
        significant_changes_only=False,
    )
    for row in history.get(entity_id, []):
        try:
            value = float(row.get("s", row.get("state")))
        except TypeError, ValueError:
            continue
        stamp = row.get("lu", row.get("last_updated"))
        moment = (
            datetime.fromtimestamp(stamp, UTC)
            if isinstance(stamp, int | float)
            else datetime.fromisoformat(stamp)
        )
        return moment, value
    return None


def _hours(first: datetime, stop: datetime) -> Iterable[datetime]:
    moment = first
    while moment < stop:
        yield moment
        moment += timedelta(hours=1)


async def _import_history(
    client: Client, counters: list[Counter], tz: str, deadline: float
) -> int:
    """Import the hours before each counter's first recorded state; return how many."""
    imported = 0
    zone = ZoneInfo(tz)
    now = datetime.now(UTC)
    pv = Shape(tz, "pv")
    production_scale: dict[str, float] = {}
    for counter in counters:
        if counter.key == "production_energy_lifetime" and counter.today:
            model_today = pv.since_midnight(now) / _WH[counter.unit]
            if model_today > 0.05:
                production_scale[counter.entry_id] = counter.today / model_today
    for counter in counters:
        first = await _until(
            deadline,
            f"{counter.entity_id} in the recorder",
            lambda c=counter: _first_state(client, c.entity_id),
        )
        started, v0 = first
        stop = started.replace(minute=0, second=0, microsecond=0)
        local_midnight = datetime.combine(
            (now.astimezone(zone) - timedelta(days=DAYS)).date(),
            datetime.min.time(),
            zone,
        )
        begin = local_midnight.astimezone(UTC)
        existing = await client.call(
            "recorder/statistics_during_period",
            start_time=begin.isoformat(),
            end_time=stop.isoformat(),
            statistic_ids=[counter.entity_id],
            period="hour",
            types=["sum"],
        )
        if existing.get(counter.entity_id):
            continue
        shape = Shape(tz, FLOWS[counter.key])
        model_today = shape.since_midnight(now) / _WH[counter.unit]
        if counter.today and model_today > 0.05:
            scale = counter.today / model_today
        else:
            scale = production_scale.get(counter.entry_id, 1.0)
        scale /= _WH[counter.unit]  # model Wh -> the counter's unit
        at_start = shape.at(started)
        stats = []
        for hour in _hours(begin, stop):
            end = hour + timedelta(hours=1)
            delta = (shape.at(end) - at_start) * scale  # <= 0: before the start
            stats.append(
                {
                    "start": hour.isoformat(),
                    "state": round(v0 + delta, 4),
                    "sum": round(delta, 4),
                }
            )
        if not stats:
            continue
        await client.call(
            "recorder/import_statistics",
            metadata={
                "has_sum": True,
                "mean_type": 0,
                "name": None,
                "source": "recorder",
                "statistic_id": counter.entity_id,
                "unit_class": "energy",
                "unit_of_measurement": counter.unit,
            },
            stats=stats,
        )
        imported += len(stats)
    return imported


async def fill(url: str, wait_s: float) -> int:
    """Wait for the demo, then write preferences and history. Return an exit status."""
    deadline = time.monotonic() + wait_s
    async with aiohttp.ClientSession() as session:
        client = await _connect(session, url, deadline)

        async def running() -> dict[str, Any] | None:
            config: dict[str, Any] = await client.call("get_config")
            return config if config.get("state") == "RUNNING" else None

        config = await _until(deadline, "Home Assistant to finish starting", running)
        try:
            await client.call("get_services")
        except DemoError as err:
            raise DemoError(
                f"Home Assistant cannot list its services ({err}); the UI would stay on"
                " 'Loading'. Run scripts/setup (it builds pymicro-vad and pyspeex-noise)."
            ) from err
        _say("Home Assistant answers the frontend's calls")
        counters, extras = await _counters(client, deadline)
        try:
            prefs = await client.call("energy/get_prefs")
        except DemoError:
            prefs = None
        if prefs and prefs.get("energy_sources"):
            _say("keeping the existing Energy preferences")
        else:
            wanted = _preferences(counters, extras)
            await client.call("energy/save_prefs", **wanted)
            _say(f"wrote Energy preferences ({len(wanted['energy_sources'])} sources)")
        rows = await _import_history(client, counters, config["time_zone"], deadline)
        if rows:
            _say(
                f"imported {rows} hourly statistics for {len(counters)} energy counters ({DAYS} days)"
            )
        else:
            _say("energy history already present")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m tests.simulators.demo_data")
    parser.add_argument("--url", required=True)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args(argv)
    try:
        return asyncio.run(fill(args.url.rstrip("/"), args.timeout))
    except DemoError as err:
        print(f"demo-data: ERROR: {err}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
