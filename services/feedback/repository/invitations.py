"""Invitations (the durable timers and their fate), responses and delivery receipts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.feedback.domain.answers import Answers
from services.feedback.domain.schedule import Invitation
from shared.db import Conn

_INVITATION_COLUMNS = """
invitation_id, contact_id, work_id, resolved_at, status, agent_id, fcr, customer_notified, created_at, reason,
channel, customer_id, grade, category, team, invite_channel, recipient, language, time_zone, policy_version,
due_at, sent_at, expires_at, closed_at, message_id, delivery
"""


def _invitation(row: asyncpg.Record) -> Invitation:
    return Invitation(**dict(row))


INSERT_INVITATION = """
INSERT INTO invitation (
    invitation_id, contact_id, work_id, resolved_at, status, agent_id, fcr, customer_notified, created_at,
    reason, channel, customer_id, original_customer_id, grade, category, team, invite_channel, recipient,
    language, time_zone, policy_version, due_at, closed_at
) VALUES (
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22
)
ON CONFLICT (contact_id, resolved_at) DO NOTHING
"""


async def insert_invitation(conn: Conn, *, invitation: Invitation) -> bool:
    """False if this resolution already has its invitation (a replayed event)."""
    i = invitation
    status = await conn.execute(
        INSERT_INVITATION,
        i.invitation_id, i.contact_id, i.work_id, i.resolved_at, i.status, i.agent_id, i.fcr,
        i.customer_notified, i.created_at, i.reason, i.channel, i.customer_id, i.grade, i.category, i.team,
        i.invite_channel, i.recipient, i.language, i.time_zone, i.policy_version, i.due_at, i.closed_at,
    )  # fmt: skip
    return bool(status == "INSERT 0 1")


UPDATE_PLANNED = """
UPDATE invitation SET
    status = $2, reason = $3, channel = $4, customer_id = $5, original_customer_id = $5, grade = $6,
    category = $7, team = $8,
    invite_channel = $9, recipient = $10, language = $11, time_zone = $12, policy_version = $13, due_at = $14,
    closed_at = $15
WHERE invitation_id = $1
"""


async def update_planned(conn: Conn, *, invitation: Invitation) -> None:
    """Store the plan made for an invitation that waited for its contact's facts."""
    i = invitation
    await conn.execute(
        UPDATE_PLANNED,
        i.invitation_id, i.status, i.reason, i.channel, i.customer_id, i.grade, i.category, i.team,
        i.invite_channel, i.recipient, i.language, i.time_zone, i.policy_version, i.due_at, i.closed_at,
    )  # fmt: skip


LAST_SURVEYED = """
SELECT max(COALESCE(sent_at, due_at)) FROM invitation
WHERE customer_id = $1 AND status IN ('scheduled', 'sent', 'answered', 'expired') AND invitation_id <> $2
"""


async def last_surveyed_at(conn: Conn, *, customer_id: uuid.UUID, other_than: uuid.UUID) -> datetime | None:
    """The customer's latest invitation sent, or still waiting to go, other than `other_than`."""
    value: datetime | None = await conn.fetchval(LAST_SURVEYED, customer_id, other_than)
    return value


LAST_SENT = """
SELECT max(sent_at) FROM invitation
WHERE customer_id = $1 AND status IN ('sent', 'answered', 'expired') AND invitation_id <> $2
"""


async def last_sent_at(conn: Conn, *, customer_id: uuid.UUID, other_than: uuid.UUID) -> datetime | None:
    value: datetime | None = await conn.fetchval(LAST_SENT, customer_id, other_than)
    return value


LOCK_CUSTOMER = "SELECT pg_advisory_xact_lock(hashtextextended($1::text, 6))"


async def lock_customer(conn: Conn, *, customer_id: uuid.UUID) -> None:
    """Serialise the cap check of one customer across scheduler instances until the transaction ends."""
    await conn.execute(LOCK_CUSTOMER, str(customer_id))


LOCK_DUE = (
    "SELECT"
    + _INVITATION_COLUMNS
    + """FROM invitation WHERE status = 'scheduled' AND due_at <= $1
ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED"""
)


async def lock_due(conn: Conn, *, now: datetime, limit: int) -> list[Invitation]:
    return [_invitation(r) for r in await conn.fetch(LOCK_DUE, now, limit)]


LOCK_EXPIRED = (
    "SELECT"
    + _INVITATION_COLUMNS
    + """FROM invitation WHERE status = 'sent' AND expires_at <= $1
ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED"""
)


async def lock_expired(conn: Conn, *, now: datetime, limit: int) -> list[Invitation]:
    return [_invitation(r) for r in await conn.fetch(LOCK_EXPIRED, now, limit)]


LOCK_WAITING = (
    "SELECT"
    + _INVITATION_COLUMNS
    + "FROM invitation WHERE contact_id = $1 AND status = 'waiting_contact' FOR UPDATE"
)


async def lock_waiting(conn: Conn, *, contact_id: uuid.UUID) -> list[Invitation]:
    return [_invitation(r) for r in await conn.fetch(LOCK_WAITING, contact_id)]


LOCK_INVITATION = "SELECT" + _INVITATION_COLUMNS + "FROM invitation WHERE invitation_id = $1 FOR UPDATE"


async def lock_invitation(conn: Conn, *, invitation_id: uuid.UUID) -> Invitation | None:
    row = await conn.fetchrow(LOCK_INVITATION, invitation_id)
    return None if row is None else _invitation(row)


SELECT_INVITATION = "SELECT" + _INVITATION_COLUMNS + "FROM invitation WHERE invitation_id = $1"


async def get_invitation(conn: Conn, *, invitation_id: uuid.UUID) -> Invitation | None:
    row = await conn.fetchrow(SELECT_INVITATION, invitation_id)
    return None if row is None else _invitation(row)


SELECT_BY_MESSAGE = "SELECT" + _INVITATION_COLUMNS + "FROM invitation WHERE message_id = $1"


async def get_invitation_by_message(conn: Conn, *, message_id: uuid.UUID) -> Invitation | None:
    row = await conn.fetchrow(SELECT_BY_MESSAGE, message_id)
    return None if row is None else _invitation(row)


SELECT_OPEN_BY_RECIPIENT = (
    "SELECT"
    + _INVITATION_COLUMNS
    + """FROM invitation WHERE invite_channel = $1 AND recipient = $2 AND status = 'sent' AND expires_at > $3
ORDER BY sent_at DESC LIMIT 1"""
)


async def open_invitation_for(
    conn: Conn, *, invite_channel: str, recipient: str, now: datetime
) -> Invitation | None:
    """The latest open invitation sent to this address: what an SMS reply without a reference answers."""
    row = await conn.fetchrow(SELECT_OPEN_BY_RECIPIENT, invite_channel, recipient, now)
    return None if row is None else _invitation(row)


SELECT_FOR_CONTACT = (
    "SELECT" + _INVITATION_COLUMNS + "FROM invitation WHERE contact_id = $1 ORDER BY resolved_at, created_at"
)


async def invitations_for_contact(conn: Conn, *, contact_id: uuid.UUID) -> list[Invitation]:
    return [_invitation(r) for r in await conn.fetch(SELECT_FOR_CONTACT, contact_id)]


MARK_SENT = """
-- delivery_at stays empty until the first receipt, so an adapter's clock running behind ours loses nothing.
UPDATE invitation SET status = 'sent', sent_at = $2, expires_at = $3, message_id = $4, delivery = 'requested',
    delivery_at = NULL
WHERE invitation_id = $1 AND status = 'scheduled'
"""


async def mark_sent(
    conn: Conn, *, invitation_id: uuid.UUID, now: datetime, expires_at: datetime, message_id: uuid.UUID
) -> None:
    await conn.execute(MARK_SENT, invitation_id, now, expires_at, message_id)


DEFER = "UPDATE invitation SET due_at = $2 WHERE invitation_id = $1 AND status = 'scheduled'"


async def defer(conn: Conn, *, invitation_id: uuid.UUID, until: datetime) -> None:
    await conn.execute(DEFER, invitation_id, until)


CLOSE = "UPDATE invitation SET status = $2, reason = $3, closed_at = $4 WHERE invitation_id = $1"


ANSWERED = """
UPDATE invitation SET status = 'answered', closed_at = $2, csat = $3, csat_points = $4, nps = $5, solved = $6
WHERE invitation_id = $1
"""


async def mark_answered(
    conn: Conn, *, invitation_id: uuid.UUID, answers: Answers, csat_points: float | None, now: datetime
) -> None:
    await conn.execute(ANSWERED, invitation_id, now, answers.csat, csat_points, answers.nps, answers.solved)


async def close_invitation(
    conn: Conn, *, invitation_id: uuid.UUID, status: str, reason: str | None, now: datetime
) -> None:
    await conn.execute(CLOSE, invitation_id, status, reason, now)


CANCEL_SCHEDULED = (
    """
UPDATE invitation SET status = 'cancelled', reason = $2, closed_at = $3
WHERE contact_id = $1 AND status IN ('scheduled', 'waiting_contact')
RETURNING"""
    + _INVITATION_COLUMNS
)


async def cancel_scheduled(conn: Conn, *, contact_id: uuid.UUID, reason: str, now: datetime) -> list[Invitation]:
    return [_invitation(r) for r in await conn.fetch(CANCEL_SCHEDULED, contact_id, reason, now)]


INSERT_RESPONSE = """
INSERT INTO survey_response (
    survey_response_id, invitation_id, source, csat, csat_points, nps, solved, comment, followup_reasons,
    answered_at
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (invitation_id) DO NOTHING
"""


async def insert_response(
    conn: Conn,
    *,
    response_id: uuid.UUID,
    invitation_id: uuid.UUID,
    source: str,
    answers: Answers,
    csat_points: float | None,
    followup_reasons: Sequence[str],
    now: datetime,
) -> bool:
    """False if the invitation already has its answer: one submission per invitation."""
    status = await conn.execute(
        INSERT_RESPONSE,
        response_id,
        invitation_id,
        source,
        answers.csat,
        csat_points,
        answers.nps,
        answers.solved,
        answers.comment,
        list(followup_reasons),
        now,
    )
    return bool(status == "INSERT 0 1")


INSERT_RECEIPT = """
INSERT INTO delivery_receipt (message_id, status, detail, reported_at, reported_by, received_at)
VALUES ($1, $2, $3, $4, $5, $6)
"""
SET_DELIVERY = """
UPDATE invitation SET delivery = $2, delivery_at = $3
WHERE message_id = $1 AND (delivery_at IS NULL OR delivery_at <= $3)
"""


async def record_receipt(
    conn: Conn,
    *,
    message_id: uuid.UUID,
    status: str,
    detail: str | None,
    reported_at: datetime,
    by: str,
    now: datetime,
) -> None:
    """Keep every receipt; the invitation shows the latest by the adapter's own timestamp."""
    await conn.execute(INSERT_RECEIPT, message_id, status, detail, reported_at, by, now)
    await conn.execute(SET_DELIVERY, message_id, status, reported_at)
