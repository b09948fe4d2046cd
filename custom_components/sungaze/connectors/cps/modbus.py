"""CPS (Chint) string inverters over Modbus: TCP, or RTU frames through an RS-485 gateway.

Library choice: pymodbus 3.13.1, the version Home Assistant 2026.10 pins in its
package constraints (any other version would be refused). Its asyncio client
needs no threads; one connection per entry is kept open and reused.

Register map (shared/api/tigo-cps.md Part B): every measurement sits in the
core input-register block 0x0000-0x003A (59 registers, FC 0x04, 0-based), so
one read per inverter fetches identity, energy, AC/DC values, temperatures,
work mode and fault bits. A second read (FC 0x03, 0x1000-0x1001) fetches the
remote on/off state and the power limit; an inverter that refuses it is not
asked again. That makes two requests per inverter and update.

Link behaviour:

* Reads are strictly sequential (limiter concurrency 1): RS-485 is a shared
  half-duplex bus, and a slow gateway (~700 ms a read) must not pile requests up.
* An inverter that does not answer (a timeout) is asleep - CPS inverters
  power their control board from the panels, so this is what the night looks
  like - not an error: its lifetime energy is kept and its other values
  become unknown.
* An inverter (or gateway) that answers with a Modbus exception saying it
  failed - 0x04 device failure, 0x05/0x06 busy, 0x0A/0x0B the gateway cannot
  reach it - is a problem the user sees: work mode `fault`, an alert on the
  inverter (problem sensor on) and one log line until it answers again. After a timeout the connection is
  closed, because on RTU-over-TCP a late answer would otherwise be taken for
  the answer to the next request (RTU frames carry no transaction id).
* A dropped connection is re-opened once within the same update; when the
  gateway cannot be reached, updates fail fast while the next attempt waits
  with exponential back-off (1 s doubling to 2 min).

A serial port (USB RS-485 adapter) is not offered: pymodbus' serial client
needs pyserial, which Home Assistant 2026.10 no longer ships or pins (its own
serial integrations moved to serialx). ser2net or any RS-485 gateway in
transparent mode serves such an adapter as RTU over TCP.

UNCONFIRMED choices: 32-bit values are high word first (B.2); the word-order
option swaps the halves of the lifetime energy and the serial for gateways or
firmware that do. Exceptions 0x01-0x03 mean the map does not fit and fail
the update.
The firmware register (0x0005) is shown as its decimal value, the form in
which the firmware with the night-only lifetime counter is known (B.8).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import logging
from typing import Any, ClassVar, Final

import aiohttp
from pymodbus import FramerType
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from ...model import Alert, Readings, Site, Snapshot
from ..base import (
    AccountInfo,
    BadPayloadError,
    ConnectionFailedError,
    PollCost,
    RequestBudget,
    RequestLimiter,
)
from .common import (
    CpsBase,
    CpsFrame,
    CpsInverter,
    LogOnce,
    found_inverter,
    site_device,
    site_totals,
)

_LOGGER = logging.getLogger(__name__)

FRAMINGS: Final = ("tcp", "rtu_over_tcp")
WORD_ORDERS: Final = ("high_first", "low_first")
DEFAULT_PORT: Final = 502

BLOCK_START: Final = 0x0000
BLOCK_COUNT: Final = 0x003B
HOLDING_START: Final = 0x1000
HOLDING_COUNT: Final = 2

_FAILURE_CODES: Final = frozenset({0x04, 0x05, 0x06, 0x0A, 0x0B})
_CORE: Final = {
    0x16: "lifetime energy",
    0x18: "energy today",
    0x1D: "AC power",
    0x2F: "work mode",
}
_BITFIELDS: Final = {
    "perm_fault": 0x34,
    "warning": 0x35,
    "fault0": 0x36,
    "fault1": 0x37,
    "fault2": 0x38,
    "fault3": 0x39,
    "fault4": 0x3A,
}


class _NoAnswer(Exception):
    """The inverter behind the gateway did not answer this time."""


class _LinkLost(Exception):
    """The TCP connection to the gateway dropped during a request."""


class _DeviceFailure(Exception):
    """The inverter or its gateway answered with an exception that reports a failure."""

    def __init__(self, code: int) -> None:
        super().__init__(f"exception 0x{code:02X}")
        self.code = code


class _Refused(Exception):
    """The inverter answered with a Modbus exception that means "not here"."""

    def __init__(self, code: int) -> None:
        super().__init__(f"exception 0x{code:02X}")
        self.code = code


def _u16(raw: int, scale: float = 1.0, digits: int = 1) -> float | None:
    return None if raw == 0xFFFF else round(raw * scale, digits)


def _i16(raw: int, scale: float = 1.0, digits: int = 1) -> float | None:
    if raw == 0x8000:
        return None
    return round((raw - 0x10000 if raw & 0x8000 else raw) * scale, digits)


def _words(regs: Sequence[int], low_first: bool) -> int | None:
    """Join registers into one unsigned value; None when every bit is set."""
    ordered = list(reversed(regs)) if low_first else list(regs)
    value = 0
    for word in ordered:
        value = value << 16 | word
    return None if value == (1 << (16 * len(regs))) - 1 else value


def _text(regs: Sequence[int]) -> str | None:
    raw = b"".join(word.to_bytes(2, "big") for word in regs)
    text = raw.split(b"\0", 1)[0].decode("ascii", errors="replace").strip()
    return text or None


def failure_text(code: int) -> str:
    """What a failure exception says, for the alert and the log."""
    what = {
        0x04: "a device failure",
        0x05: "a long operation in progress",
        0x06: "that it is busy",
        0x0A: "that the gateway has no path to it",
        0x0B: "that it did not answer the gateway",
    }.get(code, "a failure")
    return f"{what} (Modbus exception 0x{code:02X})"


def decode_block(
    regs: Sequence[int],
    *,
    low_first: bool,
    as_of: datetime,
    holding: Sequence[int] | None = None,
) -> CpsFrame:
    """Decode the core input block (0x0000-0x003A) and, if read, 0x1000-0x1001."""
    serial = _words(regs[0x06:0x0A], low_first)
    lifetime = _words(regs[0x16:0x18], low_first)
    today = _u16(regs[0x18])
    power = _u16(regs[0x1D])
    frequency = _u16(regs[0x2B], 0.1)
    mppt = tuple(
        (
            _u16(regs[base], 0.1),
            None
            if regs[base + 1] in (0xFFFF, 0x8000)
            else round(regs[base + 1] * 0.1, 1),
        )
        for base in (0x25, 0x27, 0x29)
    )
    return CpsFrame(
        serial=f"{serial:X}" if serial else "",
        as_of=as_of,
        model=_text(regs[0x0A:0x14]),
        firmware=None if regs[0x05] == 0xFFFF else regs[0x05],
        device_code=None if regs[0x00] == 0xFFFF else regs[0x00],
        ac_power_w=power * 100 if power is not None else None,
        energy_today_wh=today * 100 if today is not None else None,
        energy_lifetime_wh=lifetime * 1000.0 if lifetime is not None else None,
        grid_voltages_v=tuple(_u16(regs[a], 0.1) for a in (0x1F, 0x20, 0x21)),
        grid_currents_a=tuple(_u16(regs[a], 0.1) for a in (0x22, 0x23, 0x24)),
        frequency_hz=frequency or None,
        mppt=mppt,
        temp_heatsink_c=_i16(regs[0x2C], 0.1),
        temp_internal_c=_i16(regs[0x2D], 0.1),
        temp_transformer_c=_i16(regs[0x2E], 0.1),
        work_mode_raw=None if regs[0x2F] == 0xFFFF else regs[0x2F],
        on_off_raw=holding[0] if holding else None,
        power_limit_pct=_u16(holding[1], 0.1) if holding else None,
        bitfields={
            name: None if regs[a] == 0xFFFF else regs[a]
            for name, a in _BITFIELDS.items()
        },
    )


@dataclass(slots=True)
class _Unit:
    """One configured unit id and what is known about it."""

    unit_id: int
    inverter: CpsInverter | None = None
    holding: bool = True
    """False once the inverter refused the holding-register read."""
    on_off: tuple[int, int] | None = None


class CpsModbusConnector(CpsBase):
    """CPS inverters behind one Modbus TCP endpoint (one or more unit ids)."""

    budget: ClassVar[RequestBudget] = RequestBudget(concurrency=1)

    def __init__(
        self,
        *,
        host: str,
        port: int = DEFAULT_PORT,
        unit_ids: Sequence[int] = (1,),
        framing: str = "tcp",
        word_order: str = "high_first",
        site_id: str | None = None,
        limiter: RequestLimiter | None = None,
        timeout: float = 3.0,
        backoff: tuple[float, float] = (1.0, 120.0),
    ) -> None:
        """Describe the endpoint; nothing is opened until the first request."""
        super().__init__(None, limiter=limiter)
        if framing not in FRAMINGS:
            raise ValueError(f"Unknown framing {framing!r}")
        if not unit_ids:
            raise ValueError("At least one unit id is needed")
        self.host = host
        self.port = port
        self.framing = framing
        self.low_first = word_order == "low_first"
        self.site_id = site_id
        self.timeout = timeout
        self._backoff = backoff
        self._units = [_Unit(int(unit)) for unit in unit_ids]
        self._client: AsyncModbusTcpClient | None = None
        self._in_flight = False
        self._retry_at = 0.0
        self._delay = 0.0
        self.connects = 0
        self.drops = 0
        self._site: Site | None = None
        self._log = LogOnce(_LOGGER)

    @classmethod
    def from_config(
        cls,
        session: aiohttp.ClientSession | None,
        data: Mapping[str, Any],
        limiter: RequestLimiter | None = None,
    ) -> CpsModbusConnector:
        """Build from entry data; the HTTP session is not used."""
        return cls(
            host=str(data["host"]),
            port=int(data.get("port", DEFAULT_PORT)),
            unit_ids=[int(unit) for unit in data.get("unit_ids", (1,))],
            framing=str(data.get("framing", "tcp")),
            word_order=str(data.get("word_order", "high_first")),
            site_id=data.get("site_id"),
            limiter=limiter,
        )

    @property
    def cost(self) -> PollCost:
        """Two reads per inverter; local, so only the inverter's own pace limits us."""
        return PollCost(
            per_poll=2 * len(self._units), min_interval=timedelta(seconds=30)
        )

    # -- link -----------------------------------------------------------------

    def _new_client(self) -> AsyncModbusTcpClient:
        return AsyncModbusTcpClient(
            self.host,
            port=self.port,
            framer=FramerType.RTU
            if self.framing == "rtu_over_tcp"
            else FramerType.SOCKET,
            name="sungaze-cps",
            # We reconnect ourselves, with back-off, and retry nothing blindly.
            reconnect_delay=0,
            timeout=self.timeout,
            retries=0,
            trace_connect=self._on_link,
        )

    def _on_link(self, connected: bool) -> None:
        """Fail an in-flight request at once when the gateway drops the connection.

        pymodbus would otherwise wait for the full timeout for an answer that
        cannot come any more.
        """
        if connected:
            return
        self.drops += 1
        client = self._client
        if (
            client is not None
            and self._in_flight
            and not client.ctx.response_future.done()
        ):
            client.ctx.response_future.set_exception(
                ConnectionException("connection dropped")  # type: ignore[no-untyped-call]
            )

    async def _connected(self) -> AsyncModbusTcpClient:
        """Return the open connection, opening it when the back-off allows."""
        client = self._client
        if client is not None and client.connected:
            return client
        # Wall-clock seconds, like the request limiter: the wait follows time in tests.
        now = datetime.now(UTC).timestamp()
        if (wait := self._retry_at - now) > 0:
            raise ConnectionFailedError(
                f"Modbus gateway unreachable; next attempt in {wait:.0f} s"
            )
        if client is None:
            client = self._client = self._new_client()
        # The transaction manager's connect is what pymodbus' own request path
        # uses; the client's connect() adds a fixed 100 ms sleep on top.
        self.connects += 1
        if not await client.ctx.connect():
            low, high = self._backoff
            self._delay = min(max(self._delay * 2, low), high)
            self._retry_at = now + self._delay
            raise ConnectionFailedError(
                "Modbus gateway unreachable (connection refused or timed out)"
            )
        self._delay, self._retry_at = 0.0, 0.0
        return client

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()

    async def _read(
        self, unit: int, function: int, address: int, count: int
    ) -> list[int]:
        """One read through the limiter; failures become typed errors."""
        async with self.limiter.slot():
            client = await self._connected()
            call = (
                client.read_input_registers
                if function == 4
                else client.read_holding_registers
            )
            self._in_flight = True
            try:
                response: ModbusPDU = await call(address, count=count, device_id=unit)
            except ConnectionException as err:
                self._drop()
                raise _LinkLost from err
            except ModbusIOException as err:
                self._drop()
                raise _NoAnswer from err
            except ModbusException as err:
                self._drop()
                raise BadPayloadError(f"Modbus error from unit {unit}: {err}") from err
            finally:
                self._in_flight = False
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            if code in _FAILURE_CODES:
                raise _DeviceFailure(code)
            raise _Refused(code)
        registers = list(response.registers)
        if len(registers) != count:
            raise BadPayloadError(
                f"Unit {unit} sent {len(registers)} registers, not {count}"
            )
        return registers

    async def _read_retrying(
        self, unit: int, function: int, address: int, count: int
    ) -> list[int]:
        """Read, re-opening a dropped connection once."""
        try:
            return await self._read(unit, function, address, count)
        except _LinkLost:
            self._log(
                "drop",
                logging.INFO,
                "Modbus gateway dropped the connection; reconnecting",
            )
        try:
            return await self._read(unit, function, address, count)
        except _LinkLost as err:
            raise ConnectionFailedError(
                "Modbus gateway keeps dropping the connection"
            ) from err

    async def _read_unit(self, unit: _Unit, *, holding: bool) -> CpsFrame:
        """Read one inverter: the core block and, if supported, the holding pair."""
        try:
            regs = await self._read_retrying(unit.unit_id, 4, BLOCK_START, BLOCK_COUNT)
        except _Refused as err:
            raise BadPayloadError(
                f"Unit {unit.unit_id} refused the CPS core block (exception 0x{err.code:02X}); "
                "is this a CPS inverter?"
            ) from err
        as_of = datetime.now(UTC)
        if holding and unit.holding:
            try:
                pair = await self._read_retrying(
                    unit.unit_id, 3, HOLDING_START, HOLDING_COUNT
                )
            except _Refused:
                unit.holding = False
                self._log(
                    f"holding{unit.unit_id}",
                    logging.INFO,
                    "CPS unit %s has no on/off and power-limit registers; not reading them again",
                    unit.unit_id,
                )
            except _NoAnswer, _DeviceFailure:
                pass  # keep the last known pair
            else:
                unit.on_off = (pair[0], pair[1])
        pair_read = unit.on_off if holding and unit.holding else None
        for address, name in _CORE.items():
            if regs[address] == 0xFFFF:
                self._log(
                    f"blank{unit.unit_id}.{address}",
                    logging.WARNING,
                    "CPS unit %s reports no value (0xFFFF) for %s; left out",
                    unit.unit_id,
                    name,
                )
        return decode_block(
            regs, low_first=self.low_first, as_of=as_of, holding=pair_read
        )

    # -- contract ---------------------------------------------------------------

    async def async_identify(self) -> AccountInfo:
        """Read every unit's serial and model; all of them must answer."""
        frames: list[CpsFrame] = []
        for unit in self._units:
            try:
                frame = await self._read_unit(unit, holding=False)
            except _NoAnswer as err:
                raise ConnectionFailedError(
                    f"Unit {unit.unit_id} did not answer"
                ) from err
            except _DeviceFailure as err:
                raise ConnectionFailedError(
                    f"Unit {unit.unit_id} reports {failure_text(err.code)}"
                ) from err
            if not frame.serial:
                raise BadPayloadError(f"Unit {unit.unit_id} reports no serial number")
            frames.append(frame)
        site = self._site_for(frames[0])
        return AccountInfo(
            unique_id=frames[0].serial,
            title=site.name,
            sites=(site,),
            devices=tuple(
                found_inverter(frame.serial, site.id, frame.model) for frame in frames
            ),
        )

    async def async_fetch(self) -> Snapshot:
        """Read every unit once; a unit that does not answer is asleep."""
        by_unit: dict[int, Readings] = {}
        alerts: list[Alert] = []
        failures: list[str] = []
        answered = 0
        for unit in self._units:
            try:
                frame = await self._read_unit(unit, holding=True)
            except _NoAnswer:
                self._log(
                    f"asleep{unit.unit_id}",
                    logging.INFO,
                    "CPS unit %s does not answer (asleep?)",
                    unit.unit_id,
                )
                if unit.inverter is not None:
                    by_unit[unit.unit_id] = unit.inverter.asleep()
                continue
            except _DeviceFailure as err:
                failures.append(f"unit {unit.unit_id}: {failure_text(err.code)}")
                self._log(
                    f"failure{unit.unit_id}",
                    logging.WARNING,
                    "CPS unit %s reports %s",
                    unit.unit_id,
                    failure_text(err.code),
                )
                if unit.inverter is not None:
                    unit_readings, alert = unit.inverter.failed(
                        err.code, failure_text(err.code), datetime.now(UTC)
                    )
                    by_unit[unit.unit_id] = unit_readings
                    alerts.append(alert)
                continue
            self._log.reset(f"asleep{unit.unit_id}")
            self._log.reset(f"failure{unit.unit_id}")
            if not frame.serial:
                self._log(
                    f"serial{unit.unit_id}",
                    logging.WARNING,
                    "CPS unit %s reports no serial number; skipped",
                    unit.unit_id,
                )
                continue
            answered += 1
            inverter = unit.inverter
            if inverter is None or inverter.serial != frame.serial:
                inverter = unit.inverter = CpsInverter(
                    frame.serial,
                    self._site_for(frame).id,
                    self._name(unit, frame),
                    unit_id=unit.unit_id,
                )
            unit_readings, unit_alerts = inverter.apply(frame)
            by_unit[unit.unit_id] = unit_readings
            alerts.extend(unit_alerts)
        known = [unit.inverter for unit in self._units if unit.inverter is not None]
        if not known or self._site is None:
            if failures:
                raise ConnectionFailedError("; ".join(failures))
            if answered == 0:
                raise ConnectionFailedError("No inverter answered")
            raise BadPayloadError("No inverter reported a serial number")
        site = self._site
        # The site first: entities are created in this order, and the
        # inverters' devices name the site's device as their parent.
        readings: dict[str, Readings] = {}
        if len(self._units) > 1 and len(known) == len(self._units):
            parts = [by_unit.get(unit.unit_id) for unit in self._units]
            stamps = [r.as_of for r in parts if r is not None and r.as_of is not None]
            readings[site.id] = Readings(
                values=site_totals(parts), as_of=max(stamps) if stamps else None
            )
        for unit in self._units:
            if unit.inverter is not None and unit.unit_id in by_unit:
                readings[unit.inverter.serial] = by_unit[unit.unit_id]
        devices = {site.id: site_device(site)}
        devices.update(
            {inv.serial: inv.device for inv in known if inv.device is not None}
        )
        return Snapshot(
            sites={site.id: site},
            devices=devices,
            readings=readings,
            alerts=tuple(alerts),
        )

    def _site_for(self, frame: CpsFrame) -> Site:
        """The site (and entry title): the inverter, or the group on one gateway."""
        if self._site is None:
            name = f"CPS {frame.model or 'inverter'}"
            if len(self._units) > 1:
                name = f"CPS inverters ({len(self._units)})"
            self._site = Site(id=self.site_id or f"site_{frame.serial}", name=name)
        return self._site

    def _name(self, unit: _Unit, frame: CpsFrame) -> str:
        name = f"CPS {frame.model or 'inverter'}"
        return f"{name} (unit {unit.unit_id})" if len(self._units) > 1 else name

    async def async_close(self) -> None:
        """Close the connection to the gateway."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def diagnostics(self) -> dict[str, Any]:
        """Link counters and the raw state of each unit (no serials)."""
        return {
            **super().diagnostics(),
            "framing": self.framing,
            "word_order": "low_first" if self.low_first else "high_first",
            "connected": bool(self._client and self._client.connected),
            "connects": self.connects,
            "drops": self.drops,
            "backoff_s": self._delay,
            "units": [
                {
                    "unit_id": unit.unit_id,
                    "identified": unit.inverter is not None,
                    "holding_registers": unit.holding,
                    **(unit.inverter.diagnostics() if unit.inverter else {}),
                }
                for unit in self._units
            ],
        }
