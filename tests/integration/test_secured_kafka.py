"""Every Kafka client reaches a broker that asks for TLS and SASL/SCRAM-SHA-512, from the settings alone.

A broker of its own (the local stack's, plus a SASL_SSL listener with a certificate made here and a SCRAM user
added when its storage is formatted); the session's broker stays plaintext.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from deploy.broker import KafkaBroker
from deploy.config import free_port
from deploy.dlq import read_letters
from deploy.topics import drift, found_shapes, wanted_shapes
from shared.config import ServiceSettings
from shared.events import Topic, dlq_topic
from shared.kafka import Producer, client_options, ensure_topics, wait_for_broker
from tests.support import free_port_stack_settings

USER, PASSWORD = "switchboard-intake", "scram-" + uuid.uuid4().hex


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_certificates(directory: Path) -> tuple[Path, Path]:
    """A CA, and the broker's key and certificate for 127.0.0.1 signed by it: (CA file, broker PEM)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test CA"))
        .issuer_name(_name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    broker_pem = directory / "broker.pem"
    broker_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        + cert.public_bytes(serialization.Encoding.PEM)
        + ca.public_bytes(serialization.Encoding.PEM)
    )
    return ca_file, broker_pem


class SecuredBroker(KafkaBroker):
    """The local broker with a second listener: SASL_SSL, SCRAM-SHA-512, one user."""

    def __init__(self, state: Path, *, secured_port: int, keystore: Path) -> None:
        super().__init__(free_port_stack_settings(state))
        self.secured_port = secured_port
        self.keystore = keystore

    def properties(self) -> dict[str, str]:
        plain = super().properties()
        s = self.settings
        return {
            **plain,
            "listeners": f"{plain['listeners']},SASL_SSL://127.0.0.1:{self.secured_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{s.kafka_port},SASL_SSL://127.0.0.1:{self.secured_port}",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.keystore),
        }

    def format_options(self) -> list[str]:
        return ["--add-scram", f"SCRAM-SHA-512=[name={USER},password={PASSWORD}]"]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceSettings]:
    directory = tmp_path_factory.mktemp("secured-kafka")
    ca_file, keystore = make_certificates(directory)
    broker = SecuredBroker(directory / "state", secured_port=free_port(), keystore=keystore)
    broker.start()
    settings = ServiceSettings(
        service="secured-test",
        kafka_bootstrap=f"127.0.0.1:{broker.secured_port}",
        kafka_security_protocol="SASL_SSL",
        kafka_ssl_cafile=ca_file,
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username=USER,
        kafka_sasl_password=SecretStr(PASSWORD),
        kafka_request_timeout_ms=10_000,
    )
    try:
        asyncio.run(wait_for_broker(client_options(settings), timeout_s=120))
        yield settings
    finally:
        broker.stop()


async def test_producer_admin_and_consumer_work_over_tls_with_scram_from_the_settings(
    secured: ServiceSettings,
) -> None:
    kafka = client_options(secured)
    topic = Topic(f"test.secured.{uuid.uuid4().hex[:8]}", 2, 3_600_000, "tests")
    assert await ensure_topics(kafka, [topic], max_message_bytes=secured.max_event_bytes) == [topic.name]
    wanted = wanted_shapes(
        [topic], max_message_bytes=secured.max_event_bytes, replication_factor=1, min_insync_replicas=1
    )
    assert drift(wanted, await found_shapes(kafka, [topic.name])) == []

    producer = Producer(secured)
    await producer.start()
    try:
        await producer.send_raw(topic.name, key=b"C-1", value=b"over tls", headers=[])
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic.name, **kafka, group_id="secured-test", auto_offset_reset="earliest")
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    assert (message.key, message.value) == (b"C-1", b"over tls")

    await ensure_topics(kafka, [dlq_topic("intake")])
    assert await read_letters(kafka, "intake") == []


async def test_a_wrong_scram_password_and_an_unknown_ca_are_refused(
    secured: ServiceSettings, tmp_path: Path
) -> None:
    wrong_password = secured.model_copy(update={"kafka_sasl_password": SecretStr("not-the-password")})
    with pytest.raises(TimeoutError):
        await wait_for_broker(client_options(wrong_password), timeout_s=5)
    other_ca, _ = make_certificates(tmp_path)
    wrong_ca = secured.model_copy(update={"kafka_ssl_cafile": other_ca})
    with pytest.raises(TimeoutError):
        await wait_for_broker(client_options(wrong_ca), timeout_s=5)
