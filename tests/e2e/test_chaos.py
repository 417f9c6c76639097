"""Chaos on the whole stack: an adapter posts contacts all along (retrying each with its Idempotency-Key on errors,
timeouts, 503 and 429) and two agents take offers over HTTP, while each service is killed with SIGKILL, the
broker is killed and PostgreSQL is restarted, each brought back the way `switchboard up` does. Afterwards every
accepted contact is in every service exactly once, no offer, assignment or escalation is doubled, nothing is
dead-lettered, and every service is ready without anything restarted by hand: background loops recovered on
their own. The counts and recovery times are printed and written to `chaos-report.json` in the state dir."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest

from deploy.config import StackSettings
from deploy.stack import Stack
from shared.events import SERVICES, dlq_topic
from tests.e2e.load import (
    FAST_POLICY,
    FAST_POLICY_ID,
    Adapter,
    agent,
    doubled,
    everywhere,
    kill9,
    server_errors,
    wait_everywhere,
)
from tests.support import ROOT, free_port_stack_settings, read_topic, wait_until

pytestmark = pytest.mark.e2e

RATE_PER_S = 6.0
"""Contacts the adapter starts posting a second (each retried until accepted)."""
CALM_S = 3.0
"""Load without faults before the first fault and between faults."""
AGENTS = ("A-CHAOS-1", "A-CHAOS-2")


@pytest.fixture(scope="module")
def chaos_stack() -> Iterator[Stack]:
    state = ROOT / ".switchboard" / "test-chaos"
    if state.exists():
        Stack(StackSettings(state_dir=state)).down()
        shutil.rmtree(state)
    stack = Stack(free_port_stack_settings(state))
    try:
        asyncio.run(stack.up(services=True))
        yield stack
    finally:
        stack.down()


async def up(stack: Stack) -> None:
    """`switchboard up` (it starts whatever is not running and waits until every service is ready), in a thread
    of its own: its blocking steps must not stall the adapter."""
    await asyncio.to_thread(asyncio.run, stack.up(services=True))


async def test_nothing_accepted_is_lost_or_doubled_while_services_the_broker_and_the_database_fail(
    chaos_stack: Stack,
) -> None:
    stack = chaos_stack
    s = stack.settings
    base = {name: f"http://127.0.0.1:{s.service_port(name)}" for name in SERVICES}
    admin = {"Authorization": f"Bearer {stack.token('admin', 'chaos-admin')}"}
    async with httpx.AsyncClient(timeout=10) as http:
        policy = f"{base['sla']}/v1/sla/policies/{FAST_POLICY_ID}"
        changed = await http.put(policy, json=FAST_POLICY, headers=admin)
        assert changed.status_code == 200, changed.text
        for name in AGENTS:
            created = await http.put(
                f"{base['routing']}/v1/agents/{name}",
                json={"display_name": name, "tier": "senior", "languages": ["zh-Hans"], "skills": {"general": 3}},
                headers=admin,
            )
            assert created.status_code in (200, 201), created.text

    key = (await stack.create_api_key("chaos-gateway", ["web"])).key
    adapter = Adapter([base["intake"]], key, rate_per_s=RATE_PER_S)
    tally: Counter[str] = Counter()
    stop = asyncio.Event()
    load = asyncio.create_task(adapter.run(stop))
    agents = [
        asyncio.create_task(agent([base["routing"]], stack.token("agent", name), name, stop, tally))
        for name in AGENTS
    ]

    def service(name: str) -> Callable[[], Awaitable[None]]:
        async def fault() -> None:
            await kill9(stack.services[name].pid(), s.service_port(name))

        return fault

    async def broker() -> None:
        await kill9(stack.kafka.process.pid(), s.kafka_port)

    async def database() -> None:
        await asyncio.to_thread(stack.postgres.stop)

    faults: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("kill -9 intake", service("intake")),
        ("kill -9 routing", service("routing")),
        ("kill -9 sla", service("sla")),
        ("kill -9 broker", broker),
        ("restart PostgreSQL", database),
        ("kill -9 feedback", service("feedback")),
        ("kill -9 knowledge", service("knowledge")),
    ]
    recovery: dict[str, dict[str, float]] = {}
    started = time.monotonic()
    try:
        await asyncio.sleep(CALM_S)
        for name, fault in faults:
            t0 = time.monotonic()
            await fault()
            await up(stack)
            ready = time.monotonic() - t0
            await wait_until(lambda t0=t0: adapter.first_accepted_after(t0), timeout_s=60, interval_s=0.1)
            first = adapter.first_accepted_after(t0)
            assert first is not None
            # A contact accepted after the fault has reached every service: the pipeline runs again.
            await wait_until(lambda c=first[1]: everywhere(s, c), timeout_s=120, interval_s=0.2)
            recovery[name] = {
                "stack_ready_s": round(ready, 1),
                "first_accepted_s": round(first[0] - t0, 1),
                "pipeline_s": round(time.monotonic() - t0, 1),
            }
            await asyncio.sleep(CALM_S)
    finally:
        stop.set()
        await asyncio.wait_for(load, timeout=240)
        for task in agents:
            await task
    load_s = time.monotonic() - started

    assert adapter.refused == [], adapter.refused
    assert server_errors(adapter, tally) == [], (adapter.statuses, tally)
    contacts = set(adapter.accepted.values())
    assert len(adapter.accepted) == adapter.posted, "every contact the adapter posted was accepted in the end"
    assert len(contacts) == len(adapter.accepted), "no two posts became one contact"

    settle_started = time.monotonic()
    counts = await wait_everywhere(s, contacts)
    settled_s = time.monotonic() - settle_started

    twice = await doubled(s, contacts)
    assert twice["intake contacts beyond the accepted"] == 0
    assert twice["contacts with two open or two contact work items"] == 0
    assert twice["offers published twice"] == 0 and twice["works assigned twice"] == 0
    assert twice["SLA alerts fired twice"] == 0
    letters = {name: len(await read_topic(s.kafka_bootstrap, dlq_topic(name).name)) for name in SERVICES}
    assert sum(letters.values()) == 0, f"dead letters: {letters}"
    async with httpx.AsyncClient(timeout=5) as http:
        for name in SERVICES:
            answer = await http.get(f"{base[name]}/health/ready")
            assert answer.status_code == 200, f"{name} not ready after the run: {answer.text}"

    report = {
        "posted": adapter.posted,
        "accepted": len(contacts),
        "per_service": counts,
        "answers": dict(adapter.statuses),
        "agents": dict(tally),
        "dead_letters": letters,
        "doubled": twice,
        "recovery": recovery,
        "load_s": round(load_s, 1),
        "settled_after_load_s": round(settled_s, 1),
    }
    (s.state / "chaos-report.json").write_text(json.dumps(report, indent=2))
    print("\nchaos report:", json.dumps(report, indent=2))  # noqa: T201
