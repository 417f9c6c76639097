"""Events routing consumes, on the real broker: SLA warnings and escalations raise priority live and reach the
owner's desktop (an escalation also its target role's desktops); customer messages go to the owner; knowledge
suggestions reach the desktop; a low survey score becomes follow-up work for a supervisor; "not solved" reopens
the contact."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.events import (
    ContactMessageAddedV1,
    FeedbackFollowupRequiredV1,
    FeedbackNotSolvedV1,
    KnowledgeSuggestedV1,
    SlaEscalatedV1,
    SlaWarningV1,
    SuggestedArticle,
)
from shared.kafka import Producer
from tests.integration.routing.harness import Routing, contact_received, publish, routing_settings, running_routing
from tests.support import TestStack, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
async def routing(test_stack: TestStack, empty_database: str) -> AsyncIterator[Routing]:
    async with running_routing(routing_settings(test_stack, empty_database)) as service:
        yield service


@pytest.fixture
async def producer(routing: Routing) -> AsyncIterator[Producer]:
    producer = Producer(routing.settings)
    await producer.start()
    yield producer
    await producer.stop()


async def test_sla_messages_knowledge_and_feedback_events_act_on_the_contacts_work(
    routing: Routing, producer: Producer
) -> None:
    pool = f"p-{uuid.uuid4().hex[:8]}"
    await routing.put_agent("owner", pool=pool)
    await routing.put_agent("boss", pool=pool, tier="supervisor")
    await routing.put_agent("waiter", pool=pool, capacity={"chat": 0})
    contact = contact_received(pool)
    other = contact_received(pool)
    for c in (contact, other):
        await publish(producer, c, subject=str(c.contact_id))
    queue: dict[str, Any] = {}

    async def both_waiting() -> bool:
        queue.update(await routing.call("GET", f"/v1/supervisor/queue?pool={pool}"))
        return bool(queue["waiting"] == 2)

    await wait_until(both_waiting, timeout_s=30, interval_s=0.2)
    first_id = next(w["work_id"] for w in queue["top"] if w["contact_id"] == str(other.contact_id))
    # The warning lifts the later contact above the earlier one while both wait.
    now = datetime.now(UTC)
    await publish(
        producer,
        SlaWarningV1(contact_id=other.contact_id, clock="first_response", due_at=now, at=now),
        subject=str(other.contact_id),
        source="switchboard/sla",
    )

    async def raised() -> bool:
        top = (await routing.call("GET", f"/v1/supervisor/queue?pool={pool}"))["top"]
        return bool(top[0]["contact_id"] == str(other.contact_id) and top[0]["sla_warned"])

    await wait_until(raised, timeout_s=30, interval_s=0.2)
    explain = await routing.call("GET", f"/v1/work/{first_id}/explain")
    assert explain["now"]["priority_parts"]["sla_bonus"] == 200
    # The owner comes online: the warned contact is offered first.
    desk = await routing.desktop("owner")
    offer = await desk.next_of("offer", timeout_s=30)
    assert offer["work"]["contact_id"] == str(other.contact_id)
    await desk.send({"type": "accept", "offer_id": offer["offer_id"]})
    await desk.next_of("assigned", work__contact_id=str(other.contact_id))
    # The supervisor is at the desk but away (takes no work), and still sees escalations aimed at the role.
    boss = await routing.desktop("boss", available=False)
    await boss.send({"type": "presence", "presence": "away", "ref": "b"})
    await boss.next_of("presence_set")
    at = datetime.now(UTC)
    await publish(
        producer,
        SlaEscalatedV1(
            contact_id=other.contact_id, clock="first_response", level=1, target_role="team_lead", at=at
        ),
        subject=str(other.contact_id),
        source="switchboard/sla",
    )
    sla = await desk.next_of("sla", kind="escalated", timeout_s=30)
    assert sla["level"] == 1
    escalation = await boss.next_of("escalation", timeout_s=30)
    assert (escalation["target_role"], escalation["level"]) == ("team_lead", 1)
    assert escalation["work"]["contact_id"] == str(other.contact_id)
    await publish(
        producer,
        ContactMessageAddedV1(
            contact_id=other.contact_id, message_id=uuid.uuid4(), channel="chat", text="还在吗？", received_at=at
        ),
        subject=str(other.contact_id),
    )
    message = await desk.next_of("message", timeout_s=30)
    assert message["message"]["text"] == "还在吗？"
    article = SuggestedArticle(article_id=uuid.uuid4(), title="如何申请退款", score=0.92)
    await publish(
        producer,
        KnowledgeSuggestedV1(contact_id=other.contact_id, articles=[article]),
        subject=str(other.contact_id),
        source="switchboard/knowledge",
    )
    suggestion = await desk.next_of("suggestion", timeout_s=30)
    assert suggestion["articles"][0]["title"] == "如何申请退款"
    # Resolved, then the survey says "not solved": it reopens for its first owner; the low score is follow-up
    # work that only the supervisor tier may take.
    await routing.call(
        "POST",
        f"/v1/work/{offer['work']['work_id']}/resolve",
        as_=("agent", "owner"),
        json={
            "resolution_code": "done",
            "final_note": "已处理",
            "fcr": True,
            "customer_notified": True,
            "send_end_notice": False,
        },
    )
    await publish(
        producer,
        FeedbackNotSolvedV1(contact_id=other.contact_id),
        subject=str(other.contact_id),
        source="switchboard/feedback",
    )
    await publish(
        producer,
        FeedbackFollowupRequiredV1(
            contact_id=other.contact_id, customer_id=other.customer.customer_id, reason="not_solved"
        ),
        subject=str(other.contact_id),
        source="switchboard/feedback",
    )
    boss = await routing.desktop("boss")
    followup = await boss.next_of("offer", timeout_s=30)
    assert followup["work"]["kind"] == "followup" and followup["work"]["channel"] == "phone"
    reopened = await desk.next_of("offer", timeout_s=30, work__reopened=1)
    assert reopened["work"]["contact_id"] == str(other.contact_id)
