"""Test helpers: the real test stack (Kafka + PostgreSQL, started once per session), topics, readers, builders."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import SecretStr

from deploy.config import StackSettings
from deploy.stack import Stack
from shared.config import ServiceSettings
from shared.events import Topic
from shared.kafka import ensure_topics

ROOT = Path(__file__).resolve().parent.parent
TOKEN_SECRET = "test-secret-" + "x" * 40


@dataclass(frozen=True)
class TestStack:
    __test__ = False

    """Where the session's broker and database are, and the stack object that owns them (None if external)."""

    kafka_bootstrap: str
    postgres_url: str
    """A URL to the server's `postgres` database; tests create their own databases."""
    stack: Stack | None
    owned: bool = True
    """False for a stack a script started for several sessions (`SWITCHBOARD_TEST_STACK`): it outlives this one."""

    def database_url(self, database: str) -> str:
        return self.postgres_url.rsplit("/", 1)[0] + "/" + database


def free_port_stack_settings(state_dir: Path) -> StackSettings:
    return StackSettings.throwaway(state_dir, kafka_lib_dir=ROOT / ".switchboard" / "kafka" / "lib")


def start_test_stack(state_dir: Path) -> TestStack:
    """The same code as `switchboard up` (broker, database, topics), on free ports in a fresh state dir.

    With SWITCHBOARD_TEST_STACK set (the settings as JSON), that running stack is used and left running; with
    SWITCHBOARD_TEST_KAFKA and SWITCHBOARD_TEST_POSTGRES set, those running servers are used instead.
    """
    running = os.environ.get("SWITCHBOARD_TEST_STACK")
    if running:
        stack = Stack(StackSettings.model_validate_json(running))
        return TestStack(
            stack.settings.kafka_bootstrap, stack.settings.database_url("postgres"), stack, owned=False
        )
    kafka = os.environ.get("SWITCHBOARD_TEST_KAFKA")
    postgres = os.environ.get("SWITCHBOARD_TEST_POSTGRES")
    if kafka and postgres:
        return TestStack(kafka, postgres, None)
    if state_dir.exists():
        Stack(StackSettings(state_dir=state_dir)).down()  # leftovers of an interrupted run
        shutil.rmtree(state_dir)
    stack = Stack(free_port_stack_settings(state_dir))
    asyncio.run(stack.up(services=False))
    return TestStack(stack.settings.kafka_bootstrap, stack.settings.database_url("postgres"), stack)


def service_settings(stack: TestStack, database: str, **overrides: object) -> ServiceSettings:
    values: dict[str, object] = {
        "service": "test",
        "database_url": stack.database_url(database),
        "kafka_bootstrap": stack.kafka_bootstrap,
        "kafka_request_timeout_ms": 5000,
        "consumer_backoff_initial_s": 0.01,
        "consumer_backoff_max_s": 0.05,
        "consumer_max_attempts": 3,
        "outbox_idle_wait_s": 0.1,
        "retry_initial_s": 0.05,
        "retry_max_s": 0.5,
        "token_secret": SecretStr(TOKEN_SECRET),
        "log_json": False,
        # Tests drive thousands of requests with one credential; the rate limits' own tests turn them on.
        "rate_limit_user_per_s": 0,
        "rate_limit_adapter_per_s": 0,
    }
    values.update(overrides)
    return ServiceSettings.model_validate(values)


async def new_topic(bootstrap: str, *, partitions: int = 1, prefix: str = "test") -> str:
    name = f"{prefix}.{uuid.uuid4().hex[:10]}"
    await ensure_topics(bootstrap, [Topic(name, partitions, 3_600_000, "tests")])
    return name


async def read_topic(
    bootstrap: str, topic: str, *, timeout_s: float = 10.0
) -> list[tuple[dict[str, bytes], bytes]]:
    """Every record now in `topic` (headers, value), read without a consumer group."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        for _ in range(50):
            if partitions:
                break
            await asyncio.sleep(0.1)
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
        tps = [TopicPartition(topic, p) for p in sorted(partitions or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        records: list[tuple[dict[str, bytes], bytes]] = []
        deadline = asyncio.get_running_loop().time() + timeout_s

        async def behind() -> bool:
            return any([await consumer.position(tp) < end[tp] for tp in tps])

        while await behind():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"could not read {topic} to its end in {timeout_s}s")
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                records.extend((dict(m.headers or ()), m.value) for m in messages)
        return records
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()


@contextlib.asynccontextmanager
async def database_down(stack: TestStack) -> AsyncIterator[None]:
    """The test stack's PostgreSQL stopped for real (a fast shutdown ends every session) for the block, then
    started again. Stopping and starting run in threads, so the code under test keeps running meanwhile."""
    assert stack.stack is not None, "this test stops and starts the PostgreSQL server it owns"
    postgres = stack.stack.postgres
    await asyncio.to_thread(postgres.stop)
    try:
        yield
    finally:
        await asyncio.to_thread(postgres.start)


async def restart_database(stack: TestStack) -> None:
    async with database_down(stack):
        pass


async def wait_until(predicate: object, *, timeout_s: float = 15.0, interval_s: float = 0.05) -> None:
    """Poll an async or sync zero-argument predicate until it is truthy."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = predicate()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval_s)


def start_test_stack_for_shell(state_dir: str) -> str:
    """Start a broker and a database (as the test session does) and give, as a shell export, the settings that
    make pytest sessions use it: the scripts under tests/ run several sessions against one stack."""
    stack = start_test_stack(ROOT / state_dir).stack
    assert stack is not None
    return "export SWITCHBOARD_TEST_STACK=" + shlex.quote(stack.settings.model_dump_json())


def stop_test_stack(state_dir: str) -> None:
    state = ROOT / state_dir
    if state.exists():
        Stack(StackSettings(state_dir=state)).down()
        shutil.rmtree(state)
