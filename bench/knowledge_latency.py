"""Lookup latency under concurrency over a large knowledge base, and import/indexing throughput.

Builds `--articles` published articles from the shared retrieval sets (each synthetic article joins two real
paragraphs under a real title, so term statistics stay natural), imports them through
`POST /v1/articles/import` in chunks, then, `--rounds` times over, measures:
- the floor: `GET /health/live` (HTTP alone, no work) from 1 client and from `--concurrency` clients;
- lookups: `GET /v1/search` (the sets' real questions, limit 10, an agent's token) from 1 client and from
  `--concurrency` clients at once (closed loop: each client sends its next lookup when the last one answered,
  so this is the saturation throughput, and latency there is mostly queueing);
- agents: `--concurrency` agents on their own connections looking up at `--agent-rates` lookups/s together
  (open loop, Poisson; latency from the moment a lookup was due), the load a desk of that size makes;
- the PostgreSQL full-text variant (`ts_rank_cd` over the same analysed terms, direct SQL, no HTTP) from 1
  and from `--concurrency` connections, for the engine comparison;
- in process (after the service stopped): `SearchEngine.search` alone over the same database, with and without
  highlights, one query after another.
Finally it checks that every lookup was recorded in `search_log` (after the service stopped: the buffered log
is flushed at shutdown). The load generator is a lean HTTP/1.1 client on uvloop, so it takes as little of the
shared CPU as it can. Needs the local stack:
    ./switchboard up --no-services
    .venv/bin/python -m bench.knowledge_latency --articles 20000 --concurrency 50
    .venv/bin/python -m bench.knowledge_latency --reuse            # keep the imported base of an earlier run
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import json
import os
import platform
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import psutil
import uvloop
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.knowledge_common import (
    DATA,
    ROOT,
    LeanClient,
    Service,
    knowledge_service,
    load_jsonl,
    percentile,
    search_target,
)
from bench.knowledge_pg import PgFullText
from services.knowledge.domain.analysis import Analyzer
from services.knowledge.domain.ranking import SearchFilter
from services.knowledge.search import SearchEngine
from shared.clock import utcnow

DATABASE = "knowledge_latency"
SENT: Counter[str] = Counter()
"""Requests sent per path, to check that every lookup was recorded in the search log."""


def synthetic_articles(count: int) -> list[dict[str, Any]]:
    pools = [load_jsonl(DATA / name / "articles.jsonl") for name in ("cmrc2018_zh", "stackfaq_en")]
    out: list[dict[str, Any]] = []
    for i in range(count):
        pool = pools[0] if i % 5 else pools[1]  # four in five Chinese, as a Chinese-first desk would have
        first, second = pool[i % len(pool)], pool[(i * 7 + 3) % len(pool)]
        out.append(
            {
                "external_id": f"synthetic-{i}",
                "title": f"{first['title'] or '-'} {i}",
                "body": first["body"] + "\n\n" + second["body"],
                "language": first["lang"],
                "status": "published",
            }
        )
    return out


def import_all(svc: Service, articles: list[dict[str, Any]], chunk: int, console: Console) -> float:
    started = time.perf_counter()
    with (
        httpx.Client(base_url=svc.base_url, timeout=1200) as client,
        Progress(console=console, transient=True) as bar,
    ):
        task = bar.add_task("importing", total=len(articles))
        for i in range(0, len(articles), chunk):
            body = "\n".join(json.dumps(a, ensure_ascii=False) for a in articles[i : i + chunk])
            response = client.post(
                "/v1/articles/import",
                content=body.encode(),
                headers={**svc.headers("supervisor"), "Content-Type": "application/x-ndjson"},
            )
            response.raise_for_status()
            bar.advance(task, chunk)
    return time.perf_counter() - started


async def live_articles(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM search_document WHERE live")
        return count
    except asyncpg.UndefinedTableError:
        return 0
    finally:
        await conn.close()


async def logged_lookups(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM search_log WHERE source = 'lookup'")
        return count
    finally:
        await conn.close()


@dataclass(frozen=True)
class Run:
    phase: str
    round: int
    load: float
    """One-minute load average when the phase started."""
    latencies: list[float]
    wall_s: float
    errors: int


async def closed_loop(
    requests: int, concurrency: int, make: Callable[[], Awaitable[Callable[[], Awaitable[bool]]]]
) -> tuple[list[float], float, int]:
    """`concurrency` workers, each sending its next request when the last one answered, `requests` in all."""
    latencies: list[float] = []
    errors = 0
    remaining = requests
    senders = [await make() for _ in range(concurrency)]

    async def worker(send: Callable[[], Awaitable[bool]]) -> None:
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            ok = await send()
            latencies.append((time.perf_counter() - started) * 1000)
            errors += not ok

    started = time.perf_counter()
    await asyncio.gather(*(worker(s) for s in senders))
    return latencies, time.perf_counter() - started, errors


async def http_phase(
    svc: Service, targets: list[str], requests: int, concurrency: int
) -> tuple[list[float], float, int]:
    source = itertools.cycle(targets)
    headers = svc.headers("agent")
    clients: list[LeanClient] = []

    async def make() -> Callable[[], Awaitable[bool]]:
        client = LeanClient(svc.base_url, headers)
        clients.append(client)
        await client.get(targets[0])  # connect outside the timed part
        SENT[targets[0].split("?")[0]] += 1

        async def send() -> bool:
            target = next(source)
            SENT[target.split("?")[0]] += 1
            status, _ = await client.get(target)
            return status == 200

        return send

    try:
        return await closed_loop(requests, concurrency, make)
    finally:
        for client in clients:
            await client.close()


async def agents_phase(
    svc: Service, targets: list[str], agents: int, rate: float, seconds: float
) -> tuple[list[float], float, int]:
    """`agents` agents on their own connections, looking up at `rate` per second all together (Poisson: each
    waits an exponential think time between lookups). Open loop: a lookup's latency runs from the moment it was
    due, so a slow answer that delays the agent's next lookup is counted, not hidden."""
    source = itertools.cycle(targets)
    headers = svc.headers("agent")
    clients = [LeanClient(svc.base_url, headers) for _ in range(agents)]
    for client in clients:
        await client.get(targets[0])  # connect outside the timed part
        SENT["/v1/search"] += 1
    latencies: list[float] = []
    errors = 0
    rng = random.Random(7)
    loop = asyncio.get_running_loop()
    started = loop.time()
    stop = started + seconds

    async def agent(client: LeanClient) -> None:
        nonlocal errors
        due = started + rng.expovariate(rate / agents)
        while due < stop:
            await asyncio.sleep(max(0.0, due - loop.time()))
            target = next(source)
            SENT["/v1/search"] += 1
            status, _ = await client.get(target)
            latencies.append((loop.time() - due) * 1000)
            errors += status != 200
            due += rng.expovariate(rate / agents)

    try:
        await asyncio.gather(*(agent(c) for c in clients))
    finally:
        for client in clients:
            await client.close()
    return latencies, loop.time() - started, errors


def in_process(database_url: str, queries: list[str]) -> list[Run]:
    """The search alone, as the endpoint calls it (analysis, ranking, highlights), in this process over the same
    database: what a lookup costs before HTTP, auth, JSON and the search log."""
    engine = asyncio.run(_load_engine(database_url))
    search_filter = SearchFilter(visibilities=frozenset({"internal", "public"}))
    for query in queries[:200]:
        engine.search(query, search_filter, limit=10)
    runs = []
    for name, highlight in (("in process: SearchEngine.search", True), ("in process: without highlights", False)):
        load = os.getloadavg()[0]
        latencies = []
        started = time.perf_counter()
        for query in queries:
            began = time.perf_counter()
            engine.search(query, search_filter, limit=10, highlight=highlight)
            latencies.append((time.perf_counter() - began) * 1000)
        runs.append(Run(name, 1, load, latencies, time.perf_counter() - started, 0))
    return runs


async def _load_engine(database_url: str) -> SearchEngine:
    conn = await asyncpg.connect(database_url)
    try:
        return await SearchEngine.load(conn, now=utcnow())
    finally:
        await conn.close()


async def pg_phase(
    fts: PgFullText, database_url: str, queries: list[list[str]], requests: int, concurrency: int
) -> tuple[list[float], float, int]:
    source = itertools.cycle(queries)
    pool = await asyncpg.create_pool(database_url, min_size=concurrency, max_size=concurrency)
    try:

        async def make() -> Callable[[], Awaitable[bool]]:
            async def send() -> bool:
                async with pool.acquire() as conn:
                    await fts.search(conn, next(source), limit=10)
                return True

            return send

        return await closed_loop(requests, concurrency, make)
    finally:
        await pool.close()


def measure(
    args: argparse.Namespace, svc: Service, queries: list[str], analyzer: Analyzer, console: Console
) -> list[Run]:
    targets = [search_target(q, limit=10) for q in queries]
    floor = ["/health/live"]
    fts = PgFullText()
    analysed = [analyzer.terms(q) for q in queries]
    if "pg" in args.only:
        asyncio.run(fts.build(svc.database_url))
    asyncio.run(http_phase(svc, targets, 300, 4))  # warm-up
    runs: list[Run] = []
    phases: list[tuple[str, Callable[[], Coroutine[Any, Any, tuple[list[float], float, int]]]]] = []
    if "floor" in args.only:
        phases += [
            ("floor: GET /health/live, 1 client", lambda: http_phase(svc, floor, args.sequential, 1)),
            (
                f"floor: GET /health/live, {args.concurrency} clients",
                lambda: http_phase(svc, floor, args.requests, args.concurrency),
            ),
        ]
    if "search" in args.only:
        phases += [
            ("GET /v1/search, 1 client", lambda: http_phase(svc, targets, args.sequential, 1)),
            (
                f"GET /v1/search, {args.concurrency} clients",
                lambda: http_phase(svc, targets, args.requests, args.concurrency),
            ),
        ]
    if "agents" in args.only:
        phases += [
            (
                f"{args.concurrency} agents, open loop, {rate:g} lookups/s",
                functools.partial(agents_phase, svc, targets, args.concurrency, rate, args.agent_seconds),
            )
            for rate in args.agent_rates
        ]
    if "pg" in args.only:
        phases += [
            ("PostgreSQL ts_rank_cd, 1 connection", lambda: pg_phase(fts, svc.database_url, analysed, 300, 1)),
            (
                f"PostgreSQL ts_rank_cd, {args.concurrency} connections",
                lambda: pg_phase(fts, svc.database_url, analysed, args.pg_requests, args.concurrency),
            ),
        ]
    for round_ in range(1, args.rounds + 1):
        for name, run in phases:
            load = os.getloadavg()[0]
            console.log(f"round {round_}: {name} (load {load:.1f})")
            latencies, wall, errors = uvloop.run(run())
            runs.append(Run(name, round_, load, latencies, wall, errors))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=2_000, help="articles per import call")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--requests", type=int, default=5_000, help="requests per concurrent phase")
    parser.add_argument("--sequential", type=int, default=500, help="requests per one-client phase")
    parser.add_argument("--rounds", type=int, default=3, help="repeat every phase (the CPU is shared)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes of the service")
    parser.add_argument("--reuse", action="store_true", help="keep the database of an earlier run if it is full")
    parser.add_argument(
        "--only",
        nargs="*",
        default=["floor", "search", "agents", "pg", "inprocess"],
        choices=["floor", "search", "agents", "pg", "inprocess"],
        help="phases",
    )
    parser.add_argument(
        "--agent-rates",
        nargs="*",
        type=float,
        default=[25.0, 50.0, 100.0],
        help="lookups/s offered by all --concurrency agents together, one open-loop phase each",
    )
    parser.add_argument("--agent-seconds", type=float, default=20.0, help="length of each open-loop phase")
    parser.add_argument("--pg-requests", type=int, default=1_000)
    args = parser.parse_args()
    console = Console(width=150)
    articles = synthetic_articles(args.articles)
    queries = [
        q["query"]
        for name in ("cmrc2018_zh", "stackfaq_en")
        for q in load_jsonl(DATA / name / "queries.jsonl")
        if q["query"].strip()
    ]
    env = {"SWITCHBOARD_WORKERS": str(args.workers)}
    log_path = ROOT / ".switchboard" / "logs" / "latency.log"
    import_s: float | None = None
    with knowledge_service(DATABASE, log_path=log_path, keep=args.reuse, env=env) as svc:
        present = asyncio.run(live_articles(svc.database_url))
        before = asyncio.run(logged_lookups(svc.database_url))
        if present < args.articles:
            if present:
                raise SystemExit(f"{DATABASE} holds {present} articles, fewer than asked: run without --reuse")
            load = os.getloadavg()[0]
            import_s = import_all(svc, articles, args.chunk, console)
            console.log(f"imported {args.articles:,} articles in {import_s:.1f} s (load at start {load:.1f})")
        analyzer = Analyzer()
        runs = measure(args, svc, queries, analyzer, console)
    if "inprocess" in args.only:
        console.log("in process: loading the index from the same database")
        runs += in_process(svc.database_url, queries)
    sent = SENT["/v1/search"]
    logged = asyncio.run(logged_lookups(svc.database_url)) - before
    cpu = platform.processor() or platform.machine()
    table = Table(
        title=f"knowledge lookups over {max(present, args.articles):,} articles, {args.workers} worker(s) — "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M}, {psutil.cpu_count()} cores {cpu}"
    )
    for column in (
        "phase",
        "round",
        "load",
        "requests",
        "errors",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
    ):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for r in runs:
        table.add_row(
            r.phase,
            str(r.round),
            f"{r.load:.1f}",
            f"{len(r.latencies):,}",
            str(r.errors),
            f"{len(r.latencies) / r.wall_s:.0f}",
            f"{percentile(r.latencies, 50):.1f}",
            f"{percentile(r.latencies, 95):.1f}",
            f"{percentile(r.latencies, 99):.1f}",
            f"{max(r.latencies):.1f}",
        )
    console.print(table)
    if import_s is not None:
        console.print(
            f"import + indexing: {args.articles:,} articles in {import_s:.1f} s "
            f"({args.articles / import_s:.0f} articles/s, {args.chunk} per call, published at once)"
        )
    console.print(f"search log: {logged:,} lookups recorded of {sent:,} sent")


if __name__ == "__main__":
    main()
