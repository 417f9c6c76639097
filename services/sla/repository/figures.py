"""Read models for supervisors: attainment figures and the clocks closest to breach."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.sla.domain.clock import Clock
from services.sla.repository.clocks import clock_from
from shared.db import Conn


@dataclass(frozen=True)
class Grouping:
    clock: bool = True
    grade: bool = False
    priority_class: bool = False
    channel: bool = False
    period: str | None = None
    """`day`, `week` or `month` (in `time_zone`), or None for the whole range."""
    value_tier: bool = False
    risk_level: bool = False
    lifecycle_stage: bool = False
    """The customer's attributes as the contact arrived with them; `(none)` groups contacts without one."""


@dataclass(frozen=True)
class Filters:
    since: datetime
    until: datetime
    clock: str | None = None
    grade: str | None = None
    priority_class: str | None = None
    channel: str | None = None
    value_tier: str | None = None
    risk_level: str | None = None
    lifecycle_stage: str | None = None


@dataclass(frozen=True)
class AttainmentRow:
    clock: str | None
    grade: str | None
    priority_class: str | None
    channel: str | None
    period: datetime | None
    met: int
    missed: int
    open: int
    breaches: int
    mean_s: float | None
    p90_s: float | None
    goal: float | None
    value_tier: str | None = None
    risk_level: str | None = None
    lifecycle_stage: str | None = None


# One statement for every grouping: a dimension left out of the grouping is NULL in every row. The customer's
# attributes come from the contact row (they never change with a re-target).
ATTAINMENT = """
SELECT
    CASE WHEN $1 THEN c.clock END AS clock,
    CASE WHEN $2 THEN c.grade END AS grade,
    CASE WHEN $3 THEN c.priority_class END AS priority_class,
    CASE WHEN $4 THEN c.channel END AS channel,
    CASE WHEN $5::text IS NOT NULL THEN date_trunc($5::text, c.started_at AT TIME ZONE $6) END AS period,
    CASE WHEN $13 THEN COALESCE(co.value_tier, '(none)') END AS value_tier,
    CASE WHEN $14 THEN COALESCE(co.risk_level, '(none)') END AS risk_level,
    CASE WHEN $15 THEN COALESCE(co.lifecycle_stage, '(none)') END AS lifecycle_stage,
    count(*) FILTER (WHERE c.state = 'met') AS met,
    count(*) FILTER (WHERE c.state = 'missed') AS missed,
    count(*) FILTER (WHERE c.state IN ('running', 'paused')) AS open,
    count(*) FILTER (WHERE c.breached_at IS NOT NULL) AS breaches,
    avg(c.elapsed_s) FILTER (WHERE c.state IN ('met', 'missed')) AS mean_s,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY c.elapsed_s) FILTER (WHERE c.state IN ('met', 'missed')) AS p90_s,
    max((c.spec->>'goal')::double precision) AS goal
FROM sla_clock c JOIN sla_contact co ON co.contact_id = c.contact_id
WHERE c.started_at >= $7 AND c.started_at < $8 AND c.state <> 'cancelled'
  AND ($9::text IS NULL OR c.clock = $9)
  AND ($10::text IS NULL OR c.grade = $10)
  AND ($11::text IS NULL OR c.priority_class = $11)
  AND ($12::text IS NULL OR c.channel = $12)
  AND ($16::text IS NULL OR co.value_tier = $16)
  AND ($17::text IS NULL OR co.risk_level = $17)
  AND ($18::text IS NULL OR co.lifecycle_stage = $18)
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
ORDER BY 5 NULLS FIRST, 1 NULLS FIRST, 2 NULLS FIRST, 3 NULLS FIRST, 4 NULLS FIRST, 6 NULLS FIRST, 7 NULLS FIRST,
         8 NULLS FIRST
"""


async def attainment(conn: Conn, *, grouping: Grouping, filters: Filters, time_zone: str) -> list[AttainmentRow]:
    rows = await conn.fetch(
        ATTAINMENT,
        grouping.clock,
        grouping.grade,
        grouping.priority_class,
        grouping.channel,
        grouping.period,
        time_zone,
        filters.since,
        filters.until,
        filters.clock,
        filters.grade,
        filters.priority_class,
        filters.channel,
        grouping.value_tier,
        grouping.risk_level,
        grouping.lifecycle_stage,
        filters.value_tier,
        filters.risk_level,
        filters.lifecycle_stage,
    )
    return [AttainmentRow(**dict(row)) for row in rows]


@dataclass(frozen=True)
class AtRisk:
    clock: Clock
    due_at: datetime
    grade: str | None
    priority_class: str | None
    channel: str | None
    agent_id: str | None


AT_RISK = """
SELECT c.contact_id, c.clock, c.spec, c.target_s, c.state, c.started_at, c.since, c.elapsed_s, c.paused_s,
       c.breached_at, c.fired, c.stopped_by, c.due_at, c.grade, c.priority_class, c.channel, co.agent_id
FROM sla_clock c JOIN sla_contact co ON co.contact_id = c.contact_id
WHERE c.state = 'running' AND ($2 OR c.breached_at IS NULL)
  AND ($3::text IS NULL OR c.clock = $3)
  AND ($4::text IS NULL OR c.grade = $4)
  AND ($5::text IS NULL OR c.channel = $5)
ORDER BY c.due_at
LIMIT $1
"""


async def at_risk(
    conn: Conn,
    *,
    limit: int,
    include_breached: bool,
    clock: str | None,
    grade: str | None,
    channel: str | None,
) -> list[AtRisk]:
    rows = await conn.fetch(AT_RISK, limit, include_breached, clock, grade, channel)
    return [
        AtRisk(
            clock_from(row), row["due_at"], row["grade"], row["priority_class"], row["channel"], row["agent_id"]
        )
        for row in rows
    ]
