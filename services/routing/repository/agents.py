"""Agents: profile, presence, desktop connection, and their load computed from the work that holds slots."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.routing.domain.records import AgentRecord
from shared.db import Conn

COLUMNS = """
agent_id, display_name, pool, tier, team, languages, skills, capacity, presence, presence_reason, presence_at,
disconnected_at, idle_since, active
"""

SELECT_LOAD = """
SELECT slot_agent_id, channel, count(*) AS slots, count(*) FILTER (WHERE state = 'wrap_up') AS wrap_ups
FROM work_item WHERE slot_agent_id = ANY($1::text[]) GROUP BY slot_agent_id, channel
"""


async def _with_load(conn: Conn, rows: Sequence[asyncpg.Record]) -> list[AgentRecord]:
    if not rows:
        return []
    loads: dict[str, dict[str, int]] = {}
    wraps: dict[str, int] = {}
    for r in await conn.fetch(SELECT_LOAD, [row["agent_id"] for row in rows]):
        loads.setdefault(r["slot_agent_id"], {})[r["channel"]] = r["slots"]
        wraps[r["slot_agent_id"]] = wraps.get(r["slot_agent_id"], 0) + r["wrap_ups"]
    return [
        AgentRecord(
            agent_id=row["agent_id"],
            display_name=row["display_name"],
            pool=row["pool"],
            tier=row["tier"],
            team=row["team"],
            languages=tuple(row["languages"]),
            skills={str(k): int(v) for k, v in row["skills"].items()},
            capacity={str(k): int(v) for k, v in row["capacity"].items()},
            presence=row["presence"],
            presence_reason=row["presence_reason"],
            presence_at=row["presence_at"],
            disconnected_at=row["disconnected_at"],
            idle_since=row["idle_since"],
            active=row["active"],
            load=loads.get(row["agent_id"], {}),
            wrap_ups=wraps.get(row["agent_id"], 0),
        )
        for row in rows
    ]


SELECT_AGENT = """
SELECT agent_id, display_name, pool, tier, team, languages, skills, capacity, presence, presence_reason,
       presence_at, disconnected_at, idle_since, active,
       coalesce((SELECT jsonb_object_agg(channel, n) FROM (
           SELECT channel, count(*) AS n FROM work_item WHERE slot_agent_id = $1 GROUP BY channel) held),
           '{}') AS load,
       (SELECT count(*) FROM work_item WHERE slot_agent_id = $1 AND state = 'wrap_up') AS wrap_ups
FROM agent WHERE agent_id = $1
"""
SELECT_AGENT_FOR_UPDATE = SELECT_AGENT + " FOR UPDATE OF agent"


async def get_agent(conn: Conn, agent_id: str, *, for_update: bool = False) -> AgentRecord | None:
    """One agent with its load, in one round trip; `for_update` locks the row (capacity checks)."""
    row = await conn.fetchrow(SELECT_AGENT_FOR_UPDATE if for_update else SELECT_AGENT, agent_id)
    if row is None:
        return None
    return AgentRecord(
        agent_id=row["agent_id"],
        display_name=row["display_name"],
        pool=row["pool"],
        tier=row["tier"],
        team=row["team"],
        languages=tuple(row["languages"]),
        skills={str(k): int(v) for k, v in row["skills"].items()},
        capacity={str(k): int(v) for k, v in row["capacity"].items()},
        presence=row["presence"],
        presence_reason=row["presence_reason"],
        presence_at=row["presence_at"],
        disconnected_at=row["disconnected_at"],
        idle_since=row["idle_since"],
        active=row["active"],
        load={str(k): int(v) for k, v in row["load"].items()},
        wrap_ups=int(row["wrap_ups"]),
    )


SELECT_AGENTS = "SELECT" + COLUMNS + "FROM agent WHERE agent_id = ANY($1::text[])"


async def get_agents(conn: Conn, agent_ids: Sequence[str]) -> list[AgentRecord]:
    return await _with_load(conn, await conn.fetch(SELECT_AGENTS, list(agent_ids)))


LOCK_AGENTS = SELECT_AGENTS + " ORDER BY agent_id FOR UPDATE SKIP LOCKED"


async def lock_agents(conn: Conn, agent_ids: Sequence[str]) -> dict[str, AgentRecord]:
    """Lock the agents not locked by another transaction (in key order; never waits) and read their load after
    the lock, so slots taken by transactions that held it are counted. Agents left out are busy or gone."""
    rows = await conn.fetch(LOCK_AGENTS, list(agent_ids))
    return {a.agent_id: a for a in await _with_load(conn, rows)}


LOCK_AGENT = "SELECT 1 FROM agent WHERE agent_id = $1 FOR UPDATE"


async def lock_agent(conn: Conn, agent_id: str) -> None:
    await conn.execute(LOCK_AGENT, agent_id)


LIST_AGENTS = (
    "SELECT"
    + COLUMNS
    + """FROM agent
WHERE ($1::text IS NULL OR pool = $1) AND ($2::text IS NULL OR team = $2)
  AND ($3::timestamptz IS NULL OR updated_at > $3)
ORDER BY agent_id"""
)


async def list_agents(
    conn: Conn, *, pool: str | None = None, team: str | None = None, changed_since: datetime | None = None
) -> list[AgentRecord]:
    return await _with_load(conn, await conn.fetch(LIST_AGENTS, pool, team, changed_since))


UPSERT_AGENT = """
INSERT INTO agent (agent_id, display_name, pool, tier, team, languages, skills, capacity, presence, presence_at,
                   idle_since, active, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'offline', $9, $9, $10, $9, $9)
ON CONFLICT (agent_id) DO UPDATE SET
    display_name = EXCLUDED.display_name, pool = EXCLUDED.pool, tier = EXCLUDED.tier, team = EXCLUDED.team,
    languages = EXCLUDED.languages, skills = EXCLUDED.skills, capacity = EXCLUDED.capacity,
    active = EXCLUDED.active, updated_at = EXCLUDED.updated_at
RETURNING (xmax = 0) AS created
"""


async def upsert_agent(
    conn: Conn,
    *,
    agent_id: str,
    display_name: str,
    pool: str,
    tier: str,
    team: str | None,
    languages: Sequence[str],
    skills: dict[str, int],
    capacity: dict[str, int],
    active: bool,
    now: datetime,
) -> bool:
    """True when the agent is new."""
    created: bool = await conn.fetchval(
        UPSERT_AGENT, agent_id, display_name, pool, tier, team, list(languages), skills, capacity, now, active
    )
    return created


SET_PRESENCE = """
UPDATE agent SET presence = $2, presence_reason = $3, presence_at = $4, idle_since = $4, updated_at = $4
WHERE agent_id = $1
"""


async def set_presence(conn: Conn, *, agent_id: str, presence: str, reason: str | None, now: datetime) -> None:
    await conn.execute(SET_PRESENCE, agent_id, presence, reason, now)


SET_DISCONNECTED = "UPDATE agent SET disconnected_at = $2, updated_at = $3 WHERE agent_id = $1"


async def set_disconnected(conn: Conn, *, agent_id: str, at: datetime | None, now: datetime) -> None:
    await conn.execute(SET_DISCONNECTED, agent_id, at, now)


TOUCH_IDLE = "UPDATE agent SET idle_since = $2, updated_at = $2 WHERE agent_id = $1"


async def touch_idle(conn: Conn, *, agent_id: str, now: datetime) -> None:
    """Workload changed: the longest-idle rule counts from now."""
    await conn.execute(TOUCH_IDLE, agent_id, now)


TOUCH_IDLE_MANY = "UPDATE agent SET idle_since = $2, updated_at = $2 WHERE agent_id = ANY($1::text[])"


async def touch_idle_many(conn: Conn, *, agent_ids: Sequence[str], now: datetime) -> None:
    await conn.execute(TOUCH_IDLE_MANY, sorted(set(agent_ids)), now)


UPSERT_LAST_AGENT = """
INSERT INTO customer_last_agent (customer_id, agent_id, at) VALUES ($1, $2, $3)
ON CONFLICT (customer_id) DO UPDATE SET agent_id = EXCLUDED.agent_id, at = EXCLUDED.at
"""


async def remember_last_agent(conn: Conn, *, customer_id: Any, agent_id: str, now: datetime) -> None:
    await conn.execute(UPSERT_LAST_AGENT, customer_id, agent_id, now)


SELECT_BY_TIER = "SELECT agent_id FROM agent WHERE tier = $1 AND active AND presence <> 'offline'"


async def online_agents_of_tier(conn: Conn, tier: str) -> list[str]:
    return [r["agent_id"] for r in await conn.fetch(SELECT_BY_TIER, tier)]


SELECT_BY_TIER_AND_TEAM = """
SELECT agent_id FROM agent WHERE tier = $1 AND active AND presence <> 'offline' AND ($2::text IS NULL OR team = $2)
"""


async def online_agents_of_team(conn: Conn, tier: str, team: str | None) -> list[str]:
    """Online agents of a tier, of one team when `team` is given."""
    return [r["agent_id"] for r in await conn.fetch(SELECT_BY_TIER_AND_TEAM, tier, team)]
