"""Why: the explanation of a work item's routing, dry-runs of hypothetical contacts, the supervisors' queue
view and the dispatcher's status. These evaluate every agent of the pool on purpose (a person asked); the
dispatcher's decisions never do."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from services.routing.api.common import RoutingState, transaction
from services.routing.api.models import DryRun, Explanation, QueueView, RoutingStatus
from services.routing.domain.engine import describe_rule
from services.routing.domain.figures import all_figures
from services.routing.domain.lifecycle import NotFound
from services.routing.domain.model import (
    Agent,
    Work,
    displayed_presence,
    effective_requirements,
    evaluate,
    parse_requirements,
    primary_language,
    rank_key,
)
from services.routing.domain.policy import Policy, priority_at, static_priority
from services.routing.domain.records import to_agent, to_work
from services.routing.handlers.common import Tx
from services.routing.handlers.views import work_view
from services.routing.repository import agents as agent_repo
from services.routing.repository import figures as figures_repo
from services.routing.repository import history as history_repo
from services.routing.repository import leases
from services.routing.repository import offers as offer_repo
from services.routing.repository import work as work_repo
from shared.auth import Principal, require_roles
from shared.errors import Problem
from shared.events import Channel
from shared.openapi import example

router = APIRouter(tags=["insight"])
Staff = Annotated[Principal, Depends(require_roles("supervisor", "admin", "ops"))]
EXAMPLES = 5


def diagnose(policy: Policy, agents: list[Agent], work: Work, now: Any) -> dict[str, Any]:
    """Every agent of the pool through the filters, in order: who is eligible, ranked; who was removed by what."""
    verdicts = [evaluate(policy, a, work, now) for a in agents if a.pool == work.pool]
    eligible = sorted((v for v in verdicts if v.eligible), key=rank_key)
    removed: dict[str, dict[str, Any]] = {}
    for v in verdicts:
        if not v.eligible and v.filter is not None:
            entry = removed.setdefault(v.filter, {"count": 0, "examples": []})
            entry["count"] += 1
            if len(entry["examples"]) < EXAMPLES:
                entry["examples"].append({"agent_id": v.agent_id, "why": v.detail})
    reqs = effective_requirements(work, policy.relaxation, now)
    static = static_priority(
        policy,
        work_class=work.work_class,
        grade=work.grade,
        sla_warned=work.sla_warned,
        escalation_level=work.escalation_level,
    )
    return {
        "pool": work.pool,
        "agents_in_pool": len(verdicts),
        "priority": round(priority_at(policy, static, work.enqueued_at, now), 1),
        "priority_parts": {
            "class_base": policy.class_base.get(work.work_class, 0),
            "grade_bonus": policy.grade_bonus.get(work.grade, 0),
            "sla_bonus": static
            - policy.class_base.get(work.work_class, 0)
            - policy.grade_bonus.get(work.grade, 0),
            "age": round(priority_at(policy, 0, work.enqueued_at, now), 1),
        },
        "requirements_now": [{"skill": r.skill, "level": r.level} for r in reqs],
        "requirements_relaxed": reqs != work.requirements,
        "tiers_allowed": sorted(policy.tiers_for(work.work_class, work.grade)),
        "candidates": [
            {
                "agent_id": v.agent_id,
                "score": v.score,
                "proficiency": v.proficiency,
                "bonus": v.bonus,
                "idle_since": v.idle_since,
            }
            for v in eligible[:10]
        ],
        "eligible": len(eligible),
        "removed_by": removed,
        "would_choose": eligible[0].agent_id if eligible else None,
        "rule": describe_rule(eligible[0], eligible[1:], directed=work.target_agent is not None)
        if eligible
        else "nobody eligible is free: the work waits (and relaxes as configured)",
    }


async def _agents(tx: Tx, pool: str) -> list[Agent]:
    return [to_agent(tx.policy, a) for a in await agent_repo.list_agents(tx.conn, pool=pool) if a.active]


@router.get("/v1/work/{work_id}/explain", response_model=None, responses={200: {"model": Explanation}})
async def explain(work_id: uuid.UUID, state: RoutingState, _p: Staff) -> dict[str, Any]:
    """Each decision taken (the candidates, scores and rule recorded with every offer) and, now, every agent of
    the pool through the filters."""
    async with transaction(state) as tx:
        record = await work_repo.get_work(tx.conn, work_id)
        if record is None:
            raise NotFound(f"no work {work_id}")
        offers = await offer_repo.offers_for_work(tx.conn, work_id)
        return {
            "work": work_view(tx, record),
            "decisions": [
                {
                    "offer_id": o.offer_id,
                    "agent_id": o.agent_id,
                    "at": o.created_at,
                    "status": o.status,
                    "reason": o.reason,
                    "forced_by": o.forced_by,
                    **dict(o.decision),
                }
                for o in offers
            ],
            "now": diagnose(tx.policy, await _agents(tx, record.pool), to_work(record), tx.now),
            "history": await history_repo.history_of(tx.conn, work_id),
        }


class DryRunIn(BaseModel):
    model_config = example(
        channel="phone",
        grade="strategic",
        priority_class="complex",
        language="zh-Hans",
        required_skills=["billing:2"],
        waited_s=120,
    )

    channel: Channel
    grade: Literal["strategic", "key", "basic"] = "basic"
    priority_class: Literal["urgent", "complex", "routine", "followup"] = "routine"
    emergency: bool = False
    language: str | None = None
    required_skills: list[str] = Field(default_factory=list)
    """Skill names, or `name:level`."""
    customer_id: uuid.UUID | None = None
    """Gives the customer's last agent their bonus, as for a real contact."""
    first_owner_id: str | None = None
    pool: str = "default"
    waited_s: float = Field(default=0, ge=0, le=366 * 86400)
    """Pretend the contact has waited this long (to see relaxation and age at work)."""


@router.post("/v1/routing/dry-run", response_model=None, responses={200: {"model": DryRun}})
async def dry_run(body: DryRunIn, state: RoutingState, _p: Staff) -> dict[str, Any]:
    """Run a hypothetical contact through the current policy and agents; nothing is offered or stored."""
    async with transaction(state) as tx:
        last_agent = None
        if body.customer_id is not None:
            last_agent = await tx.conn.fetchval(
                "SELECT agent_id FROM customer_last_agent WHERE customer_id = $1", body.customer_id
            )
        work = Work(
            work_id=uuid.uuid4(),
            pool=body.pool,
            channel=body.channel,
            work_class="urgent" if body.emergency else body.priority_class,
            grade=body.grade,
            language=primary_language(body.language),
            requirements=parse_requirements(body.required_skills, default_level=1),
            enqueued_at=tx.now - timedelta(seconds=body.waited_s),
            first_owner=body.first_owner_id,
            last_agent=last_agent,
        )
        return {
            "policy_version": tx.policy.version,
            **diagnose(tx.policy, await _agents(tx, body.pool), work, tx.now),
        }


@router.get("/v1/supervisor/queue", response_model=None, responses={200: {"model": QueueView}})
async def queue_view(
    state: RoutingState, _p: Staff, pool: str | None = None, team: str | None = None, limit: int = 50
) -> dict[str, Any]:
    """Waiting work by team, class and grade (count, oldest, highest priority) and by pool × channel (the
    wallboard's queues), the supervisor queue, and agents by presence with their load."""
    async with transaction(state) as tx:
        waiting = await work_repo.list_work(
            tx.conn, states=["queued", "offered"], pool=pool, team=team, limit=100_000
        )
        groups: dict[str, dict[str, Any]] = {}
        queues: dict[tuple[str, str], dict[str, Any]] = {}
        for w in waiting:
            key = f"{w.target_team or 'any team'} · {w.work_class} · {w.grade} · {w.channel}"
            view = work_view(tx, w)
            g = groups.setdefault(key, {"count": 0, "offered": 0, "oldest_s": 0.0, "top_priority": 0})
            g["count"] += 1
            g["offered"] += w.state == "offered"
            g["oldest_s"] = max(g["oldest_s"], view["waited_s"])
            g["top_priority"] = max(g["top_priority"], view["priority"])
            q = queues.setdefault(
                (w.pool, w.channel),
                {"pool": w.pool, "channel": w.channel, "waiting": 0, "offered": 0, "oldest_s": 0.0},
            )
            q["waiting"] += 1
            q["offered"] += w.state == "offered"
            q["oldest_s"] = max(q["oldest_s"], view["waited_s"])
        top = sorted((work_view(tx, w) for w in waiting), key=lambda v: -v["priority"])[: max(1, min(limit, 500))]
        supervisor = await work_repo.list_work(tx.conn, states=["supervisor"], pool=pool, team=team, limit=500)
        agents = await agent_repo.list_agents(tx.conn, pool=pool, team=team)
        by_presence: dict[str, list[dict[str, Any]]] = {}
        for a in agents:
            view_a = to_agent(tx.policy, a)
            by_presence.setdefault(displayed_presence(view_a), []).append(
                {
                    "agent_id": a.agent_id,
                    "team": a.team,
                    "tier": a.tier,
                    "load": dict(a.load),
                    "capacity": dict(view_a.capacity),
                    "idle_since": a.idle_since,
                    "reason": a.presence_reason,
                }
            )
        return {
            "waiting": len(waiting),
            "groups": dict(sorted(groups.items(), key=lambda kv: -kv[1]["top_priority"])),
            "queues": [queues[k] for k in sorted(queues)],
            "top": top,
            "supervisor_queue": [work_view(tx, w) for w in supervisor],
            "agents": {k: by_presence[k] for k in sorted(by_presence)},
        }


@router.get("/v1/routing/status", response_model=None, responses={200: {"model": RoutingStatus}})
async def status(state: RoutingState, _p: Staff) -> dict[str, Any]:
    dispatcher = state.dispatcher
    async with transaction(state) as tx:
        return {
            "instance": state.instance,
            "dispatcher": dispatcher.status() if dispatcher is not None else None,
            "desktops_connected": len(state.hub.sessions),
            "desktop_messages_sent": state.hub.sent,
            "leases": await leases.leases(tx.conn),
        }


class IntervalOut(BaseModel):
    model_config = example(
        interval_start="2026-12-06T10:00:00+08:00",
        pool="default",
        channel="phone",
        arrived=42,
        answered=39,
        abandoned=3,
        answered_in_threshold=33,
        threshold_s=20,
        service_level=0.846,
        abandon_rate=0.071,
        asa_s=14.2,
    )

    interval_start: datetime
    pool: str
    channel: str
    arrived: int
    answered: int
    abandoned: int
    answered_in_threshold: int
    threshold_s: int
    service_level: float | None
    """Answered within `threshold_s` ÷ (answered + abandoned); work still waiting counts for neither."""
    abandon_rate: float | None
    asa_s: float | None
    """Average speed of answer: queued → first accepted."""


@router.get("/v1/figures/queue", response_model=list[IntervalOut])
async def queue_figures(
    state: RoutingState,
    _who: Staff,
    since: Annotated[datetime, Query(alias="from")],
    until: Annotated[datetime | None, Query(alias="to")] = None,
    interval_minutes: Annotated[int, Query(ge=1, le=1440)] = 15,
    pool: Annotated[str | None, Query(max_length=100)] = None,
    channel: Channel | None = None,
) -> list[IntervalOut]:
    """Service level, abandon rate and average speed of answer per interval (15 minutes by default), pool and
    channel, for contacts that arrived in [from, to) — at most 31 days."""
    async with transaction(state) as tx:
        end = until or tx.now + timedelta(microseconds=1)  # up to and including now
        if since.tzinfo is None or end.tzinfo is None:
            raise Problem(422, "Validation failed", "from and to need a time zone", kind="validation")
        if not since < end <= since + timedelta(days=31):
            raise Problem(
                422, "Validation failed", "`to` must be after `from`, at most 31 days", kind="validation"
            )
        counts = await figures_repo.interval_counts(
            tx.conn,
            since=since,
            until=end,
            interval=timedelta(minutes=interval_minutes),
            pool=pool,
            channel=channel,
        )
        return [IntervalOut(**vars(f)) for f in all_figures(counts, tx.policy.service_level_s)]
