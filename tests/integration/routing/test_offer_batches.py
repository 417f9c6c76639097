"""The set-based writes of the contact → offer path against the real PostgreSQL. The dispatcher's offer
transaction locks, checks and writes a batch of proposals with one statement per table, and keeps every
guarantee of the one-by-one path — the fence, capacity (counted across the batch), one live offer per work
item — without ever waiting on a row another transaction holds. A received contact is queued (contact,
message, work, history, notice) in one statement."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.routing.domain.records import BUSY_OR_GONE
from services.routing.handlers.common import Tx
from services.routing.handlers.contacts import on_contact_received
from services.routing.handlers.events import dispatch_table, handle_events
from services.routing.handlers.offers import Offers, make_offers
from services.routing.repository import feed, leases
from services.routing.repository.leases import Fence, Fenced
from services.routing.repository.policy import current_policy
from shared.db import connect
from shared.events import ContactMessageAddedV1, Event, WorkOfferedV1
from tests.integration.routing.harness import Routing, contact_received, routing_settings, running_routing
from tests.support import TestStack, wait_until

pytestmark = pytest.mark.integration

POOL = "batch-pool"


@pytest.fixture
async def routing(test_stack: TestStack, service_database: str) -> AsyncIterator[Routing]:
    async with running_routing(routing_settings(test_stack, service_database, dispatcher=False)) as running:
        yield running


@pytest.fixture
async def conn(service_database: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await connect(service_database)
    try:
        yield connection
    finally:
        await connection.close()


async def available_agent(routing: Routing, agent_id: str, **profile: Any) -> None:
    await routing.put_agent(agent_id, pool=POOL, **profile)
    await routing.call(
        "PUT", f"/v1/agents/{agent_id}/presence", json={"presence": "available"}, as_=("agent", agent_id)
    )


async def queued(routing: Routing, n: int) -> list[uuid.UUID]:
    return [uuid.UUID((await routing.manual_work(POOL))["work_id"]) for _ in range(n)]


async def offer_batch(
    conn: asyncpg.Connection,
    proposals: list[tuple[uuid.UUID, str]],
    *,
    holder: str = "me",
    epoch: int | None = None,
    staged: list[asyncpg.Record] | None = None,
) -> Offers:
    """Run `make_offers` in its own transaction; `staged` gets the outbox rows it wrote (before the relay)."""
    now = datetime.now(UTC)
    if epoch is None:
        epoch = await leases.acquire_lease(
            conn, pool=POOL, holder=holder, until=now + timedelta(seconds=30), now=now
        )
        assert epoch is not None
    policy = await current_policy(conn)
    async with conn.transaction():
        tx = Tx(conn=conn, now=now, policy=policy, origin=holder)
        result = await make_offers(
            tx, [(w, a, {"rule": "test"}) for w, a in proposals], fence=Fence(POOL, holder, epoch)
        )
        if staged is not None:
            staged.extend(await conn.fetch("SELECT key, value FROM outbox WHERE topic = 'routing.work'"))
        return result


async def test_a_batch_counts_capacity_across_its_own_offers_and_writes_every_row_of_each(
    routing: Routing, conn: asyncpg.Connection
) -> None:
    await available_agent(routing, "B1", capacity={"chat": 2})
    works = await queued(routing, 3)
    staged: list[asyncpg.Record] = []
    result = await offer_batch(conn, [(w, "B1") for w in works], staged=staged)
    assert [w for w, _ in result.made] == works[:2]
    assert result.rejected == ((works[2], "B1", "agent has no free chat slot"),)
    offered = set(works[:2])
    rows = await conn.fetch("SELECT work_id, state, slot_agent_id FROM work_item")
    assert {r["work_id"] for r in rows if r["state"] == "offered" and r["slot_agent_id"] == "B1"} == offered
    assert {r["work_id"] for r in await conn.fetch("SELECT work_id FROM offer WHERE status = 'live'")} == offered
    history = await conn.fetch("SELECT work_id, detail FROM work_history WHERE action = 'offered'")
    assert {r["work_id"] for r in history} == offered
    assert {r["detail"]["offer_id"] for r in history} == {str(o) for _, o in result.made}
    messages = await conn.fetch("SELECT body FROM desktop_message WHERE agent_id = 'B1' AND kind = 'offer'")
    assert {uuid.UUID(m["body"]["work"]["work_id"]) for m in messages} == offered
    assert all(m["body"]["work"]["state"] == "offered" for m in messages)
    offered_events = [e for e in (json.loads(r["value"]) for r in staged) if e["type"] == WorkOfferedV1.TYPE]
    assert {uuid.UUID(e["data"]["offer_id"]) for e in offered_events} == {o for _, o in result.made}
    assert {bytes(r["key"]).decode() for r in staged} == {POOL}


async def test_a_work_item_proposed_twice_in_one_batch_is_offered_once(
    routing: Routing, conn: asyncpg.Connection
) -> None:
    await available_agent(routing, "T1")
    await available_agent(routing, "T2")
    [work] = await queued(routing, 1)
    result = await offer_batch(conn, [(work, "T1"), (work, "T2")])
    assert [w for w, _ in result.made] == [work]
    assert result.rejected == ((work, "T2", "work is offered earlier in this batch"),)
    assert await conn.fetchval("SELECT count(*) FROM offer WHERE work_id = $1", work) == 1


async def test_rows_locked_by_another_transaction_are_left_for_later_without_waiting(
    routing: Routing, conn: asyncpg.Connection, service_database: str
) -> None:
    await available_agent(routing, "L1")
    await available_agent(routing, "L2")
    first, second, third = await queued(routing, 3)
    other = await connect(service_database)
    try:
        async with other.transaction():
            await other.execute("SELECT 1 FROM work_item WHERE work_id = $1 FOR UPDATE", first)
            await other.execute("SELECT 1 FROM agent WHERE agent_id = 'L2' FOR UPDATE")
            result = await asyncio.wait_for(offer_batch(conn, [(first, "L1"), (second, "L2"), (third, "L1")]), 10)
    finally:
        await other.close()
    assert [w for w, _ in result.made] == [third]
    assert set(result.rejected) == {(first, "L1", BUSY_OR_GONE), (second, "L2", BUSY_OR_GONE)}
    assert await conn.fetchval("SELECT count(*) FROM offer") == 1


async def test_a_deposed_holder_offers_nothing_from_a_batch(routing: Routing, conn: asyncpg.Connection) -> None:
    await available_agent(routing, "D1")
    works = await queued(routing, 2)
    now = datetime.now(UTC)
    old = await leases.acquire_lease(conn, pool=POOL, holder="old", until=now - timedelta(seconds=1), now=now)
    new = await leases.acquire_lease(conn, pool=POOL, holder="new", until=now + timedelta(seconds=30), now=now)
    assert old is not None and new == old + 1
    with pytest.raises(Fenced):
        await offer_batch(conn, [(w, "D1") for w in works], holder="old", epoch=old)
    assert await conn.fetchval("SELECT count(*) FROM offer") == 0
    made = await offer_batch(conn, [(w, "D1") for w in works], holder="new", epoch=new)
    assert len(made.made) == 2


async def test_an_agent_who_is_away_or_inactive_gets_nothing_from_a_batch(
    routing: Routing, conn: asyncpg.Connection
) -> None:
    await available_agent(routing, "A1")
    await routing.put_agent("A2", pool=POOL)  # offline
    await available_agent(routing, "A3")
    await routing.put_agent("A3", pool=POOL, active=False)
    works = await queued(routing, 3)
    result = await offer_batch(conn, [(works[0], "A2"), (works[1], "A3"), (works[2], "A1")])
    assert [w for w, _ in result.made] == [works[2]]
    assert [why for _, _, why in result.rejected] == ["agent is offline", "agent not found or inactive"]


async def test_a_received_contact_is_queued_in_one_statement_and_a_repeat_only_updates_its_classification(
    routing: Routing, conn: asyncpg.Connection
) -> None:
    notices: list[str] = []
    await conn.add_listener(feed.CHANGE_CHANNEL, lambda *args: notices.append(args[3]))
    first = contact_received(POOL, required_skills=["billing:3"])
    repeat = first.model_copy(update={"category": "complaint", "priority_class": "urgent"})
    policy = await current_policy(conn)
    staged: list[asyncpg.Record] = []
    async with conn.transaction():
        tx = Tx(conn=conn, now=datetime.now(UTC), policy=policy, origin="test")
        await on_contact_received(tx, first, pool="default")
        await on_contact_received(tx, repeat, pool="default")
        staged.extend(await conn.fetch("SELECT value FROM outbox WHERE topic = 'routing.work'"))
    [work] = await conn.fetch("SELECT work_id, pool, state, work_class, requirements FROM work_item")
    assert (work["pool"], work["state"], work["work_class"]) == (POOL, "queued", "routine")
    assert work["requirements"] == [{"skill": "billing", "level": 3}]
    history = await conn.fetch("SELECT work_id, action, detail FROM work_history")
    assert [(h["work_id"], h["action"], h["detail"]) for h in history] == [
        (work["work_id"], "queued", {"reason": "new contact"})
    ]
    assert await conn.fetchval("SELECT count(*) FROM contact_message") == 1
    contact = await conn.fetchrow("SELECT category, priority_class FROM contact")
    assert contact is not None and tuple(contact) == ("complaint", "urgent")
    assert [json.loads(r["value"])["data"]["work_id"] for r in staged] == [str(work["work_id"])]
    notice = f"test|{POOL}|work|{work['work_id']}"
    await wait_until(lambda: notice in notices, timeout_s=10)  # notices arrive after the commit
    assert notice in notices


async def test_a_polled_batch_queues_its_contacts_together_in_arrival_order_and_keeps_each_contacts_order(
    routing: Routing, conn: asyncpg.Connection
) -> None:
    a, b, c = (contact_received(POOL, subject=name) for name in ("a", "b", "c"))
    follow_up = ContactMessageAddedV1(
        contact_id=a.contact_id,
        message_id=uuid.uuid4(),
        channel="chat",
        text="还在吗？",
        received_at=datetime.now(UTC),
    )
    a_again = a.model_copy(update={"message_id": uuid.uuid4(), "category": "complaint"})
    batch: list[Event] = [a, b, follow_up, a_again, c]
    policy = await current_policy(conn)
    async with conn.transaction():
        tx = Tx(conn=conn, now=datetime.now(UTC), policy=policy, origin="test")
        await handle_events(tx, batch, table=dispatch_table(pool="default"), pool="default")
        staged = await conn.fetch("SELECT value FROM outbox WHERE topic = 'routing.work' ORDER BY outbox_id")
    works = await conn.fetch("SELECT contact_id, work_id FROM work_item ORDER BY enqueued_at")
    assert [w["contact_id"] for w in works] == [a.contact_id, b.contact_id, c.contact_id]
    queued = [json.loads(r["value"])["data"] for r in staged]
    assert [q["work_id"] for q in queued] == [str(w["work_id"]) for w in works]
    messages = await conn.fetch(
        "SELECT message_id FROM contact_message WHERE contact_id = $1 ORDER BY received_at, message_id",
        a.contact_id,
    )
    assert {m["message_id"] for m in messages} == {a.message_id, follow_up.message_id, a_again.message_id}
    assert await conn.fetchval("SELECT category FROM contact WHERE contact_id = $1", a.contact_id) == "complaint"
    assert await conn.fetchval("SELECT count(*) FROM work_history WHERE action = 'queued'") == 3
