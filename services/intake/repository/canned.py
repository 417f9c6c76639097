"""Canned responses: stored, searched by their folded terms, versioned on every change."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shared.db import Conn

INSERT = """
INSERT INTO canned_response (canned_response_id, title, texts, tags, search_terms, updated_by, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING canned_response_id, title, texts, tags, version, active, updated_by, updated_at
"""
UPDATE = """
UPDATE canned_response SET title = $2, texts = $3, tags = $4, search_terms = $5, version = version + 1,
    updated_by = $6, updated_at = $7
WHERE canned_response_id = $1 AND active AND ($8::int IS NULL OR version = $8)
RETURNING canned_response_id, title, texts, tags, version, active, updated_by, updated_at
"""
SELECT = (
    "SELECT canned_response_id, title, texts, tags, version, active, updated_by, updated_at FROM canned_response"
)
GET = SELECT + " WHERE canned_response_id = $1 AND active"
SEARCH = (
    SELECT + " WHERE active AND (cardinality($1::text[]) = 0 OR search_terms @> $1::text[])"
    " AND ($2::text IS NULL OR $2 = ANY(tags)) ORDER BY title LIMIT $3"
)


async def insert(
    conn: Conn,
    *,
    canned_response_id: uuid.UUID,
    title: str,
    texts: dict[str, str],
    tags: Sequence[str],
    terms: Sequence[str],
    by: str,
    now: datetime,
) -> dict[str, Any]:
    row = await conn.fetchrow(
        INSERT,
        canned_response_id, title, texts, list(tags), list(terms), by, now,
    )  # fmt: skip
    assert row is not None
    return dict(row)


async def update(
    conn: Conn,
    *,
    canned_response_id: uuid.UUID,
    title: str,
    texts: dict[str, str],
    tags: Sequence[str],
    terms: Sequence[str],
    expected_version: int | None,
    by: str,
    now: datetime,
) -> dict[str, Any] | None:
    """None when it does not exist (or no longer has `expected_version`)."""
    row = await conn.fetchrow(
        UPDATE,
        canned_response_id, title, texts, list(tags), list(terms), by, now, expected_version,
    )  # fmt: skip
    return None if row is None else dict(row)


async def retire(conn: Conn, *, canned_response_id: uuid.UUID, by: str, now: datetime) -> bool:
    status = await conn.execute(
        "UPDATE canned_response SET active = false, version = version + 1, updated_by = $2, updated_at = $3"
        " WHERE canned_response_id = $1 AND active",
        canned_response_id, by, now,
    )  # fmt: skip
    return bool(status == "UPDATE 1")


async def get(conn: Conn, canned_response_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(GET, canned_response_id)
    return None if row is None else dict(row)


async def search(conn: Conn, *, terms: Sequence[str], tag: str | None, limit: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(SEARCH, list(terms), tag, limit)
    return [dict(r) for r in rows]


CONTEXT = """
SELECT c.contact_id, c.subject, c.language, cu.display_name, cu.pii_level FROM contact c
JOIN customer cu ON cu.customer_id = c.customer_id WHERE c.contact_id = $1
"""


async def contact_context(conn: Conn, contact_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(CONTEXT, contact_id)
    return None if row is None else dict(row)
