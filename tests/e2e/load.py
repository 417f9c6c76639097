"""Load and checks the fault tests share: an adapter posting contacts until each is accepted, agents taking offers,
SIGKILL, and the counts that say nothing accepted was lost or done twice. An adapter or agent given several
instances' addresses spreads its requests over them and, like a load balancer, tries the next one when an
instance does not answer."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from deploy.config import StackSettings
from deploy.stack import port_in_use
from shared.events import ROUTING_WORK, SLA_EVENTS
from tests.support import read_topic, wait_until

FAST_POLICY_ID = "00000000-0000-4000-8000-000000000009"
"""The seeded basic routine web policy: given a 3-second first response so escalations fire during a run."""
FAST_POLICY: dict[str, Any] = {
    "name": "Basic routine web (fault tests: seconds)",
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
    "override_reason": "fault tests: a basic policy measured in seconds so escalations fire during the run",
}


@dataclass
class Adapter:
    """Posts web-form contacts at a steady rate; each contact is retried with its own Idempotency-Key until intake
    accepts it (202), whatever happens meanwhile. Contacts go to `urls` in turn; a retry after no answer goes to
    the next one."""

    urls: list[str]
    key: str
    rate_per_s: float = 6.0
    """Contacts started a second (each retried until accepted)."""
    posted: int = 0
    accepted: dict[str, str] = field(default_factory=dict)
    """Idempotency key → contact id."""
    accepted_by: Counter[str] = field(default_factory=Counter)
    """Accepted answers (202) by the URL that gave them."""
    statuses: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    """Answers no retry can change (4xx other than 429): none are expected."""
    accepted_at: list[tuple[float, str]] = field(default_factory=list)
    """When each contact was accepted (monotonic), in order."""

    def first_accepted_after(self, moment: float) -> tuple[float, str] | None:
        return next(((t, c) for t, c in self.accepted_at if t > moment), None)

    async def post_until_accepted(self, client: httpx.AsyncClient, number: int) -> None:
        key = f"load-{uuid.uuid4()}"
        body = {
            "form_id": "load",
            "submission_id": key,
            "name": "压力测试",
            "email": f"load{number}@example.com",
            "message": "请问信用卡的年费怎么收取？",
        }
        headers = {"Authorization": f"Bearer {self.key}", "Idempotency-Key": key}
        self.posted += 1
        turn = number
        while True:
            url = self.urls[turn % len(self.urls)]
            try:
                response = await client.post(f"{url}/v1/channels/web", json=body, headers=headers, timeout=5)
            except httpx.HTTPError as exc:
                self.statuses[type(exc).__name__] += 1
                turn += 1
                await asyncio.sleep(0.5)
                continue
            self.statuses[str(response.status_code)] += 1
            if response.status_code == 202:
                self.accepted[key] = response.json()["contact_id"]
                self.accepted_by[url] += 1
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
                await asyncio.sleep(1 / self.rate_per_s)
            if pending:
                await asyncio.wait(pending, timeout=180)
            for task in pending:
                task.cancel()


async def agent(urls: list[str], token: str, name: str, stop: asyncio.Event, tally: Counter[str]) -> None:
    """An agent on the HTTP desktop feed: accepts every offer and resolves the work at once. It talks to the first
    of `urls` and moves to the next when that one does not answer (its feed is in the database: any instance
    serves it)."""
    headers = {"Authorization": f"Bearer {token}"}
    after = 0
    turn = 0
    async with httpx.AsyncClient(headers=headers, timeout=5) as client:
        while not stop.is_set():
            url = urls[turn % len(urls)]
            try:
                await client.put(f"{url}/v1/agents/{name}/presence", json={"presence": "available"})
                feed = await client.get(f"{url}/v1/desktop/feed", params={"after": after})
                for message in feed.json() if feed.status_code == 200 else []:
                    after = max(after, message["id"])
                    if message["type"] != "offer":
                        continue
                    accepted = await client.post(f"{url}/v1/offers/{message['offer_id']}/accept")
                    tally[f"accept {accepted.status_code}"] += 1
                    if accepted.status_code != 200:
                        continue
                    tally[f"accepted at {url}"] += 1
                    work_id = accepted.json()["work"]["work_id"]
                    for step, body in (
                        ("start", {}),
                        ("solution", {"note": "已说明"}),
                        ("resolve", {"resolution_code": "answered", "final_note": "已解答", "fcr": True}),
                    ):
                        done = await client.post(f"{url}/v1/work/{work_id}/{step}", json=body)
                        tally[f"{step} {done.status_code}"] += 1
            except httpx.HTTPError as exc:
                tally[type(exc).__name__] += 1
                turn += 1
            await asyncio.sleep(0.3)


async def kill9(pid: int | None, port: int) -> None:
    """SIGKILL, then wait until the process's threads are gone and its port is free (a JVM's leader thread is a
    zombie while the others still exit, holding the socket)."""
    assert pid is not None, "the component to kill is not running"
    os.kill(pid, signal.SIGKILL)
    await wait_until(lambda: not port_in_use(port), timeout_s=30, interval_s=0.05)


def server_errors(adapter: Adapter, tally: Counter[str]) -> list[str]:
    """Answers of 500 and above other than 503 (which asks to retry): an adapter or agent cannot act on them."""
    codes = [s for s in adapter.statuses if s.isdigit()] + [k.split()[-1] for k in tally if " " in k]
    return [c for c in codes if c.isdigit() and int(c) >= 500 and c != "503"]


async def everywhere(s: StackSettings, contact: str) -> bool:
    return all(n == 1 for n in (await contacts_in_each_service(s, {contact})).values())


async def contacts_in_each_service(s: StackSettings, contacts: set[str]) -> dict[str, int]:
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


async def wait_everywhere(s: StackSettings, contacts: set[str], *, timeout_s: float = 180) -> dict[str, int]:
    """Wait until every contact is in every service; the counts per service."""
    counts: dict[str, int] = {}

    async def arrived() -> bool:
        counts.update(await contacts_in_each_service(s, contacts))
        return all(n == len(contacts) for n in counts.values())

    try:
        await wait_until(arrived, timeout_s=timeout_s, interval_s=1)
    except TimeoutError as exc:
        raise AssertionError(
            f"not every accepted contact reached every service: {counts} of {len(contacts)}"
        ) from exc
    return counts


def events_by(records: list[tuple[dict[str, bytes], bytes]], types: set[str], key: str) -> dict[str, set[str]]:
    """The distinct event ids of each `data[key]` among the events of `types`: one id is one effect (a repeat of
    the same id is the transport's at-least-once, which every consumer's inbox drops)."""
    found: dict[str, set[str]] = {}
    for _, value in records:
        event = json.loads(value)
        if event["type"] in types:
            found.setdefault(str(event["data"][key]), set()).add(event["id"])
    return found


async def doubled(s: StackSettings, contacts: set[str]) -> dict[str, int]:
    """Effects that happened twice: at the table (more rows than one per contact) and on the topics (two distinct
    events for one offer, assignment or alert)."""
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
    work = await read_topic(s.kafka_bootstrap, ROUTING_WORK.name, timeout_s=60)
    offered = events_by(work, {"switchboard.work.offered.v1"}, "offer_id")
    assigned = events_by(work, {"switchboard.work.assigned.v1"}, "work_id")
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
