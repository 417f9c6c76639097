"""Stored agents, work items and offers as values, and how routing's matching view is made from them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from services.routing.domain.lifecycle import HOLDS_SLOT
from services.routing.domain.model import Agent, Requirement, Work, can_receive_offers, free_capacity
from services.routing.domain.policy import Policy

BUSY_OR_GONE = "row gone, or busy in another transaction"


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
    scheduled_until: datetime | None = None
    """A `scheduled` callback waits until then."""
    abandoned_at: datetime | None = None
    callback_mode: str | None = None
    """An open callback: `keep_place` or `scheduled`."""
    callback_attempts: int = 0
    callback_phone: str | None = None
    """The number to call back (PII: masked on offers, whole for the owner)."""

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


@dataclass(frozen=True)
class Vetted:
    """A batch of proposed offers checked against the locked rows: those to make, and why the others not."""

    made: tuple[tuple[WorkRecord, AgentRecord], ...]
    rejected: tuple[tuple[uuid.UUID, str, str], ...]
    """(work, agent, why): the engine was stale, or a row was busy in another transaction."""


def vet_offers(
    policy: Policy,
    proposals: Sequence[tuple[uuid.UUID, str]],
    *,
    pool: str | None,
    works: Mapping[uuid.UUID, WorkRecord],
    agents: Mapping[str, AgentRecord],
    forced: bool = False,
    override_capacity: bool = False,
) -> Vetted:
    """The proposals that still hold, in order. Each one made takes its slot at once, so a later proposal to
    the same agent sees it (capacity holds across the batch), and a work item is offered once at most. A work
    item or agent missing from the locked rows is gone, or busy in another transaction.

    A supervisor's forced offer (`forced`; no pool: it has no lease) may also take work from the supervisor
    queue and reach an agent who is not taking offers, and `override_capacity` past a full channel."""
    taken: dict[str, dict[str, int]] = {}
    offered: set[uuid.UUID] = set()
    made: list[tuple[WorkRecord, AgentRecord]] = []
    rejected: list[tuple[uuid.UUID, str, str]] = []
    for work_id, agent_id in proposals:
        work = works.get(work_id)
        agent = agents.get(agent_id)
        why: str | None = None
        if work is None:
            why = BUSY_OR_GONE
        elif work_id in offered:
            why = "work is offered earlier in this batch"
        elif work.state not in (("queued", "supervisor") if forced else ("queued",)):
            why = f"work is {work.state}"
        elif pool is not None and work.pool != pool:
            why = f"work moved to pool {work.pool}"
        elif agent is None:
            why = BUSY_OR_GONE
        elif not agent.active:
            why = "agent not found or inactive"
        else:
            load = {**agent.load, **taken.get(agent_id, {})}
            view = to_agent(policy, replace(agent, load=load))
            if not forced and not can_receive_offers(view):
                why = f"agent is {agent.presence}" + (" (desktop disconnected)" if agent.disconnected_at else "")
            elif free_capacity(view, work.channel) <= 0 and not override_capacity:
                why = f"agent has no free {work.channel} slot"
            else:
                load[work.channel] = load.get(work.channel, 0) + 1
                taken[agent_id] = load
                offered.add(work_id)
                made.append((work, agent))
        if why is not None:
            rejected.append((work_id, agent_id, why))
    return Vetted(tuple(made), tuple(rejected))
