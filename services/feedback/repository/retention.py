"""Retention: where invitations went and the addresses feedback keeps of contacts, erased on time."""

from __future__ import annotations

from datetime import datetime

from shared.db import Conn

ERASE_RECIPIENTS = """
WITH old AS (
    SELECT invitation_id FROM invitation
    WHERE recipient IS NOT NULL AND resolved_at < $1 AND status NOT IN ('waiting_contact', 'scheduled')
    LIMIT 5000
)
UPDATE invitation SET recipient = NULL WHERE invitation_id IN (SELECT invitation_id FROM old)
"""
ERASE_ADDRESSES = """
UPDATE contact_fact SET phone = NULL, email = NULL, chat_session = NULL
WHERE updated_at < $1 AND (phone IS NOT NULL OR email IS NOT NULL OR chat_session IS NOT NULL)
"""


async def erase_recipients(conn: Conn, cutoff: datetime) -> int:
    status = await conn.execute(ERASE_RECIPIENTS, cutoff)
    return int(status.rsplit(" ", 1)[-1])


async def erase_addresses(conn: Conn, cutoff: datetime) -> int:
    status = await conn.execute(ERASE_ADDRESSES, cutoff)
    return int(status.rsplit(" ", 1)[-1])
