"""What knowledge's OpenAPI document says of the answers its routes build as plain dicts (article pages, versions,
diffs, gaps, synonyms, terms, settings, imports, rebuilds) and of the import bodies it reads itself: each model is
their contract, with an example."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from services.knowledge.domain.article import Article, Version
from shared.openapi import example, request_body

ARTICLE_ID = "7c6b5a49-3827-4165-9e4d-3c2b1a098f7e"
T = "2026-12-06T10:00:00+08:00"
ARTICLE_EXAMPLE: dict[str, Any] = {
    "article_id": ARTICLE_ID,
    "status": "published",
    "version": 3,
    "published_version": 3,
    "owner": "K-1",
    "created_by": "K-1",
    "external_id": "kb-reset-password",
    "created_at": T,
    "updated_at": T,
    "published_at": T,
    "archived_at": "2027-06-06T10:00:00+08:00",
    "review_by": "2027-06-06T10:00:00+08:00",
    "overdue": False,
    "title": "如何重置密码",
    "summary": "在登录页点“忘记密码”，按短信验证码重置。",
    "body": "1. 打开登录页\n2. 点“忘记密码”\n3. 输入短信验证码并设置新密码",
    "category": "account",
    "tags": ["password", "login"],
    "language": "zh-Hans",
    "channels": [],
    "products": ["app"],
    "visibility": "public",
    "edited_by": "K-1",
    "edited_at": T,
}
VERSION_EXAMPLE: dict[str, Any] = {
    "version": 3,
    **{k: ARTICLE_EXAMPLE[k] for k in ("title", "summary", "body", "category", "tags", "language", "channels")},
    "products": ["app"],
    "visibility": "public",
    "edited_by": "K-1",
    "edited_at": T,
    "note": "SMS code instead of e-mail",
}


class ArticleOut(BaseModel):
    model_config = example(**ARTICLE_EXAMPLE)

    article_id: uuid.UUID
    status: str
    version: int
    published_version: int | None
    owner: str
    created_by: str
    external_id: str | None
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    archived_at: datetime | None
    review_by: datetime | None
    overdue: bool
    title: str
    summary: str
    body: str
    category: str
    tags: list[str]
    language: str
    channels: list[str]
    products: list[str]
    visibility: str
    edited_by: str
    edited_at: datetime

    @classmethod
    def of(cls, article: Article, version: Version, now: datetime) -> ArticleOut:
        c = version.content
        return cls(
            article_id=article.article_id,
            status=article.status,
            version=article.current_version,
            published_version=article.published_version,
            owner=article.owner,
            created_by=article.created_by,
            external_id=article.external_id,
            created_at=article.created_at,
            updated_at=article.updated_at,
            published_at=article.published_at,
            archived_at=article.archived_at,
            review_by=article.review_by,
            overdue=article.overdue(now),
            title=c.title,
            summary=c.summary,
            body=c.body,
            category=c.category,
            tags=list(c.tags),
            language=c.language,
            channels=list(c.channels),
            products=list(c.products),
            visibility=c.visibility,
            edited_by=version.edited_by,
            edited_at=version.edited_at,
        )


class VersionOut(BaseModel):
    model_config = example(**VERSION_EXAMPLE)

    version: int
    title: str
    summary: str
    body: str
    category: str
    tags: list[str]
    language: str
    channels: list[str]
    products: list[str]
    visibility: str
    edited_by: str
    edited_at: datetime
    note: str

    @classmethod
    def of(cls, v: Version) -> VersionOut:
        c = v.content
        return cls(
            version=v.version,
            title=c.title,
            summary=c.summary,
            body=c.body,
            category=c.category,
            tags=list(c.tags),
            language=c.language,
            channels=list(c.channels),
            products=list(c.products),
            visibility=c.visibility,
            edited_by=v.edited_by,
            edited_at=v.edited_at,
            note=v.note,
        )


class ArticlePage(BaseModel):
    model_config = example(items=[ARTICLE_EXAMPLE], limit=50, offset=0)

    items: list[ArticleOut]
    limit: int
    offset: int


class OverduePage(ArticlePage):
    model_config = example(items=[{**ARTICLE_EXAMPLE, "overdue": True}], as_of=T, limit=100, offset=0)

    as_of: datetime


class AuditOut(BaseModel):
    actor: str
    action: str
    target: str
    detail: Any = None
    at: datetime


class VersionList(BaseModel):
    model_config = example(
        article_id=ARTICLE_ID,
        published_version=3,
        versions=[VERSION_EXAMPLE],
        history=[
            {"actor": "K-1", "action": "article.publish", "target": ARTICLE_ID, "detail": {"version": 3}, "at": T}
        ],
    )

    article_id: str
    published_version: int | None = None
    versions: list[VersionOut]
    """Newest first."""
    history: list[AuditOut]


class FieldChange(BaseModel):
    field: str
    before: str | list[str]
    after: str | list[str]
    diff: str
    """A unified diff for text fields, empty for lists."""


class Diff(BaseModel):
    model_config = example(
        article_id=ARTICLE_ID,
        to=3,
        changes=[
            {
                "field": "summary",
                "before": "在登录页点“忘记密码”，按邮件链接重置。",
                "after": "在登录页点“忘记密码”，按短信验证码重置。",
                "diff": "-在登录页点“忘记密码”，按邮件链接重置。\n+在登录页点“忘记密码”，按短信验证码重置。",
            }
        ],
        **{"from": 2},
    )

    article_id: str
    from_: int = Field(alias="from")
    to: int
    changes: list[FieldChange]


class Gap(BaseModel):
    query: str
    searches: int
    zero_results: int
    unhelpful_votes: int
    helpful_votes: int
    clicks: int
    last_searched_at: datetime


class Gaps(BaseModel):
    model_config = example(
        since="2026-11-06T10:00:00+08:00",
        gaps=[
            {
                "query": "发票抬头修改",
                "searches": 14,
                "zero_results": 14,
                "unhelpful_votes": 0,
                "helpful_votes": 0,
                "clicks": 0,
                "last_searched_at": T,
            }
        ],
    )

    since: datetime
    gaps: list[Gap]


class SynonymOut(BaseModel):
    model_config = example(
        synonym_id="0f1e2d3c-4b5a-4697-8877-665544332211",
        terms=["重置密码", "找回密码", "reset password"],
        created_by="admin:S-1",
        created_at=T,
    )

    synonym_id: str
    terms: list[str]
    created_by: str
    created_at: datetime


class Synonyms(BaseModel):
    model_config = example(items=[SynonymOut.model_json_schema()["examples"][0]])

    items: list[SynonymOut]


class Terms(BaseModel):
    model_config = example(items=["宽带套餐", "5G 畅享"])

    items: list[str]


class TermAdded(BaseModel):
    model_config = example(term="宽带套餐", added=True, rebuilding=True)

    term: str
    added: bool
    rebuilding: bool


class SettingOut(BaseModel):
    model_config = example(
        name="review_days", value=180, description="days until a published article is due for review",
        updated_by="admin:S-1", updated_at=T,
    )  # fmt: skip

    name: str
    value: float
    description: str
    updated_by: str
    updated_at: datetime


class Settings(BaseModel):
    model_config = example(items=[SettingOut.model_json_schema()["examples"][0]])

    items: list[SettingOut]


class Rebuilding(BaseModel):
    model_config = example(rebuilding=True, task="index-rebuild-3f9a1c2e")

    rebuilding: bool
    task: str


class ImportErrorOut(BaseModel):
    position: str
    external_id: str | None = None
    error: str


class ImportOutcome(BaseModel):
    position: str
    external_id: str | None = None
    article_id: str
    version: int
    status: str
    result: str


class ImportReport(BaseModel):
    model_config = example(
        received=3,
        created=1,
        updated=1,
        unchanged=0,
        published=2,
        errors=[{"position": "line 3", "external_id": "kb-17", "error": "title: missing"}],
        articles=[
            {"position": "line 1", "external_id": "kb-reset-password", "article_id": ARTICLE_ID, "version": 3,
             "status": "published", "result": "updated"},
        ],
    )  # fmt: skip

    received: int
    created: int
    updated: int
    unchanged: int
    published: int
    errors: list[ImportErrorOut]
    articles: list[ImportOutcome]


_LINES = (
    '{"external_id": "kb-reset-password", "title": "如何重置密码", "language": "zh-Hans", '
    '"body": "在登录页点“忘记密码”。", "publish": true}\n'
)
_MARKDOWN = (
    "---\nexternal_id: kb-reset-password\nlanguage: zh-Hans\npublish: true\n---\n"
    "# 如何重置密码\n\n在登录页点“忘记密码”。\n"
)
IMPORT_BODY = request_body(
    {
        **{
            kind: {"schema": {"type": "string"}, "examples": {"lines": {"value": _LINES}}}
            for kind in (
                "application/x-ndjson",
                "application/jsonl",
                "application/json-lines",
                "application/x-jsonlines",
            )
        },
        **{
            kind: {"schema": {"type": "string"}, "examples": {"markdown": {"value": _MARKDOWN}}}
            for kind in ("text/markdown", "text/x-markdown")
        },
    }
)
