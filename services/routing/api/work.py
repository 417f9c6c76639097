"""Work: offers (accept, decline), the lifecycle actions, the supervisor's actions and queue view."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, WithJsonSchema

from services.routing.api.bodies import (
    AssignIn,
    CreateWorkIn,
    ForceOfferIn,
    NotifyIn,
    PendingIn,
    ReasonIn,
    ResolveIn,
    SolutionIn,
    TransferIn,
)
from services.routing.api.common import RoutingState, actor_of, transaction
from services.routing.api.models import WORK_EXAMPLE, FeedMessage, Offered, WorkDetail, WorkView
from services.routing.domain.lifecycle import Conflict, NotAllowed, NotFound, allowed_actions
from services.routing.domain.model import parse_requirements, primary_language
from services.routing.domain.records import ContactRecord
from services.routing.handlers import assignment, lifecycle, resolution
from services.routing.handlers.contacts import create_work
from services.routing.handlers.offers import accept_offer, decline_offer
from services.routing.handlers.views import work_view
from services.routing.repository import contacts as contact_repo
from services.routing.repository import feed
from services.routing.repository import history as history_repo
from services.routing.repository import offers as offer_repo
from services.routing.repository import work as work_repo
from shared import audit
from shared.auth import Principal, require_roles
from shared.openapi import example, schema_of

router = APIRouter(tags=["work"])
Person = Annotated[Principal, Depends(require_roles("agent", "supervisor", "admin"))]
Supervisor = Annotated[Principal, Depends(require_roles("supervisor", "admin"))]


class WorkOut(BaseModel):
    model_config = example(
        work=WORK_EXAMPLE, allowed_actions=["start", "pending", "transfer", "solution", "resolve"]
    )

    work: Annotated[dict[str, Any], WithJsonSchema(schema_of(WorkView))]
    """`work_view`'s dict as it is (no second validation); documented as the `WorkView` it is."""
    allowed_actions: list[str]


def out(tx: Any, work: Any) -> WorkOut:
    return WorkOut(work=work_view(tx, work), allowed_actions=allowed_actions(work.state))


class DeclineIn(BaseModel):
    model_config = example(reason="on a call")

    reason: str | None = Field(default=None, max_length=500)


@router.post("/v1/offers/{offer_id}/accept", response_model=WorkOut)
async def accept(offer_id: uuid.UUID, state: RoutingState, principal: Person) -> WorkOut:
    async with transaction(state) as tx:
        return out(tx, await accept_offer(tx, offer_id=offer_id, actor=actor_of(principal)))


@router.post("/v1/offers/{offer_id}/decline", response_model=WorkOut)
async def decline(offer_id: uuid.UUID, body: DeclineIn, state: RoutingState, principal: Person) -> WorkOut:
    async with transaction(state) as tx:
        return out(tx, await decline_offer(tx, offer_id=offer_id, reason=body.reason, actor=actor_of(principal)))


@router.get("/v1/work/{work_id}", response_model=None, responses={200: {"model": WorkDetail}})
async def get_work(
    work_id: uuid.UUID,
    state: RoutingState,
    principal: Annotated[Principal, Depends(require_roles("agent", "supervisor", "admin", "ops"))],
) -> dict[str, Any]:
    async with transaction(state) as tx:
        work = await work_repo.get_work(tx.conn, work_id)
        if work is None:
            raise NotFound(f"no work {work_id}")
        if principal.role == "agent" and principal.subject not in (
            work.owner_id,
            work.first_owner_id,
            work.slot_agent_id,
        ):
            raise NotAllowed("agents see work they own, owned first or are offered")
        return {
            **out(tx, work).model_dump(),
            "history": await history_repo.history_of(tx.conn, work_id),
            "offers": [
                {
                    "offer_id": o.offer_id,
                    "agent_id": o.agent_id,
                    "status": o.status,
                    "created_at": o.created_at,
                    "expires_at": o.expires_at,
                    "reason": o.reason,
                    "forced_by": o.forced_by,
                }
                for o in await offer_repo.offers_for_work(tx.conn, work_id)
            ],
            "assignments": await offer_repo.assignments_of(tx.conn, work_id),
        }


@router.get("/v1/me/work", response_model=None, responses={200: {"model": list[WorkView]}})
async def my_work(state: RoutingState, principal: Person) -> list[dict[str, Any]]:
    async with transaction(state) as tx:
        return [work_view(tx, w) for w in await work_repo.works_of_agent(tx.conn, principal.subject)]


@router.get("/v1/desktop/feed", response_model=None, responses={200: {"model": list[FeedMessage]}})
async def desktop_feed(
    state: RoutingState,
    principal: Person,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """The desktop stream over plain HTTP (for clients without a WebSocket): messages after `after`."""
    async with transaction(state) as tx:
        rows = await feed.desktop_after(
            tx.conn, agent_id=principal.subject, after=after, limit=min(max(limit, 1), 500)
        )
        return [
            {"id": r["desktop_message_id"], "type": r["kind"], "at": r["created_at"], **r["body"]} for r in rows
        ]


# --- lifecycle ------------------------------------------------------------------------------------------------


@router.post("/v1/work/{work_id}/start", response_model=WorkOut)
async def start(work_id: uuid.UUID, state: RoutingState, principal: Person) -> WorkOut:
    async with transaction(state) as tx:
        return out(tx, await lifecycle.start(tx, work_id, actor_of(principal)))


@router.post("/v1/work/{work_id}/pending", response_model=WorkOut)
async def pending(work_id: uuid.UUID, body: PendingIn, state: RoutingState, principal: Person) -> WorkOut:
    async with transaction(state) as tx:
        return out(
            tx,
            await lifecycle.pending(
                tx,
                work_id,
                actor_of(principal),
                on=body.on,
                department=body.department,
                until=body.until,
                reason=body.reason,
            ),
        )


@router.post("/v1/work/{work_id}/resume", response_model=WorkOut)
async def resume(work_id: uuid.UUID, body: ReasonIn, state: RoutingState, principal: Person) -> WorkOut:
    async with transaction(state) as tx:
        return out(tx, await lifecycle.resume_command(tx, work_id, actor_of(principal), reason=body.reason))


@router.post("/v1/work/{work_id}/solution", response_model=WorkOut)
async def solution(work_id: uuid.UUID, body: SolutionIn, state: RoutingState, principal: Person) -> WorkOut:
    async with transaction(state) as tx:
        return out(tx, await lifecycle.record_solution(tx, work_id, actor_of(principal), note=body.note))


@router.post("/v1/work/{work_id}/transfer", response_model=WorkOut)
async def transfer(work_id: uuid.UUID, body: TransferIn, state: RoutingState, principal: Person) -> WorkOut:
    async with transaction(state) as tx:
        return out(
            tx,
            await assignment.transfer(
                tx,
                work_id,
                actor_of(principal),
                to_agent=body.to_agent,
                to_team=body.to_team,
                to_department=body.to_department,
                deadline=body.deadline,
                reason=body.reason,
            ),
        )


@router.post("/v1/work/{work_id}/wrap-up", response_model=WorkOut)
async def wrap_up(work_id: uuid.UUID, state: RoutingState, principal: Person) -> WorkOut:
    async with transaction(state) as tx:
        return out(tx, await lifecycle.wrap_up(tx, work_id, actor_of(principal)))


@router.post("/v1/work/{work_id}/resolve", response_model=WorkOut)
async def resolve(work_id: uuid.UUID, body: ResolveIn, state: RoutingState, principal: Person) -> WorkOut:
    async with transaction(state) as tx:
        return out(
            tx,
            await resolution.resolve(
                tx,
                work_id,
                actor_of(principal),
                resolution_code=body.resolution_code,
                final_note=body.final_note,
                fcr=body.fcr,
                customer_notified=body.customer_notified,
                send_end_notice=body.send_end_notice,
                close=body.close,
            ),
        )


@router.post("/v1/work/{work_id}/notify", response_model=WorkOut)
async def notify(work_id: uuid.UUID, body: NotifyIn, state: RoutingState, principal: Person) -> WorkOut:
    async with transaction(state) as tx:
        return out(
            tx,
            await resolution.notify_customer(tx, work_id, actor_of(principal), sent_elsewhere=body.sent_elsewhere),
        )


@router.post("/v1/work/{work_id}/close", response_model=WorkOut)
async def close(work_id: uuid.UUID, body: ReasonIn, state: RoutingState, principal: Person) -> WorkOut:
    async with transaction(state) as tx:
        return out(tx, await resolution.close(tx, work_id, actor_of(principal), reason=body.reason))


@router.post("/v1/work/{work_id}/reopen", response_model=WorkOut)
async def reopen(work_id: uuid.UUID, body: ReasonIn, state: RoutingState, principal: Person) -> WorkOut:
    async with transaction(state) as tx:
        return out(
            tx,
            await lifecycle.reopen_command(
                tx, work_id, actor_of(principal), reason=body.reason or f"reopened by {principal.subject}"
            ),
        )


# --- supervisors ----------------------------------------------------------------------------------------------


@router.post("/v1/work/{work_id}/assign", response_model=WorkOut)
async def assign(work_id: uuid.UUID, body: AssignIn, state: RoutingState, principal: Supervisor) -> WorkOut:
    async with transaction(state) as tx:
        return out(
            tx,
            await assignment.supervisor_assign(
                tx,
                work_id,
                actor_of(principal),
                agent_id=body.agent_id,
                override_capacity=body.override_capacity,
                reason=body.reason,
            ),
        )


@router.post("/v1/work/{work_id}/offer", response_model=Offered)
async def force_offer(
    work_id: uuid.UUID, body: ForceOfferIn, state: RoutingState, principal: Supervisor
) -> dict[str, str]:
    async with transaction(state) as tx:
        offer_id = await assignment.force_offer(
            tx, work_id, actor_of(principal), agent_id=body.agent_id, override_capacity=body.override_capacity
        )
        return {"offer_id": str(offer_id)}


@router.post("/v1/work/{work_id}/requeue", response_model=WorkOut)
async def requeue(work_id: uuid.UUID, body: ReasonIn, state: RoutingState, principal: Supervisor) -> WorkOut:
    async with transaction(state) as tx:
        return out(tx, await assignment.requeue(tx, work_id, actor_of(principal), reason=body.reason))


@router.post("/v1/work", response_model=WorkOut, status_code=201)
async def create(body: CreateWorkIn, state: RoutingState, principal: Supervisor) -> WorkOut:
    """Work a supervisor opens by hand (a walk-in, a call-back, a case found in review)."""
    actor = actor_of(principal)
    async with transaction(state) as tx:
        contact_id = body.contact_id or uuid.uuid4()
        contact = await contact_repo.get_contact(tx.conn, contact_id)
        if contact is None:
            contact = ContactRecord(
                contact_id=contact_id,
                customer_id=uuid.uuid4(),
                grade=body.grade,
                channel=body.channel,
                subject=body.subject,
                text=body.text,
                language=primary_language(body.language),
                category="enquiry",
                priority_class="routine" if body.work_class == "followup" else body.work_class,
                emergency=body.work_class == "urgent",
                attributes={},
                reply_to={},
                received_at=tx.now,
            )
            await contact_repo.upsert_contact(tx.conn, contact)
        work = await create_work(
            tx,
            contact_id=contact_id,
            kind="manual",
            pool=body.pool,
            channel=body.channel,
            customer_id=contact.customer_id,
            grade=body.grade,
            work_class=body.work_class,
            category=contact.category,
            language=primary_language(body.language),
            requirements=parse_requirements(body.required_skills, default_level=1),
            target_team=body.target_team,
            reason=body.reason,
            actor_label=actor.label,
        )
        if work is None:
            raise Conflict(f"contact {contact_id} already has open manual work")
        await audit.record(
            tx.conn,
            actor=actor.label,
            action="work_created",
            target=f"work:{work.work_id}",
            detail=body.model_dump(mode="json", exclude={"text", "subject"}),
            at=tx.now,
        )
        return out(tx, work)
