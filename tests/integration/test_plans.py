"""Generic plans of our queue tables' statements after the table empties: still on the index.

Our connections prepare statements with generic plans (`shared.db.PLAN_CACHE_MODE`) and keep them until the
table's statistics change. A vacuum that truncates an emptied table to no pages makes every plan prepared
then a sequential scan, kept while the table grows again (at 200 contacts/s SLA's due-row delete read 251
buffers per call). Tables that empty and refill set `vacuum_truncate = false`; these tests plan the real
statements on a real server in exactly that state."""

from __future__ import annotations

import pytest

from services.sla.app import MIGRATIONS as SLA_MIGRATIONS
from services.sla.repository.clocks import DELETE_DUE
from shared.db import SHARED_MIGRATIONS, connect, migrate
from shared.outbox import DELETE_BATCH, LOCK_BATCH

pytestmark = pytest.mark.integration

FILL = {
    "outbox": "INSERT INTO outbox (event_id, topic, key, value) "
    "SELECT gen_random_uuid(), 't', '\\x00', '\\x00' FROM generate_series(1, 5000)",
    # The foreign key to sla_clock is not what is planned here: skipped for the fill.
    "sla_due": "INSERT INTO sla_due (contact_id, clock, alert, kind, level, due_at, breach_at, key_hash) "
    "SELECT gen_random_uuid(), 'response', 'warning', 'warning', 0, now(), now(), 1 FROM generate_series(1, 5000)",
}
STATEMENTS = [
    ("outbox", LOCK_BATCH, "(100)"),
    ("outbox", DELETE_BATCH, "(ARRAY[1, 2]::bigint[])"),
    ("sla_due", DELETE_DUE, "(gen_random_uuid(), ARRAY['response'])"),
]


async def generic_plan(
    database: str, table: str, statement: str, arguments: str, *, empty: str = "DELETE FROM"
) -> str:
    """The plan a connection prepares for `statement` once `table` has filled, emptied (`empty`) and been
    vacuumed."""
    conn = await connect(database)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(FILL[table])
        await conn.execute(f"{empty} {table}")  # a statement and table name of this module
        await conn.execute(f"VACUUM (ANALYZE) {table}")
        await conn.execute(f"PREPARE planned AS {statement}")
        async with conn.transaction():  # EXPLAIN only: nothing runs, nothing is kept
            lines = [r[0] for r in await conn.fetch(f"EXPLAIN EXECUTE planned {arguments}")]
        await conn.execute("DEALLOCATE planned")
        return "\n".join(lines)
    finally:
        await conn.close()


async def test_due_rows_are_deleted_by_index_even_when_statistics_were_taken_over_a_few_contacts(
    empty_database: str,
) -> None:
    """ANALYZE over one contact's due rows says contact_id has one value; a generic plan prepared on those
    statistics expects every row to match and scans the table, unless contact_id's share of distinct values is
    set (SLA 0004)."""
    conn = await connect(empty_database)
    try:
        await migrate(conn, [("shared", SHARED_MIGRATIONS), ("sla", SLA_MIGRATIONS)])
        plans: list[str] = []
        for override in ("SET (n_distinct = -0.05)", "RESET (n_distinct)"):  # as migrated; then without
            await conn.execute(f"ALTER TABLE sla_due ALTER COLUMN contact_id {override}")
            await conn.execute("TRUNCATE sla_due")
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")
                await conn.execute(
                    "INSERT INTO sla_due (contact_id, clock, alert, kind, level, due_at, breach_at, key_hash) "
                    "SELECT '00000000-0000-0000-0000-000000000001', 'clock' || g % 3, 'warning' || g, "
                    "'warning', 0, now(), now(), 1 FROM generate_series(1, 30) g"
                )
                await conn.execute("ANALYZE sla_due")
                await conn.execute(FILL["sla_due"])
            name = f"planned_{len(plans)}"
            await conn.execute(f"PREPARE {name} AS {DELETE_DUE}")
            async with conn.transaction():
                rows = await conn.fetch(f"EXPLAIN EXECUTE {name} (gen_random_uuid(), ARRAY['response'])")
            plans.append("\n".join(r[0] for r in rows))
    finally:
        await conn.close()
    assert "Seq Scan" not in plans[0], plans[0]
    assert "Seq Scan" in plans[1], plans[1]


@pytest.mark.parametrize(("table", "statement", "arguments"), STATEMENTS, ids=["lock", "delete", "due"])
async def test_an_emptied_and_vacuumed_queue_table_keeps_its_statements_on_the_index(
    empty_database: str, table: str, statement: str, arguments: str
) -> None:
    conn = await connect(empty_database)
    try:
        await migrate(conn, [("shared", SHARED_MIGRATIONS), ("sla", SLA_MIGRATIONS)])
    finally:
        await conn.close()
    plan = await generic_plan(empty_database, table, statement, arguments)
    assert "Index" in plan and "Seq Scan" not in plan, plan
    # What the table option prevents: the same statement planned on the table with no pages, as a truncating
    # vacuum leaves it. Made by TRUNCATE here: whether a vacuum truncates depends on what else the server is
    # doing (it skips truncation when it cannot take its lock at once or cannot remove every dead row yet).
    plan = await generic_plan(empty_database, table, statement, arguments, empty="TRUNCATE")
    assert "Seq Scan" in plan, plan
