"""The thin path on the real broker and database: contact.received → work → offer on the agent's WebSocket →
accept → work.assigned → resolve → work.resolved, the events leaving through the outbox to Kafka."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest

from shared.events import ROUTING_WORK
from shared.kafka import Producer
from tests.integration.routing.harness import (
    Routing,
    bearer,
    contact_received,
    publish,
    routing_settings,
    running_routing,
)
from tests.support import TestStack, read_topic, wait_until

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


async def work_events(stack: TestStack, contact_id: uuid.UUID) -> list[str]:
    records = await read_topic(stack.kafka_bootstrap, ROUTING_WORK.name)
    return [
        json.loads(value)["type"].removeprefix("switchboard.").removesuffix(".v1")
        for _, value in records
        if json.loads(value)["subject"] == str(contact_id)
    ]


async def test_a_received_contact_is_offered_on_the_agents_socket_accepted_resolved_and_published(
    routing: Routing, producer: Producer, test_stack: TestStack
) -> None:
    pool = f"p-{uuid.uuid4().hex[:8]}"
    await routing.put_agent("A-thin", pool=pool, skills={"billing": 3})
    desk = await routing.desktop("A-thin")
    contact = contact_received(pool, required_skills=["billing"])
    await publish(producer, contact, subject=str(contact.contact_id))

    offer = await desk.next_of("offer", timeout_s=30, work__contact_id=str(contact.contact_id))
    assert offer["contact"]["category"] == "enquiry" and "text" not in offer["contact"]
    accepted = await desk.send({"type": "accept", "offer_id": offer["offer_id"]})
    assert accepted["type"] == "accepted", accepted
    assigned = await desk.next_of("assigned", work__contact_id=str(contact.contact_id))
    assert assigned["contact"]["text"] == contact.text
    work_id = assigned["work"]["work_id"]

    resolved = await routing.http.post(
        f"/v1/work/{work_id}/resolve",
        json={
            "resolution_code": "billing_refund",
            "final_note": "多扣费用已退回",
            "fcr": True,
            "customer_notified": True,
            "send_end_notice": False,
            "close": True,
        },
        headers=bearer("agent", "A-thin"),
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["work"]["state"] == "closed"

    expected = ["work.queued", "work.offered", "work.assigned", "work.resolved", "work.closed"]
    seen: list[str] = []

    async def published() -> bool:
        seen[:] = await work_events(test_stack, contact.contact_id)
        return all(e in seen for e in expected)

    await wait_until(published, timeout_s=30, interval_s=0.5)
    assert [e for e in seen if e in expected] == expected
    await desk.close()
