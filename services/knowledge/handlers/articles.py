"""The article workflow: create, edit, the review steps (submit, publish, reject, archive, restore), owner and
review-by date. Each takes the caller's transaction (`Tx`) first and writes its audit row there; publish and
archive stage their event in the outbox in the same transaction. Errors are the domain's (`KnowledgeError`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.knowledge.domain.article import (
    Action,
    Article,
    ArticleNotFound,
    Content,
    DuplicateExternalId,
    InvalidArticle,
    Version,
    change_owner,
    clean_content,
    edit,
    new_article,
    set_review_by,
    transition,
)
from services.knowledge.handlers import SOURCE
from services.knowledge.repository.articles import (
    external_id_taken,
    get_article,
    get_version,
    insert_article,
    insert_version,
    update_article,
)
from services.knowledge.repository.documents import retire_document
from services.knowledge.search import SearchEngine
from shared import audit
from shared.events import CHANNELS, ArticleArchivedV1, ArticlePublishedV1
from shared.outbox import enqueue
from shared.tx import Actor, Tx

DEFAULT_REVIEW_DAYS = 180
"""Review period of a step that does not publish (it sets no review-by date)."""


async def load(tx: Tx, article_id: uuid.UUID, *, for_update: bool = False) -> Article:
    article = await get_article(tx.conn, article_id, for_update=for_update)
    if article is None:
        raise ArticleNotFound(f"no article {article_id}")
    return article


async def create(
    tx: Tx, content: Content, *, actor: Actor, owner: str | None, external_id: str | None
) -> tuple[Article, Version]:
    """A new draft with its first version; an `external_id` already in use is refused."""
    conn, now, by = tx.conn, tx.now, actor.label
    content = clean_content(content, channels_known=CHANNELS)
    article = new_article(
        article_id=uuid.uuid4(), author=by, role=actor.role, owner=owner, now=now, external_id=external_id
    )
    version = Version(article.article_id, 1, content, by, now, "created")
    if external_id is not None and await external_id_taken(conn, external_id):
        raise DuplicateExternalId(f"an article with external_id {external_id!r} exists")
    await insert_article(conn, article)
    await insert_version(conn, version)
    await audit.record(
        conn, actor=by, action="article.create", target=str(article.article_id), detail={"version": 1}, at=now
    )
    return article, version


async def revise(
    tx: Tx, article_id: uuid.UUID, changes: dict[str, Any], *, base_version: int | None, note: str, actor: Actor
) -> tuple[Article, Version]:
    """Every edit is a new version (fields absent or None in `changes` keep their value); a published article
    stays live with its published version meanwhile."""
    conn, now, by = tx.conn, tx.now, actor.label
    article = await load(tx, article_id, for_update=True)
    current = await get_version(conn, article_id, article.current_version)
    assert current is not None
    merged = {**current.content.__dict__, **{k: v for k, v in changes.items() if v is not None}}
    for name in ("tags", "channels", "products"):
        merged[name] = tuple(merged[name])
    content = clean_content(Content(**merged), channels_known=CHANNELS)
    if content == current.content:
        raise InvalidArticle("nothing changed: the edit equals the current version")
    edited = edit(article, role=actor.role, actor=by, base_version=base_version, now=now)
    version = Version(article_id, edited.current_version, content, by, now, note)
    await insert_version(conn, version)
    await update_article(conn, edited)
    await audit.record(
        conn,
        actor=by,
        action="article.edit",
        target=str(article_id),
        detail={"version": edited.current_version, "fields": sorted(changes)},
        at=now,
    )
    return edited, version


async def step(
    tx: Tx, article_id: uuid.UUID, action: Action, *, engine: SearchEngine | None, note: str, actor: Actor
) -> tuple[Article, Version]:
    """One workflow step. Publish stores the version's search terms (through `engine`) and stages
    `article.published`; archive retires them and stages `article.archived`. The caller refreshes the engine
    after its commit."""
    conn, now = tx.conn, tx.now
    article = await load(tx, article_id, for_update=True)
    review_days = engine.tuning.review_days if engine is not None else DEFAULT_REVIEW_DAYS
    changed = transition(article, action, role=actor.role, actor=actor.label, now=now, review_days=review_days)
    await update_article(conn, changed)
    version = await get_version(conn, article_id, changed.current_version)
    assert version is not None
    if action == "publish" and engine is not None:
        await engine.save_live(conn, [version], now=now)
        await enqueue(conn, ArticlePublishedV1(article_id=article_id, version=changed.current_version),
                      source=SOURCE, subject=str(article_id), now=now)  # fmt: skip
    if action == "archive":
        await retire_document(conn, article_id, now=now)
        archived_version = article.published_version or article.current_version
        await enqueue(conn, ArticleArchivedV1(article_id=article_id, version=archived_version),
                      source=SOURCE, subject=str(article_id), now=now)  # fmt: skip
    await audit.record(
        conn,
        actor=actor.label,
        action=f"article.{action}",
        target=str(article_id),
        detail={"version": changed.current_version, "from": article.status, "note": note},
        at=now,
    )
    return changed, version


async def set_owner(tx: Tx, article_id: uuid.UUID, owner: str, *, actor: Actor) -> Article:
    article = await load(tx, article_id, for_update=True)
    changed = change_owner(article, role=actor.role, owner=owner, now=tx.now)
    await update_article(tx.conn, changed)
    await audit.record(
        tx.conn, actor=actor.label, action="article.owner", target=str(article_id), detail={"owner": owner},
        at=tx.now,
    )  # fmt: skip
    return changed


async def mark_reviewed(tx: Tx, article_id: uuid.UUID, review_by: datetime, *, actor: Actor) -> Article:
    """The article's content still holds until `review_by`."""
    article = await load(tx, article_id, for_update=True)
    changed = set_review_by(article, role=actor.role, review_by=review_by, now=tx.now)
    await update_article(tx.conn, changed)
    await audit.record(
        tx.conn, actor=actor.label, action="article.review", target=str(article_id),
        detail={"review": str(review_by)}, at=tx.now,
    )  # fmt: skip
    return changed
