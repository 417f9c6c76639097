"""Consumers: every new contact and customer message gets the top articles for its text, language and category.

Each takes the inbox transaction the consumer loop opened (`Tx`) and the engine the process serves from. A
suggestion is logged like a lookup (source `suggestion`, text masked) so contacts nothing answers show up in the
gaps report, and `knowledge.suggested` goes out through the outbox, unless the message changed nothing in what
the agent already has.
"""

from __future__ import annotations

import uuid

from services.knowledge.domain.analysis import query_key
from services.knowledge.domain.article import language_family
from services.knowledge.domain.ranking import SearchFilter
from services.knowledge.domain.search import Result
from services.knowledge.handlers import SOURCE
from services.knowledge.repository.contacts import ContactContext, get_contact_context, save_contact_context
from services.knowledge.repository.searchlog import SearchRecord, record_search
from services.knowledge.search import SearchEngine
from shared.events import (
    ContactMessageAddedV1,
    ContactReceivedV1,
    KnowledgeSuggestedV1,
    SuggestedArticle,
)
from shared.outbox import enqueue
from shared.redact import mask_pii
from shared.tx import Tx

CATEGORY_FACTOR = 1.25
"""Score multiplier for articles filed under the contact's category: a preference, never a filter."""
LOGGED_QUERY_CHARS = 500


async def on_contact_received(tx: Tx, event: ContactReceivedV1, engine: SearchEngine) -> None:
    context = ContactContext(
        contact_id=event.contact_id,
        channel=event.channel,
        language=event.language,
        category=event.category,
        suggested_ids=(),
    )
    text = "\n".join(part for part in (event.subject, event.text) if part)
    await suggest(tx, context, text, engine, message_id=event.message_id)


async def on_contact_message_added(tx: Tx, event: ContactMessageAddedV1, engine: SearchEngine) -> None:
    if not event.from_customer:
        return
    context = await get_contact_context(tx.conn, event.contact_id)
    if context is None:
        context = ContactContext(
            contact_id=event.contact_id,
            channel=event.channel,
            language=event.language,
            category="",
            suggested_ids=(),
        )
    elif event.language:
        context = ContactContext(
            context.contact_id, context.channel, event.language, context.category, context.suggested_ids
        )
    await suggest(tx, context, event.text, engine, message_id=event.message_id)


async def suggest(
    tx: Tx, context: ContactContext, text: str, engine: SearchEngine, *, message_id: uuid.UUID
) -> KnowledgeSuggestedV1 | None:
    conn, now = tx.conn, tx.now
    chosen = _best_articles(engine, context, text)
    search_id = uuid.uuid4()
    masked = mask_pii(text)[:LOGGED_QUERY_CHARS]
    await record_search(
        conn,
        SearchRecord(
            search_id=search_id,
            source="suggestion",
            actor=f"contact:{context.contact_id}",
            query=masked,
            query_key=query_key(engine.analyzer, masked),
            language=context.language,
            filters={"channel": context.channel, "category": context.category},
            result_ids=[r.article.article_id for r in chosen],
            result_count=len(chosen),
            searched_at=now,
        ),
    )
    ids = tuple(r.article.article_id for r in chosen)
    unchanged = ids == context.suggested_ids
    await save_contact_context(
        conn,
        ContactContext(context.contact_id, context.channel, context.language, context.category, ids),
        now=now,
    )
    if not chosen or unchanged:
        return None
    event = KnowledgeSuggestedV1(
        contact_id=context.contact_id,
        message_id=message_id,
        search_id=search_id,
        articles=[
            SuggestedArticle(
                article_id=r.article.article_id,
                title=r.article.title,
                score=round(r.score, 4),
                summary=r.article.summary or None,
                language=r.article.language,
            )
            for r in chosen
        ],
    )
    await enqueue(conn, event, source=SOURCE, subject=str(context.contact_id), now=now)
    return event


def _best_articles(engine: SearchEngine, context: ContactContext, text: str) -> list[Result]:
    """The top articles for the text that score at least `suggestion_min_score`, in the contact's language when
    any match."""
    languages = language_family(context.language)
    search_filter = SearchFilter(
        visibilities=frozenset({"internal", "public"}), languages=languages, channel=context.channel
    )
    count = engine.tuning.suggestion_count
    results = engine.search(
        text,
        search_filter,
        limit=count,
        prefer_category=context.category or None,
        category_factor=CATEGORY_FACTOR,
        highlight=False,
    )
    if not results.results and languages is not None:
        # Nothing in the contact's language: an article in another language beats none for the agent.
        results = engine.search(
            text,
            SearchFilter(visibilities=search_filter.visibilities, channel=context.channel),
            limit=count,
            prefer_category=context.category or None,
            category_factor=CATEGORY_FACTOR,
            highlight=False,
        )
    return [r for r in results.results if r.score >= engine.tuning.suggestion_min_score]
