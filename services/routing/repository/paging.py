"""The on-call list and the emergency pages (the durable timers of emergency contacts)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.routing.domain.paging import EmergencyPage, OnCall
from shared.db import Conn

# --- the on-call list -----------------------------------------------------------------------------------------

SELECT_ON_CALL = "SELECT on_call_id, name, phone, active FROM on_call ORDER BY on_call_id"


async def list_on_call(conn: Conn, *, active_only: bool = False) -> list[OnCall]:
    return [OnCall(**dict(r)) for r in await conn.fetch(SELECT_ON_CALL) if r["active"] or not active_only]


UPSERT_ON_CALL = """
INSERT INTO on_call (on_call_id, name, phone, active, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (on_call_id) DO UPDATE SET name = EXCLUDED.name, phone = EXCLUDED.phone, active = EXCLUDED.active,
    updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
RETURNING (xmax = 0) AS created
"""


async def put_on_call(conn: Conn, entry: OnCall, *, by: str, now: datetime) -> bool:
    """True when the entry is new."""
    return bool(
        await conn.fetchval(UPSERT_ON_CALL, entry.on_call_id, entry.name, entry.phone, entry.active, now, by)
    )


DELETE_ON_CALL = "DELETE FROM on_call WHERE on_call_id = $1"


async def delete_on_call(conn: Conn, on_call_id: str) -> bool:
    return str(await conn.execute(DELETE_ON_CALL, on_call_id)) == "DELETE 1"


# --- emergency pages -------------------------------------------------------------------------------------------

PAGE_COLUMNS = "contact_id, work_id, pool, due_at, created_at, acknowledged_at, acknowledged_by, paged_at"


def _page(row: asyncpg.Record) -> EmergencyPage:
    return EmergencyPage(**dict(row))


INSERT_PAGE = """
INSERT INTO emergency_page (contact_id, work_id, pool, due_at, created_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (contact_id) DO NOTHING
"""


async def start_page(
    conn: Conn, *, contact_id: uuid.UUID, work_id: uuid.UUID, pool: str, due_at: datetime, now: datetime
) -> bool:
    """The contact's page timer; False when the contact has one already (a contact is paged at most once)."""
    return str(await conn.execute(INSERT_PAGE, contact_id, work_id, pool, due_at, now)) == "INSERT 0 1"


SELECT_PAGE = f"SELECT {PAGE_COLUMNS} FROM emergency_page WHERE contact_id = $1"  # noqa: S608 — a constant


async def get_page(conn: Conn, contact_id: uuid.UUID, *, for_update: bool = False) -> EmergencyPage | None:
    row = await conn.fetchrow(SELECT_PAGE + (" FOR UPDATE" if for_update else ""), contact_id)
    return None if row is None else _page(row)


SELECT_PAGES = f"SELECT {PAGE_COLUMNS} FROM emergency_page WHERE contact_id = ANY($1::uuid[])"  # noqa: S608


async def get_pages(conn: Conn, contact_ids: Sequence[uuid.UUID]) -> list[EmergencyPage]:
    return [_page(r) for r in await conn.fetch(SELECT_PAGES, list(contact_ids))] if contact_ids else []


SELECT_PENDING = f"""
SELECT {PAGE_COLUMNS} FROM emergency_page WHERE pool = $1 AND paged_at IS NULL AND acknowledged_at IS NULL
"""  # noqa: S608 — a constant


async def pending_in_pool(conn: Conn, pool: str) -> list[EmergencyPage]:
    """The pages still to fire of a pool: the dispatcher that takes the pool (after a restart too) sets them."""
    return [_page(r) for r in await conn.fetch(SELECT_PENDING, pool)]


MARK_PAGED = "UPDATE emergency_page SET paged_at = $2, recipients = $3 WHERE contact_id = $1"


async def mark_paged(conn: Conn, contact_id: uuid.UUID, *, at: datetime, recipients: int) -> None:
    await conn.execute(MARK_PAGED, contact_id, at, recipients)


ACKNOWLEDGE = """
UPDATE emergency_page SET acknowledged_at = $2, acknowledged_by = $3
WHERE contact_id = $1 AND acknowledged_at IS NULL
"""


async def acknowledge(conn: Conn, contact_id: uuid.UUID, *, by: str, at: datetime) -> None:
    await conn.execute(ACKNOWLEDGE, contact_id, at, by)


ACCEPTED_BY_TIER = """
SELECT a.agent_id FROM assignment a JOIN agent g ON g.agent_id = a.agent_id
WHERE a.work_id = $1 AND g.tier = $2
ORDER BY a.started_at
LIMIT 1
"""


async def accepted_by_tier(conn: Conn, work_id: uuid.UUID, tier: str) -> str | None:
    """The first agent of `tier` the work was ever assigned to (accepted, or given by a supervisor)."""
    value = await conn.fetchval(ACCEPTED_BY_TIER, work_id, tier)
    return None if value is None else str(value)
