"""Classification rule sets (versioned documents), and reading the audit of one target."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.intake.domain.classification import RuleSet, parse_ruleset
from shared.audit import entries
from shared.db import Conn

SELECT_LATEST = "SELECT version, document FROM classification_ruleset ORDER BY version DESC LIMIT 1"


async def latest_ruleset(conn: Conn) -> RuleSet:
    row = await conn.fetchrow(SELECT_LATEST)
    assert row is not None, "migration 0001 seeds version 1"
    return parse_ruleset(row["document"], version=row["version"])


SELECT_VERSION = "SELECT max(version) FROM classification_ruleset"


async def latest_version(conn: Conn) -> int:
    return int(await conn.fetchval(SELECT_VERSION) or 0)


INSERT_RULESET = """
INSERT INTO classification_ruleset (version, document, updated_by, updated_at)
SELECT COALESCE(max(version), 0) + 1, $1, $2, $3 FROM classification_ruleset
RETURNING version
"""


async def insert_ruleset(conn: Conn, *, document: dict[str, Any], by: str, now: datetime) -> int:
    return int(await conn.fetchval(INSERT_RULESET, document, by, now))


async def audit_trail(conn: Conn, *, target: str) -> list[dict[str, Any]]:
    """Every audit entry of one target, oldest first (written by `shared.audit.record`)."""
    found = await entries(conn, target=target, limit=AUDIT_READ_LIMIT)
    return [
        {"actor": e.actor, "action": e.action, "target": e.target, "detail": dict(e.detail), "at": e.at}
        for e in reversed(found)
    ]


AUDIT_READ_LIMIT = 10_000
