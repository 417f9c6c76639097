"""Admin: agents (skills 1–5, languages, per-channel capacity, tier, team, pool), the routing policy and its
tiers; every change audited. Presence for agents and supervisors."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from services.routing.api.common import RoutingState, actor_of, transaction
from services.routing.api.models import AuditEntry, Tiers
from services.routing.domain.lifecycle import NotAllowed, NotFound
from services.routing.domain.model import SET_PRESENCES, displayed_presence, primary_language
from services.routing.domain.policy import GRADES, WORK_CLASSES, Policy, lower_bonuses, parse_policy
from services.routing.domain.records import AgentRecord, effective_capacity, to_agent
from services.routing.handlers.common import Tx, agent_changed, publish_presence
from services.routing.handlers.presence import set_presence
from services.routing.repository import agents as agent_repo
from services.routing.repository import feed
from services.routing.repository import policy as policy_repo
from services.routing.repository.policy import PolicyCache
from shared import audit
from shared.auth import Principal, require_roles
from shared.errors import Problem
from shared.events import Channel
from shared.openapi import example

router = APIRouter(tags=["agents"])
Admin = Annotated[Principal, Depends(require_roles("admin"))]
Staff = Annotated[Principal, Depends(require_roles("admin", "supervisor", "ops"))]
Person = Annotated[Principal, Depends(require_roles("agent", "supervisor", "admin"))]
Level = Annotated[int, Field(ge=1, le=5)]
Slots = Annotated[int, Field(ge=0, le=50)]
AgentId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:@-]+$")]


class AgentIn(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(
        display_name="Li Na",
        pool="default",
        tier="senior",
        team="billing",
        languages=["zh-Hans", "en"],
        skills={"billing": 3, "complaints": 2},
        capacity={"email": 3, "chat": 2, "phone": 1},
    )

    display_name: str = Field(min_length=1, max_length=200)
    pool: str = Field(default="default", min_length=1, max_length=100)
    tier: str = Field(min_length=1, max_length=50)
    team: str | None = Field(default=None, max_length=100)
    languages: list[str] = Field(default_factory=list, max_length=20)
    skills: dict[str, Level] = Field(default_factory=dict)
    """Skill name → proficiency 1 (novice) to 5 (expert)."""
    capacity: dict[Channel, Slots] = Field(default_factory=dict)
    """Per-channel slots; channels not named take the policy default (phone 1, chat 3, email 5, web 5)."""
    active: bool = True


class AgentOut(BaseModel):
    model_config = example(
        agent_id="A-1",
        display_name="Li Na",
        pool="default",
        tier="senior",
        team="billing",
        languages=["zh-Hans", "en"],
        skills={"billing": 3},
        capacity={"email": 3, "phone": 1},
        presence="available",
        set_presence="available",
        presence_reason="back from lunch",
        presence_at="2026-12-06T10:00:00+08:00",
        desktop_connected=True,
        load={"email": 1},
        idle_since="2026-12-06T10:00:00+08:00",
        active=True,
    )

    agent_id: str
    display_name: str
    pool: str
    tier: str
    team: str | None
    languages: list[str]
    skills: dict[str, int]
    capacity: dict[str, int]
    """Effective capacity (own numbers over the defaults)."""
    presence: str
    """Displayed presence: offline, available, away, busy (no free slot) or wrap_up."""
    set_presence: str
    presence_reason: str | None
    presence_at: datetime
    desktop_connected: bool
    load: dict[str, int]
    idle_since: datetime
    active: bool


def agent_out(tx: Tx, record: AgentRecord) -> AgentOut:
    view = to_agent(tx.policy, record)
    return AgentOut(
        agent_id=record.agent_id,
        display_name=record.display_name,
        pool=record.pool,
        tier=record.tier,
        team=record.team,
        languages=list(record.languages),
        skills=dict(record.skills),
        capacity=effective_capacity(tx.policy, record.capacity),
        presence=displayed_presence(view),
        set_presence=record.presence,
        presence_reason=record.presence_reason,
        presence_at=record.presence_at,
        desktop_connected=record.disconnected_at is None,
        load=dict(record.load),
        idle_since=record.idle_since,
        active=record.active,
    )


@router.put(
    "/v1/agents/{agent_id}",
    response_model=AgentOut,
    responses={201: {"model": AgentOut, "description": "The agent was created (200 when it was changed)"}},
)
async def put_agent(
    agent_id: AgentId, body: AgentIn, state: RoutingState, response: Response, principal: Admin
) -> AgentOut:
    async with transaction(state) as tx:
        if body.tier not in tx.policy.tiers:
            raise Problem(
                422,
                "Validation failed",
                f"unknown tier {body.tier!r}; known: {sorted(tx.policy.tiers)}",
                kind="validation",
            )
        before = await agent_repo.get_agent(tx.conn, agent_id, for_update=True)
        languages = sorted({lang for lang in (primary_language(x) for x in body.languages) if lang})
        skills = {k.strip().lower(): v for k, v in body.skills.items() if k.strip()}
        created = await agent_repo.upsert_agent(
            tx.conn,
            agent_id=agent_id,
            display_name=body.display_name,
            pool=body.pool,
            tier=body.tier,
            team=body.team,
            languages=languages,
            skills=skills,
            capacity={str(k): v for k, v in body.capacity.items()},
            active=body.active,
            now=tx.now,
        )
        await audit.record(
            tx.conn,
            actor=actor_of(principal).label,
            action="agent_created" if created else "agent_changed",
            target=f"agent:{agent_id}",
            detail=body.model_dump(mode="json"),
            at=tx.now,
        )
        record = await agent_repo.get_agent(tx.conn, agent_id)
        assert record is not None
        await agent_changed(tx, record)
        if before is not None and before.pool != record.pool:
            await agent_changed(tx, before)  # the old pool's owner forgets the agent
        response.status_code = 201 if created else 200
        return agent_out(tx, record)


@router.get("/v1/agents", response_model=list[AgentOut])
async def list_agents(
    state: RoutingState, _p: Staff, pool: str | None = None, team: str | None = None
) -> list[AgentOut]:
    async with transaction(state) as tx:
        return [agent_out(tx, a) for a in await agent_repo.list_agents(tx.conn, pool=pool, team=team)]


@router.get("/v1/agents/{agent_id}", response_model=AgentOut)
async def get_agent(
    agent_id: str,
    state: RoutingState,
    principal: Annotated[Principal, Depends(require_roles("agent", "supervisor", "admin", "ops"))],
) -> AgentOut:
    if principal.role == "agent" and principal.subject != agent_id:
        raise Problem(403, "Forbidden", "agents see their own record only")
    async with transaction(state) as tx:
        record = await agent_repo.get_agent(tx.conn, agent_id)
        if record is None:
            raise NotFound(f"no agent {agent_id}")
        return agent_out(tx, record)


class PresenceIn(BaseModel):
    model_config = example(presence="away", reason="lunch")

    presence: Literal["offline", "available", "away"]
    reason: str | None = Field(default=None, max_length=200)


@router.put("/v1/agents/{agent_id}/presence", response_model=AgentOut)
async def put_presence(agent_id: str, body: PresenceIn, state: RoutingState, principal: Person) -> AgentOut:
    """Set from the desktop by the agent, or by a supervisor. Away or offline moves live offers on."""
    assert body.presence in SET_PRESENCES
    actor = actor_of(principal)
    async with transaction(state) as tx:
        if not actor.is_supervisor and actor.subject != agent_id:
            raise NotAllowed("agents set their own presence only")
        record = await agent_repo.get_agent(tx.conn, agent_id, for_update=True)
        if record is None:
            raise NotFound(f"no agent {agent_id}")
        if not record.active:
            raise Problem(409, "Conflict", f"agent {agent_id} is deactivated")
        updated = await set_presence(tx, record, presence=body.presence, reason=body.reason, actor=actor)
        if actor.subject != agent_id:
            await audit.record(
                tx.conn,
                actor=actor.label,
                action="presence_set",
                target=f"agent:{agent_id}",
                detail=body.model_dump(),
                at=tx.now,
            )
        return agent_out(tx, updated)


# --- the policy -------------------------------------------------------------------------------------------------


class PolicyOut(BaseModel):
    model_config = example(
        version=7,
        document={
            "class_base": {"urgent": 1000, "complex": 400, "routine": 200, "followup": 300},
            "grade_bonus": {"strategic": 300, "key": 200, "basic": 0},
            "offer_timeout_s": 30,
        },
        created_at="2026-12-06T10:00:00+08:00",
        created_by="admin:S-1",
        note="longer offers at night",
    )

    version: int
    document: dict[str, Any]
    created_at: datetime
    created_by: str
    note: str | None


class PolicyIn(BaseModel):
    model_config = example(
        document={
            "class_base": {"urgent": 1000, "complex": 400, "routine": 200, "followup": 300},
            "grade_bonus": {"strategic": 300, "key": 200, "basic": 0},
            "offer_timeout_s": 30,
        },
        note="longer offers at night",
    )

    document: dict[str, Any]
    """The whole policy (see GET): priority weights, tiers, capacity, wrap-up, offers, bonuses, relaxation."""
    note: str | None = Field(default=None, max_length=500)
    override_reason: str | None = Field(default=None, min_length=1, max_length=1000)
    """Save even though a higher grade gets a lower bonus than a lower grade (C-5); the reason is audited."""


@router.get("/v1/routing/policy", response_model=PolicyOut)
async def get_policy(state: RoutingState, _p: Staff) -> PolicyOut:
    async with transaction(state) as tx:
        return PolicyOut(**await policy_repo.current_document(tx.conn))


def _check_grades(current: Policy, new: Policy, override_reason: str | None) -> dict[str, Any]:
    """C-5 on the grade bonuses: refuse an order that puts a higher grade below a lower one, unless a reason is
    given; what was already out of order (an earlier, audited override) does not block other edits."""
    before = set(lower_bonuses(current.grade_bonus))
    found = [b for b in lower_bonuses(new.grade_bonus) if b not in before]
    if not found:
        return {}
    if override_reason is None:
        raise Problem(
            422,
            "Higher grade looser",
            f"{found[0].text()}; send override_reason to save it anyway (audited)",
            kind="looser-grade",
            errors=[
                {"location": "body.document.grade_bonus", "message": b.text(), "type": "looser_grade"}
                for b in found
            ],
        )
    return {"c5_override": {"reason": override_reason, "grade_bonus": dict(new.grade_bonus)}}


async def _save_policy(
    tx: Tx,
    document: dict[str, Any],
    principal: Principal,
    note: str | None,
    policies: PolicyCache,
    override_reason: str | None = None,
) -> PolicyOut:
    new = parse_policy(document)  # refuses a document that cannot be applied, with the reason
    override = _check_grades(await policy_repo.current_policy(tx.conn), new, override_reason)
    version = await policy_repo.insert_policy(
        tx.conn, document=document, now=tx.now, created_by=actor_of(principal).label, note=note
    )
    await audit.record(
        tx.conn,
        actor=actor_of(principal).label,
        action="policy_changed",
        target="routing_policy",
        detail={"version": version, "note": note, **override},
        at=tx.now,
    )
    await feed.notify_change(tx.conn, origin=tx.origin, pool="*", kind="policy", key=str(version))
    policies.invalidate()
    return PolicyOut(**await policy_repo.current_document(tx.conn))


@router.put("/v1/routing/policy", response_model=PolicyOut)
async def put_policy(body: PolicyIn, state: RoutingState, principal: Admin) -> PolicyOut:
    async with transaction(state) as tx:
        return await _save_policy(
            tx,
            body.document,
            principal,
            body.note,
            state.policies,
            body.override_reason,
        )


class TierIn(BaseModel):
    model_config = example(classes=["complex", "routine"], grades=["strategic", "key", "basic"])

    classes: list[Literal["urgent", "complex", "routine", "followup"]]
    """Work classes this tier serves (PR-11: front-line routine, senior/tech complex, emergency urgent)."""
    grades: list[Literal["strategic", "key", "basic"]]
    """Customer grades this tier may serve (strategic customers only to tiers that allow them)."""


@router.get("/v1/tiers", response_model=None, responses={200: {"model": Tiers}})
async def get_tiers(state: RoutingState, _p: Staff) -> dict[str, Any]:
    async with transaction(state) as tx:
        return {
            name: {
                "classes": sorted(rule.classes, key=WORK_CLASSES.index),
                "grades": sorted(rule.grades, key=GRADES.index),
            }
            for name, rule in sorted(tx.policy.tiers.items())
        }


@router.put("/v1/tiers/{tier}", response_model=None, responses={200: {"model": Tiers}})
async def put_tier(tier: AgentId, body: TierIn, state: RoutingState, principal: Admin) -> dict[str, Any]:
    async with transaction(state) as tx:
        document = dict((await policy_repo.current_document(tx.conn))["document"])
        document["tiers"] = {**document["tiers"], tier: {"classes": body.classes, "grades": body.grades}}
        saved = await _save_policy(tx, document, principal, f"tier {tier} set", state.policies)
        return dict(saved.document["tiers"])


@router.get("/v1/audit", response_model=None, responses={200: {"model": list[AuditEntry]}})
async def get_audit(
    state: RoutingState, _p: Staff, target: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    async with transaction(state) as tx:
        found = await audit.entries(tx.conn, target=target, limit=min(max(limit, 1), 1000))
    return [
        {"at": e.at, "actor": e.actor, "action": e.action, "target": e.target, "detail": e.detail} for e in found
    ]


__all__ = ["publish_presence", "router"]
