"""The migration runner against the real PostgreSQL server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shared.db import SHARED_MIGRATIONS, MigrationError, connect, migrate

pytestmark = pytest.mark.integration


def write(directory: Path, name: str, sql: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(sql)


async def test_migrations_apply_once_and_a_second_run_applies_nothing(empty_database: str, tmp_path: Path) -> None:
    write(tmp_path, "0001_thing.sql", "CREATE TABLE thing (thing_id int PRIMARY KEY);")
    write(tmp_path, "0002_thing_name.sql", "ALTER TABLE thing ADD COLUMN name text;")
    sources = [("shared", SHARED_MIGRATIONS), ("svc", tmp_path)]
    conn = await connect(empty_database)
    try:
        first = await migrate(conn, sources)
        second = await migrate(conn, sources)
        columns = await conn.fetchval("SELECT count(*) FROM information_schema.columns WHERE table_name = 'thing'")
    finally:
        await conn.close()
    shared = [f"shared:{p.name[:4]}" for p in sorted(SHARED_MIGRATIONS.glob("*.sql"))]
    assert first == [*shared, "svc:0001", "svc:0002"]
    assert second == []
    assert columns == 2


async def test_concurrent_starters_apply_each_migration_exactly_once(empty_database: str, tmp_path: Path) -> None:
    write(tmp_path, "0001_thing.sql", "CREATE TABLE thing (thing_id int PRIMARY KEY);")
    sources = [("svc", tmp_path)]
    conns = [await connect(empty_database) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(c, sources) for c in conns))
    finally:
        for c in conns:
            await c.close()
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]


async def test_an_edited_landed_migration_stops_the_run(empty_database: str, tmp_path: Path) -> None:
    write(tmp_path, "0001_thing.sql", "CREATE TABLE thing (thing_id int PRIMARY KEY);")
    conn = await connect(empty_database)
    try:
        await migrate(conn, [("svc", tmp_path)])
        write(tmp_path, "0001_thing.sql", "CREATE TABLE thing (thing_id bigint PRIMARY KEY);")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(conn, [("svc", tmp_path)])
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_half_applied(empty_database: str, tmp_path: Path) -> None:
    write(tmp_path, "0001_broken.sql", "CREATE TABLE half (x int); SELECT * FROM no_such_table;")
    conn = await connect(empty_database)
    try:
        with pytest.raises(Exception, match="no_such_table"):
            await migrate(conn, [("svc", tmp_path)])
        assert await conn.fetchval("SELECT to_regclass('half')") is None
        assert await conn.fetchval("SELECT count(*) FROM schema_migration") == 0
    finally:
        await conn.close()
