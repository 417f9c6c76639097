"""What admins tune search with: synonym groups, product terms and settings, each change audited in the caller's
transaction. A synonym change reloads the engine's synonyms in that transaction; what a term or boost change
needs (a rebuild) the caller schedules after its commit."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.knowledge.repository.tuning import (
    Setting,
    Synonym,
    delete_product_term,
    delete_synonym,
    insert_product_term,
    insert_synonym,
    update_setting,
)
from services.knowledge.search import SearchEngine
from shared import audit
from shared.db import Conn


async def add_synonym(
    conn: Conn, terms: tuple[str, ...], *, engine: SearchEngine, actor: str, now: datetime
) -> Synonym:
    synonym = Synonym(uuid.uuid4(), terms, actor, now)
    await insert_synonym(conn, synonym)
    await audit.record(
        conn,
        actor=actor,
        action="synonym.create",
        target=str(synonym.synonym_id),
        detail={"terms": list(terms)},
        at=now,
    )
    await engine.load_synonyms(conn)
    return synonym


async def remove_synonym(
    conn: Conn, synonym_id: uuid.UUID, *, engine: SearchEngine, actor: str, now: datetime
) -> bool:
    """False when there is no such group (nothing written)."""
    if not await delete_synonym(conn, synonym_id):
        return False
    await audit.record(conn, actor=actor, action="synonym.delete", target=str(synonym_id), detail={}, at=now)
    await engine.load_synonyms(conn)
    return True


async def add_term(conn: Conn, term: str, *, actor: str, now: datetime) -> bool:
    """False when the term was already there (nothing written)."""
    added = await insert_product_term(conn, term=term, by=actor, now=now)
    if added:
        await audit.record(conn, actor=actor, action="term.create", target=term, detail={}, at=now)
    return added


async def remove_term(conn: Conn, term: str, *, actor: str, now: datetime) -> bool:
    """False when there is no such term (nothing written)."""
    if not await delete_product_term(conn, term):
        return False
    await audit.record(conn, actor=actor, action="term.delete", target=term, detail={}, at=now)
    return True


async def change_setting(
    conn: Conn, name: str, value: float | int, *, actor: str, now: datetime
) -> Setting | None:
    """None when there is no such setting (nothing written)."""
    setting = await update_setting(conn, name=name, value=value, by=actor, now=now)
    if setting is not None:
        await audit.record(
            conn, actor=actor, action="setting.update", target=name, detail={"value": value}, at=now
        )
    return setting
