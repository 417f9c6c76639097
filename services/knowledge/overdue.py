"""The overdue watch: articles past their review-by date are announced to their owners (RULES.md, Knowledge:
"alerts when overdue"), not only listed for whoever asks (`GET /v1/articles/overdue`).

Every `interval_s` (an hour) `check()` announces, batch by batch, each published article whose review-by date
has passed and was not announced yet: `knowledge.article_overdue` on knowledge.events, which routing shows on the
owner's desktop. The database is the truth: the announced date is recorded in the transaction that stages the
event, so a restart, a second instance or the next hour never repeats it; a new review-by date is announced in
its turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from services.knowledge.handlers.overdue import announce_overdue
from shared.clock import Clock
from shared.redact import describe
from shared.tx import Tx

log = logging.getLogger(__name__)


class OverdueWatch:
    def __init__(self, pool: asyncpg.Pool, clock: Clock, *, interval_s: float, batch: int = 200) -> None:
        self.pool = pool
        self.clock = clock
        self.interval_s = interval_s
        self.batch = batch
        self.announced = 0
        """Articles this instance announced since it started."""
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def check(self) -> int:
        """One look: announce every overdue article not announced yet; returns how many were."""
        now = self.clock.now()
        announced = 0
        while True:
            async with self.pool.acquire() as conn, conn.transaction():
                found = await announce_overdue(Tx(conn=conn, now=now), limit=self.batch)
            announced += len(found)
            self.announced += len(found)
            if len(found) < self.batch:
                break
        if announced:
            log.info("announced %d articles past their review-by date to their owners", announced)
        return announced

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.check()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("overdue watch: %s; looking again in %.0f s", describe(exc), self.interval_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval_s)
