"""The durable invitation timer: invitations are rows; one step sends what is due and expires what lapsed.

`fire_due(pool, now=…)` is the single step tests call; the service runs it every `scheduler_interval_s`.
Rows are claimed with `FOR UPDATE SKIP LOCKED`, so several instances share the work, and each row's change
commits with its outbound message: a restart neither loses nor repeats an invitation.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime, timedelta

import asyncpg

from services.feedback import repository as repo
from services.feedback.handlers import Links, expire_invitation, send_invitation
from services.feedback.handlers.figures import erase_comments
from services.feedback.handlers.settings import SettingsCache
from shared.clock import Clock
from shared.faults import Backoff, pause, transient, unavailable
from shared.redact import describe
from shared.tx import Tx

log = logging.getLogger(__name__)


async def fire_due(pool: asyncpg.Pool, *, now: datetime, links: Links, batch: int = 200) -> Counter[str]:
    """Handle everything due at `now`, batch by batch; returns counts by outcome (sent, deferred, skipped,
    expired)."""
    outcomes: Counter[str] = Counter()
    while True:
        async with pool.acquire() as conn, conn.transaction():
            tx = Tx(conn=conn, now=now)
            due = await repo.lock_due(conn, now=now, limit=batch)
            for invitation in due:
                outcomes[await send_invitation(tx, invitation, links=links)] += 1
            lapsed = await repo.lock_expired(conn, now=now, limit=batch)
            for invitation in lapsed:
                await expire_invitation(tx, invitation)
            outcomes["expired"] += len(lapsed)
        if len(due) < batch and len(lapsed) < batch:
            return outcomes


async def purge_comments(pool: asyncpg.Pool, *, now: datetime, retention: timedelta) -> int:
    """Erase comments past retention, and record the destruction itself (RULES.md, Security)."""
    async with pool.acquire() as conn, conn.transaction():
        return await erase_comments(Tx(conn=conn, now=now), retention=retention)


class Scheduler:
    """Runs `fire_due` every `interval_s` until stopped, and the comment purge hourly with the retention in force
    (admin data, `settings`); while the database is away it waits (backoff with jitter) and tries again."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        links: Links,
        *,
        interval_s: float,
        batch: int,
        settings: SettingsCache,
        backoff: Backoff | None = None,
    ) -> None:
        self.pool = pool
        self.clock = clock
        self.links = links
        self.interval_s = interval_s
        self.batch = batch
        self.settings = settings
        self.outcomes: Counter[str] = Counter()
        self.backoff = backoff or Backoff()
        self._waiting_for: str | None = None
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    def trouble(self) -> str | None:
        return self._waiting_for

    async def purge(self, now: datetime) -> int:
        """Erase the comments past the retention in force at `now`; returns how many."""
        async with self.pool.acquire() as conn:
            days = (await self.settings.get(conn)).comment_retention_days
        purged = await purge_comments(self.pool, now=now, retention=timedelta(days=days))
        if purged:
            log.info("erased %d survey comments past retention", purged)
        return purged

    async def run(self) -> None:
        last_purge: datetime | None = None
        while not self._stop.is_set():
            now = self.clock.now()
            try:
                self.outcomes.update(await fire_due(self.pool, now=now, links=self.links, batch=self.batch))
                if last_purge is None or now - last_purge > timedelta(hours=1):
                    await self.purge(now)
                    last_purge = now
            except Exception as exc:
                if not transient(exc):
                    raise
                delay = self.backoff.next()
                if unavailable(exc):
                    self._waiting_for = f"database: {describe(exc)}"
                log.warning("survey scheduler: %s; retrying in %.1fs", describe(exc), delay)
                await pause(self._stop, delay)
                continue
            self.backoff.reset()
            self._waiting_for = None
            await pause(self._stop, self.interval_s)
