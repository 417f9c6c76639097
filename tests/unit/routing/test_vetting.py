"""A batch of proposed offers checked against the locked rows (`vet_offers`): the same rules as one offer,
with capacity counted across the batch."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from services.routing.domain.records import BUSY_OR_GONE, AgentRecord, WorkRecord, vet_offers
from tests.unit.routing.builders import make_policy

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
POOL = "p"


def agent_record(agent_id: str, **overrides: Any) -> AgentRecord:
    values: dict[str, Any] = {
        "agent_id": agent_id,
        "display_name": agent_id,
        "pool": POOL,
        "tier": "front_line",
        "team": None,
        "languages": ("zh",),
        "skills": {},
        "capacity": {"chat": 2, "phone": 1},
        "presence": "available",
        "presence_reason": None,
        "presence_at": NOW,
        "disconnected_at": None,
        "idle_since": NOW,
        "active": True,
    }
    values.update(overrides)
    return AgentRecord(**values)


def work_record(**overrides: Any) -> WorkRecord:
    values: dict[str, Any] = {
        "work_id": uuid.uuid4(),
        "contact_id": uuid.uuid4(),
        "kind": "contact",
        "pool": POOL,
        "channel": "chat",
        "customer_id": None,
        "grade": "basic",
        "work_class": "routine",
        "category": None,
        "language": "zh",
        "requirements": (),
        "state": "queued",
        "enqueued_at": NOW,
        "sla_warned": False,
        "escalation_level": 0,
        "target_agent_id": None,
        "hold_until": None,
        "target_team": None,
        "first_owner_id": None,
        "owner_id": None,
        "slot_agent_id": None,
        "excluded": (),
        "offers_failed": 0,
        "pending_department": None,
        "pending_until": None,
        "wrap_up_until": None,
        "solution_at": None,
        "resolution_code": None,
        "final_note": None,
        "fcr": None,
        "customer_notified": False,
        "resolved_at": None,
        "closed_at": None,
        "reopened": 0,
        "reason": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(overrides)
    return WorkRecord(**values)


def vet(works: list[WorkRecord], agents: list[AgentRecord], proposals: list[tuple[uuid.UUID, str]]) -> Any:
    return vet_offers(
        make_policy(),
        proposals,
        pool=POOL,
        works={w.work_id: w for w in works},
        agents={a.agent_id: a for a in agents},
    )


def test_offers_in_one_batch_take_the_agents_slots_one_after_another() -> None:
    works = [work_record() for _ in range(3)]
    result = vet(works, [agent_record("A", load={"chat": 1})], [(w.work_id, "A") for w in works])
    assert [w.work_id for w, _ in result.made] == [works[0].work_id]
    assert [why for _, _, why in result.rejected] == ["agent has no free chat slot"] * 2


def test_a_call_offered_in_the_batch_blocks_the_agents_other_channels() -> None:
    call, chat = work_record(channel="phone"), work_record(channel="chat")
    result = vet([call, chat], [agent_record("A")], [(call.work_id, "A"), (chat.work_id, "A")])
    assert [w.work_id for w, _ in result.made] == [call.work_id]
    assert result.rejected == ((chat.work_id, "A", "agent has no free chat slot"),)


def test_work_no_longer_queued_or_moved_to_another_pool_is_not_offered() -> None:
    offered, moved = work_record(state="offered"), work_record(pool="other")
    result = vet([offered, moved], [agent_record("A")], [(offered.work_id, "A"), (moved.work_id, "A")])
    assert result.made == ()
    assert [why for _, _, why in result.rejected] == ["work is offered", "work moved to pool other"]


def test_rows_not_locked_are_busy_or_gone_and_tried_again_later() -> None:
    present = work_record()
    missing = uuid.uuid4()
    result = vet([present], [], [(missing, "A"), (present.work_id, "B")])
    assert result.made == ()
    assert [why for _, _, why in result.rejected] == [BUSY_OR_GONE, BUSY_OR_GONE]


def test_only_an_available_connected_active_agent_is_offered_work() -> None:
    works = [work_record() for _ in range(4)]
    agents = [
        agent_record("away", presence="away"),
        agent_record("gone", disconnected_at=NOW),
        agent_record("retired", active=False),
        agent_record("ok"),
    ]
    result = vet(works, agents, [(w.work_id, a.agent_id) for w, a in zip(works, agents, strict=True)])
    assert [a.agent_id for _, a in result.made] == ["ok"]
    assert [why for _, _, why in result.rejected] == [
        "agent is away",
        "agent is available (desktop disconnected)",
        "agent not found or inactive",
    ]


def test_the_same_work_proposed_twice_is_offered_once() -> None:
    work = work_record()
    result = vet([work], [agent_record("A"), agent_record("B")], [(work.work_id, "A"), (work.work_id, "B")])
    assert [a.agent_id for _, a in result.made] == ["A"]
    assert result.rejected == ((work.work_id, "B", "work is offered earlier in this batch"),)


def test_a_forced_offer_takes_supervisor_queue_work_to_an_agent_not_taking_offers() -> None:
    """A supervisor's forced offer (a batch of one, no lease): the supervisor queue and an agent who is away are
    not reasons to refuse it; a full channel still is, unless the supervisor overrides capacity."""
    escalated = work_record(state="supervisor", pool="elsewhere")
    away = agent_record("away", presence="away", load={"chat": 2})

    def force(*, override_capacity: bool) -> Any:
        return vet_offers(
            make_policy(),
            [(escalated.work_id, "away")],
            pool=None,
            works={escalated.work_id: escalated},
            agents={"away": away},
            forced=True,
            override_capacity=override_capacity,
        )

    assert [why for _, _, why in force(override_capacity=False).rejected] == ["agent has no free chat slot"]
    assert [(w.work_id, a.agent_id) for w, a in force(override_capacity=True).made] == [
        (escalated.work_id, "away")
    ]
    # The dispatcher's own batch keeps the supervisor queue and the agent's presence out of reach.
    assert [why for _, _, why in vet([escalated], [away], [(escalated.work_id, "away")]).rejected] == [
        "work is supervisor"
    ]
