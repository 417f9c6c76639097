"""`/v1/sla/policies`: SLA policy rows, versioned and audited; reads for supervisors, changes for admins."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from services.sla.api.common import MANAGERS, SlaState, transaction
from services.sla.domain.grades import Looser, newly_looser
from services.sla.domain.policy import (
    ClockRule,
    ContactKeys,
    Policy,
    PolicyError,
    Step,
    Target,
    resolve,
    validate,
)
from services.sla.repository import admin as admin_repo
from services.sla.repository.admin import PolicyRecord
from services.sla.repository.codec import definition_json
from shared import audit
from shared.auth import Principal, require_roles
from shared.errors import Problem
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


async def _check(conn: Any, policy: Policy) -> None:
    try:
        validate(policy, calendar_ids=(c.calendar_id for c in await admin_repo.list_calendars(conn)))
    except PolicyError as exc:
        raise Problem(422, "Invalid policy", str(exc), kind="invalid-policy") from exc
    if policy.active:
        other = await admin_repo.active_policy_with_keys(
            conn, grade=policy.grade, priority_class=policy.priority_class, channel=policy.channel
        )
        if other is not None and other != policy.policy_id:
            keys = f"grade={policy.grade}, priority_class={policy.priority_class}, channel={policy.channel}"
            raise Problem(
                409,
                "Conflict",
                f"policy {other} already covers {keys}; edit that one or deactivate it first",
                kind="policy-keys-taken",
                policy_id=str(other),
            )


async def _check_grades(conn: Any, policy: Policy, override_reason: str | None) -> dict[str, Any]:
    """C-5: refuse a save that makes a higher grade looser than a lower one, unless it carries a reason; returns
    what the audit entry records of an accepted override (nothing when none was needed)."""
    await admin_repo.lock_policies(conn)  # two saves checked at once could together break the rule
    before = await admin_repo.active_policies(conn)
    after = [p for p in before if p.policy_id != policy.policy_id] + ([policy] if policy.active else [])
    looser = newly_looser(before, after)
    if not looser:
        return {}
    if override_reason is None:
        raise Problem(
            422,
            "Higher grade looser",
            f"{_looser_text(looser)}; a higher grade is never looser (C-5): tighten it, or send override_reason "
            "to save it anyway (audited)",
            kind="looser-grade",
            errors=[{"location": "body.clocks", "message": f.text(), "type": "looser_grade"} for f in looser],
            looser=[f.json() for f in looser],
        )
    return {"c5_override": {"reason": override_reason, "looser": [f.json() for f in looser]}}


def _looser_text(looser: list[Looser]) -> str:
    more = f" (and {len(looser) - 1} more)" if len(looser) > 1 else ""
    return looser[0].text() + more


async def _get(conn: Any, policy_id: uuid.UUID, *, for_update: bool = False) -> PolicyRecord:
    record = await admin_repo.get_policy(conn, policy_id, for_update=for_update)
    if record is None:
        raise Problem(404, "Not found", f"no SLA policy {policy_id}", kind="unknown-policy")
    return record


def _check_version(if_match: str | None, record: PolicyRecord) -> None:
    if if_match is not None and if_match.strip('"W/ ') != str(record.policy.version):
        raise Problem(
            412,
            "Precondition failed",
            f"policy {record.policy.policy_id} is at version {record.policy.version}, not {if_match}",
            kind="version-mismatch",
            version=record.policy.version,
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
        return policy_out(await _get(tx.conn, policy_id))


@router.get("/policies/{policy_id}/versions", response_model=list[PolicyOut])
async def list_versions(
    policy_id: uuid.UUID, state: SlaState, _who: Annotated[Principal, Depends(require_roles(*MANAGERS))]
) -> list[PolicyOut]:
    async with transaction(state) as tx:
        await _get(tx.conn, policy_id)
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
        await _check(tx.conn, policy)
        override = await _check_grades(tx.conn, policy, body.override_reason)
        await admin_repo.save_policy(tx.conn, policy, by=who.subject, now=tx.now)
        await audit.record(
            tx.conn,
            actor=who.subject,
            role=who.role,
            action="created",
            target=admin_repo.audit_target("policy", str(policy.policy_id)),
            detail={"version": 1, "after": _audit_view(policy), **override},
            at=tx.now,
        )
    response.headers["Location"] = f"/v1/sla/policies/{policy.policy_id}"
    response.headers["ETag"] = f'"{policy.version}"'
    return policy_out(PolicyRecord(policy, tx.now, who.subject))


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
    async with transaction(state) as tx:
        before = await _get(tx.conn, policy_id, for_update=True)
        _check_version(if_match, before)
        policy = to_policy(body, policy_id=policy_id, version=before.policy.version + 1)
        await _check(tx.conn, policy)
        override = await _check_grades(tx.conn, policy, body.override_reason)
        await admin_repo.save_policy(tx.conn, policy, by=who.subject, now=tx.now)
        await audit.record(
            tx.conn,
            actor=who.subject,
            role=who.role,
            action="updated",
            target=admin_repo.audit_target("policy", str(policy_id)),
            detail={
                "version": policy.version,
                "before": _audit_view(before.policy),
                "after": _audit_view(policy),
                **override,
            },
            at=tx.now,
        )
    response.headers["ETag"] = f'"{policy.version}"'
    return policy_out(PolicyRecord(policy, tx.now, who.subject))


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
        before = await _get(tx.conn, policy_id, for_update=True)
        _check_version(if_match, before)
        if not before.policy.active:
            return policy_out(before)
        policy = replace(before.policy, active=False, version=before.policy.version + 1)
        override = await _check_grades(tx.conn, policy, override_reason)
        await admin_repo.save_policy(tx.conn, policy, by=who.subject, now=tx.now)
        await audit.record(
            tx.conn,
            actor=who.subject,
            role=who.role,
            action="deactivated",
            target=admin_repo.audit_target("policy", str(policy_id)),
            detail={"version": policy.version, **override},
            at=tx.now,
        )
    return policy_out(PolicyRecord(policy, tx.now, who.subject))


def _audit_view(policy: Policy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "grade": policy.grade,
        "priority_class": policy.priority_class,
        "channel": policy.channel,
        "active": policy.active,
        **definition_json(policy),
    }
