"""Counts behind the satisfaction figures, low-score comments, and comment retention."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.feedback.domain.figures import Tally
from shared.db import Conn

# The group key is picked by a parameter from a fixed list, so the statement stays one constant. The customer's
# attributes come from the contact as intake announced it.
TALLIES = """
SELECT
    CASE $1::text
        WHEN 'agent' THEN i.agent_id
        WHEN 'team' THEN COALESCE(i.team, '(none)')
        WHEN 'channel' THEN i.channel
        WHEN 'grade' THEN i.grade
        WHEN 'category' THEN COALESCE(i.category, '(none)')
        WHEN 'subcategory'
            THEN COALESCE(f.category, i.category, '(none)') || '/' || COALESCE(f.subcategory, '(none)')
        WHEN 'day' THEN to_char(i.sent_at AT TIME ZONE $4::text, 'YYYY-MM-DD')
        WHEN 'value_tier' THEN COALESCE(f.value_tier, '(none)')
        WHEN 'risk_level' THEN COALESCE(f.risk_level, '(none)')
        WHEN 'lifecycle_stage' THEN COALESCE(f.lifecycle_stage, '(none)')
        ELSE 'all'
    END AS key,
    count(*) FILTER (WHERE COALESCE(i.delivery, '') NOT IN ('failed', 'bounced')) AS sent,
    count(*) FILTER (WHERE i.status = 'answered') AS answered,
    count(i.csat) AS csat_answers,
    count(*) FILTER (WHERE i.csat >= 4) AS csat_satisfied,
    COALESCE(sum(i.csat_points), 0)::float8 AS csat_points,
    count(i.nps) AS nps_answers,
    count(*) FILTER (WHERE i.nps >= 9) AS promoters,
    count(*) FILTER (WHERE i.nps <= 6) AS detractors,
    count(i.solved) AS solved_answers,
    count(*) FILTER (WHERE i.solved AND i.fcr) AS first_contact_resolved
FROM invitation i LEFT JOIN contact_fact f ON f.contact_id = i.contact_id
WHERE i.sent_at >= $2 AND i.sent_at < $3
  AND ($5::text IS NULL OR i.agent_id = $5)
  AND ($6::text IS NULL OR i.team = $6)
  AND ($7::text IS NULL OR i.channel = $7)
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
