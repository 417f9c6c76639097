"""The consumer loop's rules over plain records, no broker: handle, retry, wait out, dead-letter, skip, batch
fallback, ordering and which offsets a poll commits. (tests/integration/test_delivery.py proves the loop on the
real broker.)"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import pytest
from aiokafka import errors as kafka

from shared.consumer_core import (
    PERSISTENT_WAITS,
    ConsumerCore,
    Delivery,
    Partition,
    Record,
    Rules,
    SpanFor,
)
from shared.events import ContactReceivedV1, Event, ProbePingedV1, encode

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
RULES = Rules(max_attempts=3, backoff_initial_s=0.2, backoff_max_s=0.3, wait_initial_s=0.25, wait_max_s=5.0)
A: Partition = ("t", 0)
B: Partition = ("t", 1)


def probe_value(note: str = "") -> bytes:
    event = ProbePingedV1(probe_id=uuid.uuid4(), note=note)
    return encode(event, source="switchboard/tests", subject="s", time=T0).value


def retyped(value: bytes, type_: str) -> bytes:
    envelope = json.loads(value)
    envelope["type"] = type_
    return json.dumps(envelope).encode()


def records(partition: Partition, *values: bytes | None, first: int = 0) -> list[Record]:
    topic, number = partition
    return [
        Record(topic, number, first + i, b"k", value, (("ce_type", b"x"),), timestamp_ms=0)
        for i, value in enumerate(values)
    ]


def note(delivery: Delivery) -> str:
    event = delivery.decoded.event
    assert isinstance(event, ProbePingedV1)
    return event.note


@dataclass
class Harness:
    """A core with a handler that fails as told, a dead-letter topic in a list and a clock that never waits."""

    failures: dict[str, list[BaseException]] = field(default_factory=dict)
    """note → what the handler raises on its next calls for that note, in turn."""
    batch_failures: list[BaseException] = field(default_factory=list)
    dead_letter_failures: list[BaseException] = field(default_factory=list)
    stop_after_sleeps: int | None = None
    handled: list[str] = field(default_factory=list)
    batches: list[list[str]] = field(default_factory=list)
    dead_letters: list[tuple[str, bytes | None, dict[str, bytes]]] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    def core(self, *, batch: bool = False, accepts: frozenset[type[Event]] | None = None) -> ConsumerCore:
        self._core = ConsumerCore(
            group="g",
            handler=self.handle,
            send_dead_letter=self.send_dead_letter,
            dlq_topic="g.dlq",
            rules=RULES,
            batch_handler=self.handle_batch if batch else None,
            accepts=accepts,
            sleep=self.sleep,
        )
        return self._core

    async def handle(self, delivery: Delivery) -> None:
        pending = self.failures.get(note(delivery), [])
        if pending:
            raise pending.pop(0)
        self.handled.append(note(delivery))

    async def handle_batch(self, deliveries: Sequence[Delivery], span_for: SpanFor) -> None:
        if self.batch_failures:
            raise self.batch_failures.pop(0)
        for delivery in deliveries:
            with span_for(delivery):
                pass
        self.batches.append([note(d) for d in deliveries])

    async def send_dead_letter(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]
    ) -> None:
        if self.dead_letter_failures:
            raise self.dead_letter_failures.pop(0)
        self.dead_letters.append((topic, value, dict(headers)))

    async def sleep(self, seconds: float) -> bool:
        self.sleeps.append(seconds)
        if self.stop_after_sleeps is not None and len(self.sleeps) >= self.stop_after_sleeps:
            self._core.stopping.set()
        return self._core.stopping.is_set()


async def test_each_event_is_handled_in_order_and_each_partition_commits_past_its_last_record() -> None:
    h = Harness()
    core = h.core()
    offsets = await core.handle_poll(
        {A: records(A, probe_value("a1"), probe_value("a2"), first=7), B: records(B, probe_value("b1"))}
    )
    assert offsets == {A: 9, B: 1}
    assert [n for n in h.handled if n.startswith("a")] == ["a1", "a2"]
    assert sorted(h.handled) == ["a1", "a2", "b1"]
    assert core.stats.handled == 3 and h.sleeps == [] and h.dead_letters == []


async def test_an_undecodable_record_is_dead_lettered_at_once_with_its_origin_and_the_partition_moves_on() -> None:
    h = Harness()
    core = h.core()
    offsets = await core.handle_poll({A: records(A, b"not json", None, probe_value("after"), first=40)})
    assert offsets == {A: 43}
    assert h.handled == ["after"]
    assert [value for _, value, _ in h.dead_letters] == [b"not json", None]
    topic, _, headers = h.dead_letters[0]
    assert topic == "g.dlq"
    assert headers["dlq.origin.topic"] == b"t" and headers["dlq.origin.partition"] == b"0"
    assert headers["dlq.origin.offset"] == b"40" and headers["dlq.attempts"] == b"0"
    assert headers["dlq.consumer.group"] == b"g" and headers["dlq.error"].startswith(b"UndecodableMessage")
    assert headers["ce_type"] == b"x", "the record's own headers travel with it"
    assert core.stats.dead_lettered == 2 and h.sleeps == []


async def test_a_known_type_whose_data_does_not_validate_is_poison_too() -> None:
    h = Harness()
    envelope = json.loads(probe_value())
    envelope["data"]["probe_id"] = "not a uuid"
    await h.core().handle_poll({A: records(A, json.dumps(envelope).encode())})
    assert len(h.dead_letters) == 1 and h.handled == []


async def test_a_handler_that_keeps_failing_is_retried_with_doubling_capped_backoff_then_dead_lettered() -> None:
    h = Harness(failures={"bad": [ValueError("no such customer")] * 3})
    core = h.core()
    offsets = await core.handle_poll({A: records(A, probe_value("bad"), probe_value("good"))})
    assert offsets == {A: 2}, "the partition moves on past the dead letter"
    assert h.handled == ["good"]
    assert h.sleeps == [0.2, 0.3], "max_attempts 3: two waits between three attempts, doubling up to the cap"
    assert h.dead_letters[0][2]["dlq.attempts"] == b"3"
    assert h.dead_letters[0][2]["dlq.error"] == b"ValueError: no such customer"
    assert core.stats.retries == 2 and core.stats.dead_lettered == 1 and core.stats.handled == 1


async def test_a_dead_letters_error_header_masks_the_addresses_and_numbers_in_the_failure() -> None:
    h = Harness(failures={"bad": [ValueError("no customer at zhang.san@example.com, 13812345678")] * 3})
    await h.core().handle_poll({A: records(A, probe_value("bad"))})
    error = h.dead_letters[0][2]["dlq.error"].decode()
    assert error == "ValueError: no customer at z***@example.com, 138****78"


async def test_a_handler_that_fails_fewer_times_than_allowed_is_handled_without_a_dead_letter() -> None:
    h = Harness(failures={"flaky": [RuntimeError("bug today, fixed by a retry")]})
    core = h.core()
    assert await core.handle_poll({A: records(A, probe_value("flaky"))}) == {A: 1}
    assert h.handled == ["flaky"] and h.dead_letters == [] and core.stats.retries == 1


@pytest.mark.parametrize(
    "failure",
    [
        asyncpg.CannotConnectNowError("the database system is starting up"),
        kafka.KafkaConnectionError("broker away"),
        asyncpg.DeadlockDetectedError("deadlock detected"),
    ],
    ids=["database away", "broker away", "deadlock"],
)
async def test_a_transient_failure_is_waited_out_however_long_it_lasts_and_never_dead_lettered(
    failure: BaseException,
) -> None:
    lasting = RULES.max_attempts * 4
    h = Harness(failures={"e": [failure] * lasting})
    core = h.core()
    assert await core.handle_poll({A: records(A, probe_value("e"))}) == {A: 1}
    assert h.handled == ["e"] and h.dead_letters == []
    assert core.stats.waits == lasting and core.stats.retries == 0
    assert len(h.sleeps) == lasting
    assert all(0 < s <= RULES.wait_max_s for s in h.sleeps)
    assert h.sleeps[-1] >= RULES.wait_max_s / 2, "the waits grow up to the cap (with jitter)"


async def test_a_dependency_away_is_shown_as_trouble_while_it_lasts_and_cleared_once_handled() -> None:
    h = Harness()
    core = h.core()
    seen: list[str | None] = []

    async def handler(delivery: Delivery) -> None:
        seen.append(core.trouble())
        if len(seen) < 3:
            raise asyncpg.CannotConnectNowError("the database system is starting up")

    core.handler = handler
    await core.handle_poll({A: records(A, probe_value())})
    assert seen[0] is None and seen[2] is not None and "CannotConnectNowError" in seen[2]
    assert core.trouble() is None


async def test_contention_is_shown_as_trouble_only_once_it_persists() -> None:
    h = Harness()
    core = h.core()
    troubles: list[str | None] = []
    failures = PERSISTENT_WAITS + 2

    async def handler(delivery: Delivery) -> None:
        troubles.append(core.trouble())
        if len(troubles) <= failures:
            raise asyncpg.DeadlockDetectedError("deadlock detected")

    core.handler = handler
    await core.handle_poll({A: records(A, probe_value())})
    assert troubles[PERSISTENT_WAITS] is None
    assert troubles[PERSISTENT_WAITS + 2] is not None


async def test_a_record_not_done_when_the_loop_stops_is_not_committed_nor_anything_after_it() -> None:
    h = Harness(failures={"stuck": [kafka.KafkaConnectionError("away")] * 100}, stop_after_sleeps=2)
    core = h.core()
    offsets = await core.handle_poll(
        {A: records(A, probe_value("ok"), probe_value("stuck"), probe_value("later"))}
    )
    assert offsets == {A: 1}, "committed up to the record before the one not done"
    assert h.handled == ["ok"] and h.dead_letters == []


async def test_a_failing_handler_that_is_stopped_during_its_backoff_is_not_dead_lettered() -> None:
    h = Harness(failures={"bad": [ValueError("bad")] * 3}, stop_after_sleeps=1)
    offsets = await h.core().handle_poll({A: records(A, probe_value("bad"))})
    assert offsets == {} and h.dead_letters == []


async def test_unknown_types_and_types_the_consumer_does_not_act_on_are_skipped_and_committed() -> None:
    h = Harness()
    core = h.core()
    unknown = retyped(probe_value("from a newer build"), "switchboard.from.the.future.v9")
    offsets = await core.handle_poll({A: records(A, unknown, probe_value("mine"))})
    assert offsets == {A: 2} and h.handled == ["mine"] and core.stats.skipped == 1

    h = Harness()
    core = h.core(accepts=frozenset({ContactReceivedV1}))
    assert await core.handle_poll({A: records(A, probe_value("not for me"))}) == {A: 1}
    assert h.handled == [] and core.stats.skipped == 1 and h.dead_letters == []


async def test_a_dead_letter_waits_for_the_broker_and_a_refusal_that_will_not_pass_is_raised() -> None:
    h = Harness(dead_letter_failures=[kafka.KafkaTimeoutError(), kafka.KafkaTimeoutError()])
    core = h.core()
    assert await core.handle_poll({A: records(A, b"garbage")}) == {A: 1}
    assert len(h.dead_letters) == 1 and core.stats.waits == 2

    h = Harness(dead_letter_failures=[kafka.TopicAuthorizationFailedError()])
    with pytest.raises(kafka.TopicAuthorizationFailedError):
        await h.core().handle_poll({A: records(A, b"garbage")})


async def test_a_clean_poll_is_one_batch_across_partitions_each_in_its_order() -> None:
    h = Harness()
    core = h.core(batch=True)
    offsets = await core.handle_poll(
        {A: records(A, probe_value("a1"), probe_value("a2")), B: records(B, probe_value("b1"), first=5)}
    )
    assert offsets == {A: 2, B: 6}
    assert h.batches == [["a1", "a2", "b1"]] and h.handled == []
    assert core.stats.batches == 1 and core.stats.handled == 3 and core.stats.batch_fallbacks == 0


async def test_a_single_record_goes_the_one_by_one_way_even_with_a_batch_handler() -> None:
    h = Harness()
    await h.core(batch=True).handle_poll({A: records(A, probe_value("only"))})
    assert h.batches == [] and h.handled == ["only"]


async def test_a_batch_that_fails_otherwise_goes_one_by_one_in_order_with_retries_and_dead_letters() -> None:
    h = Harness(batch_failures=[ValueError("one bad row")], failures={"bad": [ValueError("bad")] * 3})
    core = h.core(batch=True)
    offsets = await core.handle_poll({A: records(A, probe_value("a1"), probe_value("bad"), probe_value("a3"))})
    assert offsets == {A: 3}
    assert h.handled == ["a1", "a3"] and len(h.dead_letters) == 1
    assert core.stats.batch_fallbacks == 1 and core.stats.batches == 0


async def test_a_batch_holding_a_poison_record_goes_one_by_one_without_calling_the_batch_handler() -> None:
    h = Harness()
    core = h.core(batch=True)
    offsets = await core.handle_poll({A: records(A, probe_value("a1"), b"poison", probe_value("a3"))})
    assert offsets == {A: 3} and h.batches == [] and h.handled == ["a1", "a3"]
    assert h.dead_letters[0][2]["dlq.origin.offset"] == b"1"


async def test_a_batch_that_fails_transiently_is_tried_again_as_it_is() -> None:
    h = Harness(batch_failures=[asyncpg.CannotConnectNowError("starting up")] * 3)
    core = h.core(batch=True)
    offsets = await core.handle_poll({A: records(A, probe_value("a1"), probe_value("a2"))})
    assert offsets == {A: 2} and h.batches == [["a1", "a2"]] and h.handled == []
    assert core.stats.waits == 3 and core.stats.batch_fallbacks == 0


async def test_a_batch_stopped_while_waiting_commits_nothing_of_the_poll() -> None:
    h = Harness(batch_failures=[asyncpg.CannotConnectNowError("starting up")] * 5, stop_after_sleeps=1)
    offsets = await h.core(batch=True).handle_poll({A: records(A, probe_value("a1"), probe_value("a2"))})
    assert offsets == {} and h.batches == [] and h.handled == []


async def test_a_poll_of_nothing_the_consumer_acts_on_takes_no_batch_at_all() -> None:
    h = Harness()
    core = h.core(batch=True)
    unknown = retyped(probe_value(), "switchboard.from.the.future.v9")
    assert await core.handle_poll({A: records(A, unknown, unknown)}) == {A: 2}
    assert h.batches == [] and core.stats.skipped == 2


async def test_partitions_are_handled_concurrently_so_one_waiting_does_not_hold_up_another() -> None:
    h = Harness()
    core = h.core()
    b_done = asyncio.Event()
    order: list[str] = []

    async def handler(delivery: Delivery) -> None:
        if delivery.record.partition == 0:
            await asyncio.wait_for(b_done.wait(), timeout=5)
        else:
            b_done.set()
        order.append(note(delivery))

    core.handler = handler
    offsets = await core.handle_poll({A: records(A, probe_value("a1")), B: records(B, probe_value("b1"))})
    assert offsets == {A: 1, B: 1} and order == ["b1", "a1"]
