"""Reads that are use cases of their own: pages of contacts, customers and a contact's timeline. Reading important
personal data is audited (RULES.md, security: lists included), in the read's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.intake.domain.conversation import Cursor
from services.intake.domain.customer import Customer
from services.intake.handlers.common import Tx
from services.intake.handlers.conversation import ContactMissing, NotYours
from services.intake.repository import conversation as conversation_repo
from services.intake.repository import customers as customers_repo
from services.intake.repository.search import Filters, important_contacts, list_contacts
from shared.audit import record
from shared.tx import Actor


async def contacts_page(
    tx: Tx, filters: Filters, *, before: tuple[datetime, uuid.UUID] | None, limit: int, actor: Actor
) -> list[dict[str, Any]]:
    """Up to `limit` contacts, newest first, older than `before`."""
    rows = await list_contacts(tx.conn, filters, before=before, limit=limit)
    important = [str(r["contact_id"]) for r in rows if r["pii_level"] == "important"]
    await _listed(tx, actor, "contact.list", "contacts", {"contact_ids": important})
    return rows


async def timeline_page(
    tx: Tx, contact_id: uuid.UUID, *, after: Cursor | None, after_text: str | None, limit: int, actor: Actor
) -> list[dict[str, Any]]:
    """Up to `limit` timeline entries after `after`; `ContactMissing`, or `NotYours` for an agent who may not read
    the contact (neither its work's owner nor of its customer's)."""
    head = await conversation_repo.get_head(tx.conn, contact_id)
    if head is None:
        raise ContactMissing(contact_id)
    if actor.role == "agent" and not await conversation_repo.agent_may_read(tx.conn, head, actor.subject):
        raise NotYours("agents read the contacts of their own work and their customers' earlier contacts")
    rows = await conversation_repo.timeline(tx.conn, contact_id, after=after, limit=limit)
    if await important_contacts(tx.conn, [contact_id]):  # the customer's own words: audited like the contact
        await record(
            tx.conn, actor=actor.label, action="contact.timeline.read", target=f"contact:{contact_id}",
            detail={"after": after_text}, at=tx.now,
        )  # fmt: skip
    return rows


async def customers_page(
    tx: Tx, *, grade: str | None, after: uuid.UUID | None, limit: int, actor: Actor
) -> list[Customer]:
    page = await customers_repo.list_customers(tx.conn, grade=grade, after=after, limit=limit)
    important = [str(c.customer_id) for c in page if c.pii_level == "important"]
    await _listed(tx, actor, "customer.list", "customers", {"customer_ids": important})
    return page


async def _listed(tx: Tx, actor: Actor, action: str, target: str, ids: dict[str, list[str]]) -> None:
    """A list that showed important personal data is audited with the ids it showed; one that did not, is not."""
    if any(ids.values()):
        await record(tx.conn, actor=actor.label, action=action, target=target, detail=ids, at=tx.now)
