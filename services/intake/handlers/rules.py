"""The classification rule set: the one in force (cached), and replacing it (validated, stored as a new version,
audited)."""

from __future__ import annotations

import time
from typing import Any

from services.intake.domain.classification import RuleSet, parse_ruleset
from services.intake.handlers.common import Tx
from services.intake.repository import rules
from shared.audit import record
from shared.db import Conn

RULES_TTL_S = 2.0


class RulesCache:
    """The rule set in force, re-read when another process (or this one) stored a newer version."""

    def __init__(self) -> None:
        self._rules: RuleSet | None = None
        self._checked = 0.0

    async def get(self, conn: Conn) -> RuleSet:
        if self._rules is None:
            self._rules = await rules.latest_ruleset(conn)
            self._checked = time.monotonic()
        elif time.monotonic() - self._checked > RULES_TTL_S:
            self._checked = time.monotonic()
            if await rules.latest_version(conn) != self._rules.version:
                self._rules = await rules.latest_ruleset(conn)
        return self._rules

    def invalidate(self) -> None:
        self._rules = None


async def replace_ruleset(tx: Tx, document: dict[str, Any], *, actor: str) -> RuleSet:
    """Raises `InvalidRules` (nothing stored) when the document does not validate."""
    parse_ruleset(document, version=0)
    previous = await rules.latest_version(tx.conn)
    version = await rules.insert_ruleset(tx.conn, document=document, by=actor, now=tx.now)
    await record(
        tx.conn,
        actor=actor,
        action="classification.rules.replace",
        target="classification:rules",
        detail={"from_version": previous, "to_version": version, "rules": len(document.get("rules", []))},
        at=tx.now,
    )
    return parse_ruleset(document, version=version)
