"""HTTP: lookups (`/v1/search`), clicks and votes on them, the gaps report, and the admin lists behind search."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.knowledge.api import actor, engine_of, runtime_of
from services.knowledge.api_models import (
    Gaps,
    Rebuilding,
    SettingOut,
    Settings,
    SynonymOut,
    Synonyms,
    TermAdded,
    Terms,
)
from services.knowledge.domain.analysis import query_key
from services.knowledge.domain.article import language_family
from services.knowledge.domain.ranking import IndexedArticle, SearchFilter
from services.knowledge.repository.audit import audit
from services.knowledge.repository.searchlog import SearchRecord, gaps, record_feedback, search_results
from services.knowledge.repository.tuning import (
    Synonym,
    delete_product_term,
    delete_synonym,
    insert_product_term,
    insert_synonym,
    list_product_terms,
    list_settings,
    list_synonyms,
    update_setting,
)
from services.knowledge.search import EngineHolder, SearchEngine, load_tuning
from services.knowledge.searchlog import SearchLogBuffer
from shared.auth import Principal, require_roles
from shared.errors import Problem
from shared.events import Channel
from shared.openapi import example

router = APIRouter(tags=["search"])
log = logging.getLogger(__name__)

Searchers = Annotated[Principal, Depends(require_roles("agent", "supervisor", "admin", "ops", "adapter"))]
Staff = Annotated[Principal, Depends(require_roles("agent", "supervisor", "admin", "ops"))]
Supervisors = Annotated[Principal, Depends(require_roles("supervisor", "admin"))]
Admins = Annotated[Principal, Depends(require_roles("admin"))]


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
    request: Request,
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
    runtime = runtime_of(request)
    engine = engine_of(request)
    cap = getattr(runtime.settings, "max_search_limit", 50)
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
    search_log_of(request).add(
        SearchRecord(
            search_id=search_id,
            source="lookup",
            actor=actor(principal),
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
            searched_at=runtime.clock.now(),
        )
    )
    # The response is written by hand (same shape and formats as SearchOut, which documents it): each article's
    # fields are serialised once per version, and a lookup only adds its score and highlights.
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
    request: Request,
    principal: Principal,
    search_id: uuid.UUID,
    article_id: uuid.UUID | None,
    helpful: bool | None,
) -> None:
    runtime = runtime_of(request)
    buffer = search_log_of(request)
    if buffer.holds(search_id):
        await buffer.flush_from(runtime.pool)
    async with runtime.pool.acquire() as conn:
        results = await search_results(conn, search_id)
    if results is None:
        # With several workers the search may wait in another worker's buffer: give it one flush (holding no
        # connection meanwhile, and never long: an unknown id must not tie up the caller).
        await asyncio.sleep(min(buffer.interval_s * 2, OTHER_WORKER_WAIT_S))
    async with runtime.pool.acquire() as conn, conn.transaction():
        if results is None:
            results = await search_results(conn, search_id)
        if results is None:
            raise Problem(404, "Not found", f"no search {search_id}")
        if article_id is not None and helpful is None and article_id not in results:
            raise Problem(
                422, "Validation failed", "article_id: not among this search's results", kind="validation"
            )
        await record_feedback(
            conn,
            search_id=search_id,
            article_id=article_id,
            kind="click" if helpful is None else "vote",
            helpful=helpful,
            actor=actor(principal),
            now=runtime.clock.now(),
        )


@router.post("/v1/search/{search_id}/click", status_code=204)
async def click(search_id: uuid.UUID, body: ClickIn, principal: Searchers, request: Request) -> None:
    """The searcher opened one of the results."""
    await _feedback(request, principal, search_id, body.article_id, None)


@router.post("/v1/search/{search_id}/vote", status_code=204)
async def vote(search_id: uuid.UUID, body: VoteIn, principal: Searchers, request: Request) -> None:
    """Helpful or not: unhelpful votes make the query a content gap."""
    await _feedback(request, principal, search_id, body.article_id, body.helpful)


@router.get("/v1/knowledge/gaps", response_model=None, responses={200: {"model": Gaps}})
async def get_gaps(
    principal: Staff,
    request: Request,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    source: Literal["lookup", "suggestion"] | None = None,
) -> dict[str, Any]:
    """Queries that found nothing, or whose results searchers voted unhelpful more often than helpful."""
    runtime = runtime_of(request)
    since = runtime.clock.now() - timedelta(days=days)
    async with runtime.pool.acquire() as conn:
        await search_log_of(request).flush(conn)
        found = await gaps(conn, since=since, limit=limit, source=source)
    return {"since": since, "gaps": [g.__dict__ for g in found]}


# --- admin: synonyms, product terms, settings, rebuild -------------------------------------------------------


class SynonymIn(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(terms=["重置密码", "找回密码", "reset password"])

    terms: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(min_length=2, max_length=50)


@router.get("/v1/knowledge/synonyms", response_model=None, responses={200: {"model": Synonyms}})
async def get_synonyms(principal: Staff, request: Request) -> dict[str, Any]:
    async with runtime_of(request).pool.acquire() as conn:
        return {"items": [s.__dict__ for s in await list_synonyms(conn)]}


@router.post(
    "/v1/knowledge/synonyms", status_code=201, response_model=None, responses={201: {"model": SynonymOut}}
)
async def post_synonym(body: SynonymIn, principal: Admins, request: Request) -> dict[str, Any]:
    """Words that mean the same to searchers (`["重置密码", "找回密码", "reset password"]`); applied to queries."""
    runtime = runtime_of(request)
    engine = engine_of(request)
    now = runtime.clock.now()
    terms = tuple(dict.fromkeys(t.strip() for t in body.terms if t.strip()))
    if len(terms) < 2 or sum(1 for t in terms if engine.analyzer.terms(t)) < 2:
        raise Problem(422, "Validation failed", "terms: at least two that are not stop words", kind="validation")
    synonym = Synonym(uuid.uuid4(), terms, actor(principal), now)
    async with runtime.pool.acquire() as conn, conn.transaction():
        await insert_synonym(conn, synonym)
        await audit(conn, actor=actor(principal), action="synonym.create", target=str(synonym.synonym_id),
                    detail={"terms": list(terms)}, now=now)  # fmt: skip
        await engine.load_synonyms(conn)
    return synonym.__dict__


@router.delete("/v1/knowledge/synonyms/{synonym_id}", status_code=204)
async def remove_synonym(synonym_id: uuid.UUID, principal: Admins, request: Request) -> None:
    runtime = runtime_of(request)
    engine = engine_of(request)
    async with runtime.pool.acquire() as conn, conn.transaction():
        if not await delete_synonym(conn, synonym_id):
            raise Problem(404, "Not found", f"no synonym group {synonym_id}")
        await audit(conn, actor=actor(principal), action="synonym.delete", target=str(synonym_id), detail={},
                    now=runtime.clock.now())  # fmt: skip
        await engine.load_synonyms(conn)


class TermIn(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(term="宽带套餐")

    term: str = Field(min_length=1, max_length=60)


@router.get("/v1/knowledge/terms", response_model=None, responses={200: {"model": Terms}})
async def get_terms(principal: Staff, request: Request) -> dict[str, Any]:
    async with runtime_of(request).pool.acquire() as conn:
        return {"items": await list_product_terms(conn)}


@router.post("/v1/knowledge/terms", status_code=201, response_model=None, responses={201: {"model": TermAdded}})
async def post_term(body: TermIn, principal: Admins, request: Request) -> dict[str, Any]:
    """A product term for the Chinese dictionary (kept whole by jieba); re-analyses the index in the background."""
    runtime = runtime_of(request)
    now = runtime.clock.now()
    term = " ".join(body.term.split())
    async with runtime.pool.acquire() as conn, conn.transaction():
        added = await insert_product_term(conn, term=term, by=actor(principal), now=now)
        if added:
            await audit(conn, actor=actor(principal), action="term.create", target=term, detail={}, now=now)
    if added:
        schedule_rebuild(runtime_of(request).extras["engine"], request)
    return {"term": term, "added": added, "rebuilding": added}


@router.delete("/v1/knowledge/terms/{term}", status_code=204)
async def remove_term(term: str, principal: Admins, request: Request) -> None:
    runtime = runtime_of(request)
    async with runtime.pool.acquire() as conn, conn.transaction():
        if not await delete_product_term(conn, term):
            raise Problem(404, "Not found", f"no product term {term!r}")
        await audit(conn, actor=actor(principal), action="term.delete", target=term, detail={},
                    now=runtime.clock.now())  # fmt: skip
    schedule_rebuild(runtime.extras["engine"], request)


@router.get("/v1/knowledge/settings", response_model=None, responses={200: {"model": Settings}})
async def get_settings(principal: Staff, request: Request) -> dict[str, Any]:
    async with runtime_of(request).pool.acquire() as conn:
        return {"items": [s.__dict__ for s in await list_settings(conn)]}


class SettingIn(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(value=180)

    value: float = Field(ge=0)


POSITIVE_INTEGERS = {"review_days", "suggestion_count"}


@router.put("/v1/knowledge/settings/{name}", response_model=None, responses={200: {"model": SettingOut}})
async def put_setting(name: str, body: SettingIn, principal: Admins, request: Request) -> dict[str, Any]:
    """Change a figure (review_days, suggestion_count, boosts…); search uses it at once."""
    runtime = runtime_of(request)
    now = runtime.clock.now()
    value: float | int = body.value
    if name in POSITIVE_INTEGERS:
        if value != int(value) or value < 1:
            raise Problem(422, "Validation failed", f"{name}: a whole number of at least 1", kind="validation")
        value = int(value)
    async with runtime.pool.acquire() as conn, conn.transaction():
        setting = await update_setting(conn, name=name, value=value, by=actor(principal), now=now)
        if setting is None:
            raise Problem(404, "Not found", f"no setting {name!r}")
        await audit(conn, actor=actor(principal), action="setting.update", target=name, detail={"value": value},
                    now=now)  # fmt: skip
    if name.startswith("boost_"):
        schedule_rebuild(runtime.extras["engine"], request)
    else:
        engine = engine_of(request)
        async with runtime.pool.acquire() as conn:
            engine.tuning = await load_tuning(conn)
    return setting.__dict__


@router.post("/v1/search/rebuild", status_code=202, response_model=None, responses={202: {"model": Rebuilding}})
async def rebuild(principal: Admins, request: Request) -> dict[str, Any]:
    """Rebuild the in-memory index from PostgreSQL (re-analysing what is stale) and swap it in when done."""
    runtime = runtime_of(request)
    async with runtime.pool.acquire() as conn:
        await audit(conn, actor=actor(principal), action="index.rebuild", target="search", detail={},
                    now=runtime.clock.now())  # fmt: skip
    task = schedule_rebuild(runtime.extras["engine"], request)
    return {"rebuilding": True, "task": task}


def search_log_of(request: Request) -> SearchLogBuffer:
    buffer: SearchLogBuffer = runtime_of(request).extras["search_log"]
    return buffer


def schedule_rebuild(holder: EngineHolder, request: Request) -> str:
    runtime = runtime_of(request)
    name = f"index-rebuild-{uuid.uuid4().hex[:8]}"

    async def run() -> None:
        async with holder.rebuilding:
            async with runtime.pool.acquire() as conn:
                fresh = await SearchEngine.load(conn, now=runtime.clock.now())
            holder.set(fresh)

    pending: set[asyncio.Task[None]] = runtime.extras.setdefault("rebuilds", set())
    task = asyncio.create_task(run(), name=name)
    pending.add(task)

    def done(finished: asyncio.Task[None]) -> None:
        pending.discard(finished)
        if not finished.cancelled() and finished.exception() is not None:
            log.error("%s failed: %s", name, finished.exception(), exc_info=finished.exception())

    task.add_done_callback(done)
    return name
