"""SQL for contact context: what the suggestions for a contact were last computed from, and what they were."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from shared.db import Conn


@dataclass(frozen=True)
class ContactContext:
    contact_id: uuid.UUID
    channel: str
    language: str | None
    category: str
    suggested_ids: tuple[uuid.UUID, ...]


SELECT_CONTEXT = """
SELECT contact_id, channel, language, category, suggested_ids FROM contact_context WHERE contact_id = $1
FOR UPDATE
"""


async def get_contact_context(conn: Conn, contact_id: uuid.UUID) -> ContactContext | None:
    row = await conn.fetchrow(SELECT_CONTEXT, contact_id)
    if row is None:
        return None
    return ContactContext(
        contact_id=row["contact_id"],
        channel=row["channel"],
        language=row["language"],
        category=row["category"],
        suggested_ids=tuple(row["suggested_ids"]),
    )


UPSERT_CONTEXT = """
INSERT INTO contact_context (contact_id, channel, language, category, suggested_ids, updated_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (contact_id) DO UPDATE SET channel = EXCLUDED.channel, language = EXCLUDED.language,
    category = EXCLUDED.category, suggested_ids = EXCLUDED.suggested_ids, updated_at = EXCLUDED.updated_at
"""


async def save_contact_context(conn: Conn, context: ContactContext, *, now: datetime) -> None:
    await conn.execute(
        UPSERT_CONTEXT,
        context.contact_id,
        context.channel,
        context.language,
        context.category,
        list(context.suggested_ids),
        now,
    )
