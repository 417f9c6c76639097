"""The transactional outbox and its relay.

`enqueue` writes an event in the caller's transaction, with the caller's trace context beside it. The relay
locks a batch (`FOR UPDATE SKIP LOCKED`), publishes it (idempotent producer, acks=all), and deletes the rows
in the same transaction once every message is acknowledged. If the broker is away the transaction rolls back
and the rows wait: nothing accepted is lost. A crash after the ack but before the commit publishes the batch
again; consumers' inboxes drop the repeats (event ids are stable).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from aiokafka.errors import KafkaError
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind

from shared.db import Conn
from shared.events import Event, OutgoingMessage, encode
from shared.kafka import Producer
from shared.telemetry import context_from_carrier, current_trace_carrier, trace_headers, tracer

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "switchboard_outbox"


async def enqueue(
    conn: Conn,
    event: Event,
    *,
    source: str,
    subject: str,
    now: datetime,
    key: str | None = None,
) -> OutgoingMessage:
    """Stage `event` for publishing; it leaves only if the caller's transaction commits."""
    message = encode(event, source=source, subject=subject, time=now, key=key)
    await enqueue_message(conn, message, now=now)
    return message


async def enqueue_message(conn: Conn, message: OutgoingMessage, *, now: datetime) -> None:
    await enqueue_many(conn, [message], now=now)


# One round trip for a list of messages, in order: the rows, each subject's journey trace noted if it has
# none, and a NOTIFY that wakes the relay (PostgreSQL folds repeats within a transaction). An event continues
# its subject's journey trace: under the caller's span when that span is in the journey (a consumer handling
# the contact's event), else under the journey's first span with the caller's span as a link (a request — an
# agent's click, a customer's answer — or a batch handled under another contact's span); staged outside any
# span (a dispatcher, a timer), just under the journey's first span. A subject new to `journeys` is noted with
# its first message's trace, which is then the journey of the list's later messages too.
INSERT = """
WITH m AS (
    SELECT event_id, topic, key, value, headers::jsonb, trace::jsonb, subject, n
    FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::bytea[], $5::text[], $6::text[], $7::text[])
        WITH ORDINALITY AS m(event_id, topic, key, value, headers, trace, subject, n)
), known AS (
    SELECT subject, trace FROM journeys WHERE subject IN (SELECT subject FROM m)
), first AS (
    SELECT DISTINCT ON (subject) subject, trace FROM m
    WHERE subject <> '' AND trace <> '{}'::jsonb AND subject NOT IN (SELECT subject FROM known)
    ORDER BY subject, n
), noted AS (
    INSERT INTO journeys (subject, trace, first_seen_at)
    SELECT subject, trace, $8 FROM first
    ON CONFLICT (subject) DO NOTHING
), staged AS (
    INSERT INTO outbox (event_id, topic, key, value, headers, trace, created_at)
    SELECT m.event_id, m.topic, m.key, m.value, m.headers,
        CASE
            WHEN j.trace IS NULL THEN m.trace
            WHEN split_part(m.trace ->> 'traceparent', '-', 2) = split_part(j.trace ->> 'traceparent', '-', 2)
                THEN m.trace
            ELSE j.trace || jsonb_build_object('link', m.trace -> 'traceparent')
        END,
        $8
    FROM m LEFT JOIN (SELECT subject, trace FROM known UNION ALL SELECT subject, trace FROM first) AS j
        USING (subject)
    ORDER BY m.n
)
SELECT pg_notify('switchboard_outbox', '')
"""


async def enqueue_many(
    conn: Conn,
    messages: Sequence[OutgoingMessage],
    *,
    now: datetime,
    carriers: Sequence[dict[str, str]] | None = None,
) -> None:
    """Stage several messages with one statement, in order (same guarantees as `enqueue_message`). `carriers`
    gives each message its own trace context (the request it came from); by default all carry the caller's."""
    if not messages:
        return
    if carriers is None:
        carriers = [current_trace_carrier()] * len(messages)
    if len(carriers) != len(messages):
        raise ValueError(f"{len(messages)} messages but {len(carriers)} trace carriers")
    await conn.execute(
        INSERT,
        [m.event_id for m in messages],
        [m.topic for m in messages],
        [m.key for m in messages],
        [m.value for m in messages],
        # As JSON text: asyncpg would read a list of header pairs as more array dimensions.
        [json.dumps([[k, v.decode("latin-1")] for k, v in m.headers]) for m in messages],
        [json.dumps(carrier) for carrier in carriers],
        [m.subject for m in messages],
        now,
    )


@dataclass(frozen=True)
class _Row:
    outbox_id: int
    topic: str
    key: bytes
    value: bytes
    headers: list[list[str]]
    trace: dict[str, Any]


# One relay publishes at a time per database: two relays each taking a batch (SKIP LOCKED) could send a
# contact's later event before its earlier one. The others find the turn taken and wait for the next wake-up.
# (Two-key advisory locks live apart from the one-key subject locks of the inbox.)
RELAY_TURN = "SELECT pg_try_advisory_xact_lock(23306, 2817)"
LOCK_BATCH = """
SELECT outbox_id, topic, key, value, headers, trace
FROM outbox
ORDER BY outbox_id
LIMIT $1
FOR UPDATE SKIP LOCKED
"""
DELETE_BATCH = "DELETE FROM outbox WHERE outbox_id = ANY($1::bigint[])"
NOTE_FAILURE = """
UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE outbox_id = ANY($1::bigint[])
"""


async def relay_once(
    pool: asyncpg.Pool, producer: Producer, *, batch_size: int = 500, tally: Counter[str] | None = None
) -> int:
    """Publish one batch; return how many rows left the outbox (counted by event type into `tally`) — 0 also
    when another relay has the turn. Raises if the broker did not take them."""
    async with pool.acquire() as conn:
        async with conn.transaction():
            if not await conn.fetchval(RELAY_TURN):
                return 0  # another relay (another instance of this service) is publishing
            rows = [_Row(**dict(r)) for r in await conn.fetch(LOCK_BATCH, batch_size)]
            if not rows:
                return 0
            try:
                await _publish(producer, rows)
            except (KafkaError, OSError, TimeoutError) as exc:
                failure = exc
            else:
                await conn.execute(DELETE_BATCH, [r.outbox_id for r in rows])
                if tally is not None:
                    tally.update(next((v for k, v in r.headers if k == "ce_type"), "unknown") for r in rows)
                return len(rows)
        # Outside the rolled-back transaction, so the failure is visible to operators.
        await conn.execute(NOTE_FAILURE, [r.outbox_id for r in rows], f"{type(failure).__name__}: {failure}")
        raise failure


def _links(carrier: dict[str, Any]) -> list[Link]:
    """The request that staged an event continuing a journey (see INSERT), as a span link."""
    link = carrier.get("link")
    if not isinstance(link, str):
        return []
    linked = trace.get_current_span(context_from_carrier({"traceparent": link})).get_span_context()
    journey = trace.get_current_span(context_from_carrier(carrier)).get_span_context()
    return [Link(linked)] if linked.is_valid and linked.trace_id != journey.trace_id else []


async def _publish(producer: Producer, rows: Sequence[_Row]) -> None:
    send_tracer = tracer("switchboard.outbox")
    acks = []
    for row in rows:
        parent = context_from_carrier(row.trace)
        with send_tracer.start_as_current_span(
            f"send {row.topic}",
            context=parent,
            kind=SpanKind.PRODUCER,
            links=_links(row.trace),
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.destination.name": row.topic,
                "cloudevents.event_type": next((v for k, v in row.headers if k == "ce_type"), ""),
            },
        ):
            headers = [(k, v.encode("latin-1")) for k, v in row.headers]
            acks.append(
                await producer.send(row.topic, key=row.key, value=row.value, headers=headers + trace_headers())
            )
    # Every message must be acknowledged before the rows may go; one failure fails (and retries) the batch.
    await asyncio.gather(*acks)


class OutboxRelay:
    """Runs `relay_once` in a loop: immediately while there is backlog, else on NOTIFY or after a short wait."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: Producer,
        *,
        dsn: str,
        batch_size: int = 500,
        idle_wait_s: float = 0.5,
    ) -> None:
        self.pool = pool
        self.producer = producer
        self.dsn = dsn
        self.batch_size = batch_size
        self.idle_wait_s = idle_wait_s
        self.published = 0
        self.published_by_type: Counter[str] = Counter()
        """Events published, by CloudEvents type (offers by outcome, SLA events by kind, …)."""
        self.failures = 0
        self.vacuums = 0
        self._unvacuumed = 0
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def run(self) -> None:
        listener: asyncpg.Connection | None = None
        try:
            listener = await asyncpg.connect(self.dsn)
            await listener.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("outbox relay: no LISTEN connection (%s); polling every %.1fs", exc, self.idle_wait_s)
        delay = 0.25
        try:
            while not self._stop.is_set():
                self._wake.clear()
                try:
                    moved = await relay_once(
                        self.pool, self.producer, batch_size=self.batch_size, tally=self.published_by_type
                    )
                    delay = 0.25
                except (KafkaError, OSError, TimeoutError) as exc:
                    self.failures += 1
                    log.warning("outbox relay: broker did not take the batch (%s); retry in %.1fs", exc, delay)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), delay)
                    delay = min(delay * 2, 5.0)
                    continue
                self.published += moved
                self._unvacuumed += moved
                if self._unvacuumed >= VACUUM_EVERY:
                    await self._vacuum()
                if moved < self.batch_size:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.idle_wait_s)
        finally:
            if listener is not None:
                await listener.close()

    async def _vacuum(self) -> None:
        """The outbox is a queue: every row is deleted soon after it is written, and until a vacuum removes
        them the dead rows' index entries are read by every batch lookup (at 200 events/s an empty outbox's
        lookup grew from ~0.05 to ~1 ms between autovacuum's visits, once a minute per database). Vacuuming
        it every `VACUUM_EVERY` rows keeps it small; SKIP_LOCKED leaves it to another relay busy doing the same."""
        self._unvacuumed = 0
        try:
            async with self.pool.acquire() as conn:
                await conn.execute(VACUUM)
            self.vacuums += 1
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("outbox relay: vacuum failed (%s); autovacuum will do it later", exc)


VACUUM_EVERY = 1000
"""Rows published between the relay's own vacuums of the outbox."""
VACUUM = "VACUUM (SKIP_LOCKED, TRUNCATE false) outbox"


BACKLOG = "SELECT count(*) FROM outbox"


async def backlog(conn: Conn) -> int:
    return int(await conn.fetchval(BACKLOG))
