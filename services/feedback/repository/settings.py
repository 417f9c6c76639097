"""Feedback's settings: versioned documents, the highest version in force."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.feedback.domain.settings import Settings, parse_settings
from shared.db import Conn

SELECT_LATEST = "SELECT version, document FROM feedback_settings ORDER BY version DESC LIMIT 1"


async def latest_settings(conn: Conn) -> Settings:
    row = await conn.fetchrow(SELECT_LATEST)
    assert row is not None, "migration 0003 seeds version 1"
    return parse_settings(row["document"], version=row["version"])


SELECT_VERSION = "SELECT max(version) FROM feedback_settings"


async def settings_version(conn: Conn) -> int:
    return int(await conn.fetchval(SELECT_VERSION) or 0)


LOCK_SETTINGS = "LOCK TABLE feedback_settings IN SHARE ROW EXCLUSIVE MODE"


async def lock_settings(conn: Conn) -> None:
    """Until the transaction ends, other saves wait (readers do not): read, compare and write as one."""
    await conn.execute(LOCK_SETTINGS)


INSERT_SETTINGS = """
INSERT INTO feedback_settings (version, document, updated_by, updated_at)
SELECT COALESCE(max(version), 0) + 1, $1, $2, $3 FROM feedback_settings
RETURNING version
"""


async def insert_settings(conn: Conn, *, document: dict[str, Any], by: str, now: datetime) -> int:
    return int(await conn.fetchval(INSERT_SETTINGS, document, by, now))
