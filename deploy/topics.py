"""Topic configuration drift: what the brokers hold against what `shared/events.py` and the settings want.

`switchboard provision --check` reports it; `provision` itself only creates what is missing (and aligns the
message limit), never repartitions or re-replicates a topic behind an operator's back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.events import Topic
from shared.kafka import KafkaClient, as_client_options

CHECKED_CONFIGS = ("retention.ms", "max.message.bytes", "min.insync.replicas")


@dataclass(frozen=True)
class TopicShape:
    """A topic's partitions, replication factor and the configs we manage."""

    partitions: int
    replication_factor: int
    configs: Mapping[str, str]


@dataclass(frozen=True)
class Drift:
    topic: str
    what: str
    wanted: str
    found: str


def wanted_shapes(
    topics: Iterable[Topic], *, max_message_bytes: int, replication_factor: int, min_insync_replicas: int
) -> dict[str, TopicShape]:
    return {
        t.name: TopicShape(
            partitions=t.partitions,
            replication_factor=replication_factor,
            configs={
                "retention.ms": str(t.retention_ms),
                "max.message.bytes": str(max_message_bytes),
                "min.insync.replicas": str(min_insync_replicas),
            },
        )
        for t in topics
    }


def drift(wanted: Mapping[str, TopicShape], found: Mapping[str, TopicShape]) -> list[Drift]:
    """Every difference, topic by topic in the declared order; a missing topic is one line, not four."""
    out: list[Drift] = []
    for name, want in wanted.items():
        have = found.get(name)
        if have is None:
            out.append(Drift(name, "topic", "present", "missing"))
            continue
        if have.partitions != want.partitions:
            out.append(Drift(name, "partitions", str(want.partitions), str(have.partitions)))
        if have.replication_factor != want.replication_factor:
            out.append(
                Drift(name, "replication factor", str(want.replication_factor), str(have.replication_factor))
            )
        for key, value in want.configs.items():
            if have.configs.get(key) != value:
                out.append(Drift(name, key, value, have.configs.get(key, "unset")))
    return out


async def found_shapes(
    kafka: str | KafkaClient, names: Iterable[str], *, timeout_s: float = 30.0
) -> dict[str, TopicShape]:
    """The shape of each of `names` that exists on the cluster."""
    admin = AIOKafkaAdminClient(**as_client_options(kafka), request_timeout_ms=int(timeout_s * 1000))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        present = [n for n in names if n in existing]
        if not present:
            return {}
        metadata = await admin.describe_topics(present)
        configs: dict[str, dict[str, str]] = {n: {} for n in present}
        described = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, n, dict.fromkeys(CHECKED_CONFIGS)) for n in present]
        )
        for response in described:
            for _error, _message, _type, name, entries in response.resources:
                configs[name] = {entry[0]: entry[1] for entry in entries}
        shapes: dict[str, TopicShape] = {}
        for topic in metadata:
            partitions = topic["partitions"]
            shapes[topic["topic"]] = TopicShape(
                partitions=len(partitions),
                replication_factor=min((len(p["replicas"]) for p in partitions), default=0),
                configs=configs.get(topic["topic"], {}),
            )
        return shapes
    finally:
        await admin.close()
