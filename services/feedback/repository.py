"""Feedback's tables: policies and their audit, the contact projection, invitations, responses, receipts."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.feedback.domain.answers import Answers
from services.feedback.domain.figures import Tally
from services.feedback.domain.policy import QuietHours, SurveyPolicy, questions_from_json, questions_to_json
from services.feedback.domain.schedule import ContactFacts, Invitation
from shared.db import Conn

# --- policies -----------------------------------------------------------------------------------------------

_POLICY_COLUMNS = """
channel, enabled, invite_channel, delay, expiry, quiet_start, quiet_end, time_zone, frequency_cap,
sampling_rate, questions, languages, low_csat_max, low_nps_max, version, updated_at, updated_by
"""


def _policy(row: asyncpg.Record) -> SurveyPolicy:
    quiet = None
    if row["quiet_start"] is not None and row["quiet_end"] is not None:
        quiet = QuietHours(row["quiet_start"], row["quiet_end"])
    return SurveyPolicy(
        channel=row["channel"],
        enabled=row["enabled"],
        invite_channel=row["invite_channel"],
        delay=row["delay"],
        expiry=row["expiry"],
        quiet_hours=quiet,
        time_zone=row["time_zone"],
        frequency_cap=row["frequency_cap"],
        sampling_rate=row["sampling_rate"],
        questions=questions_from_json(row["questions"]),
        languages=tuple(row["languages"]),
        low_csat_max=row["low_csat_max"],
        low_nps_max=row["low_nps_max"],
        version=row["version"],
        extras={"updated_at": row["updated_at"], "updated_by": row["updated_by"]},
    )


SELECT_POLICIES = "SELECT" + _POLICY_COLUMNS + "FROM survey_policy ORDER BY channel"


async def list_policies(conn: Conn) -> list[SurveyPolicy]:
    return [_policy(r) for r in await conn.fetch(SELECT_POLICIES)]


SELECT_POLICY = "SELECT" + _POLICY_COLUMNS + "FROM survey_policy WHERE channel = $1"


async def get_policy(conn: Conn, *, channel: str) -> SurveyPolicy | None:
    row = await conn.fetchrow(SELECT_POLICY, channel)
    return None if row is None else _policy(row)


UPSERT_POLICY = (
    """
INSERT INTO survey_policy (
    channel, enabled, invite_channel, delay, expiry, quiet_start, quiet_end, time_zone, frequency_cap,
    sampling_rate, questions, languages, low_csat_max, low_nps_max, version, updated_at, updated_by
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1, $15, $16)
ON CONFLICT (channel) DO UPDATE SET
    enabled = EXCLUDED.enabled, invite_channel = EXCLUDED.invite_channel, delay = EXCLUDED.delay,
    expiry = EXCLUDED.expiry, quiet_start = EXCLUDED.quiet_start, quiet_end = EXCLUDED.quiet_end,
    time_zone = EXCLUDED.time_zone, frequency_cap = EXCLUDED.frequency_cap,
    sampling_rate = EXCLUDED.sampling_rate, questions = EXCLUDED.questions, languages = EXCLUDED.languages,
    low_csat_max = EXCLUDED.low_csat_max, low_nps_max = EXCLUDED.low_nps_max,
    version = survey_policy.version + 1, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
RETURNING"""
    + _POLICY_COLUMNS
)


async def save_policy(conn: Conn, *, policy: SurveyPolicy, by: str, now: datetime) -> SurveyPolicy:
    """Insert or replace the channel's policy; the version goes up by one on every change."""
    quiet = policy.quiet_hours
    row = await conn.fetchrow(
        UPSERT_POLICY,
        policy.channel,
        policy.enabled,
        policy.invite_channel,
        policy.delay,
        policy.expiry,
        None if quiet is None else quiet.start,
        None if quiet is None else quiet.end,
        policy.time_zone,
        policy.frequency_cap,
        policy.sampling_rate,
        questions_to_json(policy.questions),
        list(policy.languages),
        policy.low_csat_max,
        policy.low_nps_max,
        now,
        by,
    )
    assert row is not None
    return _policy(row)


LOCK_POLICY = "SELECT version FROM survey_policy WHERE channel = $1 FOR UPDATE"


async def lock_policy_version(conn: Conn, *, channel: str) -> int | None:
    version = await conn.fetchval(LOCK_POLICY, channel)
    return None if version is None else int(version)


INSERT_AUDIT = """
INSERT INTO audit_entry (actor, role, action, subject, detail, at) VALUES ($1, $2, $3, $4, $5, $6)
"""


async def insert_audit(
    conn: Conn, *, actor: str, role: str, action: str, subject: str, detail: Mapping[str, Any], now: datetime
) -> None:
    await conn.execute(INSERT_AUDIT, actor, role, action, subject, dict(detail), now)


SELECT_AUDIT = """
SELECT actor, role, action, subject, detail, at FROM audit_entry
WHERE ($1::text IS NULL OR subject = $1) ORDER BY audit_entry_id DESC LIMIT $2
"""


async def list_audit(conn: Conn, *, subject: str | None, limit: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(SELECT_AUDIT, subject, limit)]


# --- the contact projection ---------------------------------------------------------------------------------

UPSERT_CONTACT = """
INSERT INTO contact_fact (
    contact_id, channel, customer_id, original_customer_id, grade, category, language, phone, email,
    chat_session, time_zone, updated_at
) VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (contact_id) DO UPDATE SET
    channel = EXCLUDED.channel, customer_id = EXCLUDED.customer_id,
    original_customer_id = EXCLUDED.original_customer_id, grade = EXCLUDED.grade,
    category = EXCLUDED.category, language = COALESCE(EXCLUDED.language, contact_fact.language),
    phone = COALESCE(EXCLUDED.phone, contact_fact.phone), email = COALESCE(EXCLUDED.email, contact_fact.email),
    chat_session = COALESCE(EXCLUDED.chat_session, contact_fact.chat_session),
    time_zone = COALESCE(EXCLUDED.time_zone, contact_fact.time_zone), updated_at = EXCLUDED.updated_at
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
    )


SET_CONTACT_CATEGORY = "UPDATE contact_fact SET category = $2, updated_at = $3 WHERE contact_id = $1"


async def set_contact_category(conn: Conn, *, contact_id: uuid.UUID, category: str, now: datetime) -> None:
    await conn.execute(SET_CONTACT_CATEGORY, contact_id, category, now)


SET_CONTACT_AGENT = """
UPDATE contact_fact SET agent_id = $2, team = COALESCE($3, team), updated_at = $4 WHERE contact_id = $1
"""


async def set_contact_agent(
    conn: Conn, *, contact_id: uuid.UUID, agent_id: str, team: str | None, now: datetime
) -> None:
    await conn.execute(SET_CONTACT_AGENT, contact_id, agent_id, team, now)


SELECT_CONTACT = """
SELECT contact_id, channel, customer_id, grade, category, language, phone, email, chat_session, time_zone,
       agent_id, team
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


# --- invitations --------------------------------------------------------------------------------------------

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


# --- responses and receipts ---------------------------------------------------------------------------------

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


# --- figures ------------------------------------------------------------------------------------------------

# The group key is picked by a parameter from a fixed list, so the statement stays one constant.
TALLIES = """
SELECT
    CASE $1::text
        WHEN 'agent' THEN agent_id
        WHEN 'team' THEN COALESCE(team, '(none)')
        WHEN 'channel' THEN channel
        WHEN 'grade' THEN grade
        WHEN 'category' THEN COALESCE(category, '(none)')
        WHEN 'day' THEN to_char(sent_at AT TIME ZONE $4::text, 'YYYY-MM-DD')
        ELSE 'all'
    END AS key,
    count(*) FILTER (WHERE COALESCE(delivery, '') NOT IN ('failed', 'bounced')) AS sent,
    count(*) FILTER (WHERE status = 'answered') AS answered,
    count(csat) AS csat_answers,
    count(*) FILTER (WHERE csat >= 4) AS csat_satisfied,
    COALESCE(sum(csat_points), 0)::float8 AS csat_points,
    count(nps) AS nps_answers,
    count(*) FILTER (WHERE nps >= 9) AS promoters,
    count(*) FILTER (WHERE nps <= 6) AS detractors,
    count(solved) AS solved_answers,
    count(*) FILTER (WHERE solved AND fcr) AS first_contact_resolved
FROM invitation
WHERE sent_at >= $2 AND sent_at < $3
  AND ($5::text IS NULL OR agent_id = $5)
  AND ($6::text IS NULL OR team = $6)
  AND ($7::text IS NULL OR channel = $7)
GROUP BY 1
ORDER BY 1
"""


async def tallies(
    conn: Conn,
    *,
    by: str,
    since: datetime,
    until: datetime,
    time_zone: str,
    agent_id: str | None = None,
    team: str | None = None,
    channel: str | None = None,
) -> list[tuple[str, Tally]]:
    """Counts per group over invitations sent in [since, until)."""
    rows = await conn.fetch(TALLIES, by, since, until, time_zone, agent_id, team, channel)
    found: list[tuple[str, Tally]] = []
    for row in rows:
        counts = dict(row)
        key = str(counts.pop("key"))
        found.append((key, Tally(**counts)))
    return found


LOW_SCORE_COMMENTS = """
SELECT i.invitation_id, i.contact_id, i.agent_id, i.team, i.channel, r.csat, r.nps, r.solved, r.comment,
       r.followup_reasons, r.answered_at
FROM survey_response r JOIN invitation i ON i.invitation_id = r.invitation_id
WHERE cardinality(r.followup_reasons) > 0 AND i.sent_at >= $1 AND i.sent_at < $2
  AND ($4::text IS NULL OR i.agent_id = $4)
  AND ($5::text IS NULL OR i.team = $5)
  AND ($6::text IS NULL OR i.channel = $6)
ORDER BY r.answered_at DESC
LIMIT $3
"""


async def low_score_comments(
    conn: Conn,
    *,
    since: datetime,
    until: datetime,
    limit: int,
    agent_id: str | None = None,
    team: str | None = None,
    channel: str | None = None,
) -> list[dict[str, Any]]:
    rows = await conn.fetch(LOW_SCORE_COMMENTS, since, until, limit, agent_id, team, channel)
    return [dict(r) for r in rows]


PURGE_COMMENTS = "UPDATE survey_response SET comment = NULL WHERE comment IS NOT NULL AND answered_at < $1"


async def purge_comments_before(conn: Conn, *, cutoff: datetime) -> int:
    """Retention: survey comments are kept one year (RULES.md, Security); the scores stay."""
    status = await conn.execute(PURGE_COMMENTS, cutoff)
    return int(status.rsplit(" ", 1)[-1])
