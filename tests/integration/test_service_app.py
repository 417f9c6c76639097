"""The app factory every service uses, against the real database and broker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared.app import ServiceSpec, create_app, running
from shared.auth import Principal, generate_api_key, insert_api_key, issue_token, require_adapter, require_roles
from shared.clock import utcnow
from shared.config import ServiceSettings
from shared.errors import PROBLEM_JSON
from tests.support import TOKEN_SECRET, TestStack, service_settings, wait_until

pytestmark = pytest.mark.integration

router = APIRouter()


@router.post("/v1/channels/email")
async def post_email(principal: Annotated[Principal, Depends(require_adapter(["email"]))]) -> dict[str, str]:
    return {"adapter": principal.subject}


@router.get("/v1/admin/thing")
async def admin_thing(principal: Annotated[Principal, Depends(require_roles("admin"))]) -> dict[str, str]:
    return {"admin": principal.subject}


@router.post("/v1/contended")
async def contended() -> None:
    raise asyncpg.SerializationError("could not serialize access due to concurrent update")


@router.post("/v1/broken")
async def broken() -> None:
    raise asyncpg.UndefinedColumnError('column "nope" does not exist')


@router.get("/v1/customers/lookup/{token}")
async def lookup(token: str, phone: str) -> dict[str, str]:
    return {"found": "no"}


@pytest.fixture
async def settings(test_stack: TestStack, empty_database: str) -> ServiceSettings:
    return service_settings(test_stack, empty_database.rsplit("/", 1)[1], service="apptest")


@pytest.fixture
async def app(settings: ServiceSettings, tmp_path: Path) -> AsyncIterator[FastAPI]:
    spec = ServiceSpec(name="apptest", migrations=tmp_path, routers=[router])
    async with running(create_app(spec, settings)) as app:
        await wait_until(lambda: app.state.runtime.producer_ready.is_set(), timeout_s=30)
        yield app


async def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_ready_when_database_and_broker_answer_and_unready_while_a_dead_background_task_waits_to_restart(
    app: FastAPI,
) -> None:
    lives: list[asyncio.Event] = []

    async def crash_once_then_run() -> None:
        lives.append(asyncio.Event())
        if len(lives) == 1:
            raise RuntimeError("consumer lost its mind")
        await lives[-1].wait()

    async with await client_for(app) as client:
        assert (await client.get("/health/live")).json()["status"] == "ok"
        ready = await client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "kafka": "ok", "background": "ok"}
        tasks = app.state.runtime.tasks
        tasks.start("consumer:crashy", crash_once_then_run, stop=lambda: lives[-1].set())
        await wait_until(lambda: "consumer:crashy" in tasks.failures(), timeout_s=5)
        unready = await client.get("/health/ready")
        await wait_until(lambda: len(lives) == 2, timeout_s=5)  # started again after its backoff
        ready_again = await client.get("/health/ready")
        metrics = (await client.get("/metrics")).text
    assert unready.status_code == 503
    assert unready.headers["content-type"] == PROBLEM_JSON
    assert "consumer:crashy RuntimeError: consumer lost its mind (restart 1 in" in unready.json()["detail"]
    assert ready_again.status_code == 200, ready_again.text
    assert ready_again.json()["restarts"] == {"consumer:crashy": 1}
    assert 'switchboard_background_task_restarts_total{task="consumer:crashy"} 1.0' in metrics


async def test_adapter_keys_are_checked_against_the_database_and_scoped_to_channels(app: FastAPI) -> None:
    mail = generate_api_key()
    phone = generate_api_key()
    async with app.state.pool.acquire() as conn:
        await insert_api_key(conn, key=mail, name="mail-gateway", channels=["email"], now=utcnow())
        await insert_api_key(conn, key=phone, name="cti", channels=["phone"], now=utcnow())
    async with await client_for(app) as client:
        ok = await client.post("/v1/channels/email", headers={"Authorization": f"Bearer {mail.key}"})
        wrong_scope = await client.post("/v1/channels/email", headers={"Authorization": f"Bearer {phone.key}"})
        forged = await client.post("/v1/channels/email", headers={"Authorization": f"Bearer {mail.key}x"})
        missing = await client.post("/v1/channels/email")
    assert ok.status_code == 200 and ok.json() == {"adapter": "mail-gateway"}
    assert wrong_scope.status_code == 403 and "email" in wrong_scope.json()["detail"]
    assert forged.status_code == 401 and forged.headers["content-type"] == PROBLEM_JSON
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"


async def test_bearer_tokens_carry_roles_that_endpoints_check(app: FastAPI) -> None:
    def token(role: str) -> str:
        return issue_token(TOKEN_SECRET, role=role, subject=f"{role}-1", ttl=timedelta(minutes=5), now=utcnow())  # type: ignore[arg-type]

    async with await client_for(app) as client:
        admin = await client.get("/v1/admin/thing", headers={"Authorization": f"Bearer {token('admin')}"})
        agent = await client.get("/v1/admin/thing", headers={"Authorization": f"Bearer {token('agent')}"})
        adapter_token_on_adapter_route = await client.post(
            "/v1/channels/email", headers={"Authorization": f"Bearer {token('agent')}"}
        )
    assert admin.status_code == 200 and admin.json() == {"admin": "admin-1"}
    assert agent.status_code == 403
    assert adapter_token_on_adapter_route.status_code == 403


async def test_a_transaction_meeting_another_answers_503_with_retry_after_and_a_bug_still_500(
    app: FastAPI,
) -> None:
    async with await client_for(app) as client:
        contended = await client.post("/v1/contended")
        broken = await client.post("/v1/broken")
    assert contended.status_code == 503 and contended.headers["retry-after"] == "1"
    assert contended.headers["content-type"] == PROBLEM_JSON
    assert contended.json()["type"].endswith("#unavailable")
    assert broken.status_code == 500 and "retry-after" not in broken.headers


async def test_oversized_bodies_are_refused_before_they_are_read(
    test_stack: TestStack, empty_database: str, tmp_path: Path
) -> None:
    settings = service_settings(
        test_stack, empty_database.rsplit("/", 1)[1], service="apptest", max_request_bytes=1000
    )
    async with (
        running(create_app(ServiceSpec(name="apptest", migrations=tmp_path, routers=[router]), settings)) as app,
        await client_for(app) as client,
    ):
        response = await client.post("/v1/channels/email", content=b"x" * 5000)
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_JSON


async def test_metrics_expose_requests_outbox_backlog_and_background_tasks(app: FastAPI) -> None:
    async with await client_for(app) as client:
        await client.get("/v1/admin/thing")
        response = await client.get("/metrics")
    assert response.status_code == 200
    text = response.text
    assert 'switchboard_http_requests_total{method="GET",route="/v1/admin/thing",status="401"} 1.0' in text
    assert "switchboard_outbox_backlog 0.0" in text
    assert "switchboard_outbox_parked 0.0" in text
    assert 'switchboard_background_task_up{task="outbox-relay"} 1.0' in text


async def test_a_request_is_one_server_span_with_its_route_template_and_no_path_or_query(
    app: FastAPI, spans: InMemorySpanExporter
) -> None:
    spans.clear()
    async with await client_for(app) as client:
        response = await client.get("/v1/customers/lookup/tok-SECRET-123", params={"phone": "13512345678"})
    assert response.status_code == 200
    finished = spans.get_finished_spans()
    servers = [s for s in finished if s.kind == SpanKind.SERVER]
    assert [s.name for s in servers] == ["GET /v1/customers/lookup/{token}"]
    recorded = json.dumps([[s.name, dict(s.attributes or {})] for s in finished], default=str)
    assert "tok-SECRET-123" not in recorded and "13512345678" not in recorded


@router.get("/v1/slow-query")
async def slow_query(request: Request) -> dict[str, int]:
    async with request.app.state.pool.acquire() as conn:
        return {"value": await conn.fetchval("SELECT 1")}


async def test_each_caller_is_rate_limited_on_its_own_with_429_and_retry_after(
    settings: ServiceSettings, tmp_path: Path
) -> None:
    limited = settings.model_copy(
        update={
            "rate_limit_user_per_s": 1.0,
            "rate_limit_user_burst": 3,
            "rate_limit_adapter_per_s": 1.0,
            "rate_limit_adapter_burst": 2,
        }
    )
    spec = ServiceSpec(name="apptest", migrations=tmp_path, routers=[router])
    async with running(create_app(spec, limited)) as app, await client_for(app) as client:
        key = generate_api_key()
        async with app.state.pool.acquire() as conn:
            await insert_api_key(conn, key=key, name="gateway", channels=["email"], now=utcnow())

        def bearer(subject: str) -> dict[str, str]:
            token = issue_token(
                TOKEN_SECRET, role="admin", subject=subject, ttl=timedelta(minutes=5), now=utcnow()
            )
            return {"Authorization": f"Bearer {token}"}

        flood = [(await client.get("/v1/admin/thing", headers=bearer("A-1"))).status_code for _ in range(5)]
        other = await client.get("/v1/admin/thing", headers=bearer("A-2"))
        adapter = [
            await client.post("/v1/channels/email", headers={"Authorization": f"Bearer {key.key}"})
            for _ in range(3)
        ]
    assert flood == [200, 200, 200, 429, 429]
    assert other.status_code == 200, "another user keeps their own bucket"
    assert [r.status_code for r in adapter] == [200, 200, 429]
    refused = adapter[-1]
    assert refused.headers["retry-after"] == "1" and refused.headers["content-type"] == PROBLEM_JSON


async def test_waiting_for_a_pooled_connection_is_bounded_and_answered_503(
    settings: ServiceSettings, tmp_path: Path
) -> None:
    tight = settings.model_copy(update={"db_pool_min": 1, "db_pool_max": 1, "db_acquire_timeout_s": 0.2})
    spec = ServiceSpec(name="apptest", migrations=tmp_path, routers=[router])
    async with (
        running(create_app(spec, tight)) as app,
        await client_for(app) as client,
        app.state.pool.acquire(timeout=5),  # the one connection is busy for the whole request
    ):
        started = asyncio.get_running_loop().time()
        response = await client.get("/v1/slow-query")
        waited = asyncio.get_running_loop().time() - started
    assert response.status_code == 503 and "retry-after" in response.headers, response.text
    assert waited < 2
