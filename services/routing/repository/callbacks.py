"""Callbacks beside their work: the number to call, the booked time, the attempts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from shared.db import Conn

REQUEST = """
INSERT INTO callback (work_id, mode, phone, requested_at, due_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (work_id) DO UPDATE SET mode = EXCLUDED.mode, phone = coalesce(EXCLUDED.phone, callback.phone),
    due_at = EXCLUDED.due_at, done_at = NULL
"""


async def request(
    conn: Conn, *, work_id: uuid.UUID, mode: str, phone: str | None, due_at: datetime | None, now: datetime
) -> None:
    await conn.execute(REQUEST, work_id, mode, phone, now, due_at)


async def set_due(conn: Conn, *, work_id: uuid.UUID, due_at: datetime) -> None:
    await conn.execute("UPDATE callback SET due_at = $2 WHERE work_id = $1", work_id, due_at)


ATTEMPTED = """
UPDATE callback SET attempts = attempts + 1, last_outcome = $2, last_at = $3,
                    done_at = CASE WHEN $4 THEN $3 ELSE done_at END
WHERE work_id = $1 AND done_at IS NULL
RETURNING attempts
"""


async def attempted(conn: Conn, *, work_id: uuid.UUID, outcome: str, at: datetime, done: bool) -> int | None:
    """Count one attempt; the attempts so far, or None when the work has no open callback."""
    value = await conn.fetchval(ATTEMPTED, work_id, outcome, at, done)
    return None if value is None else int(value)


SELECT = "SELECT mode, phone, due_at, attempts, last_outcome, done_at FROM callback WHERE work_id = $1"


async def get(conn: Conn, work_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(SELECT, work_id)
    return None if row is None else dict(row)
