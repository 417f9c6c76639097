"""HTTP: articles, their versions and diffs, the review workflow and the overdue list."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from services.knowledge.api.common import (
    MAX_OFFSET,
    MAX_VERSION,
    Authors,
    KnowledgeState,
    Reviewers,
    Staff,
    actor_of,
    engine_of,
    transaction,
)
from services.knowledge.api.models import (
    ArticleOut,
    ArticlePage,
    Diff,
    OverduePage,
    VersionList,
    VersionOut,
)
from services.knowledge.domain.article import (
    Action,
    Article,
    Content,
    diff_versions,
)
from services.knowledge.handlers import articles as workflow
from services.knowledge.repository.articles import (
    get_article,
    get_version,
    list_articles,
    list_versions,
    overdue_articles,
)
from services.knowledge.state import Knowledge
from shared import audit
from shared.auth import Principal
from shared.db import Conn
from shared.errors import Problem
from shared.events import Channel
from shared.openapi import example

router = APIRouter(tags=["articles"])
Language = Literal["zh-Hans", "zh-Hant", "en"]
Visibility = Literal["internal", "public"]


class ArticleIn(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(
        title="如何重置密码",
        body="1. 打开登录页\n2. 点“忘记密码”\n3. 输入短信验证码并设置新密码",
        language="zh-Hans",
        summary="按短信验证码重置。",
        category="account",
        tags=["password"],
        channels=[],
        products=["app"],
        visibility="public",
        external_id="kb-reset-password",
    )

    title: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, description="Markdown")
    language: Language
    summary: str = ""
    category: str = ""
    tags: list[str] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list, description="empty: every channel")
    products: list[str] = Field(default_factory=list, description="empty: every product")
    visibility: Visibility = "internal"
    owner: str | None = Field(default=None, description="defaults to the author")
    external_id: str | None = Field(default=None, description="your id, for re-imports")

    def content(self) -> Content:
        return Content(
            title=self.title,
            body=self.body,
            language=self.language,
            summary=self.summary,
            category=self.category,
            tags=tuple(self.tags),
            channels=tuple(self.channels),
            products=tuple(self.products),
            visibility=self.visibility,
        )


class ArticlePatch(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(
        base_version=3, note="SMS code instead of e-mail", summary="在登录页点“忘记密码”，按短信验证码重置。"
    )

    base_version: int | None = Field(default=None, description="the version you edited; 409 if it moved on")
    note: str = ""
    title: str | None = Field(default=None, max_length=300)
    body: str | None = None
    language: Language | None = None
    summary: str | None = None
    category: str | None = None
    tags: list[str] | None = None
    channels: list[Channel] | None = None
    products: list[str] | None = None
    visibility: Visibility | None = None


async def _load(conn: Conn, article_id: uuid.UUID, *, for_update: bool = False) -> Article:
    article = await get_article(conn, article_id, for_update=for_update)
    if article is None:
        raise Problem(404, "Not found", f"no article {article_id}")
    return article


async def _out(conn: Conn, article: Article, now: datetime) -> ArticleOut:
    version = await get_version(conn, article.article_id, article.current_version)
    assert version is not None
    return ArticleOut.of(article, version, now)


@router.post("/v1/articles", status_code=201)
async def create_article(body: ArticleIn, principal: Authors, state: KnowledgeState) -> ArticleOut:
    async with transaction(state) as tx:
        article, version = await workflow.create(
            tx, body.content(), actor=actor_of(principal), owner=body.owner, external_id=body.external_id
        )
    return ArticleOut.of(article, version, tx.now)


@router.get("/v1/articles", response_model=None, responses={200: {"model": ArticlePage}})
async def get_articles(
    principal: Staff,
    state: KnowledgeState,
    status: Literal["draft", "review", "published", "archived"] | None = None,
    owner: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    now = state.clock.now()
    async with state.pool.acquire() as conn:
        articles = await list_articles(conn, status=status, owner=owner, limit=limit, offset=offset)
        items = [await _out(conn, a, now) for a in articles]
    return {"items": items, "limit": limit, "offset": offset}


@router.get("/v1/articles/overdue", response_model=None, responses={200: {"model": OverduePage}})
async def get_overdue(
    principal: Staff,
    state: KnowledgeState,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """Published articles past their review-by date, the most overdue first."""
    now = state.clock.now()
    async with state.pool.acquire() as conn:
        articles = await overdue_articles(conn, now=now, limit=limit, offset=offset)
        items = [await _out(conn, a, now) for a in articles]
    return {"items": items, "as_of": now, "limit": limit, "offset": offset}


@router.get("/v1/articles/{article_id}")
async def get_one(article_id: uuid.UUID, principal: Staff, state: KnowledgeState) -> ArticleOut:
    async with state.pool.acquire() as conn:
        return await _out(conn, await _load(conn, article_id), state.clock.now())


@router.patch("/v1/articles/{article_id}")
async def patch_article(
    article_id: uuid.UUID, body: ArticlePatch, principal: Authors, state: KnowledgeState
) -> ArticleOut:
    """Every edit is a new version; a published article stays live with its published version meanwhile."""
    changes = body.model_dump(exclude_unset=True, exclude={"base_version", "note"})
    async with transaction(state) as tx:
        edited, version = await workflow.revise(
            tx, article_id, changes, base_version=body.base_version, note=body.note, actor=actor_of(principal)
        )
    return ArticleOut.of(edited, version, tx.now)


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(note="checked with the app team")

    note: str = ""


async def _step(
    article_id: uuid.UUID, action: Action, principal: Principal, state: Knowledge, note: str
) -> ArticleOut:
    engine = engine_of(state) if action in ("publish", "archive") else None
    async with transaction(state) as tx:
        changed, version = await workflow.step(
            tx, article_id, action, engine=engine, note=note, actor=actor_of(principal)
        )
    if engine is not None:
        async with state.pool.acquire() as conn:
            await engine.refresh(conn)
    return ArticleOut.of(changed, version, tx.now)


@router.post("/v1/articles/{article_id}/submit")
async def submit(
    article_id: uuid.UUID, principal: Authors, state: KnowledgeState, body: StepIn | None = None
) -> ArticleOut:
    """draft → review (any author)."""
    return await _step(article_id, "submit", principal, state, body.note if body else "")


@router.post("/v1/articles/{article_id}/publish")
async def publish(
    article_id: uuid.UUID, principal: Authors, state: KnowledgeState, body: StepIn | None = None
) -> ArticleOut:
    """review → published (supervisor or admin): the current version goes live in search."""
    return await _step(article_id, "publish", principal, state, body.note if body else "")


@router.post("/v1/articles/{article_id}/reject")
async def reject(
    article_id: uuid.UUID, principal: Authors, state: KnowledgeState, body: StepIn | None = None
) -> ArticleOut:
    """review → draft (supervisor or admin), with a note for the author."""
    return await _step(article_id, "reject", principal, state, body.note if body else "")


@router.post("/v1/articles/{article_id}/archive")
async def archive(
    article_id: uuid.UUID, principal: Authors, state: KnowledgeState, body: StepIn | None = None
) -> ArticleOut:
    """→ archived (supervisor or admin): off search at once."""
    return await _step(article_id, "archive", principal, state, body.note if body else "")


@router.post("/v1/articles/{article_id}/restore")
async def restore(
    article_id: uuid.UUID, principal: Authors, state: KnowledgeState, body: StepIn | None = None
) -> ArticleOut:
    """archived → draft (supervisor or admin)."""
    return await _step(article_id, "restore", principal, state, body.note if body else "")


class OwnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(owner="K-2")

    owner: str = Field(min_length=1)


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(review_by="2027-06-06T10:00:00+08:00")

    review_by: datetime


async def _update(
    article_id: uuid.UUID, principal: Principal, state: Knowledge, what: str, value: Any
) -> ArticleOut:
    async with transaction(state) as tx:
        if what == "owner":
            changed = await workflow.set_owner(tx, article_id, value, actor=actor_of(principal))
        else:
            changed = await workflow.mark_reviewed(tx, article_id, value, actor=actor_of(principal))
        return await _out(tx.conn, changed, tx.now)


@router.put("/v1/articles/{article_id}/owner")
async def put_owner(
    article_id: uuid.UUID, body: OwnerIn, principal: Reviewers, state: KnowledgeState
) -> ArticleOut:
    return await _update(article_id, principal, state, "owner", body.owner)


@router.put("/v1/articles/{article_id}/review")
async def put_review(
    article_id: uuid.UUID, body: ReviewIn, principal: Reviewers, state: KnowledgeState
) -> ArticleOut:
    """Mark the article reviewed: its content still holds until `review_by`."""
    if body.review_by.tzinfo is None:
        raise Problem(422, "Invalid article", "review_by: needs a time zone", kind="invalid-article")
    return await _update(article_id, principal, state, "review", body.review_by)


@router.get("/v1/articles/{article_id}/versions", response_model=None, responses={200: {"model": VersionList}})
async def get_versions(article_id: uuid.UUID, principal: Staff, state: KnowledgeState) -> dict[str, Any]:
    """Every version, newest first, with who changed it and when; `published_version` marks the live one."""
    async with state.pool.acquire() as conn:
        article = await _load(conn, article_id)
        versions = await list_versions(conn, article_id)
        history = await audit.entries(conn, target=str(article_id), limit=200)
    return {
        "article_id": article_id,
        "published_version": article.published_version,
        "versions": [VersionOut.of(v) for v in versions],
        "history": [
            {"actor": e.actor, "action": e.action, "target": e.target, "detail": e.detail, "at": e.at}
            for e in history
        ],
    }


@router.get("/v1/articles/{article_id}/versions/{version}")
async def get_one_version(
    article_id: uuid.UUID,
    version: Annotated[int, Path(ge=1, le=MAX_VERSION)],
    principal: Staff,
    state: KnowledgeState,
) -> VersionOut:
    async with state.pool.acquire() as conn:
        found = await get_version(conn, article_id, version)
    if found is None:
        raise Problem(404, "Not found", f"article {article_id} has no version {version}")
    return VersionOut.of(found)


@router.get("/v1/articles/{article_id}/diff", response_model=None, responses={200: {"model": Diff}})
async def get_diff(
    article_id: uuid.UUID,
    principal: Staff,
    state: KnowledgeState,
    from_version: Annotated[int, Query(alias="from", ge=1, le=MAX_VERSION)],
    to_version: Annotated[int | None, Query(alias="to", ge=1, le=MAX_VERSION)] = None,
) -> dict[str, Any]:
    """What changed between two versions (`to` defaults to the current one): unified diffs per text field."""
    async with state.pool.acquire() as conn:
        article = await _load(conn, article_id)
        target = to_version or article.current_version
        old = await get_version(conn, article_id, from_version)
        new = await get_version(conn, article_id, target)
    if old is None or new is None:
        missing = from_version if old is None else target
        raise Problem(404, "Not found", f"article {article_id} has no version {missing}")
    return {
        "article_id": article_id,
        "from": from_version,
        "to": target,
        "changes": [c.__dict__ for c in diff_versions(old, new)],
    }
