"""The delivery guarantees every service relies on, against the real broker and database."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from aiokafka.partitioner import DefaultPartitioner
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared.clock import SystemClock
from shared.config import ServiceSettings
from shared.db import SHARED_MIGRATIONS, Conn, connect, create_pool, migrate
from shared.events import MAX_EVENT_BYTES, ProbePingedV1, Topic, dlq_topic, encode
from shared.housekeeping import Forgotten, Retention, housekeep
from shared.inbox import idempotent, idempotent_batch
from shared.kafka import ConsumerLoop, Delivery, Producer, ensure_topics, wait_for_broker
from shared.outbox import (
    RELAY_TURN,
    VACUUM_EVERY,
    OutboxRelay,
    backlog,
    enqueue,
    enqueue_many,
    enqueue_message,
    parked_rows,
    relay_once,
)
from shared.telemetry import tracer
from tests.support import TestStack, new_topic, read_topic, service_settings, wait_until

pytestmark = pytest.mark.integration

EFFECT_TABLE = """
CREATE TABLE effect (effect_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, event_id uuid NOT NULL, note text)
"""


@pytest.fixture
async def settings(test_stack: TestStack, empty_database: str) -> ServiceSettings:
    conn = await connect(empty_database)
    try:
        await migrate(conn, [("shared", SHARED_MIGRATIONS)])
        await conn.execute(EFFECT_TABLE)
    finally:
        await conn.close()
    return service_settings(test_stack, empty_database.rsplit("/", 1)[1])


@pytest.fixture
async def pool(settings: ServiceSettings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings.database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def producer(settings: ServiceSettings) -> AsyncIterator[Producer]:
    producer = Producer(settings)
    await producer.start()
    yield producer
    await producer.stop()


def probe(note: str = "") -> ProbePingedV1:
    return ProbePingedV1(probe_id=uuid.uuid4(), note=note)


async def stage(pool: asyncpg.Pool, topic: str, event: ProbePingedV1, *, subject: str | None = None) -> uuid.UUID:
    """Write `event` through the outbox, addressed to a test topic (subject: the probe id unless given)."""
    subject = subject or str(event.probe_id)
    message = encode(event, source="switchboard/tests", subject=subject, time=SystemClock().now())
    async with pool.acquire() as conn, conn.transaction():
        await enqueue_message(conn, dataclasses.replace(message, topic=topic), now=SystemClock().now())
    return message.event_id


def copies_of(records: list[tuple[dict[str, bytes], bytes]], event_id: uuid.UUID) -> int:
    return sum(1 for _, value in records if str(event_id).encode() in value)


async def record_effect(conn: Conn, delivery: Delivery) -> None:
    event = delivery.decoded.event
    assert isinstance(event, ProbePingedV1)
    await conn.execute("INSERT INTO effect (event_id, note) VALUES ($1, $2)", delivery.event_id, event.note)


async def test_an_event_written_while_the_broker_is_down_arrives_exactly_once_when_it_is_back(
    test_stack: TestStack, settings: ServiceSettings, pool: asyncpg.Pool, producer: Producer
) -> None:
    """Through the outbox relay to a consumer that was running all along: both ride out the broker's restart."""
    assert test_stack.stack is not None, "this test stops and starts the broker it owns"
    topic = await new_topic(test_stack.kafka_bootstrap)
    broker = test_stack.stack.kafka
    relay = OutboxRelay(pool, producer, dsn=settings.database_url, idle_wait_s=0.1)
    running = asyncio.create_task(relay.run())
    group = f"g-{uuid.uuid4().hex[:8]}"
    consumer = ConsumerLoop(
        settings=settings, group=group, topics=[topic], producer=producer,
        handler=idempotent(pool, group, record_effect, SystemClock().now),
        dlq_topic=await new_topic(test_stack.kafka_bootstrap, prefix="dlq"),
    )  # fmt: skip
    consuming = asyncio.create_task(consumer.run())
    await wait_until(consumer.assigned.is_set, timeout_s=30)
    broker.stop()
    try:
        event_id = await stage(pool, topic, probe("written while the broker was down"))
        await wait_until(lambda: relay.failures >= 1, timeout_s=60)  # the relay tried, and the broker was away
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 1, "the row waits for the broker"
        assert relay.published == 0
    finally:
        broker.start()
        await wait_for_broker(test_stack.kafka_bootstrap, timeout_s=120)
    try:
        await wait_until(lambda: relay.published == 1, timeout_s=60)
        assert await relay_once(pool, producer) == 0, "a published row must not be published again"
        await wait_until(lambda: consumer.stats.handled == 1, timeout_s=60)
        assert not consuming.done() and consumer.stats.dead_lettered == 0
    finally:
        relay.stop()
        consumer.stop()
        await running
        await consuming
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
    assert copies_of(await read_topic(test_stack.kafka_bootstrap, topic), event_id) == 1
    assert await pool.fetchval("SELECT count(*) FROM effect WHERE event_id = $1", event_id) == 1


@pytest.mark.parametrize("refused_by", ["producer", "broker"])
async def test_an_event_the_broker_refuses_is_parked_and_the_events_behind_it_are_published(
    test_stack: TestStack, settings: ServiceSettings, pool: asyncpg.Pool, refused_by: str
) -> None:
    """Refused by the producer: larger than `max_event_bytes`. By the broker: a topic whose limit was not set
    from the same setting (its refusal also leaves the idempotent producer's sequence with a gap)."""
    limit = 256 * 1024
    topic = f"test.{uuid.uuid4().hex[:10]}"
    topic_limit, producer_limit = (limit, MAX_EVENT_BYTES) if refused_by == "broker" else (MAX_EVENT_BYTES, limit)
    await ensure_topics(
        test_stack.kafka_bootstrap, [Topic(topic, 1, 3_600_000, "tests")], max_message_bytes=topic_limit
    )
    producer = Producer(settings.model_copy(update={"max_event_bytes": producer_limit}))
    await producer.start()
    relay = OutboxRelay(pool, producer, dsn=settings.database_url, idle_wait_s=0.1)
    running = asyncio.create_task(relay.run())
    try:
        first = await stage(pool, topic, probe("first"))
        too_large = await stage(pool, topic, probe("x" * (limit + 1000)))
        last = await stage(pool, topic, probe("last"))
        await wait_until(lambda: relay.published == 2 and sum(relay.parked_by_type.values()) == 1, timeout_s=30)
        assert await relay_once(pool, producer) == 0, "a parked row is not tried again"
    finally:
        relay.stop()
        await running
        await producer.stop()
    published = [json.loads(value)["id"] for _, value in await read_topic(test_stack.kafka_bootstrap, topic)]
    assert published == [str(first), str(last)]
    row = await pool.fetchrow("SELECT event_id, parked_at, last_error FROM outbox")
    assert row is not None and row["event_id"] == too_large and row["parked_at"] is not None
    assert row["last_error"].startswith("MessageSizeTooLargeError")
    assert relay.parked_by_type == {ProbePingedV1.TYPE: 1}
    async with pool.acquire() as conn:
        assert (await backlog(conn), await parked_rows(conn)) == (0, 1)


async def test_topics_take_the_messages_the_producers_may_send_both_set_from_one_setting(
    test_stack: TestStack, settings: ServiceSettings
) -> None:
    topic = Topic(f"test.{uuid.uuid4().hex[:10]}", 1, 3_600_000, "tests")
    assert await ensure_topics(test_stack.kafka_bootstrap, [topic], max_message_bytes=256 * 1024) == [topic.name]
    limit = 512 * 1024  # the setting raised: the existing topic follows
    assert await ensure_topics(test_stack.kafka_bootstrap, [topic], max_message_bytes=limit) == []
    producer = Producer(settings.model_copy(update={"max_event_bytes": limit}))
    await producer.start()
    try:
        await producer.send_raw(topic.name, key=b"k", value=b"x" * (400 * 1024), headers=[])
    finally:
        await producer.stop()
    [(_, value)] = await read_topic(test_stack.kafka_bootstrap, topic.name)
    assert len(value) == 400 * 1024


async def test_redelivered_event_has_no_second_effect(
    test_stack: TestStack, settings: ServiceSettings, pool: asyncpg.Pool, producer: Producer
) -> None:
    topic = await new_topic(test_stack.kafka_bootstrap)
    message = encode(probe("once"), source="switchboard/tests", subject="s", time=SystemClock().now())
    # The same event delivered twice, as after a crash between handling and committing the offset.
    for _ in range(2):
        await producer.send_raw(topic, key=message.key, value=message.value, headers=message.headers)
    handler = idempotent(pool, "test", record_effect, SystemClock().now)
    loop = ConsumerLoop(
        settings=settings, group=f"g-{uuid.uuid4().hex[:8]}", topics=[topic], handler=handler,
        producer=producer, dlq_topic=await new_topic(test_stack.kafka_bootstrap, prefix="dlq"),
    )  # fmt: skip
    task = asyncio.create_task(loop.run())
    try:
        await wait_until(lambda: loop.stats.handled == 2)
    finally:
        loop.stop()
        await task
    assert await pool.fetchval("SELECT count(*) FROM effect WHERE event_id = $1", message.event_id) == 1
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", message.event_id) == 1


async def test_handler_that_keeps_failing_goes_to_the_dead_letter_topic_and_the_partition_moves_on(
    test_stack: TestStack, settings: ServiceSettings, pool: asyncpg.Pool, producer: Producer
) -> None:
    topic = await new_topic(test_stack.kafka_bootstrap)
    dlq = await new_topic(test_stack.kafka_bootstrap, prefix="dlq")
    poison = encode(probe("poison"), source="switchboard/tests", subject="s", time=SystemClock().now())
    good = encode(probe("good"), source="switchboard/tests", subject="s", time=SystemClock().now())
    for message in (poison, good):
        await producer.send_raw(topic, key=message.key, value=message.value, headers=message.headers)
    attempts = 0

    async def handle(conn: Conn, delivery: Delivery) -> None:
        nonlocal attempts
        event = delivery.decoded.event
        assert isinstance(event, ProbePingedV1)
        if event.note == "poison":
            attempts += 1
            raise RuntimeError("cannot handle this one")
        await record_effect(conn, delivery)

    group = f"g-{uuid.uuid4().hex[:8]}"
    loop = ConsumerLoop(
        settings=settings, group=group, topics=[topic], handler=idempotent(pool, group, handle, SystemClock().now),
        producer=producer, dlq_topic=dlq,
    )  # fmt: skip
    task = asyncio.create_task(loop.run())
    try:
        await wait_until(lambda: loop.stats.handled == 1 and loop.stats.dead_lettered == 1)
    finally:
        loop.stop()
        await task
    assert attempts == settings.consumer_max_attempts
    assert await pool.fetchval("SELECT count(*) FROM effect WHERE event_id = $1", good.event_id) == 1
    # The failed attempts rolled back their inbox rows, so a replay from the DLQ would be handled.
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", poison.event_id) == 0
    [(headers, value)] = await read_topic(test_stack.kafka_bootstrap, dlq)
    assert value == poison.value
    assert headers["dlq.error"] == b"RuntimeError: cannot handle this one"
    assert headers["dlq.origin.topic"] == topic.encode()
    assert headers["dlq.origin.offset"] == b"0"
    assert headers["dlq.attempts"] == str(settings.consumer_max_attempts).encode()
    assert headers["ce_type"] == ProbePingedV1.TYPE.encode()


async def test_undecodable_message_is_dead_lettered_at_once(
    test_stack: TestStack, settings: ServiceSettings, pool: asyncpg.Pool, producer: Producer
) -> None:
    topic = await new_topic(test_stack.kafka_bootstrap)
    dlq = await new_topic(test_stack.kafka_bootstrap, prefix="dlq")
    await producer.send_raw(topic, key=b"k", value=b"{not json", headers=[])
    loop = ConsumerLoop(
        settings=settings, group=f"g-{uuid.uuid4().hex[:8]}", topics=[topic],
        handler=idempotent(pool, "test", record_effect, SystemClock().now), producer=producer, dlq_topic=dlq,
    )  # fmt: skip
    task = asyncio.create_task(loop.run())
    try:
        await wait_until(lambda: loop.stats.dead_lettered == 1)
    finally:
        loop.stop()
        await task
    [(headers, value)] = await read_topic(test_stack.kafka_bootstrap, dlq)
    assert value == b"{not json"
    assert headers["dlq.error"].startswith(b"UndecodableMessage: not a CloudEvents envelope")
    assert headers["dlq.attempts"] == b"0"


async def test_consumer_span_is_a_child_of_the_producer_span_across_kafka(
    test_stack: TestStack,
    settings: ServiceSettings,
    pool: asyncpg.Pool,
    producer: Producer,
    spans: InMemorySpanExporter,
) -> None:
    topic = await new_topic(test_stack.kafka_bootstrap)
    spans.clear()
    with tracer("tests").start_as_current_span("POST /v1/channels/email", kind=SpanKind.SERVER) as request_span:
        event_id = await stage(pool, topic, probe("traced"))
    assert await relay_once(pool, producer) == 1
    loop = ConsumerLoop(
        settings=settings, group=f"g-{uuid.uuid4().hex[:8]}", topics=[topic],
        handler=idempotent(pool, "test", record_effect, SystemClock().now), producer=producer,
        dlq_topic=await new_topic(test_stack.kafka_bootstrap, prefix="dlq"),
    )  # fmt: skip
    task = asyncio.create_task(loop.run())
    try:
        await wait_until(lambda: loop.stats.handled == 1)
    finally:
        loop.stop()
        await task
    finished = spans.get_finished_spans()
    [send] = [s for s in finished if s.name == f"send {topic}"]
    [process] = [s for s in finished if s.name == f"process {topic}"]
    trace_id = request_span.get_span_context().trace_id
    assert send.kind == SpanKind.PRODUCER
    assert send.parent is not None and send.parent.span_id == request_span.get_span_context().span_id
    assert process.kind == SpanKind.CONSUMER
    assert process.parent is not None and process.parent.span_id == send.context.span_id
    assert process.context.trace_id == send.context.trace_id == trace_id
    assert process.attributes is not None and process.attributes["messaging.message.id"] == str(event_id)


async def test_work_done_later_or_by_another_request_continues_the_contacts_journey_trace(
    test_stack: TestStack,
    pool: asyncpg.Pool,
    producer: Producer,
    spans: InMemorySpanExporter,
) -> None:
    topic = await new_topic(test_stack.kafka_bootstrap)
    contact = str(uuid.uuid4())
    spans.clear()
    with tracer("tests").start_as_current_span("POST /v1/channels/chat", kind=SpanKind.SERVER) as posted:
        await stage(pool, topic, probe(), subject=contact)
    journey = posted.get_span_context().trace_id
    await stage(pool, topic, probe(), subject=contact)  # a timer or dispatcher: no span of its own
    with tracer("tests").start_as_current_span("POST /v1/work/{work_id}/resolve", kind=SpanKind.SERVER) as click:
        await stage(pool, topic, probe(), subject=contact)
    with tracer("tests").start_as_current_span("POST /v1/channels/chat", kind=SpanKind.SERVER) as other:
        await stage(pool, topic, probe(), subject=str(uuid.uuid4()))  # another contact starts its own journey
    assert await relay_once(pool, producer) == 4
    sends = [s for s in spans.get_finished_spans() if s.name == f"send {topic}"]
    assert [s.context.trace_id for s in sends] == [journey, journey, journey, other.get_span_context().trace_id]
    assert [[link.context.span_id for link in s.links] for s in sends] == [
        [],
        [],
        [click.get_span_context().span_id],
        [],
    ]


async def test_a_consumer_notes_the_journey_trace_of_the_first_event_it_sees_of_a_subject(
    test_stack: TestStack,
    settings: ServiceSettings,
    pool: asyncpg.Pool,
    producer: Producer,
    spans: InMemorySpanExporter,
) -> None:
    topic = await new_topic(test_stack.kafka_bootstrap)
    contact = str(uuid.uuid4())
    with tracer("tests").start_as_current_span("POST /v1/channels/web", kind=SpanKind.SERVER) as posted:
        await stage(pool, topic, probe(), subject=contact)
    with tracer("tests").start_as_current_span("later", kind=SpanKind.SERVER):
        await stage(pool, topic, probe(), subject=contact)
    await pool.execute("DELETE FROM journeys WHERE subject = $1", contact)  # as if another service's database
    assert await relay_once(pool, producer) == 2
    for batch in (False, True):
        await pool.execute("DELETE FROM journeys WHERE subject = $1", contact)
        loop = ConsumerLoop(
            settings=settings, group=f"g-{uuid.uuid4().hex[:8]}", topics=[topic],
            handler=idempotent(pool, f"journey-{batch}", record_effect, SystemClock().now),
            batch_handler=(
                idempotent_batch(pool, f"journey-{batch}", record_effect, SystemClock().now) if batch else None
            ),
            producer=producer, dlq_topic=await new_topic(test_stack.kafka_bootstrap, prefix="dlq"),
        )  # fmt: skip
        task = asyncio.create_task(loop.run())
        try:
            await wait_until(lambda: loop.stats.handled == 2)  # noqa: B023 — awaited inside this iteration
        finally:
            loop.stop()
            await task
        noted = await pool.fetchval("SELECT trace FROM journeys WHERE subject = $1", contact)
        assert noted is not None, batch
        assert int(noted["traceparent"].split("-")[1], 16) == posted.get_span_context().trace_id, batch


async def test_one_relay_publishes_at_a_time_so_a_contacts_events_keep_their_order(
    test_stack: TestStack, pool: asyncpg.Pool, producer: Producer
) -> None:
    topic = await new_topic(test_stack.kafka_bootstrap)
    contact = str(uuid.uuid4())
    staged = [await stage(pool, topic, probe(), subject=contact) for _ in range(6)]
    async with pool.acquire() as other_relay, other_relay.transaction():
        # Another instance's relay is mid-batch: it has the turn and the contact's first three events.
        assert await other_relay.fetchval(RELAY_TURN)
        await other_relay.fetch("SELECT outbox_id FROM outbox ORDER BY outbox_id LIMIT 3 FOR UPDATE")
        assert await relay_once(pool, producer, batch_size=3) == 0, "the later events must not overtake"
    assert await relay_once(pool, producer, batch_size=10) == 6
    published = [json.loads(value)["id"] for _, value in await read_topic(test_stack.kafka_bootstrap, topic)]
    assert published == [str(event_id) for event_id in staged]


async def test_outbox_rows_leave_only_if_the_writing_transaction_commits(
    test_stack: TestStack, pool: asyncpg.Pool, producer: Producer
) -> None:
    topic = await new_topic(test_stack.kafka_bootstrap)
    with contextlib.suppress(RuntimeError):
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(
                conn, probe("rolled back"), source="switchboard/tests", subject="s", now=SystemClock().now()
            )
            raise RuntimeError("the state change failed")
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
    assert await relay_once(pool, producer) == 0
    assert await read_topic(test_stack.kafka_bootstrap, topic) == []


async def test_operators_can_list_and_replay_dead_letters_once(
    test_stack: TestStack, settings: ServiceSettings, pool: asyncpg.Pool, producer: Producer
) -> None:
    from deploy.dlq import read_letters, replay

    service = f"svc{uuid.uuid4().hex[:6]}"
    dlq = dlq_topic(service).name
    origin = await new_topic(test_stack.kafka_bootstrap)
    await ensure_topics(test_stack.kafka_bootstrap, [dlq_topic(service)])
    message = encode(probe("flaky"), source="switchboard/tests", subject="contact-9", time=SystemClock().now())
    await producer.send_raw(origin, key=message.key, value=message.value, headers=message.headers)
    broken = True

    async def handle(conn: Conn, delivery: Delivery) -> None:
        if broken:
            raise RuntimeError("downstream bug")
        await record_effect(conn, delivery)

    group = f"g-{uuid.uuid4().hex[:8]}"
    handler = idempotent(pool, group, handle, SystemClock().now)
    loop = ConsumerLoop(
        settings=settings, group=group, topics=[origin], handler=handler, producer=producer, dlq_topic=dlq
    )
    task = asyncio.create_task(loop.run())
    try:
        await wait_until(lambda: loop.stats.dead_lettered == 1)
        [letter] = await read_letters(test_stack.kafka_bootstrap, service)
        assert letter.subject == "contact-9"
        assert letter.error == "RuntimeError: downstream bug"
        assert letter.origin == f"{origin}[0]@0"
        broken = False  # the bug is fixed
        assert len(await replay(test_stack.kafka_bootstrap, service)) == 1
        await wait_until(lambda: loop.stats.handled == 1)
        assert await replay(test_stack.kafka_bootstrap, service) == [], "each letter is replayed once"
    finally:
        loop.stop()
        await task
    assert await pool.fetchval("SELECT count(*) FROM effect WHERE event_id = $1", message.event_id) == 1


async def test_batch_transactions_fall_back_to_one_by_one_and_still_have_exactly_one_effect_each(
    test_stack: TestStack, settings: ServiceSettings, pool: asyncpg.Pool, producer: Producer
) -> None:
    topic = await new_topic(test_stack.kafka_bootstrap)
    dlq = await new_topic(test_stack.kafka_bootstrap, prefix="dlq")
    notes = ["a", "b", "poison", "c", "a-again"]
    messages = [encode(probe(n), source="switchboard/tests", subject="s", time=SystemClock().now()) for n in notes]
    messages[-1] = messages[0]  # a redelivery inside the same batch
    for message in messages:
        await producer.send_raw(topic, key=message.key, value=message.value, headers=message.headers)

    async def handle(conn: Conn, delivery: Delivery) -> None:
        event = delivery.decoded.event
        assert isinstance(event, ProbePingedV1)
        if event.note == "poison":
            raise RuntimeError("cannot handle this one")
        await record_effect(conn, delivery)

    group = f"g-{uuid.uuid4().hex[:8]}"
    loop = ConsumerLoop(
        settings=settings, group=group, topics=[topic], handler=idempotent(pool, group, handle, SystemClock().now),
        batch_handler=idempotent_batch(pool, group, handle, SystemClock().now), producer=producer, dlq_topic=dlq,
    )  # fmt: skip
    task = asyncio.create_task(loop.run())
    try:
        await wait_until(lambda: loop.stats.dead_lettered == 1 and loop.stats.handled == 4)
    finally:
        loop.stop()
        await task
    assert loop.stats.batch_fallbacks >= 1
    counts = {r["note"]: r["count"] for r in await pool.fetch("SELECT note, count(*) FROM effect GROUP BY note")}
    assert counts == {"a": 1, "b": 1, "c": 1}


async def test_batch_transactions_handle_a_clean_batch_in_one_go(
    test_stack: TestStack, settings: ServiceSettings, pool: asyncpg.Pool, producer: Producer
) -> None:
    topic = await new_topic(test_stack.kafka_bootstrap)
    for i in range(20):
        message = encode(probe(f"n{i}"), source="switchboard/tests", subject="s", time=SystemClock().now())
        await producer.send_raw(topic, key=message.key, value=message.value, headers=message.headers)
    group = f"g-{uuid.uuid4().hex[:8]}"
    loop = ConsumerLoop(
        settings=settings, group=group, topics=[topic], producer=producer,
        handler=idempotent(pool, group, record_effect, SystemClock().now),
        batch_handler=idempotent_batch(pool, group, record_effect, SystemClock().now),
        dlq_topic=await new_topic(test_stack.kafka_bootstrap, prefix="dlq"),
    )  # fmt: skip
    task = asyncio.create_task(loop.run())
    try:
        await wait_until(lambda: loop.stats.handled == 20)
    finally:
        loop.stop()
        await task
    assert loop.stats.batches >= 1 and loop.stats.batch_fallbacks == 0
    assert await pool.fetchval("SELECT count(DISTINCT event_id) FROM effect") == 20
    assert await pool.fetchval("SELECT count(*) FROM effect") == 20


async def test_a_poll_spanning_partitions_is_one_transaction_and_keeps_each_partitions_order(
    test_stack: TestStack, settings: ServiceSettings, pool: asyncpg.Pool, producer: Producer
) -> None:
    topic = await new_topic(test_stack.kafka_bootstrap, partitions=4)
    for i in range(40):  # ten subjects, four events each, spread over the partitions by subject
        message = encode(
            probe(f"{i % 10}:{i // 10}"),
            source="switchboard/tests",
            subject=f"s{i % 10}",
            time=SystemClock().now(),
        )
        await producer.send_raw(topic, key=message.key, value=message.value, headers=message.headers)

    async def handle(conn: Conn, delivery: Delivery) -> None:
        event = delivery.decoded.event
        assert isinstance(event, ProbePingedV1)
        note = f"{event.note}@{delivery.record.partition}:{await conn.fetchval('SELECT txid_current()')}"
        await conn.execute("INSERT INTO effect (event_id, note) VALUES ($1, $2)", delivery.event_id, note)

    group = f"g-{uuid.uuid4().hex[:8]}"
    loop = ConsumerLoop(
        settings=settings, group=group, topics=[topic], producer=producer,
        handler=idempotent(pool, group, handle, SystemClock().now),
        batch_handler=idempotent_batch(pool, group, handle, SystemClock().now),
        dlq_topic=await new_topic(test_stack.kafka_bootstrap, prefix="dlq"),
    )  # fmt: skip
    task = asyncio.create_task(loop.run())
    try:
        await wait_until(lambda: loop.stats.handled == 40)
    finally:
        loop.stop()
        await task
    rows = [r["note"] for r in await pool.fetch("SELECT note FROM effect ORDER BY effect_id")]
    assert len(rows) == 40 and loop.stats.batch_fallbacks == 0
    parsed = [(note.split("@")[0].split(":"), note.split("@")[1].split(":")) for note in rows]
    partitions_per_tx: dict[str, set[str]] = {}
    sequence_per_subject: dict[str, list[int]] = {}
    for (subject, nth), (partition, tx) in parsed:
        partitions_per_tx.setdefault(tx, set()).add(partition)
        sequence_per_subject.setdefault(subject, []).append(int(nth))
    assert max(len(p) for p in partitions_per_tx.values()) > 1, "the first poll's partitions share a transaction"
    assert all(seq == [0, 1, 2, 3] for seq in sequence_per_subject.values()), "each subject's events stay in order"


async def test_the_relay_vacuums_the_outbox_as_it_drains_it(
    test_stack: TestStack, settings: ServiceSettings, pool: asyncpg.Pool, producer: Producer
) -> None:
    topic = await new_topic(test_stack.kafka_bootstrap)
    messages = [
        dataclasses.replace(
            encode(probe(str(i)), source="switchboard/tests", subject=f"s{i}", time=SystemClock().now()),
            topic=topic,
        )
        for i in range(VACUUM_EVERY + 200)
    ]
    async with pool.acquire() as conn, conn.transaction():
        await enqueue_many(conn, messages, now=SystemClock().now())
    relay = OutboxRelay(pool, producer, dsn=settings.database_url, idle_wait_s=0.1)
    running = asyncio.create_task(relay.run())
    try:
        await wait_until(lambda: relay.published == len(messages), timeout_s=60)
    finally:
        relay.stop()
        await running
    assert relay.vacuums >= 1
    vacuumed = await pool.fetchval("SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = 'outbox'")
    assert vacuumed is not None, "the relay's own VACUUM, not autovacuum's"
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_staging_a_list_at_once_gives_the_same_rows_as_staging_it_one_by_one(
    settings: ServiceSettings, pool: asyncpg.Pool
) -> None:
    def carrier(trace_id: str) -> dict[str, str]:
        return {"traceparent": f"00-{trace_id * 32}-{'1' * 16}-01"}

    # A subject with a journey already, a new one seen twice under two traces, one without a subject, one
    # without a trace.
    plan = [("known", "a"), ("new", "b"), ("new", "c"), ("", "d"), ("known", "e"), ("quiet", "")]
    runs: list[list[tuple[str, str, object]]] = []
    for staging in ("one by one", "at once"):
        await pool.execute("TRUNCATE outbox, journeys")
        await pool.execute(
            "INSERT INTO journeys (subject, trace, first_seen_at) VALUES ('known', $1, now())", carrier("f")
        )
        messages = [
            encode(
                probe(f"{subject}/{trace}"), source="switchboard/tests", subject=subject, time=SystemClock().now()
            )
            for subject, trace in plan
        ]
        carriers = [carrier(trace) if trace else {} for _, trace in plan]
        async with pool.acquire() as conn, conn.transaction():
            if staging == "at once":
                await enqueue_many(conn, messages, now=SystemClock().now(), carriers=carriers)
            else:
                for m, context in zip(messages, carriers, strict=True):  # each message on its own, in turn
                    await enqueue_many(conn, [m], now=SystemClock().now(), carriers=[context])
        rows = await pool.fetch("SELECT event_id, trace FROM outbox ORDER BY outbox_id")
        journeys = await pool.fetch("SELECT subject, trace FROM journeys ORDER BY subject")
        assert [r["event_id"] for r in rows] == [m.event_id for m in messages], "kept in order"
        runs.append(
            [(str(i), "outbox", r["trace"]) for i, r in enumerate(rows)]
            + [(j["subject"], "journey", j["trace"]) for j in journeys]
        )
    assert runs[0] == runs[1]
    by_position = [trace for _, kind, trace in runs[1] if kind == "outbox"]
    assert by_position[1] == carrier("b"), "a new subject's first message starts its journey"
    assert by_position[2] == {**carrier("b"), "link": carrier("c")["traceparent"]}, "later ones continue it"
    assert by_position[4] == {**carrier("f"), "link": carrier("e")["traceparent"]}


async def test_housekeeping_forgets_old_inbox_rows_and_journeys_and_keeps_recent_ones(pool: asyncpg.Pool) -> None:
    now = SystemClock().now()
    old, recent = now - timedelta(days=40), now - timedelta(days=1)
    await pool.executemany(
        "INSERT INTO inbox (consumer, event_id, handled_at) VALUES ('c', $1, $2)",
        [(uuid.uuid4(), old), (uuid.uuid4(), recent)],
    )
    await pool.executemany(
        "INSERT INTO journeys (subject, trace, first_seen_at) VALUES ($1, '{}', $2)",
        [("old-contact", old), ("recent-contact", recent)],
    )
    retention = Retention(inbox=timedelta(days=8), journeys=timedelta(days=30))
    assert await housekeep(pool, now=now, retention=retention) == Forgotten(inbox_rows=1, journeys=1)
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE handled_at > $1", old) == 1
    assert [r["subject"] for r in await pool.fetch("SELECT subject FROM journeys")] == ["recent-contact"]
    assert await housekeep(pool, now=now, retention=retention) == Forgotten(inbox_rows=0, journeys=0)


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "one by one"])
async def test_events_of_types_a_consumer_does_not_act_on_are_skipped_before_the_inbox(
    test_stack: TestStack, settings: ServiceSettings, pool: asyncpg.Pool, producer: Producer, batch: bool
) -> None:
    topic = await new_topic(test_stack.kafka_bootstrap)
    for i in range(5):
        message = encode(probe(f"n{i}"), source="switchboard/tests", subject=f"s{i}", time=SystemClock().now())
        await producer.send_raw(topic, key=message.key, value=message.value, headers=message.headers)
    group = f"g-{uuid.uuid4().hex[:8]}"
    loop = ConsumerLoop(
        settings=settings, group=group, topics=[topic], producer=producer,
        handler=idempotent(pool, group, record_effect, SystemClock().now),
        batch_handler=idempotent_batch(pool, group, record_effect, SystemClock().now) if batch else None,
        dlq_topic=await new_topic(test_stack.kafka_bootstrap, prefix="dlq"),
        accepts=frozenset(),  # this consumer acts on no probe
    )  # fmt: skip
    task = asyncio.create_task(loop.run())
    try:
        await wait_until(lambda: loop.stats.skipped == 5)
    finally:
        loop.stop()
        await task
    assert loop.stats.handled == 0
    assert await pool.fetchval("SELECT count(*) FROM effect") == 0
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", group) == 0, "nothing claimed"


async def test_a_member_reports_lag_only_for_the_partitions_it_holds_after_a_rebalance(
    test_stack: TestStack, settings: ServiceSettings, pool: asyncpg.Pool, producer: Producer
) -> None:
    """The first member consumes all four partitions; once a second joins, the first reports lag for its own
    half only (a partition it gave away would show its last lag in `/metrics`, and in the lag alert, for good)."""
    topic = await new_topic(test_stack.kafka_bootstrap, partitions=4)
    dlq = await new_topic(test_stack.kafka_bootstrap, prefix="dlq")
    group = f"g-{uuid.uuid4().hex[:8]}"

    def member() -> ConsumerLoop:
        return ConsumerLoop(
            settings=settings, group=group, topics=[topic], producer=producer, dlq_topic=dlq,
            handler=idempotent(pool, group, record_effect, SystemClock().now),
        )  # fmt: skip

    partitioner, every = DefaultPartitioner(), [0, 1, 2, 3]
    keys = {partitioner(f"k{n}".encode(), every, every): f"k{n}".encode() for n in range(64)}
    assert sorted(keys) == every  # a key the producer puts on each partition

    async def send_to_every_partition() -> None:
        for key in keys.values():
            message = encode(probe("lag"), source="switchboard/tests", subject="s", time=SystemClock().now())
            await producer.send_raw(topic, key=key, value=message.value, headers=message.headers)

    first, second = member(), member()
    running = [asyncio.create_task(first.run())]
    try:
        await send_to_every_partition()
        await wait_until(lambda: len(first.stats.lag) == 4, timeout_s=30)
        running.append(asyncio.create_task(second.run()))

        def split() -> bool:
            ours, theirs = first.partitions(topic), second.partitions(topic)
            return bool(ours and theirs and ours[0] and theirs[0])

        await wait_until(split, timeout_s=60)
        await send_to_every_partition()
        await wait_until(lambda: first.stats.handled + second.stats.handled >= 8, timeout_s=30)
        held = first.partitions(topic)
        assert held is not None and 0 < len(held[0]) < 4
        assert {int(key.rpartition(":")[2]) for key in first.stats.lag} <= held[0], first.stats.lag
    finally:
        for loop in (first, second):
            loop.stop()
        await asyncio.gather(*running)
