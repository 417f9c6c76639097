"""Pool leases and fencing: which routing instance may decide a pool's offers.

The rule: an instance makes offers for a pool only while it holds the pool's lease, and checks that inside the
deciding transaction (`holds_fence` share-locks the lease row at its epoch). Taking a lease — a free one, an
expired one, or ours again — raises its epoch, so whoever held it before (an earlier incarnation of ourselves
included) is fenced: its next check fails and it decides nothing more. Offers carry the epoch they were made at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.db import Conn


class Fenced(Exception):
    """This instance no longer holds the pool's lease: it must not decide."""


@dataclass(frozen=True)
class Fence:
    pool: str
    holder: str
    epoch: int


ACQUIRE_LEASE = """
INSERT INTO pool_lease AS l (pool, holder, epoch, expires_at) VALUES ($1, $2, 1, $3)
ON CONFLICT (pool) DO UPDATE SET holder = EXCLUDED.holder, epoch = l.epoch + 1, expires_at = EXCLUDED.expires_at
WHERE l.expires_at <= $4 OR l.holder = EXCLUDED.holder
RETURNING epoch
"""


async def acquire_lease(conn: Conn, *, pool: str, holder: str, until: datetime, now: datetime) -> int | None:
    """Take a free or expired pool (or take ours again after losing track); the new epoch fences whoever
    held it before, including an earlier incarnation of ourselves."""
    epoch = await conn.fetchval(ACQUIRE_LEASE, pool, holder, until, now)
    return int(epoch) if epoch is not None else None


RENEW_LEASE = """
UPDATE pool_lease SET expires_at = $4 WHERE pool = $1 AND holder = $2 AND epoch = $3
"""


async def renew_lease(conn: Conn, *, pool: str, holder: str, epoch: int, until: datetime) -> bool:
    """Still ours while the epoch is ours: a lapse nobody used costs nothing (no one decided meanwhile)."""
    return bool(await conn.execute(RENEW_LEASE, pool, holder, epoch, until) == "UPDATE 1")


RELEASE_LEASE = "UPDATE pool_lease SET expires_at = $3 WHERE pool = $1 AND holder = $2"


async def release_lease(conn: Conn, *, pool: str, holder: str, now: datetime) -> None:
    await conn.execute(RELEASE_LEASE, pool, holder, now)


CHECK_FENCE = """
SELECT 1 FROM pool_lease WHERE pool = $1 AND holder = $2 AND epoch = $3 AND expires_at > $4 FOR SHARE
"""


async def holds_fence(conn: Conn, *, pool: str, holder: str, epoch: int, now: datetime) -> bool:
    """Inside the deciding transaction: the lease row is share-locked, so no takeover commits meanwhile."""
    return await conn.fetchval(CHECK_FENCE, pool, holder, epoch, now) is not None


SELECT_POOLS = """
SELECT pool FROM agent WHERE active
UNION SELECT pool FROM work_item WHERE state IN ('queued', 'offered')
UNION SELECT pool FROM pool_lease
"""


async def known_pools(conn: Conn) -> list[str]:
    return sorted(r["pool"] for r in await conn.fetch(SELECT_POOLS))


SELECT_LEASES = "SELECT pool, holder, epoch, expires_at FROM pool_lease ORDER BY pool"


async def leases(conn: Conn) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(SELECT_LEASES)]
