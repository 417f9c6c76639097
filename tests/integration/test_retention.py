"""Retention as RULES.md says, in the services besides intake (intake's is in tests/integration/intake): what
routing keeps of a contact, feedback's stored recipients and addresses, knowledge's search log and every audit
go on time, each purge leaving a destruction record — with the clock in the test's hand."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.feedback.app import spec as feedback_spec
from services.feedback.config import FeedbackSettings
from services.knowledge.app import spec as knowledge_spec
from services.knowledge.config import KnowledgeSettings
from services.routing.app import spec as routing_spec
from services.routing.config import RoutingSettings
from services.sla.app import spec as sla_spec
from services.sla.config import SlaSettings
from shared.db import connect, create_pool, migrate, service_migrations
from shared.housekeeping import Retention, housekeep

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
KEEP = Retention(inbox=timedelta(days=3650), journeys=timedelta(days=3650))


@dataclass
class FakeRuntime:
    """What a service's chores read: its settings (the chores take the clock from housekeeping's `now`)."""

    settings: Any


async def migrated(dsn: str, service: str, directory: Path) -> None:
    conn = await connect(dsn)
    try:
        await migrate(conn, service_migrations(service, directory))
    finally:
        await conn.close()


async def records(pool: Any) -> list[tuple[str, int]]:
    rows = await pool.fetch("SELECT what, rows FROM destruction_record ORDER BY destruction_id")
    return [(r["what"], r["rows"]) for r in rows]


async def test_routing_erases_contact_text_and_addresses_after_three_years(empty_database: str) -> None:
    spec = routing_spec()
    await migrated(empty_database, "routing", spec.migrations)
    pool = await create_pool(empty_database)
    try:
        old, recent = uuid.uuid4(), uuid.uuid4()
        for contact_id, received in ((old, NOW - timedelta(days=3 * 365 + 2)), (recent, NOW - timedelta(days=30))):
            await pool.execute(
                "INSERT INTO contact (contact_id, customer_id, grade, channel, subject, text, language, category,"
                " priority_class, emergency, attributes, reply_to, received_at) VALUES ($1, $2, 'basic', 'sms',"
                " '宽带', '我的号码13800138000', 'zh', 'enquiry', 'routine', false, '{}',"
                " '{\"phone\": \"+8613800138000\"}', $3)",
                contact_id, uuid.uuid4(), received,
            )  # fmt: skip
        await pool.execute(
            "INSERT INTO audit_trail (at, actor, action, target) VALUES ($1, 'a', 'x', 't')",
            NOW - timedelta(days=2200),
        )
        chores = spec.chores(FakeRuntime(RoutingSettings()))  # type: ignore[arg-type]
        done = await housekeep(pool, now=NOW, retention=KEEP, chores=chores)
        assert done.chores == {"contact text and addresses": 1, "audit records": 1}
        rows = {r["contact_id"]: r for r in await pool.fetch("SELECT contact_id, text, reply_to FROM contact")}
        assert (rows[old]["text"], rows[old]["reply_to"]) == ("", {})
        assert rows[recent]["text"].startswith("我的号码")
        assert await records(pool) == [("contact text and addresses", 1), ("audit records", 1)]
        again = await housekeep(pool, now=NOW, retention=KEEP, chores=chores)
        assert set(again.chores.values()) == {0}, "done once: nothing left to erase, no second record"
        assert len(await records(pool)) == 2
    finally:
        await pool.close()


async def test_feedback_forgets_where_invitations_went_and_sla_and_knowledge_their_old_records(
    empty_database: str,
) -> None:
    for name, make_spec, settings in (
        ("feedback", feedback_spec, FeedbackSettings()),
        ("sla", sla_spec, SlaSettings()),
        ("knowledge", knowledge_spec, KnowledgeSettings()),
    ):
        dsn = empty_database.rsplit("/", 1)[0] + f"/{empty_database.rsplit('/', 1)[1][:40]}_{name}"
        admin = await connect(empty_database)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{dsn.rsplit("/", 1)[1]}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{dsn.rsplit("/", 1)[1]}"')
        finally:
            await admin.close()
        spec = make_spec()
        await migrated(dsn, name, spec.migrations)
        pool = await create_pool(dsn)
        try:
            expected: dict[str, int] = {}
            if name == "feedback":
                for status, resolved in (("expired", 40), ("answered", 10), ("scheduled", 40)):
                    await pool.execute(
                        "INSERT INTO invitation (invitation_id, contact_id, work_id, resolved_at, status,"
                        " agent_id, fcr, customer_notified, invite_channel, recipient, created_at)"
                        " VALUES ($1, $2, $3, $4, $5, 'A-1', true, true, 'sms', '+8613800138000', $4)",
                        uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), NOW - timedelta(days=resolved), status,
                    )  # fmt: skip
                await pool.execute(
                    "INSERT INTO contact_fact (contact_id, channel, customer_id, original_customer_id, grade,"
                    " phone, updated_at) VALUES ($1, 'sms', $2, $2, 'basic', '+8613800138000', $3)",
                    uuid.uuid4(), uuid.uuid4(), NOW - timedelta(days=3 * 365 + 1),
                )  # fmt: skip
                await pool.execute(
                    "INSERT INTO audit_trail (at, actor, role, action, target)"
                    " VALUES ($1, 'a', 'admin', 'x', 'p')",
                    NOW - timedelta(days=2200),
                )
                # Only the invitation that is over and older than 30 days; the recent one and the one still
                # waiting to be sent keep where they go.
                expected = {"survey recipients": 1, "contact addresses": 1, "audit records": 1}
            elif name == "sla":
                await pool.execute(
                    "INSERT INTO audit_trail (at, actor, role, action, target)"
                    " VALUES ($1, 'a', 'admin', 'x', 'policy:p')",
                    NOW - timedelta(days=2200),
                )
                expected = {"audit records": 1}
            else:
                await pool.execute(
                    "INSERT INTO search_log (search_id, source, actor, query, query_key, result_count, result_ids,"
                    " searched_at) VALUES ($1, 'lookup', 'A-1', '客户的手机号', 'k', 0, '{}', $2)",
                    uuid.uuid4(), NOW - timedelta(days=400),
                )  # fmt: skip
                expected = {"search log": 1, "audit records": 0}
            chores = spec.chores(FakeRuntime(settings))  # type: ignore[arg-type]
            done = await housekeep(pool, now=NOW, retention=KEEP, chores=chores)
            assert done.chores == expected, name
            assert await records(pool) == [(k, v) for k, v in expected.items() if v], name
        finally:
            await pool.close()
