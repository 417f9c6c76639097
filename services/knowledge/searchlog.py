"""The search-log buffer: lookups are appended by the request and written by a background task in batches.

Suggestions are logged in their consumer transaction (`repository/searchlog.py`). Lookups go through
`SearchLogBuffer`: the request only appends its record, and a background task writes what accumulated in one
multi-row statement every `search_log_flush_s` (sooner when `search_log_batch` records wait). A click or vote on a
search still in the buffer writes the buffer first; the gaps report does too. What a crash (not a shutdown, which
flushes) can lose is the last fraction of a second of lookups: rows of an analytics log, never an article, a
workflow step or a suggestion sent to an agent; a vote on such a lost search answers 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

import asyncpg

from services.knowledge.repository.searchlog import SearchRecord, record_searches
from shared.db import Conn
from shared.redact import describe

log = logging.getLogger(__name__)


class SearchLogBuffer:
    """Lookups waiting to be written; `flush` is the single step, `run` the background loop that calls it."""

    def __init__(self, *, interval_s: float, batch: int, max_pending: int) -> None:
        self.interval_s = interval_s
        self.batch = batch
        self.max_pending = max_pending
        self.dropped = 0
        """Records given up because the database stayed unreachable while `max_pending` accumulated."""
        self._pending: list[SearchRecord] = []
        self._ids: set[uuid.UUID] = set()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stopping = False

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, record: SearchRecord) -> None:
        self._pending.append(record)
        self._ids.add(record.search_id)
        if len(self._pending) > self.max_pending:
            lost = self._pending[: len(self._pending) - self.max_pending]
            del self._pending[: len(lost)]
            self._ids.difference_update(r.search_id for r in lost)
            self.dropped += len(lost)
            log.warning("search log: dropped %d lookups (database unreachable; %d total)", len(lost), self.dropped)
        if len(self._pending) >= self.batch:
            self._wake.set()

    def holds(self, search_id: uuid.UUID) -> bool:
        """Still waiting (or being written right now)."""
        return search_id in self._ids

    async def flush(self, conn: Conn) -> int:
        """Write every waiting record; on failure they stay for the next try. Returns how many were written."""
        async with self._lock:
            batch, self._pending = self._pending, []
            if not batch:
                return 0
            try:
                await record_searches(conn, batch)
            except BaseException:
                self._pending[:0] = batch
                raise
            self._ids.difference_update(r.search_id for r in batch)
            return len(batch)

    async def flush_from(self, pool: asyncpg.Pool) -> int:
        async with pool.acquire() as conn:
            return await self.flush(conn)

    async def run(self, pool: asyncpg.Pool) -> None:
        """Flush every `interval_s` (or at `batch` records) until stopped, then once more. Never dies of a
        database error: the records wait and the next round retries."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()
            stopping = self._stopping
            try:
                await self.flush_from(pool)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("search log: %d lookups wait, write failed: %s", len(self._pending), describe(exc))
                if stopping:
                    log.error("search log: %d lookups not written at shutdown", len(self._pending))
            if stopping:
                return

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
