"""Kafka, wrapped once (aiokafka is untyped): producer, topic creation and the consumer loop's source.

The consumer loop polls the broker, hands each poll to `shared.consumer_core` (which decides what is handled,
retried, dead-lettered or skipped) and commits the offsets it returns, by hand, once per poll. Handlers are
idempotent through the inbox, so a redelivery after a crash has no second effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from shared.config import ServiceSettings
from shared.consumer_core import (
    BatchHandler,
    ConsumerCore,
    ConsumerStats,
    Delivery,
    Handler,
    Partition,
    Record,
    Rules,
    SpanFor,
)
from shared.events import MAX_EVENT_BYTES, Event, Topic
from shared.faults import transient
from shared.kafka_clients import KafkaClient, TokenFileProvider, as_client_options, client_options
from shared.redact import describe

__all__ = [
    "BatchHandler",
    "ConsumerLoop",
    "ConsumerStats",
    "Delivery",
    "Handler",
    "KafkaClient",
    "Producer",
    "Record",
    "SpanFor",
    "TokenFileProvider",
    "as_client_options",
    "client_options",
    "ensure_topics",
    "start_with_retry",
    "wait_for_broker",
    "warm_group_coordinator",
]

log = logging.getLogger(__name__)


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
            log.warning("%s: cannot reach Kafka yet (%s); retrying in %.1fs", what, describe(exc), delay)
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


class ConsumerLoop:
    """Consume `topics` as consumer group `group`: the aiokafka source of a `ConsumerCore` (see there for what
    is handled, retried, dead-lettered or skipped). Offsets are committed once per poll, up to the last record
    of each partition the core is done with."""

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
        self.group = group
        self.topics = list(topics)
        self.producer = producer
        self.auto_offset_reset = auto_offset_reset
        self.core = ConsumerCore(
            group=group,
            handler=handler,
            send_dead_letter=self._send_dead_letter,
            dlq_topic=dlq_topic,
            rules=Rules.of(settings),
            name=name,
            batch_handler=batch_handler,
            accepts=accepts,
        )
        self.name = self.core.name
        self.assigned = asyncio.Event()
        self._consumer: Any = None

    @property
    def stats(self) -> ConsumerStats:
        return self.core.stats

    def stop(self) -> None:
        self.core.stopping.set()

    def trouble(self) -> str | None:
        """What the loop is waiting for, while a dependency it needs is away."""
        return self.core.trouble()

    def partitions(self, topic: str) -> tuple[frozenset[int], int] | None:
        """The partitions of `topic` this member holds now and how many the topic has; None until it joined.

        Lets a service keep per-partition state (timers) on the instance that owns the partition.
        """
        if self._consumer is None or not self.assigned.is_set():
            return None
        mine = frozenset(tp.partition for tp in self._consumer.assignment() if tp.topic == topic)
        total = self._consumer.partitions_for_topic(topic)
        return mine, len(total or ())

    def _client(self) -> Any:
        return AIOKafkaConsumer(
            *self.topics,
            **client_options(self.settings),
            group_id=self.group,
            client_id=f"{self.settings.service}-{self.group}",
            enable_auto_commit=False,
            auto_offset_reset=self.auto_offset_reset,
            max_poll_records=self.settings.consumer_max_records,
            fetch_min_bytes=self.settings.consumer_fetch_min_bytes,
            fetch_max_wait_ms=self.settings.consumer_fetch_max_wait_ms,
            session_timeout_ms=self.settings.consumer_session_timeout_ms,
            heartbeat_interval_ms=self.settings.consumer_heartbeat_interval_ms,
            max_partition_fetch_bytes=max(self.settings.max_event_bytes, 1024 * 1024),
            isolation_level="read_committed",
        )

    async def run(self) -> None:
        self._consumer = self._client()
        stopping = self.core.stopping
        if not await start_with_retry(self._consumer.start, self.name, stop=stopping):
            return
        try:
            while not stopping.is_set():
                try:
                    batch = await self._consumer.getmany(timeout_ms=200)
                except KafkaError as exc:
                    if not transient(exc):
                        raise
                    if await self.core.wait_out(exc, "fetching"):
                        break
                    continue
                held = self._consumer.assignment()
                if held:
                    self.assigned.set()
                self._forget_lag_of_others(held)
                polled = {
                    (tp.topic, tp.partition): [_record(m) for m in messages] for tp, messages in batch.items()
                }
                offsets = await self.core.handle_poll(polled)
                # One offset commit per poll for every partition (one broker round trip, not one per partition):
                # a crash in between re-delivers at most this poll, which the inbox absorbs.
                if offsets:
                    self._note_lag(offsets)
                    await self._commit(offsets)
        finally:
            await self._consumer.stop()

    def _forget_lag_of_others(self, held: Iterable[TopicPartition]) -> None:
        """A partition a rebalance gave to another member is theirs to report: its last lag here would stand
        still in `/metrics` (and in the lag alert) for as long as this process lives."""
        mine = {f"{tp.topic}:{tp.partition}" for tp in held}
        for key in [k for k in self.stats.lag if k not in mine]:
            del self.stats.lag[key]

    def _note_lag(self, offsets: Mapping[Partition, int]) -> None:
        for (topic, partition), next_offset in offsets.items():
            highwater = self._consumer.highwater(TopicPartition(topic, partition))
            if highwater is not None:
                self.stats.lag[f"{topic}:{partition}"] = max(0, highwater - next_offset)

    async def _commit(self, offsets: Mapping[Partition, int]) -> None:
        try:
            await self._consumer.commit({TopicPartition(t, p): offset for (t, p), offset in offsets.items()})
        except KafkaError as exc:
            # A rebalance took a partition away: its next owner re-reads from the last commit and the inbox
            # makes the repeat harmless.
            log.warning("%s: commit of %d partitions failed: %s", self.name, len(offsets), describe(exc))

    async def _send_dead_letter(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]
    ) -> None:
        await self.producer.send_raw(topic, key=key, value=value, headers=headers)


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
