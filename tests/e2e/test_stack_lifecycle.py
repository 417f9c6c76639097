"""`switchboard up`, `status`, `down`, `up` again, through the real CLI: topics, offsets and rows survive."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from deploy.config import StackSettings
from deploy.stack import Stack
from shared.auth import AuthError, verify_api_key, verify_token
from shared.events import SERVICES, TOPICS, Topic
from shared.kafka import ensure_topics
from tests.support import ROOT, free_port_stack_settings, read_topic

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def lifecycle_stack() -> Iterator[StackSettings]:
    state = ROOT / ".switchboard" / "test-lifecycle"
    if state.exists():
        Stack(StackSettings(state_dir=state)).down()
        subprocess.run(["rm", "-rf", str(state)], check=True)
    settings = free_port_stack_settings(state)
    yield settings
    Stack(settings).down()


def cli(settings: StackSettings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **{f"SWITCHBOARD_{k.upper()}": str(v) for k, v in settings.model_dump().items() if v is not None},
    }
    return subprocess.run(
        [sys.executable, "-m", "deploy.cli", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )


async def test_a_restart_keeps_topics_offsets_and_rows(lifecycle_stack: StackSettings) -> None:
    settings = lifecycle_stack
    up = cli(settings, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    status = cli(settings, "status")
    assert status.returncode == 0, status.stdout
    for component in ("postgresql", "kafka", "intake", "routing", "sla", "feedback", "knowledge", "web"):
        assert component in status.stdout

    topic = f"test.lifecycle.{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings.kafka_bootstrap, [Topic(topic, 1, 3_600_000, "tests")])
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    for i in range(3):
        await producer.send_and_wait(topic, f"message {i}".encode())
    await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id="lifecycle", enable_auto_commit=False
    )
    await consumer.start()
    consumer.assign([TopicPartition(topic, 0)])
    await consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(2, "")})
    await consumer.stop()
    conn = await asyncpg.connect(settings.database_url("ops"))
    await conn.execute("CREATE TABLE survivor (note text)")
    await conn.execute("INSERT INTO survivor VALUES ('still here')")
    await conn.close()

    down = cli(settings, "down")
    assert down.returncode == 0, down.stderr
    stopped = cli(settings, "status")
    assert stopped.returncode == 1 and stopped.stdout.count("stopped") == 8, stopped.stdout

    again = cli(settings, "up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 created now" in again.stdout, "topics must survive the restart"
    idempotent = cli(settings, "up")
    assert idempotent.returncode == 0 and idempotent.stdout.count("already running") == 6, idempotent.stdout

    assert [v for _, v in await read_topic(settings.kafka_bootstrap, topic)] == [
        b"message 0",
        b"message 1",
        b"message 2",
    ]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id="lifecycle", enable_auto_commit=False
    )
    await consumer.start()
    consumer.assign([TopicPartition(topic, 0)])
    committed = await consumer.committed(TopicPartition(topic, 0))
    await consumer.stop()
    assert committed == 2
    conn = await asyncpg.connect(settings.database_url("ops"))
    assert await conn.fetchval("SELECT note FROM survivor") == "still here"
    await conn.close()
    names = set(await _topic_names(settings.kafka_bootstrap))
    assert {t.name for t in TOPICS} <= names


async def test_cli_credentials_are_accepted_by_every_service(lifecycle_stack: StackSettings) -> None:
    settings = lifecycle_stack
    assert cli(settings, "up", "--no-services").returncode == 0
    created = cli(settings, "keys", "create", "--name", "mail-gateway", "--channels", "email,web")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    for service in SERVICES:
        conn = await asyncpg.connect(settings.database_url(service))
        try:
            principal = await verify_api_key(conn, key)
        finally:
            await conn.close()
        assert principal.channels == {"email", "web"} and principal.subject == "mail-gateway"
    bad = cli(settings, "keys", "create", "--name", "x", "--channels", "fax")
    assert bad.returncode == 2 and "fax" in bad.stderr

    token = cli(settings, "token", "--role", "supervisor", "--sub", "S-1", "--ttl", "5m")
    assert token.returncode == 0, token.stderr
    principal = verify_token(Stack(settings).token_secret(), token.stdout.strip())
    assert (principal.role, principal.subject) == ("supervisor", "S-1")

    revoked = cli(settings, "keys", "revoke", "mail-gateway")
    assert revoked.returncode == 0, revoked.stdout
    conn = await asyncpg.connect(settings.database_url("intake"))
    try:
        with pytest.raises(AuthError):
            await verify_api_key(conn, key)
    finally:
        await conn.close()


async def _topic_names(bootstrap: str) -> list[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()


def test_missing_java_gives_one_clear_message(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent), "SWITCHBOARD_STATE_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "deploy.cli", "up"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3
    assert "java and mvn not found" in result.stderr
    assert "docker-compose.yml" in result.stderr
