"""A round trip through the delivery path every service uses: outbox → relay → Kafka → consumer loop → inbox.

Used by `switchboard smoke` (a handful of events, to see the stack work) and `bench/outbox_pipeline.py`
(thousands, to measure the rate). It runs against the stack's `ops` database and the `ops.probe` topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shared.clock import SystemClock
from shared.config import ServiceSettings
from shared.db import SHARED_MIGRATIONS, Conn, create_pool, migrate
from shared.events import ProbePingedV1, dlq_topic
from shared.inbox import TransactionalHandler, idempotent, idempotent_batch
from shared.kafka import ConsumerLoop, Delivery, Producer
from shared.outbox import OutboxRelay, enqueue

MIGRATIONS = Path(__file__).parent / "migrations"
GROUP = "ops.probe"
SOURCE = "switchboard/ops"


@dataclass(frozen=True)
class ProbeReport:
    events: int
    delivered: int
    duplicates: int
    enqueue_s: float
    drain_s: float
    latency_p50_ms: float
    latency_p99_ms: float
    latency_max_ms: float

    @property
    def rate_per_s(self) -> float:
        return self.delivered / self.drain_s if self.drain_s else 0.0


RECORD_EFFECT = """
INSERT INTO probe_effect (event_id, probe_id, sequence, sent_at, handled_at) VALUES ($1, $2, $3, $4, $5)
"""

LATENCIES = """
SELECT count(*) AS n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM handled_at - sent_at)) AS p50,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM handled_at - sent_at)) AS p99,
       max(extract(epoch FROM handled_at - sent_at)) AS worst
FROM probe_effect WHERE probe_id = $1
"""


def _record_effect(clock: SystemClock) -> TransactionalHandler:
    async def handle(conn: Conn, delivery: Delivery) -> None:
        event = delivery.decoded.event
        assert isinstance(event, ProbePingedV1)
        await conn.execute(
            RECORD_EFFECT,
            delivery.event_id,
            event.probe_id,
            event.sequence,
            delivery.decoded.envelope.time,
            clock.now(),
        )

    return handle


async def round_trip(
    settings: ServiceSettings,
    *,
    events: int,
    batch: int = 500,
    timeout_s: float = 120.0,
    pace_s: float = 0.0,
    batch_transactions: bool = False,
    progress: Callable[[int, int], None] = lambda _done, _total: None,
) -> ProbeReport:
    clock = SystemClock()
    probe_id = uuid.uuid4()
    pool = await create_pool(settings.database_url, min_size=2, max_size=8)
    producer = Producer(settings)
    relay = OutboxRelay(pool, producer, dsn=settings.database_url, batch_size=settings.outbox_batch_size)
    handle = _record_effect(clock)
    consumer = ConsumerLoop(
        settings=settings,
        group=GROUP,
        topics=[ProbePingedV1.TOPIC.name],
        handler=idempotent(pool, GROUP, handle, clock.now),
        producer=producer,
        dlq_topic=dlq_topic("ops").name,
        batch_handler=idempotent_batch(pool, GROUP, handle, clock.now) if batch_transactions else None,
    )
    tasks: list[asyncio.Task[None]] = []
    try:
        async with pool.acquire() as conn:
            await migrate(conn, [("shared", SHARED_MIGRATIONS), ("ops", MIGRATIONS)])
        await producer.start()
        tasks = [asyncio.create_task(relay.run()), asyncio.create_task(consumer.run())]
        started = time.monotonic()
        if pace_s:
            batch = 1  # one event per transaction, spaced out: latency without a backlog
        for first in range(0, events, batch):
            async with pool.acquire() as conn, conn.transaction():
                for sequence in range(first, min(first + batch, events)):
                    await enqueue(
                        conn,
                        ProbePingedV1(probe_id=probe_id, sequence=sequence, note="round trip"),
                        source=SOURCE,
                        subject=str(probe_id),
                        key=f"{probe_id}:{sequence % 12}",
                        now=clock.now(),
                    )
            if pace_s:
                await asyncio.sleep(pace_s)
        enqueued = time.monotonic()
        delivered = 0
        while delivered < events:
            if time.monotonic() - started > timeout_s:
                break
            for task in tasks:
                if task.done():
                    task.result()  # a dead relay or consumer fails the probe with its own error
            await asyncio.sleep(0.05)
            delivered = int(await pool.fetchval("SELECT count(*) FROM probe_effect WHERE probe_id = $1", probe_id))
            progress(delivered, events)
        finished = time.monotonic()
        row = await pool.fetchrow(LATENCIES, probe_id)
        assert row is not None
        sequences = await pool.fetchval(
            "SELECT count(DISTINCT sequence) FROM probe_effect WHERE probe_id = $1", probe_id
        )
        return ProbeReport(
            events=events,
            delivered=int(sequences),
            duplicates=int(row["n"]) - int(sequences),
            enqueue_s=enqueued - started,
            drain_s=finished - started,
            latency_p50_ms=float(row["p50"] or 0) * 1000,
            latency_p99_ms=float(row["p99"] or 0) * 1000,
            latency_max_ms=float(row["worst"] or 0) * 1000,
        )
    finally:
        consumer.stop()
        relay.stop()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 15)
        await producer.stop()
        await pool.close()
