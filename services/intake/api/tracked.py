"""`GET /v1/customers/tracked`: the tracked registration of high-risk customers (002 §2.2) — which customers,
their contacts, when each was registered, and who handled it; for supervisors and admins, every read audited."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from services.intake.api.common import IntakeState
from services.intake.domain.conversation import Cursor
from services.intake.repository import tracked
from shared.audit import record
from shared.auth import Principal, require_roles
from shared.errors import Problem
from shared.openapi import example

router = APIRouter(prefix="/v1/customers", tags=["customers"])


class TrackedCustomer(BaseModel):
    customer_id: uuid.UUID
    name: str | None
    grade: str
    value_tier: str | None
    risk_level: str | None
    """Now; the registration's `reason` says what it was when the contact was registered."""
    lifecycle_stage: str | None


class TrackedContact(BaseModel):
    contact_id: uuid.UUID
    channel: str
    subject: str | None
    category: str
    priority_class: str
    emergency: bool
    status: str
    work_state: str | None
    created_at: datetime
    ended_at: datetime | None


class Registration(BaseModel):
    registered_at: datetime
    reason: str
    """Why it is tracked: `risk_level:high`."""
    customer: TrackedCustomer
    contact: TrackedContact
    owner_id: str | None
    """Who holds the work now."""
    team: str | None
    handled_by: list[str]
    """Every agent who handled it (assigned, passed it on, recorded the solution, resolved it), earliest first."""


class RegistrationPage(BaseModel):
    model_config = example(
        registrations=[
            {
                "registered_at": "2026-12-06T10:00:00+08:00",
                "reason": "high risk customer",
                "customer": {
                    "customer_id": "0b6f3c1e-5a8d-4b1e-9d2a-6f1c2e3d4a5b",
                    "name": "王芳",
                    "grade": "key",
                    "value_tier": "high",
                    "risk_level": "high",
                    "lifecycle_stage": "mature",
                },
                "contact": {
                    "contact_id": "5d0c7f3a-2b1e-4c8d-9a6f-1e2d3c4b5a69",
                    "channel": "phone",
                    "subject": "投诉",
                    "category": "complaint",
                    "priority_class": "complex",
                    "emergency": False,
                    "status": "open",
                    "work_state": "assigned",
                    "created_at": "2026-12-06T10:00:00+08:00",
                    "ended_at": "2026-12-06T10:30:00+08:00",
                },
                "owner_id": "A-1",
                "team": "complaints",
                "handled_by": ["A-1"],
            }
        ],
        next="MjAyNi0xMi0wNlQxMDowMDowMHw1ZDBj",
    )

    registrations: list[Registration]
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


@router.get("/tracked", response_model=RegistrationPage, summary="High-risk customers' tracked contacts")
async def tracked_registrations(
    intake: IntakeState,
    who: Annotated[Principal, Depends(require_roles("supervisor", "admin"))],
    customer_id: uuid.UUID | None = None,
    after: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RegistrationPage:
    """Newest registration first, optionally of one customer. The page holds names (personal data): each read is
    audited with who read which customers."""
    before = _before(after)
    async with intake.pool.acquire() as conn, conn.transaction():
        rows = await tracked.tracked_page(conn, customer_id=customer_id, before=before, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        await record(
            conn,
            actor=f"{who.role}:{who.subject}",
            action="customer.tracked.read",
            target="customers:tracked",
            detail={
                "customers": sorted({str(r["customer_id"]) for r in rows}),
                "contacts": len(rows),
                "customer_id": str(customer_id) if customer_id else None,
                "after": after,
            },
            at=intake.clock.now(),
        )
    last = rows[-1] if more else None
    return RegistrationPage(
        registrations=[
            Registration(
                registered_at=r["registered_at"],
                reason=r["reason"],
                customer=TrackedCustomer(name=r["display_name"], **r),
                contact=TrackedContact(**r),
                owner_id=r["owner_id"],
                team=r["team"],
                handled_by=list(r["handled_by"]),
            )
            for r in rows
        ],
        next=Cursor(last["registered_at"], str(last["contact_id"])).encode() if last else None,
    )
