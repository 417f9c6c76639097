"""The bulk import's use case: parsed items screened, then created, updated or left alone in the caller's
transaction. An item whose `external_id` is known updates that article with a new version when its content
changed; `publish` publishes at once (a reviewer's import only). Refused items come back as per-item errors and
the good ones are imported."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

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
from services.knowledge.domain.importing import ImportItem, ItemError
from services.knowledge.handlers import SOURCE
from services.knowledge.repository.articles import (
    articles_by_external_id,
    get_version,
    insert_articles,
    insert_versions,
    update_article,
)
from services.knowledge.search import SearchEngine
from shared.audit import AuditEntry, record_many
from shared.events import CHANNELS, ArticlePublishedV1
from shared.outbox import enqueue
from shared.tx import Actor, Tx


@dataclass
class Imported:
    created: list[Article] = field(default_factory=list)
    updated: list[Article] = field(default_factory=list)
    versions: list[Version] = field(default_factory=list)
    live: list[Version] = field(default_factory=list)
    """Versions published by this import."""
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    errors: list[ItemError] = field(default_factory=list)
    """Items refused by the workflow while importing."""


def screen(items: Sequence[ImportItem], *, role: str) -> tuple[list[ImportItem], list[ItemError]]:
    """Items with clean content, each `external_id` once; the rest as errors (no database needed)."""
    accepted: list[ImportItem] = []
    errors: list[ItemError] = []
    seen: set[str] = set()
    for item in items:
        try:
            if item.publish and role not in REVIEWER_ROLES:
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
    return accepted, errors


async def import_items(tx: Tx, accepted: Sequence[ImportItem], *, engine: SearchEngine, actor: Actor) -> Imported:
    """Store screened items with their audit rows, the published ones' search terms and `article.published`
    events. The caller refreshes the engine after its commit when `live` is not empty."""
    conn, now, role, by = tx.conn, tx.now, actor.role, actor.label
    done = Imported()
    known = await articles_by_external_id(conn, [i.external_id for i in accepted if i.external_id])
    for item in accepted:
        existing = known.get(item.external_id) if item.external_id else None
        try:
            if existing is None:
                article = new_article(
                    article_id=uuid.uuid4(),
                    author=by,
                    role=role,
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
                    done.unchanged += 1
                    done.outcomes.append(_outcome(item, existing, "unchanged"))
                    continue
                article = edit(existing, role=role, actor=by, base_version=None, now=now)
                fresh = False
            if item.publish:
                article = transition(article, "submit", role=role, actor=by, now=now, review_days=0)
                article = transition(
                    article, "publish", role=role, actor=by, now=now, review_days=engine.tuning.review_days
                )
        except KnowledgeError as exc:
            done.errors.append(ItemError(item.position, item.external_id, str(exc)))
            continue
        version = Version(article.article_id, article.current_version, item.content, by, now, "import")
        done.versions.append(version)
        (done.created if fresh else done.updated).append(article)
        if item.publish:
            done.live.append(version)
        done.outcomes.append(_outcome(item, article, "created" if fresh else "updated"))
    await _store(tx, done, engine=engine, actor=by)
    return done


async def _store(tx: Tx, done: Imported, *, engine: SearchEngine, actor: str) -> None:
    conn, now = tx.conn, tx.now
    await insert_articles(conn, done.created)
    await insert_versions(conn, done.versions)
    for article in done.updated:
        await update_article(conn, article)
    await engine.save_live(conn, done.live, now=now)
    for version in done.live:
        await enqueue(conn, ArticlePublishedV1(article_id=version.article_id, version=version.version),
                      source=SOURCE, subject=str(version.article_id), now=now)  # fmt: skip
    await record_many(
        conn,
        [
            AuditEntry(
                at=now,
                actor=actor,
                action="article.import",
                target=str(v.article_id),
                detail={"version": v.version, "published": v in done.live},
            )
            for v in done.versions
        ],
    )


def _outcome(item: ImportItem, article: Article, result: str) -> dict[str, Any]:
    return {
        "position": item.position,
        "external_id": item.external_id,
        "article_id": str(article.article_id),
        "version": article.current_version,
        "status": article.status,
        "result": result,
    }
