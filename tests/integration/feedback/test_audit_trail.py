"""Feedback's audit in the one shared table: a database audited before migration 0005 keeps every entry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.feedback.app import MIGRATIONS
from shared import audit
from shared.db import SHARED_MIGRATIONS, connect

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 12, 6, 9, 1, tzinfo=UTC)


async def test_the_audit_entries_move_to_audit_trail_in_order_with_their_role(empty_database: str) -> None:
    conn = await connect(empty_database)
    try:
        before = [p for p in sorted(MIGRATIONS.glob("*.sql")) if p.name < "0005"]
        for path in [*sorted(SHARED_MIGRATIONS.glob("*.sql")), *before]:
            await conn.execute(path.read_text(encoding="utf-8"))
        written = [
            ("admin", "survey_policy.create", "survey_policy:sms"),
            ("supervisor", "survey_comment.read", "survey_comments"),
        ]
        for i, (role, action, subject) in enumerate(written):
            await conn.execute(
                "INSERT INTO audit_entry (actor, role, action, subject, detail, at)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                f"S-{i}",
                role,
                action,
                subject,
                {"step": i},
                T0 + (T1 - T0) * i,
            )
        await conn.execute((MIGRATIONS / "0005_audit_trail.sql").read_text(encoding="utf-8"))

        assert await conn.fetchval("SELECT to_regclass('audit_entry')") is None
        moved = await audit.entries(conn)
        assert [(e.actor, e.role, e.action, e.target, e.detail, e.at) for e in moved[:2]] == [
            ("S-1", "supervisor", "survey_comment.read", "survey_comments", {"step": 1}, T1),
            ("S-0", "admin", "survey_policy.create", "survey_policy:sms", {"step": 0}, T0),
        ]
        seeded = moved[2]  # migration 0003's seed of the settings, the oldest entry
        assert (seeded.actor, seeded.role, seeded.action, seeded.target) == (
            "migration",
            "system",
            "feedback_settings.seed",
            "feedback_settings",
        )
        assert len(moved) == 3
    finally:
        await conn.close()
