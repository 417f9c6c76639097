"""Relevance of knowledge search against a plain BM25 baseline, on the shared retrieval sets.

For each set (stackfaq_en, cmrc2018_zh): a fresh database and knowledge service, the articles loaded through
`POST /v1/articles/import` (published), every query sent to `GET /v1/search`, MRR@10, nDCG@10 and recall@10
computed; the baseline is `bm25s` (Lucene BM25, k1 1.5, b 0.75) over title + body with the very same
analyser (tokens, stop words, stems, Simplified folding), computed in the same run. For the engine choice the
same queries also run against PostgreSQL full text (`ts_rank_cd` and `ts_rank` over the same analysed terms
with field weights, direct SQL: see `bench.knowledge_pg`) and against the service's engine in process (no
HTTP), each with its latency. Needs the local stack:
    ./switchboard up --no-services
    .venv/bin/python -m bench.knowledge_eval
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import bm25s
import httpx
import numpy as np
import psutil
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.knowledge_common import DATA, ROOT, Service, article_lines, knowledge_service, load_jsonl, percentile
from bench.knowledge_pg import PgFullText
from services.knowledge.domain.analysis import Analyzer
from services.knowledge.domain.article import language_family
from services.knowledge.domain.ranking import SearchFilter
from services.knowledge.search import SearchEngine
from shared.clock import utcnow

SETS = {"stackfaq_en": "en", "cmrc2018_zh": "zh"}
K = 10
PG_VARIANTS = (PgFullText("ts_rank_cd", 0), PgFullText("ts_rank_cd", 1), PgFullText("ts_rank", 1))


@dataclass(frozen=True)
class Scores:
    mrr: float
    ndcg: float
    recall: float
    queries: int


def score(rankings: Sequence[Sequence[str]], relevant: Sequence[set[str]], k: int = K) -> Scores:
    mrr = ndcg = recall = 0.0
    for ranked, wanted in zip(rankings, relevant, strict=True):
        top = list(ranked[:k])
        for rank, doc in enumerate(top, start=1):
            if doc in wanted:
                mrr += 1.0 / rank
                break
        dcg = sum(1.0 / math.log2(rank + 1) for rank, doc in enumerate(top, start=1) if doc in wanted)
        ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(wanted), k) + 1))
        ndcg += dcg / ideal if ideal else 0.0
        recall += len(wanted & set(top)) / len(wanted) if wanted else 0.0
    n = max(len(rankings), 1)
    return Scores(mrr / n, ndcg / n, recall / n, len(rankings))


def baseline(analyzer: Analyzer, articles: list[dict[str, Any]], queries: list[dict[str, Any]]) -> list[list[str]]:
    corpus = [analyzer.terms(a["title"] + "\n" + a["body"]) for a in articles]
    retriever = bm25s.BM25()
    retriever.index(corpus, show_progress=False)
    vocabulary = set().union(*map(set, corpus))
    rankings: list[list[str]] = []
    for query in queries:
        terms = [t for t in analyzer.terms(query["query"]) if t in vocabulary]
        if not terms:
            rankings.append([])
            continue
        scores = retriever.get_scores(terms)
        top = np.argsort(-scores, kind="stable")[:K]
        rankings.append([articles[i]["id"] for i in top if scores[i] > 0])
    return rankings


@dataclass(frozen=True)
class Timed:
    label: str
    scores: Scores
    latencies: list[float]
    """Milliseconds per query; empty when not timed (the baseline)."""


def run_set(name: str, console: Console) -> dict[str, Any]:
    articles = load_jsonl(DATA / name / "articles.jsonl")
    queries = load_jsonl(DATA / name / "queries.jsonl")
    relevant = [set(q["relevant_ids"]) for q in queries]
    analyzer = Analyzer()
    with knowledge_service(
        f"knowledge_eval_{name}", log_path=ROOT / ".switchboard" / "logs" / f"eval-{name}.log"
    ) as svc:
        external_of, import_s = load_articles(svc, articles)
        rankings, latencies = search_all(svc, queries, SETS[name], external_of, console)
    systems = [Timed("knowledge /v1/search (HTTP)", score(rankings, relevant), latencies)]
    in_process, in_process_ms = asyncio.run(engine_in_process(svc.database_url, queries, SETS[name], external_of))
    systems.append(Timed("knowledge engine in process", score(in_process, relevant), in_process_ms))
    for variant in PG_VARIANTS:
        pg_rankings, pg_ms = asyncio.run(
            postgres_all(variant, svc.database_url, analyzer, queries, SETS[name], external_of)
        )
        systems.append(Timed(variant.label, score(pg_rankings, relevant), pg_ms))
    base = baseline(analyzer, articles, queries)
    systems.append(Timed("bm25s baseline", score(base, relevant), []))
    return {
        "set": name,
        "articles": len(articles),
        "queries": len(queries),
        "systems": systems,
        "import_s": import_s,
    }


async def engine_in_process(
    database_url: str, queries: list[dict[str, Any]], lang: str, external_of: dict[str, str]
) -> tuple[list[list[str]], list[float]]:
    """The service's engine loaded from the same database in this process: search cost without HTTP or log."""
    conn = await asyncpg.connect(database_url)
    try:
        engine = await SearchEngine.load(conn, now=utcnow())
    finally:
        await conn.close()
    search_filter = SearchFilter(visibilities=frozenset({"internal", "public"}), languages=language_family(lang))
    rankings: list[list[str]] = []
    latencies: list[float] = []
    for query in queries:
        if not query["query"].strip():
            rankings.append([])
            continue
        started = time.perf_counter()
        found = engine.search(query["query"], search_filter, limit=K)
        latencies.append((time.perf_counter() - started) * 1000)
        rankings.append([external_of[str(r.article.article_id)] for r in found.results])
    return rankings, latencies


async def postgres_all(
    variant: PgFullText,
    database_url: str,
    analyzer: Analyzer,
    queries: list[dict[str, Any]],
    lang: str,
    external_of: dict[str, str],
) -> tuple[list[list[str]], list[float]]:
    """Every query through PostgreSQL full text; the time is the SQL round trip (analysis not included)."""
    await variant.build(database_url)
    languages = sorted(language_family(lang) or ())
    conn = await asyncpg.connect(database_url)
    rankings: list[list[str]] = []
    latencies: list[float] = []
    try:
        for query in queries:
            terms = analyzer.terms(query["query"])
            if not terms:
                rankings.append([])
                continue
            started = time.perf_counter()
            found = await variant.search(conn, terms, limit=K, languages=languages)
            latencies.append((time.perf_counter() - started) * 1000)
            rankings.append([external_of[str(a)] for a in found])
    finally:
        await conn.close()
    return rankings, latencies


def load_articles(svc: Service, articles: list[dict[str, Any]]) -> tuple[dict[str, str], float]:
    lines = article_lines(articles)
    external_of: dict[str, str] = {}
    started = time.perf_counter()
    with httpx.Client(base_url=svc.base_url, timeout=600) as client:
        for i in range(0, len(lines), 2000):
            response = client.post(
                "/v1/articles/import",
                content="\n".join(lines[i : i + 2000]).encode(),
                headers={**svc.headers("supervisor"), "Content-Type": "application/x-ndjson"},
            )
            response.raise_for_status()
            body = response.json()
            if body["errors"]:
                raise RuntimeError(f"import refused items: {body['errors'][:3]}")
            for item in body["articles"]:
                external_of[item["article_id"]] = item["external_id"]
    return external_of, time.perf_counter() - started


def search_all(
    svc: Service, queries: list[dict[str, Any]], lang: str, external_of: dict[str, str], console: Console
) -> tuple[list[list[str]], list[float]]:
    rankings: list[list[str]] = []
    latencies: list[float] = []
    headers = svc.headers("agent")
    with (
        httpx.Client(base_url=svc.base_url, timeout=30) as client,
        Progress(console=console, transient=True) as bar,
    ):
        task = bar.add_task(f"searching ({lang})", total=len(queries))
        for query in queries:
            if not query["query"].strip():  # one CMRC question is empty: a miss for both systems
                rankings.append([])
                bar.advance(task)
                continue
            started = time.perf_counter()
            response = client.get(
                "/v1/search", params={"q": query["query"], "lang": lang, "limit": K}, headers=headers
            )
            latencies.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            rankings.append([external_of[r["article_id"]] for r in response.json()["results"]])
            bar.advance(task)
    return rankings, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    console = Console(width=160)
    results = [run_set(name, console) for name in args.sets]
    cpu = platform.processor() or platform.machine()
    table = Table(
        title=f"knowledge search relevance @10 — {datetime.now(UTC):%Y-%m-%d}, {psutil.cpu_count()} cores {cpu}"
    )
    for column in ("set", "system", "MRR", "nDCG", "recall", "queries", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(column, justify="left" if column in ("set", "system") else "right")
    for r in results:
        for system in r["systems"]:
            s = system.scores
            timing = (
                tuple(f"{percentile(system.latencies, q):.2f}" for q in (50, 95, 99))
                if system.latencies
                else ("", "", "")
            )
            table.add_row(
                r["set"], system.label, f"{s.mrr:.4f}", f"{s.ndcg:.4f}", f"{s.recall:.4f}", str(s.queries), *timing
            )
    console.print(table)
    for r in results:
        console.print(f"{r['set']}: {r['articles']} articles imported (published) in {r['import_s']:.1f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(
                [
                    {
                        **{k: v for k, v in r.items() if k != "systems"},
                        "systems": [
                            {"label": t.label, **t.scores.__dict__, "p50_ms": percentile(t.latencies, 50)}
                            for t in r["systems"]
                        ],
                    }
                    for r in results
                ],
                handle,
                indent=2,
            )


if __name__ == "__main__":
    main()
