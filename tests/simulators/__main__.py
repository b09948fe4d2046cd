"""Run the built-in vendor simulators on fixed loopback ports (used by scripts/develop).

    python -m tests.simulators                  # run until SIGINT / SIGTERM
    python -m tests.simulators --print-entries  # print the demo config entries (JSON)
    python -m tests.simulators --print-place    # where the demo home is now (see below)
    python -m tests.simulators --tz Etc/GMT+7   # run with every simulated site in that zone

Every simulator that exists is started on its own fixed port of 127.0.0.1 and
announced as one ``<vendor>: <base url>`` line; a final ``ready`` line says all
are listening. Vendors whose simulator module is not written yet are skipped.

Adding a vendor: give it a row in ``VENDORS`` below. The simulator class is
expected to follow the SolarEdge one: ``Cls()``, ``await sim.start(host, port)``
returning the base URL, ``await sim.stop()``. The demo config entry comes from
the row's ``entry`` function or, without one, from an optional module-level
``demo_entry(host: str, port: int) -> dict`` in the simulator module. A row's
``place`` function gives the constructor arguments that put its simulated sites
in a time zone (``--tz``); a row without one keeps its simulator's own zone.

Daylight whenever someone looks: ``demo_place()`` picks, from the current UTC
time, a home where it is late morning now: the time zone ``Etc/GMT±N`` whose
local time is within half an hour of 11:00, longitude 15·N degrees (so the
real sun, which Home Assistant's ``sun`` computes, peaks at about 12:00 local
time there, as the simulators' PV curves do), latitude 33.45° N (Phoenix's, the
latitude the simulators' day lengths were made for). scripts/develop writes
that place into Home Assistant's configuration and runs the simulators with
``--tz``, so HA's sun, Sungaze's planner and the vendors' clocks agree.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
import errno
import importlib
import json
import signal
import sys
from types import ModuleType
from typing import Any

from .solaredge import SimSite, second_site

HOST = "127.0.0.1"
DOMAIN = "sungaze"

# The demo's SolarEdge account: the simulator's default key and its default site.
SOLAREDGE_API_KEY = "SIMULATED-KEY"
SOLAREDGE_SITE_ID = "3012345"
SOLAREDGE_SITE_NAME = "Rooftop"  # EG4 and Enphase demo systems are "Home"


def _solaredge_entry(host: str, port: int) -> dict[str, Any]:
    return {
        "domain": DOMAIN,
        "title": SOLAREDGE_SITE_NAME,
        "unique_id": f"solaredge_{SOLAREDGE_SITE_ID}",
        "data": {
            "vendor": "solaredge",
            "api_key": SOLAREDGE_API_KEY,
            "site_id": SOLAREDGE_SITE_ID,
            "url": f"http://{host}:{port}/v2",
        },
        "options": {},
    }


# The demo's EG4 monitor account: the simulator's default account, both stations.
EG4_USERNAME = "solarfan"
EG4_PASSWORD = "sunny-days-42"  # the simulator's, not a real secret
EG4_STATION_IDS = ["31002", "31077"]


def _solaredge_sites(tz: str | None = None) -> list[SimSite]:
    """The demo key's sites: "Rooftop" (the demo entry) and "Cabin".

    Cabin has no entry: it is left for adding through the UI (scripts/e2e does).
    """
    rooftop, cabin = SimSite(name=SOLAREDGE_SITE_NAME), second_site()
    if tz is not None:
        rooftop, cabin = replace(rooftop, timezone=tz), replace(cabin, timezone=tz)
    return [rooftop, cabin]


def _solaredge_place(tz: str) -> dict[str, Any]:
    return {"sites": _solaredge_sites(tz)}


def _enphase_place(tz: str) -> dict[str, Any]:
    from .enphase import SimSystem

    return {"systems": [SimSystem(timezone=tz)]}


def _eg4_place(tz: str) -> dict[str, Any]:
    from .eg4 import SimAccount, default_plants

    return {
        "account": SimAccount(
            plants=[replace(plant, timezone=tz) for plant in default_plants()]
        )
    }


def _cps_place(tz: str) -> dict[str, Any]:
    return {"tz": tz}


def _tigo_place(tz: str) -> dict[str, Any]:
    return {"tz": tz}


def _generac_place(tz: str) -> dict[str, Any]:
    from .generac import SimHome

    return {"homes": [SimHome(timezone=tz)]}


def _eg4_entry(host: str, port: int) -> dict[str, Any]:
    return {
        "domain": DOMAIN,
        "title": f"EG4 {EG4_USERNAME}",
        "unique_id": f"eg4_{EG4_USERNAME}",
        "data": {
            "vendor": "eg4",
            "username": EG4_USERNAME,
            "password": EG4_PASSWORD,
            "url": f"http://{host}:{port}",
            "station_ids": EG4_STATION_IDS,
        },
        "options": {},
    }


@dataclass(frozen=True)
class Vendor:
    """How to run one vendor's simulator for the demo."""

    vendor: str
    module: str  # tests.simulators.<module>
    cls: str
    port: int
    kwargs: dict[str, Any]
    entry: Callable[[str, int], dict[str, Any]] | None = None
    place: Callable[[str], dict[str, Any]] | None = None
    """Constructor arguments that put the simulated sites in a time zone."""


# Fixed ports, so that the config entries written by scripts/develop stay valid
# across restarts. Rows for simulators that do not exist yet are skipped.
VENDORS: tuple[Vendor, ...] = (
    Vendor(
        "solaredge",
        "solaredge",
        "SolarEdgeSimulator",
        18781,
        {"api_key": SOLAREDGE_API_KEY, "sites": _solaredge_sites()},
        _solaredge_entry,
        _solaredge_place,
    ),
    # demo=True: a pre-minted grant that survives restarts (see demo_entry()).
    Vendor(
        "enphase",
        "enphase",
        "EnphaseSimulator",
        18782,
        {"demo": True},
        place=_enphase_place,
    ),
    Vendor("eg4", "eg4", "EG4Simulator", 18783, {}, _eg4_entry, _eg4_place),
    # No place: SRP is a Phoenix utility, its hours stay Phoenix's.
    Vendor("srp", "srp", "SRPSimulator", 18784, {}),
    Vendor(
        "generac",
        "generac",
        "GeneracSimulator",
        18785,
        {"demo": True},
        place=_generac_place,
    ),
    Vendor("tigo", "tigo", "TigoSimulator", 18786, {}, place=_tigo_place),
    Vendor(
        "cps-modbus", "cps_modbus", "CpsModbusSimulator", 18787, {}, place=_cps_place
    ),
    # Needs mosquitto (scripts/setup installs it); skipped with a message if absent.
    Vendor("cps-mqtt", "mqtt", "CpsMqttDemo", 18788, {}, place=_cps_place),
)


# The demo home (see the module docstring).
DEMO_LATITUDE = 33.45
DEMO_LOCAL_HOUR = 11.0


@dataclass(frozen=True)
class Place:
    """Where the demo home is: a time zone and coordinates that agree."""

    time_zone: str
    latitude: float
    longitude: float
    utc_offset: int


DEMO_KEEP_HOURS = (8.0, 15.0)
"""A restart keeps the previous place while its local time is in this range."""


def _etc_offset(zone: str) -> int | None:
    """The UTC offset of an `Etc/GMT±N` zone (POSIX signs), else None."""
    if zone == "Etc/GMT":
        return 0
    if zone.startswith("Etc/GMT") and zone[7:8] in "+-" and zone[8:].isdigit():
        return -int(zone[7:])
    return None


def demo_place(now: datetime | None = None, keep: str | None = None) -> Place:
    """Return a place where it is late morning (10:30-11:30 local) at `now`.

    `keep`: the previous start's zone; kept while it is still daytime there, so
    that restarts (to load code changes) do not move the home every hour.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    hour = now.hour + now.minute / 60
    previous = _etc_offset(keep) if keep else None
    if previous is not None:
        local = (hour + previous) % 24
        if DEMO_KEEP_HOURS[0] <= local < DEMO_KEEP_HOURS[1]:
            return Place(keep or "Etc/GMT", DEMO_LATITUDE, 15.0 * previous, previous)
    offset = (round(DEMO_LOCAL_HOUR - hour) + 12) % 24 - 12  # -12 .. +11
    # POSIX signs in Etc/: Etc/GMT+7 is UTC-7.
    zone = "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"
    return Place(zone, DEMO_LATITUDE, 15.0 * offset, offset)


def _say(message: str) -> None:
    print(message, flush=True)


def _warn(message: str) -> None:
    print(f"simulators: {message}", file=sys.stderr, flush=True)


def _load(vendor: Vendor) -> ModuleType | None:
    """Import a vendor's simulator module; None when it is not written yet."""
    name = f"{__package__ or 'tests.simulators'}.{vendor.module}"
    try:
        return importlib.import_module(name)
    except ImportError as err:
        if err.name != name:  # the module exists but is broken: say so
            _warn(f"{vendor.vendor}: skipped, importing {name} failed: {err!r}")
        return None


def _entry_for(vendor: Vendor, module: ModuleType, port: int) -> dict[str, Any] | None:
    if vendor.entry is not None:
        return vendor.entry(HOST, port)
    hook = getattr(module, "demo_entry", None)
    if callable(hook):
        entry: dict[str, Any] = hook(HOST, port)
        return entry
    return None


def demo_entries(ports: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """Return the config entries the demo needs, one per available simulator.

    ``ports`` maps a vendor to the port its simulator listens on (default: the
    fixed ports of ``VENDORS``). Each entry is a dict with ``domain``,
    ``title``, ``unique_id``, ``data`` and ``options``.
    """
    ports = ports or {}
    entries: list[dict[str, Any]] = []
    for vendor in VENDORS:
        module = _load(vendor)
        if module is None:
            continue
        entry = _entry_for(vendor, module, ports.get(vendor.vendor, vendor.port))
        if entry is not None:
            entries.append({"options": {}, **entry})
    return entries


def demo_credentials() -> list[dict[str, Any]]:
    """Return the application credentials (OAuth client id/secret) the demo needs.

    A simulator module offers one through ``demo_application_credential()``;
    scripts/develop stores them where Home Assistant's Application Credentials
    keeps them, so OAuth entries set up with no sign-in.
    """
    credentials: list[dict[str, Any]] = []
    for vendor in VENDORS:
        module = _load(vendor)
        hook = getattr(module, "demo_application_credential", None) if module else None
        if callable(hook):
            credentials.append(hook())
    return credentials


async def _run(tz: str | None = None, port_offset: int = 0) -> int:
    running: list[tuple[str, Any]] = []
    failed = False
    for vendor in VENDORS:
        module = _load(vendor)
        if module is None:
            continue
        kwargs = dict(vendor.kwargs)
        if tz is not None and vendor.place is not None:
            kwargs.update(vendor.place(tz))
        elif tz is not None:
            _warn(f"{vendor.vendor}: keeps its own time zone (its row has no place)")
        try:
            simulator = getattr(module, vendor.cls)(**kwargs)
            base_url = await simulator.start(HOST, vendor.port + port_offset)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                _warn(
                    f"{vendor.vendor}: port {HOST}:{vendor.port + port_offset} is in use"
                    " (is another scripts/develop or simulator still running?)"
                )
            else:
                _warn(f"{vendor.vendor}: could not start: {err!r}")
            failed = True
            break
        except Exception as err:  # an unfinished simulator must not stop the others
            _warn(f"{vendor.vendor}: skipped, could not start: {err!r}")
            continue
        running.append((vendor.vendor, simulator))
        _say(f"{vendor.vendor}: {base_url}")

    if not failed:
        if not running:
            _warn("no simulator available")
        _say("ready")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    for name, simulator in reversed(running):
        try:
            await simulator.stop()
        except Exception as err:  # keep stopping the others
            _warn(f"{name}: error while stopping: {err!r}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.simulators",
        description="Run Sungaze's vendor simulators on fixed loopback ports.",
    )
    parser.add_argument(
        "--print-entries",
        action="store_true",
        help="print the demo's config entries as JSON and exit",
    )
    parser.add_argument(
        "--print-credentials",
        action="store_true",
        help="print the demo's OAuth application credentials as JSON and exit",
    )
    parser.add_argument(
        "--print-place",
        action="store_true",
        help="print where the demo home is now: time zone, latitude, longitude",
    )
    parser.add_argument(
        "--port-offset",
        type=int,
        default=0,
        help="add this to every fixed port (a second demo next to the first, e.g. scripts/e2e)",
    )
    parser.add_argument(
        "--keep-place",
        metavar="ZONE",
        help="with --print-place: keep this Etc/GMT zone while it is daytime there",
    )
    parser.add_argument(
        "--tz",
        help="put every simulated site in this IANA time zone",
    )
    args = parser.parse_args(argv)
    if args.print_place:
        place = demo_place(keep=args.keep_place)
        print(place.time_zone, place.latitude, place.longitude, place.utc_offset)
        return 0
    if args.print_entries or args.print_credentials:
        ports = {v.vendor: v.port + args.port_offset for v in VENDORS}
        found = demo_entries(ports) if args.print_entries else demo_credentials()
        json.dump(found, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    return asyncio.run(_run(args.tz, args.port_offset))


if __name__ == "__main__":
    sys.exit(main())
