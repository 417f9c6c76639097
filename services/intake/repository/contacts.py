"""Contacts, messages, thread keys and idempotency keys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.intake.domain.classification import Classification
from services.intake.domain.contact import Inbound, OpenContact, attachments_json
from shared.db import Conn


@dataclass(frozen=True)
class Seen:
    contact_id: uuid.UUID
    message_id: uuid.UUID


SELECT_IDEMPOTENCY = "SELECT contact_id, message_id FROM idempotency_key WHERE adapter = $1 AND key = $2"


async def find_idempotency_key(conn: Conn, *, adapter: str, key: str) -> Seen | None:
    row = await conn.fetchrow(SELECT_IDEMPOTENCY, adapter, key)
    return Seen(row["contact_id"], row["message_id"]) if row else None


INSERT_IDEMPOTENCY = """
INSERT INTO idempotency_key (adapter, key, contact_id, message_id, created_at) VALUES ($1, $2, $3, $4, $5)
"""


async def insert_idempotency_key(conn: Conn, *, adapter: str, key: str, seen: Seen, now: datetime) -> None:
    await conn.execute(INSERT_IDEMPOTENCY, adapter, key, seen.contact_id, seen.message_id, now)


_OPEN_CONTACT_COLUMNS = """
c.contact_id, c.customer_id, c.channel, c.status, c.last_message_at, c.ended_at, c.subject_key
"""

SELECT_CONTACT_BY_SUBJECT = f"""
SELECT {_OPEN_CONTACT_COLUMNS}
FROM contact c
WHERE c.customer_id = $1 AND c.channel = 'email' AND c.subject_key = $2
ORDER BY c.last_message_at DESC
LIMIT 1
"""  # noqa: S608 — a constant column list, no input


async def contact_by_subject(conn: Conn, *, customer_id: uuid.UUID, subject_key: str) -> OpenContact | None:
    if not subject_key:
        return None
    return _open_contact(await conn.fetchrow(SELECT_CONTACT_BY_SUBJECT, customer_id, subject_key))


SELECT_CONTACT_BY_CUSTOMER = f"""
SELECT {_OPEN_CONTACT_COLUMNS}
FROM contact c
WHERE c.customer_id = $1 AND c.channel = $2 AND c.status IN ('received', 'reopened')
ORDER BY c.last_message_at DESC
LIMIT 1
"""  # noqa: S608 — a constant column list, no input


async def contact_by_customer(conn: Conn, *, customer_id: uuid.UUID, channel: str) -> OpenContact | None:
    return _open_contact(await conn.fetchrow(SELECT_CONTACT_BY_CUSTOMER, customer_id, channel))


def _open_contact(row: asyncpg.Record | None) -> OpenContact | None:
    if row is None:
        return None
    return OpenContact(
        contact_id=row["contact_id"],
        customer_id=row["customer_id"],
        channel=row["channel"],
        status=row["status"],
        last_message_at=row["last_message_at"],
        ended_at=row["ended_at"],
        subject_key=row["subject_key"],
    )


@dataclass(frozen=True)
class Touched:
    channel: str
    customer_id: uuid.UUID
    priority_class: str
    emergency: bool


UPDATE_CLASSIFICATION = """
UPDATE contact
SET category = $2, priority_class = $3, emergency = $4, emergency_reasons = $5, required_skills = $6,
    classified_by = $7, updated_at = $8, subcategory = $9, incident_level = $10
WHERE contact_id = $1
"""


async def update_classification(
    conn: Conn,
    *,
    contact_id: uuid.UUID,
    category: str,
    priority_class: str,
    emergency: bool,
    emergency_reasons: Sequence[str],
    required_skills: Sequence[str],
    by: str,
    now: datetime,
    subcategory: str | None = None,
    incident_level: str | None = None,
) -> bool:
    status = await conn.execute(
        UPDATE_CLASSIFICATION,
        contact_id,
        category,
        priority_class,
        emergency,
        list(emergency_reasons),
        list(required_skills),
        by,
        now,
        subcategory,
        incident_level,
    )
    return bool(status == "UPDATE 1")


UPDATE_STATUS = """
UPDATE contact SET status = $2, ended_at = $3, updated_at = $4 WHERE contact_id = $1
"""


async def set_status(
    conn: Conn, *, contact_id: uuid.UUID, status: str, ended_at: datetime | None, at: datetime
) -> bool:
    result = await conn.execute(UPDATE_STATUS, contact_id, status, ended_at, at)
    return bool(result == "UPDATE 1")


SELECT_CONTACT = """
SELECT c.contact_id, c.channel, c.customer_id, cu.grade, cu.pii_level, c.subject, c.language, c.category,
       c.priority_class, c.emergency, c.emergency_reasons, c.required_skills, c.classified_by, c.status,
       c.subcategory, c.incident_level,
       c.identity_conflicts, c.message_count, c.reopen_count, c.created_at, c.updated_at, c.last_message_at,
       c.ended_at
FROM contact c JOIN customer cu ON cu.customer_id = c.customer_id
WHERE c.contact_id = $1
"""
SELECT_MESSAGES = """
SELECT message_id, channel, natural_key, sender_name, subject, text, original, language, attachments, metadata,
       automatic, sent_at, received_at, adapter
FROM message WHERE contact_id = $1 ORDER BY received_at, message_id
"""


async def get_contact(conn: Conn, *, contact_id: uuid.UUID) -> dict[str, Any] | None:
    """The contact as the API shows it (a plain mapping: this is a read model, not a domain value)."""
    row = await conn.fetchrow(SELECT_CONTACT, contact_id)
    if row is None:
        return None
    contact = dict(row)
    contact["messages"] = [dict(m) for m in await conn.fetch(SELECT_MESSAGES, contact_id)]
    return contact


# --- the accept path in as few round trips as it takes ------------------------------------------------------

LOCK = (
    "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT DISTINCT k FROM unnest($1::bigint[]) AS k ORDER BY k) t"
)


async def lock(conn: Conn, *, keys: Sequence[int]) -> None:
    """Transaction-scoped advisory locks, taken in ascending order."""
    if keys:
        await conn.fetchval(LOCK, list(keys))


@dataclass(frozen=True)
class Lookup:
    seen: Seen | None
    """The message, if this natural key was accepted before."""
    known: dict[tuple[str, str], uuid.UUID]
    """Identities the directory knows → their customer (merges followed)."""
    attributes: dict[uuid.UUID, dict[str, str]]
    """Grade and tiers of those customers."""
    thread: OpenContact | None
    """The latest contact holding one of the message's thread or reply-to keys."""


# One round trip: the natural key's message (kind ''; a retry key's also under the previous period's key, if
# received within its window), every known identity with its customer's attributes, and
# the latest contact holding one of the thread keys (kind 'thread'); `item` says which message a row answers
# when many are looked up in one pipelined round trip.
LOOKUP = """
SELECT $6::int AS item, '' AS kind, m.natural_key AS value, m.contact_id AS customer_id, m.message_id,
       NULL AS grade, NULL AS value_tier, NULL AS risk_level, NULL AS lifecycle_stage, NULL AS pii_level,
       NULL AS routing_pool, NULL AS time_zone, NULL AS channel, NULL AS status,
       NULL::timestamptz AS last_message_at, NULL::timestamptz AS ended_at, NULL AS subject_key
FROM message m
WHERE m.channel = $1 AND m.natural_key = ANY($2::text[]) AND ($7::timestamptz IS NULL OR m.received_at >= $7)
UNION ALL
SELECT $6, i.kind, i.value, s.customer_id, NULL, s.grade, s.value_tier, s.risk_level, s.lifecycle_stage,
       s.pii_level, s.attributes->>'routing_pool', s.attributes->>'time_zone', NULL, NULL, NULL, NULL, NULL
FROM customer_identity i
JOIN customer c ON c.customer_id = i.customer_id
JOIN customer s ON s.customer_id = COALESCE(c.merged_into, c.customer_id)
WHERE (i.kind, i.value) IN (SELECT * FROM unnest($3::text[], $4::text[]))
UNION ALL
(SELECT $6, 'thread', NULL, c.customer_id, c.contact_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        c.channel, c.status, c.last_message_at, c.ended_at, c.subject_key
 FROM thread_key t JOIN contact c ON c.contact_id = t.contact_id
 WHERE t.key = ANY($5::text[])
 ORDER BY c.last_message_at DESC
 LIMIT 1)
"""


CUSTOMER_KEYS = ("grade", "value_tier", "risk_level", "lifecycle_stage", "pii_level", "routing_pool", "time_zone")
"""What rules and events carry of a customer: grade and tiers, and the two directory attributes other services
act on (routing's pool, the time zone for quiet hours). No personal data."""


async def lookup(conn: Conn, *, inbound: Inbound) -> Lookup:
    return (await lookup_many(conn, inbounds=[inbound]))[0]


def _lookup_args(item: int, inbound: Inbound) -> tuple[Any, ...]:
    return (
        inbound.channel,
        [inbound.natural_key, *inbound.earlier_keys],
        [i.kind for i in inbound.identities],
        [i.value for i in inbound.identities],
        [*inbound.reply_to_keys, *inbound.thread_keys],
        item,
        inbound.seen_since,
    )


async def lookup_many(conn: Conn, *, inbounds: Sequence[Inbound]) -> list[Lookup]:
    """The lookup of each message, all in one round trip (the statements pipelined)."""
    if len(inbounds) == 1:
        rows = await conn.fetch(LOOKUP, *_lookup_args(0, inbounds[0]))
    else:
        rows = await conn.fetchmany(LOOKUP, [_lookup_args(n, inbound) for n, inbound in enumerate(inbounds)])
    per_item: list[list[asyncpg.Record]] = [[] for _ in inbounds]
    for row in rows:
        per_item[row["item"]].append(row)
    return [_lookup(item_rows) for item_rows in per_item]


def _lookup(rows: Sequence[asyncpg.Record]) -> Lookup:
    seen: Seen | None = None
    thread: OpenContact | None = None
    known: dict[tuple[str, str], uuid.UUID] = {}
    attributes: dict[uuid.UUID, dict[str, str]] = {}
    for row in rows:
        if row["kind"] == "":
            seen = Seen(row["customer_id"], row["message_id"])
            continue
        if row["kind"] == "thread":
            thread = OpenContact(
                contact_id=row["message_id"],
                customer_id=row["customer_id"],
                channel=row["channel"],
                status=row["status"],
                last_message_at=row["last_message_at"],
                ended_at=row["ended_at"],
                subject_key=row["subject_key"],
            )
            continue
        known[(row["kind"], row["value"])] = row["customer_id"]
        attributes[row["customer_id"]] = {k: row[k] for k in CUSTOMER_KEYS if row[k]}
    return Lookup(seen, known, attributes, thread)


_MESSAGE_VALUES = """
    $2::uuid, $1::uuid, $3::text, $4::text, $5::jsonb, $6::text, $7::text, $8::text, $9::text, $10::text,
    $11::jsonb, $12::jsonb, $13::boolean, $14::text, $15::timestamptz, $16::timestamptz
"""

# contact, message, thread keys, idempotency key and tracked registration in one statement.
INSERT_CONTACT_WITH_MESSAGE = f"""
WITH new_contact AS (
    INSERT INTO contact (
        contact_id, channel, customer_id, subject, subject_key, language, category, priority_class, emergency,
        emergency_reasons, required_skills, classified_by, status, identity_conflicts, created_at, updated_at,
        last_message_at, ended_at, subcategory, incident_level
    ) VALUES ($1, $3, $17, $7, $18, $10, $19, $20, $21, $22, $23, $24, $28, $25, $16, $16, $16,
              CASE WHEN $28 = 'ignored' THEN $16::timestamptz END, $29, $30)
    RETURNING contact_id
), new_message AS (
    INSERT INTO message (
        message_id, contact_id, channel, natural_key, sender, sender_name, subject, text, original, language,
        attachments, metadata, automatic, adapter, sent_at, received_at
    ) SELECT {_MESSAGE_VALUES} FROM new_contact
), keys AS (
    INSERT INTO thread_key (key, contact_id, created_at)
    SELECT k, new_contact.contact_id, $16 FROM new_contact, unnest($26::text[]) AS k
    ON CONFLICT (key) DO NOTHING
), idempotency AS (
    INSERT INTO idempotency_key (adapter, key, contact_id, message_id, created_at)
    SELECT $14, $27, new_contact.contact_id, $2, $16 FROM new_contact WHERE $27::text IS NOT NULL
), tracked AS (
    INSERT INTO tracked_contact (contact_id, customer_id, reason, registered_at)
    SELECT new_contact.contact_id, $17, $31, $16 FROM new_contact WHERE $31::text IS NOT NULL
)
SELECT contact_id FROM new_contact
"""  # noqa: S608 — a constant value list, no input


def _message_args(
    contact_id: uuid.UUID, message_id: uuid.UUID, inbound: Inbound, adapter: str, now: datetime
) -> list[Any]:
    sender = [{"kind": i.kind, "value": i.value, "valid": i.valid, "strong": i.strong} for i in inbound.identities]
    return [
        contact_id,
        message_id,
        inbound.channel,
        inbound.natural_key,
        sender,
        inbound.sender_name,
        inbound.subject,
        inbound.text,
        inbound.original,
        inbound.language,
        attachments_json(inbound.attachments),
        dict(inbound.metadata),
        inbound.automatic,
        adapter,
        inbound.sent_at,
        now,
    ]


@dataclass(frozen=True)
class NewContact:
    """A contact opened by its first message, with everything stored beside it."""

    contact_id: uuid.UUID
    message_id: uuid.UUID
    inbound: Inbound
    customer_id: uuid.UUID
    subject_key: str
    classification: Classification
    conflicts: Sequence[uuid.UUID]
    adapter: str
    idempotency_key: str | None
    now: datetime
    status: str = "received"
    """`ignored` for a contact no customer opened (an auto-reply, a bounce): stored, not worked."""
    tracked: str | None = None
    """Why the contact is registered for tracking (its customer is high-risk), or None."""


def _contact_args(new: NewContact) -> list[Any]:
    return [
        *_message_args(new.contact_id, new.message_id, new.inbound, new.adapter, new.now),
        new.customer_id,
        new.subject_key,
        new.classification.category,
        new.classification.priority_class,
        new.classification.emergency,
        list(new.classification.emergency_reasons),
        list(new.classification.required_skills),
        new.classification.by,
        list(new.conflicts),
        list(new.inbound.thread_keys),
        new.idempotency_key,
        new.status,
        new.classification.subcategory,
        new.classification.incident_level,
        new.tracked,
    ]


async def insert_contacts_with_messages(conn: Conn, *, contacts: Sequence[NewContact]) -> None:
    """Each contact with its message, thread keys and idempotency key; many in one round trip (pipelined)."""
    if len(contacts) == 1:
        await conn.execute(INSERT_CONTACT_WITH_MESSAGE, *_contact_args(contacts[0]))
    elif contacts:
        await conn.executemany(INSERT_CONTACT_WITH_MESSAGE, [_contact_args(c) for c in contacts])


# The contact touched (and reopened if so decided), the message, thread keys, idempotency key and (for a
# high-risk customer's contact registered before it was) the tracked registration: one statement.
ADD_MESSAGE = f"""
WITH touched AS (
    UPDATE contact
    SET last_message_at = $16, updated_at = $16, message_count = message_count + 1,
        status = CASE WHEN $17 THEN 'reopened' ELSE status END,
        reopen_count = reopen_count + CASE WHEN $17 THEN 1 ELSE 0 END,
        ended_at = CASE WHEN $17 THEN NULL ELSE ended_at END
    WHERE contact_id = $1
    RETURNING contact_id, channel, customer_id, priority_class, emergency
), new_message AS (
    INSERT INTO message (
        message_id, contact_id, channel, natural_key, sender, sender_name, subject, text, original, language,
        attachments, metadata, automatic, adapter, sent_at, received_at
    ) SELECT {_MESSAGE_VALUES} FROM touched
), keys AS (
    INSERT INTO thread_key (key, contact_id, created_at)
    SELECT k, touched.contact_id, $16 FROM touched, unnest($18::text[]) AS k
    ON CONFLICT (key) DO NOTHING
), idempotency AS (
    INSERT INTO idempotency_key (adapter, key, contact_id, message_id, created_at)
    SELECT $14, $19, touched.contact_id, $2, $16 FROM touched WHERE $19::text IS NOT NULL
), tracked AS (
    INSERT INTO tracked_contact (contact_id, customer_id, reason, registered_at)
    SELECT touched.contact_id, touched.customer_id, $20, $16 FROM touched WHERE $20::text IS NOT NULL
    ON CONFLICT (contact_id) DO NOTHING
)
SELECT channel, customer_id, priority_class, emergency FROM touched
"""  # noqa: S608 — a constant value list, no input


async def add_message(
    conn: Conn,
    *,
    contact_id: uuid.UUID,
    message_id: uuid.UUID,
    inbound: Inbound,
    reopen: bool,
    adapter: str,
    idempotency_key: str | None,
    now: datetime,
    tracked: str | None = None,
) -> Touched:
    row = await conn.fetchrow(
        ADD_MESSAGE,
        *_message_args(contact_id, message_id, inbound, adapter, now),
        reopen,
        list(inbound.thread_keys),
        idempotency_key,
        tracked,
    )
    assert row is not None, "the thread lookup found this contact in the same transaction"
    return Touched(row["channel"], row["customer_id"], row["priority_class"], row["emergency"])


PURGE_IDEMPOTENCY_KEYS = "DELETE FROM idempotency_key WHERE created_at < $1"


async def purge_idempotency_keys(conn: Conn, *, before: datetime) -> int:
    status = await conn.execute(PURGE_IDEMPOTENCY_KEYS, before)
    return int(status.rsplit(" ", 1)[-1])
