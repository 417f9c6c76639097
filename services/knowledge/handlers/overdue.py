"""The overdue announcement: articles past their review-by date, told to their owners once per date."""

from __future__ import annotations

from services.knowledge.domain.article import Overdue
from services.knowledge.handlers import SOURCE
from services.knowledge.repository.articles import claim_overdue
from shared.events import KnowledgeArticleOverdueV1
from shared.outbox import enqueue
from shared.tx import Tx


async def announce_overdue(tx: Tx, *, limit: int) -> list[Overdue]:
    """Claim up to `limit` overdue articles not announced for their review-by date and stage
    `knowledge.article_overdue` for each, in the caller's transaction: the claim and the event commit together."""
    conn, now = tx.conn, tx.now
    found = await claim_overdue(conn, now=now, limit=limit)
    for article in found:
        event = KnowledgeArticleOverdueV1(
            article_id=article.article_id,
            version=article.version,
            title=article.title,
            language=article.language,
            owner=article.owner,
            review_by=article.review_by,
            at=now,
        )
        await enqueue(conn, event, source=SOURCE, subject=f"article:{article.article_id}", now=now)
    return found
