"""Which instance owns a contact's timers, and what its scheduler keeps in memory (no I/O: the pool is unused)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from services.sla.repository.timers import EVERYTHING, Ownership, key_hash
from services.sla.scheduler import Scheduler
from shared.clock import ManualClock

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def test_a_contacts_timers_belong_to_the_partition_kafka_puts_its_events_in() -> None:
    partitions = list(range(6))
    for _ in range(200):
        contact_id = uuid.uuid4()
        kafka = DefaultPartitioner()(str(contact_id).encode(), partitions, partitions)
        assert key_hash(contact_id) % 6 == kafka
        assert Ownership(frozenset({kafka}), 6).owns(key_hash(contact_id))
        assert not Ownership(frozenset(set(partitions) - {kafka}), 6).owns(key_hash(contact_id))


def test_owning_everything_owns_any_hash_and_owning_nothing_owns_none() -> None:
    assert EVERYTHING.owns(12345)
    assert not Ownership(frozenset(), 6).owns(12345)
    assert EVERYTHING.sql() == (None, 1)
    assert Ownership(frozenset({3, 1}), 6).sql() == ([1, 3], 6)


def scheduler(ownership: Ownership = EVERYTHING) -> Scheduler:
    pool: Any = None
    return Scheduler(pool, ManualClock(T0), ownership=lambda: ownership, horizon_s=300)


def test_the_scheduler_holds_only_owned_instants_within_its_horizon() -> None:
    mine, theirs = 6, 7  # hashes: partition 0 and partition 1 of 6
    s = scheduler(Ownership(frozenset({0}), 6))
    s._loaded_until = T0 + timedelta(seconds=300)
    s.note(mine, (T0 + timedelta(seconds=10)).timestamp())
    s.note(theirs, (T0 + timedelta(seconds=5)).timestamp())
    s.note(mine, (T0 + timedelta(seconds=900)).timestamp())  # beyond the horizon: the next reload brings it
    assert s.held == 1
    assert s.next_due() == (T0 + timedelta(seconds=10)).timestamp()


def test_the_earliest_noted_instant_is_next() -> None:
    s = scheduler()
    for seconds in (30, 5, 12):
        s.note(1, (T0 + timedelta(seconds=seconds)).timestamp())
    assert s.next_due() == (T0 + timedelta(seconds=5)).timestamp()


def test_a_notification_carries_every_instant_a_handler_planned() -> None:
    s = scheduler()
    instants = [(T0 + timedelta(seconds=n)).timestamp() for n in (2, 4, 6, 8)]
    s._on_notify(None, 0, "sla_due", " ".join(["6", *(f"{i:.6f}" for i in instants)]))  # type: ignore[arg-type]
    assert s.held == 4 and s.next_due() == instants[0]
    s._on_notify(None, 0, "sla_due", "garbage")  # type: ignore[arg-type]
    assert s.held == 4
