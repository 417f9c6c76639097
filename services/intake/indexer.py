"""Keeps contact search terms current: a background loop that indexes contacts created or written to since
their terms were made, a batch per transaction (rows locked with SKIP LOCKED, so instances share the work).
Off the accept path: a contact is searchable within about a second of arriving."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from services.intake.domain.search import terms
from services.intake.repository import search
from shared.redact import describe

log = logging.getLogger(__name__)


class SearchIndexer:
    def __init__(self, pool: asyncpg.Pool, *, batch: int = 500, idle_s: float = 1.0) -> None:
        self.pool = pool
        self.batch = batch
        self.idle_s = idle_s
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def step(self) -> int:
        """Index one batch; how many contacts it indexed."""
        async with self.pool.acquire() as conn, conn.transaction():
            stale = await search.stale_contacts(conn, limit=self.batch)
            if stale:
                await search.set_terms(
                    conn, [(cid, at, terms("\n".join((subject, *texts)))) for cid, subject, at, texts in stale]
                )
        return len(stale)

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                if await self.step() >= self.batch:
                    continue
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("search indexer: %s; trying again in %.0f s", describe(exc), self.idle_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.idle_s)
