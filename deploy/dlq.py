"""Dead letters for operators: list what a service could not handle, and replay it once fixed.

Replay sends each dead letter back to its origin topic with its original key, value and headers (minus the
`dlq.*` ones), so the event keeps its id: the consumer's inbox has no row for it (the failed attempts rolled
back), so it is handled now, and a second replay of the same letter has no second effect. A consumer group
`ops.dlq-replay.<service>` remembers how far replay got, so each letter is replayed once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.events import dlq_topic
from shared.kafka import KafkaClient, as_client_options


@dataclass(frozen=True)
class DeadLetter:
    offset: int
    origin: str
    error: str
    attempts: str
    event_type: str
    subject: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


def _letter(message: object) -> DeadLetter:
    headers = tuple(getattr(message, "headers", None) or ())
    found = {k: v.decode(errors="replace") for k, v in headers}
    value: bytes | None = getattr(message, "value", None)
    subject = ""
    if value:
        try:
            subject = str(json.loads(value).get("subject", ""))
        except (ValueError, AttributeError):
            subject = "(undecodable)"
    return DeadLetter(
        offset=int(getattr(message, "offset", -1)),
        origin=f"{found.get('dlq.origin.topic', '?')}[{found.get('dlq.origin.partition', '?')}]"
        f"@{found.get('dlq.origin.offset', '?')}",
        error=found.get("dlq.error", ""),
        attempts=found.get("dlq.attempts", ""),
        event_type=found.get("ce_type", ""),
        subject=subject,
        key=getattr(message, "key", None),
        value=value,
        headers=headers,
    )


async def read_letters(kafka: str | KafkaClient, service: str, *, group: str | None = None) -> list[DeadLetter]:
    """Every letter in `<service>.dlq`, or with `group`, those after that group's committed offset."""
    topic = dlq_topic(service).name
    consumer = AIOKafkaConsumer(
        **as_client_options(kafka), group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        committed = await consumer.committed(tp) if group else None
        if committed is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)
        end = (await consumer.end_offsets([tp]))[tp]
        letters: list[DeadLetter] = []
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=500)
            letters.extend(_letter(m) for m in batch.get(tp, []))
        return letters
    finally:
        await consumer.stop()


async def replay(kafka: str | KafkaClient, service: str) -> list[DeadLetter]:
    """Send every not-yet-replayed letter back to its origin topic; return what was replayed."""
    group = f"ops.dlq-replay.{service}"
    letters = await read_letters(kafka, service, group=group)
    if not letters:
        return []
    producer = AIOKafkaProducer(**as_client_options(kafka), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for letter in letters:
            origin = dict(letter.headers).get("dlq.origin.topic")
            if origin is None:
                continue
            headers = [(k, v) for k, v in letter.headers if not k.startswith("dlq.")]
            headers.append(("dlq.replayed-from", f"{dlq_topic(service).name}@{letter.offset}".encode()))
            await producer.send_and_wait(origin.decode(), value=letter.value, key=letter.key, headers=headers)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(**as_client_options(kafka), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(dlq_topic(service).name, 0)
        consumer.assign([tp])
        await consumer.commit({tp: letters[-1].offset + 1})
    finally:
        await consumer.stop()
    return letters
