"""What SLA knows of a contact (its keys, whether it was received), and events that overtook its arrival."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.sla.domain.policy import ContactKeys
from shared.db import Conn


@dataclass(frozen=True)
class Contact:
    contact_id: uuid.UUID
    customer_id: uuid.UUID | None = None
    channel: str | None = None
    grade: str | None = None
    priority_class: str | None = None
    category: str | None = None
    emergency: bool = False
    received_at: datetime | None = None
    """None until contact.received was handled."""
    agent_id: str | None = None
    incident_level: str | None = None
    value_tier: str | None = None
    risk_level: str | None = None
    lifecycle_stage: str | None = None
    """The customer's attributes as contact.received carried them, for the figures."""

    @property
    def keys(self) -> ContactKeys:
        return ContactKeys(
            self.grade, self.priority_class, self.channel, self.category, self.emergency, self.incident_level
        )


@dataclass(frozen=True)
class Cause:
    """Why a transition happened: an event (its type and id), the timer, or an API call."""

    kind: str
    event_id: uuid.UUID | None = None


LOCK_CONTACT = """
INSERT INTO sla_contact (contact_id, updated_at) VALUES ($1, $2)
ON CONFLICT (contact_id) DO UPDATE SET updated_at = EXCLUDED.updated_at
RETURNING contact_id, customer_id, channel, grade, priority_class, category, emergency, received_at, agent_id,
          incident_level, value_tier, risk_level, lifecycle_stage
"""


async def lock_contact(conn: Conn, contact_id: uuid.UUID, *, now: datetime) -> Contact:
    """The contact's row, created if new, locked until the transaction ends: one handler per contact at a time."""
    row = await conn.fetchrow(LOCK_CONTACT, contact_id, now)
    assert row is not None
    return Contact(**dict(row))


UPDATE_CONTACT = """
UPDATE sla_contact
SET customer_id = $2, channel = $3, grade = $4, priority_class = $5, category = $6, emergency = $7,
    received_at = $8, agent_id = $9, updated_at = $10, incident_level = $11, value_tier = $12, risk_level = $13,
    lifecycle_stage = $14
WHERE contact_id = $1
"""


async def save_contact(conn: Conn, contact: Contact, *, now: datetime) -> None:
    c = contact
    await conn.execute(
        UPDATE_CONTACT,
        c.contact_id,
        c.customer_id,
        c.channel,
        c.grade,
        c.priority_class,
        c.category,
        c.emergency,
        c.received_at,
        c.agent_id,
        now,
        c.incident_level,
        c.value_tier,
        c.risk_level,
        c.lifecycle_stage,
    )


SELECT_CONTACT = """
SELECT contact_id, customer_id, channel, grade, priority_class, category, emergency, received_at, agent_id,
       incident_level, value_tier, risk_level, lifecycle_stage
FROM sla_contact WHERE contact_id = $1
"""


async def get_contact(conn: Conn, contact_id: uuid.UUID) -> Contact | None:
    row = await conn.fetchrow(SELECT_CONTACT, contact_id)
    return None if row is None else Contact(**dict(row))


# --- events that overtook contact.received ------------------------------------------------------------------


@dataclass(frozen=True)
class EarlyEvent:
    event_id: uuid.UUID
    type: str
    data: dict[str, Any]
    at: datetime


STASH_EVENT = """
INSERT INTO sla_early_event (contact_id, event_id, type, data, at, stashed_at) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT DO NOTHING
"""


async def stash_event(
    conn: Conn,
    contact_id: uuid.UUID,
    *,
    event_id: uuid.UUID,
    type_: str,
    data: dict[str, Any],
    at: datetime,
    now: datetime,
) -> None:
    await conn.execute(STASH_EVENT, contact_id, event_id, type_, data, at, now)


TAKE_EARLY_EVENTS = """
DELETE FROM sla_early_event WHERE contact_id = $1 RETURNING event_id, type, data, at
"""


async def take_early_events(conn: Conn, contact_id: uuid.UUID) -> list[EarlyEvent]:
    """Remove and return the contact's stashed events, oldest first."""
    rows = await conn.fetch(TAKE_EARLY_EVENTS, contact_id)
    return sorted((EarlyEvent(**dict(row)) for row in rows), key=lambda e: (e.at, str(e.event_id)))


COUNT_EARLY_EVENTS = "SELECT count(*) FROM sla_early_event WHERE contact_id = $1"


async def count_early_events(conn: Conn, contact_id: uuid.UUID) -> int:
    return int(await conn.fetchval(COUNT_EARLY_EVENTS, contact_id))
