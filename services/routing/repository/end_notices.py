"""End notices (`end_notice`): each one sent for a work item, and what its delivery receipt reported."""

from __future__ import annotations

import uuid
from datetime import datetime

from shared.db import Conn

INSERT_END_NOTICE = """
INSERT INTO end_notice (message_id, work_id, requested_at, status_at) VALUES ($1, $2, $3, $3)
"""


async def insert_end_notice(conn: Conn, *, message_id: uuid.UUID, work_id: uuid.UUID, now: datetime) -> None:
    await conn.execute(INSERT_END_NOTICE, message_id, work_id, now)


# The notice's work, and whether it is that work's latest notice (only the latest one decides the clear).
REPORT_END_NOTICE = """
WITH updated AS (
    UPDATE end_notice SET status = $2, reason = $3, status_at = $4 WHERE message_id = $1
    RETURNING work_id, requested_at
)
SELECT u.work_id,
       NOT EXISTS (SELECT 1 FROM end_notice n WHERE n.work_id = u.work_id AND n.requested_at > u.requested_at)
           AS latest,
       EXISTS (SELECT 1 FROM end_notice n WHERE n.work_id = u.work_id AND n.status IN ('failed', 'bounced'))
           AS any_failed
FROM updated u
"""


async def report_end_notice(
    conn: Conn, *, message_id: uuid.UUID, status: str, reason: str | None, at: datetime
) -> tuple[uuid.UUID, bool] | None:
    """The notice's work and whether this is its latest notice; None for a notice routing never sent."""
    row = await conn.fetchrow(REPORT_END_NOTICE, message_id, status, reason, at)
    return None if row is None else (row["work_id"], row["latest"])


FAILED_NOTICE = "SELECT EXISTS (SELECT 1 FROM end_notice WHERE work_id = $1 AND status IN ('failed', 'bounced'))"


async def had_failed_notice(conn: Conn, work_id: uuid.UUID) -> bool:
    return bool(await conn.fetchval(FAILED_NOTICE, work_id))
