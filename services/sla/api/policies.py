"""`/v1/sla/policies`: SLA policy rows, versioned and audited; reads for supervisors, changes for admins."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from services.sla.api.common import MANAGERS, SlaState, actor_of, transaction
from services.sla.domain.policy import ClockRule, ContactKeys, Policy, Step, Target, resolve
from services.sla.handlers import admin
from services.sla.repository import admin as admin_repo
from services.sla.repository.admin import PolicyRecord
from services.sla.repository.codec import definition_json
from shared.auth import Principal, require_roles
from shared.events import Category, Channel, Grade, PriorityClass
from shared.openapi import example

router = APIRouter(prefix="/v1/sla", tags=["policies"])


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargetIn(_In):
    amount: float = Field(gt=0)
    unit: Literal["seconds", "minutes", "hours", "working_days"]


class StepIn(_In):
    level: int = Field(ge=0)
    role: str = Field(min_length=1, max_length=100)
    after_fraction: float = Field(default=0.0, ge=0)
    after_seconds: float = Field(default=0.0, ge=0)
    relative_to: Literal["breach", "start"] = "breach"


class ClockIn(_In):
    clock: str = Field(min_length=1, max_length=63)
    target: TargetIn
    starts_on: Literal["received", "followup"] = "received"
    stops_on: list[str] = Field(min_length=1)
    categories: list[Category] = Field(default_factory=list)
    incident_levels: list[Literal["general", "major", "serious", "critical"]] = Field(default_factory=list)
    """Only security incidents of these levels (F17 一般/较大/重大/特别重大); empty: any contact."""
    calendar_id: str | None = None
    warning_fraction: float | None = None
    ladder: list[StepIn] | None = None
    pauses: bool = True
    reopens: bool = False
    goal: float | None = None


class PolicyIn(_In):
    model_config = example(
        name="Key customers, complex",
        grade="key",
        priority_class="complex",
        calendar_id="working-hours",
        warning_fraction=0.8,
        ladder=[{"level": 1, "role": "supervisor", "after_fraction": 0.0, "relative_to": "breach"}],
        clocks=[
            {
                "clock": "first_response",
                "target": {"amount": 4, "unit": "hours"},
                "starts_on": "received",
                "stops_on": ["first_reply"],
                "calendar_id": "working-hours",
                "pauses": True,
            }
        ],
        active=True,
    )

    name: str = Field(min_length=1, max_length=200)
    grade: Grade | None = None
    priority_class: PriorityClass | None = None
    channel: Channel | None = None
    calendar_id: str
    warning_fraction: float | None = None
    ladder: list[StepIn] = Field(default_factory=list)
    clocks: list[ClockIn] = Field(min_length=1)
    active: bool = True
    override_reason: str | None = Field(default=None, min_length=1, max_length=1000)
    """Save even though a higher grade becomes looser than a lower one (C-5); the reason is audited."""


class PolicyOut(BaseModel):
    model_config = example(
        policy_id="4e3d2c1b-0a9f-4e8d-b7c6-a5f4e3d2c1b0",
        version=4,
        name="Key customers, complex",
        grade="key",
        priority_class="complex",
        channel="email",
        active=True,
        calendar_id="working-hours",
        warning_fraction=0.8,
        ladder=[{"level": 1, "role": "supervisor", "after_fraction": 0.0, "relative_to": "breach"}],
        clocks=[
            {
                "clock": "first_response",
                "target": {"amount": 4, "unit": "hours"},
                "starts_on": "received",
                "stops_on": ["first_reply"],
                "calendar_id": "working-hours",
                "pauses": True,
            }
        ],
        updated_at="2026-12-06T10:00:00+08:00",
        updated_by="S-1",
    )

    policy_id: uuid.UUID
    version: int
    name: str
    grade: str | None
    priority_class: str | None
    channel: str | None
    active: bool
    calendar_id: str
    warning_fraction: float | None
    ladder: list[dict[str, Any]]
    clocks: list[dict[str, Any]]
    updated_at: datetime
    updated_by: str


def _step(step: StepIn) -> Step:
    return Step(step.level, step.role, step.after_fraction, step.after_seconds, step.relative_to)


def to_policy(body: PolicyIn, *, policy_id: uuid.UUID, version: int) -> Policy:
    return Policy(
        policy_id=policy_id,
        name=body.name,
        grade=body.grade,
        priority_class=body.priority_class,
        channel=body.channel,
        calendar_id=body.calendar_id,
        warning_fraction=body.warning_fraction,
        ladder=tuple(_step(s) for s in body.ladder),
        clocks=tuple(
            ClockRule(
                clock=c.clock,
                target=Target(c.target.amount, c.target.unit),
                starts_on=c.starts_on,
                stops_on=tuple(c.stops_on),
                categories=tuple(c.categories),
                incident_levels=tuple(c.incident_levels),
                calendar_id=c.calendar_id,
                warning_fraction=c.warning_fraction,
                ladder=None if c.ladder is None else tuple(_step(s) for s in c.ladder),
                pauses=c.pauses,
                reopens=c.reopens,
                goal=c.goal,
            )
            for c in body.clocks
        ),
        version=version,
        active=body.active,
    )


def policy_out(record: PolicyRecord) -> PolicyOut:
    p = record.policy
    definition = definition_json(p)
    return PolicyOut(
        policy_id=p.policy_id,
        version=p.version,
        name=p.name,
        grade=p.grade,
        priority_class=p.priority_class,
        channel=p.channel,
        active=p.active,
        calendar_id=p.calendar_id,
        warning_fraction=p.warning_fraction,
        ladder=definition["ladder"],
        clocks=definition["clocks"],
        updated_at=record.updated_at,
        updated_by=record.updated_by,
    )


@router.get("/policies", response_model=list[PolicyOut])
async def list_policies(
    state: SlaState,
    _who: Annotated[Principal, Depends(require_roles(*MANAGERS))],
    include_inactive: bool = False,
) -> list[PolicyOut]:
    async with transaction(state) as tx:
        return [policy_out(r) for r in await admin_repo.list_policies(tx.conn, include_inactive=include_inactive)]


class ResolvedClockOut(BaseModel):
    model_config = example(
        clock="first_response",
        policy_id="4e3d2c1b-0a9f-4e8d-b7c6-a5f4e3d2c1b0",
        policy_version=4,
        target={"amount": 4, "unit": "hours"},
        calendar_id="working-hours",
        warning_fraction=0.8,
        ladder=[{"level": 1, "role": "supervisor", "after_fraction": 0.0, "relative_to": "breach"}],
        starts_on="received",
        stops_on=["first_reply"],
        pauses=True,
        reopens=False,
        goal=95.0,
    )

    clock: str
    policy_id: uuid.UUID
    policy_version: int
    target: dict[str, Any]
    calendar_id: str
    warning_fraction: float | None
    ladder: list[dict[str, Any]]
    starts_on: str
    stops_on: list[str]
    pauses: bool
    reopens: bool
    goal: float | None


@router.get("/policies/resolve", response_model=list[ResolvedClockOut])
async def resolve_policies(
    state: SlaState,
    _who: Annotated[Principal, Depends(require_roles(*MANAGERS))],
    grade: Grade,
    priority_class: PriorityClass,
    channel: Channel,
    category: Category,
    emergency: bool = False,
) -> list[ResolvedClockOut]:
    """The clocks a contact with these keys would run, each with the row and version it comes from."""
    async with transaction(state) as tx:
        policies = await admin_repo.active_policies(tx.conn)
    specs = resolve(policies, ContactKeys(grade, priority_class, channel, category, emergency))
    return [
        ResolvedClockOut(
            clock=s.clock,
            policy_id=s.policy_id,
            policy_version=s.policy_version,
            target={"amount": s.target.amount, "unit": s.target.unit},
            calendar_id=s.calendar_id,
            warning_fraction=s.warning_fraction,
            ladder=[
                {
                    "level": st.level,
                    "role": st.role,
                    "after_fraction": st.after_fraction,
                    "after_seconds": st.after_seconds,
                    "relative_to": st.relative_to,
                }
                for st in s.ladder
            ],
            starts_on=s.starts_on,
            stops_on=list(s.stops_on),
            pauses=s.pauses,
            reopens=s.reopens,
            goal=s.goal,
        )
        for s in specs.values()
    ]


@router.get("/policies/{policy_id}", response_model=PolicyOut)
async def get_policy(
    policy_id: uuid.UUID, state: SlaState, _who: Annotated[Principal, Depends(require_roles(*MANAGERS))]
) -> PolicyOut:
    async with transaction(state) as tx:
        return policy_out(await admin.get_policy(tx, policy_id))


@router.get("/policies/{policy_id}/versions", response_model=list[PolicyOut])
async def list_versions(
    policy_id: uuid.UUID, state: SlaState, _who: Annotated[Principal, Depends(require_roles(*MANAGERS))]
) -> list[PolicyOut]:
    async with transaction(state) as tx:
        await admin.get_policy(tx, policy_id)
        return [policy_out(r) for r in await admin_repo.policy_versions(tx.conn, policy_id)]


@router.post("/policies", response_model=PolicyOut, status_code=201)
async def create_policy(
    body: PolicyIn,
    state: SlaState,
    response: Response,
    who: Annotated[Principal, Depends(require_roles("admin"))],
) -> PolicyOut:
    policy = to_policy(body, policy_id=uuid.uuid4(), version=1)
    async with transaction(state) as tx:
        saved = await admin.create_policy(tx, policy, override_reason=body.override_reason, actor=actor_of(who))
    response.headers["Location"] = f"/v1/sla/policies/{saved.policy.policy_id}"
    response.headers["ETag"] = f'"{saved.policy.version}"'
    return policy_out(saved)


@router.put("/policies/{policy_id}", response_model=PolicyOut)
async def update_policy(
    policy_id: uuid.UUID,
    body: PolicyIn,
    state: SlaState,
    response: Response,
    who: Annotated[Principal, Depends(require_roles("admin"))],
    if_match: Annotated[str | None, Header()] = None,
) -> PolicyOut:
    """A new version; contacts already running keep the version they started under."""
    policy = to_policy(body, policy_id=policy_id, version=0)
    async with transaction(state) as tx:
        saved = await admin.update_policy(
            tx, policy, if_match=if_match, override_reason=body.override_reason, actor=actor_of(who)
        )
    response.headers["ETag"] = f'"{saved.policy.version}"'
    return policy_out(saved)


@router.delete("/policies/{policy_id}", response_model=PolicyOut)
async def deactivate_policy(
    policy_id: uuid.UUID,
    state: SlaState,
    who: Annotated[Principal, Depends(require_roles("admin"))],
    if_match: Annotated[str | None, Header()] = None,
    override_reason: Annotated[str | None, Query(min_length=1, max_length=1000)] = None,
) -> PolicyOut:
    """Deactivation is a new version with `active: false`; the history stays. Refused like a save when a higher
    grade would fall back to a looser row (C-5), unless `override_reason` is given (audited)."""
    async with transaction(state) as tx:
        saved = await admin.deactivate_policy(
            tx, policy_id, if_match=if_match, override_reason=override_reason, actor=actor_of(who)
        )
    return policy_out(saved)
