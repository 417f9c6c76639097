"""Two instances of each of the five services behind the same topics, databases and consumer groups, contacts
posted through both intakes and offers taken through both routings. Once every rule is seen at work, the busier
instance of each is killed with SIGKILL and not brought back (adapter and agents move to the other, as behind a
load balancer). Afterwards every accepted contact is in every service once, nothing was offered,
assigned, alerted, surveyed or announced twice, nothing was dead-lettered, and each service's rule for sharing
work was seen to hold: both intakes' relays published (taking turns), routing's pool leases moved to the
survivor at a new epoch, SLA's `intake.contacts` partitions moved to the survivor and its timers fired, feedback's
invitation scheduler and knowledge's overdue watch went on in the survivor without repeating anything. The figures
(work per instance, kill and takeover times, totals) are printed and written to `instances-report.json` in the
state dir."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from deploy.config import StackSettings, free_port
from deploy.processes import Managed, spawn
from deploy.stack import Stack
from shared.events import FEEDBACK_EVENTS, INTAKE_CONTACTS, KNOWLEDGE_EVENTS, SERVICES, dlq_topic
from tests.e2e.load import (
    FAST_POLICY,
    FAST_POLICY_ID,
    Adapter,
    agent,
    doubled,
    events_by,
    everywhere,
    kill9,
    server_errors,
    wait_everywhere,
)
from tests.support import ROOT, free_port_stack_settings, read_topic, wait_until

pytestmark = pytest.mark.e2e

RATE_PER_S = 4.0
"""Contacts started a second, spread over both intakes."""
BEFORE = 40
"""Contacts accepted before the kill (at least; and every sharing rule seen at work)."""
AFTER = 40
"""Contacts accepted after it (at least)."""
PHASE_TIMEOUT_S = 90.0
AGENTS = ("A-MULTI-1", "A-MULTI-2", "A-MULTI-3")
ONE_SECOND_POLICY: dict[str, Any] = {
    **FAST_POLICY,
    "clocks": [{**FAST_POLICY["clocks"][0], "target": {"amount": 1, "unit": "seconds"}}],
}
"""A first response due in a second: most contacts pass its warning while offered, so both SLA instances fire."""
ARTICLES = 8
"""Published articles whose review-by dates pass during the run: half before the kill, half set due after it."""
LEASE_TTL_S = 3.0
TUNING: dict[str, dict[str, str]] = {
    "routing": {"SWITCHBOARD_LEASE_TTL_S": str(LEASE_TTL_S), "SWITCHBOARD_LEASE_RENEW_S": "0.5"},
    "knowledge": {"SWITCHBOARD_OVERDUE_CHECK_S": "1"},
}
"""What both instances are given so the rules act within the run: short leases, an overdue watch every second."""
SESSION: dict[str, str] = {
    "SWITCHBOARD_CONSUMER_SESSION_TIMEOUT_MS": "6000",
    "SWITCHBOARD_CONSUMER_HEARTBEAT_INTERVAL_MS": "1000",
}
"""Every consumer's group session at the broker's least (6 s; 10 s by default): how long a SIGKILLed instance's
partitions wait for the survivor, which the takeover times measure."""


@dataclass
class Instance:
    service: str
    label: str
    """`a` or `b`."""
    port: int
    process: Managed
    metrics: dict[str, Any] = field(default_factory=dict)
    """The latest scrape of its `/metrics` (a killed instance keeps its last one)."""
    partitions_before_kill: frozenset[int] = frozenset()

    @property
    def name(self) -> str:
        return f"{self.service}-{self.label}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Fleet:
    stack: Stack
    instances: dict[str, tuple[Instance, Instance]]

    def urls(self, service: str) -> list[str]:
        return [i.url for i in self.instances[service]]

    def all(self) -> list[Instance]:
        return [i for pair in self.instances.values() for i in pair]


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    state = ROOT / ".switchboard" / "test-instances"
    if state.exists():
        Stack(StackSettings(state_dir=state)).down()
        for leftover in (state / "run").glob("*-b.pid"):
            Managed(leftover.stem, leftover, marker="services.").stop(timeout_s=5)
        shutil.rmtree(state)
    stack = Stack(free_port_stack_settings(state))
    s = stack.settings
    pairs: dict[str, tuple[Instance, Instance]] = {}
    try:
        asyncio.run(stack.up(services=False))
        for service in SERVICES:
            b = Managed(f"{service}-b", s.state / "run" / f"{service}-b.pid", marker=f"services.{service}")
            pairs[service] = (
                Instance(service, "a", s.service_port(service), stack.services[service]),
                Instance(service, "b", free_port(), b),
            )
        for instance in (i for pair in pairs.values() for i in pair):
            env = {
                **stack.service_env(instance.service),
                **TUNING.get(instance.service, {}),
                **SESSION,
                "SWITCHBOARD_PORT": str(instance.port),
                "SWITCHBOARD_INSTANCE_ID": instance.name,
            }
            spawn(
                instance.process,
                [sys.executable, "-m", f"services.{instance.service}", "serve"],
                log=s.state / "logs" / f"{instance.name}.log",
                env=env,
            )
        asyncio.run(_all_ready([i for pair in pairs.values() for i in pair]))
        yield Fleet(stack, pairs)
    finally:
        for pair in pairs.values():
            pair[1].process.stop(timeout_s=20)
        stack.down()


async def _all_ready(instances: list[Instance]) -> None:
    async with httpx.AsyncClient(timeout=2) as http:

        async def ready(instance: Instance) -> bool:
            assert instance.process.pid() is not None, f"{instance.name} exited during start-up"
            try:
                return (await http.get(f"{instance.url}/health/ready")).status_code == 200
            except httpx.HTTPError:
                return False

        for instance in instances:
            await wait_until(lambda i=instance: ready(i), timeout_s=180, interval_s=0.3)


async def scrape(http: httpx.AsyncClient, instance: Instance) -> None:
    """Its consumers' handled events and partitions, and what its outbox relay published, from `/metrics`."""
    try:
        answer = await http.get(f"{instance.url}/metrics")
    except httpx.HTTPError:
        return  # killed: it keeps its last figures
    handled = 0.0
    published = 0.0
    scheduled = 0.0
    partitions: set[tuple[str, int]] = set()
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            if sample.name == "switchboard_consumer_events_total" and sample.labels["outcome"] == "handled":
                handled += sample.value
            elif sample.name == "switchboard_outbox_published_total":
                published = sample.value
            elif sample.name in SCHEDULED:
                scheduled += sample.value if sample.labels.get("outcome", "sent") == "sent" else 0
            elif sample.name == "switchboard_consumer_lag":
                partitions.add((sample.labels["topic"], int(sample.labels["partition"])))
    instance.metrics = {
        "handled": int(handled),
        "published": int(published),
        "scheduled": int(scheduled),
        "partitions": partitions,
    }


SCHEDULED = {
    "switchboard_sla_timers_fired_total",
    "switchboard_feedback_invitations_total",
    "switchboard_knowledge_overdue_announced_total",
}
"""What its scheduler did in an instance: SLA moments fired, invitations sent, overdue articles announced."""


def contacts_partitions(instance: Instance) -> frozenset[int]:
    """The `intake.contacts` partitions this instance has consumed from (lag is noted per partition handled)."""
    found: set[tuple[str, int]] = instance.metrics.get("partitions", set())
    return frozenset(p for topic, p in found if topic == INTAKE_CONTACTS.name)


async def scrape_all(fleet: Fleet, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        while not stop.is_set():
            await asyncio.gather(*(scrape(http, i) for i in fleet.all()))
            await asyncio.sleep(0.5)


async def lease_holders(s: StackSettings) -> dict[str, tuple[str, int]]:
    """Routing's pool leases: pool → (holder, epoch)."""
    conn = await asyncpg.connect(s.database_url("routing"), timeout=10)
    try:
        rows = await conn.fetch("SELECT pool, holder, epoch FROM pool_lease")
    finally:
        await conn.close()
    return {r["pool"]: (r["holder"], r["epoch"]) for r in rows}


def busier(fleet: Fleet, leases: dict[str, tuple[str, int]]) -> dict[str, Instance]:
    """The instance of each service that did more so far: for routing the one holding more pools, for intake the
    one whose relay published more, for the others the one whose scheduler did more."""
    assert leases, "routing holds its pools by lease"
    held = Counter(holder for holder, _ in leases.values())

    def work(i: Instance) -> int:
        if i.service == "routing":
            return held[i.name]
        return int(i.metrics["published" if i.service == "intake" else "scheduled"])

    return {service: max(pair, key=work) for service, pair in fleet.instances.items()}


async def once_each(s: StackSettings, contacts: set[str], articles: list[str]) -> dict[str, Any]:
    """Nothing done twice across the instances and the kill, at the tables and on the topics; the counts."""
    twice = await doubled(s, contacts)
    assert twice["intake contacts beyond the accepted"] == 0
    assert twice["contacts with two open or two contact work items"] == 0
    assert twice["offers published twice"] == 0 and twice["works assigned twice"] == 0
    assert twice["SLA alerts fired twice"] == 0
    received = events_by(
        await read_topic(s.kafka_bootstrap, INTAKE_CONTACTS.name, timeout_s=60),
        {"switchboard.contact.received.v1"},
        "contact_id",
    )
    assert {c: len(ids) for c, ids in received.items()} == dict.fromkeys(contacts, 1), (
        "each contact announced by one event, whichever intake took it and whichever relay sent it"
    )
    feedback = await read_topic(s.kafka_bootstrap, FEEDBACK_EVENTS.name, timeout_s=60)
    surveys = events_by(feedback, {"switchboard.survey.sent.v1"}, "contact_id")
    assert surveys, "surveys went out during the run"
    assert [c for c, ids in surveys.items() if len(ids) > 1] == [], "no contact was surveyed twice"
    knowledge = await read_topic(s.kafka_bootstrap, KNOWLEDGE_EVENTS.name, timeout_s=60)
    announced = events_by(knowledge, {"switchboard.knowledge.article_overdue.v1"}, "article_id")
    assert {a: len(ids) for a, ids in announced.items()} == dict.fromkeys(articles, 1), (
        "every overdue article was announced to its owner once, by one instance"
    )
    letters = {name: len(await read_topic(s.kafka_bootstrap, dlq_topic(name).name)) for name in SERVICES}
    assert sum(letters.values()) == 0, f"dead letters: {letters}"
    return {
        "doubled": twice,
        "surveys_sent": len(surveys),
        "articles_announced": len(announced),
        "dead_letters": letters,
    }


async def offers_per_epoch(s: StackSettings) -> dict[int, int]:
    """Routing's offers by the epoch of the lease they were made under."""
    conn = await asyncpg.connect(s.database_url("routing"), timeout=10)
    try:
        rows = await conn.fetch("SELECT epoch, count(*) AS offers FROM offer GROUP BY epoch")
    finally:
        await conn.close()
    return {r["epoch"]: r["offers"] for r in rows}


async def first_after(s: StackSettings, database: str, sql: str, moment: datetime) -> datetime | None:
    conn = await asyncpg.connect(s.database_url(database), timeout=10)
    try:
        found: datetime | None = await conn.fetchval(sql, moment)
    finally:
        await conn.close()
    return found


FIRST_SURVEY_SENT_AFTER = "SELECT min(sent_at) FROM invitation WHERE sent_at > $1"
FIRST_OVERDUE_ANNOUNCED_AFTER = "SELECT min(announced_at) FROM article_overdue_notice WHERE announced_at > $1"


async def prepare(fleet: Fleet) -> list[str]:
    """Seconds-long SLA targets, surveys sent seconds after a web contact is resolved, the agents, and published
    articles for the overdue watch; the articles' ids."""
    stack = fleet.stack
    admin = {"Authorization": f"Bearer {stack.token('admin', 'multi-admin')}"}
    agent_ = {"Authorization": f"Bearer {stack.token('agent', 'multi-author')}"}
    supervisor = {"Authorization": f"Bearer {stack.token('supervisor', 'multi-supervisor')}"}
    sla, routing, feedback, knowledge = (fleet.urls(n)[0] for n in ("sla", "routing", "feedback", "knowledge"))
    async with httpx.AsyncClient(timeout=10) as http:
        changed = await http.put(f"{sla}/v1/sla/policies/{FAST_POLICY_ID}", json=ONE_SECOND_POLICY, headers=admin)
        assert changed.status_code == 200, changed.text
        policy = (await http.get(f"{feedback}/v1/surveys/policies/web", headers=admin)).json()
        for extra in ("channel", "updated_at", "updated_by"):
            policy.pop(extra, None)
        policy.update(delay_minutes=0.02, quiet_hours=None, frequency_cap_days=0, sampling_rate=1.0)
        changed = await http.put(f"{feedback}/v1/surveys/policies/web", json=policy, headers=admin)
        assert changed.status_code == 200, changed.text
        for name in AGENTS:
            created = await http.put(
                f"{routing}/v1/agents/{name}",
                json={"display_name": name, "tier": "senior", "languages": ["zh-Hans"], "skills": {"general": 3}},
                headers=admin,
            )
            assert created.status_code in (200, 201), created.text
        articles: list[str] = []
        for n in range(ARTICLES):
            body = {
                "title": f"多实例测试文章 {n}",
                "body": "## 步骤\n\n1. 打开**设置**页面\n2. 按短信验证码重置密码。",
                "language": "zh-Hans",
                "summary": "重置密码",
                "category": "account",
                "tags": ["密码"],
                "visibility": "internal",
            }
            created = await http.post(f"{knowledge}/v1/articles", json=body, headers=agent_)
            assert created.status_code == 201, created.text
            article_id = created.json()["article_id"]
            for step, who in (("submit", agent_), ("publish", supervisor)):
                done = await http.post(f"{knowledge}/v1/articles/{article_id}/{step}", headers=who)
                assert done.status_code == 200, done.text
            articles.append(article_id)
    return articles


async def due_soon(fleet: Fleet, knowledge: str, articles: list[str]) -> None:
    """Set the articles' review-by dates a few seconds from now, through the given knowledge instance (far enough
    ahead that a request held up on a busy machine still sets a future date: the watch is waited for anyway)."""
    supervisor = {"Authorization": f"Bearer {fleet.stack.token('supervisor', 'multi-supervisor')}"}
    async with httpx.AsyncClient(timeout=10) as http:
        for n, article_id in enumerate(articles):
            due = datetime.now(UTC) + timedelta(seconds=3 + n / 2)
            reviewed = await http.put(
                f"{knowledge}/v1/articles/{article_id}/review",
                json={"review_by": due.isoformat()},
                headers=supervisor,
            )
            assert reviewed.status_code == 200, reviewed.text


async def test_two_instances_of_each_service_share_the_work_and_one_of_each_dies_without_loss_or_repeats(
    fleet: Fleet,
) -> None:
    stack = fleet.stack
    s = stack.settings
    articles = await prepare(fleet)
    key = (await stack.create_api_key("multi-gateway", ["web"])).key
    adapter = Adapter(fleet.urls("intake"), key, rate_per_s=RATE_PER_S)
    tally: Counter[str] = Counter()
    stop = asyncio.Event()
    scraping = asyncio.Event()
    routing_urls = fleet.urls("routing")
    tasks = [
        asyncio.create_task(adapter.run(stop)),
        *(
            asyncio.create_task(
                agent(routing_urls[n % 2 :] + routing_urls[: n % 2], stack.token("agent", name), name, stop, tally)
            )
            for n, name in enumerate(AGENTS)
        ),
    ]
    scraper = asyncio.create_task(scrape_all(fleet, scraping))

    started = time.monotonic()
    takeover: dict[str, float] = {}
    victims: dict[str, Instance] = {}
    try:
        await due_soon(fleet, fleet.urls("knowledge")[0], articles[: ARTICLES // 2])

        def both(service: str) -> bool:
            return all(i.metrics.get("scheduled", 0) > 0 for i in fleet.instances[service])

        def sharing() -> bool:
            """Enough load, and every sharing rule at work in both instances where it splits work."""
            intakes = fleet.instances["intake"]
            return (
                len(adapter.accepted) >= BEFORE
                and all(adapter.accepted_by[i.url] > 0 and i.metrics.get("published", 0) > 0 for i in intakes)
                and all(tally[f"accepted at {url}"] > 0 for url in routing_urls)
                and both("sla")
                and sum(i.metrics.get("scheduled", 0) for i in fleet.instances["feedback"]) > 0
                and sum(i.metrics.get("scheduled", 0) for i in fleet.instances["knowledge"]) == ARTICLES // 2
            )

        await wait_until(sharing, timeout_s=PHASE_TIMEOUT_S, interval_s=0.2)
        async with httpx.AsyncClient(timeout=2) as http:
            await asyncio.gather(*(scrape(http, i) for i in fleet.all()))
        at_kill = {i.name: dict(i.metrics) for i in fleet.all()}
        for instance in fleet.all():
            instance.partitions_before_kill = contacts_partitions(instance)
        victims.update(busier(fleet, await lease_holders(s)))
        survivors = {
            service: next(i for i in pair if i is not victims[service])
            for service, pair in fleet.instances.items()
        }
        accepted_at_kill = len(adapter.accepted)
        killed_at = datetime.now(UTC)
        t0 = time.monotonic()
        await asyncio.gather(*(kill9(v.process.pid(), v.port) for v in victims.values()))
        kill_s = time.monotonic() - started

        async def leases_moved() -> bool:
            return all(h == survivors["routing"].name for h, _ in (await lease_holders(s)).values())

        async def partitions_moved() -> bool:
            return len(contacts_partitions(survivors["sla"])) == INTAKE_CONTACTS.partitions

        async def survey_sent() -> bool:
            return await first_after(s, "feedback", FIRST_SURVEY_SENT_AFTER, killed_at) is not None

        async def overdue_announced() -> bool:
            return await first_after(s, "knowledge", FIRST_OVERDUE_ANNOUNCED_AFTER, killed_at) is not None

        async def contact_through() -> bool:
            first = adapter.first_accepted_after(t0)
            return first is not None and await everywhere(s, first[1])

        async def timed(service: str, condition: Any) -> None:
            await wait_until(condition, timeout_s=PHASE_TIMEOUT_S, interval_s=0.2)
            takeover[service] = round(time.monotonic() - t0, 1)

        await due_soon(fleet, survivors["knowledge"].url, articles[ARTICLES // 2 :])
        await asyncio.gather(
            timed("intake", contact_through),
            timed("routing", leases_moved),
            timed("sla", partitions_moved),
            timed("feedback", survey_sent),
            timed("knowledge", overdue_announced),
            wait_until(
                lambda: len(adapter.accepted) >= accepted_at_kill + AFTER,
                timeout_s=PHASE_TIMEOUT_S,
                interval_s=0.2,
            ),
        )
    finally:
        stop.set()
        for task in tasks:
            await asyncio.wait_for(task, timeout=240)
        scraping.set()
        await scraper
    load_s = time.monotonic() - started

    assert adapter.refused == [], adapter.refused
    assert server_errors(adapter, tally) == [], (adapter.statuses, tally)
    contacts = set(adapter.accepted.values())
    assert len(adapter.accepted) == adapter.posted, "every contact the adapter posted was accepted in the end"
    assert len(contacts) == len(adapter.accepted), "no two posts became one contact"
    settle_started = time.monotonic()
    counts = await wait_everywhere(s, contacts)
    settled_s = time.monotonic() - settle_started
    once = await once_each(s, contacts, articles)

    # The rules for sharing work, seen from outside.
    a_intake, b_intake = fleet.instances["intake"]
    assert adapter.accepted_by[a_intake.url] > 0 and adapter.accepted_by[b_intake.url] > 0
    assert a_intake.metrics["published"] > 0 and b_intake.metrics["published"] > 0, (
        "both intakes' outbox relays published (they take turns on one lock)"
    )
    leases = await lease_holders(s)
    assert all(epoch > 1 for _, epoch in leases.values()), "the survivor took every pool at a new epoch"
    offers_by_epoch = await offers_per_epoch(s)
    assert any(epoch < max(offers_by_epoch) for epoch in offers_by_epoch), "the deposed holder had offered"
    assert max(offers_by_epoch) == max(epoch for _, epoch in leases.values()), "the survivor offers at its epoch"
    assert all(tally[f"accepted at {url}"] > 0 for url in routing_urls), "agents took offers through both"
    a_sla, b_sla = fleet.instances["sla"]
    assert a_sla.partitions_before_kill and b_sla.partitions_before_kill, "both SLA instances held partitions"
    assert not a_sla.partitions_before_kill & b_sla.partitions_before_kill, "no partition held by both"
    # The first half was announced before the kill and the second half fell due after it: no announcement can
    # be lost from the counts between the last scrape of the killed instance and its kill.
    assert sum(i.metrics["scheduled"] for i in fleet.instances["knowledge"]) == ARTICLES, "each announced by one"
    assert all(at_kill[i.name]["scheduled"] > 0 for i in fleet.instances["sla"]), ("both fired timers", at_kill)
    for service in ("sla", "feedback", "knowledge"):
        survivor = survivors[service]
        assert survivor.metrics["scheduled"] > at_kill[survivor.name]["scheduled"], (
            f"{service}'s scheduler went on in the survivor after the kill",
            at_kill,
            survivor.metrics,
        )
    for service, (a, b) in fleet.instances.items():
        assert at_kill[a.name]["handled"] > 0 and at_kill[b.name]["handled"] > 0, f"both {service}s consumed"
        survivor = survivors[service]
        assert survivor.metrics["handled"] > at_kill[survivor.name]["handled"], f"{service}'s survivor went on"

    report: dict[str, Any] = {
        "posted": adapter.posted,
        "accepted": len(contacts),
        "accepted_by_intake": {i.name: adapter.accepted_by[i.url] for i in fleet.instances["intake"]},
        "offers_accepted_by_routing": {i.name: tally[f"accepted at {i.url}"] for i in fleet.instances["routing"]},
        "per_instance": {
            i.name: {
                "consumed": i.metrics["handled"],
                "relay_published": i.metrics["published"],
                "scheduler_did": i.metrics["scheduled"],
                "at_kill": {k: v for k, v in at_kill[i.name].items() if k != "partitions"},
                "intake.contacts partitions before kill": sorted(i.partitions_before_kill),
                "killed": i is victims[i.service],
            }
            for i in fleet.all()
        },
        "kill_at_s": round(kill_s, 1),
        "takeover_s": takeover,
        "sla_partitions_of_survivor_after": sorted(contacts_partitions(survivors["sla"])),
        "routing_leases_after": {pool: list(held) for pool, held in leases.items()},
        "routing_offers_by_epoch": offers_by_epoch,
        "per_service": counts,
        **once,
        "answers": dict(adapter.statuses),
        "agents": dict(tally),
        "load_s": round(load_s, 1),
        "settled_after_load_s": round(settled_s, 1),
    }
    (s.state / "instances-report.json").write_text(json.dumps(report, indent=2))
    print("\n" + table(fleet, victims, at_kill, takeover, report))  # noqa: T201
    print("instances report:", json.dumps(report, indent=2))  # noqa: T201


def table(
    fleet: Fleet,
    victims: dict[str, Instance],
    at_kill: dict[str, dict[str, Any]],
    takeover: dict[str, float],
    report: dict[str, Any],
) -> str:
    """Per service: events each instance consumed, its relay published and its scheduler did (SLA moments fired,
    invitations sent, overdue articles announced) — a killed instance's up to its kill — which one was killed,
    how long until the survivor had taken its share over, and what the survivor did after the kill."""
    rows = [
        f"{'service':<10} {'A consumed':>10} {'B consumed':>10} {'A relayed':>9} {'B relayed':>9} "
        f"{'A sched':>7} {'B sched':>7} {'killed':>6} {'takeover s':>10} {'survivor after: consumed':>24} "
        f"{'sched':>5}"
    ]
    for service, (a, b) in fleet.instances.items():
        survivor = b if victims[service] is a else a
        rows.append(
            f"{service:<10} {a.metrics['handled']:>10} {b.metrics['handled']:>10} {a.metrics['published']:>9} "
            f"{b.metrics['published']:>9} {a.metrics['scheduled']:>7} {b.metrics['scheduled']:>7} "
            f"{victims[service].label.upper():>6} {takeover.get(service, float('nan')):>10} "
            f"{survivor.metrics['handled'] - at_kill[survivor.name]['handled']:>24} "
            f"{survivor.metrics['scheduled'] - at_kill[survivor.name]['scheduled']:>5}"
        )
    rows.append(
        f"killed at {report['kill_at_s']} s of {report['load_s']} s of load; contacts posted {report['posted']}, "
        f"accepted {report['accepted']} (by intake {report['accepted_by_intake']}); offers accepted by routing "
        f"{report['offers_accepted_by_routing']}; surveys sent {report['surveys_sent']}; articles announced "
        f"{report['articles_announced']}; doubled "
        f"{sum(v for k, v in report['doubled'].items() if 'twice' in k or 'beyond' in k or 'two' in k)}"
    )
    return "\n".join(rows)
