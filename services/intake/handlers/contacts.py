"""Reading one contact: who may see it, and the audit of reads of important personal data (RULES.md, security:
who, what, when)."""

from __future__ import annotations

import uuid
from typing import Any

from services.intake.handlers.common import Tx
from services.intake.handlers.conversation import ContactMissing, NotYours
from services.intake.repository import conversation
from services.intake.repository.contacts import get_contact
from shared.audit import record
from shared.tx import Actor


async def read_contact(
    tx: Tx, contact_id: uuid.UUID, *, actor: Actor, channels: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The contact with its messages (the repository's read model). An adapter reads what it posted on its
    `channels`, an agent the contacts of their own work and their customers' earlier ones; a read of important
    personal data is audited."""
    contact = await get_contact(tx.conn, contact_id=contact_id)
    head = await conversation.get_head(tx.conn, contact_id) if contact is not None else None
    if contact is None or head is None:
        raise ContactMissing(contact_id)
    if actor.role == "adapter" and (
        contact["channel"] not in channels or not any(m["adapter"] == actor.subject for m in contact["messages"])
    ):
        raise ContactMissing(contact_id)
    if actor.role == "agent" and not await conversation.agent_may_read(tx.conn, head, actor.subject):
        raise NotYours("agents read the contacts of their own work and their customers' earlier ones")
    if contact["pii_level"] == "important":
        await record(
            tx.conn,
            actor=actor.label,
            action="contact.read",
            target=f"contact:{contact_id}",
            detail={"customer_id": str(contact["customer_id"])},
            at=tx.now,
        )
    return contact
