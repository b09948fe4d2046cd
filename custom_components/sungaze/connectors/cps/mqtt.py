"""CPS (Chint) inverters pushed over MQTT by a gateway that speaks Sungaze's schema.

No public FlexOM MQTT specification exists (shared/api/tigo-cps.md B.9), so
the topics and the JSON payload are Sungaze's own schema `cps-bridge/1`,
documented in docs/cps-mqtt-schema.md; every field maps 1:1 to a CPS Modbus
register, so both transports produce the same entities.

Library choice: paho-mqtt 2.1.0, the version Home Assistant 2026.10 pins (the
broker is the gateway's, not Home Assistant's, so HA's MQTT integration is not
involved). paho's network loop runs in its own thread (`loop_start`); it
reconnects by itself with back-off (1 s doubling to 60 s) and we subscribe again
in every `on_connect`, so a broker restart heals without our help. Payloads are
decoded and validated in paho's thread; the results are handed to the event
loop with `call_soon_threadsafe`, where snapshots are built. Messages that
arrive together are folded into one snapshot push, so a burst cannot build a
backlog of entity updates. Client setup (TLS context, connect) runs in an
executor: none of it may block the event loop.

A message that does not match the schema is logged once per kind of mismatch
and ignored; counts are in the diagnostics. When the gateway's `status` topic
says `offline` (its Last Will), its inverters are marked offline. When messages
simply stop, the inverters' "last report" timestamps show the data's age.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import json
import logging
import ssl
import threading
from typing import Any, ClassVar, Final
import uuid

import aiohttp
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from ...model import Alert, Readings, Site, Snapshot, as_float
from ..base import (
    AccountInfo,
    AuthFailedError,
    ConnectionFailedError,
    NoDataError,
    PollCost,
    RequestLimiter,
)
from .common import (
    WORK_MODES,
    CpsBase,
    CpsFrame,
    CpsInverter,
    LogOnce,
    found_inverter,
    site_device,
    site_totals,
)

_LOGGER = logging.getLogger(__name__)

SCHEMA: Final = "cps-bridge/1"
DEFAULT_PORT: Final = 1883
DEFAULT_PREFIX: Final = "cps"
IDENTIFY_TIMEOUT = 15.0
"""Seconds the config flow waits for a first message (a bridge retains its state, so usually none)."""
FIRST_MESSAGE_TIMEOUT = 20.0
"""Seconds setup waits for a first message before Home Assistant retries later."""
_AUTH_REFUSALS: Final = frozenset({"Bad user name or password", "Not authorized"})
_STATES: Final = frozenset({*WORK_MODES.values(), "off", "unknown"})
_MEASUREMENTS: Final = (
    "ac_power_w",
    "frequency_hz",
    "grid_voltages_v",
    "grid_currents_a",
    "mppt",
    "energy_today_wh",
    "energy_lifetime_wh",
    "temp_heatsink_c",
    "temp_internal_c",
    "temp_transformer_c",
)


class SchemaError(ValueError):
    """A message that does not follow `cps-bridge/1`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One decoded message: telemetry or state of an inverter, or a gateway status."""

    kind: str
    gateway: str
    serial: str | None = None
    ts: datetime | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    online: bool | None = None


def _number(
    section: Mapping[str, Any], key: str, where: str, scale: float = 1.0
) -> float | None:
    raw = section.get(key)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise SchemaError(f"{where}.{key} is not a number")
    return as_float(raw, scale=scale)


def _integer(section: Mapping[str, Any], key: str, where: str) -> int | None:
    raw = section.get(key)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 0xFFFF:
        raise SchemaError(f"{where}.{key} is not a 16-bit integer")
    return raw


def _section(doc: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    raw = doc.get(key)
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise SchemaError(f"{key} is not an object")
    return raw


def parse_message(prefix: str, topic: str, payload: bytes) -> Message:
    """Decode one message of `cps-bridge/1`; raise SchemaError when it does not fit."""
    if not topic.startswith(f"{prefix}/"):
        raise SchemaError("topic outside the prefix")
    parts = topic[len(prefix) + 1 :].split("/")
    if len(parts) == 2 and parts[1] == "status":
        text = payload.decode("utf-8", errors="replace").strip().lower()
        if text not in ("online", "offline"):
            raise SchemaError("status is neither online nor offline")
        return Message(kind="status", gateway=parts[0], online=text == "online")
    if len(parts) != 3 or parts[2] not in ("telemetry", "state"):
        raise SchemaError("unknown topic")
    gateway, serial, kind = parts
    try:
        doc = json.loads(payload)
    except ValueError as err:
        raise SchemaError("payload is not JSON") from err
    if not isinstance(doc, Mapping):
        raise SchemaError("payload is not an object")
    if doc.get("schema") != SCHEMA:
        raise SchemaError(f"schema is not {SCHEMA}")
    stamp = doc.get("ts")
    try:
        ts = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    except ValueError:
        ts = None
    if ts is None or ts.tzinfo is None:
        raise SchemaError("ts is not an ISO 8601 time with a zone")
    if doc.get("gateway_id") not in (None, gateway):
        raise SchemaError("gateway_id differs from the topic")
    inverter = _section(doc, "inverter")
    if inverter is None or inverter.get("sn") != serial:
        raise SchemaError("inverter.sn missing or differs from the topic")
    fields: dict[str, Any] = {}
    model = inverter.get("model")
    if model is not None and not isinstance(model, str):
        raise SchemaError("inverter.model is not a string")
    if model:
        fields["model"] = model
    if (code := _integer(inverter, "device_code", "inverter")) is not None:
        fields["device_code"] = code
    if (firmware := _integer(inverter, "firmware_raw", "inverter")) is not None:
        fields["firmware"] = firmware
    if kind == "telemetry":
        fields.update(_measurements(doc))
    if (state := _section(doc, "state")) is not None:
        fields.update(_state(state))
    elif kind == "state":
        raise SchemaError("state message without a state object")
    return Message(
        kind=kind, gateway=gateway, serial=serial, ts=ts.astimezone(UTC), fields=fields
    )


def _measurements(doc: Mapping[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = dict.fromkeys(_MEASUREMENTS)
    fields["grid_voltages_v"] = ()
    fields["grid_currents_a"] = ()
    fields["mppt"] = ()
    if (ac := _section(doc, "ac")) is not None:
        fields["ac_power_w"] = _number(ac, "p_w", "ac")
        fields["frequency_hz"] = _number(ac, "freq_hz", "ac") or None
        fields["grid_voltages_v"] = tuple(
            _number(ac, k, "ac") for k in ("v_ab_v", "v_bc_v", "v_ca_v")
        )
        fields["grid_currents_a"] = tuple(
            _number(ac, k, "ac") for k in ("i_a_a", "i_b_a", "i_c_a")
        )
    if (dc := _section(doc, "dc")) is not None:
        mppts = dc.get("mppt", [])
        if not isinstance(mppts, list):
            raise SchemaError("dc.mppt is not a list")
        by_index: dict[int, tuple[float | None, float | None]] = {}
        for item in mppts:
            if not isinstance(item, Mapping):
                raise SchemaError("dc.mppt item is not an object")
            index = item.get("idx")
            if (
                isinstance(index, bool)
                or not isinstance(index, int)
                or not 1 <= index <= 16
            ):
                raise SchemaError("dc.mppt.idx is not an index 1-16")
            by_index[index] = (
                _number(item, "v_v", "dc.mppt"),
                _number(item, "i_a", "dc.mppt"),
            )
        if by_index:
            fields["mppt"] = tuple(
                by_index.get(i, (None, None)) for i in range(1, max(by_index) + 1)
            )
    if (energy := _section(doc, "energy")) is not None:
        fields["energy_today_wh"] = _number(energy, "today_kwh", "energy", 1000.0)
        fields["energy_lifetime_wh"] = _number(energy, "lifetime_kwh", "energy", 1000.0)
    if (temps := _section(doc, "temps_c")) is not None:
        fields["temp_heatsink_c"] = _number(temps, "heatsink", "temps_c")
        fields["temp_internal_c"] = _number(temps, "internal", "temps_c")
        fields["temp_transformer_c"] = _number(temps, "transformer", "temps_c")
    return fields


def _state(state: Mapping[str, Any]) -> dict[str, Any]:
    mode = state.get("work_mode")
    if mode is not None and mode not in _STATES:
        raise SchemaError("state.work_mode is not a known state")
    faults = state.get("fault", [])
    if not isinstance(faults, list) or len(faults) > 5:
        raise SchemaError("state.fault is not a list of up to 5 integers")
    bitfields: dict[str, int | None] = {
        "perm_fault": _integer(state, "perm_fault", "state"),
        "warning": _integer(state, "warn", "state"),
    }
    for index, raw in enumerate(faults):
        bitfields[f"fault{index}"] = _integer({"v": raw}, "v", f"state.fault[{index}]")
    return {
        "work_mode": mode,
        "work_mode_raw": _integer(state, "work_mode_raw", "state"),
        "on_off_raw": _integer(state, "on_off_raw", "state"),
        "power_limit_pct": _number(state, "power_limit_pct", "state"),
        "bitfields": bitfields,
    }


@dataclass(slots=True)
class _Record:
    """The merged latest telemetry and state of one inverter."""

    gateway: str
    inverter: CpsInverter
    fields: dict[str, Any] = field(default_factory=dict)
    ts: datetime | None = None
    readings: Readings | None = None
    alerts: tuple[Alert, ...] = ()


class CpsMqttConnector(CpsBase):
    """CPS inverters whose gateway publishes `cps-bridge/1` to an MQTT broker."""

    pushes: ClassVar[bool] = True

    def __init__(
        self,
        *,
        host: str,
        port: int = DEFAULT_PORT,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        topic_prefix: str = DEFAULT_PREFIX,
        limiter: RequestLimiter | None = None,
        first_message_timeout: float | None = None,
        identify_timeout: float | None = None,
    ) -> None:
        """Describe the broker; nothing is opened until started."""
        super().__init__(None, limiter=limiter)
        self.host = host
        self.port = port
        self._username = username or None
        self._password = password or None
        self.tls = tls
        self.prefix = topic_prefix.strip("/")
        self.first_message_timeout = first_message_timeout or FIRST_MESSAGE_TIMEOUT
        self.identify_timeout = identify_timeout or IDENTIFY_TIMEOUT
        self._client: mqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_snapshot: Callable[[Snapshot], None] | None = None
        self._first: asyncio.Future[None] | None = None
        self._records: dict[str, _Record] = {}
        self._offline: set[str] = set()
        self._snapshot: Snapshot | None = None
        self._push_pending = False
        self.connected = False
        self._last_error: str | None = None
        self.messages = 0
        self.rejected: dict[str, int] = {}
        self.pushes_sent = 0
        self.connects = 0
        self._log = LogOnce(_LOGGER)

    @classmethod
    def from_config(
        cls,
        session: aiohttp.ClientSession | None,
        data: Mapping[str, Any],
        limiter: RequestLimiter | None = None,
    ) -> CpsMqttConnector:
        """Build from entry data; the HTTP session is not used."""
        return cls(
            host=str(data["host"]),
            port=int(data.get("port", DEFAULT_PORT)),
            username=data.get("username"),
            password=data.get("password"),
            tls=bool(data.get("tls", False)),
            topic_prefix=str(data.get("topic_prefix", DEFAULT_PREFIX)),
            limiter=limiter,
        )

    @property
    def cost(self) -> PollCost:
        """Nothing is polled: the gateway pushes."""
        return PollCost(per_poll=0, min_interval=timedelta(seconds=30))

    @property
    def topics(self) -> tuple[str, ...]:
        """The subscriptions: telemetry and state of every inverter, status of every gateway."""
        return (
            f"{self.prefix}/+/+/telemetry",
            f"{self.prefix}/+/+/state",
            f"{self.prefix}/+/status",
        )

    # -- paho's thread -------------------------------------------------------------

    def _build_client(self) -> mqtt.Client:
        """Create and start the client (blocking: TLS context, thread start)."""
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"sungaze-{uuid.uuid4().hex[:12]}",
            protocol=MQTTProtocolVersion.MQTTv311,
            clean_session=True,
        )
        if self._username:
            client.username_pw_set(self._username, self._password)
        if self.tls:
            client.tls_set_context(ssl.create_default_context())
        client.reconnect_delay_set(1, 60)
        client.on_connect = self._paho_connect
        client.on_connect_fail = self._paho_connect_fail
        client.on_disconnect = self._paho_disconnect
        client.on_message = self._paho_message
        client.connect_async(self.host, self.port, keepalive=60)
        client.loop_start()
        return client

    def _to_loop(self, callback: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            pass  # the event loop is gone: Home Assistant is stopping

    def _paho_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Any,
    ) -> None:
        if reason.is_failure:
            self._to_loop(self._link, False, str(reason), str(reason) in _AUTH_REFUSALS)
            return
        # Subscribing here re-subscribes after every reconnect (clean session).
        client.subscribe([(topic, 1) for topic in self.topics])
        self._to_loop(self._link, True, None, False)

    def _paho_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._to_loop(self._link, False, "broker unreachable", False)

    def _paho_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Any,
    ) -> None:
        self._to_loop(self._link, False, str(reason), False)

    def _paho_message(
        self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage
    ) -> None:
        try:
            parsed = parse_message(self.prefix, message.topic, message.payload)
        except SchemaError as err:
            self._to_loop(self._reject, str(err), message.topic)
            return
        self._to_loop(self._take, parsed)

    # -- event loop ------------------------------------------------------------------

    def _link(self, connected: bool, reason: str | None, auth: bool) -> None:
        was = self.connected
        self.connected = connected
        if self.on_link is not None and connected != was:
            self.on_link(connected)
        if connected:
            self.connects += 1
            self._last_error = None
            if self.connects > 1:
                _LOGGER.info("Reconnected to the CPS MQTT broker")
            self._log.reset("auth")
            return
        self._last_error = reason
        if auth:
            self._log(
                "auth",
                logging.ERROR,
                "The CPS MQTT broker refused the credentials: %s",
                reason,
            )
            if self._first is not None and not self._first.done():
                self._first.set_exception(
                    AuthFailedError(f"Broker refused the credentials: {reason}")
                )
        elif was:
            _LOGGER.warning(
                "Lost the CPS MQTT broker (%s); paho reconnects by itself", reason
            )

    def _reject(self, reason: str, topic: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        self._log(
            f"schema:{reason}",
            logging.WARNING,
            "Ignoring a CPS MQTT message on %s: %s",
            topic,
            reason,
        )

    def _take(self, message: Message) -> None:
        self.messages += 1
        if message.serial is None or message.ts is None:  # a gateway's status
            if message.online:
                self._offline.discard(message.gateway)
            else:
                self._offline.add(message.gateway)
        else:
            record = self._records.get(message.serial)
            if record is None or record.gateway != message.gateway:
                inverter = CpsInverter(
                    message.serial,
                    message.gateway,
                    f"CPS {message.fields.get('model') or 'inverter'}",
                )
                record = self._records[message.serial] = _Record(
                    message.gateway, inverter
                )
            if record.ts is None or message.ts >= record.ts:  # older ones arrived late
                record.fields.update(message.fields)
                record.ts = message.ts
                frame = CpsFrame(
                    serial=message.serial, as_of=record.ts, **record.fields
                )
                record.readings, record.alerts = record.inverter.apply(frame)
        if not self._push_pending and self._loop is not None:
            # Messages already queued run before this: one push per burst.
            self._push_pending = True
            self._loop.call_soon(self._push)

    def _push(self) -> None:
        self._push_pending = False
        if not self._records:
            return
        self._snapshot = snapshot = self._build_snapshot()
        self.pushes_sent += 1
        if self._first is not None and not self._first.done():
            self._first.set_result(None)
        if self._on_snapshot is not None:
            self._on_snapshot(snapshot)

    def _build_snapshot(self) -> Snapshot:
        sites: dict[str, Site] = {}
        devices = {}
        readings: dict[str, Readings] = {}
        alerts: list[Alert] = []
        by_gateway: dict[str, list[_Record]] = {}
        for record in self._records.values():
            by_gateway.setdefault(record.gateway, []).append(record)
        for gateway, records in sorted(by_gateway.items()):
            site = sites[gateway] = Site(id=gateway, name=f"CPS gateway {gateway}")
            devices[site.id] = site_device(site)
            online = gateway not in self._offline
            if len(records) > 1 and online:
                # The site first: its device is the inverters' parent.
                parts = [record.readings for record in records]
                stamps = [
                    r.as_of for r in parts if r is not None and r.as_of is not None
                ]
                readings[site.id] = Readings(
                    values=site_totals(parts), as_of=max(stamps) if stamps else None
                )
            for record in records:
                if (
                    device := record.inverter.device
                ) is None or record.readings is None:
                    continue
                devices[device.id] = device
                readings[device.id] = (
                    record.readings
                    if online
                    else Readings(
                        values=record.readings.values,
                        as_of=record.readings.as_of,
                        online=False,
                    )
                )
                if online:
                    alerts.extend(record.alerts)
        return Snapshot(
            sites=sites, devices=devices, readings=readings, alerts=tuple(alerts)
        )

    # -- contract --------------------------------------------------------------------

    async def _async_open(self) -> None:
        if self._client is not None:
            return
        self._loop = asyncio.get_running_loop()
        if self._first is None or self._first.done():
            self._first = self._loop.create_future()
        self._client = await self._loop.run_in_executor(None, self._build_client)

    async def async_start(self, on_snapshot: Callable[[Snapshot], None]) -> None:
        """Connect and subscribe; every burst of messages becomes one pushed snapshot."""
        self._on_snapshot = on_snapshot
        await self._async_open()

    async def _async_wait_first(self, seconds: float) -> None:
        if self._first is None:  # pragma: no cover - _async_open always sets it
            raise NoDataError("Not started")
        try:
            async with asyncio.timeout(seconds):
                await asyncio.shield(self._first)
        except TimeoutError as err:
            if not self.connected and self.connects == 0:
                raise ConnectionFailedError(
                    f"MQTT broker unreachable ({self._last_error or 'no answer'})"
                ) from err
            raise NoDataError(
                f"No {SCHEMA} message under '{self.prefix}/' within {seconds:.0f} s"
            ) from err

    async def async_identify(self) -> AccountInfo:
        """Connect, wait for the first message and name the entry after its gateway."""
        await self._async_open()
        try:
            await self._async_wait_first(self.identify_timeout)
        finally:
            await self.async_close()
        gateways = sorted({record.gateway for record in self._records.values()})
        gateway = gateways[0]
        sites = tuple(Site(id=g, name=f"CPS gateway {g}") for g in gateways)
        return AccountInfo(
            unique_id=gateway,
            title=f"CPS gateway {gateway}",
            sites=sites,
            devices=tuple(
                found_inverter(record.inverter.serial, record.gateway, None)
                for record in self._records.values()
            ),
        )

    async def async_fetch(self) -> Snapshot:
        """Return the latest pushed snapshot, waiting a bounded time for the first one."""
        if self._snapshot is None:
            await self._async_open()
            try:
                await self._async_wait_first(self.first_message_timeout)
            except BaseException:
                # Setup fails and Home Assistant retries with a new connector:
                # do not leave this one's thread behind.
                await self.async_close()
                raise
            return self.latest()
        if not self.connected:
            raise ConnectionFailedError(
                f"MQTT broker connection lost ({self._last_error})"
            )
        return self._snapshot

    def latest(self) -> Snapshot:
        """The latest pushed snapshot."""
        if self._snapshot is None:
            raise NoDataError("No message received yet")
        return self._snapshot

    async def async_close(self) -> None:
        """Disconnect and stop paho's thread."""
        client, self._client = self._client, None
        if client is None:
            return
        self.connected = False
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, _stop, client)

    def diagnostics(self) -> dict[str, Any]:
        """Broker link and message counters (no credentials, no gateway ids)."""
        return {
            "transport": "mqtt",
            "tls": self.tls,
            "topic_prefix": self.prefix,
            "connected": self.connected,
            "connects": self.connects,
            "last_error": self._last_error,
            "messages": self.messages,
            "rejected": dict(self.rejected),
            "snapshots_pushed": self.pushes_sent,
            "gateways_offline": len(self._offline),
            "inverters": [
                record.inverter.diagnostics() for record in self._records.values()
            ],
        }


def _stop(client: mqtt.Client) -> None:
    # The network thread may end on the DISCONNECT alone, before loop_stop()
    # gets to join it; join it ourselves so that no thread outlives the entry.
    thread = client._thread
    client.disconnect()
    client.loop_stop()
    if thread is not None and thread is not threading.current_thread():
        thread.join()
