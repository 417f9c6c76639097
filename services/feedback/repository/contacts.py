"""The contact projection: what feedback keeps of intake's and routing's facts, and customer merges."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.feedback.domain.schedule import ContactFacts
from shared.db import Conn

UPSERT_CONTACT = """
INSERT INTO contact_fact (
    contact_id, channel, customer_id, original_customer_id, grade, category, language, phone, email,
    chat_session, time_zone, updated_at, value_tier, risk_level, lifecycle_stage, subcategory
) VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (contact_id) DO UPDATE SET
    channel = EXCLUDED.channel, customer_id = EXCLUDED.customer_id,
    original_customer_id = EXCLUDED.original_customer_id, grade = EXCLUDED.grade,
    category = EXCLUDED.category, language = COALESCE(EXCLUDED.language, contact_fact.language),
    phone = COALESCE(EXCLUDED.phone, contact_fact.phone), email = COALESCE(EXCLUDED.email, contact_fact.email),
    chat_session = COALESCE(EXCLUDED.chat_session, contact_fact.chat_session),
    time_zone = COALESCE(EXCLUDED.time_zone, contact_fact.time_zone), updated_at = EXCLUDED.updated_at,
    value_tier = EXCLUDED.value_tier, risk_level = EXCLUDED.risk_level, lifecycle_stage = EXCLUDED.lifecycle_stage,
    subcategory = EXCLUDED.subcategory
"""


async def upsert_contact(conn: Conn, *, facts: ContactFacts, now: datetime) -> None:
    """From `contact.received`; the agent and team come later, from routing, and are kept."""
    await conn.execute(
        UPSERT_CONTACT,
        facts.contact_id,
        facts.channel,
        facts.customer_id,
        facts.grade,
        facts.category,
        facts.language,
        facts.phone,
        facts.email,
        facts.chat_session,
        facts.time_zone,
        now,
        facts.value_tier,
        facts.risk_level,
        facts.lifecycle_stage,
        facts.subcategory,
    )


SET_CONTACT_CATEGORY = (
    "UPDATE contact_fact SET category = $2, subcategory = $4, updated_at = $3 WHERE contact_id = $1"
)


async def set_contact_category(
    conn: Conn, *, contact_id: uuid.UUID, category: str, now: datetime, subcategory: str | None = None
) -> None:
    await conn.execute(SET_CONTACT_CATEGORY, contact_id, category, now, subcategory)


SET_CONTACT_AGENT = """
UPDATE contact_fact SET agent_id = $2, team = COALESCE($3, team), updated_at = $4 WHERE contact_id = $1
"""


async def set_contact_agent(
    conn: Conn, *, contact_id: uuid.UUID, agent_id: str, team: str | None, now: datetime
) -> None:
    await conn.execute(SET_CONTACT_AGENT, contact_id, agent_id, team, now)


SELECT_CONTACT = """
SELECT contact_id, channel, customer_id, grade, category, language, phone, email, chat_session, time_zone,
       agent_id, team, value_tier, risk_level, lifecycle_stage
FROM contact_fact WHERE contact_id = $1
"""


async def get_contact(conn: Conn, *, contact_id: uuid.UUID) -> ContactFacts | None:
    row = await conn.fetchrow(SELECT_CONTACT, contact_id)
    return None if row is None else ContactFacts(**dict(row))


MERGE_CUSTOMER = """
WITH contacts AS (UPDATE contact_fact SET customer_id = $2 WHERE customer_id = $1)
UPDATE invitation SET customer_id = $2 WHERE customer_id = $1
"""


async def merge_customer(conn: Conn, *, merged: uuid.UUID, surviving: uuid.UUID) -> None:
    """The merged customer's surveys count as the surviving one's (one survey per person per period)."""
    await conn.execute(MERGE_CUSTOMER, merged, surviving)


UNMERGE_CUSTOMER = """
WITH contacts AS (
    UPDATE contact_fact SET customer_id = original_customer_id
    WHERE original_customer_id = $1 AND customer_id = $2
)
UPDATE invitation SET customer_id = original_customer_id WHERE original_customer_id = $1 AND customer_id = $2
"""


async def unmerge_customer(conn: Conn, *, merged: uuid.UUID, surviving: uuid.UUID) -> None:
    """Undo `merge_customer`: what was the merged customer's is theirs again."""
    await conn.execute(UNMERGE_CUSTOMER, merged, surviving)
