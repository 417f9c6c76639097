"""What desktops and the API are shown of work, contacts and offers: plain JSON-ready dicts, built inside the
transaction that reads them. An offer shows no message text; the owner's `contact_details` show it all."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python

from services.routing.domain.records import ContactRecord, WorkRecord
from services.routing.handlers.common import Tx, priority_now
from services.routing.repository import contacts as contact_repo


def jsonable(value: Any) -> Any:
    return to_jsonable_python(value)


def jsonable_dict(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = to_jsonable_python(value)
    return out


def work_view(tx: Tx, work: WorkRecord) -> dict[str, Any]:
    return jsonable_dict(
        {
            "work_id": work.work_id,
            "contact_id": work.contact_id,
            "kind": work.kind,
            "state": work.state,
            "pool": work.pool,
            "channel": work.channel,
            "work_class": work.work_class,
            "grade": work.grade,
            "category": work.category,
            "language": work.language,
            "requirements": [{"skill": r.skill, "level": r.level} for r in work.requirements],
            "priority": priority_now(tx, work),
            "enqueued_at": work.enqueued_at,
            "waited_s": round(max(0.0, (tx.now - work.enqueued_at).total_seconds()), 1),
            "sla_warned": work.sla_warned,
            "escalation_level": work.escalation_level,
            "target_agent_id": work.target_agent_id,
            "target_team": work.target_team,
            "first_owner_id": work.first_owner_id,
            "owner_id": work.owner_id,
            "offers_failed": work.offers_failed,
            "pending_department": work.pending_department,
            "pending_until": work.pending_until,
            "wrap_up_until": work.wrap_up_until,
            "solution_at": work.solution_at,
            "resolution_code": work.resolution_code,
            "fcr": work.fcr,
            "customer_notified": work.customer_notified,
            "callback": (
                {
                    "mode": work.callback_mode,
                    "attempts": work.callback_attempts,
                    "phone": mask_phone(work.callback_phone),
                }
                if work.callback_mode
                else None
            ),
            "scheduled_until": work.scheduled_until,
            "resolved_at": work.resolved_at,
            "closed_at": work.closed_at,
            "reopened": work.reopened,
            "reason": work.reason,
        }
    )


def mask_phone(phone: str | None) -> str | None:
    """`+86138****8000`: enough to recognise, not enough to dial."""
    if not phone:
        return None
    return phone[:6] + "*" * max(0, len(phone) - 10) + phone[-4:] if len(phone) > 10 else "*" * len(phone)


def contact_summary(contact: ContactRecord | None) -> dict[str, Any]:
    """What an offer shows before acceptance: no message text (important PII goes to the owner only)."""
    if contact is None:
        return {}
    return jsonable_dict(
        {
            "contact_id": contact.contact_id,
            "channel": contact.channel,
            "grade": contact.grade,
            "category": contact.category,
            "priority_class": contact.priority_class,
            "emergency": contact.emergency,
            "language": contact.language,
            "subject": contact.subject,
            "received_at": contact.received_at,
        }
    )


async def contact_details(tx: Tx, work: WorkRecord) -> dict[str, Any]:
    """Everything the owning agent needs: the contact, its messages and the knowledge suggestions."""
    contact = await contact_repo.get_contact(tx.conn, work.contact_id)
    details = contact_summary(contact)
    if contact is not None:
        details["text"] = contact.text
        details["customer_id"] = str(contact.customer_id)
        details["attributes"] = dict(contact.attributes)
    details["messages"] = jsonable(await contact_repo.messages_of(tx.conn, work.contact_id))
    if work.callback_mode:
        details["callback_phone"] = work.callback_phone
    details["suggestions"] = jsonable(await contact_repo.suggestion_for(tx.conn, work.contact_id))
    return details


def offer_view(
    tx: Tx,
    work: WorkRecord,
    contact: ContactRecord | None,
    offer_id: uuid.UUID,
    expires_at: datetime,
    forced_by: str | None,
) -> dict[str, Any]:
    """What the agent's desktop shows for an offer."""
    return jsonable_dict(
        {
            "offer_id": offer_id,
            "work": work_view(tx, work),
            "contact": contact_summary(contact),
            "expires_at": expires_at,
            "timeout_s": tx.policy.offer_timeout_s,
            "forced_by": forced_by,
        }
    )
