"""Every service's housekeeping: forgets delivery records no redelivery or trace can need any more.

- inbox rows (handled event ids) older than `inbox_retention_s`: longer than the topics' retention (7 days),
  so a redelivered event is always still recognised;
- journeys (the trace a contact's journey began in) first seen more than `journey_retention_s` ago: later work
  on such a contact starts a new trace instead of continuing the old one.

A service adds its own retention as `Chore`s (`ServiceSpec.chores`: intake's Idempotency-Keys and contact
content, every service's audit, …), run in the same transaction; each chore that destroys records leaves a
destruction record (`destruction_record`: what, how many, older than when, under which retention — RULES.md
"Security"). `housekeep(...)` is the single step (tests call it with any `now`); `Housekeeping.run` repeats it
every `housekeeping_interval_s` until stopped (after a failure with the database away, as soon as it is back).
(Feedback's comment retention runs with its survey scheduler, which owns those rows' other deadlines.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from shared import audit
from shared.clock import Clock
from shared.db import Conn
from shared.faults import Backoff, pause, transient
from shared.inbox import purge_before
from shared.redact import describe

log = logging.getLogger(__name__)

PURGE_JOURNEYS = "DELETE FROM journeys WHERE first_seen_at < $1"


async def purge_journeys_before(conn: Conn, cutoff: datetime) -> int:
    status = await conn.execute(PURGE_JOURNEYS, cutoff)
    return int(status.rsplit(" ", 1)[-1])


@dataclass(frozen=True)
class Retention:
    inbox: timedelta
    journeys: timedelta


@dataclass(frozen=True)
class Chore:
    """A service's own retention: `purge(conn, cutoff)` forgets its rows older than `now - retention` and says
    how many. A chore that destroys personal data or records (`recorded`) leaves a destruction record."""

    name: str
    retention: timedelta
    purge: Callable[[Conn, datetime], Awaitable[int]]
    recorded: bool = True


Purge = Callable[[Conn, datetime], Awaitable[int]]


def delete_older_than(table: str, column: str, *, batch: int = 10_000) -> Purge:
    """A purge that deletes up to `batch` rows of `table` whose `column` is before the cutoff (the rest on the
    next round). Table and column are the service's own constants, never input."""
    sql = (
        f"WITH doomed AS (SELECT ctid FROM {table} WHERE {column} < $1 LIMIT {batch}) "  # noqa: S608
        f"DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM doomed)"
    )

    async def purge(conn: Conn, cutoff: datetime) -> int:
        status = await conn.execute(sql, cutoff)
        return int(status.rsplit(" ", 1)[-1])

    return purge


def audit_chore(days: int) -> Chore:
    """The service's audit (`shared/audit.py`'s one table, the access audit included), kept `days` (RULES.md: six
    years)."""
    return Chore("audit records", timedelta(days=days), delete_older_than(audit.TABLE, "at"))


RECORD_DESTRUCTION = """
INSERT INTO destruction_record (at, what, rows, cutoff, retention_days) VALUES ($1, $2, $3, $4, $5)
"""


async def record_destruction(
    conn: Conn, *, what: str, rows: int, cutoff: datetime, retention: timedelta, now: datetime
) -> None:
    await conn.execute(RECORD_DESTRUCTION, now, what, rows, cutoff, retention.total_seconds() / 86400)


@dataclass(frozen=True)
class Forgotten:
    inbox_rows: int
    journeys: int
    chores: Mapping[str, int] = field(default_factory=dict)


async def housekeep(
    pool: asyncpg.Pool, *, now: datetime, retention: Retention, chores: Sequence[Chore] = ()
) -> Forgotten:
    async with pool.acquire() as conn, conn.transaction():
        purged: dict[str, int] = {}
        for chore in chores:
            cutoff = now - chore.retention
            purged[chore.name] = await chore.purge(conn, cutoff)
            if chore.recorded and purged[chore.name]:
                await record_destruction(
                    conn,
                    what=chore.name,
                    rows=purged[chore.name],
                    cutoff=cutoff,
                    retention=chore.retention,
                    now=now,
                )
        forgotten = Forgotten(
            inbox_rows=await purge_before(conn, now - retention.inbox),
            journeys=await purge_journeys_before(conn, now - retention.journeys),
            chores=purged,
        )
    if forgotten.inbox_rows or forgotten.journeys or any(forgotten.chores.values()):
        log.info(
            "housekeeping: forgot %d inbox rows and %d journeys%s",
            forgotten.inbox_rows,
            forgotten.journeys,
            "".join(f", {n} {name}" for name, n in forgotten.chores.items() if n),
        )
    return forgotten


class Housekeeping:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        *,
        interval_s: float,
        retention: Retention,
        chores: Sequence[Chore] = (),
        backoff: Backoff | None = None,
    ) -> None:
        self.pool = pool
        self.clock = clock
        self.interval_s = interval_s
        self.retention = retention
        self.chores = tuple(chores)
        self.backoff = backoff or Backoff()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await housekeep(self.pool, now=self.clock.now(), retention=self.retention, chores=self.chores)
            except Exception as exc:
                if not transient(exc):
                    raise
                delay = min(self.backoff.next(), self.interval_s)
                log.warning("housekeeping: %s; trying again in %.1f s", describe(exc), delay)
                await pause(self._stop, delay)
                continue
            self.backoff.reset()
            await pause(self._stop, self.interval_s)
