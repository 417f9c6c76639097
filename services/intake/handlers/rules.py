"""Replacing the classification rule set: validated, stored as a new version, audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.intake.domain.classification import RuleSet, parse_ruleset
from services.intake.repository import rules
from shared.audit import record


async def replace_ruleset(pool: asyncpg.Pool, document: dict[str, Any], *, actor: str, now: datetime) -> RuleSet:
    """Raises `InvalidRules` (nothing stored) when the document does not validate."""
    parse_ruleset(document, version=0)
    async with pool.acquire() as conn, conn.transaction():
        previous = await rules.latest_version(conn)
        version = await rules.insert_ruleset(conn, document=document, by=actor, now=now)
        await record(
            conn,
            actor=actor,
            action="classification.rules.replace",
            target="classification:rules",
            detail={"from_version": previous, "to_version": version, "rules": len(document.get("rules", []))},
            at=now,
        )
    return parse_ruleset(document, version=version)
