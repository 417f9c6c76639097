"""Failures that pass, and how long to wait before trying again.

A dependency away for a while (PostgreSQL restarting, a connection cut, the broker down) or two transactions
meeting (serialization failure, deadlock) is *transient*: what failed succeeds later, unchanged. Everything that
retries — background loops, the consumer loop, the HTTP edge's 503 — asks `transient` here and waits as
`Backoff` says: doubling, with jitter, so a database that comes back is not met by every loop at one instant.
Anything else (bad data, a bug) is not retried forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

import asyncpg
from aiokafka import errors as kafka

_POSTGRES_AWAY = (
    asyncpg.PostgresConnectionError,  # class 08: refused, lost, closed in the middle of an operation
    asyncpg.CannotConnectNowError,  # 57P03: starting up, shutting down, in recovery
    asyncpg.AdminShutdownError,  # 57P01: terminated by an administrator or a fast shutdown
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.IdleSessionTimeoutError,  # 57P05: the server ended the session
    asyncpg.IdleInTransactionSessionTimeoutError,  # 25P03
    asyncpg.InsufficientResourcesError,  # class 53: too many connections, disk or memory full
    asyncpg.ReadOnlySQLTransactionError,  # 25006: a standby answered (fail-over under way)
)
_POSTGRES_CONTENTION = (
    asyncpg.SerializationError,  # 40001
    asyncpg.DeadlockDetectedError,  # 40P01
    asyncpg.LockNotAvailableError,  # 55P03: lock_timeout
    asyncpg.QueryCanceledError,  # 57014: statement_timeout
)
_KAFKA_AWAY = (
    kafka.KafkaConnectionError,
    kafka.KafkaTimeoutError,
    kafka.KafkaUnavailableError,
    kafka.BrokerNotAvailableError,
    kafka.NoBrokersAvailable,
    kafka.NodeNotReadyError,
    kafka.RequestTimedOutError,
)
_PRODUCER_STATE = (
    kafka.ProducerClosed,
    kafka.ProducerFenced,
    kafka.OutOfOrderSequenceNumber,
    kafka.DuplicateSequenceNumber,
    kafka.InvalidProducerEpoch,
    kafka.InvalidProducerIdMapping,
    kafka.UnknownProducerId,
    kafka.InvalidTxnState,
    kafka.ConcurrentTransactions,
    kafka.TransactionCoordinatorFenced,
)


def unavailable(exc: BaseException) -> bool:
    """The database or the broker cannot be reached (or is closing our connections) right now."""
    if isinstance(exc, (OSError, *_POSTGRES_AWAY, *_KAFKA_AWAY)):
        return True  # OSError includes TimeoutError and every refused, reset or unreachable connection
    if isinstance(exc, asyncpg.InterfaceError):
        # A connection the server or the network closed under us; asyncpg's other interface errors are misuse.
        return "connection is closed" in str(exc) or "connection was closed" in str(exc)
    if isinstance(exc, asyncpg.InternalClientError):
        # A pooled connection the server ended while it sat idle (a fast shutdown) is left in a protocol state
        # the next query cannot leave ("cannot switch to state 15"): seen when PostgreSQL restarts under load.
        return True
    return isinstance(exc, kafka.KafkaError) and bool(getattr(exc, "retriable", False))


def transient(exc: BaseException) -> bool:
    """Trying the same thing again later can succeed: a dependency away, or contention between transactions."""
    return unavailable(exc) or isinstance(exc, _POSTGRES_CONTENTION)


def refused_by_broker(exc: BaseException) -> bool:
    """The broker (or the producer, checking for it) will never take this message however often it is sent:
    too large, an invalid topic or timestamp, not authorised. Not the producer's own state, not a passing
    failure."""
    return (
        isinstance(exc, kafka.BrokerResponseError) and not transient(exc) and not isinstance(exc, _PRODUCER_STATE)
    )


def producer_broken(exc: BaseException) -> bool:
    """The idempotent producer's own state is off (a batch the broker refused left a gap in a partition's
    sequence: every later batch there fails as out of order): only a new producer helps."""
    return isinstance(exc, _PRODUCER_STATE) and not isinstance(exc, kafka.ProducerClosed)


class Backoff:
    """Delays that double from `initial_s` up to `max_s`, each drawn from the upper half of its step (jitter)."""

    def __init__(self, initial_s: float = 0.25, max_s: float = 5.0) -> None:
        self.initial_s = initial_s
        self.max_s = max(max_s, initial_s)
        self.failures = 0

    def next(self) -> float:
        step = min(self.max_s, self.initial_s * 2 ** min(self.failures, 30))
        self.failures += 1
        return random.uniform(step / 2, step)  # noqa: S311 — spreading retries, not cryptography

    def reset(self) -> None:
        self.failures = 0


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds` unless `stop` is set first; True when stopping."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(seconds, 0.0))
    return stop.is_set()
