"""What agents tell about a search: a click on a result or a vote on it (or on the list), kept with the logged
search for tuning (`GET /v1/search/gaps`, the relevance figures)."""

from __future__ import annotations

import uuid

from services.knowledge.domain.article import NotAResult, SearchNotFound
from services.knowledge.repository.searchlog import record_feedback, search_results
from shared.tx import Actor, Tx


async def give_feedback(
    tx: Tx,
    search_id: uuid.UUID,
    *,
    article_id: uuid.UUID | None,
    helpful: bool | None,
    actor: Actor,
    results: list[uuid.UUID] | None = None,
) -> None:
    """A click (`helpful` None) must name one of the search's results; a vote may name none (the whole list).
    `results`: the search's results if the caller read them already."""
    if results is None:
        results = await search_results(tx.conn, search_id)
    if results is None:
        raise SearchNotFound(f"no search {search_id}")
    if article_id is not None and helpful is None and article_id not in results:
        raise NotAResult("article_id: not among this search's results")
    await record_feedback(
        tx.conn,
        search_id=search_id,
        article_id=article_id,
        kind="click" if helpful is None else "vote",
        helpful=helpful,
        actor=actor.label,
        now=tx.now,
    )
