"""SQL for the stored half of the search index: the analysed terms of every live version, by revision."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.knowledge.domain.article import Version, markdown_to_text
from services.knowledge.domain.ranking import FieldTerms, IndexedArticle, StoredDocument
from services.knowledge.repository.articles import VERSION_COLUMNS, version_of
from shared.db import Conn

UPSERT_DOCUMENTS = """
INSERT INTO search_document (article_id, version, live, analyzer, title_terms, tags_terms, summary_terms,
                             body_terms, indexed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (article_id) DO UPDATE SET
    version = EXCLUDED.version, live = EXCLUDED.live, analyzer = EXCLUDED.analyzer,
    title_terms = EXCLUDED.title_terms, tags_terms = EXCLUDED.tags_terms,
    summary_terms = EXCLUDED.summary_terms, body_terms = EXCLUDED.body_terms,
    indexed_at = EXCLUDED.indexed_at, revision = nextval('search_revision')
"""


@dataclass(frozen=True)
class DocumentTerms:
    article_id: uuid.UUID
    version: int
    terms: FieldTerms


async def save_documents(conn: Conn, documents: Sequence[DocumentTerms], *, analyzer: str, now: datetime) -> None:
    """Store the analysed terms of live versions (space-joined: terms never contain white space)."""
    await conn.executemany(
        UPSERT_DOCUMENTS,
        [
            (
                d.article_id,
                d.version,
                True,
                analyzer,
                " ".join(d.terms.title),
                " ".join(d.terms.tags),
                " ".join(d.terms.summary),
                " ".join(d.terms.body),
                now,
            )
            for d in documents
        ],
    )


RETIRE_DOCUMENT = """
UPDATE search_document SET live = false, revision = nextval('search_revision'), indexed_at = $2
WHERE article_id = $1
"""


async def retire_document(conn: Conn, article_id: uuid.UUID, *, now: datetime) -> None:
    await conn.execute(RETIRE_DOCUMENT, article_id, now)


DOCUMENTS_SINCE = """
SELECT d.article_id, d.version, d.live, d.revision, d.analyzer, d.title_terms, d.tags_terms, d.summary_terms,
       d.body_terms, v.title, v.summary, v.body, v.language, v.category, v.tags, v.channels, v.products,
       v.visibility, a.published_at
FROM search_document d
JOIN article_version v ON v.article_id = d.article_id AND v.version = d.version
JOIN article a ON a.article_id = d.article_id
WHERE d.revision > $1
ORDER BY d.revision
LIMIT $2
"""


async def documents_since(conn: Conn, revision: int, *, limit: int = 2000) -> list[StoredDocument]:
    rows = await conn.fetch(DOCUMENTS_SINCE, revision, limit)
    return [
        StoredDocument(
            article=IndexedArticle(
                article_id=r["article_id"],
                version=r["version"],
                title=r["title"],
                summary=r["summary"],
                body_text=" ".join(markdown_to_text(r["body"]).split()),
                language=r["language"],
                category=r["category"],
                tags=tuple(r["tags"]),
                channels=tuple(r["channels"]),
                products=tuple(r["products"]),
                visibility=r["visibility"],
                published_at=r["published_at"],
            ),
            terms=FieldTerms(
                title=r["title_terms"].split(),
                tags=r["tags_terms"].split(),
                summary=r["summary_terms"].split(),
                body=r["body_terms"].split(),
            ),
            live=r["live"],
            revision=r["revision"],
            analyzer=r["analyzer"],
        )
        for r in rows
    ]


STALE_LIVE_VERSIONS = f"""
SELECT {", ".join("v." + c.strip() for c in VERSION_COLUMNS.split(","))}
FROM article a
JOIN article_version v ON v.article_id = a.article_id AND v.version = a.published_version
LEFT JOIN search_document d ON d.article_id = a.article_id
WHERE a.published_version IS NOT NULL AND a.status <> 'archived'
  AND (d.article_id IS NULL OR NOT d.live OR d.version <> a.published_version OR d.analyzer <> $1)
ORDER BY a.article_id
LIMIT $2
"""  # noqa: S608 — a constant


async def stale_live_versions(conn: Conn, *, analyzer: str, limit: int) -> list[Version]:
    """Published versions whose stored terms are missing, outdated or from another analyser."""
    return [version_of(r) for r in await conn.fetch(STALE_LIVE_VERSIONS, analyzer, limit)]


MAX_REVISION = "SELECT coalesce(max(revision), 0) FROM search_document"


async def max_revision(conn: Conn) -> int:
    return int(await conn.fetchval(MAX_REVISION))
