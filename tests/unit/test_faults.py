"""What counts as a passing failure (retried as long as it lasts) and what does not (bad data, a bug), and the
waits between tries."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka import errors as kafka

from shared.faults import Backoff, producer_broken, refused_by_broker, transient, unavailable

AWAY = [
    ConnectionRefusedError(111, "Connect call failed"),
    OSError("Multiple exceptions: [Errno 111] Connect call failed"),
    TimeoutError(),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.InterfaceError("cannot call Connection.fetchval(): the underlying connection is closed"),
    asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress"),
    kafka.KafkaConnectionError("Connection at localhost:9092 closed"),
    kafka.KafkaTimeoutError(),
    kafka.RequestTimedOutError(),
    kafka.NotLeaderForPartitionError(),
]
CONTENTION = [
    asyncpg.SerializationError("could not serialize access"),
    asyncpg.DeadlockDetectedError("deadlock detected"),
    asyncpg.LockNotAvailableError("canceling statement due to lock timeout"),
]
NOT_TRANSIENT = [
    ValueError("bad data"),
    KeyError("missing"),
    asyncpg.UniqueViolationError("duplicate key"),
    asyncpg.DataError("invalid input syntax"),
    asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
    kafka.MessageSizeTooLargeError(),
    kafka.ProducerClosed(),
]


@pytest.mark.parametrize("exc", AWAY, ids=lambda e: type(e).__name__)
def test_a_dependency_away_is_transient_and_unavailable(exc: BaseException) -> None:
    assert transient(exc) and unavailable(exc)


@pytest.mark.parametrize("exc", CONTENTION, ids=lambda e: type(e).__name__)
def test_contention_between_transactions_is_transient_but_nothing_is_unavailable(exc: BaseException) -> None:
    assert transient(exc) and not unavailable(exc)


@pytest.mark.parametrize("exc", NOT_TRANSIENT, ids=lambda e: type(e).__name__)
def test_bad_data_and_bugs_are_not_transient(exc: BaseException) -> None:
    assert not transient(exc)


def test_only_refusals_of_the_message_itself_park_it() -> None:
    assert refused_by_broker(kafka.MessageSizeTooLargeError())
    assert refused_by_broker(kafka.InvalidTopicError())
    assert not refused_by_broker(kafka.RequestTimedOutError()), "passes: sent again later"
    assert not refused_by_broker(kafka.OutOfOrderSequenceNumber()), "the producer's state, not the message"
    assert producer_broken(kafka.OutOfOrderSequenceNumber()) and not producer_broken(kafka.ProducerClosed())


def test_backoff_doubles_up_to_its_ceiling_with_jitter_and_starts_over_after_a_success() -> None:
    backoff = Backoff(0.1, 1.0)
    delays = [backoff.next() for _ in range(8)]
    steps = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]
    assert all(step / 2 <= delay <= step for delay, step in zip(delays, steps, strict=True)), delays
    assert len({round(d, 9) for d in delays[4:]}) > 1, "jitter: retries of many loops do not line up"
    backoff.reset()
    assert 0.05 <= backoff.next() <= 0.1
