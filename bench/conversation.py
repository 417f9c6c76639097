"""The conversation's speed targets (issue 15), on the running local stack (`switchboard up`):

- `reply`: a reply accepted by intake → its request on `outbound.messages`, at a fixed rate (default 50/s) with
  the whole stack up: p50/p95/p99 from the moment the POST answered to the moment a consumer of the topic
  reads the request (open loop: replies are sent on schedule whatever the latency).
- `timeline`: `GET /v1/contacts/{id}/timeline` of one contact with 100 customer messages and 100 replies
  (200 entries, one page), repeated: p50/p95.
- `search`: contact search over a generated directory of `--contacts` contacts (default 1,000,000) in a
  scratch database migrated like intake's own (`bench_search`, dropped at the end), with the real query code:
  free text (common and rare words, either script), filters, an agent's own contacts; p50/p95 per query.

    .venv/bin/python -m bench.conversation reply --rate 50 --seconds 30
    .venv/bin/python -m bench.conversation timeline
    .venv/bin/python -m bench.conversation search --contacts 1000000

Prints tables; record results in docs/benchmarks.md with machine and date.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from deploy.config import StackSettings
from deploy.stack import Stack
from services.intake.domain.search import query_terms, terms
from services.intake.repository.search import Filters, list_contacts
from shared.db import connect, migrate, service_migrations
from shared.events import OUTBOUND_MESSAGES

INTAKE_MIGRATIONS = Path(__file__).resolve().parent.parent / "services" / "intake" / "migrations"
console = Console()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def table(title: str, rows: list[tuple[str, list[float]]]) -> None:
    out = Table(title=title)
    for column in ("measure", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        out.add_column(column, justify="right" if column != "measure" else "left")
    for name, values in rows:
        ms = [v * 1000 for v in values]
        out.add_row(
            name, str(len(ms)), f"{pct(ms, 0.5):.1f}", f"{pct(ms, 0.95):.1f}", f"{pct(ms, 0.99):.1f}",
            f"{max(ms):.1f}" if ms else "—",
        )  # fmt: skip
    console.print(out)
    console.print(
        f"{platform.machine()}, {psutil.cpu_count()} cores, {psutil.virtual_memory().total >> 30} GiB · "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


async def chat_contacts(http: httpx.AsyncClient, base: str, adapter: dict[str, str], count: int) -> list[str]:
    ids = []
    for n in range(count):
        posted = await http.post(
            f"{base}/v1/channels/chat",
            json={
                "session_id": f"bench-{uuid.uuid4().hex[:12]}",
                "message_id": "1",
                "text": f"问题 {n}：宽带连不上",
            },
            headers=adapter,
        )
        posted.raise_for_status()
        ids.append(posted.json()["contact_id"])
    return ids


# --- reply → outbound ----------------------------------------------------------------------------------------


async def bench_reply(stack: Stack, rate: float, seconds: float) -> None:
    base = f"http://127.0.0.1:{stack.settings.service_port('intake')}"
    adapter = {"Authorization": f"Bearer {(await stack.create_api_key('bench-replies', ['chat'])).key}"}
    # One person per contact, as on a floor: the per-user rate limit (30/s) is not what is measured here.
    people = [{"Authorization": f"Bearer {stack.token('supervisor', f'bench-sup-{n:02d}')}"} for n in range(50)]
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.settings.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    tps = [TopicPartition(OUTBOUND_MESSAGES.name, p) for p in range(OUTBOUND_MESSAGES.partitions)]
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    arrived: dict[str, float] = {}

    async def read() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    arrived[json.loads(record.value)["data"]["message_id"]] = now

    reader = asyncio.create_task(read())
    accepted: dict[str, float] = {}
    errors = 0
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        contacts = await chat_contacts(http, base, adapter, 50)

        async def one(n: int) -> None:
            nonlocal errors
            response = await http.post(
                f"{base}/v1/contacts/{contacts[n % len(contacts)]}/replies",
                json={"text": "您好，正在为您处理。"},
                headers=people[n % len(people)],
            )
            if response.status_code == 201:
                accepted[response.json()["reply_id"]] = time.perf_counter()
            else:
                errors += 1

        tasks: list[asyncio.Task[None]] = []
        start = time.perf_counter()
        total = int(rate * seconds)
        with Progress(console=console, transient=True) as progress:
            sending = progress.add_task(f"replies at {rate:g}/s", total=total)
            for n in range(total):
                due = start + n / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                tasks.append(asyncio.create_task(one(n)))
                progress.advance(sending)
            await asyncio.gather(*tasks)
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline and not set(accepted) <= set(arrived):  # noqa: ASYNC110
            await asyncio.sleep(0.1)  # the reader fills `arrived`; polling a dict is what this wait is
    reader.cancel()
    await consumer.stop()
    latencies = [arrived[r] - t for r, t in accepted.items() if r in arrived]
    missing = len(set(accepted) - set(arrived))
    table(
        f"reply accepted → request on outbound.messages ({rate:g}/s for {seconds:g} s; {errors} refused, "
        f"{missing} not seen)",
        [("accepted → on the topic", latencies)],
    )


# --- timeline ------------------------------------------------------------------------------------------------


async def bench_timeline(stack: Stack, rounds: int) -> None:
    base = f"http://127.0.0.1:{stack.settings.service_port('intake')}"
    adapter = {"Authorization": f"Bearer {(await stack.create_api_key('bench-timeline', ['chat'])).key}"}
    supervisor = {"Authorization": f"Bearer {stack.token('supervisor', 'bench-sup')}"}
    async with httpx.AsyncClient(timeout=30) as http:
        session = f"bench-{uuid.uuid4().hex[:12]}"
        contact_id = ""
        for n in range(100):
            posted = await http.post(
                f"{base}/v1/channels/chat",
                json={"session_id": session, "message_id": str(n), "text": f"第 {n} 条消息：宽带还是连不上"},
                headers=adapter,
            )
            contact_id = posted.json()["contact_id"]
            await http.post(
                f"{base}/v1/contacts/{contact_id}/replies", json={"text": f"第 {n} 条回复"}, headers=supervisor
            )
        url = f"{base}/v1/contacts/{contact_id}/timeline"
        first = (await http.get(url, params={"limit": 500}, headers=supervisor)).json()
        latencies = []
        for _ in range(rounds):
            began = time.perf_counter()
            response = await http.get(url, params={"limit": 500}, headers=supervisor)
            latencies.append(time.perf_counter() - began)
            response.raise_for_status()
    table(f"timeline of one contact ({len(first['entries'])} entries, one page)", [("GET timeline", latencies)])


# --- search over many contacts -------------------------------------------------------------------------------

WORDS = [
    "宽带",
    "连不上",
    "账单",
    "多扣",
    "退款",
    "投诉",
    "态度",
    "路由器",
    "闪红灯",
    "密码",
    "登录",
    "订单",
    "物流",
    "发货",
    "快递",
    "发票",
    "停机",
    "信号",
    "网速",
    "慢",
    "话费",
    "套餐",
    "升级",
    "取消",
    "合同",
    "上门",
    "维修",
    "师傅",
    "预约",
    "地址",
    "电话",
    "短信",
    "验证码",
    "账号",
    "被盗",
    "隐私",
    "泄露",
    "故障",
    "系统",
    "router",
    "broadband",
    "refund",
    "invoice",
    "login",
    "password",
    "order",
    "delivery",
    "outage",
    "slow",
    "signal",
    "contract",
]


async def bench_search(stack: Stack, contacts: int, rounds: int) -> None:
    s = stack.settings
    admin_dsn = f"postgresql://switchboard@127.0.0.1:{s.postgres_port}/postgres"
    dsn = f"postgresql://switchboard@127.0.0.1:{s.postgres_port}/bench_search"
    admin = await connect(admin_dsn)
    await admin.execute("DROP DATABASE IF EXISTS bench_search")
    await admin.execute("CREATE DATABASE bench_search")
    try:
        conn = await connect(dsn)
        await migrate(conn, service_migrations("intake", INTAKE_MIGRATIONS))
        rng = random.Random(7)
        vocabulary = [terms(w) for w in WORDS]
        customers = [uuid.uuid4() for _ in range(max(1, contacts // 20))]
        agents = [f"A{n:03d}" for n in range(200)]
        started = time.perf_counter()
        await conn.execute(
            "INSERT INTO customer (customer_id, grade, source, created_at, updated_at) "
            "SELECT unnest($1::uuid[]), 'basic', 'bench', now(), now()",
            customers,
        )
        batch = 20_000
        now = datetime.now(UTC)
        with Progress(console=console) as progress:
            filling = progress.add_task(f"generating {contacts:,} contacts", total=contacts)
            for offset in range(0, contacts, batch):
                rows = []
                for n in range(offset, min(contacts, offset + batch)):
                    words = rng.sample(vocabulary, 8)
                    rows.append(
                        (
                            uuid.uuid4(), rng.choice(("chat", "email", "phone", "sms", "web")),
                            rng.choice(customers),
                            rng.choice(("enquiry", "complaint", "system_fault", "data_anomaly")),
                            rng.choice(("received", "resolved", "closed")), rng.choice(agents),
                            now - timedelta(seconds=contacts - n), sorted({t for w in words for t in w}),
                        )
                    )  # fmt: skip
                await conn.copy_records_to_table(
                    "contact",
                    records=[
                        (c, ch, cu, "", "", cat, "routine", "rule:bench", st, t, t, t, ow, terms_)
                        for c, ch, cu, cat, st, ow, t, terms_ in rows
                    ],
                    columns=[
                        "contact_id", "channel", "customer_id", "subject", "subject_key", "category",
                        "priority_class", "classified_by", "status", "created_at", "updated_at", "last_message_at",
                        "owner_id", "search_terms",
                    ],
                )  # fmt: skip
                progress.advance(filling, len(rows))
        await conn.execute("UPDATE contact SET indexed_at = last_message_at")
        await conn.execute("VACUUM ANALYZE contact")
        console.print(f"generated {contacts:,} contacts in {time.perf_counter() - started:.0f} s")
        queries = [
            ("common word (宽带)", Filters(terms=tuple(query_terms("宽带")))),
            ("two words, Traditional (帳單 退款)", Filters(terms=tuple(query_terms("帳單 退款")))),
            ("rare pair (被盗 泄露 router)", Filters(terms=tuple(query_terms("被盗 泄露 router")))),
            ("English (router outage)", Filters(terms=tuple(query_terms("router outage")))),
            ("filters: sms, complaint, closed", Filters(channel="sms", category="complaint", status="closed")),
            ("an agent's own, with a word", Filters(owner="A017", terms=tuple(query_terms("账单")))),
            ("last 24 h, a word", Filters(since=now - timedelta(hours=24), terms=tuple(query_terms("师傅")))),
            ("a customer's history", Filters(customer_id=customers[0])),
        ]
        results: list[tuple[str, list[float]]] = []
        for name, filters in queries:
            latencies = []
            for _ in range(rounds):
                began = time.perf_counter()
                await list_contacts(conn, filters, before=None, limit=51)
                latencies.append(time.perf_counter() - began)
            results.append((name, latencies))
        size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('contact'))")
        await conn.close()
        table(f"contact search over {contacts:,} contacts (first page of 50; table and indexes {size})", results)
    finally:
        await admin.execute("DROP DATABASE IF EXISTS bench_search")
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    reply = sub.add_parser("reply")
    reply.add_argument("--rate", type=float, default=50.0)
    reply.add_argument("--seconds", type=float, default=30.0)
    timeline = sub.add_parser("timeline")
    timeline.add_argument("--rounds", type=int, default=300)
    search = sub.add_parser("search")
    search.add_argument("--contacts", type=int, default=1_000_000)
    search.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    stack = Stack(StackSettings())
    if args.what == "reply":
        asyncio.run(bench_reply(stack, args.rate, args.seconds))
    elif args.what == "timeline":
        asyncio.run(bench_timeline(stack, args.rounds))
    else:
        asyncio.run(bench_search(stack, args.contacts, args.rounds))


if __name__ == "__main__":
    main()
