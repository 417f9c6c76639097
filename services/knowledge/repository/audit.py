"""SQL for the audit log of article and search-admin changes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shared.db import Conn

INSERT_AUDIT = "INSERT INTO audit_log (actor, action, target, detail, at) VALUES ($1, $2, $3, $4, $5)"


async def audit(
    conn: Conn, *, actor: str, action: str, target: str, detail: dict[str, Any], now: datetime
) -> None:
    await conn.execute(INSERT_AUDIT, actor, action, target, detail, now)


async def audit_many(
    conn: Conn, entries: Sequence[tuple[str, str, str, dict[str, Any]]], *, now: datetime
) -> None:
    await conn.executemany(INSERT_AUDIT, [(*e, now) for e in entries])


LIST_AUDIT = """
SELECT actor, action, target, detail, at FROM audit_log WHERE ($1::text IS NULL OR target = $1)
ORDER BY audit_id DESC LIMIT $2
"""


async def list_audit(conn: Conn, *, target: str | None, limit: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(LIST_AUDIT, target, limit)]
