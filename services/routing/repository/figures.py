"""The counts behind the queue figures, per interval, pool and channel (contact work only)."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.routing.domain.figures import IntervalCounts
from shared.db import Conn

COUNTS = """
WITH w AS (
    SELECT w.pool, w.channel, w.created_at, w.abandoned_at,
           (SELECT min(a.started_at) FROM assignment a WHERE a.work_id = w.work_id) AS answered_at
    FROM work_item w
    WHERE w.kind = 'contact' AND w.created_at >= $1 AND w.created_at < $2
      AND ($3::text IS NULL OR w.pool = $3) AND ($4::text IS NULL OR w.channel = $4)
)
SELECT date_bin($5::interval, created_at, $1) AS interval_start, pool, channel, count(*) AS arrived,
       count(*) FILTER (WHERE abandoned_at IS NOT NULL AND answered_at IS NULL) AS abandoned,
       coalesce(array_agg(extract(epoch FROM answered_at - created_at)::float8)
                FILTER (WHERE answered_at IS NOT NULL), '{}') AS waits
FROM w GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""


async def interval_counts(
    conn: Conn, *, since: datetime, until: datetime, interval: timedelta, pool: str | None, channel: str | None
) -> list[IntervalCounts]:
    rows = await conn.fetch(COUNTS, since, until, pool, channel, interval)
    return [
        IntervalCounts(
            interval_start=r["interval_start"],
            pool=r["pool"],
            channel=r["channel"],
            arrived=r["arrived"],
            abandoned=r["abandoned"],
            waits_s=tuple(max(0.0, w) for w in r["waits"]),
        )
        for r in rows
    ]
