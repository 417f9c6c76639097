"""A service app rides out its database: PostgreSQL restarted or stopped for real under it ends no loop,
dead-letters nothing, skips nothing, and `/health/ready` says what waits meanwhile."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from shared.app import ConsumerSpec, Runtime, ServiceSpec, create_app, running
from shared.clock import SystemClock
from shared.db import Conn
from shared.events import ProbePingedV1, dlq_topic, encode
from shared.faults import transient
from shared.kafka import Delivery, ensure_topics
from shared.outbox import enqueue_message
from tests.support import (
    TestStack,
    database_down,
    new_topic,
    read_topic,
    restart_database,
    service_settings,
    wait_until,
)

pytestmark = pytest.mark.integration


async def record(conn: Conn, delivery: Delivery) -> None:
    event = delivery.decoded.event
    assert isinstance(event, ProbePingedV1)
    await conn.execute("INSERT INTO effect (event_id, note) VALUES ($1, $2)", delivery.event_id, event.note)


@dataclasses.dataclass
class Service:
    app: FastAPI
    topic: str
    """What its consumer reads (and where its outbox writes)."""
    dlq: str

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    async def ready(self) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://t") as client:
            return await client.get("/health/ready")

    async def is_ready(self) -> bool:
        return (await self.ready()).status_code == 200

    async def stage(self, note: str) -> uuid.UUID:
        """Stage a probe through the outbox, trying again while the database is not back yet."""
        message = encode(
            ProbePingedV1(probe_id=uuid.uuid4(), note=note),
            source="switchboard/tests",
            subject=note,
            time=SystemClock().now(),
        )

        async def staged() -> bool:
            try:
                async with self.runtime.pool.acquire() as conn, conn.transaction():
                    await enqueue_message(
                        conn, dataclasses.replace(message, topic=self.topic), now=SystemClock().now()
                    )
            except Exception as exc:
                if not transient(exc):
                    raise
                return False
            return True

        await wait_until(staged, timeout_s=30)
        return message.event_id

    async def send(self, note: str) -> None:
        """Put a probe on the consumer's topic directly (as another service's relay would)."""
        message = encode(
            ProbePingedV1(probe_id=uuid.uuid4(), note=note),
            source="switchboard/tests",
            subject=note,
            time=SystemClock().now(),
        )
        producer = self.runtime.producer
        await producer.send_raw(self.topic, key=message.key, value=message.value, headers=message.headers)


@pytest.fixture
async def service(test_stack: TestStack, empty_database: str, tmp_path: Path) -> AsyncIterator[Service]:
    name = f"outage{uuid.uuid4().hex[:6]}"
    topic = await new_topic(test_stack.kafka_bootstrap)
    await ensure_topics(test_stack.kafka_bootstrap, [dlq_topic(name)])
    (tmp_path / "0001_effect.sql").write_text(
        "CREATE TABLE effect (effect_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, event_id uuid, note text)"
    )
    spec = ServiceSpec(
        name=name,
        migrations=tmp_path,
        consumers=lambda _runtime: [ConsumerSpec(name, [topic], record, batch=True)],
    )
    settings = service_settings(test_stack, empty_database.rsplit("/", 1)[1], service=name)
    async with running(create_app(spec, settings)) as app:
        await wait_until(lambda: app.state.runtime.producer_ready.is_set(), timeout_s=30)
        await wait_until(lambda: app.state.runtime.consumers[0].assigned.is_set(), timeout_s=30)
        yield Service(app, topic, dlq_topic(name).name)


async def test_the_outbox_relay_publishes_what_is_staged_after_a_database_restart(
    test_stack: TestStack, service: Service
) -> None:
    relay = service.runtime.relay
    before = await service.stage("before")
    await wait_until(lambda: relay.published == 1, timeout_s=15)
    restarted = time.monotonic()
    await restart_database(test_stack)
    after = await service.stage("after")
    await wait_until(lambda: relay.published == 2, timeout_s=30)
    recovered_s = time.monotonic() - restarted
    records = await read_topic(test_stack.kafka_bootstrap, service.topic)
    published = [json.loads(value)["id"] for _, value in records]
    assert published[:1] == [str(before)] and str(after) in published
    relay_task = service.runtime.tasks.entries["outbox-relay"]
    assert relay_task.restarts == 0, f"the relay rides the restart out itself; it died of {relay_task.error}"
    await wait_until(service.is_ready, timeout_s=15)
    assert recovered_s < 15, recovered_s


async def test_a_consumer_waits_out_a_database_outage_and_neither_dead_letters_nor_skips(
    test_stack: TestStack, service: Service
) -> None:
    loop = service.runtime.consumers[0]
    await service.send("before")
    await wait_until(lambda: loop.stats.handled == 1, timeout_s=15)
    async with database_down(test_stack):
        await service.send("during 1")
        await service.send("during 2")
        # Tried and waited more often than a failing handler is tried before it is dead-lettered.
        await wait_until(lambda: loop.stats.waits > service.runtime.settings.consumer_max_attempts, timeout_s=15)
        unready = await service.ready()
    await service.send("after")
    await wait_until(lambda: loop.stats.handled == 4, timeout_s=30)
    assert loop.stats.dead_lettered == 0
    assert await read_topic(test_stack.kafka_bootstrap, service.dlq) == []
    notes = [r["note"] for r in await service.runtime.pool.fetch("SELECT note FROM effect ORDER BY effect_id")]
    assert notes == ["before", "during 1", "during 2", "after"], "each once, in order"
    assert service.runtime.tasks.restarts()[loop.name] == 0
    assert unready.status_code == 503
    checks = unready.json()["checks"]
    assert checks["database"].startswith("unreachable")
    assert f"{loop.name} waits:" in checks["background"], checks
    await wait_until(service.is_ready, timeout_s=15)
