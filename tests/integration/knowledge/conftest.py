"""The knowledge app in-process against the real test stack, with bearer tokens for each role."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.knowledge.app import create_app
from services.knowledge.config import KnowledgeSettings
from shared.app import running
from shared.auth import Role, issue_token
from shared.clock import utcnow
from tests.support import TOKEN_SECRET, TestStack, service_settings, wait_until


@pytest.fixture
def database_service() -> str:
    return "knowledge"


@pytest.fixture
async def settings(test_stack: TestStack, service_database: str) -> KnowledgeSettings:
    base = service_settings(test_stack, service_database.rsplit("/", 1)[1], service="knowledge")
    return KnowledgeSettings.model_validate({**base.model_dump(), "index_poll_s": 0.2})


@pytest.fixture
async def app(settings: KnowledgeSettings) -> AsyncIterator[FastAPI]:
    async with running(create_app(settings)) as app:
        await wait_until(lambda: app.state.runtime.producer_ready.is_set(), timeout_s=30)
        yield app


def bearer(role: Role, subject: str | None = None) -> dict[str, str]:
    token = issue_token(
        TOKEN_SECRET,
        role=role,
        subject=subject or f"{role}-1",
        ttl=timedelta(minutes=10),
        now=utcnow(),
    )
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


def article(**overrides: Any) -> dict[str, Any]:
    """A valid article body; override what the test is about."""
    body: dict[str, Any] = {
        "title": "如何重置账户密码",
        "body": "## 步骤\n\n1. 打开**设置**页面\n2. 点击“忘记密码”，按短信验证码重置密码。",
        "language": "zh-Hans",
        "summary": "通过短信验证码重置密码",
        "category": "account",
        "tags": ["密码", "账户"],
        "visibility": "internal",
    }
    body.update(overrides)
    return body


Publish = Callable[..., Any]


@pytest.fixture
def publish(client: httpx.AsyncClient) -> Publish:
    """Create an article as an agent, submit it, publish it as a supervisor; return the published article."""

    async def go(**overrides: Any) -> dict[str, Any]:
        created = await client.post("/v1/articles", json=article(**overrides), headers=bearer("agent"))
        assert created.status_code == 201, created.text
        article_id = created.json()["article_id"]
        submitted = await client.post(f"/v1/articles/{article_id}/submit", headers=bearer("agent"))
        assert submitted.status_code == 200, submitted.text
        published = await client.post(f"/v1/articles/{article_id}/publish", headers=bearer("supervisor"))
        assert published.status_code == 200, published.text
        result: dict[str, Any] = published.json()
        return result

    return go
