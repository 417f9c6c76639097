"""Kafka, wrapped once (aiokafka is untyped): producer, topic creation and the consumer loop.

The consumer loop commits offsets by hand after each record is handled. A transient failure (`shared.faults`:
the database or the broker away, a deadlock) is waited out for as long as it lasts: the record is tried again,
never dead-lettered, and no offset is committed past it. A record that cannot be handled — undecodable, or its
handler failing otherwise `consumer_max_attempts` times — goes to the service's dead-letter topic with the
error and origin in headers, and the partition moves on. Handlers are idempotent through the inbox, so a
redelivery after a crash has no second effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.abc import AbstractTokenProvider
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from shared.config import ServiceSettings
from shared.events import MAX_EVENT_BYTES, Decoded, Event, Topic, UndecodableMessage, decode
from shared.faults import Backoff, describe, pause, transient, unavailable
from shared.telemetry import context_from_headers, tracer

log = logging.getLogger(__name__)


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


# --- clients ------------------------------------------------------------------------------------------------

KafkaClient = Mapping[str, Any]
"""aiokafka's connection options: where the brokers are and how to reach them (`client_options`)."""


def client_options(settings: ServiceSettings) -> dict[str, Any]:
    """Bootstrap servers, TLS and SASL for every producer, consumer and admin client: the one place they are
    read from the settings."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None,
            certfile=str(settings.kafka_ssl_certfile) if settings.kafka_ssl_certfile else None,
            keyfile=str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
            password=settings.kafka_ssl_key_password.get_secret_value() or None,
        )
    if settings.kafka_security_protocol.startswith("SASL_"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        if settings.kafka_sasl_mechanism == "OAUTHBEARER":
            if settings.kafka_oauth_token_file is None:
                raise ValueError("SASL OAUTHBEARER needs SWITCHBOARD_KAFKA_OAUTH_TOKEN_FILE")
            options["sasl_oauth_token_provider"] = TokenFileProvider(settings.kafka_oauth_token_file)
        else:
            options["sasl_plain_username"] = settings.kafka_sasl_username
            options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options


class TokenFileProvider(AbstractTokenProvider):  # type: ignore[misc]  # aiokafka is untyped
    """OAUTHBEARER tokens from a file, read for every authentication: whoever renews the file (a sidecar, a
    projected service-account token) needs no restart of ours."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def token(self) -> str:
        text = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
        return text.strip()


def as_client_options(kafka: str | KafkaClient) -> dict[str, Any]:
    return {"bootstrap_servers": kafka} if isinstance(kafka, str) else dict(kafka)


# --- producer -----------------------------------------------------------------------------------------------


class Producer:
    """An idempotent producer (acks=all) with deliberate batching: linger a few ms, batches up to 256 KiB. It
    refuses a message larger than `max_event_bytes`, the size the topics take (`ensure_topics`)."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._producer = self._client()
        self.started = False

    def _client(self) -> Any:
        return AIOKafkaProducer(
            **client_options(self.settings),
            client_id=f"{self.settings.service}-producer",
            enable_idempotence=True,
            acks="all",
            linger_ms=self.settings.kafka_linger_ms,
            max_batch_size=self.settings.kafka_max_batch_bytes,
            request_timeout_ms=self.settings.kafka_request_timeout_ms,
            max_request_size=self.settings.max_event_bytes,
        )

    async def start(self) -> None:
        await self._producer.start()
        self.started = True

    async def renew(self) -> None:
        """Replace the client with a new one (a new producer id, sequences from zero): after the broker refused
        a batch, the old one's sequence of that partition has a gap and each later batch there fails."""
        old, self._producer = self._producer, self._client()
        with contextlib.suppress(KafkaError):
            await old.stop()
        await self._producer.start()
        log.warning("%s: producer renewed", self.settings.service)

    async def stop(self) -> None:
        """Flush and close; safe when start never finished (the client may hold half-open connections)."""
        self.started = False
        await self._producer.stop()

    async def send(
        self, topic: str, *, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]
    ) -> asyncio.Future[Any]:
        """Queue one message; returns a future that resolves once the broker acknowledged it."""
        future: asyncio.Future[Any] = await self._producer.send(topic, value=value, key=key, headers=list(headers))
        return future

    async def send_raw(
        self, topic: str, *, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]
    ) -> None:
        await self._producer.send_and_wait(topic, value=value, key=key, headers=list(headers))

    async def ping(self) -> None:
        """A real metadata round-trip to the cluster."""
        await self._producer.client.fetch_all_metadata()


async def start_with_retry(
    start: Callable[[], Awaitable[None]], what: str, *, stop: asyncio.Event, max_delay: float = 5.0
) -> bool:
    """Keep trying to start a Kafka client until it works or `stop` is set; a broker may come up later."""
    delay = 0.25
    while not stop.is_set():
        try:
            await start()
            return True
        except (KafkaError, OSError) as exc:
            log.warning("%s: cannot reach Kafka yet (%s); retrying in %.1fs", what, exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, max_delay)
    return False


# --- topics -------------------------------------------------------------------------------------------------


async def ensure_topics(
    kafka: str | KafkaClient,
    topics: Iterable[Topic],
    *,
    max_message_bytes: int = MAX_EVENT_BYTES,
    replication_factor: int = 1,
    min_insync_replicas: int = 1,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create what is missing from the declared list; return the names created now. Every topic takes messages
    of up to `max_message_bytes` (the producers' `max_event_bytes`, set from the same setting); an existing
    topic with another limit gets this one. `kafka`: bootstrap servers, or `client_options`."""
    admin = AIOKafkaAdminClient(**as_client_options(kafka), request_timeout_ms=int(timeout_s * 1000))
    await admin.start()
    try:
        declared = list(topics)
        existing = set(await admin.list_topics())
        missing = [t for t in declared if t.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            t.name,
                            num_partitions=t.partitions,
                            replication_factor=replication_factor,
                            topic_configs={
                                **_topic_configs(t, max_message_bytes),
                                "min.insync.replicas": str(min_insync_replicas),
                            },
                        )
                        for t in missing
                    ]
                )
        present = [t for t in declared if t.name in existing]
        if present:
            await _align_message_limit(admin, present, max_message_bytes)
        return [t.name for t in missing]
    finally:
        await admin.close()


def _topic_configs(topic: Topic, max_message_bytes: int) -> dict[str, str]:
    return {"retention.ms": str(topic.retention_ms), "max.message.bytes": str(max_message_bytes)}


async def _align_message_limit(admin: AIOKafkaAdminClient, topics: list[Topic], max_message_bytes: int) -> None:
    """Give existing topics the message limit they would be created with now. (AlterConfigs replaces a topic's
    own settings as a whole: both settings we manage go together.)"""
    described = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, t.name, {"max.message.bytes": None}) for t in topics]
    )
    limits: dict[str, str] = {}
    for response in described:
        for _error, _message, _type, name, entries in response.resources:
            for entry in entries:
                if entry[0] == "max.message.bytes":
                    limits[name] = entry[1]
    stale = [t for t in topics if limits.get(t.name) != str(max_message_bytes)]
    if stale:
        await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t.name, _topic_configs(t, max_message_bytes)) for t in stale]
        )
        log.info("topics: %d now take messages of up to %d bytes", len(stale), max_message_bytes)


async def warm_group_coordinator(kafka: str | KafkaClient, *, timeout_s: float = 120.0) -> None:
    """Have the broker create its offsets topic now (a group commit), not on a service's first poll.

    On a fresh broker the first consumer group otherwise waits while `__consumer_offsets` is created, which
    under load took over a minute.
    """
    consumer = AIOKafkaConsumer(
        **as_client_options(kafka), group_id="ops.warm-up", enable_auto_commit=False, request_timeout_ms=30_000
    )
    await consumer.start()
    try:
        tp = TopicPartition("ops.probe", 0)
        consumer.assign([tp])
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            try:
                await consumer.commit({tp: 0})
                return
            except KafkaError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await consumer.stop()


async def wait_for_broker(kafka: str | KafkaClient, *, timeout_s: float) -> None:
    """Ready means a metadata request succeeds, not merely an open port."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    last: Exception | None = None
    while asyncio.get_running_loop().time() < deadline:
        admin = AIOKafkaAdminClient(**as_client_options(kafka), request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.describe_cluster()
            return
        except (KafkaError, OSError) as exc:
            last = exc
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
        await asyncio.sleep(0.3)
    where = as_client_options(kafka)["bootstrap_servers"]
    raise TimeoutError(f"Kafka at {where} did not answer a metadata request in {timeout_s:.0f}s: {last}")


# --- consumer loop ------------------------------------------------------------------------------------------

PERSISTENT_WAITS = 10
"""Passing failures in a row after which contention (a deadlock, a lock timeout: not a dependency away) is shown
in readiness too: a partition stuck that long is worth an operator's look."""


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


class ConsumerLoop:
    """Consume `topics` as consumer group `group`, calling `handler` for each known event.

    With a `batch_handler`, a poll's records — every partition's, each partition in its order — are first
    handled together in one go (one transaction); if the batch fails transiently it is tried again as it is;
    if it fails otherwise, the whole batch is rolled back by the handler and each partition's records go
    through `handler` one by one, with retries and dead-lettering, in their order. Offsets are committed once
    per poll, up to the last record handled.
    """

    def __init__(
        self,
        *,
        settings: ServiceSettings,
        group: str,
        topics: Sequence[str],
        handler: Handler,
        producer: Producer,
        dlq_topic: str,
        name: str | None = None,
        auto_offset_reset: str = "earliest",
        batch_handler: BatchHandler | None = None,
        accepts: frozenset[type[Event]] | None = None,
    ) -> None:
        self.settings = settings
        self.accepts = accepts
        self.batch_handler = batch_handler
        self.group = group
        self.topics = list(topics)
        self.handler = handler
        self.producer = producer
        self.dlq_topic = dlq_topic
        self.name = name or f"consumer:{group}"
        self.auto_offset_reset = auto_offset_reset
        self.stats = ConsumerStats()
        self.assigned = asyncio.Event()
        self._stop = asyncio.Event()
        self._tracer = tracer("switchboard.kafka")
        self._consumer: Any = None
        self._backoff = Backoff(settings.retry_initial_s, settings.retry_max_s)
        self._waiting_for: str | None = None

    def stop(self) -> None:
        self._stop.set()

    def trouble(self) -> str | None:
        """What the loop is waiting for, while a dependency it needs is away."""
        return self._waiting_for

    def partitions(self, topic: str) -> tuple[frozenset[int], int] | None:
        """The partitions of `topic` this member holds now and how many the topic has; None until it joined.

        Lets a service keep per-partition state (timers) on the instance that owns the partition.
        """
        if self._consumer is None or not self.assigned.is_set():
            return None
        mine = frozenset(tp.partition for tp in self._consumer.assignment() if tp.topic == topic)
        total = self._consumer.partitions_for_topic(topic)
        return mine, len(total or ())

    async def run(self) -> None:
        self._consumer = AIOKafkaConsumer(
            *self.topics,
            **client_options(self.settings),
            group_id=self.group,
            client_id=f"{self.settings.service}-{self.group}",
            enable_auto_commit=False,
            auto_offset_reset=self.auto_offset_reset,
            max_poll_records=self.settings.consumer_max_records,
            fetch_min_bytes=self.settings.consumer_fetch_min_bytes,
            fetch_max_wait_ms=self.settings.consumer_fetch_max_wait_ms,
            max_partition_fetch_bytes=max(self.settings.max_event_bytes, 1024 * 1024),
            isolation_level="read_committed",
        )
        if not await start_with_retry(self._consumer.start, self.name, stop=self._stop):
            return
        try:
            while not self._stop.is_set():
                try:
                    batch = await self._consumer.getmany(timeout_ms=200)
                except KafkaError as exc:
                    if not transient(exc):
                        raise
                    if await self._wait_out(exc, "fetching"):
                        break
                    continue
                if self._consumer.assignment():
                    self.assigned.set()
                offsets = await self._handle_poll(batch)
                # One offset commit per poll for every partition (one broker round trip, not one per partition):
                # a crash in between re-delivers at most this poll, which the inbox absorbs.
                if offsets:
                    await self._commit(offsets)
        finally:
            await self._consumer.stop()

    async def _handle_poll(self, batch: dict[TopicPartition, list[Any]]) -> dict[TopicPartition, int]:
        """Handle a poll; the offsets to commit. With a batch handler the whole poll, every partition's records
        in their order, is one batch: one transaction however many partitions it spans. If that fails (or
        there is no batch handler), partitions are handled concurrently, each in order and one by one, so
        their database commits overlap instead of queueing behind one another."""
        if self.batch_handler is not None and sum(len(messages) for messages in batch.values()) > 1:
            records = [self._record(m) for messages in batch.values() for m in messages]
            outcome = await self._handle_batch(records)
            if outcome == "stopped":
                return {}  # nothing of this poll is committed: the next run reads it again
            if outcome == "handled":
                offsets = {tp: messages[-1].offset + 1 for tp, messages in batch.items() if messages}
                for tp, offset in offsets.items():
                    self._note_lag(tp, offset)
                return offsets
        done = await asyncio.gather(*(self._drain(tp, messages) for tp, messages in batch.items()))
        return {tp: offset for tp, offset in zip(batch, done, strict=True) if offset is not None}

    async def _drain(self, tp: TopicPartition, messages: list[Any]) -> int | None:
        """Handle one partition's records in order, one by one; the offset to commit next, None if none was.
        A record not done when the loop stops is not passed: it and those after it are read again."""
        next_offset = None
        for message in messages:
            if self._stop.is_set() or not await self._process(self._record(message)):
                break
            next_offset = message.offset + 1
        if next_offset is not None:
            self._note_lag(tp, next_offset)
        return next_offset

    def _note_lag(self, tp: TopicPartition, next_offset: int) -> None:
        highwater = self._consumer.highwater(tp)
        if highwater is not None:
            self.stats.lag[f"{tp.topic}:{tp.partition}"] = max(0, highwater - next_offset)

    @staticmethod
    def _record(message: Any) -> Record:
        return Record(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            headers=tuple(message.headers or ()),
            timestamp_ms=message.timestamp,
        )

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:
            # A rebalance took a partition away: its next owner re-reads from the last commit and the inbox
            # makes the repeat harmless.
            log.warning("%s: commit of %d partitions failed: %s", self.name, len(offsets), exc)

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
                if self._stop.is_set():
                    return "stopped"
                if transient(exc):
                    if await self._wait_out(exc, f"a batch of {len(records)}"):
                        return "stopped"
                    continue
                self.stats.batch_fallbacks += 1
                log.info("%s: a batch of %d failed (%s); handling them one by one", self.name, len(records), exc)
                return "one by one"
            break
        self._recovered()
        self.stats.batches += 1
        self.stats.handled += len(deliveries)
        self.stats.skipped += len(records) - len(deliveries)
        return "handled"

    async def _wait_out(self, exc: BaseException, what: str) -> bool:
        """A transient failure: wait (backoff with jitter) before the same thing is tried again; True when the
        loop stopped meanwhile."""
        self.stats.waits += 1
        delay = self._backoff.next()
        if unavailable(exc) or self._backoff.failures > PERSISTENT_WAITS:
            self._waiting_for = f"{what} failed: {describe(exc)}"
        log.warning("%s: %s met a passing failure (%s); again in %.1fs", self.name, what, describe(exc), delay)
        return await pause(self._stop, delay)

    def _recovered(self) -> None:
        self._backoff.reset()
        self._waiting_for = None

    def _wanted(self, decoded: Decoded) -> bool:
        """A known event of a type this consumer acts on (unknown types and the others are skipped)."""
        return decoded.event is not None and (self.accepts is None or type(decoded.event) in self.accepts)

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

    @staticmethod
    def _describe(span: Span, decoded: Decoded) -> None:
        span.set_attribute("messaging.message.id", str(decoded.envelope.id))
        span.set_attribute("cloudevents.event_type", decoded.envelope.type)
        span.set_attribute("cloudevents.event_subject", decoded.envelope.subject)
        contact_id = getattr(decoded.event, "contact_id", None)
        if contact_id is not None:
            span.set_attribute("contact.id", str(contact_id))

    @contextlib.contextmanager
    def _delivery_span(self, delivery: Delivery) -> Iterator[Span]:
        with self._record_span(delivery.record) as span:
            self._describe(span, delivery.decoded)
            yield span

    async def _process(self, record: Record) -> bool:
        """Handle one record: True once it is done with (handled, skipped or dead-lettered), False if the loop
        stopped first."""
        with self._record_span(record) as span:
            try:
                decoded = decode(record.value)
            except UndecodableMessage as exc:
                span.set_status(Status(StatusCode.ERROR, "undecodable"))
                return await self._dead_letter(record, exc, attempts=0)
            self._describe(span, decoded)
            if not self._wanted(decoded):
                self.stats.skipped += 1
                return True
            delivery = Delivery(record, decoded)
            delay = self.settings.consumer_backoff_initial_s
            attempt = 0
            while True:
                try:
                    await self.handler(delivery)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 — the loop retries any handler failure, then dead-letters it
                    span.record_exception(exc)
                    if self._stop.is_set():
                        return False  # not done: its offset stays uncommitted for the next run
                    where = f"{decoded.envelope.type} at {record.topic}[{record.partition}]@{record.offset}"
                    if transient(exc):
                        if await self._wait_out(exc, where):
                            return False
                        continue
                    attempt += 1
                    if attempt >= self.settings.consumer_max_attempts:
                        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                        return await self._dead_letter(record, exc, attempts=attempt)
                    self.stats.retries += 1
                    log.warning(
                        "%s: %s failed (attempt %d/%d): %s",
                        self.name,
                        where,
                        attempt,
                        self.settings.consumer_max_attempts,
                        exc,
                    )
                    if await pause(self._stop, delay):
                        return False
                    delay = min(delay * 2, self.settings.consumer_backoff_max_s)
                    continue
                self._recovered()
                self.stats.handled += 1
                return True

    async def _dead_letter(self, record: Record, error: BaseException, *, attempts: int) -> bool:
        """Put the record on the dead-letter topic (waiting for the broker as long as it is away); False if the
        loop stopped before it was there."""
        reason = f"{type(error).__name__}: {error}"[:2000]
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
                await self.producer.send_raw(self.dlq_topic, key=record.key, value=record.value, headers=headers)
            except KafkaError as exc:
                if not transient(exc):
                    raise
                if await self._wait_out(exc, f"dead-lettering {record.topic}[{record.partition}]@{record.offset}"):
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
