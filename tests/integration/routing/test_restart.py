"""A routing restart loses no waiting work and no assignment; an offer in flight can still be accepted after
the restart, or expires on time and moves on. A restart of PostgreSQL under a running routing service stops
nothing: desktops still get their offers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.clock import ManualClock
from shared.errors import PROBLEM_JSON
from tests.integration.routing.harness import bearer, routing_settings, running_routing
from tests.support import TestStack, database_down, wait_until

pytestmark = pytest.mark.integration


async def test_waiting_work_assignments_and_live_offers_survive_a_restart(
    test_stack: TestStack, service_database: str
) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    settings = routing_settings(test_stack, service_database)
    pool = f"p-{uuid.uuid4().hex[:8]}"
    async with running_routing(settings, clock=clock) as routing:
        for agent in ("keeper", "holder", "late"):
            await routing.put_agent(agent, pool=pool, capacity={"chat": 1})
        keeper = await routing.desktop("keeper")
        assigned = await routing.manual_work(pool)
        offer = await keeper.next_of("offer", work__work_id=assigned["work_id"])
        await keeper.send({"type": "accept", "offer_id": offer["offer_id"]})
        holder = await routing.desktop("holder")
        in_flight = await routing.manual_work(pool)
        live = await holder.next_of("offer", work__work_id=in_flight["work_id"])
        waiting = await routing.manual_work(pool)  # nobody free: it waits
        await keeper.close()
        await holder.close()
    clock.advance(timedelta(seconds=5))
    async with running_routing(settings, clock=clock) as routing:
        assert (await routing.work(assigned["work_id"]))["work"]["state"] == "assigned"
        accepted = await routing.call(
            "POST", f"/v1/offers/{live['offer_id']}/accept", json={}, as_=("agent", "holder")
        )
        assert accepted["work"]["state"] == "assigned"
        assert (await routing.work(waiting["work_id"]))["work"]["state"] == "queued"
        late = await routing.desktop("late")
        offered = await late.next_of("offer", work__work_id=waiting["work_id"], timeout_s=20)
        # Not answered: it expires on time after the restart too, and waits again.
        clock.advance(timedelta(seconds=21))
        await routing.dispatcher.fire_due(clock.now())
        closed = await late.next_of("offer_closed", offer_id=offered["offer_id"])
        assert closed["status"] == "expired"

        async def queued() -> bool:
            return bool((await routing.work(waiting["work_id"]))["work"]["state"] == "queued")

        await wait_until(queued, timeout_s=15)
        await late.close()


async def test_a_desktop_gets_its_offers_after_a_database_restart(
    test_stack: TestStack, service_database: str
) -> None:
    pool = f"p-{uuid.uuid4().hex[:8]}"
    async with running_routing(routing_settings(test_stack, service_database)) as routing:
        await routing.put_agent("steady", pool=pool, capacity={"chat": 2})
        desk = await routing.desktop("steady")
        before = await routing.manual_work(pool)
        await desk.next_of("offer", work__work_id=before["work_id"])
        async with database_down(test_stack):
            unanswered = await desk.send({"type": "presence", "presence": "available"})
        assert unanswered["type"] == "error" and unanswered["retry_after"] > 0, unanswered
        created: list[str] = []

        async def work_created() -> bool:
            """A request meeting a pooled connection the restart closed answers 503; the adapter tries again."""
            response = await routing.http.post(
                "/v1/work",
                json={"channel": "chat", "pool": pool, "language": "zh"},
                headers=bearer("supervisor", "S-1"),
            )
            if response.status_code == 503:
                assert response.headers["content-type"] == PROBLEM_JSON and "retry-after" in response.headers
                return False
            assert response.status_code == 201, response.text
            created.append(response.json()["work"]["work_id"])
            return True

        await wait_until(work_created, timeout_s=30)
        await desk.next_of("offer", work__work_id=created[0], timeout_s=30)
        runtime = routing.app.state.runtime
        assert runtime.tasks.restarts()["dispatcher"] == 0
        assert runtime.tasks.restarts()["desktop-listener"] == 0
        await desk.close()
