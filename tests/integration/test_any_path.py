"""The stack starts from a checkout at any path: PostgreSQL's unix socket path is limited to ~107 bytes, so a
state directory under a long path must not put a socket there."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import asyncpg
import pytest

from deploy.config import StackSettings
from deploy.postgres import Postgres

pytestmark = pytest.mark.integration


async def test_postgresql_starts_under_a_state_directory_whose_path_is_longer_than_a_socket_path() -> None:
    # Not under pytest's tmp_path: the server runs as its own user, reaching its data through every parent
    # (`Postgres` opens them to it), and each pytest session that starts on this machine closes its temporary
    # root to its owner again — a second test run at the same time made initdb fail with "Permission denied".
    root = Path(tempfile.mkdtemp(prefix="switchboard-any-path-"))
    state = root / "a checkout with a space" / ("deep-" * 24) / ".switchboard"
    assert len(str(state / "postgres" / "run" / ".s.PGSQL.65535")) > 107
    postgres = Postgres(StackSettings.throwaway(state))
    try:
        await asyncio.to_thread(postgres.start)
        created = await postgres.ensure_databases(["intake"])
        assert created == ["intake"]
        conn = await asyncpg.connect(postgres.settings.database_url("intake"), timeout=10)
        try:
            assert await conn.fetchval("SELECT 1") == 1
        finally:
            await conn.close()
    finally:
        await asyncio.to_thread(postgres.stop)
        shutil.rmtree(root, ignore_errors=True)
