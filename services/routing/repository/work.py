"""Work items and their contacts: create, read (with the customer's last agent), save whole, history."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.routing.domain.model import Requirement
from services.routing.domain.records import ContactRecord, WorkRecord
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


def _work(row: asyncpg.Record | dict[str, Any]) -> WorkRecord:
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
    return _work(row) if row else None


SELECT_WORK = "SELECT" + WORK_COLUMNS + FROM_WORK + "WHERE w.work_id = $1"
SELECT_WORK_FOR_UPDATE = SELECT_WORK + " FOR UPDATE OF w"


async def get_work(conn: Conn, work_id: uuid.UUID, *, for_update: bool = False) -> WorkRecord | None:
    row = await conn.fetchrow(SELECT_WORK_FOR_UPDATE if for_update else SELECT_WORK, work_id)
    return _work(row) if row else None


SELECT_WORKS = "SELECT" + WORK_COLUMNS + FROM_WORK + "WHERE w.work_id = ANY($1::uuid[])"


async def get_works(conn: Conn, work_ids: Sequence[uuid.UUID]) -> list[WorkRecord]:
    return [_work(r) for r in await conn.fetch(SELECT_WORKS, list(work_ids))]


LOCK_WORKS = SELECT_WORKS + " ORDER BY w.work_id FOR UPDATE OF w SKIP LOCKED"


async def lock_works(conn: Conn, work_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, WorkRecord]:
    """Lock the work items not locked by another transaction (in key order; never waits): those are left out."""
    return {r["work_id"]: _work(r) for r in await conn.fetch(LOCK_WORKS, list(work_ids))}


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
    return _work(row) if row else None


SELECT_IN_POOL = (
    "SELECT" + WORK_COLUMNS + FROM_WORK + "WHERE w.pool = $1 AND w.state = ANY($2::text[]) "
    "AND ($3::timestamptz IS NULL OR w.updated_at > $3)"
)


async def works_in_pool(
    conn: Conn, *, pool: str, states: Sequence[str], changed_since: datetime | None = None
) -> list[WorkRecord]:
    return [_work(r) for r in await conn.fetch(SELECT_IN_POOL, pool, list(states), changed_since)]


SELECT_OWNED = (
    "SELECT"
    + WORK_COLUMNS
    + FROM_WORK
    + "WHERE (w.owner_id = $1 OR w.slot_agent_id = $1) AND w.state <> 'closed' "
    "ORDER BY w.enqueued_at"
)


async def works_of_agent(conn: Conn, agent_id: str) -> list[WorkRecord]:
    return [_work(r) for r in await conn.fetch(SELECT_OWNED, agent_id)]


LIST_WORK = (
    "SELECT" + WORK_COLUMNS + FROM_WORK + "WHERE w.state = ANY($1::text[]) AND ($2::text IS NULL OR w.pool = $2) "
    "AND ($3::text IS NULL OR w.target_team = $3) ORDER BY w.enqueued_at LIMIT $4"
)


async def list_work(
    conn: Conn, *, states: Sequence[str], pool: str | None, team: str | None, limit: int
) -> list[WorkRecord]:
    return [_work(r) for r in await conn.fetch(LIST_WORK, list(states), pool, team, limit)]


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


# --- contacts -------------------------------------------------------------------------------------------------

UPSERT_CONTACT = """
INSERT INTO contact (contact_id, customer_id, grade, channel, subject, text, language, category, priority_class,
                     emergency, attributes, reply_to, received_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (contact_id) DO UPDATE SET
    category = EXCLUDED.category, priority_class = EXCLUDED.priority_class, emergency = EXCLUDED.emergency
"""


async def upsert_contact(conn: Conn, contact: ContactRecord) -> None:
    c = contact
    await conn.execute(
        UPSERT_CONTACT,
        c.contact_id,
        c.customer_id,
        c.grade,
        c.channel,
        c.subject,
        c.text,
        c.language,
        c.category,
        c.priority_class,
        c.emergency,
        dict(c.attributes),
        dict(c.reply_to),
        c.received_at,
    )


SELECT_CONTACT = """
SELECT contact_id, customer_id, grade, channel, subject, text, language, category, priority_class, emergency,
       attributes, reply_to, received_at
FROM contact WHERE contact_id = $1
"""


async def get_contact(conn: Conn, contact_id: uuid.UUID) -> ContactRecord | None:
    row = await conn.fetchrow(SELECT_CONTACT, contact_id)
    return ContactRecord(**dict(row)) if row else None


SELECT_CONTACTS = """
SELECT contact_id, customer_id, grade, channel, subject, text, language, category, priority_class, emergency,
       attributes, reply_to, received_at
FROM contact WHERE contact_id = ANY($1::uuid[])
"""


async def get_contacts(conn: Conn, contact_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ContactRecord]:
    return {
        r["contact_id"]: ContactRecord(**dict(r)) for r in await conn.fetch(SELECT_CONTACTS, list(contact_ids))
    }


UPDATE_CLASSIFICATION = """
UPDATE contact SET category = $2, priority_class = $3, emergency = $4 WHERE contact_id = $1
"""


async def reclassify_contact(
    conn: Conn, *, contact_id: uuid.UUID, category: str, priority_class: str, emergency: bool
) -> None:
    await conn.execute(UPDATE_CLASSIFICATION, contact_id, category, priority_class, emergency)


QUEUE_CONTACTS = """
WITH u AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::text[], $10::bool[], $11::jsonb[], $12::jsonb[], $13::timestamptz[],
                         $14::uuid[], $15::uuid[], $16::text[], $17::text[], $18::text[], $19::timestamptz[],
                         $20::text[], $21::text[])
        AS u(contact_id, customer_id, grade, channel, subject, text, language, category, priority_class, emergency,
             attributes, reply_to, received_at, message_id, work_id, pool, work_class, requirements, enqueued_at,
             reason, notice)
), c AS (
    INSERT INTO contact (contact_id, customer_id, grade, channel, subject, text, language, category,
                         priority_class, emergency, attributes, reply_to, received_at)
    SELECT contact_id, customer_id, grade, channel, subject, text, language, category, priority_class, emergency,
           attributes, reply_to, received_at
    FROM u
    ON CONFLICT (contact_id) DO UPDATE SET
        category = EXCLUDED.category, priority_class = EXCLUDED.priority_class, emergency = EXCLUDED.emergency
), m AS (
    INSERT INTO contact_message (message_id, contact_id, from_customer, text, received_at)
    SELECT message_id, contact_id, true, text, received_at FROM u
    ON CONFLICT (message_id) DO NOTHING
), w AS (
    INSERT INTO work_item (work_id, contact_id, kind, pool, channel, customer_id, grade, work_class, category,
                           language, requirements, state, enqueued_at, reason, created_at, updated_at)
    SELECT work_id, contact_id, 'contact', pool, channel, customer_id, grade, work_class, category, language,
           requirements::jsonb, 'queued', enqueued_at, reason, $22, $22
    FROM u
    ON CONFLICT (contact_id, kind) WHERE state <> 'closed' DO NOTHING
    RETURNING work_id, contact_id, kind, pool, channel, customer_id, grade, work_class, category, language,
        requirements, state, enqueued_at, sla_warned, escalation_level, target_agent_id, hold_until, target_team,
        first_owner_id, owner_id, slot_agent_id, excluded, offers_failed, pending_department, pending_until,
        wrap_up_until, solution_at, resolution_code, final_note, fcr, customer_notified, resolved_at, closed_at,
        reopened, reason, created_at, updated_at
), h AS (
    INSERT INTO work_history (work_id, at, action, actor, detail)
    SELECT work_id, $22, 'queued', $23, jsonb_build_object('reason', reason) FROM w
)
SELECT w.*, NULL::text AS last_agent_id, pg_notify('routing_change', u.notice) AS notified
FROM w JOIN u ON u.work_id = w.work_id
ORDER BY w.enqueued_at
"""


@dataclass(frozen=True)
class NewContact:
    """A received contact and the work item to queue for it (`queue_contacts`)."""

    contact: ContactRecord
    message_id: uuid.UUID
    work_id: uuid.UUID
    pool: str
    work_class: str
    requirements: Sequence[Requirement]
    enqueued_at: datetime
    reason: str
    notice: str


async def queue_contacts(
    conn: Conn, contacts: Sequence[NewContact], *, actor: str, now: datetime
) -> list[WorkRecord]:
    """Received contacts (each contact id once), their first messages, their work items, the `queued` history
    entries and the change notices to the pools' owners, in one statement. Returns the work queued, in order;
    a contact that already has open work (a repeat) has none, but its classification is updated."""
    cs = [n.contact for n in contacts]
    rows = await conn.fetch(
        QUEUE_CONTACTS,
        [c.contact_id for c in cs],
        [c.customer_id for c in cs],
        [c.grade for c in cs],
        [c.channel for c in cs],
        [c.subject for c in cs],
        [c.text for c in cs],
        [c.language for c in cs],
        [c.category for c in cs],
        [c.priority_class for c in cs],
        [c.emergency for c in cs],
        [dict(c.attributes) for c in cs],
        [dict(c.reply_to) for c in cs],
        [c.received_at for c in cs],
        [n.message_id for n in contacts],
        [n.work_id for n in contacts],
        [n.pool for n in contacts],
        [n.work_class for n in contacts],
        # JSON text: asyncpg would read a list inside the array as another dimension.
        [json.dumps([{"skill": r.skill, "level": r.level} for r in n.requirements]) for n in contacts],
        [n.enqueued_at for n in contacts],
        [n.reason for n in contacts],
        [n.notice for n in contacts],
        now,
        actor,
    )
    works = []
    for row in rows:
        values = dict(row)
        del values["notified"]
        works.append(_work(values))
    return works


INSERT_MESSAGE = """
INSERT INTO contact_message (message_id, contact_id, from_customer, text, received_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (message_id) DO NOTHING
"""


async def add_message(
    conn: Conn, *, message_id: uuid.UUID, contact_id: uuid.UUID, from_customer: bool, text: str, at: datetime
) -> None:
    await conn.execute(INSERT_MESSAGE, message_id, contact_id, from_customer, text, at)


SELECT_MESSAGES = """
SELECT message_id, from_customer, text, received_at FROM contact_message WHERE contact_id = $1
ORDER BY received_at, message_id
"""


async def messages_of(conn: Conn, contact_id: uuid.UUID) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(SELECT_MESSAGES, contact_id)]


UPSERT_SUGGESTION = """
INSERT INTO suggestion (contact_id, articles, at) VALUES ($1, $2, $3)
ON CONFLICT (contact_id) DO UPDATE SET articles = EXCLUDED.articles, at = EXCLUDED.at
"""


async def save_suggestion(
    conn: Conn, *, contact_id: uuid.UUID, articles: list[dict[str, Any]], at: datetime
) -> None:
    await conn.execute(UPSERT_SUGGESTION, contact_id, articles, at)


SELECT_SUGGESTION = "SELECT articles FROM suggestion WHERE contact_id = $1"


async def suggestion_for(conn: Conn, contact_id: uuid.UUID) -> list[dict[str, Any]]:
    articles = await conn.fetchval(SELECT_SUGGESTION, contact_id)
    return list(articles or [])


# --- history ------------------------------------------------------------------------------------------------

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


# --- end notices and their delivery -------------------------------------------------------------------------

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


HAS_HISTORY = "SELECT EXISTS (SELECT 1 FROM work_history WHERE work_id = $1 AND action = $2 AND at >= $3)"


async def has_history(conn: Conn, work_id: uuid.UUID, action: str, *, since: datetime) -> bool:
    return bool(await conn.fetchval(HAS_HISTORY, work_id, action, since))


# --- retention ------------------------------------------------------------------------------------------------

ERASE_CONTACTS = """
WITH old AS (
    SELECT contact_id FROM contact
    WHERE received_at < $1 AND (text <> '' OR reply_to <> '{}' OR subject IS NOT NULL)
    LIMIT 2000
), messages AS (
    UPDATE contact_message SET text = '' WHERE contact_id IN (SELECT contact_id FROM old) AND text <> ''
)
UPDATE contact SET text = '', subject = NULL, reply_to = '{}' WHERE contact_id IN (SELECT contact_id FROM old)
"""


async def erase_contacts(conn: Conn, cutoff: datetime) -> int:
    """Retention: what routing keeps of contacts received before `cutoff` (text, messages, addresses)."""
    status = await conn.execute(ERASE_CONTACTS, cutoff)
    return int(status.rsplit(" ", 1)[-1])
