"""SQL for articles, versions, the stored half of the search index, admin lists, settings and the audit log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.knowledge.domain.article import Article, Content, Overdue, Version, markdown_to_text
from services.knowledge.domain.ranking import FieldTerms, IndexedArticle, StoredDocument
from shared.db import Conn

ARTICLE_COLUMNS = """
article_id, status, current_version, published_version, owner, created_by, created_at, updated_at, review_by,
published_at, archived_at, external_id
"""


def _article(row: asyncpg.Record) -> Article:
    return Article(**{k: row[k] for k in row.keys()})  # noqa: SIM118 — asyncpg.Record is not a dict


INSERT_ARTICLE = """
INSERT INTO article (article_id, status, current_version, published_version, owner, created_by, created_at,
                     updated_at, review_by, published_at, archived_at, external_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
"""


async def insert_article(conn: Conn, article: Article) -> None:
    await conn.execute(
        INSERT_ARTICLE,
        article.article_id,
        article.status,
        article.current_version,
        article.published_version,
        article.owner,
        article.created_by,
        article.created_at,
        article.updated_at,
        article.review_by,
        article.published_at,
        article.archived_at,
        article.external_id,
    )


UPDATE_ARTICLE = """
UPDATE article SET status = $2, current_version = $3, published_version = $4, owner = $5, updated_at = $6,
                   review_by = $7, published_at = $8, archived_at = $9
WHERE article_id = $1
"""


async def update_article(conn: Conn, article: Article) -> None:
    await conn.execute(
        UPDATE_ARTICLE,
        article.article_id,
        article.status,
        article.current_version,
        article.published_version,
        article.owner,
        article.updated_at,
        article.review_by,
        article.published_at,
        article.archived_at,
    )


SELECT_ARTICLE = f"SELECT {ARTICLE_COLUMNS} FROM article WHERE article_id = $1"  # noqa: S608 — a constant
SELECT_ARTICLE_FOR_UPDATE = SELECT_ARTICLE + " FOR UPDATE"


async def get_article(conn: Conn, article_id: uuid.UUID, *, for_update: bool = False) -> Article | None:
    row = await conn.fetchrow(SELECT_ARTICLE_FOR_UPDATE if for_update else SELECT_ARTICLE, article_id)
    return None if row is None else _article(row)


SELECT_BY_EXTERNAL = f"SELECT {ARTICLE_COLUMNS} FROM article WHERE external_id = ANY($1::text[]) FOR UPDATE"  # noqa: S608


async def articles_by_external_id(conn: Conn, external_ids: Sequence[str]) -> dict[str, Article]:
    rows = await conn.fetch(SELECT_BY_EXTERNAL, list(external_ids))
    return {row["external_id"]: _article(row) for row in rows}


LIST_ARTICLES = f"""
SELECT {ARTICLE_COLUMNS} FROM article
WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR owner = $2)
ORDER BY updated_at DESC, article_id
LIMIT $3 OFFSET $4
"""  # noqa: S608 — a constant


async def list_articles(
    conn: Conn, *, status: str | None, owner: str | None, limit: int, offset: int
) -> list[Article]:
    return [_article(r) for r in await conn.fetch(LIST_ARTICLES, status, owner, limit, offset)]


OVERDUE = f"""
SELECT {ARTICLE_COLUMNS} FROM article
WHERE published_version IS NOT NULL AND status <> 'archived' AND review_by <= $1
ORDER BY review_by, article_id
LIMIT $2 OFFSET $3
"""  # noqa: S608 — a constant


async def overdue_articles(conn: Conn, *, now: datetime, limit: int, offset: int) -> list[Article]:
    return [_article(r) for r in await conn.fetch(OVERDUE, now, limit, offset)]


# Articles whose review-by date passed and was not announced yet, claimed in one statement: the notice row is
# written here, so two instances (or a run after a restart) never announce the same date twice.
CLAIM_OVERDUE = """
WITH due AS (
    SELECT a.article_id, a.published_version AS version, a.owner, a.review_by
    FROM article a
    WHERE a.published_version IS NOT NULL AND a.status <> 'archived' AND a.review_by <= $1
      AND NOT EXISTS (
          SELECT 1 FROM article_overdue_notice n WHERE n.article_id = a.article_id AND n.review_by = a.review_by
      )
    ORDER BY a.review_by, a.article_id
    LIMIT $2
    FOR UPDATE OF a SKIP LOCKED
), claimed AS (
    INSERT INTO article_overdue_notice (article_id, review_by, version, announced_at)
    SELECT article_id, review_by, version, $1 FROM due
    ON CONFLICT DO NOTHING
    RETURNING article_id
)
SELECT due.article_id, due.version, due.owner, due.review_by, v.title, v.language
FROM due
JOIN claimed ON claimed.article_id = due.article_id
JOIN article_version v ON v.article_id = due.article_id AND v.version = due.version
ORDER BY due.review_by, due.article_id
"""


async def claim_overdue(conn: Conn, *, now: datetime, limit: int) -> list[Overdue]:
    """Up to `limit` articles overdue at `now` whose review-by date nobody announced, now marked announced."""
    return [Overdue(**dict(row)) for row in await conn.fetch(CLAIM_OVERDUE, now, limit)]


VERSION_COLUMNS = """
article_id, version, title, summary, body, category, tags, language, channels, products, visibility,
edited_by, edited_at, note
"""


def _version(row: asyncpg.Record) -> Version:
    content = Content(
        title=row["title"],
        body=row["body"],
        language=row["language"],
        summary=row["summary"],
        category=row["category"],
        tags=tuple(row["tags"]),
        channels=tuple(row["channels"]),
        products=tuple(row["products"]),
        visibility=row["visibility"],
    )
    return Version(
        article_id=row["article_id"],
        version=row["version"],
        content=content,
        edited_by=row["edited_by"],
        edited_at=row["edited_at"],
        note=row["note"],
    )


INSERT_VERSION = """
INSERT INTO article_version (article_id, version, title, summary, body, category, tags, language, channels,
                             products, visibility, edited_by, edited_at, note)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
"""


def _version_args(v: Version) -> tuple[Any, ...]:
    c = v.content
    return (
        v.article_id,
        v.version,
        c.title,
        c.summary,
        c.body,
        c.category,
        list(c.tags),
        c.language,
        list(c.channels),
        list(c.products),
        c.visibility,
        v.edited_by,
        v.edited_at,
        v.note,
    )


async def insert_version(conn: Conn, version: Version) -> None:
    await conn.execute(INSERT_VERSION, *_version_args(version))


async def insert_versions(conn: Conn, versions: Sequence[Version]) -> None:
    await conn.executemany(INSERT_VERSION, [_version_args(v) for v in versions])


async def insert_articles(conn: Conn, articles: Sequence[Article]) -> None:
    await conn.executemany(
        INSERT_ARTICLE,
        [
            (
                a.article_id,
                a.status,
                a.current_version,
                a.published_version,
                a.owner,
                a.created_by,
                a.created_at,
                a.updated_at,
                a.review_by,
                a.published_at,
                a.archived_at,
                a.external_id,
            )
            for a in articles
        ],
    )


SELECT_VERSION = f"SELECT {VERSION_COLUMNS} FROM article_version WHERE article_id = $1 AND version = $2"  # noqa: S608


async def get_version(conn: Conn, article_id: uuid.UUID, version: int) -> Version | None:
    row = await conn.fetchrow(SELECT_VERSION, article_id, version)
    return None if row is None else _version(row)


LIST_VERSIONS = f"SELECT {VERSION_COLUMNS} FROM article_version WHERE article_id = $1 ORDER BY version DESC"  # noqa: S608


async def list_versions(conn: Conn, article_id: uuid.UUID) -> list[Version]:
    return [_version(r) for r in await conn.fetch(LIST_VERSIONS, article_id)]


# --- the stored half of the search index --------------------------------------------------------------------

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
    return [_version(r) for r in await conn.fetch(STALE_LIVE_VERSIONS, analyzer, limit)]


MAX_REVISION = "SELECT coalesce(max(revision), 0) FROM search_document"


async def max_revision(conn: Conn) -> int:
    return int(await conn.fetchval(MAX_REVISION))


# --- admin lists and settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Synonym:
    synonym_id: uuid.UUID
    terms: tuple[str, ...]
    created_by: str
    created_at: datetime


LIST_SYNONYMS = "SELECT synonym_id, terms, created_by, created_at FROM synonym ORDER BY created_at, synonym_id"


async def list_synonyms(conn: Conn) -> list[Synonym]:
    return [
        Synonym(r["synonym_id"], tuple(r["terms"]), r["created_by"], r["created_at"])
        for r in await conn.fetch(LIST_SYNONYMS)
    ]


INSERT_SYNONYM = "INSERT INTO synonym (synonym_id, terms, created_by, created_at) VALUES ($1, $2, $3, $4)"


async def insert_synonym(conn: Conn, synonym: Synonym) -> None:
    await conn.execute(
        INSERT_SYNONYM, synonym.synonym_id, list(synonym.terms), synonym.created_by, synonym.created_at
    )


DELETE_SYNONYM = "DELETE FROM synonym WHERE synonym_id = $1"


async def delete_synonym(conn: Conn, synonym_id: uuid.UUID) -> bool:
    return str(await conn.execute(DELETE_SYNONYM, synonym_id)).endswith(" 1")


LIST_TERMS = "SELECT term FROM product_term ORDER BY term"


async def list_product_terms(conn: Conn) -> list[str]:
    return [r["term"] for r in await conn.fetch(LIST_TERMS)]


INSERT_TERM = """
INSERT INTO product_term (term, created_by, created_at) VALUES ($1, $2, $3) ON CONFLICT (term) DO NOTHING
"""


async def insert_product_term(conn: Conn, *, term: str, by: str, now: datetime) -> bool:
    return str(await conn.execute(INSERT_TERM, term, by, now)).endswith(" 1")


DELETE_TERM = "DELETE FROM product_term WHERE term = $1"


async def delete_product_term(conn: Conn, term: str) -> bool:
    return str(await conn.execute(DELETE_TERM, term)).endswith(" 1")


@dataclass(frozen=True)
class Setting:
    name: str
    value: Any
    description: str
    updated_by: str
    updated_at: datetime


LIST_SETTINGS = "SELECT name, value, description, updated_by, updated_at FROM knowledge_setting ORDER BY name"


async def list_settings(conn: Conn) -> list[Setting]:
    return [Setting(**dict(r)) for r in await conn.fetch(LIST_SETTINGS)]


UPDATE_SETTING = """
UPDATE knowledge_setting SET value = $2, updated_by = $3, updated_at = $4 WHERE name = $1
RETURNING name, value, description, updated_by, updated_at
"""


async def update_setting(conn: Conn, *, name: str, value: Any, by: str, now: datetime) -> Setting | None:
    row = await conn.fetchrow(UPDATE_SETTING, name, value, by, now)
    return None if row is None else Setting(**dict(row))


INSERT_AUDIT = "INSERT INTO audit_log (actor, action, target, detail, at) VALUES ($1, $2, $3, $4, $5)"


async def audit(
    conn: Conn, *, actor: str, action: str, target: str, detail: dict[str, Any], now: datetime
) -> None:
    await conn.execute(INSERT_AUDIT, actor, action, target, detail, now)


async def audit_many(
    conn: Conn, entries: Sequence[tuple[str, str, str, dict[str, Any]]], *, now: datetime
) -> None:
    await conn.executemany(INSERT_AUDIT, [(*e, now) for e in entries])


LIST_AUDIT = """
SELECT actor, action, target, detail, at FROM audit_log WHERE ($1::text IS NULL OR target = $1)
ORDER BY audit_id DESC LIMIT $2
"""


async def list_audit(conn: Conn, *, target: str | None, limit: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(LIST_AUDIT, target, limit)]
