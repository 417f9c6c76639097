"""The work lifecycle against the real database, with the clock in the test's hand: offers that time out
(`fire_due`, no sleeping), declines, the supervisor queue, capacity on manual assignment, transfers that keep
the first owner, pending, the three clears, reopen, desktop disconnects, explain and dry-run."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.routing.dispatcher.rounds import REFIRE_S
from services.routing.domain.lifecycle import Conflict
from services.routing.domain.timers import TimerKind
from services.routing.handlers.common import Tx
from services.routing.handlers.offers import accept_offer
from shared.auth import Role
from shared.clock import ManualClock
from shared.db import Conn, connect
from shared.tx import Actor
from tests.integration.routing.harness import Desktop, Routing, bearer, routing_settings, running_routing
from tests.support import TestStack, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def routing(test_stack: TestStack, service_database: str, clock: ManualClock) -> AsyncIterator[Routing]:
    async with running_routing(routing_settings(test_stack, service_database), clock=clock) as service:
        yield service


@pytest.fixture
def pool() -> str:
    return f"p-{uuid.uuid4().hex[:8]}"


async def offered(desk: Desktop, work_id: str) -> dict[str, Any]:
    return await desk.next_of("offer", work__work_id=work_id)


async def state_of(routing: Routing, work_id: str, state: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def reached() -> bool:
        found.update(await routing.work(work_id))
        return bool(found["work"]["state"] == state)

    await wait_until(reached, timeout_s=15, interval_s=0.1)
    return found


async def test_unanswered_offers_expire_move_on_and_after_three_the_work_waits_for_a_supervisor(
    routing: Routing, clock: ManualClock, pool: str
) -> None:
    desks = {}
    for n in range(4):
        await routing.put_agent(f"R{n}", pool=pool)
        desks[f"R{n}"] = await routing.desktop(f"R{n}")
        clock.advance(timedelta(seconds=1))  # R0 has idled longest
    work = await routing.manual_work(pool)
    tried: list[str] = []
    for _attempt in range(3):
        offer_agent = await _offered_to(routing, work["work_id"], exclude=tried)
        tried.append(offer_agent)
        await offered(desks[offer_agent], work["work_id"])
        clock.advance(timedelta(seconds=21))
        await routing.dispatcher.fire_due(clock.now())
        closed = await desks[offer_agent].next_of("offer_closed", work_id=work["work_id"])
        assert closed["status"] == "expired"
    assert tried == ["R0", "R1", "R2"]
    found = await state_of(routing, work["work_id"], "supervisor")
    assert found["work"]["offers_failed"] == 3
    queue = await routing.call("GET", f"/v1/supervisor/queue?pool={pool}")
    assert [w["work_id"] for w in queue["supervisor_queue"]] == [work["work_id"]]
    assert queue["queues"] == []  # at the supervisor, the work waits in no pool's queue
    assert {a["agent_id"] for a in queue["agents"]["away"]} == {"R0", "R1", "R2"}  # a missed offer sets away
    assert [e["action"] for e in found["history"]].count("offer_expired") == 3


async def someone_waits_on_a_lock(conn: Conn) -> None:
    """Until a session of this database waits on a row lock (the transaction under test, blocked by `conn`'s)."""

    async def waiting() -> bool:
        count = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(count)

    await wait_until(waiting, timeout_s=15, interval_s=0.05)


async def _offered_to(routing: Routing, work_id: str, *, exclude: list[str]) -> str:
    agent: list[str] = []

    async def live() -> bool:
        offers = (await routing.work(work_id))["offers"]
        agent[:] = [o["agent_id"] for o in offers if o["status"] == "live" and o["agent_id"] not in exclude]
        return bool(agent)

    await wait_until(live, timeout_s=15, interval_s=0.1)
    return agent[0]


async def test_a_declined_offer_goes_to_the_next_best_agent_and_never_back(
    routing: Routing, clock: ManualClock, pool: str
) -> None:
    await routing.put_agent("expert", pool=pool, skills={"billing": 5})
    await routing.put_agent("good", pool=pool, skills={"billing": 3})
    expert = await routing.desktop("expert")
    good = await routing.desktop("good")
    work = await routing.manual_work(pool, required_skills=["billing:2"])
    offer = await offered(expert, work["work_id"])
    assert (await expert.send({"type": "decline", "offer_id": offer["offer_id"], "reason": "on a break"}))[
        "type"
    ] == "declined"
    second = await offered(good, work["work_id"])
    await good.send({"type": "accept", "offer_id": second["offer_id"]})
    found = await state_of(routing, work["work_id"], "assigned")
    assert [o["agent_id"] for o in found["offers"]] == ["expert", "good"]
    assert found["work"]["owner_id"] == "good" and found["work"]["first_owner_id"] == "good"
    explain = await routing.call("GET", f"/v1/work/{work['work_id']}/explain")
    assert explain["decisions"][0]["rule"].startswith("highest proficiency available (5)")
    assert explain["now"]["removed_by"]["excluded"]["examples"] == [
        {"agent_id": "expert", "why": "declined or missed this work before"}
    ]
    assert explain["decisions"][1]["agent_id"] == "good"


async def test_capacity_holds_on_manual_assignment_unless_a_supervisor_overrides_it_on_record(
    routing: Routing, pool: str
) -> None:
    await routing.put_agent("phone-agent", pool=pool, capacity={"phone": 1})
    desk = await routing.desktop("phone-agent")
    call = await routing.manual_work(pool, channel="phone")
    await desk.send({"type": "accept", "offer_id": (await offered(desk, call["work_id"]))["offer_id"]})
    await state_of(routing, call["work_id"], "assigned")
    email = await routing.manual_work(f"{pool}-other", channel="email")
    refused = await routing.call(
        "POST", f"/v1/work/{email['work_id']}/assign", json={"agent_id": "phone-agent"}, expect=409
    )
    assert "no free email slot" in refused["detail"]
    forced = await routing.call(
        "POST",
        f"/v1/work/{email['work_id']}/assign",
        json={"agent_id": "phone-agent", "override_capacity": True, "reason": "VIP asked for them"},
    )
    assert forced["work"]["state"] == "assigned"
    audit = await routing.call("GET", f"/v1/audit?target=work:{email['work_id']}", as_=("admin", "ad-1"))
    assert {"capacity_override", "assign"} <= {a["action"] for a in audit}
    assert all(a["actor"] == "supervisor:S-1" for a in audit)


async def test_transfers_keep_the_first_owner_and_a_department_needs_a_deadline(
    routing: Routing, clock: ManualClock, pool: str
) -> None:
    await routing.put_agent("first", pool=pool, team="front")
    await routing.put_agent("specialist", pool=pool, team="billing", tier="senior")
    first = await routing.desktop("first")
    work = await routing.manual_work(pool)
    await first.send({"type": "accept", "offer_id": (await offered(first, work["work_id"]))["offer_id"]})
    await state_of(routing, work["work_id"], "assigned")
    specialist = await routing.desktop("specialist")
    moved = await routing.call(
        "POST", f"/v1/work/{work['work_id']}/transfer", json={"to_team": "billing"}, as_=("agent", "first")
    )
    assert moved["work"]["first_owner_id"] == "first"
    offer = await offered(specialist, work["work_id"])
    await specialist.send({"type": "accept", "offer_id": offer["offer_id"]})
    found = await state_of(routing, work["work_id"], "assigned")
    assert found["work"]["owner_id"] == "specialist" and found["work"]["first_owner_id"] == "first"
    no_deadline = await routing.call(
        "POST",
        f"/v1/work/{work['work_id']}/transfer",
        json={"to_department": "财务部"},
        as_=("agent", "specialist"),
        expect=409,
    )
    assert "deadline" in no_deadline["detail"]
    deadline = (clock.now() + timedelta(days=2)).isoformat()
    pending = await routing.call(
        "POST",
        f"/v1/work/{work['work_id']}/transfer",
        json={"to_department": "财务部", "deadline": deadline},
        as_=("agent", "specialist"),
    )
    assert pending["work"]["state"] == "pending_department"
    assert pending["work"]["pending_department"] == "财务部"
    agent = await routing.call("GET", "/v1/agents/specialist")
    assert agent["load"] == {}  # pending gives the slot back; the specialist still owns the work


async def test_closing_needs_the_three_clears_and_a_reopen_goes_back_to_the_first_owner(
    routing: Routing, pool: str
) -> None:
    await routing.put_agent("owner", pool=pool)
    await routing.put_agent("other", pool=pool)
    owner = await routing.desktop("owner")
    other = await routing.desktop("other", available=False)
    work = await routing.manual_work(pool)
    await owner.send({"type": "accept", "offer_id": (await offered(owner, work["work_id"]))["offer_id"]})
    await state_of(routing, work["work_id"], "assigned")
    as_owner: tuple[Role, str] = ("agent", "owner")
    resolve = {
        "resolution_code": "explained",
        "final_note": "已解释计费规则",
        "fcr": True,
        "send_end_notice": False,
    }
    resolved = await routing.call("POST", f"/v1/work/{work['work_id']}/resolve", json=resolve, as_=as_owner)
    assert resolved["work"]["state"] == "resolved" and resolved["work"]["customer_notified"] is False
    refused = await routing.call("POST", f"/v1/work/{work['work_id']}/close", json={}, as_=as_owner, expect=409)
    assert "clear feedback" in refused["detail"]
    await routing.call("POST", f"/v1/work/{work['work_id']}/notify", json={"sent_elsewhere": True}, as_=as_owner)
    closed = await routing.call("POST", f"/v1/work/{work['work_id']}/close", json={}, as_=as_owner)
    assert closed["work"]["state"] == "closed"
    await other.send({"type": "presence", "presence": "available"})
    stranger = await routing.call(
        "POST", f"/v1/work/{work['work_id']}/reopen", json={"reason": "x"}, as_=("agent", "other"), expect=403
    )
    assert "handled" in stranger["detail"]  # only an agent who handled it, or a supervisor
    await routing.call("POST", f"/v1/work/{work['work_id']}/reopen", json={"reason": "客户说没有解决"})
    again = await owner.next_of("offer", work__work_id=work["work_id"], work__reopened=1)
    assert again["work"]["target_agent_id"] == "owner"  # held for the first owner
    assert not [m for m in other.of("offer") if m["work"]["work_id"] == work["work_id"]]


async def test_a_desktop_resumes_after_a_short_disconnect_and_a_long_one_makes_the_agent_offline(
    routing: Routing, clock: ManualClock, pool: str
) -> None:
    policy = await routing.call("GET", "/v1/routing/policy")
    document = {**policy["document"], "offer_timeout_s": 120}
    await routing.call(
        "PUT", "/v1/routing/policy", json={"document": document, "note": "long offers"}, as_=("admin", "ad-1")
    )
    await routing.put_agent("flaky", pool=pool)
    await routing.put_agent("steady", pool=pool)
    desk = await routing.desktop("flaky")
    work = await routing.manual_work(pool)
    offer = await offered(desk, work["work_id"])
    last_id = max(m["id"] for m in desk.received if "id" in m)
    await desk.close()
    await wait_until(lambda: "flaky" not in routing.state.hub.sessions)
    back = await routing.desktop("flaky", after=last_id - 1, available=False)
    await back.next_of("offer", offer_id=offer["offer_id"], timeout_s=10)
    assert len([m for m in back.of("offer") if m["offer_id"] == offer["offer_id"]]) == 1  # resumed, not doubled
    await back.close()
    steady = await routing.desktop("steady")
    await wait_until(lambda: "flaky" not in routing.state.hub.sessions)
    clock.advance(timedelta(seconds=31))
    await routing.dispatcher.fire_due(clock.now())
    moved = await offered(steady, work["work_id"])
    assert moved["work"]["offers_failed"] == 0  # withdrawn because the agent left, not counted as a failure
    agent = await routing.call("GET", "/v1/agents/flaky")
    assert agent["presence"] == "offline" and agent["presence_reason"] == "desktop disconnected"


async def test_dry_run_explains_a_hypothetical_contact_without_offering_anything(
    routing: Routing, pool: str
) -> None:
    await routing.put_agent("zh-front", pool=pool, skills={"billing": 4})
    await routing.put_agent("en-senior", pool=pool, tier="senior", languages=["en"], skills={"billing": 5})
    await routing.put_agent("zh-senior", pool=pool, tier="senior", skills={"billing": 2})
    for agent in ("zh-front", "en-senior", "zh-senior"):
        await routing.desktop(agent)
    body = {
        "channel": "chat",
        "grade": "strategic",
        "language": "zh",
        "required_skills": ["billing:3"],
        "pool": pool,
    }
    result = await routing.call("POST", "/v1/routing/dry-run", json=body)
    assert result["would_choose"] is None
    assert result["removed_by"]["tier"]["examples"][0]["agent_id"] == "zh-front"
    assert result["removed_by"]["language"]["count"] == 1
    assert result["removed_by"]["skill"]["examples"][0]["why"] == "billing level 2 < 3"
    relaxed = await routing.call("POST", "/v1/routing/dry-run", json={**body, "waited_s": 120})
    assert relaxed["would_choose"] == "zh-senior" and relaxed["requirements_relaxed"] is True
    assert relaxed["priority_parts"]["grade_bonus"] == 300
    queue = await routing.call("GET", f"/v1/supervisor/queue?pool={pool}")
    assert queue["waiting"] == 0


async def test_an_offer_expiring_while_its_agent_accepts_another_leaves_the_dispatcher_running(
    routing: Routing, clock: ManualClock, pool: str, service_database: str
) -> None:
    """The expiry sets the agent away, which withdraws the agent's other live offers, read unlocked; the agent
    accepts one of them meanwhile. That offer has nothing left to withdraw: the expiry completes (it used to
    raise "the offer is no longer live" and kill the dispatcher, after which routing offered nothing)."""
    await routing.put_agent("A", pool=pool)
    desk = await routing.desktop("A")
    first = await routing.manual_work(pool)
    first_offer = await offered(desk, first["work_id"])
    clock.advance(timedelta(seconds=5))
    second = await routing.manual_work(pool)
    second_offer = await offered(desk, second["work_id"])
    clock.advance(timedelta(seconds=16))  # the first offer is past its 20 s, the second is not
    conn = await connect(service_database)
    try:
        accepting = conn.transaction()
        await accepting.start()
        tx = Tx(conn=conn, now=clock.now(), policy=routing.dispatcher.policy, origin="test")
        await accept_offer(tx, offer_id=uuid.UUID(second_offer["offer_id"]), actor=Actor("agent", "A"))
        expiry = asyncio.create_task(routing.dispatcher.fire_due(clock.now()))

        await someone_waits_on_a_lock(conn)
        await accepting.commit()
        await expiry
    finally:
        await conn.close()
    assert (await state_of(routing, second["work_id"], "assigned"))["work"]["owner_id"] == "A"
    found = await state_of(routing, first["work_id"], "queued")
    assert [o["status"] for o in found["offers"]] == ["expired"]
    closed = await desk.next_of("offer_closed", work_id=first["work_id"])
    assert (closed["offer_id"], closed["status"]) == (first_offer["offer_id"], "expired")
    assert (await routing.call("GET", "/v1/agents/A"))["presence"] == "away"
    assert routing.app.state.runtime.tasks.failures() == {}


async def test_a_supervisor_assigning_offered_work_while_its_agent_accepts_does_not_deadlock(
    routing: Routing, pool: str, service_database: str
) -> None:
    """Every path that closes an offer locks agent → offer → work. A supervisor assigning offered work used to
    lock the work first and the offer after, while an accept locks the offer first and the work after: caught
    in between, PostgreSQL broke the deadlock by failing one of them."""
    await routing.put_agent("A", pool=pool)
    await routing.put_agent("B", pool=pool)
    desk = await routing.desktop("A")
    work = await routing.manual_work(pool)
    offer = await offered(desk, work["work_id"])
    conn = await connect(service_database)
    try:
        accepting = conn.transaction()
        await accepting.start()
        # An accept's first half: the offer locked (`accept_offer` locks the work next).
        await conn.execute("SELECT 1 FROM offer WHERE offer_id = $1 FOR UPDATE", uuid.UUID(offer["offer_id"]))
        assigning = asyncio.create_task(
            routing.http.post(
                f"/v1/work/{work['work_id']}/assign",
                headers=bearer("supervisor", "S-1"),
                json={"agent_id": "B", "reason": "B knows this customer"},
            )
        )

        await someone_waits_on_a_lock(conn)
        # The accept's second half: the work. The supervisor's assignment must not hold it already.
        await conn.execute(
            "SELECT 1 FROM work_item WHERE work_id = $1 FOR UPDATE", uuid.UUID(work["work_id"]), timeout=5
        )
        await accepting.rollback()  # the agent thought better of it
        response = await assigning
    finally:
        await conn.close()
    assert response.status_code == 200, response.text
    found = await state_of(routing, work["work_id"], "assigned")
    assert found["work"]["owner_id"] == "B"
    assert [o["status"] for o in found["offers"]] == ["withdrawn"]


async def test_a_timer_that_meets_a_concurrent_change_fires_again_instead_of_ending_the_dispatcher(
    routing: Routing, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatcher = routing.dispatcher
    fire = dispatcher._fire
    met: list[str] = []

    async def racing(kind: TimerKind, key: str, now: datetime) -> None:
        if not met:
            met.append(key)
            raise Conflict("the offer is no longer live")
        await fire(kind, key, now)

    monkeypatch.setattr(dispatcher, "_fire", racing)
    now = clock.now()
    dispatcher.timers_.set("grace", "nobody", now)
    await dispatcher.fire_due(now)  # the dispatcher's own loop may have fired it first: the same outcome
    assert met == ["nobody"]
    assert dispatcher.timers_.next_due() == now + timedelta(seconds=REFIRE_S)
    clock.advance(timedelta(seconds=REFIRE_S))
    await dispatcher.fire_due(clock.now())
    assert dispatcher.timers_.next_due() is None
    assert routing.app.state.runtime.tasks.failures() == {}
