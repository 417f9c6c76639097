"""Customers who leave before an answer, callbacks and department deadlines, against the real database and broker,
with the clock in the test's hand: abandoned work is never offered and is counted; a kept place is offered in its
turn; a booked callback queues at its time across a routing restart; unanswered attempts retry and then close as
unreachable; a passed department deadline escalates once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.clock import ManualClock
from shared.events import ContactAbandonedV1, ContactCallbackAttemptedV1, ReplyTo
from shared.kafka import Producer
from tests.integration.routing.harness import Routing, contact_received, publish, routing_settings, running_routing
from tests.support import TestStack, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def pool() -> str:
    return f"p-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def routing(test_stack: TestStack, service_database: str, clock: ManualClock) -> AsyncIterator[Routing]:
    async with running_routing(routing_settings(test_stack, service_database), clock=clock) as service:
        yield service


@pytest.fixture
async def producer(routing: Routing) -> AsyncIterator[Producer]:
    producer = Producer(routing.settings)
    await producer.start()
    yield producer
    await producer.stop()


async def arrive(routing: Routing, producer: Producer, pool: str, **overrides: Any) -> tuple[uuid.UUID, str]:
    """A phone contact queued in `pool`; its contact id and work id."""
    contact = contact_received(pool, channel="phone", reply_to=ReplyTo(phone="+8613800138000"), **overrides)
    await publish(producer, contact, subject=str(contact.contact_id))
    found: list[str] = []

    async def queued() -> bool:
        async with routing.app.state.pool.acquire() as conn:
            work_id = await conn.fetchval(
                "SELECT work_id FROM work_item WHERE contact_id = $1", contact.contact_id
            )
        found[:] = [str(work_id)] if work_id else []
        return bool(found)

    await wait_until(queued, timeout_s=30, interval_s=0.1)
    return contact.contact_id, found[0]


async def state_is(routing: Routing, work_id: str, state: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def reached() -> bool:
        seen.update(await routing.work(work_id))
        return bool(seen["work"]["state"] == state)

    await wait_until(reached, timeout_s=30, interval_s=0.1)
    return seen


async def leave(producer: Producer, contact_id: uuid.UUID, clock: ManualClock, **fields: Any) -> None:
    event = ContactAbandonedV1(contact_id=contact_id, reason="hung_up", at=clock.now(), **fields)
    await publish(producer, event, subject=str(contact_id))


async def test_a_caller_who_hangs_up_is_abandoned_never_offered_and_counted(
    routing: Routing, producer: Producer, clock: ManualClock, pool: str
) -> None:
    await routing.put_agent("busy", pool=pool)
    desk = await routing.desktop("busy")
    contact_id, work_id = await arrive(routing, producer, pool)
    offer = await desk.next_of("offer", work__work_id=work_id)
    clock.advance(timedelta(seconds=8))
    await leave(producer, contact_id, clock)
    withdrawn = await desk.next_of("offer_closed", work_id=work_id)
    assert withdrawn["status"] == "withdrawn" and withdrawn["offer_id"] == offer["offer_id"]
    found = await state_is(routing, work_id, "closed")
    assert found["work"]["reason"] == "abandoned: hung_up"
    accept = await desk.send({"type": "accept", "offer_id": offer["offer_id"]})
    assert accept["type"] == "error"  # the offer is gone
    await desk.send({"type": "presence", "presence": "away", "ref": "gone"})
    # Another caller, never offered: nobody is free. It hangs up in the queue; then an agent frees up.
    second_id, second_work = await arrive(routing, producer, pool)
    await routing.put_agent("later", pool=pool, capacity={"phone": 0})
    await leave(producer, second_id, clock)
    await state_is(routing, second_work, "closed")
    await routing.put_agent("later", pool=pool)
    later = await routing.desktop("later")
    third_id, third_work = await arrive(routing, producer, pool)
    offered = await later.next_of("offer")
    assert offered["work"]["work_id"] in (third_work,)
    assert not [m for m in later.of("offer") if m["work"]["work_id"] == second_work]
    figures = await routing.call(
        "GET", "/v1/figures/queue", params={"from": (clock.now() - timedelta(hours=1)).isoformat(), "pool": pool}
    )
    phone = [f for f in figures if f["channel"] == "phone"]
    assert sum(f["abandoned"] for f in phone) == 2 and sum(f["arrived"] for f in phone) == 3
    assert all(f["threshold_s"] == 20 for f in phone)
    assert third_id


async def test_a_kept_place_is_offered_in_its_turn_showing_the_callback(
    routing: Routing, producer: Producer, clock: ManualClock, pool: str
) -> None:
    first_id, first_work = await arrive(routing, producer, pool)
    clock.advance(timedelta(seconds=30))
    _, second_work = await arrive(routing, producer, pool)
    await leave(producer, first_id, clock, callback="keep_place", callback_phone="+8613900139000")

    async def flagged() -> bool:
        return bool((await routing.work(first_work))["work"]["callback"])

    await wait_until(flagged, timeout_s=30, interval_s=0.1)
    await routing.put_agent("caller", pool=pool, capacity={"phone": 1})
    desk = await routing.desktop("caller")
    offer = await desk.next_of("offer")
    assert offer["work"]["work_id"] == first_work  # its original age: ahead of the later caller
    assert offer["work"]["callback"] == {"mode": "keep_place", "attempts": 0, "phone": "+86139****9000"}
    await desk.send({"type": "accept", "offer_id": offer["offer_id"]})
    assigned = await desk.next_of("assigned", work__work_id=first_work)
    assert assigned["contact"]["callback_phone"] == "+8613900139000"  # the owner gets the number to dial
    assert (await routing.work(second_work))["work"]["state"] == "queued"


async def test_a_booked_callback_queues_at_its_time_across_a_routing_restart(
    test_stack: TestStack, service_database: str, clock: ManualClock, pool: str
) -> None:
    settings = routing_settings(test_stack, service_database)
    async with running_routing(settings, clock=clock) as first:
        producer = Producer(first.settings)
        await producer.start()
        try:
            contact_id, work_id = await arrive(first, producer, pool)
            due = clock.now() + timedelta(hours=2)
            await leave(producer, contact_id, clock, callback="scheduled", callback_at=due)
            found = await state_is(first, work_id, "scheduled")
            assert found["work"]["scheduled_until"] == due.isoformat().replace("+00:00", "Z") or found["work"][
                "scheduled_until"
            ].startswith(due.isoformat()[:19])
        finally:
            await producer.stop()
    clock.advance(timedelta(hours=2, seconds=1))
    async with running_routing(settings, clock=clock) as second:
        await second.put_agent("evening", pool=pool)
        desk = await second.desktop("evening")
        await second.dispatcher.fire_due(clock.now())
        offer = await desk.next_of("offer", work__work_id=work_id)
        assert offer["work"]["callback"]["mode"] == "scheduled"
        history = [h["action"] for h in (await second.work(work_id))["history"]]
        assert history.index("callback_scheduled") < history.index("callback_due")


async def test_unanswered_callbacks_retry_then_close_as_unreachable(
    routing: Routing, producer: Producer, clock: ManualClock, pool: str
) -> None:
    contact_id, work_id = await arrive(routing, producer, pool)
    await leave(producer, contact_id, clock, callback="keep_place")
    await routing.put_agent("dialer", pool=pool)
    desk = await routing.desktop("dialer")
    for attempt in (1, 2, 3):
        offer = await desk.next_of("offer", work__work_id=work_id, work__callback__attempts=attempt - 1)
        await desk.send({"type": "accept", "offer_id": offer["offer_id"]})
        await state_is(routing, work_id, "assigned")
        attempted = ContactCallbackAttemptedV1(contact_id=contact_id, outcome="no_answer", at=clock.now())
        await publish(producer, attempted, subject=str(contact_id))
        if attempt == 3:
            break
        found = await state_is(routing, work_id, "scheduled")
        assert found["work"]["callback"]["attempts"] == attempt
        clock.advance(timedelta(minutes=10, seconds=1))
        await routing.dispatcher.fire_due(clock.now())
    found = await state_is(routing, work_id, "closed")
    assert found["work"]["reason"] == "abandoned: unreachable"
    assert (await routing.call("GET", "/v1/agents/dialer"))["load"] == {}


async def test_a_passed_department_deadline_escalates_once_even_after_a_restart(
    test_stack: TestStack, service_database: str, clock: ManualClock, pool: str
) -> None:
    settings = routing_settings(test_stack, service_database)
    async with running_routing(settings, clock=clock) as routing:
        await routing.put_agent("owner", pool=pool, team="front")
        await routing.put_agent("lead", pool=pool, team="front", tier="supervisor")
        desk = await routing.desktop("owner")
        lead = await routing.desktop("lead", available=False)
        await lead.send({"type": "presence", "presence": "away", "ref": "l"})  # at the desk, taking no work
        work = await routing.manual_work(pool)
        offer = await desk.next_of("offer", work__work_id=work["work_id"])
        await desk.send({"type": "accept", "offer_id": offer["offer_id"]})
        await state_is(routing, work["work_id"], "assigned")
        deadline = clock.now() + timedelta(hours=4)
        await routing.call(
            "POST",
            f"/v1/work/{work['work_id']}/transfer",
            json={"to_department": "财务部", "deadline": deadline.isoformat()},
            as_=("agent", "owner"),
        )
        clock.advance(timedelta(hours=4, seconds=1))
        await wait_until(lambda: routing.dispatcher.timers_.next_due() is not None, timeout_s=15)
        await routing.dispatcher.fire_due(clock.now())
        told = await lead.next_of("escalation", kind="department_deadline")
        assert told["department"] == "财务部" and told["level"] == 1
        await desk.next_of("escalation", kind="department_deadline")
        await routing.dispatcher.fire_due(clock.now())
    async with running_routing(settings, clock=clock) as again:
        lead = await again.desktop("lead", available=False)
        await lead.send({"type": "presence", "presence": "away", "ref": "l2"})
        await again.dispatcher.fire_due(clock.now())
        found = await again.work(work["work_id"])
        assert [h["action"] for h in found["history"]].count("department_deadline_passed") == 1
        assert found["work"]["escalation_level"] == 1
        assert not lead.of("escalation")
