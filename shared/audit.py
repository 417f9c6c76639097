"""The audit, once for every service (RULES.md: every admin change and every read of important personal data
is audited, kept six years): one table shape (`audit_trail`, shared migration 0010), one way to write it and
one way to read it. The caller's transaction writes the entry, so an entry exists exactly when its change does.

Detail is the service's to choose and must not carry message text; ids and changed settings are what it is for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.db import Conn

TABLE = "audit_trail"


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    target: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    role: str = ""
    """The actor's role when the service records it ("admin", "supervisor"…); empty when it does not."""
    audit_id: int | None = None
    """The entry's place in the trail, set when read (an API that shows it, SLA's); ignored when written."""


INSERT = f"""
INSERT INTO {TABLE} (at, actor, role, action, target, detail)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[])
"""  # noqa: S608 - a constant


async def record(
    conn: Conn,
    *,
    actor: str,
    action: str,
    target: str,
    at: datetime,
    detail: Mapping[str, Any] | None = None,
    role: str = "",
) -> None:
    """Write one entry in the caller's transaction."""
    await record_many(
        conn, [AuditEntry(at=at, actor=actor, action=action, target=target, detail=detail or {}, role=role)]
    )


async def record_many(conn: Conn, entries: Iterable[AuditEntry]) -> None:
    """Write several entries in one statement (an import, a bulk change), in order."""
    rows = list(entries)
    if not rows:
        return
    await conn.execute(
        INSERT,
        [e.at for e in rows],
        [e.actor for e in rows],
        [e.role for e in rows],
        [e.action for e in rows],
        [e.target for e in rows],
        [dict(e.detail) for e in rows],
    )


SELECT = f"""
SELECT audit_id, at, actor, role, action, target, detail FROM {TABLE}
WHERE ($1::text IS NULL OR target = $1) AND ($2::text IS NULL OR target LIKE $2 || '%')
ORDER BY audit_id DESC LIMIT $3
"""  # noqa: S608 - a constant


def _like_literal(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def entries(
    conn: Conn, *, target: str | None = None, target_prefix: str | None = None, limit: int = 100
) -> list[AuditEntry]:
    """The newest entries first: of one target, of every target starting with a prefix ("policy:"), or all."""
    prefix = None if target_prefix is None else _like_literal(target_prefix)
    rows = await conn.fetch(SELECT, target, prefix, limit)
    return [AuditEntry(**dict(row)) for row in rows]
