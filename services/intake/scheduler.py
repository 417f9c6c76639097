"""Intake's housekeeping loop: forgets Idempotency-Keys once no retry can need them (inbox rows and journeys:
`shared/housekeeping.py`, in every service).

`purge_due(now=…)` is the single step (tests call it directly); `run` repeats it every interval until stopped.
Natural keys (Message-ID, call and chat ids) live on the messages themselves and are never purged here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.intake.repository.contacts import purge_idempotency_keys
from shared.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Purged:
    idempotency_keys: int


async def purge_due(pool: asyncpg.Pool, *, now: datetime, idempotency_retention: timedelta) -> Purged:
    async with pool.acquire() as conn, conn.transaction():
        keys = await purge_idempotency_keys(conn, before=now - idempotency_retention)
    if keys:
        log.info("intake housekeeping: forgot %d idempotency keys", keys)
    return Purged(keys)


class Housekeeping:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        *,
        interval_s: float,
        idempotency_retention: timedelta,
    ) -> None:
        self.pool = pool
        self.clock = clock
        self.interval_s = interval_s
        self.idempotency_retention = idempotency_retention
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        while not self._stop.is_set():
            await purge_due(
                self.pool,
                now=self.clock.now(),
                idempotency_retention=self.idempotency_retention,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval_s)
