"""The inbox: each handled event id is recorded in the same transaction as the handler's effect.

A redelivered event finds its row and is skipped, so at-least-once delivery has exactly-once effect.

Events of one subject (one contact) also take turns: Kafka orders them within a topic, but a consumer reads
several topics, handles partitions concurrently and may run as several instances. Each handling transaction
first takes a transaction-level advisory lock on its subjects (a batch takes all of them, sorted, before any
other lock), so two events of one contact never interleave — a resolution and its contact never miss each
other — and the locks cannot deadlock.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime

import asyncpg

from shared.db import Conn
from shared.kafka import BatchHandler, Delivery, Handler, SpanFor
from shared.telemetry import carrier_from_headers

# One round trip: claim the event id, and note the trace of the subject's journey if it is the first one seen.
CLAIM = """
WITH claimed AS (
    INSERT INTO inbox (consumer, event_id, handled_at) VALUES ($1, $2, $3)
    ON CONFLICT (consumer, event_id) DO NOTHING
    RETURNING event_id
), noted AS (
    INSERT INTO journeys (subject, trace, first_seen_at)
    SELECT $4, $5, $3 WHERE $5::jsonb <> '{}'::jsonb AND EXISTS (SELECT FROM claimed)
    ON CONFLICT (subject) DO NOTHING
)
SELECT count(*) FROM claimed
"""


LOCK_SUBJECTS = """
SELECT pg_advisory_xact_lock(hashtextextended(subject, 11)) FROM unnest($1::text[]) AS subject ORDER BY subject
"""


async def lock_subjects(conn: Conn, subjects: Sequence[str]) -> None:
    """Until the transaction ends, no other handler of this database handles an event of these subjects."""
    await conn.execute(LOCK_SUBJECTS, sorted(set(subjects)))


async def claim(
    conn: Conn,
    *,
    consumer: str,
    event_id: uuid.UUID,
    now: datetime,
    subject: str = "",
    trace: Mapping[str, str] | None = None,
) -> bool:
    """True if this event is new for `consumer`; must run inside the handler's transaction. The event's trace
    becomes its subject's journey trace here if the subject has none yet (see `shared.telemetry.journey_span`)."""
    return bool(await conn.fetchval(CLAIM, consumer, event_id, now, subject, dict(trace or {})))


TransactionalHandler = Callable[[Conn, Delivery], Awaitable[None]]
TransactionalBatchHandler = Callable[[Conn, Sequence[Delivery]], Awaitable[None]]


def idempotent(
    pool: asyncpg.Pool, consumer: str, handle: TransactionalHandler, now: Callable[[], datetime]
) -> Handler:
    """Wrap `handle(conn, delivery)` in a transaction that first claims the event id in the inbox."""

    async def handler(delivery: Delivery) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await lock_subjects(conn, [delivery.decoded.envelope.subject])
            envelope = delivery.decoded.envelope
            if await claim(
                conn,
                consumer=consumer,
                event_id=delivery.event_id,
                now=now(),
                subject=envelope.subject,
                trace=carrier_from_headers(delivery.record.headers),
            ):
                await handle(conn, delivery)

    return handler


CLAIM_MANY = """
WITH claimed AS (
    INSERT INTO inbox (consumer, event_id, handled_at)
    SELECT $1, event_id, $3 FROM unnest($2::uuid[]) AS event_id
    ON CONFLICT (consumer, event_id) DO NOTHING
    RETURNING event_id
), noted AS (
    INSERT INTO journeys (subject, trace, first_seen_at)
    SELECT DISTINCT ON (e.subject) e.subject, e.trace, $3
    FROM unnest($2::uuid[], $4::text[], $5::jsonb[]) WITH ORDINALITY AS e(event_id, subject, trace, n)
    WHERE e.trace <> '{}'::jsonb AND e.event_id IN (SELECT event_id FROM claimed)
    ORDER BY e.subject, e.n
    ON CONFLICT (subject) DO NOTHING
)
SELECT event_id FROM claimed
"""


def idempotent_batch(
    pool: asyncpg.Pool,
    consumer: str,
    handle: TransactionalHandler,
    now: Callable[[], datetime],
    handle_many: TransactionalBatchHandler | None = None,
) -> BatchHandler:
    """Handle a polled batch in one transaction: claim every id in one statement, then handle the new ones
    in order (all at once with `handle_many`, under all their spans). Any failure rolls the whole batch back
    (the consumer loop then retries it one by one)."""

    async def handler(deliveries: Sequence[Delivery], span_for: SpanFor) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await lock_subjects(conn, [d.decoded.envelope.subject for d in deliveries])
            ids = [d.event_id for d in deliveries]
            subjects = [d.decoded.envelope.subject for d in deliveries]
            traces = [carrier_from_headers(d.record.headers) for d in deliveries]
            new = {r["event_id"] for r in await conn.fetch(CLAIM_MANY, consumer, ids, now(), subjects, traces)}
            if handle_many is not None:
                fresh: list[Delivery] = []
                for delivery in deliveries:
                    if delivery.event_id in new:
                        new.discard(delivery.event_id)  # an id twice in one batch is handled once
                        fresh.append(delivery)
                with contextlib.ExitStack() as spans:
                    for delivery in deliveries:
                        spans.enter_context(span_for(delivery))
                    await handle_many(conn, fresh)
                return
            for delivery in deliveries:
                with span_for(delivery):
                    if delivery.event_id in new:
                        new.discard(delivery.event_id)  # an id twice in one batch is handled once
                        await handle(conn, delivery)

    return handler


PURGE = "DELETE FROM inbox WHERE handled_at < $1"


async def purge_before(conn: Conn, cutoff: datetime) -> int:
    """Inbox rows only need to outlive the longest redelivery window (topic retention)."""
    status = await conn.execute(PURGE, cutoff)
    return int(status.rsplit(" ", 1)[-1])
