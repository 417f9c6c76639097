"""Offers and assignments. The unique indexes are the last word: one live offer and one current assignment
per work item, whichever instance writes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.routing.domain.records import OfferRecord
from shared.db import Conn

OFFER_COLUMNS = """
offer_id, work_id, agent_id, pool, epoch, status, created_at, expires_at, decided_at, reason, forced_by, decision
"""

INSERT_OFFERS = """
INSERT INTO offer (offer_id, work_id, agent_id, pool, epoch, status, created_at, expires_at, forced_by, decision)
SELECT u.offer_id, u.work_id, u.agent_id, u.pool, $5, 'live', $6, $7, $8, u.decision
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $9::jsonb[])
  AS u(offer_id, work_id, agent_id, pool, decision)
"""


async def insert_offers(
    conn: Conn,
    *,
    offers: Sequence[tuple[uuid.UUID, uuid.UUID, str, str, dict[str, Any]]],
    epoch: int,
    now: datetime,
    expires_at: datetime,
    forced_by: str | None = None,
) -> None:
    """Live offers (offer, work, agent, pool, decision) made at one epoch (0: forced, no lease), in one
    statement."""
    await conn.execute(
        INSERT_OFFERS,
        [o[0] for o in offers],
        [o[1] for o in offers],
        [o[2] for o in offers],
        [o[3] for o in offers],
        epoch,
        now,
        expires_at,
        forced_by,
        [o[4] for o in offers],
    )


SELECT_OFFER = "SELECT" + OFFER_COLUMNS + "FROM offer WHERE offer_id = $1"
SELECT_OFFER_FOR_UPDATE = SELECT_OFFER + " FOR UPDATE"


async def get_offer(conn: Conn, offer_id: uuid.UUID, *, for_update: bool = False) -> OfferRecord | None:
    row = await conn.fetchrow(SELECT_OFFER_FOR_UPDATE if for_update else SELECT_OFFER, offer_id)
    return OfferRecord(**dict(row)) if row else None


SELECT_LIVE_FOR_WORK = "SELECT" + OFFER_COLUMNS + "FROM offer WHERE work_id = $1 AND status = 'live'"


async def live_offer_for_work(conn: Conn, work_id: uuid.UUID) -> OfferRecord | None:
    row = await conn.fetchrow(SELECT_LIVE_FOR_WORK, work_id)
    return OfferRecord(**dict(row)) if row else None


SELECT_LIVE_FOR_WORKS = "SELECT" + OFFER_COLUMNS + "FROM offer WHERE work_id = ANY($1::uuid[]) AND status = 'live'"


async def live_offers_for_works(conn: Conn, work_ids: Sequence[uuid.UUID]) -> list[OfferRecord]:
    return [OfferRecord(**dict(r)) for r in await conn.fetch(SELECT_LIVE_FOR_WORKS, list(work_ids))]


SELECT_STILL_LIVE = "SELECT offer_id FROM offer WHERE offer_id = ANY($1::uuid[]) AND status = 'live'"


async def still_live(conn: Conn, offer_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these offers are still live (unlocked read: a caller that acts on one locks it first)."""
    return {row["offer_id"] for row in await conn.fetch(SELECT_STILL_LIVE, list(offer_ids))}


SELECT_LIVE_FOR_AGENT = (
    "SELECT" + OFFER_COLUMNS + "FROM offer WHERE agent_id = $1 AND status = 'live' ORDER BY created_at"
)


async def live_offers_for_agent(conn: Conn, agent_id: str) -> list[OfferRecord]:
    return [OfferRecord(**dict(r)) for r in await conn.fetch(SELECT_LIVE_FOR_AGENT, agent_id)]


SELECT_LIVE_IN_POOL = "SELECT" + OFFER_COLUMNS + "FROM offer WHERE pool = $1 AND status = 'live'"


async def live_offers_in_pool(conn: Conn, pool: str) -> list[OfferRecord]:
    return [OfferRecord(**dict(r)) for r in await conn.fetch(SELECT_LIVE_IN_POOL, pool)]


SELECT_OFFERS_FOR_WORK = "SELECT" + OFFER_COLUMNS + "FROM offer WHERE work_id = $1 ORDER BY created_at"


async def offers_for_work(conn: Conn, work_ids: uuid.UUID) -> list[OfferRecord]:
    return [OfferRecord(**dict(r)) for r in await conn.fetch(SELECT_OFFERS_FOR_WORK, work_ids)]


CLOSE_OFFER = "UPDATE offer SET status = $2, decided_at = $3, reason = $4 WHERE offer_id = $1 AND status = 'live'"


async def close_offer(conn: Conn, *, offer_id: uuid.UUID, status: str, reason: str | None, now: datetime) -> bool:
    return bool(await conn.execute(CLOSE_OFFER, offer_id, status, now, reason) == "UPDATE 1")


INSERT_ASSIGNMENT = """
INSERT INTO assignment (work_id, agent_id, via, started_at, override_by) VALUES ($1, $2, $3, $4, $5)
"""


async def start_assignment(
    conn: Conn, *, work_id: uuid.UUID, agent_id: str, via: str, now: datetime, override_by: str | None = None
) -> None:
    await conn.execute(INSERT_ASSIGNMENT, work_id, agent_id, via, now, override_by)


END_ASSIGNMENT = """
UPDATE assignment SET ended_at = $2, end_reason = $3 WHERE work_id = $1 AND ended_at IS NULL
"""


async def end_assignment(conn: Conn, *, work_id: uuid.UUID, reason: str, now: datetime) -> None:
    await conn.execute(END_ASSIGNMENT, work_id, now, reason)


SELECT_ASSIGNMENTS = """
SELECT agent_id, via, started_at, ended_at, end_reason, override_by FROM assignment WHERE work_id = $1
ORDER BY assignment_id
"""


async def assignments_of(conn: Conn, work_id: uuid.UUID) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(SELECT_ASSIGNMENTS, work_id)]


SELECT_DOUBLE_ASSIGNED = """
SELECT work_id FROM assignment WHERE ended_at IS NULL GROUP BY work_id HAVING count(*) > 1
"""


async def double_assigned(conn: Conn) -> Sequence[uuid.UUID]:
    return [r["work_id"] for r in await conn.fetch(SELECT_DOUBLE_ASSIGNED)]
