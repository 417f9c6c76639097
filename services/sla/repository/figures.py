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


@dataclass(frozen=True)
class Filters:
    since: datetime
    until: datetime
    clock: str | None = None
    grade: str | None = None
    priority_class: str | None = None
    channel: str | None = None


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


# One statement for every grouping: a dimension left out of the grouping is NULL in every row.
ATTAINMENT = """
SELECT
    CASE WHEN $1 THEN clock END AS clock,
    CASE WHEN $2 THEN grade END AS grade,
    CASE WHEN $3 THEN priority_class END AS priority_class,
    CASE WHEN $4 THEN channel END AS channel,
    CASE WHEN $5::text IS NOT NULL THEN date_trunc($5::text, started_at AT TIME ZONE $6) END AS period,
    count(*) FILTER (WHERE state = 'met') AS met,
    count(*) FILTER (WHERE state = 'missed') AS missed,
    count(*) FILTER (WHERE state IN ('running', 'paused')) AS open,
    count(*) FILTER (WHERE breached_at IS NOT NULL) AS breaches,
    avg(elapsed_s) FILTER (WHERE state IN ('met', 'missed')) AS mean_s,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY elapsed_s) FILTER (WHERE state IN ('met', 'missed')) AS p90_s,
    max((spec->>'goal')::double precision) AS goal
FROM sla_clock
WHERE started_at >= $7 AND started_at < $8 AND state <> 'cancelled'
  AND ($9::text IS NULL OR clock = $9)
  AND ($10::text IS NULL OR grade = $10)
  AND ($11::text IS NULL OR priority_class = $11)
  AND ($12::text IS NULL OR channel = $12)
GROUP BY 1, 2, 3, 4, 5
ORDER BY 5 NULLS FIRST, 1 NULLS FIRST, 2 NULLS FIRST, 3 NULLS FIRST, 4 NULLS FIRST
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
