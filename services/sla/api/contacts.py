"""`GET /v1/sla/contacts/{contact_id}`: a contact's clocks, due moments and every transition with its cause."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.sla.api.common import READERS, SlaState, actor_of, transaction
from services.sla.handlers import on_manual_milestone
from services.sla.handlers.views import ClockView, contact_view
from services.sla.repository import contacts as contact_repo
from shared.auth import Principal, require_roles
from shared.errors import Problem
from shared.openapi import example

router = APIRouter(prefix="/v1/sla", tags=["contacts"])


class TargetOut(BaseModel):
    amount: float
    unit: str
    seconds: float


class DueOut(BaseModel):
    alert: str
    kind: str
    level: int
    target_role: str | None
    due_at: datetime


class FiredOut(BaseModel):
    alert: str
    due_at: datetime
    fired_at: datetime
    lateness_ms: float
    event_id: uuid.UUID


class ClockOut(BaseModel):
    clock: str
    state: str
    policy_id: uuid.UUID
    policy_version: int
    target: TargetOut
    calendar_id: str
    started_at: datetime
    since: datetime
    elapsed_s: float
    paused_s: float
    remaining_s: float
    due_at: datetime | None
    breached_at: datetime | None
    stopped_by: str | None
    upcoming: list[DueOut]
    fired: list[FiredOut]


class TransitionOut(BaseModel):
    transition_id: int
    clock: str
    action: str
    from_state: str | None
    to_state: str
    at: datetime
    elapsed_s: float
    paused_s: float
    due_at: datetime | None
    cause: str
    cause_event_id: uuid.UUID | None
    detail: dict[str, Any]


class ContactOut(BaseModel):
    model_config = example(
        contact_id="5d0c7f3a-2b1e-4c8d-9a6f-1e2d3c4b5a69",
        received_at="2026-12-06T10:00:00+08:00",
        channel="email",
        grade="key",
        priority_class="complex",
        category="complaint",
        emergency=False,
        agent_id="A-1",
        clocks=[
            {
                "clock": "first_response",
                "state": "running",
                "policy_id": "4e3d2c1b-0a9f-4e8d-b7c6-a5f4e3d2c1b0",
                "policy_version": 4,
                "target": {"amount": 4, "unit": "hours", "seconds": 14400},
                "calendar_id": "working-hours",
                "started_at": "2026-12-06T10:00:00+08:00",
                "since": "2026-12-06T10:00:00+08:00",
                "elapsed_s": 600,
                "paused_s": 0,
                "remaining_s": 13800,
                "due_at": "2026-12-06T14:00:00+08:00",
                "breached_at": "2026-12-06T14:00:00+08:00",
                "stopped_by": "first_reply",
                "upcoming": [
                    {
                        "alert": "warning",
                        "kind": "warning",
                        "level": 0,
                        "target_role": "agent",
                        "due_at": "2026-12-06T13:12:00+08:00",
                    }
                ],
                "fired": [],
            }
        ],
        history=[
            {
                "transition_id": 1,
                "clock": "first_response",
                "action": "start",
                "from_state": "none",
                "to_state": "running",
                "at": "2026-12-06T10:00:00+08:00",
                "elapsed_s": 0,
                "paused_s": 0,
                "due_at": "2026-12-06T14:00:00+08:00",
                "cause": "switchboard.contact.received.v1",
                "cause_event_id": "8f7e6d5c-4b3a-4291-8f0e-d1c2b3a49586",
                "detail": {},
            }
        ],
        waiting_events=0,
    )

    contact_id: uuid.UUID
    received_at: datetime | None
    channel: str | None
    grade: str | None
    priority_class: str | None
    category: str | None
    emergency: bool
    agent_id: str | None
    clocks: list[ClockOut]
    history: list[TransitionOut]
    waiting_events: int
    """Events that arrived before contact.received and wait to be applied."""


@router.get("/contacts/{contact_id}", response_model=ContactOut)
async def get_contact(
    contact_id: uuid.UUID, state: SlaState, who: Annotated[Principal, Depends(require_roles(*READERS))]
) -> ContactOut:
    """An agent reads the clocks of the contacts whose work they hold; supervisors, admins and ops every one."""
    # One snapshot, so a firing that commits while this reads cannot show an alert both due and fired.
    async with transaction(state, isolation="repeatable_read", readonly=True) as tx:
        view = await contact_view(tx, contact_id, actor=actor_of(who))
    contact = view.contact
    return ContactOut(
        contact_id=contact.contact_id,
        received_at=contact.received_at,
        channel=contact.channel,
        grade=contact.grade,
        priority_class=contact.priority_class,
        category=contact.category,
        emergency=contact.emergency,
        agent_id=contact.agent_id,
        clocks=[_clock_out(c) for c in view.clocks],
        history=[TransitionOut.model_validate(t, from_attributes=True) for t in view.history],
        waiting_events=view.waiting_events,
    )


def _clock_out(view: ClockView) -> ClockOut:
    clock = view.clock
    return ClockOut(
        clock=clock.clock,
        state=clock.state,
        policy_id=clock.spec.policy_id,
        policy_version=clock.spec.policy_version,
        target=TargetOut(amount=clock.spec.target.amount, unit=clock.spec.target.unit, seconds=clock.target_s),
        calendar_id=clock.spec.calendar_id,
        started_at=clock.started_at,
        since=clock.since,
        elapsed_s=view.elapsed_s,
        paused_s=view.paused_s,
        remaining_s=clock.target_s - view.elapsed_s,
        due_at=view.due_at,
        breached_at=clock.breached_at,
        stopped_by=clock.stopped_by,
        upcoming=[
            DueOut(alert=d.alert, kind=d.kind, level=d.level, target_role=d.target_role, due_at=d.due_at)
            for d in view.upcoming
        ],
        fired=[
            FiredOut(
                alert=f.alert,
                due_at=f.due_at,
                fired_at=f.fired_at,
                lateness_ms=(f.fired_at - f.due_at).total_seconds() * 1000,
                event_id=f.event_id,
            )
            for f in view.fired
        ],
    )


class MilestoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(
        milestone="regulator_reported", at="2026-12-06T10:00:00+08:00"
    )

    milestone: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$", examples=["regulator_reported"])
    at: AwareDatetime | None = None
    """When it happened; now if left out."""


class MilestoneOut(BaseModel):
    model_config = example(
        contact_id="5d0c7f3a-2b1e-4c8d-9a6f-1e2d3c4b5a69",
        milestone="regulator_reported",
        at="2026-12-06T10:00:00+08:00",
        stopped=["regulator_report"],
    )

    contact_id: uuid.UUID
    milestone: str
    at: datetime
    stopped: list[str]
    """The clocks it stopped."""


@router.post("/contacts/{contact_id}/milestones", response_model=MilestoneOut)
async def record_milestone(
    contact_id: uuid.UUID,
    body: MilestoneIn,
    state: SlaState,
    who: Annotated[Principal, Depends(require_roles("supervisor", "admin"))],
) -> MilestoneOut:
    """Record a milestone no event carries (the regulator was notified, the incident review is done…)."""
    at = body.at or state.clock.now()
    async with transaction(state) as tx:
        contact = await contact_repo.get_contact(tx.conn, contact_id)
        if contact is None or contact.received_at is None:
            raise Problem(404, "Not found", f"SLA has no clocks for contact {contact_id}", kind="unknown-contact")
        stopped = await on_manual_milestone(tx, contact_id, body.milestone, at=at, actor=who.subject)
    if not stopped:
        raise Problem(
            409,
            "Conflict",
            f"no open clock of contact {contact_id} waits for {body.milestone!r}",
            kind="milestone-stops-nothing",
        )
    return MilestoneOut(contact_id=contact_id, milestone=body.milestone, at=at, stopped=stopped)
