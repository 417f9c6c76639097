"""HTTP: bulk import of articles (JSON lines or Markdown with front matter), item by item, in one transaction.

An item whose `external_id` (or `id`) is known updates that article with a new version when its content
changed. `status: published` publishes at once and needs a reviewer (supervisor or admin); bad items come back
as per-item errors and the good ones are imported.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from fastapi import APIRouter, Request

from services.knowledge.api import Authors, actor, engine_of, runtime_of
from services.knowledge.api_models import IMPORT_BODY, ImportReport
from services.knowledge.domain.article import (
    REVIEWER_ROLES,
    Article,
    KnowledgeError,
    Version,
    clean_content,
    edit,
    new_article,
    transition,
)
from services.knowledge.domain.importing import ImportItem, ItemError, parse_json_lines, parse_markdown
from services.knowledge.handlers import SOURCE
from services.knowledge.repository.articles import (
    articles_by_external_id,
    get_version,
    insert_articles,
    insert_versions,
    update_article,
)
from services.knowledge.repository.audit import audit_many
from shared.errors import Problem
from shared.events import CHANNELS, ArticlePublishedV1
from shared.outbox import enqueue

router = APIRouter(tags=["articles"])

JSON_LINES = ("application/x-ndjson", "application/jsonl", "application/json-lines", "application/x-jsonlines")
MARKDOWN = ("text/markdown", "text/x-markdown")


@router.post(
    "/v1/articles/import", response_model=None, responses={200: {"model": ImportReport}}, openapi_extra=IMPORT_BODY
)
async def import_articles(principal: Authors, request: Request) -> dict[str, Any]:
    runtime = runtime_of(request)
    engine = engine_of(request)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Problem(400, "Bad request", f"the body is not UTF-8 (byte {exc.start})") from exc
    if media in JSON_LINES:
        items, errors = parse_json_lines(text)
    elif media in MARKDOWN:
        items, errors = parse_markdown(text)
    else:
        raise Problem(
            415,
            "Unsupported media type",
            f"send JSON lines ({JSON_LINES[0]}) or Markdown with front matter ({MARKDOWN[0]}); "
            f"got {media or 'none'}",
        )
    received = len(items) + len(errors)
    limit = getattr(runtime.settings, "max_import_items", 20_000)
    if received > limit:
        raise Problem(413, "Payload too large", f"{received} items; at most {limit} per call")
    now = runtime.clock.now()
    author = actor(principal)
    accepted: list[ImportItem] = []
    seen: set[str] = set()
    for item in items:
        try:
            if item.publish and principal.role not in REVIEWER_ROLES:
                raise KnowledgeError("status published needs a supervisor or admin; import it as a draft")
            if item.external_id is not None and item.external_id in seen:
                raise KnowledgeError(f"external_id {item.external_id!r} appears twice in this import")
            content = clean_content(item.content, channels_known=CHANNELS)
        except KnowledgeError as exc:
            errors.append(ItemError(item.position, item.external_id, str(exc)))
            continue
        if item.external_id is not None:
            seen.add(item.external_id)
        accepted.append(dataclasses.replace(item, content=content))

    created: list[Article] = []
    updated: list[Article] = []
    versions: list[Version] = []
    live: list[Version] = []
    outcomes: list[dict[str, Any]] = []
    unchanged = 0
    async with runtime.pool.acquire() as conn:
        async with conn.transaction():
            known = await articles_by_external_id(conn, [i.external_id for i in accepted if i.external_id])
            for item in accepted:
                existing = known.get(item.external_id) if item.external_id else None
                try:
                    if existing is None:
                        article = new_article(
                            article_id=uuid.uuid4(),
                            author=author,
                            role=principal.role,
                            owner=item.owner,
                            now=now,
                            external_id=item.external_id,
                        )
                        fresh = True
                    else:
                        current = await get_version(conn, existing.article_id, existing.current_version)
                        if (
                            current is not None
                            and current.content == item.content
                            and not (item.publish and existing.status != "published")
                        ):
                            unchanged += 1
                            outcomes.append(_outcome(item, existing, "unchanged"))
                            continue
                        article = edit(existing, role=principal.role, actor=author, base_version=None, now=now)
                        fresh = False
                    if item.publish:
                        article = transition(
                            article, "submit", role=principal.role, actor=author, now=now, review_days=0
                        )
                        article = transition(
                            article,
                            "publish",
                            role=principal.role,
                            actor=author,
                            now=now,
                            review_days=engine.tuning.review_days,
                        )
                except KnowledgeError as exc:
                    errors.append(ItemError(item.position, item.external_id, str(exc)))
                    continue
                version = Version(article.article_id, article.current_version, item.content, author, now, "import")
                versions.append(version)
                (created if fresh else updated).append(article)
                if item.publish:
                    live.append(version)
                outcomes.append(_outcome(item, article, "created" if fresh else "updated"))
            await insert_articles(conn, created)
            await insert_versions(conn, versions)
            for article in updated:
                await update_article(conn, article)
            await engine.save_live(conn, live, now=now)
            for version in live:
                await enqueue(conn, ArticlePublishedV1(article_id=version.article_id, version=version.version),
                              source=SOURCE, subject=str(version.article_id), now=now)  # fmt: skip
            await audit_many(
                conn,
                [
                    (author, "article.import", str(v.article_id), {"version": v.version, "published": v in live})
                    for v in versions
                ],
                now=now,
            )
        if live:
            await engine.refresh(conn)
    if errors and not versions and not unchanged:
        raise Problem(
            422,
            "Nothing imported",
            f"all {len(errors)} items were refused; see errors",
            kind="import",
            errors=[e.__dict__ for e in errors],
        )
    return {
        "received": received,
        "created": len(created),
        "updated": len(updated),
        "unchanged": unchanged,
        "published": len(live),
        "errors": [e.__dict__ for e in sorted(errors, key=lambda e: _order(e.position))],
        "articles": outcomes,
    }


def _outcome(item: ImportItem, article: Article, result: str) -> dict[str, Any]:
    return {
        "position": item.position,
        "external_id": item.external_id,
        "article_id": str(article.article_id),
        "version": article.current_version,
        "status": article.status,
        "result": result,
    }


def _order(position: str) -> int:
    digits = "".join(c if c.isdigit() else " " for c in position).split()
    return int(digits[0]) if digits else 0
