"""HTTP: lookups (`/v1/search`), clicks and votes on them, and the gaps report."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from services.knowledge.api.common import (
    KnowledgeState,
    Searchers,
    Staff,
    actor_of,
    engine_of,
    transaction,
)
from services.knowledge.api.models import (
    Gaps,
)
from services.knowledge.domain.analysis import query_key
from services.knowledge.domain.article import (
    language_family,
)
from services.knowledge.domain.ranking import IndexedArticle, SearchFilter
from services.knowledge.domain.search import Results
from services.knowledge.handlers.searches import give_feedback
from services.knowledge.repository.searchlog import SearchRecord, gaps, search_results
from services.knowledge.state import Knowledge
from shared.auth import Principal
from shared.errors import Problem
from shared.events import Channel
from shared.openapi import example

router = APIRouter(tags=["search"])


class Highlights(BaseModel):
    title: str
    snippet: str


class ArticleFields(BaseModel):
    """What a search hit says of its article."""

    model_config = ConfigDict(from_attributes=True)

    article_id: uuid.UUID
    version: int
    title: str
    summary: str
    category: str
    tags: list[str]
    language: str
    channels: list[str]
    products: list[str]
    visibility: str
    published_at: datetime | None


class SearchHit(ArticleFields):
    score: float
    highlights: Highlights


class SearchOut(BaseModel):
    model_config = example(
        search_id="9e8d7c6b-5a49-4382-a716-f5e4d3c2b1a0",
        query="重置密码",
        total=1,
        limit=10,
        offset=0,
        results=[
            {
                "article_id": "7c6b5a49-3827-4165-9e4d-3c2b1a098f7e",
                "version": 3,
                "title": "如何重置密码",
                "summary": "按短信验证码重置。",
                "category": "account",
                "tags": ["password"],
                "language": "zh-Hans",
                "channels": [],
                "products": ["app"],
                "visibility": "public",
                "published_at": "2026-12-06T10:00:00+08:00",
                "score": 7.42,
                "highlights": {
                    "title": "如何<mark>重置密码</mark>",
                    "snippet": "点“忘记密码”，按短信验证码<mark>重置</mark>。",
                },
            }
        ],
    )

    search_id: uuid.UUID
    query: str
    total: int
    limit: int
    offset: int
    results: list[SearchHit]


@router.get("/v1/search", response_model=SearchOut)
async def search(
    principal: Searchers,
    state: KnowledgeState,
    q: Annotated[str, Query(min_length=1, max_length=1000)],
    lang: Annotated[Literal["zh-Hans", "zh-Hant", "zh", "en"] | None, Query()] = None,
    category: str | None = None,
    channel: Channel | None = None,
    product: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 10,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> Response:
    """Published articles the caller may see, best first. Staff see internal and public articles, adapter keys
    public ones only. `lang` picks a language family: zh-Hans, zh-Hant and zh all mean Chinese in either script.
    """
    engine = engine_of(state)
    cap = state.settings.max_search_limit
    if limit > cap:
        raise Problem(422, "Validation failed", f"limit: at most {cap}", kind="validation")
    visibilities = frozenset({"public"}) if principal.role == "adapter" else frozenset({"internal", "public"})
    search_filter = SearchFilter(
        visibilities=visibilities,
        languages=language_family(lang),
        category=category or None,
        channel=channel,
        product=product or None,
    )
    found = engine.search(q, search_filter, limit=limit, offset=offset)
    search_id = uuid.uuid4()
    state.search_log.add(
        SearchRecord(
            search_id=search_id,
            source="lookup",
            actor=actor_of(principal).label,
            query=q,
            query_key=query_key(engine.analyzer, q),
            language=lang,
            filters={
                k: v
                for k, v in (("category", category), ("channel", channel), ("product", product))
                if v is not None
            }
            | {"offset": offset},
            result_ids=[r.article.article_id for r in found.results],
            result_count=found.total,
            searched_at=state.clock.now(),
        )
    )
    return _response(search_id, q, found, limit=limit, offset=offset)


def _response(search_id: uuid.UUID, q: str, found: Results, *, limit: int, offset: int) -> Response:
    """The response written by hand (same shape and formats as SearchOut, which documents it): each article's
    fields are serialised once per version, and a lookup only adds its score and highlights."""
    body = {
        "search_id": str(search_id),
        "query": q,
        "total": found.total,
        "limit": limit,
        "offset": offset,
        "results": [
            {
                **hit_fields(r.article),
                "score": round(r.score, 4),
                "highlights": {"title": r.title_html, "snippet": r.snippet_html},
            }
            for r in found.results
        ],
    }
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), media_type="application/json")


@lru_cache(maxsize=20_000)
def hit_fields(article: IndexedArticle) -> dict[str, Any]:
    """A search hit's article fields as JSON values (cached per version: the index hands out the same object)."""
    return ArticleFields.model_validate(article).model_dump(mode="json")


class ClickIn(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(article_id="7c6b5a49-3827-4165-9e4d-3c2b1a098f7e")

    article_id: uuid.UUID


class VoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(
        helpful=True, article_id="7c6b5a49-3827-4165-9e4d-3c2b1a098f7e"
    )

    helpful: bool
    article_id: uuid.UUID | None = Field(default=None, description="the article voted on; none: the result list")


OTHER_WORKER_WAIT_S = 2.0
"""Longest a click or vote on a search not found yet waits for another worker's search-log flush."""


async def _feedback(
    state: Knowledge,
    principal: Principal,
    search_id: uuid.UUID,
    article_id: uuid.UUID | None,
    helpful: bool | None,
) -> None:
    buffer = state.search_log
    if buffer.holds(search_id):
        await buffer.flush_from(state.pool)
    async with state.pool.acquire() as conn:
        results = await search_results(conn, search_id)
    if results is None:
        # With several workers the search may wait in another worker's buffer: give it one flush (holding no
        # connection meanwhile, and never long: an unknown id must not tie up the caller).
        await asyncio.sleep(min(buffer.interval_s * 2, OTHER_WORKER_WAIT_S))
    async with transaction(state) as tx:
        await give_feedback(
            tx, search_id, article_id=article_id, helpful=helpful, actor=actor_of(principal), results=results
        )


@router.post("/v1/search/{search_id}/click", status_code=204)
async def click(search_id: uuid.UUID, body: ClickIn, principal: Searchers, state: KnowledgeState) -> None:
    """The searcher opened one of the results."""
    await _feedback(state, principal, search_id, body.article_id, None)


@router.post("/v1/search/{search_id}/vote", status_code=204)
async def vote(search_id: uuid.UUID, body: VoteIn, principal: Searchers, state: KnowledgeState) -> None:
    """Helpful or not: unhelpful votes make the query a content gap."""
    await _feedback(state, principal, search_id, body.article_id, body.helpful)


@router.get("/v1/knowledge/gaps", response_model=None, responses={200: {"model": Gaps}})
async def get_gaps(
    principal: Staff,
    state: KnowledgeState,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    source: Literal["lookup", "suggestion"] | None = None,
) -> dict[str, Any]:
    """Queries that found nothing, or whose results searchers voted unhelpful more often than helpful."""
    since = state.clock.now() - timedelta(days=days)
    async with state.pool.acquire() as conn:
        await state.search_log.flush(conn)
        found = await gaps(conn, since=since, limit=limit, source=source)
    return {"since": since, "gaps": [g.__dict__ for g in found]}
