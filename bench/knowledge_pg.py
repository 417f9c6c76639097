"""The PostgreSQL full-text variant the benchmarks compare the embedded index against.

PostgreSQL has no Chinese parser, so the documents are the same analysed terms the service stores in
`search_document` (jieba words, stems, Simplified folding), turned into a `tsvector` with the `simple`
configuration and one weight class per field (title A, tags B, summary C, body D; the weights follow the
service's boosts 5 : 2 : 1.5 : 1). A query is the OR of its analysed terms, matched through a GIN index and
ranked by `ts_rank_cd` (cover density) or `ts_rank`, each with a normalisation option. The table lives in the
benchmark's own database beside the service's tables (`bench_fts`) and is rebuilt when it is out of date.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from shared.db import Conn

CREATE = """
CREATE TABLE IF NOT EXISTS bench_fts (
    article_id uuid PRIMARY KEY,
    language   text NOT NULL,
    tsv        tsvector NOT NULL
)
"""
FILL = """
INSERT INTO bench_fts (article_id, language, tsv)
SELECT d.article_id, v.language,
       setweight(to_tsvector('simple', d.title_terms), 'A')
       || setweight(to_tsvector('simple', d.tags_terms), 'B')
       || setweight(to_tsvector('simple', d.summary_terms), 'C')
       || setweight(to_tsvector('simple', d.body_terms), 'D')
FROM search_document d JOIN article_version v ON v.article_id = d.article_id AND v.version = d.version
WHERE d.live
"""
INDEX = "CREATE INDEX IF NOT EXISTS bench_fts_tsv_idx ON bench_fts USING gin (tsv)"
WEIGHTS = [0.2, 0.3, 0.4, 1.0]
"""{D, C, B, A}: body 1, summary 1.5, tags 2, title 5 — the service's boosts, scaled to A = 1."""

# Only the ranking function differs between these; normalisation is a parameter ($4).
SEARCH_RANK_CD = """
SELECT article_id FROM (
    SELECT article_id, ts_rank_cd($3::float4[], tsv, q, $4) AS rank
    FROM bench_fts, to_tsquery('simple', $1) AS q
    WHERE tsv @@ q AND ($2::text[] IS NULL OR language = ANY($2))
) ranked ORDER BY rank DESC, article_id LIMIT $5
"""
SEARCH_RANK = """
SELECT article_id FROM (
    SELECT article_id, ts_rank($3::float4[], tsv, q, $4) AS rank
    FROM bench_fts, to_tsquery('simple', $1) AS q
    WHERE tsv @@ q AND ($2::text[] IS NULL OR language = ANY($2))
) ranked ORDER BY rank DESC, article_id LIMIT $5
"""


def tsquery(terms: Sequence[str]) -> str:
    """The OR of the terms, each quoted (a term the parser splits becomes a phrase)."""
    return " | ".join("'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in dict.fromkeys(terms))


@dataclass(frozen=True)
class PgFullText:
    function: str = "ts_rank_cd"
    normalization: int = 1
    """PostgreSQL's rank normalisation bits: 0 none, 1 ÷ (1 + log length), 2 ÷ length, 4 ÷ mean extent distance
    (ts_rank_cd only), 32 rank / (rank + 1)."""

    @property
    def label(self) -> str:
        return f"PostgreSQL {self.function} (normalisation {self.normalization})"

    async def build(self, database_url: str) -> int:
        """Make `bench_fts` match the live documents; return how many it holds."""
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(CREATE)
            live = await conn.fetchval("SELECT count(*) FROM search_document WHERE live")
            held = await conn.fetchval("SELECT count(*) FROM bench_fts")
            if held != live:
                async with conn.transaction():
                    await conn.execute("TRUNCATE bench_fts")
                    await conn.execute(FILL)
                await conn.execute(INDEX)
                await conn.execute("ANALYZE bench_fts")
            count: int = await conn.fetchval("SELECT count(*) FROM bench_fts")
            return count
        finally:
            await conn.close()

    async def search(
        self, conn: Conn, terms: Sequence[str], *, limit: int, languages: Sequence[str] | None = None
    ) -> list[uuid.UUID]:
        if not terms:
            return []
        sql = SEARCH_RANK_CD if self.function == "ts_rank_cd" else SEARCH_RANK
        rows = await conn.fetch(
            sql, tsquery(terms), list(languages) if languages else None, WEIGHTS, self.normalization, limit
        )
        return [r["article_id"] for r in rows]
