"""The routing policy document: the newest version applies; every edit is a new version."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.routing.domain.policy import Policy, parse_policy
from shared.db import Conn

SELECT_CURRENT = """
SELECT version, document, created_at, created_by, note FROM routing_policy ORDER BY version DESC LIMIT 1
"""


async def current_policy(conn: Conn) -> Policy:
    row = await conn.fetchrow(SELECT_CURRENT)
    assert row is not None, "migration 0001 seeds version 1"
    return parse_policy(row["document"], version=row["version"])


async def current_document(conn: Conn) -> dict[str, Any]:
    row = await conn.fetchrow(SELECT_CURRENT)
    assert row is not None
    return {
        "version": row["version"],
        "document": row["document"],
        "created_at": row["created_at"],
        "created_by": row["created_by"],
        "note": row["note"],
    }


INSERT_POLICY = """
INSERT INTO routing_policy (version, document, created_at, created_by, note)
SELECT coalesce(max(version), 0) + 1, $1, $2, $3, $4 FROM routing_policy
RETURNING version
"""


async def insert_policy(
    conn: Conn, *, document: Mapping[str, Any], now: datetime, created_by: str, note: str | None
) -> int:
    await conn.execute("LOCK TABLE routing_policy IN SHARE ROW EXCLUSIVE MODE")
    version: int = await conn.fetchval(INSERT_POLICY, dict(document), now, created_by, note)
    return version


class PolicyCache:
    """The current policy for request and event handlers, re-read at most every `ttl_s` (an edit made on
    another instance applies there within that time; the dispatchers reload at once on its notice)."""

    def __init__(self, ttl_s: float = 2.0) -> None:
        self.ttl_s = ttl_s
        self._policy: Policy | None = None
        self._at = 0.0

    async def get(self, conn: Conn) -> Policy:
        if self._policy is None or time.monotonic() - self._at > self.ttl_s:
            self._policy = await current_policy(conn)
            self._at = time.monotonic()
        return self._policy

    def invalidate(self) -> None:
        self._policy = None
