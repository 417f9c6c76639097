"""SQL for articles and their versions, the overdue list and the overdue claim."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.knowledge.domain.article import Article, Content, Overdue, Version
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


EXTERNAL_ID_TAKEN = "SELECT 1 FROM article WHERE external_id = $1"


async def external_id_taken(conn: Conn, external_id: str) -> bool:
    return bool(await conn.fetchval(EXTERNAL_ID_TAKEN, external_id))


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


def version_of(row: asyncpg.Record) -> Version:
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
    return None if row is None else version_of(row)


LIST_VERSIONS = f"SELECT {VERSION_COLUMNS} FROM article_version WHERE article_id = $1 ORDER BY version DESC"  # noqa: S608


async def list_versions(conn: Conn, article_id: uuid.UUID) -> list[Version]:
    return [version_of(r) for r in await conn.fetch(LIST_VERSIONS, article_id)]
