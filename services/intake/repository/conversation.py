"""Replies, notes, outbound messages and their receipts, the steps other services took, and the timeline that
puts them all in order with the customer's messages."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.intake.domain.conversation import Attachment, Cursor, Reachable, Route
from services.intake.repository.search import owns_contact_of
from shared.db import Conn


@dataclass(frozen=True)
class ContactHead:
    """What a reply or note needs to know of its contact, read under the contact's row lock."""

    contact_id: uuid.UUID
    customer_id: uuid.UUID
    channel: str
    status: str
    owner_id: str | None
    team: str | None
    work_id: uuid.UUID | None
    first_reply_at: datetime | None
    language: str | None


LOCK_HEAD = """
SELECT contact_id, customer_id, channel, status, owner_id, team, work_id, first_reply_at, language
FROM contact WHERE contact_id = $1 FOR UPDATE
"""


async def lock_head(conn: Conn, contact_id: uuid.UUID) -> ContactHead | None:
    row = await conn.fetchrow(LOCK_HEAD, contact_id)
    return None if row is None else ContactHead(**dict(row))


SELECT_HEAD = LOCK_HEAD.replace(" FOR UPDATE", "")


async def get_head(conn: Conn, contact_id: uuid.UUID) -> ContactHead | None:
    row = await conn.fetchrow(SELECT_HEAD, contact_id)
    return None if row is None else ContactHead(**dict(row))


# The customer's addresses on this contact: the senders of its messages (latest first), then the customer's
# directory identities; its chat session and e-mail Message-IDs from the thread keys.
REACHABLE = """
WITH senders AS (
    SELECT s->>'kind' AS kind, s->>'value' AS value, m.received_at, 0 AS pref
    FROM message m, jsonb_array_elements(m.sender) AS s
    WHERE m.contact_id = $1 AND (s->>'valid')::boolean AND (s->>'strong')::boolean AND NOT m.automatic
    UNION ALL
    SELECT i.kind, i.value, i.created_at, 1 FROM customer_identity i WHERE i.customer_id = $2 AND i.valid
)
SELECT
    (SELECT value FROM senders WHERE kind = 'email' ORDER BY pref, received_at DESC LIMIT 1) AS email,
    (SELECT value FROM senders WHERE kind = 'phone' AND value NOT LIKE '%;ext=%'
     ORDER BY pref, received_at DESC LIMIT 1) AS phone,
    (SELECT value FROM senders WHERE kind = 'social' ORDER BY pref, received_at DESC LIMIT 1) AS social,
    (SELECT substr(key, 6) FROM thread_key WHERE contact_id = $1 AND key LIKE 'chat:%'
     ORDER BY created_at DESC LIMIT 1) AS chat_session,
    (SELECT subject FROM contact WHERE contact_id = $1) AS subject,
    (SELECT natural_key FROM message WHERE contact_id = $1 AND channel = 'email' AND natural_key NOT LIKE 'fp:%'
     ORDER BY received_at DESC LIMIT 1) AS last_email_id,
    ARRAY(SELECT substr(key, 7) FROM thread_key WHERE contact_id = $1 AND key LIKE 'email:<%'
          ORDER BY created_at, key) AS email_thread
"""


async def reachable(conn: Conn, head: ContactHead) -> Reachable:
    row = await conn.fetchrow(REACHABLE, head.contact_id, head.customer_id)
    assert row is not None
    return Reachable(
        contact_channel=head.channel,
        email=row["email"],
        phone=row["phone"],
        chat_session=row["chat_session"],
        social=row["social"],
        subject=row["subject"],
        last_email_id=row["last_email_id"],
        email_thread=tuple(row["email_thread"]),
    )


INSERT_REPLY = """
WITH reply AS (
    INSERT INTO reply (reply_id, contact_id, author, author_role, channel, recipient, subject, text, html,
                       attachments, headers, solution, based_on, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
), outbound AS (
    INSERT INTO outbound_message (message_id, contact_id, origin, kind, channel, status_at, requested_at)
    VALUES ($1, $2, 'intake', 'reply', $5, $14, $14)
), thread AS (
    INSERT INTO thread_key (key, contact_id, created_at)
    SELECT 'email:' || ($11::jsonb->>'Message-ID'), $2, $14 WHERE $11::jsonb ? 'Message-ID'
    ON CONFLICT (key) DO NOTHING
)
UPDATE contact SET first_reply_at = coalesce(first_reply_at, $14), updated_at = $14 WHERE contact_id = $2
"""


async def insert_reply(
    conn: Conn,
    *,
    reply_id: uuid.UUID,
    contact_id: uuid.UUID,
    author: str,
    author_role: str,
    route: Route,
    text: str,
    html: str | None,
    attachments: Sequence[Attachment],
    solution: bool,
    based_on: dict[str, str] | None,
    now: datetime,
) -> None:
    """The reply, its outbound message, our Message-ID as a thread key (the customer's answer threads back by
    it) and the contact's first reply time, in one statement."""
    await conn.execute(
        INSERT_REPLY,
        reply_id,
        contact_id,
        author,
        author_role,
        route.channel,
        route.recipient,
        route.subject,
        text,
        html,
        [vars(a) for a in attachments],
        dict(route.headers),
        solution,
        based_on,
        now,
    )


INSERT_NOTE = (
    "INSERT INTO note (note_id, contact_id, author, author_role, text, created_at) VALUES ($1, $2, $3, $4, $5, $6)"
)


async def insert_note(
    conn: Conn,
    *,
    note_id: uuid.UUID,
    contact_id: uuid.UUID,
    author: str,
    author_role: str,
    text: str,
    now: datetime,
) -> None:
    await conn.execute(INSERT_NOTE, note_id, contact_id, author, author_role, text, now)


# --- outbound messages and receipts -------------------------------------------------------------------------

INSERT_OUTBOUND = """
INSERT INTO outbound_message (message_id, contact_id, origin, kind, channel, status_at, requested_at)
VALUES ($1, $2, $3, $4, $5, $6, $6)
ON CONFLICT (message_id) DO NOTHING
"""


async def note_outbound(
    conn: Conn,
    *,
    message_id: uuid.UUID,
    contact_id: uuid.UUID | None,
    origin: str,
    kind: str,
    channel: str,
    at: datetime,
) -> None:
    """Another service's message, learnt from outbound.messages (so its receipts can be taken)."""
    await conn.execute(INSERT_OUTBOUND, message_id, contact_id, origin, kind, channel, at)


@dataclass(frozen=True)
class Outbound:
    message_id: uuid.UUID
    contact_id: uuid.UUID | None
    origin: str
    kind: str
    channel: str
    status: str
    status_at: datetime


LOCK_OUTBOUND = """
SELECT message_id, contact_id, origin, kind, channel, status, status_at FROM outbound_message
WHERE message_id = $1 FOR UPDATE
"""


async def lock_outbound(conn: Conn, message_id: uuid.UUID) -> Outbound | None:
    row = await conn.fetchrow(LOCK_OUTBOUND, message_id)
    return None if row is None else Outbound(**dict(row))


INSERT_RECEIPT = """
INSERT INTO delivery_receipt (message_id, status, reported_at, reason, adapter, received_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT DO NOTHING RETURNING message_id
"""


async def insert_receipt(
    conn: Conn,
    *,
    message_id: uuid.UUID,
    status: str,
    reported_at: datetime,
    reason: str | None,
    adapter: str,
    now: datetime,
) -> bool:
    """False for a receipt seen before (same message, status and time): it has no second effect."""
    return await conn.fetchval(INSERT_RECEIPT, message_id, status, reported_at, reason, adapter, now) is not None


UPDATE_OUTBOUND = "UPDATE outbound_message SET status = $2, reason = $3, status_at = $4 WHERE message_id = $1"


async def set_outbound_status(
    conn: Conn, *, message_id: uuid.UUID, status: str, reason: str | None, at: datetime
) -> None:
    await conn.execute(UPDATE_OUTBOUND, message_id, status, reason, at)


# --- what other services did --------------------------------------------------------------------------------

INSERT_STEP = """
INSERT INTO contact_step (event_id, contact_id, at, kind, actor, detail) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (event_id) DO NOTHING
"""


async def insert_step(
    conn: Conn,
    *,
    event_id: uuid.UUID,
    contact_id: uuid.UUID,
    at: datetime,
    kind: str,
    actor: str | None,
    detail: dict[str, Any],
) -> None:
    await conn.execute(
        INSERT_STEP, event_id, contact_id, at, kind, actor, json.loads(json.dumps(detail, default=str))
    )


UPDATE_WORK = """
UPDATE contact SET work_id = coalesce($2, work_id),
                   owner_id = CASE WHEN $5 THEN $3 ELSE owner_id END,
                   team = CASE WHEN $5 THEN coalesce($6, team) ELSE team END,
                   work_state = coalesce($4, work_state)
WHERE contact_id = $1
"""


async def set_work(
    conn: Conn,
    *,
    contact_id: uuid.UUID,
    work_id: uuid.UUID | None,
    state: str | None,
    owner: str | None = None,
    set_owner: bool = False,
    team: str | None = None,
) -> None:
    await conn.execute(UPDATE_WORK, contact_id, work_id, owner, state, set_owner, team)


# --- the timeline -------------------------------------------------------------------------------------------

# Everything on one contact in order: the customer's messages, replies with their delivery state, notes, and the
# steps of routing, SLA and feedback. `key` breaks ties at the same instant (kind, then id), so the order is
# total and a cursor is exact.
TIMELINE = """
SELECT * FROM (
    SELECT m.received_at AS at, '1:' || m.message_id AS key, 'customer_message' AS kind, NULL AS actor,
           jsonb_build_object('message_id', m.message_id, 'channel', m.channel, 'subject', m.subject,
                              'text', m.text, 'sender_name', m.sender_name, 'attachments', m.attachments,
                              'language', m.language, 'automatic', m.automatic) AS detail
    FROM message m WHERE m.contact_id = $1
    UNION ALL
    SELECT r.created_at, '2:' || r.reply_id, 'agent_reply', r.author,
           jsonb_build_object('reply_id', r.reply_id, 'channel', r.channel, 'subject', r.subject, 'text', r.text,
                              'html', r.html, 'attachments', r.attachments, 'solution', r.solution,
                              'headers', r.headers, 'delivery', o.status, 'delivery_reason', o.reason,
                              'delivery_at', o.status_at, 'based_on', r.based_on)
    FROM reply r JOIN outbound_message o ON o.message_id = r.reply_id WHERE r.contact_id = $1
    UNION ALL
    SELECT n.created_at, '3:' || n.note_id, 'note', n.author,
           jsonb_build_object('note_id', n.note_id, 'text', n.text)
    FROM note n WHERE n.contact_id = $1
    UNION ALL
    SELECT s.at, '4:' || s.event_id, s.kind, s.actor, s.detail FROM contact_step s WHERE s.contact_id = $1
    UNION ALL
    SELECT o.requested_at, '5:' || o.message_id, 'outbound_' || o.kind, o.origin,
           jsonb_build_object('message_id', o.message_id, 'channel', o.channel, 'delivery', o.status,
                              'delivery_reason', o.reason, 'delivery_at', o.status_at)
    FROM outbound_message o WHERE o.contact_id = $1 AND o.origin <> 'intake'
) AS t
WHERE ($2::timestamptz IS NULL OR (at, key) > ($2, $3::text))
ORDER BY at, key
LIMIT $4
"""


async def timeline(conn: Conn, contact_id: uuid.UUID, *, after: Cursor | None, limit: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(TIMELINE, contact_id, after.at if after else None, after.key if after else "", limit)
    return [dict(row) for row in rows]


async def agent_may_read(conn: Conn, head: ContactHead, agent_id: str) -> bool:
    """An agent reads the contacts whose work they own and the earlier contacts of those customers."""
    return head.owner_id == agent_id or await owns_contact_of(
        conn, customer_id=head.customer_id, agent_id=agent_id
    )


# --- retention ----------------------------------------------------------------------------------------------

ERASE_CONTENT = """
WITH old AS (
    SELECT contact_id FROM contact
    WHERE content_erased_at IS NULL AND coalesce(ended_at, last_message_at) < $1
    LIMIT 2000
    FOR UPDATE SKIP LOCKED
), messages AS (
    UPDATE message SET text = '', original = '', subject = NULL, sender_name = NULL, sender = '[]',
                       attachments = '[]', metadata = '{}'
    WHERE contact_id IN (SELECT contact_id FROM old)
), replies AS (
    UPDATE reply SET text = '', html = NULL, recipient = '', subject = NULL, attachments = '[]', headers = '{}'
    WHERE contact_id IN (SELECT contact_id FROM old)
), notes AS (
    UPDATE note SET text = '' WHERE contact_id IN (SELECT contact_id FROM old)
)
UPDATE contact SET subject = NULL, search_terms = NULL, content_erased_at = $2
WHERE contact_id IN (SELECT contact_id FROM old)
"""


async def erase_content(conn: Conn, cutoff: datetime, *, now: datetime) -> int:
    """Erase the content of contacts that ended before `cutoff` (a batch at a time); how many contacts."""
    status = await conn.execute(ERASE_CONTENT, cutoff, now)
    return int(status.rsplit(" ", 1)[-1])
