"""The transactional outbox and its relay.

`enqueue` writes an event in the caller's transaction, with the caller's trace context beside it. The relay
locks a batch (`FOR UPDATE SKIP LOCKED`), publishes it (idempotent producer, acks=all), and deletes the rows
in the same transaction once every message is acknowledged. If the broker or the database is away the
transaction rolls back and the rows wait: nothing accepted is lost. A crash after the ack but before the commit
publishes the batch again; consumers' inboxes drop the repeats (event ids are stable). A row the broker refuses
for good (larger than it takes) is parked, kept with why, and holds up nothing behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from aiokafka.errors import KafkaError
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind

from shared.db import Conn, Listener
from shared.events import Event, OutgoingMessage, encode
from shared.faults import Backoff, pause, producer_broken, refused_by_broker, transient, unavailable
from shared.kafka import Producer
from shared.redact import describe, record_error
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
    event_id: uuid.UUID
    topic: str
    key: bytes
    value: bytes
    headers: list[list[str]]
    trace: dict[str, Any]

    @property
    def event_type(self) -> str:
        return next((v for k, v in self.headers if k == "ce_type"), "unknown")


# One relay publishes at a time per database: two relays each taking a batch (SKIP LOCKED) could send a
# contact's later event before its earlier one. The others find the turn taken and wait for the next wake-up.
# (Two-key advisory locks live apart from the one-key subject locks of the inbox.)
RELAY_TURN = "SELECT pg_try_advisory_xact_lock(23306, 2817)"
LOCK_BATCH = """
SELECT outbox_id, event_id, topic, key, value, headers, trace
FROM outbox
WHERE parked_at IS NULL
ORDER BY outbox_id
LIMIT $1
FOR UPDATE SKIP LOCKED
"""
DELETE_BATCH = "DELETE FROM outbox WHERE outbox_id = ANY($1::bigint[])"
NOTE_FAILURE = """
UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE outbox_id = ANY($1::bigint[])
"""
PARK = """
UPDATE outbox SET parked_at = now(), attempts = attempts + 1, last_error = refused.error
FROM unnest($1::bigint[], $2::text[]) AS refused(outbox_id, error)
WHERE outbox.outbox_id = refused.outbox_id
"""


async def relay_once(
    pool: asyncpg.Pool,
    producer: Producer,
    *,
    batch_size: int = 500,
    tally: Counter[str] | None = None,
    parked: Counter[str] | None = None,
) -> int:
    """Publish one batch; return how many rows left the queue (counted by event type into `tally`, or into
    `parked` for those parked) — 0 also when another relay has the turn.

    A row the broker refuses for good (`shared.faults.refused_by_broker`: too large, …) is parked — kept with
    its error, never taken again — and the rows behind it go on. Rows the broker acknowledged leave; any other
    failure leaves its rows for the next batch and is raised (the relay tries again; after a failure of the
    producer's own state, with a renewed producer)."""
    async with pool.acquire() as conn:
        async with conn.transaction():
            if not await conn.fetchval(RELAY_TURN):
                return 0  # another relay (another instance of this service) is publishing
            rows = [_Row(**dict(r)) for r in await conn.fetch(LOCK_BATCH, batch_size)]
            if not rows:
                return 0
            try:
                outcomes = await _publish(producer, rows)
            except (KafkaError, OSError) as exc:
                failure: BaseException = exc
                unsent = rows
            else:
                sent: list[_Row] = []
                refused: list[tuple[_Row, BaseException]] = []
                failed: list[tuple[_Row, BaseException]] = []
                for row, error in zip(rows, outcomes, strict=True):
                    if error is None:
                        sent.append(row)
                    elif refused_by_broker(error):
                        refused.append((row, error))
                    else:
                        failed.append((row, error))
                # What the broker acknowledged leaves, whatever happened to the others (they follow it anyway).
                if sent:
                    await conn.execute(DELETE_BATCH, [r.outbox_id for r in sent])
                if refused:
                    await _park(conn, refused)
                if tally is not None:
                    tally.update(r.event_type for r in sent)
                if parked is not None:
                    parked.update(r.event_type for r, _ in refused)
                if not failed:
                    return len(rows)
                failure = failed[0][1]
                unsent = [row for row, _ in failed]
        # Outside the transaction (rolled back or committed), so the failure is visible to operators.
        await conn.execute(NOTE_FAILURE, [r.outbox_id for r in unsent], describe(failure))
        if producer_broken(failure):
            await producer.renew()
        raise failure


async def _park(conn: Conn, refused: Sequence[tuple[_Row, BaseException]]) -> None:
    await conn.execute(PARK, [r.outbox_id for r, _ in refused], [describe(e) for _, e in refused])
    for row, error in refused:
        log.error(
            "outbox relay: parked event %s (%s, %d bytes, for %s) the broker refuses: %s",
            row.event_id,
            row.event_type,
            len(row.value),
            row.topic,
            describe(error),
        )


def _links(carrier: dict[str, Any]) -> list[Link]:
    """The request that staged an event continuing a journey (see INSERT), as a span link."""
    link = carrier.get("link")
    if not isinstance(link, str):
        return []
    linked = trace.get_current_span(context_from_carrier({"traceparent": link})).get_span_context()
    journey = trace.get_current_span(context_from_carrier(carrier)).get_span_context()
    return [Link(linked)] if linked.is_valid and linked.trace_id != journey.trace_id else []


async def _publish(producer: Producer, rows: Sequence[_Row]) -> list[BaseException | None]:
    """Send every row and wait for every acknowledgement; each row's outcome, in order (None: acknowledged).
    Raises only when sending itself fails for a reason other than the broker refusing the message."""
    send_tracer = tracer("switchboard.outbox")
    outcomes: list[BaseException | None] = [None] * len(rows)
    acks: list[tuple[int, asyncio.Future[Any]]] = []
    try:
        for n, row in enumerate(rows):
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
                    "cloudevents.event_type": row.event_type,
                },
            ) as span:
                headers = [(k, v.encode("latin-1")) for k, v in row.headers]
                try:
                    ack = await producer.send(
                        row.topic, key=row.key, value=row.value, headers=headers + trace_headers()
                    )
                except KafkaError as exc:
                    if not refused_by_broker(exc):
                        raise
                    record_error(span, exc)
                    outcomes[n] = exc  # refused before it left (larger than the producer may send)
                    continue
                acks.append((n, ack))
    finally:
        # Every acknowledgement is awaited, even when a later send failed: none is left unobserved.
        results = await asyncio.gather(*(ack for _, ack in acks), return_exceptions=True)
    for (n, _), result in zip(acks, results, strict=True):
        if isinstance(result, BaseException):
            outcomes[n] = result
    return outcomes


class OutboxRelay:
    """Runs `relay_once` in a loop: immediately while there is backlog, else on NOTIFY or after a short wait.

    It outlives its dependencies: while the database or the broker is away it waits (`Backoff`) and tries
    again, reopening its LISTEN connection as needed, and says meanwhile what it waits for (`trouble`)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: Producer,
        *,
        dsn: str,
        batch_size: int = 500,
        idle_wait_s: float = 0.5,
        backoff: Backoff | None = None,
    ) -> None:
        self.pool = pool
        self.producer = producer
        self.dsn = dsn
        self.batch_size = batch_size
        self.idle_wait_s = idle_wait_s
        self.backoff = backoff or Backoff()
        self.published = 0
        self.published_by_type: Counter[str] = Counter()
        """Events published, by CloudEvents type (offers by outcome, SLA events by kind, …)."""
        self.parked_by_type: Counter[str] = Counter()
        """Events parked since start, by type: the broker refuses them (`relay_once`)."""
        self.failures = 0
        self.vacuums = 0
        self._unvacuumed = 0
        self._waiting_for: str | None = None
        self._listener = Listener(
            dsn,
            NOTIFY_CHANNEL,
            lambda *_: self._wake.set(),
            what="outbox relay",
            backoff=Backoff(self.backoff.initial_s, self.backoff.max_s),
        )
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    @property
    def listening(self) -> bool:
        """Its LISTEN connection is open: a staged row wakes it at once (else it looks every `idle_wait_s`)."""
        return self._listener.listening

    def trouble(self) -> str | None:
        """What the relay is waiting for, while it cannot publish (or only by polling)."""
        return self._waiting_for or self._listener.trouble

    async def run(self) -> None:
        try:
            while not self._stop.is_set():
                self._wake.clear()
                await self._listener.ensure()
                try:
                    moved = await relay_once(
                        self.pool,
                        self.producer,
                        batch_size=self.batch_size,
                        tally=self.published_by_type,
                        parked=self.parked_by_type,
                    )
                except Exception as exc:
                    if not (transient(exc) or producer_broken(exc)):  # a broken producer was renewed
                        raise
                    self.failures += 1
                    delay = self.backoff.next()
                    if unavailable(exc):
                        self._waiting_for = f"cannot publish: {describe(exc)}"
                    log.warning("outbox relay: batch not published (%s); retry in %.1fs", describe(exc), delay)
                    if await pause(self._stop, delay):
                        break
                    continue
                self.backoff.reset()
                self._waiting_for = None
                self.published = sum(self.published_by_type.values())
                self._unvacuumed += moved
                if self._unvacuumed >= VACUUM_EVERY:
                    await self._vacuum()
                if moved < self.batch_size:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.idle_wait_s)
        finally:
            await self._listener.close()

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
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("outbox relay: vacuum failed (%s); autovacuum will do it later", exc)


VACUUM_EVERY = 1000
"""Rows published between the relay's own vacuums of the outbox."""
VACUUM = "VACUUM (SKIP_LOCKED, TRUNCATE false) outbox"


BACKLOG = "SELECT count(*) FROM outbox WHERE parked_at IS NULL"


async def backlog(conn: Conn) -> int:
    """Rows waiting to be published (parked rows wait for an operator, not for the relay)."""
    return int(await conn.fetchval(BACKLOG))


PARKED = "SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL"


async def parked_rows(conn: Conn) -> int:
    return int(await conn.fetchval(PARKED))
