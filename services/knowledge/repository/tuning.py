"""SQL for what admins tune search with: synonym groups, product terms and the knowledge_setting figures."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.db import Conn


@dataclass(frozen=True)
class Synonym:
    synonym_id: uuid.UUID
    terms: tuple[str, ...]
    created_by: str
    created_at: datetime


LIST_SYNONYMS = "SELECT synonym_id, terms, created_by, created_at FROM synonym ORDER BY created_at, synonym_id"


async def list_synonyms(conn: Conn) -> list[Synonym]:
    return [
        Synonym(r["synonym_id"], tuple(r["terms"]), r["created_by"], r["created_at"])
        for r in await conn.fetch(LIST_SYNONYMS)
    ]


INSERT_SYNONYM = "INSERT INTO synonym (synonym_id, terms, created_by, created_at) VALUES ($1, $2, $3, $4)"


async def insert_synonym(conn: Conn, synonym: Synonym) -> None:
    await conn.execute(
        INSERT_SYNONYM, synonym.synonym_id, list(synonym.terms), synonym.created_by, synonym.created_at
    )


DELETE_SYNONYM = "DELETE FROM synonym WHERE synonym_id = $1"


async def delete_synonym(conn: Conn, synonym_id: uuid.UUID) -> bool:
    return str(await conn.execute(DELETE_SYNONYM, synonym_id)).endswith(" 1")


LIST_TERMS = "SELECT term FROM product_term ORDER BY term"


async def list_product_terms(conn: Conn) -> list[str]:
    return [r["term"] for r in await conn.fetch(LIST_TERMS)]


INSERT_TERM = """
INSERT INTO product_term (term, created_by, created_at) VALUES ($1, $2, $3) ON CONFLICT (term) DO NOTHING
"""


async def insert_product_term(conn: Conn, *, term: str, by: str, now: datetime) -> bool:
    return str(await conn.execute(INSERT_TERM, term, by, now)).endswith(" 1")


DELETE_TERM = "DELETE FROM product_term WHERE term = $1"


async def delete_product_term(conn: Conn, term: str) -> bool:
    return str(await conn.execute(DELETE_TERM, term)).endswith(" 1")


@dataclass(frozen=True)
class Setting:
    name: str
    value: Any
    description: str
    updated_by: str
    updated_at: datetime


LIST_SETTINGS = "SELECT name, value, description, updated_by, updated_at FROM knowledge_setting ORDER BY name"


async def list_settings(conn: Conn) -> list[Setting]:
    return [Setting(**dict(r)) for r in await conn.fetch(LIST_SETTINGS)]


UPDATE_SETTING = """
UPDATE knowledge_setting SET value = $2, updated_by = $3, updated_at = $4 WHERE name = $1
RETURNING name, value, description, updated_by, updated_at
"""


async def update_setting(conn: Conn, *, name: str, value: Any, by: str, now: datetime) -> Setting | None:
    row = await conn.fetchrow(UPDATE_SETTING, name, value, by, now)
    return None if row is None else Setting(**dict(row))
