"""Contact search: the index the indexer keeps (`search_terms`), and the filtered, cursor-paginated lists of
contacts an agent or supervisor asks for."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.db import Conn

STALE = """
SELECT contact_id, subject, last_message_at FROM contact
WHERE indexed_at IS NULL OR indexed_at < last_message_at
ORDER BY last_message_at
LIMIT $1
FOR UPDATE SKIP LOCKED
"""
TEXTS = """
SELECT contact_id, left(text, 2000) AS text FROM message
WHERE contact_id = ANY($1::uuid[]) AND NOT automatic
ORDER BY contact_id, received_at
"""


async def stale_contacts(conn: Conn, *, limit: int) -> list[tuple[uuid.UUID, str, datetime, list[str]]]:
    """Contacts whose terms are missing or older than their last message (locked), with their texts."""
    rows = await conn.fetch(STALE, limit)
    texts: dict[uuid.UUID, list[str]] = {r["contact_id"]: [] for r in rows}
    for row in await conn.fetch(TEXTS, list(texts)):
        texts[row["contact_id"]].append(row["text"])
    return [(r["contact_id"], r["subject"] or "", r["last_message_at"], texts[r["contact_id"]]) for r in rows]


SET_TERMS = """
UPDATE contact c SET search_terms = string_to_array(u.joined, chr(31)), indexed_at = u.at
FROM unnest($1::uuid[], $2::timestamptz[], $3::text[]) AS u(contact_id, at, joined)
WHERE c.contact_id = u.contact_id
"""


async def set_terms(conn: Conn, items: Sequence[tuple[uuid.UUID, datetime, list[str]]]) -> None:
    await conn.execute(SET_TERMS, [i[0] for i in items], [i[1] for i in items], ["\x1f".join(i[2]) for i in items])


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    channel: str | None = None
    owner: str | None = None
    team: str | None = None
    category: str | None = None
    subcategory: str | None = None
    """`level2` matches every `level2/…` under it."""
    grade: str | None = None
    customer_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None
    terms: tuple[str, ...] = ()


_SELECT = """
SELECT c.contact_id, c.channel, c.customer_id, cu.grade, cu.pii_level, c.subject, c.language, c.category,
       c.subcategory, c.priority_class,
       c.emergency, c.status, c.owner_id, c.team, c.work_state, c.message_count, c.created_at, c.last_message_at,
       c.first_reply_at, c.ended_at,
       (SELECT left(m.text, 200) FROM message m WHERE m.contact_id = c.contact_id ORDER BY m.received_at
        LIMIT 1) AS preview
FROM contact c JOIN customer cu ON cu.customer_id = c.customer_id
"""
# Each filter is a constant fragment with its own parameter: only the filters asked for are in the statement,
# so every combination gets a plan of its own (a catch-all "$1 IS NULL OR …" would share one poor plan).
_CONDITIONS = {
    "status": "c.status = ${}",
    "channel": "c.channel = ${}",
    "owner": "c.owner_id = ${}",
    "team": "c.team = ${}",
    "category": "c.category = ${}",
    "subcategory": "(c.subcategory = ${0} OR c.subcategory LIKE ${0} || '/%')",
    "grade": "cu.grade = ${}",
    "customer_id": "c.customer_id = ${}",
    "since": "c.created_at >= ${}",
    "until": "c.created_at < ${}",
    "terms": "c.search_terms @> ${}::text[]",
}


async def list_contacts(
    conn: Conn, filters: Filters, *, before: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[dict[str, Any]]:
    """Newest first; `before` is the last (created_at, contact_id) of the previous page."""
    where: list[str] = []
    args: list[Any] = []
    for name, fragment in _CONDITIONS.items():
        value = getattr(filters, name)
        if value is None or value == ():
            continue
        args.append(list(value) if name == "terms" else value)
        where.append(fragment.format(len(args)))
    if before is not None:
        args += [before[0], before[1]]
        where.append(f"(c.created_at, c.contact_id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit)
    sql = (
        _SELECT
        + (" WHERE " + " AND ".join(where) if where else "")
        + f" ORDER BY c.created_at DESC, c.contact_id DESC LIMIT ${len(args)}"
    )
    # Planned for these values: a common word is found fastest by walking the newest contacts, a rare one through
    # the terms index, and only PostgreSQL's statistics of the words can tell which (a generic plan cannot).
    async with conn.transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        return [dict(r) for r in await conn.fetch(sql, *args)]


IMPORTANT = """
SELECT c.contact_id FROM contact c JOIN customer cu ON cu.customer_id = c.customer_id
WHERE c.contact_id = ANY($1::uuid[]) AND cu.pii_level = 'important'
"""


async def important_contacts(conn: Conn, contact_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Those of the contacts whose customer's personal data is important (reading them is audited)."""
    return [r["contact_id"] for r in await conn.fetch(IMPORTANT, list(contact_ids))]


OWNS = "SELECT EXISTS (SELECT 1 FROM contact WHERE customer_id = $1 AND owner_id = $2)"


async def owns_contact_of(conn: Conn, *, customer_id: uuid.UUID, agent_id: str) -> bool:
    return bool(await conn.fetchval(OWNS, customer_id, agent_id))
