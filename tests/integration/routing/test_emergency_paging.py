"""Emergency paging on the real database and broker, with the clock in the test's hand: an emergency contact no
emergency-tier agent accepts or acknowledges within `emergency_page_after_s` pages the on-call list by SMS on
outbound.messages, once per contact, across a restart; the on-call list is admin data, audited."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.auth import Role
from shared.clock import ManualClock
from shared.events import OUTBOUND_MESSAGES
from shared.kafka import Producer
from shared.outbox import backlog
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
ADMIN: tuple[Role, str] = ("admin", "ad-1")


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


async def emergency(routing: Routing, pool: str) -> uuid.UUID:
    """An emergency contact (a security event) as intake announces it; returns once its page timer exists."""
    event = contact_received(pool, emergency=True, priority_class="urgent", category="security_event")
    producer = Producer(routing.settings)
    await producer.start()
    try:
        await publish(producer, event, subject=str(event.contact_id))
    finally:
        await producer.stop()

    async def started() -> bool:
        response = await routing.http.get(f"/v1/emergencies/{event.contact_id}", headers=_bearer(ADMIN))
        return response.status_code == 200

    await wait_until(started, timeout_s=30)
    return event.contact_id


def _bearer(who: tuple[Role, str]) -> dict[str, str]:
    return bearer(*who)


async def settle(routing: Routing, clock: ManualClock, contact_ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """Fire what is due until every page named is paged or acknowledged; their rows."""
    pages: dict[uuid.UUID, Any] = {}

    async def settled() -> bool:
        await routing.dispatcher.fire_due(clock.now())
        for contact_id in contact_ids:
            pages[contact_id] = await routing.call("GET", f"/v1/emergencies/{contact_id}", as_=ADMIN)
        return all(p["paged_at"] or p["acknowledged_at"] for p in pages.values())

    await wait_until(settled, timeout_s=30, interval_s=0.2)
    return pages


async def pages_sent(routing: Routing, contact_id: uuid.UUID) -> list[dict[str, Any]]:
    async def drained() -> bool:
        async with routing.app.state.pool.acquire() as conn:
            return await backlog(conn) == 0

    await wait_until(drained, timeout_s=30)
    envelopes = [
        json.loads(v) for _, v in await read_topic(routing.settings.kafka_bootstrap, OUTBOUND_MESSAGES.name)
    ]
    return [e["data"] for e in envelopes if e["subject"] == str(contact_id) and e["data"].get("kind") == "page"]


async def test_an_emergency_nobody_takes_pages_the_on_call_list_once_even_across_a_restart(
    test_stack: TestStack, service_database: str, clock: ManualClock, pool: str
) -> None:
    settings = routing_settings(test_stack, service_database)
    async with running_routing(settings, clock=clock) as routing:
        for on_call_id, phone, active in (
            ("duty-a", "+8613800000001", True),
            ("duty-b", "+8613800000002", True),
            ("retired", "+8613800000003", False),
        ):
            await routing.call(
                "PUT", f"/v1/on-call/{on_call_id}", json={"name": on_call_id, "phone": phone, "active": active},
                as_=ADMIN, expect=201,
            )  # fmt: skip
        await routing.put_agent("em-1", pool=pool, tier="emergency")
        nobody = await emergency(routing, pool)
        acknowledged = await emergency(routing, pool)
        taken = await emergency(routing, pool)
        await routing.call("POST", f"/v1/emergencies/{acknowledged}/acknowledge", as_=("agent", "em-1"))
        work_id = (await routing.call("GET", f"/v1/emergencies/{taken}", as_=ADMIN))["work_id"]
        await routing.call(
            "POST", f"/v1/work/{work_id}/assign", json={"agent_id": "em-1", "override_capacity": True},
            as_=("supervisor", "S-1"),
        )  # fmt: skip

        clock.advance(timedelta(seconds=121))
        pages = await settle(routing, clock, [nobody, acknowledged, taken])
        assert pages[nobody]["paged_at"] is not None
        assert (pages[acknowledged]["paged_at"], pages[acknowledged]["acknowledged_by"]) == (None, "agent:em-1")
        assert (pages[taken]["paged_at"], pages[taken]["acknowledged_by"]) == (None, "accepted:em-1")
        waiting = await emergency(routing, pool)  # its page is due after the restart

    clock.advance(timedelta(seconds=121))
    async with running_routing(settings, clock=clock) as again:
        await settle(again, clock, [waiting, nobody])
        for contact_id in (nobody, waiting):
            sent = await pages_sent(again, contact_id)
            assert sorted(p["recipient"] for p in sent) == ["+8613800000001", "+8613800000002"], "once each"
            assert {(p["channel"], p["template"], p["origin"]) for p in sent} == {
                ("sms", "emergency_page", "routing")
            }
            assert sent[0]["variables"]["category"] == "security_event"
        for contact_id in (acknowledged, taken):
            assert await pages_sent(again, contact_id) == []
        history = (await again.work(str(pages[nobody]["work_id"])))["history"]
        assert [h["action"] for h in history].count("emergency_paged") == 1


async def test_the_on_call_list_is_kept_by_admins_validated_and_audited_without_the_number(
    routing: Routing,
) -> None:
    refused = await routing.http.put(
        "/v1/on-call/duty-a", json={"name": "值班经理", "phone": "13800000001"}, headers=_bearer(ADMIN)
    )
    assert refused.status_code == 422 and "phone" in refused.json()["detail"]
    await routing.call(
        "PUT", "/v1/on-call/duty-a", json={"name": "值班经理", "phone": "+8613800000001"}, as_=ADMIN, expect=201
    )
    await routing.call(
        "PUT", "/v1/on-call/duty-a", json={"name": "值班经理", "phone": "+8613800000009"}, as_=ADMIN, expect=200
    )
    await routing.call("PUT", "/v1/on-call/duty-b", json={"name": "x", "phone": "+8613800000002"},
                       as_=("supervisor", "S-1"), expect=403)  # fmt: skip
    listed = await routing.call("GET", "/v1/on-call", as_=("supervisor", "S-1"))
    assert [(e["on_call_id"], e["phone"]) for e in listed] == [("duty-a", "+8613800000009")]
    assert (await routing.http.delete("/v1/on-call/duty-a", headers=_bearer(ADMIN))).status_code == 204
    assert (await routing.http.delete("/v1/on-call/duty-a", headers=_bearer(ADMIN))).status_code == 404
    audit = await routing.call("GET", "/v1/audit?target=on_call:duty-a", as_=ADMIN)
    assert [a["action"] for a in audit] == ["on_call_removed", "on_call_changed", "on_call_added"]
    assert audit[1]["detail"]["phone"] == "…0009" and "+86138" not in json.dumps(audit)


async def test_only_the_emergency_team_or_a_supervisor_acknowledges(routing: Routing, pool: str) -> None:
    await routing.put_agent("front", pool=pool)
    contact_id = await emergency(routing, pool)
    refused = await routing.http.post(
        f"/v1/emergencies/{contact_id}/acknowledge", headers=_bearer(("agent", "front"))
    )
    assert refused.status_code == 403
    page = await routing.call("POST", f"/v1/emergencies/{contact_id}/acknowledge", as_=("supervisor", "S-1"))
    assert page["acknowledged_by"] == "supervisor:S-1"
    unknown = await routing.http.post(f"/v1/emergencies/{uuid.uuid4()}/acknowledge", headers=_bearer(ADMIN))
    assert unknown.status_code == 404

    await routing.put_agent("em-2", pool=pool, tier="emergency")
    desk = await routing.desktop("em-2", available=False)
    await desk.send({"type": "presence", "presence": "away"})  # at the desk, taking no offers: still alerted
    second = await emergency(routing, pool)
    alert = await desk.next_of("alert", work__contact_id=str(second))
    assert alert["reason"] == "emergency contact"
    reply = await desk.send({"type": "acknowledge", "contact_id": str(second)})
    assert (reply["type"], reply["paged"]) == ("acknowledged", False)
    page = await routing.call("GET", f"/v1/emergencies/{second}", as_=ADMIN)
    assert page["acknowledged_by"] == "agent:em-2"
    await desk.close()
