"""Production settings reach their clients: Kafka TLS and SASL in every aiokafka client, topic durability by
environment, the statement cache in asyncpg's pool, the public link base required outside the local stack, and
topic drift told apart without a broker."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr, ValidationError

from deploy.config import MissingTarget, TargetSettings
from deploy.kube import kafka_topics
from deploy.topics import Drift, TopicShape, drift, wanted_shapes
from services.feedback.config import FeedbackSettings
from shared.config import ServiceSettings
from shared.events import Topic
from shared.kafka import ConsumerLoop, TokenFileProvider, client_options


def write_ca(directory: Path) -> Path:
    """A self-signed CA certificate, as a broker's operator would hand it out."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "switchboard test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = directory / "ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def client_of(options: dict[str, Any]) -> Any:
    """The connection settings aiokafka's producer and consumer actually hold (their shared client)."""
    return AIOKafkaProducer(**options).client, AIOKafkaConsumer(**options)._client


async def test_plaintext_is_the_default_and_carries_no_credentials() -> None:
    options = client_options(ServiceSettings(kafka_bootstrap="k1:9092,k2:9092"))
    assert options == {"bootstrap_servers": "k1:9092,k2:9092", "security_protocol": "PLAINTEXT"}


async def test_scram_over_tls_reaches_every_client_with_the_ca_it_was_given(tmp_path: Path) -> None:
    settings = ServiceSettings(
        kafka_bootstrap="kafka.example.com:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_ssl_cafile=write_ca(tmp_path),
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="switchboard-intake",
        kafka_sasl_password=SecretStr("s3cret-scram"),
    )
    for client in client_of(client_options(settings)):
        assert client._security_protocol == "SASL_SSL"
        assert client._sasl_mechanism == "SCRAM-SHA-512"
        assert client._sasl_plain_username == "switchboard-intake"
        assert client._sasl_plain_password == "s3cret-scram"
        context: ssl.SSLContext = client._ssl_context
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "switchboard test CA"),),)]


async def test_oauthbearer_reads_the_token_file_afresh_for_each_authentication(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("first.jwt.token\n")
    settings = ServiceSettings(
        kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="OAUTHBEARER", kafka_oauth_token_file=token_file
    )
    [producer, consumer] = client_of(client_options(settings))
    provider = producer._sasl_oauth_token_provider
    assert isinstance(provider, TokenFileProvider) and consumer._sasl_oauth_token_provider is not None
    assert await provider.token() == "first.jwt.token"
    token_file.write_text("renewed.jwt.token")
    assert await provider.token() == "renewed.jwt.token"


def test_oauthbearer_without_a_token_file_is_refused_with_the_setting_to_set() -> None:
    settings = ServiceSettings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="OAUTHBEARER")
    with pytest.raises(ValueError, match="SWITCHBOARD_KAFKA_OAUTH_TOKEN_FILE"):
        client_options(settings)


def test_topic_durability_follows_the_environment_unless_set() -> None:
    local = ServiceSettings()
    production = ServiceSettings(environment="production")
    one_broker = ServiceSettings(environment="production", topic_replication_factor=1, topic_min_insync_replicas=1)
    assert (local.replication_factor, local.min_insync_replicas) == (1, 1)
    assert (production.replication_factor, production.min_insync_replicas) == (3, 2)
    assert (one_broker.replication_factor, one_broker.min_insync_replicas) == (1, 1)


def test_the_strimzi_topics_carry_the_production_durability() -> None:
    production = ServiceSettings(environment="production")
    for topic in kafka_topics():
        assert topic["spec"]["replicas"] == production.replication_factor
        assert topic["spec"]["config"]["min.insync.replicas"] == production.min_insync_replicas


def test_feedback_refuses_to_start_outside_the_local_stack_without_a_public_base_url() -> None:
    from services.feedback.app import spec
    from shared.app import create_app

    secret = SecretStr("a-token-secret-that-must-never-be-printed-" + "x" * 10)
    with pytest.raises(
        ValueError, match="SWITCHBOARD_PUBLIC_BASE_URL is required outside the local stack"
    ) as refused:
        create_app(spec(), FeedbackSettings(environment="production", token_secret=secret))
    assert "never-be-printed" not in str(refused.value)
    assert FeedbackSettings(environment="production", public_base_url="surveys.example.com").refusals() == [
        "SWITCHBOARD_PUBLIC_BASE_URL must be an absolute http(s) URL"
    ]
    ready = FeedbackSettings(environment="production", public_base_url="https://surveys.example.com")
    assert ready.refusals() == []
    assert ready.page_base_url() == "https://surveys.example.com"
    assert FeedbackSettings(host="0.0.0.0").refusals() == []


def test_a_deployments_databases_keep_the_servers_tls_options() -> None:
    target = TargetSettings(postgres_url="postgresql://ops:pw@db.example.com:5432/postgres?sslmode=verify-full")
    assert target.remote
    assert (
        target.service_database("intake") == "postgresql://ops:pw@db.example.com:5432/intake?sslmode=verify-full"
    )
    assert not TargetSettings().remote
    with pytest.raises(MissingTarget, match="SWITCHBOARD_POSTGRES_URL"):
        TargetSettings(kafka_bootstrap="kafka:9092").service_database("intake")
    in_the_gateways_pod = TargetSettings(
        token_secret=SecretStr("x" * 40), database_url="postgresql://web:pw@db-rw:5432/web?sslmode=require"
    )
    assert in_the_gateways_pod.service_database("web") == "postgresql://web:pw@db-rw:5432/web?sslmode=require"
    with pytest.raises(MissingTarget, match="SWITCHBOARD_POSTGRES_URL"):
        in_the_gateways_pod.service_database("intake")


def test_drift_names_each_difference_and_a_missing_topic_once() -> None:
    declared = [Topic("a.events", 6, 604_800_000, "a"), Topic("b.events", 3, 604_800_000, "b")]
    wanted = wanted_shapes(declared, max_message_bytes=1_048_576, replication_factor=3, min_insync_replicas=2)
    found = {
        "a.events": TopicShape(
            partitions=3,
            replication_factor=1,
            configs={"retention.ms": "604800000", "max.message.bytes": "1048576", "min.insync.replicas": "1"},
        )
    }
    assert drift(wanted, found) == [
        Drift("a.events", "partitions", "6", "3"),
        Drift("a.events", "replication factor", "3", "1"),
        Drift("a.events", "min.insync.replicas", "2", "1"),
        Drift("b.events", "topic", "present", "missing"),
    ]
    assert drift(wanted, {name: wanted[name] for name in wanted}) == []


def test_a_heartbeat_not_shorter_than_the_session_is_refused_naming_both() -> None:
    with pytest.raises(ValidationError) as refused:
        ServiceSettings(consumer_session_timeout_ms=6_000, consumer_heartbeat_interval_ms=6_000)
    message = str(refused.value)
    assert "consumer_heartbeat_interval_ms (6000)" in message
    assert "consumer_session_timeout_ms (6000)" in message


async def test_every_consumer_keeps_the_session_and_heartbeat_it_was_given() -> None:
    """A killed instance's partitions wait `consumer_session_timeout_ms` for another member: the setting must reach
    the client (tests/e2e/test_instances.py runs with 6 s and measures the takeover)."""
    settings = ServiceSettings(consumer_session_timeout_ms=6_000, consumer_heartbeat_interval_ms=1_000)

    async def handler(delivery: object) -> None:
        return None

    loop = ConsumerLoop(
        settings=settings, group="g", topics=["t"], handler=handler, producer=None,  # type: ignore[arg-type]
        dlq_topic="dlq",
    )  # fmt: skip
    client = loop._client()
    assert (client._session_timeout_ms, client._heartbeat_interval_ms) == (6_000, 1_000)
    defaults = ConsumerLoop(
        settings=ServiceSettings(), group="g", topics=["t"], handler=handler, producer=None,  # type: ignore[arg-type]
        dlq_topic="dlq",
    )._client()  # fmt: skip
    assert (defaults._session_timeout_ms, defaults._heartbeat_interval_ms) == (10_000, 3_000)
