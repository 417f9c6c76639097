"""The gateway for real: uvicorn on a free port, its own database on the test stack's PostgreSQL, in front of a
service of ours that reports what reached it (an echo app checking bearer tokens with shared.auth, as every
service does, with a desktop WebSocket like routing's), and a tiny local OpenID Connect provider."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import Depends, FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import SecretStr

from deploy.config import free_port
from services.web import repository as web_repo
from services.web.app import MIGRATIONS, create_app
from services.web.config import WebSettings
from services.web.domain import hash_password
from shared.auth import Principal, authenticate_websocket, require_roles
from shared.clock import utcnow
from shared.config import ServiceSettings
from shared.db import SHARED_MIGRATIONS, connect, create_pool, migrate
from tests.integration.web.provider import AUDIENCE, CLIENT_ID, Provider, provider_app
from tests.support import TOKEN_SECRET, TestStack, wait_until

ROLE_MAP = {"cc-agent": "agent", "cc-lead": "supervisor"}


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """`app` on a free port of 127.0.0.1 until the block ends; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: server.started or task.done(), timeout_s=30)
        if task.done():
            task.result()
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 15)


def echo_app(settings: ServiceSettings, pool: Any) -> FastAPI:
    """A service of ours in miniature: every route checks the bearer token the way the five services do, revoked
    subjects read from its database included."""
    app = FastAPI()
    app.state.settings = settings
    app.state.pool = pool
    people = require_roles("agent", "supervisor", "admin", "ops")
    app.state.seen = []

    @app.api_route("/v1/echo/{rest:path}", methods=["GET", "POST", "PUT", "DELETE"])
    async def echo(request: Request, principal: Principal = Depends(people)) -> JSONResponse:  # noqa: B008
        body = (await request.body()).decode()
        seen = {
            "method": request.method,
            "path": request.scope["raw_path"].decode(),
            "query": request.scope["query_string"].decode(),
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "body": body,
            "role": principal.role,
            "subject": principal.subject,
        }
        app.state.seen.append(seen)
        return JSONResponse(seen, headers={"Set-Cookie": "stolen=1; Path=/", "X-Upstream": "echo"})

    @app.get("/v1/stream")
    async def stream(_p: Principal = Depends(people)) -> StreamingResponse:  # noqa: B008
        async def chunks() -> AsyncIterator[bytes]:
            for i in range(3):
                yield f"chunk {i}\n".encode()
                await asyncio.sleep(0.05)

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/metrics")
    async def metrics() -> dict[str, str]:
        return {"secret": "internal"}

    @app.websocket("/v1/desktop/ws")
    async def desk(websocket: WebSocket) -> None:
        principal = await authenticate_websocket(websocket, "agent", "supervisor")
        if principal is None:
            return
        await websocket.accept()
        after = websocket.query_params.get("after")
        await websocket.send_json({"type": "hello", "subject": principal.subject, "after": after, "id": 1})
        try:
            while True:
                message = await websocket.receive_json()
                if message.get("type") == "close":
                    await websocket.close(code=int(message["code"]), reason="replaced")
                    return
                await websocket.send_json({"type": "echo", "ref": message.get("ref"), "got": message})
        except WebSocketDisconnect:
            pass

    return app


@dataclass
class Gateway:
    url: str
    settings: WebSettings
    upstream: FastAPI
    provider: Provider

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://")

    async def add_user(self, name: str, *, role: str, subject: str, password: str) -> None:
        conn = await connect(self.settings.database_url)
        try:
            await migrate(conn, [("web", MIGRATIONS)])
            await web_repo.upsert_user(
                conn,
                user_id=name,
                display_name=name.title(),
                role=role,
                subject=subject,
                password_hash=hash_password(password),
                now=utcnow(),
            )
        finally:
            await conn.close()

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=30, headers={"Origin": self.url})

    @contextlib.asynccontextmanager
    async def signed_in(self, name: str, password: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
        """A client holding the session cookie, and the session's CSRF token."""
        async with self.client() as client:
            response = await client.post("/auth/signin", json={"username": name, "password": password})
            assert response.status_code == 200, response.text
            me = await client.get("/auth/me")
            yield client, str(me.json()["csrf_token"])


@pytest.fixture
async def gateway(test_stack: TestStack, empty_database: str) -> AsyncIterator[Gateway]:
    provider = Provider()
    async with serving(provider_app(provider)) as issuer:
        provider.issuer = issuer
        service_settings = ServiceSettings(
            token_secret=SecretStr(TOKEN_SECRET),
            oidc_issuer=issuer,
            oidc_audience=AUDIENCE,
            oidc_role_claim="realm_access.roles",
            oidc_role_map=ROLE_MAP,
            oidc_subject_claim="agent_id",
        )
        conn = await connect(empty_database)
        try:
            await migrate(conn, [("shared", SHARED_MIGRATIONS)])
        finally:
            await conn.close()
        pool = await create_pool(empty_database, max_size=2)
        upstream = echo_app(service_settings, pool)
        async with pool, serving(upstream) as upstream_url:
            settings = WebSettings(
                database_url=empty_database,
                token_secret=SecretStr(TOKEN_SECRET),
                log_json=False,
                signin_attempts=3,
                max_request_bytes=64 * 1024,
                oidc_issuer=issuer,
                oidc_audience=AUDIENCE,
                oidc_role_claim="realm_access.roles",
                oidc_role_map=ROLE_MAP,
                oidc_subject_claim="agent_id",
                oidc_client_id=CLIENT_ID,
                oidc_provider_name="Local test provider",
                intake_url=upstream_url,
                routing_url=upstream_url,
                sla_url=upstream_url,
                feedback_url=upstream_url,
                knowledge_url=upstream_url,
            )
            async with serving(create_app(settings)) as url:
                yield Gateway(url, settings, upstream, provider)
        verifier = getattr(upstream.state, "token_verifier", None)
        if verifier is not None:
            await verifier.aclose()


def problem(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    body: dict[str, Any] = json.loads(response.text)
    assert body["status"] == response.status_code
    return body
