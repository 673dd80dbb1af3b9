"""Managed-Kafka settings against Apache Kafka: SASL PLAIN and SCRAM-SHA-512, TLS with a client certificate.

One broker with three listeners: PLAINTEXT (the brokers' own), SASL_PLAINTEXT with PLAIN and SCRAM-SHA-512
users, and SSL that requires a client certificate; the test makes its CA, the broker's and the client's
certificates. The buses are built from Settings exactly as the services build them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from taskstream.devkafka import KafkaBroker, Listener, free_port
from taskstream.messaging.bus import Bus, Message
from taskstream.runtime import make_bus
from taskstream.settings import Settings
from tests.conftest import start_kafka

pytestmark = [pytest.mark.kafka]

PLAIN_USER, PLAIN_PASSWORD = "alice", "alice-secret"
SCRAM_USER, SCRAM_PASSWORD = "bob", "bob-secret-of-some-length"
WAIT_S = 30.0


@dataclass
class Pki:
    ca: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # signs nothing the broker uses


@dataclass
class SecureBroker:
    broker: KafkaBroker
    sasl: str  # HOST:PORT of the SASL_PLAINTEXT listener
    tls: str  # HOST:PORT of the SSL listener
    pki: Pki


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None
) -> x509.Certificate:
    """A certificate for `subject`: a CA when `issuer` is None (self-signed), else a leaf for 127.0.0.1."""
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer[0] if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        return builder.sign(key, hashes.SHA256())
    builder = builder.add_extension(
        x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        ),
        critical=False,
    ).add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    return builder.sign(issuer[1], hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _pkcs8(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_pki(directory: Path) -> tuple[Pki, Path, Path]:
    """A CA, a broker key store (key + certificate, PEM) and a client certificate; another unrelated CA."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca = _certificate("taskstream test CA", ca_key, None)
    issuer = (ca.subject, ca_key)
    broker_key, client_key = _key(), _key()
    paths = {
        name: directory / name for name in ("ca.pem", "broker.pem", "client.pem", "client.key", "other.pem")
    }
    paths["ca.pem"].write_bytes(_pem(ca))
    paths["broker.pem"].write_bytes(_pkcs8(broker_key) + _pem(_certificate("broker", broker_key, issuer)))
    paths["client.pem"].write_bytes(_pem(_certificate("taskstream client", client_key, issuer)))
    paths["client.key"].write_bytes(_pkcs8(client_key))
    other_key = _key()
    paths["other.pem"].write_bytes(_pem(_certificate("someone else's CA", other_key, None)))
    pki = Pki(paths["ca.pem"], paths["client.pem"], paths["client.key"], paths["other.pem"])
    return pki, paths["broker.pem"], paths["ca.pem"]


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    root = tmp_path_factory.mktemp("secure-kafka")
    pki, keystore, truststore = make_pki(root / "pki")
    sasl_port, tls_port = free_port(), free_port()
    plain_jaas = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'user_{PLAIN_USER}="{PLAIN_PASSWORD}";'
    )
    properties = {
        "listener.name.sasl.sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512",
        "listener.name.sasl.plain.sasl.jaas.config": plain_jaas,
        "listener.name.sasl.scram-sha-512.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        "listener.name.tls.ssl.keystore.type": "PEM",
        "listener.name.tls.ssl.keystore.location": str(keystore),
        "listener.name.tls.ssl.truststore.type": "PEM",
        "listener.name.tls.ssl.truststore.location": str(truststore),
        "listener.name.tls.ssl.client.auth": "required",
    }
    broker = start_kafka(
        root / "kafka",
        listeners=[Listener("SASL", "SASL_PLAINTEXT", sasl_port), Listener("TLS", "SSL", tls_port)],
        properties=properties,
        scram_users=[("SCRAM-SHA-512", SCRAM_USER, SCRAM_PASSWORD)],
    )
    yield SecureBroker(broker, f"127.0.0.1:{sasl_port}", f"127.0.0.1:{tls_port}", pki)
    broker.stop()


def _settings(tmp_path: Path, bootstrap: str, **kafka: Any) -> Settings:
    return Settings(
        data_dir=tmp_path,
        bus="kafka",
        kafka_bootstrap=bootstrap,
        kafka_request_timeout_s=5.0,
        kafka_session_timeout_s=2.0,
        kafka_health_interval_s=0.5,
        **kafka,
    )


def _tls_settings(tmp_path: Path, secure: SecureBroker, *, cafile: Path) -> Settings:
    """The TLS listener with the client certificate, trusting `cafile`."""
    pki = secure.pki
    return _settings(
        tmp_path,
        secure.tls,
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=cafile,
        kafka_ssl_certfile=pki.client_cert,
        kafka_ssl_keyfile=pki.client_key,
    )


async def _round_trip(bus: Bus) -> None:
    """Subscribe, start, publish one message and wait for it: the credentials work end to end."""
    topic = f"secure-{uuid.uuid4().hex[:8]}"
    received: asyncio.Queue[Message] = asyncio.Queue()

    async def handler(message: Message) -> None:
        await received.put(message)

    bus.subscribe(topic, group=f"g-{topic}", handler=handler)
    await bus.start()
    try:
        async with asyncio.timeout(WAIT_S):
            while not bus.health().ok:  # noqa: ASYNC110 - the watchdog sets health; nothing to await
                await asyncio.sleep(0.1)
            await bus.publish([Message(topic, "user-a", b"hello")])
            message = await received.get()
        assert message.value == b"hello"
    finally:
        await bus.stop()


async def _refused(bus: Bus) -> str:
    """Start the bus (it keeps connecting in the background) and return what its health says."""
    await bus.start()
    try:
        async with asyncio.timeout(WAIT_S):
            while bus.health().detail.get("error") is None:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        health = bus.health()
        assert not health.ok
        return health.message
    finally:
        await bus.stop()


@pytest.mark.parametrize(
    ("mechanism", "user", "password"),
    [("PLAIN", PLAIN_USER, PLAIN_PASSWORD), ("SCRAM-SHA-512", SCRAM_USER, SCRAM_PASSWORD)],
)
async def test_sasl_users_publish_and_consume(
    secure_broker: SecureBroker, tmp_path: Path, mechanism: str, user: str, password: str
) -> None:
    settings = _settings(
        tmp_path,
        secure_broker.sasl,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism=mechanism,
        kafka_sasl_username=user,
        kafka_sasl_password=password,
    )
    await _round_trip(make_bus(settings, client_id=f"sasl-{mechanism}"))


async def test_a_wrong_scram_password_is_refused_and_reported(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    settings = _settings(
        tmp_path,
        secure_broker.sasl,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username=SCRAM_USER,
        kafka_sasl_password="not-the-password",
    )
    message = await _refused(make_bus(settings, client_id="sasl-wrong"))
    assert secure_broker.sasl in message and "Authentication" in message


async def test_tls_with_a_client_certificate_publishes_and_consumes(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    settings = _tls_settings(tmp_path, secure_broker, cafile=secure_broker.pki.ca)
    await _round_trip(make_bus(settings, client_id="tls"))


async def test_tls_refuses_a_broker_signed_by_another_ca(secure_broker: SecureBroker, tmp_path: Path) -> None:
    settings = _tls_settings(tmp_path, secure_broker, cafile=secure_broker.pki.other_ca)
    message = await _refused(make_bus(settings, client_id="tls-other-ca"))
    assert secure_broker.tls in message


def test_sasl_without_credentials_names_the_missing_setting(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, "127.0.0.1:9", kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="PLAIN"
    )
    with pytest.raises(SystemExit, match="kafka_sasl_username"):
        make_bus(settings, client_id="incomplete")
