"""What intake's use cases share: the per-transaction context (`shared.tx.Tx`: the connection and the instant
every write of the transaction uses), the contention a use case may lose, and the one way an entry point runs a
use case again after losing it.

Use cases never open a transaction: the entry point does (a route through `api.common.transaction`, a consumer
in the inbox transaction, the group commit's flushers and the webhook sender through `transaction` here).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TypeVar

import asyncpg

from shared.tx import Actor, Tx, with_retries

__all__ = ["ATTEMPTS", "RETRYABLE", "SOURCE", "Actor", "Busy", "LostRace", "Tx", "retried", "transaction"]


SOURCE = "switchboard/intake"

T = TypeVar("T")


class LostRace(Exception):
    """A concurrent transaction claimed an identity this one needed; run again to see it."""


class Busy(Exception):
    """Concurrent writers kept colliding (deadlocks, races) past the retries: the caller should retry later."""


RETRYABLE = (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError, LostRace)
ATTEMPTS = 4


@asynccontextmanager
async def transaction(pool: asyncpg.Pool, now: datetime) -> AsyncIterator[Tx]:
    """One transaction on a pooled connection, its writes at `now`."""
    async with pool.acquire() as conn, conn.transaction():
        yield Tx(conn=conn, now=now)


async def retried(pool: asyncpg.Pool, now: datetime, use_case: Callable[[Tx], Awaitable[T]], *, what: str) -> T:
    """`use_case` in a transaction of its own, run again in a fresh one when it loses a race with a concurrent
    writer (a unique key taken, a deadlock, `LostRace`), so that it sees the winner; `Busy` after `ATTEMPTS`."""

    async def once() -> T:
        async with transaction(pool, now) as tx:
            return await use_case(tx)

    try:
        return await with_retries(once, tries=ATTEMPTS, retry_on=RETRYABLE, what=f"intake {what}")
    except RETRYABLE as exc:
        raise Busy(str(exc)) from exc
