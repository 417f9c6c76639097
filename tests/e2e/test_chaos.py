"""Chaos on the whole stack: an adapter posts contacts all along (retrying each with its Idempotency-Key on errors,
timeouts, 503 and 429) and two agents take offers over HTTP, while each service is killed with SIGKILL, the
broker is killed and PostgreSQL is restarted, each brought back the way `switchboard up` does. Afterwards every
accepted contact is in every service exactly once, no offer, assignment or escalation is doubled, nothing is
dead-lettered, and every service is ready without anything restarted by hand: background loops recovered on
their own. The counts and recovery times are printed and written to `chaos-report.json` in the state dir."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest

from deploy.config import StackSettings
from deploy.stack import Stack, port_in_use
from shared.events import ROUTING_WORK, SERVICES, SLA_EVENTS, dlq_topic
from tests.support import ROOT, free_port_stack_settings, read_topic, wait_until

pytestmark = pytest.mark.e2e

RATE_PER_S = 6.0
"""Contacts the adapter starts posting a second (each retried until accepted)."""
CALM_S = 3.0
"""Load without faults before the first fault and between faults."""
AGENTS = ("A-CHAOS-1", "A-CHAOS-2")
POLICY_ID = "00000000-0000-4000-8000-000000000009"
"""The seeded basic routine web policy: given a 3-second first response here so escalations fire during the run."""
FAST_POLICY: dict[str, Any] = {
    "name": "Basic routine web (chaos test: seconds)",
    "grade": "basic",
    "priority_class": "routine",
    "channel": "web",
    "calendar_id": "24x7",
    "warning_fraction": 0.5,
    "ladder": [
        {"level": 1, "role": "team_lead"},
        {"level": 2, "role": "supervisor", "after_fraction": 0.5},
        {"level": 3, "role": "service_manager", "after_fraction": 1.0},
    ],
    "clocks": [
        {
            "clock": "first_response",
            "target": {"amount": 3, "unit": "seconds"},
            "stops_on": ["responded", "resolved"],
        }
    ],
}


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


@dataclass
class Adapter:
    """Posts web-form contacts at a steady rate; each contact is retried with its own Idempotency-Key until intake
    accepts it (202), whatever happens meanwhile."""

    url: str
    key: str
    posted: int = 0
    accepted: dict[str, str] = field(default_factory=dict)
    """Idempotency key → contact id."""
    statuses: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    """Answers no retry can change (4xx other than 429): none are expected."""
    accepted_at: list[tuple[float, str]] = field(default_factory=list)
    """When each contact was accepted (monotonic), in order."""

    def first_accepted_after(self, moment: float) -> tuple[float, str] | None:
        return next(((t, c) for t, c in self.accepted_at if t > moment), None)

    async def post_until_accepted(self, client: httpx.AsyncClient, number: int) -> None:
        key = f"chaos-{uuid.uuid4()}"
        body = {
            "form_id": "chaos",
            "submission_id": key,
            "name": "压力测试",
            "email": f"chaos{number}@example.com",
            "message": "请问信用卡的年费怎么收取？",
        }
        headers = {"Authorization": f"Bearer {self.key}", "Idempotency-Key": key}
        self.posted += 1
        while True:
            try:
                response = await client.post(f"{self.url}/v1/channels/web", json=body, headers=headers, timeout=5)
            except httpx.HTTPError as exc:
                self.statuses[type(exc).__name__] += 1
                await asyncio.sleep(0.5)
                continue
            self.statuses[str(response.status_code)] += 1
            if response.status_code == 202:
                self.accepted[key] = response.json()["contact_id"]
                self.accepted_at.append((time.monotonic(), self.accepted[key]))
                return
            if response.status_code in (429, 503):
                await asyncio.sleep(min(float(response.headers.get("retry-after", "1")), 2.0))
                continue
            if response.status_code >= 500:
                await asyncio.sleep(0.5)  # counted, and the test fails on it: an adapter cannot act on a 500
                continue
            self.refused.append(f"{response.status_code}: {response.text[:200]}")
            return

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient() as client:
            pending: set[asyncio.Task[None]] = set()
            number = 0
            while not stop.is_set():
                number += 1
                task = asyncio.create_task(self.post_until_accepted(client, number))
                pending.add(task)
                task.add_done_callback(pending.discard)
                await asyncio.sleep(1 / RATE_PER_S)
            if pending:
                await asyncio.wait(pending, timeout=180)
            for task in pending:
                task.cancel()


async def agent(url: str, token: str, name: str, stop: asyncio.Event, tally: Counter[str]) -> None:
    """An agent on the HTTP desktop feed: accepts every offer and resolves the work at once."""
    headers = {"Authorization": f"Bearer {token}"}
    after = 0
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=5) as client:
        while not stop.is_set():
            try:
                await client.put(f"/v1/agents/{name}/presence", json={"presence": "available"})
                feed = await client.get("/v1/desktop/feed", params={"after": after})
                for message in feed.json() if feed.status_code == 200 else []:
                    after = max(after, message["id"])
                    if message["type"] != "offer":
                        continue
                    accepted = await client.post(f"/v1/offers/{message['offer_id']}/accept")
                    tally[f"accept {accepted.status_code}"] += 1
                    if accepted.status_code != 200:
                        continue
                    work_id = accepted.json()["work"]["work_id"]
                    for step, body in (
                        ("start", {}),
                        ("solution", {"note": "已说明"}),
                        ("resolve", {"resolution_code": "answered", "final_note": "已解答", "fcr": True}),
                    ):
                        done = await client.post(f"/v1/work/{work_id}/{step}", json=body)
                        tally[f"{step} {done.status_code}"] += 1
            except httpx.HTTPError as exc:
                tally[type(exc).__name__] += 1
            await asyncio.sleep(0.3)


async def up(stack: Stack) -> None:
    """`switchboard up` (it starts whatever is not running and waits until every service is ready), in a thread
    of its own: its blocking steps must not stall the adapter."""
    await asyncio.to_thread(asyncio.run, stack.up(services=True))


async def kill9(pid: int | None, port: int) -> None:
    """SIGKILL, then wait until the process's threads are gone and its port is free (a JVM's leader thread is a
    zombie while the others still exit, holding the socket)."""
    assert pid is not None, "the component to kill is not running"
    os.kill(pid, signal.SIGKILL)
    await wait_until(lambda: not port_in_use(port), timeout_s=30, interval_s=0.05)


async def test_nothing_accepted_is_lost_or_doubled_while_services_the_broker_and_the_database_fail(
    chaos_stack: Stack,
) -> None:
    stack = chaos_stack
    s = stack.settings
    base = {name: f"http://127.0.0.1:{s.service_port(name)}" for name in SERVICES}
    admin = {"Authorization": f"Bearer {stack.token('admin', 'chaos-admin')}"}
    async with httpx.AsyncClient(timeout=10) as http:
        changed = await http.put(f"{base['sla']}/v1/sla/policies/{POLICY_ID}", json=FAST_POLICY, headers=admin)
        assert changed.status_code == 200, changed.text
        for name in AGENTS:
            created = await http.put(
                f"{base['routing']}/v1/agents/{name}",
                json={"display_name": name, "tier": "senior", "languages": ["zh-Hans"], "skills": {"general": 3}},
                headers=admin,
            )
            assert created.status_code in (200, 201), created.text

    adapter = Adapter(base["intake"], (await stack.create_api_key("chaos-gateway", ["web"])).key)
    tally: Counter[str] = Counter()
    stop = asyncio.Event()
    load = asyncio.create_task(adapter.run(stop))
    agents = [
        asyncio.create_task(agent(base["routing"], stack.token("agent", name), name, stop, tally))
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
            await wait_until(lambda c=first[1]: _everywhere(s, c), timeout_s=120, interval_s=0.2)
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
    assert not [s for s in adapter.statuses if s.isdigit() and int(s) >= 500 and s != "503"], adapter.statuses
    assert not [k for k in tally if k.split()[-1].startswith("5") and k.split()[-1] != "503"], tally
    contacts = set(adapter.accepted.values())
    assert len(adapter.accepted) == adapter.posted, "every contact the adapter posted was accepted in the end"
    assert len(contacts) == len(adapter.accepted), "no two posts became one contact"

    counts: dict[str, int] = {}

    async def everywhere() -> bool:
        counts.update(await _contacts_in_each_service(s, contacts))
        return all(n == len(contacts) for n in counts.values())

    settle_started = time.monotonic()
    try:
        await wait_until(everywhere, timeout_s=180, interval_s=1)
    except TimeoutError as exc:
        raise AssertionError(
            f"not every accepted contact reached every service: {counts} of {len(contacts)}"
        ) from exc
    settled_s = time.monotonic() - settle_started

    doubled = await _doubled(s, contacts)
    assert doubled["intake contacts beyond the accepted"] == 0
    assert doubled["contacts with two open or two contact work items"] == 0
    assert doubled["offers published twice"] == 0 and doubled["works assigned twice"] == 0
    assert doubled["SLA alerts fired twice"] == 0
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
        "doubled": doubled,
        "recovery": recovery,
        "load_s": round(load_s, 1),
        "settled_after_load_s": round(settled_s, 1),
    }
    (s.state / "chaos-report.json").write_text(json.dumps(report, indent=2))
    print("\nchaos report:", json.dumps(report, indent=2))  # noqa: T201


async def _everywhere(s: StackSettings, contact: str) -> bool:
    return all(n == 1 for n in (await _contacts_in_each_service(s, {contact})).values())


async def _contacts_in_each_service(s: StackSettings, contacts: set[str]) -> dict[str, int]:
    ids = [uuid.UUID(c) for c in contacts]
    queries = {
        "intake contact": ("intake", "SELECT count(*) FROM contact WHERE contact_id = ANY($1::uuid[])"),
        "routing work item": (
            "routing",
            "SELECT count(DISTINCT contact_id) FROM work_item WHERE kind = 'contact'"
            " AND contact_id = ANY($1::uuid[])",
        ),
        "sla clocks": (
            "sla",
            "SELECT count(DISTINCT contact_id) FROM sla_clock WHERE clock = 'first_response'"
            " AND contact_id = ANY($1::uuid[])",
        ),
        "feedback facts": ("feedback", "SELECT count(*) FROM contact_fact WHERE contact_id = ANY($1::uuid[])"),
        "knowledge context": (
            "knowledge",
            "SELECT count(*) FROM contact_context WHERE contact_id = ANY($1::uuid[])",
        ),
    }
    found: dict[str, int] = {}
    for what, (database, sql) in queries.items():
        conn = await asyncpg.connect(s.database_url(database), timeout=10)
        try:
            found[what] = int(await conn.fetchval(sql, ids))
        finally:
            await conn.close()
    return found


async def _doubled(s: StackSettings, contacts: set[str]) -> dict[str, int]:
    """Effects that happened twice: at the table (more rows than one per contact) and on the topics (two distinct
    events for one offer, assignment or alert; the same event id delivered twice is the transport's
    at-least-once, deduplicated by every consumer's inbox, and not counted)."""
    conn = await asyncpg.connect(s.database_url("intake"), timeout=10)
    try:
        extra_contacts = int(await conn.fetchval("SELECT count(*) FROM contact")) - len(contacts)
    finally:
        await conn.close()
    conn = await asyncpg.connect(s.database_url("routing"), timeout=10)
    try:
        two_works = int(
            await conn.fetchval(
                "SELECT count(*) FROM (SELECT contact_id FROM work_item WHERE kind = 'contact'"
                " GROUP BY contact_id HAVING count(*) > 1) AS twice"
            )
        )
    finally:
        await conn.close()
    offered: dict[str, set[str]] = {}
    assigned: dict[str, set[str]] = {}
    for _, value in await read_topic(s.kafka_bootstrap, ROUTING_WORK.name, timeout_s=60):
        event = json.loads(value)
        if event["type"] == "switchboard.work.offered.v1":
            offered.setdefault(event["data"]["offer_id"], set()).add(event["id"])
        elif event["type"] == "switchboard.work.assigned.v1":
            assigned.setdefault(event["data"]["work_id"], set()).add(event["id"])
    alerts: dict[tuple[str, str, str], set[str]] = {}
    for _, value in await read_topic(s.kafka_bootstrap, SLA_EVENTS.name, timeout_s=60):
        event = json.loads(value)
        kind = event["type"].removeprefix("switchboard.sla.").removesuffix(".v1")
        if event["subject"] in contacts and kind in ("warning", "breached", "escalated"):
            level = f"{kind}:{event['data'].get('level', '')}"
            alerts.setdefault((event["subject"], event["data"]["clock"], level), set()).add(event["id"])
    assert offered and assigned and alerts, (
        "offers, assignments and alerts happened, so their counts mean something"
    )
    return {
        "intake contacts beyond the accepted": extra_contacts,
        "contacts with two open or two contact work items": two_works,
        "offers published": len(offered),
        "offers published twice": sum(1 for ids in offered.values() if len(ids) > 1),
        "works assigned": len(assigned),
        "works assigned twice": sum(1 for ids in assigned.values() if len(ids) > 1),
        "SLA alerts fired": len(alerts),
        "SLA alerts fired twice": sum(1 for ids in alerts.values() if len(ids) > 1),
    }
