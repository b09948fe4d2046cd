"""The whole home's cost per member update (HA-free part: combining snapshots).

    .venv/bin/python -m bench.home_bench [--members 3] [--devices 10] [--updates 2000]

Each member snapshot has a site device and `devices` inverters with power and
lifetime counters; every update moves one member's values. Prints µs per
member update (combine + counter guards + underperformance rule) and the
Home's snapshot size. The HA side (the Home's entity writes) costs what any
entry's writes cost: see `python -m bench`.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from custom_components.sungaze.connectors.base import Member
from custom_components.sungaze.connectors.home import HomeConnector
from custom_components.sungaze.model import Device, DeviceKind, Readings, Site, Snapshot


def _snapshot(member: int, devices: int, step: int, at: datetime) -> Snapshot:
    site = f"s{member}"
    found = {site: Device(id=site, kind=DeviceKind.SITE, name=site, site_id=site)}
    readings = {
        site: Readings(
            values={
                "production_power": 3000.0 + step % 50,
                "grid_power": -200.0 + step % 7,
                "production_energy_lifetime": 1e6 + step * 10.0,
                "production_energy_today": 1e4 + step * 10.0,
            }
        )
    }
    for n in range(devices):
        dev = f"{site}i{n}"
        found[dev] = Device(id=dev, kind=DeviceKind.INVERTER, name=dev, site_id=site)
        readings[dev] = Readings(values={"ac_power": 300.0 + n, "battery_power": 10.0})
    return Snapshot(
        sites={site: Site(id=site, name=site, peak_power_w=5000.0)},
        devices=found,
        readings=readings,
        fetched_at=at,
    )


def main() -> None:
    """Run the bench and print its figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--updates", type=int, default=2000)
    args = parser.parse_args()
    home = HomeConnector.from_config(
        None,  # type: ignore[arg-type]
        {"home_id": "h", "time_zone": "America/Phoenix"},
    )
    pushed: list[Snapshot] = []
    start = datetime(2026, 6, 21, 19, tzinfo=UTC)
    snapshots = [
        _snapshot(
            step % args.members, args.devices, step, start + timedelta(seconds=step)
        )
        for step in range(args.updates)
    ]

    home._on_snapshot = pushed.append  # the coordinator's push, in the bench
    began = time.perf_counter()
    for step, snapshot in enumerate(snapshots):
        home.member_update(
            Member(entry_id=f"m{step % args.members}", title="m", snapshot=snapshot)
        )
    elapsed = time.perf_counter() - began
    print(
        f"home: {args.members} members x {args.devices + 1} devices: "
        f"{elapsed / args.updates * 1e6:.1f} µs per member update, "
        f"{len(pushed)} snapshots pushed"
    )


if __name__ == "__main__":
    main()
