"""Stored agents, work items and offers as values, and how routing's matching view is made from them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.routing.domain.lifecycle import HOLDS_SLOT
from services.routing.domain.model import Agent, Requirement, Work
from services.routing.domain.policy import Policy


@dataclass(frozen=True)
class AgentRecord:
    agent_id: str
    display_name: str
    pool: str
    tier: str
    team: str | None
    languages: tuple[str, ...]
    skills: Mapping[str, int]
    capacity: Mapping[str, int]
    """The agent's own numbers; channels not named take the policy default."""
    presence: str
    presence_reason: str | None
    presence_at: datetime
    disconnected_at: datetime | None
    idle_since: datetime
    active: bool
    load: Mapping[str, int] = field(default_factory=dict)
    wrap_ups: int = 0


def effective_capacity(policy: Policy, own: Mapping[str, int]) -> dict[str, int]:
    return {**policy.default_capacity, **own}


def to_agent(policy: Policy, record: AgentRecord) -> Agent:
    return Agent(
        agent_id=record.agent_id,
        pool=record.pool,
        tier=record.tier,
        team=record.team,
        languages=frozenset(record.languages),
        skills=dict(record.skills),
        capacity=effective_capacity(policy, record.capacity),
        presence=record.presence if record.active else "offline",
        disconnected_at=record.disconnected_at,
        load=dict(record.load),
        wrap_ups=record.wrap_ups,
        idle_since=record.idle_since,
    )


@dataclass(frozen=True)
class WorkRecord:
    work_id: uuid.UUID
    contact_id: uuid.UUID
    kind: str
    pool: str
    channel: str
    customer_id: uuid.UUID | None
    grade: str
    work_class: str
    category: str | None
    language: str | None
    requirements: tuple[Requirement, ...]
    state: str
    enqueued_at: datetime
    sla_warned: bool
    escalation_level: int
    target_agent_id: str | None
    hold_until: datetime | None
    target_team: str | None
    first_owner_id: str | None
    owner_id: str | None
    slot_agent_id: str | None
    excluded: tuple[str, ...]
    offers_failed: int
    pending_department: str | None
    pending_until: datetime | None
    wrap_up_until: datetime | None
    solution_at: datetime | None
    resolution_code: str | None
    final_note: str | None
    fcr: bool | None
    customer_notified: bool
    resolved_at: datetime | None
    closed_at: datetime | None
    reopened: int
    reason: str | None
    created_at: datetime
    updated_at: datetime
    last_agent_id: str | None = None

    @property
    def holds_slot(self) -> bool:
        return self.slot_agent_id is not None and self.state in HOLDS_SLOT


def to_work(record: WorkRecord) -> Work:
    return Work(
        work_id=record.work_id,
        pool=record.pool,
        channel=record.channel,
        work_class=record.work_class,
        grade=record.grade,
        language=record.language,
        requirements=record.requirements,
        enqueued_at=record.enqueued_at,
        sla_warned=record.sla_warned,
        escalation_level=record.escalation_level,
        target_agent=record.target_agent_id,
        hold_until=record.hold_until,
        target_team=record.target_team,
        first_owner=record.first_owner_id,
        last_agent=record.last_agent_id,
        excluded=frozenset(record.excluded),
        offers_failed=record.offers_failed,
    )


@dataclass(frozen=True)
class OfferRecord:
    offer_id: uuid.UUID
    work_id: uuid.UUID
    agent_id: str
    pool: str
    epoch: int
    status: str
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    reason: str | None
    forced_by: str | None
    decision: Mapping[str, Any]


@dataclass(frozen=True)
class ContactRecord:
    contact_id: uuid.UUID
    customer_id: uuid.UUID
    grade: str
    channel: str
    subject: str | None
    text: str
    language: str | None
    category: str
    priority_class: str
    emergency: bool
    attributes: Mapping[str, str]
    reply_to: Mapping[str, str | None]
    received_at: datetime
