"""A real MQTT broker (Debian's mosquitto) on loopback, and a CPS gateway that publishes to it.

`MosquittoBroker` writes a throw-away config (loopback listener on a free port,
no persistence, optional password file and TLS) to a temporary directory and
runs the `mosquitto` binary; it can stop and restart on the same port, which is
how the tests take the broker away under a connected client.

`CpsGatewayPublisher` plays the gateway side of Sungaze's `cps-bridge/1`
schema (docs/cps-mqtt-schema.md): it reads the registers of simulated CPS
inverters (`tests.simulators.cps_modbus.InverterModel`, so both transports see
the same day curve) and publishes them as a bridge would: telemetry (QoS 1),
retained state, retained `online` status with an `offline` Last Will, all
re-published after every (re)connect.

Run ``python -m tests.simulators.mqtt --port 1884`` for a broker with a gateway
publishing every 10 s (see ``--help``).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Iterable, Mapping
import contextlib
import dataclasses
from datetime import UTC, datetime
import json
import os
from pathlib import Path
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from typing import Any
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from .cps_modbus import BITFIELDS, InverterModel, demo_models

__all__ = [
    "MOSQUITTO",
    "CpsGatewayPublisher",
    "CpsMqttDemo",
    "MosquittoBroker",
    "demo_entry",
    "document",
]

MOSQUITTO = shutil.which("mosquitto") or next(
    (
        path
        for path in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
        if os.access(path, os.X_OK)
    ),
    None,
)
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
SCHEMA = "cps-bridge/1"
_MODES = {
    0x0800: "derating",
    0x1000: "running",
    0x2000: "standby",
    0x4000: "starting",
    0x8000: "fault",
}


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class MosquittoBroker:
    """One mosquitto process on 127.0.0.1."""

    def __init__(
        self,
        *,
        users: Mapping[str, str] | None = None,
        port: int | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        """Configure the broker; `tls` is (certificate chain, key) for a TLS listener."""
        if MOSQUITTO is None:
            raise FileNotFoundError("mosquitto is not installed")
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.users = dict(users or {})
        self.tls = tls
        self._dir = Path(tempfile.mkdtemp(prefix="sungaze-mosquitto-"))
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def _config(self) -> Path:
        lines = [
            f"listener {self.port} {self.host}",
            f"allow_anonymous {'false' if self.users else 'true'}",
            "persistence false",
            # mosquitto started as root drops to user "mosquitto", which cannot
            # read our private temp dir; staying the current user is enough.
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
            f"log_dest file {self._dir / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if self.users:
            passwords = self._dir / "passwords"
            passwords.write_text("")
            passwords.chmod(0o600)
            for user, password in self.users.items():
                subprocess.run(  # noqa: S603 - fixed binary, our own arguments
                    [MOSQUITTO_PASSWD, "-b", str(passwords), user, password],
                    check=True,
                    capture_output=True,
                )
            lines.append(f"password_file {passwords}")
        if self.tls:
            lines += [f"certfile {self.tls[0]}", f"keyfile {self.tls[1]}"]
        config = self._dir / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self) -> int:
        """Start mosquitto and wait until it accepts connections; return the port."""
        assert MOSQUITTO is not None
        config = self._config()
        self._process = subprocess.Popen(  # noqa: S603 - fixed binary, our own config
            [MOSQUITTO, "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        # Counted polls, not a clock: tests freeze time.monotonic.
        for _ in range(200):
            if self._process.poll() is not None:
                error = (
                    self._process.stderr.read().decode() if self._process.stderr else ""
                )
                raise RuntimeError(f"mosquitto exited: {error} {self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    self.starts += 1
                    return self.port
            except OSError:
                time.sleep(0.025)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port}: {self.log()}")

    def stop(self) -> None:
        """Stop mosquitto (clients see the connection drop)."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()

    def restart(self) -> None:
        """Stop and start again on the same port; retained messages are gone (no persistence)."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop and remove the temporary directory."""
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def log(self) -> str:
        """What mosquitto logged so far."""
        path = self._dir / "mosquitto.log"
        return path.read_text() if path.exists() else ""

    async def async_start(self) -> int:
        """`start` off the event loop."""
        return await asyncio.to_thread(self.start)

    async def async_restart(self) -> None:
        """`restart` off the event loop."""
        await asyncio.to_thread(self.restart)

    async def async_close(self) -> None:
        """`close` off the event loop."""
        await asyncio.to_thread(self.close)


def _signed(raw: int) -> int:
    return raw - 0x10000 if raw & 0x8000 else raw


def _u(raw: int, scale: float) -> float | None:
    return None if raw == 0xFFFF else round(raw * scale, 3)


def document(
    gateway: str,
    unit: int,
    model: InverterModel,
    now: datetime,
    *,
    kind: str = "telemetry",
) -> dict[str, Any]:
    """The `cps-bridge/1` document a bridge builds from one inverter's registers (B.9 mapping)."""
    regs = model.registers(now)
    lifetime_words = regs[0x16:0x18][::-1] if model.low_first else regs[0x16:0x18]
    lifetime = lifetime_words[0] << 16 | lifetime_words[1]
    serial = model.profile.serial
    stamp = now.astimezone(UTC).isoformat().replace("+00:00", "Z")
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "msg_id": str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"{gateway}/{serial}/{kind}/{stamp}")
        ),
        "ts": stamp,
        "gateway_id": gateway,
        "inverter": {
            "sn": serial,
            "model": model.profile.model,
            "unit_id": unit,
            "device_code": regs[0x00],
            "firmware_raw": regs[0x05],
        },
    }
    mode = regs[0x2F]
    doc["state"] = {
        "work_mode": _MODES.get(mode, "unknown"),
        "work_mode_raw": mode,
        "on_off_raw": model.on_off,
        "power_limit_pct": model.limit_permille / 10,
        "perm_fault": regs[BITFIELDS["perm_fault"]],
        "warn": regs[BITFIELDS["warning"]],
        "fault": [regs[BITFIELDS[f"fault{i}"]] for i in range(5)],
    }
    if kind == "state":
        return doc
    mppt = []
    for index in range(3):
        volts, amps = _u(regs[0x25 + 2 * index], 0.1), _u(regs[0x26 + 2 * index], 0.1)
        if volts is None:
            continue
        mppt.append(
            {
                "idx": index + 1,
                "v_v": volts,
                "i_a": amps,
                "p_w": round(volts * (amps or 0.0)),
            }
        )
    power = _u(regs[0x1D], 100)
    doc["ac"] = {
        "p_w": power,
        "s_va": _u(regs[0x1E], 100),
        "q_var": None,
        "pf": _signed(regs[0x1A]) / 1000 if regs[0x1A] != 0x8000 else None,
        "freq_hz": _u(regs[0x2B], 0.1),
        "v_ab_v": _u(regs[0x1F], 0.1),
        "v_bc_v": _u(regs[0x20], 0.1),
        "v_ca_v": _u(regs[0x21], 0.1),
        "i_a_a": _u(regs[0x22], 0.1),
        "i_b_a": _u(regs[0x23], 0.1),
        "i_c_a": _u(regs[0x24], 0.1),
    }
    doc["dc"] = {"mppt": mppt}
    doc["energy"] = {
        "today_kwh": _u(regs[0x18], 0.1),
        "lifetime_kwh": None if lifetime == 0xFFFFFFFF else lifetime,
        "peak_today_kw": _u(regs[0x1B], 0.1),
    }
    doc["temps_c"] = {
        name: None
        if regs[address] == 0x8000
        else round(_signed(regs[address]) * 0.1, 1)
        for name, address in (
            ("heatsink", 0x2C),
            ("internal", 0x2D),
            ("transformer", 0x2E),
        )
    }
    return doc


class CpsGatewayPublisher:
    """A gateway publishing `cps-bridge/1` for simulated inverters."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        models: Mapping[int, InverterModel] | None = None,
        gateway_id: str = "FLEX-00A1B2",
        prefix: str = "cps",
        username: str | None = None,
        password: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """Describe the gateway; `connect` opens the session.

        `clock` gives the time of documents published without an explicit
        time. Tests that freeze time pass one: freezegun shows threads (and so
        paho's callbacks) the real time.
        """
        self.host, self.port = host, port
        self.clock = clock or (lambda: datetime.now(UTC))
        self.models = dict(models if models is not None else demo_models())
        self.gateway_id = gateway_id
        self.prefix = prefix
        self._connected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"gateway-{gateway_id}",
            protocol=MQTTProtocolVersion.MQTTv311,
        )
        if username:
            self.client.username_pw_set(username, password)
        self.client.will_set(self.status_topic, "offline", qos=1, retain=True)
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.sent = 0

    @property
    def status_topic(self) -> str:
        """Where the gateway's online/offline status lives."""
        return f"{self.prefix}/{self.gateway_id}/status"

    def topic(self, unit: int, kind: str) -> str:
        """The topic of one inverter's telemetry or state."""
        return (
            f"{self.prefix}/{self.gateway_id}/{self.models[unit].profile.serial}/{kind}"
        )

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason: Any,
        properties: Any,
    ) -> None:
        if reason.is_failure:
            return
        # A bridge re-announces itself after every (re)connect.
        client.publish(self.status_topic, "online", qos=1, retain=True)
        now = self.clock()
        for unit in self.models:
            client.publish(
                self.topic(unit, "state"),
                json.dumps(self.document(unit, now, "state")),
                qos=1,
                retain=True,
            )
        self._connected.set()

    def _on_disconnect(self, *_args: Any) -> None:
        self._connected.clear()

    def document(
        self, unit: int, now: datetime | None = None, kind: str = "telemetry"
    ) -> dict[str, Any]:
        """The document of one inverter at `now`."""
        return document(
            self.gateway_id, unit, self.models[unit], now or self.clock(), kind=kind
        )

    def connect(self) -> None:
        """Connect (with the Last Will set) and wait until the broker accepted us."""
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(10):
            raise RuntimeError("publisher could not connect")

    def wait_connected(self, timeout: float = 15) -> None:
        """Block until the publisher is connected (again)."""
        if not self._connected.wait(timeout):
            raise RuntimeError("publisher did not reconnect")

    def publish(
        self, topic: str, payload: str | bytes, *, retain: bool = False, qos: int = 1
    ) -> None:
        """Publish one message and wait until the broker has it."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(10)
        self.sent += 1

    def publish_telemetry(
        self, now: datetime | None = None, units: Iterable[int] | None = None
    ) -> None:
        """Publish the telemetry of every (or the given) inverter."""
        now = now or self.clock()
        for unit in units if units is not None else self.models:
            self.publish(
                self.topic(unit, "telemetry"), json.dumps(self.document(unit, now))
            )

    def publish_state(self, now: datetime | None = None) -> None:
        """Publish the retained state of every inverter."""
        now = now or self.clock()
        for unit in self.models:
            self.publish(
                self.topic(unit, "state"),
                json.dumps(self.document(unit, now, "state")),
                retain=True,
            )

    def disconnect(self, *, clean: bool = True) -> None:
        """Leave: cleanly (status stays online) or not (the broker sends the Last Will)."""
        thread = self.client._thread
        if clean:
            self.client.disconnect()
        else:
            sock = self.client.socket()
            if sock is not None:
                sock.close()  # the broker sees the link die and publishes the will
        self.client.loop_stop()
        if thread is not None:
            thread.join()

    async def async_connect(self) -> None:
        """`connect` off the event loop."""
        await asyncio.to_thread(self.connect)

    async def async_publish_telemetry(
        self, now: datetime | None = None, units: Iterable[int] | None = None
    ) -> None:
        """`publish_telemetry` off the event loop."""
        await asyncio.to_thread(self.publish_telemetry, now, units)

    async def async_publish(
        self, topic: str, payload: str | bytes, *, retain: bool = False
    ) -> None:
        """`publish` off the event loop."""
        await asyncio.to_thread(lambda: self.publish(topic, payload, retain=retain))

    async def async_disconnect(self, *, clean: bool = True) -> None:
        """`disconnect` off the event loop."""
        await asyncio.to_thread(lambda: self.disconnect(clean=clean))


class CpsMqttDemo:
    """A broker plus a gateway publishing every `interval` seconds (for `scripts/develop`)."""

    def __init__(self, interval: float = 10.0, tz: str = "America/Phoenix") -> None:
        """Nothing runs until `start`; the inverters' site is in time zone `tz`."""
        self.interval = interval
        self.tz = tz
        self.broker: MosquittoBroker | None = None
        self.publisher: CpsGatewayPublisher | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start mosquitto on `port` (loopback only) and the gateway; return "mqtt://host:port"."""
        broker = self.broker = MosquittoBroker(port=port or None)
        broker.host = host
        await broker.async_start()
        publisher = self.publisher = CpsGatewayPublisher(
            broker.host, broker.port, models=_gateway_demo_models(self.tz)
        )
        await publisher.async_connect()
        self._task = asyncio.create_task(self._publish())
        return f"mqtt://{broker.host}:{broker.port}"

    async def _publish(self) -> None:
        assert self.publisher is not None
        while True:
            await self.publisher.async_publish_telemetry()
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        """Stop publishing, disconnect and stop the broker."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.publisher is not None:
            await self.publisher.async_disconnect()
        if self.broker is not None:
            await self.broker.async_close()


def _gateway_demo_models(tz: str = "America/Phoenix") -> dict[int, InverterModel]:
    """The demo's Modbus units again, under other serials: other inverters.

    Two entries reporting one inverter would give its entities the same ids.
    """
    return {
        unit: InverterModel(
            dataclasses.replace(
                model.profile, serial=f"{int(model.profile.serial) + 7}"
            ),
            tz=model.tz,
        )
        for unit, model in demo_models(tz).items()
    }


def demo_entry(host: str, port: int) -> dict[str, Any]:
    """The config entry `scripts/develop` adds for `CpsMqttDemo`."""
    return {
        "domain": "sungaze",
        "title": "CPS gateway FLEX-00A1B2",
        "unique_id": "cps_FLEX-00A1B2",
        "data": {
            "vendor": "cps",
            "transport": "mqtt",
            "host": host,
            "port": port,
            "tls": False,
            "topic_prefix": "cps",
            "site_id": "FLEX-00A1B2",
        },
        "options": {},
    }


def main() -> None:
    """Run a broker and a gateway publishing every few seconds until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=1884)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--prefix", default="cps")
    args = parser.parse_args()
    # SIGTERM ends the run like Ctrl-C, so the broker is always stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    broker = MosquittoBroker(port=args.port)
    broker.start()
    publisher = CpsGatewayPublisher(broker.host, broker.port, prefix=args.prefix)
    publisher.connect()
    print(
        f"mosquitto on {broker.host}:{broker.port}, gateway {publisher.gateway_id} under '{args.prefix}/'"
    )
    try:
        while True:
            publisher.publish_telemetry()
            time.sleep(args.interval)
    except KeyboardInterrupt:
        pass
    finally:
        publisher.disconnect()
        broker.close()


if __name__ == "__main__":
    main()
