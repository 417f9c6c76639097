"""A work item's history (`work_history`), written with the change notice to the pool's owner, and read back."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shared.db import Conn

INSERT_HISTORY = "INSERT INTO work_history (work_id, at, action, actor, detail) VALUES ($1, $2, $3, $4, $5)"


async def add_history(
    conn: Conn, *, work_id: uuid.UUID, action: str, actor: str, detail: dict[str, Any], now: datetime
) -> None:
    await conn.execute(INSERT_HISTORY, work_id, now, action, actor, detail)


INSERT_HISTORY_AND_NOTIFY = """
WITH staged AS (INSERT INTO work_history (work_id, at, action, actor, detail) VALUES ($1, $2, $3, $4, $5))
SELECT pg_notify('routing_change', $6)
"""


async def add_history_and_notify(
    conn: Conn, *, work_id: uuid.UUID, action: str, actor: str, detail: dict[str, Any], now: datetime, notice: str
) -> None:
    """The history row and the change notice to the pool's owner, in one round trip."""
    await conn.execute(INSERT_HISTORY_AND_NOTIFY, work_id, now, action, actor, detail, notice)


SELECT_HISTORY = "SELECT at, action, actor, detail FROM work_history WHERE work_id = $1 ORDER BY work_history_id"


async def history_of(conn: Conn, work_id: uuid.UUID) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(SELECT_HISTORY, work_id)]


ASSIGNED_AT = "SELECT max(at) FROM work_history WHERE work_id = $1 AND action = 'assigned'"


async def assigned_at(conn: Conn, work_id: uuid.UUID) -> datetime | None:
    """When the work's current owner accepted it (the latest assignment)."""
    at: datetime | None = await conn.fetchval(ASSIGNED_AT, work_id)
    return at


INSERT_HISTORIES_AND_NOTIFY = """
WITH staged AS (
    INSERT INTO work_history (work_id, at, action, actor, detail)
    SELECT u.work_id, $2, u.action, u.actor, u.detail
    FROM unnest($1::uuid[], $3::text[], $4::text[], $5::jsonb[]) AS u(work_id, action, actor, detail)
)
SELECT count(pg_notify('routing_change', n)) FROM unnest($6::text[]) AS n
"""


async def add_histories_and_notify(
    conn: Conn,
    *,
    entries: Sequence[tuple[uuid.UUID, str, str, dict[str, Any]]],
    now: datetime,
    notices: Sequence[str],
) -> None:
    """History rows (work, action, actor, detail) and change notices to the pools' owners, in one statement."""
    await conn.execute(
        INSERT_HISTORIES_AND_NOTIFY,
        [e[0] for e in entries],
        now,
        [e[1] for e in entries],
        [e[2] for e in entries],
        [e[3] for e in entries],
        list(notices),
    )


HAS_HISTORY = "SELECT EXISTS (SELECT 1 FROM work_history WHERE work_id = $1 AND action = $2 AND at >= $3)"


async def has_history(conn: Conn, work_id: uuid.UUID, action: str, *, since: datetime) -> bool:
    return bool(await conn.fetchval(HAS_HISTORY, work_id, action, since))
