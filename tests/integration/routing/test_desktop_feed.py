"""The desktop feed on the real database: a message whose transaction commits after a later message's still
reaches the socket (feed ids are taken at insert, not at commit), once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from services.routing.hub import DesktopHub, Session
from services.routing.repository import feed
from shared.clock import SystemClock
from shared.db import connect
from tests.integration.routing.harness import Routing, routing_settings, running_routing
from tests.support import TestStack, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
async def routing(test_stack: TestStack, service_database: str) -> AsyncIterator[Routing]:
    async with running_routing(routing_settings(test_stack, service_database)) as service:
        yield service


async def test_a_message_that_commits_after_a_later_one_still_reaches_the_desktop_once(routing: Routing) -> None:
    await routing.put_agent("late-reader", pool=f"p-{uuid.uuid4().hex[:8]}")
    desk = await routing.desktop("late-reader", available=False)
    slow = await connect(routing.settings.database_url)
    quick = await connect(routing.settings.database_url)
    try:
        transaction = slow.transaction()
        await transaction.start()
        early = await feed.to_desktop(
            slow, agent_id="late-reader", kind="note", body={"n": "first id, commits last"}, now=datetime.now(UTC)
        )
        later = await feed.to_desktop(
            quick,
            agent_id="late-reader",
            kind="note",
            body={"n": "second id, commits first"},
            now=datetime.now(UTC),
        )
        assert early < later
        await desk.next_of("note", id=later, timeout_s=15)
        await transaction.commit()
        await desk.next_of("note", id=early, timeout_s=15)
        # A third message wakes the pusher again: neither earlier message comes twice.
        third = await feed.to_desktop(quick, agent_id="late-reader", kind="note", body={}, now=datetime.now(UTC))
        await desk.next_of("note", id=third, timeout_s=15)
        notes = [m["id"] for m in desk.of("note")]
        assert sorted(notes) == [early, later, third] and len(notes) == 3
    finally:
        await slow.close()
        await quick.close()
        await desk.close()


class StubSocket:
    """Stands in for a desktop's WebSocket; `stuck` ones do not take anything until released."""

    def __init__(self, *, stuck: bool = False) -> None:
        self.received: list[dict[str, object]] = []
        self.released = asyncio.Event()
        if not stuck:
            self.released.set()

    async def send_json(self, data: dict[str, object]) -> None:
        await self.released.wait()
        self.received.append(data)


async def test_a_desktop_that_does_not_read_holds_up_no_other_desktop(routing: Routing) -> None:
    hub = DesktopHub(db=routing.app.state.pool, dsn=routing.settings.database_url, clock=SystemClock(), origin="t")
    await hub.start()
    stuck, reading = StubSocket(stuck=True), StubSocket()
    agents = [f"a-{uuid.uuid4().hex[:6]}", f"b-{uuid.uuid4().hex[:6]}"]
    for agent_id, socket in zip(agents, (stuck, reading), strict=True):
        await hub.attach(Session(socket, agent_id, floor=0))  # type: ignore[arg-type]
    conn = await connect(routing.settings.database_url)
    try:
        first = [
            await feed.to_desktop(conn, agent_id=a, kind="note", body={"n": 1}, now=datetime.now(UTC))
            for a in agents
        ]
        await wait_until(lambda: [m["id"] for m in reading.received] == [first[1]])
        later = await feed.to_desktop(conn, agent_id=agents[1], kind="note", body={"n": 2}, now=datetime.now(UTC))
        await wait_until(lambda: [m["id"] for m in reading.received] == [first[1], later])
        assert stuck.received == [], "the stuck desktop still holds its first message"
        stuck.released.set()
        await wait_until(lambda: [m["id"] for m in stuck.received] == [first[0]])
    finally:
        await conn.close()
        await hub.close()
