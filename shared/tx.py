"""The one per-transaction context every service's use cases take first (docs/architecture.md, "One use case").

The entry point — a route, a socket message, a consumed event, a timer — opens the transaction and makes the
context: the connection and the instant every write of this transaction uses. A service that needs more in every
transaction (routing's policy in force and writing instance) extends it with a frozen subclass; one that needs
nothing more uses it as it is. Use cases never open a transaction of their own.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import asyncpg

from shared.db import Conn

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tx:
    conn: Conn
    now: datetime


@dataclass(frozen=True)
class Actor:
    """Who acts: a person by role and subject, a service, or an adapter."""

    role: str
    subject: str

    @property
    def is_supervisor(self) -> bool:
        return self.role in ("supervisor", "admin")

    @property
    def label(self) -> str:
        return f"{self.role}:{self.subject}"


CONTENTION = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
"""PostgreSQL aborted the transaction to break a deadlock or a serialization conflict: nothing of it was written,
and the same work run again succeeds."""


async def with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    tries: int = 3,
    retry_on: tuple[type[BaseException], ...] = CONTENTION,
    what: str = "a transaction",
) -> T:
    """Run `attempt` — which opens a transaction of its own — again (after a few milliseconds, spread) when it
    failed with one of `retry_on` (by default: PostgreSQL aborted it for contention); the last failure is raised
    (an HTTP caller then answers 503)."""
    for n in range(1, tries + 1):
        try:
            return await attempt()
        except retry_on as exc:
            if n == tries:
                raise
            log.info("%s: %s; running it again", what, type(exc).__name__)
            await asyncio.sleep(random.uniform(0.005, 0.02) * n)  # noqa: S311 — spreading retries
    raise AssertionError("unreachable")
