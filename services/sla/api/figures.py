"""`GET /v1/sla/attainment` and `GET /v1/sla/at-risk`: how the clocks did, and which are closest to breach."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel

from services.sla.api.common import MANAGERS, SlaState, transaction
from services.sla.domain.clock import calendar_of, elapsed_at
from services.sla.handlers import views
from services.sla.repository import admin as admin_repo
from services.sla.repository import figures
from shared.auth import Principal, require_roles
from shared.errors import Problem
from shared.events import Channel, Grade, PriorityClass
from shared.openapi import example

router = APIRouter(prefix="/v1/sla", tags=["figures"])

Dimension = Literal["clock", "grade", "priority_class", "channel", "value_tier", "risk_level", "lifecycle_stage"]
ValueTier = Literal["high", "mid", "low"]
RiskLevel = Literal["high", "mid", "low"]
LifecycleStage = Literal["prospect", "new", "growing", "mature", "declining", "churned"]


class AttainmentOut(BaseModel):
    clock: str | None
    grade: str | None
    priority_class: str | None
    channel: str | None
    period: str | None
    """Local date the period starts on (in `time_zone`)."""
    met: int
    missed: int
    open: int
    breaches: int
    met_pct: float | None
    """Met share of the clocks that stopped (met + missed), in percent."""
    goal_pct: float | None
    mean_s: float | None
    """Mean elapsed working time of the stopped clocks: for `first_response`, the mean time to first response."""
    p90_s: float | None
    value_tier: str | None = None
    risk_level: str | None = None
    lifecycle_stage: str | None = None
    """The customer's attributes when grouped by them (`(none)`: the contact arrived without one)."""


class AttainmentReport(BaseModel):
    model_config = example(
        since="2026-12-01T00:00:00+08:00",
        until="2026-12-06T00:00:00+08:00",
        time_zone="Asia/Shanghai",
        group_by=["clock", "grade"],
        rows=[
            {
                "clock": "first_response",
                "grade": "key",
                "priority_class": "complex",
                "channel": "email",
                "period": "2026-12-05",
                "met": 182,
                "missed": 9,
                "open": 4,
                "breaches": 9,
                "met_pct": 95.3,
                "goal_pct": 90.0,
                "mean_s": 5120.4,
                "p90_s": 12010.0,
            }
        ],
    )

    since: datetime
    until: datetime
    time_zone: str
    group_by: list[str]
    rows: list[AttainmentOut]


@router.get("/attainment", response_model=AttainmentReport)
async def attainment(
    state: SlaState,
    _who: Annotated[Principal, Depends(require_roles(*MANAGERS))],
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    group_by: Annotated[list[Dimension] | None, Query()] = None,
    period: Literal["day", "week", "month"] | None = None,
    time_zone: str = "Asia/Shanghai",
    clock: str | None = None,
    grade: Grade | None = None,
    priority_class: PriorityClass | None = None,
    channel: Channel | None = None,
    value_tier: ValueTier | None = None,
    risk_level: RiskLevel | None = None,
    lifecycle_stage: LifecycleStage | None = None,
) -> AttainmentReport:
    """Clocks started in [since, until) (default: the last 30 days), grouped by the chosen dimensions (default:
    by clock; also by the customer's value tier, risk level and lifecycle stage) and optionally by day, week or
    month."""
    since, until = _window(since, until, state.clock.now())
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Problem(422, "Validation failed", f"unknown time zone {time_zone!r}", kind="validation") from exc
    dims = set(group_by or ["clock"])
    filters = figures.Filters(
        since, until, clock, grade, priority_class, channel, value_tier, risk_level, lifecycle_stage
    )
    async with transaction(state) as tx:
        found = await views.attainment(tx, dims=dims, period=period, filters=filters, time_zone=time_zone)
    return AttainmentReport(
        since=since,
        until=until,
        time_zone=time_zone,
        group_by=sorted(dims) + ([f"period:{period}"] if period else []),
        rows=[_attainment_out(a) for a in found],
    )


def _window(since: datetime | None, until: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """[since, until): until now and since 30 days before `until` unless given."""
    until = until or now
    try:
        since = since or until - timedelta(days=30)
    except OverflowError as exc:  # `until` in the first month of year 1
        raise Problem(422, "Validation failed", "`until`: out of range", kind="validation") from exc
    if since >= until:
        raise Problem(422, "Validation failed", "`since` must be before `until`", kind="validation")
    return since, until


def _attainment_out(a: views.Attainment) -> AttainmentOut:
    r = a.row
    return AttainmentOut(
        clock=r.clock,
        grade=r.grade,
        priority_class=r.priority_class,
        channel=r.channel,
        value_tier=r.value_tier,
        risk_level=r.risk_level,
        lifecycle_stage=r.lifecycle_stage,
        period=a.period,
        met=r.met,
        missed=r.missed,
        open=r.open,
        breaches=r.breaches,
        met_pct=a.met_pct,
        goal_pct=a.goal_pct,
        mean_s=r.mean_s,
        p90_s=r.p90_s,
    )


class AtRiskOut(BaseModel):
    model_config = example(
        contact_id="5d0c7f3a-2b1e-4c8d-9a6f-1e2d3c4b5a69",
        clock="first_response",
        due_at="2026-12-06T14:00:00+08:00",
        remaining_s=900,
        elapsed_pct=93.8,
        breached=False,
        levels_fired=["warning"],
        grade="key",
        priority_class="complex",
        channel="email",
        agent_id="A-1",
    )

    contact_id: uuid.UUID
    clock: str
    due_at: datetime
    remaining_s: float
    """Wall-clock seconds until the breach (negative once breached)."""
    elapsed_pct: float
    """Share of the target already used, in percent of working time."""
    breached: bool
    levels_fired: list[str]
    grade: str | None
    priority_class: str | None
    channel: str | None
    agent_id: str | None


@router.get("/at-risk", response_model=list[AtRiskOut])
async def at_risk(
    state: SlaState,
    _who: Annotated[Principal, Depends(require_roles(*MANAGERS))],
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    include_breached: bool = False,
    clock: str | None = None,
    grade: Grade | None = None,
    channel: Channel | None = None,
) -> list[AtRiskOut]:
    """Running clocks ordered by how soon they breach (with `include_breached`, overdue ones come first)."""
    async with transaction(state) as tx:
        found = await figures.at_risk(
            tx.conn, limit=limit, include_breached=include_breached, clock=clock, grade=grade, channel=channel
        )
        calendars = await admin_repo.calendars_by_id(tx.conn)
    return [
        AtRiskOut(
            contact_id=r.clock.contact_id,
            clock=r.clock.clock,
            due_at=r.due_at,
            remaining_s=(r.due_at - tx.now).total_seconds(),
            elapsed_pct=round(
                100 * elapsed_at(r.clock, calendar_of(r.clock.spec, calendars), tx.now) / r.clock.target_s, 2
            ),
            breached=r.clock.breached_at is not None,
            levels_fired=list(r.clock.fired),
            grade=r.grade,
            priority_class=r.priority_class,
            channel=r.channel,
            agent_id=r.agent_id,
        )
        for r in found
    ]
