"""The desktop feed on the real database: a message whose transaction commits after a later message's still
reaches the socket (feed ids are taken at insert, not at commit), once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from services.routing.repository import feed
from shared.db import connect
from tests.integration.routing.harness import Routing, routing_settings, running_routing
from tests.support import TestStack

pytestmark = pytest.mark.integration


@pytest.fixture
async def routing(test_stack: TestStack, empty_database: str) -> AsyncIterator[Routing]:
    async with running_routing(routing_settings(test_stack, empty_database)) as service:
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
