"""SQL for the search log (every lookup and suggestion), clicks and votes on it, and the gaps report."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.db import Conn


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
