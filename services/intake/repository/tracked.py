"""Tracked registration (002 §2.2): high-risk customers' contacts, registered and listed with who handled them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shared.db import Conn

REGISTER_OPEN = """
INSERT INTO tracked_contact (contact_id, customer_id, reason, registered_at)
SELECT c.contact_id, c.customer_id, $2, $3 FROM contact c
WHERE c.customer_id = ANY($1::uuid[]) AND c.status IN ('received', 'reopened')
ON CONFLICT (contact_id) DO NOTHING
"""


async def register_open_contacts(
    conn: Conn, *, customer_ids: Sequence[uuid.UUID], reason: str, now: datetime
) -> int:
    """Register the open contacts of customers who just became tracked (their later contacts register as they
    come in); returns how many were new."""
    if not customer_ids:
        return 0
    status = await conn.execute(REGISTER_OPEN, list(customer_ids), reason, now)
    return int(status.rsplit(" ", 1)[-1])


# Newest registrations first; who handled the contact is every agent routing's events named for it (assigned,
# transferred from or to, solution, resolution), in the order they first did, and the owner now.
TRACKED_PAGE = """
SELECT t.contact_id, t.customer_id, t.reason, t.registered_at,
       cu.display_name, cu.grade, cu.value_tier, cu.risk_level, cu.lifecycle_stage,
       c.channel, c.subject, c.category, c.priority_class, c.emergency, c.status, c.work_state, c.owner_id,
       c.team, c.created_at, c.ended_at,
       ARRAY(
           SELECT h.who FROM (
               SELECT s.actor AS who, s.at FROM contact_step s
               WHERE s.contact_id = t.contact_id AND s.actor IS NOT NULL
                 AND s.kind IN ('assigned', 'transferred', 'solution_recorded', 'resolved')
               UNION ALL
               SELECT s.detail->>'to_agent_id', s.at FROM contact_step s
               WHERE s.contact_id = t.contact_id AND s.kind = 'transferred'
                 AND s.detail->>'to_agent_id' IS NOT NULL
           ) AS h
           GROUP BY h.who ORDER BY min(h.at), h.who
       ) AS handled_by
FROM tracked_contact t
JOIN contact c ON c.contact_id = t.contact_id
JOIN customer cu ON cu.customer_id = t.customer_id
WHERE ($1::uuid IS NULL OR t.customer_id = $1)
  AND ($2::timestamptz IS NULL OR (t.registered_at, t.contact_id) < ($2, $3::uuid))
ORDER BY t.registered_at DESC, t.contact_id DESC
LIMIT $4
"""


async def tracked_page(
    conn: Conn,
    *,
    customer_id: uuid.UUID | None,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """A read model (plain mappings, as the API shows them)."""
    at, key = before if before is not None else (None, None)
    return [dict(r) for r in await conn.fetch(TRACKED_PAGE, customer_id, at, key, limit)]
