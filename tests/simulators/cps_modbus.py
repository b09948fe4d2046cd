"""CPS (Chint) string-inverter simulator: a real pymodbus 3.13 server on loopback.

The register images start from the two real dumps in
``/work/shared/api/tigo-cps.md`` B.7 (a PVI14TL-208 and a PVI36TL-480) and the
made-up 60 kW example next to them; identity registers (device code,
firmware, serial, model) and the dumps' quirks (PV3 = 0xFFFF on two-MPPT
units, transformer temperature 0x8000, frequency raw 0 on the 36 kW unit,
efficiency 0xFFFF) are kept as captured. The live registers follow a day curve
derived from ``datetime.now(UTC)`` at request time, so freezegun controls them
and every run is deterministic:

* site-local time (default America/Phoenix): "check" from 05:45, running
  06:00-18:00 with AC power ``peak * sin(pi * (h - 6) / 12)``, standby after;
* energy today is the exact integral of that curve (reset at local midnight),
  floored to the register's 0.1 kWh; lifetime is the dump's value on
  2025-01-01 plus every day since, floored to 1 kWh. With
  ``nightly_lifetime`` (by default: for the firmware versions B.8 names) the
  lifetime register only takes the day's energy after the inverter went to
  standby;
* the holding pair 0x1000/0x1001 (remote on/off, power limit) is live: writing
  0x5555 stops the inverter, a limit below 100 % caps (derates) it.

Framing is Modbus TCP or RTU-over-TCP (an RS-485 gateway that forwards raw RTU
frames); several unit ids can sit behind one server. Fault switches: Modbus
exceptions, per-read delay, unanswered reads (timeouts), dropped connections,
0xFFFF in chosen registers, fault bits, units asleep at night. A unit id
nobody configured gets exception 0x0B over TCP and silence over RTU, as real
gateways do.

pymodbus 3.13 notes: the SimDevice API is zero-based (no +1 trap); the
``action`` hook rewrites the register list in place before each answer, and
the server's ``trace_packet`` hook can swallow an answer (a timeout) without
leaving a sleeping task behind.

Run ``python -m tests.simulators.cps_modbus --port 5020`` for a standalone
server (see ``--help``).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
import logging
import math
from typing import Any
from zoneinfo import ZoneInfo

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

__all__ = [
    "PVI14TL_208",
    "PVI36TL_480",
    "SCA60KTL",
    "CpsModbusSimulator",
    "CpsProfile",
    "InverterModel",
    "demo_entry",
    "demo_models",
]

EPOCH = date(2025, 1, 1)
BLOCK = 0x3B
SUNRISE_H = 6.0
SUNSET_H = 18.0
CHECK_H = 5.75
STANDBY_AFTER_H = 18.0
NIGHTLY_FIRMWARE = frozenset({1797, 2053, 1284})
"""Firmware known to add the day to lifetime energy only at night (B.8)."""
REMOTE_ON = 0xAAAA
REMOTE_OFF = 0x5555
BITFIELDS = {
    "perm_fault": 0x34,
    "warning": 0x35,
    "fault0": 0x36,
    "fault1": 0x37,
    "fault2": 0x38,
    "fault3": 0x39,
    "fault4": 0x3A,
}


def _ascii(text: str, words: int = 10) -> list[int]:
    raw = text.encode("ascii").ljust(words * 2, b"\0")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, words * 2, 2)]


def _serial_words(serial: str) -> list[int]:
    value = int(serial, 16)
    return [(value >> shift) & 0xFFFF for shift in (48, 32, 16, 0)]


@dataclass(frozen=True, slots=True, kw_only=True)
class CpsProfile:
    """One simulated inverter: a real dump's identity plus the day-curve parameters."""

    model: str
    serial: str
    device_code: int
    firmware: int
    rated_kw: float
    mppt_volts: tuple[float, ...]
    """Operating voltage of each MPPT; a missing MPPT reads 0xFFFF."""
    grid_volts: tuple[float, float, float]
    lifetime_kwh: int
    """Lifetime energy at the start of EPOCH."""
    efficiency: int | None = 9758
    power_factor: int = 0x03E6
    frequency_raw: int | None = 600
    """None: the dump reads 0 (frequency not reported)."""
    transformer: bool = False
    mppts_total: int = 3


PVI14TL_208 = CpsProfile(
    model="PVI14TL-208",
    serial="11491338014",
    device_code=0x4032,
    firmware=0x0706,
    rated_kw=14.0,
    mppt_volts=(367.9, 370.7),
    grid_volts=(209.5, 210.6, 211.2),
    lifetime_kwh=106_394,
    efficiency=0x261E,
    power_factor=0xFC27,
    frequency_raw=0x0257,
)
"""The PVI14TL-208 dump (SolarNetwork data-01.txt, B.7)."""

PVI36TL_480 = CpsProfile(
    model="PVI36TL-480",
    serial="1013271644022",
    device_code=0x4031,
    firmware=0x0805,
    rated_kw=36.0,
    mppt_volts=(569.0, 571.5),
    grid_volts=(490.6, 490.0, 491.5),
    lifetime_kwh=23_119,
    efficiency=None,
    power_factor=0x03E6,
    frequency_raw=None,
)
"""The PVI36TL-480 dump (CSI driver data-01.txt, B.7): frequency reads 0, efficiency 0xFFFF.

Its firmware register is not in the dump; 0x0805 (2053) is one of the versions
known for the night-only lifetime counter (B.8), so this profile exercises it.
"""

SCA60KTL = CpsProfile(
    model="SCA60KTL-DO/US-480",
    serial="1016060000123",
    device_code=0x4033,
    firmware=0x0B00,
    rated_kw=60.0,
    mppt_volts=(634.1, 637.5, 636.5),
    grid_volts=(490.6, 490.0, 491.5),
    lifetime_kwh=215_377,
    transformer=False,
)
"""The made-up 60 kW example of B.7 (three MPPTs)."""


@dataclass(slots=True)
class InverterModel:
    """The live state of one simulated inverter; registers derive from the time."""

    profile: CpsProfile
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("America/Phoenix"))
    nightly_lifetime: bool | None = None
    """Lifetime takes the day only at night; default: the firmware is one known for it."""
    sleep_at_night: bool = False
    on_off: int = REMOTE_ON
    limit_permille: int = 1000
    faults: dict[str, int] = field(default_factory=dict)
    blank: set[int] = field(default_factory=set)
    """Input registers forced to 0xFFFF."""
    low_first: bool = False

    @property
    def peak_kw(self) -> float:
        """Clear-sky peak AC power: 80 % of the rating."""
        return self.profile.rated_kw * 0.8

    @property
    def day_kwh(self) -> float:
        """AC energy of one full day."""
        return self.peak_kw * 2 * (SUNSET_H - SUNRISE_H) / math.pi

    def _hour(self, now: datetime) -> tuple[date, float]:
        local = now.astimezone(self.tz)
        return local.date(), local.hour + local.minute / 60 + local.second / 3600

    def _cum_kwh(self, hour: float) -> float:
        if hour <= SUNRISE_H:
            return 0.0
        span = SUNSET_H - SUNRISE_H
        x = min(hour, SUNSET_H) - SUNRISE_H
        return self.peak_kw * span / math.pi * (1 - math.cos(math.pi * x / span))

    def mode(self, now: datetime) -> int:
        """The work-mode register (B.5)."""
        _, hour = self._hour(now)
        if any(self.faults.get(name) for name in BITFIELDS if name != "warning"):
            return 0x8000
        if self.on_off == REMOTE_OFF or not CHECK_H <= hour < STANDBY_AFTER_H:
            return 0x2000
        if hour < SUNRISE_H:
            return 0x4000
        return 0x0800 if self._capped(hour) else 0x1000

    def asleep(self, now: datetime) -> bool:
        """Whether the unit's RS-485 side is silent (only with `sleep_at_night`)."""
        _, hour = self._hour(now)
        return self.sleep_at_night and not CHECK_H <= hour < STANDBY_AFTER_H + 0.25

    def _capped(self, hour: float) -> bool:
        return self._clear_kw(hour) > self.profile.rated_kw * self.limit_permille / 1000

    def _clear_kw(self, hour: float) -> float:
        if not SUNRISE_H < hour < SUNSET_H:
            return 0.0
        return self.peak_kw * math.sin(
            math.pi * (hour - SUNRISE_H) / (SUNSET_H - SUNRISE_H)
        )

    def power_kw(self, now: datetime) -> float:
        """AC power now."""
        if self.mode(now) not in (0x1000, 0x0800):
            return 0.0
        _, hour = self._hour(now)
        return min(
            self._clear_kw(hour), self.profile.rated_kw * self.limit_permille / 1000
        )

    def today_kwh(self, now: datetime) -> float:
        """Energy today (the uncapped curve's integral; limits are short-lived in tests)."""
        _, hour = self._hour(now)
        return self._cum_kwh(hour)

    def lifetime_kwh(self, now: datetime) -> float:
        """Lifetime energy as the register reports it (before flooring)."""
        day, hour = self._hour(now)
        days = max((day - EPOCH).days, 0)
        today = self.today_kwh(now)
        nightly = self.nightly_lifetime
        if nightly is None:
            nightly = self.profile.firmware in NIGHTLY_FIRMWARE
        if nightly and hour < STANDBY_AFTER_H:
            today = 0.0
        return self.profile.lifetime_kwh + days * self.day_kwh + today

    def registers(self, now: datetime) -> list[int]:
        """The core input block 0x0000-0x003A at `now`."""
        profile = self.profile
        regs = [0] * BLOCK
        regs[0x00] = profile.device_code
        regs[0x05] = profile.firmware
        serial = _serial_words(profile.serial)
        regs[0x06:0x0A] = serial[::-1] if self.low_first else serial
        regs[0x0A:0x14] = _ascii(profile.model)
        mode = self.mode(now)
        running = mode in (0x1000, 0x0800)
        power = self.power_kw(now)
        lifetime = math.floor(self.lifetime_kwh(now))
        words = [(lifetime >> 16) & 0xFFFF, lifetime & 0xFFFF]
        regs[0x16:0x18] = words[::-1] if self.low_first else words
        regs[0x18] = math.floor(self.today_kwh(now) * 10)
        regs[0x19] = profile.efficiency if profile.efficiency is not None else 0xFFFF
        regs[0x1A] = profile.power_factor
        _, hour = self._hour(now)
        peak = self._clear_kw(min(hour, 12.0)) if hour > SUNRISE_H else 0.0
        regs[0x1B] = round(
            min(peak, profile.rated_kw * self.limit_permille / 1000) * 10
        )
        regs[0x1D] = round(power * 10)
        regs[0x1E] = round(power * 10) + (1 if power else 0)
        for i, volts in enumerate(profile.grid_volts):
            regs[0x1F + i] = round(volts * 10) if running else 0
            regs[0x22 + i] = (
                round(power * 1000 / (math.sqrt(3) * volts) * 10) if running else 0
            )
        dc_kw = power / 0.975
        for i in range(profile.mppts_total):
            if i >= len(profile.mppt_volts):
                regs[0x25 + 2 * i] = regs[0x26 + 2 * i] = 0xFFFF
                continue
            volts = profile.mppt_volts[i] if running else 0.0
            amps = (
                dc_kw * 1000 / len(profile.mppt_volts) / volts
                if running and volts
                else 0.0
            )
            regs[0x25 + 2 * i] = round(volts * 10)
            regs[0x26 + 2 * i] = round(amps * 10)
        regs[0x2B] = (profile.frequency_raw or 0) if running else 0
        ambient = 20.0 + 12.0 * max(math.sin(math.pi * (hour - 8) / 14), 0.0)
        regs[0x2C] = round((ambient + power / profile.rated_kw * 25) * 10) & 0xFFFF
        regs[0x2D] = round((ambient + power / profile.rated_kw * 8) * 10) & 0xFFFF
        regs[0x2E] = (
            round((ambient + power / profile.rated_kw * 30) * 10)
            if profile.transformer
            else 0x8000
        )
        regs[0x2F] = mode
        for name, address in BITFIELDS.items():
            regs[address] = self.faults.get(name, 0)
        for address in self.blank:
            regs[address] = 0xFFFF
        return regs


@dataclass(frozen=True, slots=True)
class Request:
    """One request the simulator answered (or swallowed)."""

    unit: int
    function: int
    address: int
    count: int


class CpsModbusSimulator:
    """A Modbus TCP (or RTU-over-TCP) endpoint with CPS inverters behind it."""

    def __init__(
        self,
        units: Mapping[int, CpsProfile | InverterModel] | None = None,
        *,
        framing: str = "tcp",
        tz: str = "America/Phoenix",
        low_first: bool = False,
    ) -> None:
        """Configure the units (default: `demo_models`); `framing` is "tcp" or "rtu_over_tcp"."""
        zone = ZoneInfo(tz)
        self.framing = framing
        self.models: dict[int, InverterModel] = {}
        for unit, item in (units or demo_models(tz)).items():
            model = (
                item
                if isinstance(item, InverterModel)
                else InverterModel(item, tz=zone)
            )
            model.low_first = low_first
            self.models[unit] = model
        self.host = "127.0.0.1"
        self.port = 0
        self._server: ModbusTcpServer | None = None
        # Fault switches.
        self.exception: int | None = None
        self.exception_units: set[int] | None = None
        self.delay = 0.0
        self.swallow = 0
        """Leave the next N requests unanswered (the client times out)."""
        self.drop = 0
        """Close the connection instead of answering the next N requests."""
        self.holding_refused = False
        # Observations.
        self.requests: list[Request] = []
        self.connections = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._swallowing = False

    # -- lifecycle ----------------------------------------------------------------

    async def start(self, host: str | None = None, port: int | None = None) -> str:
        """Listen (on a free loopback port unless told otherwise); return "host:port"."""
        self.host = host or self.host
        devices = [self._device(unit) for unit in self.models]
        devices.append(
            SimDevice(
                id=0,
                simdata=(
                    [SimData(0, values=False, datatype=DataType.BITS)],
                    [SimData(0, values=False, datatype=DataType.BITS)],
                    [SimData(0x1000, count=2, datatype=DataType.INVALID)],
                    [SimData(0, count=BLOCK, datatype=DataType.INVALID)],
                ),
                action=self._unknown_unit,
            )
        )
        self._server = ModbusTcpServer(
            devices,
            address=(self.host, port if port is not None else self.port),
            framer=FramerType.RTU
            if self.framing == "rtu_over_tcp"
            else FramerType.SOCKET,
            trace_packet=self._trace_packet,
            trace_connect=self._trace_connect,
        )
        await self._server.serve_forever(background=True)
        listener: Any = self._server.transport
        self.port = listener.sockets[0].getsockname()[1]
        return f"{self.host}:{self.port}"

    async def stop(self) -> None:
        """Close every connection and stop listening (the gateway goes away)."""
        if self._server is not None:
            await self._server.shutdown()
            self._server = None
            # Let the transports finish closing before the loop moves on.
            await asyncio.sleep(0)

    async def restart(self) -> None:
        """Come back on the same port."""
        await self.stop()
        await self.start(self.host, self.port)

    def drop_connections(self) -> None:
        """Close every client connection now (the gateway dropped them)."""
        if self._server is None:
            return
        for handler in list(self._server.active_connections.values()):
            if handler.transport is not None:
                handler.transport.close()

    # -- switches -----------------------------------------------------------------

    def model(self, unit: int = 1) -> InverterModel:
        """The simulated inverter behind `unit`."""
        return self.models[unit]

    def set_fault(self, register: str, bits: int, unit: int = 1) -> None:
        """Set a fault/warning bitfield (perm_fault, warning, fault0..fault4)."""
        self.models[unit].faults[register] = bits

    def blank(self, addresses: Iterable[int], unit: int = 1) -> None:
        """Make input registers read 0xFFFF ("not implemented")."""
        self.models[unit].blank.update(addresses)

    def requests_since(self, mark: int) -> list[Request]:
        """The requests after position `mark` of `requests`."""
        return self.requests[mark:]

    # -- server hooks -------------------------------------------------------------

    def _device(self, unit: int) -> SimDevice:
        model = self.models[unit]
        now = datetime.now(UTC)
        return SimDevice(
            id=unit,
            simdata=(
                [SimData(0, values=False, datatype=DataType.BITS)],
                [SimData(0, values=False, datatype=DataType.BITS)],
                [
                    SimData(
                        0x1000,
                        values=[model.on_off, model.limit_permille],
                        datatype=DataType.UINT16,
                    )
                ],
                [SimData(0, values=model.registers(now), datatype=DataType.UINT16)],
            ),
            action=partial(self._action, unit),
        )

    async def _action(
        self,
        unit: int,
        function: int,
        start: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        self.requests.append(Request(unit, function, address, count))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        model = self.models[unit]
        now = datetime.now(UTC)
        if self.drop:
            self.drop -= 1
            self.drop_connections()
            return None
        if self.swallow or model.asleep(now):
            self.swallow = max(self.swallow - 1, 0)
            self._swallowing = True
            return None
        if self.exception is not None and (
            self.exception_units is None or unit in self.exception_units
        ):
            return ExcCodes(self.exception)
        if function == 4:
            registers[0:BLOCK] = model.registers(now)
        elif function == 3:
            if self.holding_refused:
                return ExcCodes.ILLEGAL_ADDRESS
            registers[0:2] = [model.on_off, model.limit_permille]
        elif function in (6, 16) and values:
            offset = address - start
            written = dict(
                zip(range(offset, offset + len(values)), values, strict=True)
            )
            model.on_off = int(written.get(0, model.on_off))
            model.limit_permille = int(written.get(1, model.limit_permille))
        return None

    async def _unknown_unit(self, function: int, *_args: Any) -> ExcCodes | None:
        if self.framing == "rtu_over_tcp":
            self._swallowing = True  # a transparent RS-485 gateway just stays silent
            return None
        return ExcCodes.GATEWAY_NO_RESPONSE

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if sending and self._swallowing:
            self._swallowing = False
            return b""
        return data

    def _trace_connect(self, connected: bool) -> None:
        if connected:
            self.connections += 1


def demo_models(tz: str = "America/Phoenix") -> dict[int, InverterModel]:
    """Two units behind one gateway for `scripts/develop`: a 14 kW and a 36 kW (night-only lifetime)."""
    zone = ZoneInfo(tz)
    return {
        1: InverterModel(PVI14TL_208, tz=zone),
        2: InverterModel(PVI36TL_480, tz=zone),
    }


def demo_entry(host: str, port: int) -> dict[str, Any]:
    """The config entry `scripts/develop` adds for the demo simulator (both units)."""
    return {
        "domain": "sungaze",
        "title": "CPS inverters (2)",
        "unique_id": f"cps_{PVI14TL_208.serial}",
        "data": {
            "vendor": "cps",
            "transport": "modbus",
            "host": host,
            "port": port,
            "unit_ids": [1, 2],
            "framing": "tcp",
            "word_order": "high_first",
            "site_id": f"site_{PVI14TL_208.serial}",
        },
        "options": {},
    }


async def _serve(args: argparse.Namespace) -> None:
    models = demo_models()
    if args.units == 1:
        models = {1: models[1]}
    simulator = CpsModbusSimulator(models, framing=args.framing, tz=args.tz)
    if args.fault:
        simulator.set_fault("fault0", 1 << 10)
    where = await simulator.start(port=args.port)
    logging.getLogger(__name__).warning(
        "CPS Modbus simulator (%s) on %s, unit ids %s",
        args.framing,
        where,
        list(models),
    )
    await asyncio.Event().wait()


def main() -> None:
    """Serve simulated CPS inverters until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5020)
    parser.add_argument("--framing", choices=("tcp", "rtu_over_tcp"), default="tcp")
    parser.add_argument("--units", type=int, choices=(1, 2), default=2)
    parser.add_argument("--tz", default="America/Phoenix")
    parser.add_argument(
        "--fault",
        action="store_true",
        help="raise a grid over-frequency fault on unit 1",
    )
    logging.basicConfig(level=logging.WARNING)
    try:
        asyncio.run(_serve(parser.parse_args()))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
