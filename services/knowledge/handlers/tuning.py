"""What admins tune search with: synonym groups, product terms and settings, each change audited in the caller's
transaction. A synonym change reloads the engine's synonyms in that transaction; what a term or boost change
needs (a rebuild) the caller schedules after its commit."""

from __future__ import annotations

import uuid

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
from shared.tx import Actor, Tx


async def add_synonym(tx: Tx, terms: tuple[str, ...], *, engine: SearchEngine, actor: Actor) -> Synonym:
    synonym = Synonym(uuid.uuid4(), terms, actor.label, tx.now)
    await insert_synonym(tx.conn, synonym)
    await audit.record(tx.conn, actor=actor.label, action="synonym.create", target=str(synonym.synonym_id),
                       detail={"terms": list(terms)}, at=tx.now)  # fmt: skip
    await engine.load_synonyms(tx.conn)
    return synonym


async def remove_synonym(tx: Tx, synonym_id: uuid.UUID, *, engine: SearchEngine, actor: Actor) -> bool:
    """False when there is no such group (nothing written)."""
    if not await delete_synonym(tx.conn, synonym_id):
        return False
    await audit.record(tx.conn, actor=actor.label, action="synonym.delete", target=str(synonym_id), at=tx.now)
    await engine.load_synonyms(tx.conn)
    return True


async def add_term(tx: Tx, term: str, *, actor: Actor) -> bool:
    """False when the term was already there (nothing written)."""
    added = await insert_product_term(tx.conn, term=term, by=actor.label, now=tx.now)
    if added:
        await audit.record(tx.conn, actor=actor.label, action="term.create", target=term, at=tx.now)
    return added


async def remove_term(tx: Tx, term: str, *, actor: Actor) -> bool:
    """False when there is no such term (nothing written)."""
    if not await delete_product_term(tx.conn, term):
        return False
    await audit.record(tx.conn, actor=actor.label, action="term.delete", target=term, at=tx.now)
    return True


async def change_setting(tx: Tx, name: str, value: float | int, *, actor: Actor) -> Setting | None:
    """None when there is no such setting (nothing written)."""
    setting = await update_setting(tx.conn, name=name, value=value, by=actor.label, now=tx.now)
    if setting is not None:
        await audit.record(tx.conn, actor=actor.label, action="setting.update", target=name,
                           detail={"value": value}, at=tx.now)  # fmt: skip
    return setting


async def ask_rebuild(tx: Tx, *, actor: Actor) -> None:
    """An admin asked for an index rebuild: audited here; the caller schedules it after its commit."""
    await audit.record(tx.conn, actor=actor.label, action="index.rebuild", target="search", at=tx.now)
