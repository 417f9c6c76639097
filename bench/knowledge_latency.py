"""Lookup latency under concurrency over a large knowledge base, and import/indexing throughput.

Builds `--articles` published articles from the shared retrieval sets (each synthetic article joins two real
paragraphs under a real title, so term statistics stay natural), imports them through
`POST /v1/articles/import` in chunks, then runs `--requests` lookups (the sets' real questions) from
`--concurrency` clients at once against `GET /v1/search`. Needs the local stack:
    ./switchboard up --no-services
    .venv/bin/python -m bench.knowledge_latency --articles 20000 --concurrency 50
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import platform
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import psutil
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.knowledge_common import DATA, ROOT, Service, knowledge_service, load_jsonl, percentile


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


async def lookups(svc: Service, queries: list[str], requests: int, concurrency: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    source = itertools.cycle(queries)
    remaining = requests
    headers = svc.headers("agent")
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=svc.base_url, timeout=60, limits=limits) as client:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                response = await client.get("/v1/search", params={"q": next(source), "limit": 10}, headers=headers)
                latencies.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=2_000, help="articles per import call")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--requests", type=int, default=5_000)
    args = parser.parse_args()
    console = Console()
    articles = synthetic_articles(args.articles)
    queries = [
        q["query"]
        for name in ("cmrc2018_zh", "stackfaq_en")
        for q in load_jsonl(DATA / name / "queries.jsonl")
        if q["query"].strip()
    ]
    with knowledge_service("knowledge_latency", log_path=ROOT / ".switchboard" / "logs" / "latency.log") as svc:
        import_s = import_all(svc, articles, args.chunk, console)
        asyncio.run(lookups(svc, queries, 200, 4))  # warm-up
        sequential, _ = asyncio.run(lookups(svc, queries, 500, 1))
        concurrent, wall_s = asyncio.run(lookups(svc, queries, args.requests, args.concurrency))
    cpu = platform.processor() or platform.machine()
    table = Table(
        title=f"knowledge lookups over {args.articles:,} articles — {datetime.now(UTC):%Y-%m-%d}, "
        f"{psutil.cpu_count()} cores {cpu}"
    )
    for column in ("load", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="right")
    for label, values, wall in (
        ("1 client", sequential, sum(sequential) / 1000),
        (f"{args.concurrency} concurrent", concurrent, wall_s),
    ):
        table.add_row(
            label,
            f"{len(values):,}",
            f"{len(values) / wall:.0f}",
            f"{percentile(values, 50):.1f}",
            f"{percentile(values, 95):.1f}",
            f"{percentile(values, 99):.1f}",
            f"{max(values):.1f}",
        )
    console.print(table)
    console.print(
        f"import + indexing: {args.articles:,} articles in {import_s:.1f} s "
        f"({args.articles / import_s:.0f} articles/s, {args.chunk} per call, published at once)"
    )


if __name__ == "__main__":
    main()
