"""Emergency paging: the on-call list (admin, every change audited; supervisors and ops read it) and the
acknowledgement an emergency-team member gives from the desktop (REST or the socket's `acknowledge`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from services.routing.api.common import RoutingState, actor_of, transaction
from services.routing.domain.lifecycle import NotFound
from services.routing.domain.paging import EmergencyPage, OnCall, masked_phone
from services.routing.handlers.paging import acknowledge
from services.routing.repository import paging as paging_repo
from shared import audit
from shared.auth import Principal, require_roles
from shared.openapi import example

router = APIRouter(tags=["paging"])
Admin = Annotated[Principal, Depends(require_roles("admin"))]
Staff = Annotated[Principal, Depends(require_roles("admin", "supervisor", "ops"))]
Person = Annotated[Principal, Depends(require_roles("agent", "supervisor", "admin"))]
OnCallId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:@-]+$")]


class OnCallIn(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(name="Zhang Wei", phone="+8613800138000", active=True)

    name: str = Field(min_length=1, max_length=200)
    phone: str = Field(pattern=r"^\+[1-9][0-9]{6,14}$")
    """E.164 (`+8613800138000`): pages go out by SMS."""
    active: bool = True


class OnCallOut(BaseModel):
    model_config = example(on_call_id="duty-1", name="Zhang Wei", phone="+8613800138000", active=True)

    on_call_id: str
    name: str
    phone: str
    active: bool


def _out(entry: OnCall) -> OnCallOut:
    return OnCallOut(on_call_id=entry.on_call_id, name=entry.name, phone=entry.phone, active=entry.active)


@router.get("/v1/on-call", response_model=list[OnCallOut])
async def list_on_call(state: RoutingState, _p: Staff) -> list[OnCallOut]:
    """Who is paged by SMS when an emergency contact is not taken in time (`emergency_page_after_s`)."""
    async with transaction(state) as tx:
        return [_out(e) for e in await paging_repo.list_on_call(tx.conn)]


@router.put(
    "/v1/on-call/{on_call_id}",
    response_model=OnCallOut,
    responses={201: {"model": OnCallOut, "description": "Added to the on-call list (200 when it was changed)"}},
)
async def put_on_call(
    on_call_id: OnCallId, body: OnCallIn, state: RoutingState, response: Response, principal: Admin
) -> OnCallOut:
    entry = OnCall(on_call_id, body.name, body.phone, body.active)
    async with transaction(state) as tx:
        created = await paging_repo.put_on_call(tx.conn, entry, by=actor_of(principal).label, now=tx.now)
        await audit.record(
            tx.conn,
            actor=actor_of(principal).label,
            action="on_call_added" if created else "on_call_changed",
            target=f"on_call:{on_call_id}",
            detail={"name": body.name, "phone": masked_phone(body.phone), "active": body.active},
            at=tx.now,
        )
    response.status_code = 201 if created else 200
    return _out(entry)


@router.delete("/v1/on-call/{on_call_id}", status_code=204)
async def delete_on_call(on_call_id: str, state: RoutingState, principal: Admin) -> Response:
    async with transaction(state) as tx:
        if not await paging_repo.delete_on_call(tx.conn, on_call_id):
            raise NotFound(f"no one on call as {on_call_id}")
        await audit.record(
            tx.conn,
            actor=actor_of(principal).label,
            action="on_call_removed",
            target=f"on_call:{on_call_id}",
            detail={},
            at=tx.now,
        )
    return Response(status_code=204)


class PageOut(BaseModel):
    model_config = example(
        contact_id="5d0c7f3a-2b1e-4c8d-9a6f-1e2d3c4b5a69",
        work_id="6b5a4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d",
        due_at="2026-12-06T10:00:00+08:00",
        acknowledged_at="2026-12-06T10:03:00+08:00",
        acknowledged_by="S-1",
        paged_at="2026-12-06T10:01:00+08:00",
    )

    contact_id: uuid.UUID
    work_id: uuid.UUID
    due_at: datetime
    """When the on-call list is paged unless the emergency team has it by then."""
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    paged_at: datetime | None


def page_out(page: EmergencyPage) -> PageOut:
    return PageOut(
        contact_id=page.contact_id,
        work_id=page.work_id,
        due_at=page.due_at,
        acknowledged_at=page.acknowledged_at,
        acknowledged_by=page.acknowledged_by,
        paged_at=page.paged_at,
    )


@router.get("/v1/emergencies/{contact_id}", response_model=PageOut)
async def get_page(contact_id: uuid.UUID, state: RoutingState, _p: Person) -> PageOut:
    async with transaction(state) as tx:
        page = await paging_repo.get_page(tx.conn, contact_id)
        if page is None:
            raise NotFound(f"no emergency page for contact {contact_id}")
        return page_out(page)


@router.post("/v1/emergencies/{contact_id}/acknowledge", response_model=PageOut)
async def acknowledge_page(contact_id: uuid.UUID, state: RoutingState, principal: Person) -> PageOut:
    """The emergency team has it: no SMS page goes out for this contact after this."""
    async with transaction(state) as tx:
        return page_out(await acknowledge(tx, contact_id, actor_of(principal)))
