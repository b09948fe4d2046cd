"""Measure the CPS connectors against their simulators on loopback.

Modbus: requests and wall time per update (`async_fetch`) for one and three
inverters behind one endpoint, both framings, with an instant gateway and with
a W610-class gateway that takes 700 ms a read.

MQTT: how many `cps-bridge/1` messages a second the connector takes in without
building a backlog. A gateway publishes telemetry at a fixed rate for a few
seconds (QoS 0, as fast as paho sends); "handled" means decoded in paho's
thread, applied in the event loop and folded into a pushed snapshot. The lag is
how long after the last publish the last message was handled; a rate is kept
up when the lag stays under 250 ms. A final burst sends as fast as possible.

Usage: .venv/bin/python bench/cps_bench.py [--polls 10] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
import statistics
import sys
import threading
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import custom_components.sungaze  # noqa: F401  isort: skip

from custom_components.sungaze.connectors.cps.modbus import CpsModbusConnector
from custom_components.sungaze.connectors.cps.mqtt import CpsMqttConnector
from custom_components.sungaze.model import Snapshot
from tests.simulators.cps_modbus import (
    PVI14TL_208,
    PVI36TL_480,
    SCA60KTL,
    CpsModbusSimulator,
)
from tests.simulators.mqtt import MOSQUITTO, CpsGatewayPublisher, MosquittoBroker

LAG_LIMIT = 0.25


async def modbus(polls: int) -> None:
    """Requests and wall time per update."""
    print("Modbus: requests and wall time per update (median of", polls, "updates)")
    print(
        f"  {'framing':<13} {'inverters':>9} {'read delay':>10} {'requests':>8} {'wall time':>10}"
    )
    for framing in ("tcp", "rtu_over_tcp"):
        for units in ({1: PVI14TL_208}, {1: PVI14TL_208, 2: PVI36TL_480, 3: SCA60KTL}):
            for delay in (0.0, 0.7):
                sim = CpsModbusSimulator(units, framing=framing)
                sim.delay = delay
                await sim.start()
                connector = CpsModbusConnector(
                    host=sim.host, port=sim.port, unit_ids=list(units), framing=framing
                )
                rounds = polls if not delay else 3
                walls = []
                for _ in range(rounds):
                    started = time.perf_counter()
                    await connector.async_fetch()
                    walls.append(time.perf_counter() - started)
                await connector.async_close()
                await sim.stop()
                print(
                    f"  {framing:<13} {len(units):>9} {delay * 1000:>8.0f}ms "
                    f"{len(sim.requests) / rounds:>8.1f} {statistics.median(walls) * 1000:>8.1f}ms"
                    f"  (connections: {sim.connections})"
                )


class _Counter:
    """Counts pushed snapshots and when the last wanted message was handled."""

    def __init__(self, connector: CpsMqttConnector) -> None:
        self.connector = connector
        self.pushes = 0
        self.want = 0
        self.done = asyncio.Event()
        self.done_at = 0.0

    def __call__(self, snapshot: Snapshot) -> None:
        self.pushes += 1
        if (
            self.want
            and self.connector.messages >= self.want
            and not self.done.is_set()
        ):
            self.done_at = time.perf_counter()
            self.done.set()


def _publish(
    publisher: CpsGatewayPublisher, payloads: list[bytes], rate: float | None
) -> float:
    """Publish at `rate` a second (None: as fast as possible); return when the last one left."""
    topic = publisher.topic(1, "telemetry")
    started = time.perf_counter()
    for index, payload in enumerate(payloads):
        if rate:
            wait = started + index / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        publisher.client.publish(topic, payload, qos=0)
    return time.perf_counter()


RATES: tuple[int | None, ...] = (50, 200, 500, 1000, 2000, 4000, 6000, 8000, None)


async def mqtt(seconds: float, rates: tuple[int | None, ...] = RATES) -> float | None:
    """Messages a second handled without backlog (the highest rate kept up)."""
    if MOSQUITTO is None:
        print("MQTT: skipped, mosquitto is not installed")
        return None
    broker = MosquittoBroker()
    await broker.async_start()
    publisher = CpsGatewayPublisher(broker.host, broker.port)
    await publisher.async_connect()
    connector = CpsMqttConnector(host=broker.host, port=broker.port)
    counter = _Counter(connector)
    await connector.async_start(counter)
    await connector.async_fetch()
    for _ in range(500):  # the retained status and state
        if connector.messages >= 3:
            break
        await asyncio.sleep(0.01)
    base = datetime.now(UTC).replace(microsecond=0)
    print(
        f"MQTT: {len(json.dumps(publisher.document(1)))}-byte telemetry messages, QoS 0, {seconds:.0f} s per rate"
    )
    print(f"  {'offered/s':>10} {'handled/s':>10} {'lag':>8} {'pushes':>7}  verdict")
    step = 0
    best = 0.0
    for rate in rates:
        count = int(rate * seconds) if rate else 20000
        payloads = [
            json.dumps(
                publisher.document(1, base + timedelta(seconds=step + i))
            ).encode()
            for i in range(count)
        ]
        step += count
        before = connector.messages
        counter.want = before + count
        counter.done.clear()
        pushes = counter.pushes
        started = time.perf_counter()
        sent = await asyncio.to_thread(_publish, publisher, payloads, rate)
        try:
            await asyncio.wait_for(counter.done.wait(), 5)
        except TimeoutError:
            # The broker dropped what the client could not take (QoS 0): count what arrived.
            handled_count = connector.messages - before
            last = connector.messages
            while True:
                await asyncio.sleep(0.5)
                if connector.messages == last:
                    break
                last = connector.messages
            handled_count = connector.messages - before
            print(
                f"  {rate or 'burst':>10} {count / (sent - started):>10.0f} offered, "
                f"{handled_count} of {count} handled: backlog, the broker dropped the rest"
            )
            continue
        handled = count / (counter.done_at - started)
        lag = counter.done_at - sent
        kept_up = lag < LAG_LIMIT
        if rate and kept_up:
            best = max(best, rate)
        label = str(rate) if rate else f"burst {count / (sent - started):.0f}"
        print(
            f"  {label:>10} {handled:>10.0f} {lag * 1000:>6.0f}ms {counter.pushes - pushes:>7}"
            f"  {'kept up' if kept_up else 'backlog'}"
        )
    print(f"  highest offered rate handled without backlog: {best:.0f} messages/s")
    await connector.async_close()
    await publisher.async_disconnect()
    await broker.async_close()
    return best


async def main() -> None:
    """Run both benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    await modbus(args.polls)
    print()
    await mqtt(args.seconds)


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    asyncio.run(main())
