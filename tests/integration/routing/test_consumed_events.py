"""Events routing consumes, on the real broker: SLA warnings and escalations raise priority live and reach the
owner's desktop (an escalation also its target role's desktops); customer messages go to the owner; knowledge
suggestions and overdue articles reach the desktop; a low survey score becomes follow-up work for a supervisor;
"not solved" reopens the contact."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from shared.events import (
    ContactMessageAddedV1,
    FeedbackFollowupRequiredV1,
    FeedbackNotSolvedV1,
    KnowledgeArticleOverdueV1,
    KnowledgeSuggestedV1,
    OutboundDeliveryReportedV1,
    ReplyTo,
    SlaCalendarDataEndingV1,
    SlaEscalatedV1,
    SlaWarningV1,
    SuggestedArticle,
)
from shared.kafka import Producer
from tests.integration.routing.harness import Routing, contact_received, publish, routing_settings, running_routing
from tests.support import TestStack, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
async def routing(test_stack: TestStack, service_database: str) -> AsyncIterator[Routing]:
    async with running_routing(routing_settings(test_stack, service_database)) as service:
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
    [by_queue] = queue["queues"]  # the wallboard's pool × channel view of the same two
    assert (by_queue["pool"], by_queue["channel"], by_queue["waiting"]) == (pool, contact.channel, 2)
    assert by_queue["oldest_s"] == max(w["waited_s"] for w in queue["top"])
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


async def test_a_failed_end_notice_breaks_the_three_clears_until_a_new_one_is_delivered(
    routing: Routing, producer: Producer
) -> None:
    pool = f"p-{uuid.uuid4().hex[:8]}"
    await routing.put_agent("closer", pool=pool)
    contact = contact_received(pool, reply_to=ReplyTo(chat_session="sess-1"))
    await publish(producer, contact, subject=str(contact.contact_id))
    desk = await routing.desktop("closer")
    offer = await desk.next_of("offer", timeout_s=30)
    work_id = offer["work"]["work_id"]
    await desk.send({"type": "accept", "offer_id": offer["offer_id"]})
    await desk.next_of("assigned", work__work_id=work_id)
    resolved = await routing.call(
        "POST",
        f"/v1/work/{work_id}/resolve",
        as_=("agent", "closer"),
        json={"resolution_code": "done", "final_note": "已处理", "fcr": True, "send_end_notice": True},
    )
    assert resolved["work"]["customer_notified"] is True
    async with routing.app.state.pool.acquire() as conn:
        first = await conn.fetchval("SELECT message_id FROM end_notice WHERE work_id = $1", uuid.UUID(work_id))

    async def report(message_id: uuid.UUID, status: str) -> None:
        event = OutboundDeliveryReportedV1(
            message_id=message_id, contact_id=contact.contact_id, origin="routing", kind="end_notice",
            channel="chat", status=status, reason="session closed" if status == "failed" else None,
            at=datetime.now(UTC),
        )  # fmt: skip
        await publish(producer, event, subject=str(contact.contact_id))

    await report(first, "failed")
    failed = await desk.next_of("delivery_failed", timeout_s=30)
    assert (failed["kind"], failed["reason"], failed["customer_notified"]) == (
        "end_notice",
        "session closed",
        False,
    )
    refused = await routing.call("POST", f"/v1/work/{work_id}/close", json={}, as_=("agent", "closer"), expect=409)
    assert "clear feedback" in refused["detail"]
    # A new notice: sent, but the clear waits for its delivery this time.
    notified = await routing.call("POST", f"/v1/work/{work_id}/notify", json={}, as_=("agent", "closer"))
    assert notified["work"]["customer_notified"] is False
    async with routing.app.state.pool.acquire() as conn:
        second = await conn.fetchval(
            "SELECT message_id FROM end_notice WHERE work_id = $1 ORDER BY requested_at DESC LIMIT 1",
            uuid.UUID(work_id),
        )
    assert second != first
    await report(first, "delivered")  # a late receipt for the old notice decides nothing
    await report(second, "delivered")

    async def cleared() -> bool:
        return bool((await routing.work(work_id))["work"]["customer_notified"])

    await wait_until(cleared, timeout_s=30, interval_s=0.2)
    closed = await routing.call("POST", f"/v1/work/{work_id}/close", json={}, as_=("agent", "closer"))
    assert closed["work"]["state"] == "closed"


async def test_a_failed_reply_and_a_calendar_running_out_reach_the_desktops(
    routing: Routing, producer: Producer
) -> None:
    pool = f"p-{uuid.uuid4().hex[:8]}"
    await routing.put_agent("replier", pool=pool)
    await routing.put_agent("lead", pool=pool, tier="supervisor")
    contact = contact_received(pool)
    await publish(producer, contact, subject=str(contact.contact_id))
    desk = await routing.desktop("replier")
    lead = await routing.desktop("lead", available=False)
    await lead.send({"type": "presence", "presence": "away", "ref": "l"})
    await lead.next_of("presence_set")
    offer = await desk.next_of("offer", timeout_s=30)
    await desk.send({"type": "accept", "offer_id": offer["offer_id"]})
    await desk.next_of("assigned", work__work_id=offer["work"]["work_id"])
    failed = OutboundDeliveryReportedV1(
        message_id=uuid.uuid4(), contact_id=contact.contact_id, origin="intake", kind="reply", channel="chat",
        status="bounced", reason="visitor left", at=datetime.now(UTC),
    )  # fmt: skip
    await publish(producer, failed, subject=str(contact.contact_id))
    seen = await desk.next_of("delivery_failed", timeout_s=30)
    assert (seen["kind"], seen["status"], seen["message_id"]) == ("reply", "bounced", str(failed.message_id))
    ending = SlaCalendarDataEndingV1(
        calendar_id="working-hours", data_until=date(2026, 12, 31), days_left=25, at=datetime.now(UTC)
    )
    await publish(producer, ending, subject="calendar:working-hours", source="switchboard/sla")
    notice = await lead.next_of("notice", timeout_s=30)
    assert (notice["kind"], notice["calendar_id"], notice["days_left"]) == (
        "calendar_data_ending",
        "working-hours",
        25,
    )
    assert not desk.of("notice")  # agents are not told; supervisors (and admins at their desks) are


async def test_an_overdue_article_reaches_its_owners_desktop_when_it_reconnects(
    routing: Routing, producer: Producer
) -> None:
    await routing.put_agent("writer", pool="p-kb")
    await routing.put_agent("reader", pool="p-kb")
    reader = await routing.desktop("reader")
    away = await routing.desktop("writer", available=False)
    last_seen = max([m["id"] for m in away.received if "id" in m], default=0)
    await away.close()
    article_id = uuid.uuid4()
    overdue = KnowledgeArticleOverdueV1(
        article_id=article_id, version=3, title="如何开具电子发票", language="zh-Hans", owner="writer",
        review_by=datetime(2026, 5, 1, tzinfo=UTC), at=datetime.now(UTC),
    )  # fmt: skip
    stranger = overdue.model_copy(update={"article_id": uuid.uuid4(), "owner": "someone-in-knowledge-only"})
    for event in (overdue, stranger):
        await publish(producer, event, subject=f"article:{event.article_id}", source="switchboard/knowledge")

    async def queued() -> bool:
        async with routing.app.state.pool.acquire() as conn:
            return bool(await conn.fetchval("SELECT count(*) FROM desktop_message WHERE kind = 'notice'"))

    await wait_until(queued, timeout_s=30)
    writer = await routing.desktop("writer", after=last_seen, available=False)
    notice = await writer.next_of("notice", timeout_s=30)
    assert (notice["kind"], notice["article_id"], notice["title"], notice["version"]) == (
        "article_overdue",
        str(article_id),
        "如何开具电子发票",
        3,
    )
    assert notice["review_by"].startswith("2026-05-01")
    async with routing.app.state.pool.acquire() as conn:
        owners = await conn.fetch("SELECT agent_id FROM desktop_message WHERE kind = 'notice'")
    assert [r["agent_id"] for r in owners] == ["writer"], "only the owner; an owner who is no agent gets nothing"
    assert not reader.of("notice")
    await writer.close()
    await reader.close()
