"""Work items (`work_item`, read with the customer's last agent and the open callback): create, read, lock,
list, mark offered, save whole."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.routing.domain.model import Requirement
from services.routing.domain.records import WorkRecord
from shared.db import Conn

WORK_COLUMNS = """
w.work_id, w.contact_id, w.kind, w.pool, w.channel, w.customer_id, w.grade, w.work_class, w.category, w.language,
w.requirements, w.state, w.enqueued_at, w.sla_warned, w.escalation_level, w.target_agent_id, w.hold_until,
w.target_team, w.first_owner_id, w.owner_id, w.slot_agent_id, w.excluded, w.offers_failed, w.pending_department,
w.pending_until, w.wrap_up_until, w.solution_at, w.resolution_code, w.final_note, w.fcr, w.customer_notified,
w.resolved_at, w.closed_at, w.reopened, w.reason, w.created_at, w.updated_at, l.agent_id AS last_agent_id,
w.scheduled_until, w.abandoned_at, cb.mode AS callback_mode, cb.attempts AS callback_attempts,
cb.phone AS callback_phone
"""
FROM_WORK = (
    " FROM work_item w LEFT JOIN customer_last_agent l ON l.customer_id = w.customer_id"
    " LEFT JOIN callback cb ON cb.work_id = w.work_id AND cb.done_at IS NULL "
)


def work_record(row: asyncpg.Record | dict[str, Any]) -> WorkRecord:
    values = dict(row)
    values["requirements"] = tuple(Requirement(str(r["skill"]), int(r["level"])) for r in row["requirements"])
    values["excluded"] = tuple(row["excluded"])
    return WorkRecord(**values)


INSERT_WORK = """
INSERT INTO work_item (work_id, contact_id, kind, pool, channel, customer_id, grade, work_class, category,
                       language, requirements, state, enqueued_at, target_team, first_owner_id, reason,
                       created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17)
ON CONFLICT (contact_id, kind) WHERE state <> 'closed' DO NOTHING
RETURNING
""" + WORK_COLUMNS.replace("w.", "").replace("l.agent_id AS last_agent_id", "NULL::text AS last_agent_id").replace(
    "cb.mode AS callback_mode, cb.attempts AS callback_attempts,\ncb.phone AS callback_phone",
    "NULL::text AS callback_mode, 0 AS callback_attempts, NULL::text AS callback_phone",
)


async def insert_work(
    conn: Conn,
    *,
    work_id: uuid.UUID,
    contact_id: uuid.UUID,
    kind: str,
    pool: str,
    channel: str,
    customer_id: uuid.UUID | None,
    grade: str,
    work_class: str,
    category: str | None,
    language: str | None,
    requirements: Sequence[Requirement],
    state: str,
    target_team: str | None,
    first_owner_id: str | None,
    reason: str,
    now: datetime,
) -> WorkRecord | None:
    """None when the contact already has open work of this kind (a repeat)."""
    reqs = [{"skill": r.skill, "level": r.level} for r in requirements]
    row = await conn.fetchrow(
        INSERT_WORK,
        work_id,
        contact_id,
        kind,
        pool,
        channel,
        customer_id,
        grade,
        work_class,
        category,
        language,
        reqs,
        state,
        now,
        target_team,
        first_owner_id,
        reason,
        now,
    )
    return work_record(row) if row else None


SELECT_WORK = "SELECT" + WORK_COLUMNS + FROM_WORK + "WHERE w.work_id = $1"
SELECT_WORK_FOR_UPDATE = SELECT_WORK + " FOR UPDATE OF w"


async def get_work(conn: Conn, work_id: uuid.UUID, *, for_update: bool = False) -> WorkRecord | None:
    row = await conn.fetchrow(SELECT_WORK_FOR_UPDATE if for_update else SELECT_WORK, work_id)
    return work_record(row) if row else None


SELECT_WORKS = "SELECT" + WORK_COLUMNS + FROM_WORK + "WHERE w.work_id = ANY($1::uuid[])"


async def get_works(conn: Conn, work_ids: Sequence[uuid.UUID]) -> list[WorkRecord]:
    return [work_record(r) for r in await conn.fetch(SELECT_WORKS, list(work_ids))]


LOCK_WORKS = SELECT_WORKS + " ORDER BY w.work_id FOR UPDATE OF w SKIP LOCKED"


async def lock_works(conn: Conn, work_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, WorkRecord]:
    """Lock the work items not locked by another transaction (in key order; never waits): those are left out."""
    return {r["work_id"]: work_record(r) for r in await conn.fetch(LOCK_WORKS, list(work_ids))}


MARK_OFFERED = """
UPDATE work_item w SET state = 'offered', slot_agent_id = u.agent_id, updated_at = $3
FROM unnest($1::uuid[], $2::text[]) AS u(work_id, agent_id)
WHERE w.work_id = u.work_id
"""


async def mark_offered(conn: Conn, *, slots: Sequence[tuple[uuid.UUID, str]], now: datetime) -> None:
    """Work items (locked by the caller) now offered: each holds a slot of its agent."""
    await conn.execute(MARK_OFFERED, [w for w, _ in slots], [a for _, a in slots], now)


SELECT_OPEN_FOR_CONTACT = (
    "SELECT"
    + WORK_COLUMNS
    + FROM_WORK
    + "WHERE w.contact_id = $1 AND w.kind = $2 AND w.state <> 'closed' FOR UPDATE OF w"
)
SELECT_LATEST_FOR_CONTACT = (
    "SELECT" + WORK_COLUMNS + FROM_WORK + "WHERE w.contact_id = $1 AND w.kind = $2 "
    "ORDER BY w.created_at DESC LIMIT 1 FOR UPDATE OF w"
)


async def lock_work_for_contact(conn: Conn, contact_id: uuid.UUID, *, kind: str = "contact") -> WorkRecord | None:
    """The contact's open work of `kind`, else its latest closed one; locked."""
    row = await conn.fetchrow(SELECT_OPEN_FOR_CONTACT, contact_id, kind)
    if row is None:
        row = await conn.fetchrow(SELECT_LATEST_FOR_CONTACT, contact_id, kind)
    return work_record(row) if row else None


SELECT_IN_POOL = (
    "SELECT" + WORK_COLUMNS + FROM_WORK + "WHERE w.pool = $1 AND w.state = ANY($2::text[]) "
    "AND ($3::timestamptz IS NULL OR w.updated_at > $3)"
)


async def works_in_pool(
    conn: Conn, *, pool: str, states: Sequence[str], changed_since: datetime | None = None
) -> list[WorkRecord]:
    return [work_record(r) for r in await conn.fetch(SELECT_IN_POOL, pool, list(states), changed_since)]


SELECT_OWNED = (
    "SELECT"
    + WORK_COLUMNS
    + FROM_WORK
    + "WHERE (w.owner_id = $1 OR w.slot_agent_id = $1) AND w.state <> 'closed' "
    "ORDER BY w.enqueued_at"
)


async def works_of_agent(conn: Conn, agent_id: str) -> list[WorkRecord]:
    return [work_record(r) for r in await conn.fetch(SELECT_OWNED, agent_id)]


LIST_WORK = (
    "SELECT" + WORK_COLUMNS + FROM_WORK + "WHERE w.state = ANY($1::text[]) AND ($2::text IS NULL OR w.pool = $2) "
    "AND ($3::text IS NULL OR w.target_team = $3) ORDER BY w.enqueued_at LIMIT $4"
)


async def list_work(
    conn: Conn, *, states: Sequence[str], pool: str | None, team: str | None, limit: int
) -> list[WorkRecord]:
    return [work_record(r) for r in await conn.fetch(LIST_WORK, list(states), pool, team, limit)]


SAVE_WORK = """
UPDATE work_item SET
    pool = $2, channel = $3, grade = $4, work_class = $5, category = $6, language = $7, requirements = $8,
    state = $9, enqueued_at = $10, sla_warned = $11, escalation_level = $12, target_agent_id = $13,
    hold_until = $14, target_team = $15, first_owner_id = $16, owner_id = $17, slot_agent_id = $18,
    excluded = $19, offers_failed = $20, pending_department = $21, pending_until = $22, wrap_up_until = $23,
    solution_at = $24, resolution_code = $25, final_note = $26, fcr = $27, customer_notified = $28,
    resolved_at = $29, closed_at = $30, reopened = $31, reason = $32, updated_at = $33, scheduled_until = $34,
    abandoned_at = $35
WHERE work_id = $1
"""


async def save_work(conn: Conn, work: WorkRecord) -> None:
    """Write back every mutable column of a work item read `for_update` in the same transaction."""
    w = work
    await conn.execute(
        SAVE_WORK,
        w.work_id,
        w.pool,
        w.channel,
        w.grade,
        w.work_class,
        w.category,
        w.language,
        [{"skill": r.skill, "level": r.level} for r in w.requirements],
        w.state,
        w.enqueued_at,
        w.sla_warned,
        w.escalation_level,
        w.target_agent_id,
        w.hold_until,
        w.target_team,
        w.first_owner_id,
        w.owner_id,
        w.slot_agent_id,
        list(w.excluded),
        w.offers_failed,
        w.pending_department,
        w.pending_until,
        w.wrap_up_until,
        w.solution_at,
        w.resolution_code,
        w.final_note,
        w.fcr,
        w.customer_notified,
        w.resolved_at,
        w.closed_at,
        w.reopened,
        w.reason,
        w.updated_at,
        w.scheduled_until,
        w.abandoned_at,
    )
