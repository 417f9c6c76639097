"""Revoking a person: their tokens stop working within a minute on every request and on an open desktop, and a
token that outlives the limit is refused — over the real routing app."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from websockets.exceptions import ConnectionClosed

from shared.auth import Revocations, revoke_subject
from shared.clock import utcnow
from tests.integration.routing.harness import Routing, bearer, routing_settings, running_routing
from tests.support import TestStack, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
async def routing(test_stack: TestStack, service_database: str) -> AsyncIterator[Routing]:
    settings = routing_settings(test_stack, service_database, desktop_access_recheck_s=0.2)
    async with running_routing(settings) as service:
        service.app.state.revocations = Revocations(ttl=0.1)  # the 30 s cache, shortened for the test
        yield service


async def test_a_revoked_agent_is_refused_and_their_open_desktop_closed(routing: Routing) -> None:
    pool = "p-revoke"
    await routing.put_agent("leaver", pool=pool)
    desk = await routing.desktop("leaver")
    theirs = bearer("agent", "leaver")  # issued before the revocation, as everything they hold
    assert (await routing.http.get("/v1/agents/leaver", headers=theirs)).status_code in (200, 403)
    async with routing.app.state.runtime.pool.acquire() as conn:
        await revoke_subject(conn, subject="leaver", by="test", reason="left the company", now=utcnow())

    async def refused() -> bool:
        response = await routing.http.get("/v1/agents/leaver", headers=theirs)
        return response.status_code == 401 and "revoked" in response.json()["detail"]

    await wait_until(refused, timeout_s=10)

    async def closed() -> bool:
        try:
            await desk.socket.send('{"type": "ping"}')
        except ConnectionClosed as exc:
            return exc.rcvd is not None and exc.rcvd.code == 4401
        return False

    await wait_until(closed, timeout_s=10)
    other = await routing.http.get("/v1/agents/leaver", headers=bearer("supervisor", "boss"))
    assert other.status_code == 200, "only the revoked subject is refused"
