"""What routing's OpenAPI document says of the answers its routes build as plain dicts (work views, explanations,
the supervisor's queue, status, tiers, audit): each model is their contract, with an example."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, RootModel

from shared.openapi import example

WORK_ID = "6b5a4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d"
CONTACT_ID = "5d0c7f3a-2b1e-4c8d-9a6f-1e2d3c4b5a69"
T = "2026-12-06T10:00:00+08:00"
WORK_EXAMPLE: dict[str, Any] = {
    "work_id": WORK_ID,
    "contact_id": CONTACT_ID,
    "kind": "contact",
    "state": "assigned",
    "pool": "default",
    "channel": "email",
    "work_class": "complex",
    "grade": "key",
    "category": "complaint",
    "language": "zh-Hans",
    "requirements": [{"skill": "billing", "level": 2}],
    "priority": 612,
    "enqueued_at": T,
    "waited_s": 42.5,
    "sla_warned": False,
    "escalation_level": 0,
    "owner_id": "A-1",
    "first_owner_id": "A-1",
    "offers_failed": 0,
    "customer_notified": False,
    "reopened": 0,
}


class Requirement(BaseModel):
    skill: str
    level: int


class Callback(BaseModel):
    mode: str
    attempts: int
    phone: str | None = None
    """Masked."""


class WorkView(BaseModel):
    """A work item as routing shows it; timestamps in ISO 8601."""

    model_config = example(**WORK_EXAMPLE)

    work_id: str
    contact_id: str | None = None
    kind: str
    state: str
    pool: str
    channel: str
    work_class: str
    grade: str
    category: str | None = None
    language: str | None = None
    requirements: list[Requirement]
    priority: int
    enqueued_at: datetime
    waited_s: float
    sla_warned: bool
    escalation_level: int
    target_agent_id: str | None = None
    target_team: str | None = None
    first_owner_id: str | None = None
    owner_id: str | None = None
    offers_failed: int
    pending_department: str | None = None
    pending_until: datetime | None = None
    wrap_up_until: datetime | None = None
    solution_at: datetime | None = None
    resolution_code: str | None = None
    fcr: bool | None = None
    customer_notified: bool | None = None
    callback: Callback | None = None
    scheduled_until: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    reopened: int | None = None
    """How many times the work was reopened."""
    reason: str | None = None


class HistoryEntry(BaseModel):
    at: datetime
    action: str
    actor: str | None = None
    detail: Any = None


class OfferView(BaseModel):
    offer_id: str
    agent_id: str
    status: str
    created_at: datetime
    expires_at: datetime | None = None
    reason: str | None = None
    forced_by: str | None = None


class AssignmentView(BaseModel):
    agent_id: str
    via: str | None = None
    started_at: datetime
    ended_at: datetime | None = None
    end_reason: str | None = None
    override_by: str | None = None


class WorkDetail(BaseModel):
    model_config = example(
        work=WORK_EXAMPLE,
        allowed_actions=["start", "pending", "transfer", "solution", "resolve"],
        history=[{"at": T, "action": "assigned", "actor": "agent:A-1", "detail": {"offer_id": "o-1"}}],
        offers=[
            {
                "offer_id": "1f2e3d4c-5b6a-4798-8877-665544332211",
                "agent_id": "A-1",
                "status": "accepted",
                "created_at": T,
                "expires_at": "2026-12-06T10:00:30+08:00",
            }
        ],
        assignments=[{"agent_id": "A-1", "via": "offer", "started_at": T}],
    )

    work: WorkView
    allowed_actions: list[str]
    history: list[HistoryEntry]
    offers: list[OfferView]
    assignments: list[AssignmentView]


class FeedMessage(BaseModel):
    """A desktop message (`docs/asyncapi.yaml`: the desktop WebSocket's messages), with its sequence number."""

    model_config = example(
        id=118, type="offer", at=T, offer_id="1f2e3d4c-5b6a-4798-8877-665544332211", work=WORK_EXAMPLE
    )

    id: int
    type: str
    at: datetime


class Candidate(BaseModel):
    agent_id: str
    score: float
    proficiency: float | None = None
    bonus: float | None = None
    idle_since: datetime | None = None


class Removed(BaseModel):
    count: int
    examples: list[dict[str, Any]]


DIAGNOSIS_EXAMPLE: dict[str, Any] = {
    "pool": "default",
    "agents_in_pool": 12,
    "priority": 612.0,
    "priority_parts": {"class_base": 400, "grade_bonus": 200, "sla_bonus": 0, "age": 12.0},
    "requirements_now": [{"skill": "billing", "level": 2}],
    "requirements_relaxed": False,
    "tiers_allowed": ["senior"],
    "candidates": [{"agent_id": "A-1", "score": 2.5, "proficiency": 3, "bonus": 0, "idle_since": T}],
    "eligible": 1,
    "removed_by": {"presence": {"count": 9, "examples": [{"agent_id": "A-2", "why": "away"}]}},
    "would_choose": "A-1",
    "rule": "longest idle of the most proficient",
}


class Diagnosis(BaseModel):
    """Every agent of the pool through the filters: who is eligible, ranked; who was removed by what."""

    model_config = example(**DIAGNOSIS_EXAMPLE)

    pool: str
    agents_in_pool: int
    priority: float
    priority_parts: dict[str, float]
    requirements_now: list[Requirement]
    requirements_relaxed: bool
    tiers_allowed: list[str]
    candidates: list[Candidate]
    eligible: int
    removed_by: dict[str, Removed]
    would_choose: str | None = None
    rule: str


class DryRun(Diagnosis):
    model_config = example(policy_version=7, **DIAGNOSIS_EXAMPLE)

    policy_version: int


class Explanation(BaseModel):
    model_config = example(
        work=WORK_EXAMPLE,
        decisions=[
            {"offer_id": "1f2e3d4c-5b6a-4798-8877-665544332211", "agent_id": "A-1", "at": T, "status": "accepted"}
        ],
        now=DIAGNOSIS_EXAMPLE,
        history=[{"at": T, "action": "queued", "actor": "routing", "detail": {}}],
    )

    work: WorkView
    decisions: list[dict[str, Any]]
    """Each offer with the candidates, scores and rule recorded when it was made."""
    now: Diagnosis
    history: list[HistoryEntry]


class QueueGroup(BaseModel):
    count: int
    offered: int
    oldest_s: float
    top_priority: float


class ChannelQueue(BaseModel):
    pool: str
    channel: str
    waiting: int
    offered: int
    oldest_s: float


class AgentLoad(BaseModel):
    agent_id: str
    team: str | None = None
    tier: str | None = None
    load: dict[str, int]
    capacity: dict[str, int]
    idle_since: datetime | None = None
    reason: str | None = None


class QueueView(BaseModel):
    model_config = example(
        waiting=1,
        groups={
            "any team · complex · key · email": {"count": 1, "offered": 0, "oldest_s": 42.5, "top_priority": 612}
        },
        queues=[{"pool": "default", "channel": "email", "waiting": 1, "offered": 0, "oldest_s": 42.5}],
        top=[{**WORK_EXAMPLE, "state": "queued"}],
        supervisor_queue=[],
        agents={
            "available": [
                {"agent_id": "A-1", "team": "billing", "tier": "senior", "load": {}, "capacity": {"email": 3}}
            ]
        },
    )

    waiting: int
    groups: dict[str, QueueGroup]
    """By team · class · grade · channel, highest priority first."""
    queues: list[ChannelQueue]
    top: list[WorkView]
    supervisor_queue: list[WorkView]
    agents: dict[str, list[AgentLoad]]
    """By displayed presence."""


class Lease(BaseModel):
    pool: str
    holder: str
    epoch: int
    expires_at: datetime


class RoutingStatus(BaseModel):
    model_config = example(
        instance="routing-7f9c",
        dispatcher={"instance": "routing-7f9c", "pools": {"default": 3}, "waiting": 1, "decision_us_p50": 85.2},
        desktops_connected=12,
        desktop_messages_sent=4410,
        leases=[{"pool": "default", "holder": "routing-7f9c", "epoch": 3, "expires_at": T}],
    )

    instance: str
    dispatcher: dict[str, Any] | None = None
    """This instance's dispatcher: pools it leads, queue sizes, offer and decision counters and timings."""
    desktops_connected: int
    desktop_messages_sent: int
    leases: list[Lease]


class TierOut(BaseModel):
    classes: list[str]
    grades: list[str]


class Tiers(RootModel[dict[str, TierOut]]):
    """Each tier: the work classes and customer grades it serves."""

    model_config = example(
        front_line={"classes": ["routine"], "grades": ["key", "basic"]},
        senior={"classes": ["complex", "routine"], "grades": ["strategic", "key", "basic"]},
    )


class AuditEntry(BaseModel):
    model_config = example(
        at=T, actor="admin:S-1", action="policy.changed", target="routing_policy", detail={"version": 7}
    )

    at: datetime
    actor: str
    action: str
    target: str
    detail: Any = None


class Offered(BaseModel):
    model_config = example(offer_id="1f2e3d4c-5b6a-4798-8877-665544332211")

    offer_id: str
