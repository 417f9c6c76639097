"""The search log (every lookup and suggestion, clicks and votes), the gaps report, and contact context.

Suggestions are logged in their consumer transaction. Lookups go through `SearchLogBuffer`: the request only
appends its record, and a background task writes what accumulated in one multi-row statement every
`search_log_flush_s` (sooner when `search_log_batch` records wait). A click or vote on a search still in the
buffer writes the buffer first; the gaps report does too. What a crash (not a shutdown, which flushes) can lose
is the last fraction of a second of lookups: rows of an analytics log, never an article, a workflow step or a
suggestion sent to an agent; a vote on such a lost search answers 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Conn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchRecord:
    search_id: uuid.UUID
    source: str
    """`lookup` (an agent's search) or `suggestion` (computed for a contact)."""
    actor: str
    query: str
    query_key: str
    language: str | None
    filters: dict[str, Any]
    result_ids: Sequence[uuid.UUID]
    result_count: int
    searched_at: datetime


INSERT_SEARCH = """
INSERT INTO search_log (search_id, source, actor, query, query_key, language, filters, result_count, result_ids,
                        searched_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
"""


async def record_search(conn: Conn, record: SearchRecord) -> None:
    await conn.execute(
        INSERT_SEARCH,
        record.search_id,
        record.source,
        record.actor,
        record.query,
        record.query_key,
        record.language,
        record.filters,
        record.result_count,
        list(record.result_ids),
        record.searched_at,
    )


INSERT_SEARCHES = INSERT_SEARCH.rstrip() + " ON CONFLICT (search_id) DO NOTHING"


async def record_searches(conn: Conn, records: Sequence[SearchRecord]) -> None:
    """Many records in one pipelined batch, atomically (a retried batch skips rows already written)."""
    await conn.executemany(
        INSERT_SEARCHES,
        [
            (
                r.search_id,
                r.source,
                r.actor,
                r.query,
                r.query_key,
                r.language,
                r.filters,
                r.result_count,
                list(r.result_ids),
                r.searched_at,
            )
            for r in records
        ],
    )


SELECT_SEARCH = "SELECT result_ids FROM search_log WHERE search_id = $1"


async def search_results(conn: Conn, search_id: uuid.UUID) -> list[uuid.UUID] | None:
    row = await conn.fetchrow(SELECT_SEARCH, search_id)
    return None if row is None else list(row["result_ids"])


INSERT_FEEDBACK = """
INSERT INTO search_feedback (search_id, article_id, kind, helpful, actor, at) VALUES ($1, $2, $3, $4, $5, $6)
"""


async def record_feedback(
    conn: Conn,
    *,
    search_id: uuid.UUID,
    article_id: uuid.UUID | None,
    kind: str,
    helpful: bool | None,
    actor: str,
    now: datetime,
) -> None:
    await conn.execute(INSERT_FEEDBACK, search_id, article_id, kind, helpful, actor, now)


@dataclass(frozen=True)
class Gap:
    query: str
    searches: int
    zero_results: int
    unhelpful_votes: int
    helpful_votes: int
    clicks: int
    last_searched_at: datetime


# A query is a gap when it found nothing, or when searchers said its results did not help more often than not.
GAPS = """
WITH searches AS (
    SELECT query_key, count(*) AS searches, count(*) FILTER (WHERE result_count = 0) AS zero_results,
           max(searched_at) AS last_searched_at, min(query) AS query
    FROM search_log
    WHERE searched_at >= $1 AND ($3::text IS NULL OR source = $3)
    GROUP BY query_key
), votes AS (
    SELECT s.query_key,
           count(*) FILTER (WHERE f.kind = 'vote' AND f.helpful = false) AS unhelpful,
           count(*) FILTER (WHERE f.kind = 'vote' AND f.helpful = true) AS helpful,
           count(*) FILTER (WHERE f.kind = 'click') AS clicks
    FROM search_feedback f JOIN search_log s ON s.search_id = f.search_id
    WHERE s.searched_at >= $1 AND ($3::text IS NULL OR s.source = $3)
    GROUP BY s.query_key
)
SELECT s.query, s.searches, s.zero_results, coalesce(v.unhelpful, 0) AS unhelpful_votes,
       coalesce(v.helpful, 0) AS helpful_votes, coalesce(v.clicks, 0) AS clicks, s.last_searched_at
FROM searches s LEFT JOIN votes v USING (query_key)
WHERE s.zero_results > 0 OR coalesce(v.unhelpful, 0) > coalesce(v.helpful, 0)
ORDER BY s.zero_results + coalesce(v.unhelpful, 0) DESC, s.searches DESC, s.query
LIMIT $2
"""


async def gaps(conn: Conn, *, since: datetime, limit: int, source: str | None) -> list[Gap]:
    return [Gap(**dict(r)) for r in await conn.fetch(GAPS, since, limit, source)]


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
                log.warning("search log: %d lookups wait, write failed: %s", len(self._pending), exc)
                if stopping:
                    log.error("search log: %d lookups not written at shutdown", len(self._pending))
            if stopping:
                return

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()


# --- contact context ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContactContext:
    contact_id: uuid.UUID
    channel: str
    language: str | None
    category: str
    suggested_ids: tuple[uuid.UUID, ...]


SELECT_CONTEXT = """
SELECT contact_id, channel, language, category, suggested_ids FROM contact_context WHERE contact_id = $1
FOR UPDATE
"""


async def get_contact_context(conn: Conn, contact_id: uuid.UUID) -> ContactContext | None:
    row = await conn.fetchrow(SELECT_CONTEXT, contact_id)
    if row is None:
        return None
    return ContactContext(
        contact_id=row["contact_id"],
        channel=row["channel"],
        language=row["language"],
        category=row["category"],
        suggested_ids=tuple(row["suggested_ids"]),
    )


UPSERT_CONTEXT = """
INSERT INTO contact_context (contact_id, channel, language, category, suggested_ids, updated_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (contact_id) DO UPDATE SET channel = EXCLUDED.channel, language = EXCLUDED.language,
    category = EXCLUDED.category, suggested_ids = EXCLUDED.suggested_ids, updated_at = EXCLUDED.updated_at
"""


async def save_contact_context(conn: Conn, context: ContactContext, *, now: datetime) -> None:
    await conn.execute(
        UPSERT_CONTEXT,
        context.contact_id,
        context.channel,
        context.language,
        context.category,
        list(context.suggested_ids),
        now,
    )
