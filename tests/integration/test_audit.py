"""The shared audit on a real database: one table, written in the caller's transaction, read newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared import audit
from shared.auth import audit_access
from shared.db import connect, service_migrations
from tests.support import ROOT

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


@pytest.fixture
def database_service() -> str:
    return "web"


async def test_written_in_the_callers_transaction_read_newest_first(service_database: str) -> None:
    conn = await connect(service_database)
    try:
        async with conn.transaction():
            await audit.record(
                conn,
                actor="ann",
                role="admin",
                action="policy.update",
                target="policy:p1",
                detail={"version": 2},
                at=T0,
            )
        tx = conn.transaction()
        await tx.start()
        await audit.record(conn, actor="bob", action="policy.update", target="policy:p1", at=T0)
        await tx.rollback()
        await audit.record_many(
            conn,
            [
                audit.AuditEntry(
                    at=T0 + timedelta(seconds=i), actor="ann", action="term.create", target=f"term:{t}"
                )
                for i, t in enumerate(["a_b", "a%b", "ab"])
            ],
        )
        await audit_access(conn, actor="ops", action="key.create", target="key:chat", detail={}, now=T0)

        one = await audit.entries(conn, target="policy:p1")
        assert [(e.actor, e.role, e.detail) for e in one] == [("ann", "admin", {"version": 2})]
        terms = await audit.entries(conn, target_prefix="term:")
        assert [e.target for e in terms] == ["term:ab", "term:a%b", "term:a_b"]
        # LIKE metacharacters in a prefix are literal: "term:a_" is not "term:ab".
        assert [e.target for e in await audit.entries(conn, target_prefix="term:a_")] == ["term:a_b"]
        assert [e.target for e in await audit.entries(conn, target_prefix="term:a%")] == ["term:a%b"]
        everything = await audit.entries(conn, limit=10)
        assert [e.action for e in everything] == [
            "key.create",
            "term.create",
            "term.create",
            "term.create",
            "policy.update",
        ]
        assert len(await audit.entries(conn, limit=2)) == 2
        await audit.record_many(conn, [])
        assert len(await audit.entries(conn, limit=10)) == 5
    finally:
        await conn.close()


async def test_the_access_audit_moves_to_the_one_table(empty_database: str) -> None:
    """A database that had access-audit rows before migration 0010 keeps them, in order, in `audit_trail`."""
    conn = await connect(empty_database)
    try:
        sources = service_migrations("web", ROOT / "services" / "web" / "migrations")
        shared_dir = sources[0][1]
        before = [p for p in sorted(shared_dir.glob("*.sql")) if p.name < "0010"]
        for path in before:
            await conn.execute(path.read_text())
        for i in range(3):
            await conn.execute(
                "INSERT INTO access_audit (at, actor, action, target, detail)"
                " VALUES ($1, 'ops', $2, 'user:u', '{}')",
                T0 + timedelta(minutes=i),
                f"step{i}",
            )
        await conn.execute((shared_dir / "0010_audit_trail.sql").read_text())
        assert await conn.fetchval("SELECT to_regclass('access_audit')") is None
        assert [e.action for e in await audit.entries(conn, target="user:u")] == ["step2", "step1", "step0"]
    finally:
        await conn.close()
