"""Contacts as intake normalised them, and an agent's reclassification."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from services.intake.api.common import IntakeState, caught_up, transaction
from services.intake.api.models import ContactOut, Reclassified
from services.intake.domain.classification import CATEGORIES, valid_subcategory
from services.intake.domain.conversation import Cursor
from services.intake.domain.search import query_terms
from services.intake.handlers.classification import ContactNotFound, override_classification
from services.intake.handlers.contacts import read_contact as read
from services.intake.handlers.conversation import ContactMissing, NotYours, Writer
from services.intake.handlers.reads import contacts_page
from services.intake.repository import conversation as conversation_repo
from services.intake.repository.search import Filters
from services.intake.state import Intake
from shared.auth import Principal, authenticate, require_roles
from shared.errors import Problem
from shared.events import Category
from shared.openapi import example
from shared.tx import Actor

router = APIRouter(prefix="/v1/contacts", tags=["contacts"])
PEOPLE = ("agent", "supervisor", "admin")


class ContactSummary(BaseModel):
    contact_id: uuid.UUID
    channel: str
    customer_id: uuid.UUID
    grade: str
    subject: str | None
    preview: str | None
    """The start of the customer's first message."""
    language: str | None
    category: str
    subcategory: str | None
    priority_class: str
    emergency: bool
    status: str
    owner_id: str | None
    team: str | None
    work_state: str | None
    message_count: int
    created_at: datetime
    last_message_at: datetime
    first_reply_at: datetime | None
    ended_at: datetime | None


class ContactPage(BaseModel):
    model_config = example(
        contacts=[
            {
                "contact_id": "5d0c7f3a-2b1e-4c8d-9a6f-1e2d3c4b5a69",
                "channel": "email",
                "customer_id": "0b6f3c1e-5a8d-4b1e-9d2a-6f1c2e3d4a5b",
                "grade": "key",
                "subject": "账单金额不对",
                "preview": "十一月的账单多扣了 30 元",
                "language": "zh-Hans",
                "category": "complaint",
                "subcategory": "billing/overcharge",
                "priority_class": "complex",
                "emergency": False,
                "status": "open",
                "owner_id": "A-1",
                "team": "billing",
                "work_state": "assigned",
                "message_count": 2,
                "created_at": "2026-12-06T10:00:00+08:00",
                "last_message_at": "2026-12-06T10:00:00+08:00",
                "first_reply_at": "2026-12-06T10:00:00+08:00",
                "ended_at": "2026-12-06T10:20:00+08:00",
            }
        ],
        next="MjAyNi0xMi0wNlQwOTo1OTo1OHw1ZDBj",
    )

    contacts: list[ContactSummary]
    next: str | None
    """Pass as `after` for the next (older) page; None when there is none."""


def _before(after: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not after:
        return None
    try:
        cursor = Cursor.decode(after)
        return cursor.at, uuid.UUID(cursor.key)
    except ValueError as exc:
        raise Problem(422, "Validation failed", f"query.after: {exc}", kind="validation") from exc


async def page_of(
    intake: Intake, who: Principal, filters: Filters, *, after: str | None, limit: int
) -> ContactPage:
    before = _before(after)
    async with transaction(intake) as tx:
        rows = await contacts_page(tx, filters, before=before, limit=limit + 1, actor=Actor(who.role, who.subject))
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more else None
    return ContactPage(
        contacts=[ContactSummary(**r) for r in rows],
        next=Cursor(last["created_at"], str(last["contact_id"])).encode() if last else None,
    )


@router.get("", response_model=ContactPage, summary="Find contacts: filters and free text, newest first")
async def search_contacts(
    intake: IntakeState,
    who: Annotated[Principal, Depends(require_roles(*PEOPLE))],
    status: Literal["received", "reopened", "resolved", "closed", "ignored"] | None = None,
    channel: Literal["phone", "email", "chat", "web", "sms", "social", "onsite"] | None = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    team: Annotated[str | None, Query(max_length=200)] = None,
    category: Category | None = None,
    subcategory: Annotated[str | None, Query(max_length=130, pattern=r"^[a-z][a-z0-9_/]*$")] = None,
    grade: Literal["strategic", "key", "basic"] | None = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="words in Chinese (either script) or English")
    ] = None,
    after: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ContactPage:
    """Agents see the contacts they own; supervisors and admins every contact (RULES.md security)."""
    if who.role == "agent":
        if owner is not None and owner != who.subject:
            raise Problem(403, "Forbidden", "agents list their own contacts only", kind="not-your-contact")
        owner = who.subject
    for name, moment in (("from", since), ("to", until)):
        if moment is not None and moment.tzinfo is None:
            raise Problem(422, "Validation failed", f"query.{name}: needs a time zone", kind="validation")
    filters = Filters(
        status=status, channel=channel, owner=owner, team=team, category=category, subcategory=subcategory,
        grade=grade, since=since,
        until=until, terms=tuple(query_terms(q or "")),
    )  # fmt: skip
    if q and not filters.terms:
        raise Problem(422, "Validation failed", "query.q: no word to search for", kind="validation")
    return await page_of(intake, who, filters, after=after, limit=limit)


@router.get(
    "/{contact_id}",
    summary="The normalised contact with its messages",
    response_model=None,
    responses={200: {"model": ContactOut}},
)
async def read_contact(
    contact_id: uuid.UUID, intake: IntakeState, principal: Annotated[Principal, Depends(authenticate)]
) -> dict[str, Any]:
    if principal.role == "ops":
        raise Problem(403, "Forbidden", "ops reads figures and health, not contacts", kind="not-your-contact")
    try:
        async with transaction(intake) as tx:
            contact = await read(
                tx, contact_id, actor=Actor(principal.role, principal.subject), channels=principal.channels
            )
    except ContactMissing as exc:
        raise Problem(404, "Not found", f"no contact {contact_id}") from exc
    except NotYours as exc:
        raise Problem(403, "Forbidden", str(exc), kind="not-your-contact") from exc
    return contact_out(contact)


def contact_out(contact: dict[str, Any]) -> dict[str, Any]:
    """The contact's read model as the API answers it (`ContactOut`)."""
    return {
        "contact_id": str(contact["contact_id"]),
        "channel": contact["channel"],
        "customer": {"customer_id": str(contact["customer_id"]), "grade": contact["grade"]},
        "subject": contact["subject"],
        "language": contact["language"],
        "category": contact["category"],
        "priority_class": contact["priority_class"],
        "emergency": contact["emergency"],
        "emergency_reasons": contact["emergency_reasons"],
        "required_skills": contact["required_skills"],
        "subcategory": contact["subcategory"],
        "incident_level": contact["incident_level"],
        "classified_by": contact["classified_by"],
        "status": contact["status"],
        "identity_conflicts": [str(c) for c in contact["identity_conflicts"]],
        "message_count": contact["message_count"],
        "reopen_count": contact["reopen_count"],
        "created_at": contact["created_at"].isoformat(),
        "updated_at": contact["updated_at"].isoformat(),
        "last_message_at": contact["last_message_at"].isoformat(),
        "ended_at": contact["ended_at"].isoformat() if contact["ended_at"] else None,
        "messages": [
            {
                "message_id": str(m["message_id"]),
                "channel": m["channel"],
                "external_id": m["natural_key"],
                "sender_name": m["sender_name"],
                "subject": m["subject"],
                "text": m["text"],
                "original": m["original"],
                "language": m["language"],
                "attachments": m["attachments"],
                "metadata": m["metadata"],
                "automatic": m["automatic"],
                "sent_at": m["sent_at"].isoformat() if m["sent_at"] else None,
                "received_at": m["received_at"].isoformat(),
            }
            for m in contact["messages"]
        ],
    }


class ReclassifyIn(BaseModel):
    model_config = example(
        category="complaint",
        priority_class="urgent",
        emergency=False,
        required_skills=["billing"],
        subcategory="billing/overcharge",
        reason="customer threatens to go to the regulator",
    )

    category: Literal[
        "enquiry",
        "complaint",
        "suggestion",
        "system_fault",
        "data_anomaly",
        "service_interruption",
        "security_event",
        "data_leak",
    ]
    priority_class: Literal["urgent", "complex", "routine"]
    emergency: bool = False
    required_skills: list[str] = Field(default_factory=list, max_length=20)
    subcategory: str | None = Field(default=None, max_length=130)
    """`level2` or `level2/level3` of the category, from the rule set's `subcategories`."""
    incident_level: Literal["general", "major", "serious", "critical"] | None = None
    """For security_event and data_leak (一般 / 较大 / 重大 / 特别重大); general when left out."""
    reason: str = Field(min_length=1, max_length=1000)


@router.post(
    "/{contact_id}/classification",
    status_code=200,
    summary="An agent corrects the classification",
    response_model=None,
    responses={200: {"model": Reclassified}},
)
async def reclassify(
    contact_id: uuid.UUID,
    body: ReclassifyIn,
    intake: IntakeState,
    principal: Annotated[Principal, Depends(require_roles("agent", "supervisor", "admin"))],
) -> dict[str, Any]:
    assert body.category in CATEGORIES
    if principal.role == "agent":
        await caught_up(intake, contact_id, Writer(principal.role, principal.subject))
        async with intake.pool.acquire() as conn:
            head = await conversation_repo.get_head(conn, contact_id)
        if head is not None and head.owner_id != principal.subject:
            raise Problem(
                403, "Forbidden", "only the agent who owns the contact's work (or a supervisor) reclassifies it",
                kind="not-your-contact",
            )  # fmt: skip
    if body.incident_level is not None and body.category not in ("security_event", "data_leak"):
        raise Problem(
            422, "Validation failed", "body.incident_level: only security_event and data_leak have one",
            kind="validation",
        )  # fmt: skip
    if body.subcategory is not None:
        async with intake.pool.acquire() as conn:
            rules_in_force = await intake.accepting.rules.get(conn)
        if not valid_subcategory(rules_in_force, body.category, body.subcategory):
            known = sorted(rules_in_force.subcategories.get(body.category, {}))
            raise Problem(
                422, "Validation failed",
                f"body.subcategory: {body.subcategory!r} is not a sub-type of {body.category!r} (known: {known})",
                kind="validation",
            )  # fmt: skip
    if body.emergency and body.priority_class != "urgent":
        raise Problem(
            422, "Validation failed", "an emergency contact is always priority_class 'urgent'", kind="validation"
        )
    try:
        async with transaction(intake) as tx:
            await override_classification(
                tx,
                contact_id=contact_id,
                category=body.category,
                priority_class=body.priority_class,
                emergency=body.emergency,
                required_skills=tuple(body.required_skills),
                agent=principal.subject,
                reason=body.reason,
                subcategory=body.subcategory,
                incident_level=body.incident_level,
            )
    except ContactNotFound as exc:
        raise Problem(404, "Not found", f"no contact {contact_id}") from exc
    return {
        "contact_id": str(contact_id),
        "by": f"agent:{principal.subject}",
        **body.model_dump(exclude={"reason"}),
    }
