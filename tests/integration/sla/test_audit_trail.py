"""SLA's audit in the one shared table: migration 0009 moves the older `audit_entry` rows there, and the listing
shows SLA's entries (policies and calendars) only, as before — not the access audit that shares the table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.sla.app import MIGRATIONS
from services.sla.repository import admin as admin_repo
from shared import audit
from shared.db import connect, service_migrations

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


async def test_migration_0009_moves_the_audit_entries_in_order_and_the_listing_keeps_its_answers(
    empty_database: str,
) -> None:
    conn = await connect(empty_database)
    try:
        for _namespace, directory in service_migrations("sla", MIGRATIONS):
            for path in sorted(directory.glob("*.sql")):
                if directory == MIGRATIONS and path.name >= "0009":
                    continue
                await conn.execute(path.read_text())
        seeded = await conn.fetchval("SELECT count(*) FROM audit_entry")
        for i, (entity, entity_id) in enumerate([("policy", "p1"), ("calendar", "p1"), ("policy", "p2")]):
            await conn.execute(
                "INSERT INTO audit_entry (at, actor, role, action, entity, entity_id, detail)"
                " VALUES ($1, 'ad-1', 'admin', $2, $3, $4, $5)",
                T0 + timedelta(minutes=i),
                f"step{i}",
                entity,
                entity_id,
                {"version": i},
            )
        await conn.execute((MIGRATIONS / "0009_audit_trail.sql").read_text())
        assert await conn.fetchval("SELECT to_regclass('audit_entry')") is None
        await audit.record(conn, actor="ops", action="key.create", target="key:chat", at=T0)

        everything = await admin_repo.list_audit(conn, entity=None, entity_id=None, limit=1000)
        assert len(everything) == seeded + 3  # not the access audit's "key:chat"
        assert [(e.action, e.entity, e.entity_id, e.role) for e in everything[:3]] == [
            ("step2", "policy", "p2", "admin"),
            ("step1", "calendar", "p1", "admin"),
            ("step0", "policy", "p1", "admin"),
        ]
        assert everything[0].detail == {"version": 2}
        assert [e.audit_id for e in everything] == sorted((e.audit_id for e in everything), reverse=True)
        by_id = await admin_repo.list_audit(conn, entity=None, entity_id="p1", limit=10)
        assert [e.action for e in by_id] == ["step1", "step0"]
        newest = await admin_repo.list_audit(conn, entity=None, entity_id="p1", limit=1)
        assert [e.action for e in newest] == ["step1"]
        one = await admin_repo.list_audit(conn, entity="policy", entity_id="p1", limit=10)
        assert [e.action for e in one] == ["step0"]
        policies = await admin_repo.list_audit(conn, entity="policy", entity_id=None, limit=1000)
        assert {e.entity for e in policies} == {"policy"} and policies[0].action == "step2"
    finally:
        await conn.close()
