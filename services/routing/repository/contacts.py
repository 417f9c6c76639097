"""Contacts as routing keeps them (`contact`), their messages and knowledge's suggestions; new contacts queued
with their work in one statement; and what retention erases of them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.routing.domain.model import Requirement
from services.routing.domain.records import ContactRecord, WorkRecord
from services.routing.repository.work import work_record
from shared.db import Conn

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
        works.append(work_record(values))
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
