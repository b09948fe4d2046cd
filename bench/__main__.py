"""Every Sungaze bench figure in one run.

    .venv/bin/python -m bench            # full sizes (a few minutes)
    .venv/bin/python -m bench --smoke    # small sizes, under a minute (CI)

Prints, per vendor with a simulator and demo entry: setup time, entities,
update cost per entity written against the bare-HA floor (polled and pushed,
with the ratio), entities written on an unchanged update (both paths) and
states the first refresh after setup wrote again unchanged (the target is
none for both), recorder rows per simulated hour and which entities make
them; then the cost and memory per entity at growing sizes (SolarEdge sites),
the MQTT messages a second taken in without backlog, and the first-setup
history's requests and time per vendor (bench/history_bench.py). See bench/hotpath.py
for how each figure is measured. Exits non-zero when an unchanged update
wrote anything (the ratios are printed, not gated: a shared CI machine makes
them noisy).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
import sys
import threading

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import custom_components.sungaze  # noqa: F401  isort: skip

from bench import cps_bench, history_bench
from bench.hotpath import Cost, ScaleFigures, VendorFigures, scale_run, vendor_runs

TARGET_RATIO = 1.3
"""What the hot path aims at (issue 14)."""


def _cost(cost: Cost) -> str:
    return (
        f"{cost.written:>4} {cost.ours_us:6.1f} {cost.floor_us:6.1f} {cost.ratio:5.2f}x"
    )


def _print_vendors(figures: list[VendorFigures]) -> None:
    print(
        "Per vendor (demo entry; n = states written per update (every value"
        " changed); µs per state written, ours vs bare-HA floor)"
    )
    print(
        f"  {'vendor':<10} {'entities':>8} {'setup ms':>9}"
        f"  {'polled: n  ours floor ratio':>27}  {'pushed: n  ours floor ratio':>27}"
        f"  {'unchanged writes p/p':>20} {'1st refresh':>11} {'rows/h':>7}"
    )
    for f in figures:
        print(
            f"  {f.vendor:<10} {f.entities:>8} {f.setup_ms:>9.1f}"
            f"  {_cost(f.polled):>27}  {_cost(f.pushed):>27}"
            f"  {len(f.unchanged_polled):>9}/{len(f.unchanged_pushed):<10}"
            f" {len(f.first_rewrites):>11} {f.rows_per_hour:>7.0f}"
        )
    print("  state changes in the simulated window by entity kind:")
    for f in figures:
        kinds = ", ".join(f"{k} {v}" for k, v in f.rows_by_kind.items())
        print(f"    {f.vendor:<10} {kinds or 'none'}")
    for f in figures:
        for path, written in (
            ("polled", f.unchanged_polled),
            ("pushed", f.unchanged_pushed),
            ("first refresh", f.first_rewrites),
        ):
            if written:
                print(
                    f"  {f.vendor}: {path} rewrote {len(set(written))} unchanged states"
                )


def _print_scale(figures: list[ScaleFigures]) -> None:
    print(
        "At size (SolarEdge sites, one entry each; µs per entity written;"
        " memory: what each site after the first adds, per entity)"
    )
    print(
        f"  {'sites':>5} {'entities':>8}  {'polled: n  ours floor ratio':>27}"
        f"  {'pushed: n  ours floor ratio':>27}  {'KiB/entity':>10}"
    )
    for f in figures:
        print(
            f"  {f.sites:>5} {f.entities:>8}  {_cost(f.polled):>27}"
            f"  {_cost(f.pushed):>27}  {f.memory_kib_per_entity:>10.1f}"
        )


async def _main(args: argparse.Namespace) -> int:
    smoke = args.smoke
    rounds = 3 if smoke else args.rounds
    only = set(args.vendor) if args.vendor else None
    vendors = await vendor_runs(rounds, minutes=20 if smoke else 60, only=only)
    _print_vendors(vendors)
    print()
    sizes = [1, 3] if smoke else args.sites
    scale = [await scale_run(size, rounds) for size in sizes]
    _print_scale(scale)
    print()
    best = await cps_bench.mqtt(
        0.5 if smoke else args.seconds,
        (200, 1000, 4000) if smoke else cps_bench.RATES,
    )
    print()
    print("\n".join(await history_bench.run(smoke)))
    print()
    ratios = [f.polled.ratio for f in scale] + [f.pushed.ratio for f in scale]
    unchanged = sum(
        len(f.unchanged_polled) + len(f.unchanged_pushed) + len(f.first_rewrites)
        for f in vendors
    )
    print(
        f"Summary: ratio to the floor {min(ratios):.2f}-{max(ratios):.2f}x"
        f" (target {TARGET_RATIO}x), writes on unchanged updates {unchanged},"
        f" MQTT {best or 0:.0f} messages/s without backlog"
    )
    if unchanged:
        print("bench: FAILED (an unchanged update must write nothing)")
        return 1
    return 0


def main() -> int:
    """Parse the arguments and run every bench."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small sizes, < 60 s")
    parser.add_argument("--sites", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0, help="per MQTT rate")
    parser.add_argument("--vendor", action="append", help="only these vendors")
    args = parser.parse_args()
    threading.current_thread().name = "bench"
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
