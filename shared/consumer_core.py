"""The consumer loop's rules over plain records, with no broker: what to handle, retry, dead-letter or skip, and
which offsets a poll may commit.

A transient failure (`shared.faults`: the database or the broker away, a deadlock) is waited out for as long as
it lasts: the record is tried again, never dead-lettered, and no offset is committed past it. A record that
cannot be handled — undecodable, or its handler failing otherwise `max_attempts` times — goes to the dead-letter
topic with the error and origin in headers, and the partition moves on. A record not done when the loop stops
is not passed: it and those after it are read again by the next run (the inbox absorbs the repeat). Waiting
goes through an injected `sleep`, so the rules are tested in milliseconds; `shared.kafka.ConsumerLoop` feeds
the polls in and commits what comes out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Literal

from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from shared.config import ServiceSettings
from shared.events import Decoded, Event, UndecodableMessage, decode
from shared.faults import Backoff, pause, transient, unavailable
from shared.redact import describe, record_error
from shared.telemetry import context_from_headers, tracer

log = logging.getLogger(__name__)

PERSISTENT_WAITS = 10
"""Passing failures in a row after which contention (a deadlock, a lock timeout: not a dependency away) is shown
in readiness too: a partition stuck that long is worth an operator's look."""


@dataclass(frozen=True)
class Record:
    """One consumed Kafka record, typed."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int


@dataclass(frozen=True)
class Delivery:
    """A decoded record handed to a handler."""

    record: Record
    decoded: Decoded

    @property
    def event_id(self) -> uuid.UUID:
        return self.decoded.envelope.id


Handler = Callable[[Delivery], Awaitable[None]]
SpanFor = Callable[[Delivery], AbstractContextManager[Span]]
BatchHandler = Callable[[Sequence[Delivery], SpanFor], Awaitable[None]]
"""Handles a partition's polled records together (one transaction); `SpanFor` gives each its consumer span."""
Partition = tuple[str, int]
"""(topic, partition)"""
Sleep = Callable[[float], Awaitable[bool]]
"""Wait so many seconds unless the loop stops first; True when it is stopping."""
SendDeadLetter = Callable[[str, bytes | None, bytes | None, Sequence[tuple[str, bytes]]], Awaitable[None]]
"""(topic, key, value, headers): put one message on the dead-letter topic, acknowledged."""


@dataclass(frozen=True)
class Rules:
    max_attempts: int = 5
    """Failures (other than transient ones) of one record's handler before it is dead-lettered."""
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0
    """Between those attempts: doubling from the first up to the second."""
    wait_initial_s: float = 0.25
    wait_max_s: float = 5.0
    """Between tries while a transient failure lasts (`shared.faults.Backoff`, with jitter)."""

    @classmethod
    def of(cls, settings: ServiceSettings) -> Rules:
        return cls(
            max_attempts=settings.consumer_max_attempts,
            backoff_initial_s=settings.consumer_backoff_initial_s,
            backoff_max_s=settings.consumer_backoff_max_s,
            wait_initial_s=settings.retry_initial_s,
            wait_max_s=settings.retry_max_s,
        )


@dataclass
class ConsumerStats:
    handled: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    retries: int = 0
    """Attempts that failed otherwise than transiently (counted towards `consumer_max_attempts`)."""
    waits: int = 0
    """Attempts that met a transient failure (the database or the broker away, a deadlock): tried again later."""
    batches: int = 0
    batch_fallbacks: int = 0
    lag: dict[str, int] = field(default_factory=dict)


class ConsumerCore:
    """Consumer group `group`'s decisions about each poll, calling `handler` for each known event it accepts.

    With a `batch_handler`, a poll's records — every partition's, each partition in its order — are first
    handled together in one go (one transaction); if the batch fails transiently it is tried again as it is;
    if it fails otherwise, the whole batch is rolled back by the handler and each partition's records go
    through `handler` one by one, with retries and dead-lettering, in their order.
    """

    def __init__(
        self,
        *,
        group: str,
        handler: Handler,
        send_dead_letter: SendDeadLetter,
        dlq_topic: str,
        rules: Rules,
        name: str | None = None,
        batch_handler: BatchHandler | None = None,
        accepts: frozenset[type[Event]] | None = None,
        stopping: asyncio.Event | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self.group = group
        self.handler = handler
        self.batch_handler = batch_handler
        self.accepts = accepts
        self.send_dead_letter = send_dead_letter
        self.dlq_topic = dlq_topic
        self.rules = rules
        self.name = name or f"consumer:{group}"
        self.stopping = stopping or asyncio.Event()
        self.sleep: Sleep = sleep or (lambda seconds: pause(self.stopping, seconds))
        self.stats = ConsumerStats()
        self._backoff = Backoff(rules.wait_initial_s, rules.wait_max_s)
        self._waiting_for: str | None = None
        self._tracer = tracer("switchboard.kafka")

    def trouble(self) -> str | None:
        """What the loop is waiting for, while a dependency it needs is away."""
        return self._waiting_for

    async def handle_poll(self, polled: Mapping[Partition, Sequence[Record]]) -> dict[Partition, int]:
        """Handle a poll; the offsets to commit (the next to read, per partition). With a batch handler the whole
        poll, every partition's records in their order, is one batch: one transaction however many partitions
        it spans. If that fails (or there is no batch handler), partitions are handled concurrently, each in
        order and one by one, so their database commits overlap instead of queueing behind one another."""
        if self.batch_handler is not None and sum(len(records) for records in polled.values()) > 1:
            outcome = await self._handle_batch([r for records in polled.values() for r in records])
            if outcome == "stopped":
                return {}  # nothing of this poll is committed: the next run reads it again
            if outcome == "handled":
                return {p: records[-1].offset + 1 for p, records in polled.items() if records}
        done = await asyncio.gather(*(self._drain(records) for records in polled.values()))
        return {p: offset for p, offset in zip(polled, done, strict=True) if offset is not None}

    async def wait_out(self, exc: BaseException, what: str) -> bool:
        """A transient failure: wait (backoff with jitter) before the same thing is tried again; True when the
        loop stopped meanwhile."""
        self.stats.waits += 1
        delay = self._backoff.next()
        if unavailable(exc) or self._backoff.failures > PERSISTENT_WAITS:
            self._waiting_for = f"{what} failed: {describe(exc)}"
        log.warning("%s: %s met a passing failure (%s); again in %.1fs", self.name, what, describe(exc), delay)
        return await self.sleep(delay)

    async def _drain(self, records: Sequence[Record]) -> int | None:
        """Handle one partition's records in order, one by one; the offset to commit next, None if none was."""
        next_offset = None
        for record in records:
            if self.stopping.is_set() or not await self._process(record):
                break
            next_offset = record.offset + 1
        return next_offset

    async def _handle_batch(self, records: list[Record]) -> Literal["handled", "one by one", "stopped"]:
        """Whether the batch handler took every record, the records go down the one-by-one path, or the loop
        stopped while a transient failure was being waited out."""
        assert self.batch_handler is not None
        deliveries: list[Delivery] = []
        for record in records:
            try:
                decoded = decode(record.value)
            except UndecodableMessage:
                return "one by one"  # dead-lettered in order by the one-by-one path
            if self._wanted(decoded):
                deliveries.append(Delivery(record, decoded))
        if not deliveries:  # nothing this consumer acts on: no transaction at all
            self.stats.skipped += len(records)
            return "handled"
        while True:
            try:
                await self.batch_handler(deliveries, self._delivery_span)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 — a transient failure is waited out, any other means one by one
                if self.stopping.is_set():
                    return "stopped"
                if transient(exc):
                    if await self.wait_out(exc, f"a batch of {len(records)}"):
                        return "stopped"
                    continue
                self.stats.batch_fallbacks += 1
                log.info(
                    "%s: a batch of %d failed (%s); handling them one by one",
                    self.name,
                    len(records),
                    describe(exc),
                )
                return "one by one"
            break
        self._recovered()
        self.stats.batches += 1
        self.stats.handled += len(deliveries)
        self.stats.skipped += len(records) - len(deliveries)
        return "handled"

    def _recovered(self) -> None:
        self._backoff.reset()
        self._waiting_for = None

    def _wanted(self, decoded: Decoded) -> bool:
        """A known event of a type this consumer acts on (unknown types and the others are skipped)."""
        return decoded.event is not None and (self.accepts is None or type(decoded.event) in self.accepts)

    async def _process(self, record: Record) -> bool:
        """Handle one record: True once it is done with (handled, skipped or dead-lettered), False if the loop
        stopped first."""
        with self._record_span(record) as span:
            try:
                decoded = decode(record.value)
            except UndecodableMessage as exc:
                span.set_status(Status(StatusCode.ERROR, "undecodable"))
                return await self._dead_letter(record, exc, attempts=0)
            _describe(span, decoded)
            if not self._wanted(decoded):
                self.stats.skipped += 1
                return True
            return await self._attempt(Delivery(record, decoded), span)

    async def _attempt(self, delivery: Delivery, span: Span) -> bool:
        """Call the handler until it succeeds, waiting out transient failures and dead-lettering the record
        after `max_attempts` other ones; False if the loop stopped first."""
        record = delivery.record
        where = f"{delivery.decoded.envelope.type} at {record.topic}[{record.partition}]@{record.offset}"
        delay = self.rules.backoff_initial_s
        attempt = 0
        while True:
            try:
                await self.handler(delivery)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 — the loop retries any handler failure, then dead-letters it
                record_error(span, exc)
                if self.stopping.is_set():
                    return False  # not done: its offset stays uncommitted for the next run
                if transient(exc):
                    if await self.wait_out(exc, where):
                        return False
                    continue
                attempt += 1
                if attempt >= self.rules.max_attempts:
                    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                    return await self._dead_letter(record, exc, attempts=attempt)
                self.stats.retries += 1
                log.warning(
                    "%s: %s failed (attempt %d/%d): %s",
                    self.name,
                    where,
                    attempt,
                    self.rules.max_attempts,
                    describe(exc),
                )
                if await self.sleep(delay):
                    return False
                delay = min(delay * 2, self.rules.backoff_max_s)
                continue
            self._recovered()
            self.stats.handled += 1
            return True

    async def _dead_letter(self, record: Record, error: BaseException, *, attempts: int) -> bool:
        """Put the record on the dead-letter topic (waiting for the broker as long as it is away); False if the
        loop stopped before it was there."""
        reason = describe(error, limit=2000)
        headers = [
            *record.headers,
            ("dlq.error", reason.encode()),
            ("dlq.origin.topic", record.topic.encode()),
            ("dlq.origin.partition", str(record.partition).encode()),
            ("dlq.origin.offset", str(record.offset).encode()),
            ("dlq.consumer.group", self.group.encode()),
            ("dlq.attempts", str(attempts).encode()),
        ]
        while True:
            try:
                await self.send_dead_letter(self.dlq_topic, record.key, record.value, headers)
            except Exception as exc:
                if not transient(exc):
                    raise
                if await self.wait_out(exc, f"dead-lettering {record.topic}[{record.partition}]@{record.offset}"):
                    return False
                continue
            break
        self.stats.dead_lettered += 1
        log.error(
            "%s: dead-lettered %s[%d]@%d to %s after %d attempt(s): %s",
            self.name,
            record.topic,
            record.partition,
            record.offset,
            self.dlq_topic,
            attempts,
            reason,
        )
        return True

    @contextlib.contextmanager
    def _record_span(self, record: Record) -> Iterator[Span]:
        with self._tracer.start_as_current_span(
            f"process {record.topic}",
            context=context_from_headers(record.headers),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": record.topic,
                "messaging.destination.partition.id": str(record.partition),
                "messaging.kafka.offset": record.offset,
                "messaging.consumer.group.name": self.group,
            },
        ) as span:
            yield span

    @contextlib.contextmanager
    def _delivery_span(self, delivery: Delivery) -> Iterator[Span]:
        with self._record_span(delivery.record) as span:
            _describe(span, delivery.decoded)
            yield span


def _describe(span: Span, decoded: Decoded) -> None:
    span.set_attribute("messaging.message.id", str(decoded.envelope.id))
    span.set_attribute("cloudevents.event_type", decoded.envelope.type)
    span.set_attribute("cloudevents.event_subject", decoded.envelope.subject)
    contact_id = getattr(decoded.event, "contact_id", None)
    if contact_id is not None:
        span.set_attribute("contact.id", str(contact_id))
