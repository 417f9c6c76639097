"""The threading windows: versioned documents, the highest version in force."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.intake.domain.settings import ThreadSettings, parse_thread_settings
from shared.db import Conn

SELECT_LATEST = "SELECT version, document FROM thread_settings ORDER BY version DESC LIMIT 1"


async def latest_thread_settings(conn: Conn) -> ThreadSettings:
    row = await conn.fetchrow(SELECT_LATEST)
    assert row is not None, "migration 0006 seeds version 1"
    return parse_thread_settings(row["document"], version=row["version"])


SELECT_VERSION = "SELECT max(version) FROM thread_settings"


async def latest_version(conn: Conn) -> int:
    return int(await conn.fetchval(SELECT_VERSION) or 0)


LOCK = "LOCK TABLE thread_settings IN SHARE ROW EXCLUSIVE MODE"


async def lock_thread_settings(conn: Conn) -> None:
    """Until the transaction ends, other saves wait (readers do not): read, compare and write as one."""
    await conn.execute(LOCK)


INSERT_SETTINGS = """
INSERT INTO thread_settings (version, document, updated_by, updated_at)
SELECT COALESCE(max(version), 0) + 1, $1, $2, $3 FROM thread_settings
RETURNING version
"""


async def insert_thread_settings(conn: Conn, *, document: dict[str, Any], by: str, now: datetime) -> int:
    return int(await conn.fetchval(INSERT_SETTINGS, document, by, now))
