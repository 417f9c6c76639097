"""An agent's correction of the rules' decision on a contact (PR-04): stored, audited and announced."""

from __future__ import annotations

import uuid

from services.intake.domain.classification import INCIDENT_CATEGORIES, Classification
from services.intake.handlers.common import Tx
from services.intake.handlers.writes import reclassify
from services.intake.repository import contacts
from shared.audit import record


class ContactNotFound(LookupError):
    pass


async def override_classification(
    tx: Tx,
    *,
    contact_id: uuid.UUID,
    category: str,
    priority_class: str,
    emergency: bool,
    required_skills: tuple[str, ...],
    agent: str,
    reason: str,
    subcategory: str | None = None,
    incident_level: str | None = None,
) -> None:
    result = Classification(
        category=category,
        priority_class=priority_class,
        emergency=emergency,
        emergency_reasons=("agent",) if emergency else (),
        required_skills=required_skills,
        fired=(),
        subcategory=subcategory,
        incident_level=incident_level or ("general" if category in INCIDENT_CATEGORIES else None),
    )
    current = await contacts.get_contact(tx.conn, contact_id=contact_id)
    if current is None:
        raise ContactNotFound(str(contact_id))
    await reclassify(tx, contact_id, result, by=f"agent:{agent}")
    await record(
        tx.conn,
        actor=agent,
        action="contact.reclassify",
        target=f"contact:{contact_id}",
        detail={
            "from": {
                "category": current["category"],
                "priority_class": current["priority_class"],
                "emergency": current["emergency"],
            },
            "to": {"category": category, "priority_class": priority_class, "emergency": emergency},
            "reason": reason,
        },
        at=tx.now,
    )
