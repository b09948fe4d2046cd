"""CPS MQTT connector against a real mosquitto and a gateway speaking cps-bridge/1."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
import ipaddress
import json
from pathlib import Path
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import pytest

from custom_components.sungaze.connectors.base import (
    AuthFailedError,
    ConnectionFailedError,
    NoDataError,
)
from custom_components.sungaze.connectors.cps.modbus import CpsModbusConnector
from custom_components.sungaze.connectors.cps.mqtt import CpsMqttConnector
from custom_components.sungaze.model import Snapshot

from .conftest import MQTT_PASSWORD, MQTT_USER
from .simulators.cps_modbus import CpsModbusSimulator
from .simulators.mqtt import CpsGatewayPublisher, MosquittoBroker, free_port

type StartSim = Callable[..., Awaitable[CpsModbusSimulator]]

NOON = "2026-06-21T19:00:00Z"
SMALL = "11491338014"
LARGE = "1013271644022"


async def _eventually(check: Callable[[], bool], seconds: float = 10.0) -> None:
    """Poll `check` on the real clock (these tests do not freeze time)."""
    for _ in range(int(seconds / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def _connector(broker: MosquittoBroker, **kw: object) -> CpsMqttConnector:
    options: dict[str, object] = {
        "username": MQTT_USER,
        "password": MQTT_PASSWORD,
        **kw,
    }
    return CpsMqttConnector(host=broker.host, port=broker.port, **options)  # type: ignore[arg-type]


async def _started(connector: CpsMqttConnector) -> asyncio.Queue[Snapshot]:
    queue: asyncio.Queue[Snapshot] = asyncio.Queue()
    await connector.async_start(queue.put_nowait)
    return queue


async def _until(
    queue: asyncio.Queue[Snapshot], check: Callable[[Snapshot], bool]
) -> Snapshot:
    """The first pushed snapshot that passes `check` (pytest-timeout bounds the wait)."""
    while not check(snapshot := await queue.get()):
        pass
    return snapshot


async def test_identify(
    cps_gateway: CpsGatewayPublisher, mosquitto: MosquittoBroker
) -> None:
    """The gateway's retained state names the entry at once."""
    account = await _connector(mosquitto).async_identify()
    assert account.unique_id == "FLEX-00A1B2"
    assert account.title == "CPS gateway FLEX-00A1B2"
    assert [site.id for site in account.sites] == ["FLEX-00A1B2"]


async def test_identify_refused(
    cps_gateway: CpsGatewayPublisher, mosquitto: MosquittoBroker
) -> None:
    """Wrong credentials are an authentication error, not a timeout."""
    with pytest.raises(AuthFailedError):
        await _connector(mosquitto, password="wrong").async_identify()


async def test_identify_nothing_published(
    cps_gateway: CpsGatewayPublisher, mosquitto: MosquittoBroker
) -> None:
    """A reachable broker with nothing under the prefix is "no data"."""
    with pytest.raises(NoDataError):
        await _connector(
            mosquitto, topic_prefix="elsewhere", identify_timeout=0.5
        ).async_identify()


async def test_identify_unreachable(socket_enabled: None) -> None:
    """No broker at all is a connection failure."""
    connector = CpsMqttConnector(
        host="127.0.0.1", port=free_port(), identify_timeout=0.5
    )
    with pytest.raises(ConnectionFailedError) as err:
        await connector.async_identify()
    assert not isinstance(err.value, NoDataError)


@pytest.mark.freeze_time(NOON, ignore=["paho"])
async def test_push_matches_modbus(
    mosquitto: MosquittoBroker, cps_modbus: StartSim
) -> None:
    """Pushed telemetry decodes to exactly what the same inverters give over Modbus.

    paho keeps the real clock (its keep-alive arithmetic breaks on a frozen one).
    """
    now = datetime.now(UTC)
    gateway = CpsGatewayPublisher(
        mosquitto.host,
        mosquitto.port,
        username=MQTT_USER,
        password=MQTT_PASSWORD,
        clock=lambda: now,
    )
    await gateway.async_connect()
    connector = _connector(mosquitto)
    queue = await _started(connector)
    first = await connector.async_fetch()
    assert first.devices[SMALL].model == "PVI14TL-208"
    assert first.value(SMALL, "work_mode") == "running"
    assert (
        first.value(SMALL, "production_energy_today") is None
    )  # state only, no telemetry yet
    # Older than the retained state: arrived late, ignored.
    await gateway.async_publish_telemetry(now - timedelta(minutes=5))
    await gateway.async_publish_telemetry()
    pushed = await _until(
        queue, lambda s: all("ac_power" in s.readings[d].values for d in (SMALL, LARGE))
    )
    assert await connector.async_fetch() is pushed
    await gateway.async_disconnect()

    sim = await cps_modbus(gateway.models)
    modbus = CpsModbusConnector(host=sim.host, port=sim.port, unit_ids=[1, 2])
    polled = await modbus.async_fetch()
    await modbus.async_close()
    await connector.async_close()
    for serial in (SMALL, LARGE):
        assert dict(pushed.readings[serial].values) == dict(
            polled.readings[serial].values
        )
        assert pushed.readings[serial].as_of == polled.readings[serial].as_of == now
    assert (
        pushed.readings["FLEX-00A1B2"].values["production_power"]
        == polled.readings["site_11491338014"].values["production_power"]
    )
    assert connector.rejected == {}


async def test_schema_mismatches(
    cps_gateway: CpsGatewayPublisher,
    mosquitto: MosquittoBroker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each kind of bad message is logged once and ignored; good ones still flow."""
    connector = _connector(mosquitto)
    queue = await _started(connector)
    await connector.async_fetch()
    good = cps_gateway.document(1)
    topic = cps_gateway.topic(1, "telemetry")
    naive = {**good, "ts": "2026-06-21T12:00:00"}
    as_text = {**good, "ac": {**good["ac"], "p_w": "11200"}}
    other_serial = cps_gateway.topic(1, "telemetry").replace(SMALL, "999")
    bad = [
        (topic, b"{not json"),
        (topic, json.dumps({**good, "schema": "cps-bridge/2"})),
        (topic, json.dumps(naive)),
        (topic, json.dumps(as_text)),
        (other_serial, json.dumps(good)),
        (cps_gateway.status_topic, "maybe"),
    ]
    for _ in range(2):
        for bad_topic, payload in bad:
            await cps_gateway.async_publish(bad_topic, payload)
    later = cps_gateway.document(1, datetime.now(UTC) + timedelta(seconds=5))
    await cps_gateway.async_publish(topic, json.dumps(later))
    pushed = await _until(
        queue, lambda s: s.readings[SMALL].as_of == datetime.fromisoformat(later["ts"])
    )
    await connector.async_close()
    assert pushed.readings[SMALL].values["work_mode"] == later["state"]["work_mode"]
    assert sum(connector.rejected.values()) == 12
    assert len(connector.rejected) == 6
    for reason in connector.rejected:
        assert caplog.text.count(reason) == 1
    assert "999" not in caplog.text or "inverter.sn" in caplog.text


async def test_gateway_offline(
    cps_gateway: CpsGatewayPublisher, mosquitto: MosquittoBroker
) -> None:
    """The gateway's Last Will marks its inverters offline; coming back clears it."""
    connector = _connector(mosquitto)
    queue = await _started(connector)
    await connector.async_fetch()
    await cps_gateway.async_disconnect(clean=False)
    offline = await _until(queue, lambda s: not s.readings[SMALL].online)
    assert not offline.readings[LARGE].online
    assert offline.alerts == ()
    await cps_gateway.async_connect()
    back = await _until(queue, lambda s: s.readings[SMALL].online)
    await connector.async_close()
    assert back.readings[LARGE].online


async def test_broker_restart(
    cps_gateway: CpsGatewayPublisher, mosquitto: MosquittoBroker
) -> None:
    """After a broker restart the client reconnects, re-subscribes and receives again."""
    connector = _connector(mosquitto)
    queue = await _started(connector)
    await connector.async_fetch()
    await mosquitto.async_restart()
    await _eventually(lambda: not connector.connected)
    with pytest.raises(ConnectionFailedError):
        await connector.async_fetch()
    await asyncio.to_thread(cps_gateway.wait_connected)
    await _eventually(lambda: connector.connects >= 2)
    while not queue.empty():
        queue.get_nowait()
    stamp = datetime.now(UTC) + timedelta(minutes=1)
    await cps_gateway.async_publish_telemetry(stamp)
    pushed = await _until(
        queue, lambda s: s.readings[SMALL].as_of == s.readings[LARGE].as_of == stamp
    )
    await connector.async_close()
    assert connector.connected is False
    assert "ac_power" in pushed.readings[LARGE].values


async def test_burst_is_folded(
    cps_gateway: CpsGatewayPublisher, mosquitto: MosquittoBroker
) -> None:
    """A burst of messages becomes far fewer snapshot pushes; the last one wins."""
    connector = _connector(mosquitto)
    queue = await _started(connector)
    await connector.async_fetch()
    await _eventually(lambda: connector.messages >= 3)  # retained status and states
    base = datetime.now(UTC).replace(microsecond=0)
    count = 400
    payloads = [
        json.dumps(cps_gateway.document(1, base + timedelta(seconds=i))).encode()
        for i in range(count)
    ]
    received_before = connector.messages
    pushes_before = connector.pushes_sent
    done = threading.Event()

    def burst() -> None:
        for payload in payloads:
            cps_gateway.client.publish(
                cps_gateway.topic(1, "telemetry"), payload, qos=0
            )
        done.set()

    await asyncio.to_thread(burst)
    last = base + timedelta(seconds=count - 1)
    await _until(queue, lambda s: s.readings[SMALL].as_of == last)
    await connector.async_close()
    assert connector.messages - received_before == count
    assert connector.pushes_sent - pushes_before < count
    assert done.is_set()


async def test_first_message_timeout(mosquitto: MosquittoBroker) -> None:
    """Setup waits a bounded time for the first message, then gives up cleanly."""
    connector = _connector(mosquitto, first_message_timeout=0.3)
    await connector.async_start(lambda snapshot: None)
    with pytest.raises(NoDataError):
        await connector.async_fetch()
    assert connector.diagnostics()["connected"] is False
    assert not [
        t
        for t in threading.enumerate()
        if t.name.startswith("paho-mqtt-client-sungaze")
    ]


async def test_refused_at_setup(mosquitto: MosquittoBroker) -> None:
    """Refused credentials at setup surface as an authentication error (reauth)."""
    connector = _connector(mosquitto, password="wrong", first_message_timeout=5)
    await connector.async_start(lambda snapshot: None)
    with pytest.raises(AuthFailedError):
        await connector.async_fetch()


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sungaze test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


async def test_tls(
    socket_enabled: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With TLS on, the broker's certificate is verified against the system's trust store."""
    ca, cert, key = _certificates(tmp_path)
    broker = MosquittoBroker(tls=(cert, key))
    await broker.async_start()
    try:
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        untrusted = CpsMqttConnector(
            host=broker.host, port=broker.port, tls=True, identify_timeout=0.5
        )
        with pytest.raises(ConnectionFailedError) as err:
            await untrusted.async_identify()
        assert not isinstance(err.value, NoDataError)
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))
        publisher = CpsGatewayPublisher(broker.host, broker.port)
        publisher.client.tls_set(ca_certs=str(ca))
        await publisher.async_connect()
        account = await CpsMqttConnector(
            host=broker.host, port=broker.port, tls=True
        ).async_identify()
        await publisher.async_disconnect()
        assert account.unique_id == "FLEX-00A1B2"
    finally:
        await broker.async_close()


async def test_implausible_values_are_unknown(
    cps_gateway: CpsGatewayPublisher,
    mosquitto: MosquittoBroker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """1e12 W or negative PV power from a gateway: unknown, one log line (issue 9)."""
    connector = _connector(mosquitto)
    queue = await _started(connector)
    await connector.async_fetch()
    topic = cps_gateway.topic(1, "telemetry")
    for step in range(1, 4):
        doc = cps_gateway.document(1, datetime.now(UTC) + timedelta(seconds=step))
        doc["ac"] = {**doc["ac"], "p_w": 1e12}
        doc["dc"] = {
            "mppt": [{**doc["dc"]["mppt"][0], "i_a": -40.0}, *doc["dc"]["mppt"][1:]]
        }
        await cps_gateway.async_publish(topic, json.dumps(doc))
        pushed = await _until(
            queue,
            lambda s, d=doc: s.readings[SMALL].as_of == datetime.fromisoformat(d["ts"]),
        )
    await connector.async_close()
    values = pushed.readings[SMALL].values
    assert values["work_mode"] == "running"
    assert "ac_power" not in values
    assert "pv_power_1" not in values  # 367.9 V x -40 A
    assert "production_power" not in pushed.readings["FLEX-00A1B2"].values
    assert caplog.text.count("implausible values") == 1
